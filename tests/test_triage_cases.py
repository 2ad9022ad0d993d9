"""Each triage case of tests/triage_cases.py (issue #15), diagnosed once by a real server against
its own fake: the outcome, the root causes (or none), the decisive evidence, what must not be
blamed, the size of the answer and the requests it took; then the figures over all cases."""
import json
import statistics

import fake_orchestra as fo
import pytest
from mcp_helpers import REPO, server_env
from triage_cases import CASES, shown_line_labels

from orchestra_mcp import DIAGNOSIS_MAX_CHARS, LineClient

MEDIAN_CHARS = 3_000


@pytest.fixture(scope="module")
def diagnoses(tmp_path_factory):
    """{case name: (result, size in chars, requests, labels of shown lines)} for every case."""
    fake = fo.FakeOrchestra().start()
    server = LineClient(env=server_env(fake.base_url, tmp_path_factory.mktemp("triage"),
                                       ORCHESTRA_MCP_DEADLINE_S="60"), cwd=str(REPO))
    out = {}
    try:
        server.initialize()
        for case in CASES:
            mark = len(fake.journal)
            is_error, result = server.call("diagnose_pipeline_run", timeout=90,
                                           pipeline_run_id=case["run_id"])
            assert not is_error, (case["name"], result)
            journal = fake.journal[mark:]
            requests = [e for e in journal if not e["path"].endswith("/logs/download")]
            out[case["name"]] = (result, len(json.dumps(result, separators=(",", ":"))),
                                 requests, shown_line_labels(fake, result))
        out["_stderr"] = server.stderr_text()
        out["_journal"] = fake.journal
    finally:
        server.close()
        fake.stop()
    return out


def causes_of(result):
    """Root-cause task run ids, a child run's own root cause in place of the task that ran it."""
    ids = []
    for cause in result.get("rootCauses", []):
        child = cause.get("childRun", {}).get("rootCause")
        ids.append(child["taskRunId"] if child else cause["taskRunId"])
    return ids


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_case_gets_its_outcome_root_causes_and_evidence(diagnoses, case):
    result, size, requests, labels = diagnoses[case["name"]]
    assert result["outcome"] == case["outcome"], result["verdict"]
    assert sorted(causes_of(result)) == sorted(case["root_cause_task_run_ids"]), result["verdict"]
    shown = json.dumps(result)
    for needle in case["evidence"]:
        assert json.dumps(needle)[1:-1] in shown, needle
    said = " ".join([result["verdict"], *result.get("nextSteps", [])])
    for blamed in case["must_not_blame"]:
        if len(blamed) == 36 and blamed.count("-") == 4:   # a task run id
            assert blamed not in causes_of(result)
        else:   # a word that must not be given as the cause
            assert blamed not in said.lower() and all(
                c.get("kind") != "auth" for c in result.get("rootCauses", []))
    assert size <= DIAGNOSIS_MAX_CHARS, size


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_case_stays_within_its_request_budget(diagnoses, case):
    """At most 10 API requests for one root cause, 4 more for each further one in detail, 5 more
    for a child run (log downloads not counted); only GETs."""
    result, _, requests, _ = diagnoses[case["name"]]
    causes = result.get("rootCauses", [])
    budget = 10 + 4 * max(0, len(causes) - 1) + 5 * sum(bool(c.get("childRun")) for c in causes)
    assert len(requests) <= budget, [e["path"] for e in requests]
    assert all(e["method"] == "GET" for e in requests)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_verdict_and_next_steps_never_carry_log_text(diagnoses, case):
    result = diagnoses[case["name"]][0]
    said = " ".join([result["verdict"], *result.get("nextSteps", [])])
    for cause in result.get("rootCauses", []):
        for entry in cause.get("evidence", []):
            text = entry["text"].strip()
            assert len(text) < 12 or text not in said, text
        for field in ("message", "externalMessage"):
            text = (cause.get("errorText", {}).get(field) or "").strip()
            assert len(text) < 12 or text not in said, text


def test_a_line_that_addresses_the_agent_stays_in_the_evidence_as_data(diagnoses):
    result = diagnoses["prompt_injection_in_an_error"][0]
    said = " ".join([result["verdict"], *result["nextSteps"]])
    assert fo.INJECTION_LINE[:40] in json.dumps(result["rootCauses"])   # kept, as data
    assert "finance_close" not in said and "ignore" not in said.lower()
    assert not any(e["method"] == "POST" for e in diagnoses["_journal"])


def test_success_and_progress_lines_are_not_shown_but_the_last_progress_before_a_stop(diagnoses):
    for name in (case["name"] for case in CASES):
        result, _, _, labels = diagnoses[name]
        assert not [label for label, _, role in labels if label == "success"], name
        assert sum(label == "progress" for label, _, _ in labels) <= 1 + len(
            result.get("rootCauses", [])), name


def test_the_answers_are_small_median_3000_chars_none_above_8000(diagnoses):
    sizes = {case["name"]: diagnoses[case["name"]][1] for case in CASES}
    assert statistics.median(sizes.values()) <= MEDIAN_CHARS, sizes
    assert max(sizes.values()) <= DIAGNOSIS_MAX_CHARS, sizes


def test_no_secret_of_the_corpus_reaches_a_diagnosis_or_stderr(diagnoses):
    from secret_corpus import SECRETS
    text = json.dumps({case["name"]: diagnoses[case["name"]][0] for case in CASES})
    text += diagnoses["_stderr"]
    escaped = [json.dumps(s)[1:-1] for s in SECRETS]
    assert [s for s, e in zip(SECRETS, escaped, strict=True) if s[:8] in text or e[:8] in text] == []


@pytest.mark.parametrize("name", ["snowflake_wrong_password", "expired_oauth_in_a_task_group"])
def test_an_auth_failure_reports_its_connection_from_one_unfiltered_read(diagnoses, name):
    result, _, requests, _ = diagnoses[name]
    cause, = result["rootCauses"]
    assert cause["kind"] == "auth"
    reads = [e for e in requests if e["path"].endswith("/integrations/connections")]
    assert len(reads) == 1 and reads[0]["query"] == {}   # no integration filter: it would miss
    connection = cause["connection"]
    assert connection.get("authStatus") or "could not be identified" in connection["note"]
    if connection.get("authStatus") == "FAILED":
        assert connection["meaning"] == "broken" and "broken" in result["verdict"]


def test_only_auth_failures_read_the_connections(diagnoses):
    for case in CASES:
        result, _, requests, _ = diagnoses[case["name"]]
        if not any(c.get("kind") == "auth" for c in result.get("rootCauses", [])):
            assert not [e for e in requests if e["path"].endswith("/integrations/connections")]
