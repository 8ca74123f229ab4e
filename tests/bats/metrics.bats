#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# GET /metrics of the real coro-runnerd (issue 8): the page passes
# promtool, a real Prometheus (Debian's prometheus package) scrapes it and
# answers probe_success right for a job that is up and one that is down,
# other paths and methods are refused, hostile clients (from a Python
# helper in another process) leave it serving, and the address follows
# reloads and --metrics.

bats_require_minimum_version 1.5.0

load daemon-helpers

setup_file() {
	require_daemon
	export HOSTILE="$TOOLS/metrics-hostile.py"
	export D="$BATS_FILE_TMPDIR"
	command -v promtool >/dev/null && command -v prometheus >/dev/null ||
		{ echo "needs promtool and prometheus: apt-get install prometheus (make deps)" >&2; return 1; }

	# A job that is up connects to this listener; one that is down to a closed port.
	bg_start listen python3 "$HOSTILE" listen
	export LPORT=$BG_LINE CPORT=$(free_port)

	# The daemon the tests share (D_PID), with the address in its configuration.
	daemon_dir "$D/main"
	write_config "$D_CONF"
	daemon_start_metrics --config
}

teardown() {
	kill_started
}

teardown_file() {
	kill_started "$BATS_FILE_TMPDIR/.bg-pids"
}

# write_config FILE [PORT]: the jobs, with `metrics: {listen: ...}` when PORT is given.
write_config() {
	sed -e "s/@LPORT@/$LPORT/" -e "s/@CPORT@/$CPORT/" >"$1" <<-'EOF'
	jobs:
	  - name: up-job
	    type: tcp
	    target: "127.0.0.1:@LPORT@"
	    every: 1s
	    labels: {team: "web \"blue\" \\ two\nlines", result: mine}
	  - name: down-job
	    type: tcp
	    target: "127.0.0.1:@CPORT@"
	    every: 1s
	  - name: web
	    type: http
	    url: "http://127.0.0.1:@CPORT@/health"
	    every: 1s
	EOF
	[ -z "${2:-}" ] || config_metrics_listen "$1" "$2"
}

# scrape: the page of the daemon of this test (D_METRICS_PORT).
scrape() {
	curl -sS -m 10 "http://127.0.0.1:$D_METRICS_PORT/metrics"
}

# http_code [CURL-ARG...] URL: the status of curl's request.
http_code() {
	curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"
}

# raw_request REQUEST: the reply to REQUEST (a printf format), sent as it
# is over a connection of its own to the daemon's metrics port.
raw_request() {
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$D_METRICS_PORT"
	printf "$1" >&$fd
	cat <&$fd
	exec {fd}<&-
}

# Every job has run at least once.
all_ran() {
	local page
	page=$(scrape) || return 1
	grep -q '^probe_success{job="up-job"' <<<"$page" &&
		grep -q '^probe_success{job="down-job"' <<<"$page" &&
		grep -q '^probe_success{job="web"' <<<"$page"
}

@test "GET /metrics: 200 with the text format's content type" {
	run --separate-stderr curl -sS -m 10 -D - -o /dev/null "http://127.0.0.1:$D_METRICS_PORT/metrics"
	[ "$status" -eq 0 ]
	[[ "$output" == "HTTP/1.1 200 OK"* ]]
	grep -qx $'Content-Type: text/plain; version=0.0.4; charset=utf-8\r' <<<"$output"
	grep -qx $'Connection: close\r' <<<"$output"
}

@test "promtool check metrics finds nothing in the page" {
	wait_for 20 all_ran
	scrape >"$BATS_TEST_TMPDIR/page"
	run promtool check metrics <"$BATS_TEST_TMPDIR/page"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# Every family the documentation lists is there, with HELP and TYPE.
	for name in probe_success probe_duration_seconds probe_http_status_code \
		coro_runner_job_runs_total coro_runner_job_consecutive_failures coro_runner_job_up \
		coro_runner_job_skipped_total coro_runner_job_last_run_timestamp_seconds \
		coro_runner_jobs coro_runner_coroutines coro_runner_sharestacks \
		coro_runner_saved_stack_bytes coro_runner_context_switches_total \
		coro_runner_loop_lag_seconds coro_runner_config_last_reload_successful \
		coro_runner_config_last_reload_success_timestamp_seconds coro_runner_build_info \
		process_start_time_seconds process_resident_memory_bytes; do
		grep -q "^# TYPE $name " "$BATS_TEST_TMPDIR/page"
		grep -q "^# HELP $name " "$BATS_TEST_TMPDIR/page"
		grep -qF "$name" "$ROOT/docs/metrics.md"
	done
}

@test "probe_success and the job counters: 1 for the job that is up, 0 for the one that is down" {
	wait_for 20 all_ran
	page=$(scrape)
	grep -qE '^probe_success\{job="up-job",[^}]*\} 1$' <<<"$page"
	grep -qx 'probe_success{job="down-job"} 0' <<<"$page"
	grep -qx 'coro_runner_job_up{job="down-job"} 0' <<<"$page"
	grep -qE '^coro_runner_job_up\{job="up-job",[^}]*\} 1$' <<<"$page"
	grep -qE '^coro_runner_job_runs_total\{job="down-job",result="failed"\} [1-9][0-9]*$' <<<"$page"
	grep -qx 'coro_runner_job_runs_total{job="down-job",result="ok"} 0' <<<"$page"
	grep -qE '^coro_runner_job_consecutive_failures\{job="down-job"\} [1-9][0-9]*$' <<<"$page"
	grep -qx 'coro_runner_jobs 3' <<<"$page"
	# The http job's status (none came: 0); none for the tcp jobs.
	grep -qx 'probe_http_status_code{job="web"} 0' <<<"$page"
	! grep -q '^probe_http_status_code{job="down-job"' <<<"$page" || false
	grep -qE '^coro_runner_build_info\{version="[0-9.]+"\} 1$' <<<"$page"
}

@test "label values are escaped, a label named like ours is renamed, no target address in a label" {
	page=$(scrape)
	grep -qF 'probe_success{job="up-job",team="web \"blue\" \\ two\nlines",exported_result="mine"}' <<<"$page"
	grep -qF 'coro_runner_job_runs_total{job="up-job",team="web \"blue\" \\ two\nlines",exported_result="mine",result="ok"}' <<<"$page"
	! grep -E '\{[^}]*(127\.0\.0\.1|http://)' <<<"$page" || false
}

@test "other paths get 404, other methods 405, HEAD the headers only, HTTP/1.0 works" {
	local url="http://127.0.0.1:$D_METRICS_PORT"
	[ "$(http_code "$url/")" = 404 ]
	[ "$(http_code "$url/metricsx")" = 404 ]
	[ "$(http_code "$url/metrics/")" = 404 ]
	[ "$(http_code "$url/metrics?name[]=up")" = 200 ]
	[ "$(http_code -X POST "$url/metrics")" = 405 ]
	[ "$(curl -s -m 10 -D - -o /dev/null -X DELETE "$url/metrics" | grep -c '^Allow: GET, HEAD')" = 1 ]
	run raw_request 'HEAD /metrics HTTP/1.0\r\n\r\n'
	[[ "$output" == "HTTP/1.1 200 OK"* ]]
	! grep -q '^# HELP' <<<"$output" || false
	run raw_request 'GET /metrics HTTP/1.0\n\n'
	grep -q '^# TYPE probe_success gauge' <<<"$output"
}

@test "a real Prometheus scrapes it: probe_success is 1 for the up job and 0 for the down job" {
	local dir="$D/prom" pport prom i query
	mkdir -p "$dir"
	wait_for 20 all_ran
	for i in 1 2 3 4 5; do
		pport=$(free_port)
		cat >"$dir/prometheus.yml" <<-EOF
		global:
		  scrape_interval: 1s
		  evaluation_interval: 1s
		scrape_configs:
		  - job_name: coro-runner
		    honor_labels: true
		    scrape_interval: 1s
		    scrape_timeout: 1s
		    static_configs:
		      - targets: ["127.0.0.1:$D_METRICS_PORT"]
		EOF
		run promtool check config "$dir/prometheus.yml"
		[ "$status" -eq 0 ]
		prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data.$i" \
			--web.listen-address="127.0.0.1:$pport" --log.level=warn 2>"$dir/log" &
		prom=$!
		remember_pid "$prom"
		wait_for 30 curl -sf -m 2 -o /dev/null "http://127.0.0.1:$pport/-/ready" && break
		kill "$prom" 2>/dev/null || true
		wait "$prom" 2>/dev/null || true
	done
	# One line per series: "<job> <value>".
	query() {
		curl -sf -m 5 --data-urlencode "query=$1" "http://127.0.0.1:$pport/api/v1/query" |
			python3 -c 'import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    print(r["metric"].get("job", "?"), r["value"][1])' | sort
	}
	both() {
		out=$(query probe_success) && grep -q '^up-job ' <<<"$out" && grep -q '^down-job ' <<<"$out"
	}
	wait_for 60 both || { cat "$dir/log"; false; }
	kill "$prom"
	echo "$out"
	grep -qx 'up-job 1' <<<"$out"
	grep -qx 'down-job 0' <<<"$out"
	grep -qx 'web 0' <<<"$out"
}

@test "the shipped scrape configuration and alerting rules pass promtool" {
	cd "$ROOT/packaging/prometheus"
	run promtool check config prometheus.yml
	[ "$status" -eq 0 ]
	run promtool check rules coro-runner.rules.yml
	[ "$status" -eq 0 ]
	[[ "$output" == *"SUCCESS: 2 rules found"* ]]
	run promtool test rules coro-runner.rules.test.yml
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "hostile clients (garbage, a 4 MiB request line, one byte a second, 300 at once) leave it serving" {
	local port=$D_METRICS_PORT pids=() p ok=0
	# Alone, a request line of megabytes is refused once it passes 8 KiB.
	run python3 "$HOSTILE" 127.0.0.1 "$port" longline
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"reply HTTP/1.1 431"* ]]
	# All at once (in a crowd, a newcomer may get 503 instead: never 200).
	python3 "$HOSTILE" 127.0.0.1 "$port" slow 20 >"$BATS_TEST_TMPDIR/slow" &
	pids+=($!)
	python3 "$HOSTILE" 127.0.0.1 "$port" crowd 300 >"$BATS_TEST_TMPDIR/crowd" &
	pids+=($!)
	python3 "$HOSTILE" 127.0.0.1 "$port" garbage 50 >"$BATS_TEST_TMPDIR/garbage" &
	pids+=($!)
	python3 "$HOSTILE" 127.0.0.1 "$port" longline >"$BATS_TEST_TMPDIR/longline" &
	pids+=($!)
	sleep 0.5 # the crowd and the slow clients are in
	# Meanwhile, whole pages, every time.
	for i in $(seq 1 10); do
		scrape | grep -q '^# TYPE coro_runner_job_last_run_timestamp_seconds gauge' && ok=$((ok + 1))
		sleep 0.3
	done
	for p in "${pids[@]}"; do
		wait "$p" || { cat "$BATS_TEST_TMPDIR"/{slow,crowd,garbage,longline}; false; }
	done
	cat "$BATS_TEST_TMPDIR"/{slow,crowd,garbage,longline}
	[ "$ok" -eq 10 ]
	grep -q '^slow: 20 of 20 closed by the server' "$BATS_TEST_TMPDIR/slow"
	! grep -q 'reply HTTP/1.1 200' "$BATS_TEST_TMPDIR/longline" || false
	kill -0 "$D_PID"
	all_ran
}

@test "SIGHUP: a new metrics address is served, the old one closed; reload figures; the key removed and back" {
	local old new
	old=$D_METRICS_PORT
	new=$(free_port)
	write_config "$D_CONF" "$new"
	kill -HUP "$D_PID"
	D_METRICS_PORT=$new
	wait_for 10 scrape
	! curl -s -m 2 -o /dev/null "http://127.0.0.1:$old/metrics" || false
	page=$(scrape)
	grep -qx 'coro_runner_config_last_reload_successful 1' <<<"$page"
	grep -qx 'coro_runner_config_reloads_total{result="ok"} 1' <<<"$page"
	# A refused reload keeps the address and says so.
	echo 'jobs: [' >"$D_CONF"
	kill -HUP "$D_PID"
	wait_log 'reload failed' 1 10
	page=$(scrape)
	grep -qx 'coro_runner_config_last_reload_successful 0' <<<"$page"
	grep -qx 'coro_runner_config_reloads_total{result="failed"} 1' <<<"$page"
	# Without the key it stops serving; with it again it serves again.
	write_config "$D_CONF"
	kill -HUP "$D_PID"
	wait_log 'metrics: no longer served' 1 10
	! curl -s -m 2 -o /dev/null "http://127.0.0.1:$new/metrics" || false
	write_config "$D_CONF" "$new"
	kill -HUP "$D_PID"
	wait_for 10 scrape
	grep -qx 'coro_runner_config_reloads_total{result="ok"} 3' <<<"$(scrape)"
}

@test "--metrics serves without the configuration's key; a reader that stalls blocks nobody, and SIGTERM stops in time" {
	local stalled
	# A daemon of this test's own (D_PID, D_METRICS_PORT), with 10,000 more
	# jobs: a page of megabytes, more than the socket buffers hold.
	daemon_dir "$D/flag"
	write_config "$D_CONF"
	python3 -c 'for i in range(10000): print("  - {name: idle-%d, type: tcp, target: \"127.0.0.1:9\", every: 24h}" % i)' >>"$D_CONF"
	daemon_start_metrics
	! grep -q '^metrics:' "$D_CONF" || false
	# A client that asks and never reads, with a small receive buffer.
	python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(60)' "$D_METRICS_PORT" &
	stalled=$!
	remember_pid "$stalled"
	sleep 0.5
	run scrape
	[ "$status" -eq 0 ]
	grep -qx 'coro_runner_jobs 10003' <<<"$output"
	[ "$(grep -c '^coro_runner_job_skipped_total{' <<<"$output")" -eq 10003 ]
	# Stopped within 2 s (a stuck one is killed at 5 s: status 137).
	daemon_stop TERM 5
	kill "$stalled" 2>/dev/null || true
	echo "status $D_STATUS after $D_STOP_MS ms"
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -lt 2500 ]
	grep -q 'stopped' "$D_LOG"
}

@test "the daemon that served all of the above stops cleanly on SIGTERM (nothing from the sanitizers)" {
	# Not this test's child (setup_file's): its log tells how it ended.
	kill -TERM "$D_PID"
	wait_for 5 proc_gone "$D_PID"
	tail -n 5 "$D_LOG"
	grep -q 'notice: stopped' "$D_LOG"
	! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|metrics: stopped with' "$D_LOG" || false
}
