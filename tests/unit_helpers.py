"""What the unit tests of the tools share (responses-mocked Orchestra, a pinned clock): the base URL,
the pinned time and common ids, how a test configures the module, and how it reads a tool result
and a recorded request."""
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import orchestra_mcp as m

BASE = "https://orchestra.test/api/engine/public"
PREFIX = "/api/engine/public"
NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)
RUN = "8e808ad7-3d5a-4f08-b6e2-9a4c1d7f5e80"
TASK = "d94e2b7a-1c58-4f3d-9a60-7b8c2e1f4d39"
PIPELINE = "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
WEEK_MINUS_1S = timedelta(seconds=7 * 86400 - 1)


def configure(base, now=None, monkeypatch=None):
    """The module configured for `base`, with a tool call's context, as call_tool gets it."""
    if now is not None:
        monkeypatch.setattr(m, "now_utc", lambda: now)
    m.configure(m.read_config({"ORCHESTRA_API_KEY": "test-key", "ORCHESTRA_API_BASE_URL": base,
                               "ORCHESTRA_MCP_RETRY_BACKOFF_S": "0.01", "ORCHESTRA_MCP_DEADLINE_S": "60"}))
    m.use_context(m.new_call_context())


def ok(result):
    assert not result["isError"], result["content"][0]["text"]
    return json.loads(result["content"][0]["text"])


def error(result):
    assert result["isError"], result["content"][0]["text"]
    return result["content"][0]["text"]


def path_of(call):
    return urlsplit(call.request.url).path.removeprefix(PREFIX)


def query(call):
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))
