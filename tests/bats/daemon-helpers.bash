# SPDX-License-Identifier: MIT
# daemon-helpers.bash: shared helpers of the integration tests
# (tests/bats/*.bats). They drive the real coro-runnerd ($CORO_RUNNERD) and
# coctl ($COCTL) against real servers on loopback, each test in its own
# directory with its own configuration, control socket and state.
#
#   require_daemon, require_coctl  fail (setup) unless the binary is built
#   daemon_dir DIR           where the daemon's files live (D_DIR, D_CONF,
#                            D_DROPIN, D_SOCK, D_STATE, D_LOG, D_OUT)
#   daemon_spawn [ARG...]    start it in the background (D_PID); no wait
#   daemon_start [ARG...]    start it and wait for its "started:" line
#   daemon_start_metrics [--config] [ARG...]
#                            the same, serving /metrics on D_METRICS_PORT
#   daemon_stop [SIGNAL]     signal it and wait for its end: D_STATUS (exit
#                            status) and D_STOP_MS (time from the signal)
#   no_sanitizer_reports     nothing from ASan, LSan or UBSan in the logs
#   wait_log REGEX [N] [S]   wait until N lines of the log match (S seconds)
#   count_log REGEX          how many lines of the log match
#   wait_for S CMD...        wait until CMD succeeds, at most S seconds
#   bg_start NAME CMD...     start a server in the background; its first
#                            line of stdout (a port, usually) in BG_LINE
#   remember_pid PID         a process for kill_started (teardown) to end
#   free_port                a TCP port on 127.0.0.1 with nothing listening
#
# Timing: every wait polls a condition with a deadline, generous for a
# loaded two-core machine; a wait that runs out prints the daemon's log.

D_PREFIX=()
ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
TOOLS="$ROOT/tests/tools"
CORO_RUNNERD="${CORO_RUNNERD:-$ROOT/build/$(cc -dumpmachine | cut -d- -f1)/coro-runnerd}"
COCTL="${COCTL:-$ROOT/build/$(cc -dumpmachine | cut -d- -f1)/coctl}"
export ROOT TOOLS CORO_RUNNERD COCTL

# Seconds since the epoch with milliseconds, as an integer of ms.
now_ms() {
	local t
	t=$(date +%s%N)
	echo $((t / 1000000))
}

require_daemon() {
	[ -x "$CORO_RUNNERD" ] || {
		echo "no $CORO_RUNNERD: run make first" >&2
		return 1
	}
}

require_coctl() {
	[ -x "$COCTL" ] || {
		echo "no $COCTL: run make first" >&2
		return 1
	}
}

# daemon_dir DIR: the files of one daemon under DIR. With DIR ".", the
# names are relative to the working directory (jobs.yaml, state, ...), as
# a user there would type them, and so are the daemon's messages about
# them; the test then stays in that directory.
daemon_dir() {
	local p="$1/"
	[ "$1" != . ] || p=
	D_DIR="$1"
	D_CONF="${p}jobs.yaml"
	D_DROPIN="${p}jobs.d"
	D_SOCK="${p}control.sock"
	D_STATE="${p}state"
	D_LOG="${p}daemon.log"
	D_OUT="${p}daemon.out"
	mkdir -p "$D_DIR" "$D_DROPIN" "$D_STATE"
	export D_DIR D_CONF D_DROPIN D_SOCK D_STATE D_LOG D_OUT
}

# The background processes a test (or a file's setup) started, to end in teardown.
_pids_file() {
	echo "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}/.bg-pids"
}

remember_pid() {
	echo "$1" >> "$(_pids_file)"
}

# Ends what this test started, by pid: servers, a daemon left running.
# SIGTERM, then SIGKILL for what is left after 10 s (a daemon of the
# sanitizer build takes a while to write its reports as it exits).
kill_started() {
	local f="${1:-$(_pids_file)}" pid
	[ -f "$f" ] || return 0
	while read -r pid; do
		kill -TERM "$pid" 2>/dev/null || true
	done < "$f"
	for _ in $(seq 200); do
		local alive=0
		while read -r pid; do
			if proc_alive "$pid"; then alive=1; fi
		done < "$f"
		[ "$alive" -eq 0 ] && break
		sleep 0.05
	done
	while read -r pid; do
		kill -KILL "$pid" 2>/dev/null || true
	done < "$f"
	rm -f "$f"
}

# Whether pid runs (a zombie does not count).
proc_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

proc_gone() {
	! proc_alive "$1"
}

# daemon_spawn [ARG...]: coro-runnerd on D_CONF with everything in D_DIR.
# Environment: the caller's. D_PID is the daemon's pid. D_PREFIX, an
# array, is a command that execs the rest (prlimit, a shell that sets a
# limit or WATCHDOG_PID=$$, systemd-socket-activate -l SOCKET): it keeps
# the pid. D_LOG is this start's log; an earlier start's is kept as
# D_LOG.1, .2, ... (for no_sanitizer_reports).
daemon_spawn() {
	local n=1
	if [ -s "$D_LOG" ]; then
		while [ -e "$D_LOG.$n" ]; do n=$((n + 1)); done
		mv "$D_LOG" "$D_LOG.$n"
	fi
	: > "$D_LOG"
	"${D_PREFIX[@]}" "$CORO_RUNNERD" -c "$D_CONF" -d "$D_DROPIN" -s "$D_SOCK" \
		--state-dir "$D_STATE" "$@" > "$D_OUT" 2> "$D_LOG" 3>&- < /dev/null &
	D_PID=$!
	export D_PID
	remember_pid "$D_PID"
}

# daemon_start [ARG...]: spawn, then wait until it says it started.
daemon_start() {
	daemon_spawn "$@"
	wait_log ': info: started: [0-9]+ jobs?, control socket ' 1 30
}

# daemon_start_metrics [--config] [ARG...]: daemon_start ARG..., serving
# GET /metrics on 127.0.0.1:D_METRICS_PORT, a free port given by --metrics
# or, with --config, in D_CONF (config_metrics_listen). The port can be
# taken between free_port and the daemon's bind: then the daemon, which
# says it cannot listen, is stopped and started on another, five times.
daemon_start_metrics() {
	local in_config=
	if [ "${1:-}" = --config ]; then
		in_config=1
		shift
	fi
	for _ in 1 2 3 4 5; do
		D_METRICS_PORT=$(free_port)
		export D_METRICS_PORT
		if [ -n "$in_config" ]; then
			config_metrics_listen "$D_CONF" "$D_METRICS_PORT"
			daemon_start "$@" || return 1
		else
			daemon_start --metrics "127.0.0.1:$D_METRICS_PORT" "$@" || return 1
		fi
		[ "$(count_log ': metrics: serving ')" -eq 0 ] || return 0
		daemon_stop
	done
	echo "daemon_start_metrics: /metrics not served on any of five ports" >&2
	show_log >&2
	return 1
}

# config_metrics_listen FILE PORT: FILE's first line becomes the metrics
# key, serving on 127.0.0.1:PORT (a metrics line there is removed).
config_metrics_listen() {
	sed -i -e "1i metrics: {listen: \"127.0.0.1:$2\"}" -e '/^metrics:/d' "$1"
}

# no_sanitizer_reports: no report of ASan, LSan or UBSan (the sanitizer
# build) in the logs of this daemon directory's starts; prints any.
no_sanitizer_reports() {
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$D_LOG"* 2> /dev/null
}

# show_log: the daemon's log (and stdout), for a failing test's output.
show_log() {
	echo "--- daemon log ($D_LOG) ---"
	cat "$D_LOG" 2>/dev/null || true
	if [ -s "$D_OUT" ]; then
		echo "--- daemon stdout ---"
		cat "$D_OUT"
	fi
	echo "---"
}

count_log() {
	grep -cE -- "$1" "$D_LOG" 2>/dev/null || true
}

# wait_log REGEX [COUNT] [SECONDS]: at least COUNT lines match (default 1,
# 30 s: a machine shared by many builds can be slow to start a sanitized
# daemon; a wait that succeeds costs only its own time).
wait_log() {
	local re="$1" want="${2:-1}" secs="${3:-30}"
	local deadline=$(($(now_ms) + secs * 1000)) n
	while :; do
		n=$(count_log "$re")
		[ "$n" -ge "$want" ] && return 0
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "wait_log: $n of $want lines matching /$re/ after ${secs}s" >&2
			show_log >&2
			return 1
		fi
		if [ -n "${D_PID:-}" ] && ! proc_alive "$D_PID"; then
			n=$(count_log "$re")
			[ "$n" -ge "$want" ] && return 0
			echo "wait_log: the daemon (pid $D_PID) ended; $n of $want lines matching /$re/" >&2
			show_log >&2
			return 1
		fi
		sleep 0.05
	done
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local secs="$1"
	shift
	local deadline=$(($(now_ms) + secs * 1000))
	until "$@"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "wait_for: '$*' still failing after ${secs}s" >&2
			return 1
		fi
		sleep 0.05
	done
}

# daemon_stop [SIGNAL] [SECONDS]: signal (TERM), wait for the end (at most
# SECONDS, default 10, then SIGKILL). D_STATUS: exit status; D_STOP_MS: ms
# from the signal until the process was gone.
daemon_stop() {
	local sig="${1:-TERM}" secs="${2:-10}"
	local t0 deadline
	t0=$(now_ms)
	deadline=$((t0 + secs * 1000))
	kill -"$sig" "$D_PID"
	while proc_alive "$D_PID"; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "daemon_stop: pid $D_PID still running ${secs}s after SIG$sig; killing it" >&2
			kill -KILL "$D_PID" 2>/dev/null || true
			show_log >&2
			break
		fi
		sleep 0.01
	done
	D_STOP_MS=$(($(now_ms) - t0))
	D_STATUS=0
	wait "$D_PID" 2>/dev/null || D_STATUS=$?
	export D_STOP_MS D_STATUS
}

# bg_start NAME CMD...: a server in the background, output in
# $BATS_TEST_TMPDIR/NAME.out and .err (or the file's tmpdir in setup_file);
# waits for its first line of stdout, kept in BG_LINE; BG_PID is its pid.
bg_start() {
	local name="$1"
	shift
	local dir="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}"
	"$@" > "$dir/$name.out" 2> "$dir/$name.err" 3>&- < /dev/null &
	BG_PID=$!
	remember_pid "$BG_PID"
	local deadline=$(($(now_ms) + 15000))
	until [ -s "$dir/$name.out" ] && [ "$(wc -l < "$dir/$name.out")" -ge 1 ]; do
		if ! proc_alive "$BG_PID" || [ "$(now_ms)" -ge "$deadline" ]; then
			echo "bg_start: $name ($*) did not start:" >&2
			cat "$dir/$name.err" >&2
			return 1
		fi
		sleep 0.02
	done
	BG_LINE=$(head -n 1 "$dir/$name.out")
	export BG_PID BG_LINE
}

# free_port: a port on 127.0.0.1 that nothing listens on (bound, then
# released: nothing else here binds it meanwhile, the kernel hands out
# ephemeral ports in order).
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A port in 20000-59999 for servers that cannot bind port 0 and report it
# (dnsmasq); callers retry with another when it is taken.
random_port() {
	echo $((20000 + (RANDOM * 32768 + RANDOM) % 40000))
}

# start_dnsmasq ARG...: dnsmasq on 127.0.0.1 on a free port (DNS_PORT), in
# the foreground of a background job, with only the records the arguments
# give (no /etc/hosts, no upstream servers).
start_dnsmasq() {
	local dir="${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}" try port pid
	command -v dnsmasq > /dev/null || {
		echo "dnsmasq not installed (make deps: dnsmasq-base)" >&2
		return 1
	}
	for try in 1 2 3 4 5 6 7 8; do
		port=$(random_port)
		: > "$dir/dnsmasq.err"
		dnsmasq -d -k --conf-file=/dev/null --port="$port" --listen-address=127.0.0.1 \
			--bind-interfaces --no-resolv --no-hosts --no-negcache --pid-file= \
			--user="$(id -un)" --group="$(id -gn)" "$@" \
			> /dev/null 2> "$dir/dnsmasq.err" 3>&- < /dev/null &
		pid=$!
		# Ready once it logs that it started (after binding); gone if the port was taken.
		local deadline=$(($(now_ms) + 10000))
		while proc_alive "$pid" && ! grep -q 'started, version' "$dir/dnsmasq.err"; do
			[ "$(now_ms)" -ge "$deadline" ] && break
			sleep 0.02
		done
		if proc_alive "$pid" && grep -q 'started, version' "$dir/dnsmasq.err"; then
			remember_pid "$pid"
			DNS_PORT="$port"
			DNS_PID="$pid"
			export DNS_PORT DNS_PID
			return 0
		fi
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "start_dnsmasq: could not start dnsmasq:" >&2
	cat "$dir/dnsmasq.err" >&2
	return 1
}

# lines_at_least FILE N [REGEX]: FILE has N lines (matching REGEX).
lines_at_least() {
	local n
	n=$(grep -cE -- "${3:-.}" "$1" 2> /dev/null) || n=0
	[ "$n" -ge "$2" ]
}

# Pids of running processes whose command line contains the fixed string.
pids_matching() {
	pgrep -f -- "$1" || true
}

pids_running() {
	[ -n "$(pids_matching "$1")" ]
}

no_process_matching() {
	[ -z "$(pids_matching "$1")" ]
}

# A marker unique to this test, for command lines to look for.
unique_marker() {
	echo "$((RANDOM % 900 + 100)).$$$RANDOM"
}
