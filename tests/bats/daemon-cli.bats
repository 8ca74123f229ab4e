#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coro-runnerd's command line and start: --help, --version, usage errors,
# --check, start failures with a clear message; where logs go when
# JOURNAL_STREAM does not name our stderr; the descriptor limit raised at
# start, and running out of descriptors failing runs, not the daemon;
# SIGUSR1's stats line.

bats_require_minimum_version 1.5.0
load daemon-helpers

setup() {
	require_daemon
	daemon_dir "$BATS_TEST_TMPDIR/d"
	cd "$BATS_TEST_TMPDIR"
	unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID JOURNAL_STREAM
	cat > "$D_CONF" <<-'EOF'
	jobs:
	  - name: quick
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeout: 500ms
	EOF
}

teardown() {
	kill_started
}

@test "--help: usage on stdout, exit 0" {
	run --separate-stderr "$CORO_RUNNERD" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *coro-runnerd* ]]
	[[ "${output,,}" == *usage* ]]
	for opt in -c -d -s --state-dir --check --version --help; do
		[[ "$output" == *"$opt"* ]] || { echo "--help does not mention $opt"; false; }
	done
	[ -z "$stderr" ]
}

@test "--version: name and version, exit 0" {
	run --separate-stderr "$CORO_RUNNERD" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ coro-runnerd.*[0-9]+\.[0-9]+\.[0-9]+ ]]
	[ -z "$stderr" ]
}

@test "usage errors exit 2 with usage on stderr and start nothing" {
	run --separate-stderr "$CORO_RUNNERD" --bogus -c "$D_CONF" -s "$D_SOCK" --state-dir "$D_STATE"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *--bogus* ]]
	[[ "${stderr,,}" == *usage* || "$stderr" == *--help* ]]
	[ -z "$output" ]
	[ ! -e "$D_SOCK" ]

	run --separate-stderr "$CORO_RUNNERD" -c
	[ "$status" -eq 2 ]
	[ -n "$stderr" ]

	run --separate-stderr "$CORO_RUNNERD" -c "$D_CONF" stray-argument
	[ "$status" -eq 2 ]
	[ -n "$stderr" ]
}

@test "--check: a good file exits 0 and starts nothing" {
	run --separate-stderr "$CORO_RUNNERD" --check -c "$D_CONF" -d "$D_DROPIN" \
		-s "$D_SOCK" --state-dir "$D_STATE"
	[ "$status" -eq 0 ]
	[ ! -e "$D_SOCK" ]
	[ ! -e "$D_STATE/state.json" ]
}

@test "--check: the shipped example is valid" {
	run --separate-stderr "$CORO_RUNNERD" --check -c "$ROOT/packaging/jobs.yaml" \
		-d "$ROOT/packaging/jobs.d" --state-dir "$D_STATE"
	[ "$status" -eq 0 ]
}

@test "--check: a bad file exits 1 with each error as file:line:column" {
	cat > "$D_CONF" <<-'EOF'
	defaults:
	  every: 30s
	  timeot: 5s
	jobs:
	  - name: db
	    type: tpc
	EOF
	{ echo 'jobs:'; echo '  - name: x'; echo '    every: 5x'; } > "$D_DROPIN/10-x.yaml"
	run --separate-stderr "$CORO_RUNNERD" --check -c "$D_CONF" -d "$D_DROPIN" --state-dir "$D_STATE"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$D_CONF:3:3: defaults: unknown key \"timeot\" (did you mean \"timeout\"?)"* ]]
	[[ "$stderr" == *"$D_CONF:6:11: job \"db\": unknown job type \"tpc\" (did you mean \"tcp\"?)"* ]]
	[[ "$stderr" == *"$D_DROPIN/10-x.yaml:3:"* ]]
	[ ! -e "$D_SOCK" ]
}

@test "a start with a bad file fails: exit 1, the errors, nothing left" {
	printf 'jobs:\n  - name: db\n    type: tpc\n' > "$D_CONF"
	run --separate-stderr "$CORO_RUNNERD" -c "$D_CONF" -d "$D_DROPIN" -s "$D_SOCK" --state-dir "$D_STATE"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"$D_CONF:3:11: job \"db\": unknown job type \"tpc\""* ]]
	[ ! -e "$D_SOCK" ]
}

@test "a missing configuration file fails the start: exit 1, a clear message" {
	run --separate-stderr "$CORO_RUNNERD" -c "$BATS_TEST_TMPDIR/nope.yaml" -d "$D_DROPIN" \
		-s "$D_SOCK" --state-dir "$D_STATE"
	[ "$status" -eq 1 ]
	echo "$stderr"
	[[ "$stderr" == *"$BATS_TEST_TMPDIR/nope.yaml"* ]]
	[[ "$stderr" == *"No such file or directory"* ]]
	[ ! -e "$D_SOCK" ]
}

@test "a control socket in a missing directory fails the start: exit 1, a clear message" {
	run --separate-stderr "$CORO_RUNNERD" -c "$D_CONF" -d "$D_DROPIN" \
		-s "$BATS_TEST_TMPDIR/no-such-dir/control.sock" --state-dir "$D_STATE"
	[ "$status" -eq 1 ]
	echo "$stderr"
	[[ "$stderr" == *"$BATS_TEST_TMPDIR/no-such-dir/control.sock"* ]]
	[[ "$stderr" == *"No such file or directory"* ]]
}

@test "a control socket in use by a running daemon fails the second start; the first goes on" {
	daemon_start
	run --separate-stderr "$CORO_RUNNERD" -c "$D_CONF" -d "$D_DROPIN" -s "$D_SOCK" \
		--state-dir "$BATS_TEST_TMPDIR/state2"
	[ "$status" -eq 1 ]
	echo "$stderr"
	[[ "$stderr" == *"$D_SOCK"* ]]
	proc_alive "$D_PID"
	[ -S "$D_SOCK" ]
	local n
	n=$(count_log 'job quick: ok in ')
	wait_log 'job quick: ok in ' $((n + 1))
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "a stale control socket file (its daemon died) is replaced" {
	python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$D_SOCK"
	[ -S "$D_SOCK" ]
	daemon_start
	wait_log 'job quick: ok in '
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "JOURNAL_STREAM naming another file: logs go to stderr, with timestamps" {
	export JOURNAL_STREAM=1:1
	daemon_start
	wait_log 'job quick: ok in '
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	local ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{4}'
	grep -qE "^$ts coro-runnerd\\[$D_PID\\]: info: started: 1 jobs?, control socket $D_SOCK\$" "$D_LOG" ||
		{ show_log; false; }
	grep -qE "^$ts coro-runnerd\\[$D_PID\\]: [a-z]+: job quick: ok in [0-9.]+[a-z]+\$" "$D_LOG"
	grep -qE "^$ts coro-runnerd\\[$D_PID\\]: [a-z]+: stopping\$" "$D_LOG"
	grep -qE "^$ts coro-runnerd\\[$D_PID\\]: [a-z]+: stopped\$" "$D_LOG"
	# Every line of the log is such a line.
	run grep -vE "^$ts coro-runnerd\\[$D_PID\\]: (error|warning|notice|info|debug): " "$D_LOG"
	[ "$status" -eq 1 ] || { echo "lines not in the format: $output"; false; }
}

@test "SIGUSR1 logs one stats: line" {
	daemon_start
	wait_log 'job quick: ok in '
	kill -USR1 "$D_PID"
	wait_log ': stats: '
	sleep 0.5
	[ "$(count_log ': stats: ')" -eq 1 ]
	proc_alive "$D_PID"
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

# Soft and hard "Max open files" of a process.
nofile_limits() {
	awk '/^Max open files/ { print $4, $5 }' "/proc/$1/limits"
}

@test "a low soft RLIMIT_NOFILE is raised to the hard limit at start" {
	D_PREFIX=(prlimit --nofile=64:20000)
	daemon_start
	run nofile_limits "$D_PID"
	echo "soft, hard: $output"
	[ "$output" = "20000 20000" ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "out of descriptors: runs fail with 'Too many open files', the daemon lives on" {
	bg_start silent python3 "$TOOLS/tcp-listener.py"
	local port=$BG_LINE
	{
		echo 'jobs:'
		for i in $(seq 60); do
			cat <<-EOF
			  - name: t$i
			    type: tcp
			    target: 127.0.0.1:$port
			    send: "PING\\r\\n"
			    expect: "+PONG"
			    every: 1s
			    timeout: 900ms
			EOF
		done
	} > "$D_CONF"
	D_PREFIX=(sh -c 'ulimit -n 40 && exec "$@"' sh)
	daemon_start
	run nofile_limits "$D_PID"
	[ "$output" = "40 40" ]
	wait_log 'job t[0-9]+: failed in [^:]+: .*[Tt]oo many open files' 1 30
	wait_log 'job t[0-9]+: timeout in [^:]+: timeout after 900ms' 1 30
	# Still answering: signals are handled, the loop runs.
	kill -USR1 "$D_PID"
	wait_log ': stats: '
	# A reload either works or fails for want of descriptors, saying so.
	kill -HUP "$D_PID"
	wait_log ': (reloaded: 0 added, 0 changed, 0 removed|reload failed: .*)$' 1 20
	if [ "$(count_log ': reload failed: ')" -gt 0 ]; then
		wait_log "$D_CONF: .*[Tt]oo many open files"
	fi
	local n
	n=$(count_log 'job t[0-9]+: ')
	wait_log 'job t[0-9]+: ' $((n + 60)) 30
	proc_alive "$D_PID"
	daemon_stop TERM
	[ "$D_STATUS" -eq 0 ] || { show_log | tail -n 40; false; }
}

@test "-d repeats and replaces the default; <state-dir>/jobs.d is read last" {
	mkdir -p "$BATS_TEST_TMPDIR/d1" "$BATS_TEST_TMPDIR/d2" "$D_STATE/jobs.d"
	job_file() {
		printf 'jobs:\n  - name: %s\n    type: exec\n    command: [/bin/true]\n    every: 1s\n    timeout: 500ms\n' "$1"
	}
	job_file one > "$BATS_TEST_TMPDIR/d1/a.yaml"
	job_file two > "$BATS_TEST_TMPDIR/d2/a.yaml"
	job_file added > "$D_STATE/jobs.d/added.yaml"
	# Two -d: daemon_spawn's (D_DROPIN, here d1), then d2.
	D_DROPIN="$BATS_TEST_TMPDIR/d1"
	daemon_start -d "$BATS_TEST_TMPDIR/d2"
	wait_log ': started: 4 jobs, '
	wait_log 'job one: ok in '
	wait_log 'job two: ok in '
	wait_log 'job added: ok in '
	daemon_stop
	[ "$D_STATUS" -eq 0 ]

	# The same name in a drop-in and in <state-dir>/jobs.d: the error is at
	# the latter, which was read last.
	job_file one > "$D_STATE/jobs.d/added.yaml"
	run --separate-stderr "$CORO_RUNNERD" --check -c "$D_CONF" -d "$BATS_TEST_TMPDIR/d1" \
		-s "$D_SOCK" --state-dir "$D_STATE"
	[ "$status" -eq 1 ]
	echo "$stderr"
	[[ "$stderr" == *"$D_STATE/jobs.d/added.yaml:2:11: job \"one\": defined twice: here and at $BATS_TEST_TMPDIR/d1/a.yaml:2:5"* ]]
}
