#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coro-runnerd's schedule, seen from the commands it runs: a job with
# `every: 1s` runs about once a second, and a job whose runs take longer
# than `every` never overlaps itself and skips the ticks it missed instead
# of running them in a burst afterwards.

bats_require_minimum_version 1.5.0
load daemon-helpers

setup() {
	require_daemon
	daemon_dir "$BATS_TEST_TMPDIR/d"
}

teardown() {
	kill_started
}

# The integer ms timestamps of the lines of FILE that start with WORD
# ("WORD <ns since the epoch>").
stamps_ms() {
	awk -v w="$2" '$1 == w { print substr($2, 1, length($2) - 6) }' "$1"
}

@test "every: 1s runs about once a second" {
	cat > "$D_CONF" <<-EOF
	jobs:
	  - name: tick
	    type: exec
	    command: ["/bin/sh", "-c", "echo start \$(date +%s%N) >> $D_DIR/ticks"]
	    every: 1s
	    jitter: 0s
	    timeout: 800ms
	  - name: off
	    type: exec
	    command: ["/bin/sh", "-c", "echo off >> $D_DIR/ticks"]
	    every: 1s
	    enabled: false
	EOF
	daemon_start
	wait_for 30 lines_at_least "$D_DIR/ticks" 7
	wait_log 'job tick: ok in ' 6
	# A disabled job never runs.
	[ "$(count_log 'job off: ')" -eq 0 ]
	! grep -q off "$D_DIR/ticks" || false
	mapfile -t t < <(stamps_ms "$D_DIR/ticks" start)
	local n=${#t[@]} i gap
	# Each gap about a second: never two runs in one tick, at most one tick missed.
	for ((i = 1; i < n; i++)); do
		gap=$((t[i] - t[i - 1]))
		echo "gap $i: ${gap}ms"
		[ "$gap" -ge 600 ]
		[ "$gap" -le 2500 ]
	done
	# On average one a second.
	local mean=$(((t[n - 1] - t[0]) / (n - 1)))
	echo "mean gap: ${mean}ms over $n runs"
	[ "$mean" -ge 900 ]
	[ "$mean" -le 1400 ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
}

@test "a job whose runs outlast every: 1s never overlaps and skips missed ticks" {
	# Each run: an attempt of 0.5 s that fails, 300 ms, a retry of 0.5 s:
	# about 1.3 s, so every other tick has passed when a run ends.
	cat > "$D_CONF" <<-EOF
	jobs:
	  - name: slow
	    type: exec
	    command: ["/bin/sh", "-c", "echo start \$(date +%s%N) >> $D_DIR/runs; sleep 0.5; echo end \$(date +%s%N) >> $D_DIR/runs; exit 1"]
	    every: 1s
	    jitter: 0s
	    timeout: 900ms
	    retries: 1
	    retry_delay: 300ms
	EOF
	daemon_start
	# Four runs of two attempts each.
	wait_for 40 lines_at_least "$D_DIR/runs" 8 '^end' 
	wait_log 'job slow: failed in [^:]+: exit 1$' 4
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	cat "$D_DIR/runs"

	# Never two attempts at once: start and end alternate.
	run awk 'NR % 2 == 1 && $1 != "start" { bad = 1 } NR % 2 == 0 && $1 != "end" { bad = 1 }
		END { exit bad }' "$D_DIR/runs"
	[ "$status" -eq 0 ]

	# Runs start at odd attempts. A queued tick would start the next run as
	# soon as one ends (about 1.3 s after it started); a skipped one waits
	# for the tick after (2 s after).
	mapfile -t s < <(stamps_ms "$D_DIR/runs" start)
	local i gap
	for ((i = 2; i + 1 < ${#s[@]}; i += 2)); do
		gap=$((s[i] - s[i - 2]))
		echo "run $((i / 2)): started ${gap}ms after the previous one"
		[ "$gap" -ge 1700 ]
	done
	# A run is one attempt and its retry, 300 ms apart or more.
	for ((i = 1; i < ${#s[@]}; i += 2)); do
		[ $((s[i] - s[i - 1])) -ge 750 ]
	done
	# The daemon counted the ticks it skipped (state file).
	run python3 -c 'import json, sys
jobs = {j["name"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
print(jobs["slow"]["skipped"], jobs["slow"]["runs"], jobs["slow"]["attempts"])' "$D_STATE/state.json"
	echo "skipped, runs, attempts: $output"
	read -r skipped runs attempts <<< "$output"
	[ "$skipped" -ge 2 ]
	[ "$attempts" -eq $((2 * runs)) ]
}

@test "jobs of the same interval do not all fire at once" {
	{
		echo 'jobs:'
		for i in $(seq 20); do
			cat <<-EOF
			  - name: spread-$i
			    type: exec
			    command: ["/bin/sh", "-c", "echo \$(date +%s%N) >> $D_DIR/spread"]
			    every: 2s
			    jitter: 0s
			    timeout: 1s
			EOF
		done
	} > "$D_CONF"
	daemon_start
	wait_for 30 lines_at_least "$D_DIR/spread" 20
	daemon_stop
	# Stable per-name offsets within the 2 s interval: 20 names hashed into
	# 2000 ms do not all land within the same 200 ms.
	mapfile -t t < <(head -n 20 "$D_DIR/spread" | sort -n | awk '{ print substr($1, 1, length($1) - 6) }')
	local span=$((t[19] - t[0]))
	echo "20 first runs spread over ${span}ms"
	[ "$span" -ge 200 ]
}

# The phase (ms within the 2 s interval) of each run in FILE from line FROM.
phases() {
	tail -n +"$2" "$1" | awk '{ print substr($1, 1, length($1) - 6) % 2000 }'
}

# The distance between two phases on the 2000 ms circle.
phase_distance() {
	local d=$((($1 - $2 + 4000) % 2000))
	echo $((d > 1000 ? 2000 - d : d))
}

@test "a job's phase within its interval is stable across restarts" {
	cat > "$D_CONF" <<-EOF
	jobs:
	  - name: phase-probe-job
	    type: exec
	    command: ["/bin/sh", "-c", "echo \$(date +%s%N) >> $D_DIR/phase"]
	    every: 2s
	    jitter: 0s
	    timeout: 1s
	EOF
	daemon_start
	wait_for 30 lines_at_least "$D_DIR/phase" 2
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	local first
	first=$(wc -l < "$D_DIR/phase")
	daemon_start
	wait_for 30 lines_at_least "$D_DIR/phase" $((first + 2))
	daemon_stop
	[ "$D_STATUS" -eq 0 ]

	mapfile -t p < <(phases "$D_DIR/phase" 1)
	echo "phases (ms within 2 s): ${p[*]}"
	local i
	for ((i = 1; i < ${#p[@]}; i++)); do
		[ "$(phase_distance "${p[i]}" "${p[0]}")" -le 250 ]
	done
}
