"""list_operations: model and test level history (issue #16, section 4).

GET /operations takes one status per request, promises no order, gives `operationDuration` no
unit, and one workspace held 20,000 operations in two days. The first half mocks Orchestra with
`responses` on a pinned clock (what is sent, what is refused, what is computed); the second runs
against the fake with 20,000 generated operations, in each of its modes, every request and
answer contract-checked, and compares the result with the fake's own data.
"""
import json
import random
import re
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import api_contract
import pytest
import requests
import responses
from fake_orchestra import (
    FAILED_DBT_TASK_RUN_ID,
    MODES,
    OPERATION_IDS,
    VOLUME_DAYS,
    VOLUME_FAILING_OPERATION,
    FakeOrchestra,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import orchestra_mcp as m  # noqa: E402
from unit_helpers import (  # noqa: E402
    BASE, NOW, PIPELINE, RUN, TASK, WEEK_MINUS_1S, configure, error, ok, path_of, query,
)


def pages_of(calls):
    """The row pages read (page_size 100), not the page_size=1 sizing and count requests."""
    return [c for c in calls if path_of(c) == "/operations" and query(c)["page_size"] == "100"]


def at(hours):
    return (NOW - timedelta(hours=hours)).isoformat()


def op(number, hours=1.0, status="SUCCEEDED", name=None, seconds=10.0, **extra):
    started = NOW - timedelta(hours=hours)
    return {"id": f"{number:08x}-0000-4000-8000-000000000000", "accountId": PIPELINE, "pipelineRunId": RUN,
            "taskRunId": TASK, "insertedAt": (started + timedelta(seconds=seconds + 2)).isoformat(),
            "operationName": name or f"model.acme.m{number}", "externalId": name or f"model.acme.m{number}",
            "operationStatus": status, "operationType": "MATERIALISATION", "integration": "DBT_CORE",
            "startedAt": started.isoformat(), "completedAt": (started + timedelta(seconds=seconds)).isoformat(),
            "message": f"{status} {number}", **extra}


def serve_operations(rsps, rows, order="shuffled"):
    """/operations over `rows`: window on insertedAt, one status, operation_type list, external_id,
    task_run_id, paged, in an order that is not the newest first (the API promises none)."""
    def callback(request):
        q = dict(parse_qsl(urlsplit(request.url).query))
        low, high = m.parse_timestamp(q["time_from"]), m.parse_timestamp(q["time_to"])
        picked = [r for r in rows if low <= m.parse_timestamp(r["insertedAt"]) <= high
                  and q.get("status") in (None, r["operationStatus"])
                  and (not q.get("operation_type") or r["operationType"] in q["operation_type"].split(","))
                  and q.get("external_id") in (None, r["externalId"])
                  and q.get("task_run_id") in (None, r["taskRunId"])]
        if order == "shuffled":
            random.Random(7).shuffle(picked)
        else:
            picked.sort(key=lambda r: r["insertedAt"])
        page, size = int(q["page"]), int(q["page_size"])
        body = {"page": page, "pageSize": size, "total": len(picked), "results": picked[(page - 1) * size: page * size]}
        return 200, {}, json.dumps(body)
    rsps.add_callback(responses.GET, re.compile(re.escape(BASE + "/operations") + r"(\?.*)?$"), callback=callback)


# ---- what is sent and refused ------------------------------------------------------------------------------

def test_several_statuses_are_several_reads_of_one_status_each(rsps, pinned):
    serve_operations(rsps, [op(1, status="FAILED"), op(2, status="WARNING"), op(3), op(4, status="FAILED")])
    result = ok(m.call_tool("list_operations", {"status_filter": "failed, Warning"}))
    sent = [query(c) for c in rsps.calls]
    assert all(q["status"] in ("FAILED", "WARNING") and "," not in q["status"] for q in sent)
    assert sorted(q["status"] for q in sent if q["page_size"] == "1") == ["FAILED", "WARNING"]   # sized
    assert sorted(q["status"] for q in sent if q["page_size"] == "100") == ["FAILED", "WARNING"]  # then read
    assert result["countsByStatus"] == {"FAILED": 2, "WARNING": 1} and result["total"] == 3
    assert result["filters"]["status"] == ["FAILED", "WARNING"]
    for q in sent:   # both bounds, the default 24 h
        assert (m.parse_timestamp(q["time_from"]), m.parse_timestamp(q["time_to"])) == (NOW - timedelta(hours=24), NOW)


def test_the_filters_are_sent_as_the_api_names_them(rsps, pinned):
    serve_operations(rsps, [op(1, operationType="TEST")])
    ok(m.call_tool("list_operations", {"operation_type": "test, materialisation", "integration": "dbt_core",
                                       "external_id": "model.acme.m1", "task_run_id": TASK.upper(),
                                       "time_from": "2h"}))
    q = query(rsps.calls[0])
    assert q["operation_type"] == "TEST,MATERIALISATION" and q["integration"] == "DBT_CORE"
    assert q["external_id"] == "model.acme.m1" and q["task_run_id"] == TASK and "status" not in q
    assert "name" not in q   # applied here


def test_rows_come_newest_first_whatever_order_the_api_sends_them_in(rsps, pinned):
    rows = [op(n, hours=n / 10) for n in range(1, 230)]   # three pages
    serve_operations(rsps, rows, order="oldest_first")
    result = ok(m.call_tool("list_operations", {"limit": 5}))
    assert [r["id"] for r in result["operations"]] == [rows[n]["id"] for n in range(5)]
    assert result["total"] == 229 and result["returned"] == 5
    assert result["hint"].startswith("224 more operations match; pass time_to=" + rows[4]["insertedAt"])


@pytest.mark.parametrize("arguments, named", [
    ({"status_filter": "FAILED,BROKEN"}, "`status_filter`"),
    ({"status_filter": "QUEUED"}, "`status_filter`"),   # a task run status, not an operation's
    ({"operation_type": "MODEL"}, "`operation_type`"),
    ({"integration": "DBT_CORE,PYTHON"}, "`integration`"),
    ({"integration": "dbt core"}, "`integration`"),
    ({"task_run_id": "d94e2b7a"}, "`task_run_id`"),
    ({"time_from": "40d"}, "35 days"),
    ({"time_from": "1h", "time_to": "2h"}, "must be before"),
    ({"limit": 0}, "`limit`"),
])
def test_a_bad_argument_is_refused_with_no_request(rsps, pinned, arguments, named):
    assert named in error(m.call_tool("list_operations", arguments))
    assert len(rsps.calls) == 0


def test_a_window_of_30_days_is_read_in_7_day_chunks(rsps, pinned):
    serve_operations(rsps, [op(1, hours=1), op(2, hours=20 * 24, status="FAILED")])
    result = ok(m.call_tool("list_operations", {"time_from": "30d"}))
    windows = sorted({(query(c)["time_from"], query(c)["time_to"]) for c in rsps.calls}, reverse=True)
    assert len(windows) == 5 and all(m.parse_timestamp(b) - m.parse_timestamp(a) <= WEEK_MINUS_1S for a, b in windows)
    assert result["countsByStatus"] == {"SUCCEEDED": 1, "FAILED": 1}
    assert len(pages_of(rsps.calls)) == 2   # only the two chunks holding a row are read


def test_a_task_run_id_alone_sets_the_window_to_the_task_runs_own(rsps, pinned):
    task = {"id": TASK, "pipelineRunId": RUN, "createdAt": at(50), "completedAt": at(49)}
    rsps.add(responses.GET, re.compile(re.escape(BASE + "/task_runs") + r"(\?.*)?$"),
             json={"page": 1, "pageSize": 100, "total": 1, "results": [task]})
    serve_operations(rsps, [op(1, hours=49.5)])
    result = ok(m.call_tool("list_operations", {"task_run_id": TASK}))
    assert [path_of(c) for c in rsps.calls][:2] == ["/task_runs", "/operations"]
    q = query(pages_of(rsps.calls)[0])
    assert m.parse_timestamp(q["time_from"]) == NOW - timedelta(hours=51)
    assert m.parse_timestamp(q["time_to"]) == NOW - timedelta(hours=48)
    assert result["window"]["of"] == "the task run" and result["total"] == 1


# ---- rows and summaries ------------------------------------------------------------------------------------

def test_durations_come_from_timestamps_and_operation_duration_only_as_a_labelled_fallback(rsps, pinned):
    reused = op(2, status="REUSED", operationDuration=3.5)
    reused["startedAt"] = reused["completedAt"] = None
    serve_operations(rsps, [op(1, seconds=12.34, operationDuration=999.0), reused])
    result = ok(m.call_tool("list_operations", {}))
    rows = {r["id"]: r for r in result["operations"]}
    assert rows[op(1)["id"]]["durationS"] == 12.3 and "operationDuration" not in rows[op(1)["id"]]
    assert rows[reused["id"]]["operationDuration"] == 3.5 and "durationS" not in rows[reused["id"]]
    assert "no unit" in result["durationNote"]
    assert result["summary"]["durationFrom"] == "startedAt to completedAt"   # never the two mixed
    assert [s["operationName"] for s in result["summary"]["slowest"]] == ["model.acme.m1"]


def test_one_nodes_history_has_first_and_last_failure_failure_rate_and_duration_percentiles(rsps, pinned):
    name = "model.acme.fct_orders"
    runs = [op(n, hours=20 - n, name=name, seconds=float(n), status="FAILED" if n in (3, 7, 9) else "SUCCEEDED")
            for n in range(1, 11)]
    runs.append(op(11, hours=0.5, name=name, status="SKIPPED"))
    serve_operations(rsps, runs)
    summary = ok(m.call_tool("list_operations", {"external_id": name}))["summary"]
    assert summary["basedOn"] == "based on 11 of 11 rows"
    assert (summary["operations"], summary["failed"], summary["finished"]) == (11, 3, 10)
    assert summary["failureRate"] == 0.3 and "SUCCEEDED, WARNING and FAILED" in summary["failureRateOf"]
    assert summary["firstFailure"]["message"] == "FAILED 3" and summary["lastFailure"]["message"] == "FAILED 9"
    assert summary["durationS"] == {"median": 6.0, "p90": 10.0, "of": 11, "from": "startedAt to completedAt"}


def test_a_name_is_matched_here_in_any_case_and_summarised_as_one_nodes_history(rsps, pinned):
    serve_operations(rsps, [op(1, name="model.acme.Orders", status="FAILED"), op(2, name="model.acme.customers")])
    result = ok(m.call_tool("list_operations", {"name": "ORDERS"}))
    assert [r["operationName"] for r in result["operations"]] == ["model.acme.Orders"]
    assert result["countsByStatus"] == {"FAILED": 1} and "countsExact" not in result   # all was read: exact
    assert result["summary"]["basedOn"] == "based on 2 of 2 rows; 1 match name 'ORDERS'"
    assert result["summary"]["failed"] == 1 and "lastFailure" not in result["summary"]   # one failure: first only


def test_without_a_node_the_summary_names_the_slowest_and_the_most_failing(rsps, pinned):
    rows = [op(n, hours=n / 10, name=f"model.acme.n{n % 12}", seconds=float(n % 12) * 10,
               status="FAILED" if n % 12 == 1 or (n % 12 == 2 and n < 50) else "SUCCEEDED") for n in range(1, 97)]
    serve_operations(rsps, rows)
    summary = ok(m.call_tool("list_operations", {}))["summary"]
    slowest = summary["slowest"]
    assert len(slowest) == 10 and slowest[0] == {"operationName": "model.acme.n11", "runs": 8, "medianS": 110.0,
                                                 "maxS": 110.0}
    assert [s["medianS"] for s in slowest] == sorted((s["medianS"] for s in slowest), reverse=True)
    failing = summary["mostFailing"]
    assert [f["operationName"] for f in failing] == ["model.acme.n1", "model.acme.n2"]
    assert [(f["failed"], f["runs"]) for f in failing] == [(8, 8), (4, 8)]
    assert failing[0]["message"] == "FAILED 1" and failing[0]["lastFailedAt"] == op(1, hours=0.1, seconds=10.0)["insertedAt"]


def test_messages_are_cleaned_and_capped(rsps, pinned):
    serve_operations(rsps, [op(1, message="\x1b[31mred\x1b[0m \u202eevil" + "x" * 5000, status="FAILED")])
    row = ok(m.call_tool("list_operations", {}))["operations"][0]
    assert row["message"].startswith("red evil") and "\x1b" not in row["message"] and "\u202e" not in row["message"]
    assert len(row["message"]) < 400 and "more chars" in row["message"]


def test_a_busy_window_is_read_in_at_most_20_pages_its_newest_part_whole_and_counts_stay_exact(rsps, pinned):
    # 5,000 operations in 24 hours, sent in no order: 50 pages would be needed.
    rows = [op(n, hours=n * 24 / 5001, status="FAILED" if n % 10 == 0 else "SUCCEEDED") for n in range(1, 5001)]
    serve_operations(rsps, rows)
    result = ok(m.call_tool("list_operations", {"limit": 20}))
    assert len(pages_of(rsps.calls)) <= m.OPERATION_PAGES
    assert result["countsByStatus"] == {"FAILED": 500, "SUCCEEDED": 4500} and "countsExact" not in result
    sized = [query(c) for c in rsps.calls if query(c)["page_size"] == "1"]
    assert sorted(q.get("status", "") for q in sized) == ["", *sorted(m.OPERATION_STATUSES)]
    assert [r["id"] for r in result["operations"]] == [rows[n]["id"] for n in range(20)]   # the true newest
    read = int(re.fullmatch(r"based on (\d+) of 5000 rows, the newest: every row from .* on",
                            result["summary"]["basedOn"]).group(1))
    assert 1000 <= read <= m.OPERATION_PAGES * 100
    assert result["truncated"] is True and "pass time_to" in result["readNote"]
    assert len(json.dumps(result)) <= m.MAX_RESULT_CHARS


# ---- against the fake: 20,000 operations in two days -------------------------------------------------------

@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_fakes_operation_volume_belongs_to_real_task_runs_and_conforms_in_every_mode(mode):
    with FakeOrchestra(mode=mode, operations=20_000, response_check=api_contract.check_response) as fake:
        workspace = fake.workspace
        now = workspace.now_us()
        volume = [o for o in workspace.operations_between(now - VOLUME_DAYS * 86_400_000_000, now, None)
                  if "volume" in o["tags"]]
        assert len(volume) == 20_000

        def task_run(operation):
            run = workspace.run(operation["pipelineRunId"])
            return next(t for t in workspace.task_runs_of(run, now) if t.id == operation["taskRunId"])

        assert all(task_run(o).task.integration == "DBT_CORE" for o in volume[::97])
        statuses = Counter(o["operationStatus"] for o in volume)
        assert set(statuses) <= {"SUCCEEDED", "FAILED", "SKIPPED", "WARNING", "REUSED"} and statuses["FAILED"]
        for operation in (o for o in volume if o["operationName"] == VOLUME_FAILING_OPERATION):
            assert (operation["operationStatus"] == "FAILED") == (task_run(operation).status == "FAILED")
        window = {"time_from": (fake.now() - timedelta(days=2)).isoformat(), "time_to": fake.now().isoformat()}
        for page in (1, 2):
            body = requests.get(fake.base_url + "/operations", params={**window, "page": page, "page_size": 100},
                                headers={"Authorization": "Bearer test-key"}, timeout=30).json()
            assert body["total"] >= 19_000 and len(body["results"]) == 100
        report = api_contract.contract_report(fake)
    assert report.violations == [], report.text()
    assert report.responses_validated == 2


@pytest.fixture(scope="module", params=sorted(MODES))
def volume(request):
    fake = FakeOrchestra(mode=request.param, operations=20_000, response_check=api_contract.check_response).start()
    yield fake
    report = api_contract.contract_report(fake)
    fake.stop()
    assert not report.violations, report.text()


@pytest.fixture
def on_volume(volume):
    configure(volume.base_url)
    volume.clear_journal()
    yield volume
    m.configure(m.read_config({}))
    m.use_context(None)


def truth(fake, window, **match):
    """The fake's own operations in a result's window (its bounds inclusive, as the API's)."""
    low, high = (int((m.parse_timestamp(window[k]) - datetime(1970, 1, 1, tzinfo=timezone.utc))
                     / timedelta(microseconds=1)) for k in ("from", "to"))
    rows = fake.workspace.operations_between(low, high, None)
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def test_a_20000_operation_workspace_is_listed_from_at_most_20_pages_with_exact_counts(on_volume):
    result = ok(m.call_tool("list_operations", {"time_from": "2d", "limit": 30}))
    expected = truth(on_volume, result["window"])
    assert len(expected) > 15_000   # the volume is there
    assert len([e for e in on_volume.journal if e["query"].get("page_size") == ["100"]]) <= m.OPERATION_PAGES
    assert result["countsByStatus"] == dict(Counter(r["operationStatus"] for r in expected))
    assert result["total"] == len(expected)
    newest = sorted(expected, key=lambda r: r["insertedAt"], reverse=True)[:30]
    assert [r["id"] for r in result["operations"]] == [r["id"] for r in newest]   # sorted here, in every mode
    assert re.fullmatch(rf"based on \d+ of {len(expected)} rows, the newest: every row from .* on",
                        result["summary"]["basedOn"])
    assert len(result["summary"]["slowest"]) == 10
    assert len(json.dumps(result)) <= m.MAX_RESULT_CHARS


def test_one_models_history_in_the_busy_workspace_is_exact(on_volume):
    result = ok(m.call_tool("list_operations", {"external_id": VOLUME_FAILING_OPERATION, "time_from": "2d"}))
    expected = truth(on_volume, result["window"], externalId=VOLUME_FAILING_OPERATION)
    failures = sorted((r for r in expected if r["operationStatus"] == "FAILED"), key=lambda r: r["insertedAt"])
    summary = result["summary"]
    assert summary["basedOn"] == f"based on {len(expected)} of {len(expected)} rows"
    assert failures and summary["failed"] == len(failures)
    assert summary["firstFailure"]["insertedAt"] == failures[0]["insertedAt"]
    if len(failures) > 1:
        assert summary["lastFailure"]["insertedAt"] == failures[-1]["insertedAt"]
    assert summary["failureRate"] == round(len(failures) / len(expected), 3)
    assert summary["durationS"]["of"] == len(expected)
    assert len([e for e in on_volume.journal if e["query"].get("page_size") == ["100"]]) == -(-len(expected) // 100)


def test_several_statuses_against_the_fake_are_several_reads(on_volume):
    result = ok(m.call_tool("list_operations", {"status_filter": ["FAILED", "WARNING"], "time_from": "2d"}))
    statuses = {tuple(e["query"]["status"]) for e in on_volume.journal}
    assert statuses == {("FAILED",), ("WARNING",)}
    expected = truth(on_volume, result["window"])
    assert result["countsByStatus"] == dict(Counter(r["operationStatus"] for r in expected
                                                    if r["operationStatus"] in ("FAILED", "WARNING")))


def test_a_task_runs_operations_are_read_in_its_own_window(on_volume):
    result = ok(m.call_tool("list_operations", {"task_run_id": FAILED_DBT_TASK_RUN_ID}))
    assert sorted(r["id"] for r in result["operations"]) == sorted(OPERATION_IDS)
    assert result["countsByStatus"] == {"SUCCEEDED": 1, "FAILED": 1, "SKIPPED": 1}
    assert result["summary"]["mostFailing"][0]["operationName"] == "model.acme.fct_orders"
