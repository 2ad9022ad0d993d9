"""launch-orchestra-mcp.sh: key sources, stdout hygiene, op failures, interpreter choice.

Each test copies the script into a temporary project next to a dummy orchestra_mcp.py and runs it with:
  * a stub `op` on PATH (STUB_OP_MODE picks its behaviour; it logs its argv to STUB_OP_LOG),
  * a temporary HOME, where a test may put $HOME/dotfiles/load-secrets-from-1password.sh,
  * ORCHESTRA_MCP_PYTHON pointing at a stub "python" that answers the launcher's version probe and,
    instead of serving, records its argv, its cwd, whether fd 3 is still open, its stdin and the SHA-256
    of ORCHESTRA_API_KEY (never the value) to STUB_RECORD, then writes one marker line to fd 1 and one to fd 2.
Every run also checks that no key value appears in the launcher's stdout or stderr, in op's argv or in the
server's argv. No network is used.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "launch-orchestra-mcp.sh"
SERVER_MARKER = "STUB-SERVER-ON-FD1"
DEFAULT_REF = "op://GRC/DA Agent Hub - Orchestra/credential"

ENV_KEY = "orch_env_5a1f0c77d2b84e0f9c3b1e6a"
LOADER_KEY = "orch_loader_9b2e7d41c0a64f3e8d5c2a1b"
OP_KEY = "orch_op_3c8d1e52f7a94b6c0e2d4f8a"
ALL_KEYS = (ENV_KEY, LOADER_KEY, OP_KEY)

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the launcher is a bash script")

STUB_SERVER = """\
import hashlib, json, os, sys
if len(sys.argv) > 2 and sys.argv[1] == "-c" and "import orchestra_mcp" in sys.argv[2]:
    # the launcher's start form: -c CODE DIR ARGS... -> record it as DIR/orchestra_mcp.py ARGS...
    assert sys.argv[2].startswith("import sys; sys.path[0] = sys.argv.pop(1);"), sys.argv[2]
    sys.argv = [sys.argv[0], os.path.join(sys.argv[3], "orchestra_mcp.py")] + sys.argv[4:]
elif len(sys.argv) > 2 and sys.argv[1] == "-c":
    exec(sys.argv[2])  # the launcher's version probe
    sys.exit(0)
key = os.environ.get("ORCHESTRA_API_KEY")
try:
    os.fstat(3)
    fd3_open = True
except OSError:
    fd3_open = False
record = {
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "key_set": key is not None,
    "key_sha256": hashlib.sha256(key.encode()).hexdigest() if key is not None else None,
    "fd3_open": fd3_open,
    "stdin": sys.stdin.read(),
}
with open(os.environ["STUB_RECORD"], "w") as f:
    json.dump(record, f)
sys.stdout.write("%s\\n" % os.environ.get("STUB_MARKER", "STUB-SERVER-ON-FD1"))
sys.stderr.write("STUB-SERVER-ON-FD2\\n")
"""

STUB_OP = r"""#!/bin/bash
printf '%s\037' "$@" >>"$STUB_OP_LOG"
printf '\n' >>"$STUB_OP_LOG"
case "${STUB_OP_MODE:-ok}" in
ok) printf '%s\n' "$STUB_OP_SECRET" ;;
not_signed_in)
    echo '[ERROR] 2026/11/24 09:00:00 You are not currently signed in. Please run `op signin --help` for instructions' >&2
    exit 1 ;;
no_accounts)
    echo '[ERROR] 2026/11/24 09:00:00 No accounts configured for use with 1Password CLI.' >&2
    exit 1 ;;
no_item)
    echo "[ERROR] 2026/11/24 09:00:00 could not read secret '$2': error finding item: \"DA Agent Hub - Orchestra\" isn't an item in the \"GRC\" vault." >&2
    exit 1 ;;
odd)
    echo 'partial-output-that-must-not-be-shown'
    echo '[ERROR] 2026/11/24 09:00:00 the flux capacitor is offline' >&2
    exit 6 ;;
hang) sleep 30 ;;
esac
"""


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Run:
    def __init__(self, proc, record_path, op_log):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.server = json.loads(record_path.read_text()) if record_path.exists() else None
        self.op_calls = []
        if op_log.exists():
            self.op_calls = [line.rstrip("\x1f").split("\x1f") for line in op_log.read_text().splitlines()]

    @property
    def key_sha(self):
        return self.server["key_sha256"] if self.server else None


class Rig:
    """A temporary project, HOME, stub op and stub python around a copy of the launcher."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.proj = tmp_path / "proj"
        self.proj.mkdir()
        self.script = self.proj / SCRIPT.name
        shutil.copy2(SCRIPT, self.script)
        (self.proj / "orchestra_mcp.py").write_text("raise SystemExit('the stub python runs instead')\n")
        self.home = tmp_path / "home"
        (self.home / "dotfiles").mkdir(parents=True)
        self.loader = self.home / "dotfiles" / "load-secrets-from-1password.sh"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.op = self.bin / "op"
        self.op.write_text(STUB_OP)
        self.op.chmod(0o755)
        self.python = tmp_path / "stub-python"
        # -IS: no site packages and no environment (the stub needs neither): a third of a start saved, twice a run
        self.python.write_text("#!%s -IS\n%s" % (sys.executable, STUB_SERVER))
        self.python.chmod(0o755)
        self.record = tmp_path / "server.json"
        self.op_log = tmp_path / "op.log"
        self.env = {
            "PATH": "%s:%s" % (self.bin, os.environ.get("PATH", "/usr/bin:/bin")),
            "HOME": str(self.home),
            "ORCHESTRA_MCP_PYTHON": str(self.python),
            "STUB_RECORD": str(self.record),
            "STUB_OP_LOG": str(self.op_log),
            "STUB_OP_SECRET": OP_KEY,
            "STUB_OP_MODE": "ok",
        }

    def write_loader(self, body):
        self.loader.write_text(body)

    def run(self, *args, env=None, cwd=None, command=None, stdin="", timeout=20):
        full_env = dict(self.env)
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        proc = subprocess.run(
            command or [str(self.script), *args],
            input=stdin, capture_output=True, text=True, env=full_env,
            cwd=str(cwd or self.tmp), timeout=timeout,
        )
        run = Run(proc, self.record, self.op_log)
        for key in ALL_KEYS:
            assert key not in run.stdout, "a key reached the launcher's stdout"
            assert key not in run.stderr, "a key reached the launcher's stderr"
            assert all(key not in arg for call in run.op_calls for arg in call), "a key is in op's argv"
            if run.server:
                assert all(key not in arg for arg in run.server["argv"]), "a key is in the server's argv"
        return run


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


def assert_server_started_cleanly(run):
    assert run.rc == 0, run.stderr
    assert run.server is not None, "the server was not started:\n" + run.stderr
    assert run.stdout == SERVER_MARKER + "\n", "something besides the server wrote to stdout"
    assert "STUB-SERVER-ON-FD2" in run.stderr
    assert run.server["fd3_open"] is False, "the saved stdout descriptor leaked into the server"


# ---------------------------------------------------------------------------------------------------
# The key and the MCP channel


def test_the_key_from_the_environment_reaches_the_server_and_nowhere_else(rig):
    run = rig.run(env={"ORCHESTRA_API_KEY": ENV_KEY}, stdin='{"jsonrpc":"2.0","id":0,"method":"initialize"}\n')
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(ENV_KEY)
    assert run.op_calls == []
    assert run.server["stdin"] == '{"jsonrpc":"2.0","id":0,"method":"initialize"}\n'
    assert run.stderr.strip() == "STUB-SERVER-ON-FD2", "a key from the environment needs no chatter"


def test_a_noisy_loader_neither_writes_to_stdout_nor_eats_the_servers_stdin(rig):
    rig.write_loader(
        'echo "Loaded 12 secrets from 1Password"\n'
        'printf "export ORCHESTRA_API_KEY=%s\\n" "' + LOADER_KEY + '"\n'
        'read -r first_line || true\n'
        "export ORCHESTRA_API_KEY=" + LOADER_KEY + "\n"
        'echo "debug: key is $ORCHESTRA_API_KEY" >&2\n'
    )
    run = rig.run(stdin="first protocol line\nsecond\n")
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(LOADER_KEY)
    assert run.server["stdin"] == "first protocol line\nsecond\n"
    assert "Loaded 12 secrets" not in run.stdout
    assert "debug: key is [redacted]" in run.stderr


def test_running_under_bash_x_or_an_inherited_xtrace_does_not_print_the_key(rig):
    rig.write_loader("export ORCHESTRA_API_KEY=" + LOADER_KEY + "\n")
    run = rig.run(command=["bash", "-x", str(rig.script)], env={"SHELLOPTS": "xtrace"})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(LOADER_KEY)
    run = rig.run(env={"SHELLOPTS": "xtrace", "ORCHESTRA_API_KEY": "op://Private/Orchestra/key"})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)


def test_the_script_never_enables_xtrace_and_ends_by_exec_ing_the_server():
    text = SCRIPT.read_text()
    code = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in code if "set -x" in line or "xtrace" in line.split("#")[0]]
    assert code[-2].startswith('exec "$py" -c \'import sys; sys.path[0] = sys.argv.pop(1); import orchestra_mcp;')
    assert code[-1] == '"$here" "$@" 1>&3 3>&-'
    assert os.access(SCRIPT, os.X_OK), "launch-orchestra-mcp.sh must be executable"


# ---------------------------------------------------------------------------------------------------
# Order of sources


def test_the_environment_wins_over_the_loader_and_op(rig):
    rig.write_loader("touch %s/loader-ran\nexport ORCHESTRA_API_KEY=%s\n" % (rig.tmp, LOADER_KEY))
    run = rig.run(env={"ORCHESTRA_API_KEY": ENV_KEY})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(ENV_KEY)
    assert not (rig.tmp / "loader-ran").exists()
    assert run.op_calls == []


def test_the_loader_wins_over_op_when_the_environment_has_no_key(rig):
    rig.write_loader("export ORCHESTRA_API_KEY=%s\n" % LOADER_KEY)
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(LOADER_KEY)
    assert run.op_calls == []


def test_op_supplies_the_key_when_neither_the_environment_nor_a_loader_has_one(rig):
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert run.op_calls == [["read", DEFAULT_REF]]


def test_an_op_reference_in_the_environment_is_resolved_with_op_read(rig):
    rig.write_loader("export ORCHESTRA_API_KEY=%s\n" % LOADER_KEY)
    run = rig.run(env={"ORCHESTRA_API_KEY": "op://Private/Orchestra prod/api key"})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert run.op_calls == [["read", "op://Private/Orchestra prod/api key"]]


def test_an_op_reference_from_the_loader_is_resolved_with_op_read(rig):
    rig.write_loader("export ORCHESTRA_API_KEY='op://Team/Orchestra/credential'\n")
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert run.op_calls == [["read", "op://Team/Orchestra/credential"]]


def test_an_unresolvable_op_reference_falls_through_to_the_loader(rig):
    rig.write_loader("export ORCHESTRA_API_KEY=%s\n" % LOADER_KEY)
    run = rig.run(env={"ORCHESTRA_API_KEY": "op://Private/Gone/credential", "STUB_OP_MODE": "no_item"})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(LOADER_KEY)
    assert "op://Private/Gone/credential" in run.stderr


@pytest.mark.parametrize("placeholder", ["${ORCHESTRA_API_KEY}", "${ORCHESTRA_API_KEY:-}"])
def test_an_unexpanded_placeholder_counts_as_no_key(rig, placeholder):
    run = rig.run(env={"ORCHESTRA_API_KEY": placeholder})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert "placeholder" in run.stderr

    run = rig.run(env={"ORCHESTRA_API_KEY": placeholder, "STUB_OP_MODE": "not_signed_in"})
    assert_server_started_cleanly(run)
    assert run.server["key_set"] is False, "the server must see the key as missing, not the placeholder"


def test_an_empty_key_counts_as_no_key(rig):
    run = rig.run(env={"ORCHESTRA_API_KEY": ""})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)


# ---------------------------------------------------------------------------------------------------
# Loader failures


def test_a_loader_that_exits_non_zero_is_reported_and_skipped(rig):
    rig.write_loader("export ORCHESTRA_API_KEY=%s\necho 'vault locked' >&2\nexit 3\n" % LOADER_KEY)
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert "status 3" in run.stderr and "skipped" in run.stderr
    assert "vault locked" in run.stderr


def test_a_loader_that_trips_set_u_is_reported_and_skipped(rig):
    rig.write_loader('set -euo pipefail\necho "$SOME_UNSET_VARIABLE"\nexport ORCHESTRA_API_KEY=%s\n' % LOADER_KEY)
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert "SOME_UNSET_VARIABLE" in run.stderr and "skipped" in run.stderr


def test_a_loader_that_reads_unset_variables_without_set_u_still_works(rig):
    rig.write_loader('X="$NOT_SET_ANYWHERE"\nexport ORCHESTRA_API_KEY=%s\n' % LOADER_KEY)
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(LOADER_KEY)


def test_a_loader_that_leaves_the_key_unset_falls_through_to_op(rig):
    rig.write_loader("export SOME_OTHER_SECRET=abc\n")
    run = rig.run()
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert run.op_calls == [["read", DEFAULT_REF]]


def test_the_loader_path_can_be_overridden_or_disabled(rig):
    other = rig.tmp / "my-loader.sh"
    other.write_text("export ORCHESTRA_API_KEY=%s\n" % LOADER_KEY)
    run = rig.run(env={"ORCHESTRA_SECRETS_LOADER": str(other)})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(LOADER_KEY)

    rig.write_loader("export ORCHESTRA_API_KEY=%s\n" % LOADER_KEY)
    run = rig.run(env={"ORCHESTRA_SECRETS_LOADER": ""})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)


def test_a_hanging_loader_is_stopped_and_skipped(rig):
    rig.write_loader("sleep 30\nexport ORCHESTRA_API_KEY=%s\n" % LOADER_KEY)
    run = rig.run(env={"ORCHESTRA_LOADER_TIMEOUT_S": "0.3"})   # seconds may be fractional
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert "did not finish within 0.3s" in run.stderr


# ---------------------------------------------------------------------------------------------------
# op failures: each says what went wrong and how to fix it, and the server still starts


def assert_no_key_but_server_started(run):
    assert_server_started_cleanly(run)
    assert run.server["key_set"] is False
    assert "no Orchestra API key found" in run.stderr
    assert "Starting the server anyway" in run.stderr


def test_a_missing_op_is_reported_and_the_server_still_starts(rig):
    path = "/usr/bin:/bin"
    if shutil.which("op", path=path):
        pytest.skip("a real op is installed in /usr/bin or /bin")
    run = rig.run(env={"PATH": path})
    assert_no_key_but_server_started(run)
    assert "not installed" in run.stderr
    assert "ORCHESTRA_API_KEY" in run.stderr


@pytest.mark.parametrize("mode", ["not_signed_in", "no_accounts"])
def test_op_not_signed_in_is_reported_with_the_signin_fix(rig, mode):
    run = rig.run(env={"STUB_OP_MODE": mode})
    assert_no_key_but_server_started(run)
    assert "not signed in" in run.stderr
    assert "op signin" in run.stderr


def test_a_missing_item_is_reported_with_the_variables_that_name_it(rig):
    run = rig.run(env={"STUB_OP_MODE": "no_item"})
    assert_no_key_but_server_started(run)
    assert "1Password has no " + DEFAULT_REF in run.stderr
    assert "ORCHESTRA_OP_ITEM" in run.stderr


def test_other_op_errors_quote_ops_stderr_but_never_its_stdout(rig):
    run = rig.run(env={"STUB_OP_MODE": "odd"})
    assert_no_key_but_server_started(run)
    assert "status 6" in run.stderr and "flux capacitor is offline" in run.stderr
    assert "partial-output-that-must-not-be-shown" not in run.stderr + run.stdout


def test_a_hanging_op_is_stopped_after_the_time_limit(rig):
    run = rig.run(env={"STUB_OP_MODE": "hang", "ORCHESTRA_OP_TIMEOUT_S": "0.3"})
    assert_no_key_but_server_started(run)
    assert "no answer within 0.3s" in run.stderr
    assert "biometric" in run.stderr


def test_a_hanging_op_is_stopped_even_where_timeout_is_not_installed(rig):
    tools = rig.tmp / "tools"
    tools.mkdir()
    for name in ("bash", "sleep", "dirname", "readlink", "mktemp", "rm"):
        found = shutil.which(name)
        if found is None:
            pytest.skip("%s is not installed" % name)
        (tools / name).symlink_to(found)
    run = rig.run(env={"STUB_OP_MODE": "hang", "ORCHESTRA_OP_TIMEOUT_S": "0.3", "PATH": "%s:%s" % (rig.bin, tools)})
    assert_no_key_but_server_started(run)
    assert "no answer within 0.3s" in run.stderr


def test_vault_item_and_field_overrides_reach_op(rig):
    run = rig.run(env={"ORCHESTRA_OP_VAULT": "Data Eng", "ORCHESTRA_OP_ITEM": "Orchestra API", "ORCHESTRA_OP_FIELD": "password"})
    assert_server_started_cleanly(run)
    assert run.key_sha == sha(OP_KEY)
    assert run.op_calls == [["read", "op://Data Eng/Orchestra API/password"]]


OFFLINE_ARGUMENTS = [
    ["--selftest"], ["--demo"], ["--demo", "--call", "list_pipelines", '{"name": "daily"}'],
    ["--help"], ["-h"], ["--version"],
]


@pytest.mark.parametrize("args", OFFLINE_ARGUMENTS, ids=" ".join)
@pytest.mark.parametrize("configured", ["no key", "op reference", "plain key"])
def test_an_offline_mode_reads_no_secret_warns_about_none_and_gets_no_key(rig, args, configured):
    """Like a locked 1Password: op and the loader would hang, so any attempt would show in op's log."""
    rig.write_loader("touch %s/loader-ran\nexport ORCHESTRA_API_KEY=%s\n" % (rig.tmp, LOADER_KEY))
    key = {"no key": None, "op reference": "op://Private/Orchestra/key", "plain key": ENV_KEY}[configured]
    run = rig.run(*args, env={"ORCHESTRA_API_KEY": key, "STUB_OP_MODE": "hang", "ORCHESTRA_OP_TIMEOUT_S": "1"})
    assert_server_started_cleanly(run)
    assert run.op_calls == [], "an offline mode ran op"
    assert not (rig.tmp / "loader-ran").exists(), "an offline mode sourced the secrets loader"
    assert "key" not in run.stderr.lower(), "an offline mode warned about a key:\n" + run.stderr
    assert run.stderr.strip() == "STUB-SERVER-ON-FD2", "the launcher has nothing to say in an offline mode"
    assert run.server["key_set"] is False, "an offline mode needs no key in its environment"
    assert run.server["argv"][2:] == args


@pytest.mark.parametrize("args", [
    ["--check"], ["--call", "list_pipelines", "{}"], ["--check", "--help"], ["--call", "list_pipelines", "--demo"],
], ids=" ".join)
def test_serving_modes_look_for_the_key_whatever_follows_the_first_argument(rig, args):
    """Only the first argument picks the mode, as in orchestra_mcp.main: later ones belong to that mode."""
    run = rig.run(*args)
    assert_server_started_cleanly(run)
    assert run.op_calls == [["read", DEFAULT_REF]]
    assert run.key_sha == sha(OP_KEY)
    assert run.server["argv"][2:] == args


# ---------------------------------------------------------------------------------------------------
# Arguments, location, interpreter


def test_arguments_pass_through_to_the_server_unchanged(rig):
    run = rig.run("--selftest", "two words", "--demo", env={"ORCHESTRA_API_KEY": ENV_KEY})
    assert_server_started_cleanly(run)
    assert run.server["argv"][1:] == [str(rig.proj.resolve() / "orchestra_mcp.py"), "--selftest", "two words", "--demo"]


def test_it_works_from_another_directory_and_through_a_chain_of_symlinks(rig):
    (rig.tmp / "a" / "b").mkdir(parents=True)
    (rig.tmp / "links").mkdir()
    (rig.tmp / "a" / "b" / "inner").symlink_to(Path("..", "..", "proj", SCRIPT.name))
    (rig.tmp / "links" / "orchestra").symlink_to(Path("..", "a", "b", "inner"))
    elsewhere = rig.tmp / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    for command in ([str(rig.tmp / "links" / "orchestra")], ["bash", "../../links/orchestra"]):
        run = rig.run(command=command, cwd=elsewhere, env={"ORCHESTRA_API_KEY": ENV_KEY, "CDPATH": "/tmp"})
        assert_server_started_cleanly(run)
        assert run.server["argv"][1] == str(rig.proj.resolve() / "orchestra_mcp.py")
        assert Path(run.server["cwd"]).resolve() == elsewhere.resolve(), "the server keeps the caller's cwd"


def test_the_project_venv_python_is_used_when_none_is_configured(rig):
    venv_python = rig.proj / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    shutil.copy2(rig.python, venv_python)
    run = rig.run(env={"ORCHESTRA_MCP_PYTHON": None, "ORCHESTRA_API_KEY": ENV_KEY})
    assert_server_started_cleanly(run)
    assert run.server["argv"][0] == str(venv_python.resolve())


OLD_PYTHON = Path("/root/.pyenv/versions/3.9.18/bin/python3")
OLD_STUB = '#!/bin/bash\nif [ "$1" = -c ]; then echo 3.8.18; exit 1; fi\necho SHOULD-NOT-RUN\n'


@pytest.mark.parametrize("kind", ["real 3.9", "stub 3.8"])
def test_an_interpreter_older_than_3_10_is_refused(rig, kind):
    if kind == "real 3.9":
        if not os.access(OLD_PYTHON, os.X_OK):
            pytest.skip("no Python 3.9 at %s" % OLD_PYTHON)
        old = OLD_PYTHON
    else:
        old = rig.tmp / "old-python"
        old.write_text(OLD_STUB)
        old.chmod(0o755)
    run = rig.run(env={"ORCHESTRA_MCP_PYTHON": str(old), "ORCHESTRA_API_KEY": ENV_KEY})
    assert run.rc == 1
    assert run.server is None and run.stdout == ""
    assert "3.10 or newer" in run.stderr and "ORCHESTRA_MCP_PYTHON" in run.stderr


def test_an_interpreter_that_does_not_run_is_refused(rig):
    run = rig.run(env={"ORCHESTRA_MCP_PYTHON": str(rig.tmp / "no-such-python"), "ORCHESTRA_API_KEY": ENV_KEY})
    assert run.rc == 1 and run.server is None and run.stdout == ""
    assert "does not run" in run.stderr


def test_a_missing_server_file_is_reported(rig):
    (rig.proj / "orchestra_mcp.py").unlink()
    run = rig.run(env={"ORCHESTRA_API_KEY": ENV_KEY})
    assert run.rc == 1 and run.stdout == ""
    assert "orchestra_mcp.py is missing" in run.stderr


# ---------------------------------------------------------------------------------------------------
# The real server


@pytest.mark.skipif(not (REPO / "orchestra_mcp.py").exists(), reason="orchestra_mcp.py is not written yet")
def test_the_real_server_prints_its_version_through_the_launcher(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "ORCHESTRA_MCP_PYTHON": sys.executable,
        "ORCHESTRA_API_KEY": ENV_KEY,
    }
    proc = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert any(ch.isdigit() for ch in proc.stdout) and "." in proc.stdout, proc.stdout
    assert ENV_KEY not in proc.stdout + proc.stderr


def test_an_op_reference_that_times_out_is_not_retried_with_the_default_reference(rig):
    run = rig.run(env={"ORCHESTRA_API_KEY": "op://Private/Orchestra/key", "STUB_OP_MODE": "hang",
                       "ORCHESTRA_OP_TIMEOUT_S": "0.3"})
    assert_no_key_but_server_started(run)
    assert run.op_calls == [["read", "op://Private/Orchestra/key"]], "start-up time is short: one wait is enough"
