#!/usr/bin/env bash
# coverage.sh: line coverage of orchestra_mcp.py by the test suite, server subprocesses included.
#
#   bench/coverage.sh                 the default test run (what the README's test command runs)
#   bench/coverage.sh -m slow         any pytest arguments, e.g. the slow tests, or both: -m ''
#   COVERAGE_HTML=DIR bench/coverage.sh   also an HTML report of the missed lines in DIR
#
# The interpreter: $PYTHON, else .venv/bin/python (it needs the test extra, which has coverage).
# Every Python process started during the run loads tests/coverage/sitecustomize.py (PYTHONPATH)
# and starts coverage from [tool.coverage] in pyproject.toml (COVERAGE_PROCESS_START); each writes
# its own data file, and they are combined at the end. A figure is printed, never enforced.
set -uo pipefail

repo=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 2
py=${PYTHON:-.venv/bin/python}
"$py" -c "import coverage" 2>/dev/null || { echo "coverage.sh: $py cannot import coverage; install the test extra: $py -m pip install -e '.[test]'" >&2; exit 2; }

data=$(mktemp -d "${TMPDIR:-/tmp}/orchestra-coverage.XXXXXX")
trap 'rm -rf "$data"' EXIT
rm -f .coverage.*   # leftovers of an interrupted run would count twice

export COVERAGE_PROCESS_START=$repo/pyproject.toml
export PYTHONPATH=$repo/tests/coverage${PYTHONPATH:+:$PYTHONPATH}
"$py" -m pytest -q -p no:cacheprovider "$@"
status=$?
unset COVERAGE_PROCESS_START PYTHONPATH

# The servers run in the repository (cwd), like pytest: their data files are all here.
"$py" -m coverage combine -q --data-file="$data/.coverage" . || exit 2
"$py" -m coverage report --data-file="$data/.coverage" --precision=1 || exit 2
if [[ -n ${COVERAGE_HTML:-} ]]; then   # COVERAGE_HTML=DIR: also an HTML report of the missed lines
	"$py" -m coverage html -q --data-file="$data/.coverage" -d "$COVERAGE_HTML" && echo "coverage.sh: HTML report in $COVERAGE_HTML"
fi
exit "$status"
