"""No secret of tests/secret_corpus.py leaves the server (issue #15): the fake plants the whole
corpus in SECRETS_RUN_ID (logs, messages, external messages, artifacts, parameters, operations);
every tool is called on it, and its results, error texts, stderr and the log file are searched
for every secret (and its first 8 characters, in plain and JSON-escaped form). Ordinary lines
come back unchanged; a save=true file stays a byte-exact copy and its result says so."""
import json
import os

import fake_orchestra as fo
import pytest
from mcp_helpers import REPO, server_env
from secret_corpus import NEGATIVE, POSITIVE, SECRETS

from orchestra_mcp import LineClient

RUN, PY, DBT = fo.SECRETS_RUN_ID, fo.SECRETS_PYTHON_TASK_RUN_ID, fo.SECRETS_DBT_TASK_RUN_ID
CALLS = [
    ("diagnose_pipeline_run", {"pipeline_run_id": RUN}),
    ("get_pipeline_run_status", {"pipeline_run_id": RUN}),
    ("get_pipeline_run_details", {"pipeline_run_id": RUN, "include_superseded": True}),
    ("list_task_runs", {"pipeline_run_id": RUN}),
    ("list_task_runs", {"time_from": "7d", "status_filter": "FAILED", "limit": 100}),
    ("list_failures", {"hours": 168}),
    ("list_pipeline_runs", {"time_from": "7d", "status_filter": "FAILED"}),
    ("get_task_run_artifacts", {"pipeline_run_id": RUN, "task_run_id": DBT}),
    ("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": PY}),
    ("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": PY, "filename": "1/run_script",
                           "tail_bytes": 30000}),
    ("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": DBT,
                           "filename": fo.DBT_LOG_FILENAME, "tail_bytes": 30000}),
    ("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": PY, "grep": "a|e|i|o|u"}),
    ("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": DBT, "grep": "key|pass|token"}),
    ("download_task_artifact", {"pipeline_run_id": RUN, "task_run_id": DBT,
                                "filename": fo.SECRETS_TEXT_ARTIFACT, "max_bytes": 28000}),
    ("download_task_artifact", {"pipeline_run_id": RUN, "task_run_id": DBT,
                                "filename": "run_results.json", "max_bytes": 28000}),
]


def leaked(text):
    """Secrets (or their first 8 characters) found in text, raw or JSON-escaped once or twice."""
    found = []
    for secret in SECRETS:
        once = json.dumps(secret)[1:-1]
        forms = {secret[:8], once[:8], json.dumps(once)[1:-1][:8]}
        if any(form in text for form in forms):
            found.append(secret)
    return found


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    home = tmp_path_factory.mktemp("secrets")
    log_file = home / "server.log"
    fake = fo.FakeOrchestra(run_seconds=600).start()
    server = LineClient(env=server_env(fake.base_url, home, ORCHESTRA_MCP_LOG_LEVEL="DEBUG",
                                       ORCHESTRA_MCP_LOG_FILE=str(log_file),
                                       ORCHESTRA_MCP_DEADLINE_S="60"), cwd=str(REPO))
    results = []
    try:
        server.initialize()
        for name, arguments in CALLS:
            results.append((name, arguments, *server.call(name, timeout=90, **arguments)))
        fake.add_fault(match={"method": "GET", "path": f"/pipeline_runs/{RUN}/status"}, count=1,
                       action="status", status=400,
                       body={"detail": "bad request: " + " | ".join(t for _, t, _ in POSITIVE)})
        results.append(("error text", {}, *server.call("get_pipeline_run_status",
                                                       pipeline_run_id=RUN)))
        saved = server.call("download_task_artifact", pipeline_run_id=RUN, task_run_id=DBT,
                            filename=fo.SECRETS_TEXT_ARTIFACT, save=True)
        original = fake.artifact_bytes(RUN, DBT, fo.SECRETS_TEXT_ARTIFACT) if hasattr(
            fake, "artifact_bytes") else None
    finally:
        stderr = server.close()
        fake.stop()
    return {"results": results, "stderr": stderr, "log": log_file.read_text(), "saved": saved,
            "original": original}


@pytest.mark.parametrize("index", range(len(CALLS) + 1))
def test_no_tool_result_or_error_text_carries_a_secret(answers, index):
    name, arguments, is_error, payload = answers["results"][index]
    text = payload if isinstance(payload, str) else json.dumps(payload)
    if name == "error text":
        assert is_error and "bad request" in text
    else:
        assert not is_error, (name, text[:500])
    assert leaked(text) == [], (name, arguments)


def test_stderr_and_the_log_file_carry_no_secret(answers):
    assert "Traceback" not in answers["stderr"]
    assert answers["log"] and leaked(answers["log"]) == []
    assert leaked(answers["stderr"]) == []


def test_ordinary_lines_come_back_unchanged(answers):
    tails = [p for n, a, e, p in answers["results"] if n == "get_task_run_logs" and "logTail" in p]
    shown = "\n".join(line for p in tails for line in p["logTail"])
    missing = [line for line in NEGATIVE if line.strip() and line not in shown]
    assert missing == [], missing


def test_a_saved_file_is_a_byte_exact_copy_and_its_result_says_it_is_unmasked(answers):
    is_error, result = answers["saved"]
    assert not is_error, result
    assert "may contain secrets" in result["secrets"]
    data = open(result["savedTo"], "rb").read()   # the user's own file: nothing was masked in it
    assert any(secret.encode() in data for secret in SECRETS)
    assert result["size"] == len(data) and os.stat(result["savedTo"]).st_mode & 0o777 == 0o600
