"""`--check`: a live, read-only probe of a key, exercised against the fake in each failure mode."""
import socket
import subprocess
import sys

from conftest import NON_ENTERPRISE_KEY
from mcp_helpers import REPO, SERVER, server_env


def run_check(env):
    done = subprocess.run([sys.executable, str(SERVER), "--check"], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_a_good_key_passes_every_step(fake, tmp_path):
    code, out, _ = run_check(server_env(fake.base_url, tmp_path))
    assert code == 0, out
    assert "ok   the key is accepted" in out.replace("connected (TLS, proxy) and ", "")
    assert "clock skew" in out and "runs in the last hour" in out
    assert not any(line.startswith("FAIL") for line in out.splitlines())
    assert [e["path"] for e in fake.journal] == ["/api/engine/public/pipeline_runs"]


def test_a_wrong_key_fails_with_a_fix_and_never_prints_the_key(fake, tmp_path):
    key = "orch_WRONG_KEY_0123456789"
    code, out, err = run_check(server_env(fake.base_url, tmp_path, key=key))
    assert code == 1 and "401" in out and "settings/workspace" in out
    assert key not in out + err


def test_a_workspace_without_api_access_is_told_apart(fake, tmp_path):
    code, out, _ = run_check(server_env(fake.base_url, tmp_path, key=NON_ENTERPRISE_KEY))
    assert code == 1 and "403" in out and "Enterprise" in out


def test_no_key_fails_first_with_how_to_set_it(fake, tmp_path):
    code, out, _ = run_check(server_env(fake.base_url, tmp_path, key=None))
    assert code == 1 and "ORCHESTRA_API_KEY" in out and "launch-orchestra-mcp.sh" in out
    assert fake.journal == []


def test_an_unreachable_base_url_fails_with_a_network_fix(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]   # closed again below: nothing listens there
    code, out, _ = run_check(server_env(f"http://127.0.0.1:{port}/api/engine/public", tmp_path))
    assert code == 1 and "could not" in out and "ORCHESTRA_API_BASE_URL" in out


def test_demo_mode_serves_sample_data_labelled_as_such(tmp_path):
    from mcp_helpers import RawServer
    env = {"PATH": server_env("https://unused.invalid", tmp_path)["PATH"], "HOME": str(tmp_path)}
    server = RawServer(env, args=["--demo"])
    try:
        assert server.initialize()["result"]["serverInfo"]["name"] == "orchestra-mcp"
        is_error, result = server.call("list_failures")
        assert not is_error and "SAMPLE DATA" in result["demo"]
        assert result["runs"][0]["rootCauses"][0]["taskId"] == "transform_core"
    finally:
        server.close()
