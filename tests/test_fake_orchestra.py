"""Tests of the fake Orchestra API itself: every rule the integration tests rely on."""

import hashlib
import json
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import weakref
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from conftest import NON_ENTERPRISE_KEY

import api_contract
import fake_orchestra as fo
import secret_corpus as corpus
import triage_cases
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


_CLIENTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def client(fake) -> requests.Session:
    """One keep-alive client per fake (never shared between fakes, so a connection never outlives
    its server): requests.get makes a Session, a connection and a server thread per call, ~2 ms
    of CPU. Loopback only, so no proxy or .netrc from the environment applies."""
    session = _CLIENTS.get(fake)
    if session is None:
        session = _CLIENTS[fake] = requests.Session()
        session.trust_env = False
    return session


def get(fake, path, headers=AUTH, **params):
    return client(fake).get(fake.base_url + path, params=params, headers=headers, timeout=10)


def post(fake, path, body=None, headers=AUTH, **kwargs):
    return client(fake).post(fake.base_url + path, json=body, headers=headers, timeout=10, **kwargs)


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
    return client(fake).get(fake.base_url + log_url(run, task) + "/download", params={"filename": filename},
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
    return client(fake).get(fake.base_url + log_url(fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, "artifacts")
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
    with FakeOrchestra(runs=0, run_seconds=600) as fake:
        response = post(fake, f"/pipelines/{fo.PIPELINE_ALIAS}/start")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"id", "pipelineRunId", "message"} and body["id"] != body["pipelineRunId"]
        assert body["message"] == "Pipeline run created successfully"
        run_id = body["pipelineRunId"]
        seen = []
        for advance_s in (0, 250, 400):   # the fake's clock moved on: no race with a loaded machine
            fake.workspace._monotonic0 -= advance_s
            seen.append(get(fake, f"/pipeline_runs/{run_id}/status").json()["runStatus"])
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
    return client(fake).post(fake.base_url + f"/pipeline_runs/{run_id}/cancel", json=body, headers=AUTH,
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


# -- triage cases (issue #15) ------------------------------------------------------------------------------


def per_run(fake, run_id, **params):
    """Every task run of a run (superseded ones too where the mode lists them), in listing order."""
    rows, page = [], 1
    while True:
        body = get(fake, f"/pipeline_runs/{run_id}/task_runs", page=page, page_size=50, **params).json()
        rows += body["results"]
        if page * 50 >= body["total"]:
            return rows
        page += 1


def download(fake, run_id, task_run_id, filename, what="logs", headers=None):
    return client(fake).get(fake.base_url + log_url(run_id, task_run_id, what) + "/download",
                            params={"filename": filename}, headers={**AUTH, **(headers or {})}, timeout=30)


def log_text(fake, run_id, task_run_id, filename):
    response = download(fake, run_id, task_run_id, filename)
    assert response.status_code == 200, response.text
    return response.content.decode()


def operations_of(fake, task_run_id):
    return get(fake, "/operations", task_run_id=task_run_id, page_size=100, **window(fake, days=6.9)).json()["results"]


def text_lines(text):
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


# The 3.9 MB log: the error at 40 %, retries after it, the same bytes for every read and range.

def test_the_quota_log_has_its_decisive_error_at_forty_percent_then_two_megabytes_of_retries(fake):
    (task,) = [r for r in per_run(fake, fo.QUOTA_RUN_ID) if r["status"] == "FAILED"]
    assert task["id"] == fo.QUOTA_TASK_RUN_ID and "090073" not in task["externalMessage"]
    assert "gave up after 330 retries" in task["externalMessage"]
    assert get(fake, log_url(fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID)).json()["filenames"] == [fo.QUOTA_LOG_FILENAME]
    response = download(fake, fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME)
    assert response.status_code == 200 and response.headers["x-file-status"] == "READY"
    data = response.content
    assert 3.5e6 < len(data) < 4.5e6
    at = data.index(b"090073")
    assert data.count(b"090073") == 1 and data.count(fo.QUOTA_ERROR.encode()) == 1
    assert 0.38 < at / len(data) < 0.42
    before, after = data[:at], data[at:]
    assert b"Retrying in" not in before and before.count(b"[SUCCESS 5,000 rows") == fo.QUOTA_LOADED_BATCHES
    retries = re.findall(rb"Retrying in 5s \(attempt (\d+)/330\)", after)
    assert len(retries) == fo.QUOTA_RETRIES * fo.QUOTA_WORKERS and retries[0] == b"1" and retries[-1] == b"330"
    assert sum(len(line) for line in after.split(b"\n") if b"Retrying in 5s" in line) > 2_000_000
    tail = data[-4096:].decode()
    assert "gave up after 330 retries" in tail and tail.endswith("exited with code 1\n")
    assert b"090073" not in data[-2_000_000:] and b"090073" not in data[:1_000_000]


def test_the_quota_log_serves_the_same_bytes_for_every_read_and_range(fake):
    first = download(fake, fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME).content
    again = download(fake, fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME).content
    assert hashlib.sha256(first).digest() == hashlib.sha256(again).digest()
    size, at = len(first), first.index(b"090073")
    for start, stop in ((0, 99), (at - 5000, at + 5000), (MIB - 7, MIB + 7), (2 * MIB - 1, 3 * MIB + 1),
                        (size - 10, size - 1)):
        part = download(fake, fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME,
                        headers={"Range": f"bytes={start}-{stop}"})
        assert part.status_code == 206 and part.content == first[start:stop + 1]
        assert part.headers["content-range"] == f"bytes {start}-{stop}/{size}"
    tail = download(fake, fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME,
                    headers={"Range": "bytes=-8192"})
    assert tail.content == first[-8192:] and b"090073" not in tail.content


def test_the_quota_log_is_made_on_demand_and_never_held_whole():
    content = fo.LinesContent(lambda: fo.quota_log_parts(fo.to_us(datetime(2026, 11, 23, 1, tzinfo=timezone.utc))))
    content.open(0)
    assert content.size > 3_500_000
    whole = b"".join(content.chunks(0, content.size))
    assert b"".join(content.chunks(0, content.size)) == whole
    # What a read leaves behind: the literal lines (a few KB) and, per run of records, an offset per block.
    kept = [value for part in content._parts for value in vars(part).values()]
    assert sum(len(v) for v in kept if isinstance(v, (bytes, str))) < 10_000
    assert sum(len(v) for v in kept if isinstance(v, list) and v and isinstance(v[0], int)) < 200
    middle = whole.index(b"090073") - MIB // 2
    tracemalloc.start()
    try:
        (chunk,) = content.chunks(middle, middle + MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chunk == whole[middle:middle + MIB] and peak < 3 * MIB   # a chunk is made alone


# Line labels.

def test_line_labels_say_success_progress_error_or_other_for_every_line_of_the_quota_log(fake):
    text = log_text(fake, fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME)
    lines = text_lines(text)
    labels = fake.line_labels(fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME)
    assert len(labels) == len(lines) and set(labels) == set(fo.LINE_LABELS)
    assert labels == fo.label_lines(lines)   # the labels given at generation are the rule's
    assert [(label, line) for label, line in fake.labelled_lines(
        fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME)] == list(zip(labels, lines, strict=True))
    by_text = dict(zip(lines, labels, strict=True))
    assert by_text[next(line for line in lines if "090073" in line)] == "error"
    assert {by_text[line] for line in lines if "Retrying in 5s" in line or "still waiting" in line} == {"progress"}
    assert {by_text[line] for line in lines if "[SUCCESS 5,000 rows" in line} == {"success"}
    assert labels[-3:] == ["error", "error", "error"]
    noise = sum(len(line) for line, label in zip(lines, labels, strict=True) if label in ("success", "progress"))
    assert noise / sum(len(line) for line in lines) > 0.95
    assert fo.line_labels(fo.QUOTA_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME) == labels


CASE_LOGS = [   # (run, task run, filename): every log of the triage cases
    (fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, fo.DBT_LOG_FILENAME),
    (fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, fo.DEBUG_LOG_FILENAME),
    (fo.PYTHON_FAIL_RUN_ID, fo.PYTHON_FAIL_TASK_RUN_ID, "1/run_script"),
    (fo.RETRIED_RUN_ID, fo.RETRIED_TASK_RUN_ID, "2/run_script"),
    (fo.CASCADE_RUN_ID, fo.CASCADE_CONSEQUENCE_TASK_RUN_ID, "1/run_script"),
    (fo.MATRIX_RUN_ID, fo.MATRIX_APAC_TASK_RUN_ID, "1/run_script"),
    (fo.USER_CANCELLED_RUN_ID, fo.USER_CANCELLED_TASK_RUN_ID, fo.DBT_LOG_FILENAME),
    (fo.USER_CANCELLED_RUN_ID, fo.USER_CANCELLED_LAGGING_TASK_RUN_ID, "1/run_script"),
    (fo.RUNNING_FAILED_RUN_ID, fo.RUNNING_FAILED_TASK_RUN_ID, "1/query_job"),
    (fo.RUNNING_FAILED_RUN_ID, fo.RUNNING_ACTIVE_TASK_RUN_IDS["RUNNING"], "1/run_script"),
    (fo.FLAKY_RUN_ID, fo.FLAKY_FIRST_TASK_RUN_ID, "1/run_script"),
    (fo.FLAKY_RUN_ID, fo.FLAKY_RETRY_TASK_RUN_ID, "2/run_script"),
    (fo.TIMEOUT_RUN_ID, fo.TIMEOUT_TASK_RUN_ID, "1/run_script"),
    (fo.DBT_MANY_RUN_ID, fo.DBT_MANY_TASK_RUN_ID, fo.DBT_LOG_FILENAME),
    (fo.COMPILE_RUN_ID, fo.COMPILE_TASK_RUN_ID, "1/dbt run"),
    (fo.CHILD_RUN_ID, fo.CHILD_ROOT_TASK_RUN_ID, "1/run_query"),
    (fo.NOT_AUTH_RUN_ID, fo.NOT_AUTH_TASK_RUN_ID, "1/run_script"),
    (fo.INJECTION_RUN_ID, fo.INJECTION_TASK_RUN_ID, "1/run_script"),
    (fo.SECRETS_RUN_ID, fo.SECRETS_PYTHON_TASK_RUN_ID, "1/run_script"),
    (fo.SECRETS_RUN_ID, fo.SECRETS_DBT_TASK_RUN_ID, fo.DBT_LOG_FILENAME),
]


@pytest.mark.parametrize("run_id, task_run_id, filename", CASE_LOGS)
def test_every_case_log_has_one_label_per_served_line(fake, run_id, task_run_id, filename):
    lines = text_lines(log_text(fake, run_id, task_run_id, filename))
    labels = fake.line_labels(run_id, task_run_id, filename)
    assert len(labels) == len(lines) and set(labels) <= set(fo.LINE_LABELS)
    assert labels == fo.line_labels(run_id, task_run_id, filename)   # neither clock nor seed matter


def labelled(fake, run_id, task_run_id, filename):
    return list(fake.labelled_lines(run_id, task_run_id, filename))


def test_dbt_lines_are_labelled_by_what_they_say(fake):
    pairs = labelled(fake, fo.DBT_MANY_RUN_ID, fo.DBT_MANY_TASK_RUN_ID, fo.DBT_LOG_FILENAME)
    def label_of(fragment):
        return {label for label, line in pairs if fragment in line}
    assert label_of(" OK created ") == label_of(" PASS ") == label_of("SQL status: SUCCESS") == {"success"}
    assert label_of(" START ") == {"progress"}
    assert label_of(" FAIL 14 ") == label_of("ERROR creating") == label_of("Completed with 5 errors") == {"error"}
    assert label_of("invalid identifier 'PLAN_TIER'") == label_of("Got 3 results") == {"error"}
    assert label_of("Done. PASS=14") == label_of("[SKIP]") == label_of("Began running node") == {"other"}
    nightly = labelled(fake, fo.FAILED_RUN_ID, fo.FAILED_DBT_TASK_RUN_ID, fo.DBT_LOG_FILENAME)
    assert sum(label == "success" for label, _ in nightly) >= 41 * 2   # each pass: a result and a SQL status
    assert {label for label, line in nightly if "ORDER_TOTAL_USD" in line} == {"error"}


def test_tracebacks_and_database_errors_are_error_blocks_progress_is_progress(fake):
    injection = labelled(fake, fo.INJECTION_RUN_ID, fo.INJECTION_TASK_RUN_ID, "1/run_script")
    start = next(i for i, (_, line) in enumerate(injection) if line.startswith("Traceback"))
    assert {label for label, _ in injection[start:]} == {"error"}
    assert (dict((line, label) for label, line in injection))[fo.INJECTION_LINE] == "error"
    timeout = labelled(fake, fo.TIMEOUT_RUN_ID, fo.TIMEOUT_TASK_RUN_ID, "1/run_script")
    assert [label for label, line in timeout if "Processed" in line] == ["progress"] * 20
    assert [label for label, line in timeout if line.startswith("[orchestra] Task exceeded")] == ["error"]
    postgres = labelled(fake, fo.CHILD_RUN_ID, fo.CHILD_ROOT_TASK_RUN_ID, "1/run_query")
    assert [label for label, _ in postgres] == ["other", "other", "error", "error", "error", "error", "error"]
    not_auth = labelled(fake, fo.NOT_AUTH_RUN_ID, fo.NOT_AUTH_TASK_RUN_ID, "1/run_script")
    assert {label for label, line in not_auth if "loaded 401 rows" in line} == {"progress"}
    assert {label for label, line in not_auth if "authenticator=SNOWFLAKE_JWT" in line} == {"other"}


def test_labels_of_a_log_that_is_not_there_are_a_key_error(fake):
    with pytest.raises(KeyError):
        fake.line_labels(fo.SAAS_FAIL_RUN_ID, fo.SAAS_FAIL_TASK_RUN_ID, "1/run_script")
    with pytest.raises(KeyError):
        fake.line_labels(fo.FAILED_RUN_ID, fo.QUOTA_TASK_RUN_ID, fo.QUOTA_LOG_FILENAME)


# Cancelled, cancelling, running with a failure.

def statuses(rows):
    return {r["taskId"]: r["status"] for r in rows}


def test_a_run_cancelled_by_another_user_says_who_and_why(fake):
    run = get(fake, f"/pipeline_runs/{fo.USER_CANCELLED_RUN_ID}/status").json()
    assert run["runStatus"] == "CANCELLED" and run["message"] == fo.USER_CANCELLED_MESSAGE
    assert "jane.doe@acme.io" in run["message"] and run["completedAt"]
    assert run["triggeredBy"][0]["triggerType"] == "SCHEDULED" and "userId" not in run["triggeredBy"][0]
    rows = per_run(fake, fo.USER_CANCELLED_RUN_ID)
    assert statuses(rows) == {"sync_billing": "SUCCEEDED", "dbt_revenue": "CANCELLED", "export_revenue": "CANCELLING",
                              "refresh_revenue_dashboard": "SKIPPED", "notify_finance": "SKIPPED"}
    by_id = {r["id"]: r for r in rows}
    assert by_id[fo.USER_CANCELLED_TASK_RUN_ID]["startedAt"] and by_id[fo.USER_CANCELLED_TASK_RUN_ID]["completedAt"]
    assert by_id[fo.USER_CANCELLED_LAGGING_TASK_RUN_ID]["completedAt"] is None
    assert {r["id"] for r in rows if r["status"] == "SKIPPED"} == set(fo.USER_CANCELLED_SKIPPED_TASK_RUN_IDS)
    assert all(r["startedAt"] is None for r in rows if r["status"] == "SKIPPED")
    cancelled = get(fake, f"/pipeline_runs/{fo.CANCELLED_RUN_ID}/status").json()   # the older one is unchanged
    assert (cancelled["runStatus"], cancelled["envName"], cancelled["message"]) == (
        "CANCELLED", "Staging", "Pipeline run cancelled by a user.")


def test_a_run_still_cancelling_has_no_end_and_running_tasks(fake):
    run = get(fake, f"/pipeline_runs/{fo.CANCELLING_RUN_ID}/status").json()
    assert (run["runStatus"], run["completedAt"], run["message"]) == ("CANCELLING", None, fo.CANCELLING_MESSAGE)
    assert run["triggeredBy"][0]["triggerType"] == "MANUAL"
    rows = per_run(fake, fo.CANCELLING_RUN_ID)
    assert statuses(rows) == {"sync_billing": "SUCCEEDED", "dbt_revenue": "CANCELLING", "export_revenue": "RUNNING",
                              "refresh_revenue_dashboard": "CREATED", "notify_finance": "CREATED"}
    assert next(r for r in rows if r["status"] == "CANCELLING")["id"] == fo.CANCELLING_TASK_RUN_ID
    listed = get(fake, "/pipeline_runs", status="CANCELLING", **window(fake, hours=1)).json()["results"]
    assert fo.CANCELLING_RUN_ID in [r["id"] for r in listed]


def test_a_forced_cancel_ends_the_cancelling_run_and_a_plain_one_changes_nothing(fresh_fake):
    fake = fresh_fake(runs=0)
    assert cancel(fake, fo.CANCELLING_RUN_ID).status_code == 204
    assert get(fake, f"/pipeline_runs/{fo.CANCELLING_RUN_ID}/status").json()["runStatus"] == "CANCELLING"
    assert cancel(fake, fo.CANCELLING_RUN_ID, {"force": True}).status_code == 204
    run = get(fake, f"/pipeline_runs/{fo.CANCELLING_RUN_ID}/status").json()
    assert run["runStatus"] == "CANCELLED" and run["completedAt"]
    assert statuses(per_run(fake, fo.CANCELLING_RUN_ID)) == {
        "sync_billing": "SUCCEEDED", "dbt_revenue": "CANCELLED", "export_revenue": "CANCELLED",
        "refresh_revenue_dashboard": "SKIPPED", "notify_finance": "SKIPPED"}
    assert cancel(fake, fo.CANCELLING_RUN_ID).status_code == 400


def test_a_running_run_can_already_have_a_failed_bigquery_task(fake):
    run = get(fake, f"/pipeline_runs/{fo.RUNNING_FAILED_RUN_ID}/status").json()
    assert (run["runStatus"], run["completedAt"]) == ("RUNNING", None)
    rows = per_run(fake, fo.RUNNING_FAILED_RUN_ID)
    by_id = {r["id"]: r for r in rows}
    failed = by_id[fo.RUNNING_FAILED_TASK_RUN_ID]
    assert (failed["status"], failed["integration"], failed["integrationJob"], failed["externalStatus"]) == (
        "FAILED", "GCP_BIG_QUERY", "GCP_BQ_RUN_QUERY_JOB", "403")
    assert fo.BIGQUERY_ERROR in failed["externalMessage"] and "quotaExceeded" in failed["externalMessage"]
    assert {status: by_id[task_run_id]["status"] for status, task_run_id in fo.RUNNING_ACTIVE_TASK_RUN_IDS.items()} == {
        status: status for status in fo.RUNNING_ACTIVE_TASK_RUN_IDS}
    assert statuses(rows)["model_ads"] == "CREATED"
    log = log_text(fake, fo.RUNNING_FAILED_RUN_ID, fo.RUNNING_FAILED_TASK_RUN_ID, "1/query_job")
    assert "google.api_core.exceptions.Forbidden: 403 Quota exceeded" in log
    writing = download(fake, fo.RUNNING_FAILED_RUN_ID, fo.RUNNING_ACTIVE_TASK_RUN_IDS["RUNNING"], "1/run_script")
    assert writing.headers["x-file-status"] == "WRITING"


# A flaky task, a timeout, a SaaS sync without logs.

@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_a_flaky_task_failed_then_succeeded_in_a_succeeded_run_in_every_mode(fakes, mode):
    fake, switches = fakes[mode], fo.MODES[mode]
    assert get(fake, f"/pipeline_runs/{fo.FLAKY_RUN_ID}/status").json()["runStatus"] == "SUCCEEDED"
    rows = per_run(fake, fo.FLAKY_RUN_ID, include_superseded="true")
    attempts = sorted((r for r in rows if r["taskId"] == "fetch_fx_rates"), key=lambda r: r["createdAt"])
    assert [(r["id"], r["status"]) for r in attempts] == [
        (fo.FLAKY_FIRST_TASK_RUN_ID, "FAILED"), (fo.FLAKY_RETRY_TASK_RUN_ID, "SUCCEEDED")]
    identity = {(r["taskId"], r["taskName"], json.dumps(r["taskParameters"], sort_keys=True), r["numberOfAttempts"])
                for r in attempts}
    assert len(identity) == 1 and attempts[0]["numberOfAttempts"] == 2
    if switches["attempt_number"]:
        assert [r["attemptNumber"] for r in attempts] == [1, 2]
    else:
        assert all("attemptNumber" not in r for r in rows)
    default = {r["id"] for r in per_run(fake, fo.FLAKY_RUN_ID)}
    assert (fo.FLAKY_FIRST_TASK_RUN_ID in default) is not switches["per_run_include_superseded"]
    assert "Connection refused" in attempts[0]["externalMessage"]
    logs = get(fake, log_url(fo.FLAKY_RUN_ID, fo.FLAKY_RETRY_TASK_RUN_ID)).json()
    assert logs["filenames"] == ["1/run_script", "2/run_script"]
    assert log_text(fake, fo.FLAKY_RUN_ID, fo.FLAKY_RETRY_TASK_RUN_ID, "2/run_script").endswith("finished OK\n")


def test_a_timeout_stands_out_against_the_pipelines_usual_duration(fake):
    run = get(fake, f"/pipeline_runs/{fo.TIMEOUT_RUN_ID}/status").json()
    (task,) = [r for r in per_run(fake, fo.TIMEOUT_RUN_ID) if r["status"] == "FAILED"]
    assert (task["id"], task["message"], task["externalStatus"]) == (
        fo.TIMEOUT_TASK_RUN_ID, fo.TIMEOUT_MESSAGE, "TIMED_OUT")
    seconds = (datetime.fromisoformat(task["completedAt"]) - datetime.fromisoformat(task["startedAt"])).total_seconds()
    assert fo.TIMEOUT_SECONDS <= seconds < fo.TIMEOUT_SECONDS + 30
    definition = get(fake, "/pipelines/data", pipeline_id=fo.DEDUP_PIPELINE_ID).json()
    assert definition["pipeline"]["dedupe_orders"]["configuration"] == {"retries": 0, "timeout": fo.TIMEOUT_SECONDS}
    log = text_lines(log_text(fake, fo.TIMEOUT_RUN_ID, fo.TIMEOUT_TASK_RUN_ID, "1/run_script"))
    progress = [line for line in log if re.search(r"Processed [\d,]+ of 9,800,000 rows \(\d+%\)$", line)]
    assert len(progress) == 20 and "Processed 1,176,000 of 9,800,000 rows (12%)" in progress[7]
    assert log[-2].startswith("[orchestra] Task exceeded its timeout of 3600 seconds")
    created = datetime.fromisoformat(run["createdAt"])
    history = get(fake, "/pipeline_runs", pipeline_ids=fo.DEDUP_PIPELINE_ID, status="SUCCEEDED",
                  time_from=(created - timedelta(days=6, hours=23)).isoformat(), time_to=created.isoformat()).json()
    durations = [(datetime.fromisoformat(r["completedAt"]) - datetime.fromisoformat(r["startedAt"])).total_seconds()
                 for r in history["results"]]
    assert len(durations) == 6 and max(durations) < 900 < fo.TIMEOUT_SECONDS / 3


def test_an_airbyte_sync_without_logs_carries_its_cause_in_the_messages_only(fake):
    rows = per_run(fake, fo.SAAS_FAIL_RUN_ID)
    (task,) = [r for r in rows if r["status"] == "FAILED"]
    assert (task["id"], task["integration"], task["integrationJob"], task["connectionId"]) == (
        fo.SAAS_FAIL_TASK_RUN_ID, "AIRBYTE_CLOUD", "AIRBYTE_CLOUD_JOB", fo.AIRBYTE_CONNECTION_ID)
    assert "HTTP 429 from Shopify API after 10 attempts" in task["externalMessage"]
    assert task["externalMessage"].startswith("Failure reason: Source connector failed")
    for what in ("logs", "artifacts"):
        assert get(fake, log_url(fo.SAAS_FAIL_RUN_ID, fo.SAAS_FAIL_TASK_RUN_ID, what)).json()["filenames"] == []
    assert statuses(rows)["model_shopify"] == "SKIPPED"
    connections = {c["connectionId"]: c for c in get(fake, "/integrations/connections").json()}
    assert connections[fo.AIRBYTE_CONNECTION_ID]["authStatus"] == "SUCCEEDED"


# Five dbt failures in one task; a compile error; a child run.

def test_one_dbt_task_with_three_failing_models_and_two_failing_tests(fake):
    (task,) = [r for r in per_run(fake, fo.DBT_MANY_RUN_ID) if r["status"] == "FAILED"]
    assert task["id"] == fo.DBT_MANY_TASK_RUN_ID and "fct_mrr" in task["externalMessage"]
    assert "fct_invoice_lines" not in task["externalMessage"]    # only the first error
    log = log_text(fake, fo.DBT_MANY_RUN_ID, fo.DBT_MANY_TASK_RUN_ID, fo.DBT_LOG_FILENAME)
    summary = log[log.index("Completed with 5 errors, 0 partial successes, and 0 warnings:"):]
    for unique_id in (*fo.DBT_MANY_FAILED_MODELS, *fo.DBT_MANY_FAILED_TESTS):
        name = unique_id.split(".")[-1]
        assert (f"Database Error in model {name} " if unique_id.startswith("model.")
                else f"Failure in test {name} ") in summary
    assert summary.count("invalid identifier 'PLAN_TIER'") == 2 and summary.count("configured to fail if != 0") == 2
    assert log.endswith("Done. PASS=14 WARN=0 ERROR=5 SKIP=4 NO-OP=0 TOTAL=23\n")
    assert len(re.findall(r"\d+ of 23 ERROR creating", log)) == 3 and len(re.findall(r"\d+ of 23 FAIL \d+", log)) == 2
    results = download(fake, fo.DBT_MANY_RUN_ID, fo.DBT_MANY_TASK_RUN_ID, "run_results.json", "artifacts").json()
    by_status = {}
    for result in results["results"]:
        by_status.setdefault(result["status"], []).append(result["unique_id"])
    assert sorted(by_status["error"]) == sorted(fo.DBT_MANY_FAILED_MODELS)
    assert sorted(by_status["fail"]) == sorted(fo.DBT_MANY_FAILED_TESTS)
    assert (len(by_status["success"]) + len(by_status["pass"]), len(by_status["skipped"])) == (14, 4)
    failing = [r for r in results["results"] if r["status"] in ("error", "fail")]
    groups = {re.sub(r"error line \d+ at position \d+|Got \d+ results|model \w+ \(models/[\w/]+\.sql\)|"
                     r"compiled code at \S+", "", r["message"]) for r in failing}
    assert len(groups) == 3
    assert {r["failures"] for r in failing if r["status"] == "fail"} == {14, 3}
    operations = operations_of(fake, fo.DBT_MANY_TASK_RUN_ID)
    assert len(operations) == 23
    assert sorted(o["operationName"] for o in operations if o["operationStatus"] == "FAILED") == sorted(
        (*fo.DBT_MANY_FAILED_MODELS, *fo.DBT_MANY_FAILED_TESTS))


def test_a_compile_error_is_only_in_the_log(fake):
    (task,) = per_run(fake, fo.COMPILE_RUN_ID)
    assert (task["id"], task["status"], task["externalMessage"]) == (fo.COMPILE_TASK_RUN_ID, "FAILED", None)
    assert "Compilation" not in task["message"]
    assert get(fake, log_url(fo.COMPILE_RUN_ID, fo.COMPILE_TASK_RUN_ID, "artifacts")).json() == {"filenames": []}
    missing = download(fake, fo.COMPILE_RUN_ID, fo.COMPILE_TASK_RUN_ID, "run_results.json", "artifacts")
    assert missing.status_code == 404
    assert get(fake, log_url(fo.COMPILE_RUN_ID, fo.COMPILE_TASK_RUN_ID)).json()["filenames"] == [
        fo.DEBUG_LOG_FILENAME, "1/dbt run"]
    log = log_text(fake, fo.COMPILE_RUN_ID, fo.COMPILE_TASK_RUN_ID, "1/dbt run")
    assert fo.COMPILE_ERROR in log and "source named 'stripe.payment_intents' which was not found" in log
    assert " START " not in log and "Done. PASS=" not in log


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_a_parent_run_names_its_failed_child_run_in_every_mode(fakes, mode):
    fake = fakes[mode]
    parent = get(fake, f"/pipeline_runs/{fo.PARENT_RUN_ID}/status").json()
    child_ref = {"pipelineId": fo.CHILD_PIPELINE_ID, "pipelineRunId": fo.CHILD_RUN_ID,
                 "pipelineName": fo.CHILD_PIPELINE_NAME}
    assert parent["runStatus"] == "FAILED" and parent["childPipelineRuns"] == [child_ref]
    listed = get(fake, "/pipeline_runs", **window(fake, days=2)).json()
    rows = {r["id"]: r for r in all_rows(fake, "/pipeline_runs", **window(fake, days=2))[0]}
    assert listed["total"] == len(rows) and rows[fo.PARENT_RUN_ID]["childPipelineRuns"] == [child_ref]
    assert all(r["childPipelineRuns"] == [] for run_id, r in rows.items() if run_id != fo.PARENT_RUN_ID)
    trigger = next(r for r in per_run(fake, fo.PARENT_RUN_ID) if r["id"] == fo.PARENT_TRIGGER_TASK_RUN_ID)
    assert (trigger["status"], trigger["integration"], trigger["integrationJob"]) == (
        "FAILED", "ORCHESTRA", "TRIGGER_PIPELINE")
    assert fo.CHILD_RUN_ID in trigger["externalMessage"] and trigger["runParameters"]["pipeline_run_id"] == fo.CHILD_RUN_ID
    assert statuses(per_run(fake, fo.PARENT_RUN_ID))["build_commerce_marts"] == "SKIPPED"
    child = get(fake, f"/pipeline_runs/{fo.CHILD_RUN_ID}/status").json()
    assert (child["runStatus"], child["pipelineName"]) == ("FAILED", fo.CHILD_PIPELINE_NAME)
    assert child["triggeredBy"][0] == {"triggerType": "TRIGGER_EVENT", "pipelineId": fo.PARENT_PIPELINE_ID,
                                       "pipelineRunId": fo.PARENT_RUN_ID, "pipelineName": "Commerce Daily"}
    root = next(r for r in per_run(fake, fo.CHILD_RUN_ID) if r["id"] == fo.CHILD_ROOT_TASK_RUN_ID)
    assert (root["status"], root["integrationJob"], root["externalStatus"]) == ("FAILED", "POSTGRES_RUN_QUERY", "42P01")
    assert root["externalMessage"].startswith(fo.POSTGRES_ERROR)
    log = log_text(fake, fo.CHILD_RUN_ID, fo.CHILD_ROOT_TASK_RUN_ID, "1/run_query")
    assert fo.POSTGRES_ERROR + "\nLINE 3:" in log and "SQLSTATE: 42P01" in log


# Auth words that are not an auth failure; text that addresses an agent.

def test_a_keyerror_next_to_authenticator_and_401_rows_is_not_an_auth_failure(fake):
    (task,) = per_run(fake, fo.NOT_AUTH_RUN_ID)
    assert (task["id"], task["externalMessage"]) == (fo.NOT_AUTH_TASK_RUN_ID, "KeyError: 'PLATINUM_PLUS'")
    log = log_text(fake, fo.NOT_AUTH_RUN_ID, fo.NOT_AUTH_TASK_RUN_ID, "1/run_script")
    assert "authenticator=SNOWFLAKE_JWT" in log and "loaded 401 rows" in log and "credentials_file=" in log
    assert log.endswith("KeyError: 'PLATINUM_PLUS'\n")
    assert not re.search(r"(?i)unauthori[sz]ed|incorrect username|password|forbidden|\b401 \w*error", log)
    connections = {c["connectionId"]: c for c in get(fake, "/integrations/connections").json()}
    assert connections[task["connectionId"]]["authStatus"] == "SUCCEEDED"


def test_text_addressing_an_agent_sits_inside_the_error_block(fake):
    (task,) = per_run(fake, fo.INJECTION_RUN_ID)
    assert task["externalMessage"].endswith(fo.INJECTION_LINE)
    lines = text_lines(log_text(fake, fo.INJECTION_RUN_ID, fo.INJECTION_TASK_RUN_ID, "1/run_script"))
    at = lines.index(fo.INJECTION_LINE)
    assert lines[at - 1] == "ValueError: note 88412 has an invalid body:"
    assert lines.index("Traceback (most recent call last):") < at < len(lines) - 1
    assert "finance_close" in fo.INJECTION_LINE and fake.workspace.pipelines_by_alias["finance_close"]


# The secret corpus, and where it is planted.

def key_entries(name):
    """POSITIVE entries of the key=value / key: value / JSON families with this key name, whole or as
    the last part of a longer key."""
    spelled = {"api_key": r"api[_-]key", "credential": r"credentials?"}.get(name, name)
    pattern = re.compile(rf"(?i)(?<![a-z0-9]){spelled}(?:\\?[\"'])?\s*[:=]|(?<=[_.-]){spelled}(?:\\?[\"'])?\s*[:=]")
    return [text for family, text, _ in corpus.POSITIVE if family in ("kv_eq", "kv_colon", "json")
            and pattern.search(text)]


def test_the_secret_corpus_covers_every_family_and_key_name_twice():
    assert len(corpus.POSITIVE) >= 40 and len(corpus.NEGATIVE) >= 40
    assert len(corpus.FAMILIES) == 15
    for family in corpus.FAMILIES:
        assert sum(f == family for f, _, _ in corpus.POSITIVE) >= 2, family
    for name in corpus.KEY_NAMES:
        assert len(key_entries(name)) >= 2, name
    every = "\n".join(text for _, text, _ in corpus.POSITIVE)
    for prefix in ("ghp_", "github_pat_", "glpat-", "xoxb-", "sk_live_", "AKIA", "-----BEGIN ", "Password=",
                   "Bearer ", "Basic ", "eyJ", "://"):
        assert every.count(prefix) >= 2 or prefix == "github_pat_", prefix
    assert {len(k) for k in re.findall(r"\bA[KS]IA[A-Z0-9]+", every)} == {20}
    assert {len(k) for k in re.findall(r"\bgh[pousr]_[A-Za-z0-9]+", every)} == {40}
    assert {len(k) for k in re.findall(r"\bglpat-[\w-]+", every)} == {26}
    assert {len(k) for k in re.findall(r"\b[rs]k_live_[A-Za-z0-9]+", every)} == {32}


def test_no_secret_is_short_or_found_in_an_ordinary_line():
    negatives = "\n".join(corpus.NEGATIVE)
    for family, text, secrets in corpus.POSITIVE:
        for secret in secrets:
            assert secret in text and len(secret) >= 8, (family, secret)
            assert secret[:8] not in negatives, (family, secret)
    for name in ("max_tokens=4096", "total_tokens: 1234", "session_timezone=UTC", "credentials_file=/etc/x.json",
                 "authenticator=SNOWFLAKE_JWT", "loaded 401 rows"):
        assert any(name in line for line in corpus.NEGATIVE), name
    assert any(re.search(r"\b[0-9a-f]{40}\b", line) for line in corpus.NEGATIVE)
    assert any(re.search(r"\b[0-9a-f]{8}-[0-9a-f]{4}-4", line) for line in corpus.NEGATIVE)
    assert any(re.search(r"\bmodel\.acme\.\w+", line) for line in corpus.NEGATIVE)
    assert set(corpus.PARAMETER_SECRETS) <= set(corpus.SECRETS)
    rendered = json.dumps([corpus.TASK_PARAMETERS, corpus.RUN_PARAMETERS])
    assert all(json.dumps(secret)[1:-1] in rendered for secret in corpus.PARAMETER_SECRETS)


def test_the_whole_corpus_is_planted_in_the_secrets_run(fake):
    run = get(fake, f"/pipeline_runs/{fo.SECRETS_RUN_ID}/status").json()
    assert run["runStatus"] == "FAILED"
    rows = {r["id"]: r for r in per_run(fake, fo.SECRETS_RUN_ID)}
    assert set(rows) == set(fo.SECRETS_TASK_RUN_IDS) and {r["status"] for r in rows.values()} == {"FAILED"}
    python, dbt = rows[fo.SECRETS_PYTHON_TASK_RUN_ID], rows[fo.SECRETS_DBT_TASK_RUN_ID]
    texts = {
        "python log": log_text(fake, fo.SECRETS_RUN_ID, fo.SECRETS_PYTHON_TASK_RUN_ID, "1/run_script"),
        "dbt log": log_text(fake, fo.SECRETS_RUN_ID, fo.SECRETS_DBT_TASK_RUN_ID, fo.DBT_LOG_FILENAME),
        "text artifact": download(fake, fo.SECRETS_RUN_ID, fo.SECRETS_DBT_TASK_RUN_ID, fo.SECRETS_TEXT_ARTIFACT,
                                  "artifacts").content.decode(),
        "python externalMessage": python["externalMessage"],
    }
    for where, text in texts.items():
        missing = [secret for secret in corpus.SECRETS if secret not in text]
        assert not missing, (where, missing)
    for where, text in texts.items():   # whole lines where Python printed them, inside dbt's log lines
        lines = set(text.split("\n")) if where.startswith("python") else None
        assert [line for line in corpus.NEGATIVE if (line not in lines if lines else line not in text)] == [], where
    assert python["taskParameters"] == corpus.TASK_PARAMETERS and python["runParameters"] == corpus.RUN_PARAMETERS
    assert "${{ secrets.PARTNER_API_KEY }}" in get(fake, "/pipelines/data", alias="partner_onboarding").text
    for field in (python["message"], dbt["message"], dbt["externalMessage"], json.dumps(dbt["runParameters"])):
        assert any(secret in field for secret in corpus.SECRETS), field
    results = download(fake, fo.SECRETS_RUN_ID, fo.SECRETS_DBT_TASK_RUN_ID, "run_results.json", "artifacts").text
    assert any(json.dumps(secret)[1:-1] in results for secret in corpus.SECRETS)
    operations = operations_of(fake, fo.SECRETS_DBT_TASK_RUN_ID)
    messages = [o["message"] for o in operations]
    for family in corpus.FAMILIES:
        first = next(text for f, text, _ in corpus.POSITIVE if f == family)
        assert first in messages, family
    assert "\n".join(corpus.NEGATIVE) in messages


# Every triage case is served as tests/triage_cases.py describes it.

OUTCOME_STATUSES = {"failed": {"FAILED"}, "warning": {"WARNING"}, "cancelled": {"CANCELLED", "CANCELLING"},
                    "running_with_failures": {"RUNNING"}, "skipped": {"SKIPPED"}, "succeeded": {"SUCCEEDED"},
                    "succeeded_after_retries": {"SUCCEEDED"}}


def served_text(fake, run_id, rows, children):
    """Everything the fake serves about a run: its row, task rows, logs, text artifacts, operations."""
    parts = [json.dumps(get(fake, f"/pipeline_runs/{run_id}/status").json())]
    for run in children:
        parts.append(json.dumps(get(fake, f"/pipeline_runs/{run}/status").json()))
    for row in rows:
        parts.append(json.dumps(row, ensure_ascii=False))
        base = log_url(row["pipelineRunId"], row["id"])
        for name in get(fake, base).json()["filenames"]:
            parts.append(log_text(fake, row["pipelineRunId"], row["id"], name))
        for name in get(fake, log_url(row["pipelineRunId"], row["id"], "artifacts")).json()["filenames"]:
            if name.endswith("results.json") or name.endswith(".log"):
                parts.append(download(fake, row["pipelineRunId"], row["id"], name, "artifacts").text)
        parts += [json.dumps(o, ensure_ascii=False) for o in operations_of(fake, row["id"])]
    return "\n".join(parts)


def test_the_triage_cases_are_well_formed():
    assert len(triage_cases.CASES) >= 12 and triage_cases.SECRETS_CASE in triage_cases.CASES
    keys = {"name", "run_id", "outcome", "root_cause_task_run_ids", "evidence", "must_not_blame", "kind", "notes"}
    for case in triage_cases.CASES:
        assert keys <= set(case) <= keys | {"details"}, case["name"]
        assert case["outcome"] in triage_cases.OUTCOMES
    assert len(triage_cases.BY_NAME) == len(triage_cases.CASES)
    assert {"quota_mid_log", "cancelled", "cancelling", "running_with_failures", "skipped", "flaky", "timeout",
            "no_log", "dbt_many", "compile", "matrix", "child_run", "auth", "not_auth", "injection",
            "secrets"} <= set(triage_cases.KINDS)
    assert {case["outcome"] for case in triage_cases.CASES} == set(triage_cases.OUTCOMES)


@pytest.mark.parametrize("case", triage_cases.CASES, ids=[case["name"] for case in triage_cases.CASES])
def test_each_triage_case_is_served_as_described(fake, case):
    run = get(fake, f"/pipeline_runs/{case['run_id']}/status").json()
    assert run["runStatus"] in OUTCOME_STATUSES[case["outcome"]]
    children = [child["pipelineRunId"] for child in run["childPipelineRuns"]]
    rows = [row for run_id in [case["run_id"], *children] for row in per_run(fake, run_id, include_superseded="true")]
    by_id = {row["id"]: row for row in rows}
    for task_run_id in case["root_cause_task_run_ids"]:
        assert by_id[task_run_id]["status"] in ("FAILED", "WARNING"), task_run_id
    for blamed in case["must_not_blame"]:
        if re.fullmatch(r"[0-9a-f-]{36}", blamed):
            assert blamed in by_id and blamed not in case["root_cause_task_run_ids"], blamed
    statuses_seen = {row["status"] for row in rows}
    if case["outcome"] == "running_with_failures":
        assert "FAILED" in statuses_seen and statuses_seen & {"RUNNING", "QUEUED", "CREATED"}
    if case["outcome"] == "succeeded_after_retries":
        failed = [row for row in rows if row["status"] == "FAILED"]
        assert failed and all(row["numberOfAttempts"] > 1 for row in failed)
    if case["outcome"] in ("cancelled", "skipped", "succeeded"):
        assert case["root_cause_task_run_ids"] == [] and "FAILED" not in statuses_seen
    text = served_text(fake, case["run_id"], rows, children)
    for evidence in case["evidence"]:
        assert evidence in text, evidence


# Every answer about the triage cases conforms to the published spec, in every mode.

TRIAGE_RUNS = (fo.QUOTA_RUN_ID, fo.USER_CANCELLED_RUN_ID, fo.CANCELLING_RUN_ID, fo.RUNNING_FAILED_RUN_ID,
               fo.FLAKY_RUN_ID, fo.TIMEOUT_RUN_ID, fo.SAAS_FAIL_RUN_ID, fo.DBT_MANY_RUN_ID, fo.COMPILE_RUN_ID,
               fo.PARENT_RUN_ID, fo.CHILD_RUN_ID, fo.NOT_AUTH_RUN_ID, fo.INJECTION_RUN_ID, fo.SECRETS_RUN_ID)


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_every_answer_about_the_triage_cases_conforms_to_the_facts(mode):
    with FakeOrchestra(runs=0, mode=mode, response_check=api_contract.check_response) as fake:
        for run_id in TRIAGE_RUNS:
            run = get(fake, f"/pipeline_runs/{run_id}/status").json()
            get(fake, "/pipelines/data", pipeline_id=run["pipelineId"])
            for row in per_run(fake, run_id):
                base = log_url(run_id, row["id"])
                for name in get(fake, base).json()["filenames"]:
                    download(fake, run_id, row["id"], name, headers={"Range": "bytes=-512"})
                get(fake, log_url(run_id, row["id"], "artifacts"))
                operations_of(fake, row["id"])
        for status in ("CANCELLING", "RUNNING", "FAILED,CANCELLED,SUCCEEDED"):
            get(fake, "/pipeline_runs", status=status, page_size=100, **window(fake, days=1))
        get(fake, "/task_runs", status="FAILED,CANCELLING,QUEUED,CREATED", page_size=100, **window(fake, hours=23))
        get(fake, "/integrations/connections")
        report = api_contract.contract_report(fake)
    assert report.violations == [], report.text()
    assert report.responses_validated > 100 and report.deliberate == []
