#!/usr/bin/env bash
# launch-orchestra-mcp.sh: start the Orchestra MCP server (orchestra_mcp.py) for Claude Code.
#
#   ./launch-orchestra-mcp.sh [--selftest | --check | --demo | --version]   (arguments go to the server)
#
# 1. Stdout is the MCP channel: this script moves its own stdout to stderr at once and hands the
#    original back to the server only, in the final exec. The loader and `op` never write there.
# 2. Python >= 3.10: ORCHESTRA_MCP_PYTHON, else .venv/bin/python next to this script, else python3.12,
#    else python3. An older interpreter is refused. The server runs as `import orchestra_mcp` from
#    this directory (cached bytecode, so it starts faster than `python orchestra_mcp.py`).
# 3. The API key, first found wins:
#    a. ORCHESTRA_API_KEY, unless empty or an unexpanded ${...} placeholder; an op://vault/item/field
#       value is a 1Password reference and is read with `op read`;
#    b. the team's loader, $HOME/dotfiles/load-secrets-from-1password.sh (ORCHESTRA_SECRETS_LOADER
#       overrides the path; empty disables it), sourced in a child bash that reports ORCHESTRA_API_KEY
#       (stdin closed; its stdout discarded; its stderr shown with the key masked);
#    c. op read "op://${ORCHESTRA_OP_VAULT:-GRC}/${ORCHESTRA_OP_ITEM:-DA Agent Hub - Orchestra}/${ORCHESTRA_OP_FIELD:-credential}".
#    Each `op` call gets ORCHESTRA_OP_TIMEOUT_S seconds (default 10: op may wait on a desktop or
#    biometric prompt), the loader ORCHESTRA_LOADER_TIMEOUT_S (default 15).
#    Without a key the server still starts and reports the missing key on each tool call.
#    Offline modes skip all of this and start the server without any key: the first argument is
#    --selftest, --demo (with whatever follows it, e.g. --demo --call TOOL '{...}'),
#    --help, -h or --version. Serving, --check and --call need the key.
# 4. The key reaches the server through its environment only: never in argv, never printed, and
#    this script never enables xtrace.
set -euo pipefail
set +x # an inherited SHELLOPTS=xtrace or `bash -x` would print the key: switch it off first

exec 3>&1 1>&2 # fd 3 = the MCP channel, kept for the server; our stdout now goes to stderr

say() { printf 'orchestra-mcp launcher: %s\n' "$*" >&2; }

# Claude Code may pass an unset ${VAR} through literally: such a value means "not configured".
is_placeholder() { [[ $1 == \$\{*\} ]]; }

seconds_or_default() { # a positive number of seconds from $1, else $2
	if [[ $1 =~ ^[0-9]+([.][0-9]+)?$ && ! $1 =~ ^0+([.]0*)?$ ]]; then printf %s "$1"; else printf %s "$2"; fi
}

####################################################################################################
# Where this script really lives (through symlinks, without GNU readlink -f: macOS has none)
####################################################################################################

resolve_script_dir() {
	local src=$1 dir
	while [[ -L $src ]]; do
		dir=$(CDPATH='' cd -P -- "$(dirname -- "$src")" && pwd)
		src=$(readlink -- "$src")
		[[ $src == /* ]] || src=$dir/$src
	done
	CDPATH='' cd -P -- "$(dirname -- "$src")" && pwd
}

here=$(resolve_script_dir "${BASH_SOURCE[0]}")
server=$here/orchestra_mcp.py
if [[ ! -f $server ]]; then
	say "orchestra_mcp.py is missing next to this script (looked in $here); reinstall or update the checkout."
	exit 1
fi

####################################################################################################
# Time limits: timeout(1), gtimeout (macOS coreutils) or a bash watcher
####################################################################################################

op_timeout_s=$(seconds_or_default "${ORCHESTRA_OP_TIMEOUT_S:-}" 10)
loader_timeout_s=$(seconds_or_default "${ORCHESTRA_LOADER_TIMEOUT_S:-}" 15)

run_limited_in_bash() ( # like timeout(1): the command's status, or 124 when it was stopped
	local secs=$1 pid watcher rc=0
	shift
	set -m # the job gets its own process group, so a timeout stops the command and its children
	"$@" &
	pid=$!
	set +m
	(
		trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		sleeper=$!
		wait "$sleeper"
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	) >/dev/null 2>&1 &
	watcher=$!
	wait "$pid" || rc=$?
	kill "$watcher" 2>/dev/null || true
	if ((rc == 143)); then rc=124; fi
	exit "$rc"
)

run_limited() { # run_limited SECONDS COMMAND...
	local secs=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		timeout "$secs" "$@"
	elif command -v gtimeout >/dev/null 2>&1; then
		gtimeout "$secs" "$@"
	else
		run_limited_in_bash "$secs" "$@"
	fi
}

####################################################################################################
# Interpreter
####################################################################################################

# Prints the interpreter's version; succeeds only for 3.10+. Python 2 can run this line too.
python_version() {
	"$1" -c 'import sys; print(".".join(map(str, sys.version_info[:3]))); sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
		</dev/null 2>/dev/null 3>&-
}

pick_python() {
	local cand version tried=''
	if [[ -n ${ORCHESTRA_MCP_PYTHON:-} ]] && ! is_placeholder "$ORCHESTRA_MCP_PYTHON"; then
		cand=$ORCHESTRA_MCP_PYTHON
		if version=$(python_version "$cand"); then
			printf %s "$cand"
			return 0
		elif [[ -n $version ]]; then
			say "ORCHESTRA_MCP_PYTHON=$cand is Python $version; orchestra-mcp needs Python 3.10 or newer. Point ORCHESTRA_MCP_PYTHON at a newer interpreter."
		else
			say "ORCHESTRA_MCP_PYTHON=$cand does not run; point it at a Python 3.10+ interpreter."
		fi
		return 1
	fi
	for cand in "$here/.venv/bin/python" python3.12 python3; do
		if [[ $cand == */* && ! -x $cand ]]; then continue; fi
		if [[ $cand != */* ]] && ! command -v "$cand" >/dev/null 2>&1; then continue; fi
		if version=$(python_version "$cand"); then
			printf %s "$cand"
			return 0
		fi
		# pyenv shims exist for versions that are not active: they fail, and we move on.
		tried="$tried $cand (${version:-does not run})"
	done
	say "no Python 3.10 or newer found (tried:${tried:- nothing on PATH}); orchestra-mcp needs Python 3.10+. Create $here/.venv with python3.12 -m venv, or set ORCHESTRA_MCP_PYTHON."
	return 1
}

py=$(pick_python) || exit 1

####################################################################################################
# The API key
####################################################################################################

tried=''    # what we looked at, for the final message
op_state='' # why op could not help: missing, signed-out, no-item, timeout, failed
key=''

note_tried() { tried="$tried${tried:+; }$*"; }

first_line() { # the first line of $1, printable characters only, at most 300 of them
	local line=${1%%$'\n'*}
	line=${line//[^[:print:]]/?}
	printf %s "${line:0:300}"
}

# op_read REF: sets `key` from `op read REF`; on failure sets op_state and says why on stderr.
# op's stdout is the secret: it is captured, never shown. Only op's stderr is ever quoted.
op_read() {
	local ref=$1 out rc=0 errfile err
	if ! command -v op >/dev/null 2>&1; then
		op_state=missing
		say "the 1Password CLI (op) is not installed or not on PATH, so $ref cannot be read. Install it, or set ORCHESTRA_API_KEY."
		return 1
	fi
	errfile=$(mktemp "${TMPDIR:-/tmp}/orchestra-mcp-op.XXXXXX")
	out=$(run_limited "$op_timeout_s" op read "$ref" </dev/null 2>"$errfile" 3>&-) || rc=$?
	err=$(<"$errfile") || true
	rm -f -- "$errfile"
	if ((rc == 0)); then
		out=${out%$'\r'}
		if [[ -n $out ]]; then
			key=$out
			return 0
		fi
		op_state=failed
		say "op read $ref returned an empty value; check the field name (ORCHESTRA_OP_FIELD)."
		return 1
	fi
	shopt -s nocasematch
	if ((rc == 124 || rc == 143 || rc == 137)); then # 124: timeout(1); 143/137: stopped by a signal
		op_state=timeout
		say "op read $ref gave no answer within ${op_timeout_s}s (1Password may be waiting for an unlock or a biometric prompt): unlock 1Password or run 'op signin', then restart the server."
	elif [[ $err == *"not signed in"* || $err == *"sign in"* || $err == *signin* || $err == *"no accounts"* || $err == *"not currently signed"* ]]; then
		op_state=signed-out
		say "the 1Password CLI is not signed in, so $ref cannot be read: run 'op signin' (or unlock the 1Password app with CLI integration on), then restart the server."
	elif [[ $err == *"isn't an item"* || $err == *"isn't a vault"* || $err == *"not found"* || $err == *"no item"* || $err == *"isn't a field"* || $err == *"does not have a field"* ]]; then
		op_state=no-item
		say "1Password has no $ref: check the item name, or set ORCHESTRA_OP_VAULT, ORCHESTRA_OP_ITEM and ORCHESTRA_OP_FIELD to the item holding the key (op said: $(first_line "$err"))."
	else
		op_state=failed
		say "op read $ref failed with status $rc (op said: $(first_line "$err"))."
	fi
	shopt -u nocasematch
	return 1
}

# accept VALUE ORIGIN: sets `key` from a candidate value; resolves op:// references.
accept() {
	local value=$1 origin=$2
	if [[ -z $value ]]; then
		note_tried "$origin (empty)"
		return 1
	elif is_placeholder "$value"; then
		say "$origin is the unexpanded placeholder $value: treated as not set."
		note_tried "$origin (unexpanded placeholder)"
		return 1
	elif [[ $value == op://* ]]; then
		if op_read "$value"; then return 0; fi
		note_tried "$origin = $value (op: $op_state)"
		return 1
	fi
	key=$value
}

# load_from_loader PATH: sources the loader in a child bash (set +u, stdin closed, time-limited) and
# sets `key` from the ORCHESTRA_API_KEY it leaves behind. The loader's stdout is thrown away (a
# loader meant for eval prints `export KEY=...` there); its stderr is shown with the key masked.
load_from_loader() {
	local loader=$1 out rc=0 marker=$'\036orchestra-mcp-key\036' said value
	# shellcheck disable=SC2016 # the single-quoted script is expanded by the child bash
	out=$(run_limited "$loader_timeout_s" "$BASH" -c 'set +x; unset ORCHESTRA_API_KEY
		__orchestra_mcp_loader=$1 __orchestra_mcp_marker=$2; set --; set +u
		. "$__orchestra_mcp_loader" 2>&1 >/dev/null || exit $?
		printf "%s%s" "$__orchestra_mcp_marker" "${ORCHESTRA_API_KEY-}"' orchestra-mcp-loader "$loader" "$marker" </dev/null 3>&-) || rc=$?
	said=${out%%"$marker"*}
	value=''
	if ((rc == 0)) && [[ $out == *"$marker"* ]]; then value=${out#*"$marker"}; fi
	if [[ -n $value ]]; then said=${said//"$value"/[redacted]}; fi
	said=${said%$'\n'}
	if [[ -n $said ]]; then printf 'orchestra-mcp launcher: loader said: %s\n' "$said" >&2; fi
	if ((rc == 124)); then
		say "the secrets loader $loader did not finish within ${loader_timeout_s}s; skipped."
		note_tried "loader $loader (timed out)"
		return 1
	elif ((rc != 0)); then
		say "the secrets loader $loader failed (status $rc; an unset variable under set -u does this too); skipped."
		note_tried "loader $loader (failed, status $rc)"
		return 1
	elif [[ $out != *"$marker"* ]]; then
		say "the secrets loader $loader exited before ORCHESTRA_API_KEY could be read (it calls exit); skipped."
		note_tried "loader $loader (exited early)"
		return 1
	fi
	accept "$value" "ORCHESTRA_API_KEY from the loader $loader"
}

find_key() {
	local loader ref
	if [[ -n ${ORCHESTRA_API_KEY+set} ]]; then
		if accept "$ORCHESTRA_API_KEY" ORCHESTRA_API_KEY; then return 0; fi
	else
		note_tried 'ORCHESTRA_API_KEY (not set)'
	fi

	loader=${ORCHESTRA_SECRETS_LOADER-${HOME:-}/dotfiles/load-secrets-from-1password.sh}
	if is_placeholder "$loader"; then loader=${HOME:-}/dotfiles/load-secrets-from-1password.sh; fi
	if [[ -z $loader ]]; then
		note_tried 'loader (disabled: ORCHESTRA_SECRETS_LOADER is empty)'
	elif [[ ! -f $loader ]]; then
		if [[ -n ${ORCHESTRA_SECRETS_LOADER:-} ]]; then say "ORCHESTRA_SECRETS_LOADER=$loader does not exist; skipped."; fi
		note_tried "loader $loader (not found)"
	elif load_from_loader "$loader"; then
		return 0
	fi

	ref="op://${ORCHESTRA_OP_VAULT:-GRC}/${ORCHESTRA_OP_ITEM:-DA Agent Hub - Orchestra}/${ORCHESTRA_OP_FIELD:-credential}"
	case $op_state in
	missing | signed-out | timeout) # it would fail the same way again, and time is short at start-up
		note_tried "op read $ref (skipped: op $op_state)"
		return 1
		;;
	esac
	if op_read "$ref"; then return 0; fi
	note_tried "op read $ref (op: $op_state)"
	return 1
}

# The server picks its mode from its first argument alone, and so does this: `--demo --call T '{...}'`
# stays offline, while `--check --help` still checks a real key (later arguments belong to the mode).
needs_key=1
case ${1-} in
--selftest | --demo | --help | -h | --version) needs_key=0 ;;
esac

if ((needs_key)); then
	if find_key; then
		key=${key%$'\r'}
		export ORCHESTRA_API_KEY="$key"
	else
		unset ORCHESTRA_API_KEY
		fix="run 'op signin' (or unlock the 1Password app), or set ORCHESTRA_API_KEY"
		if [[ $op_state == no-item ]]; then
			fix="check the 1Password item name (ORCHESTRA_OP_VAULT, ORCHESTRA_OP_ITEM, ORCHESTRA_OP_FIELD), or set ORCHESTRA_API_KEY"
		elif [[ $op_state == missing ]]; then
			fix="install the 1Password CLI and run 'op signin', or set ORCHESTRA_API_KEY"
		fi
		say "no Orchestra API key found (tried: $tried). To fix: $fix, then restart the server (in Claude Code: /mcp). Starting the server anyway; each tool call will report the missing key."
	fi
else
	# An offline mode never uses the key: keep a real one (or an op:// reference the server would
	# warn about) out of its environment.
	unset ORCHESTRA_API_KEY
fi
key=''

# Run the checkout's module through `import` rather than as a script: Python then uses its cached
# bytecode (__pycache__) instead of recompiling the module on every start (~150 ms). sys.path[0] is
# set to this directory first, so a json.py or queue.py in the caller's directory cannot shadow
# the standard library.
exec "$py" -c 'import sys; sys.path[0] = sys.argv.pop(1); import orchestra_mcp; sys.exit(orchestra_mcp.main())' \
	"$here" "$@" 1>&3 3>&-
