"""Section 1-3 of orchestra_mcp.py: configuration, error mapping and the HTTP client.

Most cases use `responses`, which runs urllib3's Retry.is_retry/increment (so which statuses are
resent is the real policy) but never sleeps. What `responses` cannot show (waits, connection resets
after the request was sent, read timeouts, closed ports, a redirect target that must stay untouched)
runs against the fake Orchestra API in this process (tests/fake_orchestra.py), one for the module:
its faults misbehave for a set number of requests, then it answers normally, and its journal shows
what was sent. A Retry-After wait is read off the call's cancel event (the retry waits on it, so a
cancel can cut it short), not off a clock: nothing here waits on a Retry-After for real.
"""

import os
import logging
import re
import socket
import sys
import threading
import time
from email.utils import formatdate
from pathlib import Path

import pytest
import responses
from fake_orchestra import FAILED_RUN_ID, PIPELINE_ID, FakeOrchestra

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import orchestra_mcp as m  # noqa: E402

BASE = "https://orchestra.test/api/engine/public"
KEY = "k-test"
CANARY = "CANARY-KEY-1234567890"
RUN = "8e808ad7-3d5a-4f08-b6e2-9a4c1d7f5e80"
TASK = "d94e2b7a-1c58-4f3d-9a60-7b8c2e1f4d39"
STATUS_URL = f"{BASE}/pipeline_runs/{RUN}/status"
PIPELINE = "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
START_PATH = f"/pipelines/{PIPELINE}/start"
API_PREFIX = "/api/engine/public"
NO_ACTIVE_RUNS = {"status": 200, "body": {"page": 1, "pageSize": 100, "total": 0, "results": []}}
PIPELINE_FOUND = {"status": 200, "body": {"id": PIPELINE, "alias": "nightly_elt", "inputs": None}}


def setup(base=BASE, deadline_s=10, **env):
    """Configure the module as a server started with this environment, and give this thread a call."""
    environ = {"ORCHESTRA_API_KEY": KEY, "ORCHESTRA_API_BASE_URL": base, "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01"}
    environ.update(env)
    config = m.read_config({k: v for k, v in environ.items() if v is not None})
    m.configure(config)
    ctx = m.new_call_context(deadline_s=deadline_s)
    m.use_context(ctx)
    return ctx


@pytest.fixture(autouse=True)
def fresh_module():
    setup()
    yield
    m.configure(m.read_config({}))
    m.use_context(None)


def text_of(result):
    return result["content"][0]["text"]


def status_call():
    return m.call_tool("get_pipeline_run_status", {"pipeline_run_id": RUN})


def assert_one_sentence(text):
    """What an agent gets back for a failure: short, one line, no traceback, no request URL."""
    assert text
    assert len(text) <= m.MAX_ERROR_CHARS
    assert "\n" not in text
    assert "Traceback" not in text
    assert BASE not in text


# ---- the fake API, in this process ---------------------------------------------------------------

@pytest.fixture(scope="module")
def module_fake():
    """The module's own fake (keyed KEY; started runs end at once, so no start finds one still going)."""
    assert (RUN, PIPELINE) == (FAILED_RUN_ID, PIPELINE_ID)
    server = FakeOrchestra(api_key=KEY, run_seconds=0).start()
    yield server
    server.stop()


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def api(module_fake, no_proxy):
    """The module's fake with no faults and an empty journal; the module configured against it."""
    module_fake.clear_faults()
    module_fake.clear_journal()
    setup(module_fake.base_url)
    yield module_fake
    module_fake.clear_faults()


def on_status(**fault):
    """A fault for the next GET of the run's status."""
    return dict(match={"method": "GET", "path": f"/pipeline_runs/{RUN}/status"}, **fault)


ON_START = {"method": "POST", "path": START_PATH}


def sent(api, path_end=""):
    """(method, path) of each request the fake received, optionally only those whose path ends so."""
    return [(e["method"], e["path"]) for e in api.journal if e["path"].endswith(path_end)]


class WaitRecorder(threading.Event):
    """A call's cancel event that records each wait instead of blocking: the retry waits on it."""

    def __init__(self):
        super().__init__()
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return self.is_set()


def recording_waits(ctx):
    ctx.cancel = WaitRecorder()
    return ctx.cancel.waits


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# ---- the two retry policies, pinned field by field ------------------------------------------------

def policies():
    client = m.client()._sessions()
    return (client["reads"].get_adapter("https://x").max_retries,
            client["writes"].get_adapter("https://x").max_retries)


def test_the_read_policy_retries_get_on_429_and_5xx_with_retry_after_honoured():
    reads, _ = policies()
    assert (reads.total, reads.connect, reads.read, reads.status, reads.other, reads.redirect) == (6, 3, 2, 5, 0, 0)
    assert reads.allowed_methods == frozenset({"GET"})
    assert reads.status_forcelist == frozenset({429, 500, 502, 503, 504})
    assert reads.respect_retry_after_header is True
    assert reads.raise_on_status is False
    assert reads.raise_on_redirect is False


def test_the_write_policy_retries_only_connect_errors_and_never_a_post():
    _, writes = policies()
    assert writes.connect == 2
    assert (writes.read, writes.status, writes.other, writes.redirect) == (0, 0, 0, 0)
    assert writes.total == 2
    assert not writes.status_forcelist
    assert writes.respect_retry_after_header is False
    assert writes.raise_on_status is False
    assert writes.raise_on_redirect is False
    assert writes.allowed_methods   # an empty set would mean "every method" to urllib3
    assert "POST" not in writes.allowed_methods
    assert not writes._is_method_retryable("POST")
    for status in (429, 500, 502, 503, 504):
        assert not writes.is_retry("POST", status, has_retry_after=True)


def test_both_sessions_are_mounted_for_https_and_loopback_http():
    client = m.client()._sessions()
    for name in ("reads", "writes"):
        session = client[name]
        assert session.get_adapter("https://x").max_retries is session.get_adapter("http://x").max_retries


# ---- which statuses are resent for GET -----------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_get_answered_with_a_transient_status_is_resent_then_succeeds(rsps, status):
    rsps.add(responses.GET, STATUS_URL, status=status, json={"detail": "busy"})
    rsps.add(responses.GET, STATUS_URL, status=200, json={"id": RUN, "runStatus": "SUCCEEDED"})
    assert m.get_pipeline_run(RUN)["runStatus"] == "SUCCEEDED"
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_get_answered_with_a_client_error_is_not_resent(rsps, status):
    rsps.add(responses.GET, STATUS_URL, status=status, json={"detail": "no"})
    with pytest.raises(m.ApiError) as caught:
        m.get_pipeline_run(RUN)
    assert caught.value.status == status
    assert len(rsps.calls) == 1


def test_a_get_that_keeps_failing_with_500_is_sent_six_times_then_reported(rsps):
    rsps.add(responses.GET, STATUS_URL, status=500, json={"detail": "boom"})
    result = status_call()
    assert result["isError"]
    assert "server error (HTTP 500)" in text_of(result)
    assert len(rsps.calls) == 6   # the first try and status=5 retries


def test_an_unparseable_retry_after_counts_as_absent(rsps):
    reads, _ = policies()
    from urllib3.response import HTTPResponse
    assert reads.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "soon"})) is None
    assert reads.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "-5"})) is None
    assert reads.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "7"})) == 7
    # and end to end the 429 is still resent after the ordinary (>= 1 s) wait, not refused as "too long"
    rsps.add(responses.GET, STATUS_URL, status=429, headers={"Retry-After": "soon"})
    rsps.add(responses.GET, STATUS_URL, status=200, json={"id": RUN, "runStatus": "RUNNING"})
    assert m.get_pipeline_run(RUN)["runStatus"] == "RUNNING"
    assert len(rsps.calls) == 2


def test_a_429_without_retry_after_waits_at_least_one_second():
    reads, _ = policies()
    from urllib3.response import HTTPResponse
    assert reads.planned_wait(HTTPResponse(status=429)) >= 1.0
    assert reads.planned_wait(HTTPResponse(status=503)) >= 1.0
    assert reads.planned_wait(HTTPResponse(status=500)) < 1.0   # backoff base 0.01 s


def test_a_retry_after_above_the_cap_is_not_waited_and_says_when_to_retry(rsps):
    setup(ORCHESTRA_MCP_RETRY_AFTER_CAP_S="2")
    rsps.add(responses.GET, STATUS_URL, status=429, headers={"Retry-After": "3600"})
    result = status_call()
    assert result["isError"]
    assert "rate limited by Orchestra" in text_of(result)
    assert "retry after 3600 s" in text_of(result)
    assert len(rsps.calls) == 1


def test_a_retry_after_longer_than_the_time_left_in_the_call_is_not_waited(rsps):
    setup(ORCHESTRA_MCP_RETRY_AFTER_CAP_S="60", deadline_s=5)
    rsps.add(responses.GET, STATUS_URL, status=429, headers={"Retry-After": "20"})
    result = status_call()
    assert result["isError"]
    assert "retry after 20 s" in text_of(result)
    assert len(rsps.calls) == 1


def test_a_cancelled_call_does_not_retry(rsps):
    ctx = setup()
    ctx.cancel.set()
    rsps.add(responses.GET, STATUS_URL, status=503)
    with pytest.raises(m.CallCancelled):
        m.get_pipeline_run(RUN)
    assert len(rsps.calls) == 0   # checked before the first request


# ---- waits, against a real socket ------------------------------------------------------------------

def test_a_retry_after_in_seconds_is_waited_out(api):
    waits = recording_waits(setup(api.base_url))
    api.add_fault(**on_status(count=1, action="status", status=429, headers={"Retry-After": "2"}))
    assert m.get_pipeline_run(RUN)["runStatus"] == "FAILED"
    assert len(sent(api)) == 2
    assert waits == [2.0]   # more than the 1 s floor: the header was honoured


def test_a_retry_after_as_an_http_date_is_planned_as_the_seconds_until_then(rsps):
    reads, _ = policies()
    from urllib3.response import HTTPResponse
    later = HTTPResponse(status=503, headers={"Retry-After": formatdate(time.time() + 100, usegmt=True)})
    assert 95 <= reads.planned_wait(later) <= 101
    past = HTTPResponse(status=429, headers={"Retry-After": formatdate(time.time() - 100, usegmt=True)})
    assert reads.planned_wait(past) == 1.0
    # end to end: an HTTP-date an hour ahead is past the cap, so it is reported rather than waited
    rsps.add(responses.GET, STATUS_URL, status=429, headers={"Retry-After": formatdate(time.time() + 3600, usegmt=True)})
    result = status_call()
    assert re.search(r"retry after 3[56]\d\d s", text_of(result))
    assert len(rsps.calls) == 1


def test_a_429_without_retry_after_is_resent_after_at_least_one_second(api):
    waits = recording_waits(setup(api.base_url))
    api.add_fault(**on_status(count=1, action="status", status=429))
    assert m.get_pipeline_run(RUN)["runStatus"] == "FAILED"
    assert len(sent(api)) == 2
    assert len(waits) == 1 and waits[0] >= 1.0


def test_a_retry_after_of_an_hour_returns_at_once_instead_of_waiting(api):
    waits = recording_waits(setup(api.base_url, ORCHESTRA_MCP_RETRY_AFTER_CAP_S="2"))
    api.add_fault(**on_status(count=3, action="status", status=429, headers={"Retry-After": "3600"}))
    result = status_call()
    assert result["isError"]
    assert "rate limited by Orchestra" in text_of(result)
    assert "retry after 3600 s" in text_of(result)
    assert len(sent(api)) == 1 and waits == []


def test_a_get_whose_connection_is_reset_after_sending_is_resent(api):
    api.add_fault(**on_status(count=1, action="reset"))
    assert m.get_pipeline_run(RUN)["runStatus"] == "FAILED"
    assert [e["fault"] for e in api.journal] == ["reset", None]


def test_a_get_that_keeps_timing_out_says_orchestra_did_not_answer_in_time(api):
    setup(api.base_url, ORCHESTRA_TIMEOUT="0.3")
    api.add_fault(**on_status(count=3, action="slow", delay=0.8))
    result = status_call()
    assert len(sent(api)) == 3   # the first try and read=2 retries
    assert result["isError"]
    assert "did not answer" in text_of(result)
    assert "ORCHESTRA_TIMEOUT" in text_of(result)
    assert "could not reach" not in text_of(result)


def test_a_read_timeout_retry_does_not_run_past_the_calls_deadline(api):
    setup(api.base_url, deadline_s=2.0, ORCHESTRA_TIMEOUT="0.5")
    api.add_fault(**on_status(count=3, action="slow", delay=1.0))
    result = status_call()
    assert result["isError"]
    assert "did not answer" in text_of(result)
    # a retry would need a whole second read timeout (0.5 s) and a second to spare after the first:
    # the 2 s deadline leaves ~1.5 s, so it is not sent (a check of "any time left" would send it)
    assert len(sent(api)) == 1


# ---- the start request (POST) ----------------------------------------------------------------------

def start(**extra):
    """A start by UUID: before its POST, GET /pipeline reads the pipeline and GET /pipeline_runs checks for a
    run still going."""
    return m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE, **extra})


# Each start fault applies to two requests: a resend would meet it again, and still show in the journal.

def test_a_start_answered_502_is_sent_once_and_may_or_may_not_have_started(api):
    api.add_fault(match=ON_START, count=2, action="status", status=502, body={"detail": "bad gateway"})
    result = start()
    assert result["isError"]
    assert "may or may not have started" in text_of(result)
    assert sent(api) == [("GET", API_PREFIX + "/pipeline"), ("GET", API_PREFIX + "/pipeline_runs"),
                         ("POST", API_PREFIX + START_PATH)]


def test_a_start_answered_429_is_sent_once_and_says_nothing_was_started(api):
    api.add_fault(match=ON_START, count=2, action="status", status=429, headers={"Retry-After": "1"})
    result = start()
    assert result["isError"]
    assert "nothing was started" in text_of(result)
    assert "retry after 1 s" in text_of(result)
    assert [method for method, _ in sent(api)] == ["GET", "GET", "POST"]


def test_a_start_whose_connection_breaks_after_sending_is_not_resent(api):
    api.add_fault(match=ON_START, count=2, action="reset")
    result = start()
    assert result["isError"]
    assert "may or may not have started" in text_of(result)
    assert [method for method, _ in sent(api)] == ["GET", "GET", "POST"]
    assert api.journal[2]["body"] is None   # nothing but the pipeline in the path


def test_a_start_that_times_out_is_not_resent(api):
    setup(api.base_url, ORCHESTRA_TIMEOUT="0.3")
    api.add_fault(match=ON_START, count=2, action="slow", delay=0.8)
    result = start()
    assert result["isError"]
    assert "may or may not have started" in text_of(result)
    assert [method for method, _ in sent(api)] == ["GET", "GET", "POST"]


def test_a_start_that_cannot_connect_is_retried_and_says_orchestra_could_not_be_reached(no_proxy, monkeypatch):
    port = closed_port()
    setup(f"http://127.0.0.1:{port}/api/engine/public")
    import urllib3.util.connection as connection
    attempts = []
    real = connection.create_connection

    def counting(address, *args, **kwargs):
        attempts.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", counting)
    monkeypatch.setattr(m, "read_pipeline", lambda ref, revision=None: {"id": PIPELINE})   # the read, not under test
    result = start(allow_duplicate=True)   # skips the check for a run still going: the POST goes first
    assert result["isError"]
    assert "could not reach Orchestra" in text_of(result)
    assert "may or may not" not in text_of(result)
    assert len(attempts) == 3   # the first try and connect=2 retries: nothing was ever sent
    assert all(address[1] == port for address in attempts)


def test_a_refused_start_can_be_tried_again_at_once_but_an_uncertain_one_cannot(rsps):
    rsps.add(responses.GET, BASE + "/pipeline", json=PIPELINE_FOUND["body"])
    rsps.add(responses.GET, BASE + "/pipeline_runs", json=NO_ACTIVE_RUNS["body"])
    rsps.add(responses.POST, BASE + START_PATH, status=429)
    rsps.add(responses.POST, BASE + START_PATH, status=502)
    assert "nothing was started" in text_of(start())   # refused: a retry is sent
    uncertain = start()
    assert "may or may not have started" in text_of(uncertain)
    repeat = start()   # an identical repeat after an uncertain outcome is refused, unsent
    assert repeat["isError"] and "list_pipeline_runs" in text_of(repeat) and "allow_duplicate" in text_of(repeat)
    assert len([c for c in rsps.calls if c.request.method == "POST"]) == 2


# ---- error mapping -----------------------------------------------------------------------------------

def error_for(rsps, status, body=None, raw=None, headers=None):
    kwargs = {"body": raw} if raw is not None else {"json": body}
    rsps.add(responses.GET, STATUS_URL, status=status, headers=headers or {}, **kwargs)
    result = status_call()
    assert result["isError"]
    text = text_of(result)
    assert_one_sentence(text)
    return text


def test_a_401_says_the_key_was_rejected_and_how_to_replace_it(rsps):
    text = error_for(rsps, 401, {"detail": "Invalid API key"})
    assert "rejected the API key (401)" in text
    assert "ORCHESTRA_API_KEY" in text


def test_a_403_names_the_enterprise_plan_and_the_servers_detail(rsps):
    text = error_for(rsps, 403, {"detail": "Forbidden"})
    assert "403" in text and "Enterprise" in text
    assert "Orchestra said: Forbidden" in text


def test_a_404_names_the_run_that_was_not_found(rsps):
    text = error_for(rsps, 404, {"detail": "Pipeline run not found"})
    assert f"pipeline run {RUN} was not found (404)" in text


def test_a_409_is_reported_as_a_conflict(rsps):
    text = error_for(rsps, 409, {"detail": "already running"})
    assert "conflict (409)" in text and "already running" in text


def test_a_422_names_the_parameter_from_the_fastapi_detail_list(rsps):
    detail = [{"loc": ["query", "page_size"], "msg": "Input should be less than or equal to 100",
               "type": "less_than_equal", "input": "500", "ctx": {"le": 100}}]
    text = error_for(rsps, 422, {"detail": detail})
    assert "`page_size`" in text
    assert "(422)" in text
    assert "less than or equal to 100" in text


def test_a_429_that_outlasts_the_retries_says_rate_limited(rsps):
    text = error_for(rsps, 429, {"detail": "slow down"})
    assert text.startswith("rate limited by Orchestra;")
    assert len(rsps.calls) == 6


def test_a_500_says_server_error_after_retries(rsps):
    text = error_for(rsps, 500, {"detail": "Failed to download log file from S3"})
    assert "server error (HTTP 500)" in text
    assert "Failed to download log file from S3" in text


def test_a_non_json_error_body_is_quoted_as_text(rsps):
    text = error_for(rsps, 400, raw="plain words from a gateway")
    assert "(HTTP 400)" in text
    assert "Orchestra said: plain words from a gateway" in text


@pytest.mark.parametrize("shape", ["message", "error", "msg"])
def test_the_message_and_error_body_shapes_give_the_detail(rsps, shape):
    text = error_for(rsps, 400, {shape: "no such filter"})
    assert "Orchestra said: no such filter" in text


def test_a_huge_error_body_gives_a_short_message(rsps):
    text = error_for(rsps, 400, raw="x" * 200_000)
    assert len(text) < 700


def test_escape_sequences_in_an_error_body_are_removed(rsps):
    text = error_for(rsps, 400, {"detail": "\x1b[31mred\x1b[0m \u202eevil\x07"})
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "red" in text and "evil" in text


def test_a_multi_line_gateway_page_becomes_a_one_line_message(rsps):
    page = "<html>\n<head><title>400 Bad Request</title></head>\n<body>\n<center>nginx</center>\n</body>\n</html>\n"
    error_for(rsps, 400, raw=page)


def test_a_connection_refused_get_says_could_not_reach_without_the_url(no_proxy):
    port = closed_port()
    setup(f"http://127.0.0.1:{port}/api/engine/public")
    result = status_call()
    assert result["isError"]
    text = text_of(result)
    assert "could not reach Orchestra at 127.0.0.1" in text
    assert "/pipeline_runs" not in text and "\n" not in text and len(text) <= m.MAX_ERROR_CHARS


# ---- redirects -----------------------------------------------------------------------------------------

def test_a_redirect_to_another_host_is_reported_and_never_followed(rsps):
    rsps.add(responses.GET, STATUS_URL, status=302, headers={"Location": "https://elsewhere.test/steal"})
    rsps.add(responses.GET, "https://elsewhere.test/steal", status=200, json={"id": RUN})
    result = status_call()
    assert result["isError"]
    assert "redirect" in text_of(result)
    assert "ORCHESTRA_API_BASE_URL" in text_of(result)
    assert len(rsps.calls) == 1
    assert rsps.calls[0].request.url == STATUS_URL


def test_a_redirect_is_not_followed_by_urllib3_either(api, other_host):
    other_host.clear_journal()
    api.add_fault(**on_status(count=3, action="redirect", status=307,
                              location=other_host.base_url + f"/pipeline_runs/{RUN}/status"))
    result = status_call()
    assert result["isError"] and "ORCHESTRA_API_BASE_URL" in text_of(result)
    assert len(sent(api)) == 1
    assert other_host.journal == []


# ---- the key: sent as a bearer token, never shown --------------------------------------------------

class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def module_logger():
    """The module's logger after setup_logging (built lazily at its first message); reset afterwards."""
    yield lambda: (m.log.debug("logger warm-up"), logging.getLogger("orchestra_mcp"))[1]
    logger = logging.getLogger("orchestra_mcp")
    for handler in list(logger.handlers):
        handler.close()
    m.setup_logging({"log_level": "WARNING"})
    logger.handlers.clear()


def test_the_key_is_sent_as_a_bearer_token(rsps):
    setup(ORCHESTRA_API_KEY=CANARY)
    rsps.add(responses.GET, STATUS_URL, json={"id": RUN})
    m.get_pipeline_run(RUN)
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {CANARY}"
    assert rsps.calls[0].request.headers["Accept"] == "application/json"


def test_a_netrc_entry_cannot_replace_the_key(rsps, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine orchestra.test login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    setup(ORCHESTRA_API_KEY=CANARY)
    rsps.add(responses.GET, STATUS_URL, json={"id": RUN})
    m.get_pipeline_run(RUN)
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {CANARY}"
    assert m.client()._sessions()["reads"].auth is not None


def test_the_account_id_header_is_sent_only_when_it_is_a_uuid(rsps):
    account = "0b7c1f4e-2a55-4d7e-9c61-3f2d8e4a9b10"
    setup(ORCHESTRA_ACCOUNT_ID=account)
    rsps.add(responses.GET, STATUS_URL, json={"id": RUN})
    m.get_pipeline_run(RUN)
    assert rsps.calls[0].request.headers["X-Orchestra-Account-Id"] == account
    setup(ORCHESTRA_ACCOUNT_ID="not-a-uuid")
    m.get_pipeline_run(RUN)
    assert "X-Orchestra-Account-Id" not in rsps.calls[1].request.headers


def test_the_key_never_appears_in_errors_logs_or_reprs(rsps, module_logger, caplog):
    setup(ORCHESTRA_API_KEY=CANARY, ORCHESTRA_MCP_LOG_LEVEL="DEBUG")
    m.setup_logging(m.client().config)
    capture = Capture()
    capture.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    module_logger().addHandler(capture)   # no filter on it: what the module itself logs
    caplog.set_level(logging.DEBUG)   # urllib3 and requests records too
    echo = {"detail": f"bad token {CANARY}"}
    texts = []
    for status in (401, 403, 404, 409, 422, 500):
        rsps.add(responses.GET, STATUS_URL, status=status, json=echo)
        texts.append(text_of(status_call()))
        rsps.reset()
    rsps.add(responses.GET, STATUS_URL, status=400, body=f"raw {CANARY} raw")
    texts.append(text_of(status_call()))
    rsps.add(responses.GET, BASE + "/pipeline_runs", json=NO_ACTIVE_RUNS["body"])
    rsps.add(responses.POST, BASE + START_PATH, status=500, json=echo)
    texts.append(text_of(start()))
    rsps.add(responses.GET, STATUS_URL, status=200, json={"id": RUN, "runStatus": "FAILED", "message": "fine"})
    texts.append(text_of(status_call()))
    session = m.client()._sessions()["reads"]
    shown = texts + capture.lines + [caplog.text, repr(session.auth), str(session.auth), repr(dict(session.headers))]
    assert capture.lines, "DEBUG logging produced no lines to check"
    for text in shown:
        assert CANARY not in text
    assert "[redacted]" in texts[1]   # the 403 detail echoed the key and was redacted on the way out


def test_the_log_filter_redacts_the_key_if_anything_logs_it(tmp_path, module_logger):
    log_file = tmp_path / "orchestra.log"
    setup(ORCHESTRA_API_KEY=CANARY, ORCHESTRA_MCP_LOG_FILE=str(log_file), ORCHESTRA_MCP_LOG_LEVEL="DEBUG")
    m.setup_logging(m.client().config)
    assert (log_file.stat().st_mode & 0o777) == 0o600   # created owner-only before anything is written
    m.log.warning("leaked %s and \x1b[31m", CANARY)
    for handler in module_logger().handlers:
        handler.flush()
    written = log_file.read_text()
    assert CANARY not in written
    assert "leaked [redacted]" in written
    assert "\x1b" not in written


@pytest.mark.parametrize("pasted", ["k-test with-a-space", "k-test\nsecond-line", "k-test\r", "k-tëst-accented",
                                    "\tk-test", "k-test\x00"])
def test_a_key_pasted_with_spaces_or_line_breaks_is_refused_at_start(rsps, pasted):
    # http.client would raise an exception whose text carries the whole header, key included.
    config = m.read_config({"ORCHESTRA_API_KEY": pasted, "ORCHESTRA_API_BASE_URL": BASE})
    if pasted.strip() == "k-test":   # surrounding whitespace is a harmless paste: it is stripped
        assert config["api_key"] == "k-test"
        return
    assert config["api_key"] is None
    assert any("bad paste" in note for note in config["notes"])
    m.configure(config)
    result = status_call()
    assert result["isError"] and "ORCHESTRA_API_KEY is not set" in text_of(result)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("planted", ["symlink", "fifo", "directory", "other_owner"])
def test_a_log_file_that_is_not_a_regular_file_of_this_user_is_refused(tmp_path, planted, capsys,
                                                                        monkeypatch):
    path = tmp_path / "orchestra.log"
    target = tmp_path / "elsewhere.log"
    if planted == "symlink":
        target.write_text("")
        path.symlink_to(target)
    elif planted == "fifo":
        os.mkfifo(path)
    elif planted == "directory":
        path.mkdir()
    else:
        path.write_text("")
        monkeypatch.setattr(m.os, "geteuid", lambda: os.getuid() + 1)   # as if another user owned it
    config = m.read_config({"ORCHESTRA_API_KEY": CANARY, "ORCHESTRA_API_BASE_URL": BASE,
                            "ORCHESTRA_MCP_LOG_FILE": str(path)})
    m.setup_logging(config)
    assert m._log_setup["file"] is None   # stderr only: nothing is written through the planted path
    assert "cannot open ORCHESTRA_MCP_LOG_FILE" in capsys.readouterr().err
    if planted == "symlink":
        assert target.read_text() == ""


# ---- the bounded JSON reader ----------------------------------------------------------------------------

def test_an_answer_larger_than_8_mib_is_refused(rsps):
    rsps.add(responses.GET, BASE + "/pipelines", body=b" " * (m.MAX_JSON_BYTES + 1))
    with pytest.raises(m.ApiError, match="larger than 8 MiB"):
        m.api_get("/pipelines")


def test_an_answer_exactly_at_the_limit_is_read(rsps, monkeypatch):
    monkeypatch.setattr(m, "MAX_JSON_BYTES", 100)
    body = '{"a": "' + "x" * 91 + '"}'
    assert len(body) == 100
    rsps.add(responses.GET, BASE + "/pipelines", body=body)
    rsps.add(responses.GET, BASE + "/pipelines", body=body + " ")
    assert m.api_get("/pipelines") == {"a": "x" * 91}
    with pytest.raises(m.ApiError, match="larger than"):
        m.api_get("/pipelines")


def test_an_answer_that_is_not_json_gives_a_clear_error(rsps):
    rsps.add(responses.GET, STATUS_URL, body="<html><body>Sign in</body></html>")
    result = status_call()
    assert result["isError"]
    assert "not valid JSON" in text_of(result)
    assert "ORCHESTRA_API_BASE_URL" in text_of(result)


def test_deeply_nested_json_is_an_error_not_a_crash(rsps):
    rsps.add(responses.GET, BASE + "/pipelines", body="[" * 100_000 + "]" * 100_000)
    with pytest.raises(m.ApiError, match="not valid JSON"):
        m.api_get("/pipelines")


# ---- configuration ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://app.getorchestra.io/api/engine/public",
    "https://orchestra.test:8443/api/engine/public/",
    "http://127.0.0.1:8080/api/engine/public",
    "http://[::1]:8080/api/engine/public",
    "http://localhost/api/engine/public",
    "https://Orchestra.Test/api",
    "http://LOCALHOST:9/api",
])
def test_a_base_url_that_is_https_or_loopback_http_is_accepted(url):
    config = m.read_config({"ORCHESTRA_API_BASE_URL": url})
    assert config["base_url"] == url.rstrip("/")


@pytest.mark.parametrize("url", [
    "http://orchestra.test/api/engine/public",
    "http://127.0.0.1.example.com/api",
    "http://localhost.example.com/api",
    "http://10.0.0.1/api",
    "ftp://orchestra.test/api",
    "orchestra.test/api",
    "https://user:pw@orchestra.test/api",
    "https://user@orchestra.test/api",
    "https://orchestra.test/api?x=1",
    "https://orchestra.test/api#frag",
    "https:///api",
    "https://orchestra.test/api?",
    " https://orchestra.test/api\nx",
])
def test_a_base_url_that_is_not_https_or_carries_credentials_or_a_query_is_refused(url):
    with pytest.raises(m.ConfigError) as caught:
        m.read_config({"ORCHESTRA_API_BASE_URL": url})
    assert "ORCHESTRA_API_BASE_URL" in str(caught.value)
    assert "pw" not in str(caught.value)


def test_an_unset_base_url_means_the_public_api():
    assert m.read_config({})["base_url"] == m.DEFAULT_BASE_URL


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", "ON", " true "])
def test_read_only_words_turn_writes_off(value):
    config = m.read_config({"ORCHESTRA_READ_ONLY": value})
    assert config["read_only"] is True
    assert not any("ORCHESTRA_READ_ONLY" in note for note in config["notes"])


@pytest.mark.parametrize("value", ["0", "false", "False", "NO", "off", None])
def test_an_explicit_no_or_unset_read_only_leaves_writes_on(value):
    environ = {} if value is None else {"ORCHESTRA_READ_ONLY": value}
    config = m.read_config(environ)
    assert config["read_only"] is False
    assert not any("ORCHESTRA_READ_ONLY" in note for note in config["notes"])


@pytest.mark.parametrize("value", ["${ORCHESTRA_READ_ONLY}", "2", "maybe", "op://vault/item/ro", "ture", ""])
def test_any_other_read_only_value_fails_closed_with_a_note(value):
    config = m.read_config({"ORCHESTRA_READ_ONLY": value})
    assert config["read_only"] is True
    assert any("ORCHESTRA_READ_ONLY" in note and "read-only" in note for note in config["notes"])


def test_read_only_mode_removes_the_start_from_the_tool_list():
    names = {t["name"] for t in m.tool_list(read_only=True)}
    assert "trigger_pipeline" not in names
    assert "trigger_pipeline" in {t["name"] for t in m.tool_list(read_only=False)}


@pytest.mark.parametrize("value, why", [
    ("${ORCHESTRA_API_KEY}", "placeholder"),
    ("${CANARY-KEY-1234567890}", "placeholder"),
    ("op://Private/orchestra/CANARY-KEY-1234567890", "1Password"),
    ("", "empty"),
    ("   ", "empty"),
])
def test_an_unresolved_or_empty_key_counts_as_unset_with_a_note(value, why):
    config = m.read_config({"ORCHESTRA_API_KEY": value})
    assert config["api_key"] is None
    notes = [n for n in config["notes"] if "ORCHESTRA_API_KEY" in n]
    assert len(notes) == 1 and why in notes[0]
    assert CANARY not in notes[0]


@pytest.mark.parametrize("name", ["ORCHESTRA_API_BASE_URL", "ORCHESTRA_ACCOUNT_ID", "ORCHESTRA_MCP_LOG_FILE",
                                  "ORCHESTRA_MCP_DOWNLOAD_DIR"])
@pytest.mark.parametrize("value", ["${X}", "op://vault/item/field", ""])
def test_any_unresolved_or_empty_variable_counts_as_unset_with_a_note(name, value):
    config = m.read_config({name: value})
    assert any(note.startswith(name) for note in config["notes"])
    assert config["base_url"] == m.DEFAULT_BASE_URL
    assert config["account_id"] is None and config["log_file"] is None
    assert config["download_dir"].endswith("downloads")


def test_a_valid_key_is_kept_and_never_put_in_a_note():
    config = m.read_config({"ORCHESTRA_API_KEY": f"  {CANARY}  ", "ORCHESTRA_TIMEOUT": "abc",
                            "ORCHESTRA_MCP_LOG_LEVEL": "loud", "ORCHESTRA_ACCOUNT_ID": "nope"})
    assert config["api_key"] == CANARY
    assert config["notes"]
    assert all(CANARY not in note for note in config["notes"])


@pytest.mark.parametrize("value, expected", [("12.5", 12.5), ("0", 30.0), ("-3", 30.0), ("abc", 30.0), ("86400", 30.0)])
def test_a_timeout_must_be_a_positive_number_of_seconds(value, expected):
    assert m.read_config({"ORCHESTRA_TIMEOUT": value})["timeout_s"] == expected


# ---- no key: every tool says how to set it, and sends nothing -------------------------------------------

NO_KEY_ARGUMENTS = {
    "list_failures": {},
    "diagnose_pipeline_run": {"pipeline_run_id": RUN},
    "get_pipeline_run_status": {"pipeline_run_id": RUN},
    "get_pipeline_run_details": {"pipeline_run_id": RUN},
    "list_pipeline_runs": {"time_from": "24h"},
    "list_task_runs": {},
    "get_task_run_artifacts": {"pipeline_run_id": RUN, "task_run_id": TASK},
    "download_task_artifact": {"pipeline_run_id": RUN, "task_run_id": TASK, "filename": "run_results.json"},
    "get_task_run_logs": {"pipeline_run_id": RUN, "task_run_id": TASK},
    "list_pipelines": {},
    "get_pipeline": {"pipeline_id": "nightly_elt"},
    "trigger_pipeline": {"pipeline_id": "nightly_elt"},
    "cancel_pipeline_run": {"pipeline_run_id": RUN},
    "get_task_run": {"task_run_id": TASK},
    "list_operations": {},
}


def test_every_tool_is_covered_by_the_no_key_table():
    assert set(m.TOOLS) == set(NO_KEY_ARGUMENTS)


@pytest.mark.parametrize("name", sorted(NO_KEY_ARGUMENTS))
def test_without_a_key_every_tool_says_how_to_set_it_and_sends_nothing(rsps, name):
    setup(ORCHESTRA_API_KEY=None)
    result = m.call_tool(name, NO_KEY_ARGUMENTS[name])
    assert result["isError"]
    assert "ORCHESTRA_API_KEY" in text_of(result)
    assert "launch-orchestra-mcp.sh" in text_of(result)
    assert len(rsps.calls) == 0
