"""Reliability: protocol fuzzing, API faults and the server's lifecycle under load.

1. Protocol fuzzing (hypothesis, deterministic): arbitrary bytes, arbitrary JSON, structurally valid
   requests with a wrong type in every field, and notifications and stray responses, sent as raw lines
   to ONE running server. After every case the server still answers `ping`; every stdout line is
   checked (framing, UTF-8, JSON, `mcp_types.jsonrpc_message_adapter`); notifications get no answer
   at all. The default run fuzzes a quarter of the cases; the `slow` run (CI: pytest -m slow) all.
   Fixed odd lines (huge, binary, nested) and duplicate ids are in test_protocol.py.
2. API faults from the fake's injection (429 storms with and without Retry-After, a Retry-After of an
   hour, 5xx, a body cut mid-way, truncated or non-JSON bodies, a stall beyond ORCHESTRA_TIMEOUT,
   connection resets, a 200 MB body, redirects to another host and in a loop): each ends within the
   call's deadline with one clear isError sentence, with bounded peak memory (VmHWM), and the server
   answers the next call normally.
3. Lifecycle: a client that stops reading stdout (back-pressure, nothing dropped, EOF or a signal
   still ends the process), and (slow) a 1,000-call soak with random cancellations (threads, file
   descriptors and RSS flat). EOF and signals with calls in flight are in test_protocol.py.

Figures (cases fuzzed, faults survived, soak before/after) are printed; run with `-s` to see them.
"""

import json
import os
import random
import re
import select
import signal
import time
from email.utils import formatdate

import mcp_types
import orchestra_mcp
import pytest
from fake_orchestra import (
    DBT_LOG_FILENAME,
    FAILED_DBT_TASK_RUN_ID,
    FAILED_RUN_ID,
)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mcp_helpers import (
    WAIT_S,
    finish,
    proc_field,
    responses_in,
    same_id,
    server_env,
    start,
    stats,
    tool_result,
)

EXIT_GUARD_S = 30              # a failure guard for an exit the design makes take ~1.5 s at most
FUZZ_SETTINGS = {"derandomize": True, "database": None, "deadline": None,
                 "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
# Each fuzz test runs a quarter of its cases by default and all of them in the slow run.
SCALES = [pytest.param(4, id="quarter"), pytest.param(1, id="all", marks=pytest.mark.slow)]
TOOL_NAMES = ("list_failures", "diagnose_pipeline_run", "get_pipeline_run_status", "get_pipeline_run_details",
              "list_pipeline_runs", "list_task_runs", "get_task_run_artifacts", "download_task_artifact",
              "get_task_run_logs", "list_pipelines", "get_pipeline", "trigger_pipeline", "cancel_pipeline_run")
FIGURES = {"cases fuzzed": 0, "faults survived": 0}


def id_key(value):
    return (type(value).__name__, value)


def call(client, tool_name, timeout=WAIT_S, **arguments):
    """(is_error, payload or sentence) of one tools/call, checked against CallToolResult."""
    return tool_result(client.request("tools/call", {"name": tool_name, "arguments": arguments}, timeout=timeout))


@pytest.fixture(scope="module", autouse=True)
def print_figures():
    yield
    print("\nreliability figures: " + ", ".join(f"{k}: {v}" for k, v in FIGURES.items()))


####################################################################################################
# 1. Protocol fuzzing against one running server
####################################################################################################

def fuzz_server(home):
    """No key, so every tools/call ends at once without a request."""
    server = start(server_env("http://127.0.0.1:9/api/engine/public", home, key=None))
    server.sent_ids = set()   # id_key() of every request id a test sent (fuzz cases included)
    server.initialize()
    return server


def finish_fuzz_server(server):
    stderr = finish(server)
    assert "Traceback" not in stderr, stderr[-2000:]
    assert server.process.returncode == 0


@pytest.fixture(scope="module")
def wire(tmp_path_factory):
    """One server for the fuzz cases that may start tool calls (a late answer is checked where it lands)."""
    server = fuzz_server(tmp_path_factory.mktemp("fuzz-home"))
    yield server
    finish_fuzz_server(server)


@pytest.fixture
def quiet_wire(tmp_path):
    """A server of its own: no earlier call can still be answering while silence is checked."""
    server = fuzz_server(tmp_path)
    yield server
    finish_fuzz_server(server)


def fuzz_case(server, line, ids=()):
    """Send one fuzz line (carrying request `ids`), then ping; check what came back; returns the rest."""
    server.sent_ids.update(id_key(i) for i in ids)
    server.send(line if line.endswith(b"\n") else line + b"\n")
    others = server.ping()
    FIGURES["cases fuzzed"] += 1
    check_ids(server, others, line)
    return others


def check_ids(server, messages, line=b""):
    for response in responses_in(messages):
        assert response["id"] is None or id_key(response["id"]) in server.sent_ids, \
            f"an answer with an id nobody sent: {response!r} after {line[:200]!r}"


def settle(server):
    """Late answers (tool calls, batch threads) that came in meanwhile must be valid, with ids we sent;
    any later still are checked by the next case, or when the server is finished."""
    late = server.ping()
    check_ids(server, late)
    return late


JSON_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
                | st.text(max_size=12) | st.sampled_from(["2.0", "ping", "tools/call", "", "\x00", "\u2028"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["jsonrpc", "id", "method", "params", "result", "error", "name", "arguments", "a", ""]),
        children, max_size=4),
    max_leaves=10)


def ids_in(value):
    """Request ids a fuzz value itself carries (a random dict may look like a request)."""
    items = value if isinstance(value, list) else [value]
    return [item["id"] for item in items if isinstance(item, dict) and "id" in item
            and (isinstance(item["id"], str) or type(item["id"]) is int)]


@pytest.mark.parametrize("scale", SCALES)
def test_arbitrary_bytes_never_break_the_server_or_its_stdout(wire, scale):
    @settings(max_examples=1500 // scale, **FUZZ_SETTINGS)
    @given(line=st.binary(max_size=3000))
    @example(line=b"\xff\xfe\x00\x00")
    @example(line=b"\x00" * 64)
    @example(line=b"\xc0\xaf\xed\xa0\x80")           # overlong '/', a UTF-8 encoded surrogate
    @example(line=b"{" * 3000)
    @example(line=b"\r")
    @example(line=b"\x1b[2J\x1b]0;title\x07")
    def fuzz(line):
        others = fuzz_case(wire, line)
        for response in responses_in(others):
            assert response["id"] is None and response["error"]["code"] in (-32700, -32600), response

    fuzz()


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("version", ["2025-11-25", "2025-03-26"], ids=["plain-session", "batch-session"])
def test_arbitrary_json_values_get_an_error_or_nothing_in_both_session_kinds(wire, version, scale):
    wire.initialize(version)   # 2025-03-26 makes a JSON array a batch

    @settings(max_examples=250 // scale, **FUZZ_SETTINGS)
    @given(values=st.lists(JSON_VALUES, min_size=4, max_size=4), ascii_only=st.booleans())
    def fuzz(values, ascii_only):
        for value in values:
            fuzz_case(wire, json.dumps(value, ensure_ascii=ascii_only).encode("utf-8"), ids_in(value))

    fuzz()
    settle(wire)
    wire.initialize("2025-11-25")


GOOD_IDS = st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | st.text(max_size=12) | st.sampled_from([0, 1, "1", "", "dup"])
WRONG_VALUES = st.sampled_from([
    None, True, False, 0, -1, 1.5, 1e308, 2 ** 64, -(2 ** 70), "", "x" * 5000, "\x00", "\u202e\ud7ff", "2.0", "ping",
    "tools/call", "../..", [], [1, "a"], [[[]]], {}, {"a": 1}, {"jsonrpc": "2.0"},
]) | JSON_SCALARS
REQUEST_METHODS = ("ping", "initialize", "tools/list", "tools/call", "tools/call", "tools/call",
                   "notifications/cancelled", "resources/list", "server/discover", "no/such/method")
ARGUMENT_NAMES = ("pipeline_run_id", "task_run_id", "filename", "limit", "max_bytes", "offset", "save", "hours",
                  "wait_seconds", "status_filter", "time_from", "pipeline_id", "run_inputs", "task_ids", "grep",
                  "tail_bytes", "name", "unknown_argument")
ARGUMENT_VALUES = st.sampled_from(["8e808ad7", FAILED_RUN_ID, "24h", "FAILED", "run_results.json", 5, 10 ** 30, True,
                                   ["a"], {"k": "v"}, "../../etc/passwd", "?x=1#y"]) | JSON_SCALARS


def _paths(value, prefix=()):
    """Every key path of a nested dict (the dict's own fields first)."""
    for key, item in value.items():
        yield prefix + (key,)
        if isinstance(item, dict):
            yield from _paths(item, prefix + (key,))


def _mutated(message, path, value=None, delete=False):
    copy = json.loads(json.dumps(message))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


@st.composite
def wrong_typed_requests(draw):
    """A valid request, then one mutant per field (every level): a wrong-typed value, or the field removed."""
    method = draw(st.sampled_from(REQUEST_METHODS))
    request = {"jsonrpc": "2.0", "id": draw(GOOD_IDS), "method": method}
    if method == "tools/call":
        names = draw(st.lists(st.sampled_from(ARGUMENT_NAMES), max_size=3, unique=True))
        request["params"] = {"name": draw(st.sampled_from(TOOL_NAMES)),
                             "arguments": {name: draw(ARGUMENT_VALUES) for name in names},
                             "_meta": {"progressToken": draw(GOOD_IDS)}}
    elif method == "initialize":
        request["params"] = {"protocolVersion": draw(st.sampled_from(["2024-11-05", "2025-11-25", "2026-07-28", "x"])),
                             "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}
    elif method == "notifications/cancelled":
        request["params"] = {"requestId": draw(GOOD_IDS), "reason": "fuzz"}
    else:
        request["params"] = {}
    mutants = [request]
    for path in _paths(request):
        if draw(st.integers(0, 3)) == 0:
            mutants.append(_mutated(request, path, delete=True))
        else:
            mutants.append(_mutated(request, path, draw(WRONG_VALUES)))
    return mutants


def is_notification(message):
    return (isinstance(message, dict) and message.get("jsonrpc") == "2.0" and "id" not in message
            and isinstance(message.get("method"), str))


def is_valid_request(message):
    request_id = message.get("id")
    return (message.get("jsonrpc") == "2.0" and isinstance(message.get("method"), str)
            and (isinstance(request_id, str) or type(request_id) is int))


@pytest.mark.parametrize("scale", SCALES)
def test_requests_with_wrong_types_in_every_field_get_well_formed_answers(wire, scale):
    wire.initialize("2025-11-25")

    @settings(max_examples=300 // scale, **FUZZ_SETTINGS)
    @given(mutants=wrong_typed_requests())
    @example(mutants=[{"jsonrpc": "2.0", "id": "dup", "method": "ping"}] * 2)
    @example(mutants=[{"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {"name": "list_pipelines"}}])
    @example(mutants=[{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "download_task_artifact", "arguments": {"max_bytes": 10 ** 30}}}])
    @example(mutants=[{"jsonrpc": "2.0", "id": 2 ** 64, "method": "ping", "params": None},
                      {"jsonrpc": "2.0", "id": None, "method": "ping"},
                      {"jsonrpc": "2.0", "id": True, "method": "ping"},
                      {"jsonrpc": "2.0", "id": 1.0, "method": "ping"}])
    def fuzz(mutants):
        for message in mutants:
            others = fuzz_case(wire, json.dumps(message).encode(), ids_in(message))
            if is_notification(message):   # nothing for it; only late tool answers (ids sent earlier) may come
                assert all(r["id"] is not None for r in responses_in(others)), (message, others)
            elif is_valid_request(message) and message["method"] != "tools/call":   # answered inline, at once
                assert any(same_id(r["id"], message["id"]) for r in responses_in(others)), (message, others)

    fuzz()
    settle(wire)


NOTIFICATION_METHODS = st.sampled_from(["notifications/initialized", "notifications/cancelled",
                                        "notifications/progress", "notifications/roots/list_changed",
                                        "notifications/message", "ping", "tools/call", "initialize",
                                        "tools/list", "no/such/method"]) | st.text(max_size=20)
NOTIFICATION_PARAMS = WRONG_VALUES | st.fixed_dictionaries(
    {}, optional={"requestId": GOOD_IDS | WRONG_VALUES, "name": st.sampled_from(TOOL_NAMES) | WRONG_VALUES,
                  "arguments": WRONG_VALUES, "progressToken": GOOD_IDS, "protocolVersion": WRONG_VALUES})


@st.composite
def notifications_and_stray_responses(draw):
    if draw(st.integers(0, 4)) == 0:   # a stray response: also never answered
        if draw(st.booleans()):
            return {"jsonrpc": "2.0", "id": draw(GOOD_IDS | st.none()), "result": draw(WRONG_VALUES)}
        return {"jsonrpc": "2.0", "id": draw(GOOD_IDS | st.none()),
                "error": {"code": draw(st.integers()), "message": draw(st.text(max_size=12))}}
    message = {"jsonrpc": "2.0", "method": draw(NOTIFICATION_METHODS)}
    if draw(st.booleans()):
        message["params"] = draw(NOTIFICATION_PARAMS)
    return message


# The notifications a client really sends, a request method without an id (a notification too), and
# stray responses: each must get no answer at all.
KNOWN_NOTIFICATIONS = [
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
    {"jsonrpc": "2.0", "method": "notifications/whatever", "params": {"x": 1}},
    {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "t", "progress": 1}},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 12345}},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": [1]}},
    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": "not an object"},
    {"jsonrpc": "2.0", "method": "ping"},
    {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "list_pipelines"}},
    {"jsonrpc": "2.0", "id": 5, "result": {}},
    {"jsonrpc": "2.0", "id": "x", "error": {"code": -1, "message": "stray"}},
    {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "stray"}},
]


@pytest.mark.parametrize("scale", SCALES)
def test_notifications_and_stray_responses_never_write_anything(quiet_wire, scale):
    wire = quiet_wire

    @settings(max_examples=200 // scale, **FUZZ_SETTINGS)
    @given(messages=st.lists(notifications_and_stray_responses(), min_size=5, max_size=5))
    @example(messages=KNOWN_NOTIFICATIONS)
    @example(messages=[{"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "list_pipelines", "arguments": {}}},
                       {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "__ping__1"}},
                       {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": [1, 2]}])
    def fuzz(messages):
        for message in messages:
            others = fuzz_case(wire, json.dumps(message).encode())
            assert others == [], f"{message!r} was answered with {others!r}"

    fuzz()
    assert settle(wire) == []


####################################################################################################
# 2. Faults from the API: bounded time, one clear sentence, bounded memory, still serving
####################################################################################################

DEADLINE_S = 2.5
STATUS_CALL = ("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID})
STATUS_PATH = f"/pipeline_runs/{FAILED_RUN_ID}/status"
ON_STATUS = {"method": "GET", "path": STATUS_PATH}
LOG_CALL = ("get_task_run_logs", {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID,
                                  "filename": DBT_LOG_FILENAME})
ARTIFACT_CALL = ("download_task_artifact", {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID,
                                            "filename": "run_results.json"})
WEEK_CALL = ("list_pipeline_runs", {"time_from": "7d"})
AN_HOUR_AS_A_DATE = "in an hour, as an HTTP date"

FAULTS = {
    "a 429 storm without Retry-After": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 429},
                                        r"rate limited by Orchestra; retry after a few seconds\."),
    "a 429 storm with Retry-After 1": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 429,
                                                     "headers": {"Retry-After": "1"}}, r"rate limited .*retry after 1 s\."),
    "a 429 with Retry-After 3600": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 429,
                                                  "headers": {"Retry-After": "3600"}}, r"retry after 3600 s\."),
    "a 429 with Retry-After an hour away as a date": (
        STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 429,
                      "headers": {"Retry-After": AN_HOUR_AS_A_DATE}}, r"retry after (35\d\d|3600) s\."),
    "a 500 storm": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 500},
                    r"server error \(HTTP 500\) on GET the pipeline run status, even after retries"),
    "a 502 storm": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 502}, r"HTTP 502"),
    "a 503 storm without Retry-After": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 503},
                                        r"HTTP 503"),
    "a 504 storm": (STATUS_CALL, {"match": ON_STATUS, "count": 50, "action": "status", "status": 504}, r"HTTP 504"),
    "a connection dropped mid-body": (STATUS_CALL, {"match": ON_STATUS, "count": 1, "action": "drop", "size": 256 * 1024},
                                      r"connection broke while reading Orchestra's answer"),
    "truncated JSON": (STATUS_CALL, {"match": ON_STATUS, "count": 1, "action": "non_json"}, r"not valid JSON"),
    "an HTML gateway page with 200": (STATUS_CALL, {"match": ON_STATUS, "count": 1, "action": "non_json",
                                                    "body": "<html><h1>502 Bad Gateway</h1></html>"}, r"not valid JSON"),
    "a stall beyond ORCHESTRA_TIMEOUT": (STATUS_CALL, {"match": ON_STATUS, "count": 5, "action": "slow", "delay": 3},
                                         r"did not answer GET the pipeline run status within 1 s"),
    "connection resets": (STATUS_CALL, {"match": ON_STATUS, "count": 10, "action": "reset"},
                          r"could not reach Orchestra at 127\.0\.0\.1:\d+ \(ConnectionError\)"),
    "a 200 MB body": (STATUS_CALL, {"match": ON_STATUS, "count": 1, "action": "big_body", "size": 200 * 1024 * 1024},
                      r"larger than 8 MiB"),
    "a redirect loop": (STATUS_CALL, {"match": ON_STATUS, "count": 20, "action": "redirect", "status": 302},
                        r"answered with a redirect"),
    "a 200 that is not a run": (STATUS_CALL, {"match": ON_STATUS, "count": 1, "action": "status", "status": 200,
                                              "body": []}, r"different run"),
    "a listing page that keeps failing": (WEEK_CALL, {"match": {"method": "GET", "path": "/pipeline_runs",
                                                                "query": "page=1&page_size=100"}, "count": 50,
                                                      "action": "status", "status": 500}, r"HTTP 500"),
    "a log download cut mid-body": (LOG_CALL, {"match": {"method": "GET", "path": "/logs/download"}, "count": 1,
                                               "action": "drop", "size": 64 * 1024}, r"connection broke"),
    "an artifact download reset": (ARTIFACT_CALL, {"match": {"method": "GET", "path": "/artifacts/download"},
                                                   "count": 10, "action": "reset"}, r"could not reach Orchestra"),
}


@pytest.fixture(scope="module")
def fault_server(fake_orchestra, tmp_path_factory):
    """One server against the session's fake: 1 s per request, 2.5 s per call, Retry-After waited up to 2 s."""
    env = server_env(fake_orchestra.base_url, tmp_path_factory.mktemp("faults-home"), ORCHESTRA_TIMEOUT="1",
                     ORCHESTRA_MCP_DEADLINE_S=str(DEADLINE_S), ORCHESTRA_MCP_RETRY_AFTER_CAP_S="2",
                     ORCHESTRA_MCP_RETRY_BACKOFF_S="0.01")
    server = start(env)
    server.initialize()
    assert not call(server, *STATUS_CALL[:1], **STATUS_CALL[1])[0]   # warm: requests imported, session built
    yield server
    stderr = finish(server)
    assert "Traceback" not in stderr, stderr[-2000:]


def assert_still_serving(server, fake):
    fake.clear_faults()
    is_error, status = call(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)
    assert not is_error and status["runStatus"] == "FAILED", status
    FIGURES["faults survived"] += 1


def assert_one_sentence(text):
    assert text and len(text) <= 1100 and "\n" not in text and "Traceback" not in text, text
    assert "http://" not in text, f"the URL leaked into the message: {text}"


HOUR_LONG_WAITS = ("a 429 with Retry-After 3600", "a 429 with Retry-After an hour away as a date")


@pytest.mark.parametrize("name", list(FAULTS))
def test_an_api_fault_ends_in_time_with_one_clear_sentence_and_the_server_keeps_serving(fault_server, fake, name):
    tool_call, fault, expected = FAULTS[name]
    fault = dict(fault)
    if fault.get("headers", {}).get("Retry-After") == AN_HOUR_AS_A_DATE:
        fault["headers"] = {"Retry-After": formatdate(time.time() + 3600, usegmt=True)}
    fake.add_fault(**fault)
    before = proc_field(fault_server.process.pid, "VmHWM")
    is_error, text = call(fault_server, tool_call[0], **tool_call[1])
    growth_kb = proc_field(fault_server.process.pid, "VmHWM") - before
    print(f"{name}: peak RSS +{growth_kb} kB: {text[:100]}")
    assert is_error, text
    assert re.search(expected, text), text
    assert_one_sentence(text)
    if name in HOUR_LONG_WAITS:   # not waited out: answered after the first 429, nothing re-sent
        assert len([e for e in fake.journal if e["path"].endswith(STATUS_PATH)]) == 1, fake.journal
    assert growth_kb < 48 * 1024, f"peak memory grew {growth_kb} kB"
    assert_still_serving(fault_server, fake)


def test_a_body_dripping_past_the_deadline_is_cut_by_the_watchdog(fault_server, fake):
    # One byte every 0.2 s: each read gets a byte within ORCHESTRA_TIMEOUT (1 s), so no per-read
    # timeout ends it (the 64 KiB would take 3.6 hours); only the watchdog's shutdown at the
    # call's deadline can.
    fake.add_fault(match=ON_STATUS, count=1, action="drip", size=64 * 1024, delay=0.2)
    is_error, text = call(fault_server, *STATUS_CALL[:1], timeout=EXIT_GUARD_S, **STATUS_CALL[1])
    assert is_error and "ran past the call's deadline" in text, text
    assert_one_sentence(text)
    assert_still_serving(fault_server, fake)


def test_a_call_that_waited_out_its_deadline_for_a_worker_is_refused_unsent(fake, tmp_path):
    # Eight calls hang on the API until their 1.5 s deadline; a ninth, queued behind them, reaches a
    # worker with its own deadline (counted from arrival) all but spent: refused, nothing sent. (The
    # eight start at once, on idle workers: a start up to 1 s late would still leave them the 0.5 s
    # the server requires.)
    fake.add_fault(match=ON_STATUS, count=8, action="slow", delay=60)
    server = start(server_env(fake.base_url, tmp_path, ORCHESTRA_MCP_DEADLINE_S="1.5", ORCHESTRA_TIMEOUT="30"))
    try:
        server.initialize()
        calls = [{"jsonrpc": "2.0", "id": n, "method": "tools/call",
                  "params": {"name": "get_pipeline_run_status",
                             "arguments": {"pipeline_run_id": FAILED_RUN_ID}}} for n in range(1, 10)]
        server.send(*calls)
        ninth = server.reply(9, timeout=EXIT_GUARD_S)["result"]
        assert ninth["isError"] and "waited too long for a free worker" in ninth["content"][0]["text"]
        statuses = [e for e in fake.journal if e["path"].endswith(STATUS_PATH)]
        assert len(statuses) == 8, statuses   # the ninth never reached the API
    finally:
        finish(server)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_never_followed_and_the_key_never_travels(
        fault_server, fake, other_host, status):
    other_host.clear_journal()
    fake.add_fault(match=ON_STATUS, count=5, action="redirect", status=status,
                   location=other_host.base_url + STATUS_PATH)
    is_error, text = call(fault_server, *STATUS_CALL[:1], **STATUS_CALL[1])
    assert is_error and "answered with a redirect" in text, text
    assert_one_sentence(text)
    assert other_host.journal == [], "the redirect was followed to another host"
    assert len([e for e in fake.journal if e["path"].endswith(STATUS_PATH)]) == 1   # sent once, not re-sent
    assert_still_serving(fault_server, fake)


####################################################################################################
# 3. Lifecycle: a soak, a client that stops reading
####################################################################################################

SOAK_CALLS = 1000
SOAK_WARMUP = 200
SOAK_WINDOW = 16


def calls_done(server):
    """Tool calls the server's DEBUG log says have ended, cancelled or not (logged just before a reply)."""
    return server.stderr_text().count("tools/call get_pipeline_run_status done in ")


def soak(server, calls, rng, first_id):
    """`calls` status calls, SOAK_WINDOW in flight, ~30 % cancelled; returns (answered, cancelled)."""
    pending, cancelled, answered = set(), set(), set()
    arguments = {"pipeline_run_id": FAILED_RUN_ID}
    done_before = calls_done(server)
    next_id = first_id

    def take(messages):
        for response in responses_in(messages):
            if response["id"] < first_id:   # a late answer to a call an earlier round cancelled
                continue
            assert response["id"] not in answered, f"two answers for id {response['id']}"
            answered.add(response["id"])
            pending.discard(response["id"])
            if response["id"] not in cancelled:
                result = mcp_types.CallToolResult.model_validate(response["result"])
                assert not result.is_error, result

    while next_id < first_id + calls or pending:
        while next_id < first_id + calls and len(pending) < SOAK_WINDOW:
            server.send({"jsonrpc": "2.0", "id": next_id, "method": "tools/call",
                         "params": {"name": "get_pipeline_run_status", "arguments": arguments}})
            if rng.random() < 0.3:
                if rng.random() < 0.5:   # at once (before the request goes out), or a little later (during it, or after)
                    time.sleep(rng.random() * 0.01)
                server.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                             "params": {"requestId": next_id, "reason": "soak"}})
                cancelled.add(next_id)
            else:
                pending.add(next_id)
            next_id += 1
        if pending:
            take([server.next_message()])
    give_up = time.monotonic() + WAIT_S
    while calls_done(server) < done_before + calls:   # every worker has ended: nothing more can start
        assert time.monotonic() < give_up, "calls still running"
        take(server.ping())
    take(server.ping())   # a call cancelled too late may still answer, once
    assert answered - cancelled == set(range(first_id, first_id + calls)) - cancelled
    return answered, cancelled


@pytest.mark.slow
def test_a_thousand_calls_with_random_cancellations_leave_threads_fds_and_memory_flat(fake, tmp_path):
    server = start(server_env(fake.base_url, tmp_path, ORCHESTRA_MCP_LOG_LEVEL="DEBUG"))
    rng = random.Random(20261124)
    try:
        server.initialize()
        soak(server, SOAK_WARMUP, rng, 10_000)   # the same concurrency: the connection pool reaches its steady size
        before = stats(server.process.pid)
        started = time.monotonic()
        answered, cancelled = soak(server, SOAK_CALLS, rng, 20_000)   # ids apart from the warm-up's late answers
        took = time.monotonic() - started
        after = stats(server.process.pid)
        print(f"soak: {SOAK_CALLS} calls ({len(cancelled)} cancelled, {len(answered)} answered) in {took:.1f} s; "
              f"threads {before['threads']} -> {after['threads']}, fds {before['fds']} -> {after['fds']}, "
              f"RSS {before['rss_kb']} -> {after['rss_kb']} kB")
        FIGURES["soak"] = (f"threads {before['threads']}->{after['threads']}, fds {before['fds']}->{after['fds']}, "
                           f"RSS {before['rss_kb']}->{after['rss_kb']} kB")
        assert after["threads"] <= before["threads"], (before, after)
        # keep-alive connections come and go (the pool holds up to one per worker): count them apart
        assert after["fds"] - after["sockets"] <= before["fds"] - before["sockets"], (before, after)
        assert after["sockets"] <= orchestra_mcp.TOOL_WORKERS + orchestra_mcp.FETCH_WORKERS + 4, (before, after)
        assert after["rss_kb"] <= before["rss_kb"] * 1.10, (before, after)
        is_error, status = call(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)
        assert not is_error and status["runStatus"] == "FAILED"
    finally:
        stderr = finish(server)
    assert "Traceback" not in stderr, stderr[-2000:]


def flood_until_stalled(fd, messages, stall_s=0.25, give_up_s=120.0):
    """Write lines without blocking until the server has left no room in the pipe for `stall_s`
    (select on writability: an event, not a poll); returns the ids sent."""
    sent = []
    give_up = time.monotonic() + give_up_s
    for request_id, line in messages:
        while True:
            assert time.monotonic() < give_up, f"the server kept reading after {len(sent)} requests"
            try:
                os.write(fd, line)   # each line < PIPE_BUF: written whole or not at all
                sent.append(request_id)
                break
            except BlockingIOError:
                if not select.select([], [fd], [], stall_s)[1]:
                    return sent
    raise AssertionError("ran out of requests before the server pushed back")


def flood_messages(first_id):
    """Endless pings with a status call every tenth request (a bigger answer from a worker thread)."""
    request_id = first_id
    while True:
        if request_id % 10 == 0:
            message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": FAILED_RUN_ID}}}
        else:
            message = {"jsonrpc": "2.0", "id": request_id, "method": "ping"}
        yield request_id, json.dumps(message, separators=(",", ":")).encode() + b"\n"
        request_id += 1


def start_flood_server(env):
    """A server with one call answered (requests imported, session built) and a non-blocking stdin."""
    server = start(env)
    server.send(next(flood_messages(0))[1])   # id 0: a status call
    assert "result" in server.reply(0)
    os.set_blocking(server.process.stdin.fileno(), False)
    return server


def stop_flood_server(server):
    if server.process.poll() is None:
        server.process.kill()
    assert "Traceback" not in finish(server)


def read_answers(server, wanted, timeout=120):
    """Read stdout until every id in `wanted` has exactly one answer; every line is checked."""
    answered = {}
    give_up = time.monotonic() + timeout
    while len(answered) < len(wanted):
        assert time.monotonic() < give_up, f"{len(wanted) - len(answered)} answers missing"
        message = server.next_message(max(0.01, give_up - time.monotonic()))
        assert message["id"] not in answered, f"two answers for {message['id']}"
        answered[message["id"]] = message
    return answered


def test_a_client_that_stops_reading_gets_back_pressure_bounded_memory_and_every_answer(fake, tmp_path):
    server = start_flood_server(server_env(fake.base_url, tmp_path))
    in_fd, pid = server.process.stdin.fileno(), server.process.pid
    try:
        baseline_kb = proc_field(pid, "VmRSS")
        # Nobody reads stdout: the writer queue fills, the reader stops taking stdin.
        sent = flood_until_stalled(in_fd, flood_messages(1))
        stalled_kb = proc_field(pid, "VmRSS")
        print(f"back-pressure after {len(sent)} requests; RSS {baseline_kb} -> {stalled_kb} kB")
        assert stalled_kb - baseline_kb < 64 * 1024, f"RSS grew {stalled_kb - baseline_kb} kB while blocked"
        # Reading again: every request gets exactly its answer, nothing was dropped.
        answered = read_answers(server, sent)
        assert sorted(answered) == sorted(sent)
        assert all("result" in m for m in answered.values())
        # Blocked again, a signal still ends it at once.
        flood_until_stalled(in_fd, flood_messages(1_000_000))
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=EXIT_GUARD_S)   # the writer is blocked for ever: only the signal ends it
        assert server.process.returncode == 0
    finally:
        stop_flood_server(server)


def test_eof_while_stdout_is_full_and_calls_are_queued_ends_the_process(fake, tmp_path):
    server = start_flood_server(server_env(fake.base_url, tmp_path))
    try:
        flood_until_stalled(server.process.stdin.fileno(), flood_messages(1))   # calls queue behind the full writer
        server.process.stdin.close()
        server.process.wait(timeout=EXIT_GUARD_S)   # nobody reads stdout: without the EOF grace it would never exit
        assert server.process.returncode == 0
    finally:
        stop_flood_server(server)
