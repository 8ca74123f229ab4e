#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coro-runnerd's probes, end to end: one daemon runs a job of each probe
# type and outcome (success, failure, timeout) against real servers on
# loopback (python's http.server, a status server, TCP listeners that answer
# or never do, dnsmasq, a DNS server that never answers in time, commands),
# and each test reads that job's result from the daemon's log.

bats_require_minimum_version 1.5.0
load daemon-helpers

# The configuration, with @NAME@ placeholders for ports and paths.
write_config() {
	cat > "$D_CONF" <<-'EOF'
	defaults:
	  every: 3s
	  timeout: 1s
	jobs:
	  - name: http-ok
	    type: http
	    url: http://127.0.0.1:@WEB@/health.txt
	    expect_status: [200]
	    expect_body: "all good"
	  - name: http-regex
	    type: http
	    url: http://127.0.0.1:@WEB@/health.txt
	    expect_body_regex: 'all (good|fine) [0-9]+'
	  - name: http-body
	    type: http
	    url: http://127.0.0.1:@WEB@/health.txt
	    expect_body: "never there"
	  - name: http-404
	    type: http
	    url: http://127.0.0.1:@WEB@/missing.txt
	  - name: http-503
	    type: http
	    url: http://127.0.0.1:@STATUS@/503
	  - name: http-503-wanted
	    type: http
	    url: http://127.0.0.1:@STATUS@/503
	    expect_status: [500, 503]
	  - name: http-timeout
	    type: http
	    url: http://127.0.0.1:@SILENT@/
	  - name: http-refused
	    type: http
	    url: http://127.0.0.1:@CLOSED@/
	  - name: tcp-ok
	    type: tcp
	    target: 127.0.0.1:@PONG@
	    send: "PING\r\n"
	    expect: "+PONG"
	  - name: tcp-connect
	    type: tcp
	    target: 127.0.0.1:@SILENT@
	  - name: tcp-refused
	    type: tcp
	    target: 127.0.0.1:@CLOSED@
	  - name: tcp-timeout
	    type: tcp
	    target: 127.0.0.1:@SILENT@
	    send: "PING\r\n"
	    expect: "+PONG"
	  - name: tcp-wrong
	    type: tcp
	    target: 127.0.0.1:@HELLO@
	    send: "PING\r\n"
	    expect: "+PONG"
	  - name: dns-ok
	    type: dns
	    query: ok.test
	    record: A
	    server: 127.0.0.1:@DNS@
	  - name: dns-answer
	    type: dns
	    query: www.ok.test
	    server: 127.0.0.1:@DNS@
	    expect_answer: 192.0.2.1
	  - name: dns-wrong
	    type: dns
	    query: ok.test
	    server: 127.0.0.1:@DNS@
	    expect_answer: 192.0.2.99
	  - name: dns-nx
	    type: dns
	    query: nothing.nx.test
	    server: 127.0.0.1:@DNS@
	  - name: dns-nx-wanted
	    type: dns
	    query: nothing.nx.test
	    server: 127.0.0.1:@DNS@
	    expect_rcode: NXDOMAIN
	  - name: dns-txt
	    type: dns
	    query: txt.test
	    record: TXT
	    server: 127.0.0.1:@DNS@
	    expect_answer: hello-txt
	  - name: dns-timeout
	    type: dns
	    query: slow.test
	    server: 127.0.0.1:@SLOWDNS@
	  - name: exec-ok
	    type: exec
	    command: ["/bin/true"]
	  - name: exec-exit2
	    type: exec
	    command: ["/bin/sh", "-c", "exit 2"]
	  - name: exec-output
	    type: exec
	    command: ["/bin/sh", "-c", "echo out-@MARK@; echo err-@MARK@ >&2"]
	  - name: exec-timeout
	    type: exec
	    command: ["/bin/sh", "-c", "echo $$ >> @DIR@/timeout.pids; sleep @MARK@1 & echo $! >> @DIR@/timeout.pids; wait"]
	    kill_grace: 500ms
	    every: 5s
	  - name: exec-stubborn
	    type: exec
	    command: ["/bin/sh", "-c", "trap '' TERM; echo $$ >> @DIR@/stubborn.pids; sleep @MARK@2 & echo $! >> @DIR@/stubborn.pids; wait; wait"]
	    kill_grace: 500ms
	    every: 5s
	EOF
	sed -i -e "s|@WEB@|$WEB_PORT|g; s|@STATUS@|$STATUS_PORT|g; s|@SILENT@|$SILENT_PORT|g" \
		-e "s|@CLOSED@|$CLOSED_PORT|g; s|@PONG@|$PONG_PORT|g; s|@HELLO@|$HELLO_PORT|g" \
		-e "s|@DNS@|$DNS_PORT|g; s|@SLOWDNS@|$SLOWDNS_PORT|g; s|@MARK@|$MARK|g; s|@DIR@|$D_DIR|g" \
		"$D_CONF"
}

setup_file() {
	require_daemon
	daemon_dir "$BATS_FILE_TMPDIR/d"

	mkdir -p "$BATS_FILE_TMPDIR/www"
	echo "all good 42" > "$BATS_FILE_TMPDIR/www/health.txt"
	bg_start web python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_FILE_TMPDIR/www" 0
	WEB_PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' <<< "$BG_LINE")
	bg_start status python3 "$TOOLS/http-status.py"
	STATUS_PORT=$BG_LINE
	bg_start silent python3 "$TOOLS/tcp-listener.py"
	SILENT_PORT=$BG_LINE
	bg_start pong python3 "$TOOLS/tcp-listener.py" --reply '+PONG\r\n'
	PONG_PORT=$BG_LINE
	bg_start hello python3 "$TOOLS/tcp-listener.py" --reply 'hello\r\n' --close
	HELLO_PORT=$BG_LINE
	bg_start slowdns python3 "$TOOLS/slow-dns.py" --delay 60
	SLOWDNS_PORT=$BG_LINE
	start_dnsmasq --address=/ok.test/192.0.2.1 --address=/nx.test/ \
		--txt-record=txt.test,hello-txt
	CLOSED_PORT=$(free_port)
	MARK=$(unique_marker)
	export WEB_PORT STATUS_PORT SILENT_PORT PONG_PORT HELLO_PORT SLOWDNS_PORT CLOSED_PORT MARK

	write_config
	daemon_start
}

teardown_file() {
	kill_started "$BATS_FILE_TMPDIR/.bg-pids"
}

# A job's result line: "job NAME: RESULT in DURATION[: ERROR]".
result_re() {
	local job="$1" result="$2" error="${3:-}"
	if [ -n "$error" ]; then
		echo "coro-runnerd\[$D_PID\]: [a-z]+: job $job: $result in [0-9.]+[a-z]+: $error\$"
	else
		echo "coro-runnerd\[$D_PID\]: [a-z]+: job $job: $result in [0-9.]+[a-z]+\$"
	fi
}

@test "daemon: started with every job of the file" {
	run grep -cE ": info: started: 25 jobs, control socket $D_SOCK\$" "$D_LOG"
	[ "$output" = 1 ] || { show_log; false; }
}

@test "http: 200 with the expected status and body substring is ok" {
	wait_log "$(result_re http-ok ok)"
	wait_log "$(result_re http-regex ok)"
}

@test "http: a body without the expected substring fails, saying so" {
	wait_log "$(result_re http-body failed 'body lacks "never there"')"
}

@test "http: 404 and 503 fail with the status; a wanted 503 is ok" {
	wait_log "$(result_re http-404 failed 'status 404 \(expected 200-299\)')"
	wait_log "$(result_re http-503 failed 'status 503 \(expected 200-299\)')"
	wait_log "$(result_re http-503-wanted ok)"
}

@test "http: a server that never answers times out after the job's timeout" {
	wait_log "$(result_re http-timeout timeout 'timeout after 1s')"
	# Never before the timeout: the duration is at least 1 s.
	run grep -E "job http-timeout: timeout in [0-9]+ms" "$D_LOG"
	[ "$status" -eq 1 ]
}

@test "http: nothing listening: connection refused" {
	wait_log "$(result_re http-refused failed 'connect: connection refused')"
}

@test "tcp: connect, send and the expected reply is ok; connect alone is ok" {
	wait_log "$(result_re tcp-ok ok)"
	wait_log "$(result_re tcp-connect ok)"
}

@test "tcp: nothing listening: connection refused" {
	wait_log "$(result_re tcp-refused failed "connect 127.0.0.1:$CLOSED_PORT: connection refused")"
}

@test "tcp: a listener that never answers times out waiting for the reply" {
	wait_log "$(result_re tcp-timeout timeout 'timeout after 1s')"
	run grep -E "job tcp-timeout: timeout in [0-9]+ms" "$D_LOG"
	[ "$status" -eq 1 ]
}

@test "tcp: a reply without the expected text fails, saying so" {
	wait_log "$(result_re tcp-wrong failed 'reply lacks "\+PONG"')"
}

@test "dns: the expected answer from dnsmasq is ok" {
	wait_log "$(result_re dns-ok ok)"
	wait_log "$(result_re dns-answer ok)"
	wait_log "$(result_re dns-txt ok)"
}

@test "dns: NXDOMAIN fails with the rcode, unless it is the one expected" {
	wait_log "$(result_re dns-nx failed 'rcode NXDOMAIN \(expected NOERROR\)')"
	wait_log "$(result_re dns-nx-wanted ok)"
}

@test "dns: a wrong answer fails, naming the one expected" {
	wait_log "$(result_re dns-wrong failed 'no answer contains "192\.0\.2\.99"')"
}

@test "dns: a server that never answers in time: timeout" {
	wait_log "$(result_re dns-timeout timeout 'timeout after 1s')"
}

@test "exec: exit 0 is ok, exit 2 fails with 'exit 2'" {
	wait_log "$(result_re exec-ok ok)"
	wait_log "$(result_re exec-exit2 failed 'exit 2')"
}

@test "exec: the command's stdout and stderr go to the log" {
	wait_log "$(result_re exec-output ok)"
	wait_log "job exec-output: .*out-$MARK"
	wait_log "job exec-output: .*err-$MARK"
}

# Each run appends the shell's pid and its background sleep's pid: the
# first two lines are the first run's, which has ended once its result is
# in the log (runs of a job never overlap).
first_run_dead() {
	local pid
	for pid in $(head -n 2 "$1"); do
		if proc_alive "$pid"; then return 1; fi
	done
}

# first_run_gone FILE: FILE has the first run's two pids, and within 5 s
# neither process is left (or ps shows them).
first_run_gone() {
	[ "$(wc -l < "$1")" -ge 2 ]
	wait_for 5 first_run_dead "$1" || {
		ps -o pid,pgid,stat,args -p "$(head -n 2 "$1" | paste -sd,)"
		false
	}
}

@test "exec: a timeout terminates the command and its children" {
	wait_log "$(result_re exec-timeout timeout 'timeout after 1s \(terminated\)')"
	first_run_gone "$D_DIR/timeout.pids"
}

@test "exec: a command that ignores SIGTERM is killed after kill_grace" {
	wait_log "$(result_re exec-stubborn timeout 'timeout after 1s \(killed\)')"
	first_run_gone "$D_DIR/stubborn.pids"
}

@test "daemon: still running after all of it; SIGTERM stops it cleanly" {
	proc_alive "$D_PID"
	kill -TERM "$D_PID"
	# Not this test's child: its exit status is not ours to read, its log is.
	wait_for 10 proc_gone "$D_PID" || { show_log; false; }
	wait_log ': stopped$'
	run grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$D_LOG"
	[ "$status" -eq 1 ] || { show_log; false; }
	[ -s "$D_STATE/state.json" ]
}
