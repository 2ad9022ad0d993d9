"""Concurrency: 8 simultaneous tool calls that each wait 0.5 s on the fake; cancelling a paging call.

Part 1, each round: a "slow" fault (0.5 s) on the next 8 GET .../status requests, then 8
get_pipeline_run_status calls written in one go; time from the write to the 8th reply. Serial
would take >= 4 s; fully concurrent ~0.5 s.

Part 2: list_pipeline_runs over 30 days with every 100-row page slowed to --page-delay seconds.
Once the fake's journal shows it paging, notifications/cancelled is sent, and at once 8 new
get_pipeline_run_status calls (0.5 s each) follow. The cancelled call holds one of the 8 tool
workers until its current page returns, so the 8 new calls finish in ~0.5 s + at most one page.
Reported: page requests that started after the cancel (journal times share this machine's
CLOCK_MONOTONIC), when the last of the 8 new requests reached the fake, and that the cancelled
call never answered.

    python bench/bench_concurrency.py [--quick] [--rounds 5] [--page-delay 0.2]
"""

import sys
import time

from common import (FAILED_RUN_ID, Report, Workspace, arguments, call_message, read_reply, secs, stats,
                    timed_call)

CALLS = 8
DELAY_S = 0.5
TARGET_S = 0.8


def burst(server, count=CALLS):
    """Write `count` get_pipeline_run_status calls at once; (seconds to the last reply, ids, errors)."""
    messages = [call_message(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID) for _ in range(count)]
    wanted = {request_id for request_id, _ in messages}
    started = server.send(*(message for _, message in messages))
    last, errors, others = started, 0, []
    while wanted:
        reply, arrived, _ = read_reply(server, 30)
        if reply is None:
            raise RuntimeError(f"{len(wanted)} call(s) never answered")
        if reply.get("id") not in wanted:
            others.append(reply)
            continue
        wanted.discard(reply["id"])
        errors += bool(reply.get("error") or reply["result"].get("isError"))
        last = arrived
    return last - started, errors, others, started


def main():
    args = arguments(__doc__.splitlines()[0], rounds=(5, 1), page_delay=(0.2, 0.2))
    report = Report("bench_concurrency", args)
    status_fault = {"match": {"method": "GET", "path": "/status"}, "count": CALLS, "action": "slow", "delay": DELAY_S}
    with Workspace(nodelay=not args.stock_fake) as ws:
        server = ws.server()
        timed_call(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)   # warm: requests imported

        totals = []
        for _ in range(args.rounds):
            ws.fake.clear_faults()
            ws.fake.add_fault(**status_fault)
            ws.fake.clear_journal()
            elapsed, errors, _, _ = burst(server)
            slowed = sum(e["fault"] == "slow" for e in ws.fake.journal())
            if errors or slowed != CALLS:
                raise RuntimeError(f"{errors} error replies, {slowed} slowed requests (expected 0 and {CALLS})")
            totals.append(elapsed)
        burst_stats = stats(totals)
        report.figure("concurrency.8_calls_0.5s_each", f"{secs(burst_stats)} for {CALLS} calls",
                      target=f"<= {TARGET_S} s in total (median)", ok=burst_stats["median"] <= TARGET_S,
                      ratio=burst_stats["median"] / DELAY_S)

        # Part 2: cancel a long paging call, then 8 calls at once.
        ws.fake.clear_faults()
        ws.fake.clear_journal()
        ws.fake.add_fault(match={"method": "GET", "path": "/pipeline_runs", "query": "page_size=100"},
                          count=100000, action="slow", delay=args.page_delay)
        ws.fake.add_fault(**status_fault)
        paging_id, message = call_message(server, "list_pipeline_runs", time_from="30d")
        paging_started = server.send(message)
        while len(ws.fake.journal()) < 2:   # wait until it is paging (second page requested)
            if time.perf_counter() - paging_started > 30:
                raise RuntimeError("the paging call never got going")
            time.sleep(0.01)
        cancelled_at = time.monotonic()
        server.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                     "params": {"requestId": paging_id, "reason": "bench"}})
        elapsed, errors, others, burst_sent = burst(server)
        stray, _, _ = read_reply(server, max(1.0, 2 * args.page_delay))   # the cancelled call must stay silent
        if stray is not None:
            others.append(stray)
        journal = ws.fake.journal()
        ws.fake.clear_faults()

    pages = [e for e in journal if e["path"].endswith("/pipeline_runs")]
    after = [e for e in pages if e["monotonic"] > cancelled_at]
    before = [e for e in pages if e["monotonic"] <= cancelled_at]
    status_hits = sorted(e["monotonic"] for e in journal if e["path"].endswith("/status"))
    answered = any(reply.get("id") == paging_id for reply in others)
    report.figure("concurrency.cancel.pages_after_cancel",
                  f"{len(after)} page request(s) started after the cancel ({len(before)} before; each page "
                  f"slowed {args.page_delay:g} s)", target="<= 1 (frees its worker within one page)", ok=len(after) <= 1)
    report.figure("concurrency.cancel.silent", "no reply to the cancelled call" if not answered
                  else "the cancelled call answered", target="no reply", ok=not answered)
    report.figure("concurrency.cancel.8_calls_after_cancel",
                  f"{elapsed:.3f} s for {CALLS} calls sent right after the cancel ({errors} errors); the 8th "
                  f"request reached the fake {(status_hits[-1] - cancelled_at) * 1000:.0f} ms after the cancel",
                  target=f"<= {TARGET_S} s in total", ok=elapsed <= TARGET_S and not errors and len(status_hits) == CALLS,
                  ratio=elapsed / DELAY_S)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
