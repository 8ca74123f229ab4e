#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The control socket against hostile, slow, numerous and unprivileged
# clients, and the job files of `coctl add` against SIGKILL and a full disk.
# Through all of it the daemon keeps serving everyone else and never
# crashes (the ASan build included: CORO_RUNNERD=build/...-address-undefined/...).

bats_require_minimum_version 1.5.0

load daemon-helpers

setup_file() {
	require_coctl
	require_daemon
}

# The daemon's files in the test's directory, by relative names (jobs.yaml,
# jobs.d, state, control.sock), as in coctl-daemon.bats.
setup() {
	cd "$BATS_TEST_TMPDIR"
	daemon_dir .
	export CORO_RUNNER_SOCKET="$D_SOCK"
	printf 'jobs:\n  - {name: good, type: exec, command: [/bin/true], every: 1h}\n' > "$D_CONF"
	MOUNTED=
	write_client
}

teardown() {
	kill_started
	[ -z "$MOUNTED" ] || umount "$MOUNTED" || true
	no_sanitizer_reports
}

# Enough descriptors for 1,100 clients here and in the daemon, or skip.
raise_fd_limit() {
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] || [ "$hard" -ge 2200 ] || skip "the hard limit of open files is $hard"
	ulimit -Sn 4096 2>/dev/null || ulimit -Sn "$hard"
}

# The daemon is alive and answers a list at once (within 1 s).
serving() {
	kill -0 "$D_PID"
	timeout 1 "$COCTL" list --no-legend >/dev/null
}

# A client in Python for what coctl would never send. Each mode prints what
# the test checks and exits 0, or prints why not and exits 1.
write_client() {
	cat > client.py <<-'EOF'
	import json, os, socket, sys, threading, time
	path = os.environ["CORO_RUNNER_SOCKET"]

	def conn():
	    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	    s.settimeout(20)
	    s.connect(path)
	    return s

	def reply(s):
	    data = b""
	    while not data.endswith(b"\n"):
	        chunk = s.recv(65536)
	        if not chunk:
	            break
	        data += chunk
	    return json.loads(data) if data else None

	def closed(s):  # closed by the daemon (EOF or reset), or left open for more
	    s.settimeout(1)
	    try:
	        return s.recv(1) == b""
	    except socket.timeout:
	        return False
	    except ConnectionResetError:
	        return True

	mode = sys.argv[1]
	if mode == "send":  # one request (bytes as given, Python escapes), the reply, closed?
	    s = conn()
	    s.sendall(eval("b'" + sys.argv[2] + "'") + b"\n")
	    r = reply(s)
	    print(r["code"] if not r["ok"] else "ok", "closed" if closed(s) else "open")
	elif mode == "huge":  # a 10 MB line
	    s = conn()
	    def pump():
	        try:
	            s.sendall(b'{"command": "' + b"x" * (10 << 20))
	        except OSError:
	            pass
	    t = threading.Thread(target=pump); t.start()
	    r = reply(s)
	    t.join()
	    print(r["code"], "closed" if closed(s) else "open")
	elif mode == "slow":  # one byte a second, for argv[2] seconds
	    s = conn()
	    req = b'{"command": "list"}' + b" " * 100 + b"\n"
	    try:
	        for i in range(int(sys.argv[2])):
	            s.send(req[i:i + 1])
	            time.sleep(1)
	        print("still open")
	    except OSError as e:
	        print("dropped after", i, "s")
	elif mode == "many":  # argv[2] clients at once, each asking status
	    n = int(sys.argv[2])
	    socks = [conn() for _ in range(n)]
	    t0 = time.time()
	    for s in socks:
	        s.sendall(b'{"command": "status", "names": ["good"]}\n')
	    oks = sum(1 for s in socks if reply(s)["ok"])
	    print(oks, "of", n, "ok")
	elif mode == "idle":  # argv[2] clients connected, then one more asking list
	    n = int(sys.argv[2])
	    socks = [conn() for _ in range(n)]
	    time.sleep(0.5)
	    s = conn()
	    s.sendall(b'{"command": "list"}\n')
	    r = reply(s)
	    print(r["code"] if not r["ok"] else "ok")
	elif mode == "rude":  # ask for a big list and go away before the reply ends
	    for i in range(int(sys.argv[2])):
	        s = conn()
	        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
	        s.sendall(b'{"command": "list"}\n' * 3)
	        if i % 2:
	            s.recv(100)
	        s.close()
	    print("done")
	EOF
}

@test "garbage, invalid UTF-8, deep nesting, bad fields: an error reply, then the door" {
	daemon_start
	run python3 client.py send 'hello'
	[ "$output" = "bad_request closed" ]
	run python3 client.py send '{"command": "list", "x": "\xff\xfe"}'
	[ "$output" = "bad_request closed" ]
	run python3 client.py send '\x00\x01\x02'
	[ "$output" = "bad_request closed" ]
	run python3 client.py send "$(printf '[%.0s' $(seq 5000))"
	[ "$output" = "bad_request closed" ]
	run python3 client.py send '[1, 2]'
	[ "$output" = "bad_request closed" ]
	run python3 client.py send '{"command": 7}'
	[ "$output" = "bad_request closed" ]
	run python3 client.py send '{"command": "list", "version": 99}'
	[ "$output" = "unsupported_version closed" ]
	run python3 client.py send '{"command": "format-disk"}'
	[ "$output" = "unknown_command closed" ]
	run python3 client.py send '{"command": "status", "names": [1]}'
	[ "$output" = "bad_request open" ]
	run python3 client.py send '{"command": "kill", "names": "good"}'
	[ "$output" = "bad_request open" ]
	run python3 client.py send '{"command": "add", "yaml": 5}'
	[ "$output" = "bad_request open" ]
	run python3 client.py send '{"command": "add", "yaml": "jobs: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}'
	[ "$output" = "invalid open" ]
	run python3 client.py send '{"command": "ping", "id": 42}{"command": "ping"}'
	[ "$output" = "bad_request closed" ]
	serving
}

@test "a 10 MB line gets too_large and is closed; the daemon keeps serving" {
	daemon_start
	run python3 client.py huge
	[ "$output" = "too_large closed" ]
	serving
	[ "$(ps -o rss= -p "$D_PID")" -lt 200000 ]
}

@test "a client sending one byte a second holds only itself, and is dropped at the deadline" {
	CORO_RUNNER_CONTROL_IDLE_MS=3000 daemon_start
	python3 client.py slow 8 > slow.out &
	local slow=$! t0=$SECONDS
	for i in 1 2 3 4 5; do serving; sleep 0.3; done
	wait "$slow"
	[[ "$(cat slow.out)" == "dropped after "[3-5]" s" ]]
	serving
}

@test "1,000 simultaneous clients are all served" {
	raise_fd_limit
	daemon_start
	run python3 client.py many 1000
	[ "$output" = "1000 of 1000 ok" ]
	serving
}

@test "past the cap of 1024 clients, the next one gets busy; the others are kept" {
	raise_fd_limit
	CORO_RUNNER_CONTROL_IDLE_MS=20000 daemon_start
	run python3 client.py idle 1024
	[ "$output" = "busy" ]
	run python3 client.py idle 1000
	[ "$output" = "ok" ]
	serving
}

@test "clients that go away in the middle of a reply" {
	for i in $(seq 3000); do
		printf '  - {name: j%d, type: exec, command: [/bin/true], every: 1h}\n' "$i"
	done > body
	{ echo 'jobs:'; cat body; } > "$D_DROPIN/many.yaml"
	daemon_start
	run python3 client.py rude 100
	[ "$output" = "done" ]
	serving
	run "$COCTL" list --no-legend
	[ "${#lines[@]}" -eq 3001 ]
}

@test "without the right credentials: reads yes, changes no (and logged); the socket's group may" {
	command -v setpriv >/dev/null || skip "no setpriv"
	local dir
	dir=$(mktemp -d /tmp/coctl-cred.XXXXXX)
	chmod 755 "$dir"
	D_SOCK="$dir/sock"
	export CORO_RUNNER_SOCKET="$D_SOCK"
	daemon_start
	local nogroup
	nogroup=$(id -g nobody)
	as_nobody() { setpriv --reuid=nobody --regid="$1" "${@:3}" -- "$COCTL" -s "$CORO_RUNNER_SOCKET" $2; }
	# The daemon's own socket is 0666: every local user reads (list, status, stats).
	[ "$(stat -c %a "$CORO_RUNNER_SOCKET")" = 666 ]
	run setpriv --reuid=nobody --regid=54321 --clear-groups -- "$COCTL" -s "$CORO_RUNNER_SOCKET" list --no-legend
	[ "$status" -eq 0 ]
	[[ "$output" == good* ]]
	run setpriv --reuid=nobody --regid=54321 --clear-groups -- "$COCTL" -s "$CORO_RUNNER_SOCKET" status good
	[ "$status" -eq 0 ]
	[[ "$output" == *good* ]]
	run setpriv --reuid=nobody --regid=54321 --clear-groups -- "$COCTL" -s "$CORO_RUNNER_SOCKET" stats
	[ "$status" -eq 0 ]
	for cmd in "kill good" "pause good" "resume good" "run good" "reload" "add x --type exec --every 1m --command /bin/true"; do
		run setpriv --reuid=nobody --regid=54321 --clear-groups -- "$COCTL" -s "$CORO_RUNNER_SOCKET" $cmd
		[ "$status" -eq 1 ]
		[[ "$output" == *"permission denied"* ]]
	done
	grep -q "refused kill good to uid $(id -u nobody) pid" "$D_LOG"
	run "$COCTL" status good
	[ "$status" -eq 0 ]
	# A site may close the socket to others (as SocketMode=0660 does): nobody cannot connect.
	chmod 660 "$CORO_RUNNER_SOCKET"
	run setpriv --reuid=nobody --regid=54321 --clear-groups -- "$COCTL" -s "$CORO_RUNNER_SOCKET" list
	[ "$status" -eq 3 ]
	[[ "$output" == *"Permission denied"* ]]
	# The socket's group: as primary group, or as a supplementary one.
	chgrp "$nogroup" "$CORO_RUNNER_SOCKET"
	run setpriv --reuid=nobody --regid="$nogroup" --clear-groups -- "$COCTL" -s "$CORO_RUNNER_SOCKET" pause good
	[ "$status" -eq 0 ]
	run setpriv --reuid=nobody --regid=54321 --groups="$nogroup" -- "$COCTL" -s "$CORO_RUNNER_SOCKET" resume good
	[ "$status" -eq 0 ]
	grep -q "control: pause good by uid $(id -u nobody) pid" "$D_LOG"
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	rm -rf "$dir"
}

@test "SIGKILL during adds: each job file is whole or absent; leftovers are cleaned at start" {
	local round i
	for round in 1 2 3; do
		daemon_start
		( for i in $(seq 1000); do
			"$COCTL" add "r${round}j$i" --type exec --every 1h --command /bin/true >/dev/null 2>&1 || true
		  done ) &
		local adder=$!
		sleep "0.$((RANDOM % 8 + 2))"
		daemon_stop KILL
		kill "$adder" 2>/dev/null || true
		wait "$adder" || true
		# Every file there loads on its own; a temporary one may remain.
		for f in state/jobs.d/*.yaml; do
			[ -e "$f" ] || continue
			"$COCTL" check "$f" >/dev/null
		done
		local files
		files=$(ls state/jobs.d/*.yaml 2>/dev/null | wc -l)
		daemon_start
		# The restarted daemon has exactly the jobs whose files are there.
		run "$COCTL" list --no-legend
		[ "${#lines[@]}" -eq $((files + 1)) ]
		[ -z "$(ls -A state/jobs.d | grep -v '\.yaml$')" ]
		daemon_stop
		[ "$D_STATUS" -eq 0 ]
	done
	[ "$files" -gt 0 ]
}

@test "a full disk: the add fails with a clear error and leaves nothing; later adds work" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
	mount -t tmpfs -o size=64k tmpfs state 2>/dev/null || skip "cannot mount a tmpfs here"
	MOUNTED="$BATS_TEST_TMPDIR/state"
	# The history database (and its write-ahead log) would take the 64 KiB
	# itself: this test is about the job files. history.bats fills a disk
	# under the history.
	printf 'history: off\n' >> "$D_CONF"
	daemon_start
	dd if=/dev/zero of=state/fill bs=4k 2>/dev/null || true
	run --separate-stderr "$COCTL" add full --type exec --every 1h --command /bin/true
	[ "$status" -eq 1 ]
	[[ "$stderr" == "coctl: cannot save job full in state/jobs.d: No space left on device; nothing was added" ]]
	[ -z "$(ls -A state/jobs.d)" ]
	run "$COCTL" status full
	[ "$status" -eq 4 ]
	printf 'jobs:\n  - {name: m1, type: exec, command: [/bin/true], every: 1m}\n  - {name: m2, type: exec, command: [/bin/true], every: 1m}\n' > two.yaml
	run "$COCTL" add -f two.yaml
	[ "$status" -eq 1 ]
	[ -z "$(ls -A state/jobs.d)" ]
	serving
	rm state/fill
	run "$COCTL" add full --type exec --every 1h --command /bin/true
	[ "$status" -eq 0 ]
	[ -f state/jobs.d/full.yaml ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	umount state
	MOUNTED=
}
