"""Tests of the contract checker (tests/api_contract.py): each rule catches a planted violation."""

import copy
import json
from datetime import timedelta
from pathlib import Path

import pytest
import requests

import api_contract as contract
import fake_orchestra as fo

RUN_ID = "8e808ad7-3d5a-4f08-b6e2-9a4c1d7f5e80"
TASK_RUN_ID = "d94e2b7a-1c58-4f3d-9a60-7b8c2e1f4d39"
ACCOUNT_ID = "0b7c1f4e-2a55-4d7e-9c61-3f2d8e4a9b10"
PIPELINE_ID = "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
WINDOW = {"time_from": ["2026-11-20T00:00:00Z"], "time_to": ["2026-11-23T00:00:00+00:00"]}
TASK_RUN = {
    "id": TASK_RUN_ID, "pipelineRunId": RUN_ID, "taskName": "dbt build", "taskId": "transform_core",
    "accountId": ACCOUNT_ID, "pipelineId": PIPELINE_ID, "integration": "DBT_CORE",
    "integrationJob": "DBT_CORE_EXECUTE", "status": "FAILED", "message": None,
    "externalStatus": "error", "externalMessage": None, "taskParameters": {"commands": "dbt build"},
    "runParameters": {}, "connectionId": "snowflake_prod_48213", "computeResourceId": None,
    "platformLink": None, "numberOfAttempts": 1, "matrixParent": False, "matrixParentId": None,
    "createdAt": "2026-11-23T02:00:00.512001+00:00", "updatedAt": "2026-11-23T02:14:50.733112+00:00",
    "startedAt": None, "completedAt": None, "dependsOn": None,
}
PER_RUN = f"/pipeline_runs/{RUN_ID}/task_runs"


def request(method, path, query=None, headers=(), body=None):
    return contract.check_request(method, path, query or {}, headers, body)


def page(*rows, **changes):
    return {"page": 1, "pageSize": 10, "total": len(rows), "results": list(rows), **changes}


def task_runs_answer(**changes):
    row = dict(TASK_RUN, **changes)
    return contract.check_response("GET", PER_RUN, 200, page(row))


def only(problems, *fragments):
    """The single violation, which must mention every fragment."""
    assert len(problems) == 1, problems
    assert all(fragment in problems[0] for fragment in fragments), problems[0]
    return problems[0]


# -- endpoints and paths ---------------------------------------------------------------------------

def test_endpoints_match_with_or_without_the_prefix_and_only_with_uuid_ids():
    key, params = contract.match_endpoint("GET", "/api/engine/public" + PER_RUN)
    assert (key, params) == ("GET /pipeline_runs/{pipeline_run_id}/task_runs", {"pipeline_run_id": RUN_ID})
    assert contract.match_endpoint("POST", "/pipelines/nightly_elt/start")[1] == {
        "pipeline_id_or_alias": "nightly_elt"}
    assert contract.match_endpoint("GET", "/pipeline_runs/8e808ad7/status") is None
    assert contract.match_endpoint("POST", "/pipeline_runs") is None


def test_an_unknown_path_is_a_violation():
    only(request("GET", f"/pipeline_runs/{RUN_ID}"), "not an endpoint")
    only(request("GET", f"/task_runs/{TASK_RUN_ID}"), "not an endpoint")
    assert request("GET", f"/pipeline_runs/{RUN_ID}/status") == []


def test_a_path_id_that_is_not_version_4_is_a_violation():
    only(request("GET", "/pipeline_runs/00000000-0000-1000-8000-000000000000/status"), "UUIDv4")


# -- query parameters ------------------------------------------------------------------------------

def test_an_unknown_query_parameter_is_a_violation():
    only(request("GET", "/pipeline_runs", {**WINDOW, "limit": ["100"]}), "'limit' is not declared")
    only(request("GET", "/pipelines", {"page_size": ["50"]}), "'page_size' is not declared")
    assert request("GET", "/pipeline_runs", {**WINDOW, "page": ["2"], "page_size": ["100"]}) == []


@pytest.mark.parametrize("path, size, ok", [
    ("/task_runs", "100", True), ("/task_runs", "101", False), (PER_RUN, "50", True),
    (PER_RUN, "51", False), (PER_RUN, "0", False),
])
def test_page_size_limits_come_from_the_endpoint(path, size, ok):
    query = {"page_size": [size], **(WINDOW if path == "/task_runs" else {})}
    problems = request("GET", path, query)
    assert (problems == []) is ok, problems
    if not ok:
        only(problems, "page_size")


def test_page_must_be_a_positive_integer_sent_once():
    only(request("GET", PER_RUN, {"page": ["0"]}), "below the minimum 1")
    only(request("GET", PER_RUN, {"page": ["two"]}), "not an integer")
    only(request("GET", PER_RUN, {"page": ["1", "2"]}), "sent 2 times")


@pytest.mark.parametrize("bound", ["time_from", "time_to"])
def test_a_one_sided_window_is_a_violation(bound):
    for path in ("/pipeline_runs", "/task_runs", "/operations"):
        only(request("GET", path, {bound: WINDOW[bound]}), "both time_from and time_to")


def test_a_missing_window_is_a_violation_on_the_three_windowed_lists_only():
    for path in ("/pipeline_runs", "/task_runs", "/operations"):
        only(request("GET", path), "missing: both")
    assert request("GET", PER_RUN) == []


def test_an_eight_day_or_reversed_window_is_a_violation_and_just_under_seven_days_is_not():
    eight = {"time_from": ["2026-11-15T00:00:00Z"], "time_to": ["2026-11-23T00:00:00Z"]}
    only(request("GET", "/task_runs", eight), "not less than 7 days")
    seven = {"time_from": ["2026-11-16T00:00:00Z"], "time_to": ["2026-11-23T00:00:00Z"]}
    only(request("GET", "/task_runs", seven), "not less than 7 days")
    under = {"time_from": ["2026-11-16T00:00:01Z"], "time_to": ["2026-11-23T00:00:00Z"]}
    assert request("GET", "/task_runs", under) == []
    backwards = {"time_from": WINDOW["time_to"], "time_to": WINDOW["time_from"]}
    only(request("GET", "/pipeline_runs", backwards), "not before")
    only(request("GET", "/operations", {**WINDOW, "time_to": ["yesterday"]}), "date-time")


def test_include_superseded_is_allowed_on_task_runs_but_not_on_the_per_run_listing():
    assert request("GET", "/task_runs", {**WINDOW, "include_superseded": ["false"]}) == []
    only(request("GET", "/task_runs", {**WINDOW, "include_superseded": ["maybe"]}), "boolean")
    only(request("GET", PER_RUN, {"include_superseded": ["false"]}),
         "'include_superseded' is not declared")


def test_comma_list_statuses_come_from_the_right_enum():
    assert request("GET", "/task_runs", {**WINDOW, "status": ["FAILED,QUEUED"]}) == []
    only(request("GET", "/pipeline_runs", {**WINDOW, "status": ["FAILED,QUEUED"]}),
         "'QUEUED' is not a PipelineRunStatus")
    only(request("GET", "/pipeline_runs", {**WINDOW, "status": ["TaskRunStatus.FAILED"]}), "PipelineRunStatus")
    only(request("GET", "/task_runs", {**WINDOW, "status": ["FAILED,"]}), "empty item")
    assert request("GET", "/task_runs", {**WINDOW, "status": [""]}) == []


def test_enum_uuid_and_id_list_parameters_are_checked():
    only(request("GET", "/operations", {**WINDOW, "status": ["FAILED,SKIPPED"]}), "OperationStatus")
    only(request("GET", "/operations", {**WINDOW, "task_run_id": ["d94e2b7a"]}), "UUIDv4")
    only(request("GET", "/pipeline_runs", {**WINDOW, "environments": ["Production"]}), "UUIDv4")
    only(request("GET", "/integrations/connections", {"authStatus": ["AUTHENTICATED"]}), "AuthStatus")
    assert request("GET", "/integrations/connections", {"integration": ["SNOWFLAKE"],
                                                       "authStatus": ["FAILED"]}) == []
    only(request("GET", "/pipeline", {"alias": ["x"], "version": ["v2"]}), "not an integer")


def test_a_required_query_parameter_must_be_sent():
    download = f"{PER_RUN}/{TASK_RUN_ID}/logs/download"
    only(request("GET", download), "'filename' is missing")
    assert request("GET", download, {"filename": ["1/dbt build"]}) == []


# -- headers ----------------------------------------------------------------------------------------

def test_headers_must_be_declared_or_allowlisted_in_any_case():
    logs = f"{PER_RUN}/{TASK_RUN_ID}/logs/download"
    artifacts = f"{PER_RUN}/{TASK_RUN_ID}/artifacts/download"
    query = {"filename": ["x"]}
    assert request("GET", logs, query, ["Range", "User-Agent", "Authorization"]) == []
    assert request("GET", artifacts, query, ["range"]) == []
    only(request("GET", f"{PER_RUN}/{TASK_RUN_ID}/logs", {}, ["Range"]), "'range' is not declared")
    for path, query in (("/environments", {}), (PER_RUN, {}), ("/task_runs", WINDOW)):
        assert request("GET", path, query, ["X-Orchestra-Account-Id"]) == []
    only(request("GET", "/environments", {}, ["X-Api-Key"]), "'x-api-key' is not declared")


# -- bodies ------------------------------------------------------------------------------------------

def test_start_bodies_take_only_webhook_request_data_fields_of_the_right_types():
    start = "/pipelines/nightly_elt/start"
    good = {"branch": "main", "taskIds": ["transform_core"], "runInputs": {"n": 1},
            "environment": "Production", "retryFromFailed": False, "versionNumber": None}
    assert request("POST", start, body=good) == []
    assert request("POST", start) == []
    only(request("POST", start, body={"cause": "rerun"}), "'cause' is not in WebhookRequestData")
    only(request("POST", start, body={"run_inputs": {}}), "'run_inputs' is not in WebhookRequestData")
    only(request("POST", start, body={"taskIds": "transform_core"}), "expected an array")
    only(request("POST", start, body={"retryFromFailed": None}), "not nullable")
    only(request("POST", start, body="{broken"), "not JSON")


def test_cancel_bodies_take_only_force():
    cancel = f"/pipeline_runs/{RUN_ID}/cancel"
    assert request("POST", cancel) == [] and request("POST", cancel, body={"force": True}) == []
    only(request("POST", cancel, body={"force": True, "reason": "x"}), "'reason' is not in Cancel")
    only(request("POST", cancel, body={"force": "yes"}), "expected a boolean")


def test_a_get_with_a_body_is_a_violation():
    only(request("GET", "/environments", body={"x": 1}), "takes none")


def test_journal_entries_are_checked_with_their_header_names():
    entry = {"method": "GET", "path": "/api/engine/public" + PER_RUN, "query": {"page_size": ["51"]},
             "body": None, "header_names": ["accept", "x-debug"]}
    problems = contract.check_journal_entry(entry)
    assert len(problems) == 2 and "page_size" in problems[0] and "x-debug" in problems[1]
    legacy = {"method": "GET", "path": PER_RUN, "query": {}, "body": None, "headers": {},
              "range": "bytes=-10"}
    only(contract.check_journal_entry(legacy), "'range' is not declared")


# -- responses --------------------------------------------------------------------------------------

def test_a_conforming_task_run_page_passes():
    assert task_runs_answer() == []


def test_a_missing_required_field_is_a_violation():
    row = dict(TASK_RUN)
    del row["taskId"]
    only(contract.check_response("GET", PER_RUN, 200, page(row)), "required field 'taskId'")
    envelope = page(TASK_RUN)
    del envelope["total"]
    only(contract.check_response("GET", PER_RUN, 200, envelope), "required field 'total'")


def test_a_wrong_type_is_a_violation():
    only(task_runs_answer(numberOfAttempts="1"), "numberOfAttempts", "expected an integer")
    only(task_runs_answer(matrixParent=1), "matrixParent", "expected a boolean")
    only(task_runs_answer(dependsOn="extract_orders"), "dependsOn", "expected an array")
    only(task_runs_answer(dependsOn=[1]), "dependsOn[0]", "expected a string")
    only(contract.check_response("GET", "/environments", 200, {"results": []}), "expected an array")


def test_a_null_where_not_nullable_is_a_violation():
    only(task_runs_answer(taskName=None), "taskName", "not nullable")
    only(task_runs_answer(matrixParent=None), "matrixParent", "not nullable")
    assert task_runs_answer(matrixParentId=None, dependsOn=None, numberOfAttempts=None) == []


def test_a_bad_enum_value_is_a_violation():
    only(task_runs_answer(status="ERROR"), "'ERROR' is not a TaskRunStatus")
    only(task_runs_answer(integration="dbt"), "IntegrationsEnum")
    only(task_runs_answer(matrixParentId="parent-1"), "UUIDv4")


def test_an_extra_field_is_a_violation_unless_allowlisted():
    only(task_runs_answer(anomalies=None), "'anomalies' is not in TaskRunResponse")
    assert task_runs_answer(attemptNumber=2) == []
    only(contract.check_response("GET", PER_RUN, 200, page(TASK_RUN, next=2)), "'next' is not in")


def test_nested_schemas_maps_and_unions_are_checked():
    run = {"id": RUN_ID, "pipelineId": PIPELINE_ID, "pipelineName": None, "accountId": ACCOUNT_ID,
           "runStatus": "FAILED", "message": "Pipeline failed - a task is in failed state.",
           "createdAt": "x", "updatedAt": "y", "triggeredBy": [{"triggerType": "SCHEDULED"}],
           "anomalies": {"b5d0e2a7-9c41-4f36-8e1d-6a3c0b9f2d57": {
               "type": "pipeline_duration_above_baseline",
               "data": {"percentage_above_baseline": 85, "threshold_seconds": 1800,
                        "compared_runs": 14, "observed_seconds": 2214}}}}
    status = f"/pipeline_runs/{RUN_ID}/status"
    assert contract.check_response("GET", status, 200, run) == []
    bad = copy.deepcopy(run)
    bad["triggeredBy"][0]["triggerType"] = "CRON"
    only(contract.check_response("GET", status, 200, bad), "triggeredBy[0].triggerType")
    camel = copy.deepcopy(run)
    camel["anomalies"]["b5d0e2a7-9c41-4f36-8e1d-6a3c0b9f2d57"]["data"] = {"percentageAboveBaseline": 85}
    assert any("percentageAboveBaseline" in p for p in contract.check_response("GET", status, 200, camel))
    keyed = copy.deepcopy(run)
    keyed["anomalies"] = {"not-a-uuid": keyed["anomalies"].popitem()[1]}
    only(contract.check_response("GET", status, 200, keyed), "key 'not-a-uuid'")
    files = f"{PER_RUN}/{TASK_RUN_ID}/logs"
    assert contract.check_response("GET", files, 200, {"filenames": ["a"], "files": {
        "a": {"attemptNumber": 1, "displayName": None}}}) == []
    only(contract.check_response("GET", files, 200, {"files": {"a": {"attempt": 1}}}), "'attempt'")


def test_start_cancel_errors_and_undeclared_statuses():
    start = "/pipelines/nightly_elt/start"
    only(contract.check_response("POST", start, 200, {"id": RUN_ID, "message": ""}),
         "required field 'pipelineRunId'")
    cancel = f"/pipeline_runs/{RUN_ID}/cancel"
    assert contract.check_response("POST", cancel, 204, None) == []
    only(contract.check_response("POST", cancel, 204, {}), "declares none")
    validation = {"detail": [{"type": "missing", "loc": ["query", "filename"], "msg": "Field required",
                              "input": None}]}
    assert contract.check_response("GET", "/task_runs", 422, validation) == []
    only(contract.check_response("GET", "/task_runs", 422, {"detail": [{"loc": ["query"], "type": "x"}]}),
         "'msg'")
    assert contract.check_response("GET", "/task_runs", 400, {"detail": "Both bounds"}) == []
    only(contract.check_response("GET", "/task_runs", 404, {"error": "nope"}), '{"detail": ...}')
    only(contract.check_response("POST", start, 201, {}), "status 201 is not declared")
    only(contract.check_response("GET", f"/task_runs/{TASK_RUN_ID}", 200, {}), "not an endpoint")


# -- the allowlist and the facts ------------------------------------------------------------------

def test_the_allowlist_holds_exactly_the_four_documented_exceptions():
    assert set(contract.ALLOWLIST["query"]) == {("GET /task_runs", "include_superseded")}
    assert contract.ALLOWLIST["headers"] == {
        ("*", "x-orchestra-account-id"),
        ("GET /pipeline_runs/{pipeline_run_id}/task_runs/{task_run_id}/artifacts/download", "range")}
    assert contract.ALLOWLIST["fields"] == {("TaskRunResponse", "attemptNumber")}


def test_the_facts_copy_equals_the_shared_facts():
    shared = Path(__file__).resolve().parents[2] / "shared" / "orchestra-api-facts.json"
    if not shared.exists():
        pytest.skip(f"no shared facts at {shared} to compare tests/api_facts.json with")
    assert json.loads(contract.FACTS_PATH.read_text()) == json.loads(shared.read_text())
    assert contract.FACTS_PATH.read_bytes() == shared.read_bytes()


# -- the fake serves only what the facts allow, in every mode -------------------------------------

AUTH = {"Authorization": "Bearer test-key"}
SWEEP_RUNS = (
    fo.FAILED_RUN_ID, fo.GOOD_RUN_ID, fo.RUNNING_RUN_ID, fo.RETRIED_RUN_ID, fo.WARNING_RUN_ID,
    fo.CANCELLED_RUN_ID, fo.SKIPPED_RUN_ID, fo.PYTHON_FAIL_RUN_ID, fo.HTTP_FAIL_RUN_ID,
    fo.CASCADE_RUN_ID, fo.NO_LOGS_RUN_ID, fo.AUTH_FAIL_RUN_ID, fo.MATRIX_RUN_ID, fo.GROUP_RUN_ID,
    fo.OLD_FAILED_RUN_ID, *fo.AMBIGUOUS_RUN_IDS,
)


class Sweep:
    """Sends spec-conforming requests to a fake and counts what the report should see."""

    def __init__(self, fake):
        self.fake, self.requests, self.json_answers = fake, 0, 0
        # One keep-alive client for this fake: requests.request makes a Session, a connection and a
        # server thread per call (~2 ms of CPU). Loopback only: no proxy or .netrc applies.
        self.session = requests.Session()
        self.session.trust_env = False

    def call(self, method, path, params=None, body=None, headers=None):
        response = self.session.request(method, self.fake.base_url + path, params=params, json=body,
                                        headers={**AUTH, **(headers or {})}, timeout=30)
        self.requests += 1
        is_download = path.endswith("/download") and response.status_code in (200, 206)
        self.json_answers += not is_download
        return response

    def pages(self, path, page_size, **params):
        page = 1
        while True:
            body = self.call("GET", path, dict(params, page=page, page_size=page_size)).json()
            yield from body["results"]
            if page * page_size >= body["total"]:
                return
            page += 1

    def windows(self, days=35, step=timedelta(days=6, hours=23)):
        end = self.fake.now()
        while days > 0:
            yield {"time_from": (end - step).isoformat(), "time_to": end.isoformat()}
            end -= step
            days -= step.days + 1


def sweep(fake):
    """Every endpoint of the facts, through the fake's scenarios, as a careful client calls them."""
    client = Sweep(fake)
    for path in ("/environments", "/integrations/connections", "/pipelines"):
        client.call("GET", path)
    client.call("GET", "/integrations/connections", {"integration": "SNOWFLAKE", "authStatus": "FAILED"})
    for pipeline in fake.workspace.pipelines:
        client.call("GET", "/pipeline", {"pipeline_id": pipeline.id})
        client.call("GET", "/pipelines/data", {"alias": pipeline.alias})
        if pipeline.version:
            client.call("GET", "/pipelines/data", {"pipeline_id": pipeline.id, "version": 1})
    for window in client.windows():
        list(client.pages("/pipeline_runs", 100, **window))
        list(client.pages("/task_runs", 100, include_superseded="true", **window))
        list(client.pages("/operations", 100, **window))
    client.call("GET", "/pipeline_runs", {"status": "FAILED,WARNING", "page_size": 5,
                                           **next(client.windows())})
    for run_id in SWEEP_RUNS:
        client.call("GET", f"/pipeline_runs/{run_id}/status")
        for task in client.pages(f"/pipeline_runs/{run_id}/task_runs", 50):
            base = f"/pipeline_runs/{run_id}/task_runs/{task['id']}"
            logs = client.call("GET", base + "/logs").json()["filenames"]
            artifacts = client.call("GET", base + "/artifacts").json()["filenames"]
            for name in logs[-1:]:
                client.call("GET", base + "/logs/download", {"filename": name}, headers={"Range": "bytes=-512"})
            for name in [n for n in artifacts if n.endswith("run_results.json")]:
                client.call("GET", base + "/artifacts/download", {"filename": name},
                            headers={"Range": "bytes=0-99"})
    client.call("GET", "/pipeline_runs/0f0e0d0c-0b0a-4908-8706-050403020100/status")   # 404
    started = client.call("POST", f"/pipelines/{fo.PIPELINE_ALIAS}/start",
                          body={"branch": "main", "environment": "Production"}).json()
    client.call("POST", f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start", body={"runInputs": {"command": "ls"}})
    client.call("POST", f"/pipelines/{fo.INPUT_PIPELINE_ALIAS}/start", body={})   # 400: input missing
    client.call("POST", f"/pipelines/{fo.NO_RUN_ID_PIPELINE_ALIAS}/start")
    client.call("POST", f"/pipeline_runs/{started['pipelineRunId']}/cancel")
    client.call("POST", f"/pipeline_runs/{started['pipelineRunId']}/cancel", body={"force": True})
    client.call("POST", f"/pipeline_runs/{started['pipelineRunId']}/cancel")   # 400: finished
    client.call("GET", f"/pipeline_runs/{started['pipelineRunId']}/status")
    return client


@pytest.mark.parametrize("mode", sorted(fo.MODES))
def test_every_answer_of_the_fake_conforms_to_the_facts_in_every_mode(mode):
    with fo.FakeOrchestra(runs=200, mode=mode, run_seconds=60, cancel_seconds=60,
                          response_check=contract.check_response) as fake:
        client = sweep(fake)
        report = contract.contract_report(fake)
    print(f"\n{mode}: {report.requests_validated} requests, {report.responses_validated} responses")
    assert report.violations == [], report.text()
    assert report.requests_validated == client.requests > 200
    assert report.responses_validated == client.json_answers
    downloads = {k for k, e in contract.FACTS["endpoints"].items() if e["response"] == "any"}
    for key, endpoint in contract.FACTS["endpoints"].items():
        if key not in downloads:
            assert report.responses_by_endpoint.get(f"{key} -> {endpoint['successStatus']}"), key
    assert report.responses_by_endpoint["POST /pipeline_runs/{pipeline_run_id}/cancel -> 400"] == 1
    if fo.MODES[mode]["start_without_run_id"]:
        (deliberate,) = report.deliberate
        assert "required field 'pipelineRunId'" in deliberate
    else:
        assert report.deliberate == []


def test_the_report_catches_what_a_client_or_the_fake_gets_wrong():
    with fo.FakeOrchestra(runs=0, response_check=contract.check_response) as fake:
        client = Sweep(fake)
        client.call("GET", f"/pipeline_runs/{fo.FAILED_RUN_ID}/task_runs",
                    {"include_superseded": "false", "page_size": 50})
        client.call("GET", "/pipelines", {"name": "night", "page": 1, "page_size": 50})
        client.call("GET", "/task_runs")                          # no window, twice
        client.call("GET", "/task_runs")
        original = fo.environment_row
        try:
            fo.environment_row = lambda e: dict(original(e), values={})   # the fake invents a field
            client.call("GET", "/environments")
        finally:
            fo.environment_row = original
        report = contract.contract_report(fake, clear=True)
        assert (report.requests_validated, report.responses_validated) == (5, 5)
        text = "\n".join(report.violations)
        assert "'include_superseded' is not declared" in text
        assert all(f"'{name}' is not declared" in text for name in ("name", "page", "page_size"))
        assert "GET /task_runs: a windowed list needs both time_from and time_to (missing: both) (2 times)" in text
        assert len([v for v in report.violations if "field 'values' is not in Protected" in v]) == 3
        assert report.deliberate == ["/pipelines answers a paginated envelope, as newer servers do when "
                                     "paged: GET /pipelines -> 200: body: an object, expected an array"]
        assert fake.journal == [] and fake.response_checks["checked"] == 0
