#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# coctl against the real coro-runnerd: every command and exit code, the
# jobs that `coctl add` saves (across restarts, SIGKILL and a full disk),
# and hostile or unprivileged clients, which never stop the daemon from
# serving the others. Each test runs its own daemon in its own directory.

bats_require_minimum_version 1.5.0

load daemon-helpers

setup_file() {
	require_coctl
	require_daemon
}

# The daemon's files in the test's directory, by the relative names the
# daemon and coctl then print (jobs.yaml, jobs.d, state, control.sock).
setup() {
	cd "$BATS_TEST_TMPDIR"
	daemon_dir .
	export CORO_RUNNER_SOCKET="$D_SOCK"
	cat > "$D_CONF" <<-'EOF'
	jobs:
	  - name: good
	    type: exec
	    command: [/bin/true]
	    every: 1h
	  - name: bad
	    type: exec
	    command: [/bin/sh, -c, "exit 3"]
	    every: 1h
	EOF
}

teardown() {
	kill_started
	no_sanitizer_reports
}

# start_slow_run: a job `slow` (a sleep of 30 s), the daemon, and `coctl run
# slow` in the background (RUNNER, its output in run.out) until it runs.
start_slow_run() {
	cat >> "$D_CONF" <<-'EOF'
	  - name: slow
	    type: exec
	    command: [/bin/sleep, "30"]
	    every: 1h
	    timeout: 50m
	EOF
	daemon_start
	"$COCTL" run slow > run.out 2>&1 &
	RUNNER=$!
	wait_for 10 sh -c "'$COCTL' list --no-legend | grep -q 'slow.*running'"
}

json() { # json EXPR: evaluates a Python expression on the JSON read from stdin (as j)
	python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"
}

@test "list: a table like systemctl list-units, --no-legend, -o json and --json" {
	daemon_start
	run --separate-stderr "$COCTL" list
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^NAME\ +TYPE\ +SCHEDULE\ +STATE\ +LAST\ +DURATION\ +RUNS\ +FAILS\ +NEXT$ ]]
	[[ "${lines[1]}" =~ ^good\ +exec\ +every\ 1h\ +unknown\ +-\ +-\ +0\ +0\ +in\  ]]
	[[ "${lines[2]}" =~ ^bad\ +exec ]]
	[ "${lines[3]}" = "2 jobs listed." ]
	[ -z "$stderr" ]
	run "$COCTL" list --no-legend
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" == good* ]]
	for opt in "-o json" --json; do
		run --separate-stderr "$COCTL" list $opt
		[ "$status" -eq 0 ]
		[ "$(echo "$output" | json '[x["name"] for x in j["jobs"]]')" = "['good', 'bad']" ]
	done
	# Global options before the command too.
	run "$COCTL" --json list
	[ "$(echo "$output" | json 'j["ok"]')" = True ]
}

@test "run: exit 0 on success, 1 on failure, 4 for no such job; the result is recorded" {
	daemon_start
	run --separate-stderr "$COCTL" run good
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^good:\ ok\ in\ [0-9.]+(us|ms)$ ]]
	run --separate-stderr "$COCTL" run bad
	[ "$status" -eq 1 ]
	[[ "$output" == "bad: failed in "*": exit 3" ]]
	run --separate-stderr "$COCTL" run nope
	[ "$status" -eq 4 ]
	[ "$stderr" = "coctl: no such job: nope" ]
	run "$COCTL" run
	[ "$status" -eq 2 ]
	run "$COCTL" list --no-legend
	[[ "${lines[0]}" =~ ^good\ +exec\ +every\ 1h\ +up\ +ok\ .*\ 1\ +0\ + ]]
	[[ "${lines[1]}" =~ ^bad\ +exec\ +every\ 1h\ +down\ +failed\ .*\ 1\ +1\ + ]]
	grep -q 'control: run good by uid 0 pid' "$D_LOG"
}

@test "status: details, 20 results as marks and a sparkline; ASCII without UTF-8; exit 4" {
	daemon_start
	for i in $(seq 22); do "$COCTL" run good >/dev/null; done
	"$COCTL" run bad >/dev/null || true
	run --separate-stderr env LC_ALL=C.UTF-8 "$COCTL" status good bad
	[ "$status" -eq 0 ]
	[[ "$output" == *"● good - exec /bin/true"* ]]
	[[ "$output" == *"State: up since"* ]]
	[[ "$output" == *"Origin: file (jobs.yaml:2)"* ]]
	[[ "$output" == *"Runs: 22 (22 ok, 0 failed, 0 timed out)"* ]]
	[[ "$output" =~ History:\ (✓){20}\ \ \(20,\ oldest\ first\) ]]
	[[ "$output" =~ Durations:\ [▁▂▃▄▅▆▇█]{20}\  ]]
	[[ "$output" == *"× bad - exec /bin/sh -c exit 3"* ]]
	[[ "$output" == *"Last: failed in "*": exit 3"* ]]
	[[ "$output" =~ History:\ ✗\  ]]
	run env LC_ALL=C "$COCTL" status good
	[[ "$output" =~ History:\ \+{20}\  ]]
	[[ "$output" =~ Durations:\ [_.=+*#@-]{20}\  ]]
	run --separate-stderr "$COCTL" status good nope
	[ "$status" -eq 4 ]
	[[ "$output" == *"good - exec"* ]]
	[ "$stderr" = "coctl: no such job: nope" ]
	run "$COCTL" status -o json good
	[ "$(echo "$output" | json 'len(j["jobs"][0]["history"])')" = 20 ]
	run "$COCTL" status
	[ "$status" -eq 2 ]
}

@test "add NAME --flags: saved atomically in the state directory, there after a restart" {
	daemon_start
	run --separate-stderr "$COCTL" add web --type tcp --target 127.0.0.1:1 --every 10m \
		--timeout 2s --label team=web --label tier=1 --retries 1 --retry-delay 100ms \
		--failures-before-down 2
	[ "$status" -eq 0 ]
	[ "$output" = "added web (saved in state/jobs.d)" ]
	[ -f state/jobs.d/web.yaml ]
	"$COCTL" check state/jobs.d/web.yaml
	run "$COCTL" status web
	[[ "$output" == *"Origin: added (state/jobs.d/web.yaml:4)"* ]]
	[[ "$output" == *"Labels: team=web, tier=1"* ]]
	grep -q 'control: add by uid 0 pid' "$D_LOG"
	# Every kind of key as a flag: maps, lists, words after --.
	run "$COCTL" add h --type http --url http://127.0.0.1:1/x --every 1m --header 'Accept: a/b' \
		--header X-A=1 --expect-status 200,204 --expect-status 301 --method HEAD \
		--tls-verify false --follow_redirects true --expect-body ok
	[ "$status" -eq 0 ]
	run "$COCTL" add d --type dns --query example.org --record AAAA --server 127.0.0.1:5353 \
		--every 1m --expect-rcode NXDOMAIN --disabled
	[ "$status" -eq 0 ]
	run "$COCTL" add e --type exec --every 1m --env A=1 --workdir /tmp --output-limit 1KiB \
		--kill-grace 1s --jitter 10% -- /bin/echo "a b" c
	[ "$status" -eq 0 ]
	run "$COCTL" status -o json e
	[ "$(echo "$output" | json 'j["jobs"][0]["target"]')" = "/bin/echo a b c" ]
	# A name the loader would take for a hidden file.
	run "$COCTL" add .dot --type exec --every 1m --command /bin/true
	[ "$status" -eq 0 ]
	[ -f state/jobs.d/@.dot.yaml ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	daemon_start
	run "$COCTL" list --no-legend
	[[ "$output" == *"web "* && "$output" == *"h "* && "$output" == *"d "* && "$output" == *"e "* ]]
	[[ "$output" == *".dot "* ]]
	run "$COCTL" kill .dot
	[ ! -e state/jobs.d/@.dot.yaml ]
	run "$COCTL" list --no-legend
	[[ "$output" =~ d\ +dns\ +every\ 1m\ +disabled ]]
}

@test "add: -f FILE and - (stdin); --runtime is not saved; errors exit 1, clashes 1, usage 2" {
	daemon_start
	printf 'jobs:\n  - {name: f1, type: exec, command: [/bin/true], every: 1m}\n  - {name: f2, type: exec, command: [/bin/true], every: 1m}\n' > two.yaml
	run "$COCTL" add -f two.yaml
	[ "$status" -eq 0 ]
	[ "$output" = "added f1, f2 (saved in state/jobs.d)" ]
	[ -f state/jobs.d/f1.yaml ] && [ -f state/jobs.d/f2.yaml ]
	printf 'jobs:\n  - {name: s1, type: exec, command: [/bin/true], every: 1m}\n' |
		"$COCTL" add --runtime -f -
	[ ! -e state/jobs.d/s1.yaml ]
	run "$COCTL" status -o json s1
	[ "$(echo "$output" | json 'j["jobs"][0]["origin"]')" = runtime ]
	# Invalid: every error, as coctl check prints them; nothing added.
	printf 'jobs:\n  - {name: x1, type: exec, command: [/bin/true], every: 1m, timeot: 1s}\n  - {name: x2, type: nope}\n' > bad.yaml
	run --separate-stderr "$COCTL" add -f bad.yaml
	[ "$status" -eq 1 ]
	[[ "$stderr" == *'bad.yaml:2:'*'unknown key "timeot" (did you mean "timeout"?)'* ]]
	[[ "$stderr" == *'bad.yaml:3:'*'x2'* ]]
	run "$COCTL" status x1
	[ "$status" -eq 4 ]
	# A name in use: from the files, or added.
	run --separate-stderr "$COCTL" add good --type exec --every 1m --command /bin/true
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"job good exists already (jobs.yaml:2)"* ]]
	run --separate-stderr "$COCTL" add -f two.yaml
	[ "$status" -eq 1 ]
	# Usage errors.
	run "$COCTL" add
	[ "$status" -eq 2 ]
	run "$COCTL" add z --every 1m
	[ "$status" -eq 2 ]
	run "$COCTL" add z --type exec --bogus 1
	[ "$status" -eq 2 ]
	run --separate-stderr "$COCTL" add z --type tcp --timeot 1s
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = "coctl: add: unknown option '--timeot' (did you mean '--timeout'?)" ]
	run "$COCTL" add -f two.yaml --every 1m
	[ "$status" -eq 2 ]
	run "$COCTL" add z --type tcp --target a:1 --every 1m --every 2m
	[ "$status" -eq 2 ]
	run "$COCTL" add -f missing.yaml
	[ "$status" -eq 1 ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	daemon_start
	run "$COCTL" status s1
	[ "$status" -eq 4 ]
	run "$COCTL" status f1 f2
	[ "$status" -eq 0 ]
}

@test "kill: a job of the files comes back on reload; an added one is gone with its file" {
	daemon_start
	"$COCTL" add web --type tcp --target 127.0.0.1:1 --every 1h
	run --separate-stderr "$COCTL" kill good web
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "killed good; it is defined in jobs.yaml and comes back on reload" ]
	[ "${lines[1]}" = "killed web (its file in the state directory is removed)" ]
	[ ! -e state/jobs.d/web.yaml ]
	run "$COCTL" list --no-legend
	[ "${#lines[@]}" -eq 1 ]
	run --separate-stderr "$COCTL" kill bad nope
	[ "$status" -eq 4 ]
	[ "$output" = "killed bad; it is defined in jobs.yaml and comes back on reload" ]
	[ "$stderr" = "coctl: no such job: nope" ]
	run "$COCTL" reload
	[ "$status" -eq 0 ]
	run "$COCTL" list --no-legend
	[ "${#lines[@]}" -eq 2 ]
	[[ "$output" != *web* ]]
	run "$COCTL" kill
	[ "$status" -eq 2 ]
}

@test "kill aborts a run in progress at once" {
	start_slow_run
	local t0=$SECONDS
	"$COCTL" kill slow
	wait "$RUNNER" || true
	[ $((SECONDS - t0)) -le 2 ]
	! pgrep -f '/bin/sleep 30' -P "$D_PID" || false
	[[ "$(cat run.out)" == *"killed or removed while it ran"* ]]
}

@test "pause and resume: STATE says paused, NEXT is empty; exit 4 for no such job" {
	daemon_start
	run "$COCTL" pause good
	[ "$status" -eq 0 ]
	[ "$output" = "paused good" ]
	run "$COCTL" list --no-legend
	[[ "${lines[0]}" =~ ^good\ +exec\ +every\ 1h\ +unknown,paused\ +-\ +-\ +0\ +0\ +-$ ]]
	run "$COCTL" resume good nope
	[ "$status" -eq 4 ]
	[ "${lines[0]}" = "resumed good" ]
	run "$COCTL" list --no-legend
	[[ "${lines[0]}" =~ ^good\ +exec\ +every\ 1h\ +unknown\ +-\ +-\ +0\ +0\ +in ]]
	run "$COCTL" pause
	[ "$status" -eq 2 ]
}

@test "reload: picks up changes; refuses a broken configuration and prints its errors" {
	daemon_start
	printf 'jobs:\n  - {name: new, type: exec, command: [/bin/true], every: 1m}\n' > "$D_DROPIN/new.yaml"
	run "$COCTL" reload
	[ "$status" -eq 0 ]
	[ "$output" = "coctl: reloaded: 3 jobs" ]
	printf 'jobs:\n  - {name: broken, type: exec, every: 1m, timeot: 1s}\n' > "$D_DROPIN/z.yaml"
	run --separate-stderr "$COCTL" reload
	[ "$status" -eq 1 ]
	[[ "${stderr_lines[0]}" == "coctl: reload refused, nothing changed: the configuration has errors" ]]
	[[ "$stderr" == *"$D_DROPIN/z.yaml:2:"*'unknown key "timeot"'* ]]
	run "$COCTL" list --no-legend
	[ "${#lines[@]}" -eq 3 ]
	run "$COCTL" reload extra
	[ "$status" -eq 2 ]
}

@test "stats: the daemon's figures, as text and JSON" {
	daemon_start
	"$COCTL" run good
	run --separate-stderr "$COCTL" stats
	[ "$status" -eq 0 ]
	[[ "$output" == *"Daemon:     coro-runnerd "*", pid $D_PID, up "* ]]
	[[ "$output" == *"Jobs:       2 (0 running, 0 paused, 0 down)"* ]]
	[[ "$output" == *"Coroutines: "*" shared stacks, "*" of stacks saved"* ]]
	[[ "$output" == *"Loop lag:   p99 "* ]]
	[[ "$output" == *"Memory:     "*" resident"* ]]
	run "$COCTL" stats -o json
	[ "$(echo "$output" | json 'j["jobs"], j["runs"], j["rss_bytes"] > 0, j["switches"] > 0')" = "2 1 True True" ]
}

@test "exit 3 when the daemon is not there; -s and CORO_RUNNER_SOCKET choose the socket" {
	run --separate-stderr "$COCTL" list
	[ "$status" -eq 3 ]
	[[ "$stderr" == "coctl: cannot reach coro-runnerd at $CORO_RUNNER_SOCKET: connect: No such file or directory"* ]]
	daemon_start
	mv "$CORO_RUNNER_SOCKET" other.sock
	run "$COCTL" list
	[ "$status" -eq 3 ]
	run "$COCTL" -s other.sock list --no-legend
	[ "$status" -eq 0 ]
	run "$COCTL" list -s other.sock --no-legend
	[ "$status" -eq 0 ]
	CORO_RUNNER_SOCKET=other.sock run "$COCTL" stats
	[ "$status" -eq 0 ]
	run env -u CORO_RUNNER_SOCKET "$COCTL" -s /nonexistent/x.sock kill good
	[ "$status" -eq 3 ]
	mv other.sock "$CORO_RUNNER_SOCKET"
}

@test "--help for every command; usage errors exit 2" {
	for cmd in list status add kill pause resume run reload stats check; do
		run --separate-stderr "$COCTL" "$cmd" --help
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" == "Usage: coctl $cmd"* ]]
		[ -z "$stderr" ]
		run --separate-stderr "$COCTL" help "$cmd"
		[ "$status" -eq 0 ]
		run --separate-stderr "$COCTL" "$cmd" --no-such-option
		[ "$status" -eq 2 ]
		[[ "$stderr" == *"Try 'coctl $cmd --help'"* ]]
	done
	run --separate-stderr "$COCTL" list -o yaml
	[ "$status" -eq 2 ]
	run --separate-stderr "$COCTL" lisst
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"did you mean 'list'"* ]]
}

@test "a stale socket file is replaced; a live daemon's is not" {
	python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('$CORO_RUNNER_SOCKET')"
	daemon_start
	run "$CORO_RUNNERD" -c "$D_CONF" -d "$D_DROPIN" -s "$D_SOCK" --state-dir state2
	[ "$status" -eq 1 ]
	[[ "$output" == *"in use"* ]]
	"$COCTL" list >/dev/null
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ ! -e "$CORO_RUNNER_SOCKET" ]
}

@test "the socket is mode 0666; systemd's socket (sd_listen_fds) is used and left in place" {
	daemon_start
	[ "$(stat -c %a "$CORO_RUNNER_SOCKET")" = 666 ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	command -v systemd-socket-activate >/dev/null || skip "no systemd-socket-activate"
	D_PREFIX=(systemd-socket-activate -l "$BATS_TEST_TMPDIR/act.sock")
	D_SOCK="$BATS_TEST_TMPDIR/unused.sock"
	daemon_spawn
	# systemd-socket-activate binds the socket first (in the background: wait for it).
	wait_for 5 test -S act.sock
	# The daemon starts at the first connection, which it then serves.
	run "$COCTL" -s act.sock list --no-legend
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ ! -e unused.sock ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ -S act.sock ]
}

@test "bash completion: commands, options, job names from the daemon, add's keys" {
	daemon_start
	complete_words() { # complete_words WORD...: the completions of the last word
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMPREPLY=()
		_coctl
		echo "${COMPREPLY[*]}"
	}
	PATH="$(dirname "$COCTL"):$PATH"
	source "$ROOT/packaging/bash-completion/coctl"
	[ "$(complete_words coctl st)" = "status stats" ]
	[ "$(complete_words coctl status g)" = "good" ]
	[ "$(complete_words coctl -s "$CORO_RUNNER_SOCKET" kill '')" = "good bad" ]
	[ "$(complete_words coctl add x --ty)" = "--type" ]
	[ "$(complete_words coctl add x --type e)" = "exec" ]
	[ "$(complete_words coctl list -o j)" = "json json-pretty" ]
	[[ " $(complete_words coctl --) " == *" --no-legend "* ]]
}

@test "a stop while coctl run waits: the daemon is gone within 2 s and coctl says why" {
	start_slow_run
	# An idle client too: it must not hold the stop.
	python3 -c "import socket, time; s = socket.socket(socket.AF_UNIX); s.connect('$CORO_RUNNER_SOCKET'); time.sleep(10)" &
	local idle=$!
	local t0=$SECONDS
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ $((SECONDS - t0)) -le 2 ]
	local status=0
	wait "$RUNNER" || status=$?
	[ "$status" -eq 1 ]
	[ "$(cat run.out)" = "coctl: the daemon is stopping" ]
	kill "$idle" || true
	! grep -q "still busy" "$D_LOG" || false
}
