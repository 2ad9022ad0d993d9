"""A task run ID on its own (issue #16, section 3): get_task_run, and the log and artifact tools
without pipeline_run_id.

There is no GET /task_runs/{id}: the server asks GET /task_runs?task_run_ids=<id> over disjoint
windows, newest first, at most 25 requests, and takes only the row whose id matches. The first
half mocks Orchestra with `responses` on a pinned clock (exact requests, counts, refusals); the
second runs against the fake in each of its modes, every request and answer contract-checked.
"""
import json
import re
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import api_contract
import pytest
import responses
from fake_orchestra import (
    DBT_LOG_FILENAME,
    FAILED_DBT_TASK_RUN_ID,
    FAILED_RUN_ID,
    MODES,
    OLD_FAILED_RUN_ID,
    OLD_FAILED_TASK_RUN_ID,
    RETRIED_FIRST_TASK_RUN_ID,
    RETRIED_RUN_ID,
    FakeOrchestra,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import orchestra_mcp as m  # noqa: E402
from unit_helpers import (  # noqa: E402
    BASE, NOW, PIPELINE, RUN, TASK, WEEK_MINUS_1S, configure, error, ok, path_of, query,
)

OTHER_TASK = "d94e2b7a-0000-4000-8000-000000000001"
TASK_TOOLS = ("get_task_run", "get_task_run_logs", "get_task_run_artifacts", "download_task_artifact")


def lookups(rsps):
    return [c for c in rsps.calls if path_of(c) == "/task_runs"]


def at(hours):
    return (NOW - timedelta(hours=hours)).isoformat()


def task_row(task_id=TASK, hours=1, run_id=RUN, **extra):
    return {"id": task_id, "pipelineRunId": run_id, "pipelineId": PIPELINE, "taskId": "transform_core",
            "taskName": "dbt build", "integration": "DBT_CORE", "status": "FAILED",
            "message": "dbt command failed with exit code 1.", "createdAt": at(hours), "startedAt": at(hours),
            "completedAt": at(hours - 0.1), **extra}


def serve_task_runs(rsps, rows, honour_filter=True):
    """/task_runs over `rows`: inclusive window on createdAt, task_run_ids honoured (or ignored), paged."""
    def callback(request):
        q = dict(parse_qsl(urlsplit(request.url).query))
        low, high = m.parse_timestamp(q["time_from"]), m.parse_timestamp(q["time_to"])
        wanted = set(q.get("task_run_ids", "").split(",")) - {""} if honour_filter else set()
        picked = [r for r in rows if low <= m.parse_timestamp(r["createdAt"]) <= high
                  and (not wanted or r["id"] in wanted)]
        page, size = int(q["page"]), int(q["page_size"])
        body = {"page": page, "pageSize": size, "total": len(picked), "results": picked[(page - 1) * size: page * size]}
        return 200, {}, json.dumps(body)
    rsps.add_callback(responses.GET, re.compile(re.escape(BASE + "/task_runs") + r"(\?.*)?$"), callback=callback)


def serve_status(rsps, run_id=RUN, status=200):
    body = {"id": run_id, "pipelineId": PIPELINE, "pipelineName": "Nightly ELT", "runStatus": "FAILED",
            "createdAt": at(2), "envName": "Production"} if status == 200 else {"detail": "Pipeline run not found"}
    rsps.add(responses.GET, f"{BASE}/pipeline_runs/{run_id}/status", json=body, status=status)


def windows_of(calls):
    return [(m.parse_timestamp(query(c)["time_from"]), m.parse_timestamp(query(c)["time_to"])) for c in calls]


# ---- the lookup, on a pinned clock -------------------------------------------------------------------------

def test_a_task_run_id_alone_is_looked_up_in_the_last_24_hours_first_and_its_run_read(rsps, pinned):
    serve_task_runs(rsps, [task_row()])
    serve_status(rsps)
    result = ok(m.call_tool("get_task_run", {"task_run_id": TASK.upper()}))
    assert [path_of(c) for c in rsps.calls] == ["/task_runs", f"/pipeline_runs/{RUN}/status"]
    q = query(rsps.calls[0])
    assert q["task_run_ids"] == TASK and q["include_superseded"] == "true"   # a superseded attempt is found too
    assert (q["page"], q["page_size"]) == ("1", "100")
    assert windows_of(rsps.calls[:1]) == [(NOW - timedelta(hours=24), NOW)]
    assert result["taskRun"]["id"] == TASK and result["taskRun"]["status"] == "FAILED"
    assert "pipelineRunId" not in result["taskRun"]   # it is run.id
    assert result["run"] == {"id": RUN, "pipelineName": "Nightly ELT", "pipelineId": PIPELINE, "runStatus": "FAILED",
                             "createdAt": at(2), "envName": "Production"}
    assert f"get_task_run_logs(task_run_id='{TASK}')" in result["hint"]


def test_a_task_run_in_an_old_window_costs_one_request_per_window_newest_first(rsps, pinned):
    serve_task_runs(rsps, [task_row(hours=10 * 24)])
    serve_status(rsps)
    ok(m.call_tool("get_task_run", {"task_run_id": TASK}))
    windows = windows_of(lookups(rsps))
    assert windows == [(NOW - timedelta(hours=24), NOW), (NOW - timedelta(days=7), NOW - timedelta(hours=24)),
                       (NOW - timedelta(days=7) - WEEK_MINUS_1S, NOW - timedelta(days=7))]


def test_a_task_run_found_nowhere_is_not_found_within_25_requests_saying_how_far_back_it_looked(rsps, pinned):
    serve_task_runs(rsps, [task_row(OTHER_TASK)])
    text = error(m.call_tool("get_task_run", {"task_run_id": TASK}))
    calls = lookups(rsps)
    assert len(calls) == len(rsps.calls) <= m.PREFIX_SEARCH_REQUESTS
    windows = windows_of(calls)
    assert windows[0][1] == NOW and windows[-1][0] == NOW - timedelta(days=m.TASK_RUN_SEARCH_DAYS)
    for newer, older in zip(windows, windows[1:], strict=False):   # disjoint, consecutive, each under 7 days
        assert older[1] == newer[0] and newer[1] - newer[0] <= WEEK_MINUS_1S
    since = (NOW - timedelta(days=m.TASK_RUN_SEARCH_DAYS)).isoformat()[:16]
    assert f"no task run {TASK}" in text and f"since {since}Z" in text and f"({len(calls)} requests)" in text
    assert "pipeline_run_id" in text   # what to do about an older one


def test_a_row_for_another_task_run_is_never_taken_for_the_one_asked(rsps, pinned):
    serve_task_runs(rsps, [task_row(OTHER_TASK, hours=1)], honour_filter=False)   # a server ignoring the filter
    text = error(m.call_tool("get_task_run", {"task_run_id": TASK}))
    assert "no task run" in text
    assert not [c for c in rsps.calls if "/status" in path_of(c)]


def test_a_server_ignoring_the_filter_is_still_searched_within_25_requests_and_the_right_row_found(rsps, pinned):
    # 650 task runs a day and the filter ignored: the last 24 h take 7 pages, then the budget narrows the search.
    busy = [task_row(f"{n:08x}-0000-4000-8000-000000000000", hours=n * 24 / 650) for n in range(1, 650 * 8)]
    serve_task_runs(rsps, [*busy[:300], task_row(hours=20), *busy[300:]], honour_filter=False)
    serve_status(rsps)
    result = ok(m.call_tool("get_task_run", {"task_run_id": TASK}))
    assert result["taskRun"]["id"] == TASK
    assert len(lookups(rsps)) == 7   # the whole first window, then it stops: found
    rsps.calls.reset()
    text = error(m.call_tool("get_task_run", {"task_run_id": OTHER_TASK}))
    assert len(lookups(rsps)) <= m.PREFIX_SEARCH_REQUESTS
    reached = m.parse_timestamp(re.search(r"since (\S+)Z", text).group(1) + ":00+00:00")
    assert timedelta(days=3) < NOW - reached < timedelta(days=4), text


@pytest.mark.parametrize("tool", TASK_TOOLS)
@pytest.mark.parametrize("bad", ["d94e2b7a", "d94e2b7a-1c58", "../../x", TASK + "0", TASK[:-1] + "g", "", " "])
def test_a_task_run_id_that_is_not_a_full_uuid_sends_nothing(rsps, pinned, tool, bad):
    arguments = {"task_run_id": bad, **({"filename": "run_results.json"} if tool == "download_task_artifact" else {})}
    text = error(m.call_tool(tool, arguments))
    assert "task_run_id" in text
    assert len(rsps.calls) == 0


def test_the_log_and_artifact_tools_find_the_run_from_the_task_run_once_and_remember_it(rsps, pinned):
    serve_task_runs(rsps, [task_row(hours=30)])
    logs = f"{BASE}/pipeline_runs/{RUN}/task_runs/{TASK}/logs"
    rsps.add(responses.GET, logs, json={"filenames": ["1/dbt build"], "files": {"1/dbt build": {"attemptNumber": 1}}})
    rsps.add(responses.GET, f"{BASE}/pipeline_runs/{RUN}/task_runs/{TASK}/artifacts", json={"filenames": ["run_results.json"]})
    listed = ok(m.call_tool("get_task_run_logs", {"task_run_id": TASK}))
    assert listed["pipelineRunId"] == RUN and listed["logs"][0]["filename"] == "1/dbt build"
    found = ok(m.call_tool("get_task_run_artifacts", {"task_run_id": TASK}))
    assert found["pipelineRunId"] == RUN and found["artifacts"] == ["run_results.json"]
    assert len(lookups(rsps)) == 2   # 24 h, then 24 h to 7 days: found there, once for both tools


def test_with_pipeline_run_id_no_lookup_is_made(rsps, pinned):
    rsps.add(responses.GET, f"{BASE}/pipeline_runs/{RUN}/task_runs/{TASK}/logs", json={"filenames": []})
    ok(m.call_tool("get_task_run_logs", {"pipeline_run_id": RUN, "task_run_id": TASK}))
    assert [path_of(c) for c in rsps.calls] == [f"/pipeline_runs/{RUN}/task_runs/{TASK}/logs"]


def test_a_bad_filename_is_refused_before_the_lookup(rsps, pinned):
    text = error(m.call_tool("get_task_run_logs", {"task_run_id": TASK, "filename": "a\x07b"}))
    assert "`filename`" in text
    assert len(rsps.calls) == 0


def test_when_its_run_cannot_be_read_the_task_run_is_still_the_answer(rsps, pinned):
    serve_task_runs(rsps, [task_row()])
    serve_status(rsps, status=404)
    result = ok(m.call_tool("get_task_run", {"task_run_id": TASK}))
    assert result["taskRun"]["id"] == TASK
    assert result["run"]["id"] == RUN and result["run"]["pipelineId"] == PIPELINE
    assert "not found" in result["run"]["unavailable"]


def test_a_found_row_naming_no_pipeline_run_is_refused(rsps, pinned):
    serve_task_runs(rsps, [task_row(run_id="../../x")])
    assert "names no pipeline run" in error(m.call_tool("get_task_run_artifacts", {"task_run_id": TASK}))
    assert [path_of(c) for c in rsps.calls] == ["/task_runs"]


# ---- against the fake, in each mode ------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(MODES))
def mode_fake(request):
    """A fake in this mode whose answers are checked against the spec's facts; the requests too, at the end."""
    fake = FakeOrchestra(mode=request.param, response_check=api_contract.check_response).start()
    yield request.param, fake
    report = api_contract.contract_report(fake)
    fake.stop()
    assert not report.violations, report.text()


@pytest.fixture
def on_fake(mode_fake):
    mode, fake = mode_fake
    configure(fake.base_url)
    fake.clear_journal()
    yield fake
    m.configure(m.read_config({}))
    m.use_context(None)


def sent(fake, ending):
    return [e for e in fake.journal if e["path"].endswith(ending)]


def test_an_old_task_run_is_found_by_its_id_alone_and_its_log_read(on_fake):
    result = ok(m.call_tool("get_task_run", {"task_run_id": OLD_FAILED_TASK_RUN_ID}))
    assert result["taskRun"]["id"] == OLD_FAILED_TASK_RUN_ID and result["taskRun"]["status"] == "FAILED"
    assert result["run"]["id"] == OLD_FAILED_RUN_ID and result["run"]["runStatus"] == "FAILED"
    assert result["run"]["pipelineName"] == "Nightly ELT"
    searched = sent(on_fake, "/public/task_runs")
    assert len(searched) == 3   # the last 24 h, 24 h to 7 days, then the window holding it (10 days back)
    assert all(e["query"]["task_run_ids"] == [OLD_FAILED_TASK_RUN_ID] for e in searched)
    tail = ok(m.call_tool("get_task_run_logs", {"task_run_id": OLD_FAILED_TASK_RUN_ID, "filename": DBT_LOG_FILENAME}))
    assert tail["logTail"] and len(sent(on_fake, "/public/task_runs")) == 3   # the run was remembered


def test_a_superseded_attempt_is_found_too(on_fake):
    result = ok(m.call_tool("get_task_run", {"task_run_id": RETRIED_FIRST_TASK_RUN_ID}))
    assert result["taskRun"]["id"] == RETRIED_FIRST_TASK_RUN_ID and result["run"]["id"] == RETRIED_RUN_ID


def test_an_artifact_is_downloaded_with_the_task_run_id_alone(on_fake):
    result = ok(m.call_tool("download_task_artifact", {"task_run_id": FAILED_DBT_TASK_RUN_ID,
                                                       "filename": "run_results.json", "max_bytes": 200}))
    assert result["bytes"] == 200 and result["content"].startswith("{")
    download = sent(on_fake, "/artifacts/download")
    assert [e["path"].split("/")[-3] for e in download] == [FAILED_DBT_TASK_RUN_ID]
    assert f"/pipeline_runs/{FAILED_RUN_ID}/" in download[0]["path"]


def test_an_unknown_task_run_is_not_found_within_25_requests(on_fake):
    text = error(m.call_tool("get_task_run", {"task_run_id": "0f0e0d0c-0b0a-4908-8706-050403020100"}))
    assert "no task run" in text and "requests" in text
    assert 0 < len(on_fake.journal) <= m.PREFIX_SEARCH_REQUESTS
