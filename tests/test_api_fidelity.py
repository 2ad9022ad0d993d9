"""Right answers wherever the published API leaves things open (issue #14, section 3).

Each behaviour runs against the fake in each of its modes: "kind" (today's convenient answers),
"strict" (only what the spec promises: no attemptNumber, oldest-first lists, no parameters on
/pipelines, camelCase start bodies only) and "spec_silent" (the least convenient answer the spec
still allows: shuffled pages, include_superseded ignored everywhere, no run definition on
/status, a start answer without pipelineRunId, a per-run listing that forgets runs after 7 days).
Every request the server sends and every JSON answer the fake serves is checked against the
spec's facts (tests/api_contract.py); the counts per mode are printed.
"""
import api_contract
import pytest
from fake_orchestra import (
    FAILED_RUN_ID,
    GOOD_RUN_ID,
    GROUP_FAILED_TASK_RUN_ID,
    GROUP_RUN_ID,
    GROUP_RUN_VERSION,
    GROUP_SKIPPED_TASK_RUN_IDS,
    MATRIX_APAC_TASK_RUN_ID,
    MATRIX_PARENT_TASK_RUN_ID,
    MATRIX_RUN_ID,
    MATRIX_US_FIRST_TASK_RUN_ID,
    MATRIX_US_RETRY_TASK_RUN_ID,
    MODES,
    NO_RUN_ID_PIPELINE_ALIAS,
    OLD_FAILED_RUN_ID,
    OLD_FAILED_TASK_RUN_ID,
    PIPELINE_ID,
    FakeOrchestra,
)
from mcp_helpers import REPO, server_env

from orchestra_mcp import LineClient

FIGURES = {}


@pytest.fixture(scope="module", params=sorted(MODES))
def rig(request, tmp_path_factory):
    """One fake in this mode (its answers checked against the facts) and one server against it."""
    fake = FakeOrchestra(mode=request.param, run_seconds=600,
                         response_check=api_contract.check_response).start()
    server = LineClient(env=server_env(fake.base_url, tmp_path_factory.mktemp(request.param)),
                        cwd=str(REPO))
    server.initialize()
    yield request.param, fake, server
    server.close()
    report = api_contract.contract_report(fake)
    FIGURES[request.param] = (report.requests_validated, report.responses_validated)
    fake.stop()
    assert not report.violations, report.text()


@pytest.fixture(scope="module", autouse=True)
def print_figures():
    yield
    print("\ncontract checks (requests, responses) per mode: " + ", ".join(
        f"{mode}: {counts}" for mode, counts in sorted(FIGURES.items())))


def call(rig, tool, **arguments):
    is_error, payload = rig[2].call(tool, timeout=60, **arguments)
    assert not is_error, payload
    return payload


def sent(rig, ending, since=0):
    return [e for e in rig[1].journal[since:] if e["path"].endswith(ending)]


def test_matrix_children_are_told_apart_and_a_retried_child_is_not_a_root_cause(rig):
    result = call(rig, "diagnose_pipeline_run", pipeline_run_id=MATRIX_RUN_ID)
    roots = [c["taskRunId"] for c in result["rootCauses"]]
    assert roots == [MATRIX_APAC_TASK_RUN_ID], result["rootCauses"]   # never the parent, never us
    assert MATRIX_PARENT_TASK_RUN_ID not in roots
    assert [r["taskRunId"] for r in result["retried"]] == [MATRIX_US_RETRY_TASK_RUN_ID]
    assert result["rootCauses"][0]["matrix"]["runParameters"] == {"region": "apac"}
    details = call(rig, "get_pipeline_run_details", pipeline_run_id=MATRIX_RUN_ID)
    assert MATRIX_US_FIRST_TASK_RUN_ID not in [t["id"] for t in details["tasks"]]
    assert details["countsByStatus"]["FAILED"] == 2   # apac and the parent, not the first us try


def test_group_level_dependencies_make_the_right_root_cause_and_impact(rig):
    mark = len(rig[1].journal)
    result = call(rig, "diagnose_pipeline_run", pipeline_run_id=GROUP_RUN_ID)
    assert [c["taskRunId"] for c in result["rootCauses"]] == [GROUP_FAILED_TASK_RUN_ID]
    impact = {i["taskId"]: i["because"] for i in result["impact"]}
    assert impact == {"transform_orders": ["ingest_customers"],
                      "transform_customers": ["ingest_customers"]}, result["impact"]
    definitions = sent(rig, "/pipelines/data", mark)
    if rig[0] == "spec_silent":   # no data on /status: the run's own revision is read, once
        assert [e["query"].get("version") for e in definitions] == [[str(GROUP_RUN_VERSION)]]
    else:   # the run's own definition came with its status
        assert definitions == []
    assert not any("current definition" in note for note in result.get("notes", []))
    assert len(GROUP_SKIPPED_TASK_RUN_IDS) == len(impact)


def test_history_is_right_whatever_order_the_api_lists_runs_in(rig):
    result = call(rig, "diagnose_pipeline_run", pipeline_run_id=FAILED_RUN_ID)
    assert result["history"]["lastSuccess"]["id"] == GOOD_RUN_ID
    assert result["history"]["window"]["to"] <= result["run"]["createdAt"]
    listing = call(rig, "list_pipeline_runs", time_from="3d", limit=30)
    created = [r["createdAt"] for r in listing["runs"]]
    assert created == sorted(created, reverse=True) and len(created) == 30


def test_retry_from_failed_is_suggested_only_for_the_pipelines_newest_run(rig):
    newest = call(rig, "diagnose_pipeline_run", pipeline_run_id=FAILED_RUN_ID)
    assert any("retry_from_failed=true" in step for step in newest["nextSteps"])
    older = call(rig, "diagnose_pipeline_run", pipeline_run_id=OLD_FAILED_RUN_ID)
    assert not any("retry_from_failed=true" in step for step in older["nextSteps"])
    assert any("task_ids=" in step and "not the pipeline's newest" in step for step in older["nextSteps"])


def test_a_start_answer_is_read_by_pipeline_run_id_only(rig):
    started = call(rig, "trigger_pipeline", pipeline_id=PIPELINE_ID, environment="Production")
    post = sent(rig, "/start")[-1]
    assert post["body"] == {"environment": "Production"}   # as the user gave it, in every mode
    assert started["pipelineRunId"] and started["outcome"] == "started"
    status = call(rig, "get_pipeline_run_status", pipeline_run_id=started["pipelineRunId"])
    assert status["id"] == started["pipelineRunId"]   # the run's id, never the answer's `id`


def test_a_start_answered_without_pipeline_run_id_is_started_with_its_id_unknown(rig):
    if not MODES[rig[0]]["start_without_run_id"]:
        pytest.skip(f"the {rig[0]} fake always names the new run")
    started = call(rig, "trigger_pipeline", pipeline_id=NO_RUN_ID_PIPELINE_ALIAS)
    assert started["started"] is True and started["outcome"] == "started"
    assert "pipelineRunId" not in started and "list_pipeline_runs" in started["hint"]
    is_error, again = rig[2].call("trigger_pipeline", pipeline_id=NO_RUN_ID_PIPELINE_ALIAS)
    assert is_error and "allow_duplicate" in again   # the guard still counts it as a start


def test_a_run_past_the_per_run_listings_retention_still_gets_its_task_runs(rig):
    mark = len(rig[1].journal)
    result = call(rig, "diagnose_pipeline_run", pipeline_run_id=OLD_FAILED_RUN_ID)
    assert [c["taskRunId"] for c in result["rootCauses"]] == [OLD_FAILED_TASK_RUN_ID]
    from_window = [e for e in sent(rig, "/public/task_runs", mark) if "pipeline_ids" in e["query"]]
    if MODES[rig[0]]["per_run_retention_days"]:
        assert from_window and any("came from /task_runs" in n for n in result["notes"])
    else:
        assert not from_window


def test_pipelines_are_listed_with_no_parameters_and_filtered_here(rig):
    mark = len(rig[1].journal)
    result = call(rig, "list_pipelines", name="NIGHTLY")
    assert [p["id"] for p in result["pipelines"]] == [PIPELINE_ID]
    assert [e["query"] for e in sent(rig, "/pipelines", mark)] == [{}]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_last_success_of_a_busy_pipeline_is_found_whatever_the_listing_order(mode, tmp_path):
    # ~900 runs a week on inventory_snapshot: reading a capped part of a 7-day window in the API's
    # order (oldest first, shuffled) finds a success days old; growing windows, each read whole,
    # find the one right before the run.
    fake = FakeOrchestra(mode=mode, runs=20_000).start()
    server = LineClient(env=server_env(fake.base_url, tmp_path), cwd=str(REPO))
    try:
        server.initialize()
        pipeline = fake.workspace.pipelines_by_alias["inventory_snapshot"]
        now = fake.workspace.now_us()
        runs = sorted((r for r in fake.workspace.runs_between(now - 3 * 86_400_000_000, now)
                       if r.pipeline is pipeline), key=lambda r: r.created, reverse=True)
        failed = next(r for r in runs if r.status == "FAILED")
        expected = next(r for r in runs if r.created < failed.created and r.status == "SUCCEEDED")
        is_error, result = server.call("diagnose_pipeline_run", timeout=60, pipeline_run_id=failed.id)
        assert not is_error, result
        assert result["history"]["lastSuccess"]["id"] == expected.id, result["history"]
    finally:
        server.close()
        fake.stop()
