"""get_pipeline: what a pipeline is and needs before a start (issue #16, section 2).

Against the fake in each of its modes (tests/pipeline_rig.py): inputs, schedules and their next
run, groups, matrix, tasks and recent runs, and that the secrets a pipeline keeps (task
parameters, alerts, webhook and schedule runInputs, a secret input default) never reach a result
or the log. Then, with `responses`: the result stays bounded and says what it cut.
"""
import json
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import requests
import responses
from fake_orchestra import (
    FAILED_RUN_ID,
    PAUSED_PIPELINE_ALIAS,
    PIPELINE_ALIAS,
    PIPELINE_ID,
    PIPELINE_SECRETS,
    TYPED_EXCLUDED_DAYS,
    TYPED_PIPELINE_ALIAS,
    TYPED_PIPELINE_ID,
    TYPED_TIMEZONE,
)
from pipeline_rig import BASE, UUID, call, ok, refused
from pipeline_rig import api_fixture, journal_since_fixture, rig_fixture  # noqa: F401 - fixtures

import orchestra_mcp as m

# ---- get_pipeline against the fake ---------------------------------------------------------------

def test_a_pipeline_shows_its_inputs_schedules_groups_matrix_and_tasks(rig):
    result = ok(rig, "get_pipeline", pipeline_id=TYPED_PIPELINE_ALIAS)
    assert (result["id"], result["alias"], result["paused"]) == (TYPED_PIPELINE_ID, TYPED_PIPELINE_ALIAS, False)
    assert (result["storageProvider"], result["defaultBranch"]) == ("GITHUB", "main")
    inputs = {row["name"]: row for row in result["inputs"]}
    assert list(inputs) == ["target_date", "batch_size", "full_refresh", "regions", "options", "api_token"]
    assert inputs["target_date"] == {"name": "target_date", "type": "string", "optional": False, "required": True}
    assert inputs["batch_size"]["default"] == 500 and inputs["options"]["default"] == {"mode": "append"}
    assert inputs["api_token"]["default"] == "***"   # a secret-looking name: its default is masked
    assert result["requiredInputs"] == ["target_date"]
    assert result["groups"] == [{"id": "exports", "name": "Regional exports", "dependsOn": ["prepare_export"],
                                 "taskCount": 1, "matrix": {"inputs": {"region": ["eu", "us", "apac"]},
                                                            "maxParallel": 2, "continueOnError": False}}]
    assert [(t["id"], t.get("group"), t.get("dependsOn")) for t in result["tasks"]] == [
        ("prepare_export", None, None), ("export_region", "exports", None), ("publish_export", None, ["exports"])]
    assert result["tasks"][0]["integration"] == "PYTHON" and result["taskCount"] == 3
    assert "latestRun" not in result and result["recentRuns"]["total"] == 0   # it never ran
    by_id = ok(rig, "get_pipeline", pipeline_id=TYPED_PIPELINE_ID.upper())
    assert (by_id["inputs"], by_id["tasks"], by_id["schedule"]) == (result["inputs"], result["tasks"], result["schedule"])


def test_the_next_run_skips_excluded_dates_and_an_l_expression_gets_a_note_instead(rig):
    daily, month_end = ok(rig, "get_pipeline", pipeline_id=TYPED_PIPELINE_ALIAS)["schedule"]
    excluded = rig[1].workspace.pipelines_by_alias[TYPED_PIPELINE_ALIAS].schedule[0]["exclude"]
    assert daily["exclude"] == excluded and len(excluded) == TYPED_EXCLUDED_DAYS
    # Excluded: the fake's local date and the next two, so the next run is 06:00 local on the day after.
    day = date.fromisoformat(excluded[-1]) + timedelta(days=1)
    expected = datetime.combine(day, time(6), ZoneInfo(TYPED_TIMEZONE)).astimezone(timezone.utc)
    assert (daily["cron"], daily["timezone"]) == ("0 6 * * ? *", TYPED_TIMEZONE)
    assert daily["nextRunAt"] == expected.isoformat()
    assert month_end["cron"] == "0 23 L * ? *" and "nextRunAt" not in month_end
    assert "not supported" in month_end["nextRunAtNote"]
    assert set(daily) == {"name", "cron", "timezone", "exclude", "nextRunAt"}   # never the runInputs


def test_a_paused_pipeline_has_no_next_run_and_a_pipeline_shows_its_recent_runs(rig):
    paused = ok(rig, "get_pipeline", pipeline_id=PAUSED_PIPELINE_ALIAS)
    assert paused["paused"] is True and "nextRunAt" not in paused["schedule"][0]
    assert paused["schedule"][0]["nextRunAtNote"] == "the pipeline is paused"
    nightly = ok(rig, "get_pipeline", pipeline_id=PIPELINE_ALIAS)
    assert nightly["latestRun"]["id"] == FAILED_RUN_ID and nightly["latestRun"]["runStatus"] == "FAILED"
    runs = nightly["recentRuns"]["runs"]
    assert runs[0]["id"] == FAILED_RUN_ID and len(runs) <= m.RECENT_RUNS   # newest first, whatever the order served
    assert [r["createdAt"] for r in runs] == sorted((r["createdAt"] for r in runs), reverse=True)
    assert nightly["recentRuns"]["countsByStatus"]["FAILED"] >= 1
    assert nightly["schedule"][0]["nextRunAt"].endswith("T02:00:00+00:00")


def test_no_secret_a_pipeline_keeps_reaches_any_result(rig, journal_since):
    texts = [json.dumps(ok(rig, "get_pipeline", pipeline_id=TYPED_PIPELINE_ALIAS)),
             json.dumps(ok(rig, "list_pipelines")), json.dumps(ok(rig, "list_pipelines", name="typed")),
             refused(rig, pipeline_id=TYPED_PIPELINE_ALIAS, task_ids=["nope"])]
    leaked = [secret for secret in PIPELINE_SECRETS for text in texts if secret in text]
    assert leaked == []
    # The fake did serve every one of them, so this test cannot pass by finding none.
    served = {e["path"].split("/public", 1)[1] for e in journal_since()}
    assert {"/pipeline", "/pipelines/data", "/pipelines"} <= served
    fake, headers = rig[1], {"Authorization": "Bearer test-key"}
    raw = requests.get(fake.base_url + "/pipeline", params={"alias": TYPED_PIPELINE_ALIAS}, headers=headers,
                       timeout=10).text + requests.get(fake.base_url + "/pipelines/data",
                                                       params={"alias": TYPED_PIPELINE_ALIAS},
                                                       headers=headers, timeout=10).text
    assert all(secret in raw for secret in PIPELINE_SECRETS)


def test_an_unknown_pipeline_is_not_found_and_an_unreadable_definition_is_a_note(rig):
    is_error, text = call(rig, "get_pipeline", pipeline_id="no_such_pipeline")
    assert is_error and "no_such_pipeline" in text and "not found" in text
    rig[1].add_fault(match={"method": "GET", "path": "/pipelines/data"}, count=10, action="status", status=500)
    try:
        result = ok(rig, "get_pipeline", pipeline_id=PIPELINE_ID)
    finally:
        rig[1].clear_faults()
    assert result["id"] == PIPELINE_ID and "tasks" not in result and "taskCount" not in result
    assert any(note.startswith("tasks unknown") for note in result["notes"])


# ---- with responses: bounds

def test_a_huge_pipeline_is_cut_to_fit_and_says_what_was_cut(api):
    api.add(responses.GET, f"{BASE}/pipeline", json={"id": UUID, "name": "Huge", "alias": "huge", "paused": False})
    tasks = {f"task_{n:04d}_" + "x" * 90: {"integration": "PYTHON", "integrationJob": "PYTHON_EXECUTE_SCRIPT",
                                            "name": "n" * 100, "parameters": {"token": "canary-huge"},
                                            "dependsOn": [f"task_{n - 1:04d}"]} for n in range(2000)}
    groups = {f"group_{n}": {"tasks": {f"g{n}_t": {"integration": "DBT", "integrationJob": "DBT_RUNJOB",
                                                   "parameters": {}}}, "name": "g" * 100} for n in range(200)}
    api.add(responses.GET, f"{BASE}/pipelines/data", json={"version": "v1", "name": "Huge",
                                                            "pipeline": {**groups, **tasks}})
    result = m.call_tool("get_pipeline", {"pipeline_id": "huge"})
    text = result["content"][0]["text"]
    payload = json.loads(text)
    assert not result["isError"] and len(text) <= m.MAX_RESULT_CHARS and "partial" not in payload
    assert payload["truncated"] is True and payload["taskCount"] == 2200
    assert payload["omittedForSize"] == 2200 + 200 - len(payload.get("tasks", [])) - len(payload.get("groups", []))
    assert "get_pipeline_run_details" in payload["hint"] and "canary-huge" not in text


def test_an_answer_for_another_pipeline_is_not_used(api):
    api.add(responses.GET, f"{BASE}/pipeline", json={"id": PIPELINE_ID, "alias": "other"})
    for tool in ("get_pipeline", "trigger_pipeline"):
        result = m.call_tool(tool, {"pipeline_id": UUID})
        assert result["isError"] and "no matching pipeline id" in result["content"][0]["text"]
    assert not [c for c in api.calls if c.request.method == "POST"]
