"""Section 4 of orchestra_mcp.py: iter_pages, the one paginator, against `responses`."""

import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import orchestra_mcp as m  # noqa: E402

BASE = "https://orchestra.test/api/engine/public"
URL = BASE + "/pipeline_runs"
WINDOW = {"time_from": "2026-11-22T12:00:00+00:00", "time_to": "2026-11-23T12:00:00+00:00"}


def setup(deadline_s=10):
    m.configure(m.read_config({"ORCHESTRA_API_KEY": "k-test", "ORCHESTRA_API_BASE_URL": BASE,
                               "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01"}))
    ctx = m.new_call_context(deadline_s=deadline_s)
    m.use_context(ctx)
    return ctx


@pytest.fixture(autouse=True)
def fresh_module():
    setup()
    yield
    m.configure(m.read_config({}))
    m.use_context(None)


def query(call):
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def rows(*ids):
    return [{"id": i, "runStatus": "SUCCEEDED"} for i in ids]


def envelope(page, results, total, size=100):
    return {"page": page, "pageSize": size, "total": total, "results": results}


def pages(path=URL, params=None, page_size=100):
    return list(m.iter_pages(path.removeprefix(BASE), dict(WINDOW if params is None else params), page_size))


def test_page_and_page_size_are_sent_and_never_limit_or_offset(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows("a", "b"), 2))
    pages()
    assert len(rsps.calls) == 1
    assert urlsplit(rsps.calls[0].request.url).path == "/api/engine/public/pipeline_runs"
    assert query(rsps.calls[0]) == {**WINDOW, "page": "1", "page_size": "100"}


def test_the_per_run_page_size_is_passed_through(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows("a"), 1, 50))
    pages(page_size=50)
    assert query(rsps.calls[0])["page_size"] == "50"


def test_paging_stops_when_the_total_is_reached(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 150))
    rsps.add(responses.GET, URL, json=envelope(2, rows(*range(100, 150)), 150))
    rsps.add(responses.GET, URL, json=envelope(3, rows("never"), 150))
    got = pages()
    assert [p["page"] for p in got] == [1, 2]
    assert [p["last"] for p in got] == [False, True]
    assert sum(len(p["rows"]) for p in got) == 150
    assert [query(c)["page"] for c in rsps.calls] == ["1", "2"]
    assert all(p["total"] == 150 for p in got)


def test_paging_stops_at_an_empty_page(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 500))
    rsps.add(responses.GET, URL, json=envelope(2, [], 500))
    got = pages()
    assert len(rsps.calls) == 2
    assert got[-1]["last"] is True and got[-1]["rows"] == []


def test_paging_stops_at_an_empty_first_page(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, [], 0))
    got = pages()
    assert len(got) == 1 and got[0]["last"] is True and got[0]["total"] == 0


def test_paging_without_a_total_continues_until_an_empty_page(rsps):
    rsps.add(responses.GET, URL, json={"results": rows(*range(100))})
    rsps.add(responses.GET, URL, json={"results": rows(*range(100, 130))})
    rsps.add(responses.GET, URL, json={"results": []})
    got = pages()
    assert len(rsps.calls) == 3
    assert sum(len(p["rows"]) for p in got) == 130
    assert got[0]["total"] is None


def test_a_server_repeating_the_same_page_forever_costs_two_requests(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 10_000))   # registered once: served forever
    got = pages()
    assert len(rsps.calls) == 2
    assert [len(p["rows"]) for p in got] == [100, 0]
    assert got[-1]["last"] is True


def test_rows_already_seen_on_an_earlier_page_are_dropped(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows("a", "b", "c"), 7, 3))
    rsps.add(responses.GET, URL, json=envelope(2, rows("c", "d", "e"), 8, 3))   # a new run shifted "c" down
    rsps.add(responses.GET, URL, json=envelope(3, rows("f", "g", "h"), 8, 3))
    rsps.add(responses.GET, URL, json=envelope(4, rows("never"), 8, 3))
    got = pages(page_size=3)
    ids = [r["id"] for p in got for r in p["rows"]]
    assert ids == ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert len(rsps.calls) == 3


def test_rows_that_are_not_objects_are_skipped(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, ["junk", None, 3, {"id": "a"}], 4))
    got = pages()
    assert [r["id"] for p in got for r in p["rows"]] == ["a"]
    assert len(rsps.calls) == 1


def test_paging_stops_near_the_deadline_without_a_last_page(rsps):
    ctx = setup(deadline_s=10)
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 1000))
    rsps.add(responses.GET, URL, json=envelope(2, rows(*range(100, 200)), 1000))
    listing = m.iter_pages("/pipeline_runs", dict(WINDOW))
    first = next(listing)
    ctx.deadline = time.monotonic() + m.MIN_PAGE_TIME_S / 2   # the call is nearly out of time
    rest = list(listing)
    assert first["last"] is False and rest == []
    assert len(rsps.calls) == 1


def test_a_call_already_past_its_page_time_sends_nothing(rsps):
    ctx = setup()
    ctx.deadline = time.monotonic() + 1.0
    rsps.add(responses.GET, URL, json=envelope(1, rows("a"), 1))
    assert pages() == []
    assert len(rsps.calls) == 0


def test_cancellation_is_checked_between_pages(rsps):
    ctx = setup()
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 1000))
    listing = m.iter_pages("/pipeline_runs", dict(WINDOW))
    next(listing)
    ctx.cancel.set()
    with pytest.raises(m.CallCancelled):
        next(listing)
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("body", [{"page": 1, "total": 3}, {"results": None}, {"results": "x"}, [], "text", None])
def test_an_answer_without_a_results_list_is_an_api_error(rsps, body):
    rsps.add(responses.GET, URL, body=m.dump(body))
    with pytest.raises(m.ApiError, match="`results`"):
        pages()
    assert len(rsps.calls) == 1


def test_paging_stops_at_max_pages(rsps, monkeypatch):
    monkeypatch.setattr(m, "MAX_PAGES", 3)
    counter = iter(range(10**6))

    def fresh_page(request):
        start = next(counter) * 100
        return 200, {}, m.dump(envelope(1, rows(*range(start, start + 100)), 10**6))

    rsps.add_callback(responses.GET, URL, callback=fresh_page)
    got = pages()
    assert len(got) == 3 and not any(p["last"] for p in got)
    assert len(rsps.calls) == 3


def test_progress_is_reported_per_page_with_the_page_count(rsps):
    reports = []
    ctx = setup()
    ctx.progress = lambda progress, total, message: reports.append((progress, total))
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 150))
    rsps.add(responses.GET, URL, json=envelope(2, rows(*range(100, 150)), 150))
    pages()
    assert reports == [(1, 2), (2, 2)]


def test_an_http_error_on_a_later_page_propagates(rsps):
    rsps.add(responses.GET, URL, json=envelope(1, rows(*range(100)), 150))
    rsps.add(responses.GET, URL, status=404, json={"detail": "gone"})
    listing = m.iter_pages("/pipeline_runs", dict(WINDOW))
    next(listing)
    with pytest.raises(m.NotFound):
        next(listing)
