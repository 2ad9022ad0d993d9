"""Large downloads: download_task_artifact(save=true) of a 200 MB artifact vs curl to the same URL.

The fake serves BIG_ARTIFACT (deterministic pseudo-random bytes, made 1 MiB at a time) on the
failed dbt task. Rounds alternate the server's save=true download and
`curl -sS --fail -o FILE -H @headers URL` (the Authorization header from a file, not argv), both
writing to the same temporary directory; each file is deleted after its round, outside the timing.
MCP time = tools/call written -> reply read (includes the server's sha256 of the stream); curl time =
spawn -> exit. Peak RSS: VmHWM of the server after initialize (cold idle), after one small call (warm
idle: requests imported) and after the downloads. The first round checks both files' sha256 match.

    python bench/bench_download.py [--quick] [--mb 200] [--rounds 5]
"""

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import (API_KEY, BIG_ARTIFACT, FAILED_DBT_TASK_RUN_ID, FAILED_RUN_ID, Report, Workspace, arguments,
                    proc_field, secs, stats, timed_call)

TARGET_RSS_MB = 20
TARGET_SHARE = 0.8


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main():
    args = arguments(__doc__.splitlines()[0], mb=(200, 20), rounds=(5, 1))
    report = Report("bench_download", args)
    if not shutil.which("curl"):
        raise SystemExit("curl is not on PATH")
    with Workspace(big_artifact_mb=args.mb, nodelay=not args.stock_fake) as ws:
        server = ws.server(ORCHESTRA_MCP_DEADLINE_S="300", ORCHESTRA_TIMEOUT="60")
        hwm_cold = proc_field(server.process.pid, "VmHWM")
        timed_call(server, "get_pipeline_run_status", pipeline_run_id=FAILED_RUN_ID)
        hwm_warm = proc_field(server.process.pid, "VmHWM")
        headers = ws.home / "curl-headers"
        headers.write_text(f"Authorization: Bearer {API_KEY}\n")
        os.chmod(headers, 0o600)
        url = (f"{ws.fake.base_url}/pipeline_runs/{FAILED_RUN_ID}/task_runs/{FAILED_DBT_TASK_RUN_ID}"
               f"/artifacts/download?filename={BIG_ARTIFACT}")
        curl_file = ws.home / "downloads" / "curl.bin"
        curl_file.parent.mkdir(parents=True, exist_ok=True)
        mcp_times, curl_times, size = [], [], args.mb * 1024 * 1024
        for round_index in range(args.rounds):
            for way in (("mcp", "curl") if round_index % 2 == 0 else ("curl", "mcp")):
                if way == "mcp":
                    is_error, result, _, elapsed = timed_call(server, "download_task_artifact", pipeline_run_id=FAILED_RUN_ID,
                                                               task_run_id=FAILED_DBT_TASK_RUN_ID, filename=BIG_ARTIFACT,
                                                               save=True)
                    if is_error or result["size"] != size:
                        raise RuntimeError(f"save failed: {str(result)[:300]}")
                    mcp_times.append(elapsed)
                    saved, server_sha = Path(result["savedTo"]), result["sha256"]
                else:
                    started = time.perf_counter()
                    subprocess.run(["curl", "-sS", "--fail", "-o", str(curl_file), "-H", f"@{headers}", url], check=True)
                    curl_times.append(time.perf_counter() - started)
                    if curl_file.stat().st_size != size:
                        raise RuntimeError(f"curl got {curl_file.stat().st_size} bytes")
            if round_index == 0:
                same = sha256_of(curl_file) == server_sha == sha256_of(saved)
                if not same:
                    raise RuntimeError("the saved file, the server's sha256 and curl's file disagree")
            saved.unlink()
            curl_file.unlink()
        hwm_end = proc_field(server.process.pid, "VmHWM")

    mcp, curl = stats(mcp_times), stats(curl_times)
    mb = size / 1e6
    report.figure("download.mcp", f"{secs(mcp)}; {mb / mcp['median']:.0f} MB/s ({args.mb} MiB, save=true, sha256 checked)")
    report.figure("download.curl", f"{secs(curl)}; {mb / curl['median']:.0f} MB/s (curl -o FILE)")
    share = curl["median"] / mcp["median"]
    report.figure("download.throughput_share", f"{share:.2f} of curl's throughput (medians)",
                  target=f">= {TARGET_SHARE}", ok=share >= TARGET_SHARE, ratio=share)
    growth = (hwm_end - hwm_warm) / 1024
    report.figure("download.rss.growth", f"VmHWM {hwm_end / 1024:.1f} MB after the downloads: +{growth:.1f} MB over warm "
                  f"idle ({hwm_warm / 1024:.1f} MB), +{(hwm_end - hwm_cold) / 1024:.1f} MB over cold idle "
                  f"({hwm_cold / 1024:.1f} MB)", target=f"< {TARGET_RSS_MB} MB over idle", ok=growth < TARGET_RSS_MB,
                  ratio=growth / TARGET_RSS_MB)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
