# SPDX-License-Identifier: MIT
# history-helpers.bash: what history.bats and web.bats share (issue 15):
# the daemon's history database read with the sqlite3 command, coctl's
# JSON read with Python, and headless chromium run within a time limit.
# Load it after daemon-helpers.
#
#   require_sqlite3, require_chromium   fail (setup) without the tool
#   hdb                       the database of this daemon (D_STATE/history.db)
#   sq [DB] SQL               one query with sqlite3 (DB default: hdb)
#   history_stat FIELD        a member of coctl stats -o json's "history"
#   json_get EXPR             EXPR (Python, on `v`, the JSON on stdin) printed
#   wait_written N [S]        until the history has written N results
#   chromium_run NAME ARG...  headless chromium (its own profile, at most
#                             60 s); stdout in $BATS_TEST_TMPDIR/NAME.out,
#                             stderr (its log) in NAME.err
#   console_messages NAME     the lines of that log that are the page's
#                             console (console.log, errors, CSP reports)
#   artifacts_dir             where screenshots are kept: $ARTIFACTS_DIR or
#                             $BATS_RUN_TMPDIR/artifacts

HQ="$TOOLS/html-query.py"

require_sqlite3() {
	command -v sqlite3 > /dev/null || {
		echo "needs the sqlite3 command: apt-get install sqlite3 (make deps)" >&2
		return 1
	}
}

require_chromium() {
	command -v chromium > /dev/null || {
		echo "needs Debian's chromium: apt-get install chromium (make deps)" >&2
		return 1
	}
}

hdb() {
	echo "$D_STATE/history.db"
}

# sq [DB] SQL: sqlite3 in batch mode; DB is the daemon's database unless given.
sq() {
	local db
	if [ $# -ge 2 ]; then
		db="$1"
		shift
	else
		db="$(hdb)"
	fi
	sqlite3 -batch -noheader "$db" "$1"
}

# json_get EXPR: the JSON on stdin as v; prints EXPR (a bool as true/false).
json_get() {
	python3 -c '
import json, sys
v = json.load(sys.stdin)
r = eval(sys.argv[1])
print(("true" if r else "false") if isinstance(r, bool) else ("null" if r is None else r))
' "$1"
}

history_stat() {
	"$COCTL" -s "$D_SOCK" stats -o json | json_get "v['history']['$1']"
}

written_at_least() {
	[ "$(history_stat written)" -ge "$1" ]
}

wait_written() {
	wait_for "${2:-30}" written_at_least "$1"
}

# chromium_run NAME ARG...: chromium --headless with ARG..., in a session of
# its own (its helpers with it), ended with them if it outlasts 60 s (an
# alert() on a page would hold --dump-dom forever). Fails if it did not end
# by itself or failed.
chromium_run() {
	local name="$1" pid status=0 deadline
	shift
	local out="$BATS_TEST_TMPDIR/$name.out" err="$BATS_TEST_TMPDIR/$name.err"
	setsid chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--no-default-browser-check --disable-extensions --disable-sync \
		--user-data-dir="$BATS_TEST_TMPDIR/chromium-$name" \
		--enable-logging=stderr --v=0 "$@" > "$out" 2> "$err" < /dev/null &
	pid=$!
	remember_pid "$pid"
	deadline=$(($(now_ms) + 60000))
	while proc_alive "$pid"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "chromium_run: chromium $* still running after 60 s (a dialog, such as an" \
				"alert(), holds it): ended" >&2
			kill -KILL -- "-$pid" 2> /dev/null || true
			wait "$pid" 2> /dev/null || true
			return 1
		fi
		sleep 0.1
	done
	wait "$pid" || status=$?
	if [ "$status" -ne 0 ]; then
		echo "chromium_run: chromium $* exited with $status:" >&2
		tail -n 20 "$err" >&2
		return 1
	fi
	# Its helpers end with it; any left over goes with its session.
	kill -KILL -- "-$pid" 2> /dev/null || true
}

# The page's console in chromium's log: console.log and errors (INFO:CONSOLE,
# ERROR:CONSOLE), Content-Security-Policy refusals, uncaught exceptions.
console_messages() {
	grep -E ':CONSOLE[(:]|Content Security Policy|Uncaught|alert' \
		"$BATS_TEST_TMPDIR/$1.err" || true
}

artifacts_dir() {
	local d="${ARTIFACTS_DIR:-$BATS_RUN_TMPDIR/artifacts}"
	mkdir -p "$d"
	echo "$d"
}

# png_size FILE: "WIDTHxHEIGHT" of a PNG file (from its IHDR chunk).
png_size() {
	python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read(24)
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
w, h = struct.unpack(">II", b[16:24])
print("%dx%d" % (w, h))
' "$1"
}

# not CMD...: CMD fails. (A bare `! CMD` in a test never fails it: bash's
# errexit ignores a negated command, so bats goes on whatever CMD did.)
not() {
	if "$@"; then
		echo "not: '$*' succeeded" >&2
		return 1
	fi
}
