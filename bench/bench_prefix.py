"""Prefix lookups on a busy workspace: requests and wall time for a recent, an old and a missing prefix.

The fake holds 20,000 generated runs over 30 days (about 650 a day). Every run is first listed
directly (7-day windows, so the prefixes below are chosen from the whole workspace), then
`get_pipeline_run_status(pipeline_run_id=<8 hex characters>)` is called through the server for:

  recent     a run about 2 hours old (found in the first window, the last 24 h)
  old        a run about 3 days old (within the 25-request reach: about 3.5 days at this rate)
  too_old    a run about 20 days old (beyond the reach: the answer says to pass the full UUID)
  missing    8 hex characters that start no run of the workspace

Each case runs --rounds times; requests are counted from the fake's journal (listing pages of
GET /pipeline_runs plus the status read when the prefix resolves). Target (issue 12): at most 25
listing requests per lookup, whatever the case; before the fix a missing prefix cost 193.

    python bench/bench_prefix.py [--quick] [--runs 20000] [--rounds 5]
"""

import random
import sys
from datetime import datetime, timedelta, timezone

from common import Report, Workspace, arguments, direct_session, ms, stats, timed_call

MAX_LISTING_REQUESTS = 25


def every_run(fake, session):
    """(createdAt, id) of every run, listed directly in 6-day windows over 31 days (the API takes
    windows of less than 7 days)."""
    now = datetime.now(timezone.utc)
    rows = []
    for chunk in range(6):
        time_to = now - timedelta(days=6 * chunk)
        time_from = max(now - timedelta(days=31), time_to - timedelta(days=6))
        page = 1
        while True:
            response = session.get(fake.base_url + "/pipeline_runs", timeout=60, params={
                "time_from": time_from.isoformat(), "time_to": time_to.isoformat(),
                "page": page, "page_size": 100})
            response.raise_for_status()
            body = response.json()
            rows += [(row["createdAt"], row["id"]) for row in body["results"]]
            if page * 100 >= body["total"]:
                break
            page += 1
    return now, rows


def pick(now, rows, age):
    """The id of a run about `age` old whose 8-character prefix is unique in the workspace."""
    prefixes = {}
    for _, run_id in rows:
        prefixes[run_id[:8]] = prefixes.get(run_id[:8], 0) + 1
    target = now - age
    def distance(row):
        created = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
        return abs((created - target).total_seconds())
    for _, run_id in sorted(rows, key=distance):
        if prefixes[run_id[:8]] == 1:
            return run_id
    raise RuntimeError(f"no run with a unique prefix near {age}")


def main():
    args = arguments(__doc__.splitlines()[0], runs=(20000, 20000), rounds=(5, 1))
    report = Report("bench_prefix", args)
    with Workspace(runs=args.runs, nodelay=not args.stock_fake) as ws:
        now, rows = every_run(ws.fake, direct_session())
        taken = {run_id[:8] for _, run_id in rows}
        rng = random.Random(12)
        missing = next(p for p in (f"{rng.getrandbits(32):08x}" for _ in range(1000)) if p not in taken)
        cases = {"recent": pick(now, rows, timedelta(hours=2)), "old": pick(now, rows, timedelta(days=3)),
                 "too_old": pick(now, rows, timedelta(days=20)), "missing": missing + "-not-a-run"}
        report.note(f"{len(rows):,} runs listed directly; prefixes: "
                    + ", ".join(f"{name} {run_id[:8]}" for name, run_id in cases.items()))
        server = ws.server()
        timed_call(server, "get_pipeline_run_status", pipeline_run_id=cases["recent"])   # warm: imports, connection
        for name, run_id in cases.items():
            times, counts, outcome = [], [], ""
            for _ in range(args.rounds):
                ws.fake.clear_journal()
                is_error, payload, text, seconds = timed_call(server, "get_pipeline_run_status",
                                                              pipeline_run_id=run_id[:8])
                journal = ws.fake.journal()
                listings = sum(entry["path"].endswith("/pipeline_runs") for entry in journal)
                times.append(seconds)
                counts.append((len(journal), listings))
                if is_error:
                    outcome = "error: " + text[:150]
                else:
                    outcome = f"found {payload.get('id', '')[:8]} ({payload.get('runStatus')})"
                    if payload.get("id") != run_id:
                        raise RuntimeError(f"{name}: resolved to {payload.get('id')}, expected {run_id}")
            worst = max(listing for _, listing in counts)
            report.figure(f"prefix.{name}.requests", f"{counts[0][0]} HTTP requests ({counts[0][1]} listing pages) "
                          f"on the first lookup; {outcome}", target=f"<= {MAX_LISTING_REQUESTS} listing requests",
                          ok=worst <= MAX_LISTING_REQUESTS, ratio=worst / MAX_LISTING_REQUESTS)
            again = (f"; {len(times) - 1} repeats: {ms(stats(times[1:]))}, {min(c[0] for c in counts[1:])}-"
                     f"{max(c[0] for c in counts[1:])} requests (a resolved prefix is cached for reads)"
                     if len(times) > 1 else "")
            report.figure(f"prefix.{name}.time", f"first lookup {times[0] * 1000:.1f} ms{again}")
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
