"""Shared pieces of the orchestra-mcp benchmarks (see bench/README.md).

- child_env(): a minimal environment for every process a benchmark starts. It never carries
  PYTHONDONTWRITEBYTECODE (this machine sets it, and then a stale __pycache__ is never rewritten, so
  every start would recompile the module) nor any other PYTHON* variable. (Only the
  fake gets PYTHONDONTWRITEBYTECODE=1, so that nothing is written under tests/.)
- warm_pycache(): compile orchestra_mcp once so that `import orchestra_mcp` starts from bytecode.
- FakeProcess: tests/fake_orchestra.py as a separate process (never in the benchmark's own process:
  a fake sharing the GIL with the direct `requests` loop would slow only that side). By default it
  runs with TCP_NODELAY on its sockets; see FAKE_BOOT.
- The server as a subprocess in raw JSON-RPC lines: orchestra_mcp.LineClient, the module's one line
  client (the tests use it too), which reads straight from the pipe in the caller's thread (no reader
  thread between the pipe and the clock); read_reply(), call_message() and timed_call() add what a
  benchmark needs on top of it. proc_field() (/proc/<pid>/status) is the tests' own.
- Report: one printed line per figure, a summary line, and optional JSON records (--record FILE or
  BENCH_RECORD) from which `python bench/common.py write-results RECORDS` writes bench/RESULTS.md.

Everything listens on and talks to 127.0.0.1 only.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TESTS = REPO / "tests"
MODULE = REPO / "orchestra_mcp.py"
PYTHON = sys.executable
CONSOLE_SCRIPT = Path(PYTHON).parent / "orchestra-mcp"
API_KEY = "test-key"   # the fake's key: not a credential
API_PREFIX = "/api/engine/public"

# The exact command launch-orchestra-mcp.sh ends with (exec "$py" -c '...' "$here").
LAUNCHER_CODE = "import sys; sys.path[0] = sys.argv.pop(1); import orchestra_mcp; sys.exit(orchestra_mcp.main())"

# The fake's handler writes the status line + headers and then the body in two send() calls. On a
# keep-alive connection Nagle's algorithm holds the second until the client ACKs the first, and the
# client delays that ACK by ~40 ms: every small JSON answer then takes ~45 ms instead of ~2 ms, which
# would drown what the benchmarks measure. Real Orchestra (uvicorn) does not do this, so the
# benchmarks start the fake with TCP_NODELAY (socketserver's own switch), without editing tests/.
FAKE_BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import fake_orchestra as fake; "
             "fake._Handler.disable_nagle_algorithm = sys.argv.pop(1) == 'nodelay'; "
             "sys.exit(fake.main(sys.argv[1:]))")

for folder in (TESTS, REPO):   # this checkout's module and tests, whatever is installed
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
import fake_orchestra  # noqa: E402 - needs the path above; standard library only (IDs, constants)
from mcp_helpers import proc_field  # noqa: E402,F401 - the tests' /proc reader, for the scripts (no SDK import)
from orchestra_mcp import LineClient  # noqa: E402 - the module's one raw JSON-RPC line client

FAILED_RUN_ID = fake_orchestra.FAILED_RUN_ID
FAILED_DBT_TASK_RUN_ID = fake_orchestra.FAILED_DBT_TASK_RUN_ID
BIG_ARTIFACT = fake_orchestra.BIG_ARTIFACT


####################################################################################################
# Command line, environment, statistics
####################################################################################################

def arguments(description, **defaults):
    """Common options: --quick, --record FILE, --stock-fake, plus the script's own (name=(full, quick))."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke run; figures are rough)")
    parser.add_argument("--record", default=os.environ.get("BENCH_RECORD"),
                        help="append one JSON line per figure to this file (default: $BENCH_RECORD)")
    parser.add_argument("--stock-fake", action="store_true",
                        help="run the fake without TCP_NODELAY (as tests/ does): ~40 ms Nagle stalls")
    for name, (full, quick) in defaults.items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(full), default=None,
                            help=f"default {full} ({quick} with --quick)")
    args = parser.parse_args()
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def child_env(home, **extra):
    """PATH, HOME, LANG and what the caller adds; no PYTHON* variable (PYTHONDONTWRITEBYTECODE)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def warm_pycache():
    """Compile orchestra_mcp into __pycache__ (a child without PYTHONDONTWRITEBYTECODE) and check it.

    Returns a one-line description. An import rewrites a stale .pyc; the second import proves the
    .pyc matches the source (its header holds the source's mtime and size).
    """
    import importlib.util
    with tempfile.TemporaryDirectory() as home:
        for _ in range(2):
            subprocess.run([PYTHON, "-c", "import orchestra_mcp"], env=child_env(home), cwd=home, check=True)
    pyc = Path(importlib.util.cache_from_source(str(MODULE)))
    header = pyc.read_bytes()[:16]
    stat = MODULE.stat()
    fresh = (int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
             and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF)
    if not fresh:
        raise RuntimeError(f"{pyc} does not match {MODULE}: is the file being edited?")
    return f"{pyc.relative_to(REPO)} is fresh ({pyc.stat().st_size:,} bytes)"


def check_console_script():
    """The installed console script must import this checkout's module."""
    if not CONSOLE_SCRIPT.exists():
        raise SystemExit(f"{CONSOLE_SCRIPT} is missing: pip install -e . into {Path(PYTHON).parent.parent}")
    with tempfile.TemporaryDirectory() as home:
        found = subprocess.run([PYTHON, "-c", "import orchestra_mcp; print(orchestra_mcp.__file__)"],
                               env=child_env(home), cwd=home, capture_output=True, text=True, check=True)
    where = Path(found.stdout.strip()).resolve()
    if where != MODULE:
        raise SystemExit(f"{CONSOLE_SCRIPT} imports {where}, not {MODULE}: reinstall with pip install -e .")
    return f"{CONSOLE_SCRIPT} -> {where}"


def stats(values):
    values = sorted(values)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "n": len(values),
            "p90": values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]}


def ms(s, digits=1):
    """'12.3 ms (min 10.1, max 20.3, n=30)' from stats() of seconds."""
    return (f"median {s['median'] * 1000:.{digits}f} ms (min {s['min'] * 1000:.{digits}f}, "
            f"max {s['max'] * 1000:.{digits}f}, n={s['n']})")


def secs(s, digits=3):
    return f"median {s['median']:.{digits}f} s (min {s['min']:.{digits}f}, max {s['max']:.{digits}f}, n={s['n']})"


def machine():
    """Where the figures come from (RESULTS.md header and each record)."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run([PYTHON, "--version"], capture_output=True, text=True).stdout.strip()
    date_u = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    git = ["git", "-C", str(REPO)]
    commit = subprocess.run(git + ["log", "-1", "--format=%h %ci"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(git + ["status", "--porcelain", "--", "orchestra_mcp.py"], capture_output=True, text=True).stdout
    code = (commit or "unknown commit") + (" + uncommitted changes to orchestra_mcp.py" if dirty.strip() else "")
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "date_u": date_u, "python": version, "code": code,
            "cpus": len(os.sched_getaffinity(0)), "cpu_model": model, "kernel": platform.release(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


####################################################################################################
# Reporting
####################################################################################################

class Report:
    """Prints `<figure>  <measured>  [target ...: MET|MISSED]` lines and a closing SUMMARY line."""

    def __init__(self, name, args):
        self.name, self.args = name, args
        self.started = time.monotonic()
        self.verdicts = []
        self.console_script = check_console_script()   # the servers must run this checkout's module
        self.pycache = warm_pycache()   # each benchmark: the file may have changed since the last one
        self.module_stat = (MODULE.stat().st_mtime_ns, MODULE.stat().st_size)
        self.machine = machine()
        mode = "quick" if args.quick else "full"
        print(f"# {name} ({mode}): {self.machine['python']}, {self.machine['cpus']} CPUs "
              f"({self.machine['cpu_model']}), load {self.machine['load']}, {self.machine['date']}, "
              f"code {self.machine['code']}", flush=True)

    def note(self, text):
        print(f"# {text}", flush=True)

    def figure(self, key, measured, target=None, ok=None, ratio=None):
        """One figure. `ok` is None for a figure without a target."""
        line = f"{key:<44} {measured}"
        if target is not None:
            line += f"  | target {target}: {'MET' if ok else 'MISSED'}"
            self.verdicts.append((key, bool(ok)))
        print(line, flush=True)
        if self.args.record:
            record = {"bench": self.name, "figure": key, "measured": measured, "target": target,
                      "ok": ok, "ratio": ratio, "quick": self.args.quick, **self.machine}
            with open(self.args.record, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")

    def summary(self):
        met = sum(ok for _, ok in self.verdicts)
        missed = [key for key, ok in self.verdicts if not ok]
        tail = f"; missed: {', '.join(missed)}" if missed else ""
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        if (MODULE.stat().st_mtime_ns, MODULE.stat().st_size) != self.module_stat:
            tail += "; WARNING: orchestra_mcp.py changed during this benchmark, rerun it"
            if self.args.record:
                with open(self.args.record, "a", encoding="utf-8") as out:
                    out.write(json.dumps({"bench": self.name, "changed": True}) + "\n")
        print(f"SUMMARY {self.name}: {len(self.verdicts)} targets, {met} met, {len(missed)} missed{tail} "
              f"({time.monotonic() - self.started:.1f} s; load average {self.machine['load']} at start, {load} at end)",
              flush=True)
        return 0


####################################################################################################
# The fake Orchestra as a process
####################################################################################################

class FakeProcess:
    """tests/fake_orchestra.py in its own process; control API (journal, faults) over loopback HTTP."""

    def __init__(self, home, runs=1500, big_artifact_mb=0, nodelay=True):
        import requests
        self.log = open(Path(home) / "fake.log", "wb")   # closed in stop()
        command = [PYTHON, "-c", FAKE_BOOT, str(TESTS), "nodelay" if nodelay else "stock",
                   "--port", "0", "--runs", str(runs), "--big-artifact-mb", str(big_artifact_mb)]
        # No bytecode written for the fake: nothing under tests/ is touched, and its start is not timed.
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log,
                                        env=child_env(home, PYTHONDONTWRITEBYTECODE="1"), cwd=str(home))
        self.base_url = self.process.stdout.readline().decode().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the fake did not start (see {self.log.name})")
        self.root = self.base_url[: -len(API_PREFIX)]
        self.control = requests.Session()

    def journal(self):
        response = self.control.get(self.root + "/__journal", timeout=30)
        response.raise_for_status()
        return response.json()

    def clear_journal(self):
        self.control.delete(self.root + "/__journal", timeout=30).raise_for_status()

    def add_fault(self, **fault):
        self.control.post(self.root + "/__faults", json=fault, timeout=30).raise_for_status()

    def clear_faults(self):
        self.control.delete(self.root + "/__faults", timeout=30).raise_for_status()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def direct_session():
    """A requests.Session sending what the server sends: Bearer key, Accept and User-Agent."""
    import requests
    sys.path.insert(0, str(REPO))
    import orchestra_mcp   # only for its name and version; importing it sends nothing
    session = requests.Session()
    session.headers.update({"Authorization": "Bearer " + API_KEY, "Accept": "application/json",
                            "User-Agent": f"{orchestra_mcp.SERVER_NAME}/{orchestra_mcp.__version__}"})
    return session


def replay_url(fake, entry):
    """(url, params) of a journal entry, to send the very same request again."""
    return fake.root + entry["path"], entry["query"]


####################################################################################################
# The MCP server as a process, raw JSON-RPC
####################################################################################################

def spawn(command, env, cwd):
    """(LineClient, perf_counter() just before the process was started)."""
    spawned = time.perf_counter()
    return LineClient(env=env, cwd=str(cwd), command=[str(c) for c in command]), spawned


def read_reply(server, timeout=60.0):
    """The next reply (notifications are skipped): (message, arrival time, size in bytes); Nones on timeout."""
    give_up = time.perf_counter() + timeout
    while True:
        line, arrived = server.read_line(max(0.0, give_up - time.perf_counter()))
        if line is None:
            return None, None, 0
        message = json.loads(line)
        if "id" in message and ("result" in message or "error" in message):
            return message, arrived, len(line)


def request_message(server, method, params=None):
    """(id, message) of a request with the client's next id, not yet sent."""
    server.next_id += 1
    return server.next_id, {"jsonrpc": "2.0", "id": server.next_id, "method": method, "params": params or {}}


def call_message(server, name, **arguments):
    return request_message(server, "tools/call", {"name": name, "arguments": arguments})


def timed_call(server, name, timeout=600.0, **arguments):
    """(is_error, payload or error text, result text, seconds) of one tools/call."""
    request_id, message = call_message(server, name, **arguments)
    started = server.send(message)
    reply, arrived, _ = read_reply(server, timeout)
    if reply is None or reply.get("id") != request_id or "result" not in reply:
        raise RuntimeError(f"{name}: unexpected reply {str(reply)[:500]}")
    result = reply["result"]
    text = result["content"][0]["text"]
    return result["isError"], (text if result["isError"] else json.loads(text)), text, arrived - started


class Workspace:
    """A temporary HOME (downloads, logs), a fake and a server; everything stopped on exit."""

    def __init__(self, runs=1500, big_artifact_mb=0, nodelay=True):
        self.home = Path(tempfile.mkdtemp(prefix="orchestra-bench-"))
        self.fake_options = {"runs": runs, "big_artifact_mb": big_artifact_mb, "nodelay": nodelay}
        self.fake = None
        self.servers = []

    def __enter__(self):
        self.fake = FakeProcess(self.home, **self.fake_options)
        return self

    def server(self, command=None, **settings):
        """A server against this workspace's fake (child_env: the benchmarks' minimal environment)."""
        env = child_env(self.home, **{
            "ORCHESTRA_API_KEY": API_KEY, "ORCHESTRA_API_BASE_URL": self.fake.base_url,
            "ORCHESTRA_MCP_DOWNLOAD_DIR": str(self.home / "downloads"),
            "ORCHESTRA_MCP_DEADLINE_S": "60", "ORCHESTRA_TIMEOUT": "30", **settings})
        server, _ = spawn(command or [CONSOLE_SCRIPT], env, self.home)
        self.servers.append(server)
        reply = server.initialize()
        if "result" not in reply:
            raise RuntimeError(f"initialize failed: {reply}")
        return server

    def __exit__(self, *exc_info):
        for server in self.servers:
            server.close()
        if self.fake is not None:
            self.fake.stop()
        shutil.rmtree(self.home, ignore_errors=True)


####################################################################################################
# RESULTS.md
####################################################################################################

NOTES_MARKER = "<!-- notes: kept when the table is rewritten -->"


def _cell(text):
    return str(text if text is not None else "").replace("|", "\\|")


def _codes(records):
    """{code version: [benchmarks measured on it]}."""
    codes = {}
    for r in records:
        benches = codes.setdefault(r.get("code", "unknown"), [])
        if r["bench"] != "run_all" and r["bench"] not in benches:
            benches.append(r["bench"])
    return codes


def write_results(records_path, results_path, elapsed_s=None):
    """Rewrite the table of RESULTS.md from JSON records; keep everything after NOTES_MARKER."""
    records = [json.loads(line) for line in Path(records_path).read_text().splitlines() if line.strip()]
    changed = sorted({r["bench"] for r in records if r.get("changed")})
    records = [r for r in records if not r.get("changed")]
    if not records:
        raise SystemExit(f"{records_path} holds no figures")
    first = records[0]
    if elapsed_s is not None:
        records.append({**first, "bench": "run_all", "figure": "run_all.total_time", "measured": f"{elapsed_s} s",
                        "target": "< 300 s", "ok": elapsed_s < 300, "ratio": elapsed_s / 300})
    notes = ""
    results = Path(results_path)
    if results.exists() and NOTES_MARKER in results.read_text():
        notes = results.read_text().split(NOTES_MARKER, 1)[1]
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run_all.sh` (do not edit the table by hand; notes below the marker are kept).",
        "",
        f"- Date (`date -u`): {first.get('date_u', first['date'])}",
        f"- Python (`python --version`): {first['python']} ({PYTHON})",
        f"- CPUs (`nproc`): {first['cpus']}; CPU model (/proc/cpuinfo): {first['cpu_model']}; Linux {first['kernel']}",
        "- Code measured: " + "; ".join(f"{code} ({', '.join(benches)})" for code, benches in _codes(records).items()),
        *([f"- **orchestra_mcp.py changed while these ran: {', '.join(changed)}** (rerun them)"] if changed else []),
        f"- Load average when the run started: {first['load']} (a shared machine: other jobs ran alongside)",
        f"- Mode: {'quick (rough figures)' if any(r['quick'] for r in records) else 'full'}",
        "",
        "Ratio column: startup rows, median / median of `python -c pass`; overhead rows, MCP / direct "
        "(medians); paging throughput, MCP pages/s / bare pages/s; download, MCP throughput / curl "
        "throughput; concurrency, total time / the 0.5 s each call waits; size, memory and time rows, figure / target.",
        "",
        "| Figure | Target | Measured | Ratio | Verdict | Date | Python | CPUs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        verdict = "" if r["target"] is None else ("MET" if r["ok"] else "**MISSED**")
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {_cell(r['figure'])} | {_cell(r['target'])} | {_cell(r['measured'])} | {ratio} | {verdict} "
                     f"| {r['date']} | {r['python'].replace('Python ', '')} | {r['cpus']} |")
    targets = [r for r in records if r["target"] is not None]
    missed = [r["figure"] for r in targets if not r["ok"]]
    lines += ["", f"{len(targets)} targets: {len(targets) - len(missed)} met, {len(missed)} missed"
              + (f" ({', '.join(missed)})." if missed else "."), "", NOTES_MARKER]
    results.write_text("\n".join(lines) + (notes if notes else "\n"))
    print(f"wrote {results} ({len(records)} figures)")


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "write-results":
        write_results(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) == 5 else None)
    else:
        sys.exit("usage: python bench/common.py write-results RECORDS.jsonl bench/RESULTS.md [ELAPSED_S]")
