"""Tests only: start coverage in every Python process that imports this file at start-up.

bench/coverage.sh puts this directory on PYTHONPATH and sets COVERAGE_PROCESS_START to the
[tool.coverage] configuration in pyproject.toml; tests/mcp_helpers.server_env passes both variables on
to the server subprocesses, so their lines count too. Without COVERAGE_PROCESS_START this does
nothing, and nothing of it is ever on the path of a real server.
"""
try:
    import coverage
except ImportError:   # measuring needs the test extra; anything else runs as usual
    pass
else:
    coverage.process_startup()
