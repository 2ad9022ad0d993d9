"""The seven core tools through the official SDK client, against the fake Orchestra (issue #5).

Each scenario asserts on the fake's journal (what reached the API), not only on the result.
"""
import base64
import hashlib
import os
import re
from datetime import datetime, timedelta, timezone

import pytest
import requests
from fake_orchestra import (
    AMBIGUOUS_PREFIX,
    AMBIGUOUS_RUN_IDS,
    BINARY_ARTIFACT,
    FAILED_DBT_TASK_RUN_ID,
    FAILED_RUN_ID,
    INPUT_PIPELINE_ALIAS,
    PIPELINE_ALIAS,
    PIPELINE_ID,
    RETRIED_FIRST_TASK_RUN_ID,
    RETRIED_RUN_ID,
    SKIPPED_TASK_RUN_ID,
)
from mcp_helpers import SdkSession, call_tool, call_tools, finish, list_tools, proc_field, server_env, start

WEEK = timedelta(days=7)


@pytest.fixture
def env(fake, tmp_path):
    return server_env(fake.base_url, tmp_path)


@pytest.fixture(scope="module")
def module_session(fake_orchestra, tmp_path_factory):
    """One SDK session (one server process) for the read-only scenarios, against the session's fake:
    a fresh process is not their point, and each asserts on the journal of its own calls only."""
    session = SdkSession(server_env(fake_orchestra.base_url, tmp_path_factory.mktemp("tools-home")))
    yield session
    session.close()


@pytest.fixture
def session(module_session, fake):
    """The module's SDK session, with the fake's journal empty and no faults (the `fake` fixture)."""
    return module_session


def direct(fake, path, **params):
    """The fake's own answer, for expected values (not through the server)."""
    response = requests.get(fake.base_url + path, params=params, headers={"Authorization": "Bearer test-key"},
                            timeout=10)
    response.raise_for_status()
    return response


def listing_requests(fake, path):
    return [entry for entry in fake.journal if entry["path"].endswith(path)]


def assert_well_formed_listing(entries, max_page_size=100):
    """Both bounds, windows under 7 days, page/page_size within limits, no invented parameters."""
    assert entries
    for entry in entries:
        query = entry["query"]
        assert "limit" not in query and "offset" not in query and "per_page" not in query
        assert int(query["page_size"][0]) <= max_page_size and int(query["page"][0]) >= 1
        if "time_from" in query or "time_to" in query:
            start = datetime.fromisoformat(query["time_from"][0])
            end = datetime.fromisoformat(query["time_to"][0])
            assert timedelta(0) < end - start < WEEK


def test_list_pipeline_runs_over_nine_days_sums_two_chunks_exactly(fake, session):
    end = datetime.now(timezone.utc).replace(microsecond=0)
    start = end - timedelta(days=9)
    is_error, result = session.call_tool("list_pipeline_runs", time_from=start.isoformat(), time_to=end.isoformat(),
                                 limit=10)
    assert not is_error, result
    entries = listing_requests(fake, "/pipeline_runs")
    assert_well_formed_listing(entries)
    windows = {(e["query"]["time_from"][0], e["query"]["time_to"][0]) for e in entries}
    assert len(windows) == 2
    expected = sum(direct(fake, "/pipeline_runs", time_from=a, time_to=b, page_size=1).json()["total"]
                   for a, b in windows)
    assert result["total"] == expected > 100
    assert sum(result["countsByStatus"].values()) == expected
    assert len(result["runs"]) == 10 and result["returned"] == 10
    created = [run["createdAt"] for run in result["runs"]]
    assert created == sorted(created, reverse=True)
    assert "time_to=" in result["hint"]


def test_list_pipeline_runs_filters_by_status_and_alias_and_clamps_the_limit(fake, session):
    is_error, result = session.call_tool("list_pipeline_runs", time_from="7d", status_filter=["failed", "Warning"],
                                 pipeline_id=PIPELINE_ALIAS, limit=500)
    assert not is_error, result
    assert {run["runStatus"] for run in result["runs"]} <= {"FAILED", "WARNING"}
    assert "clamped" in result["note"]
    assert any(e["path"].endswith("/pipeline") and e["query"]["alias"] == [PIPELINE_ALIAS] for e in fake.journal)
    runs = listing_requests(fake, "/pipeline_runs")
    assert all(e["query"]["status"] == ["FAILED,WARNING"] and e["query"]["pipeline_ids"] == [PIPELINE_ID] for e in runs)
    assert FAILED_RUN_ID in [run["id"] for run in result["runs"]]


def test_an_unknown_status_is_refused_with_the_valid_ones_and_nothing_sent(fake, session):
    is_error, text = session.call_tool("list_pipeline_runs", status_filter="BROKEN")
    assert is_error and "SUCCEEDED" in text and "BROKEN" in text
    assert fake.journal == []


def test_an_empty_window_is_a_normal_result_that_names_the_window(fake, session):
    is_error, result = session.call_tool("list_pipeline_runs", time_from="2020-01-01T00:00:00Z",
                                 time_to="2020-01-02T00:00:00Z")
    assert not is_error
    assert result["total"] == 0 and "runs" not in result
    assert result["window"]["from"].startswith("2020-01-01") and "no runs" in result["hint"]


def test_a_unique_prefix_resolves_and_an_ambiguous_one_lists_the_candidates(fake, session):
    (ok_error, status), (ambiguous_error, text) = session.call_tools([
        ("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID[:8]}),
        ("get_pipeline_run_status", {"pipeline_run_id": AMBIGUOUS_PREFIX}),
    ])
    assert not ok_error and status["id"] == FAILED_RUN_ID and status["runStatus"] == "FAILED"
    assert status["pipelineName"] and status["commit"] and status["trigger"] == "SCHEDULED"
    assert ambiguous_error and all(run_id in text for run_id in AMBIGUOUS_RUN_IDS)
    status_calls = [e for e in fake.journal if e["path"].endswith("/status")]
    assert [e["path"].split("/")[-2] for e in status_calls] == [FAILED_RUN_ID]


def test_an_unknown_run_is_not_found_by_name(fake, session):
    missing = "00000000-0000-4000-8000-000000000000"
    is_error, text = session.call_tool("get_pipeline_run_status", pipeline_run_id=missing)
    assert is_error and missing in text and "not found" in text


def test_get_pipeline_run_details_lists_every_task_in_start_order(fake, session):
    is_error, result = session.call_tool("get_pipeline_run_details", pipeline_run_id=FAILED_RUN_ID)
    assert not is_error, result
    assert [task["taskId"] for task in result["tasks"]][:2] == ["extract_orders", "transform_core"]
    assert result["countsByStatus"] == {"SUCCEEDED": 1, "FAILED": 1, "SKIPPED": 1}
    failed = next(task for task in result["tasks"] if task["status"] == "FAILED")
    assert "ORDER_TOTAL_USD" in failed["externalMessage"] and failed["dependsOn"] == ["extract_orders"]
    entries = listing_requests(fake, "/task_runs")
    assert_well_formed_listing(entries, max_page_size=50)
    assert all(FAILED_RUN_ID in e["path"] for e in entries)


def test_superseded_attempts_are_shown_only_when_asked(fake, session):
    (_, hidden), (_, shown) = session.call_tools([
        ("get_pipeline_run_details", {"pipeline_run_id": RETRIED_RUN_ID}),
        ("get_pipeline_run_details", {"pipeline_run_id": RETRIED_RUN_ID, "include_superseded": True}),
    ])
    assert RETRIED_FIRST_TASK_RUN_ID not in [task["id"] for task in hidden["tasks"]]
    first = next(task for task in shown["tasks"] if task["id"] == RETRIED_FIRST_TASK_RUN_ID)
    assert first["superseded"] is True


def test_list_task_runs_of_one_run_refuses_filters_the_api_would_ignore(fake, session):
    is_error, text = session.call_tool("list_task_runs", pipeline_run_id=FAILED_RUN_ID, time_from="2d")
    assert is_error and "time_from" in text
    assert fake.journal == []
    is_error, result = session.call_tool("list_task_runs", pipeline_run_id=FAILED_RUN_ID, status_filter="skipped")
    assert not is_error
    assert [task["id"] for task in result["taskRuns"]] == [SKIPPED_TASK_RUN_ID]
    assert all(task["pipelineRunId"] == FAILED_RUN_ID for task in result["taskRuns"])


def test_list_task_runs_across_a_window_uses_task_runs_with_both_bounds(fake, session):
    is_error, result = session.call_tool("list_task_runs", time_from="48h", integration="dbt_core", limit=5)
    assert not is_error, result
    entries = listing_requests(fake, "/task_runs")
    assert_well_formed_listing(entries)
    assert all(e["query"]["integration"] == ["DBT_CORE"] for e in entries)
    assert {task["integration"] for task in result["taskRuns"]} == {"DBT_CORE"}
    assert result["total"] >= len(result["taskRuns"]) == 5


def test_get_task_run_artifacts_lists_artifacts_and_logs(fake, session):
    is_error, result = session.call_tool("get_task_run_artifacts", pipeline_run_id=FAILED_RUN_ID,
                                 task_run_id=FAILED_DBT_TASK_RUN_ID)
    assert not is_error, result
    assert {"manifest.json", "run_results.json", BINARY_ARTIFACT} <= set(result["artifacts"])
    assert {"filename": "1/dbt build", "attemptNumber": 1} .items() <= next(
        log for log in result["logs"] if log["filename"] == "1/dbt build").items()


def test_a_text_artifact_reads_in_two_ranged_pieces(fake, session):
    expected = direct(fake, f"/pipeline_runs/{FAILED_RUN_ID}/task_runs/{FAILED_DBT_TASK_RUN_ID}/artifacts/download",
                      filename="run_results.json").content
    fake.clear_journal()
    args = {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID, "filename": "run_results.json"}
    (_, first), = session.call_tools([("download_task_artifact", dict(args, max_bytes=len(expected) // 2))])
    assert first["encoding"] == "utf-8" and first["nextOffset"] == len(first["content"].encode())
    (_, second), = session.call_tools([("download_task_artifact", dict(args, offset=first["nextOffset"]))])
    assert (first["content"] + second["content"]).encode() == expected
    assert "nextOffset" not in second and second["size"] == len(expected)
    ranges = [e["range"] for e in fake.journal if e["path"].endswith("/artifacts/download")]
    assert ranges == [f"bytes=0-{len(expected) // 2 - 1}", f"bytes={first['nextOffset']}-{first['nextOffset'] + 20000 - 1}"]


def test_a_binary_artifact_round_trips_byte_exact_through_base64(fake, session):
    expected = direct(fake, f"/pipeline_runs/{FAILED_RUN_ID}/task_runs/{FAILED_DBT_TASK_RUN_ID}/artifacts/download",
                      filename=BINARY_ARTIFACT).content
    is_error, result = session.call_tool("download_task_artifact", pipeline_run_id=FAILED_RUN_ID,
                                 task_run_id=FAILED_DBT_TASK_RUN_ID, filename=BINARY_ARTIFACT,
                                 max_bytes=len(expected))
    assert not is_error, result
    assert result["encoding"] == "base64"
    assert base64.b64decode(result["content"]) == expected[: result["bytes"]]
    assert len(result["content"]) < 40_000


def test_a_missing_artifact_names_the_available_ones(fake, session):
    is_error, text = session.call_tool("download_task_artifact", pipeline_run_id=FAILED_RUN_ID,
                               task_run_id=FAILED_DBT_TASK_RUN_ID, filename="catalog.json")
    assert is_error and "catalog.json" in text and "run_results.json" in text


def test_save_downloads_the_large_manifest_privately_with_flat_memory(fake, env, tmp_path):
    expected = direct(fake, f"/pipeline_runs/{FAILED_RUN_ID}/task_runs/{FAILED_DBT_TASK_RUN_ID}/artifacts/download",
                      filename="manifest.json").content
    server = start(env)
    try:
        server.initialize()
        server.call("list_pipelines")   # warm up: requests and urllib3 imported, session built
        before = proc_field(server.process.pid, "VmHWM")
        is_error, result = server.call("download_task_artifact", pipeline_run_id=FAILED_RUN_ID,
                                       task_run_id=FAILED_DBT_TASK_RUN_ID, filename="manifest.json", save=True)
        growth_kb = proc_field(server.process.pid, "VmHWM") - before
    finally:
        finish(server)
    assert not is_error, result
    assert result["size"] == len(expected) >= 4 * 1024 * 1024
    assert result["sha256"] == hashlib.sha256(expected).hexdigest()
    saved = result["savedTo"]
    assert saved.startswith(str(tmp_path / "downloads")) and os.stat(saved).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(saved)).st_mode & 0o777 == 0o700
    assert growth_kb < len(expected) // 1024 // 2, f"peak RSS grew {growth_kb} kB for a {len(expected)} B file"


@pytest.fixture
def write_fake(fresh_fake):
    """Each start test gets its own fake: a run started by one test is still going when the next begins,
    and Orchestra's list of the pipeline's running runs is one of the duplicate guards."""
    return fresh_fake(run_seconds=600)


@pytest.fixture
def write_env(write_fake, tmp_path):
    return server_env(write_fake.base_url, tmp_path)


def starts(fake):
    return [e for e in fake.journal if e["method"] == "POST"]


def test_a_start_reaches_the_api_once_under_a_502_and_under_a_429(write_fake, write_env):
    write_fake.add_fault(match={"method": "POST", "path": "/start"}, count=1, action="status", status=502)
    is_error, text = call_tool(write_env, "trigger_pipeline", pipeline_id=PIPELINE_ALIAS)
    assert is_error and "may or may not have started" in text
    assert len(starts(write_fake)) == 1   # never resent
    write_fake.clear_journal()
    write_fake.add_fault(match={"method": "POST", "path": "/start"}, count=1, action="status", status=429,
                         headers={"Retry-After": "1"})
    (is_error, text), (again_error, again) = call_tools(write_env, [
        ("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS, "branch": "hotfix"}),
        ("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS, "branch": "hotfix"})])
    assert is_error and "nothing was started" in text
    assert not again_error and again["pipelineRunId"]   # nothing started: the retry is sent as asked
    assert len(starts(write_fake)) == 2   # one per call, never resent


def test_a_repeat_after_an_uncertain_start_is_refused_until_the_agent_checks(write_fake, write_env):
    write_fake.add_fault(match={"method": "POST", "path": "/start"}, count=1, action="status", status=502)
    (first_error, first), (second_error, second) = call_tools(write_env, [
        ("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS}), ("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS})])
    assert first_error and "may or may not have started" in first
    assert second_error and "list_pipeline_runs" in second and "allow_duplicate" in second
    assert len(starts(write_fake)) == 1


def test_a_repeated_start_is_refused_with_the_earlier_run_id(write_fake, write_env):
    (first_error, first), (second_error, text), (third_error, third) = call_tools(write_env, [
        ("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS, "branch": "main", "cause": "test rerun"}),
        ("trigger_pipeline", {"pipeline_id": PIPELINE_ID, "branch": "main", "retry_from_failed": False}),
        ("trigger_pipeline", {"pipeline_id": PIPELINE_ALIAS, "branch": "main", "allow_duplicate": True}),
    ])
    assert not first_error and first["pipelineRunId"] and first["cause"] == "test rerun"
    assert first["pipelineId"] == PIPELINE_ID and first["pipelineAlias"] == PIPELINE_ALIAS
    assert second_error and first["pipelineRunId"] in text and "allow_duplicate" in text
    assert not third_error and third["pipelineRunId"] != first["pipelineRunId"]
    posts = starts(write_fake)
    assert len(posts) == 2 and posts[0]["body"] == {"branch": "main"}   # cause is never sent
    assert all(entry["path"].endswith(f"/pipelines/{PIPELINE_ID}/start") for entry in posts)


def test_a_fresh_process_refuses_to_start_a_pipeline_whose_run_is_still_going(write_fake, write_env):
    # A /mcp reconnect or a second Claude Code window starts with an empty memory.
    is_error, first = call_tool(write_env, "trigger_pipeline", pipeline_id=PIPELINE_ALIAS)
    assert not is_error, first
    is_error, text = call_tool(write_env, "trigger_pipeline", pipeline_id=PIPELINE_ID)   # another process
    assert is_error and first["pipelineRunId"] in text and "allow_duplicate" in text, text
    assert re.search(r"is (CREATED|RUNNING) \(created \d+ s ago\)", text), text
    assert len(starts(write_fake)) == 1
    is_error, second = call_tool(write_env, "trigger_pipeline", pipeline_id=PIPELINE_ID, allow_duplicate=True)
    assert not is_error and second["pipelineRunId"] != first["pipelineRunId"]
    assert len(starts(write_fake)) == 2


def test_a_missing_run_input_is_refused_before_the_start_and_says_the_check_is_ours(write_fake, write_env):
    is_error, text = call_tool(write_env, "trigger_pipeline", pipeline_id=INPUT_PIPELINE_ALIAS)
    assert is_error and "required input `command`" in text and "our own check" in text, text
    assert starts(write_fake) == []


def test_trigger_then_watch_takes_two_calls(fresh_fake, tmp_path):
    quick = fresh_fake(run_seconds=2)
    env = server_env(quick.base_url, tmp_path)
    is_error, started = call_tool(env, "trigger_pipeline", pipeline_id=PIPELINE_ID)
    assert not is_error, started
    is_error, status = call_tool(env, "get_pipeline_run_status", pipeline_run_id=started["pipelineRunId"],
                                 wait_seconds=30)
    assert not is_error and status["runStatus"] == "SUCCEEDED", status


def test_read_only_mode_hides_and_refuses_the_start(fake, env):
    env = dict(env, ORCHESTRA_READ_ONLY="1")
    names = {tool.name for tool in list_tools(env).tools}
    assert "trigger_pipeline" not in names and "diagnose_pipeline_run" in names
    is_error, text = call_tool(env, "trigger_pipeline", pipeline_id=PIPELINE_ALIAS)
    assert is_error and "read-only" in text
    assert all(entry["method"] == "GET" for entry in fake.journal)
