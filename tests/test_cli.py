"""The command line (the module's Appendix): --check, --call, --demo, --selftest, --version, --help.

Each mode runs as a subprocess, the way the launcher (and the console script) runs it; the self-test
and the closed-pipe cases run `python orchestra_mcp.py`, the way a user runs it.
"""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys

import orchestra_mcp
import pytest
from conftest import NON_ENTERPRISE_KEY
from fake_orchestra import FAILED_RUN_ID
from mcp_helpers import REPO, SERVER, SERVER_COMMAND, finish, server_env, start

EXIT_GUARD_S = 30   # a failure guard for a process the design ends in about a second, never a timing claim


def run(args, env, timeout=60, **kwargs):
    done = subprocess.run([*SERVER_COMMAND, *args], env=env, cwd=str(REPO), capture_output=True,
                          text=True, timeout=timeout, **kwargs)
    return done.returncode, done.stdout, done.stderr


def offline_env(tmp_path, **extra):
    """No key, no base URL: the offline modes must need neither."""
    return server_env(None, tmp_path, key=None, **extra)


# ---- --check ---------------------------------------------------------------------------------------------

def test_a_good_key_passes_every_step_and_says_it_is_not_read_only(fake, tmp_path):
    code, out, _ = run(["--check"], server_env(fake.base_url, tmp_path))
    assert code == 0, out
    assert "connected over plain http (loopback); the key is accepted" in out and "TLS" not in out
    assert "clock skew" in out and "runs in the last hour" in out and "-0 s" not in out
    assert "read-only: no" in out
    assert not any(line.startswith("FAIL") for line in out.splitlines())
    assert [e["path"] for e in fake.journal] == ["/api/engine/public/pipeline_runs"]


def test_the_check_says_when_the_server_will_run_read_only(fake, tmp_path):
    code, out, _ = run(["--check"], server_env(fake.base_url, tmp_path, ORCHESTRA_READ_ONLY="1"))
    assert code == 0 and "read-only: writes are off" in out, out


def test_a_wrong_key_fails_with_one_fix_and_never_prints_the_key(fake, tmp_path):
    key = "orch_WRONG_KEY_0123456789"
    code, out, err = run(["--check"], server_env(fake.base_url, tmp_path, key=key))
    assert code == 1 and "401" in out
    assert out.count("settings/workspace") == 1, out   # the fix once, not twice
    assert key not in out + err


def test_a_workspace_without_api_access_is_told_apart(fake, tmp_path):
    code, out, _ = run(["--check"], server_env(fake.base_url, tmp_path, key=NON_ENTERPRISE_KEY))
    assert code == 1 and "403" in out and "Enterprise" in out


@pytest.mark.parametrize("key, expected", [
    (None, "ORCHESTRA_API_KEY is not set: export it, or start through launch-orchestra-mcp.sh"),
    ("", "ORCHESTRA_API_KEY is empty"),
    ("op://Private/Orchestra/credential", "unresolved 1Password reference"),
    ("${ORCHESTRA_API_KEY}", "unexpanded ${...} placeholder"),
    ("orch key with spaces", "contains spaces, line breaks or non-ASCII"),
])
def test_each_reason_for_a_missing_key_gets_its_own_sentence(fake, tmp_path, key, expected):
    env = server_env(fake.base_url, tmp_path, key=None)
    if key is not None:
        env["ORCHESTRA_API_KEY"] = key
    code, out, _ = run(["--check"], env)
    assert code == 1 and expected in out, out
    assert "is not set" not in out or key is None, out
    assert fake.journal == []


def test_a_closed_port_says_connection_refused_in_plain_words(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]   # closed again below: nothing listens there
    code, out, _ = run(["--check"], server_env(f"http://127.0.0.1:{port}/api/engine/public", tmp_path))
    assert code == 1 and f"connection refused by 127.0.0.1:{port}" in out and "(ConnectionError)" not in out, out


def test_a_404_on_the_api_prefix_says_the_base_url_looks_wrong(fake, tmp_path):
    wrong = fake.base_url.replace("/api/engine/public", "/api/engine")
    code, out, _ = run(["--check"], server_env(wrong, tmp_path))
    assert code == 1 and "base URL looks wrong" in out and "/api/engine/public" in out, out


def test_a_bad_base_url_exits_2(tmp_path):
    code, out, _ = run(["--check"], server_env("ftp://example.com/x", tmp_path))
    assert code == 2 and "ORCHESTRA_API_BASE_URL" in out


def test_a_host_that_does_not_answer_is_reported_within_the_short_connect_timeout(monkeypatch):
    # Unit level: a real unanswered SYN would need a blackhole route; the socket layer is stubbed instead.
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [])

    def silent(address, timeout):
        assert timeout == 5   # the short connect timeout --check promises
        raise TimeoutError()
    monkeypatch.setattr(socket, "create_connection", silent)
    lines = []
    assert not orchestra_mcp._check_reachable(lambda ok, text: lines.append((ok, text)) or ok, "10.1.2.3", 443, None)
    assert lines == [(False, "10.1.2.3:443 did not answer within 5 s: a firewall, VPN or a required proxy "
                             "(HTTPS_PROXY) may be in the way.")]


# ---- --call ------------------------------------------------------------------------------------------------

def test_call_runs_one_read_only_tool_and_prints_its_json(fake, tmp_path):
    code, out, err = run(["--call", "get_pipeline_run_status", json.dumps({"pipeline_run_id": FAILED_RUN_ID})],
                         server_env(fake.base_url, tmp_path))
    assert code == 0, err
    assert json.loads(out)["runStatus"] == "FAILED"


def test_call_goes_through_the_same_validation_and_says_errors_on_stderr(fake, tmp_path):
    code, out, err = run(["--call", "list_pipeline_runs", '{"limit": "ten"}'], server_env(fake.base_url, tmp_path))
    assert code == 1 and out == "" and "`limit` must be integer" in err
    assert fake.journal == []


@pytest.mark.parametrize("args", [["--call", "trigger_pipeline", '{"pipeline_id": "nightly_elt"}'],
                                  ["--demo", "--call", "trigger_pipeline", '{"pipeline_id": "nightly_elt"}']])
def test_call_refuses_a_write_tool_with_exit_2_and_sends_nothing(fake, tmp_path, args):
    code, out, err = run(args, server_env(fake.base_url, tmp_path))
    assert code == 2 and out == "" and "use the MCP tool" in err
    assert fake.journal == []


@pytest.mark.parametrize("args, expected", [
    (["--call"], "usage: --call TOOL"), (["--call", "no_such_tool"], "no tool 'no_such_tool'"),
    (["--call", "list_pipelines", "{not json"], "one JSON object"), (["--call", "list_pipelines", "[1]"], "one JSON object"),
])
def test_call_refuses_bad_input_with_exit_2(fake, tmp_path, args, expected):
    code, out, err = run(args, server_env(fake.base_url, tmp_path))
    assert code == 2 and out == "" and expected in err


def test_demo_call_diagnoses_the_sample_failure_offline(tmp_path):
    code, out, err = run(["--demo", "--call", "diagnose_pipeline_run", '{"pipeline_run_id": "8e808ad7"}'],
                         offline_env(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    assert "SAMPLE DATA" in result["demo"] and result["rootCauses"][0]["taskId"] == "transform_core"


# ---- --demo ------------------------------------------------------------------------------------------------

def demo_downloads(tmp):
    return {name for name in os.listdir(tmp) if name.startswith("orchestra-mcp-demo-")}


@pytest.mark.parametrize("how", ["eof", "sigint", "sigterm"])
def test_demo_save_writes_to_a_temporary_directory_removed_on_every_exit(tmp_path, how):
    """--demo serves the sample workspace, labelled as such, and a save lands in a temporary directory
    (never the configured download directory) that every way of ending the server removes."""
    tmp = tmp_path / "tmp"   # its own TMPDIR: other processes' demo directories never count
    tmp.mkdir()
    server = start(offline_env(tmp_path, TMPDIR=str(tmp)), args=["--demo"])
    try:
        assert server.initialize()["result"]["serverInfo"]["name"] == "orchestra-mcp"
        is_error, saved = server.call("download_task_artifact", pipeline_run_id="8e808ad7",
                                      task_run_id=orchestra_mcp.SAMPLE_DBT_TASK, filename="run_results.json", save=True)
        assert not is_error and os.path.isfile(saved["savedTo"]), saved
        assert "SAMPLE DATA" in saved["demo"]
        assert saved["savedTo"].startswith(str(tmp) + os.sep)   # never the configured download directory
        assert len(demo_downloads(tmp)) == 1
        if how == "eof":
            server.process.stdin.close()
        else:
            server.process.send_signal(signal.SIGINT if how == "sigint" else signal.SIGTERM)
        server.process.wait(timeout=EXIT_GUARD_S)
        assert not os.path.exists(saved["savedTo"])
        assert demo_downloads(tmp) == set()
    finally:
        finish(server)


# ---- --selftest, --version, --help -----------------------------------------------------------------------------

def test_selftest_passes_every_check_and_leaves_no_resource_warning(tmp_path):
    done = subprocess.run([sys.executable, "-X", "dev", str(SERVER), "--selftest"], capture_output=True, text=True,
                          timeout=120, cwd=str(REPO), env=offline_env(tmp_path))
    match = re.search(r"^selftest: (\d+)/(\d+) passed$", done.stdout, re.MULTILINE)
    assert match and match.group(1) == match.group(2) and int(match.group(2)) >= 10, done.stdout
    assert done.returncode == 0
    assert "ResourceWarning" not in done.stderr, done.stderr


def test_selftest_without_requests_says_what_to_install_in_one_line_and_exits_2(tmp_path):
    blocker = tmp_path / "sitecustomize.py"   # an interpreter on which requests cannot be imported
    blocker.write_text("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
                       "        if name.split('.')[0] in ('requests', 'urllib3'):\n"
                       "            raise ModuleNotFoundError(name)\nsys.meta_path.insert(0, Block())\n")
    code, out, err = run(["--selftest"], offline_env(tmp_path, PYTHONPATH=str(tmp_path)))
    assert code == 2 and out == "", out
    assert len(err.strip().splitlines()) == 1 and "requests and urllib3 are not installed" in err
    assert "-m pip install requests 'urllib3>=2,<3'" in err and "TypeError" not in err


def test_version_prints_the_version_and_the_files_sha256_prefix(tmp_path):
    code, out, _ = run(["--version"], offline_env(tmp_path))
    digest = hashlib.sha256(SERVER.read_bytes()).hexdigest()[:12]
    assert code == 0 and out.strip() == f"orchestra-mcp {orchestra_mcp.__version__} (sha256 {digest})"


def test_help_says_what_each_mode_does_in_one_line(tmp_path):
    code, out, _ = run(["--help"], offline_env(tmp_path))
    assert code == 0 and out.startswith("usage:")
    for mode in ("--demo", "--call TOOL", "--selftest", "--check", "--version", "--help"):
        assert sum(line.strip().startswith(mode) for line in out.splitlines()) == 1, mode
    for name in orchestra_mcp.ENV_VARIABLES:
        assert name in out


def test_an_unknown_option_exits_2(tmp_path):
    code, out, err = run(["--bogus"], offline_env(tmp_path))
    assert code == 2 and out == "" and "--bogus" in err


@pytest.mark.parametrize("args", [["--help"], ["--version"], pytest.param(["--selftest"], marks=pytest.mark.slow),
                                  ["--demo", "--call", "list_pipeline_runs", '{"time_from": "7d"}']])
def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(tmp_path, args):
    reader, writer = os.pipe()
    os.close(reader)   # the reader is gone before the first byte, as `| head -1` can be by the second
    process = subprocess.Popen([sys.executable, str(SERVER), *args], stdout=writer, stderr=subprocess.PIPE,
                               env=offline_env(tmp_path), cwd=str(REPO))
    os.close(writer)
    stderr = process.stderr.read().decode()
    process.wait(timeout=EXIT_GUARD_S)
    process.stderr.close()
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
