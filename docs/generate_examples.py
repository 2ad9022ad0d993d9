"""Regenerate the examples block of docs/orchestra-mcp.md from real calls against the fake.

    python docs/generate_examples.py

Each example is one tool call through the server (a subprocess driven by orchestra_mcp.LineClient)
against tests/fake_orchestra.py on loopback; long lists are shortened for reading, and marked.
"""
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from fake_orchestra import (  # noqa: E402 - needs the path above
    FAILED_DBT_TASK_RUN_ID,
    FAILED_RUN_ID,
    FakeOrchestra,
)
from mcp_helpers import server_env  # noqa: E402

from orchestra_mcp import LineClient  # noqa: E402

CALLS = [
    ("list_failures", {"hours": 24}),
    ("diagnose_pipeline_run", {"pipeline_run_id": FAILED_RUN_ID[:8]}),
    ("get_pipeline_run_status", {"pipeline_run_id": FAILED_RUN_ID[:8]}),
    ("get_pipeline_run_details", {"pipeline_run_id": FAILED_RUN_ID}),
    ("list_pipeline_runs", {"time_from": "24h", "status_filter": "failed", "limit": 3}),
    ("list_task_runs", {"pipeline_run_id": FAILED_RUN_ID, "status_filter": "FAILED"}),
    ("get_task_run_artifacts", {"pipeline_run_id": FAILED_RUN_ID,
                                "task_run_id": FAILED_DBT_TASK_RUN_ID}),
    ("download_task_artifact", {"pipeline_run_id": FAILED_RUN_ID,
                                "task_run_id": FAILED_DBT_TASK_RUN_ID,
                                "filename": "run_results.json", "max_bytes": 300}),
    ("get_task_run_logs", {"pipeline_run_id": FAILED_RUN_ID, "task_run_id": FAILED_DBT_TASK_RUN_ID,
                           "filename": "1/dbt build", "grep": "ORDER_TOTAL_USD"}),
    ("list_pipelines", {"name": "nightly"}),
    ("get_pipeline", {"pipeline_id": "nightly_elt"}),
    ("trigger_pipeline", {"pipeline_id": "nightly_elt", "cause": "docs example"}),
    ("get_task_run", {"task_run_id": FAILED_DBT_TASK_RUN_ID}),
    ("list_operations", {"external_id": "model.acme.fct_orders", "time_from": "7d", "limit": 3}),
]


def shorten(value, depth=0):
    """Lists beyond 3 items are cut for the docs, with a marker saying how many were left out."""
    if isinstance(value, dict):
        return {k: shorten(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        kept = [shorten(v, depth + 1) for v in value[:3]]
        return kept + ([f"... {len(value) - 3} more in the real result"] if len(value) > 3 else [])
    return value


def main():
    fake = FakeOrchestra().start()
    blocks = []
    with tempfile.TemporaryDirectory() as home:
        server = LineClient(env=server_env(fake.base_url, home), cwd=str(REPO))
        try:
            server.initialize()
            for name, arguments in CALLS:
                is_error, result = server.call(name, **arguments)
                text = result if is_error else json.dumps(shorten(result), indent=1)
                written = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
                blocks.append(f"### `{name}({written})`\n\n```json\n{text}\n```\n")
        finally:
            server.close()
            fake.stop()
    doc = REPO / "docs" / "orchestra-mcp.md"
    text = doc.read_text(encoding="utf-8")
    begin, end = "<!-- examples:begin -->\n", "<!-- examples:end -->"
    head, rest = text.split(begin, 1)
    doc.write_text(head + begin + "\n".join(blocks) + end + rest.split(end, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    main()
