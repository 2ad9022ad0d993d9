"""The docs say what the code does: generated references match, every tool and variable is documented.

Run with UPDATE_DOCS=1 to rewrite the generated blocks after changing a tool or a variable.
"""
import json
import os
import re
from pathlib import Path

import sys

import orchestra_mcp as m

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "docs"))
import tool_reference as reference  # noqa: E402 - needs the path above

BLOCKS = {
    "README.md": {"tools": reference.tools_table, "env": reference.env_markdown},
    "docs/orchestra-mcp.md": {"reference": reference.tools_markdown},
}


def render(text, blocks):
    for name, generate in blocks.items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        assert begin in text and end in text, f"marker {begin.strip()} ... {end} is missing"
        head, rest = text.split(begin, 1)
        text = head + begin + generate() + end + rest.split(end, 1)[1]
    return text


def test_generated_reference_blocks_match_the_tool_registry():
    for path, blocks in BLOCKS.items():
        file = REPO / path
        current = file.read_text(encoding="utf-8")
        expected = render(current, blocks)
        if os.environ.get("UPDATE_DOCS") == "1":
            file.write_text(expected, encoding="utf-8")
            continue
        assert current == expected, f"{path} is stale: run UPDATE_DOCS=1 python -m pytest tests/test_docs.py"


def test_every_tool_and_every_variable_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in m.TOOLS:
        assert f"`{name}`" in readme
    for name in m.ENV_VARIABLES:
        assert f"`{name}`" in readme
    names_in_code = set(re.findall(r"ORCHESTRA_[A-Z_]+", (REPO / "orchestra_mcp.py").read_text()))
    assert names_in_code <= set(re.findall(r"ORCHESTRA_[A-Z_]+", readme)), names_in_code - set(re.findall(r"ORCHESTRA_[A-Z_]+", readme))


def test_the_readme_test_command_is_what_ci_runs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = ".venv/bin/python -m pytest -q"
    assert command in readme and command in ci


def test_tool_descriptions_stay_within_the_token_budget():
    tools = m.tool_list(read_only=False)
    assert len(m.dump({"tools": tools})) < 16_000   # ~4,000 tokens for all tools together
    for tool in tools:
        assert len(tool["description"]) <= 1000, tool["name"]
        for arg, rules in tool["inputSchema"]["properties"].items():
            assert len(rules.get("description", "")) <= 150, (tool["name"], arg)
    assert len(m.INSTRUCTIONS) <= 2048


def test_the_tools_list_snapshot_changes_only_on_purpose():
    snapshot = REPO / "tests" / "tools_list.snapshot.json"
    current = json.dumps(m.tool_list(read_only=False), indent=1, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_DOCS") == "1":
        snapshot.write_text(current, encoding="utf-8")
    assert snapshot.exists(), "no snapshot yet: run UPDATE_DOCS=1 python -m pytest tests/test_docs.py"
    assert snapshot.read_text(encoding="utf-8") == current, "tools/list changed: review, then UPDATE_DOCS=1"


def test_every_tool_has_its_result_keys_and_limits_in_the_reference():
    assert set(reference.REFERENCE) == set(m.TOOLS)
    for name, (returns, limits) in reference.REFERENCE.items():
        assert returns and limits, name


def test_the_package_version_matches_the_module():
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{m.__version__}"' in pyproject


def test_every_test_the_docs_name_exists():
    """`tests/test_x.py::test_name` and the `::test_name` shorthand after it (same file) name tests
    that exist, so a renamed or merged test cannot leave a claim without its proof."""
    missing = []
    for path in ("README.md", "SECURITY.md", "docs/orchestra-mcp.md", "bench/README.md"):
        current = None
        text = (REPO / path).read_text(encoding="utf-8")
        for file, name in re.findall(r"(tests/test_\w+\.py)|::(test_\w+)", text):
            current = file or current
            if not name:
                continue
            source = (REPO / current).read_text(encoding="utf-8") if current else ""
            if not re.search(rf"^(?:async )?def {name}\(", source, re.M):
                missing.append(f"{path}: {current}::{name}")
    assert missing == []
