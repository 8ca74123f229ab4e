#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coro-runnerd's reload (SIGHUP) and stop (SIGTERM, SIGINT): a changed file
# is applied job by job, a bad one changes nothing; a stop ends in-flight
# probes and commands within two seconds, leaves no child behind and writes
# the state file.

bats_require_minimum_version 1.5.0
load daemon-helpers

setup() {
	require_daemon
	daemon_dir "$BATS_TEST_TMPDIR/d"
	MARK=$(unique_marker)
}

teardown() {
	kill_started
	# Commands of this test's jobs that a failed stop left behind, by pid.
	local pid
	for pid in $(pids_matching "sleep $MARK"); do
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# state_runs NAME: the runs counted for a job in the state file ("none"
# if the job is not in it).
state_runs() {
	python3 - "$D_STATE/state.json" "$1" <<-'EOF'
	import json, sys
	jobs = {j["name"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
	print(jobs[sys.argv[2]]["runs"] if sys.argv[2] in jobs else "none")
	EOF
}

# exec_job NAME [COMMAND-YAML]: a job running every second.
exec_job() {
	cat <<-EOF
	  - name: $1
	    type: exec
	    command: ${2:-[/bin/true]}
	    every: 1s
	    timeout: 800ms
	EOF
}

@test "SIGHUP applies a changed file: added, changed and removed jobs" {
	{ echo 'jobs:'; exec_job keep; exec_job gone; exec_job chg; } > "$D_CONF"
	daemon_start
	wait_log 'job keep: ok in ' 2
	wait_log 'job gone: ok in ' 1
	wait_log 'job chg: ok in ' 1

	{
		echo 'jobs:'
		exec_job keep
		exec_job chg '["/bin/sh", "-c", "exit 3"]'
		exec_job new
	} > "$D_CONF"
	kill -HUP "$D_PID"
	wait_log ': reloaded: 1 added, 1 changed, 1 removed$'
	local gone keep
	gone=$(count_log 'job gone: ')
	keep=$(count_log 'job keep: ok in ')

	wait_log 'job new: ok in ' 2
	wait_log 'job chg: failed in [^:]+: exit 3$' 2
	wait_log 'job keep: ok in ' $((keep + 2))
	# The removed job logs nothing more.
	[ "$(count_log 'job gone: ')" -eq "$gone" ] || { show_log; false; }
	proc_alive "$D_PID"
	daemon_stop
	[ "$D_STATUS" -eq 0 ]

	# The unchanged job kept its counters across the reload: every run it
	# logged is counted. The changed one started over: only its new runs.
	run state_runs keep
	[ "$output" -eq "$(count_log 'job keep: (ok|failed|timeout) in ')" ]
	run state_runs chg
	[ "$output" -eq "$(count_log 'job chg: failed in [^:]+: exit 3$')" ]
	run state_runs gone
	[ "$output" = none ]
}

@test "SIGHUP with drop-in changes: a new drop-in file is read" {
	{ echo 'jobs:'; exec_job main; } > "$D_CONF"
	daemon_start
	wait_log 'job main: ok in '
	{ echo 'jobs:'; exec_job dropped; } > "$D_DROPIN/10-more.yaml"
	kill -HUP "$D_PID"
	wait_log ': reloaded: 1 added, 0 changed, 0 removed$'
	wait_log 'job dropped: ok in '
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "SIGHUP with a bad file: reload failed, each error logged, old jobs go on" {
	{ echo 'jobs:'; exec_job keep; } > "$D_CONF"
	daemon_start
	wait_log 'job keep: ok in ' 2

	cat > "$D_CONF" <<-'EOF'
	jobs:
	  - name: keep
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeout: 800ms
	  - name: new
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeot: 500ms
	  - name: other
	    type: tpc
	    every: 1s
	EOF
	kill -HUP "$D_PID"
	wait_log ': reload failed'
	# Each error on a line of its own, with file, line and column.
	wait_log "$D_CONF:11:5: job \"new\": unknown key \"timeot\" \\(did you mean \"timeout\"\\?\\)\$"
	wait_log "$D_CONF:13:11: job \"other\": unknown job type \"tpc\" \\(did you mean \"tcp\"\\?\\)\$"
	local keep
	keep=$(count_log 'job keep: ok in ')
	wait_log 'job keep: ok in ' $((keep + 2))
	[ "$(count_log 'job new: ')" -eq 0 ]
	[ "$(count_log ': reloaded: ')" -eq 0 ]

	# Fixed, the next reload applies it.
	{ echo 'jobs:'; exec_job keep; exec_job new; } > "$D_CONF"
	kill -HUP "$D_PID"
	wait_log ': reloaded: 1 added, 0 changed, 0 removed$'
	wait_log 'job new: ok in '
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "SIGHUP with a file that is gone: reload failed, old jobs go on" {
	{ echo 'jobs:'; exec_job keep; } > "$D_CONF"
	daemon_start
	wait_log 'job keep: ok in '
	mv "$D_CONF" "$D_CONF.away"
	kill -HUP "$D_PID"
	wait_log ': reload failed'
	wait_log "$D_CONF"'.*(No such file|cannot open)'
	local keep
	keep=$(count_log 'job keep: ok in ')
	wait_log 'job keep: ok in ' $((keep + 2))
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

# Jobs with a run in flight for a long time: commands (one ignores
# SIGTERM), and tcp, http and dns probes of servers that never answer.
long_jobs() {
	cat <<-EOF
	jobs:
	  - name: long
	    type: exec
	    command: ["/bin/sh", "-c", "sleep ${MARK}1 & wait"]
	    every: 10s
	    timeout: 9s
	  - name: stubborn
	    type: exec
	    command: ["/bin/sh", "-c", "trap '' TERM; sleep ${MARK}2; sleep ${MARK}3"]
	    every: 10s
	    timeout: 9s
	  - name: hang
	    type: tcp
	    target: 127.0.0.1:$SILENT_PORT
	    send: "PING\\r\\n"
	    expect: "+PONG"
	    every: 10s
	    timeout: 9s
	  - name: hang-http
	    type: http
	    url: http://127.0.0.1:$SILENT_PORT/
	    every: 10s
	    timeout: 9s
	  - name: hang-dns
	    type: dns
	    query: slow.test
	    server: 127.0.0.1:$SLOWDNS_PORT
	    every: 10s
	    timeout: 9s
	  - name: quick
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeout: 500ms
	EOF
}

@test "SIGTERM while commands and probes run: exit 0 within 2 s, no child left, state written" {
	bg_start silent python3 "$TOOLS/tcp-listener.py"
	SILENT_PORT=$BG_LINE
	bg_start slowdns python3 "$TOOLS/slow-dns.py" --delay 60
	SLOWDNS_PORT=$BG_LINE
	long_jobs > "$D_CONF"
	daemon_start
	# Both commands running (each job's first tick is within its 10 s).
	wait_for 20 pids_running "sleep ${MARK}1"
	wait_for 20 pids_running "sleep ${MARK}2"
	# The tcp and http probes connected to the listener that never answers.
	wait_for 20 lines_at_least "$BATS_TEST_TMPDIR/silent.err" 2 '^accepted '
	wait_log 'job quick: ok in '

	daemon_stop TERM
	echo "stopped in ${D_STOP_MS}ms with status $D_STATUS"
	[ "$D_STATUS" -eq 0 ] || { show_log; false; }
	[ "$D_STOP_MS" -le 2000 ] || { show_log; false; }
	grep -qE ': stopping$' "$D_LOG"
	grep -qE ': stopped$' "$D_LOG"
	# The commands went with it (their grandchildren too).
	wait_for 2 no_process_matching "sleep $MARK" || {
		ps -o pid,ppid,pgid,stat,args -p "$(pids_matching "sleep $MARK" | paste -sd,)"
		false
	}
	# The state file: JSON, with the jobs in it.
	[ -s "$D_STATE/state.json" ]
	python3 -m json.tool "$D_STATE/state.json" > /dev/null
	grep -q '"quick"' "$D_STATE/state.json"
	[ ! -e "$D_SOCK" ] || { echo "control socket left behind"; false; }
}

@test "SIGINT stops too, with exit 0" {
	{ echo 'jobs:'; exec_job quick; } > "$D_CONF"
	daemon_start
	wait_log 'job quick: ok in '
	daemon_stop INT
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -le 2000 ]
	[ -s "$D_STATE/state.json" ]
}

@test "SIGTERM right after start, before any run: exit 0, state written" {
	{ echo 'jobs:'; exec_job quick; } > "$D_CONF"
	daemon_start
	daemon_stop TERM
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -le 2000 ]
	[ -s "$D_STATE/state.json" ]
	python3 -m json.tool "$D_STATE/state.json" > /dev/null
}
