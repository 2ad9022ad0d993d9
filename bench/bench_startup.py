"""Cold start: process spawn -> initialize reply, and -> tools/list reply; tools/list size.

Every round starts each variant once, in a rotating order, so the floors and the server are
measured side by side under the same machine load:

  python -c pass                  floor: the bare interpreter, spawn -> exit
  python -c "import requests"     floor: what importing the HTTP stack alone costs
  orchestra-mcp                   the installed console script (imports the cached bytecode)
  launcher command                what launch-orchestra-mcp.sh execs: python -c 'import orchestra_mcp ...'
  launch-orchestra-mcp.sh         the whole launch script (bash, its Python check, then the exec above)
  python orchestra_mcp.py         the file run as a script: recompiled on every start

Child processes get no PYTHON* variables (this machine sets PYTHONDONTWRITEBYTECODE=1) and
__pycache__ is warmed first. The initialize request is written right after spawn (it waits in the
pipe), then notifications/initialized + tools/list as soon as the initialize reply is read. No
network is touched: the base URL points at a closed loopback port.

    python bench/bench_startup.py [--quick] [--runs 30]
"""

import subprocess
import sys
import tempfile
import time

from common import (CONSOLE_SCRIPT, LAUNCHER_CODE, MODULE, PYTHON, REPO, Report, arguments, read_reply, spawn,
                    check_console_script, child_env, ms, stats)

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "bench", "version": "1"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
TARGET_INIT_MS = 15   # issue 13: cold start within the bare interpreter + 15 ms, via the console script
TARGETED = ("console_script", "launcher_command")   # the other two print figures without a target
TARGET_TOKENS = 4000


def server_variants():
    return {
        "console_script": [CONSOLE_SCRIPT],
        "launcher_command": [PYTHON, "-c", LAUNCHER_CODE, REPO],
        "launch_script": ["bash", REPO / "launch-orchestra-mcp.sh"],
        "python_script": [PYTHON, MODULE],
    }


FLOORS = {"python_pass": [PYTHON, "-c", "pass"], "import_requests": [PYTHON, "-c", "import requests"]}


def time_server(command, env, cwd):
    """(seconds to the initialize reply, seconds to the tools/list reply, tools/list reply bytes)."""
    server, spawned = spawn(command, env, cwd)
    try:
        server.send(INITIALIZE)   # spawned is taken just before the process is started
        reply, init_at, _ = read_reply(server, 30)
        if reply is None or "result" not in reply:
            raise RuntimeError(f"{command}: no initialize reply; stderr: {server.stderr_text()[-1500:]}")
        server.send(INITIALIZED, TOOLS_LIST)
        listing, list_at, size = read_reply(server, 30)
        if listing is None or not listing.get("result", {}).get("tools"):
            raise RuntimeError(f"{command}: no tools/list reply")
        return init_at - spawned, list_at - spawned, size, len(listing["result"]["tools"])
    finally:
        server.close()


def time_floor(command, env, cwd):
    started = time.perf_counter()
    subprocess.run([str(c) for c in command], env=env, cwd=cwd, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def main():
    args = arguments(__doc__.splitlines()[0], runs=(30, 3))
    report = Report("bench_startup", args)
    report.note(check_console_script())
    report.note(report.pycache + "; children run without PYTHONDONTWRITEBYTECODE")
    with tempfile.TemporaryDirectory(prefix="orchestra-bench-") as home:
        server = {"ORCHESTRA_API_KEY": "test-key", "ORCHESTRA_API_BASE_URL": "http://127.0.0.1:9/api/engine/public",
                  "ORCHESTRA_MCP_PYTHON": PYTHON, "ORCHESTRA_SECRETS_LOADER": ""}
        env = child_env(home, **server)
        floor_env = child_env(home)
        variants = [("floor", name, command) for name, command in FLOORS.items()]
        variants += [("server", name, command) for name, command in server_variants().items()]
        times = {name: {"init": [], "list": []} for _, name, _ in variants}
        sizes, tool_counts = {}, {}
        for command in server_variants().values():   # one untimed start each: disk cache, sanity
            time_server(command, env, home)
        for round_index in range(args.runs):
            shift = round_index % len(variants)
            for kind, name, command in variants[shift:] + variants[:shift]:
                if kind == "floor":
                    times[name]["init"].append(time_floor(command, floor_env, home))
                    continue
                init, listed, size, count = time_server(command, env, home)
                times[name]["init"].append(init)
                times[name]["list"].append(listed)
                sizes[name], tool_counts[name] = size, count
        read_only = time_server([CONSOLE_SCRIPT], child_env(home, **server, ORCHESTRA_READ_ONLY="1"), home)

    floor = stats(times["python_pass"]["init"])
    report.figure("startup.floor.python_pass (spawn->exit)", ms(floor))
    report.figure("startup.floor.import_requests (spawn->exit)", ms(stats(times["import_requests"]["init"])),
                  ratio=stats(times["import_requests"]["init"])["median"] / floor["median"])
    labels = {"console_script": "orchestra-mcp console script", "launcher_command": "launcher's python -c import",
              "launch_script": "launch-orchestra-mcp.sh end to end", "python_script": "python orchestra_mcp.py"}
    for name in server_variants():
        init, listed = stats(times[name]["init"]), stats(times[name]["list"])
        added = (init["median"] - floor["median"]) * 1000
        targeted = name in TARGETED
        report.figure(f"startup.initialize.{name}", f"{ms(init)}; +{added:.1f} ms over python -c pass "
                      f"[{labels[name]}]", target=f"<= +{TARGET_INIT_MS} ms over python -c pass" if targeted else None,
                      ok=added <= TARGET_INIT_MS if targeted else None, ratio=init["median"] / floor["median"])
        report.figure(f"startup.tools_list.{name}", f"{ms(listed)} (spawn -> tools/list reply)",
                      ratio=listed["median"] / floor["median"])
    size = sizes["console_script"]
    tokens = size / 4
    report.figure("tools_list.size", f"{size:,} bytes = ~{tokens:,.0f} tokens (bytes/4), "
                  f"{tool_counts['console_script']} tools (whole JSON-RPC reply line)",
                  target=f"< {TARGET_TOKENS:,} tokens (16 KB)", ok=tokens < TARGET_TOKENS, ratio=tokens / TARGET_TOKENS)
    report.figure("tools_list.size_read_only", f"{read_only[2]:,} bytes = ~{read_only[2] / 4:,.0f} tokens, "
                  f"{read_only[3]} tools (ORCHESTRA_READ_ONLY=1)")
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
