""".mcp.json and .claude/: the project-scope Claude Code configuration for the `orchestra` server.

The configured command is expanded the way Claude Code expands it (`${VAR}` and `${VAR:-default}` in
command, args and env; an unset `${VAR}` stays literal; a default applies only when the variable is unset)
and started from a SUBDIRECTORY of the project, because Claude Code starts servers in the directory where
`claude` was started. It is then driven by the official MCP SDK client.

The permission rules (.claude/settings.json) and the orchestra-expert agent's tool list are checked
against the server's own registry, orchestra_mcp.TOOLS, so a new tool cannot be left out of either.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import orchestra_mcp

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / ".mcp.json"
LAUNCHER = REPO / "launch-orchestra-mcp.sh"
SETTINGS = REPO / ".claude" / "settings.json"
AGENT = REPO / ".claude" / "agents" / "specialists" / "orchestra-expert.md"
CANARY_KEY = "orch_canary_mcpjson_7e4c2b9d1a0f"
READ_TOOLS = [name for name, spec in orchestra_mcp.TOOLS.items() if spec["read_only"]]
WRITE_TOOLS = [name for name, spec in orchestra_mcp.TOOLS.items() if not spec["read_only"]]
# Every other variable reaches the server from Claude Code's own environment; the env block passes
# only the one whose value is a decision of this project: trigger_pipeline is available here.
PASSED_VARIABLES = {"ORCHESTRA_READ_ONLY": "0"}

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text, environ):
    """Claude Code's expansion: ${X} -> X or itself when unset; ${X:-d} -> X when set (even empty), else d."""
    def substitute(match):
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        return default if default is not None else match.group(0)
    return _VARIABLE.sub(substitute, text)


def server_config():
    return json.loads(CONFIG.read_text())["mcpServers"]["orchestra"]


def expanded(environ):
    config = server_config()
    return (
        expand(config["command"], environ),
        [expand(arg, environ) for arg in config.get("args", [])],
        {name: expand(value, environ) for name, value in config.get("env", {}).items()},
    )


def test_the_expansion_helper_behaves_like_claude_code():
    assert expand("${A}/${B:-d}/${C:-}", {}) == "${A}/d/"
    assert expand("${A}/${B:-d}", {"A": "x", "B": ""}) == "x/"


def test_the_orchestra_server_is_a_stdio_server_with_the_documented_defaults():
    config = server_config()
    assert config["type"] == "stdio"
    assert set(config["env"]) == set(PASSED_VARIABLES)
    command, args, env = expanded({})
    assert env == PASSED_VARIABLES, "default: trigger_pipeline available"
    _, _, env = expanded({"ORCHESTRA_READ_ONLY": "1"})
    assert env["ORCHESTRA_READ_ONLY"] == "1"
    # The bash snippet must not contain ${...}: Claude Code would expand it before bash sees it.
    assert "${" not in config["command"] + "".join(config["args"])


def test_every_passed_variable_is_a_server_variable_with_a_real_value_when_unset():
    """An entry that expands to "" (the old ORCHESTRA_MCP_LOG_FILE) makes the server warn on every start."""
    _, _, env = expanded({})
    for name, value in env.items():
        assert name in orchestra_mcp.ENV_VARIABLES, "%s is not a variable the server reads" % name
        assert value.strip(), "%s expands to an empty value when unset: leave it out of .mcp.json" % name
        assert "${" not in value, "%s stays an unexpanded placeholder when unset" % name


def test_the_file_holds_no_key():
    config = server_config()
    assert "ORCHESTRA_API_KEY" not in config.get("env", {}), "the launch script finds the key; never put it here"
    for text in [config["command"], *config["args"], *config["env"].values()]:
        assert not re.search(r"orch_[A-Za-z0-9]|Bearer\s|op://|(?i:api[_-]?key|token|secret)\s*[=:]", text), text
        for word in re.findall(r"[A-Za-z0-9_+/=-]{32,}", text):
            assert not (re.search(r"\d", word) and re.search(r"[A-Za-z]", word)), "key-looking value: %s" % word


def test_the_configured_command_fails_clearly_outside_the_project(tmp_path):
    command, args, env = expanded({})
    proc = subprocess.run([command, *args], cwd=str(tmp_path), capture_output=True, text=True, timeout=20,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env})
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "launch-orchestra-mcp.sh not found" in proc.stderr


# ---------------------------------------------------------------------------------------------------
# Driving the configured command with the MCP SDK client

MINIMAL_SERVER = r'''
import hashlib, json, os, sys
key = os.environ.get("ORCHESTRA_API_KEY")
seen = {name: os.environ.get(name) for name in
        ("ORCHESTRA_API_BASE_URL", "ORCHESTRA_READ_ONLY", "ORCHESTRA_MCP_LOG_LEVEL", "ORCHESTRA_MCP_LOG_FILE")}
seen["keySha256"] = hashlib.sha256(key.encode()).hexdigest() if key else None
seen["argv"] = sys.argv[1:]
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message or "method" not in message:
        continue
    if message["method"] == "initialize":
        result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "minimal", "version": "0"}}
    elif message["method"] == "tools/list":
        result = {"tools": [{"name": "echo_environment", "description": json.dumps(seen),
                             "inputSchema": {"type": "object", "properties": {}}}]}
    else:
        print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "no"}}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), flush=True)
'''


def start_through_the_sdk(command, args, env, cwd, errlog, call=None):
    """initialize + tools/list (+ one tools/call) through the official SDK client, legacy handshake."""
    anyio = pytest.importorskip("anyio")
    mcp = pytest.importorskip("mcp")
    from mcp.client.stdio import stdio_client

    params = mcp.StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd))
    outcome = {}

    async def go():
        with anyio.fail_after(30):
            async with mcp.Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                outcome["tools"] = (await client.list_tools()).tools
                if call:
                    outcome["call"] = await client.call_tool(*call)

    anyio.run(go)
    return outcome


def client_environment(tmp_path, config_env, claude_environment=None):
    """What the server process gets: Claude Code's own environment with the expanded env block on top."""
    return {
        **(claude_environment or {}),
        **config_env,
        "ORCHESTRA_API_KEY": CANARY_KEY,
        "ORCHESTRA_MCP_PYTHON": sys.executable,
        "ORCHESTRA_SECRETS_LOADER": "",
        "HOME": str(tmp_path),
    }


def test_the_configured_command_reaches_the_server_from_a_subdirectory(tmp_path):
    """The whole chain (bash -c snippet, launcher, exec) with a minimal server standing in for the real one."""
    project = tmp_path / "project"
    (project / "models" / "staging").mkdir(parents=True)
    shutil.copy2(CONFIG, project / ".mcp.json")
    shutil.copy2(LAUNCHER, project / LAUNCHER.name)
    (project / "orchestra_mcp.py").write_text(MINIMAL_SERVER)
    claude_environment = {"ORCHESTRA_MCP_LOG_LEVEL": "DEBUG"}
    command, args, env = expanded(claude_environment)
    with open(tmp_path / "stderr.txt", "w+") as errlog:
        outcome = start_through_the_sdk(command, args, client_environment(tmp_path, env, claude_environment),
                                        project / "models" / "staging", errlog)
        errlog.seek(0)
        stderr = errlog.read()
    seen = json.loads(outcome["tools"][0].description)
    assert seen["keySha256"] == hashlib.sha256(CANARY_KEY.encode()).hexdigest()
    assert seen["ORCHESTRA_MCP_LOG_LEVEL"] == "DEBUG", "Claude Code's own environment reaches the server"
    assert seen["ORCHESTRA_READ_ONLY"] == "0"
    assert seen["ORCHESTRA_API_BASE_URL"] is None, "unset: the server uses its own default"
    assert seen["ORCHESTRA_MCP_LOG_FILE"] is None, "unset, never empty: an empty value is warned about"
    assert seen["argv"] == []
    assert CANARY_KEY not in stderr


def _fake_orchestra(request):
    try:
        return request.getfixturevalue("fake_orchestra")
    except pytest.FixtureLookupError:
        return None


@pytest.mark.skipif(not (REPO / "orchestra_mcp.py").exists(),
                    reason="orchestra_mcp.py is not written yet: run this again once it exists")
def test_the_real_server_lists_every_tool_when_started_from_the_tests_directory(request, tmp_path):
    fake = _fake_orchestra(request)
    base_url = fake.base_url if fake else "http://127.0.0.1:9/api/engine/public"
    claude_environment = {"ORCHESTRA_API_BASE_URL": base_url}
    command, args, env = expanded(claude_environment)
    environment = client_environment(tmp_path, env, claude_environment)
    assert environment["ORCHESTRA_API_BASE_URL"].startswith("http://127.0.0.1:"), "never the network in tests"
    environment["ORCHESTRA_API_KEY"] = "test-key" if fake else CANARY_KEY   # the fake's DEFAULT_API_KEY
    call = ("list_pipelines", {}) if fake else None
    with open(tmp_path / "stderr.txt", "w+") as errlog:
        outcome = start_through_the_sdk(command, args, environment, REPO / "tests", errlog, call=call)
        errlog.seek(0)
        stderr = errlog.read()
    names = {tool.name for tool in outcome["tools"]}
    assert set(orchestra_mcp.TOOLS) <= names, "missing tools: %s" % sorted(set(orchestra_mcp.TOOLS) - names)
    assert environment["ORCHESTRA_API_KEY"] not in stderr
    assert "ORCHESTRA_MCP_LOG_FILE" not in stderr, "the default configuration makes the server warn:\n" + stderr
    if call:
        result = outcome["call"]
        text = " ".join(getattr(part, "text", "") for part in result.content)
        assert not result.is_error, "list_pipelines against the fake failed: " + text[:500]
        assert environment["ORCHESTRA_API_KEY"] not in text


# ---------------------------------------------------------------------------------------------------
# The agent and slash command that use the server


def front_matter(path):
    text = path.read_text()
    assert text.startswith("---\n"), "%s needs YAML front matter" % path
    head = text.split("---\n")[1]
    return dict(line.split(": ", 1) for line in head.splitlines() if ": " in line), text


def rule(name):
    """Claude Code's name for a tool of the `orchestra` server."""
    return "mcp__orchestra__" + name


def test_the_registry_has_both_read_and_write_tools():
    """The checks below derive their lists from these flags; they mean little if one side is empty."""
    assert READ_TOOLS and WRITE_TOOLS
    assert "trigger_pipeline" in WRITE_TOOLS and "list_failures" in READ_TOOLS


def test_the_project_settings_allow_every_read_tool_and_ask_before_every_write():
    permissions = json.loads(SETTINGS.read_text())["permissions"]
    hint = "; a tool was added or changed: update .claude/settings.json"
    assert permissions["allow"] == sorted(rule(name) for name in READ_TOOLS), "allow must list each read tool" + hint
    assert permissions["ask"] == sorted(rule(name) for name in WRITE_TOOLS), "ask must list each write tool" + hint


def test_no_permission_rule_covers_the_whole_orchestra_server():
    """A server-wide rule (mcp__orchestra, mcp__orchestra__*) would also approve every future write tool."""
    settings = json.loads(SETTINGS.read_text())
    permissions = settings["permissions"]
    assert set(permissions) <= {"allow", "ask", "deny"}, "no defaultMode or other switch that skips the prompts"
    rules = [entry for kind in ("allow", "ask", "deny") for entry in permissions.get(kind, [])]
    assert len(rules) == len(set(rules)), "a tool is listed twice"
    for entry in rules:
        assert "*" not in entry, "wildcard rule %r: name each tool" % entry
        assert entry != "mcp__orchestra", "server-wide rule %r: name each tool" % entry
        if entry.startswith("mcp__orchestra"):
            assert re.fullmatch(r"mcp__orchestra__[a-z0-9_]+", entry), entry


def test_the_orchestra_expert_agent_may_use_every_read_tool_and_no_write_tool():
    meta, text = front_matter(AGENT)
    assert meta["name"] == "orchestra-expert" and meta["description"]
    tools = [tool.strip() for tool in meta["tools"].split(",")]
    assert len(tools) == len(set(tools)), "a tool is listed twice"
    assert set(tools) == {rule(name) for name in READ_TOOLS} | {"Read", "Grep", "Glob"}, \
        "the agent gets every read tool, reads local files, and nothing else"
    assert not {rule(name) for name in WRITE_TOOLS} & set(tools), "the agent must not be able to write"
    assert len(text.splitlines()) <= 150
    assert "untrusted" in text


def test_the_triage_command_hands_its_argument_to_the_orchestra_expert():
    meta, text = front_matter(REPO / ".claude" / "commands" / "orchestra-triage.md")
    assert meta["description"] and meta["argument-hint"]
    assert "orchestra-expert" in text and "$ARGUMENTS" in text and "list_failures" in text
    # The command promises a read-only agent; the agent test above makes that promise true.
    assert "The agent reads only" in text
