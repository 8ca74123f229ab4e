#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The README's run command: coro-runnerd on the example configuration of
# packaging/ (what `make run` starts) runs every job green on a machine
# with no network, and stops cleanly, keeping its state.

bats_require_minimum_version 1.5.0

load daemon-helpers

setup_file() {
	require_daemon
	require_coctl
}

setup() {
	daemon_dir "$BATS_TEST_TMPDIR/d"
	# The example's jobs and drop-in directory, as `make run` gives them,
	# with the metrics (which the http and tcp jobs probe) on a free port,
	# so that another daemon on 9464 can neither break nor fake the test.
	port=$(free_port)
	sed "s/127\.0\.0\.1:9464/127.0.0.1:$port/g" "$ROOT/packaging/jobs.yaml" > "$D_CONF"
	for f in "$ROOT/packaging/jobs.d/"*.yaml; do
		sed "s/127\.0\.0\.1:9464/127.0.0.1:$port/g" "$f" > "$D_DROPIN/${f##*/}"
	done
	[ "$(grep -c ":$port" "$D_CONF")" -ge 4 ]
}

teardown() {
	kill_started
}

@test "make run's command line is the one tested here" {
	run grep -A3 '^run: ' "$ROOT/Makefile"
	[[ "$output" == *'$(COROD) -c packaging/jobs.yaml -d packaging/jobs.d -s $(RUN_DIR)/control.sock'* ]]
	[[ "$output" == *'--state-dir $(RUN_DIR)/state'* ]]
	run grep -c '127.0.0.1:9464' "$ROOT/packaging/jobs.yaml"
	[ "$output" -ge 4 ]
}

@test "the example configuration is valid for the daemon too (--check)" {
	run "$CORO_RUNNERD" --check -c "$D_CONF" -d "$D_DROPIN" --state-dir "$D_STATE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"9 jobs, configuration valid"* ]]
}

@test "every example job succeeds without a network, then the daemon stops cleanly" {
	daemon_start
	run "$COCTL" -s "$D_SOCK" list --no-legend
	[ "$status" -eq 0 ]
	jobs=$(awk '{print $1}' <<<"$output")
	[ "$(wc -l <<<"$jobs")" -eq 9 ]
	for j in $jobs; do
		run "$COCTL" -s "$D_SOCK" run "$j"
		echo "$j: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == "$j: ok in "* ]]
	done
	# Nothing down, nothing failed; the disabled job stays unscheduled.
	run "$COCTL" -s "$D_SOCK" list -o json
	[ "$status" -eq 0 ]
	[ "$(grep -c '"failures": *[1-9]' <<<"$output" || true)" -eq 0 ]
	[ "$(count_log ': warning: |: error: ')" -eq 0 ] || { show_log; false; }
	daemon_stop TERM
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -lt 2000 ]
	grep -q '"name":"metrics-page"' "$D_STATE/state.json"
}
