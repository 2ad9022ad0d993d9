"""Protocol tests: orchestra_mcp.py as a subprocess, driven over stdio.

Two kinds of client:
- the official SDK client (`mcp.Client`, legacy and auto modes), the way Python MCP clients drive a server;
- a raw-line client (`RawServer`) for what the SDK never sends: malformed lines, odd ids, batches,
  duplicate ids, cancellation and progress by hand, EOF and signals.

Every line the server writes on stdout is checked by `check_wire_line`: newline-terminated UTF-8
JSON-RPC, valid for `mcp_types` (a batch reply element by element), and nothing else.

Tool calls go to `orchestra_mcp.start_sample_server()` (in-process, loopback), or to a tiny stub API
in this file that answers slowly or never. This file needs only pytest, anyio, mcp, mcp_types and the
module (CI runs it alone on Python 3.10-3.13). Every blocking read has a timeout, so a bug fails a
test instead of hanging the suite.
"""

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import mcp_types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

import orchestra_mcp

ROOT = Path(__file__).resolve().parent.parent
SERVER = str(ROOT / "orchestra_mcp.py")
PYTHON = sys.executable
CANARY_KEY = "orch_canary_protocol_5d1e8a3f9b27c4e0"
TOOL_NAMES = {
    "list_failures", "diagnose_pipeline_run", "get_pipeline_run_status", "get_pipeline_run_details",
    "list_pipeline_runs", "list_task_runs", "get_task_run_artifacts", "download_task_artifact",
    "get_task_run_logs", "list_pipelines", "get_pipeline", "trigger_pipeline", "cancel_pipeline_run",
    "get_task_run", "list_operations",
}
WRITE_TOOLS = {"trigger_pipeline", "cancel_pipeline_run"}
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
MISSING_RUN = "00000000-0000-4000-8000-00000000dead"
STUB_RUN = "5a5a5a5a-1b1b-4c2c-8d3d-0e0e0e0e0e0e"
WAIT_S = 30.0   # a failure guard for one expected message, generous for a loaded machine (not a timing claim)
JSONRPC_CODES = {-32700, -32600, -32601, -32602, -32603}


####################################################################################################
# Wire checks
####################################################################################################

def check_message(item):
    """One JSON-RPC message from the server: valid for mcp_types, and a response or a notification."""
    assert isinstance(item, dict), f"not a JSON object: {item!r}"
    mcp_types.jsonrpc_message_adapter.validate_json(json.dumps(item))
    assert item.get("jsonrpc") == "2.0"
    if "method" in item:   # the server sends notifications only, never requests
        assert "id" not in item, f"the server sent a request: {item!r}"
        assert set(item) <= {"jsonrpc", "method", "params"}, item
        mcp_types.server_notification_adapter.validate_python({k: v for k, v in item.items() if k != "jsonrpc"})
    else:
        assert "id" in item, item
        assert ("result" in item) != ("error" in item), f"exactly one of result/error: {item!r}"
        assert set(item) <= {"jsonrpc", "id", "result", "error"}, item
        if "result" in item:
            assert item["id"] is not None, f"a result needs the request's id: {item!r}"
        else:
            assert item["error"]["code"] in JSONRPC_CODES, item
    return item


def check_wire_line(raw):
    """One stdout line: newline-terminated UTF-8 JSON, a message or a non-empty batch reply."""
    assert raw.endswith(b"\n"), f"line not newline-terminated (a stray write?): {raw[:200]!r}"
    text = raw.decode("utf-8")
    assert "\n" not in text[:-1]
    message = json.loads(text)
    if isinstance(message, list):
        assert message, "an empty array is not a valid batch reply"
        for item in message:
            check_message(item)
            assert "method" not in item, "a batch reply holds responses only"
    else:
        check_message(message)
    return message


def server_env(home, **variables):
    """A clean environment for the server: nothing ORCHESTRA_* leaks in from the developer's shell."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.05"}
    env.update({k: v for k, v in variables.items() if v is not None})
    return env


####################################################################################################
# The raw-line client
####################################################################################################

class RawServer:
    """The server as a subprocess with pipes; a thread reads and checks every stdout line."""

    def __init__(self, env, argv=None):
        self.proc = subprocess.Popen(argv or [PYTHON, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
        self.lines = queue.Queue()
        self.raw_stdout = []
        self.violations = []
        self.stash = []   # messages received while waiting for another one
        self.stderr = bytearray()
        self.counter = iter(range(1000, 10**6))
        self.threads = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _read_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.raw_stdout.append(raw)
            try:
                self.lines.put(check_wire_line(raw))
            except Exception as exc:   # recorded, and raised by recv() and by the context manager
                self.violations.append((raw[:300], repr(exc)[:500]))
                self.lines.put(exc)

    def _read_stderr(self):
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):
            self.stderr += chunk

    def stderr_text(self):
        return self.stderr.decode("utf-8", "replace")

    def send(self, message):
        """A dict or list is sent as one compact JSON line; bytes are sent as they are (plus a newline)."""
        data = message if isinstance(message, bytes) else json.dumps(message, separators=(",", ":")).encode()
        if not data.endswith(b"\n"):
            data += b"\n"
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout=WAIT_S):
        """The next message (stashed ones first); fails after `timeout` seconds."""
        if self.stash:
            return self.stash.pop(0)
        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message from the server within {timeout} s; stderr: "
                                 f"{self.stderr_text()[-500:]}") from None
        if isinstance(item, Exception):
            raise AssertionError(f"invalid line on stdout: {self.violations[-1]}")
        return item

    def wait_for(self, predicate, timeout=WAIT_S):
        """The first message matching `predicate`; others stay stashed in arrival order."""
        for index, message in enumerate(self.stash):
            if predicate(message):
                return self.stash.pop(index)
        give_up = time.monotonic() + timeout
        held = []
        try:
            while True:
                left = give_up - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message within {timeout} s; got {held[:5]!r}")
                message = self.recv(left)
                if predicate(message):
                    return message
                held.append(message)
        finally:
            self.stash.extend(held)

    def reply_to(self, request_id, timeout=WAIT_S):
        return self.wait_for(lambda m: isinstance(m, dict) and "method" not in m and _same_id(m.get("id"), request_id),
                             timeout)

    def request(self, method, params=None, request_id=None, timeout=WAIT_S):
        request_id = next(self.counter) if request_id is None else request_id
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.reply_to(request_id, timeout)

    def notify(self, method, params=None):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def initialize(self, version="2025-11-25", request_id=0):
        reply = self.request("initialize", {"protocolVersion": version, "capabilities": {},
                                            "clientInfo": {"name": "test_protocol", "version": "1"}}, request_id)
        self.notify("notifications/initialized")
        return reply

    def call(self, name, arguments=None, request_id=None, meta=None, timeout=WAIT_S):
        params = {"name": name, "arguments": arguments or {}}
        if meta is not None:
            params["_meta"] = meta
        return self.request("tools/call", params, request_id, timeout)

    def assert_alive(self):
        """The server still answers a ping after whatever came before."""
        reply = self.request("ping")
        assert reply["result"] == {}, reply

    def assert_silent(self, seconds):
        """No message at all arrives within `seconds`."""
        assert not self.stash, self.stash
        try:
            item = self.lines.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message: {item!r}")

    def close_stdin(self):
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def stop(self):
        self.close_stdin()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for thread in self.threads:
            thread.join(timeout=5)


def _same_id(got, wanted):
    """Ids compare by type too: the string "7" is not the integer 7, and True is not 1."""
    return type(got) is type(wanted) and got == wanted


@contextlib.contextmanager
def raw_server(env, argv=None):
    server = RawServer(env, argv)
    try:
        yield server
    finally:
        server.stop()
    assert not server.violations, server.violations


def is_error(message, code):
    return "error" in message and message["error"]["code"] == code


def tool_payload(reply):
    """The parsed JSON text of a successful tools/call reply (checked against CallToolResult)."""
    result = mcp_types.CallToolResult.model_validate(reply["result"])
    assert result.is_error is False, reply
    return json.loads(result.content[0].text)


def tool_error_text(reply):
    result = mcp_types.CallToolResult.model_validate(reply["result"])
    assert result.is_error is True, reply
    return result.content[0].text


####################################################################################################
# Fixtures: the sample workspace and a stub API that answers slowly (or never)
####################################################################################################

@pytest.fixture(scope="module")
def sample():
    """(server, base_url) of the module's canned Orchestra workspace on 127.0.0.1."""
    server, base_url = orchestra_mcp.start_sample_server()
    yield server, base_url
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def stub_api(delay_s):
    """A loopback 'Orchestra': a run's /status answer (a finished run) waits `delay_s`, anything else is
    an empty listing at once. Yields (base_url, status_hits); the waits are released at exit."""
    release = threading.Event()
    status_hits = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.split("?")[0].endswith("/status"):
                status_hits.append(self.path)
                release.wait(delay_s)
                body = json.dumps({"id": STUB_RUN, "runStatus": "SUCCEEDED", "pipelineName": "Stub",
                                   "createdAt": "2026-01-01T00:00:00+00:00"}).encode()
            else:
                body = json.dumps({"page": 1, "pageSize": 100, "total": 0, "results": []}).encode()
            with contextlib.suppress(OSError):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/engine/public", status_hits
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def wait_until(condition, timeout=WAIT_S):
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, "condition not met in time"
        time.sleep(0.01)


####################################################################################################
# SDK client helpers: a transport that records every message passing in either direction
####################################################################################################

class _Recording:
    """Wraps one side of a transport and keeps every SessionMessage (or Exception) that passes."""

    def __init__(self, stream, seen):
        self._stream, self._seen = stream, seen

    async def receive(self):
        item = await self._stream.receive()
        self._seen.append(item)
        return item

    async def send(self, item):
        self._seen.append(item)
        await self._stream.send(item)

    async def aclose(self):
        await self._stream.aclose()

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        await self.aclose()


@contextlib.asynccontextmanager
async def recording_stdio(params, errlog, incoming, outgoing):
    async with stdio_client(params, errlog=errlog) as (read, write):
        yield _Recording(read, incoming), _Recording(write, outgoing)


def sdk_params(home, **variables):
    """StdioServerParameters; the SDK passes only HOME, LOGNAME, PATH, SHELL, TERM, USER, so all else is here."""
    env = {"HOME": str(home), "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.05"}
    env.update(variables)
    return StdioServerParameters(command=PYTHON, args=[SERVER], env=env, cwd=str(ROOT))


def wire(seen):
    """The JSON-RPC messages among recorded items, as plain dicts."""
    return [item.message.model_dump(by_alias=True, exclude_unset=True) for item in seen
            if not isinstance(item, Exception)]


####################################################################################################
# 1. The SDK client
####################################################################################################

def test_the_sdk_client_initializes_lists_eleven_tools_and_calls_one_in_legacy_mode(sample, tmp_path):
    _, base_url = sample
    params = sdk_params(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
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
                status = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": orchestra_mcp.SAMPLE_FAILED_RUN})
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
    assert json.loads(prefix.content[0].text)["id"] == orchestra_mcp.SAMPLE_FAILED_RUN
    assert missing.is_error is True
    assert "not found" in missing.content[0].text
    assert bad_argument.is_error is True
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()
    for message in wire(incoming):   # what the SDK parsed also passes our own wire check
        check_message(message)


def test_the_plain_sdk_client_given_stdio_server_parameters_works_in_both_modes(sample, tmp_path):
    _, base_url = sample
    params = sdk_params(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)

    async def session(mode):
        async with Client(params, mode=mode) as client:
            listing = await client.list_tools()
            result = await client.call_tool("list_pipelines", {})
            return {t.name for t in listing.tools}, result

    for mode in ("legacy", "auto"):
        names, result = anyio.run(session, mode)
        assert names == TOOL_NAMES
        assert result.is_error is False
        assert json.loads(result.content[0].text)["pipelines"][0]["alias"] == "nightly_elt"


def test_auto_mode_gets_an_immediate_method_not_found_for_server_discover_and_falls_back(sample, tmp_path):
    _, base_url = sample
    params = sdk_params(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
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


def test_a_canary_key_never_appears_in_results_stderr_or_the_log_file(tmp_path):
    server, base_url = orchestra_mcp.start_sample_server(key=CANARY_KEY)
    log_file = tmp_path / "orchestra-mcp.log"
    params = sdk_params(tmp_path, ORCHESTRA_API_KEY=CANARY_KEY, ORCHESTRA_API_BASE_URL=base_url,
                        ORCHESTRA_MCP_LOG_LEVEL="DEBUG", ORCHESTRA_MCP_LOG_FILE=str(log_file))
    incoming, outgoing = [], []

    async def session():
        with open(tmp_path / "stderr.txt", "w") as errlog:
            async with Client(recording_stdio(params, errlog, incoming, outgoing), mode="legacy") as client:
                return [
                    await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"}),
                    await client.call_tool("list_failures", {}),
                    await client.call_tool("diagnose_pipeline_run", {"pipeline_run_id": orchestra_mcp.SAMPLE_FAILED_RUN}),
                    await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": MISSING_RUN}),
                    await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": CANARY_KEY}),
                    await client.call_tool("list_pipeline_runs", {"pipeline_id": CANARY_KEY}),
                ]

    try:
        results = anyio.run(session)
    finally:
        server.shutdown()
        server.server_close()
    assert [r.is_error for r in results[:4]] == [False, False, False, True]
    for result in results:
        assert CANARY_KEY not in result.model_dump_json()
    assert CANARY_KEY not in json.dumps(wire(incoming))
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "status=200" in stderr, "DEBUG logging was on, so requests are logged"
    assert CANARY_KEY not in stderr
    assert "Traceback" not in stderr
    assert CANARY_KEY not in log_file.read_text()
    assert oct(log_file.stat().st_mode & 0o777) == oct(0o600)


def test_an_sdk_call_cancelled_by_its_scope_gets_no_response_and_the_server_keeps_serving(tmp_path):
    incoming, outgoing = [], []
    with stub_api(delay_s=0.6) as (base_url, hits):
        params = sdk_params(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url)

        async def session():
            with open(tmp_path / "stderr.txt", "w") as errlog:
                async with Client(recording_stdio(params, errlog, incoming, outgoing), mode="legacy") as client:
                    await client.call_tool("list_pipelines", {})   # warm-up: the HTTP stack is loaded
                    with anyio.move_on_after(0.3) as scope:
                        await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": STUB_RUN})
                    assert scope.cancelled_caught
                    await anyio.sleep(1.0)   # the stub answers after 0.6 s: the worker finishes meanwhile
                    after = await client.list_tools()
                    status = await client.call_tool("get_pipeline_run_status", {"pipeline_run_id": STUB_RUN})
                    return after, status

        after, status = anyio.run(session)
    assert {t.name for t in after.tools} == TOOL_NAMES
    assert status.is_error is False
    assert 1 <= len(hits) <= 2, hits   # 2 unless the cancel beat the request to the API (a very slow machine)
    sent = wire(outgoing)
    cancelled_id = [m["id"] for m in sent if m.get("method") == "tools/call"][1]
    notice = next(m for m in sent if m.get("method") == "notifications/cancelled")
    assert notice["params"]["requestId"] == cancelled_id
    assert not [m for m in wire(incoming) if "method" not in m and m.get("id") == cancelled_id]
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


####################################################################################################
# 2. Raw lines: the handshake
####################################################################################################

@pytest.mark.parametrize("asked, agreed", [(v, v) for v in HANDSHAKE_VERSIONS] + [("1999-01-01", "2025-11-25"),
                                                                                   ("2026-07-28", "2025-11-25")])
def test_initialize_with_id_0_echoes_a_known_version_and_offers_2025_11_25_otherwise(tmp_path, asked, agreed):
    with raw_server(server_env(tmp_path)) as server:
        reply = server.initialize(asked, request_id=0)
        assert _same_id(reply["id"], 0)
        result = mcp_types.InitializeResult.model_validate(reply["result"])
        assert reply["result"]["protocolVersion"] == agreed
        assert reply["result"]["capabilities"] == {"tools": {"listChanged": False}}
        assert result.server_info.name == "orchestra-mcp"
        assert result.server_info.version == orchestra_mcp.__version__
        assert result.instructions and len(result.instructions) <= 2048
        server.assert_alive()


def test_claude_codes_handshake_order_is_answered_step_by_step(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        probe = server.request("server/discover", {"protocolVersion": "2026-07-28"}, request_id="server-discover-probe-1")
        assert is_error(probe, -32601) and probe["id"] == "server-discover-probe-1"
        assert server.initialize("2025-11-25", request_id=0)["result"]["protocolVersion"] == "2025-11-25"
        assert {t["name"] for t in server.request("tools/list", request_id=1)["result"]["tools"]} == TOOL_NAMES
        server.assert_silent(0.2)   # notifications/initialized got no answer


def test_tools_list_and_ping_answer_with_valid_results(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        listing = mcp_types.ListToolsResult.model_validate(server.request("tools/list")["result"])
        assert {t.name for t in listing.tools} == TOOL_NAMES
        assert server.request("ping")["result"] == {}
        assert server.request("ping", {})["result"] == {}


####################################################################################################
# 2. Raw lines: malformed input, each followed by a request that still gets its answer
####################################################################################################

@pytest.mark.parametrize("line", [
    b"this is not json",
    b'{"jsonrpc":"2.0","id":1,"method":"pi',
    b"{'jsonrpc': '2.0', 'id': 1, 'method': 'ping'}",
    b'{"jsonrpc":"2.0","id":1,"method":"ping"} trailing',
    b"\xff\xfe\xfd",
    b'{"jsonrpc":"2.0","id":1,"method":"pi\xffng"}',
    b'{"jsonrpc":"2.0","id":1,"method":"\xed\xa0\x80"}',
    b"\x00",
    b'{"jsonrpc":"2.0","id":1,"method":"ping"}\x00',
    b'{"jsonrpc":"2.0","id":1,"method":"pi\x00ng"}',
], ids=["words", "truncated", "single-quotes", "trailing", "bad-utf8", "bad-utf8-in-string", "encoded-surrogate",
        "nul", "nul-after", "nul-inside"])
def test_a_line_that_is_not_utf8_json_gets_a_parse_error_with_id_null(tmp_path, line):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send(line)
        reply = server.recv()
        assert is_error(reply, -32700) and reply["id"] is None, reply
        server.assert_alive()


def test_a_utf16_encoded_request_is_a_parse_error_not_answered(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        request = json.dumps({"jsonrpc": "2.0", "id": 77, "method": "ping"}) + "\n"
        server.send(request.encode("utf-16-be"))   # NUL bytes everywhere, and it ends in b"\x00\n"
        reply = server.recv()
        assert is_error(reply, -32700) and reply["id"] is None, reply
        server.assert_alive()


def test_a_lone_surrogate_in_the_input_never_makes_an_invalid_output_line(tmp_path):
    with raw_server(server_env(tmp_path, ORCHESTRA_API_KEY="unused-key")) as server:
        server.initialize()
        server.send(b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}')   # valid JSON text, pure ASCII
        assert is_error(server.recv(), -32601)
        server.send(b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"\\udc00x"}}')
        assert is_error(server.recv(), -32602)
        server.send(b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_pipelines",'
                    b'"arguments":{"\\ud800":1}}}')
        tool_error_text(server.recv())
        server.assert_alive()


def test_a_lone_surrogate_in_api_data_never_makes_an_invalid_output_line(tmp_path):
    """Result texts are JSON inside a JSON string, so \\ud800 from the API arrives escaped twice: valid."""
    api, base_url = orchestra_mcp.start_sample_server()
    try:
        run = next(r for r in api.sample["runs"] if r["id"] == orchestra_mcp.SAMPLE_FAILED_RUN)
        run.update(pipelineId="c1d2e3f4\ud800", pipelineName="Nightly \udc00 ELT", message="failed \ud800")
        env = server_env(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
        with raw_server(env) as server:
            server.initialize()
            payload = tool_payload(server.call("get_pipeline_run_status", {"pipeline_run_id": orchestra_mcp.SAMPLE_FAILED_RUN}))
            assert payload["runStatus"] == "FAILED"
    finally:
        api.shutdown()
        api.server_close()


@pytest.mark.parametrize("line", [
    b"42", b'"ping"', b"null", b"true", b"{}",
    b'{"jsonrpc":"2.0","id":[1],"method":"ping"}',
    b'{"jsonrpc":"2.0","id":true,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
    b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
    b'{"jsonrpc":"2.0","id":null,"method":"ping"}',
])
def test_a_json_value_that_is_not_a_request_gets_invalid_request_with_id_null(tmp_path, line):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send(line)
        reply = server.recv()
        assert is_error(reply, -32600) and reply["id"] is None, reply
        server.assert_alive()


@pytest.mark.parametrize("line", [
    b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
    b'{"id":1,"method":"ping"}',
    b'{"jsonrpc":2,"id":"a-1","method":"tools/list"}',
    b'{"jsonrpc":"2.0","id":1,"method":42}',
    b'{"jsonrpc":"2.0","id":1}',
])
def test_an_invalid_request_with_a_readable_id_is_answered_with_that_id(tmp_path, line):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send(line)
        reply = server.recv()
        assert is_error(reply, -32600) and reply["id"] == json.loads(line)["id"], reply
        server.assert_alive()


@pytest.mark.parametrize("method", ["server/discover", "resources/list", "prompts/list", "foo",
                                    "logging/setLevel", "completion/complete", ""])
def test_an_unknown_method_gets_method_not_found_at_once(tmp_path, method):
    with raw_server(server_env(tmp_path)) as server:
        if method != "server/discover":   # Claude Code probes before initialize
            server.initialize()
        reply = server.request(method, {}, request_id="probe-1")
        assert is_error(reply, -32601), reply
        server.assert_alive()


def test_notifications_and_stray_responses_are_never_answered(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.notify("notifications/initialized")
        server.notify("notifications/roots/list_changed")
        server.notify("notifications/whatever", {"x": 1})
        server.notify("notifications/progress", {"progressToken": "t", "progress": 1})
        server.notify("notifications/cancelled", {"requestId": 12345})
        server.notify("notifications/cancelled", {"requestId": [1]})
        server.notify("notifications/cancelled", "not an object")
        server.notify("ping")   # a request method without an id is a notification: no answer
        server.notify("tools/call", {"name": "list_pipelines"})
        server.send({"jsonrpc": "2.0", "id": 5, "result": {}})
        server.send({"jsonrpc": "2.0", "id": "x", "error": {"code": -1, "message": "stray"}})
        server.send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "stray"}})
        reply = server.request("ping", request_id="after")
        assert reply["result"] == {}
        server.assert_silent(0.3)


def test_deeply_nested_json_gets_an_error_and_the_server_keeps_serving(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send(b"[" * 100_000)
        first = server.recv()
        server.send(b'{"jsonrpc":"2.0","id":9,"method":"ping","params":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}}")
        second = server.recv()
        server.send(b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000)
        third = server.recv()
        for reply in (first, second, third):
            assert "error" in reply and reply["error"]["code"] in (-32700, -32600), reply
            assert reply["id"] is None or reply["id"] == 9
        server.assert_alive()
        assert "Traceback" not in server.stderr_text()


def test_a_line_over_16_mib_gets_a_parse_error_and_the_next_line_is_answered(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        huge = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * (17 * 1024 * 1024) + b'"}}'
        server.send(huge)
        reply = server.recv(timeout=15)
        assert is_error(reply, -32700) and reply["id"] is None, reply
        server.assert_alive()


@pytest.mark.parametrize("params", [[1, 2], "x", 3, True])
def test_params_that_are_not_an_object_get_invalid_params(tmp_path, params):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send({"jsonrpc": "2.0", "id": 31, "method": "tools/list", "params": params})
        reply = server.reply_to(31)
        assert is_error(reply, -32602), reply
        server.send({"jsonrpc": "2.0", "id": 32, "method": "tools/call", "params": params})
        assert is_error(server.reply_to(32), -32602)
        server.assert_alive()


def test_an_unknown_tool_or_non_object_arguments_get_invalid_params(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        assert is_error(server.call("no_such_tool"), -32602)
        assert is_error(server.request("tools/call", {"arguments": {}}), -32602)
        assert is_error(server.request("tools/call", {"name": 7}), -32602)
        assert is_error(server.request("tools/call", {"name": "list_pipelines", "arguments": [1]}), -32602)
        assert is_error(server.request("tools/call", {"name": "list_pipelines", "arguments": "x"}), -32602)
        server.assert_alive()


def test_a_call_without_a_name_says_name_is_missing_and_an_unknown_tool_lists_the_tools(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        missing = server.request("tools/call", {"arguments": {}})["error"]["message"]
        assert "`name`" in missing and "None" not in missing, missing
        unknown = server.call("no_such_tool")["error"]["message"]
        assert "no_such_tool" in unknown and "diagnose_pipeline_run" in unknown and "list_pipelines" in unknown, unknown


def test_blank_lines_are_skipped_and_crlf_lines_are_answered(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send(b"\n\r\n   \t\n" + b'{"jsonrpc":"2.0","id":"crlf","method":"ping"}\r\n')
        reply = server.recv()
        assert reply["id"] == "crlf" and reply["result"] == {}
        server.assert_silent(0.2)


def test_many_requests_in_one_write_are_all_answered_in_order(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.send(b"".join(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % i for i in range(500)))
        assert [server.recv()["id"] for _ in range(500)] == list(range(500))


####################################################################################################
# 2. Raw lines: ids
####################################################################################################

def test_string_and_integer_ids_are_both_answered_with_the_same_id(tmp_path, sample):
    _, base_url = sample
    env = server_env(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
    with raw_server(env) as server:
        server.initialize(request_id="init-string-id")
        for request_id in ("abc", "", "0", 7, -3, 2**53, 0):
            reply = server.request("ping", request_id=request_id)
            assert _same_id(reply["id"], request_id)
        for request_id in ("call-1", 8):
            reply = server.call("list_pipelines", request_id=request_id)
            assert _same_id(reply["id"], request_id)
            assert tool_payload(reply)["pipelines"]


def test_a_tools_call_reusing_an_id_in_flight_is_refused_without_disturbing_the_first(tmp_path):
    with stub_api(delay_s=0.5) as (base_url, hits):
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url)
        with raw_server(env) as server:
            server.initialize()
            slow = {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}
            server.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": slow})
            wait_until(lambda: hits)
            server.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": slow})
            refusal = server.recv()
            assert is_error(refusal, -32600), refusal
            assert refusal["id"] is None, "answering with id 7 would settle the first call with this error"
            server.send({"jsonrpc": "2.0", "id": "7", "method": "tools/call", "params": slow})   # another id
            first = server.reply_to(7)
            assert tool_payload(first)["runStatus"] == "SUCCEEDED"
            assert tool_payload(server.reply_to("7"))["runStatus"] == "SUCCEEDED"
            server.assert_silent(0.3)   # exactly one answer for id 7
            assert len(hits) == 2


####################################################################################################
# 2. Raw lines: batches (2025-03-26 sessions only)
####################################################################################################

def test_a_batch_in_a_2025_03_26_session_gets_one_array_of_replies(tmp_path, sample):
    _, base_url = sample
    env = server_env(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
    with raw_server(env) as server:
        assert server.initialize("2025-03-26")["result"]["protocolVersion"] == "2025-03-26"
        server.send([
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "id": "two", "method": "tools/call",
             "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": orchestra_mcp.SAMPLE_FAILED_RUN}}},
            {"jsonrpc": "2.0", "method": "notifications/whatever"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 4, "method": "resources/list"},
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no_such_tool"}},
            42,
        ])
        raw_before = len(server.raw_stdout)
        replies = server.recv(timeout=10)
        assert isinstance(replies, list), replies
        assert server.raw_stdout[raw_before].startswith(b"[")
        by_id = {r["id"]: r for r in replies if r["id"] is not None}
        assert set(by_id) == {1, "two", 3, 4, 5}
        assert by_id[1]["result"] == {}
        assert tool_payload(by_id["two"])["runStatus"] == "FAILED"
        mcp_types.ListToolsResult.model_validate(by_id[3]["result"])
        assert is_error(by_id[4], -32601) and is_error(by_id[5], -32602)
        assert [r["error"]["code"] for r in replies if r["id"] is None] == [-32600]
        server.assert_alive()


def test_a_batch_whose_tools_call_is_cancelled_still_answers_its_other_requests_promptly(tmp_path):
    with stub_api(delay_s=0.5) as (base_url, hits):
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url,
                         ORCHESTRA_MCP_DEADLINE_S="10")
        with raw_server(env) as server:
            server.initialize("2025-03-26")
            server.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         {"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
                          "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}}])
            wait_until(lambda: hits)
            server.notify("notifications/cancelled", {"requestId": "slow"})
            replies = server.recv()   # the cancelled call ends when the stub answers, after 0.5 s
            assert isinstance(replies, list) and [r["id"] for r in replies] == [1], replies
            server.assert_alive()


def test_a_notification_only_batch_gets_no_reply(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize("2025-03-26")
        server.send([{"jsonrpc": "2.0", "method": "notifications/a"}, {"jsonrpc": "2.0", "method": "notifications/b"}])
        server.assert_alive()
        server.assert_silent(0.3)


@pytest.mark.parametrize("version", [None, "2024-11-05", "2025-06-18", "2025-11-25"])
def test_a_batch_outside_a_2025_03_26_session_gets_invalid_request(tmp_path, version):
    with raw_server(server_env(tmp_path)) as server:
        if version:
            server.initialize(version)
        server.send([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
        reply = server.recv()
        assert is_error(reply, -32600) and reply["id"] is None, reply
        server.assert_silent(0.2)   # and the ping inside was not answered
        server.assert_alive()


def test_an_empty_batch_gets_invalid_request_even_in_a_2025_03_26_session(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize("2025-03-26")
        server.send(b"[]")
        reply = server.recv()
        assert is_error(reply, -32600) and reply["id"] is None, reply
        server.assert_alive()


####################################################################################################
# 2. Raw lines: cancellation and progress
####################################################################################################

def test_a_cancelled_call_never_gets_a_response_and_a_ping_after_it_is_answered(tmp_path):
    with stub_api(delay_s=0.6) as (base_url, hits):
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url)
        with raw_server(env) as server:
            server.initialize()
            server.send({"jsonrpc": "2.0", "id": "slow", "method": "tools/call",
                         "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}})
            wait_until(lambda: hits)
            server.notify("notifications/cancelled", {"requestId": "slow", "reason": "user pressed Esc"})
            server.assert_alive()
            server.assert_silent(1.0)   # the stub answers after 0.6 s; the server must stay quiet
            server.assert_alive()
            assert "Traceback" not in server.stderr_text()


def test_cancelling_an_unknown_or_finished_id_is_ignored(tmp_path, sample):
    _, base_url = sample
    env = server_env(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
    with raw_server(env) as server:
        server.initialize()
        reply = server.call("list_pipelines", request_id=41)
        assert tool_payload(reply)["pipelines"]
        server.notify("notifications/cancelled", {"requestId": 41})
        server.notify("notifications/cancelled", {"requestId": "never-sent"})
        server.assert_alive()
        assert tool_payload(server.call("list_pipelines", request_id=41))["pipelines"]   # the id is free again


def test_a_progress_token_yields_increasing_progress_notifications_before_the_result(tmp_path, sample):
    _, base_url = sample
    env = server_env(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url)
    with raw_server(env) as server:
        server.initialize()
        server.send({"jsonrpc": "2.0", "id": 51, "method": "tools/call",
                     "params": {"name": "list_pipeline_runs", "arguments": {"time_from": "24h"},
                                "_meta": {"progressToken": "tok-51"}}})
        notes = []
        while True:
            message = server.recv()
            if message.get("method") == "notifications/progress":
                notes.append(message["params"])
                continue
            assert _same_id(message.get("id"), 51), message
            break
        assert tool_payload(message)["total"] == 151
        assert len(notes) >= 2, "two pages, so at least two progress notifications"
        assert all(n["progressToken"] == "tok-51" for n in notes)
        values = [n["progress"] for n in notes]
        assert values == sorted(values) and len(set(values)) == len(values), values
        for note in notes:
            assert "total" not in note or note["total"] >= note["progress"]
        server.send({"jsonrpc": "2.0", "id": 52, "method": "tools/call",
                     "params": {"name": "list_pipeline_runs", "arguments": {"time_from": "24h"}}})
        assert server.recv()["id"] == 52, "no progress notifications without a token"


####################################################################################################
# 2. Raw lines: shutdown
####################################################################################################

# A call that hangs on the network must not hold the process: the hung answer below comes after
# 300 s and the server's own timeouts are longer still, so an exit within the 30 s failure guard
# proves the server did not wait for it. How fast it exits is measured by bench/bench_signals.py.
HUNG_CALL_ENV = {"ORCHESTRA_TIMEOUT": "250", "ORCHESTRA_MCP_DEADLINE_S": "300"}
EXIT_GUARD_S = 30


def test_closing_stdin_while_a_call_hangs_on_the_network_ends_the_process(tmp_path):
    with stub_api(delay_s=300) as (base_url, hits):
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url, **HUNG_CALL_ENV)
        with raw_server(env) as server:
            server.initialize()
            server.send({"jsonrpc": "2.0", "id": 61, "method": "tools/call",
                         "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}})
            wait_until(lambda: hits)
            server.close_stdin()
            server.proc.wait(timeout=EXIT_GUARD_S)
            assert server.proc.returncode == 0
            assert "Traceback" not in server.stderr_text()


def test_closing_stdin_on_an_idle_server_ends_the_process(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        server.initialize()
        server.close_stdin()
        server.proc.wait(timeout=EXIT_GUARD_S)
        assert server.proc.returncode == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_busy_server_quietly(tmp_path, signum):
    with stub_api(delay_s=300) as (base_url, hits):
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url, **HUNG_CALL_ENV)
        with raw_server(env) as server:
            server.initialize()
            server.send({"jsonrpc": "2.0", "id": 71, "method": "tools/call",
                         "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}})
            wait_until(lambda: hits)
            server.proc.send_signal(signum)   # Claude Code signals without closing stdin first
            server.proc.wait(timeout=EXIT_GUARD_S)
            assert server.proc.returncode == 0
            for thread in server.threads:
                thread.join(timeout=5)
            assert "Traceback" not in server.stderr_text()
            assert "KeyboardInterrupt" not in server.stderr_text()


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
def test_sigint_and_sigterm_are_blocked_in_every_thread_of_a_busy_server(tmp_path):
    # The design that makes exit on a signal certain: no thread can take SIGINT/SIGTERM with a
    # Python handler (which would wait for the main thread's next bytecode); one sigwait takes them.
    with stub_api(delay_s=60) as (base_url, hits):
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url)
        with raw_server(env) as server:
            server.initialize()
            server.send({"jsonrpc": "2.0", "id": 72, "method": "tools/call",
                         "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}})
            wait_until(lambda: hits)
            masks = _blocked_signals(server.proc.pid)
            assert len(masks) >= 4, masks   # main, writer, signals, a tool worker at least
            open_to_them = {tid: wchan for tid, (blocked, wchan) in masks.items()
                            if not {signal.SIGINT, signal.SIGTERM} <= blocked}
            # sigwait unblocks the signals it waits for while it sleeps: that thread alone may take them
            assert len(open_to_them) == 1, masks
            wchan = next(iter(open_to_them.values()))
            assert "sigtimedwait" in wchan or wchan in ("0", ""), masks


def _signal_trials(tmp_path, trials, signum=signal.SIGINT):
    """Spawn, answer initialize and tools/list, signal: how many trials did not exit (20 s each)."""
    stuck, noisy = [], []
    env = server_env(tmp_path)
    for trial in range(trials):
        with raw_server(env) as server:
            server.initialize()
            server.request("tools/list")
            server.proc.send_signal(signum)
            try:
                server.proc.wait(timeout=20)   # a failure guard, not a timing claim (bench_signals.py times it)
            except subprocess.TimeoutExpired:
                stuck.append(trial)
                continue
            for thread in server.threads:
                thread.join(timeout=5)
            if "Traceback" in server.stderr_text() or server.proc.returncode != 0:
                noisy.append((trial, server.proc.returncode, server.stderr_text()[-300:]))
    return stuck, noisy


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_idle_server_exits_quietly_on_a_signal_in_every_one_of_10_trials(tmp_path, signum):
    assert _signal_trials(tmp_path, 10, signum) == ([], [])


@pytest.mark.slow
def test_an_idle_server_exits_quietly_on_sigint_in_every_one_of_200_trials(tmp_path):
    assert _signal_trials(tmp_path, 200) == ([], [])


def test_a_client_that_closes_its_end_of_stdout_makes_the_server_exit(tmp_path):
    proc = subprocess.Popen([PYTHON, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=server_env(tmp_path), cwd=str(ROOT))
    try:
        proc.stdout.close()
        proc.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n')
        proc.stdin.flush()
        proc.wait(timeout=5)
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            proc.stdin.close()
        proc.stderr.close()


def test_a_client_that_stops_reading_stdout_blocks_the_server_which_still_exits_on_eof(tmp_path):
    proc = subprocess.Popen([PYTHON, SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=server_env(tmp_path), cwd=str(ROOT))
    try:
        fd = proc.stdin.fileno()
        os.set_blocking(fd, False)
        ping = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'   # < PIPE_BUF: each write is whole or nothing
        sent, stalled_since = 0, None
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up and sent < 200_000:
            try:
                os.write(fd, ping)
                sent, stalled_since = sent + 1, None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 1.0:
                    break
                time.sleep(0.02)
        assert stalled_since is not None, f"the server kept reading {sent} pings nobody collects"
        rss_kib = _rss_kib(proc.pid)
        print(f"back-pressure after {sent} pings ({sent * len(ping) // 1024} KiB); server RSS {rss_kib} KiB")
        assert sent < 50_000
        assert rss_kib is None or rss_kib < 300_000
        proc.stdin.close()
        try:
            proc.wait(timeout=EXIT_GUARD_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit within {EXIT_GUARD_S} s of EOF while its stdout was full")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()


def test_stdio_over_unix_socketpairs_works_and_a_half_close_of_stdin_ends_the_server(tmp_path):
    """Node-based clients (Claude Code) give the server socketpairs, not pipes, and end stdin with a
    half-close (shutdown SHUT_WR) while still listening."""
    with stub_api(delay_s=0) as (base_url, hits):
        ours_in, theirs_in = socket.socketpair()
        ours_out, theirs_out = socket.socketpair()
        env = server_env(tmp_path, ORCHESTRA_API_KEY="stub-key", ORCHESTRA_API_BASE_URL=base_url)
        proc = subprocess.Popen([PYTHON, SERVER], stdin=theirs_in.fileno(), stdout=theirs_out.fileno(),
                                stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
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
            call = ask({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "get_pipeline_run_status", "arguments": {"pipeline_run_id": STUB_RUN}}})
            assert tool_payload(call)["runStatus"] == "SUCCEEDED" and hits
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


def _rss_kib(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else None


####################################################################################################
# 2. Raw lines: stdout hygiene, configuration, command line
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
    with raw_server(server_env(tmp_path), argv=[PYTHON, "-c", NOISY_TOOL]) as server:
        server.initialize()
        reply = server.call("list_pipelines")
        assert tool_payload(reply) == {}
        server.assert_alive()
        wait_until(lambda: "WRITTEN-TO-FD-1" in server.stderr_text())
        stdout = b"".join(server.raw_stdout)
        for marker in ("PRINTED-BY-TOOL", "WRITTEN-TO-SYS-STDOUT", "WRITTEN-TO-FD-1"):
            assert marker in server.stderr_text()
            assert marker.encode() not in stdout


def test_without_a_key_the_server_starts_lists_tools_and_each_call_says_how_to_set_it(tmp_path):
    with raw_server(server_env(tmp_path)) as server:
        assert server.initialize()["result"]["serverInfo"]["name"] == "orchestra-mcp"
        tools = server.request("tools/list")["result"]["tools"]
        assert {t["name"] for t in tools} == TOOL_NAMES
        text = tool_error_text(server.call("get_pipeline_run_status", {"pipeline_run_id": orchestra_mcp.SAMPLE_FAILED_RUN}))
        assert "ORCHESTRA_API_KEY" in text
        assert "ORCHESTRA_API_KEY" in server.stderr_text()


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "maybe", "2", "", "${ORCHESTRA_READ_ONLY}"])
def test_read_only_mode_hides_trigger_pipeline_and_refuses_a_call_to_it(tmp_path, sample, value):
    api, base_url = sample
    env = server_env(tmp_path, ORCHESTRA_API_KEY=orchestra_mcp.SAMPLE_KEY, ORCHESTRA_API_BASE_URL=base_url,
                     ORCHESTRA_READ_ONLY=value)
    starts_before = sum(1 for method, _ in api.sample["requests"] if method == "POST")
    with raw_server(env) as server:
        server.initialize()
        names = {t["name"] for t in server.request("tools/list")["result"]["tools"]}
        assert names == TOOL_NAMES - WRITE_TOOLS
        text = tool_error_text(server.call("trigger_pipeline", {"pipeline_id": "nightly_elt"}))
        assert "read-only" in text
    assert sum(1 for method, _ in api.sample["requests"] if method == "POST") == starts_before


@pytest.mark.parametrize("value", [None, "0", "false", "off"])
def test_without_read_only_trigger_pipeline_is_listed(tmp_path, value):
    with raw_server(server_env(tmp_path, ORCHESTRA_READ_ONLY=value)) as server:
        server.initialize()
        assert "trigger_pipeline" in {t["name"] for t in server.request("tools/list")["result"]["tools"]}


@pytest.mark.parametrize("url", ["http://example.com", "ftp://127.0.0.1/api", "https://user:pw@example.com/x",
                                 "not a url"])
def test_a_bad_base_url_stops_the_server_at_start_with_a_clear_message(tmp_path, url):
    completed = subprocess.run([PYTHON, SERVER], input=b"", capture_output=True, timeout=20, cwd=str(ROOT),
                               env=server_env(tmp_path, ORCHESTRA_API_BASE_URL=url))
    assert completed.returncode != 0
    assert completed.stdout == b""
    stderr = completed.stderr.decode()
    assert "ORCHESTRA_API_BASE_URL" in stderr
    assert "Traceback" not in stderr
    assert "pw" not in stderr
