"""The one test harness: orchestra_mcp.py as a subprocess, driven through the official SDK client or
in raw JSON-RPC lines through `orchestra_mcp.LineClient` (the module's one line client).

- `server_env()`: the one environment builder for every server process the tests start.
- `start()`: a LineClient whose every stdout line passes `check_wire_line` (the SDK's wire types);
  `finish()` closes it and checks what was still unread; `assert_alive()`, `stats()`,
  `proc_field()` and `wait_until()` are the helpers the raw-line tests share. Silence is shown by a
  ping: `client.ping() == []` means nothing came before its answer.
- `call_tools()`, `call_tool()`, `list_tools()`: the SDK client (`mcp.Client`), one process per use;
  `SdkSession`: one SDK client session (one process) kept open across tests, for a module fixture.

The SDK is imported only where it is used, so the benchmarks can import `proc_field` from here with
nothing but the standard library.
"""
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from orchestra_mcp import LineClient

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "orchestra_mcp.py"
# How the servers are started: the command launch-orchestra-mcp.sh execs (so Claude Code's), which
# imports the module, so its bytecode is cached. `python orchestra_mcp.py` compiles the 4,000-line
# file at every start (~70 ms of CPU, hundreds of times a run); a few tests keep that form.
LAUNCHER_CODE = "import sys; sys.path[0] = sys.argv.pop(1); import orchestra_mcp; sys.exit(orchestra_mcp.main())"
SERVER_COMMAND = [sys.executable, "-c", LAUNCHER_CODE, str(REPO)]
WAIT_S = 30.0   # a failure guard for one expected message, generous for a loaded machine (never a timing claim)
JSONRPC_CODES = {-32700, -32600, -32601, -32602, -32603, -32022}   # -32022: 2026-07-28's unsupported version
# Set by `bench/coverage.sh` (the coverage config, and tests/coverage/sitecustomize.py on
# PYTHONPATH): passed on to every server process, so that its lines count too. When
# COVERAGE_PROCESS_START is unset, neither passes (a developer's own PYTHONPATH stays out).
COVERAGE_VARIABLES = ("COVERAGE_PROCESS_START", "PYTHONPATH")


def server_env(base_url, home, key="test-key", **extra):
    """Everything a server process needs, and nothing from the developer's shell: no ORCHESTRA_*
    leaks in (the SDK's stdio client passes only PATH, HOME, ... itself). `base_url=None` leaves the
    public API as the default, `key=None` leaves the key unset, an `extra` of None leaves it unset."""
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(home),
        "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01", "ORCHESTRA_MCP_RETRY_AFTER_CAP_S": "3",
        "ORCHESTRA_MCP_DEADLINE_S": "30", "ORCHESTRA_TIMEOUT": "10",
        "ORCHESTRA_MCP_DOWNLOAD_DIR": str(Path(home) / "downloads"),
    }
    if base_url is not None:
        env["ORCHESTRA_API_BASE_URL"] = base_url
    if key is not None:
        env["ORCHESTRA_API_KEY"] = key
    if os.environ.get("COVERAGE_PROCESS_START"):
        env.update({name: os.environ[name] for name in COVERAGE_VARIABLES if os.environ.get(name)})
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


####################################################################################################
# Wire checks: every line the server writes on stdout
####################################################################################################

def check_message(item):
    """One JSON-RPC message from the server: valid for mcp_types, and a response or a notification."""
    import mcp_types
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


def same_id(got, wanted):
    """Ids compare by type too: the string "7" is not the integer 7, and True is not 1."""
    return type(got) is type(wanted) and got == wanted


def responses_in(messages):
    """Responses among messages, batch replies flattened."""
    for message in messages:
        for item in message if isinstance(message, list) else [message]:
            if "method" not in item:
                yield item


def tool_result(reply):
    """(is_error, the parsed JSON of a result, or the sentence of an error) of a tools/call reply,
    checked against the SDK's CallToolResult."""
    import mcp_types
    result = mcp_types.CallToolResult.model_validate(reply["result"])
    text = result.content[0].text
    return result.is_error, (text if result.is_error else json.loads(text))


####################################################################################################
# The raw-line client: orchestra_mcp.LineClient, checked
####################################################################################################

def start(env, args=(), command=None, cwd=REPO):
    """The server as a subprocess in raw JSON-RPC lines; every line read passes check_wire_line."""
    return LineClient(args=args, env=env, cwd=str(cwd), check=check_wire_line, command=command or SERVER_COMMAND)


def finish(client, timeout=WAIT_S):
    """Close stdin, read (and check) every line still coming until stdout closes, reap the process;
    returns stderr. Reading on keeps a server with much left to write from blocking on a full pipe.
    Calling it again returns the same stderr."""
    if getattr(client, "final_stderr", None) is not None:
        return client.final_stderr
    if client.process.poll() is None:
        try:
            client.process.stdin.close()
        except OSError:
            pass
    give_up = time.monotonic() + timeout
    try:
        while time.monotonic() < give_up:
            line, _ = client.read_line(max(0.01, give_up - time.monotonic()))
            if line is not None:
                check_wire_line(line)
    except (EOFError, OSError, ValueError):
        pass   # stdout closed: everything was read
    client.final_stderr = client.close(timeout=timeout)
    return client.final_stderr


def assert_alive(client):
    """The server still answers a ping; messages that came before the answer stay held, in order."""
    others = client.ping()
    client.held[:0] = others


def wait_until(condition, timeout=WAIT_S, what="condition"):
    """Poll `condition` (an event the test cannot be told of) until it holds; fail after `timeout`."""
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"{what} not met within {timeout} s"
        time.sleep(0.01)


def proc_field(pid, field):
    """A field of /proc/<pid>/status as an int (kB for VmRSS and VmHWM, a count for Threads)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def stats(pid):
    """Threads, open file descriptors (sockets among them), RSS and peak RSS of a process."""
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    return {"threads": proc_field(pid, "Threads"), "fds": len(links),
            "sockets": sum(link.startswith("socket:") for link in links),
            "rss_kb": proc_field(pid, "VmRSS"), "hwm_kb": proc_field(pid, "VmHWM")}


####################################################################################################
# The SDK client
####################################################################################################

def decode(result):
    """(is_error, payload): the JSON object of a normal result, the sentence of an error."""
    text = result.content[0].text
    return result.is_error, (text if result.is_error else json.loads(text))


def sdk_params(env, script=False, args=()):
    """How the SDK client starts the server: SERVER_COMMAND, or `python orchestra_mcp.py` (script=True),
    followed by the server's own `args` (e.g. --demo)."""
    from mcp import StdioServerParameters
    command = [str(SERVER)] if script else SERVER_COMMAND[1:]
    return StdioServerParameters(command=sys.executable, args=[*command, *args], env=env, cwd=str(REPO))


def call_tools(env, calls, mode="legacy"):
    """Run [(tool, arguments), ...] in one server process; returns [(is_error, payload), ...]."""
    import anyio
    from mcp import Client

    async def run():
        async with Client(sdk_params(env), mode=mode) as client:
            return [decode(await client.call_tool(name, arguments)) for name, arguments in calls]
    return anyio.run(run)


def call_tool(env, name, **arguments):
    return call_tools(env, [(name, arguments)])[0]


def list_tools(env):
    import anyio
    from mcp import Client

    async def run():
        async with Client(sdk_params(env), mode="legacy") as client:
            return await client.list_tools()
    return anyio.run(run)


class SdkSession:
    """One SDK client session, one server process, kept open across calls and tests (a module
    fixture's): its event loop runs in a thread of its own (an anyio blocking portal), so plain test
    functions call it. `call_tools` and `call_tool` answer as the functions of the same names."""

    def __init__(self, env, mode="legacy"):
        import anyio.from_thread
        from mcp import Client
        self._portal = anyio.from_thread.start_blocking_portal()
        portal = self._portal.__enter__()
        try:
            self._client = portal.wrap_async_context_manager(Client(sdk_params(env), mode=mode))
            self.client = self._client.__enter__()
        except BaseException:
            self._portal.__exit__(None, None, None)
            raise
        self.portal = portal

    def call_tools(self, calls):
        return [decode(self.portal.call(self.client.call_tool, name, arguments)) for name, arguments in calls]

    def call_tool(self, name, **arguments):
        return self.call_tools([(name, arguments)])[0]

    def close(self):
        try:
            self._client.__exit__(None, None, None)
        finally:
            self._portal.__exit__(None, None, None)


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
        import anyio
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
    """The SDK's stdio transport, keeping what the server sent in `incoming` and what the client
    sent in `outgoing`."""
    from mcp.client.stdio import stdio_client
    async with stdio_client(params, errlog=errlog) as (read, write):
        yield _Recording(read, incoming), _Recording(write, outgoing)
