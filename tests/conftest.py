"""Shared pytest fixtures: the fake Orchestra API (see tests/fake_orchestra.py), and a second fake
playing "another host" that a redirect must never reach. The harness itself is tests/mcp_helpers.py."""

import sys
from pathlib import Path

import pytest

# Cache the test modules' compiled (assertion-rewritten) bytecode in their __pycache__, as Python
# does by default, even where the environment sets PYTHONDONTWRITEBYTECODE (this machine does):
# compiling every test module again costs each run seconds. The server processes get no such
# variable either (tests/mcp_helpers.server_env), so they import orchestra_mcp from its .pyc.
sys.dont_write_bytecode = False

TESTS_DIR = Path(__file__).resolve().parent
for folder in (TESTS_DIR, TESTS_DIR.parent):   # `import fake_orchestra`, and orchestra_mcp even when not installed
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from fake_orchestra import FakeOrchestra  # noqa: E402 - needs the path above

NON_ENTERPRISE_KEY = "starter-plan-key"


@pytest.fixture
def pinned(monkeypatch):
    """The module configured for unit_helpers.BASE (mocked with `responses`), the clock at NOW."""
    import orchestra_mcp as m
    from unit_helpers import BASE, NOW, configure
    configure(BASE, NOW, monkeypatch)
    yield
    m.configure(m.read_config({}))
    m.use_context(None)


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): two workers per CPU, at most 8. About half of a worker's
    time is spent waiting (server subprocesses, the fake's slow faults, deadlines), so one worker
    per CPU leaves the CPUs idle half the run: 67 s against 46 s on two CPUs."""
    import os
    return min(8, 2 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@pytest.fixture
def rsps():
    """`responses` mocking for unit tests (requests never leaves the process)."""
    import responses
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(scope="session")
def fake_orchestra():
    """One fake API for the whole session: key "test-key", NON_ENTERPRISE_KEY gets 403."""
    server = FakeOrchestra(non_enterprise_keys=(NON_ENTERPRISE_KEY,)).start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_orchestra):
    """The session's fake API with an empty journal and no faults, before and after the test."""
    fake_orchestra.clear_journal()
    fake_orchestra.clear_faults()
    yield fake_orchestra
    fake_orchestra.clear_journal()
    fake_orchestra.clear_faults()


@pytest.fixture
def fresh_fake():
    """A factory of fakes of this test's own (started runs, faults and journal not shared); stopped after it.
    Building one takes a few tens of milliseconds."""
    made = []

    def make(**options):
        made.append(FakeOrchestra(**options).start())
        return made[-1]
    yield make
    for server in made:
        server.stop()


@pytest.fixture(scope="session")
def other_host():
    """A second fake on another port, playing "another host": a redirect points there, and its journal
    shows whether anything (the key above all) ever arrived. Clear its journal before use."""
    server = FakeOrchestra().start()
    yield server
    server.stop()
