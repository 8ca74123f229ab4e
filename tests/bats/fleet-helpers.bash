# SPDX-License-Identifier: MIT
# fleet-helpers.bash: helpers of the fleet's integration tests
# (tests/bats/fleet*.bats, issue 13): a real three-member etcd cluster on
# loopback, coro-runnerd daemons as the members of a fleet, and a run log
# that every run of every fleet job appends to, so that the tests can count
# runs, see where each ran and find overlaps and gaps.
#
# The cluster (one per bats file: fleet_setup_file, fleet_teardown_file):
#   fleet_setup_file         the cluster and $RUN_SH
#   fleet_teardown_file      ends every etcd and daemon the file started
#   etcd_cluster_start       three members on free ports, data in the file's
#                            tmpdir; ETCD_ENDPOINTS (a,b,c), ETCD_URLS (a
#                            YAML flow list), ETCD_PORT_1..3
#   etcd_cluster_stop        kills every etcd this file started
#   etcd_member_stop I [SIG] stops member I (1..3), SIGKILL by default
#   etcd_url I               member I's client URL
#   etcd_member_start I      starts it again on its data dir
#   etcd_ensure_all          every member running and the cluster healthy
#                            (each test's setup: a failed test cannot leave
#                            the next one a broken cluster)
#   etcd_leader              the leader's index (1..3)
#   etcd_revision            the cluster's current revision
#   ectl ARG...              etcdctl against the cluster
#
# The members (each test: fleet_setup in setup, kill_started in teardown):
#   fleet_setup              a prefix of the test's own (FLEET_PREFIX), the
#                            run log (RUNS), FLEET_TTL (2s)
#   member_start NAME [--instance I] [--no-wait] [--etcd URLS] [--local YAML]
#                            a daemon with member name NAME, in
#                            $BATS_TEST_TMPDIR/NAME (a second daemon of a
#                            name, --instance 2: NAME@2), MEMBER=NAME (NAME@2)
#                            in its environment; waits until it has joined
#   member NAME[@I]          makes NAME's daemon the current one for the
#                            helpers of daemon-helpers.bash (wait_log,
#                            count_log, show_log, daemon_stop, ...)
#   member_kill NAME [SIG]   signals it (KILL) and waits for its end
#   mctl NAME ARG...         coctl against NAME's control socket
#   log_ms NAME REGEX [N]    wall-clock ms of the Nth matching line of its log
#   jobs_yaml SPEC...        a jobs file: SPEC is NAME[:EVERY[:SECS[:FLAG[:KEY: VALUE]]]]
#   fleet_add NAME SPEC...   coctl add --fleet of those jobs through NAME
#   fleet_settled S N J NAME...  within S seconds, every NAME sees N members and J jobs
#   where NAME JOB, where_all NAME JOB..., owned_by NAME
#                            placement as NAME sees it (coctl fleet where, list)
#   jqe [OPT...] FILTER      jq -e that fails on no input
#   runs CMD ...             the run log's checker (see runs below)
#   gaps_at_most MS FROM TO REGEX [--on M] NAME...  no job went MS without a run
#
# Each run of a fleet job is tests' $RUN_SH: it appends "S MEMBER JOB
# START" when it starts and "E MEMBER JOB START END" when it ends (times in
# microseconds of the wall clock, one small O_APPEND write each, so lines
# never interleave). An exclusive job's run also holds flock(2) on a file
# of the job's for as long as any process of the run lives; if the lock is
# taken, another member's run of the job is alive at that moment, and the
# run appends "O MEMBER JOB START": an overlap, seen by the kernel rather
# than inferred from times.

load daemon-helpers

ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
ETCDCTL_BIN=${ETCDCTL_BIN:-/usr/bin/etcdctl}

require_etcd() {
	[ -x "$ETCD_BIN" ] && [ -x "$ETCDCTL_BIN" ] || {
		echo "no $ETCD_BIN or $ETCDCTL_BIN: make deps installs etcd-server and etcd-client" >&2
		return 1
	}
}

# ---- the etcd cluster --------------------------------------------------------

_etcd_dir() {
	echo "$BATS_FILE_TMPDIR/etcd"
}

ectl() {
	ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="$ETCD_ENDPOINTS" --dial-timeout=2s \
		--command-timeout=5s "$@"
}

# etcd_member_start I: member I on its ports and data dir; new cluster the
# first time, its own data afterwards (etcd ignores the initial-* flags then).
etcd_member_start() {
	local i="$1" dir pid cport pport
	dir=$(_etcd_dir)
	cport=$(cat "$dir/client.$i")
	pport=$(cat "$dir/peer.$i")
	# Fast elections: a lost leader is replaced within about a second.
	# Pre-vote (etcd 3.5's default): a member left alone does not raise
	# its term at every election timeout and then disrupt the cluster for
	# seconds when the others return (quorum lost and back).
	"$ETCD_BIN" --name "e$i" --data-dir "$dir/e$i" \
		--listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$(cat "$dir/cluster")" \
		--initial-cluster-state new --initial-cluster-token "$(cat "$dir/token")" \
		--heartbeat-interval 100 --election-timeout 1000 --pre-vote \
		--log-outputs stderr \
		>> "$dir/e$i.log" 2>&1 3>&- < /dev/null &
	pid=$!
	disown "$pid" # no "Killed" from the shell when a test stops it
	echo "$pid" > "$dir/pid.$i"
	echo "$pid" >> "$dir/.pids"
}

etcd_url() {
	echo "http://127.0.0.1:$(cat "$(_etcd_dir)/client.$1")"
}

etcd_member_running() {
	local dir
	dir=$(_etcd_dir)
	[ -f "$dir/pid.$1" ] && proc_alive "$(cat "$dir/pid.$1")"
}

# etcd_member_stop I [SIGNAL]: stops member I and waits until it is gone.
etcd_member_stop() {
	local dir pid
	dir=$(_etcd_dir)
	pid=$(cat "$dir/pid.$1")
	kill -"${2:-KILL}" "$pid" 2>/dev/null || true
	wait_for 10 proc_gone "$pid"
}

# Every member answers and the cluster has a leader.
etcd_healthy() {
	local n
	n=$(ectl endpoint health 2>&1 | grep -c 'is healthy') || true
	[ "$n" -eq 3 ]
}

etcd_wait_healthy() {
	wait_for "${1:-30}" etcd_healthy || {
		echo "etcd_wait_healthy: the cluster is not healthy:" >&2
		ectl endpoint health >&2 || true
		tail -n 20 "$(_etcd_dir)"/e*.log >&2
		return 1
	}
}

# etcd_cluster_start: three members on free loopback ports (client and
# peer), or a second try on other ports if one was taken meanwhile.
etcd_cluster_start() {
	require_etcd || return 1
	local dir try i ports p
	dir=$(_etcd_dir)
	for try in 1 2 3; do
		rm -rf "$dir"
		mkdir -p "$dir"
		ports=" "
		for i in 1 2 3 4 5 6; do
			p=$(free_port)
			while [[ "$ports" == *" $p "* ]]; do p=$(free_port); done
			ports="$ports$p "
		done
		read -r -a p <<< "$ports"
		ETCD_ENDPOINTS= ETCD_URLS=
		for i in 1 2 3; do
			echo "${p[i - 1]}" > "$dir/client.$i"
			echo "${p[i + 2]}" > "$dir/peer.$i"
			eval "ETCD_PORT_$i=${p[i - 1]}"
			ETCD_ENDPOINTS="$ETCD_ENDPOINTS${ETCD_ENDPOINTS:+,}127.0.0.1:${p[i - 1]}"
			ETCD_URLS="$ETCD_URLS${ETCD_URLS:+, }\"http://127.0.0.1:${p[i - 1]}\""
		done
		ETCD_URLS="[$ETCD_URLS]"
		echo "e1=http://127.0.0.1:${p[3]},e2=http://127.0.0.1:${p[4]},e3=http://127.0.0.1:${p[5]}" \
			> "$dir/cluster"
		echo "coro-fleet-$$-$RANDOM$RANDOM" > "$dir/token"
		export ETCD_ENDPOINTS ETCD_URLS ETCD_PORT_1 ETCD_PORT_2 ETCD_PORT_3
		for i in 1 2 3; do etcd_member_start "$i"; done
		if wait_for 30 etcd_healthy; then
			return 0
		fi
		echo "etcd_cluster_start: try $try failed:" >&2
		tail -n 5 "$dir"/e*.log >&2
		etcd_cluster_stop
	done
	return 1
}

# SIGKILL: a graceful stop takes etcd seconds (it hands its leadership on),
# and the data is thrown away.
etcd_cluster_stop() {
	local f pid
	f="$(_etcd_dir)/.pids"
	[ -f "$f" ] || return 0
	while read -r pid; do
		kill -KILL "$pid" 2>/dev/null || true
	done < "$f"
	while read -r pid; do
		wait_for 10 proc_gone "$pid" || true
	done < "$f"
	rm -f "$f"
}

etcd_ensure_all() {
	local i
	for i in 1 2 3; do
		# A test that failed while a member was stopped (SIGSTOP) left it so.
		kill -CONT "$(cat "$(_etcd_dir)/pid.$i")" 2>/dev/null || true
		etcd_member_running "$i" || etcd_member_start "$i"
	done
	etcd_wait_healthy 30
}

# The leader's index (1..3).
etcd_leader() {
	local i
	for i in 1 2 3; do
		ETCDCTL_API=3 "$ETCDCTL_BIN" --endpoints="127.0.0.1:$(cat "$(_etcd_dir)/client.$i")" \
			--dial-timeout=2s --command-timeout=3s endpoint status -w json 2>/dev/null |
			jqe '.[0].Status | .header.member_id == .leader' > /dev/null && {
			echo "$i"
			return 0
		}
	done
	return 1
}

etcd_revision() {
	ectl get / -w json --limit 1 | jq -r .header.revision
}

# ---- the members -------------------------------------------------------------

# The run of a fleet job (see the top). Written once per file.
_write_run_sh() {
	RUN_SH="$BATS_FILE_TMPDIR/run.sh"
	cat > "$RUN_SH" <<-'EOF'
	#!/bin/bash
	# run.sh JOB SECONDS [exclusive|fail]: one run of a fleet job, in $RUNS.
	job=$1
	start=${EPOCHREALTIME/./}
	if [ "${3:-}" = exclusive ]; then
		exec 9>> "$RUNS.lock.$job"
		flock -n 9 || echo "O $MEMBER $job $start" >> "$RUNS"
	fi
	echo "S $MEMBER $job $start" >> "$RUNS"
	sleep "$2"
	echo "E $MEMBER $job $start ${EPOCHREALTIME/./}" >> "$RUNS"
	[ "${3:-}" != fail ]
	EOF
	chmod +x "$RUN_SH"
	export RUN_SH
}

fleet_setup_file() {
	require_daemon
	require_coctl
	_write_run_sh
	etcd_cluster_start
}

# The cluster, and what a failed test left running (teardown has ended it already).
fleet_teardown_file() {
	etcd_cluster_stop
	kill_started "$BATS_FILE_TMPDIR/.bg-pids"
}

# fleet_setup [TTL]: this test's prefix, run log and ttl (seconds); the
# cluster whole again if a test before stopped a member.
fleet_setup() {
	etcd_ensure_all
	FLEET_PREFIX="/fleet-t${BATS_TEST_NUMBER}-$$-$RANDOM/"
	RUNS="$BATS_TEST_TMPDIR/runs.log"
	FLEET_TTL="${1:-2}"
	: > "$RUNS"
	export FLEET_PREFIX RUNS FLEET_TTL
}

# _member_dir NAME [INSTANCE]: NAME's directory (a second daemon of one name: NAME@2).
_member_dir() {
	echo "$BATS_TEST_TMPDIR/$1${2:+@$2}"
}

# member NAME[@I]: NAME's daemon (or its Ith instance) is the current one.
member() {
	daemon_dir "$BATS_TEST_TMPDIR/$1"
	D_PID=$(cat "$D_DIR/pid" 2>/dev/null || echo 0)
	export D_PID
}

# member_start NAME [--instance I] [--no-wait] [--etcd URLS] [--local YAML]
# Writes its configuration (fleet section, the local jobs YAML or none),
# starts it with MEMBER=NAME and RUNS in its environment, and waits until
# it says it has joined (not with --no-wait). The daemon becomes the
# current one (member NAME).
member_start() {
	local name="$1" inst= wait=1 urls="$ETCD_URLS" local_jobs="jobs: []"
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--instance) inst="$2"; shift ;;
		--no-wait) wait= ;;
		--etcd) urls="$2"; shift ;;
		--local) local_jobs="$2"; shift ;;
		esac
		shift
	done
	daemon_dir "$(_member_dir "$name" "$inst")"
	cat > "$D_CONF" <<-EOF
	fleet:
	  etcd: $urls
	  prefix: $FLEET_PREFIX
	  member: $name
	  ttl: ${FLEET_TTL}s
	$local_jobs
	EOF
	D_PREFIX=(env "MEMBER=$name${inst:+@$inst}" "RUNS=$RUNS")
	daemon_spawn
	D_PREFIX=()
	echo "$D_PID" > "$D_DIR/pid"
	[ -z "$wait" ] || wait_log ": notice: fleet: joined as member $name " 1 30
}

# member_kill NAME [SIGNAL]: signals NAME's daemon (SIGKILL) and waits for its end.
member_kill() {
	member "$1"
	daemon_stop "${2:-KILL}" 15
}

mctl() {
	local dir
	dir=$(_member_dir "$1")
	shift
	"$COCTL" -s "$dir/control.sock" "$@"
}

# log_ms NAME REGEX [N]: the wall-clock time (ms) of the Nth line (1: the
# first, -1: the last) of NAME's log matching REGEX; fails if none.
log_ms() {
	local file line
	file="$(_member_dir "$1")/daemon.log"
	if [ "${3:-1}" -lt 0 ]; then
		line=$(grep -E -- "$2" "$file" | tail -n $((-${3})) | head -n 1)
	else
		line=$(grep -E -- "$2" "$file" | sed -n "${3:-1}p")
	fi
	[ -n "$line" ] || {
		echo "log_ms: no line $3 matching /$2/ in $file" >&2
		return 1
	}
	date -d "${line%% *}" +%s%3N
}

# jobs_yaml SPEC...: a jobs file on stdout; SPEC is
# NAME[:EVERY[:SECS[:FLAG[:KEY: VALUE]]]], an exec job that runs $RUN_SH
# every EVERY (whole seconds, 1 by default), each run SECS long (0.2), with
# a timeout 100 ms shorter than EVERY; FLAG "exclusive" makes it an
# exclusive job, "fail" makes its runs fail (exit 1); KEY: VALUE is one
# more key of the job.
jobs_yaml() {
	local spec name every secs flag extra
	echo "jobs:"
	for spec in "$@"; do
		IFS=: read -r name every secs flag extra <<< "$spec"
		every=$(( ${every:-1} * 1000 ))
		cat <<-EOF
		  - name: $name
		    type: exec
		    command: ["$RUN_SH", "$name", "${secs:-0.2}"${flag:+, \"$flag\"}]
		    every: ${every}ms
		    timeout: $((every - 100))ms
		EOF
		[ "$flag" != exclusive ] || echo "    exclusive: true"
		[ -z "$extra" ] || echo "    $extra"
	done
}

# fleet_add NAME SPEC...: adds the jobs through NAME's daemon.
fleet_add() {
	local name="$1" file
	shift
	file="$BATS_TEST_TMPDIR/add-$RANDOM.yaml"
	jobs_yaml "$@" > "$file"
	mctl "$name" add --fleet -f "$file"
}

# A member's view, from `coctl stats -o json`: N members, J jobs, joined.
_member_sees() {
	mctl "$1" stats -o json 2>/dev/null |
		jqe --argjson n "$2" --argjson j "$3" \
			'.fleet.members == $n and .fleet.jobs == $j and .fleet.state == "joined"' \
			> /dev/null
}

# fleet_settled SECONDS N J NAME...: every NAME sees N members and J jobs.
fleet_settled() {
	local secs="$1" n="$2" j="$3" name
	shift 3
	for name in "$@"; do
		wait_for "$secs" _member_sees "$name" "$n" "$j" || {
			echo "fleet_settled: $name does not see $n members and $j jobs:" >&2
			mctl "$name" stats -o json | jq .fleet >&2
			return 1
		}
	done
}

# where NAME JOB: the owner of JOB as NAME sees it.
where() {
	mctl "$1" fleet where -o json "$2" | jq -r '.jobs[0].owner // "-"'
}

# where_all NAME JOB...: "JOB OWNER" lines, as NAME sees them (the format of runs owners).
where_all() {
	local m="$1"
	shift
	mctl "$m" fleet where -o json "$@" | jq -r '.jobs[] | "\(.name) \(.owner // "-")"' | sort
}

# The jobs NAME owns as NAME sees them, sorted, one a line.
owned_by() {
	mctl "$1" fleet list -o json | jq -r --arg m "$1" '.jobs[] | select(.owner == $m) | .name'
}

# jqe [JQ-OPTION...] FILTER: jq -e on stdin's one JSON text, failing on no
# input at all (jq -e alone succeeds on empty input, as when a coctl
# before it in the pipe fails).
jqe() {
	local n=$# in
	in=$(cat)
	[ -n "$in" ] || return 5
	jq -e "${@:1:n-1}" "${!n}" <<< "$in"
}

# runs CMD [ARG...]: the run log's checker. Times are ms of the wall clock;
# FROM/TO bound a run's start (FROM inclusive, TO exclusive; 0 or absent:
# no bound). Runs of NAME@2 (a second daemon of one name) count as NAME@2.
#   owners [FROM [TO]]    "JOB MEMBER[,MEMBER...]" for each job that started
#   count [FROM [TO]]     how many runs started
#   first JOB [FROM [NOT]]  the first start of JOB at or after FROM (on a
#                         member other than NOT), or "none"
#   last JOB [MEMBER]     the last start of JOB (on MEMBER), or "none"
#   gaps [FROM [TO [MEMBER]]]  "JOB MS AT" per job: the longest time
#                         between two consecutive starts (on any member, or
#                         on MEMBER), or from FROM to the first and from the
#                         last to TO; AT is when it began
#   overlaps [REGEX]      every overlap of two runs of one job (whose name
#                         REGEX finds) on two members: from the S and E
#                         lines (runs that ended), and every O line (the
#                         lock of a live run held: exclusive jobs only)
runs() {
	python3 - "$RUNS" "$@" <<-'EOF'
	import re
	import sys
	from collections import defaultdict
	log, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
	starts = defaultdict(list)   # job -> [(start_ms, member)]
	ends = {}                    # (member, job, start_us) -> end_ms
	olap = []
	for line in open(log):
	    f = line.split()
	    if len(f) >= 4 and f[0] == "S":
	        starts[f[2]].append((int(f[3]) / 1000.0, f[1]))
	    elif len(f) >= 5 and f[0] == "E":
	        ends[(f[1], f[2], f[3])] = int(f[4]) / 1000.0
	    elif len(f) >= 4 and f[0] == "O":
	        olap.append(line.strip())
	for j in starts:
	    starts[j].sort()
	def arg(i, default=0.0):
	    return float(args[i]) if len(args) > i and args[i] else default
	def window(j, lo, hi):
	    return [(t, m) for t, m in starts[j] if t >= lo and (not hi or t < hi)]
	if cmd == "owners":
	    for j in sorted(starts):
	        ms = sorted({m for _, m in window(j, arg(0), arg(1))})
	        if ms:
	            print(j, ",".join(ms))
	elif cmd == "count":
	    print(sum(len(window(j, arg(0), arg(1))) for j in starts))
	elif cmd == "first":
	    not_m = args[2] if len(args) > 2 else None
	    t = [t for t, m in window(args[0], arg(1), 0) if m != not_m]
	    print("%d" % t[0] if t else "none")
	elif cmd == "last":
	    t = [t for t, m in starts[args[0]] if len(args) < 2 or m == args[1]]
	    print("%d" % t[-1] if t else "none")
	elif cmd == "gaps":
	    lo, hi = arg(0), arg(1)
	    on = args[2] if len(args) > 2 else None
	    for j in sorted(starts):
	        t = [x for x, m in window(j, lo, hi) if on is None or m == on]
	        if lo:
	            t.insert(0, lo)
	        if hi:
	            t.append(hi)
	        g = max([(b - a, a) for a, b in zip(t, t[1:])] or [(0, 0)])
	        print(j, "%d" % g[0], "%d" % g[1])
	elif cmd == "overlaps":
	    only = re.compile(args[0] if args else "")
	    for o in olap:
	        print("lock held by a live run:", o)
	    for j in sorted(starts):
	        if not only.search(j):
	            continue
	        done = []
	        for (m, job, s), e in ends.items():
	            if job == j:
	                done.append((int(s) / 1000.0, e, m))
	        done.sort()
	        for i, (s1, e1, m1) in enumerate(done):
	            for s2, e2, m2 in done[i + 1:]:
	                if s2 >= e1:
	                    break
	                if m1 != m2:
	                    print("%s: %s %d-%d and %s %d-%d" % (j, m1, s1, e1, m2, s2, e2))
	else:
	    sys.exit("runs: unknown command " + cmd)
	EOF
}

# show_fleet FROM TO JOB NAME...: what NAME... logged about the fleet and
# JOB, and JOB's runs, between FROM and TO (ms), for a failing test.
show_fleet() {
	local from="$1" to="$2" job="$3" name f line t
	shift 3
	for name in "$@"; do
		echo "--- $name ---"
		for f in "$(_member_dir "$name")"/daemon.log*; do
			grep -h -E "fleet: |job $job:" "$f" | while read -r line; do
				t=$(date -d "${line%% *}" +%s%3N)
				[ "$t" -lt "$from" ] || [ "$t" -gt "$to" ] || echo "$line"
			done
		done | sort
	done
	echo "--- runs of $job ---"
	awk -v j="$job" -v a="$from" -v b="$to" '$3 == j && $4 / 1000 >= a && $4 / 1000 <= b' "$RUNS"
}

# gaps_at_most MS FROM TO REGEX [--on MEMBER] NAME...: between FROM and
# TO, every job whose name REGEX finds started a run at least every MS (on
# any member, or on MEMBER: runs gaps); prints each that did not, with
# what NAME... logged about it meanwhile.
gaps_at_most() {
	local max="$1" from="$2" to="$3" re="$4" on= job ms at bad=0
	shift 4
	if [ "${1:-}" = --on ]; then
		on="$2"
		shift 2
	fi
	while read -r job ms at; do
		[[ "$job" =~ $re ]] || continue
		if [ "$ms" -gt "$max" ]; then
			echo "$job: no run for $ms ms from $at (at most $max)"
			show_fleet $((at - 3000)) $((at + ms + 1000)) "$job" "$@"
			bad=1
		fi
	done < <(runs gaps "$from" "$to" $on)
	return $bad
}

# no_sanitizer_reports_all NAME...: no_sanitizer_reports for each member's logs.
no_sanitizer_reports_all() {
	local name
	for name in "$@"; do
		member "$name"
		no_sanitizer_reports || return 1
	done
}

# job_names PREFIX N: PREFIX01 .. PREFIXN (one name a line).
job_names() {
	local i
	for i in $(seq -w 1 "$2"); do echo "$1$i"; done
}
