"""Triage: diagnose_pipeline_run on the fake's failed nightly run (FAILED_RUN_ID).

Reported: the HTTP requests one diagnosis makes (from the fake's journal, grouped by endpoint),
the wall time of the first call in a fresh server (it imports requests and opens connections) and
of the following ones, and the size of the result (characters of the tool's text, the JSON-RPC
line in bytes, tokens estimated as bytes / 4). No target in the issue; the server caps a result at
MAX_RESULT_CHARS = 40,000 characters, shown for reference.

    python bench/bench_triage.py [--quick] [--rounds 10]
"""

import json
import re
import sys
from collections import Counter

from common import FAILED_RUN_ID, Report, Workspace, arguments, call_message, ms, read_reply, stats

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def endpoint(entry):
    path = entry["path"].split("/api/engine/public", 1)[1]
    return entry["method"] + " " + re.sub(_UUID, "{id}", path)


def main():
    args = arguments(__doc__.splitlines()[0], rounds=(10, 2))
    report = Report("bench_triage", args)
    with Workspace(nodelay=not args.stock_fake) as ws:
        server = ws.server()
        cold = None
        warm, counts, kinds = [], [], None
        for round_index in range(args.rounds + 1):
            ws.fake.clear_journal()
            request_id, message = call_message(server, "diagnose_pipeline_run", pipeline_run_id=FAILED_RUN_ID)
            started = server.send(message)
            reply, arrived, line_bytes = read_reply(server, 120)
            if reply is None or reply.get("id") != request_id or reply["result"]["isError"]:
                raise RuntimeError(f"diagnose failed: {str(reply)[:500]}")
            journal = ws.fake.journal()
            text = reply["result"]["content"][0]["text"]
            if round_index == 0:
                cold, kinds, first_text = arrived - started, Counter(endpoint(e) for e in journal), text
                continue
            warm.append(arrived - started)
            counts.append(len(journal))
        result = json.loads(first_text)

    breakdown = ", ".join(f"{number} x {name}" for name, number in sorted(kinds.items(), key=lambda i: (-i[1], i[0])))
    report.figure("triage.requests", f"{sum(kinds.values())} HTTP requests on the first call, "
                  f"{min(counts)}-{max(counts)} on the next {len(counts)}: {breakdown}")
    report.figure("triage.time.first_call", f"{cold * 1000:.1f} ms (fresh server: imports requests, opens connections)")
    report.figure("triage.time.warm", ms(stats(warm)))
    report.figure("triage.result.size", f"{len(first_text):,} characters of result text; JSON-RPC line {line_bytes:,} "
                  f"bytes = ~{line_bytes / 4:,.0f} tokens (bytes/4); cap MAX_RESULT_CHARS = 40,000 characters")
    report.figure("triage.result.verdict", str(result.get("verdict"))[:160])
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
