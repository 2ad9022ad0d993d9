"""The 2026-07-28 protocol revision alongside the handshake era (ORCHESTRA_MCP_PROTOCOL).

`legacy` (the default) answers server/discover with -32601 at once; `auto` serves 2026-07-28
clients too. See ../shared/mcp-notes.md sections 9 and 10.
"""

import pytest

import orchestra_mcp


@pytest.mark.parametrize("value, protocol", [(None, "legacy"), ("auto", "auto"), (" AUTO ", "auto"),
                                             ("legacy", "legacy"), ("modern", "legacy"),
                                             ("2026-07-28", "legacy"), ("", "legacy")])
def test_the_protocol_setting_is_legacy_unless_it_says_auto(value, protocol):
    environ = {"HOME": "/nonexistent"} if value is None else {"ORCHESTRA_MCP_PROTOCOL": value}
    config = orchestra_mcp.read_config(environ)
    assert config["protocol"] == protocol
    if value not in (None, "legacy", "auto", " AUTO "):
        assert any("ORCHESTRA_MCP_PROTOCOL" in note for note in config["notes"]), config["notes"]
