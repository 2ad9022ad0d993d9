"""Paging at scale: list_pipeline_runs over 30 days of 20,000 generated runs (200+ pages).

The fake (a separate process) generates --runs runs over 30 days. The server pages through them in
7-day windows of 100-row pages (ORCHESTRA_MCP_DEADLINE_S=300, so the deadline never cuts it).
Each round, the fake's journal of the server's call is replayed by a bare requests loop: the same
requests (path and query, window by window, page by page) on one Session, each body parsed as JSON.
MCP and bare rounds alternate (the order flips every round).

Memory: VmHWM (peak RSS) of the server process, read from /proc after initialize (cold idle), after
one small call (warm idle: requests/urllib3 imported, HTTP session built), after a 7-day listing and
after the 30-day rounds. Growth is judged against the warm idle figure and shown against the cold
one too. Whether it grows with the total: the 7-day vs 30-day figures, and (full run) one more
30-day listing of --scale-runs runs (200,000: 2,000+ pages) in a fresh fake and server.

    python bench/bench_paging.py [--quick] [--runs 20000] [--rounds 5] [--days 30] [--scale-runs 200000]
"""

import sys
import time

from common import (Report, Workspace, arguments, direct_session, proc_field, replay_url, secs, stats,
                    timed_call)

TARGET_RSS_MB = 15
TARGET_THROUGHPUT = 0.9


def incomplete(is_error, result):
    """True when the deadline (or an error) cut the listing short."""
    return is_error or result.get("countsExact") is False or "rowsNote" in result or "countsNote" in result


def page_requests(journal):
    return [e for e in journal if e["path"].endswith("/pipeline_runs") and e["query"].get("page_size") == ["100"]]


def main():
    args = arguments(__doc__.splitlines()[0], runs=(20000, 3000), rounds=(5, 1), days=(30, 30),
                     scale_runs=(200000, 0))
    report = Report("bench_paging", args)
    with Workspace(runs=args.runs, nodelay=not args.stock_fake) as ws:
        server = ws.server(ORCHESTRA_MCP_DEADLINE_S="300", ORCHESTRA_TIMEOUT="60")
        hwm_cold = proc_field(server.process.pid, "VmHWM")
        is_error, payload, _, _ = timed_call(server, "list_pipeline_runs", time_from="1h")
        if is_error:
            raise RuntimeError(payload)
        hwm_warm = proc_field(server.process.pid, "VmHWM")

        ws.fake.clear_journal()
        is_error, week, _, week_s = timed_call(server, "list_pipeline_runs", time_from="7d")
        week_pages = len(page_requests(ws.fake.journal()))
        hwm_week = proc_field(server.process.pid, "VmHWM")

        session = direct_session()
        mcp_times, bare_times, pages, totals = [], [], [], []
        for round_index in range(args.rounds):
            for way in (("mcp", "bare") if round_index % 2 == 0 else ("bare", "mcp")):
                if way == "mcp":
                    ws.fake.clear_journal()
                    is_error, result, _, elapsed = timed_call(server, "list_pipeline_runs", time_from=f"{args.days}d", timeout=600)
                    if incomplete(is_error, result):
                        raise RuntimeError(f"the listing did not complete: {str(result)[:500]}")
                    journal = ws.fake.journal()
                    replay = page_requests(journal)
                    if len(replay) != len(journal):
                        raise RuntimeError(f"{len(journal) - len(replay)} requests other than 100-row pages")
                    mcp_times.append(elapsed)
                    pages.append(len(replay))
                    totals.append(result["total"])
                else:
                    if round_index == 0:   # the first bare loop needs the journal of an MCP round
                        continue
                    bare_times.append(bare_loop(session, ws.fake, replay))
            if round_index == 0:
                bare_times.append(bare_loop(session, ws.fake, replay))
        hwm_end = proc_field(server.process.pid, "VmHWM")

    mcp, bare = stats(mcp_times), stats(bare_times)
    report.figure("paging.pages", f"{pages[-1]} pages of 100 for {totals[-1]:,} runs over {args.days} days "
                  f"({len(set(pages))} distinct page count(s) over {len(pages)} rounds)")
    report.figure("paging.mcp_time", f"{secs(mcp)}; {pages[-1] / mcp['median']:.1f} pages/s")
    report.figure("paging.bare_time", f"{secs(bare)}; {pages[-1] / bare['median']:.1f} pages/s "
                  "(requests loop replaying the journal)")
    throughput = bare["median"] / mcp["median"]
    report.figure("paging.throughput_ratio", f"{throughput:.3f} (MCP pages/s / bare pages/s, medians)",
                  target=f">= {TARGET_THROUGHPUT} (within 10 %)", ok=throughput >= TARGET_THROUGHPUT, ratio=throughput)
    report.figure("paging.rss.idle", f"VmHWM {hwm_cold / 1024:.1f} MB after initialize, "
                  f"{hwm_warm / 1024:.1f} MB after one small call (requests imported)")
    report.figure("paging.rss.after_7d", f"VmHWM {hwm_week / 1024:.1f} MB after 7 days ({week_pages} pages, "
                  f"{week.get('total', 0):,} runs, {week_s:.2f} s): +{(hwm_week - hwm_warm) / 1024:.1f} MB over warm idle")
    growth = (hwm_end - hwm_warm) / 1024
    report.figure("paging.rss.growth", f"VmHWM {hwm_end / 1024:.1f} MB after {args.days}-day rounds: +{growth:.1f} MB over "
                  f"warm idle, +{(hwm_end - hwm_cold) / 1024:.1f} MB over cold idle",
                  target=f"< {TARGET_RSS_MB} MB over idle", ok=growth < TARGET_RSS_MB, ratio=growth / TARGET_RSS_MB)
    if args.scale_runs:
        scale(args, report)
    return report.summary()


def scale(args, report):
    """One listing of many more runs in a fresh fake and server: does the peak grow with the total?"""
    with Workspace(runs=args.scale_runs, nodelay=not args.stock_fake) as ws:
        server = ws.server(ORCHESTRA_MCP_DEADLINE_S="600", ORCHESTRA_TIMEOUT="60")
        timed_call(server, "list_pipeline_runs", time_from="1h")
        hwm_warm = proc_field(server.process.pid, "VmHWM")
        ws.fake.clear_journal()
        is_error, result, _, elapsed = timed_call(server, "list_pipeline_runs", time_from=f"{args.days}d", timeout=900)
        if incomplete(is_error, result):
            raise RuntimeError(f"the listing did not complete: {str(result)[:500]}")
        pages = len(page_requests(ws.fake.journal()))
        hwm, rss = proc_field(server.process.pid, "VmHWM"), proc_field(server.process.pid, "VmRSS")
    growth = (hwm - hwm_warm) / 1024
    report.figure("paging.scale.time", f"{elapsed:.1f} s for {pages} pages, {result['total']:,} runs: "
                  f"{pages / elapsed:.1f} pages/s (the fake slows as its 7-day windows grow)")
    report.figure("paging.scale.rss.growth", f"VmHWM {hwm / 1024:.1f} MB: +{growth:.1f} MB over warm idle "
                  f"({hwm_warm / 1024:.1f} MB); VmRSS {rss / 1024:.1f} MB after the call",
                  target=f"< {TARGET_RSS_MB} MB over idle, whatever the total", ok=growth < TARGET_RSS_MB,
                  ratio=growth / TARGET_RSS_MB)


def bare_loop(session, fake, replay):
    started = time.perf_counter()
    for entry in replay:
        url, params = replay_url(fake, entry)
        response = session.get(url, params=params, timeout=60)
        response.raise_for_status()
        response.json()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
