"""Tests of the fake Orchestra API itself: every rule the integration tests rely on."""

import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from conftest import NON_ENTERPRISE_KEY

import fake_orchestra as fo
from fake_orchestra import FakeOrchestra

AUTH = {"Authorization": "Bearer test-key"}
MIB = 1024 * 1024

RUN_FIELDS = {
    "id", "pipelineId", "pipelineName", "accountId", "envId", "envName", "runStatus", "hasAnomalies",
    "anomalies", "triggeredBy", "childPipelineRuns", "message", "pipelineVersionNumber", "createdAt",
    "updatedAt", "completedAt", "startedAt", "branch", "commit", "gitLink",
}
TASK_RUN_FIELDS = {
    "id", "pipelineRunId", "taskName", "taskId", "accountId", "pipelineId", "integration",
    "integrationJob", "status", "message", "externalStatus", "externalMessage", "taskParameters",
    "runParameters", "connectionId", "computeResourceId", "platformLink", "numberOfAttempts",
    "attemptNumber", "matrixParent", "matrixParentId", "dependsOn", "createdAt",
    "updatedAt", "startedAt", "completedAt",
}
PIPELINE_FIELDS = {
    "id", "name", "alias", "numTasks", "yamlPath", "paused", "createdAt", "updatedAt", "schedule",
    "sensors", "webhook", "triggerEvents", "inputs", "productId", "productName",
    "latestVersionNumber", "publishedVersionNumber", "storageProvider", "repository",
    "defaultBranch", "latestRunId", "latestRunStatus", "latestRunMessage", "latestRunCreatedAt",
    "latestRunStartedAt", "latestRunCompletedAt",
}


def get(fake, path, headers=AUTH, **params):
    return requests.get(fake.base_url + path, params=params, headers=headers, timeout=10)


def post(fake, path, body=None, headers=AUTH, **kwargs):
    return requests.post(fake.base_url + path, json=body, headers=headers, timeout=10, **kwargs)


def window(fake, days=None, hours=None, ago=timedelta(0)):
    """``time_from``/``time_to`` strings (Z form) ending ``ago`` before the fake's clock."""
    end = fake.now() - ago
    start = end - timedelta(days=days or 0, hours=hours or 0)
    return {"time_from": start.isoformat().replace("+00:00", "Z"),
            "time_to": end.isoformat().replace("+00:00", "Z")}


def all_rows(fake, path, **params):
    rows, page = [], 1
    while True:
        body = get(fake, path, page=page, page_size=100, **params).json()
        if not body["results"]:
            return rows, body["total"]
        rows += body["results"]
        page += 1


def log_url(run_id, task_run_id, what="logs"):
    return f"/pipeline_runs/{run_id}/task_runs/{task_run_id}/{what}"


# -- authentication and routing -----------------------------------------------------------------

def test_a_request_without_a_key_is_rejected_with_401(fake):
    response = get(fake, "/pipeline_runs", headers={})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_a_wrong_key_is_rejected_with_401(fake):
    for header in ("Bearer wrong-key", "Basic test-key", "Bearer"):
        response = get(fake, "/environments", headers={"Authorization": header})
        assert response.status_code == 401
        assert isinstance(response.json()["detail"], str)


def test_a_non_enterprise_key_is_rejected_with_403_and_a_plan_message(fake):
    response = get(fake, "/pipeline_runs", headers={"Authorization": f"Bearer {NON_ENTERPRISE_KEY}"})
    assert response.status_code == 403
    assert "enterprise" in response.json()["detail"].lower()


def test_an_unknown_path_is_a_404_not_found_even_before_auth(fake):
    for path in ("/nope", f"/pipeline_runs/{fo.FAILED_RUN_ID}", "/pipelines/nightly_elt"):
        response = get(fake, path, headers={})
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
    outside = requests.get(f"http://127.0.0.1:{fake.port}/api/engine/openapi.json", timeout=5)
    assert outside.status_code == 404


def test_a_wrong_method_on_a_known_path_is_a_405(fake):
    response = requests.post(fake.base_url + "/pipeline_runs", headers=AUTH, timeout=5)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


# -- validation (422) -----------------------------------------------------------------------------

def test_a_malformed_run_id_in_the_path_is_a_422_naming_the_path_parameter(fake):
    response = get(fake, "/pipeline_runs/8e808ad7/status")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["path", "pipeline_run_id"]
    assert error["type"] == "uuid_parsing"
    assert error["input"] == "8e808ad7"
    assert error["msg"]


def test_a_uuid_that_is_not_version_4_is_a_422(fake):
    response = get(fake, "/pipeline_runs/00000000-0000-0000-0000-000000000000/status")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "uuid_version"


@pytest.mark.parametrize("name, value, kind", [
    ("page_size", "101", "less_than_equal"),
    ("page_size", "0", "greater_than_equal"),
    ("page", "0", "greater_than_equal"),
    ("page", "two", "int_parsing"),
])
def test_out_of_range_paging_is_a_422_naming_the_query_parameter(fake, name, value, kind):
    response = get(fake, "/pipeline_runs", **{name: value})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", name]
    assert error["type"] == kind
    assert error["input"] == value


def test_every_validation_error_is_reported_at_once(fake):
    response = get(fake, "/task_runs", page=0, page_size=500, include_superseded="maybe")
    locs = [error["loc"] for error in response.json()["detail"]]
    assert response.status_code == 422
    assert locs == [["query", "include_superseded"], ["query", "page"], ["query", "page_size"]]


def test_an_extra_body_key_on_start_is_a_422_extra_forbidden(fake):
    response = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"cause": "nightly rerun"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{
        "type": "extra_forbidden", "loc": ["body", "cause"], "msg": "Extra inputs are not permitted",
        "input": "nightly rerun"}]


def test_invalid_json_or_wrong_types_on_start_are_a_422(fake):
    broken = requests.post(fake.base_url + f"/pipelines/{fo.PIPELINE_ALIAS}/start", data=b'{"branch":',
                           headers={**AUTH, "Content-Type": "application/json"}, timeout=5)
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    typed = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"taskIds": "transform_core"})
    assert typed.status_code == 422
    assert typed.json()["detail"][0]["loc"] == ["body", "taskIds"]


def test_unknown_query_parameters_are_silently_ignored(fake):
    plain = get(fake, "/pipeline_runs").json()
    ignored = get(fake, "/pipeline_runs", limit=5, offset=10, per_page=5, cursor="x").json()
    assert ignored["pageSize"] == 50 and len(ignored["results"]) == 50
    assert ignored["total"] == plain["total"]
    assert [r["id"] for r in ignored["results"]] == [r["id"] for r in plain["results"]]


def test_task_runs_cannot_be_filtered_by_pipeline_run(fake):
    body = get(fake, "/task_runs", pipeline_run_id=fo.HTTP_FAIL_RUN_ID,
               pipeline_run_ids=fo.HTTP_FAIL_RUN_ID).json()
    assert body["total"] > 10
    assert {row["pipelineRunId"] for row in body["results"]} - {fo.HTTP_FAIL_RUN_ID}


# -- time windows ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bound", ["time_from", "time_to"])
def test_a_one_sided_window_is_rejected(fake, bound):
    response = get(fake, "/pipeline_runs", **{bound: window(fake, days=1)[bound]})
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)


def test_a_window_of_seven_days_is_rejected_but_one_second_less_is_accepted(fake):
    end = fake.now().replace(microsecond=0)
    for path in ("/pipeline_runs", "/task_runs", "/operations"):
        too_long = get(fake, path, time_from=(end - timedelta(days=7)).isoformat(), time_to=end.isoformat())
        assert too_long.status_code == 400
        just_under = get(fake, path, time_from=(end - timedelta(days=7, seconds=-1)).isoformat(),
                         time_to=end.isoformat())
        assert just_under.status_code == 200


def test_a_reversed_or_empty_window_is_rejected(fake):
    end = fake.now()
    assert get(fake, "/pipeline_runs", time_from=end.isoformat(), time_to=end.isoformat()).status_code == 400
    reversed_window = get(fake, "/task_runs", time_from=end.isoformat(),
                          time_to=(end - timedelta(hours=1)).isoformat())
    assert reversed_window.status_code == 400


def test_an_unparseable_time_is_a_422(fake):
    for text in ("yesterday", "2026-13-40T00:00:00Z", "2026-11-23T02:00:00 00:00", ""):
        response = get(fake, "/pipeline_runs", time_from=text, time_to=fake.now().isoformat())
        assert response.status_code == 422, text
        assert response.json()["detail"][0]["loc"] == ["query", "time_from"]


def test_z_offsets_naive_and_fractional_times_mean_the_same_window(fake):
    end = fake.now().replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=2)
    naive = {"time_from": start.replace(tzinfo=None).isoformat(), "time_to": end.replace(tzinfo=None).isoformat()}
    zulu = {"time_from": start.isoformat().replace("+00:00", "Z"), "time_to": end.isoformat().replace("+00:00", "Z")}
    plus_two = {"time_from": (start + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00",
                "time_to": (end + timedelta(hours=2)).replace(tzinfo=None).isoformat() + ".000000+02:00"}
    fractional = {"time_from": start.replace(tzinfo=None).isoformat() + ".0Z",
                  "time_to": end.replace(tzinfo=None).isoformat() + ".000+00:00"}
    totals = {get(fake, "/pipeline_runs", **params).json()["total"] for params in (naive, zulu, plus_two, fractional)}
    assert len(totals) == 1


def test_the_default_window_is_seven_days_for_runs_and_24_hours_for_task_runs(fake):
    nightly, _ = all_rows(fake, "/pipeline_runs", pipeline_ids=fo.PIPELINE_ID)
    week_ago = fo.to_us(fake.now() - timedelta(days=7))
    assert 6 <= len(nightly) <= 7 and all(fo.parse_datetime(r["createdAt"]) >= week_ago for r in nightly)
    older, _ = all_rows(fake, "/pipeline_runs", pipeline_ids=fo.PIPELINE_ID, **window(fake, days=6, ago=timedelta(days=8)))
    assert len(older) == 6 and not {r["id"] for r in older} & {r["id"] for r in nightly}
    oldest_task, _ = all_rows(fake, "/task_runs", status="FAILED,SKIPPED,SUCCEEDED,WARNING,CANCELLED,RUNNING,QUEUED")
    earliest = min(fo.parse_datetime(row["createdAt"]) for row in oldest_task)
    assert fo.to_us(fake.now()) - earliest <= 24 * 3600 * 10**6
    recent_failures = get(fake, "/pipeline_runs", status="FAILED",
                          pipeline_ids=fo.RECURRING_PIPELINE_ID).json()["total"]
    assert recent_failures == fo.RECURRING_FAILURES_7D


def test_a_bad_status_value_is_a_400(fake):
    for path in ("/pipeline_runs", "/task_runs"):
        response = get(fake, path, status="FAILED,PipelineRunStatus.FAILED")
        assert response.status_code == 400
        assert "PipelineRunStatus.FAILED" in response.json()["detail"]
    assert get(fake, "/pipeline_runs", status="SKIPPED,CANCELLING").status_code == 200
    assert get(fake, "/task_runs", status="QUEUED").status_code == 200


# -- pagination and filters --------------------------------------------------------------------------

def test_pages_form_an_envelope_whose_total_covers_every_page_newest_first(fake):
    params = window(fake, days=3)
    first = get(fake, "/pipeline_runs", page_size=37, **params).json()
    assert set(first) == {"page", "pageSize", "total", "results"}
    assert first["page"] == 1 and first["pageSize"] == 37 and first["total"] > 100
    rows, total = all_rows(fake, "/pipeline_runs", **params)
    assert total == first["total"] == len(rows) == len({row["id"] for row in rows})
    created = [fo.parse_datetime(row["createdAt"]) for row in rows]
    assert created == sorted(created, reverse=True)
    beyond = get(fake, "/pipeline_runs", page=999, **params).json()
    assert beyond["results"] == [] and beyond["total"] == total and beyond["page"] == 999


def test_runs_filter_by_status_pipeline_environment_and_ids(fake):
    failing = get(fake, "/pipeline_runs", status="FAILED,WARNING", page_size=100).json()["results"]
    assert failing and {row["runStatus"] for row in failing} <= {"FAILED", "WARNING"}
    nightly = get(fake, "/pipeline_runs", pipeline_ids=fo.PIPELINE_ID).json()["results"]
    assert {row["pipelineId"] for row in nightly} == {fo.PIPELINE_ID}
    assert nightly[0]["id"] == fo.FAILED_RUN_ID
    staging = get(fake, "/pipeline_runs", environments=fo.ENV_STAGING_ID).json()["results"]
    assert staging and {row["envName"] for row in staging} == {"Staging"}
    both = get(fake, "/pipeline_runs", pipeline_run_ids=f"{fo.GOOD_RUN_ID},{fo.FAILED_RUN_ID}").json()
    assert [row["id"] for row in both["results"]] == [fo.FAILED_RUN_ID, fo.GOOD_RUN_ID]


def test_the_generated_volume_spans_30_days_five_pipelines_and_three_environments(fake):
    seen, total = {}, 0
    for weeks_back in range(5):
        rows, count = all_rows(fake, "/pipeline_runs", **window(fake, days=6.5, ago=timedelta(days=6.5 * weeks_back)))
        total += count
        for row in rows:
            seen.setdefault("pipelines", set()).add(row["pipelineId"])
            seen.setdefault("environments", set()).add(row["envId"])
            seen.setdefault("statuses", set()).add(row["runStatus"])
    assert total >= 1500
    assert len(seen["pipelines"]) >= 5
    assert seen["environments"] == {fo.ENV_PROD_ID, fo.ENV_STAGING_ID, fo.ENV_DEV_ID}
    assert {"SUCCEEDED", "FAILED", "WARNING", "CANCELLED", "SKIPPED", "RUNNING"} <= seen["statuses"]


# -- the sample workspace --------------------------------------------------------------------------

def test_the_status_endpoint_returns_the_full_run_object_like_the_list(fake):
    status = get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/status").json()
    listed = get(fake, "/pipeline_runs", pipeline_run_ids=fo.FAILED_RUN_ID).json()["results"][0]
    assert status == listed
    assert set(status) == RUN_FIELDS


def test_an_unknown_run_status_is_a_404(fake):
    response = get(fake, "/pipeline_runs/0f0e0d0c-0b0a-4908-8706-050403020100/status")
    assert response.status_code == 404
    assert response.json() == {"detail": "Pipeline run not found"}


def test_the_failed_nightly_run_is_last_night_at_two_and_follows_a_success_on_another_commit(fake):
    failed = get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/status").json()
    good = get(fake, f"/pipeline_runs/{fo.GOOD_RUN_ID}/status").json()
    assert failed["runStatus"] == "FAILED" and good["runStatus"] == "SUCCEEDED"
    assert failed["message"] == "Pipeline failed - a task is in failed state."
    assert failed["createdAt"].endswith("T02:00:00.412337+00:00")
    age_hours = (fo.to_us(fake.now()) - fo.parse_datetime(failed["createdAt"])) / 3.6e9
    assert 1 <= age_hours <= 25
    assert good["createdAt"][11:16] == "02:00" and good["createdAt"] < failed["createdAt"]
    assert good["commit"] != failed["commit"] == fo.FAILED_COMMIT


def test_the_failed_run_has_an_extract_a_failed_dbt_task_and_a_skipped_refresh(fake):
    rows = get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/task_runs").json()["results"]
    assert [(r["id"], r["status"]) for r in rows] == [
        (fo.EXTRACT_TASK_RUN_ID, "SUCCEEDED"), (fo.FAILED_DBT_TASK_RUN_ID, "FAILED"),
        (fo.SKIPPED_TASK_RUN_ID, "SKIPPED")]
    dbt = rows[1]
    assert set(dbt) == TASK_RUN_FIELDS
    assert dbt["integration"] == "DBT_CORE" and dbt["integrationJob"] == "DBT_CORE_EXECUTE"
    assert "invalid identifier 'ORDER_TOTAL_USD'" in dbt["externalMessage"]
    assert "fct_orders" in dbt["externalMessage"] and dbt["dependsOn"] == ["extract_orders"]
    assert rows[2]["dependsOn"] == ["transform_core"]


def test_only_the_failed_run_starts_with_its_prefix_and_two_runs_share_the_ambiguous_one(fake):
    rows, _ = all_rows(fake, "/pipeline_runs")
    assert [r["id"] for r in rows if r["id"].startswith("8e808ad7")] == [fo.FAILED_RUN_ID]
    shared = [r for r in rows if r["id"].startswith(fo.AMBIGUOUS_PREFIX)]
    assert sorted(r["id"] for r in shared) == sorted(fo.AMBIGUOUS_RUN_IDS)
    assert len({r["pipelineId"] for r in shared}) == 2
    task_rows, _ = all_rows(fake, "/task_runs")
    assert not [r for r in task_rows if r["id"][:8] in ("8e808ad7", fo.AMBIGUOUS_PREFIX)]


def test_the_triage_scenarios_have_their_documented_shapes(fake):
    def task(run_id):
        return {r["taskId"]: r for r in get(fake, f"/pipeline_runs/{run_id}/task_runs").json()["results"]}

    python = task(fo.PYTHON_FAIL_RUN_ID)["ingest_events"]
    assert (python["id"], python["integration"], python["integrationJob"]) == (
        fo.PYTHON_FAIL_TASK_RUN_ID, "PYTHON", "PYTHON_EXECUTE_SCRIPT")
    http = task(fo.HTTP_FAIL_RUN_ID)["fetch_partner_orders"]
    assert http["integrationJob"] == "HTTP_REQUEST" and http["externalStatus"] == "500"
    assert "error" in json.loads(http["externalMessage"])
    cascade = task(fo.CASCADE_RUN_ID)
    assert {k: v["status"] for k, v in cascade.items()} == {
        "load_ledger": "FAILED", "build_balances": "SKIPPED", "publish_report": "SKIPPED",
        "reconcile_accounts": "FAILED"}
    assert cascade["load_ledger"]["dependsOn"] == [] and cascade["reconcile_accounts"]["dependsOn"] == ["load_ledger"]
    assert "upstream" in cascade["reconcile_accounts"]["message"].lower()
    auth = task(fo.AUTH_FAIL_RUN_ID)["load_spend"]
    assert "Incorrect username or password was specified." in auth["externalMessage"]
    assert auth["connectionId"] == fo.AUTH_FAIL_CONNECTION_ID
    statuses = {run_id: get(fake, f"/pipeline_runs/{run_id}/status").json()["runStatus"]
                for run_id in (fo.WARNING_RUN_ID, fo.CANCELLED_RUN_ID, fo.SKIPPED_RUN_ID, fo.RUNNING_RUN_ID)}
    assert list(statuses.values()) == ["WARNING", "CANCELLED", "SKIPPED", "RUNNING"]


def test_the_python_failure_recurs_four_times_in_24_hours(fake):
    last_day = get(fake, "/pipeline_runs", status="FAILED", pipeline_ids=fo.RECURRING_PIPELINE_ID,
                   **window(fake, hours=24)).json()
    assert last_day["total"] == fo.RECURRING_FAILURES_24H
    assert last_day["results"][0]["id"] == fo.PYTHON_FAIL_RUN_ID
    tasks = get(fake, "/task_runs", status="FAILED", pipeline_ids=fo.RECURRING_PIPELINE_ID).json()
    assert tasks["total"] == fo.RECURRING_FAILURES_24H


# -- task runs ----------------------------------------------------------------------------------------

def test_per_run_task_runs_default_to_ten_per_page_and_cap_at_fifty(fake):
    assert get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/task_runs").json()["pageSize"] == 10
    assert get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/task_runs", page_size=50).status_code == 200
    too_big = get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/task_runs", page_size=51)
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["loc"] == ["query", "page_size"]
    one = get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/task_runs", page_size=1, page=2).json()
    assert one["total"] == 3 and [r["id"] for r in one["results"]] == [fo.FAILED_DBT_TASK_RUN_ID]


def test_superseded_attempts_are_hidden_unless_asked_for(fake):
    path = f"/pipeline_runs/{fo.RETRIED_RUN_ID}/task_runs"
    visible = [r["id"] for r in get(fake, path).json()["results"]]
    assert fo.RETRIED_TASK_RUN_ID in visible and fo.RETRIED_FIRST_TASK_RUN_ID not in visible
    every = {r["id"]: r for r in get(fake, path, include_superseded="true").json()["results"]}
    first, final = every[fo.RETRIED_FIRST_TASK_RUN_ID], every[fo.RETRIED_TASK_RUN_ID]
    assert (first["attemptNumber"], final["attemptNumber"]) == (1, 2)
    assert first["taskId"] == final["taskId"] and final["status"] == "FAILED"
    ids = f"{fo.RETRIED_FIRST_TASK_RUN_ID},{fo.RETRIED_TASK_RUN_ID}"
    listed = get(fake, "/task_runs", task_run_ids=ids).json()["results"]
    assert [r["id"] for r in listed] == [fo.RETRIED_TASK_RUN_ID]
    listed = get(fake, "/task_runs", task_run_ids=ids, include_superseded="true").json()["results"]
    assert {r["id"] for r in listed} == {fo.RETRIED_TASK_RUN_ID, fo.RETRIED_FIRST_TASK_RUN_ID}
    logs = get(fake, log_url(fo.RETRIED_RUN_ID, fo.RETRIED_TASK_RUN_ID)).json()
    assert logs["filenames"] == ["1/run_script", "2/run_script"]
    assert logs["files"]["2/run_script"]["attemptNumber"] == 2


def test_task_runs_filter_by_integration_status_and_pipeline(fake):
    rows = get(fake, "/task_runs", integration="HTTP,PYTHON", status="FAILED", page_size=100).json()["results"]
    assert rows and {r["integration"] for r in rows} <= {"HTTP", "PYTHON"}
    assert {r["status"] for r in rows} == {"FAILED"}
    assert fo.HTTP_FAIL_TASK_RUN_ID in {r["id"] for r in rows}
    nightly = get(fake, "/task_runs", pipeline_ids=fo.PIPELINE_ID, **window(fake, days=3)).json()
    assert {r["pipelineId"] for r in nightly["results"]} == {fo.PIPELINE_ID}


# -- operations and environments ---------------------------------------------------------------------

def test_operations_can_be_listed_by_task_run(fake):
    body = get(fake, "/operations", task_run_id=fo.FAILED_DBT_TASK_RUN_ID).json()
    assert {op["id"] for op in body["results"]} == set(fo.OPERATION_IDS)
    failed = get(fake, "/operations", task_run_id=fo.FAILED_DBT_TASK_RUN_ID, status="FAILED").json()["results"]
    assert [op["id"] for op in failed] == [fo.FAILED_OPERATION_ID]
    assert "ORDER_TOTAL_USD" in failed[0]["message"] and failed[0]["dependencies"] == ["model.acme.stg_orders"]
    assert get(fake, "/operations").json()["total"] > 3


def test_a_bad_operation_status_or_task_run_id_is_a_422(fake):
    response = get(fake, "/operations", status="BROKEN", task_run_id="d94e2b7a")
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [
        (["query", "status"], "enum"), (["query", "task_run_id"], "uuid_parsing")]


def test_the_warning_run_anomaly_uses_the_spec_field_names(fake):
    (anomaly,) = get(fake, f"/pipeline_runs/{fo.WARNING_RUN_ID}/status").json()["anomalies"].values()
    assert anomaly == {"type": "pipeline_duration_above_baseline", "data": {
        "type": "pipeline_duration_above_baseline", "percentage_above_baseline": 85,
        "threshold_seconds": 1800, "compared_runs": 14, "observed_seconds": 2214}}


def test_environments_are_a_bare_array(fake):
    body = get(fake, "/environments").json()
    assert isinstance(body, list)
    assert {e["name"]: e["defaultEnv"] for e in body} == {"Production": True, "Staging": False, "Development": False}
    assert all(set(e) == {"accountId", "environmentId", "name", "defaultEnv"} for e in body)


# -- logs ------------------------------------------------------------------------------------------------

def dbt_log(fake, headers=None, filename=fo.DBT_LOG_FILENAME, run=fo.FAILED_RUN_ID, task=fo.FAILED_DBT_TASK_RUN_ID):
    return requests.get(fake.base_url + log_url(run, task) + "/download", params={"filename": filename},
                        headers={**AUTH, **(headers or {})}, timeout=10)


def test_the_log_listing_names_files_with_attempt_numbers(fake):
    body = get(fake, log_url(fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID)).json()
    assert body == {"filenames": [fo.DEBUG_LOG_FILENAME, fo.DBT_LOG_FILENAME],
                    "files": {fo.DEBUG_LOG_FILENAME: {"attemptNumber": 1, "displayName": "dbt debug"},
                              fo.DBT_LOG_FILENAME: {"attemptNumber": 1, "displayName": "dbt build"}}}
    assert get(fake, log_url(fo.FAILED_RUN_ID, fo.EXTRACT_TASK_RUN_ID)).json()["filenames"] == []


def test_a_full_log_download_is_200_ready_text_ending_in_the_dbt_summary(fake):
    response = dbt_log(fake)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-file-status"] == "READY"
    text = response.content.decode()
    assert len(response.content) >= 40_000
    assert "invalid identifier 'ORDER_TOTAL_USD'" in text
    assert text.endswith("Done. PASS=41 WARN=0 ERROR=1 SKIP=3 NO-OP=0 TOTAL=45\n")
    debug = dbt_log(fake, filename=fo.DEBUG_LOG_FILENAME)
    assert debug.status_code == 200 and len(debug.content) < 4096 and b"All checks passed!" in debug.content


def test_ranges_get_206_with_content_range(fake):
    full = dbt_log(fake).content
    size = len(full)
    tail = dbt_log(fake, {"Range": "bytes=-8192"})
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes {size - 8192}-{size - 1}/{size}"
    assert tail.content == full[-8192:]
    head = dbt_log(fake, {"Range": "bytes=0-99"})
    assert (head.status_code, head.content) == (206, full[:100])
    rest = dbt_log(fake, {"Range": "bytes=100-"})
    assert (rest.status_code, rest.content) == (206, full[100:])
    assert rest.headers["content-range"] == f"bytes 100-{size - 1}/{size}"
    whole = dbt_log(fake, {"Range": f"bytes=-{size * 2}"})
    assert (whole.status_code, whole.content) == (206, full)
    assert dbt_log(fake, {"Range": "lines=1-2"}).status_code == 200


def test_a_range_past_the_end_is_a_416_with_the_size(fake):
    size = len(dbt_log(fake).content)
    response = dbt_log(fake, {"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


def test_a_missing_log_file_is_404_and_a_missing_filename_is_422(fake):
    assert dbt_log(fake, filename="1/dbt run").status_code == 404
    response = get(fake, log_url(fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID) + "/download")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "filename"]
    other_run = get(fake, log_url(fo.GOOD_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID))
    assert other_run.status_code == 404


def test_a_growing_log_reports_writing_grows_and_416s_past_its_end(fake):
    def read(headers=None):
        return dbt_log(fake, headers, fo.GROWING_LOG_FILENAME, fo.RUNNING_RUN_ID, fo.GROWING_TASK_RUN_ID)

    first = read()
    assert first.status_code == 200 and first.headers["x-file-status"] == "WRITING"
    assert first.content.endswith(b"\n")
    deadline = time.monotonic() + 3
    while len(read().content) <= len(first.content) and time.monotonic() < deadline:
        time.sleep(0.1)
    later = read()
    assert len(later.content) > len(first.content) and later.content.startswith(first.content)
    past = read({"Range": f"bytes={len(later.content) + 10 * MIB}-"})
    assert past.status_code == 416 and past.headers["x-file-status"] == "WRITING"


def test_the_python_failure_log_ends_in_a_traceback(fake):
    names = get(fake, log_url(fo.PYTHON_FAIL_RUN_ID, fo.PYTHON_FAIL_TASK_RUN_ID)).json()["filenames"]
    text = dbt_log(fake, filename=names[0], run=fo.PYTHON_FAIL_RUN_ID, task=fo.PYTHON_FAIL_TASK_RUN_ID).text
    assert "Traceback (most recent call last):" in text and text.count('  File "') >= 4
    assert text.endswith("KeyError: 'customer_id'\n")


def test_a_failure_without_logs_or_artifacts_lists_nothing(fake):
    for what in ("logs", "artifacts"):
        body = get(fake, log_url(fo.NO_LOGS_RUN_ID, fo.NO_LOGS_TASK_RUN_ID, what)).json()
        assert body["filenames"] == []


# -- artifacts ---------------------------------------------------------------------------------------

def artifact(fake, filename, headers=None):
    return requests.get(fake.base_url + log_url(fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, "artifacts")
                        + "/download", params={"filename": filename}, headers={**AUTH, **(headers or {})},
                        timeout=10)


def test_artifacts_are_listed_by_filename(fake):
    body = get(fake, log_url(fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, "artifacts")).json()
    assert body == {"filenames": ["manifest.json", "run_results.json", fo.BINARY_ARTIFACT]}


def test_the_manifest_is_over_4_mib_of_json_and_ranges_work(fake):
    full = artifact(fake, "manifest.json")
    assert full.status_code == 200 and len(full.content) >= 4 * MIB
    assert len(json.loads(full.content)["nodes"]) > 1000
    part = artifact(fake, "manifest.json", {"Range": f"bytes={MIB - 3}-{MIB + 2}"})
    assert part.status_code == 206 and part.content == full.content[MIB - 3:MIB + 3]
    assert artifact(fake, "manifest.json", {"Range": f"bytes={len(full.content)}-"}).status_code == 416


def test_run_results_carry_the_dbt_error(fake):
    results = artifact(fake, "run_results.json").json()["results"]
    assert [r["status"] for r in results] == ["success", "error", "skipped"]
    assert "ORDER_TOTAL_USD" in results[1]["message"]


def test_the_binary_artifact_is_served_byte_exact(fake):
    response = artifact(fake, fo.BINARY_ARTIFACT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == fo.partial_parse_bytes()
    assert set(response.content) == set(range(256))
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")


def test_a_missing_artifact_is_404(fake):
    response = artifact(fake, "catalog.json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Artifact not found"}


def test_a_big_artifact_streams_deterministically_with_ranges():
    size = 3 * MIB + 5
    with FakeOrchestra(runs=0, big_artifact_bytes=size) as fake:
        listing = get(fake, log_url(fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, "artifacts")).json()
        assert fo.BIG_ARTIFACT in listing["filenames"]
        full = artifact(fake, fo.BIG_ARTIFACT).content
        assert len(full) == size and full[:MIB] != full[MIB:2 * MIB]
        across = artifact(fake, fo.BIG_ARTIFACT, {"Range": f"bytes={MIB - 10}-{MIB + 9}"})
        assert across.status_code == 206 and across.content == full[MIB - 10:MIB + 10]
        assert artifact(fake, fo.BIG_ARTIFACT, {"Range": "bytes=-5"}).content == full[-5:]


# -- starting pipelines --------------------------------------------------------------------------------

def test_starting_a_pipeline_creates_a_run_that_goes_created_running_succeeded():
    with FakeOrchestra(runs=0, run_seconds=0.6) as fake:
        response = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"id", "pipelineRunId", "message"} and body["id"] != body["pipelineRunId"]
        assert body["message"] == "Pipeline run created successfully"
        run_id = body["pipelineRunId"]
        seen = []
        deadline = time.monotonic() + 5
        while (not seen or seen[-1] != "SUCCEEDED") and time.monotonic() < deadline:
            status = get(fake, f"/pipeline_runs/{run_id}/status").json()["runStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
            time.sleep(0.02)
        assert seen == ["CREATED", "RUNNING", "SUCCEEDED"]
        listed = get(fake, "/pipeline_runs", pipeline_ids=fo.PIPELINE_ID).json()["results"][0]
        assert listed["id"] == run_id and listed["completedAt"] is not None
        tasks = get(fake, f"/pipeline_runs/{run_id}/task_runs").json()["results"]
        assert [t["status"] for t in tasks] == ["SUCCEEDED"] * 3
        assert get(fake, "/pipeline", alias=fo.PIPELINE_ALIAS).json()["latestRunId"] == run_id


def test_start_accepts_an_id_with_a_body_and_records_it():
    with FakeOrchestra(runs=0) as fake:
        response = post(fake, f"/pipelines/{fo.PIPELINE_ID}/start",
                        {"environment": "Staging", "branch": "feature/x", "taskIds": ["transform_core"],
                         "continueDownstreamRun": True, "retry_from_failed": False})
        assert response.status_code == 200
        run = get(fake, f"/pipeline_runs/{response.json()['pipelineRunId']}/status").json()
        assert (run["envName"], run["branch"], run["runStatus"]) == ("Staging", "feature/x", "CREATED")
        tasks = get(fake, f"/pipeline_runs/{run['id']}/task_runs").json()["results"]
        assert [t["taskId"] for t in tasks] == ["transform_core"]
        started = post(fake, f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start",
                       {"runInputs": {fo.REQUIRED_INPUT: "python scripts/backfill.py"}})
        assert started.status_code == 200
        assert fake.journal[-1]["body"] == {"runInputs": {"command": "python scripts/backfill.py"}}


def test_an_unknown_pipeline_or_a_malformed_path_cannot_be_started(fake):
    for key in ("no_such_pipeline", "0f0e0d0c-0b0a-4908-8706-050403020100"):
        response = post(fake, f"/pipelines/{key}/start")
        assert (response.status_code, response.json()) == (404, {"detail": "Pipeline not found"})
    bad = post(fake, "/pipelines/nightly-elt!/start")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "pipeline_id_or_alias"]
    assert post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"environment": "Nope"}).status_code == 400


def test_a_missing_required_input_is_a_400(fake):
    response = post(fake, f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start", {"runInputs": {"dry_run": True}})
    assert response.status_code == 400
    assert response.json() == {"detail": "Missing required pipeline input: command"}


# -- pipelines -----------------------------------------------------------------------------------------

def test_pipelines_are_a_bare_array_without_paging_and_an_envelope_with_it(fake):
    everything = get(fake, "/pipelines").json()
    assert isinstance(everything, list) and len(everything) >= 10
    assert all(set(p) == PIPELINE_FIELDS for p in everything)
    for pipeline in everything:
        for name in ("schedule", "sensors", "webhook", "triggerEvents"):
            assert isinstance(pipeline[name], str)
            json.loads(pipeline[name])
    paged = get(fake, "/pipelines", page=1, page_size=5).json()
    assert paged["total"] == len(everything) and len(paged["results"]) == 5
    names = [p["name"].lower() for p in all_rows(fake, "/pipelines")[0]]
    assert names == sorted(names)
    assert [p["alias"] for p in get(fake, "/pipelines", name="NIGHT", page_size=10).json()["results"]] == ["nightly_elt"]
    assert get(fake, "/pipelines", page_size=101).status_code == 422


def test_one_pipeline_is_found_by_alias_or_id(fake):
    by_alias = get(fake, "/pipeline", alias=fo.PIPELINE_ALIAS).json()
    by_id = get(fake, "/pipeline", pipeline_id=fo.PIPELINE_ID).json()
    assert by_alias == by_id
    assert (by_alias["latestRunId"], by_alias["latestRunStatus"]) == (fo.FAILED_RUN_ID, "FAILED")
    assert json.loads(by_alias["schedule"])[0]["cron"] == "0 2 * * ? *"
    required = get(fake, "/pipeline", alias=fo.INPUT_PIPELINE_ALIAS).json()["inputs"]
    assert required[fo.REQUIRED_INPUT]["optional"] is False
    definition = get(fake, "/pipelines/data", alias=fo.PIPELINE_ALIAS).json()
    assert definition["pipeline"]["transform_core"]["integration"] == "DBT_CORE"


def test_the_pipeline_selector_must_be_exactly_one_and_exist(fake):
    assert get(fake, "/pipeline").status_code == 400
    assert get(fake, "/pipeline", alias=fo.PIPELINE_ALIAS, pipeline_id=fo.PIPELINE_ID).status_code == 400
    assert get(fake, "/pipeline", pipeline_id="nightly").status_code == 422
    missing = get(fake, "/pipeline", alias="nope")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Pipeline not found"})


# -- faults --------------------------------------------------------------------------------------------

def test_a_status_fault_answers_the_next_n_matching_requests_then_stops(fake):
    fake.add_fault(match={"method": "GET", "path": "/pipeline_runs"}, count=2, action="status", status=429,
                   headers={"Retry-After": "2"})
    assert get(fake, "/environments").status_code == 200
    first, second, third = (get(fake, "/pipeline_runs") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "2" and first.json() == {"detail": "Too Many Requests"}
    assert [e["fault"] for e in fake.journal] == [None, "status", "status", None]
    assert fake.faults == []


def test_status_faults_can_carry_a_text_body_or_none(fake):
    fake.add_fault(match={"path": "/environments"}, action="status", status=502, body="<html>Bad Gateway</html>")
    response = get(fake, "/environments")
    assert (response.status_code, response.text) == (502, "<html>Bad Gateway</html>")
    fake.add_fault(match={"path": "/environments"}, action="status", status=500,
                   body={"detail": "Failed to download log file from S3"})
    assert get(fake, "/environments").json() == {"detail": "Failed to download log file from S3"}


def test_a_non_json_fault_sends_a_body_that_does_not_parse(fake):
    fake.add_fault(match={"path": "/pipeline_runs"}, action="non_json")
    truncated = get(fake, "/pipeline_runs")
    assert truncated.status_code == 200 and truncated.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        truncated.json()
    fake.add_fault(match={"path": "/pipeline_runs"}, action="non_json", status=503, body="upstream timeout")
    text = get(fake, "/pipeline_runs")
    assert (text.status_code, text.text) == (503, "upstream timeout")


def test_a_slow_fault_delays_the_answer_and_can_outlast_a_client_timeout(fake):
    fake.add_fault(match={"path": "/environments"}, action="slow", delay=0.3)
    began = time.monotonic()
    assert get(fake, "/environments").status_code == 200
    assert time.monotonic() - began >= 0.3
    fake.add_fault(match={"path": "/environments"}, action="slow", delay=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(fake.base_url + "/environments", headers=AUTH, timeout=0.1)


def test_a_drop_fault_cuts_the_body_short(fake):
    fake.add_fault(match={"path": "/pipeline_runs"}, action="drop", size=10_000)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        get(fake, "/pipeline_runs")
    assert get(fake, "/pipeline_runs").status_code == 200


def test_a_reset_fault_closes_the_connection_without_an_answer(fake):
    fake.add_fault(match={"method": "POST", "path": "/start"}, action="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        post(fake, f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start", {"runInputs": {}})
    (entry,) = fake.journal
    assert (entry["fault"], entry["status"], entry["body"]) == ("reset", None, {"runInputs": {}})


def test_a_redirect_fault_points_elsewhere_or_loops(fake):
    fake.add_fault(match={"path": "/environments"}, action="redirect", status=307,
                   location="http://127.0.0.2:9/api/engine/public/environments")
    response = requests.get(fake.base_url + "/environments", headers=AUTH, allow_redirects=False, timeout=5)
    assert response.status_code == 307 and response.headers["Location"].startswith("http://127.0.0.2:9/")
    fake.add_fault(match={"path": "/environments"}, action="redirect", count=40)
    with pytest.raises(requests.exceptions.TooManyRedirects):
        get(fake, "/environments")


def test_a_big_body_fault_streams_valid_json_of_the_requested_size(fake):
    fake.add_fault(match={"path": "/task_runs"}, action="big_body", size=3 * MIB + 1)
    response = get(fake, "/task_runs")
    assert response.status_code == 200 and len(response.content) == 3 * MIB + 1
    assert response.json()["page"] == 1


def test_faults_match_on_the_query_too(fake):
    fake.add_fault(match={"path": "/pipeline_runs", "query": "page=2"}, action="status", status=503)
    assert get(fake, "/pipeline_runs", page=1).status_code == 200
    assert get(fake, "/pipeline_runs", page=2).status_code == 503


def test_bad_fault_arguments_are_refused(fake):
    with pytest.raises(ValueError):
        fake.add_fault(action="explode")
    with pytest.raises(ValueError):
        fake.add_fault(count=0)
    refused = requests.post(f"http://127.0.0.1:{fake.port}/__faults", json={"action": "status", "bogus": 1}, timeout=5)
    assert refused.status_code == 400


def test_faults_and_the_journal_work_over_http_without_auth_and_unjournaled(fake):
    control = f"http://127.0.0.1:{fake.port}"
    added = requests.post(control + "/__faults", timeout=5, json={
        "match": {"method": "GET", "path": "/operations"}, "count": 1, "action": "status", "status": 500})
    assert added.status_code == 200 and added.json()["action"] == "status"
    assert len(requests.get(control + "/__faults", timeout=5).json()) == 1
    assert get(fake, "/operations").status_code == 500
    journal = requests.get(control + "/__journal", timeout=5).json()
    assert [(e["path"], e["status"]) for e in journal] == [(fo.API_PREFIX + "/operations", 500)]
    requests.post(control + "/__faults", json={"action": "status", "status": 418}, timeout=5)
    assert requests.delete(control + "/__faults", timeout=5).status_code == 200
    assert requests.delete(control + "/__journal", timeout=5).status_code == 200
    assert requests.get(control + "/__journal", timeout=5).json() == []
    assert get(fake, "/operations").status_code == 200


# -- journal ---------------------------------------------------------------------------------------------

def test_the_journal_records_each_request_without_the_key(fake):
    get(fake, "/pipeline_runs", status="FAILED", page_size=5, api_key="test-key")
    get(fake, "/pipeline_runs", headers={"Authorization": "Bearer wrong-secret-value"})
    get(fake, "/pipeline_runs", headers={})
    get(fake, "/pipeline_runs", headers={"Authorization": f"Bearer {NON_ENTERPRISE_KEY}"})
    dbt_log(fake, {"Range": "bytes=-10"})
    post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"cause": "test-key"})
    journal = fake.journal
    first = journal[0]
    assert (first["method"], first["path"], first["status"], first["auth"]) == (
        "GET", fo.API_PREFIX + "/pipeline_runs", 200, "ok")
    assert first["query"] == {"status": ["FAILED"], "page_size": ["5"], "api_key": ["***"]}
    assert [e["auth"] for e in journal[1:4]] == ["wrong", "missing", "non_enterprise"]
    assert [e["status"] for e in journal[1:4]] == [401, 401, 403]
    assert journal[4]["range"] == "bytes=-10" and journal[4]["status"] == 206
    assert journal[5]["body"] == {"cause": "***"} and journal[5]["status"] == 422
    dumped = json.dumps(journal)
    for secret in ("test-key", "wrong-secret-value", NON_ENTERPRISE_KEY, "Bearer"):
        assert secret not in dumped


def test_the_journal_is_a_copy(fake):
    get(fake, "/environments")
    fake.journal[0]["status"] = 999
    assert fake.journal[0]["status"] == 200
    fake.clear_journal()
    assert fake.journal == []


def test_the_journal_records_header_names_but_no_header_values_beyond_the_safe_ones(fake):
    get(fake, "/environments", headers={**AUTH, "X-Debug-Token": "s3cr3t-value"})
    (entry,) = fake.journal
    assert {"authorization", "x-debug-token", "user-agent"} <= set(entry["header_names"])
    assert "s3cr3t-value" not in json.dumps(entry) and "x-debug-token" not in entry["headers"]


# -- the response hook ------------------------------------------------------------------------------------

def test_the_response_hook_sees_json_and_empty_answers_but_not_downloads_or_faults():
    seen = []

    def check(method, path, status, body):
        seen.append((method, path, status, type(body).__name__))
        return ["planted"] if path.endswith("/environments") else []

    with FakeOrchestra(runs=0, response_check=check) as fake:
        get(fake, "/environments")
        get(fake, "/pipeline_runs/8e808ad7/status")
        dbt_log(fake)
        fake.add_fault(match={"path": "/environments"}, action="status", status=503)
        get(fake, "/environments")
        checks = fake.response_checks
        assert seen == [("GET", fo.API_PREFIX + "/environments", 200, "list"),
                        ("GET", fo.API_PREFIX + "/pipeline_runs/8e808ad7/status", 422, "dict")]
        assert checks == {"checked": 2, "violations": ["planted"], "deliberate": [], "by_endpoint": {
            "GET /environments -> 200": 1, "GET /pipeline_runs/{pipeline_run_id}/status -> 422": 1}}
        fake.clear_response_checks()
        fake.set_response_check(None)
        get(fake, "/environments")
        assert fake.response_checks["checked"] == 0 and len(seen) == 2


def test_without_a_hook_nothing_is_checked(fake):
    get(fake, "/environments")
    assert fake.response_checks == {"checked": 0, "by_endpoint": {}, "violations": [], "deliberate": []}


# -- determinism, volume, process ------------------------------------------------------------------------

def test_the_same_seed_and_now_give_the_same_data():
    anchor = FakeOrchestra(runs=0).now()
    fixed = {"time_from": (anchor - timedelta(days=6)).isoformat(), "time_to": (anchor - timedelta(seconds=30)).isoformat()}
    pages = {}
    for name, seed in (("first", 11), ("again", 11), ("other", 12)):
        with FakeOrchestra(seed=seed, runs=300, now=anchor) as fake:
            pages[name] = get(fake, "/pipeline_runs", page_size=100, **fixed).json()
    assert pages["first"] == pages["again"] and pages["first"]["total"] > 100
    assert {r["id"] for r in pages["other"]["results"]} != {r["id"] for r in pages["first"]["results"]}


def test_twenty_thousand_runs_are_generated_and_listed_quickly():
    began = time.monotonic()
    fake = FakeOrchestra(runs=20_000)
    built = time.monotonic() - began
    with fake:
        began = time.monotonic()
        total = sum(get(fake, "/pipeline_runs", status="FAILED,SUCCEEDED,WARNING,CANCELLED,SKIPPED,RUNNING",
                        **window(fake, days=6.5, ago=timedelta(days=6.5 * k))).json()["total"] for k in range(5))
        tasks = get(fake, "/task_runs", **window(fake, days=6.9)).json()["total"]
        listed = time.monotonic() - began
    print(f"\n20,000 runs: built in {built:.2f}s; 5 weekly run totals + one 7-day task-run list in {listed:.2f}s")
    assert total >= 20_000 and tasks > 10_000


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_command_line_prints_the_base_url_first_and_exits_quietly_on_a_signal(stop_signal):
    script = Path(fo.__file__)
    # Started like a shell's background job, with SIGINT ignored (trap '' survives exec).
    process = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", sys.executable, str(script),
         "--port", "0", "--runs", "100", "--api-key", "cli-key"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/engine/public")
        response = requests.get(base_url + "/environments", headers={"Authorization": "Bearer cli-key"}, timeout=5)
        assert response.status_code == 200
    finally:
        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert (stdout, stderr) == ("", "")


# -- modes ------------------------------------------------------------------------------------------------

ANCHOR = fo._EPOCH + timedelta(microseconds=fo.to_us(datetime.now(timezone.utc)))
FIXED_WINDOW = {"time_from": (ANCHOR - timedelta(days=3)).isoformat(),
                "time_to": (ANCHOR - timedelta(minutes=1)).isoformat()}


@pytest.fixture(scope="module")
def fakes():
    """One fake per mode over the same data (same seed and anchor); tests here only read."""
    servers = {mode: FakeOrchestra(runs=300, now=ANCHOR, mode=mode).start() for mode in fo.MODES}
    yield servers
    for server in servers.values():
        server.stop()


def test_the_modes_are_kind_strict_and_spec_silent_and_kind_is_the_default():
    assert sorted(fo.MODES) == ["kind", "spec_silent", "strict"]
    assert FakeOrchestra(runs=0).switches == fo.MODES["kind"] == fo.mode_switches()
    assert all(set(switches) == set(fo.MODES["kind"]) for switches in fo.MODES.values())
    for name, default in fo.MODES["kind"].items():  # every switch is changed by some mode
        assert any(fo.MODES[mode][name] != default for mode in ("strict", "spec_silent")), name
    assert FakeOrchestra(runs=0, mode="strict", switches={"attempt_number": True}).switches == dict(
        fo.MODES["strict"], attempt_number=True)
    for bad in ({"mode": "lenient"}, {"switches": {"attempt_numbers": False}},
                {"switches": {"list_order": "random"}}):
        with pytest.raises(ValueError):
            FakeOrchestra(runs=0, **bad)


def test_the_command_line_takes_a_mode():
    assert fo._parse_arguments(["--mode", "spec_silent"]).mode == "spec_silent"
    assert fo._parse_arguments([]).mode == "kind"
    with pytest.raises(SystemExit):
        fo._parse_arguments(["--mode", "lenient"])


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_start_bodies_are_camel_case_only_outside_kind_mode_and_extra_keys_are_422(mode):
    with FakeOrchestra(runs=0, mode=mode) as fake:
        snake = post(fake, f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start", {"run_inputs": {"command": "ls"}})
        if mode == "kind":
            assert snake.status_code == 200
        else:
            assert (snake.status_code, snake.json()) == (422, {"detail": [{
                "type": "extra_forbidden", "loc": ["body", "run_inputs"],
                "msg": "Extra inputs are not permitted", "input": {"command": "ls"}}]})
        camel = post(fake, f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start", {"runInputs": {"command": "ls"}})
        assert camel.status_code == 200
        extra = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"branch": "main", "cause": [1]})
        assert (extra.status_code, extra.json()["detail"]) == (422, [{
            "type": "extra_forbidden", "loc": ["body", "cause"], "msg": "Extra inputs are not permitted",
            "input": [1]}])


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_the_start_environment_is_a_name_and_outside_kind_mode_also_an_id(mode):
    with FakeOrchestra(runs=0, mode=mode) as fake:
        by_name = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"environment": "staging"})
        assert by_name.status_code == 200
        by_id = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start", {"environment": fo.ENV_STAGING_ID})
        if mode == "kind":
            assert by_id.status_code == 400
            return
        run = get(fake, f"/pipeline_runs/{by_id.json()['pipelineRunId']}/status").json()
        assert (run["envId"], run["envName"]) == (fo.ENV_STAGING_ID, "Staging")


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_the_start_answer_id_is_not_the_run_id_and_one_pipeline_may_omit_it(mode):
    with FakeOrchestra(runs=0, mode=mode) as fake:
        normal = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start").json()
        assert normal["id"] != normal["pipelineRunId"]
        assert get(fake, f"/pipeline_runs/{normal['id']}/status").status_code == 404
        answer = post(fake, f"/pipelines/{fo.NO_RUN_ID_PIPELINE_ALIAS}/start")
        assert answer.status_code == 200
        runs = get(fake, "/pipeline_runs", pipeline_ids=fo.NO_RUN_ID_PIPELINE_ID).json()["results"]
        assert len(runs) == 1 and runs[0]["id"] != answer.json()["id"]   # the run exists either way
        if fo.MODES[mode]["start_without_run_id"]:
            assert set(answer.json()) == {"id", "message"}
        else:
            assert answer.json()["pipelineRunId"] == runs[0]["id"]


def task_rows(fake, path, **params):
    return get(fake, path, page_size=50, **params).json()["results"]


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_include_superseded_is_honoured_or_ignored_as_the_mode_says(fakes, mode):
    fake, switches = fakes[mode], fo.MODES[mode]
    per_run = f"/pipeline_runs/{fo.RETRIED_RUN_ID}/task_runs"
    both = {fo.RETRIED_FIRST_TASK_RUN_ID, fo.RETRIED_TASK_RUN_ID}
    listed = {r["id"] for r in task_rows(fake, per_run, include_superseded="false")}
    assert (both <= listed) is not switches["per_run_include_superseded"]
    assert both <= {r["id"] for r in task_rows(fake, per_run, include_superseded="true")}
    ids = ",".join(sorted(both))
    listed = {r["id"] for r in task_rows(fake, "/task_runs", task_run_ids=ids, include_superseded="false")}
    assert listed == (both if not switches["task_runs_include_superseded"] else {fo.RETRIED_TASK_RUN_ID})
    if not switches["per_run_include_superseded"]:   # ignored: even a bad value is no 422
        assert get(fake, per_run, include_superseded="maybe").status_code == 200


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_attempt_numbers_are_served_only_where_the_mode_says(fakes, mode):
    fake = fakes[mode]
    rows = task_rows(fake, f"/pipeline_runs/{fo.RETRIED_RUN_ID}/task_runs", include_superseded="true")
    attempts = sorted((r for r in rows if r["taskId"] == "export_inventory"), key=lambda r: r["createdAt"])
    assert [r["id"] for r in attempts] == [fo.RETRIED_FIRST_TASK_RUN_ID, fo.RETRIED_TASK_RUN_ID]
    assert {r["numberOfAttempts"] for r in attempts} == {2}     # no help telling them apart
    if fo.MODES[mode]["attempt_number"]:
        assert [r["attemptNumber"] for r in attempts] == [1, 2]
    else:
        assert all("attemptNumber" not in r for r in rows)
        assert attempts[0]["createdAt"] < attempts[1]["createdAt"]


def walk_pages(fake, path, page_size, **params):
    pages, page = [], 1
    while True:
        body = get(fake, path, page=page, page_size=page_size, **params).json()
        if not body["results"]:
            return pages, body["total"]
        pages.append([row["id"] for row in body["results"]])
        page += 1


LISTS = [
    ("/pipeline_runs", 37, FIXED_WINDOW, "createdAt"),
    ("/task_runs", 41, dict(FIXED_WINDOW, include_superseded="true"), "createdAt"),
    ("/operations", 3, FIXED_WINDOW, "insertedAt"),
    (f"/pipeline_runs/{fo.RETRIED_RUN_ID}/task_runs", 3, {"include_superseded": "true"}, "createdAt"),
]


@pytest.mark.parametrize("path, page_size, params, stamp", LISTS)
def test_modes_change_only_the_order_of_list_rows_never_the_pages(fakes, path, page_size, params, stamp):
    kind_pages, kind_total = walk_pages(fakes["kind"], path, page_size, **params)
    kind_rows = [row for page in kind_pages for row in page]
    assert kind_total == len(kind_rows) == len(set(kind_rows)) and len(kind_pages) > 1
    for mode in ("strict", "spec_silent"):
        pages, total = walk_pages(fakes[mode], path, page_size, **params)
        rows = [row for page in pages for row in page]
        assert total == kind_total and sorted(rows) == sorted(kind_rows), mode   # each row once
        assert pages == walk_pages(fakes[mode], path, page_size, **params)[0]   # deterministic
        order = fo.MODES[mode]["list_order"]
        if order == "shuffled":
            assert [sorted(p) for p in pages] == [sorted(p) for p in kind_pages]
            assert pages != kind_pages
    first = [r[stamp] for r in get(fakes["strict"], path, page_size=50, **params).json()["results"]]
    assert first == sorted(first) and fo.MODES["strict"]["list_order"] == "oldest_first"


def test_the_default_order_is_newest_first_for_windowed_lists(fakes):
    rows = get(fakes["kind"], "/task_runs", page_size=100, **FIXED_WINDOW).json()["results"]
    stamps = [r["createdAt"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_plain_arrays_keep_their_rows_in_every_order(fakes, mode):
    for path in ("/pipelines", "/environments"):
        rows = get(fakes[mode], path).json()
        kind = get(fakes["kind"], path).json()
        assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, kind))
        assert rows == get(fakes[mode], path).json()
    pipelines = get(fakes[mode], "/pipelines").json()
    names = [p["name"].lower() for p in pipelines]
    if fo.MODES[mode]["list_order"] == "default":
        assert names == sorted(names)
    elif fo.MODES[mode]["list_order"] == "oldest_first":
        assert [p["createdAt"] for p in pipelines] == sorted(p["createdAt"] for p in pipelines)
    else:
        assert names != sorted(names)


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_pipelines_take_no_parameters_outside_kind_mode(fakes, mode):
    fake = fakes[mode]
    everything = get(fake, "/pipelines").json()
    paged = get(fake, "/pipelines", name="NIGHT", page=2, page_size=5)
    too_big = get(fake, "/pipelines", page_size=101)
    if fo.MODES[mode]["pipelines_params"]:
        assert paged.json()["total"] == 1 and paged.json()["results"] == []
        assert too_big.status_code == 422
    else:
        assert paged.json() == everything and too_big.json() == everything


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_artifact_ranges_are_ignored_where_the_mode_says_but_log_ranges_never(fakes, mode):
    fake = fakes[mode]
    part = artifact(fake, "run_results.json", {"Range": "bytes=0-9"})
    if fo.MODES[mode]["artifact_ranges"]:
        assert (part.status_code, len(part.content)) == (206, 10)
    else:
        assert part.status_code == 200 and "content-range" not in part.headers
        assert part.content == artifact(fake, "run_results.json").content and len(part.content) > 10
    assert dbt_log(fake, {"Range": "bytes=0-9"}).status_code == 206


# -- cancelling runs --------------------------------------------------------------------------------------

def cancel(fake, run_id, body=None, **kwargs):
    return requests.post(fake.base_url + f"/pipeline_runs/{run_id}/cancel", json=body, headers=AUTH,
                         timeout=10, **kwargs)


def test_a_cancel_answers_204_and_leaves_the_run_cancelling_until_forced():
    with FakeOrchestra(runs=0, run_seconds=60, cancel_seconds=60) as fake:
        run_id = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start").json()["pipelineRunId"]
        response = cancel(fake, run_id)
        assert (response.status_code, response.content) == (204, b"")
        run = get(fake, f"/pipeline_runs/{run_id}/status").json()
        assert (run["runStatus"], run["completedAt"]) == ("CANCELLING", None)
        assert run["message"] == fo.RUN_MESSAGES["CANCELLING"]
        assert cancel(fake, run_id, {"force": False}).status_code == 204    # again: still CANCELLING
        assert cancel(fake, run_id, {"force": True}).status_code == 204
        run = get(fake, f"/pipeline_runs/{run_id}/status").json()
        assert run["runStatus"] == "CANCELLED" and run["completedAt"] is not None
        tasks = get(fake, f"/pipeline_runs/{run_id}/task_runs").json()["results"]
        assert {t["status"] for t in tasks} <= {"CANCELLED", "SKIPPED"}
        again = cancel(fake, run_id, {"force": True})
        assert (again.status_code, again.json()) == (400, {
            "detail": "Pipeline run is already CANCELLED and cannot be cancelled."})


def test_a_cancelled_run_turns_cancelled_over_the_fake_clock():
    with FakeOrchestra(runs=0, run_seconds=60, cancel_seconds=0.2) as fake:
        run_id = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start").json()["pipelineRunId"]
        assert cancel(fake, run_id).status_code == 204
        seen = []
        deadline = time.monotonic() + 10
        while (not seen or seen[-1] != "CANCELLED") and time.monotonic() < deadline:
            status = get(fake, f"/pipeline_runs/{run_id}/status").json()["runStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
            time.sleep(0.02)
        assert seen in (["CANCELLING", "CANCELLED"], ["CANCELLED"])
        listed = get(fake, "/pipeline_runs", status="CANCELLED", pipeline_ids=fo.PIPELINE_ID).json()
        assert [r["id"] for r in listed["results"]] == [run_id]


def test_a_running_scenario_run_can_be_cancelled_and_its_task_follows():
    with FakeOrchestra(runs=0, cancel_seconds=60) as fake:
        assert cancel(fake, fo.RUNNING_RUN_ID, {"force": True}).status_code == 400   # not CANCELLING yet
        assert get(fake, f"/pipeline_runs/{fo.RUNNING_RUN_ID}/status").json()["runStatus"] == "RUNNING"
        assert cancel(fake, fo.RUNNING_RUN_ID, None).status_code == 204
        (task,) = get(fake, f"/pipeline_runs/{fo.RUNNING_RUN_ID}/task_runs").json()["results"]
        assert (task["id"], task["status"]) == (fo.GROWING_TASK_RUN_ID, "CANCELLING")


def test_force_before_a_cancel_and_cancels_of_finished_runs_are_400():
    with FakeOrchestra(runs=0) as fake:
        early = cancel(fake, fo.RUNNING_RUN_ID, {"force": True})
        assert early.status_code == 400 and "CANCELLING" in early.json()["detail"]
        for run_id, status in ((fo.FAILED_RUN_ID, "FAILED"), (fo.GOOD_RUN_ID, "SUCCEEDED"),
                               (fo.WARNING_RUN_ID, "WARNING"), (fo.SKIPPED_RUN_ID, "SKIPPED"),
                               (fo.CANCELLED_RUN_ID, "CANCELLED")):
            for body in (None, {"force": True}):
                response = cancel(fake, run_id, body)
                assert response.status_code == 400 and status in response.json()["detail"]
            assert get(fake, f"/pipeline_runs/{run_id}/status").json()["runStatus"] == status


def test_cancel_bodies_are_validated_like_fastapi(fake):
    extra = cancel(fake, fo.FAILED_RUN_ID, {"force": True, "reason": "stuck"})
    assert (extra.status_code, extra.json()["detail"]) == (422, [{
        "type": "extra_forbidden", "loc": ["body", "reason"], "msg": "Extra inputs are not permitted",
        "input": "stuck"}])
    for value in ("yes", None, 1):
        typed = cancel(fake, fo.FAILED_RUN_ID, {"force": value})
        assert typed.status_code == 422 and typed.json()["detail"][0]["type"] == "bool_type"
    assert cancel(fake, "8e808ad7").status_code == 422
    missing = cancel(fake, "0f0e0d0c-0b0a-4908-8706-050403020100")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Pipeline run not found"})
    assert requests.get(fake.base_url + f"/pipeline_runs/{fo.FAILED_RUN_ID}/cancel", headers=AUTH,
                        timeout=5).status_code == 405


# -- integration connections ------------------------------------------------------------------------------

CONNECTION_FIELDS = {"integration", "authStatus", "connectionId", "connectionName", "isDefault",
                     "updatedAt", "createdAt"}


def test_connections_are_a_bare_array_covering_every_connection_a_task_uses(fake):
    rows = get(fake, "/integrations/connections").json()
    assert isinstance(rows, list) and all(set(r) == CONNECTION_FIELDS for r in rows)
    by_id = {r["connectionId"]: r for r in rows}
    used = {t.connection for p in fake.workspace.pipelines for t in p.tasks if t.connection}
    assert used <= set(by_id)
    assert by_id["snowflake_prod_48213"]["authStatus"] == "SUCCEEDED"
    assert by_id[fo.AUTH_FAIL_CONNECTION_ID]["authStatus"] == "FAILED"
    assert {"DEPRECATED", "INITIATED"} <= {r["authStatus"] for r in rows}
    assert all(r["createdAt"] <= r["updatedAt"] for r in rows)


def test_connections_filter_by_one_integration_and_one_auth_status(fake):
    snowflake = get(fake, "/integrations/connections", integration="SNOWFLAKE").json()
    assert len(snowflake) >= 3 and {r["integration"] for r in snowflake} == {"SNOWFLAKE"}
    failed = get(fake, "/integrations/connections", authStatus="FAILED", integration="SNOWFLAKE").json()
    assert [r["connectionId"] for r in failed] == [fo.AUTH_FAIL_CONNECTION_ID]
    assert get(fake, "/integrations/connections", integration="AIRFLOW").json() == []
    bad = get(fake, "/integrations/connections", authStatus="AUTHENTICATED", integration="SNOWFLAKE,HTTP")
    assert bad.status_code == 422
    assert [(e["loc"], e["type"]) for e in bad.json()["detail"]] == [
        (["query", "integration"], "enum"), (["query", "authStatus"], "enum")]
    assert get(fake, "/operations", integration="dbt").status_code == 422


# -- matrix tasks, group dependencies, an old failure ---------------------------------------------------

@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_a_matrix_parent_has_children_told_apart_only_by_their_parameters(fakes, mode):
    fake = fakes[mode]
    rows = task_rows(fake, f"/pipeline_runs/{fo.MATRIX_RUN_ID}/task_runs", include_superseded="true")
    (parent,) = [r for r in rows if r["matrixParent"]]
    assert (parent["id"], parent["taskId"], parent["status"]) == (
        fo.MATRIX_PARENT_TASK_RUN_ID, fo.MATRIX_TASK_ID, "FAILED")
    assert parent["matrixParentId"] is None and parent["dependsOn"] is None
    children = sorted((r for r in rows if r["matrixParentId"] == parent["id"]), key=lambda r: r["createdAt"])
    assert {(r["taskId"], r["taskName"], r["matrixParent"]) for r in children} == {
        (fo.MATRIX_TASK_ID, parent["taskName"], False)}
    assert {r["taskParameters"]["region"] for r in children} == set(fo.MATRIX_REGIONS)
    assert all(r["runParameters"] == {"region": r["taskParameters"]["region"]} for r in children)
    us = [r for r in children if r["runParameters"]["region"] == "us"]
    assert [(r["id"], r["status"]) for r in us] == [
        (fo.MATRIX_US_FIRST_TASK_RUN_ID, "FAILED"), (fo.MATRIX_US_RETRY_TASK_RUN_ID, "SUCCEEDED")]
    same_identity = {(r["taskId"], r["matrixParentId"], json.dumps(r["taskParameters"], sort_keys=True),
                      r["numberOfAttempts"]) for r in us}
    assert len(same_identity) == 1 and us[0]["createdAt"] < us[1]["createdAt"]
    by_region = {r["runParameters"]["region"]: r for r in children if r["id"] not in
                 (fo.MATRIX_US_FIRST_TASK_RUN_ID, fo.MATRIX_US_RETRY_TASK_RUN_ID)}
    assert (by_region["eu"]["id"], by_region["eu"]["status"]) == (fo.MATRIX_EU_TASK_RUN_ID, "SUCCEEDED")
    assert (by_region["apac"]["id"], by_region["apac"]["status"]) == (fo.MATRIX_APAC_TASK_RUN_ID, "FAILED")
    assert ("attemptNumber" in us[1]) is fo.MODES[mode]["attempt_number"]
    publish = next(r for r in rows if r["taskId"] == "publish_regions")
    assert (publish["status"], publish["dependsOn"]) == ("SKIPPED", [fo.MATRIX_GROUP_ID])
    assert get(fake, f"/pipeline_runs/{fo.MATRIX_RUN_ID}/status").json()["runStatus"] == "FAILED"
    logs = get(fake, log_url(fo.MATRIX_RUN_ID, fo.MATRIX_US_RETRY_TASK_RUN_ID)).json()
    assert logs["filenames"] == ["1/run_script", "2/run_script"]


def test_by_default_the_matrix_retry_hides_the_failed_first_attempt(fake):
    visible = {r["id"] for r in task_rows(fake, f"/pipeline_runs/{fo.MATRIX_RUN_ID}/task_runs")}
    assert fo.MATRIX_US_RETRY_TASK_RUN_ID in visible and fo.MATRIX_US_FIRST_TASK_RUN_ID not in visible
    assert len(visible) == 6


def test_the_matrix_is_declared_on_the_task_group_of_the_definition(fake):
    definition = get(fake, "/pipelines/data", alias=fo.MATRIX_PIPELINE_ALIAS).json()
    group = definition["pipeline"][fo.MATRIX_GROUP_ID]
    assert group["matrix"]["inputs"] == {"region": list(fo.MATRIX_REGIONS)}
    assert list(group["tasks"]) == [fo.MATRIX_TASK_ID] and group["dependsOn"] == ["prepare_regions"]
    assert definition["pipeline"]["publish_regions"]["dependsOn"] == [fo.MATRIX_GROUP_ID]


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_group_dependencies_live_only_in_the_definition_which_status_may_omit(fakes, mode):
    fake = fakes[mode]
    rows = task_rows(fake, f"/pipeline_runs/{fo.GROUP_RUN_ID}/task_runs")
    assert {r["taskId"]: r["status"] for r in rows} == {
        "ingest_orders": "SUCCEEDED", "ingest_customers": "FAILED", "transform_orders": "SKIPPED",
        "transform_customers": "SKIPPED"}
    assert all(r["dependsOn"] is None for r in rows)
    assert {r["id"] for r in rows if r["status"] == "SKIPPED"} == set(fo.GROUP_SKIPPED_TASK_RUN_IDS)
    run = get(fake, f"/pipeline_runs/{fo.GROUP_RUN_ID}/status").json()
    assert run["pipelineVersionNumber"] == fo.GROUP_RUN_VERSION and run["branch"] is None
    fallback = get(fake, "/pipelines/data", alias=fo.GROUP_PIPELINE_ALIAS,
                   version=run["pipelineVersionNumber"]).json()
    assert fallback["pipeline"]["transform"]["dependsOn"] == ["ingest"]
    assert set(fallback["pipeline"]) == {"ingest", "transform"}
    assert list(fallback["pipeline"]["transform"]["tasks"]) == ["transform_orders", "transform_customers"]
    if fo.MODES[mode]["run_data_on_status"]:
        assert run["data"] == dict(fallback, environment=fake.workspace.prod.values)
    else:
        assert "data" in run and run["data"] is None
    assert "data" not in get(fake, f"/pipeline_runs/{fo.FAILED_RUN_ID}/status").json()


def test_pipeline_definitions_are_versioned_only_for_orchestra_backed_pipelines(fake):
    latest = get(fake, "/pipelines/data", pipeline_id=fo.GROUP_PIPELINE_ID).json()
    assert "transform_payments" in latest["pipeline"]["transform"]["tasks"]
    assert get(fake, "/pipelines/data", alias=fo.GROUP_PIPELINE_ALIAS,
               version=fo.GROUP_PIPELINE_VERSION).json() == latest
    for params in ({"alias": fo.GROUP_PIPELINE_ALIAS, "version": fo.GROUP_PIPELINE_VERSION + 1},
                   {"alias": fo.PIPELINE_ALIAS, "version": 1}):
        missing = get(fake, "/pipelines/data", **params)
        assert (missing.status_code, missing.json()) == (404, {"detail": "Pipeline version not found"})
    assert get(fake, "/pipeline", alias=fo.GROUP_PIPELINE_ALIAS, version="four").status_code == 422
    pinned = get(fake, "/pipelines/data", alias=fo.PIPELINE_ALIAS, branch="main", commit=fo.FAILED_COMMIT)
    assert pinned.json() == get(fake, "/pipelines/data", alias=fo.PIPELINE_ALIAS).json()


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_an_old_failure_is_listed_per_run_only_where_the_mode_keeps_it(fakes, mode):
    fake = fakes[mode]
    run = get(fake, f"/pipeline_runs/{fo.OLD_FAILED_RUN_ID}/status").json()
    created = datetime.fromisoformat(run["createdAt"])
    assert run["runStatus"] == "FAILED" and fake.now() - created > timedelta(days=7, hours=12)
    recent = get(fake, "/pipeline_runs", pipeline_ids=fo.PIPELINE_ID).json()["results"]
    assert fo.OLD_FAILED_RUN_ID not in {r["id"] for r in recent}
    per_run = get(fake, f"/pipeline_runs/{fo.OLD_FAILED_RUN_ID}/task_runs").json()
    if fo.MODES[mode]["per_run_retention_days"] == 7:
        assert (per_run["total"], per_run["results"]) == (0, [])
    else:
        assert [(r["taskId"], r["status"]) for r in per_run["results"]] == [
            ("extract_orders", "SUCCEEDED"), ("transform_core", "FAILED"), ("refresh_dashboards", "SKIPPED")]
    around = {"time_from": (created - timedelta(hours=1)).isoformat(),
              "time_to": (created + timedelta(hours=1)).isoformat()}
    listed = get(fake, "/task_runs", pipeline_ids=fo.PIPELINE_ID, status="FAILED", **around).json()
    assert [r["id"] for r in listed["results"]] == [fo.OLD_FAILED_TASK_RUN_ID]
    logs = get(fake, log_url(fo.OLD_FAILED_RUN_ID, fo.OLD_FAILED_TASK_RUN_ID)).json()["filenames"]
    assert logs == [fo.DEBUG_LOG_FILENAME, fo.DBT_LOG_FILENAME]
    text = dbt_log(fake, run=fo.OLD_FAILED_RUN_ID, task=fo.OLD_FAILED_TASK_RUN_ID).text
    assert "ERROR=1" in text
