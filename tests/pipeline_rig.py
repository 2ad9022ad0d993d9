"""The rig of the pipeline tests (test_get_pipeline.py, test_start_checks.py): the fake in each of
its modes, every answer checked against the spec's facts, and one server process against it.

The fixtures are named `rig`, `journal_since` and `api`; a test module imports their functions
(`rig_fixture`, ...), which registers them under those names (not in conftest.py: it is shared).
"""
import os

import api_contract
import pytest
import responses
from fake_orchestra import MODES, PIPELINE_SECRETS, FakeOrchestra

import orchestra_mcp as m
from orchestra_mcp import LineClient

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUR_CHECK = "by our own check"


def server_environment(base_url, home):
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ORCHESTRA_API_KEY": "test-key",
            "ORCHESTRA_API_BASE_URL": base_url, "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01",
            "ORCHESTRA_MCP_RETRY_AFTER_CAP_S": "3", "ORCHESTRA_MCP_DEADLINE_S": "30",
            "ORCHESTRA_TIMEOUT": "10", "ORCHESTRA_MCP_DOWNLOAD_DIR": str(home / "downloads")}


@pytest.fixture(scope="module", params=sorted(MODES), name="rig")
def rig_fixture(request, tmp_path_factory):
    """(mode, fake, server): one fake in this mode, its answers checked against the facts, and one
    server process against it. At the end: no contract violation, no secret in the server's log."""
    fake = FakeOrchestra(mode=request.param, runs=300, run_seconds=600,
                         response_check=api_contract.check_response).start()
    server = LineClient(env=server_environment(fake.base_url, tmp_path_factory.mktemp(request.param)),
                        cwd=REPO_DIR)
    server.initialize()
    yield request.param, fake, server
    stderr = server.close()
    report = api_contract.contract_report(fake)
    fake.stop()
    assert not report.violations, report.text()
    assert not [s for s in PIPELINE_SECRETS if s in stderr]


@pytest.fixture(name="journal_since")
def journal_since_fixture(rig):
    """A function: the fake's journal entries since this test began."""
    start = len(rig[1].journal)
    return lambda: rig[1].journal[start:]


def call(rig, tool, **arguments):
    return rig[2].call(tool, timeout=60, **arguments)


def ok(rig, tool, **arguments):
    is_error, payload = call(rig, tool, **arguments)
    assert not is_error, payload
    return payload


def refused(rig, **arguments):
    is_error, text = call(rig, "trigger_pipeline", **arguments)
    assert is_error, text
    return text


def paths(entries, method="GET"):
    return [e["path"].split("/public", 1)[1] for e in entries if e["method"] == method]


# ---- the module in-process, with `responses`

BASE = "https://orchestra.test/api/engine/public"
UUID = "0e4b7d2a-6c9f-4e31-8b5d-2a7f4c1e9b60"


@pytest.fixture(name="api")
def api_fixture(rsps):
    """The module configured for BASE, a call context, and no run of any pipeline going."""
    config = m.read_config({"ORCHESTRA_API_KEY": "k-test", "ORCHESTRA_API_BASE_URL": BASE,
                            "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01"})
    m.configure(config)
    m.use_context(m.new_call_context(deadline_s=20))
    rsps.add(responses.GET, f"{BASE}/pipeline_runs", json={"page": 1, "pageSize": 100, "total": 0, "results": []})
    yield rsps
    m.configure(m.read_config({}))
    m.use_context(None)
