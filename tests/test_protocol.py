"""Protocol tests: orchestra_mcp.py as a subprocess, driven over stdio.

Two kinds of client:
- the official SDK client (`mcp.Client`, legacy and auto modes), the way Python MCP clients drive a server;
- raw JSON-RPC lines through `orchestra_mcp.LineClient` (tests/mcp_helpers.py) for what the SDK never
  sends: malformed and huge lines, odd ids, batches, cancellation and progress by hand, EOF and signals.

Every line the server writes on stdout is checked by `check_wire_line`: newline-terminated UTF-8
JSON-RPC, valid for `mcp_types` (a batch reply element by element), and nothing else.

Where a fresh process is not the point of a test, it talks to one server per module (`server`),
re-initialized before each test and checked for leftovers after it. Tool calls go to the session's
fake Orchestra API (tests/fake_orchestra.py), whose faults make a call slow; the tests wait on events
(the fake's journal, the server's DEBUG log line for a finished call), never on a sleep being long
enough. This file needs only pytest, anyio, mcp, mcp_types, the fake and the module (CI runs it alone
on Python 3.10-3.13). Every blocking read has a timeout, so a bug fails a test instead of hanging.

Where the other protocol behaviours live: fuzzed lines, notifications and stray responses, and
back-pressure in test_reliability.py; the canary key and read-only mode in test_security.py.
"""

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import mcp_types
import pytest
from fake_orchestra import FAILED_RUN_ID
from mcp import Client
from mcp_helpers import (
    REPO,
    SERVER,
    WAIT_S,
    assert_alive,
    check_message,
    check_wire_line,
    finish,
    recording_stdio,
    responses_in,
    same_id,
    sdk_params,
    server_env,
    start,
    tool_result,
    wait_until,
)

import orchestra_mcp

PYTHON = sys.executable
TOOL_NAMES = {
    "list_failures", "diagnose_pipeline_run", "get_pipeline_run_status", "get_pipeline_run_details",
    "list_pipeline_runs", "list_task_runs", "get_task_run_artifacts", "download_task_artifact",
    "get_task_run_logs", "list_pipelines", "get_pipeline", "trigger_pipeline", "cancel_pipeline_run",
    "get_task_run", "list_operations",
}
WRITE_TOOLS = {"trigger_pipeline", "cancel_pipeline_run"}
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MISSING_RUN = "00000000-0000-4000-8000-00000000dead"
STATUS_PATH = f"/pipeline_runs/{FAILED_RUN_ID}/status"
ON_STATUS = {"method": "GET", "path": STATUS_PATH}
STATUS_PARAMS = {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": FAILED_RUN_ID}}
# A call held this long by the fake is still in flight when the test acts on it (a cancel, a reused
# id): the test acts as soon as the fake's journal shows the request, so this only has to outlast
# the server reading one more line, on a loaded machine.
HOLD_S = 1.0
EXIT_GUARD_S = 30   # a failure guard for an exit the design makes take ~1.5 s at most


def is_error(message, code):
    return "error" in message and message["error"]["code"] == code


def tool_payload(reply):
    """The parsed JSON text of a successful tools/call reply (checked against CallToolResult)."""
    failed, payload = tool_result(reply)
    assert failed is False, reply
    return payload


def tool_error_text(reply):
    failed, text = tool_result(reply)
    assert failed is True, reply
    return text


def call_message(request_id, params=STATUS_PARAMS, meta=None):
    params = dict(params, _meta=meta) if meta else params
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def status_requests(fake):
    return [e for e in fake.journal if e["path"].endswith(STATUS_PATH)]


def finished_calls(client, name="get_pipeline_run_status", cancelled=False):
    """How many calls the server's DEBUG log says are done (its last line before any reply)."""
    pattern = rf"tools/call {name} done in \d+ ms, \d+ requests" + (r" \(cancelled\)" if cancelled else "")
    return len(re.findall(pattern, client.stderr_text()))


####################################################################################################
# Fixtures: one server for the module, fresh processes where a fresh process is the point
####################################################################################################

@pytest.fixture(scope="module")
def module_server(fake_orchestra, tmp_path_factory):
    """One server for this module's raw-line tests, against the session's fake, DEBUG logging on."""
    home = tmp_path_factory.mktemp("protocol-home")
    client = start(server_env(fake_orchestra.base_url, home, ORCHESTRA_MCP_LOG_LEVEL="DEBUG"))
    client.next_id = 10_000_000   # the client's own ids stay clear of the ids the tests choose
    yield client
    stderr = finish(client)
    assert client.process.returncode == 0
    assert "Traceback" not in stderr, stderr[-2000:]


@pytest.fixture
def server(module_server, fake):
    """The module's server in a fresh 2025-11-25 session; nothing may be left unread after the test."""
    module_server.initialize("2025-11-25")
    yield module_server
    leftover = module_server.ping()
    assert leftover == [], f"messages nobody read: {leftover!r}"


@contextlib.contextmanager
def fresh_server(env, command=None):
    client = start(env, command=command)
    try:
        yield client
    finally:
        finish(client)


####################################################################################################
# 1. The SDK client
####################################################################################################

def wire(seen):
    """The JSON-RPC messages among recorded items, as plain dicts."""
    return [item.message.model_dump(by_alias=True, exclude_unset=True) for item in seen
            if not isinstance(item, Exception)]


def test_the_sdk_client_initializes_lists_every_tool_and_calls_one_in_legacy_mode(fake, tmp_path):
    params = sdk_params(server_env(fake.base_url, tmp_path))
    incoming, outgoing = [], []

    async def session():
        with open(tmp_path / "stderr.txt", "w") as errlog:
            async with Client(recording_stdio(params, errlog, incoming, outgoing), mode="legacy") as client:
                assert client.protocol_version in HANDSHAKE_VERSIONS
                assert client.server_info.name == "orchestra-mcp"
                assert client.server_info.version == orchestra_mcp.__version__
                assert client.server_capabilities.tools is not None
                assert client.instructions and len(client.instructions) <= 2048
                listing = await client.list_tools()
                status = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID})
                prefix = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"})
                missing = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": MISSING_RUN})
                bad_argument = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": "../../x"})
                return listing, status, prefix, missing, bad_argument

    listing, status, prefix, missing, bad_argument = anyio.run(session)

    tools = {t.name: t for t in listing.tools}
    assert set(tools) == TOOL_NAMES
    for name, spec in tools.items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name)
        assert spec.input_schema["type"] == "object"
        assert spec.input_schema["additionalProperties"] is False
        assert set(spec.input_schema.get("required", [])) <= set(spec.input_schema["properties"])
        assert spec.description and len(spec.description) <= 2048
        if name not in WRITE_TOOLS:
            assert spec.annotations.read_only_hint is True, name
    trigger = tools["trigger_pipeline"].annotations
    assert (trigger.read_only_hint, trigger.destructive_hint, trigger.idempotent_hint) == (False, False, False)
    cancel = tools["cancel_pipeline_run"].annotations
    assert (cancel.read_only_hint, cancel.destructive_hint, cancel.idempotent_hint) == (False, True, True)

    assert status.is_error is False
    assert json.loads(status.content[0].text)["runStatus"] == "FAILED"
    assert json.loads(prefix.content[0].text)["id"] == FAILED_RUN_ID
    assert missing.is_error is True
    assert "not found" in missing.content[0].text
    assert bad_argument.is_error is True
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()
    for message in wire(incoming):   # what the SDK parsed also passes our own wire check
        check_message(message)


def test_the_plain_sdk_client_given_stdio_server_parameters_starts_python_orchestra_mcp_py(fake, tmp_path):
    """The documented way: `python orchestra_mcp.py` through the SDK's own stdio transport (auto mode
    is the next test's)."""
    params = sdk_params(server_env(fake.base_url, tmp_path), script=True)

    async def session():
        async with Client(params, mode="legacy") as client:
            listing = await client.list_tools()
            result = await client.call_tool("list_pipelines", {})
            return {t.name for t in listing.tools}, result

    names, result = anyio.run(session)
    assert names == TOOL_NAMES
    assert result.is_error is False
    assert json.loads(result.content[0].text)["pipelines"]


def test_auto_mode_gets_an_immediate_method_not_found_for_server_discover_and_falls_back(fake, tmp_path):
    params = sdk_params(server_env(fake.base_url, tmp_path))
    incoming, outgoing = [], []

    async def session():
        with open(tmp_path / "stderr.txt", "w") as errlog:
            async with Client(recording_stdio(params, errlog, incoming, outgoing), mode="auto") as client:
                listing = await client.list_tools()
                return client.protocol_version, listing

    # A silent server would cost the client a 10 s probe timeout: the answer below is what avoids it.
    version, listing = anyio.run(session)
    assert version in HANDSHAKE_VERSIONS
    assert {t.name for t in listing.tools} == TOOL_NAMES
    sent = wire(outgoing)
    probe = next(m for m in sent if m.get("method") == "server/discover")
    answer = next(m for m in wire(incoming) if "method" not in m and m["id"] == probe["id"])
    assert answer["error"]["code"] == -32601
    assert any(m.get("method") == "initialize" for m in sent)


def test_an_sdk_call_cancelled_by_its_scope_gets_no_response_and_the_server_keeps_serving(fake, tmp_path):
    fake.add_fault(match=ON_STATUS, count=1, action="slow", delay=HOLD_S)
    params = sdk_params(server_env(fake.base_url, tmp_path, ORCHESTRA_MCP_LOG_LEVEL="DEBUG"))
    incoming, outgoing = [], []
    errlog_path = tmp_path / "stderr.txt"

    def cancelled_calls():
        return len(re.findall(r"tools/call get_pipeline_run_status done in .* \(cancelled\)", errlog_path.read_text()))

    async def session():
        with open(errlog_path, "w") as errlog:
            async with Client(recording_stdio(params, errlog, incoming, outgoing), mode="legacy") as client:
                await client.call_tool("list_pipelines", {})   # warm-up: the HTTP stack is loaded
                with anyio.move_on_after(0.3) as scope:   # the fake holds the answer for HOLD_S
                    await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID})
                assert scope.cancelled_caught
                with anyio.fail_after(WAIT_S):   # the worker is done: any reply it made is on its way
                    while not cancelled_calls():
                        await anyio.sleep(0.01)
                after = await client.list_tools()
                status = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID})
                return after, status

    after, status = anyio.run(session)
    assert {t.name for t in after.tools} == TOOL_NAMES
    assert status.is_error is False
    assert 1 <= len(status_requests(fake)) <= 2   # 2 unless the cancel beat the request to the API
    sent = wire(outgoing)
    cancelled_id = [m["id"] for m in sent if m.get("method") == "tools/call"][1]
    notice = next(m for m in sent if m.get("method") == "notifications/cancelled")
    assert notice["params"]["requestId"] == cancelled_id
    assert not [m for m in wire(incoming) if "method" not in m and m.get("id") == cancelled_id]
    assert "Traceback" not in errlog_path.read_text()


####################################################################################################
# 2. Raw lines: the handshake
####################################################################################################

@pytest.mark.parametrize("asked, agreed", [(v, v) for v in HANDSHAKE_VERSIONS] + [("1999-01-01", "2025-11-25"),
                                                                                   ("2026-07-28", "2025-11-25")])
def test_initialize_with_id_0_echoes_a_known_version_and_offers_2025_11_25_otherwise(server, asked, agreed):
    reply = server.initialize(asked, request_id=0)
    assert same_id(reply["id"], 0)
    result = mcp_types.InitializeResult.model_validate(reply["result"])
    assert reply["result"]["protocolVersion"] == agreed
    assert reply["result"]["capabilities"] == {"tools": {"listChanged": False}}
    assert result.server_info.name == "orchestra-mcp"
    assert result.server_info.version == orchestra_mcp.__version__
    assert result.instructions and len(result.instructions) <= 2048
    assert_alive(server)


def test_claude_codes_handshake_order_is_answered_step_by_step(tmp_path):
    with fresh_server(server_env(None, tmp_path, key=None)) as server:
        probe = server.request("server/discover", {"protocolVersion": "2026-07-28"}, request_id="server-discover-probe-1")
        assert is_error(probe, -32601) and probe["id"] == "server-discover-probe-1"
        assert server.initialize("2025-11-25", request_id=0)["result"]["protocolVersion"] == "2025-11-25"
        assert {t["name"] for t in server.request("tools/list", request_id=1)["result"]["tools"]} == TOOL_NAMES
        assert server.ping() == []   # notifications/initialized got no answer


def test_a_batch_before_any_initialize_gets_invalid_request_and_its_ping_no_answer(tmp_path):
    with fresh_server(server_env(None, tmp_path, key=None)) as server:
        server.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
        reply = server.next_message()
        assert is_error(reply, -32600) and reply["id"] is None, reply
        assert server.ping() == []   # and the ping inside was not answered


def test_tools_list_and_ping_answer_with_valid_results(server):
    listing = mcp_types.ListToolsResult.model_validate(server.request("tools/list")["result"])
    assert {t.name for t in listing.tools} == TOOL_NAMES
    assert server.request("ping")["result"] == {}
    assert server.request("ping", {})["result"] == {}


####################################################################################################
# 3. Raw lines: one odd line gets one clear answer, and the next request is still answered
####################################################################################################

TEN_MB = 10 * 1024 * 1024


def _nested(depth):
    return "[" * depth + "]" * depth


# label: (the line, what answers it). Parse errors and invalid requests carry id null.
ODD_LINES = {
    "words": (b"this is not json", "parse error"),
    "truncated JSON": (b'{"jsonrpc":"2.0","id":1,"method":"pi', "parse error"),
    "single quotes": (b"{'jsonrpc': '2.0', 'id': 1, 'method': 'ping'}", "parse error"),
    "trailing words": (b'{"jsonrpc":"2.0","id":1,"method":"ping"} trailing', "parse error"),
    "bad UTF-8": (b"\xff\xfe\xfd", "parse error"),
    "invalid UTF-8 inside a request": (b'{"jsonrpc":"2.0","id":"big","method":"pi\xffng"}', "parse error"),
    "an encoded surrogate": (b'{"jsonrpc":"2.0","id":1,"method":"\xed\xa0\x80"}', "parse error"),
    "an overlong UTF-8 quote": (b'{"jsonrpc":"2.0","id":"big","method":"\xc0\xa2"}', "parse error"),
    "a NUL": (b"\x00", "parse error"),
    "NUL bytes": (b"\x00" * 4096, "parse error"),
    "a NUL after a request": (b'{"jsonrpc":"2.0","id":1,"method":"ping"}\x00', "parse error"),
    "a raw NUL inside a request string": (b'{"jsonrpc":"2.0","id":"a\x00b","method":"ping"}', "parse error"),
    "a NUL between two requests": (b'{"jsonrpc":"2.0","id":"big","method":"ping"}\x00{"jsonrpc":"2.0"}', "parse error"),
    "a UTF-16 request": (('{"jsonrpc": "2.0", "id": 77, "method": "ping"}' + "\n").encode("utf-16-be")[:-1],
                         "parse error"),   # NUL bytes everywhere; it ends in b"\x00" + the newline
    "10 MB that is not JSON": (b"x" * TEN_MB, "parse error"),
    "10 MB of invalid UTF-8": (b"\xff\xfe" * (TEN_MB // 2), "parse error"),
    "10 MB of opening brackets": (b"[" * TEN_MB, "parse error"),
    "a line over 16 MiB": (b'{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"'
                           + b"x" * (17 * 1024 * 1024) + b'"}}', "parse error"),
    "100,000 opening brackets": (b"[" * 100_000, "parse or request error"),
    "params nested 100,000 deep": (('{"jsonrpc":"2.0","id":"big","method":"ping","params":{"a":'
                                    + _nested(100_000) + "}}").encode(), "parse or request error"),
    "objects nested 50,000 deep": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "parse or request error"),
    "a 10 MB ping": (json.dumps({"jsonrpc": "2.0", "id": "big", "method": "ping",
                                 "params": {"pad": "a" * TEN_MB}}).encode(), "answered"),
    "a 10 MB tool argument": (json.dumps({"jsonrpc": "2.0", "id": "big", "method": "tools/call", "params": {
        "name": "list_pipelines", "arguments": {"name": "n" * TEN_MB}}}).encode(), "tool error"),
    "tool arguments nested 500 deep": (('{"jsonrpc":"2.0","id":"big","method":"tools/call","params":'
                                        '{"name":"list_pipelines","arguments":{"name":' + _nested(500) + "}}}").encode(),
                                       "tool error"),
    "an escaped NUL in the id": (b'{"jsonrpc":"2.0","id":"big\\u0000","method":"ping"}', "answered with a NUL id"),
    "duplicate keys (the last id wins)": (b'{"jsonrpc":"2.0","id":1,"id":"big","method":"ping"}', "answered"),
    "a lone surrogate escape in the method": (b'{"jsonrpc":"2.0","id":"big","method":"\\ud800"}', "method not found"),
    "a lone surrogate escape as the tool name": (b'{"jsonrpc":"2.0","id":"big","method":"tools/call",'
                                                 b'"params":{"name":"\\udc00x"}}', "invalid params"),
    "a lone surrogate escape as an argument name": (b'{"jsonrpc":"2.0","id":"big","method":"tools/call","params":'
                                                    b'{"name":"list_pipelines","arguments":{"\\ud800":1}}}',
                                                    "tool error"),
}


@pytest.mark.parametrize("line, expected", ODD_LINES.values(), ids=list(ODD_LINES))
def test_an_odd_line_gets_one_clear_answer_and_the_next_request_is_answered(server, line, expected):
    server.send(line + b"\n")
    answers = list(responses_in(server.ping()))
    if expected == "tool error" and not answers:   # a tool's answer comes from a worker, maybe after the ping
        answers = [server.reply("big")]
    assert len(answers) == 1, answers
    answer = answers[0]
    if expected == "parse error":
        assert answer["id"] is None and answer["error"]["code"] == -32700, answer
    elif expected == "parse or request error":
        assert answer["error"]["code"] in (-32700, -32600) and answer["id"] in (None, "big"), answer
    elif expected == "answered":
        assert answer == {"jsonrpc": "2.0", "id": "big", "result": {}}
    elif expected == "answered with a NUL id":
        assert answer == {"jsonrpc": "2.0", "id": "big\x00", "result": {}}
    elif expected == "method not found":
        assert answer["id"] == "big" and answer["error"]["code"] == -32601
    elif expected == "invalid params":
        assert answer["id"] == "big" and answer["error"]["code"] == -32602
    else:
        assert answer["id"] == "big" and len(tool_error_text(answer)) < 2000


def test_a_lone_surrogate_in_api_data_never_makes_an_invalid_output_line(server, fake):
    """Result texts are JSON inside a JSON string, so \\ud800 from the API arrives escaped twice: valid."""
    run = {"id": FAILED_RUN_ID, "runStatus": "FAILED", "pipelineId": "c1d2e3f4\ud800",
           "pipelineName": "Nightly \udc00 ELT", "message": "failed \ud800", "createdAt": "2026-01-01T00:00:00+00:00"}
    fake.add_fault(match=ON_STATUS, count=1, action="status", status=200, body=run)
    payload = tool_payload(server.request("tools/call", STATUS_PARAMS))
    assert payload["runStatus"] == "FAILED"


@pytest.mark.parametrize("line", [
    b"42", b'"ping"', b"null", b"true", b"{}",
    b'{"jsonrpc":"2.0","id":[1],"method":"ping"}',
    b'{"jsonrpc":"2.0","id":true,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
    b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":null,"method":"ping"}',
])
def test_a_json_value_that_is_not_a_request_gets_invalid_request_with_id_null(server, line):
    server.send(line + b"\n")
    reply = server.next_message()
    assert is_error(reply, -32600) and reply["id"] is None, reply
    assert_alive(server)


@pytest.mark.parametrize("line", [
    b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
    b'{"id":1,"method":"ping"}',
    b'{"jsonrpc":2,"id":"a-1","method":"tools/list"}',
    b'{"jsonrpc":"2.0","id":1,"method":42}',
    b'{"jsonrpc":"2.0","id":1}',
])
def test_an_invalid_request_with_a_readable_id_is_answered_with_that_id(server, line):
    server.send(line + b"\n")
    reply = server.next_message()
    assert is_error(reply, -32600) and reply["id"] == json.loads(line)["id"], reply
    assert_alive(server)


@pytest.mark.parametrize("method", ["server/discover", "resources/list", "prompts/list", "foo",
                                    "logging/setLevel", "completion/complete", ""])
def test_an_unknown_method_gets_method_not_found_at_once(server, method):
    reply = server.request(method, {}, request_id="probe-1")
    assert is_error(reply, -32601), reply
    assert_alive(server)


@pytest.mark.parametrize("params", [[1, 2], "x", 3, True])
def test_params_that_are_not_an_object_get_invalid_params(server, params):
    assert is_error(server.request("tools/list", params, request_id=31), -32602)
    assert is_error(server.request("tools/call", params, request_id=32), -32602)
    assert_alive(server)


def test_an_unknown_tool_or_non_object_arguments_get_invalid_params(server):
    assert is_error(server.request("tools/call", {"name": "no_such_tool"}), -32602)
    assert is_error(server.request("tools/call", {"arguments": {}}), -32602)
    assert is_error(server.request("tools/call", {"name": 7}), -32602)
    assert is_error(server.request("tools/call", {"name": "list_pipelines", "arguments": [1]}), -32602)
    assert is_error(server.request("tools/call", {"name": "list_pipelines", "arguments": "x"}), -32602)
    assert_alive(server)


def test_a_call_without_a_name_says_name_is_missing_and_an_unknown_tool_lists_the_tools(server):
    missing = server.request("tools/call", {"arguments": {}})["error"]["message"]
    assert "`name`" in missing and "None" not in missing, missing
    unknown = server.request("tools/call", {"name": "no_such_tool"})["error"]["message"]
    assert "no_such_tool" in unknown and "diagnose_pipeline_run" in unknown and "list_pipelines" in unknown, unknown


def test_blank_lines_are_skipped_and_crlf_lines_are_answered(server):
    server.send(b"\n\r\n   \t\n" + b'{"jsonrpc":"2.0","id":"crlf","method":"ping"}\r\n')
    reply = server.next_message()
    assert reply["id"] == "crlf" and reply["result"] == {}
    assert server.ping() == []   # the blank lines got no answer


def test_many_requests_in_one_write_are_all_answered_in_order(server):
    server.send(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % i for i in range(500)))
    assert [server.next_message()["id"] for _ in range(500)] == list(range(500))


####################################################################################################
# 4. Raw lines: ids
####################################################################################################

def test_string_and_integer_ids_are_both_answered_with_the_same_id(server):
    server.initialize(request_id="init-string-id")
    for request_id in ("abc", "", "0", 7, -3, 2**53, 0):
        reply = server.request("ping", request_id=request_id)
        assert same_id(reply["id"], request_id)
    for request_id in ("call-1", 8):
        reply = server.request("tools/call", {"name": "list_pipelines"}, request_id=request_id)
        assert same_id(reply["id"], request_id)
        assert tool_payload(reply)["pipelines"]


def test_a_tools_call_reusing_an_id_in_flight_is_refused_without_disturbing_the_first(server, fake):
    fake.add_fault(match=ON_STATUS, count=2, action="slow", delay=HOLD_S)
    server.send(call_message(7))
    wait_until(lambda: status_requests(fake), what="the first call reaching the API")
    server.send(call_message(7))   # the same id while the first is in flight
    refusal = server.next_message()
    assert is_error(refusal, -32600) and "already in use" in refusal["error"]["message"], refusal
    assert refusal["id"] is None, "answering with id 7 would settle the first call with this error"
    server.send(call_message("7"))   # another id: the string is not the integer
    pings = [{"jsonrpc": "2.0", "id": "same", "method": "ping"}] * 2
    server.send(*pings)   # a duplicate id on a request answered at once is simply answered twice
    assert [server.reply("same"), server.reply("same")] == [{"jsonrpc": "2.0", "id": "same", "result": {}}] * 2
    assert tool_payload(server.reply(7))["runStatus"] == "FAILED"
    assert tool_payload(server.reply("7"))["runStatus"] == "FAILED"
    assert not [m for m in responses_in(server.ping()) if m["id"] == 7], "a second answer for id 7"
    assert len(status_requests(fake)) == 2


####################################################################################################
# 5. Raw lines: batches (2025-03-26 sessions only)
####################################################################################################

def test_a_batch_in_a_2025_03_26_session_gets_one_array_of_replies(server):
    assert server.initialize("2025-03-26")["result"]["protocolVersion"] == "2025-03-26"
    server.send([
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        call_message("two"),
        {"jsonrpc": "2.0", "method": "notifications/whatever"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 4, "method": "resources/list"},
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no_such_tool"}},
        42,
    ])
    raw_before = len(server.raw)
    replies = server.next_message()
    assert isinstance(replies, list), replies
    assert server.raw[raw_before].startswith(b"[")
    by_id = {r["id"]: r for r in replies if r["id"] is not None}
    assert set(by_id) == {1, "two", 3, 4, 5}
    assert by_id[1]["result"] == {}
    assert tool_payload(by_id["two"])["runStatus"] == "FAILED"
    mcp_types.ListToolsResult.model_validate(by_id[3]["result"])
    assert is_error(by_id[4], -32601) and is_error(by_id[5], -32602)
    assert [r["error"]["code"] for r in replies if r["id"] is None] == [-32600]
    assert_alive(server)


def test_a_batch_whose_tools_call_is_cancelled_still_answers_its_other_requests(server, fake):
    fake.add_fault(match=ON_STATUS, count=1, action="slow", delay=HOLD_S)
    server.initialize("2025-03-26")
    server.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, call_message("slow")])
    wait_until(lambda: status_requests(fake), what="the call reaching the API")
    server.notify("notifications/cancelled", {"requestId": "slow"})
    replies = server.next_message()   # the cancelled call ends when the fake answers
    assert isinstance(replies, list) and [r["id"] for r in replies] == [1], replies
    assert_alive(server)


def test_a_notification_only_batch_gets_no_reply(server):
    server.initialize("2025-03-26")
    server.send([{"jsonrpc": "2.0", "method": "notifications/a"}, {"jsonrpc": "2.0", "method": "notifications/b"}])
    assert server.ping() == []


@pytest.mark.parametrize("version", ["2024-11-05", "2025-06-18", "2025-11-25"])
def test_a_batch_outside_a_2025_03_26_session_gets_invalid_request(server, version):
    server.initialize(version)
    server.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    reply = server.next_message()
    assert is_error(reply, -32600) and reply["id"] is None, reply
    assert server.ping() == []   # and the ping inside was not answered


def test_an_empty_batch_gets_invalid_request_even_in_a_2025_03_26_session(server):
    server.initialize("2025-03-26")
    server.send(b"[]\n")
    reply = server.next_message()
    assert is_error(reply, -32600) and reply["id"] is None, reply
    assert_alive(server)


####################################################################################################
# 6. Raw lines: cancellation and progress
####################################################################################################

def test_a_cancelled_call_never_gets_a_response_and_a_ping_after_it_is_answered(server, fake):
    fake.add_fault(match=ON_STATUS, count=1, action="slow", delay=HOLD_S)
    before = finished_calls(server, cancelled=True)
    server.send(call_message("slow"))
    wait_until(lambda: status_requests(fake), what="the call reaching the API")
    server.notify("notifications/cancelled", {"requestId": "slow", "reason": "user pressed Esc"})
    assert_alive(server)   # at once, while the call still waits on the API
    wait_until(lambda: finished_calls(server, cancelled=True) > before, what="the cancelled call ending")
    others = server.ping()   # the worker logged its end just before it would have replied
    assert not [m for m in responses_in(others) if m["id"] == "slow"], others


def test_cancelling_an_unknown_or_finished_id_is_ignored(server):
    reply = server.request("tools/call", {"name": "list_pipelines"}, request_id=41)
    assert tool_payload(reply)["pipelines"]
    server.notify("notifications/cancelled", {"requestId": 41})
    server.notify("notifications/cancelled", {"requestId": "never-sent"})
    assert_alive(server)
    reply = server.request("tools/call", {"name": "list_pipelines"}, request_id=41)   # the id is free again
    assert tool_payload(reply)["pipelines"]


def test_a_progress_token_yields_increasing_progress_notifications_before_the_result(server, fake):
    week = {"name": "list_pipeline_runs", "arguments": {"time_from": "7d"}}
    server.send(call_message(51, week, meta={"progressToken": "tok-51"}))
    notes = []
    while True:
        message = server.next_message()
        if message.get("method") == "notifications/progress":
            notes.append(message["params"])
            continue
        assert same_id(message.get("id"), 51), message
        break
    pages = [e for e in fake.journal if e["path"].endswith("/pipeline_runs")]
    assert tool_payload(message)["total"] > 100 and len(pages) >= 2, "two pages at least"
    assert len(notes) >= 2, "two pages, so at least two progress notifications"
    assert all(n["progressToken"] == "tok-51" for n in notes)
    values = [n["progress"] for n in notes]
    assert values == sorted(values) and len(set(values)) == len(values), values
    for note in notes:
        assert "total" not in note or note["total"] >= note["progress"]
    server.send(call_message(52, week))
    assert server.next_message()["id"] == 52, "no progress notifications without a token"


####################################################################################################
# 7. Raw lines: shutdown
####################################################################################################

def assert_quiet_exit(client):
    client.process.wait(timeout=EXIT_GUARD_S)
    stderr = finish(client)
    assert client.process.returncode == 0
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-2000:]


def end(client, how):
    """EOF on stdin, or a signal (Claude Code signals without closing stdin first)."""
    if how == "eof":
        client.process.stdin.close()
    else:
        client.process.send_signal(getattr(signal, how))


@pytest.mark.parametrize("how", ["eof", "SIGINT", "SIGTERM"])
def test_eof_or_a_signal_with_calls_in_flight_ends_the_process_quietly(fake, tmp_path, how):
    # Every call below would take a minute or more; an exit within the 30 s failure guard proves the
    # server did not wait for them (the design's bound is EOF_GRACE_S, 1.5 s; no test times it).
    fake.add_fault(match=ON_STATUS, count=3, action="slow", delay=120)                      # stalled reads
    fake.add_fault(match={"method": "GET", "path": "/pipelines"}, count=5, action="status", status=429,
                   headers={"Retry-After": "60"})                                           # a Retry-After wait
    fake.add_fault(match={"method": "GET", "path": "/pipeline_runs", "query": "page=1&"}, count=1,
                   action="slow", delay=120)                                                # a listing mid-way
    env = server_env(fake.base_url, tmp_path, ORCHESTRA_TIMEOUT="150", ORCHESTRA_MCP_DEADLINE_S="200",
                     ORCHESTRA_MCP_RETRY_AFTER_CAP_S="100")
    client = start(env)
    try:
        client.initialize()
        client.send(*[call_message(n) for n in range(3)], call_message(3, {"name": "list_pipelines"}),
                    call_message(4, {"name": "list_pipeline_runs"}))

        def all_waiting():
            paths = [e["path"] for e in fake.journal]
            return (sum(p.endswith("/status") for p in paths) >= 3 and any(p.endswith("/pipelines") for p in paths)
                    and any(p.endswith("/pipeline_runs") for p in paths))

        wait_until(all_waiting, what="five calls waiting on the API")
        end(client, how)
        assert_quiet_exit(client)
    finally:
        finish(client)


@pytest.mark.parametrize("how", ["eof", "SIGINT", "SIGTERM"])
def test_an_idle_server_exits_quietly_on_eof_or_a_signal(tmp_path, how):
    client = start(server_env(None, tmp_path, key=None))
    try:
        client.initialize()
        client.request("tools/list")
        end(client, how)
        assert_quiet_exit(client)
    finally:
        finish(client)


def _signal_trials(tmp_path, trials, signum):
    """Spawn, answer initialize and tools/list, signal: the trials that did not exit, or not quietly."""
    stuck, noisy = [], []
    env = server_env(None, tmp_path, key=None)
    for trial in range(trials):
        client = start(env)
        try:
            client.initialize()
            client.request("tools/list")
            client.process.send_signal(signum)
            try:
                client.process.wait(timeout=20)   # a failure guard, not a timing claim
            except subprocess.TimeoutExpired:
                stuck.append(trial)
                continue
        finally:
            stderr = finish(client)
        if "Traceback" in stderr or client.process.returncode != 0:
            noisy.append((trial, client.process.returncode, stderr[-300:]))
    return stuck, noisy


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_idle_server_exits_quietly_on_a_signal_in_every_one_of_200_trials(tmp_path, signum):
    assert _signal_trials(tmp_path, 200, signum) == ([], [])


def _blocked_signals(pid):
    """{tid: (set of blocked signal numbers, wchan)} for every thread of a process (Linux /proc)."""
    masks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("SigBlk:"):
                bits = int(line.split()[1], 16)
                blocked = {n for n in range(1, 65) if bits >> (n - 1) & 1}
                masks[task.name] = (blocked, (task / "wchan").read_text().strip())
    return masks


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to read thread signal masks")
def test_sigint_and_sigterm_are_blocked_in_every_thread_of_a_busy_server(fake, tmp_path):
    # The design that makes exit on a signal certain: no thread can take SIGINT/SIGTERM with a
    # Python handler (which would wait for the main thread's next bytecode); one sigwait takes them.
    fake.add_fault(match=ON_STATUS, count=1, action="slow", delay=60)
    client = start(server_env(fake.base_url, tmp_path))
    try:
        client.initialize()
        client.send(call_message(72))
        wait_until(lambda: status_requests(fake), what="the call reaching the API")
        masks = _blocked_signals(client.process.pid)
        assert len(masks) >= 4, masks   # main, writer, signals, a tool worker at least
        open_to_them = {tid: wchan for tid, (blocked, wchan) in masks.items()
                        if not {signal.SIGINT, signal.SIGTERM} <= blocked}
        # sigwait unblocks the signals it waits for while it sleeps: that thread alone may take them
        assert len(open_to_them) == 1, masks
        wchan = next(iter(open_to_them.values()))
        assert "sigtimedwait" in wchan or wchan in ("0", ""), masks
        client.process.send_signal(signal.SIGTERM)   # ends it at once (EOF would wait out the call's grace)
        assert_quiet_exit(client)
    finally:
        finish(client)


def test_a_client_that_closes_its_end_of_stdout_makes_the_server_exit(tmp_path):
    proc = subprocess.Popen([PYTHON, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=server_env(None, tmp_path, key=None), cwd=str(REPO))
    try:
        proc.stdout.close()
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
        proc.stdin.flush()
        proc.wait(timeout=EXIT_GUARD_S)
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            proc.stdin.close()
        proc.stderr.close()


def test_stdio_over_unix_socketpairs_works_and_a_half_close_of_stdin_ends_the_server(fake, tmp_path):
    """Node-based clients (Claude Code) give the server socketpairs, not pipes, and end stdin with a
    half-close (shutdown SHUT_WR) while still listening."""
    ours_in, theirs_in = socket.socketpair()
    ours_out, theirs_out = socket.socketpair()
    proc = subprocess.Popen([PYTHON, str(SERVER)], stdin=theirs_in.fileno(), stdout=theirs_out.fileno(),
                            stderr=subprocess.PIPE, env=server_env(fake.base_url, tmp_path), cwd=str(REPO))
    theirs_in.close()
    theirs_out.close()
    try:
        ours_out.settimeout(WAIT_S)
        replies = ours_out.makefile("rb")

        def ask(message):
            ours_in.sendall(json.dumps(message).encode() + b"\n")
            return check_wire_line(replies.readline())

        assert ask({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                               "clientInfo": {"name": "t", "version": "1"}}})["id"] == 0
        assert {t["name"] for t in ask({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})["result"]["tools"]} == TOOL_NAMES
        assert tool_payload(ask(call_message(2)))["runStatus"] == "FAILED" and status_requests(fake)
        ours_in.shutdown(socket.SHUT_WR)
        proc.wait(timeout=EXIT_GUARD_S)
        assert proc.returncode == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stderr.close()
        ours_in.close()
        ours_out.close()


####################################################################################################
# 8. Stdout hygiene, configuration at start
####################################################################################################

NOISY_TOOL = """\
import os, sys, orchestra_mcp as m
def noisy(name=None):
    print("PRINTED-BY-TOOL")
    sys.stdout.write("WRITTEN-TO-SYS-STDOUT\\n")
    sys.stdout.flush()
    os.write(1, b"WRITTEN-TO-FD-1\\n")
    return {}
m.TOOLS["list_pipelines"]["function"] = noisy
m.main()
"""


def test_a_print_inside_a_tool_goes_to_stderr_never_to_stdout(tmp_path):
    # `python -c` runs in the repository (cwd), so `import orchestra_mcp` finds this checkout's module
    with fresh_server(server_env(None, tmp_path, key=None), command=[PYTHON, "-c", NOISY_TOOL]) as server:
        server.initialize()
        reply = server.request("tools/call", {"name": "list_pipelines"})
        assert tool_payload(reply) == {}
        assert_alive(server)
        wait_until(lambda: "WRITTEN-TO-FD-1" in server.stderr_text(), what="the fd-1 write reaching stderr")
        stdout = b"".join(server.raw)
        for marker in ("PRINTED-BY-TOOL", "WRITTEN-TO-SYS-STDOUT", "WRITTEN-TO-FD-1"):
            assert marker in server.stderr_text()
            assert marker.encode() not in stdout


def test_without_a_key_the_server_starts_lists_tools_and_each_call_says_how_to_set_it(tmp_path):
    with fresh_server(server_env(None, tmp_path, key=None)) as server:
        assert server.initialize()["result"]["serverInfo"]["name"] == "orchestra-mcp"
        tools = server.request("tools/list")["result"]["tools"]
        assert {t["name"] for t in tools} == TOOL_NAMES
        text = tool_error_text(server.request("tools/call", STATUS_PARAMS))
        assert "ORCHESTRA_API_KEY" in text
        assert "ORCHESTRA_API_KEY" in server.stderr_text()


@pytest.mark.parametrize("url", ["http://example.com", "ftp://127.0.0.1/api", "https://user:pw@example.com/x",
                                 "not a url"])
def test_a_bad_base_url_stops_the_server_at_start_with_a_clear_message(tmp_path, url):
    completed = subprocess.run([PYTHON, str(SERVER)], input=b"", capture_output=True, timeout=20, cwd=str(REPO),
                               env=server_env(url, tmp_path, key=None))
    assert completed.returncode != 0
    assert completed.stdout == b""
    stderr = completed.stderr.decode()
    assert "ORCHESTRA_API_BASE_URL" in stderr
    assert "Traceback" not in stderr
    assert "pw" not in stderr
