"""The tools reference: what each tool returns and its limits, and the generated blocks of
README.md and docs/orchestra-mcp.md. Kept out of orchestra_mcp.py, which serves no client with it.

    python docs/tool_reference.py            print the full reference (what docs embed)

tests/test_docs.py checks that the generated blocks match and that every tool has an entry here.
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orchestra_mcp  # noqa: E402 - needs the path above

# tool -> (the result keys, "key[subkey, ...]" for lists of rows; the limits in one phrase)
REFERENCE = {
    "list_pipeline_runs": ([
        "window", "filters", "total", "countsByStatus", "returned",
        "runs[id, pipelineName, pipelineId, runStatus, message, createdAt, startedAt, "
        "completedAt, durationS, envName, trigger, branch]",
        "truncated", "countsExact", "hint", "note",
    ], "limit <= 100 rows (clamped); any window, read in 7-day chunks"),
    "get_pipeline_run_status": ([
        "id", "pipelineName", "pipelineId", "runStatus", "message", "createdAt", "startedAt",
        "completedAt", "durationS", "envName", "trigger", "branch", "commit", "gitLink",
        "anomalies", "elapsedS", "activeTasks[taskName, status]", "hint",
    ], "wait_seconds <= 50, within the call's deadline"),
    "get_pipeline_run_details": ([
        "run", "taskCount", "countsByStatus",
        "tasks[id, taskName, taskId, integration, integrationJob, status, message, "
        "externalStatus, externalMessage, createdAt, startedAt, completedAt, durationS, "
        "attemptNumber, numberOfAttempts, dependsOn, platformLink, superseded]",
        "truncated", "hint",
    ], "every task of the run; messages <= 500 chars"),
    "list_task_runs": ([
        "pipelineRunId", "window", "total", "countsByStatus", "returned",
        "taskRuns[...as in get_pipeline_run_details, plus pipelineRunId]", "truncated",
        "countsExact", "hint", "note",
    ], "limit <= 100 rows (clamped); default window 24 h"),
    "get_task_run_artifacts": ([
        "pipelineRunId", "taskRunId", "artifacts", "logs[filename, attemptNumber, displayName]",
        "unavailable", "truncated", "hint",
    ], "200 names of each; without pipeline_run_id, <= 25 requests find the task run"),
    "download_task_artifact": ([
        "filename", "offset", "bytes", "size", "encoding", "content", "nextOffset", "note",
        "hint", "savedTo", "sha256", "secrets",
    ], "<= ~28 KB a call (fits as base64); save=true <= 4 GiB; without pipeline_run_id, <= 25 "
       "requests find the task run"),
    "trigger_pipeline": ([
        "started", "outcome", "pipelineId", "pipelineAlias", "pipelineRunId", "message", "cause",
        "hint", "note",
    ], "never resent; refused while the same start or a CREATED/RUNNING run is under 10 min old, "
       "and (our check) for inputs or task ids the pipeline does not declare"),
    "cancel_pipeline_run": ([
        "cancelled", "outcome", "pipelineRunId", "pipelineId", "statusBefore", "statusNow",
        "force", "reason", "hint",
    ], "full UUID only; refused unsent when finished or already CANCELLING; never resent"),
    "diagnose_pipeline_run": ([
        "outcome", "verdict", "run", "taskCounts",
        "rootCauses[taskRunId, taskId, taskName, integration, status, kind, errorText{message, "
        "externalStatus, externalMessage}, evidence[line, text, role, repeat], logScan{filename, "
        "bytesScanned, linesScanned, complete, stoppedBy}, noLog, platformLink, connectionId, "
        "connection, failingNodes{count, named, groups[error, count, nodes], source}, codes, "
        "exception, attempts, matrix, timing, childRun, unavailable]",
        "impact[taskId, status, because]", "impactCount", "cancellation{message, tasksInFlight}",
        "retried", "history[window, windowNote, lastSuccess, commitChanged, lastSuccessCommit, "
        "pattern, patternNote, patternCounts]",
        "nextSteps", "notes", "moreRootCauses", "rootCauseCount", "trimmed",
    ], "3 root causes in detail; logs read whole up to 64 MB per diagnosis; evidence <= 12 lines "
       "a log; 25 nodes named; result <= 8,000 chars"),
    "list_failures": ([
        "window", "environment", "failingRunCount", "stillRunningWithFailures",
        "countsByPipeline",
        "runs[id, pipelineName, runStatus, createdAt, envName, branch, stillRunning, "
        "rootCauses[taskRunId, taskId, taskName, integration, status, errorText]]",
        "truncated", "hint",
    ], "hours <= 168; 20 runs, 5 root causes each"),
    "get_task_run_logs": ([
        "logs", "filename", "fileStatus", "size", "tailBytes", "logTail", "grep",
        "matches[line, text, before, after]", "matchCount", "linesScanned", "truncated",
        "stoppedBy", "note", "hint",
    ], "tail <= 30,000 bytes; grep: 50 matches, lines <= 4 KiB; without pipeline_run_id, <= 25 "
       "requests find the task run"),
    "list_pipelines": ([
        "total", "returned", "filter",
        "pipelines[id, alias, name, paused, schedule, requiredInputs, latestRunId, "
        "latestRunStatus, latestRunCreatedAt]",
        "truncated", "hint",
    ], "100 pipelines"),
    "get_pipeline": ([
        "id", "name", "alias", "yamlPath", "storageProvider", "repository", "defaultBranch",
        "paused", "latestVersionNumber", "publishedVersionNumber",
        "schedule[name, cron, timezone, exclude, nextRunAt, nextRunAtNote]",
        "inputs[name, type, default, optional, required]", "requiredInputs", "taskCount",
        "latestRun{id, runStatus, message, createdAt, completedAt}",
        "recentRuns{window, total, countsByStatus, countsExact, runs[id, runStatus, createdAt, "
        "durationS, branch]}",
        "notes", "groups[id, name, dependsOn, taskCount, matrix{inputs, maxParallel, sequential, "
        "continueOnError}]",
        "tasks[id, name, integration, integrationJob, dependsOn, group]",
        "truncated", "omittedForSize", "hint",
    ], "10 schedules, 40 inputs, 10 recent runs (last 7 days); never task parameters, alerts "
       "or webhook settings"),
    "list_operations": ([
        "window", "filters", "total", "countsByStatus", "countsExact",
        "summary{basedOn; with external_id or name: operations, failed, finished, failureRate, "
        "failureRateOf, firstFailure, lastFailure, durationS{median, p90, of, from}; otherwise: "
        "slowest[operationName, runs, medianS, maxS], mostFailing[operationName, failed, runs, "
        "lastFailedAt, message], durationFrom}",
        "returned",
        "operations[id, operationName, externalId, operationType, operationStatus, integration, "
        "insertedAt, startedAt, completedAt, durationS, operationDuration, rowsAffected, message, "
        "externalStatus, taskRunId, pipelineRunId]",
        "truncated", "readNote", "durationNote", "hint", "note",
    ], "limit <= 100 rows (clamped); default window 24 h, at most 35 days; reads <= 20 pages of "
       "100 (summaries say 'based on N of M rows'); 10 slowest and 10 most failing"),
    "get_task_run": ([
        "taskRun{...as a task of get_pipeline_run_details}",
        "run{id, pipelineName, pipelineId, runStatus, createdAt, envName, unavailable}", "hint",
    ], "found in <= 25 requests, back 90 days; messages <= 500 chars"),
}


_NESTED = r"[\[{]"   # where a result key's sub-keys start: rows[...] or object{...}


def tools_table():
    """The one-line-per-tool table (README)."""
    out = ["| Tool | Arguments | What it answers | Returns | Limits |", "|---|---|---|---|---|"]
    for name, spec in sorted(orchestra_mcp.TOOLS.items(), key=lambda item: item[1]["listed"]):
        returns, limits = REFERENCE[name]
        args = ", ".join(f"`{a}`{'' if a in spec['required'] else '?'}" for a in spec["schema"])
        first = spec["description"].split("\n\n")[0].replace("\n", " ")
        write = " (write; absent in read-only mode)" if not spec["read_only"] else ""
        keys = ", ".join(f"`{re.split(_NESTED, key)[0]}`" for key in returns)
        out.append(f"| `{name}`{write} | {args} | {first} | {keys} | {limits}; result <= 40,000 "
                   "chars |")
    return "\n".join(out) + "\n"


def tools_markdown():
    """The full tools reference (docs): the table, then each tool's description, arguments, keys."""
    out = [tools_table()]
    for name, spec in sorted(orchestra_mcp.TOOLS.items(), key=lambda item: item[1]["listed"]):
        returns, limits = REFERENCE[name]
        out += [f"### `{name}`", "", spec["description"], "", "| Argument | Type | Description |",
                "|---|---|---|"]
        for arg, rules in spec["schema"].items():
            kind = rules["type"] if isinstance(rules["type"], str) else " or ".join(rules["type"])
            required = " (required)" if arg in spec["required"] else ""
            out.append(f"| `{arg}`{required} | {kind} | {rules.get('description', '')} |")
        out += ["", "Result keys: " + ", ".join(f"`{k}`" for k in returns) + "."]
        out += ["", f"Limits: {limits}; every result stays under 40,000 characters and says what "
                "it left out.", ""]
    return "\n".join(out)


def env_markdown():
    """The configuration table rows (README)."""
    rows = orchestra_mcp.ENV_VARIABLES.items()
    return "\n".join(f"| `{name}` | {text} |" for name, text in rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(tools_markdown())
