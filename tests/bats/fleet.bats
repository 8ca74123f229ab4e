#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Fleet mode (issue 13, docs/fleet.md) against a real three-member etcd
# cluster on loopback: placement (each fleet job on exactly one member),
# what members answer about the fleet, no etcd write per run, add and
# kill --fleet (and a race of two adds), bad input, etcd unreachable at
# start, a member name held twice, an etcd member stopped or hung, quorum
# lost. fleet-failover.bats has the failovers (kill -9, SIGTERM, state
# carried over, a member cut off, twenty kill/restart cycles).
#
# Every fleet job is an exec job running $RUN_SH, which logs each run in
# the run log (fleet-helpers.bash), so that a test counts runs and sees
# where each ran. Each test has its own prefix in the file's one cluster.

bats_require_minimum_version 1.5.0
load fleet-helpers

setup_file() {
	fleet_setup_file
}

teardown_file() {
	fleet_teardown_file
}

setup() {
	fleet_setup
}

teardown() {
	kill_started
}

@test "each fleet job runs on exactly one member, the union is the whole set, and every member says so" {
	local -a names
	mapfile -t names < <(job_names job 24)
	member_start m1
	member_start m2
	member_start m3
	fleet_settled 10 3 0 m1 m2 m3
	fleet_add m1 "${names[@]}"
	fleet_settled 5 3 24 m1 m2 m3

	# Every job has started by a second after the add (each at its phase in
	# its 1 s period); the next three seconds are three runs of each.
	local t0 t1 placed
	t0=$(($(now_ms) + 1000))
	sleep 4
	t1=$(now_ms)
	run runs owners "$t0" "$t1"
	# The union is every job, each ran on one member only ("JOB M1,M2"
	# otherwise), the one every member names as its owner.
	placed=$(where_all m1 "${names[@]}")
	echo "$output"
	[ "${#lines[@]}" -eq 24 ]
	[ "$output" = "$placed" ]
	[ "$(where_all m2 "${names[@]}")" = "$placed" ]
	[ "$(where_all m3 "${names[@]}")" = "$placed" ]
	# Each member got a share (rendezvous over 24 jobs and 3 members).
	for m in m1 m2 m3; do
		[ "$(grep -c " $m$" <<< "$placed")" -ge 2 ]
	done
	# Three runs each in three seconds, give or take one at the window's edges.
	[ "$(runs count "$t0" "$t1")" -ge $((24 * 2)) ]

	# The members agree: the same members (and their job counts), the same
	# jobs and owners, the same answer to where.
	local ref
	ref=$(mctl m1 fleet members -o json | jq -c '[.members[] | {member, since_ms, jobs, version}]')
	echo "members (m1): $ref"
	[ "$(echo "$ref" | jq length)" -eq 3 ]
	[ "$(echo "$ref" | jq '[.[].jobs] | add')" -eq 24 ]
	for m in m2 m3; do
		[ "$(mctl $m fleet members -o json | jq -c '[.members[] | {member, since_ms, jobs, version}]')" = "$ref" ]
	done
	for m in m1 m2 m3; do
		[ "$(mctl $m fleet members -o json | jq -r '.members[] | select(.self) | .member')" = "$m" ]
		# The owners' counts match what ran.
		[ "$(echo "$ref" | jq --arg m $m '.[] | select(.member == $m) | .jobs')" -eq \
			"$(grep -c " $m$" <<< "$placed")" ]
	done
	ref=$(mctl m1 fleet list -o json | jq -c '[.jobs[] | {name, type, owner, exclusive, schedule}]')
	[ "$(echo "$ref" | jq length)" -eq 24 ]
	[ "$(mctl m2 fleet list -o json | jq -c '[.jobs[] | {name, type, owner, exclusive, schedule}]')" = "$ref" ]
	[ "$(mctl m3 fleet list -o json | jq -c '[.jobs[] | {name, type, owner, exclusive, schedule}]')" = "$ref" ]
	ref=$(mctl m1 fleet where -o json "${names[@]}" | jq -c .jobs)
	[ "$(mctl m2 fleet where -o json "${names[@]}" | jq -c .jobs)" = "$ref" ]
	[ "$(mctl m3 fleet where -o json "${names[@]}" | jq -c .jobs)" = "$ref" ]
	# Each member lists as its own jobs (coctl list) exactly those it owns.
	for m in m1 m2 m3; do
		diff <(mctl $m list -o json | jq -r '.jobs[] | select(.fleet) | .name' | sort) \
			<(owned_by $m | sort)
	done

	no_sanitizer_reports_all m1 m2 m3
}

@test "no etcd write per run: the revision stands still while jobs run and nothing changes" {
	local -a names
	mapfile -t names < <(job_names steady 12)
	member_start m1
	member_start m2
	member_start m3
	fleet_add m2 "${names[@]}"
	fleet_settled 5 3 12 m1 m2 m3
	# Each job's first run made it up, which is not written (a first up
	# tells a next owner nothing): no state/NAME at all, ever, here.
	ran_all() {
		[ "$(runs owners | grep -c '^steady')" -eq 12 ]
	}
	wait_for 15 ran_all
	[ "$(ectl get "${FLEET_PREFIX}state/" --prefix --keys-only | grep -c .)" -eq 0 ]

	local rev0 rev1 n0 n1
	sleep 1
	rev0=$(etcd_revision)
	n0=$(runs count)
	sleep 5
	rev1=$(etcd_revision)
	n1=$(runs count)
	echo "revision $rev0 -> $rev1 over $((n1 - n0)) runs"
	# Twelve jobs every second: about sixty runs, and lease renewals every
	# ttl/3 on three members: none of that is a write (keepalives do not
	# change the revision). A write per run would be sixty.
	[ $((n1 - n0)) -ge 48 ]
	[ $((rev1 - rev0)) -le 2 ]
	no_sanitizer_reports_all m1 m2 m3
}

@test "add --fleet on one member shows on every member within a second; kill --fleet removes it everywhere" {
	member_start m1
	member_start m2
	member_start m3
	fleet_settled 10 3 0 m1 m2 m3

	# Every member knows the fleet job NAME (seen), or none does (gone).
	seen_by_all() {
		local m
		for m in m1 m2 m3; do
			mctl $m fleet where "$1" > /dev/null 2>&1 || return 1
		done
	}
	gone_from_all() {
		local m
		for m in m1 m2 m3; do
			local st=0
			mctl $m fleet where "$1" > /dev/null 2>&1 || st=$?
			[ "$st" -eq 4 ] || return 1 # no such fleet job
		done
	}
	local t_add t_seen t_kill t_gone owner
	fleet_add m2 newjob
	t_add=$(now_ms)
	wait_for 5 seen_by_all newjob
	t_seen=$(now_ms)
	echo "seen by every member $((t_seen - t_add)) ms after the add returned"
	[ $((t_seen - t_add)) -le 1000 ]
	owner=$(where m1 newjob)
	[ "$(where m2 newjob)" = "$owner" ]
	[ "$(where m3 newjob)" = "$owner" ]
	# It runs, on its owner only.
	wait_for 5 lines_at_least "$RUNS" 2 "^E $owner newjob "
	run runs owners
	[ "$output" = "newjob $owner" ]
	# Added again, from any member: it exists (exit 1, says how to replace it).
	run -1 fleet_add m3 newjob
	[[ "$output" == *"fleet job newjob exists already"* ]]

	run mctl m3 kill --fleet newjob
	t_kill=$(now_ms)
	[ "$status" -eq 0 ]
	wait_for 5 gone_from_all newjob
	t_gone=$(now_ms)
	echo "gone from every member $((t_gone - t_kill)) ms after the kill returned"
	[ $((t_gone - t_kill)) -le 1000 ]
	for m in m1 m2 m3; do
		[ "$(mctl $m fleet list -o json | jq '.jobs | length')" -eq 0 ]
		mctl $m list -o json | jqe '[.jobs[] | select(.name == "newjob")] == []'
	done
	# Its keys are gone, and it runs nowhere (a run that had started
	# just before the kill may end; none starts after it).
	[ -z "$(ectl get "${FLEET_PREFIX}jobs/newjob")" ]
	[ -z "$(ectl get "${FLEET_PREFIX}state/newjob")" ]
	sleep 2
	local last
	last=$(runs last newjob)
	echo "last start $((last - t_kill)) ms after the kill"
	[ "$last" -lt $((t_kill + 200)) ]
	# Killed again: no such fleet job (exit 4).
	run -4 mctl m1 kill --fleet newjob
	[[ "$output" == *"no such fleet job: newjob"* ]]

	# An exclusive job killed: its lock (locks/NAME) goes with it.
	lock_of() {
		ectl get --print-value-only "${FLEET_PREFIX}locks/$1"
	}
	fleet_add m1 xk:1:0.2:exclusive
	owner=$(where m1 xk)
	wait_for 5 eval '[ "$(lock_of xk)" = "$owner" ]'
	wait_for 5 lines_at_least "$RUNS" 1 "^E $owner xk "
	mctl m2 kill --fleet xk
	wait_for 2 eval '[ -z "$(lock_of xk)" ]'
	no_sanitizer_reports_all m1 m2 m3
}

@test "one name added from two members at once: exactly one add wins, everywhere" {
	member_start m1
	member_start m2
	member_start m3
	fleet_settled 10 3 0 m1 m2 m3
	# Each round, m1 adds NAME every 1s and m2 adds NAME every 2s, both at once.
	local k st1 st2 every
	jobs_yaml race:1 > "$BATS_TEST_TMPDIR/a.yaml"
	jobs_yaml race:2 > "$BATS_TEST_TMPDIR/b.yaml"
	for k in 1 2 3 4 5 6; do
		sed "s/race/race$k/g" "$BATS_TEST_TMPDIR/a.yaml" > "$BATS_TEST_TMPDIR/a$k.yaml"
		sed "s/race/race$k/g" "$BATS_TEST_TMPDIR/b.yaml" > "$BATS_TEST_TMPDIR/b$k.yaml"
		mctl m1 add --fleet -f "$BATS_TEST_TMPDIR/a$k.yaml" > "$BATS_TEST_TMPDIR/a$k.out" 2>&1 &
		local p1=$!
		mctl m2 add --fleet -f "$BATS_TEST_TMPDIR/b$k.yaml" > "$BATS_TEST_TMPDIR/b$k.out" 2>&1 &
		local p2=$!
		st1=0; wait $p1 || st1=$?
		st2=0; wait $p2 || st2=$?
		echo "round $k: m1 exit $st1, m2 exit $st2"
		cat "$BATS_TEST_TMPDIR/a$k.out" "$BATS_TEST_TMPDIR/b$k.out"
		# One succeeded, the other was told the job exists.
		[ $((st1 == 0)) -ne $((st2 == 0)) ]
		if [ "$st1" -eq 0 ]; then
			every=1s
			grep -q "fleet job race$k exists already" "$BATS_TEST_TMPDIR/b$k.out"
		else
			every=2s
			grep -q "fleet job race$k exists already" "$BATS_TEST_TMPDIR/a$k.out"
		fi
		# etcd holds the winner's definition, and every member sees it.
		ectl get --print-value-only "${FLEET_PREFIX}jobs/race$k" | grep -q "every: $every"
		for m in m1 m2 m3; do
			wait_for 2 eval "mctl $m fleet list -o json | jqe --arg n race$k --arg s 'every $every' \
				'.jobs[] | select(.name == \$n and .schedule == \$s)' > /dev/null"
		done
	done
	fleet_settled 5 3 6 m1 m2 m3
	no_sanitizer_reports_all m1 m2 m3
}

@test "an invalid job written straight into etcd is logged with its key and skipped, on every member" {
	member_start m1
	member_start m2
	member_start m3
	fleet_add m1 good
	fleet_settled 10 3 1 m1 m2 m3
	local p="$FLEET_PREFIX" good
	good=$(ectl get --print-value-only "${p}jobs/good")

	# Not YAML, not a job, a job named otherwise, two jobs, a fleet section,
	# an unknown type, nothing at all, binary bytes.
	ectl put "${p}jobs/garbage" 'garbage' > /dev/null
	ectl put "${p}jobs/unclosed" '{ jobs: [ {name: unclosed' > /dev/null
	jobs_yaml other | ectl put "${p}jobs/misnamed" > /dev/null
	jobs_yaml two two2 | ectl put "${p}jobs/two" > /dev/null
	{ echo "fleet: {etcd: [\"http://127.0.0.1:1\"], member: x}"; jobs_yaml withfleet; } |
		ectl put "${p}jobs/withfleet" > /dev/null
	ectl put "${p}jobs/badtype" 'jobs: [{name: badtype, type: nope, every: 1s}]' > /dev/null
	ectl put "${p}jobs/empty" '' > /dev/null
	head -c 300 /dev/urandom | tr -d '\0' | ectl put "${p}jobs/binary" > /dev/null
	local bad="garbage unclosed misnamed two withfleet badtype empty binary" k m
	for m in m1 m2 m3; do
		member $m
		for k in $bad; do
			wait_log ": error: fleet: ${p}jobs/$k: invalid job definition, skipped: " 1 10
		done
		[ "$(mctl $m stats -o json | jq .fleet.jobs_invalid)" -eq 8 ]
		# Only the good job is a fleet job.
		[ "$(mctl $m fleet list -o json | jq -c '[.jobs[].name]')" = '["good"]' ]
	done
	# A valid job over an invalid one's key would run: these never do.
	sleep 2
	run runs owners
	[ "$output" = "good $(where m1 good)" ]

	# The good job's definition replaced by garbage: skipped too, it stops everywhere.
	local t_bad
	ectl put "${p}jobs/good" 'garbage' > /dev/null
	t_bad=$(now_ms)
	for m in m1 m2 m3; do
		member $m
		wait_log ": error: fleet: ${p}jobs/good: invalid job definition, skipped: " 1 10
		[ "$(mctl $m fleet list -o json | jq '.jobs | length')" -eq 0 ]
	done
	sleep 1.5
	[ "$(runs last good)" -lt $((t_bad + 200)) ]
	# And a valid definition again runs again.
	printf '%s\n' "$good" | ectl put "${p}jobs/good" > /dev/null
	fleet_settled 5 3 1 m1 m2 m3
	wait_for 5 eval '[ "$(runs first good "$t_bad")" != none ]'

	# No member crashed, each still answers.
	for m in m1 m2 m3; do
		member $m
		proc_alive "$D_PID"
		mctl $m stats > /dev/null
	done
	no_sanitizer_reports_all m1 m2 m3
}

@test "etcd unreachable at start: local jobs run at once, the member joins when etcd comes up" {
	# m1's etcd refuses connections (nothing listens on its port yet), m2's
	# is silent (a blackholed proxy: every request times out).
	local port1
	port1=$(free_port)
	bg_start proxy2 "$TOOLS/blackhole-proxy.py" --blackholed "127.0.0.1:$ETCD_PORT_1"
	local proxy2=$BG_PID port2=$BG_LINE
	jobs_yaml fj | ectl put "${FLEET_PREFIX}jobs/fj" > /dev/null

	member_start m1 --no-wait --etcd "[\"http://127.0.0.1:$port1\"]" --local "$(jobs_yaml local1)"
	wait_log ': info: started: 1 job, control socket '
	member_start m2 --no-wait --etcd "[\"http://127.0.0.1:$port2\"]" --local "$(jobs_yaml local2)"
	wait_log ': info: started: 1 job, control socket '
	for m in m1 m2; do
		member $m
		wait_log ': warning: fleet: etcd unreachable \(' 1 10
		mctl $m stats -o json | jqe '.fleet.state | startswith("etcd unreachable")'
	done
	# The local jobs run; the fleet job runs nowhere.
	wait_for 10 lines_at_least "$RUNS" 2 '^E m1 local1 '
	wait_for 10 lines_at_least "$RUNS" 2 '^E m2 local2 '
	[ "$(runs last fj)" = none ]

	# etcd comes up for both: they join and share the fleet job.
	bg_start proxy1 "$TOOLS/blackhole-proxy.py" "$port1=127.0.0.1:$ETCD_PORT_1"
	kill -USR2 "$proxy2"
	for m in m1 m2; do
		member $m
		wait_log ": notice: fleet: joined as member $m " 1 15
	done
	fleet_settled 10 2 1 m1 m2
	local t owner
	t=$(now_ms)
	owner=$(where m1 fj)
	wait_for 5 lines_at_least "$RUNS" 1 "^E $owner fj " || { show_fleet m1 m2; false; }
	sleep 2
	run runs owners "$t"
	echo "$output"
	[ "${lines[0]}" = "fj $owner" ]
	[ "${lines[1]}" = "local1 m1" ]
	[ "${lines[2]}" = "local2 m2" ]
	no_sanitizer_reports_all m1 m2
}

@test "a second daemon with a member name in use is refused while the first holds it, then takes over" {
	member_start m1 --local "$(jobs_yaml loc)"
	fleet_add m1 a b c
	fleet_settled 10 1 3 m1
	wait_for 5 lines_at_least "$RUNS" 1 '^E m1 c '

	member_start m1 --instance 2 --no-wait --local "$(jobs_yaml loc2)"
	member m1@2
	wait_log ': error: fleet: member name m1 is held by another daemon \(lease [0-9a-f]+\): not joining while it lives; local jobs run, fleet jobs do not$' 1 10
	# It says it waits, and counts as its own neither the member m1 (the
	# other daemon) nor m1's jobs.
	mctl m1@2 stats -o json |
		jqe '.fleet | .state == "waiting: member name held by another daemon" and .jobs_owned == 0'
	mctl m1@2 fleet members -o json | jqe '[.members[] | select(.self)] == []'
	mctl m1 fleet members -o json | jqe '[.members[] | select(.self) | .member] == ["m1"]'
	# Its local job runs; no fleet job runs there, for 1.5 TTLs (it tries
	# to join every ttl/3).
	local t
	t=$(now_ms)
	sleep 3
	run runs owners "$t"
	echo "$output"
	[ "$output" = "$(printf 'a m1\nb m1\nc m1\nloc m1\nloc2 m1@2')" ]
	# It said so once, not at every try.
	[ "$(count_log 'is held by another daemon')" -eq 1 ]
	# The fleet still has one member m1, the first daemon.
	mctl m1 fleet members -o json | jqe '[.members[].member] == ["m1"]'
	[ "$(ectl get --print-value-only "${FLEET_PREFIX}members/m1" | jq .pid)" -eq "$(cat "$(_member_dir m1)/pid")" ]

	# The first leaves (its lease revoked): the second joins and runs the fleet jobs.
	member_kill m1 TERM
	local t_stop
	t_stop=$(now_ms)
	member m1@2
	wait_log ': notice: fleet: joined as member m1 ' 1 10
	# It joins at its next try (every ttl/3) after the revoke.
	[ $(($(log_ms m1@2 ': notice: fleet: joined as member m1 ') - t_stop)) -le 1500 ]
	wait_for 5 lines_at_least "$RUNS" 1 '^E m1@2 c '
	local t_joined
	t_joined=$(now_ms)
	sleep 2
	run runs owners "$t_joined"
	echo "$output"
	[ "$output" = "$(printf 'a m1@2\nb m1@2\nc m1@2\nloc2 m1@2')" ]
	no_sanitizer_reports_all m1 m1@2
}

# urls_first I: the cluster's client URLs, member I's first (the endpoint
# every member of the fleet talks to while it answers).
urls_first() {
	local i urls
	urls="\"$(etcd_url "$1")\""
	for i in 1 2 3; do
		[ "$i" = "$1" ] || urls="$urls, \"$(etcd_url "$i")\""
	done
	echo "[$urls]"
}

# No member left, joined, lost its lease or saw a job move since ms T.
nothing_moved_since() {
	local t="$1" m line
	shift
	for m in "$@"; do
		while read -r line; do
			[ -n "$line" ] || continue
			if [ "$(date -d "${line%% *}" +%s%3N)" -ge "$t" ]; then
				echo "$m: $line"
				return 1
			fi
		done < <(grep -E 'fleet: (member .* (left|joined)|[0-9]+ jobs? moved|lease .* expired)' \
			"$(_member_dir "$m")/daemon.log")
	done
}

@test "one etcd member stopped, the leader the members talk to: nothing moves, nothing stops" {
	local urls l
	l=$(etcd_leader)
	urls=$(urls_first "$l")
	member_start m1 --etcd "$urls"
	member_start m2 --etcd "$urls"
	member_start m3 --etcd "$urls"
	local -a names
	mapfile -t names < <(job_names job 9)
	fleet_add m1 "${names[@]}"
	fleet_settled 5 3 9 m1 m2 m3
	local before t0 t1
	before=$(where_all m1 "${names[@]}")

	t0=$(now_ms)
	etcd_member_stop "$l"
	# Two TTLs: a lease that was not renewed would have expired.
	sleep 4
	t1=$(now_ms)
	nothing_moved_since "$t0" m1 m2 m3
	for m in m1 m2 m3; do
		[ "$(where_all $m "${names[@]}")" = "$before" ]
		# It talks to another endpoint now, and etcd answers it.
		mctl $m stats -o json | jqe --arg dead "$(etcd_url "$l")" \
			'.fleet | .endpoint != $dead and .etcd_up and .state == "joined" and .members == 3'
	done
	# Every job ran on its owner, a run every second, all along: less than
	# two periods between two runs, no tick missed.
	[ "$(runs owners "$t0" "$t1")" = "$before" ]
	gaps_at_most 1900 "$t0" "$t1" . m1 m2 m3

	# Back: still nothing moves.
	etcd_member_start "$l"
	etcd_wait_healthy
	sleep 1
	nothing_moved_since "$t0" m1 m2 m3
	no_sanitizer_reports_all m1 m2 m3
}

@test "one etcd member hung (SIGSTOP), the one the members talk to: they turn to the others, nothing moves" {
	# A follower hangs: the cluster keeps its quorum and its leader, but
	# the member accepts connections and never answers (a stopped
	# process, a host whose disk hangs). Each call gives each endpoint a
	# share of its time and the next call starts with the next endpoint:
	# the members turn to the others before their leases can lapse.
	local f urls
	f=$(($(etcd_leader) % 3 + 1))
	urls=$(urls_first "$f")
	member_start m1 --etcd "$urls"
	member_start m2 --etcd "$urls"
	member_start m3 --etcd "$urls"
	local -a names
	mapfile -t names < <(job_names job 9)
	fleet_add m1 "${names[@]}"
	fleet_settled 5 3 9 m1 m2 m3
	local before t0 t1
	before=$(where_all m1 "${names[@]}")
	t0=$(now_ms)
	kill -STOP "$(cat "$(_etcd_dir)/pid.$f")"
	sleep 4
	t1=$(now_ms)
	nothing_moved_since "$t0" m1 m2 m3
	for m in m1 m2 m3; do
		mctl $m stats -o json | jqe --arg hung "$(etcd_url "$f")" \
			'.fleet | .endpoint != $hung and .etcd_up and .state == "joined" and .members == 3'
	done
	[ "$(runs owners "$t0" "$t1")" = "$before" ]
	gaps_at_most 1900 "$t0" "$t1" . m1 m2 m3
	kill -CONT "$(cat "$(_etcd_dir)/pid.$f")"
	no_sanitizer_reports_all m1 m2 m3
}

@test "quorum lost (two etcd members stopped): members run what they own, exclusive jobs pause, all recover" {
	member_start m1
	member_start m2
	member_start m3
	local -a names
	mapfile -t names < <(job_names job 6)
	fleet_add m1 "${names[@]}" x1:1:0.2:exclusive x2:1:0.2:exclusive x3:1:0.2:exclusive
	fleet_settled 5 3 9 m1 m2 m3
	local before t0 t1 down1 down2
	before=$(where_all m1 "${names[@]}" x1 x2 x3)
	wait_for 5 lines_at_least "$RUNS" 1 '^E [^ ]+ x3 '

	# Two of three stopped, the leader among them: no quorum, no leader.
	down1=$(etcd_leader)
	down2=$((down1 % 3 + 1))
	t0=$(now_ms)
	etcd_member_stop "$down1"
	etcd_member_stop "$down2"
	sleep 4
	t1=$(now_ms)
	# Each member noticed, and stopped its exclusive jobs once its lease
	# might have expired (ttl 2s: 1.5 s after the last renewal it sent).
	local m t_guard
	for m in m1 m2 m3; do
		member $m
		wait_log ': warning: fleet: etcd unreachable \(' 1 1
	done
	for x in x1 x2 x3; do
		m=$(where m1 "$x")
		member "$m"
		wait_log ': warning: fleet: no lease renewal for [0-9]+ ms: stopping exclusive jobs before the lease may expire$' 1 1
		t_guard=$(log_ms "$m" 'stopping exclusive jobs')
		echo "$x on $m: stopped $((t_guard - t0)) ms after the quorum was lost"
		[ $((t_guard - t0)) -le 2000 ]
		# No run of it started after that, anywhere.
		[ "$(runs first "$x" $((t_guard + 1)))" = none ]
	done
	# The other jobs ran on their owners all along, every second (no tick missed).
	[ "$(runs owners "$t0" "$t1" | grep -v '^x')" = "$(grep -v '^x' <<< "$before")" ]
	gaps_at_most 1900 "$t0" "$t1" '^job' m1 m2 m3

	# etcd back: the leases lived (a new leader renews them), so nothing
	# moves; the exclusive jobs run again on their owners.
	etcd_member_start "$down1"
	etcd_member_start "$down2"
	etcd_wait_healthy
	local t_back
	t_back=$(now_ms)
	for m in m1 m2 m3; do
		member $m
		wait_log ': notice: fleet: etcd answers again ' 1 10
		wait_for 10 eval "mctl $m stats -o json | jqe '.fleet | .etcd_up and .state == \"joined\"' > /dev/null"
	done
	for x in x1 x2 x3; do
		wait_for 10 eval '[ "$(runs first '"$x"' '"$t_back"')" != none ]'
	done
	local t_all
	t_all=$(now_ms)
	sleep 2
	[ "$(runs owners "$t_all")" = "$before" ]
	nothing_moved_since "$t0" m1 m2 m3
	[ -z "$(runs overlaps)" ]
	no_sanitizer_reports_all m1 m2 m3
}
