"""trigger_pipeline checks a start against what the pipeline declares (issue #16, section 2).

The published spec is silent on how Orchestra treats a missing, mistyped or undeclared input or an
unknown task id, so a start reads the pipeline (the one GET /pipeline that also resolves an
alias) and refuses those with nothing sent, saying the check is ours. Against the fake in each
of its modes (tests/pipeline_rig.py), then the edges with `responses`. list_pipelines names the
inputs a start must pass.
"""
import json

import pytest
import responses
from fake_orchestra import (
    FAILED_RUN_ID,
    INPUT_PIPELINE_ALIAS,
    PIPELINE_ALIAS,
    REQUIRED_INPUT,
    TYPED_PIPELINE_ALIAS,
    TYPED_PIPELINE_ID,
)
from pipeline_rig import BASE, OUR_CHECK, UUID, ok, paths, refused
from pipeline_rig import api_fixture, journal_since_fixture, rig_fixture  # noqa: F401 - fixtures

import orchestra_mcp as m

# ---- trigger_pipeline: what the pipeline declares, checked before a start -------------------------

BAD_STARTS = {
    "a required input is missing": ({}, "required input `target_date`"),
    "a number given as a string": ({"run_inputs": {"target_date": "2026-12-01", "batch_size": "500"}},
                                   "`batch_size` must be a number"),
    "a boolean given as a string": ({"run_inputs": {"target_date": "2026-12-01", "full_refresh": "true"}},
                                    "`full_refresh` must be a boolean"),
    "a boolean for a number": ({"run_inputs": {"target_date": "2026-12-01", "batch_size": True}},
                               "`batch_size` must be a number"),
    "a string for a list": ({"run_inputs": {"target_date": "2026-12-01", "regions": "eu"}},
                            "`regions` must be a list"),
    "null for an optional input": ({"run_inputs": {"target_date": "2026-12-01", "options": None}},
                                   "`options` must be a dict, not null"),
    "an undeclared input": ({"run_inputs": {"target_date": "2026-12-01", "targetDate": "x"}},
                            "`targetDate` is not an input of this pipeline"),
    "an unknown task id": ({"run_inputs": {"target_date": "2026-12-01"}, "task_ids": ["export_regions"]},
                           "task_ids export_regions are not tasks of this pipeline"),
    "a group id for a task id": ({"run_inputs": {"target_date": "2026-12-01"}, "task_ids": ["exports"]},
                                 "`exports` is a task group"),
}


@pytest.mark.parametrize("case", list(BAD_STARTS))
def test_a_start_the_pipeline_does_not_declare_is_refused_with_nothing_sent(rig, journal_since, case):
    arguments, expected = BAD_STARTS[case]
    text = refused(rig, pipeline_id=TYPED_PIPELINE_ALIAS, **arguments)
    assert expected in text and OUR_CHECK in text and "published API is silent" in text, text
    sent = journal_since()
    assert paths(sent, "POST") == []
    assert paths(sent).count("/pipeline") == 1   # one read of the pipeline per start
    assert paths(sent).count("/pipelines/data") == (1 if "task_ids" in arguments else 0)
    assert "/pipeline_runs" not in paths(sent)   # refused before the duplicate guard's read


def test_a_valid_start_reads_the_pipeline_once_at_its_revision_and_sends_the_inputs_as_given(rig, journal_since):
    inputs = {"target_date": "2026-12-01", "batch_size": 2.5, "full_refresh": False, "regions": ["eu"],
              "options": {"mode": "replace", "depth": [1, {"x": None}]}}
    started = ok(rig, "trigger_pipeline", pipeline_id=TYPED_PIPELINE_ALIAS, branch="main",
                 task_ids=["export_region", "prepare_export"], run_inputs=inputs, cause="get_pipeline test")
    assert started["pipelineId"] == TYPED_PIPELINE_ID and "note" not in started
    sent = journal_since()
    reads = [e for e in sent if e["method"] == "GET" and e["path"].endswith(("/pipeline", "/pipelines/data"))]
    assert [(paths([e])[0], e["query"]) for e in reads] == [
        ("/pipeline", {"alias": [TYPED_PIPELINE_ALIAS], "branch": ["main"]}),
        ("/pipelines/data", {"pipeline_id": [TYPED_PIPELINE_ID], "branch": ["main"]})]
    (post,) = [e for e in sent if e["method"] == "POST"]
    assert post["body"]["runInputs"] == inputs   # never converted


def test_a_start_whose_pipeline_or_definition_cannot_be_read_starts_nothing(rig, journal_since):
    fake = rig[1]
    fake.add_fault(match={"method": "GET", "path": "/pipeline"}, count=1, action="status", status=403)
    try:
        text = refused(rig, pipeline_id=INPUT_PIPELINE_ALIAS, run_inputs={REQUIRED_INPUT: "ls"})
    finally:
        fake.clear_faults()
    assert "nothing was started" in text
    fake.add_fault(match={"method": "GET", "path": "/pipelines/data"}, count=1, action="status", status=403)
    try:
        text = refused(rig, pipeline_id=INPUT_PIPELINE_ALIAS, run_inputs={REQUIRED_INPUT: "ls"},
                       task_ids=["run_command"])
    finally:
        fake.clear_faults()
    assert "task_ids could not be checked" in text and "nothing was started" in text
    assert paths(journal_since(), "POST") == []


def test_list_pipelines_says_which_inputs_a_start_must_pass(rig):
    rows = {row["alias"]: row for row in ok(rig, "list_pipelines")["pipelines"]}
    assert rows[TYPED_PIPELINE_ALIAS]["requiredInputs"] == ["target_date"]
    assert rows[INPUT_PIPELINE_ALIAS]["requiredInputs"] == [REQUIRED_INPUT]
    assert "requiredInputs" not in rows[PIPELINE_ALIAS]


# ---- with responses: the edges of the check

def test_an_answer_without_inputs_is_not_checked_and_says_so(api):
    api.add(responses.GET, f"{BASE}/pipeline", json={"id": UUID, "alias": "old"})
    api.add(responses.POST, f"{BASE}/pipelines/{UUID}/start", json={"pipelineRunId": FAILED_RUN_ID})
    result = json.loads(m.call_tool("trigger_pipeline", {"pipeline_id": "old", "run_inputs": {"anything": 1}})
                        ["content"][0]["text"])
    assert result["started"] is True and "not checked" in result["note"]


def test_inputs_declared_null_mean_none_and_a_string_number_is_never_converted(api):
    api.add(responses.GET, f"{BASE}/pipeline", json={"id": UUID, "alias": "none", "inputs": None})
    text = m.call_tool("trigger_pipeline", {"pipeline_id": "none", "run_inputs": {"n": 1}})["content"][0]["text"]
    assert "`n` is not an input of this pipeline (it declares: none)" in text
    api.replace(responses.GET, f"{BASE}/pipeline", json={"id": UUID, "alias": "none", "inputs": {
        "n": {"type": "number"}, "later": {"type": "timestamp"}}})
    text = m.call_tool("trigger_pipeline", {"pipeline_id": "none", "run_inputs": {"n": "10", "later": 5}})[
        "content"][0]["text"]
    assert "`n` must be a number, not the string \"10\"" in text and OUR_CHECK in text
    assert "later" not in text   # a type we do not know is not checked
    assert not [c for c in api.calls if c.request.method == "POST"]
