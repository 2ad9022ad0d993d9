#!/usr/bin/env bash
# run_all.sh: run every orchestra-mcp benchmark, then rewrite bench/RESULTS.md from their figures.
#
#   bench/run_all.sh            full run (about 4 minutes), rewrites bench/RESULTS.md
#   bench/run_all.sh --quick    smoke run (about 30 s): few iterations, RESULTS.md untouched
#
# The interpreter: $BENCH_PYTHON, else the one next to an `orchestra-mcp` console script on PATH,
# else python3. It needs requests, and the package installed (pip install -e .) so that its bin
# directory holds the orchestra-mcp console script.
set -uo pipefail

here=$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
py=${BENCH_PYTHON:-}
if [[ -z $py ]] && script=$(command -v orchestra-mcp 2>/dev/null) && [[ -x $(dirname -- "$script")/python ]]; then
	py=$(dirname -- "$script")/python
fi
py=${py:-python3}
if [[ ! -x $(dirname -- "$(command -v "$py")")/orchestra-mcp ]]; then
	echo "run_all.sh: $py has no orchestra-mcp console script next to it; set BENCH_PYTHON to the venv's python" >&2
	exit 2
fi

quick=0
for arg in "$@"; do [[ $arg == --quick ]] && quick=1; done
records=$(mktemp "${TMPDIR:-/tmp}/orchestra-bench-records.XXXXXX")
trap 'rm -f "$records"' EXIT
export BENCH_RECORD=$records

started=$SECONDS
failed=()
for bench in startup overhead paging concurrency download triage prefix signals; do
	echo "== bench_$bench"
	if ! "$py" "$here/bench_$bench.py" "$@"; then
		failed+=("bench_$bench")
		echo "run_all.sh: bench_$bench.py failed" >&2
	fi
	echo
done
elapsed=$((SECONDS - started))

if ((quick == 0 && ${#failed[@]} == 0)); then
	"$py" "$here/common.py" write-results "$records" "$here/RESULTS.md" "$elapsed"
fi
verdicts=$(grep -c '"ok": true' "$records")
missed=$(grep -c '"ok": false' "$records")
echo "SUMMARY run_all: $((verdicts + missed)) targets, $verdicts met, $missed missed; ${#failed[@]} script(s) failed${failed[*]:+ (${failed[*]})}; ${elapsed} s (target < 300 s)"
((${#failed[@]} == 0))
