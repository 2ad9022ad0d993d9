"""Every example tool call in the README, the docs, the agent playbook and the slash command runs.

Each call written as `tool(argument=value, ...)` is run on the sample workspace, as a tools/call to
one `--demo` server (the code path `--demo --call` runs too, without a process per call); a call
written in the shell form `--call TOOL '{...}'` runs through `--demo --call` itself. Each fails on
an error result, and a `grep` example must find something, since the text
promises matches. Placeholders (`...`, a bare argument name) take the sample workspace's values; a call abbreviated
with `...` gets the usual values for the required arguments it leaves out. A
write tool must be refused by --call (that is documented behaviour, not an error).
"""
import ast
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import orchestra_mcp
import pytest
from mcp_helpers import REPO, SERVER_COMMAND, finish, start

# The fewest calls each file must yield, so that the test cannot pass by finding none.
FILES = {"README.md": 2, "docs/orchestra-mcp.md": 12, ".claude/agents/specialists/orchestra-expert.md": 8,
         ".claude/commands/orchestra-triage.md": 1}
CALL_RE = re.compile(r"\b(" + "|".join(orchestra_mcp.TOOLS) + r")\(([^()]*)\)")
SAMPLE = {"pipeline_run_id": "8e808ad7", "task_run_id": orchestra_mcp.SAMPLE_DBT_TASK, "pipeline_id": "nightly_elt",
          "name": "nightly", "cause": "docs example", "wait_seconds": 0, "environment": "Production",
          "hours": 24, "time_from": "24h", "status_filter": "FAILED"}
FILENAMES = {"get_task_run_logs": "1/dbt build", "download_task_artifact": "run_results.json"}


def placeholder(tool, name):
    return FILENAMES[tool] if name == "filename" else SAMPLE.get(name)


def parse_call(tool, text, started_ids):
    """(arguments, note) from an example's argument text; None where it is not a call at all."""
    schema = list(orchestra_mcp.TOOLS[tool]["schema"])
    arguments, position = {}, 0
    for part in [p.strip() for p in re.split(r",(?=(?:[^'\"]*['\"][^'\"]*['\"])*[^'\"]*$)", text) if p.strip()]:
        if part in ("...", "…"):
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        if not value:   # a bare name: the argument in that position, or one the tool takes by that name
            key = name if name in schema else schema[position]
            arguments[key] = placeholder(tool, key)
            position += 1
            continue
        value = value.strip()
        if value in ("...", "…"):
            arguments[name] = placeholder(tool, name)
            continue
        literal = {"true": True, "false": False}.get(value)
        arguments[name] = literal if literal is not None else ast.literal_eval(value)
        if isinstance(arguments[name], str) and arguments[name] in started_ids:
            arguments[name] = SAMPLE["pipeline_run_id"]   # a run the doc's own start example created
    if "..." in text or "…" in text:   # an abbreviated call: the required arguments it leaves out are the usual ones
        for name in orchestra_mcp.TOOLS[tool]["required"]:
            arguments.setdefault(name, placeholder(tool, name))
    return {k: v for k, v in arguments.items() if v is not None}


CLI_RE = re.compile(r"--call (\w+)(?: '([^']*)')?")   # the shell form: --call TOOL '{"argument": value}'


def examples():
    found = []
    for path in FILES:
        text = (REPO / path).read_text(encoding="utf-8")
        started_ids = set(re.findall(r'"pipelineRunId":\s*"([0-9a-f-]{36})"', text))
        calls = [(path, m.group(0), m.group(1), parse_call(m.group(1), m.group(2), started_ids))
                 for m in CALL_RE.finditer(text)]
        calls += [(path, m.group(0), m.group(1), json.loads(m.group(2) or "{}"))
                  for m in CLI_RE.finditer(text) if m.group(1) in orchestra_mcp.TOOLS]
        found += calls
    return found


EXAMPLES = examples()


def run_call(tool, arguments):
    done = subprocess.run([*SERVER_COMMAND, "--demo", "--call", tool, json.dumps(arguments)],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO),
                          env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")})
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("path", list(FILES))
def test_each_file_yields_at_least_its_minimum_of_example_calls(path):
    found = [written for where, written, _, _ in EXAMPLES if where == path]
    assert len(found) >= FILES[path], f"{path}: only {len(found)} example calls found: {found}"


def run_in_one_demo_server(keys):
    """{(tool, arguments JSON): (code, stdout, stderr)} as `--demo --call` would give them (0 and
    the result's JSON, or 1 and the error sentence), from tools/calls sent at once to one `--demo`
    server: each call answered on its own, in parallel, by the same call_tool that --call runs."""
    client = start({"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}, args=("--demo",))
    try:
        client.initialize()
        client.send(*[{"jsonrpc": "2.0", "id": n, "method": "tools/call",
                       "params": {"name": tool, "arguments": json.loads(arguments)}}
                      for n, (tool, arguments) in enumerate(keys)])
        outcomes = {}
        for n, key in enumerate(keys):
            result = client.reply(n, timeout=120)["result"]
            text = result["content"][0]["text"]
            outcomes[key] = (1, "", text) if result["isError"] else (0, text, "")
    finally:
        stderr = finish(client)
    assert client.process.returncode == 0 and "Traceback" not in stderr, stderr[-2000:]
    return outcomes


def test_every_documented_example_call_runs_on_the_sample_workspace():
    unique = {(tool, json.dumps(arguments, sort_keys=True)): (path, written)
              for path, written, tool, arguments in EXAMPLES}
    # --call itself: the calls written in its shell form, and the writes (which it must refuse).
    by_call = {(tool, json.dumps(arguments, sort_keys=True)) for _, written, tool, arguments in EXAMPLES
               if written.startswith("--call") or not orchestra_mcp.TOOLS[tool]["read_only"]}
    with ThreadPoolExecutor(4) as pool:
        outcomes = dict(zip(by_call, pool.map(lambda key: run_call(key[0], json.loads(key[1])), by_call), strict=True))
    outcomes.update(run_in_one_demo_server([key for key in unique if key not in by_call]))
    assert set(outcomes) == set(unique)
    failures = []
    for (tool, arguments), (code, out, err) in outcomes.items():
        path, written = unique[(tool, arguments)]
        if not orchestra_mcp.TOOLS[tool]["read_only"]:
            if code != 2 or "use the MCP tool" not in err:
                failures.append(f"{path}: {written}: a write must be refused by --call ({code}, {err.strip()})")
            continue
        if code != 0:
            failures.append(f"{path}: {written}: {err.strip()}")
        elif "grep" in json.loads(arguments) and not json.loads(out).get("matchCount"):
            failures.append(f"{path}: {written}: the text promises matches, the sample log has none")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("written, expected", [
    ("get_task_run_logs(pipeline_run_id, task_run_id, grep=\"error|fail\")",
     {"pipeline_run_id": "8e808ad7", "task_run_id": orchestra_mcp.SAMPLE_DBT_TASK, "grep": "error|fail"}),
    ("list_task_runs(...)", {}),
    ("download_task_artifact(..., save=true)", {"task_run_id": orchestra_mcp.SAMPLE_DBT_TASK,   # its run: looked up
                                                "filename": "run_results.json", "save": True}),
    ("get_pipeline_run_status(new_run_id, wait_seconds=...)", {"pipeline_run_id": "8e808ad7", "wait_seconds": 0}),
])
def test_the_example_parser_fills_placeholders_from_the_sample(written, expected):
    match = CALL_RE.search(written)
    assert parse_call(match.group(1), match.group(2), set()) == expected
