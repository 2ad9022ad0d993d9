"""Section 5-7 of orchestra_mcp.py: what each tool sends (exact path, query, headers, body) and what
it refuses before sending anything. Orchestra is mocked with `responses`; the clock is pinned."""

import base64
import json
import re
import time
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import orchestra_mcp as m  # noqa: E402
from unit_helpers import (  # noqa: E402
    BASE, NOW, PIPELINE, RUN, TASK, WEEK_MINUS_1S, error, ok, path_of, query,
)

OTHER_RUN = "8e808ad7-0000-4000-8000-000000000001"
ENV_ID = "5f3a9c2e-7d41-4b8a-a2c6-1e9d0b7f4c33"


def setup(**env):
    environ = {"ORCHESTRA_API_KEY": "k-test", "ORCHESTRA_API_BASE_URL": BASE, "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01",
               "ORCHESTRA_MCP_DEADLINE_S": "20"}
    environ.update(env)
    m.configure(m.read_config(environ))
    ctx = m.new_call_context()   # the configured deadline, as a real tools/call gets
    m.use_context(ctx)
    return ctx


@pytest.fixture(autouse=True)
def fresh_module(monkeypatch, tmp_path):
    monkeypatch.setattr(m, "now_utc", lambda: NOW)
    setup(ORCHESTRA_MCP_DOWNLOAD_DIR=str(tmp_path / "downloads"))
    yield
    m.configure(m.read_config({}))
    m.use_context(None)


# ---- helpers ---------------------------------------------------------------------------------------

def calls_to(rsps, path):
    return [c for c in rsps.calls if path_of(c) == path]


def at(hours):
    return (NOW - timedelta(hours=hours)).isoformat()


def run(run_id=RUN, hours=1, status="FAILED", **extra):
    return {"id": run_id, "pipelineId": PIPELINE, "pipelineName": "Nightly ELT", "runStatus": status,
            "createdAt": at(hours), "startedAt": at(hours), "completedAt": at(hours - 0.1), **extra}


def task(task_id=TASK, status="FAILED", hours=1, **extra):
    return {"id": task_id, "pipelineRunId": RUN, "taskId": "transform_core", "taskName": "dbt build",
            "integration": "DBT_CORE", "status": status, "createdAt": at(hours), "startedAt": at(hours),
            "completedAt": at(hours - 0.1), "attemptNumber": 1, **extra}


def in_window(row, q):
    created = m.parse_timestamp(row["createdAt"])
    return m.parse_timestamp(q["time_from"]) <= created <= m.parse_timestamp(q["time_to"])


def serve_listing(rsps, path, rows, windowed=True, status_key="runStatus"):
    """A paginated endpoint over `rows`: inclusive time window, comma status filter, page/page_size."""
    def callback(request):
        q = dict(parse_qsl(urlsplit(request.url).query))
        picked = [r for r in rows if (not windowed or in_window(r, q))
                  and (not q.get("status") or r.get(status_key) in q["status"].split(","))]
        picked.sort(key=lambda r: r["createdAt"], reverse=True)
        page, size = int(q["page"]), int(q["page_size"])
        body = {"page": page, "pageSize": size, "total": len(picked), "results": picked[(page - 1) * size: page * size]}
        return 200, {}, json.dumps(body)
    url = re.compile(re.escape(BASE + path) + r"(\?.*)?$")
    rsps.add_callback(responses.GET, url, callback=callback)


def serve_status(rsps, body=None, run_id=RUN):
    rsps.add(responses.GET, f"{BASE}/pipeline_runs/{run_id}/status", json=run(run_id) if body is None else body)


def check_windows(calls, start, end):
    """The listing calls cover start..end in consecutive windows under 7 days, newest first."""
    windows = []
    for call in calls:
        q = query(call)
        assert "time_from" in q and "time_to" in q
        window = (m.parse_timestamp(q["time_from"]), m.parse_timestamp(q["time_to"]))
        assert window[1] - window[0] <= WEEK_MINUS_1S
        if window not in windows:
            windows.append(window)
    assert windows[0][1] == end and windows[-1][0] == start
    for newer, older in zip(windows, windows[1:], strict=False):
        assert older[1] == newer[0]
    return windows


# ---- list_pipeline_runs ----------------------------------------------------------------------------

def test_list_pipeline_runs_sends_both_bounds_and_page_size_100(rsps):
    serve_listing(rsps, "/pipeline_runs", [run()])
    result = ok(m.call_tool("list_pipeline_runs", {"time_from": "24h"}))
    assert len(rsps.calls) == 1
    assert path_of(rsps.calls[0]) == "/pipeline_runs"
    assert query(rsps.calls[0]) == {"time_from": "2026-11-22T12:00:00+00:00", "time_to": "2026-11-23T12:00:00+00:00",
                                    "page": "1", "page_size": "100"}
    assert result["total"] == 1 and result["runs"][0]["id"] == RUN
    assert result["window"] == {"from": "2026-11-22T12:00:00+00:00", "to": "2026-11-23T12:00:00+00:00"}


def test_list_pipeline_runs_defaults_to_the_last_24_hours(rsps):
    serve_listing(rsps, "/pipeline_runs", [])
    result = ok(m.call_tool("list_pipeline_runs", {}))
    q = query(rsps.calls[0])
    assert (q["time_from"], q["time_to"]) == ("2026-11-22T12:00:00+00:00", "2026-11-23T12:00:00+00:00")
    assert result["total"] == 0 and "hint" in result


def test_list_pipeline_runs_sends_iso_bounds_as_utc_with_an_offset(rsps):
    serve_listing(rsps, "/pipeline_runs", [])
    ok(m.call_tool("list_pipeline_runs", {"time_from": "2026-11-20T02:00:00+02:00", "time_to": "2026-11-21T00:00:00Z"}))
    q = query(rsps.calls[0])
    assert (q["time_from"], q["time_to"]) == ("2026-11-20T00:00:00+00:00", "2026-11-21T00:00:00+00:00")


@pytest.mark.parametrize("status_filter", ["failed, Warning", ["failed", "WARNING", "Failed"], "FAILED,,WARNING,"])
def test_list_pipeline_runs_sends_the_status_filter_as_an_upper_case_comma_list(rsps, status_filter):
    serve_listing(rsps, "/pipeline_runs", [run(status="FAILED"), run(OTHER_RUN, status="SUCCEEDED")])
    result = ok(m.call_tool("list_pipeline_runs", {"status_filter": status_filter}))
    assert query(rsps.calls[0])["status"] == "FAILED,WARNING"
    assert result["filters"]["status"] == ["FAILED", "WARNING"]
    assert result["total"] == 1


@pytest.mark.parametrize("tool", ["list_pipeline_runs", "list_task_runs"])
def test_an_unknown_status_is_refused_with_the_valid_ones_and_no_request(rsps, tool):
    text = error(m.call_tool(tool, {"status_filter": "FAILED,BROKEN"}))
    assert "'BROKEN'" in text
    assert "valid: CREATED, " in text and "CANCELLED" in text
    assert len(rsps.calls) == 0


def test_a_task_only_status_is_refused_for_pipeline_runs(rsps):
    text = error(m.call_tool("list_pipeline_runs", {"status_filter": "QUEUED"}))
    assert "QUEUED" in text
    assert len(rsps.calls) == 0


def test_a_pipeline_alias_is_resolved_once_through_get_pipeline(rsps):
    rsps.add(responses.GET, BASE + "/pipeline", json={"id": PIPELINE.upper(), "alias": "nightly_elt", "name": "Nightly"})
    serve_listing(rsps, "/pipeline_runs", [run()])
    ok(m.call_tool("list_pipeline_runs", {"pipeline_id": "nightly_elt"}))
    ok(m.call_tool("list_pipeline_runs", {"pipeline_id": "nightly_elt"}))
    assert [path_of(c) for c in rsps.calls] == ["/pipeline", "/pipeline_runs", "/pipeline_runs"]
    assert query(rsps.calls[0]) == {"alias": "nightly_elt"}
    assert query(rsps.calls[1])["pipeline_ids"] == PIPELINE
    assert query(rsps.calls[2])["pipeline_ids"] == PIPELINE


def test_a_pipeline_uuid_is_sent_without_a_lookup(rsps):
    serve_listing(rsps, "/pipeline_runs", [])
    ok(m.call_tool("list_pipeline_runs", {"pipeline_id": PIPELINE.upper()}))
    assert [path_of(c) for c in rsps.calls] == ["/pipeline_runs"]
    assert query(rsps.calls[0])["pipeline_ids"] == PIPELINE


def test_an_alias_answered_for_another_pipeline_is_not_used(rsps):
    rsps.add(responses.GET, BASE + "/pipeline", json={"id": PIPELINE, "alias": "other_pipeline"})
    text = error(m.call_tool("list_pipeline_runs", {"pipeline_id": "nightly_elt"}))
    assert "nightly_elt" in text
    assert len(rsps.calls) == 1


def test_an_unknown_alias_says_it_was_not_found(rsps):
    rsps.add(responses.GET, BASE + "/pipeline", status=404, json={"detail": "Pipeline not found"})
    text = error(m.call_tool("list_pipeline_runs", {"pipeline_id": "nightly_elt"}))
    assert "pipeline alias 'nightly_elt' was not found" in text


def test_a_limit_above_100_is_clamped_with_a_note(rsps):
    runs = [run(f"{i:08x}-0000-4000-8000-{i:012x}", hours=i / 100, status="SUCCEEDED") for i in range(1, 151)]
    serve_listing(rsps, "/pipeline_runs", runs)
    result = ok(m.call_tool("list_pipeline_runs", {"limit": 500}))
    assert result["note"] == "limit 500 was clamped to the maximum of 100"
    assert result["returned"] == len(result["runs"]) <= 100
    assert result["total"] == 150
    assert {query(c)["page_size"] for c in rsps.calls} == {"100"}
    assert [query(c)["page"] for c in rsps.calls] == ["1", "2"]


def test_when_the_deadline_stops_paging_counts_come_from_envelope_totals(rsps):
    runs = [run(f"{i:08x}-0000-4000-8000-{i:012x}", hours=i / 100, status="FAILED" if i % 3 else "SUCCEEDED")
            for i in range(1, 151)]
    serve_listing(rsps, "/pipeline_runs", runs)
    ctx = m.current_call()
    ctx.deadline = time.monotonic() + m.MIN_PAGE_TIME_S + 1.0   # enough for one page, not for paging on
    result = ok(m.call_tool("list_pipeline_runs", {"limit": 10}))
    pages = [query(c) for c in rsps.calls if query(c)["page_size"] == "100"]
    counts = [query(c) for c in rsps.calls if query(c)["page_size"] == "1"]
    assert [q["page"] for q in pages] == ["1"]
    assert sorted(q["status"] for q in counts) == sorted(m.PIPELINE_RUN_STATUSES)
    assert result["countsByStatus"] == {"FAILED": 100, "SUCCEEDED": 50}
    assert result["total"] == 150
    assert result["truncated"] is True and "counts are exact" in result["rowsNote"]


def test_a_limit_below_1_is_refused(rsps):
    assert "`limit`" in error(m.call_tool("list_pipeline_runs", {"limit": 0}))
    assert len(rsps.calls) == 0


def test_a_nine_day_window_is_two_chunks_with_totals_summed(rsps):
    runs = [run(hours=1, status="FAILED"), run(OTHER_RUN, hours=2, status="SUCCEEDED"),
            run("11111111-0000-4000-8000-000000000001", hours=8 * 24, status="FAILED"),
            run("11111111-0000-4000-8000-000000000002", hours=8.5 * 24, status="WARNING")]
    serve_listing(rsps, "/pipeline_runs", runs)
    result = ok(m.call_tool("list_pipeline_runs", {"time_from": "9d"}))
    windows = check_windows(rsps.calls, NOW - timedelta(days=9), NOW)
    assert len(windows) == 2 and len(rsps.calls) == 2
    assert result["total"] == 4
    assert result["countsByStatus"] == {"FAILED": 2, "SUCCEEDED": 1, "WARNING": 1}
    assert [r["id"] for r in result["runs"]][:2] == [RUN, OTHER_RUN]   # newest first


def test_a_run_on_a_chunk_boundary_is_counted_once(rsps):
    boundary = NOW - WEEK_MINUS_1S
    serve_listing(rsps, "/pipeline_runs", [dict(run(), createdAt=boundary.isoformat())])
    result = ok(m.call_tool("list_pipeline_runs", {"time_from": "9d"}))
    assert len(rsps.calls) == 2
    assert result["total"] == 1
    assert len(result["runs"]) == 1


def test_a_window_in_the_wrong_order_is_refused_with_no_request(rsps):
    text = error(m.call_tool("list_pipeline_runs", {"time_from": "1h", "time_to": "2h"}))
    assert "must be before" in text
    assert len(rsps.calls) == 0


def test_a_bad_time_is_refused_with_no_request(rsps):
    assert "`time_to`" in error(m.call_tool("list_pipeline_runs", {"time_to": "tomorrow"}))
    assert len(rsps.calls) == 0


# ---- get_pipeline_run_status and prefix resolution -----------------------------------------------------

def test_get_pipeline_run_status_reads_the_status_endpoint(rsps):
    serve_status(rsps, run(status="FAILED", message="a task failed"))
    result = ok(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": RUN.upper()}))
    assert [path_of(c) for c in rsps.calls] == [f"/pipeline_runs/{RUN}/status"]
    assert query(rsps.calls[0]) == {}
    assert result["runStatus"] == "FAILED" and result["id"] == RUN


def test_a_status_answer_for_another_run_is_refused(rsps):
    serve_status(rsps, run(OTHER_RUN))
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": RUN}))
    assert "different run" in text and RUN in text


def test_a_running_run_lists_its_active_tasks(rsps):
    serve_status(rsps, run(status="RUNNING", completedAt=None))
    serve_listing(rsps, f"/pipeline_runs/{RUN}/task_runs", [task(status="RUNNING"), task(OTHER_RUN, status="SUCCEEDED")],
                  windowed=False)
    result = ok(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": RUN}))
    assert result["activeTasks"] == [{"taskName": "dbt build", "status": "RUNNING"}]
    listing = calls_to(rsps, f"/pipeline_runs/{RUN}/task_runs")
    assert query(listing[0]) == {"page": "1", "page_size": "50"}   # no include_superseded: not in the spec


def test_a_unique_prefix_is_resolved_from_recent_runs_and_cached(rsps):
    serve_listing(rsps, "/pipeline_runs", [run(), run("12345678-0000-4000-8000-000000000000")])
    serve_status(rsps)
    ok(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8E808AD7"}))
    ok(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"}))
    assert [path_of(c) for c in rsps.calls] == ["/pipeline_runs", f"/pipeline_runs/{RUN}/status",
                                                f"/pipeline_runs/{RUN}/status"]
    q = query(rsps.calls[0])
    assert (q["time_to"], q["page_size"]) == (NOW.isoformat(), "100")
    assert NOW - m.parse_timestamp(q["time_from"]) == timedelta(hours=24)   # the newest window first


def test_a_prefix_is_searched_back_in_disjoint_windows_newest_first(rsps):
    serve_listing(rsps, "/pipeline_runs", [run(hours=10 * 24)])
    serve_status(rsps)
    ok(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7-3d5a"}))
    listings = calls_to(rsps, "/pipeline_runs")
    assert len(listings) == 3   # 24 h, 24 h to 7 days, then the window holding the match: it stops there
    check_windows(listings, NOW - timedelta(days=7) - WEEK_MINUS_1S, NOW)
    assert m.parse_timestamp(query(listings[1])["time_from"]) == NOW - timedelta(days=7)


def test_an_ambiguous_prefix_lists_the_candidates(rsps):
    serve_listing(rsps, "/pipeline_runs", [run(), run(OTHER_RUN, hours=2)])
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"}))
    assert "matches 2 runs" in text
    assert RUN in text and OTHER_RUN in text
    assert not calls_to(rsps, f"/pipeline_runs/{RUN}/status")


def test_a_match_is_called_unique_only_after_its_whole_window_was_read(rsps):
    # The first page holds one match, the last page another: a search stopping at the first would pick one.
    filler = [run(f"{n:08x}-0000-4000-8000-000000000000", hours=1 + n / 100) for n in range(1, 150)]
    serve_listing(rsps, "/pipeline_runs", [run(hours=0.5), *filler, run(OTHER_RUN, hours=23)])
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"}))
    assert "matches 2 runs" in text
    assert len(calls_to(rsps, "/pipeline_runs")) == 2


def test_a_prefix_matching_nothing_in_28_days_is_not_found_and_says_how_far_back_it_looked(rsps):
    serve_listing(rsps, "/pipeline_runs", [])
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "deadbeef"}))
    assert "deadbeef" in text and "full UUID" in text
    assert f"since {(NOW - timedelta(days=28)).isoformat()[:16]}Z" in text and "requests" in text, text
    check_windows(rsps.calls, NOW - timedelta(days=28), NOW)
    assert all(path_of(c) == "/pipeline_runs" for c in rsps.calls)


def test_a_busy_workspace_stops_the_search_at_25_requests_and_says_how_far_it_reached(rsps):
    # 650 runs a day: the last 24 h take 7 pages; 24 h to 7 days would take 39, so only its newest part is read.
    busy = [run(f"{n:08x}-0000-4000-8000-000000000000", hours=n * 24 / 650) for n in range(1, 650 * 8)]
    serve_listing(rsps, "/pipeline_runs", busy)
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "deadbeef"}))
    listings = calls_to(rsps, "/pipeline_runs")
    assert len(listings) <= m.PREFIX_SEARCH_REQUESTS
    reached = m.parse_timestamp(re.search(r"since (\S+)Z", text).group(1) + ":00+00:00")
    assert timedelta(days=3) < NOW - reached < timedelta(days=4), text   # "about 3.5 days" at this rate
    windows = {(query(c)["time_from"], query(c)["time_to"]) for c in listings}
    for time_from, time_to in windows:   # every window read was read whole, or abandoned after its first page
        pages = [int(query(c)["page"]) for c in listings if (query(c)["time_from"], query(c)["time_to"]) == (time_from, time_to)]
        assert pages == list(range(1, len(pages) + 1))


def test_an_old_prefix_beyond_the_reach_of_a_busy_workspace_says_to_pass_the_full_uuid(rsps):
    busy = [run(f"{n:08x}-0000-4000-8000-000000000000", hours=n * 24 / 650) for n in range(1, 650 * 8)]
    serve_listing(rsps, "/pipeline_runs", busy + [run(hours=6 * 24)])
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": "8e808ad7"}))
    assert "full UUID" in text and "8e808ad7" in text
    assert len(calls_to(rsps, "/pipeline_runs")) <= m.PREFIX_SEARCH_REQUESTS


@pytest.mark.parametrize("value", ["8e808ad", "8e80-8ad7", "8e808ad7x", "zzzzzzzz", "8e808ad73", RUN + "0", "-8e808ad7"])
def test_a_short_or_malformed_prefix_is_refused_with_no_request(rsps, value):
    text = error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": value}))
    assert "`pipeline_run_id`" in text
    assert len(rsps.calls) == 0


# ---- get_pipeline_run_details ---------------------------------------------------------------------------

def test_details_read_the_per_run_task_listing_50_at_a_time(rsps):
    serve_status(rsps)
    tasks = [task(f"{i:08x}-1111-4000-8000-000000000000", status="SUCCEEDED", hours=2 - i / 100, taskId=f"t{i}")
             for i in range(60)]
    serve_listing(rsps, f"/pipeline_runs/{RUN}/task_runs", tasks, windowed=False)
    result = ok(m.call_tool("get_pipeline_run_details", {"pipeline_run_id": RUN}))
    listing = calls_to(rsps, f"/pipeline_runs/{RUN}/task_runs")
    assert [query(c) for c in listing] == [{"page": "1", "page_size": "50"}, {"page": "2", "page_size": "50"}]
    assert result["taskCount"] == 60 and result["countsByStatus"] == {"SUCCEEDED": 60}


def test_details_with_include_superseded_marks_earlier_attempts(rsps):
    serve_status(rsps, run(hours=3))   # created 3 h ago, finished 2.9 h ago: its tasks are in that window
    first = task("aaaaaaaa-0000-4000-8000-000000000001", status="FAILED", hours=2.97, attemptNumber=1)
    second = task("aaaaaaaa-0000-4000-8000-000000000002", status="SUCCEEDED", hours=2.93, attemptNumber=2)
    serve_listing(rsps, f"/pipeline_runs/{RUN}/task_runs", [second], windowed=False)   # hides the first
    serve_listing(rsps, "/task_runs", [first, second], status_key="status")   # include_superseded honoured
    result = ok(m.call_tool("get_pipeline_run_details", {"pipeline_run_id": RUN, "include_superseded": True}))
    asked = calls_to(rsps, "/task_runs")[-1]
    assert query(asked)["include_superseded"] == "true" and query(asked)["pipeline_ids"] == PIPELINE
    assert "include_superseded" not in query(calls_to(rsps, f"/pipeline_runs/{RUN}/task_runs")[0])
    marked = {t["id"]: t.get("superseded", False) for t in result["tasks"]}
    assert marked == {first["id"]: True, second["id"]: False}
    serve_listing(rsps, f"/pipeline_runs/{RUN}/task_runs", [first, second], windowed=False)   # shows both
    hidden = ok(m.call_tool("get_pipeline_run_details", {"pipeline_run_id": RUN}))
    assert [t["id"] for t in hidden["tasks"]] == [second["id"]]   # worked out here, whatever the API hid


def test_details_drop_task_rows_of_another_run(rsps):
    serve_status(rsps)
    serve_listing(rsps, f"/pipeline_runs/{RUN}/task_runs", [task(), task(OTHER_RUN, pipelineRunId=OTHER_RUN)],
                  windowed=False)
    result = ok(m.call_tool("get_pipeline_run_details", {"pipeline_run_id": RUN}))
    assert [t["id"] for t in result["tasks"]] == [TASK]


# ---- list_task_runs ------------------------------------------------------------------------------------

def test_list_task_runs_of_one_run_uses_the_per_run_endpoint_and_filters_locally(rsps):
    serve_listing(rsps, f"/pipeline_runs/{RUN}/task_runs",
                  [task(status="FAILED"), task(OTHER_RUN, status="SUCCEEDED"),
                   task("aaaaaaaa-0000-4000-8000-000000000003", status="FAILED", integration="PYTHON")], windowed=False)
    serve_status(rsps, run(status="SUCCEEDED"))
    result = ok(m.call_tool("list_task_runs", {"pipeline_run_id": RUN, "status_filter": "failed",
                                               "integration": "dbt_core"}))
    assert [path_of(c) for c in rsps.calls] == [f"/pipeline_runs/{RUN}/status", f"/pipeline_runs/{RUN}/task_runs"]
    assert query(rsps.calls[1]) == {"page": "1", "page_size": "50"}
    assert result["total"] == 1 and result["taskRuns"][0]["id"] == TASK


@pytest.mark.parametrize("extra", [{"time_from": "24h"}, {"time_to": "1h"}, {"pipeline_id": "nightly_elt"}])
def test_list_task_runs_of_one_run_refuses_time_and_pipeline_filters_with_no_request(rsps, extra):
    text = error(m.call_tool("list_task_runs", {"pipeline_run_id": RUN, **extra}))
    assert "pipeline_run_id" in text
    assert len(rsps.calls) == 0


def test_list_task_runs_across_a_window_sends_bounds_and_filters(rsps):
    rsps.add(responses.GET, BASE + "/pipeline", json={"id": PIPELINE, "alias": "nightly_elt"})
    serve_listing(rsps, "/task_runs", [task()], status_key="status")
    result = ok(m.call_tool("list_task_runs", {"time_from": "6h", "status_filter": ["failed", "queued"],
                                               "integration": "dbt_core, python", "pipeline_id": "nightly_elt"}))
    listing = calls_to(rsps, "/task_runs")
    assert len(listing) == 1
    assert query(listing[0]) == {"time_from": "2026-11-23T06:00:00+00:00", "time_to": "2026-11-23T12:00:00+00:00",
                                 "status": "FAILED,QUEUED", "integration": "DBT_CORE,PYTHON",
                                 "pipeline_ids": PIPELINE, "page": "1", "page_size": "100"}
    assert result["total"] == 1


def test_list_task_runs_defaults_to_the_last_24_hours_in_chunks(rsps):
    serve_listing(rsps, "/task_runs", [], status_key="status")
    ok(m.call_tool("list_task_runs", {}))
    check_windows(rsps.calls, NOW - timedelta(days=1), NOW)
    ok(m.call_tool("list_task_runs", {"time_from": "10d"}))
    check_windows(rsps.calls[1:], NOW - timedelta(days=10), NOW)
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("integration", ["dbt core", "DBT;PYTHON", "../x", "a" * 61])
def test_a_bad_integration_name_is_refused_with_no_request(rsps, integration):
    assert "`integration`" in error(m.call_tool("list_task_runs", {"integration": integration}))
    assert len(rsps.calls) == 0


# ---- get_task_run_artifacts ----------------------------------------------------------------------------

TASK_PATH = f"/pipeline_runs/{RUN}/task_runs/{TASK}"


def test_artifacts_and_logs_are_listed_from_their_two_endpoints(rsps):
    rsps.add(responses.GET, BASE + TASK_PATH + "/artifacts", json={"filenames": ["run_results.json", "manifest.json", 7]})
    rsps.add(responses.GET, BASE + TASK_PATH + "/logs", json={
        "filenames": ["2/dbt build", "1/dbt build"],
        "files": {"1/dbt build": {"attemptNumber": 1, "displayName": "dbt build"},
                  "2/dbt build": {"attemptNumber": 2, "displayName": "dbt build (retry)"}}})
    result = ok(m.call_tool("get_task_run_artifacts", {"pipeline_run_id": RUN, "task_run_id": TASK.upper()}))
    assert sorted(path_of(c) for c in rsps.calls) == [TASK_PATH + "/artifacts", TASK_PATH + "/logs"]
    assert all(query(c) == {} for c in rsps.calls)
    assert result["artifacts"] == ["run_results.json", "manifest.json"]
    assert [f["attemptNumber"] for f in result["logs"]] == [1, 2]
    assert result["taskRunId"] == TASK


def test_artifacts_still_list_when_the_log_list_fails(rsps):
    rsps.add(responses.GET, BASE + TASK_PATH + "/artifacts", json={"filenames": ["run_results.json"]})
    rsps.add(responses.GET, BASE + TASK_PATH + "/logs", status=404, json={"detail": "not found"})
    result = ok(m.call_tool("get_task_run_artifacts", {"pipeline_run_id": RUN, "task_run_id": TASK}))
    assert result["artifacts"] == ["run_results.json"]
    assert "not found" in result["unavailable"]["logs"]


def test_artifacts_report_an_error_when_both_lists_fail(rsps):
    rsps.add(responses.GET, BASE + TASK_PATH + "/artifacts", status=404, json={"detail": "not found"})
    rsps.add(responses.GET, BASE + TASK_PATH + "/logs", status=404, json={"detail": "not found"})
    text = error(m.call_tool("get_task_run_artifacts", {"pipeline_run_id": RUN, "task_run_id": TASK}))
    assert TASK in text and "not found" in text


# ---- download_task_artifact -----------------------------------------------------------------------------

DOWNLOAD = BASE + TASK_PATH + "/artifacts/download"


def download(**arguments):
    return m.call_tool("download_task_artifact", {"pipeline_run_id": RUN, "task_run_id": TASK,
                                                  "filename": "run_results.json", **arguments})


def serve_file(rsps, content, honour_range=True):
    """The artifact download: 206 slices for a Range header (or 200 whole when told to ignore it)."""
    def callback(request):
        wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers.get("Range", ""))
        if not wanted or not honour_range:
            return 200, {"Content-Length": str(len(content))}, content
        first, last = int(wanted.group(1)), min(int(wanted.group(2)), len(content) - 1)
        if first >= len(content):
            return 416, {"Content-Range": f"bytes */{len(content)}"}, b""
        return 206, {"Content-Range": f"bytes {first}-{last}/{len(content)}"}, content[first:last + 1]
    rsps.add_callback(responses.GET, DOWNLOAD, callback=callback)


def test_a_download_asks_for_a_byte_range_with_the_filename_in_the_query(rsps):
    serve_file(rsps, b'{"results": []}')
    result = ok(download())
    assert len(rsps.calls) == 1
    assert query(rsps.calls[0]) == {"filename": "run_results.json"}
    assert rsps.calls[0].request.headers["Range"] == "bytes=0-19999"
    assert result["content"] == '{"results": []}' and result["encoding"] == "utf-8"
    assert result["size"] == 15 and result.get("nextOffset") is None


def test_a_download_from_an_offset_returns_the_next_offset(rsps):
    serve_file(rsps, b"0123456789" * 10)
    result = ok(download(offset=20, max_bytes=30))
    assert rsps.calls[0].request.headers["Range"] == "bytes=20-49"
    assert result["content"] == "0123456789" * 3
    assert (result["offset"], result["bytes"], result["size"], result["nextOffset"]) == (20, 30, 100, 50)


def test_a_binary_artifact_comes_back_as_base64(rsps):
    content = bytes(range(256)) * 2
    serve_file(rsps, content)
    result = ok(download(max_bytes=300))
    assert result["encoding"] == "base64"
    assert base64.b64decode(result["content"]) == content[:result["bytes"]]
    assert result["nextOffset"] == result["bytes"]


def test_text_with_a_nul_byte_comes_back_as_base64(rsps):
    serve_file(rsps, b"abc\x00def")
    result = ok(download())
    assert result["encoding"] == "base64"
    assert base64.b64decode(result["content"]) == b"abc\x00def"


def test_a_character_split_by_the_range_is_left_for_the_next_call(rsps):
    serve_file(rsps, "aé".encode() * 10)
    result = ok(download(max_bytes=2))
    assert (result["content"], result["bytes"], result["nextOffset"]) == ("a", 1, 1)


def test_a_server_that_ignores_range_is_sliced_locally(rsps):
    serve_file(rsps, b"0123456789" * 10, honour_range=False)
    result = ok(download(offset=95, max_bytes=3))
    assert rsps.calls[0].request.headers["Range"] == "bytes=95-97"
    assert result["content"] == "567"
    assert (result["size"], result["nextOffset"]) == (100, 98)


def test_a_range_past_the_end_of_the_file_is_an_empty_answer(rsps):
    serve_file(rsps, b"short")
    result = ok(download(offset=100))
    assert result["bytes"] == 0 and result.get("content", "") == ""
    assert "past the end" in result["note"]
    assert len(rsps.calls) == 1


def test_max_bytes_is_clamped_to_what_fits_in_a_result(rsps):
    serve_file(rsps, b"x" * 100_000)
    result = ok(download(max_bytes=1_000_000))
    count = (m.MAX_RESULT_CHARS - 1500) * 3 // 4
    assert rsps.calls[0].request.headers["Range"] == f"bytes=0-{count - 1}"
    assert result["note"] == f"max_bytes clamped to {count}"
    assert len(m.dump(result)) < m.MAX_RESULT_CHARS


def test_a_206_from_the_wrong_offset_is_refused(rsps):
    rsps.add(responses.GET, DOWNLOAD, status=206, headers={"Content-Range": "bytes 0-9/100"}, body=b"0123456789")
    assert "from 0 when 50 was asked" in error(download(offset=50, max_bytes=10))


def test_a_missing_artifact_lists_the_available_ones(rsps):
    rsps.add(responses.GET, DOWNLOAD, status=404, json={"detail": "Artifact not found"})
    rsps.add(responses.GET, BASE + TASK_PATH + "/artifacts", json={"filenames": ["manifest.json", "catalog.json"]})
    text = error(download(filename="nope.json"))
    assert "'nope.json' not found" in text
    assert "available: manifest.json, catalog.json" in text
    assert [path_of(c) for c in rsps.calls] == [TASK_PATH + "/artifacts/download", TASK_PATH + "/artifacts"]


def test_save_streams_the_whole_file_without_a_range(rsps, tmp_path):
    content = b"z" * 300_000
    serve_file(rsps, content)
    result = ok(download(save=True, filename="target/run_results.json"))
    assert "Range" not in rsps.calls[0].request.headers
    assert query(rsps.calls[0]) == {"filename": "target/run_results.json"}
    saved = Path(result["savedTo"])
    assert saved.read_bytes() == content and result["size"] == len(content)
    assert saved.parent == tmp_path / "downloads" / RUN / TASK
    assert saved.name.startswith("target__run_results-") and saved.name.endswith(".json")   # hash: a/b != a__b
    assert m.local_name("target/run_results.json") != m.local_name("target__run_results.json") == "target__run_results.json"


@pytest.mark.parametrize("filename", ["bad\nname", "bad\x00name", "x" * 1025, ""])
def test_a_filename_with_control_characters_is_refused_with_no_request(rsps, filename):
    assert error(download(filename=filename))
    assert len(rsps.calls) == 0


# ---- trigger_pipeline ----------------------------------------------------------------------------------

START = f"{BASE}/pipelines/{PIPELINE}/start"


def body_of(call):
    return json.loads(call.request.body) if call.request.body else None


def posts(rsps):
    return [c for c in rsps.calls if c.request.method == "POST"]


@pytest.fixture
def start_reads(rsps):
    """What every start reads first: the pipeline (GET /pipeline), its tasks when task_ids are given, and its
    recent runs (none going)."""
    rsps.add(responses.GET, f"{BASE}/pipeline", json={"id": PIPELINE, "alias": "nightly_elt", "name": "Nightly ELT"})
    rsps.add(responses.GET, f"{BASE}/pipelines/data", json={"version": "v1", "name": "Nightly ELT", "pipeline": {
        key: {"integration": "PYTHON", "integrationJob": "PYTHON_EXECUTE_SCRIPT", "parameters": {}}
        for key in ("transform_core", "a", "b")}})
    active = []
    rsps.add_callback(responses.GET, f"{BASE}/pipeline_runs", callback=lambda request: (200, {}, json.dumps(
        {"page": 1, "pageSize": 100, "total": len(active), "results": active})))
    rsps.add(responses.GET, f"{BASE}/environments", json=[
        {"accountId": PIPELINE, "environmentId": ENV_ID, "name": "Production", "defaultEnv": True}])
    return active


def test_a_start_sends_only_the_given_fields_in_camel_case(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN, "message": "Pipeline run created"})
    result = ok(m.call_tool("trigger_pipeline", {
        "pipeline_id": "nightly_elt", "cause": "user asked", "branch": "main", "commit": "4f9a1c2",
        "task_ids": ["transform_core"], "retry_from_failed": True, "continue_downstream": False,
        "run_inputs": {"date": "2026-11-23"}, "environment": "Production"}))
    assert len(posts(rsps)) == 1
    assert body_of(posts(rsps)[0]) == {"branch": "main", "commit": "4f9a1c2", "taskIds": ["transform_core"],
                                      "retryFromFailed": True, "continueDownstreamRun": False,
                                      "runInputs": {"date": "2026-11-23"}, "environment": "Production"}
    assert posts(rsps)[0].request.headers["Content-Type"] == "application/json"
    assert result["pipelineRunId"] == RUN and result["cause"] == "user asked"


def test_a_start_with_no_options_sends_no_body(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "cause": "nightly rerun"}))
    assert body_of(posts(rsps)[0]) is None
    assert all("nightly rerun" not in str(c.request.url) for c in rsps.calls)


def test_an_empty_run_inputs_object_is_still_sent(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "run_inputs": {}}))
    assert body_of(posts(rsps)[0]) == {"runInputs": {}}


def test_the_same_start_twice_is_refused_with_the_earlier_run_id(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    serve_status(rsps, run(status="RUNNING"))
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "branch": "main"}))
    text = error(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "branch": "main"}))
    assert RUN in text and "allow_duplicate" in text and "RUNNING" in text
    assert len(posts(rsps)) == 1


def test_a_different_start_of_the_same_pipeline_is_not_a_duplicate(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "branch": "main"}))
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "branch": "dev"}))
    assert [body_of(c) for c in posts(rsps)] == [{"branch": "main"}, {"branch": "dev"}]


def test_allow_duplicate_starts_again(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    rsps.add(responses.POST, START, json={"pipelineRunId": OTHER_RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt"}))
    again = ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "allow_duplicate": True}))
    assert again["pipelineRunId"] == OTHER_RUN
    assert len(posts(rsps)) == 2


def test_read_only_mode_refuses_the_start_with_no_request(rsps):
    setup(ORCHESTRA_READ_ONLY="1")
    text = error(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt"}))
    assert "read-only" in text and "ORCHESTRA_READ_ONLY" in text
    assert len(rsps.calls) == 0


def test_a_pipeline_uuid_is_started_by_its_lower_case_uuid(rsps, start_reads):
    rsps.add(responses.POST, f"{BASE}/pipelines/{PIPELINE}/start", json={"pipelineRunId": RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE.upper()}))
    assert path_of(posts(rsps)[0]) == f"/pipelines/{PIPELINE}/start"
    lookups = [c for c in rsps.calls if path_of(c) == "/pipeline"]   # read once, to check what the start carries
    assert [query(c) for c in lookups] == [{"pipeline_id": PIPELINE}]


# One intent makes one start, whatever the spelling: each pair below is the same start twice.
SAME_START_PAIRS = {
    "alias, then UUID": ({"pipeline_id": "nightly_elt"}, {"pipeline_id": PIPELINE}),
    "UUID, then alias in another case": ({"pipeline_id": PIPELINE.upper()}, {"pipeline_id": "NIGHTLY_ELT"}),
    "run_inputs keys in another order": ({"pipeline_id": PIPELINE, "run_inputs": {"a": 1, "b": {"y": 2, "x": [1]}}},
                                         {"pipeline_id": PIPELINE, "run_inputs": {"b": {"x": [1], "y": 2}, "a": 1}}),
    "task_ids in another order": ({"pipeline_id": PIPELINE, "task_ids": ["b", "a"]},
                                  {"pipeline_id": PIPELINE, "task_ids": ["a", "b", "a"]}),
    "retry_from_failed=false vs absent": ({"pipeline_id": PIPELINE, "retry_from_failed": False}, {"pipeline_id": PIPELINE}),
    "continue_downstream=false vs absent": ({"pipeline_id": PIPELINE}, {"pipeline_id": PIPELINE, "continue_downstream": False}),
    "task_ids=[] vs absent": ({"pipeline_id": PIPELINE, "task_ids": []}, {"pipeline_id": PIPELINE}),
    "run_inputs={} vs absent": ({"pipeline_id": PIPELINE}, {"pipeline_id": PIPELINE, "run_inputs": {}}),
    "environment name vs id": ({"pipeline_id": PIPELINE, "environment": "production"},
                               {"pipeline_id": PIPELINE, "environment": ENV_ID.upper()}),
    "strings for booleans": ({"pipeline_id": PIPELINE, "retry_from_failed": "true"},
                             {"pipeline_id": PIPELINE, "retry_from_failed": True}),
}


@pytest.mark.parametrize("pair", list(SAME_START_PAIRS))
def test_the_same_intent_spelt_two_ways_starts_one_run(rsps, start_reads, pair):
    first, second = SAME_START_PAIRS[pair]
    rsps.add(responses.POST, START, json={"id": OTHER_RUN, "pipelineRunId": RUN})
    serve_status(rsps, run(status="RUNNING"))
    started = ok(m.call_tool("trigger_pipeline", first))
    assert started["pipelineId"] == PIPELINE and started["pipelineRunId"] == RUN
    text = error(m.call_tool("trigger_pipeline", second))
    assert RUN in text and "allow_duplicate" in text, text
    assert len(posts(rsps)) == 1
    assert all(path_of(c) == f"/pipelines/{PIPELINE}/start" for c in posts(rsps))


def test_the_body_still_carries_the_environment_as_the_user_gave_it(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE, "environment": "production"}))
    assert body_of(posts(rsps)[0]) == {"environment": "production"}


def test_an_alias_is_resolved_on_every_start_and_the_result_echoes_both(rsps, start_reads):
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    first = ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt"}))
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "branch": "dev"}))
    assert first["pipelineId"] == PIPELINE and first["pipelineAlias"] == "nightly_elt"
    lookups = [c for c in rsps.calls if path_of(c) == "/pipeline"]   # never cached for writes, read at the revision
    assert [query(c) for c in lookups] == [{"alias": "nightly_elt"}, {"alias": "nightly_elt", "branch": "dev"}]


def test_an_alias_that_cannot_be_resolved_starts_nothing(rsps):
    rsps.add(responses.GET, f"{BASE}/pipeline", status=404, json={"detail": "Pipeline not found"})
    text = error(m.call_tool("trigger_pipeline", {"pipeline_id": "no_such_alias"}))
    assert "no_such_alias" in text and "not found" in text
    assert posts(rsps) == []
    rsps.replace(responses.GET, f"{BASE}/pipeline", json={"id": "not-a-uuid"})
    assert "nothing was started" in error(m.call_tool("trigger_pipeline", {"pipeline_id": "odd_alias"}))
    assert posts(rsps) == []


def test_a_run_of_the_pipeline_still_going_refuses_the_start_with_its_id_status_and_age(rsps, start_reads):
    # A fresh process (a /mcp reconnect, a second window) remembers nothing: Orchestra's runs are the guard.
    start_reads.append(run(OTHER_RUN, hours=0.05, status="RUNNING"))
    text = error(m.call_tool("trigger_pipeline", {"pipeline_id": "nightly_elt", "branch": "other"}))
    assert OTHER_RUN in text and "RUNNING" in text and "s ago" in text and "allow_duplicate" in text, text
    assert posts(rsps) == []
    check = next(c for c in rsps.calls if path_of(c) == "/pipeline_runs")
    q = query(check)
    assert q["pipeline_ids"] == PIPELINE and q["status"] == "CREATED,RUNNING"
    window = m.parse_timestamp(q["time_to"]) - m.parse_timestamp(q["time_from"])
    assert window.total_seconds() == m.DUPLICATE_START_WINDOW_S


def test_allow_duplicate_skips_both_guards(rsps, start_reads):
    start_reads.append(run(OTHER_RUN, hours=0.05, status="RUNNING"))
    rsps.add(responses.POST, START, json={"pipelineRunId": RUN})
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE, "allow_duplicate": True}))
    ok(m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE, "allow_duplicate": True}))
    assert len(posts(rsps)) == 2
    assert not [c for c in rsps.calls if path_of(c) == "/pipeline_runs"]


def test_a_failed_check_for_running_runs_starts_nothing(rsps):
    rsps.add(responses.GET, f"{BASE}/pipeline", json={"id": PIPELINE, "alias": "nightly_elt"})
    rsps.add(responses.GET, f"{BASE}/pipeline_runs", status=403, json={"detail": "Forbidden"})
    assert "403" in error(m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE}))
    assert posts(rsps) == []


def test_the_new_run_id_is_pipeline_run_id_never_the_answers_id(rsps, start_reads):
    rsps.add(responses.POST, START, json={"id": OTHER_RUN, "message": "Pipeline run created successfully"})
    result = ok(m.call_tool("trigger_pipeline", {"pipeline_id": PIPELINE}))
    assert result["started"] is True and result.get("pipelineRunId") is None
    assert "list_pipeline_runs" in result["hint"]


# ---- path-like ids: refused before any request -----------------------------------------------------------

BAD_IDS = ["../..", "..%2f..", "%2e%2e", "8e808ad7/../x", "8e808ad7?x=1", "8e808ad7#x", "8e808ad7\nx",
           "https://evil.test/x", "//evil.test", f"{RUN}/../x", f"{RUN}?page=2", f"{RUN}%00", " ", "..", "a b"]

ID_ARGUMENTS = [
    ("get_pipeline_run_status", "pipeline_run_id", {}),
    ("get_pipeline_run_details", "pipeline_run_id", {}),
    ("diagnose_pipeline_run", "pipeline_run_id", {}),
    ("list_task_runs", "pipeline_run_id", {}),
    ("get_task_run_artifacts", "pipeline_run_id", {"task_run_id": TASK}),
    ("get_task_run_artifacts", "task_run_id", {"pipeline_run_id": RUN}),
    ("download_task_artifact", "pipeline_run_id", {"task_run_id": TASK, "filename": "a.json"}),
    ("download_task_artifact", "task_run_id", {"pipeline_run_id": RUN, "filename": "a.json"}),
    ("get_task_run_logs", "pipeline_run_id", {"task_run_id": TASK}),
    ("get_task_run_logs", "task_run_id", {"pipeline_run_id": RUN}),
    ("get_task_run", "task_run_id", {}),
    ("list_operations", "task_run_id", {}),
    ("trigger_pipeline", "pipeline_id", {}),
    ("get_pipeline", "pipeline_id", {}),
    ("cancel_pipeline_run", "pipeline_run_id", {}),
    ("list_pipeline_runs", "pipeline_id", {}),
    ("list_task_runs", "pipeline_id", {}),
    ("list_failures", "pipeline_id", {}),
]


@pytest.mark.parametrize("tool, argument, others", ID_ARGUMENTS, ids=[f"{t}.{a}" for t, a, _ in ID_ARGUMENTS])
@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_path_like_id_is_refused_with_no_request(rsps, tool, argument, others, bad):
    text = error(m.call_tool(tool, {**others, argument: bad}))
    assert f"`{argument}`" in text
    assert "\n" not in text
    assert len(rsps.calls) == 0


def test_every_tool_taking_an_id_is_in_the_path_like_id_table():
    taking_ids = {(name, arg) for name, spec in m.TOOLS.items() for arg in spec["schema"]
                  if arg in ("pipeline_run_id", "task_run_id", "pipeline_id")}
    assert taking_ids == {(t, a) for t, a, _ in ID_ARGUMENTS}


# ---- argument validation -----------------------------------------------------------------------------------

def test_an_unknown_argument_is_refused_naming_it(rsps):
    text = error(m.call_tool("list_pipeline_runs", {"pipelineId": PIPELINE}))
    assert "`pipelineId`" in text and "pipeline_id" in text
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("tool, arguments, named", [
    ("list_pipeline_runs", {"limit": "ten"}, "`limit`"),
    ("list_pipeline_runs", {"limit": "10.5"}, "`limit`"),
    ("list_pipeline_runs", {"limit": ""}, "`limit`"),
    ("list_pipeline_runs", {"limit": True}, "`limit`"),
    ("list_pipeline_runs", {"limit": 10.5}, "`limit`"),
    ("list_pipeline_runs", {"time_from": 24}, "`time_from`"),
    ("list_pipeline_runs", {"status_filter": {"FAILED": 1}}, "`status_filter`"),
    ("list_pipeline_runs", {"status_filter": [1, 2]}, "`status_filter`"),
    ("get_pipeline_run_status", {"pipeline_run_id": RUN, "wait_seconds": 51}, "`wait_seconds`"),
    ("get_pipeline_run_status", {"pipeline_run_id": ["x"]}, "`pipeline_run_id`"),
    ("get_pipeline_run_status", {"pipeline_run_id": "x" * 65}, "`pipeline_run_id`"),
    ("get_pipeline_run_details", {"pipeline_run_id": RUN, "include_superseded": "yes"}, "`include_superseded`"),
    ("trigger_pipeline", {"pipeline_id": "nightly_elt", "task_ids": "transform_core"}, "`task_ids`"),
    ("trigger_pipeline", {"pipeline_id": "nightly_elt", "run_inputs": ["a"]}, "`run_inputs`"),
    ("download_task_artifact", {"pipeline_run_id": RUN, "task_run_id": TASK, "filename": "a", "offset": -1}, "`offset`"),
    ("list_failures", {"hours": 169}, "`hours`"),
])
def test_a_wrong_type_or_range_is_refused_naming_the_argument(rsps, tool, arguments, named):
    assert named in error(m.call_tool(tool, arguments))
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("tool, arguments, missing", [
    ("get_pipeline_run_status", {}, "pipeline_run_id"),
    ("get_pipeline_run_status", {"pipeline_run_id": ""}, "pipeline_run_id"),
    ("get_pipeline_run_status", {"pipeline_run_id": None}, "pipeline_run_id"),
    ("diagnose_pipeline_run", {}, "pipeline_run_id"),
    ("get_task_run_artifacts", {"pipeline_run_id": RUN}, "task_run_id"),
    ("download_task_artifact", {"pipeline_run_id": RUN, "task_run_id": TASK}, "filename"),
    ("trigger_pipeline", {}, "pipeline_id"),
])
def test_a_missing_required_argument_is_refused_naming_it(rsps, tool, arguments, missing):
    text = error(m.call_tool(tool, arguments))
    assert f"needs `{missing}`" in text
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("arguments, expected", [
    ({"limit": "ten"}, "`limit` must be integer; got the string \"ten\"."),
    ({"limit": True}, "`limit` must be integer; got the boolean true."),
    ({"limit": 0}, "`limit` must be at least 1; got 0."),
    ({"limit": "0"}, "`limit` must be at least 1; got 0."),
])
def test_a_refused_value_names_the_argument_the_expected_type_and_what_was_received(rsps, arguments, expected):
    assert error(m.call_tool("list_pipeline_runs", arguments)) == expected
    assert len(rsps.calls) == 0


def test_a_bound_on_both_sides_reads_as_a_range(rsps):
    text = error(m.call_tool("list_failures", {"hours": 0}))
    assert text == "`hours` must be between 1 and 168; got 0."
    assert "None" not in error(m.call_tool("get_pipeline_run_status", {"pipeline_run_id": RUN, "wait_seconds": -1}))


def test_numbers_and_booleans_sent_as_strings_are_accepted(rsps):
    serve_listing(rsps, "/pipeline_runs", [run(f"{n}" * 8 + RUN[8:], hours=n) for n in range(1, 4)])
    assert ok(m.call_tool("list_pipeline_runs", {"limit": "2"}))["returned"] == 2
    assert ok(m.call_tool("list_pipeline_runs", {"limit": " 2 "}))["returned"] == 2
    failures = m.validate_arguments("list_failures", {"hours": "12"})
    assert failures == {"hours": 12}
    assert m.validate_arguments("get_pipeline_run_details", {"pipeline_run_id": RUN, "include_superseded": "TRUE"}) \
        == {"pipeline_run_id": RUN, "include_superseded": True}
    assert m.validate_arguments("get_pipeline_run_details", {"pipeline_run_id": RUN, "include_superseded": "false"}) \
        == {"pipeline_run_id": RUN, "include_superseded": False}


def test_values_inside_an_object_argument_are_never_coerced(rsps):
    clean = m.validate_arguments("trigger_pipeline", {"pipeline_id": "nightly_elt", "run_inputs": {"n": "10", "b": "true"}})
    assert clean["run_inputs"] == {"n": "10", "b": "true"}


def test_a_whole_number_float_is_accepted_as_an_integer(rsps):
    serve_listing(rsps, "/pipeline_runs", [run()])
    assert ok(m.call_tool("list_pipeline_runs", {"limit": 5.0}))["returned"] == 1


def test_a_null_optional_argument_counts_as_absent(rsps):
    serve_listing(rsps, "/pipeline_runs", [])
    ok(m.call_tool("list_pipeline_runs", {"time_from": None, "status_filter": None, "pipeline_id": None}))
    assert "status" not in query(rsps.calls[0]) and "pipeline_ids" not in query(rsps.calls[0])


# ---- get_task_run_logs: grep --------------------------------------------------------------------------

GREP_LOG = "\n".join(["02:00 start", "02:01 Warehouse load FAILED", "02:02 fine", "02:03 KeyError: 'id'",
                      "02:04 columns a | b", "02:05 done"]) + "\n"


def serve_log(rsps, text=GREP_LOG):
    rsps.add(responses.GET, f"{BASE}{TASK_PATH}/logs", json={
        "filenames": ["1/debug_task", "1/run"], "files": {"1/debug_task": {"attemptNumber": 1}, "1/run": {"attemptNumber": 1}}})
    rsps.add(responses.GET, f"{BASE}{TASK_PATH}/logs/download", body=text.encode())


def grep(rsps, pattern, **extra):
    serve_log(rsps)
    return m.call_tool("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": TASK, "filename": "1/run",
                                             "grep": pattern, **extra})


def test_grep_takes_pipe_separated_alternatives_case_insensitively(rsps):
    result = ok(grep(rsps, "fail|keyerror"))
    assert [match["line"] for match in result["matches"]] == [2, 4]


def test_an_escaped_pipe_is_a_literal_pipe(rsps):
    result = ok(grep(rsps, "a \\| b"))
    assert [match["line"] for match in result["matches"]] == [5]


@pytest.mark.parametrize("pattern", ["error||fail", "|fail", "fail|", " | "])
def test_an_empty_alternative_is_refused_with_no_request(rsps, pattern):
    text = error(m.call_tool("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": TASK, "filename": "1/run",
                                                   "grep": pattern}))
    assert "`grep`" in text and "empty alternative" in text
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("pattern", ["fail.*load", "\\d+ rows", "^02", "done$", "[Ee]rror"])
def test_a_grep_that_looks_like_a_regex_and_finds_nothing_says_grep_is_literal(rsps, pattern):
    result = ok(grep(rsps, pattern))
    assert result["matchCount"] == 0 and "not a regular expression" in result["note"]


def test_a_literal_grep_that_finds_nothing_adds_no_regex_note(rsps):
    result = ok(grep(rsps, "nothing like this"))
    assert result["matchCount"] == 0 and "note" not in result


def test_grep_without_a_filename_searches_the_newest_main_log(rsps):
    serve_log(rsps)
    result = ok(m.call_tool("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": TASK, "grep": "failed"}))
    assert result["filename"] == "1/run" and result["matchCount"] == 1
    assert query(calls_to(rsps, f"{TASK_PATH}/logs/download")[0])["filename"] == "1/run"


def test_the_grep_schema_says_it_is_literal_and_takes_alternatives():
    text = m.TOOLS["get_task_run_logs"]["schema"]["grep"]["description"]
    assert "Not a regex" in text and "error|fail" in text and "case-insensitive" in text
