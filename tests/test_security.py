"""Security: hostile tool arguments, the API key, the only write, and local file writes.

1. Argument fuzzing for every tool against the fake: path-like IDs (`../..`, `%2e%2e`, `?x=`, `#`, a
   newline, an absolute URL to another host), unicode, random strings, huge numbers and limits. Each
   call ends in an isError result or a bounded normal result (< 40,000 characters), and the fake's
   journal shows no request outside /api/engine/public, no `..` segment and no decoded `?`/`#` in a
   path; the "other host" sees nothing.
2. Secret canary: a recognisable key runs every tool (success, failure and fault paths) with DEBUG
   logging and a log file; stdout, stderr, the log file, every result, the fake's journal, exception
   texts and tracebacks, and /proc/<pid>/cmdline (direct and through launch-orchestra-mcp.sh) are
   scanned for it. The number of leaks found is printed (and must be 0).
3. Write safety: the pipeline start under a stall, 5xx, a reset, a cut or non-JSON 200, a 429 and a
   redirect reaches the API once per call, and a repeat inside the duplicate window is refused;
   read-only mode sends nothing but GET; save=true downloads stay inside the download directory
   (`../`, absolute names, planted symlinks) and are written 0600 in 0700 directories.

The fake runs in-process here (its own instance, keyed with the canary); a second fake plays
"another host" for redirects (conftest's `other_host`: its journal must stay empty), and a fault of
the fake answers an artifact download with any filename, so hostile names reach the local write path.
Run with `-s` to see the figures. Where the other key checks live: a key pasted with line breaks and
the log redaction filter in test_unit_http.py; read-only value parsing there too.
"""

import contextlib
import json
import os
import re
import shutil
import sys
import traceback
from pathlib import Path

import mcp_types
import pytest
from fake_orchestra import (
    API_PREFIX,
    DBT_LOG_FILENAME,
    FAILED_DBT_TASK_RUN_ID,
    FAILED_RUN_ID,
    INPUT_PIPELINE_ALIAS,
    PIPELINE_ALIAS,
    FakeOrchestra,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp_helpers import REPO, finish, server_env, start, tool_result

import orchestra_mcp

CANARY = "orch_CANARY_5f3a9c2e7d41"
MISSING_RUN = "00000000-0000-4000-8000-00000000dead"
STATUS_PATH = f"/pipeline_runs/{FAILED_RUN_ID}/status"
MAX_RESULT_CHARS = 40_000
LAUNCHER = REPO / "launch-orchestra-mcp.sh"
FIGURES = {"tool calls fuzzed": 0, "canary places scanned": 0, "canary bytes scanned": 0, "canary leaks found": 0}


@pytest.fixture(scope="module", autouse=True)
def print_figures():
    yield
    print("\nsecurity figures: " + ", ".join(f"{k}: {v}" for k, v in FIGURES.items()))


def leaks(texts):
    """Where the canary appears among labelled texts: [(label, count)]; every text counts as scanned."""
    found = []
    for label, text in texts:
        data = text if isinstance(text, bytes) else str(text).encode("utf-8", "surrogatepass")
        FIGURES["canary places scanned"] += 1
        FIGURES["canary bytes scanned"] += len(data)
        count = data.count(CANARY.encode())
        if count:
            found.append((label, count))
    FIGURES["canary leaks found"] += sum(count for _, count in found)
    return found


@pytest.fixture(scope="module")
def canary_fake():
    """This module's own fake API, keyed with the canary (starts made here stay out of the shared fake).
    Its runs succeed at once, so a run one test started never trips the next test's check for a
    run of the pipeline still going (the duplicate guard that survives a restart; tested elsewhere)."""
    fake = FakeOrchestra(api_key=CANARY, run_seconds=0).start()
    yield fake
    fake.stop()


@pytest.fixture
def api(canary_fake):
    canary_fake.clear_journal()
    canary_fake.clear_faults()
    yield canary_fake
    canary_fake.clear_faults()


def closed_server(server):
    stderr = finish(server)
    assert "Traceback" not in stderr, stderr[-2000:]
    return stderr


def call(server, tool_name, timeout=30, **arguments):
    """(is_error, payload or sentence) of one tools/call, checked against CallToolResult."""
    return tool_result(server.request("tools/call", {"name": tool_name, "arguments": arguments}, timeout=timeout))


def assert_requests_stay_in_the_api(journal, tool_name):
    """Every request: under the API prefix, no `..` segment, no decoded ? # or control characters, the key sent."""
    for entry in journal:
        path = entry["path"]
        assert path.startswith(API_PREFIX + "/"), f"{tool_name} sent a request outside the API: {path!r}"
        assert ".." not in path.split("/"), f"{tool_name} sent a path with a .. segment: {path!r}"
        assert not re.search(r"[?#\\\x00-\x1f\x7f]", path), f"{tool_name} sent a decoded ?, # or control character: {path!r}"
        assert entry["auth"] == "ok", entry
        if entry["method"] != "GET" and tool_name == "cancel_pipeline_run":
            assert entry["method"] == "POST", entry
            assert re.fullmatch(API_PREFIX + r"/pipeline_runs/[0-9a-f-]{36}/cancel", path), path
        elif entry["method"] != "GET":
            assert tool_name == "trigger_pipeline" and entry["method"] == "POST", entry
            assert re.fullmatch(API_PREFIX + r"/pipelines/[A-Za-z0-9_-]+/start", path), path


####################################################################################################
# 1. Argument fuzzing for every tool
####################################################################################################

TOOLS = orchestra_mcp.TOOLS
PLAUSIBLE = {
    "list_failures": {"hours": 24},
    "diagnose_pipeline_run": {"pipeline_run_id": FAILED_RUN_ID},
    "get_pipeline_run_status": {"pipeline_run_id": FAILED_RUN_ID},
    "get_pipeline_run_details": {"pipeline_run_id": FAILED_RUN_ID},
    "list_pipeline_runs": {"time_from": "24h", "limit": 5},
    "list_task_runs": {"pipeline_run_id": FAILED_RUN_ID},
    "get_task_run_artifacts": {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID},
    "download_task_artifact": {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID,
                               "filename": "run_results.json", "max_bytes": 2000},
    "get_task_run_logs": {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID,
                          "filename": DBT_LOG_FILENAME, "tail_bytes": 2000},
    "list_pipelines": {"name": "nightly"},
    "get_pipeline": {"pipeline_id": PIPELINE_ALIAS},
    "trigger_pipeline": {"pipeline_id": PIPELINE_ALIAS, "branch": "main"},
    "cancel_pipeline_run": {"pipeline_run_id": FAILED_RUN_ID, "reason": "test"},
    "get_task_run": {"task_run_id": FAILED_DBT_TASK_RUN_ID},
    "list_operations": {"task_run_id": FAILED_DBT_TASK_RUN_ID, "limit": 5},
}
HUGE_NUMBERS = [0, -1, 2 ** 31, 2 ** 63, 10 ** 30, 10 ** 400, 1e308, 1.5]


def path_like_values(other_url):
    """IDs and names that try to leave the path segment, the API prefix or the host."""
    return [
        "../..", "../../../etc/passwd", "..", "%2e%2e", "%2e%2e%2f%2e%2e%2fx", "..%2f..%2fx", "%252e%252e%252f",
        "?x=", "a?x=1", "#", "a#frag", "x\ny", "\r\nX-Injected: 1", "\x00", "%00",
        other_url + "/steal", "//127.0.0.2/steal", "/abs/path", "C:\\Windows\\win.ini", "\\\\host\\share",
        "\u202eevil", "\U0001f4a5", "a" * 5000, "", "${ORCHESTRA_API_KEY}",
        FAILED_RUN_ID + "/../../x", FAILED_RUN_ID + "?x=1", FAILED_RUN_ID + "#x", FAILED_RUN_ID + "/%2e%2e",
        " " + FAILED_RUN_ID.upper() + "\n", "8e808ad7/..", PIPELINE_ALIAS + "/../x", DBT_LOG_FILENAME + "/../../x",
    ]


# The arguments that end up in a URL (a path segment or a query value): where an escape would matter.
URL_ARGUMENTS = {
    "list_failures": ["environment", "pipeline_id"],
    "diagnose_pipeline_run": ["pipeline_run_id"],
    "get_pipeline_run_status": ["pipeline_run_id"],
    "get_pipeline_run_details": ["pipeline_run_id"],
    "list_pipeline_runs": ["pipeline_id", "time_from", "status_filter"],
    "list_task_runs": ["pipeline_run_id", "pipeline_id", "integration"],
    "get_task_run_artifacts": ["pipeline_run_id", "task_run_id"],
    "download_task_artifact": ["pipeline_run_id", "task_run_id", "filename"],
    "get_task_run_logs": ["pipeline_run_id", "task_run_id", "filename"],
    "list_pipelines": ["name"],
    "get_pipeline": ["pipeline_id"],
    "trigger_pipeline": ["pipeline_id", "branch"],
    "cancel_pipeline_run": ["pipeline_run_id"],
    "get_task_run": ["task_run_id"],
    "list_operations": ["task_run_id", "external_id", "name", "operation_type", "integration"],
}


def string_properties(name):
    return [arg for arg, rules in TOOLS[name]["schema"].items()
            if "string" in (rules["type"] if isinstance(rules["type"], list) else [rules["type"]])]


def integer_properties(name):
    return [arg for arg, rules in TOOLS[name]["schema"].items() if rules["type"] == "integer"]


@pytest.fixture(scope="module")
def fuzz_server(canary_fake, tmp_path_factory):
    home = tmp_path_factory.mktemp("argfuzz-home")
    server = start(server_env(canary_fake.base_url, home, key=CANARY, ORCHESTRA_TIMEOUT="5",
                                   ORCHESTRA_MCP_DEADLINE_S="8", ORCHESTRA_MCP_LOG_LEVEL="DEBUG"))
    server.initialize()
    yield server, home
    stderr = closed_server(server)
    assert leaks([("stderr", stderr)] + [("stdout", line) for line in server.raw]) == []
    downloads = home / "downloads"
    for path in home.rglob("*"):   # save=true (when the fuzzer picks it) writes only below the download directory
        assert path == downloads or downloads in path.parents, path


def fuzz_call(server, api, other_host, name, arguments):
    api.clear_journal()
    reply = server.request("tools/call", {"name": name, "arguments": arguments}, timeout=30)
    FIGURES["tool calls fuzzed"] += 1
    assert "result" in reply, f"{name}({arguments!r:.300}) got a JSON-RPC error: {reply}"
    result = mcp_types.CallToolResult.model_validate(reply["result"])
    text = result.content[0].text
    if result.is_error:
        assert len(text) <= 1100 and "Traceback" not in text, text
    else:
        assert len(text) < MAX_RESULT_CHARS, f"{name} returned {len(text)} characters"
        json.loads(text)
    assert CANARY not in text
    assert_requests_stay_in_the_api(api.journal, name)
    assert other_host.journal == [], other_host.journal
    return result.is_error, text


@pytest.mark.parametrize("name", list(PLAUSIBLE))
def test_path_like_ids_and_huge_numbers_never_leave_the_api_prefix(fuzz_server, api, other_host, name):
    server, _ = fuzz_server
    other_host.clear_journal()
    outcomes = {"error": 0, "ok": 0}
    assert set(URL_ARGUMENTS[name]) <= set(string_properties(name))
    for arg in URL_ARGUMENTS[name]:
        for value in path_like_values(other_host.base_url):
            is_error, _ = fuzz_call(server, api, other_host, name, {**PLAUSIBLE[name], arg: value})
            outcomes["error" if is_error else "ok"] += 1
    for arg in integer_properties(name):
        for value in HUGE_NUMBERS:
            is_error, _ = fuzz_call(server, api, other_host, name, {**PLAUSIBLE[name], arg: value})
            outcomes["error" if is_error else "ok"] += 1
    print(f"{name}: {outcomes}")


def argument_strategy(rules, other_url):
    types = rules["type"] if isinstance(rules["type"], list) else [rules["type"]]
    options = [st.none(), st.sampled_from([True, -1, 1.5, [], {}, "x"])]   # wrong types too
    if "string" in types:
        options += [st.text(max_size=80), st.text(min_size=200, max_size=2000),
                    st.sampled_from(path_like_values(other_url))]
    if "integer" in types:
        options += [st.integers(), st.integers(min_value=2 ** 60), st.sampled_from(HUGE_NUMBERS)]
    if "boolean" in types:
        options.append(st.booleans())
    if "array" in types:
        options.append(st.lists(st.text(max_size=30) | st.integers(), max_size=150))
    if "object" in types:
        options.append(st.dictionaries(st.text(max_size=10), st.text(max_size=10) | st.integers(), max_size=5))
    return st.one_of(options)


def arguments_for(name, other_url):
    schema = TOOLS[name]["schema"]
    required = {arg: argument_strategy(schema[arg], other_url) | st.just(PLAUSIBLE[name].get(arg))
                for arg in TOOLS[name]["required"]}
    optional = {arg: argument_strategy(rules, other_url) for arg, rules in schema.items() if arg not in required}
    return st.fixed_dictionaries(required, optional=optional)


@pytest.mark.parametrize("examples", [pytest.param(10, id="10"), pytest.param(30, id="30", marks=pytest.mark.slow)])
@pytest.mark.parametrize("name", list(PLAUSIBLE))
def test_random_arguments_give_an_error_or_a_bounded_result_and_stay_in_the_api(fuzz_server, api, other_host, name,
                                                                                examples):
    """10 random argument sets per tool by default, 30 in the slow run (the path-like values above
    are all tried every run)."""
    server, _ = fuzz_server
    other_host.clear_journal()

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(arguments=arguments_for(name, other_host.base_url))
    def fuzz(arguments):
        fuzz_call(server, api, other_host, name, arguments)

    fuzz()


####################################################################################################
# 2. Secret canary
####################################################################################################

def canary_calls(other_host):
    """(label, fault or None, tool, arguments): every tool, its failure paths, and API faults."""
    on_status = {"method": "GET", "path": STATUS_PATH}
    on_start = {"method": "POST", "path": "/start"}
    status = ("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID})
    task = {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID}
    echo = {"detail": f"invalid token {CANARY} for this workspace"}
    return [
        ("list_failures", None, "list_failures", {}),
        ("diagnose", None, "diagnose_pipeline_run", {"pipeline_run_id": "8e808ad7"}),
        ("status by prefix", None, "get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"}),
        ("details", None, "get_pipeline_run_details", {"pipeline_run_id": FAILED_RUN_ID, "include_superseded": True}),
        ("runs", None, "list_pipeline_runs", {"time_from": "3d", "status_filter": "FAILED,WARNING"}),
        ("task runs", None, "list_task_runs", {"pipeline_run_id": FAILED_RUN_ID}),
        ("artifacts", None, "get_task_run_artifacts", task),
        ("artifact slice", None, "download_task_artifact", {**task, "filename": "run_results.json"}),
        ("artifact save", None, "download_task_artifact", {**task, "filename": "run_results.json", "save": True}),
        ("log list", None, "get_task_run_logs", task),
        ("log tail", None, "get_task_run_logs", {**task, "filename": DBT_LOG_FILENAME}),
        ("log grep", None, "get_task_run_logs", {**task, "filename": DBT_LOG_FILENAME, "grep": "error"}),
        ("pipelines", None, "list_pipelines", {}),
        ("task run by id", None, "get_task_run", {"task_run_id": FAILED_DBT_TASK_RUN_ID}),
        ("log list by task run id", None, "get_task_run_logs", {"task_run_id": FAILED_DBT_TASK_RUN_ID}),
        ("operations", None, "list_operations", {"time_from": "2d", "status_filter": "FAILED,SKIPPED"}),
        ("start", None, "trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS, "cause": "canary test"}),
        ("repeated start", None, "trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS}),
        ("start without an input", None, "trigger_pipeline", {"pipeline_id": INPUT_PIPELINE_ALIAS}),
        ("missing run", None, "get_pipeline_run_status", {"pipeline_run_id": MISSING_RUN}),
        ("bad id", None, "get_pipeline_run_status", {"pipeline_run_id": "../" + CANARY[:4]}),
        ("ambiguous prefix", None, "get_pipeline_run_status", {"pipeline_run_id": "5ca1ab1e"}),
        ("missing artifact", None, "download_task_artifact", {**task, "filename": "catalog.json"}),
        ("unknown environment", None, "list_failures", {"environment": "nowhere"}),
        ("bad status", None, "list_pipeline_runs", {"status_filter": "EXPLODED"}),
        ("429 storm", {"match": on_status, "count": 20, "action": "status", "status": 429,
                       "headers": {"Retry-After": "1"}}, *status),
        ("429 for an hour", {"match": on_status, "count": 5, "action": "status", "status": 429,
                             "headers": {"Retry-After": "3600"}}, *status),
        ("500 storm", {"match": on_status, "count": 20, "action": "status", "status": 500}, *status),
        ("403 echoing the key", {"match": on_status, "count": 1, "action": "status", "status": 403, "body": echo}, *status),
        ("401 echoing the key", {"match": on_status, "count": 1, "action": "status", "status": 401, "body": echo}, *status),
        ("422 echoing the key", {"match": on_status, "count": 1, "action": "status", "status": 422, "body": {
            "detail": [{"loc": ["path", CANARY], "msg": f"bad {CANARY}"}]}}, *status),
        ("400 text echoing the key", {"match": on_status, "count": 1, "action": "status", "status": 400,
                                      "body": f"Bearer {CANARY} rejected"}, *status),
        ("cut body", {"match": on_status, "count": 1, "action": "drop"}, *status),
        ("not JSON", {"match": on_status, "count": 1, "action": "non_json", "body": f"<p>{CANARY}</p>"}, *status),
        ("stall", {"match": on_status, "count": 5, "action": "slow", "delay": 2}, *status),
        ("reset", {"match": on_status, "count": 10, "action": "reset"}, *status),
        ("20 MB body", {"match": on_status, "count": 1, "action": "big_body", "size": 20 * 1024 * 1024}, *status),
        ("redirect with the key in the URL", {"match": on_status, "count": 3, "action": "redirect", "status": 307,
                                              "location": f"{other_host.base_url}/steal?token={CANARY}"}, *status),
        ("start answered 502 echoing the key", {"match": on_start, "count": 1, "action": "status", "status": 502,
                                                "body": echo}, "trigger_pipeline",
         {"pipeline_id": PIPELINE_ALIAS, "branch": "canary-502"}),
        ("start reset", {"match": on_start, "count": 1, "action": "reset"}, "trigger_pipeline",
         {"pipeline_id": PIPELINE_ALIAS, "branch": "canary-reset"}),
    ]


def test_the_canary_key_appears_nowhere_across_every_tool_failure_and_fault(api, other_host, tmp_path):
    other_host.clear_journal()
    log_file = tmp_path / "orchestra-mcp.log"
    env = server_env(api.base_url, tmp_path, key=CANARY, ORCHESTRA_MCP_LOG_LEVEL="DEBUG",
                     ORCHESTRA_MCP_LOG_FILE=str(log_file), ORCHESTRA_TIMEOUT="1", ORCHESTRA_MCP_DEADLINE_S="2.5",
                     ORCHESTRA_MCP_RETRY_AFTER_CAP_S="2")
    server = start(env)
    texts = []
    try:
        server.initialize()
        server.request("tools/list")
        texts.append(("cmdline", Path(f"/proc/{server.process.pid}/cmdline").read_bytes()))
        outcomes = {}
        for label, fault, name, arguments in canary_calls(other_host):
            api.clear_faults()
            if fault:
                api.add_fault(**fault)
            is_error, payload = call(server, name, **arguments)
            outcomes[label] = "error" if is_error else "ok"
            texts.append((f"result of {label}", payload if is_error else json.dumps(payload)))
        api.clear_faults()
        assert not call(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)[0]
    finally:
        stderr = closed_server(server)
    print(f"canary calls: {outcomes}")
    assert outcomes["start"] == "ok" and outcomes["diagnose"] == "ok" and outcomes["artifact save"] == "ok"
    assert outcomes["403 echoing the key"] == "error" and outcomes["stall"] == "error"
    journal = api.journal
    assert journal and all(entry["auth"] == "ok" for entry in journal), "the key was not sent as the API's Bearer key"
    assert other_host.journal == [], "a redirect was followed"
    log_text = log_file.read_text()
    assert " GET " in log_text, "DEBUG logging wrote no request lines to check"
    assert log_file.stat().st_mode & 0o777 == 0o600
    texts += [("stdout line", line) for line in server.raw]
    texts += [("stderr", stderr), ("log file", log_text), ("fake journal", json.dumps(journal))]
    found = leaks(texts)
    print(f"canary: scanned {len(texts)} texts; leaks: {found}")
    assert found == []
    assert any("[redacted]" in text for label, text in texts if label == "result of 403 echoing the key")


def test_a_wrong_key_that_contains_the_canary_is_reported_without_it(api, tmp_path):
    """A 401 for a revoked key: the message explains, and the key (which starts with the canary) stays out."""
    revoked = CANARY + "_revoked"
    server = start(server_env(api.base_url, tmp_path, key=revoked, ORCHESTRA_MCP_LOG_LEVEL="DEBUG"))
    try:
        server.initialize()
        is_error, text = call(server, "list_pipelines")
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    finally:
        stderr = closed_server(server)
    assert is_error and "rejected the API key (401)" in text, text
    assert [entry["auth"] for entry in api.journal] == ["wrong"]
    assert leaks([("result", text), ("stderr", stderr), ("cmdline", cmdline)]
                 + [("stdout line", line) for line in server.raw]) == []


def test_a_key_echoed_inside_api_data_is_redacted_from_a_normal_result(fuzz_server, api):
    """A pipeline that prints the key into its own message or log must not hand it to the agent."""
    run = {"id": FAILED_RUN_ID, "runStatus": "FAILED", "pipelineName": "Nightly ELT",
           "message": f"export ORCHESTRA_API_KEY={CANARY}"}
    api.add_fault(match={"method": "GET", "path": STATUS_PATH}, count=1, action="status", status=200, body=run)
    is_error, payload = call(fuzz_server[0], "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)
    assert not is_error
    assert CANARY not in json.dumps(payload)   # masked as a secret (***) or redacted as the key
    assert "ORCHESTRA_API_KEY=***" in payload["message"] or "[redacted]" in payload["message"]


def exception_texts(exc):
    """str, repr and the formatted traceback of an exception and of every exception chained to it."""
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
        exc = exc.__cause__ or exc.__context__
    return texts


@contextlib.contextmanager
def in_process(environ):
    """orchestra_mcp configured in this process (as a server started with `environ`), reset afterwards."""
    config = orchestra_mcp.read_config(environ)
    orchestra_mcp.configure(config)
    orchestra_mcp.setup_logging(config)
    try:
        yield config
    finally:
        log_file = orchestra_mcp._log_setup["file"]
        orchestra_mcp.configure(orchestra_mcp.read_config({}))
        orchestra_mcp.setup_logging({"log_level": "WARNING"})
        orchestra_mcp.use_context(None)
        if log_file:
            log_file.close()


def test_exception_messages_and_tracebacks_never_carry_the_key(api, other_host, tmp_path, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    log_file = tmp_path / "in-process.log"
    # Every fault below must end in an error, whatever its cause: a short read timeout cannot break this test.
    # Each fault answers every attempt (count 10): under load a read timeout makes the client retry the
    # GET, and a fault spent on the first attempt would let the retry succeed.
    environ = {"ORCHESTRA_API_KEY": CANARY, "ORCHESTRA_API_BASE_URL": api.base_url, "ORCHESTRA_TIMEOUT": "0.5",
               "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01", "ORCHESTRA_MCP_RETRY_AFTER_CAP_S": "1",
               "ORCHESTRA_MCP_LOG_LEVEL": "DEBUG", "ORCHESTRA_MCP_LOG_FILE": str(log_file)}
    on_status = {"method": "GET", "path": STATUS_PATH}
    faults = [
        {"match": on_status, "count": 20, "action": "status", "status": 429},
        {"match": on_status, "count": 20, "action": "status", "status": 503},
        {"match": on_status, "count": 10, "action": "status", "status": 403},
        {"match": on_status, "count": 10, "action": "drop"},
        {"match": on_status, "count": 10, "action": "non_json"},
        {"match": on_status, "count": 5, "action": "slow", "delay": 1.0},
        {"match": on_status, "count": 10, "action": "reset"},
        {"match": on_status, "count": 10, "action": "big_body", "size": 9 * 1024 * 1024},
        {"match": on_status, "count": 10, "action": "redirect", "location": other_host.base_url + "/x"},
    ]
    texts = []
    with in_process(environ):
        for fault in faults:
            api.clear_faults()
            api.add_fault(**fault)
            orchestra_mcp.use_context(orchestra_mcp.new_call_context(deadline_s=2.5))
            try:
                orchestra_mcp.api_get(STATUS_PATH, label="the pipeline run status")
                raise AssertionError(f"no error under {fault['action']}")
            except orchestra_mcp.OrchestraError as exc:
                texts += [(f"exception under {fault['action']}", text) for text in exception_texts(exc)]
        for status in (502, None):   # the start: a 5xx, and a reset after sending
            api.clear_faults()
            fault = {"action": "status", "status": status} if status else {"action": "reset"}
            api.add_fault(match={"method": "POST", "path": "/start"}, count=1, **fault)
            orchestra_mcp.use_context(orchestra_mcp.new_call_context(deadline_s=3))
            try:
                orchestra_mcp.send_request("POST", f"/pipelines/{PIPELINE_ALIAS}/start", json_body={},
                                           label="the pipeline start")
                raise AssertionError("no error")
            except orchestra_mcp.OrchestraError as exc:
                texts += [("start exception", text) for text in exception_texts(exc)]
        api.clear_faults()
        client = orchestra_mcp.client()._sessions()
        for kind in ("reads", "writes"):
            session = client[kind]
            texts += [(f"{kind} session", repr(session.auth)), (f"{kind} headers", repr(dict(session.headers))),
                      (f"{kind} adapter", repr(session.get_adapter(api.base_url).__dict__))]
    unreachable = dict(environ, ORCHESTRA_API_BASE_URL="http://127.0.0.1:9/api/engine/public")
    with in_process(unreachable):
        orchestra_mcp.use_context(orchestra_mcp.new_call_context(deadline_s=3))
        try:
            orchestra_mcp.api_get(STATUS_PATH)
            raise AssertionError("no error on a closed port")
        except orchestra_mcp.OrchestraError as exc:
            texts += [("unreachable", text) for text in exception_texts(exc)]
    texts.append(("in-process log file", log_file.read_text()))
    found = leaks(texts)
    print(f"in-process: scanned {len(texts)} exception texts, tracebacks and reprs; leaks: {found}")
    assert found == []
    assert "GET" in log_file.read_text()


def other_cmdlines_with_the_canary(own_pid):
    """Every readable /proc/*/cmdline that holds the canary (any process of this machine we can see)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if CANARY.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return [pid for pid in found if pid != own_pid]


@pytest.mark.skipif(shutil.which("bash") is None, reason="the launcher is a bash script")
def test_the_key_given_to_the_launcher_is_in_no_command_line(api, tmp_path):
    env = server_env(api.base_url, tmp_path, key=CANARY, ORCHESTRA_MCP_PYTHON=sys.executable,
                     ORCHESTRA_SECRETS_LOADER="", ORCHESTRA_MCP_LOG_LEVEL="DEBUG")
    server = start(env, command=[str(LAUNCHER)], cwd=tmp_path)
    try:
        reply = server.initialize()
        assert reply["result"]["serverInfo"]["name"] == "orchestra-mcp"
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()   # the launcher exec'd the server: same pid
        assert b"orchestra_mcp" in cmdline, cmdline
        elsewhere = other_cmdlines_with_the_canary(os.getpid())
        assert call(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)[0] is False
        assert [entry["auth"] for entry in api.journal] == ["ok"]   # the key did reach the server, by environment
    finally:
        stderr = finish(server)
    assert elsewhere == [], f"processes with the key on their command line: {elsewhere}"
    assert leaks([("launched server cmdline", cmdline), ("launcher stderr", stderr)]
                 + [("stdout line", line) for line in server.raw]) == []


####################################################################################################
# 3. Write safety: the pipeline start, read-only mode, local files
####################################################################################################

@pytest.fixture(scope="module")
def write_server(canary_fake, tmp_path_factory):
    """1 s per request, so a stalled start times out after it was sent."""
    env = server_env(canary_fake.base_url, tmp_path_factory.mktemp("write-home"), key=CANARY, ORCHESTRA_TIMEOUT="1",
                     ORCHESTRA_MCP_DEADLINE_S="6", ORCHESTRA_MCP_RETRY_AFTER_CAP_S="2")
    server = start(env)
    server.initialize()
    yield server
    closed_server(server)


def posts(api):
    return [entry for entry in api.journal if entry["method"] == "POST"]


def trigger(server, branch, **extra):
    return call(server, "trigger_pipeline", pipeline_id=PIPELINE_ALIAS, branch=branch, **extra)


START_FAULTS = {
    "a stall beyond the timeout after sending": {"action": "slow", "delay": 2.5},
    "a 502": {"action": "status", "status": 502},
    "a 500": {"action": "status", "status": 500},
    "a reset after sending": {"action": "reset"},
    "a 200 cut mid-body": {"action": "drop", "size": 4096},
    "a 200 that is not JSON": {"action": "non_json"},
}
ACCEPTED_UNREADABLE = ("a 200 cut mid-body", "a 200 that is not JSON")   # a run exists; its id is unknown


@pytest.mark.parametrize("fault", list(START_FAULTS))
def test_a_start_under_a_fault_reaches_the_api_exactly_once(write_server, api, fault):
    """Sent once under the fault (which would let a resend through: it applies once), told how to find
    out what happened, never to try again; an identical repeat is refused without a request."""
    api.add_fault(match={"method": "POST", "path": "/start"}, count=1, **START_FAULTS[fault])
    is_error, payload = trigger(write_server, f"once-{fault}")
    assert len(posts(api)) == 1, f"the start was sent {len(posts(api))} times under {fault}"
    if fault in ACCEPTED_UNREADABLE:
        assert not is_error and payload["started"] and payload.get("pipelineRunId") is None, payload
    else:
        assert is_error and "may or may not have started" in payload, payload
    text = payload if is_error else payload["hint"]
    assert "list_pipeline_runs" in text, text
    assert "try again" not in text.replace("before trying again", ""), text
    second_error, second = trigger(write_server, f"once-{fault}")
    assert second_error and "allow_duplicate" in second, second
    assert len(posts(api)) == 1, f"{len(posts(api))} start requests for one intended run"
    assert not call(write_server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)[0]


def test_refusing_a_repeat_of_an_accepted_start_without_a_run_id_points_to_list_pipeline_runs(write_server, api):
    """Accepted (2xx) but unreadable: the repeat is refused, says how to find the run, and looks nothing up by a fake id."""
    api.add_fault(match={"method": "POST", "path": "/start"}, count=1, action="drop", size=4096)
    first_error, first = trigger(write_server, "accepted-without-id")
    assert not first_error and first.get("pipelineRunId") is None
    second_error, text = trigger(write_server, "accepted-without-id")
    assert second_error and "allow_duplicate" in text, text
    assert "list_pipeline_runs" in text, text
    assert not any("/pipeline_runs/unknown" in entry["path"] for entry in api.journal), "a lookup of run 'unknown'"


def test_a_start_answered_429_says_nothing_started_then_one_retry_starts_and_a_third_is_refused(write_server, api):
    api.add_fault(match={"method": "POST", "path": "/start"}, count=1, action="status", status=429,
                  headers={"Retry-After": "1"})
    first_error, first = trigger(write_server, "after-429")
    assert first_error and "nothing was started" in first and "retry after 1 s" in first, first
    assert len(posts(api)) == 1
    second_error, second = trigger(write_server, "after-429")
    assert not second_error and second["pipelineRunId"], second
    third_error, third = trigger(write_server, "after-429")
    assert third_error and second["pipelineRunId"] in third and "allow_duplicate" in third, third
    assert len(posts(api)) == 2   # the 429 and the one start; the refused repeat sent nothing


def test_a_start_redirected_to_another_host_is_not_followed_and_the_key_stays_home(write_server, api, other_host):
    other_host.clear_journal()
    api.add_fault(match={"method": "POST", "path": "/start"}, count=3, action="redirect", status=307,
                  location=other_host.base_url + f"/pipelines/{PIPELINE_ALIAS}/start")
    is_error, text = trigger(write_server, "redirected")
    assert is_error and "redirect" in text, text
    assert other_host.journal == [] and len(posts(api)) == 1


def test_read_only_mode_sends_nothing_but_get_whatever_tool_is_called(api, tmp_path):
    server = start(server_env(api.base_url, tmp_path, key=CANARY, ORCHESTRA_READ_ONLY="1"))
    calls = [(name, arguments) for name, arguments in PLAUSIBLE.items()]
    calls += [("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS, "allow_duplicate": True}),
              ("cancel_pipeline_run", {"pipeline_run_id": FAILED_RUN_ID, "force": True}),
              ("download_task_artifact", {**PLAUSIBLE["download_task_artifact"], "save": True}),
              ("get_task_run_logs", {**PLAUSIBLE["get_task_run_logs"], "grep": "error"}),
              ("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"})]
    try:
        server.initialize()
        listed = {tool["name"] for tool in server.request("tools/list")["result"]["tools"]}
        results = [(name, *call(server, name, **arguments)) for name, arguments in calls]
    finally:
        closed_server(server)
    writes = {name for name, spec in TOOLS.items() if not spec["read_only"]}
    assert writes == {"trigger_pipeline", "cancel_pipeline_run"}
    assert not listed & writes and len(listed) == len(TOOLS) - len(writes)
    for name, is_error, payload in results:
        if name in writes:
            assert is_error and "read-only" in payload, payload
        else:
            assert not is_error, (name, payload)
    methods = {entry["method"] for entry in api.journal}
    assert methods == {"GET"}, methods
    assert not any(entry["path"].endswith(("/start", "/cancel")) for entry in api.journal)


@pytest.fixture(scope="module")
def save_rig(canary_fake, tmp_path_factory):
    """A server with umask 000 (so 0600/0700 come from the code, not the umask) against the canary fake."""
    root = tmp_path_factory.mktemp("save")
    downloads = root / "home" / "cache" / "downloads"
    env = server_env(canary_fake.base_url, root / "home", key=CANARY, ORCHESTRA_MCP_DOWNLOAD_DIR=str(downloads))
    (root / "home").mkdir()
    old_umask = os.umask(0)
    try:
        server = start(env)
    finally:
        os.umask(old_umask)
    server.initialize()
    yield server, downloads, root
    closed_server(server)


def save(server, api, filename, run=FAILED_RUN_ID, task=FAILED_DBT_TASK_RUN_ID):
    """Save `filename`: the fake answers its download with "CONTENT OF <filename>" whatever the name
    (it serves only its own artifacts otherwise), so hostile names reach the local write path."""
    api.add_fault(match={"method": "GET", "path": "/artifacts/download"}, count=1, action="status", status=200,
                  body="CONTENT OF " + filename)
    return call(server, "download_task_artifact", pipeline_run_id=run, task_run_id=task, filename=filename, save=True)


def stray_files(root, downloads):
    """Files the server wrote anywhere but <downloads>/<run>/<task>/<name>."""
    escapes = [root / "escape.txt", root / "abs-escape.txt", downloads / "escape.txt"]
    misplaced = [p for p in downloads.rglob("*") if not p.is_dir() and len(p.relative_to(downloads).parts) != 3]
    return [str(p) for p in escapes if p.exists()] + [str(p) for p in misplaced]


HOSTILE_NAMES = ["../../escape.txt", "../../../../../escape.txt", "{root}/abs-escape.txt", "/abs/dir/file.json", "..",
                 ".", "...", ".hidden", "./.bashrc", "a/../../b.txt", "..\\..\\win.txt", "%2e%2e%2fesc.txt",
                 "C:\\Windows\\x.ini", "~/.ssh/authorized_keys", "$(touch pwned)", "name with spaces.json",
                 "x" * 1000, "target/run_results.json"]
REFUSED_NAMES = ["\u202egnp.exe", "a\nb.txt", "a\x00b", "\x1b[31mred", "x" * 1025, ""]


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
def test_a_saved_download_stays_in_its_task_directory_and_is_owner_only(save_rig, api, filename):
    server, downloads, root = save_rig
    filename = filename.replace("{root}", str(root))
    is_error, result = save(server, api, filename)
    assert not is_error, result
    saved = Path(result["savedTo"])
    task_dir = downloads / FAILED_RUN_ID / FAILED_DBT_TASK_RUN_ID
    assert saved.parent == task_dir, saved
    assert os.path.realpath(saved) == str(saved) and not saved.is_symlink()
    assert not saved.name.startswith(".") and "/" not in saved.name and len(saved.name) <= 200
    assert saved.read_bytes() == b"CONTENT OF " + filename.encode()
    assert saved.stat().st_mode & 0o777 == 0o600
    for directory in (downloads, downloads / FAILED_RUN_ID, task_dir):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
    assert stray_files(root, downloads) == []


@pytest.mark.parametrize("filename", REFUSED_NAMES)
def test_a_filename_with_control_or_bidi_characters_is_refused_before_anything_is_written(save_rig, api, filename):
    server, downloads, root = save_rig
    before = sorted(downloads.rglob("*")) if downloads.exists() else []
    is_error, text = save(server, api, filename)
    assert is_error and "filename" in text, text
    assert (sorted(downloads.rglob("*")) if downloads.exists() else []) == before


@pytest.mark.parametrize("level", ["run directory", "task directory"])
def test_a_symlink_planted_for_the_run_or_task_directory_is_refused(save_rig, api, level):
    server, downloads, root = save_rig
    outside = root / f"outside-{level.split()[0]}"
    outside.mkdir()
    run = "11111111-2222-4333-8444-555555555555" if level == "run directory" else "22222222-3333-4444-8555-666666666666"
    downloads.mkdir(mode=0o700, parents=True, exist_ok=True)
    if level == "run directory":
        (downloads / run).symlink_to(outside, target_is_directory=True)
    else:
        (downloads / run).mkdir(mode=0o700)
        (downloads / run / FAILED_DBT_TASK_RUN_ID).symlink_to(outside, target_is_directory=True)
    is_error, text = save(server, api, "report.json", run=run)
    assert is_error and "symlink" in text, text
    assert list(outside.iterdir()) == [], "the download went through the planted symlink"


@pytest.mark.parametrize("target_exists", [True, False], ids=["to-an-existing-file", "dangling"])
def test_a_symlink_planted_at_the_final_name_is_replaced_not_followed(save_rig, api, target_exists):
    server, downloads, root = save_rig
    run = "33333333-4444-4555-8666-77777777777" + ("7" if target_exists else "8")
    task_dir = downloads / run / FAILED_DBT_TASK_RUN_ID
    task_dir.mkdir(mode=0o700, parents=True)
    victim = root / f"victim-{target_exists}.txt"
    if target_exists:
        victim.write_text("ORIGINAL")
    (task_dir / "report.json").symlink_to(victim)
    is_error, result = save(server, api, "report.json", run=run)
    assert not is_error, result
    saved = Path(result["savedTo"])
    assert saved == task_dir / "report.json" and not saved.is_symlink()
    assert saved.read_bytes() == b"CONTENT OF report.json" and saved.stat().st_mode & 0o777 == 0o600
    if target_exists:
        assert victim.read_text() == "ORIGINAL"
    else:
        assert not victim.exists()
