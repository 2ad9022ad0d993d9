"""Triage: diagnose_pipeline_run over every case of tests/triage_cases.py, the log scanner's speed,
and a 64 MB diagnosis.

1. Cases. One server diagnoses each case's run once (after one warm-up diagnosis) against an
   in-process fake (its journal and its line labels are at hand). Per case: characters of the
   result (compact JSON, as the tests count them), API requests (log downloads not counted, as in
   issue 15's budget; no prefix resolution: full ids), wall time, and the share of the returned
   log-line characters that are success or progress lines, from the labels the fake gives every
   line it generates. Targets (issue 15): median at most 3,000 characters and none above 8,000;
   success/progress share under 5 % at the median.
2. Scan speed. The fake's quota log grown to 50 MB (more loaded batches before the error) is made
   in memory first, then fed to orchestra_mcp.LogScanner in 1 MiB chunks: MB/s of the scan alone.
   Target: at least 50 MB/s here.
3. A 64 MB diagnosis. A fresh fake whose quota log is just under the 64 MB scan budget
   (SCAN_MAX_BYTES), and a fresh server: the wall time of one diagnosis of that run, next to the
   time the fake alone takes to make those bytes (it generates the log on demand, in this process),
   and what the scan reported. No target: a figure.

    python bench/bench_triage.py [--quick] [--scan-mb 50]
"""

import json
import statistics
import sys
import tempfile
import time

from common import API_KEY, CONSOLE_SCRIPT, REPO, Report, arguments, child_env, spawn

import fake_orchestra as fo   # noqa: E402,I001 - on the path through common
from triage_cases import CASES, shown_line_labels   # noqa: E402

import orchestra_mcp   # noqa: E402

MEDIAN_CHARS, MAX_CHARS, NOISE_SHARE, SCAN_MB_S = 3_000, 8_000, 0.05, 50.0
MIB = 1 << 20


def start_fake():
    fo._Handler.disable_nagle_algorithm = True   # as common.FAKE_BOOT: no 40 ms Nagle stalls
    return fo.FakeOrchestra().start()


def start_server(fake, home):
    env = child_env(home, ORCHESTRA_API_KEY=API_KEY, ORCHESTRA_API_BASE_URL=fake.base_url,
                    ORCHESTRA_MCP_DOWNLOAD_DIR=f"{home}/downloads", ORCHESTRA_MCP_DEADLINE_S="120",
                    ORCHESTRA_TIMEOUT="60")
    server, _ = spawn([CONSOLE_SCRIPT], env, REPO)
    server.initialize()
    return server


def diagnose(server, run_id):
    started = time.perf_counter()
    is_error, result = server.call("diagnose_pipeline_run", timeout=180, pipeline_run_id=run_id)
    seconds = time.perf_counter() - started
    if is_error:
        raise RuntimeError(f"diagnose {run_id}: {result}")
    return result, seconds


def noise_share(labels):
    """Share of the shown log-line characters that are success or progress lines (None: no lines)."""
    total = sum(length for _, length, _ in labels)
    noisy = sum(length for label, length, _ in labels if label in ("success", "progress"))
    return noisy / total if total else None


def cases(report, home):
    fake = start_fake()
    server = start_server(fake, home)
    rows = []
    try:
        diagnose(server, fo.FAILED_RUN_ID)   # warm-up: imports requests, opens the connection
        for case in CASES:
            mark = len(fake.journal)
            result, seconds = diagnose(server, case["run_id"])
            requests = [e for e in fake.journal[mark:] if not e["path"].endswith("/logs/download")]
            size = len(json.dumps(result, separators=(",", ":")))
            share = noise_share(shown_line_labels(fake, result))
            rows.append((case["name"], size, len(requests), seconds, share, result["outcome"]))
    finally:
        server.close()
        fake.stop()
    for name, size, requests, seconds, share, outcome in rows:
        shown = "no log lines shown" if share is None else f"{share:.1%} success/progress"
        report.figure(f"triage.case.{name}", f"{size:,} chars, {requests} requests, {seconds * 1000:.0f} ms, "
                      f"{shown}; outcome {outcome}")
    sizes = [row[1] for row in rows]
    median, largest = statistics.median(sizes), max(sizes)
    report.figure("triage.size.median", f"{median:,.0f} characters over {len(rows)} cases",
                  target=f"<= {MEDIAN_CHARS:,}", ok=median <= MEDIAN_CHARS, ratio=median / MEDIAN_CHARS)
    worst = max(rows, key=lambda row: row[1])[0]
    report.figure("triage.size.max", f"{largest:,} characters ({worst})",
                  target=f"<= {MAX_CHARS:,}", ok=largest <= MAX_CHARS, ratio=largest / MAX_CHARS)
    report.figure("triage.requests", f"median {statistics.median(r[2] for r in rows):g}, max "
                  f"{max(r[2] for r in rows)} API requests per diagnosis (log downloads not counted)")
    report.figure("triage.time", f"median {statistics.median(r[3] for r in rows) * 1000:.0f} ms, max "
                  f"{max(r[3] for r in rows) * 1000:.0f} ms per diagnosis (warm server)")
    shares = [row[4] for row in rows if row[4] is not None]
    share = statistics.median(shares)
    report.figure("triage.noise_share", f"median {share:.1%}, max {max(shares):.1%} of returned log-line "
                  f"characters are success/progress lines ({len(shares)} cases show log lines)",
                  target=f"< {NOISE_SHARE:.0%} at the median", ok=share < NOISE_SHARE, ratio=share / NOISE_SHARE)


def quota_log(total_bytes):
    """The quota log with enough loaded batches to be about total_bytes long (a LinesContent)."""
    default = fo.QUOTA_LOADED_BATCHES
    try:
        base = fo.LinesContent(lambda: fo.quota_log_parts(0)).size
        fo.QUOTA_LOADED_BATCHES = default + 1000
        per_batch = (fo.LinesContent(lambda: fo.quota_log_parts(0)).size - base) / 1000
        batches = default + int((total_bytes - base) / per_batch)
        fo.QUOTA_LOADED_BATCHES = batches
        while fo.LinesContent(lambda: fo.quota_log_parts(0)).size > total_bytes:   # batch lines vary
            batches -= 500
            fo.QUOTA_LOADED_BATCHES = batches
    finally:
        fo.QUOTA_LOADED_BATCHES = default
    return batches


def scan_speed(report, megabytes):
    default = fo.QUOTA_LOADED_BATCHES
    fo.QUOTA_LOADED_BATCHES = quota_log(megabytes * MIB)
    try:
        content = fo.LinesContent(lambda: fo.quota_log_parts(0))
        data = b"".join(content.chunks(0, content.size))
    finally:
        fo.QUOTA_LOADED_BATCHES = default
    chunks = [data[i:i + MIB] for i in range(0, len(data), MIB)]
    best, found = None, None
    for _ in range(3):
        scanner = orchestra_mcp.LogScanner(max_bytes=len(data) + 1)
        started = time.perf_counter()
        for chunk in chunks:
            scanner.feed(chunk)
        scan = scanner.result()
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
        found = scan
    rate = len(data) / MIB / best
    quota = "found" if fo.QUOTA_ERROR[:40] in json.dumps(found) else "NOT found"
    report.figure("triage.scan.throughput", f"{rate:.0f} MB/s: {len(data) / MIB:.1f} MB in {len(chunks)} chunks of "
                  f"1 MiB in {best:.2f} s (best of 3); the quota error {quota}",
                  target=f">= {SCAN_MB_S:g} MB/s", ok=rate >= SCAN_MB_S, ratio=rate / SCAN_MB_S)


def big_diagnosis(report, home):
    default = fo.QUOTA_LOADED_BATCHES
    fo.QUOTA_LOADED_BATCHES = quota_log(orchestra_mcp.SCAN_MAX_BYTES - MIB // 2)
    try:
        content = fo.LinesContent(lambda: fo.quota_log_parts(0))
        started = time.perf_counter()
        made = sum(len(chunk) for chunk in content.chunks(0, content.size))
        make_seconds = time.perf_counter() - started
        fake = start_fake()
        server = start_server(fake, home)
        try:
            diagnose(server, fo.FAILED_RUN_ID)   # warm-up, as above
            result, seconds = diagnose(server, fo.QUOTA_RUN_ID)
        finally:
            server.close()
            fake.stop()
    finally:
        fo.QUOTA_LOADED_BATCHES = default
    scan = next((c.get("logScan") for c in result.get("rootCauses", []) if c.get("logScan")), {})
    found = fo.QUOTA_ERROR[:40] in json.dumps(result)
    report.figure("triage.scan.64mb_diagnosis", f"{seconds:.2f} s for one diagnosis of a {made / MIB:.1f} MB log "
                  f"(the fake alone takes {make_seconds:.2f} s to make those bytes, in the benchmark's process); "
                  f"scan: {json.dumps(scan)[:200]}; quota error {'found' if found else 'NOT found'}")


def main():
    args = arguments(__doc__.splitlines()[0], scan_mb=(50, 50))
    report = Report("bench_triage", args)
    with tempfile.TemporaryDirectory() as home:
        cases(report, home)
        scan_speed(report, args.scan_mb)
        if not args.quick:
            big_diagnosis(report, home)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
