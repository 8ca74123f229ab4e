#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coro-runnerd and systemd's notification protocol, read from a real
# NOTIFY_SOCKET: a Unix datagram socket the test binds (tools/notify-listen.py
# writes each message as a line: time, sender pid, then its fields, tabs
# between). READY=1 with STATUS=, RELOADING=1 + MONOTONIC_USEC= and READY=1
# around a reload, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1.

bats_require_minimum_version 1.5.0
load daemon-helpers

setup() {
	require_daemon
	daemon_dir "$BATS_TEST_TMPDIR/d"
	NOTES="$BATS_TEST_TMPDIR/notify.log"
	bg_start notify python3 "$TOOLS/notify-listen.py" "$BATS_TEST_TMPDIR/notify.sock" "$NOTES"
	export NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock"
	unset WATCHDOG_USEC WATCHDOG_PID
	cat > "$D_CONF" <<-'EOF'
	jobs:
	  - name: good
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeout: 500ms
	  - name: bad
	    type: exec
	    command: ["/bin/sh", "-c", "exit 1"]
	    every: 1s
	    timeout: 500ms
	EOF
}

teardown() {
	kill_started
}

# Messages of the daemon holding FIELD (exact "NAME=value" or a regex of one field).
notes_with() {
	grep -P -- "\\t$1(\\t|\$)" "$NOTES" 2>/dev/null || true
}

count_notes() {
	local n
	n=$(grep -cP -- "\\t$1(\\t|\$)" "$NOTES" 2>/dev/null) || n=0
	echo "$n"
}

# wait_note FIELD [COUNT] [SECONDS]
wait_note() {
	local want="${2:-1}" secs="${3:-30}"
	local deadline=$(($(now_ms) + secs * 1000))
	until [ "$(count_notes "$1")" -ge "$want" ]; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "wait_note: $(count_notes "$1") of $want messages with $1 after ${secs}s" >&2
			echo "--- notifications ---" >&2
			cat "$NOTES" >&2
			show_log >&2
			return 1
		fi
		sleep 0.05
	done
}

# The line number of the first message with FIELD after line AFTER (0).
note_line() {
	grep -nP -- "\\t$1(\\t|\$)" "$NOTES" | awk -F: -v a="${2:-0}" '$1 > a { print $1; exit }'
}

@test "READY=1 with STATUS= once loaded and listening, from the daemon itself" {
	daemon_start
	wait_note 'READY=1'
	local ready
	ready=$(notes_with 'READY=1' | head -n 1)
	echo "$ready"
	[[ "$ready" == *$'\t'"pid=$D_PID"$'\t'* ]]
	[[ "$ready" =~ $'\t'STATUS=2\ jobs,\ [0-9]+\ failing($'\t'|$) ]]
	# Listening by then: the control socket is there.
	[ -S "$D_SOCK" ]
	[ "$(count_notes 'READY=1')" -eq 1 ]
	# The failing job shows in a later STATUS= (sent when counts change, or at a reload).
	wait_log 'job bad: failed in '
	kill -HUP "$D_PID"
	wait_note 'STATUS=2 jobs, 1 failing' 1 20
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 and STATUS=" {
	daemon_start
	wait_note 'READY=1'
	sleep 0.2 # let READY=1 and SIGHUP's RELOADING=1 be apart in the listener's clock
	kill -HUP "$D_PID"
	wait_log ': reloaded: 0 added, 0 changed, 0 removed$'
	wait_note 'READY=1' 2
	cat "$NOTES"
	local rl ready2 line now_us usec
	rl=$(note_line 'RELOADING=1')
	[ -n "$rl" ]
	line=$(sed -n "${rl}p" "$NOTES")
	[[ "$line" == *$'\t'"pid=$D_PID"$'\t'* ]]
	[[ "$line" =~ $'\t'MONOTONIC_USEC=([0-9]+)($'\t'|$) ]]
	usec=${BASH_REMATCH[1]}
	# MONOTONIC_USEC is CLOCK_MONOTONIC at the reload: the listener's clock
	# when it read the message, give or take a loaded machine's seconds.
	now_us=$(awk '{ printf "%.0f", $1 * 1000000 }' <<< "$line")
	echo "MONOTONIC_USEC=$usec, received at $now_us"
	[ $((now_us - usec)) -ge -1000000 ]
	[ $((now_us - usec)) -le 5000000 ]
	# READY=1 (with STATUS=) after it.
	ready2=$(note_line 'READY=1' "$rl")
	[ -n "$ready2" ]
	sed -n "${ready2}p" "$NOTES" | grep -qP '\tSTATUS=2 jobs, [0-9]+ failing(\t|$)'
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "SIGHUP with a bad file: READY=1 again, STATUS= says reload failed" {
	daemon_start
	wait_note 'READY=1'
	echo 'jobs: [' > "$D_CONF"
	kill -HUP "$D_PID"
	wait_log ': reload failed'
	wait_note 'READY=1' 2
	wait_note 'STATUS=reload failed:.*'
	local rl
	rl=$(note_line 'RELOADING=1')
	[ -n "$rl" ]
	[ -n "$(note_line 'STATUS=reload failed:.*' "$rl")" ]
	[ -n "$(note_line 'READY=1' "$rl")" ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

# The median gap in ms between the daemon's WATCHDOG=1 messages.
watchdog_median_gap() {
	notes_with 'WATCHDOG=1' | awk 'NR > 1 { printf "%d\n", ($1 - t) * 1000 } { t = $1 }' |
		sort -n | awk '{ g[NR] = $1 } END { print g[int((NR + 1) / 2)] }'
}

@test "WATCHDOG_USEC=200000 and WATCHDOG_PID=the daemon: WATCHDOG=1 about every 100 ms" {
	export WATCHDOG_USEC=200000
	D_PREFIX=(sh -c 'export WATCHDOG_PID=$$; exec "$@"' sh)
	daemon_start
	wait_note 'READY=1'
	wait_note 'WATCHDOG=1' 15 30
	local gap
	gap=$(watchdog_median_gap)
	echo "median gap between WATCHDOG=1: ${gap}ms"
	[ "$gap" -ge 50 ]
	[ "$gap" -le 160 ]
	# All from the daemon.
	[ "$(notes_with 'WATCHDOG=1' | grep -vc "pid=$D_PID")" -eq 0 ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "WATCHDOG_USEC=200000 without WATCHDOG_PID: the watchdog is on too" {
	export WATCHDOG_USEC=200000
	daemon_start
	wait_note 'WATCHDOG=1' 10 30
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "WATCHDOG_PID of another process, or no WATCHDOG_USEC: no WATCHDOG=1" {
	# A start, READY=1 and two runs, and not one WATCHDOG=1 meanwhile.
	no_watchdog() {
		daemon_start
		wait_note 'READY=1'
		wait_log 'job good: ok in ' 2
		[ "$(count_notes 'WATCHDOG=1')" -eq 0 ]
		daemon_stop
		[ "$D_STATUS" -eq 0 ]
	}
	export WATCHDOG_USEC=200000 WATCHDOG_PID=1
	no_watchdog
	unset WATCHDOG_USEC WATCHDOG_PID
	: > "$NOTES"
	no_watchdog
}

@test "SIGTERM: STOPPING=1 after READY=1" {
	daemon_start
	wait_note 'READY=1'
	daemon_stop TERM
	[ "$D_STATUS" -eq 0 ]
	wait_note 'STOPPING=1' 1 5
	local ready stopping
	ready=$(note_line 'READY=1')
	stopping=$(note_line 'STOPPING=1')
	[ "$stopping" -gt "$ready" ]
	notes_with 'STOPPING=1' | grep -q "pid=$D_PID"
}

@test "without NOTIFY_SOCKET the daemon runs as well" {
	unset NOTIFY_SOCKET
	daemon_start
	wait_log 'job good: ok in '
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ ! -s "$NOTES" ]
}
