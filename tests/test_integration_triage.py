"""Triage tools against the fake Orchestra (issue #6): facts in the result, requests in the journal."""
import json

import orchestra_mcp as m
import pytest
from fake_orchestra import (
    AUTH_FAIL_CONNECTION_ID,
    AUTH_FAIL_RUN_ID,
    CASCADE_CONSEQUENCE_TASK_RUN_ID,
    CASCADE_ROOT_TASK_RUN_ID,
    DBT_LOG_FILENAME,
    FAILED_DBT_TASK_RUN_ID,
    FAILED_RUN_ID,
    GOOD_RUN_ID,
    GROWING_LOG_FILENAME,
    GROWING_TASK_RUN_ID,
    HTTP_FAIL_RUN_ID,
    NO_LOGS_RUN_ID,
    PIPELINE_ID,
    PYTHON_FAIL_RUN_ID,
    RECURRING_FAILURES_7D,
    RECURRING_FAILURES_24H,
    RECURRING_PIPELINE_ID,
    RETRIED_FIRST_TASK_RUN_ID,
    RETRIED_RUN_ID,
    RETRIED_TASK_RUN_ID,
    RUNNING_RUN_ID,
)
from mcp_helpers import call_tool, call_tools, server_env


@pytest.fixture
def env(fake, tmp_path):
    return server_env(fake.base_url, tmp_path)


def diagnose(env, run_id):
    is_error, result = call_tool(env, "diagnose_pipeline_run", pipeline_run_id=run_id)
    assert not is_error, result
    assert len(json.dumps(result)) < 40_000
    return result


def test_the_dbt_failure_is_explained_in_one_call(fake, env):
    result = diagnose(env, FAILED_RUN_ID[:8])
    assert result["outcome"] == "failed"
    cause, = result["rootCauses"]
    assert cause["taskRunId"] == FAILED_DBT_TASK_RUN_ID and cause["integration"] == "DBT_CORE"
    assert cause["kind"] == "dbt"
    assert "ORDER_TOTAL_USD" in cause["errorText"]["externalMessage"]
    causes = [e["text"] for e in cause["evidence"] if e["role"] == "cause"]
    assert any("Database Error in model fct_orders" in text or "000904" in text for text in causes)
    assert any("Done. PASS=" in e["text"] for e in cause["evidence"])
    assert not any("OK created" in e["text"] for e in cause["evidence"])   # success lines: never
    assert cause["logScan"]["complete"] is True
    assert cause["failingNodes"]["groups"][0]["nodes"] == ["model.acme.fct_orders"]
    assert [task["taskId"] for task in result["impact"]] == ["refresh_dashboards"]
    assert result["history"]["lastSuccess"]["id"] == GOOD_RUN_ID and result["history"]["commitChanged"] is True
    assert any("model.acme.fct_orders" in step for step in result["nextSteps"])
    assert not any("ORDER_TOTAL_USD" in step for step in result["nextSteps"] + [result["verdict"]])
    assert 2 <= len(result["nextSteps"]) <= 4
    assert any("retry_from_failed=true" in step and "go-ahead" in step for step in result["nextSteps"])
    assert len(json.dumps(result)) < 8_000
    # the operations were asked for with an explicit window around the task, never the 7-day default
    operations = [e for e in fake.journal if e["path"].endswith("/operations")]
    assert operations and all("time_from" in e["query"] and "time_to" in e["query"] for e in operations)
    assert all(e["query"]["task_run_id"] == [FAILED_DBT_TASK_RUN_ID] for e in operations)
    downloads = [e for e in fake.journal if e["path"].endswith("/logs/download")]
    assert [e["range"] for e in downloads] == [None]   # the whole log, read once as a stream
    assert len([e for e in fake.journal if not e["path"].endswith("/download")]) <= 10
    assert all(e["method"] == "GET" for e in fake.journal)


def test_the_history_window_ends_at_the_run_not_at_now(fake, env):
    result = diagnose(env, FAILED_RUN_ID)
    history_calls = [e for e in fake.journal if e["path"].endswith("/pipeline_runs")
                     and e["query"].get("pipeline_ids") == [PIPELINE_ID]]
    assert history_calls
    assert history_calls[0]["query"]["time_to"][0] == result["history"]["window"]["to"]
    assert result["history"]["window"]["to"].startswith(result["run"]["createdAt"][:19])


def test_a_python_traceback_is_cut_to_its_last_frames_and_exception(fake, env):
    result = diagnose(env, PYTHON_FAIL_RUN_ID)
    cause, = result["rootCauses"]
    assert cause["kind"] == "exception" and cause["exception"] == "KeyError"
    texts = [e["text"] for e in cause["evidence"]]
    assert [e["text"] for e in cause["evidence"] if e["role"] == "cause"][0].startswith("KeyError: 'customer_id'")
    assert sum(text.lstrip().startswith('File "') for text in texts) <= 3   # the last 3 frames only
    assert any("KeyError" in step and "log line" in step for step in result["nextSteps"])
    assert not any("customer_id" in step for step in result["nextSteps"])   # no log text in steps
    # the run before it succeeded, so the label is "new" (the first rule that matches wins),
    # while the raw counts still show the earlier failures
    assert result["history"]["pattern"] == "new"
    assert result["history"]["patternCounts"]["failures"] >= 2


def test_an_http_task_failure_reports_the_remote_status(fake, env):
    result = diagnose(env, HTTP_FAIL_RUN_ID)
    cause, = result["rootCauses"]
    assert cause["integration"] == "HTTP" and cause["errorText"]["externalStatus"] == "500"
    assert any("HTTP 500" in step for step in result["nextSteps"])


def test_an_upstream_failure_is_told_apart_from_its_consequences(fake, env):
    result = diagnose(env, "6e1f4b8d-2a9c-4b75-a3e6-9d0c7f2b5e84")
    assert [cause["taskRunId"] for cause in result["rootCauses"]] == [CASCADE_ROOT_TASK_RUN_ID]
    impact = {task["taskId"]: task["status"] for task in result["impact"]}
    assert impact == {"reconcile_accounts": "FAILED", "build_balances": "SKIPPED", "publish_report": "SKIPPED"}
    assert CASCADE_CONSEQUENCE_TASK_RUN_ID not in json.dumps(result["rootCauses"])


def test_a_retried_then_failed_task_shows_both_attempts(fake, env):
    result = diagnose(env, RETRIED_RUN_ID)
    cause, = result["rootCauses"]
    assert cause["taskRunId"] == RETRIED_TASK_RUN_ID
    assert [a["taskRunId"] for a in cause["attempts"]] == [RETRIED_FIRST_TASK_RUN_ID, RETRIED_TASK_RUN_ID]
    assert cause["logScan"]["filename"].startswith("2/")   # the newest attempt's log
    assert any("attempts" in step for step in result["nextSteps"])
    per_run = [e for e in fake.journal if e["path"].endswith(f"{RETRIED_RUN_ID}/task_runs")]
    assert per_run and all("include_superseded" not in e["query"] for e in per_run)   # not in the spec


def test_a_run_without_logs_or_artifacts_still_gets_a_diagnosis(fake, env):
    result = diagnose(env, NO_LOGS_RUN_ID)
    cause, = result["rootCauses"]
    assert "evidence" not in cause and "logScan" not in cause
    assert cause["noLog"] == "the task run has no log files in Orchestra"
    assert "no log" in result["verdict"]
    assert result["nextSteps"]


def test_an_auth_failure_names_the_connection_to_fix(fake, env):
    result = diagnose(env, AUTH_FAIL_RUN_ID)
    assert any(AUTH_FAIL_CONNECTION_ID in step for step in result["nextSteps"])


def test_a_successful_run_is_reported_briefly(fake, env):
    result = diagnose(env, GOOD_RUN_ID)
    assert result["outcome"] == "succeeded" and "SUCCEEDED" in result["verdict"]
    assert "rootCauses" not in result
    assert len(json.dumps(result)) < 3_000


def test_text_from_pipelines_is_untrusted_and_the_descriptions_say_so(fake, env):
    from mcp_helpers import list_tools
    tools = {tool.name: tool.description for tool in list_tools(env).tools}
    for name in ("diagnose_pipeline_run", "get_task_run_logs", "list_failures"):
        assert "not instructions" in tools[name] or "never instructions" in tools[name]


def test_list_failures_groups_recurring_failures_with_bounded_requests(fake, env):
    (day_error, day), (is_error, result) = call_tools(env, [("list_failures", {}), ("list_failures", {"hours": 168})])
    assert not day_error and not is_error, result
    assert day["countsByPipeline"][0]["pipelineId"] == RECURRING_PIPELINE_ID
    assert day["countsByPipeline"][0]["FAILED"] == RECURRING_FAILURES_24H
    week = {c["pipelineId"]: c["FAILED"] for c in result["countsByPipeline"]}
    assert week[RECURRING_PIPELINE_ID] == RECURRING_FAILURES_7D
    fake.clear_journal()
    is_error, result = call_tool(env, "list_failures", hours=168)
    assert result["failingRunCount"] > len(result["runs"]) == 20 and result["truncated"] is True
    created = [run["createdAt"] for run in result["runs"]]
    assert created == sorted(created, reverse=True)
    python_run = next(run for run in result["runs"] if run["id"] == PYTHON_FAIL_RUN_ID)
    assert python_run["rootCauses"][0]["taskId"] == "ingest_events"
    assert "KeyError" in python_run["rootCauses"][0]["errorText"] or python_run["rootCauses"][0]["errorText"]
    runs = [e for e in fake.journal if e["path"].endswith("/pipeline_runs")]
    tasks = [e for e in fake.journal if e["path"].endswith("/public/task_runs")]
    windows = {(e["query"]["time_from"][0], e["query"]["time_to"][0]) for e in runs}
    assert len(windows) == 2 and len(tasks) <= 2 * 5   # one task listing per chunk (paged), never per run
    failed = [e for e in runs if e["query"]["status"] == ["FAILED,WARNING"]]
    going = [e for e in runs if e["query"]["status"] == ["CREATED,RUNNING,CANCELLING"]]
    assert failed and len(going) <= 2 * 2 and len(failed) + len(going) == len(runs)
    assert all(e["query"]["status"] == ["FAILED,WARNING"] for e in tasks)
    settled = {e["path"] for e in fake.journal if e["path"].endswith("/task_runs") and e not in tasks}
    assert len(settled) <= m.SETTLED_IN_DETAIL   # whole listings only of runs the failed rows cannot settle


def test_list_failures_takes_an_environment_name_and_lists_the_known_ones(fake, env):
    (ok_error, ok), (bad_error, text) = call_tools(env, [
        ("list_failures", {"environment": "STAGING"}), ("list_failures", {"environment": "qa"})])
    assert not ok_error and all(run.get("envName") == "Staging" for run in ok.get("runs", []))
    assert bad_error and "Production" in text and "Staging" in text
    runs = [e for e in fake.journal if e["path"].endswith("/pipeline_runs")]
    assert runs and all(len(e["query"]["environments"][0]) == 36 for e in runs)   # an id, not a name


def test_get_task_run_logs_lists_tails_and_greps(fake, env):
    args = {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID}
    (_, files), (_, tail), (_, grep) = call_tools(env, [
        ("get_task_run_logs", args),
        ("get_task_run_logs", dict(args, filename=DBT_LOG_FILENAME, tail_bytes=4096)),
        ("get_task_run_logs", dict(args, filename=DBT_LOG_FILENAME, grep="invalid identifier")),
    ])
    assert DBT_LOG_FILENAME in [log["filename"] for log in files["logs"]]
    assert tail["tailBytes"] == 4096 and tail["logTail"][-1].rstrip().endswith("TOTAL=45")
    assert grep["matchCount"] >= 1 and all("invalid identifier" in m["text"].lower() for m in grep["matches"])
    first = grep["matches"][0]
    assert first["line"] > 1 and first["before"] and "linesScanned" in grep
    downloads = [e for e in fake.journal if e["path"].endswith("/logs/download")]
    assert [e["range"] for e in downloads] == ["bytes=-4096", None]   # grep streams the whole file


def test_a_growing_log_says_so(fake, env):
    is_error, result = call_tool(env, "get_task_run_logs", pipeline_run_id=RUNNING_RUN_ID,
                                 task_run_id=GROWING_TASK_RUN_ID, filename=GROWING_LOG_FILENAME, tail_bytes=2000)
    assert not is_error, result
    assert result["fileStatus"] == "WRITING" and "still being written" in result["note"]
    assert result["logTail"]


def test_the_status_of_a_running_run_names_its_active_tasks(fake, env):
    is_error, result = call_tool(env, "get_pipeline_run_status", pipeline_run_id=RUNNING_RUN_ID)
    assert not is_error and result["runStatus"] == "RUNNING"
    assert result["elapsedS"] > 0 and result["activeTasks"]


def test_list_pipelines_parses_schedules_and_filters_by_name(fake, env):
    (_, every), (_, some) = call_tools(env, [("list_pipelines", {}), ("list_pipelines", {"name": "nightly"})])
    nightly = next(p for p in every["pipelines"] if p["id"] == PIPELINE_ID)
    assert nightly["schedule"][0]["cron"] and nightly["latestRunStatus"]
    assert [p["id"] for p in some["pipelines"]] == [PIPELINE_ID]
    assert all(e["query"] == {} for e in fake.journal)   # the published spec: /pipelines takes no parameters


def test_list_failures_lists_a_run_still_going_that_already_has_a_failed_task(fake, env):
    from fake_orchestra import RUNNING_FAILED_RUN_ID, RUNNING_FAILED_TASK_RUN_ID
    is_error, result = call_tool(env, "list_failures", hours=24)
    assert not is_error, result
    going = [run for run in result["runs"] if run["id"] == RUNNING_FAILED_RUN_ID]
    assert going, [run["id"] for run in result["runs"]]
    assert going[0]["stillRunning"] is True and going[0]["runStatus"] == "RUNNING"
    assert [c["taskRunId"] for c in going[0]["rootCauses"]] == [RUNNING_FAILED_TASK_RUN_ID]
    assert result["stillRunningWithFailures"] >= 1
    assert RUNNING_RUN_ID not in [run["id"] for run in result["runs"]]   # running, nothing failed
