# SPDX-License-Identifier: MIT
# notify-helpers.bash: helpers of the notifications' integration tests
# (tests/bats/notify*.bats, issue 14). The real coro-runnerd delivers to
# real receivers on loopback: tools/webhook-receiver.py (an Alertmanager
# webhook receiver that records and checks every POST), tools/smtp-sink.py
# (aiosmtpd), Debian's prometheus-alertmanager.
#
#   notify_setup             each test's setup: the daemon's directory, UP
#   ctl ARG...               coctl against the test's daemon
#   job_yaml NAME NOTIFY [LINE]...
#                            a job (YAML, two-space indented) that is up
#                            while $UP/NAME exists and else fails with
#                            "exit 42"; notify: [NOTIFY]; each LINE ("key:
#                            value") added; every 1s, timeout 900ms,
#                            thresholds 2 and 1 unless a LINE sets them
#   job_up NAME, job_down NAME   make it pass or fail from its next run
#   job_json NAME [JQ]       its `coctl status -o json` (through a jq filter)
#   receiver_start NAME [ARG...]
#                            a webhook receiver (ARGs: --fail-first N,
#                            --hang, --big, --cert F --key F); R_PORT is its
#                            port, R_FILE ($BATS_TEST_TMPDIR/NAME.jsonl) its
#                            record of POSTs, one JSON line each
#   posts FILE [JQ-COND]     how many POSTs FILE records (that match COND)
#   wait_posts FILE N [SECS] [JQ-COND]   until N of them
#   post FILE K [JQ]         the K-th POST (1-based), through a jq filter
#   log_ms REGEX [N]         wall-clock ms of the Nth log line matching
#   smtp_start NAME [ARG...] aiosmtpd on a free port (ARGs: --cert F --key F
#                            to offer STARTTLS): S_PORT, and S_DIR
#                            ($BATS_TEST_TMPDIR/NAME) gets NNN.eml, NNN.json
#   make_cert                a self-signed certificate for 127.0.0.1: CERT, KEY
#   metric NAME{LABELS}      a sample's value from the daemon's /metrics
#
# Times: the contract's figures (backoff 1 s, 2 s, 4 s +-20%, a notifier's
# timeout) are asserted as stated; waits for things to happen are generous
# (a loaded two-core machine, the sanitizer build).

load daemon-helpers

HOST_NAME="$(hostname)"
export HOST_NAME

notify_setup() {
	require_daemon
	require_coctl
	daemon_dir "$BATS_TEST_TMPDIR/d"
	UP="$BATS_TEST_TMPDIR/up"
	mkdir -p "$UP"
	export UP
}

ctl() {
	"$COCTL" -s "$D_SOCK" "$@"
}

job_yaml() {
	local name="$1" notify="$2" line key
	shift 2
	cat <<-EOF
	  - name: $name
	    type: exec
	    command: ["/bin/sh", "-c", "test -e $UP/$name || exit 42"]
	    notify: [$notify]
	EOF
	# The defaults, unless a LINE gives the key.
	for line in "every: 1s" "timeout: 900ms" "failures_before_down: 2" "successes_before_up: 1"; do
		key="${line%%:*}"
		[[ " ${*/%:*/:} " == *" $key:"* ]] || echo "    $line"
	done
	for line in "$@"; do
		echo "    $line"
	done
}

job_up() {
	touch "$UP/$1"
}

job_down() {
	rm -f "$UP/$1"
}

job_json() {
	ctl status "$1" -o json | jq -c "${2:-.}"
}

# The job's state as coctl status reports it ("up", "down", ...).
job_state() {
	ctl status "$1" -o json 2>/dev/null | jq -r '.jobs[0].state'
}

job_state_is() {
	[ "$(job_state "$1")" = "$2" ]
}

# job_runs_at_least NAME N: the job has run N times.
job_runs_at_least() {
	local n
	n=$(ctl status "$1" -o json 2>/dev/null | jq -r '.jobs[0].runs') || return 1
	[ -n "$n" ] && [ "$n" -ge "$2" ]
}

receiver_start() {
	local name="$1"
	shift
	R_FILE="$BATS_TEST_TMPDIR/$name.jsonl"
	: > "$R_FILE"
	bg_start "$name" python3 "$TOOLS/webhook-receiver.py" "$@" "$R_FILE" || return 1
	R_PORT="$BG_LINE"
	export R_FILE R_PORT
}

posts() {
	[ -s "$1" ] || {
		echo 0
		return 0
	}
	jq -s "[.[] | select(${2:-true})] | length" "$1"
}

wait_posts() {
	local file="$1" want="$2" secs="${3:-30}" cond="${4:-true}"
	local deadline=$(($(now_ms) + secs * 1000)) n
	while :; do
		n=$(posts "$file" "$cond")
		[ "$n" -ge "$want" ] && return 0
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "wait_posts: $n of $want POSTs ($cond) in $file after ${secs}s" >&2
			cat "$file" >&2
			show_log >&2
			return 1
		fi
		sleep 0.05
	done
}

post() {
	sed -n "${2}p" "$1" | jq -c "${3:-.}"
}

# Raw string output of a jq filter on the K-th POST.
post_r() {
	sed -n "${2}p" "$1" | jq -r "$3"
}

log_ms() {
	local line
	line=$(grep -E -- "$1" "$D_LOG" | sed -n "${2:-1}p")
	[ -n "$line" ] || {
		echo "log_ms: no line $((${2:-1})) matching /$1/" >&2
		return 1
	}
	date -d "${line%% *}" +%s%3N
}

smtp_start() {
	S_DIR="$BATS_TEST_TMPDIR/$1"
	/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || {
		echo "python3-aiosmtpd is not installed (make deps)" >&2
		return 1
	}
	local name="$1"
	shift
	bg_start "$name" "$TOOLS/smtp-sink.py" "$@" "$S_DIR" || return 1
	S_PORT="$BG_LINE"
	export S_DIR S_PORT
}

make_cert() {
	CERT="$BATS_TEST_TMPDIR/cert.pem"
	KEY="$BATS_TEST_TMPDIR/key.pem"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$KEY" -out "$CERT" -days 1 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
	export CERT KEY
}

metric() {
	curl -sS -m 10 "http://127.0.0.1:$D_METRICS_PORT/metrics" |
		awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "absent" }'
}
