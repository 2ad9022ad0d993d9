"""cancel_pipeline_run, the second write (issue #16, section 1): read first, refuse what cannot
apply with nothing sent, never sent twice, audited at WARNING, absent in read-only mode."""
import pytest
from fake_orchestra import FAILED_RUN_ID, PIPELINE_ID
from mcp_helpers import REPO, server_env

from orchestra_mcp import LineClient


@pytest.fixture
def rig(fresh_fake, tmp_path):
    """A fake of this test's own, a run started on it (RUNNING for 10 minutes), and a server."""
    fake = fresh_fake(run_seconds=600, cancel_seconds=600)
    server = LineClient(env=server_env(fake.base_url, tmp_path), cwd=str(REPO))
    server.initialize()
    is_error, started = server.call("trigger_pipeline", pipeline_id=PIPELINE_ID)
    assert not is_error, started
    fake.clear_journal()
    yield fake, server, started["pipelineRunId"]
    server.close()


def cancels(fake):
    return [e for e in fake.journal if e["path"].endswith("/cancel")]


def test_a_cancel_is_sent_once_without_a_body_and_audited(rig):
    fake, server, run_id = rig
    is_error, result = server.call("cancel_pipeline_run", pipeline_run_id=run_id,
                                   reason="user asked: wrong branch; password=hunter2")
    assert not is_error, result
    assert result["outcome"] == "accepted" and result["statusNow"] == "CANCELLING"
    assert result["statusBefore"] in ("CREATED", "RUNNING")
    post, = cancels(fake)
    assert post["method"] == "POST" and post["body"] is None   # no force: no body
    assert "hunter2" not in repr(fake.journal)   # the reason never goes to Orchestra
    again, text = server.call("cancel_pipeline_run", pipeline_run_id=run_id.upper())
    assert again and "already CANCELLING" in text and len(cancels(fake)) == 1
    audit = [ln for ln in server.stderr_text().splitlines() if "audit: cancel_pipeline_run" in ln]
    assert len(audit) == 1 and " WARNING " in audit[0] and run_id in audit[0]
    assert "outcome=accepted" in audit[0] and "password=***" in audit[0]
    assert "hunter2" not in server.stderr_text()


def test_force_only_ends_a_run_already_cancelling(rig):
    fake, server, run_id = rig
    early, text = server.call("cancel_pipeline_run", pipeline_run_id=run_id, force=True)
    assert early and "not CANCELLING" in text and cancels(fake) == []
    assert not server.call("cancel_pipeline_run", pipeline_run_id=run_id)[0]
    is_error, forced = server.call("cancel_pipeline_run", pipeline_run_id=run_id, force=True)
    assert not is_error, forced
    assert [e["body"] for e in cancels(fake)] == [None, {"force": True}]
    assert forced["statusNow"] == "CANCELLED"


@pytest.mark.parametrize("bad", [FAILED_RUN_ID, FAILED_RUN_ID[:8], "../../pipelines/x", ""])
def test_a_finished_run_or_a_prefix_is_refused_with_no_cancel_sent(rig, bad):
    fake, server, _ = rig
    is_error, text = server.call("cancel_pipeline_run", pipeline_run_id=bad)
    assert is_error
    assert ("is FAILED: there is nothing to cancel" in text) if bad == FAILED_RUN_ID else \
        ("pipeline_run_id" in text)
    assert cancels(fake) == []
    assert all(e["method"] == "GET" for e in fake.journal)


def test_a_cancel_that_may_have_arrived_is_never_resent(rig):
    fake, server, run_id = rig
    fake.add_fault(match={"method": "POST", "path": f"/pipeline_runs/{run_id}/cancel"}, count=5,
                   action="status", status=503)
    is_error, text = server.call("cancel_pipeline_run", pipeline_run_id=run_id)
    assert is_error and "may or may not have happened" in text, text
    assert len(cancels(fake)) == 1   # a 503 after sending: never retried
    again, text = server.call("cancel_pipeline_run", pipeline_run_id=run_id)
    assert again and "already sent" in text and len(cancels(fake)) == 1
    assert "outcome=uncertain" in server.stderr_text()


def test_read_only_mode_has_no_cancel_at_all(fresh_fake, tmp_path):
    fake = fresh_fake()
    server = LineClient(env=server_env(fake.base_url, tmp_path, ORCHESTRA_READ_ONLY="1"),
                        cwd=str(REPO))
    try:
        server.initialize()
        names = [t["name"] for t in server.request("tools/list")["result"]["tools"]]
        assert "cancel_pipeline_run" not in names and "trigger_pipeline" not in names
        is_error, text = server.call("cancel_pipeline_run", pipeline_run_id=FAILED_RUN_ID)
        assert is_error and "read-only" in text
    finally:
        server.close()
    assert fake.journal == []


def test_the_annotations_say_which_tools_write_and_destroy(fresh_fake, tmp_path):
    fake = fresh_fake()
    server = LineClient(env=server_env(fake.base_url, tmp_path), cwd=str(REPO))
    try:
        server.initialize()
        tools = {t["name"]: t["annotations"] for t in server.request("tools/list")["result"]["tools"]}
    finally:
        server.close()
    assert tools["cancel_pipeline_run"] == {
        "title": "Cancel a pipeline run", "readOnlyHint": False, "destructiveHint": True,
        "idempotentHint": True, "openWorldHint": True}
    assert tools["trigger_pipeline"]["destructiveHint"] is False
    assert tools["trigger_pipeline"]["idempotentHint"] is False
    assert [n for n, a in tools.items() if not a["readOnlyHint"]] == ["trigger_pipeline",
                                                                     "cancel_pipeline_run"]
    assert all(a["idempotentHint"] for n, a in tools.items() if a["readOnlyHint"])
