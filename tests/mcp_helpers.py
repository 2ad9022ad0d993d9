"""Drive orchestra_mcp.py as a subprocess: through the official SDK client, or as raw JSON-RPC lines."""
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "orchestra_mcp.py"


def server_env(base_url, home, key="test-key", **extra):
    """Everything the server needs (the SDK's stdio client passes only PATH, HOME, ... itself)."""
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(home),
        "ORCHESTRA_API_BASE_URL": base_url,
        "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01", "ORCHESTRA_MCP_RETRY_AFTER_CAP_S": "3",
        "ORCHESTRA_MCP_DEADLINE_S": "30", "ORCHESTRA_TIMEOUT": "10",
        "ORCHESTRA_MCP_DOWNLOAD_DIR": str(Path(home) / "downloads"),
    }
    if key is not None:
        env["ORCHESTRA_API_KEY"] = key
    env.update({k: str(v) for k, v in extra.items()})
    return env


def decode(result):
    """(is_error, payload): the JSON object of a normal result, the sentence of an error."""
    text = result.content[0].text
    return result.is_error, (text if result.is_error else json.loads(text))


def call_tools(env, calls, mode="legacy"):
    """Run [(tool, arguments), ...] in one server process; returns [(is_error, payload), ...]."""
    async def run():
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env, cwd=str(REPO))
        async with Client(params, mode=mode) as client:
            return [decode(await client.call_tool(name, arguments)) for name, arguments in calls]
    return anyio.run(run)


def call_tool(env, name, **arguments):
    return call_tools(env, [(name, arguments)])[0]


def list_tools(env):
    async def run():
        params = StdioServerParameters(command=sys.executable, args=[str(SERVER)], env=env, cwd=str(REPO))
        async with Client(params, mode="legacy") as client:
            return await client.list_tools()
    return anyio.run(run)


class RawServer:
    """The server as a subprocess spoken to in raw lines; knows its pid (for RSS and /proc checks)."""

    def __init__(self, env, args=()):
        self.process = subprocess.Popen([sys.executable, str(SERVER), *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(REPO))
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._pump, args=(self.process.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr.append), daemon=True).start()
        self.next_id = 0

    @staticmethod
    def _pump(stream, sink):
        for line in iter(stream.readline, b""):
            sink(line)

    def send(self, message):
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def request(self, method, params=None, timeout=60):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        while True:
            message = json.loads(self.lines.get(timeout=timeout))
            if message.get("id") == self.next_id:
                return message

    def initialize(self):
        return self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                           "clientInfo": {"name": "tests", "version": "1"}})

    def call(self, tool_name, **arguments):
        result = self.request("tools/call", {"name": tool_name, "arguments": arguments})["result"]
        text = result["content"][0]["text"]
        return result["isError"], (text if result["isError"] else json.loads(text))

    def status(self, field):
        """A field of /proc/<pid>/status in kB (VmRSS, VmHWM) or as a count (Threads)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return b"".join(self.stderr).decode("utf-8", "replace")
