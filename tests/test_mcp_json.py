""".mcp.json: the project-scope Claude Code configuration for the `orchestra` server.

The configured command is expanded the way Claude Code expands it (`${VAR}` and `${VAR:-default}` in
command, args and env; an unset `${VAR}` stays literal; a default applies only when the variable is unset)
and started from a SUBDIRECTORY of the project, because Claude Code starts servers in the directory where
`claude` was started. It is then driven by the official MCP SDK client.
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

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / ".mcp.json"
LAUNCHER = REPO / "launch-orchestra-mcp.sh"
CANARY_KEY = "orch_canary_mcpjson_7e4c2b9d1a0f"
TOOLS = {
    "list_failures", "diagnose_pipeline_run", "get_pipeline_run_status", "get_pipeline_run_details",
    "list_pipeline_runs", "list_task_runs", "get_task_run_artifacts", "download_task_artifact",
    "get_task_run_logs", "list_pipelines", "trigger_pipeline",
}
PASSED_VARIABLES = {
    "ORCHESTRA_API_BASE_URL": "https://app.getorchestra.io/api/engine/public",
    "ORCHESTRA_READ_ONLY": "0",
    "ORCHESTRA_MCP_LOG_LEVEL": "WARNING",
    "ORCHESTRA_MCP_LOG_FILE": "",
}

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
    assert env == PASSED_VARIABLES, "defaults: production base URL, trigger_pipeline available, WARNING, no log file"
    _, _, env = expanded({"ORCHESTRA_READ_ONLY": "1", "ORCHESTRA_MCP_LOG_FILE": "/tmp/o.log"})
    assert env["ORCHESTRA_READ_ONLY"] == "1" and env["ORCHESTRA_MCP_LOG_FILE"] == "/tmp/o.log"
    # The bash snippet must not contain ${...}: Claude Code would expand it before bash sees it.
    assert "${" not in config["command"] + "".join(config["args"])


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


def client_environment(tmp_path, config_env):
    """What the server process gets: the expanded env block plus what Claude Code's own environment holds."""
    return {
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
    command, args, env = expanded({"ORCHESTRA_MCP_LOG_LEVEL": "DEBUG"})
    with open(tmp_path / "stderr.txt", "w+") as errlog:
        outcome = start_through_the_sdk(command, args, client_environment(tmp_path, env),
                                        project / "models" / "staging", errlog)
        errlog.seek(0)
        stderr = errlog.read()
    seen = json.loads(outcome["tools"][0].description)
    assert seen["keySha256"] == hashlib.sha256(CANARY_KEY.encode()).hexdigest()
    assert seen["ORCHESTRA_MCP_LOG_LEVEL"] == "DEBUG"
    assert seen["ORCHESTRA_READ_ONLY"] == "0"
    assert seen["ORCHESTRA_API_BASE_URL"] == PASSED_VARIABLES["ORCHESTRA_API_BASE_URL"]
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
    claude_environment = {"ORCHESTRA_API_BASE_URL": fake.base_url} if fake else {}
    command, args, env = expanded(claude_environment)
    if fake is None:
        env["ORCHESTRA_API_BASE_URL"] = "http://127.0.0.1:9/api/engine/public"  # never the network in tests
    environment = client_environment(tmp_path, env)
    environment["ORCHESTRA_API_KEY"] = "test-key" if fake else CANARY_KEY   # the fake's DEFAULT_API_KEY
    call = ("list_pipelines", {}) if fake else None
    with open(tmp_path / "stderr.txt", "w+") as errlog:
        outcome = start_through_the_sdk(command, args, environment, REPO / "tests", errlog, call=call)
        errlog.seek(0)
        stderr = errlog.read()
    names = {tool.name for tool in outcome["tools"]}
    assert TOOLS <= names, "missing tools: %s" % sorted(TOOLS - names)
    assert environment["ORCHESTRA_API_KEY"] not in stderr
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


def test_the_orchestra_expert_agent_may_use_every_tool_and_only_read_locally():
    meta, text = front_matter(REPO / ".claude" / "agents" / "specialists" / "orchestra-expert.md")
    assert meta["name"] == "orchestra-expert" and meta["description"]
    tools = {tool.strip() for tool in meta["tools"].split(",")}
    assert tools == {"mcp__orchestra__" + name for name in TOOLS} | {"Read", "Grep", "Glob"}
    assert len(text.splitlines()) <= 150
    assert "untrusted" in text


def test_the_triage_command_hands_its_argument_to_the_orchestra_expert():
    meta, text = front_matter(REPO / ".claude" / "commands" / "orchestra-triage.md")
    assert meta["description"] and meta["argument-hint"]
    assert "orchestra-expert" in text and "$ARGUMENTS" in text and "list_failures" in text
