"""The 2026-07-28 protocol revision alongside the handshake era (ORCHESTRA_MCP_PROTOCOL).

`legacy` (the default) answers server/discover with -32601 at once; `auto` answers it, and the
first other request fixes the connection's era: initialize means legacy, a version in
params._meta means modern. Modern results carry resultType (tools/list also ttlMs and
cacheScope); legacy results never do. See ../shared/mcp-notes.md sections 9 and 10.

The server runs as `orchestra_mcp.py --demo` (built-in sample workspace on loopback: no key, no
internet). Every blocking read has a generous timeout, a failure guard and not a timing claim.
"""

import json
from pathlib import Path

import anyio
import mcp_types
import pytest
from mcp import Client
from mcp_helpers import finish, recording_stdio, sdk_params, server_env, start
from mcp_types.methods import validate_server_result

import orchestra_mcp

WAIT_S = 60.0
MODERN = "2026-07-28"
MODERN_ONLY_KEYS = {"resultType", "ttlMs", "cacheScope"}
TOOL_NAMES = set(orchestra_mcp.TOOLS)
CLIENT_INFO = {"name": "claude-code", "version": "2.1.331"}


def envelope(version=MODERN, **params):
    """Request params carrying the 2026-07-28 per-request `_meta`."""
    return {**params, "_meta": {mcp_types.PROTOCOL_VERSION_META_KEY: version,
                                mcp_types.CLIENT_CAPABILITIES_META_KEY: {},
                                mcp_types.CLIENT_INFO_META_KEY: CLIENT_INFO}}


def demo_env(home, protocol):
    """No key and no base URL: --demo serves its own sample workspace (protocol None: unset)."""
    return server_env(None, home, key=None, ORCHESTRA_MCP_PROTOCOL=protocol)


@pytest.fixture
def line_server(tmp_path):
    """start(protocol) -> `--demo` spoken to in raw lines through mcp_helpers (orchestra_mcp.LineClient,
    every line checked); protocol None leaves the variable unset. All finished after the test."""
    started = []

    def start_demo(protocol):
        home = tmp_path / f"home{len(started)}"
        home.mkdir()
        started.append(start(demo_env(home, protocol), args=["--demo"]))
        return started[-1]
    yield start_demo
    for server in started:
        finish(server)


def modern_result(reply, method):
    """The result of a 2026-07-28 reply, checked against that revision's model."""
    assert "result" in reply, reply
    validate_server_result(method, MODERN, reply["result"])
    assert reply["result"]["resultType"] == "complete"
    return reply["result"]


def legacy_result(reply, method):
    """The result of a handshake-era reply: valid for 2025-11-25, with no 2026-only key."""
    assert "result" in reply, reply
    validate_server_result(method, "2025-11-25", reply["result"])
    assert not MODERN_ONLY_KEYS & set(reply["result"]), reply["result"]
    return reply["result"]


def error_code(reply):
    return reply["error"]["code"] if "error" in reply else None


####################################################################################################
# Claude Code's observed opening (mcp-notes section 9), replayed in both settings
####################################################################################################

@pytest.mark.parametrize("protocol", [None, "legacy", "auto"])
def test_claude_codes_opening_is_answered_step_by_step_in_both_settings(line_server, protocol):
    server = line_server(protocol)
    probe = server.request("server/discover", envelope(), "server-discover-probe-1")
    assert probe["id"] == "server-discover-probe-1"
    if protocol == "auto":
        discovered = modern_result(probe, "server/discover")
        assert MODERN in discovered["supportedVersions"]
        assert discovered["capabilities"] == {"tools": {"listChanged": False}}
        assert discovered["instructions"] == orchestra_mcp.INSTRUCTIONS
        assert discovered["_meta"][mcp_types.SERVER_INFO_META_KEY]["name"] == "orchestra-mcp"
    else:   # the default: today's immediate method-not-found
        assert error_code(probe) == -32601

    handshake = server.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                              "clientInfo": CLIENT_INFO}, 0)
    assert type(handshake["id"]) is int and handshake["id"] == 0
    assert legacy_result(handshake, "initialize")["protocolVersion"] == "2025-11-25"
    server.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    listing = legacy_result(server.request("tools/list", {}, 1), "tools/list")
    assert {tool["name"] for tool in listing["tools"]} == TOOL_NAMES
    call = server.request("tools/call", {"name": "get_pipeline_run_status",
                                         "arguments": {"pipeline_run_id": "8e808ad7"}}, 2)
    status = json.loads(legacy_result(call, "tools/call")["content"][0]["text"])
    assert status["runStatus"] == "FAILED"
    answers = [m for m in map(json.loads, server.raw) if m.get("id") != "server-discover-probe-1"]
    assert len(answers) == 3 and all("result" in m for m in answers)   # no reply to the notification


####################################################################################################
# The official SDK client in each of its modes
####################################################################################################

def sdk_session(home, protocol, mode):
    """One SDK client session against --demo: (negotiated version, server name, tool names,
    status result, bad-argument result, the results the server sent as dicts)."""
    params = sdk_params(demo_env(home, protocol), args=["--demo"])
    seen = []

    async def run():
        with anyio.fail_after(2 * WAIT_S), open(Path(home) / "stderr.txt", "w") as errlog:
            async with Client(recording_stdio(params, errlog, seen, []), mode=mode) as client:
                listing = await client.list_tools()
                status = await client.call_tool("get_pipeline_run_status",
                                                {"pipeline_run_id": "8e808ad7"})
                bad = await client.call_tool("get_pipeline_run_status",
                                             {"pipeline_run_id": "../x"})
                info = client.server_info.name if client.server_info else None
                return (client.protocol_version, info, {t.name for t in listing.tools}, status,
                        bad)

    outcome = anyio.run(run)
    results = [item.message.model_dump(by_alias=True, exclude_unset=True) for item in seen
               if not isinstance(item, Exception)]
    return (*outcome, [m["result"] for m in results if "result" in m])


@pytest.mark.parametrize("mode, version, server_name", [
    ("legacy", "2025-11-25", "orchestra-mcp"),
    ("auto", MODERN, "orchestra-mcp"),   # the name from the discover answer's _meta
    (MODERN, MODERN, None),              # a pinned version: no probe, so no server info
])
def test_the_sdk_client_in_each_mode_is_served_in_its_era_by_an_auto_server(
        tmp_path, mode, version, server_name):
    negotiated, name, tools, status, bad, results = sdk_session(tmp_path, "auto", mode)
    assert (negotiated, name) == (version, server_name)
    assert tools == TOOL_NAMES
    assert status.is_error is False
    assert json.loads(status.content[0].text)["id"] == orchestra_mcp.SAMPLE_FAILED_RUN
    assert bad.is_error is True
    assert results, "the tap saw no results"
    for result in results:
        if version == MODERN:
            assert result["resultType"] == "complete", result
        else:
            assert not MODERN_ONLY_KEYS & set(result), result
    if version == MODERN:
        listing = next(r for r in results if "tools" in r)
        assert (listing["ttlMs"], listing["cacheScope"]) == (0, "private")


def test_the_sdk_client_in_auto_mode_falls_back_to_initialize_on_a_legacy_server(tmp_path):
    negotiated, name, tools, status, bad, results = sdk_session(tmp_path, None, "auto")
    assert negotiated == "2025-11-25" and name == "orchestra-mcp" and tools == TOOL_NAMES
    assert status.is_error is False and bad.is_error is True
    assert all(not MODERN_ONLY_KEYS & set(result) for result in results)


####################################################################################################
# Raw lines: the era rules, one by one
####################################################################################################

def test_an_unsupported_version_gets_32022_naming_the_supported_ones_and_fixes_no_era(
        line_server):
    server = line_server("auto")
    for method, request_id in (("server/discover", "p"), ("tools/list", 1)):
        reply = server.request(method, envelope("2099-01-01"), request_id)
        assert error_code(reply) == -32022, reply
        data = mcp_types.UnsupportedProtocolVersionErrorData.model_validate(reply["error"]["data"])
        assert (data.supported, data.requested) == ([MODERN], "2099-01-01")
    handshake = server.request("initialize", {"protocolVersion": "2025-06-18"}, 2)
    assert legacy_result(handshake, "initialize")["protocolVersion"] == "2025-06-18"


def test_a_connection_opened_by_a_modern_request_stays_modern(line_server):
    server = line_server("auto")
    modern_result(server.request("server/discover", envelope(), "probe"), "server/discover")
    listing = modern_result(server.request("tools/list", envelope(), 1), "tools/list")
    assert (listing["ttlMs"], listing["cacheScope"]) == (0, "private")
    assert [t["name"] for t in listing["tools"]] == [
        t["name"] for t in orchestra_mcp.tool_list(read_only=False)]   # deterministic order
    call = server.request("tools/call", envelope(name="list_pipelines", arguments={}), 2)
    assert json.loads(modern_result(call, "tools/call")["content"][0]["text"])["pipelines"]

    late = server.request("initialize", {"protocolVersion": "2025-11-25"}, 3)
    assert error_code(late) == -32022
    assert late["error"]["data"] == {"supported": [MODERN], "requested": "2025-11-25"}
    assert error_code(server.request("tools/list", {}, 4)) == -32600   # no envelope
    assert error_code(server.request("ping", envelope(), 5)) == -32601   # gone in 2026-07-28
    modern_result(server.request("server/discover", envelope(), 6), "server/discover")


def test_a_connection_opened_by_initialize_stays_legacy(line_server):
    server = line_server("auto")
    legacy_result(server.request("initialize", envelope(protocolVersion="2025-11-25"), 0),
                  "initialize")   # an envelope on initialize does not make it modern
    assert error_code(server.request("tools/list", envelope(), 1)) == -32600
    legacy_result(server.request("tools/list", {}, 2), "tools/list")
    assert server.request("ping", {}, 3)["result"] == {}
    modern_result(server.request("server/discover", envelope(), "probe"), "server/discover")
    legacy_result(server.request("tools/list", {"_meta": {"progressToken": "t"}}, 4), "tools/list")


def test_the_legacy_setting_ignores_the_envelope_as_before(line_server):
    server = line_server("legacy")
    legacy_result(server.request("tools/list", envelope(), 1), "tools/list")
    assert server.request("ping", envelope(), 2)["result"] == {}


@pytest.mark.parametrize("value, protocol", [(None, "legacy"), ("auto", "auto"), (" AUTO ", "auto"),
                                             ("legacy", "legacy"), ("modern", "legacy"),
                                             ("2026-07-28", "legacy"), ("", "legacy")])
def test_the_protocol_setting_is_legacy_unless_it_says_auto(value, protocol):
    environ = {"HOME": "/nonexistent"} if value is None else {"ORCHESTRA_MCP_PROTOCOL": value}
    config = orchestra_mcp.read_config(environ)
    assert config["protocol"] == protocol
    if value not in (None, "legacy", "auto", " AUTO "):
        assert any("ORCHESTRA_MCP_PROTOCOL" in note for note in config["notes"]), config["notes"]


def test_a_bad_protocol_setting_is_named_on_stderr_and_the_server_serves_legacy(line_server):
    server = line_server("2026-07-28")
    assert error_code(server.request("server/discover", envelope(), "probe")) == -32601
    stderr = finish(server)
    assert "ORCHESTRA_MCP_PROTOCOL='2026-07-28': not legacy or auto; using legacy." in stderr
