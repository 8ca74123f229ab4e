#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The result history of the real coro-runnerd (issue 15), in SQLite:
# coctl history, events and status after real probes (an exec job that
# fails while a file is absent, a tcp job whose listener stops and comes
# back); `history: off`; kill -9 during heavy writes (2,000 jobs every
# 100 ms), after which the database passes PRAGMA integrity_check and its
# rows agree with each other, and the daemon goes on with it; a place that
# cannot be written, a read-only file system and a full disk (tmpfs, as
# root), a file that is not a database: the daemon runs on and says why in
# its log, STATUS= and coctl stats.

bats_require_minimum_version 1.5.0

load daemon-helpers
load history-helpers

setup() {
	require_daemon
	require_coctl
	require_sqlite3
	daemon_dir "$BATS_TEST_TMPDIR/d"
}

teardown() {
	kill_started
	# File systems a test mounted, after the daemon that used them is gone.
	if [ -f "$BATS_TEST_TMPDIR/.mounts" ]; then
		tac "$BATS_TEST_TMPDIR/.mounts" | while read -r m; do umount "$m" 2> /dev/null || umount -l "$m" || true; done
	fi
}

ctl() {
	"$COCTL" -s "$D_SOCK" "$@"
}

# mount_tmpfs DIR OPTIONS: a tmpfs at DIR (root only), unmounted in teardown.
mount_tmpfs() {
	[ "$(id -u)" -eq 0 ] || skip "mounting a tmpfs needs root"
	mkdir -p "$1"
	mount -t tmpfs -o "$2" tmpfs "$1" 2> "$BATS_TEST_TMPDIR/mount.err" ||
		skip "cannot mount a tmpfs here: $(cat "$BATS_TEST_TMPDIR/mount.err")"
	echo "$1" >> "$BATS_TEST_TMPDIR/.mounts"
}

# NOTIFY_SOCKET for the daemon, its messages in NOTES (tools/notify-listen.py).
listen_notify() {
	NOTES="$BATS_TEST_TMPDIR/notify.log"
	bg_start notify python3 "$TOOLS/notify-listen.py" "$BATS_TEST_TMPDIR/notify.sock" "$NOTES"
	export NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" NOTES
	unset WATCHDOG_USEC WATCHDOG_PID
}

has_status_note() {
	grep -qP -- "\\tSTATUS=[^\\t]*$1" "$NOTES"
}

# The daemon runs on without history, and says why: log, STATUS=, coctl stats,
# coctl history (exit 1). $1: a regex of the reason; $2: a job that runs.
runs_on_without_history() {
	local why="$1" job="$2"
	wait_log "error: history: .*${why}.*; the daemon runs on without history"
	wait_log "job $job: ok" 2
	wait_for 10 has_status_note "no history: [^\\t]*${why}"
	[ "$(history_stat enabled)" = true ]
	[ "$(history_stat working)" = false ]
	[[ "$(history_stat error)" =~ $why ]]
	run ctl history "$job"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" =~ "history is not working: " ]]
	run ctl events
	[ "$status" -eq 1 ]
	# The jobs go on, and so does the daemon.
	run ctl list
	[ "$status" -eq 0 ]
	ctl status "$job" | grep -q 'Runs: [1-9]'
	not grep -q 'Uptime:' <<< "$(ctl status "$job")"
}

@test "coctl history, events, status after real probes: newest first, --failed, --since, -n, outages and their length, uptime" {
	local flag="$BATS_TEST_TMPDIR/flag" lport lpid
	bg_start listen python3 "$TOOLS/tcp-listener.py"
	lport=$BG_LINE lpid=$BG_PID
	cat > "$D_CONF" <<-EOF
	jobs:
	  - name: needs-flag
	    type: exec
	    command: ["/bin/sh", "-c", "test -e '$flag'"]
	    every: 400ms
	    timeout: 350ms
	  - name: pg
	    type: tcp
	    target: "127.0.0.1:$lport"
	    every: 400ms
	    timeout: 350ms
	EOF
	daemon_start
	# needs-flag fails while the file is absent; it comes up once the file is there.
	wait_log 'job needs-flag: down after'
	wait_log 'job needs-flag: failed' 6
	touch "$flag"
	wait_log 'job needs-flag: up$'
	# pg goes down when its listener stops, and up when one listens on the port again.
	wait_log 'job pg: ok' 4
	kill "$lpid"
	wait_log 'job pg: down after'
	sleep 1
	bg_start listen2 python3 "$TOOLS/tcp-listener.py" --port "$lport"
	wait_log 'job pg: up$' 2
	wait_log 'job needs-flag: ok' 6
	# Paused, so that what follows reads the same results; the writer commits every half second.
	ctl pause needs-flag pg
	sleep 1.6

	# Results, newest first; the newest ok, the older failures "exit 1".
	run ctl history needs-flag -n 1000 -o json
	[ "$status" -eq 0 ]
	echo "$output" > "$BATS_TEST_TMPDIR/all.json"
	python3 - "$BATS_TEST_TMPDIR/all.json" <<-'PY'
	import json, sys
	r = json.load(open(sys.argv[1]))["results"]
	print("# %d results" % len(r))
	assert len(r) >= 12, r
	ends = [x["end_ms"] for x in r]
	assert ends == sorted(ends, reverse=True) and len(set(ends)) == len(ends), "not newest first"
	assert r[0]["result"] == "ok" and r[0].get("error") is None, r[0]
	results = [x["result"] for x in r]
	# Failures while the file was absent, then successes: one change, going back in time.
	first_fail = results.index("failed")
	assert set(results[:first_fail]) == {"ok"} and set(results[first_fail:]) == {"failed"}, results
	assert all(x["error"] == "exit 1" for x in r[first_fail:])
	assert all(0 < x["duration_us"] < 350000 for x in r)
	PY
	# --failed: the failures only, all of them.
	run ctl history needs-flag --failed -n 1000 -o json
	[ "$status" -eq 0 ]
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq \
		"$(json_get 'len([x for x in v["results"] if x["result"] != "ok"])' < "$BATS_TEST_TMPDIR/all.json")" ]
	[ "$(json_get 'all(x["result"] == "failed" for x in v["results"])' <<< "$output")" = true ]
	# -n 3: the three newest.
	run ctl history needs-flag -n 3 -o json
	[ "$(json_get '[x["end_ms"] for x in v["results"]]' <<< "$output")" = \
		"$(json_get '[x["end_ms"] for x in v["results"][:3]]' < "$BATS_TEST_TMPDIR/all.json")" ]
	# --since and --until: a local date and time (to the second), a duration back from now.
	local cut n_since n_until
	cut=$(json_get 'v["results"][len(v["results"]) // 2]["end_ms"] // 1000' < "$BATS_TEST_TMPDIR/all.json")
	n_since=$(json_get "sum(x['end_ms'] >= $cut * 1000 for x in v['results'])" < "$BATS_TEST_TMPDIR/all.json")
	n_until=$(json_get "sum(x['end_ms'] <= $cut * 1000 for x in v['results'])" < "$BATS_TEST_TMPDIR/all.json")
	run ctl history needs-flag --since "$(date -d "@$cut" '+%Y-%m-%d %H:%M:%S')" -n 1000 -o json
	[ "$status" -eq 0 ]
	echo "# --since $(date -d "@$cut" '+%H:%M:%S'): $(json_get 'len(v["results"])' <<< "$output") results, $n_since expected"
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq "$n_since" ]
	[ "$(json_get "min(x['end_ms'] for x in v['results']) >= $cut * 1000" <<< "$output")" = true ]
	run ctl history needs-flag --until "$(date -d "@$cut" '+%Y-%m-%d %H:%M:%S')" -n 1000 -o json
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq "$n_until" ]
	[ "$n_since" -gt 0 ]
	[ "$n_until" -gt 0 ]
	local n_all
	n_all=$(json_get 'len(v["results"])' < "$BATS_TEST_TMPDIR/all.json")
	# Paused 1.6 s ago (a run then in flight ended within 350 ms): nothing in the last
	# second, everything in the last hour.
	run ctl history needs-flag --since 1s -o json
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq 0 ]
	run ctl history needs-flag --since 1h -n 1000 -o json
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq "$n_all" ]
	run ctl history needs-flag --since "$(date -d tomorrow +%Y-%m-%d)" -o json
	[ "$status" -eq 0 ]
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq 0 ]
	run ctl history needs-flag --until 2000-01-01 -o json
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq 0 ]
	run ctl history needs-flag --since yesterday-ish
	[ "$status" -eq 2 ]
	# The table: a header, the rows, a count.
	run ctl history needs-flag -n 4
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^TIME\ +RESULT\ +DURATION\ +ERROR$ ]]
	[[ "${lines[1]}" =~ ^20[0-9-]+\ [0-9:]+\ +ok\ + ]]
	[ "${lines[${#lines[@]} - 1]}" = "4 results." ]
	run ctl history needs-flag --failed -n 2 --no-legend
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" =~ \ failed\ .*\ exit\ 1$ ]]

	# Events: pg's outage, ended, with its length and its error.
	run ctl events pg -o json
	[ "$status" -eq 0 ]
	echo "$output" > "$BATS_TEST_TMPDIR/events.json"
	python3 - "$BATS_TEST_TMPDIR/events.json" "$lport" <<-'PY'
	import json, sys
	e = json.load(open(sys.argv[1]))["events"]
	assert [x["state"] for x in e] == ["up", "down"], e
	up, down = e
	assert up["name"] == down["name"] == "pg"
	assert down["error"] == "connect 127.0.0.1:%s: connection refused" % sys.argv[2], down
	assert up["down_ms"] == up["at_ms"] - down["at_ms"], (up, down)
	# The listener was away at least a second.
	assert 900 <= up["down_ms"] < 30000, up
	PY
	run ctl events pg
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^JOB\ +DOWN\ +UP\ +FOR\ +ERROR$ ]]
	[[ "${lines[1]}" =~ ^pg\ +20[0-9-]+\ [0-9:]+\ +20[0-9-]+\ [0-9:]+\ +[0-9.]+m?s\ +connect\ 127.0.0.1:$lport:\ connection\ refused$ ]]
	[ "${lines[${#lines[@]} - 1]}" = "1 outage." ]
	# Every job's: needs-flag's outage too (down from its first run until the file came).
	run ctl events --since 1h
	[ "$status" -eq 0 ]
	[ "${lines[${#lines[@]} - 1]}" = "2 outages." ]
	[[ "$output" =~ needs-flag\ .*\ exit\ 1 ]]
	run ctl events --since "$(date -d tomorrow +%Y-%m-%d)"
	[ "${lines[${#lines[@]} - 1]}" = "0 outages." ]

	# Status: uptime over 24 hours, 7 and 30 days (the same: all of it is recent),
	# what history says of the runs, and the last outage.
	run ctl status needs-flag
	[ "$status" -eq 0 ]
	echo "$output"
	local line u24 u7 u30 ratio
	line=$(grep -E '^ *Uptime: ' <<< "$output")
	[[ "$line" =~ Uptime:\ ([0-9.]+)%\ \(24h\),\ ([0-9.]+)%\ \(7d\),\ ([0-9.]+)%\ \(30d\)$ ]]
	u24=${BASH_REMATCH[1]} u7=${BASH_REMATCH[2]} u30=${BASH_REMATCH[3]}
	[ "$u24" = "$u7" ]
	[ "$u24" = "$u30" ]
	run ctl history needs-flag -n 1000 -o json
	ratio=$(json_get 'round(100.0 * sum(x["result"] == "ok" for x in v["results"]) / len(v["results"]), 2)' <<< "$output")
	echo "# uptime $u24%, history's results $ratio% ok"
	python3 -c "import sys; u, r = float(sys.argv[1]), float(sys.argv[2]); assert 0 < u < 100 and abs(u - r) < 10, (u, r)" "$u24" "$ratio"
	ctl status needs-flag | grep -E '^ *Outage: down 20[0-9-]+ [0-9:]+ \(.* ago\), up after [0-9.]+m?s: exit 1$'
	ctl status pg | grep -E "^ *Outage: down .*, up after [0-9.]+m?s: connect 127.0.0.1:$lport: connection refused\$"
	run ctl status pg -o json
	[ "$(json_get '0 < v["jobs"][0]["uptime"]["24h"] < 1' <<< "$output")" = true ]
	[ "$(json_get 'v["jobs"][0]["last_outage"]["up_ms"] > v["jobs"][0]["last_outage"]["down_ms"] > 0' <<< "$output")" = true ]

	# Exit codes: 4 for a job the history does not know, 2 for a usage error.
	run ctl history no-such-job
	[ "$status" -eq 4 ]
	[[ "$output" =~ "no history of a job named no-such-job" ]]
	run ctl events no-such-job
	[ "$status" -eq 4 ]
	run ctl history
	[ "$status" -eq 2 ]

	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ "$(sq 'PRAGMA integrity_check')" = ok ]
	[ "$(sq 'SELECT count(*) FROM jobs')" -eq 2 ]
	no_sanitizer_reports
}

@test "history: off keeps no database; coctl history and events exit 1 and say so" {
	cat > "$D_CONF" <<-'EOF'
	history: off
	jobs:
	  - name: a
	    type: exec
	    command: [/bin/true]
	    every: 200ms
	EOF
	daemon_start
	wait_log 'job a: ok' 3
	run ctl history a
	[ "$status" -eq 1 ]
	[[ "$output" =~ "history is off" ]]
	run ctl events
	[ "$status" -eq 1 ]
	[[ "$output" =~ "history is off" ]]
	[ "$(history_stat enabled)" = false ]
	[ "$(history_stat working)" = false ]
	not grep -q 'Uptime:' <<< "$(ctl status a)"
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ ! -e "$(hdb)" ]
	no_sanitizer_reports
}

# The rows of the database agree with each other (raw_results: 20).
consistent() {
	local q
	for q in \
		"SELECT count(*) FROM (SELECT job FROM results GROUP BY job HAVING count(*) > 20)" \
		"SELECT count(*) FROM results WHERE slot != seq % 20" \
		"SELECT count(*) FROM results WHERE job NOT IN (SELECT id FROM jobs)" \
		"SELECT count(*) FROM hourly WHERE runs < 1 OR ok > runs OR timeout > runs - ok OR dmin > dmax OR p95 < dmin OR p95 > dmax" \
		"SELECT count(*) FROM daily WHERE runs < 1 OR ok > runs OR timeout > runs - ok OR dmin > dmax" \
		"SELECT count(*) FROM jobs j WHERE (SELECT count(*) FROM results r WHERE r.job = j.id) != min(j.seq, 20)" \
		"SELECT count(*) FROM jobs j WHERE j.seq > 0 AND (SELECT max(seq) FROM results r WHERE r.job = j.id) != j.seq - 1" \
		"SELECT count(*) FROM jobs j WHERE (SELECT coalesce(sum(runs), 0) FROM hourly h WHERE h.job = j.id) != j.seq" \
		"SELECT count(*) FROM jobs j WHERE (SELECT coalesce(sum(runs), 0) FROM daily d WHERE d.job = j.id) != j.seq"; do
		local n
		n=$(sq "$q")
		if [ "$n" != 0 ]; then
			echo "consistent: $n rows: $q" >&2
			return 1
		fi
	done
}

@test "kill -9 during heavy writes: integrity_check passes, the rows agree, the daemon goes on with the file" {
	local cport lport seq1 i
	bg_start listen python3 "$TOOLS/tcp-listener.py"
	lport=$BG_LINE
	cport=$(free_port)
	{
		echo "history: {raw_results: 20}"
		echo "jobs:"
		# 2,000 jobs every 100 ms: one in ten against a listener, the others refused.
		for i in $(seq 1 2000); do
			printf '  - {name: j%04d, type: tcp, target: "127.0.0.1:%s", every: 100ms, timeout: 50ms}\n' \
				"$i" "$([ $((i % 10)) -eq 0 ] && echo "$lport" || echo "$cport")"
		done
	} > "$D_CONF"
	daemon_start
	wait_written 10000 60
	# Somewhere in the middle of a batch, or between two.
	sleep "0.$((RANDOM % 10))"
	local committed
	committed=$(history_stat written)
	echo "# committed before kill -9: $committed results in $(history_stat batches) batches" >&3
	daemon_stop KILL
	[ "$(sq 'PRAGMA integrity_check')" = ok ]
	consistent
	seq1=$(sq 'SELECT sum(seq) FROM jobs')
	echo "# in the file after kill -9: $seq1 results counted, $(sq 'SELECT count(*) FROM jobs') jobs" >&3
	# Every batch the daemon had committed is there.
	[ "$seq1" -ge "$committed" ]

	# The daemon starts on it and history goes on growing.
	daemon_start
	wait_log 'info: history: [0-9]+ jobs known from '
	grow() { [ "$(sq 'SELECT sum(seq) FROM jobs')" -ge $((seq1 + 10000)) ]; }
	wait_for 60 grow
	daemon_stop TERM 30
	[ "$D_STATUS" -eq 0 ]
	[ "$(sq 'PRAGMA integrity_check')" = ok ]
	consistent
	# A clean stop leaves no write-ahead log behind.
	[ ! -s "$(hdb)-wal" ]
	echo "# after the restart: $(sq 'SELECT sum(seq) FROM jobs') results counted, $(stat -c %s "$(hdb)") bytes" >&3
	no_sanitizer_reports
}

@test "a history path that cannot be created: the daemon runs on without history and says why" {
	listen_notify
	touch "$BATS_TEST_TMPDIR/a-file"
	cat > "$D_CONF" <<-EOF
	history: {path: "$BATS_TEST_TMPDIR/a-file/history.db"}
	jobs:
	  - name: a
	    type: exec
	    command: [/bin/true]
	    every: 200ms
	EOF
	daemon_start
	runs_on_without_history "cannot open $BATS_TEST_TMPDIR/a-file/history.db: unable to open database file \\($BATS_TEST_TMPDIR/a-file: Not a directory\\)" a
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	no_sanitizer_reports
}

@test "a file that is not a database: the daemon runs on without history, says why, and leaves the file as it was" {
	listen_notify
	cat > "$D_CONF" <<-'EOF'
	jobs:
	  - name: a
	    type: exec
	    command: [/bin/true]
	    every: 200ms
	EOF
	head -c 20000 /dev/urandom > "$(hdb)"
	cp "$(hdb)" "$BATS_TEST_TMPDIR/garbage"
	daemon_start
	runs_on_without_history "state/history.db is not a usable SQLite database \\(file is not a database\\): move it away to start a new one" a
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	cmp "$(hdb)" "$BATS_TEST_TMPDIR/garbage"
	# Moved away, as the message says: a new one is started.
	mv "$(hdb)" "$(hdb).bad"
	daemon_start
	wait_log 'job a: ok' 3
	wait_written 2
	[ "$(history_stat working)" = true ]
	daemon_stop
	[ "$(sq 'PRAGMA integrity_check')" = ok ]
	no_sanitizer_reports
}

@test "a read-only file system (root): a new database, and an existing one, are refused with a clear error" {
	local ro="$BATS_TEST_TMPDIR/ro"
	listen_notify
	mount_tmpfs "$ro" size=4m
	cat > "$D_CONF" <<-EOF
	history: {path: "$ro/history.db"}
	jobs:
	  - name: a
	    type: exec
	    command: [/bin/true]
	    every: 200ms
	EOF
	# An existing database, written while the file system could be.
	daemon_start
	wait_written 3
	daemon_stop
	mount -o remount,ro "$ro"
	daemon_start
	# Not "move it away": nothing is wrong with the file.
	runs_on_without_history "cannot open $ro/history.db: unable to open database file \\($ro: Read-only file system\\)" a
	not grep -q 'move it away' "$D_LOG"
	daemon_stop
	# A new one.
	mount -o remount,rw "$ro"
	rm "$ro/history.db"
	mount -o remount,ro "$ro"
	: > "$NOTES"
	daemon_start
	runs_on_without_history "cannot open $ro/history.db: unable to open database file \\($ro: Read-only file system\\)" a
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	no_sanitizer_reports
}

@test "a full disk (a 200 KiB tmpfs, root): batches fail, counted and logged, the daemon runs on; with room again nothing is lost" {
	local m="$BATS_TEST_TMPDIR/small" cport i errors
	mount_tmpfs "$m" size=200k
	cport=$(free_port)
	{
		echo "history: {path: \"$m/history.db\"}"
		echo "jobs:"
		for i in $(seq 1 30); do
			printf '  - {name: j%02d, type: tcp, target: "127.0.0.1:%s", every: 100ms, timeout: 50ms}\n' "$i" "$cport"
		done
	} > "$D_CONF"
	daemon_start
	wait_log "error: history: [0-9]+ records not written to $m/history.db: database or disk is full"
	# A full disk passes: history stays on, and the next batches try again.
	[ "$(history_stat working)" = true ]
	[ "$(history_stat write_errors)" -ge 1 ]
	# A job added while the disk is full: its first records fail with their batch.
	ctl add --runtime late --type tcp --target "127.0.0.1:$cport" --every 100ms --timeout 50ms
	wait_log 'job late: failed' 5
	errors=$(history_stat write_errors)
	wait_for 10 eval '[ "$(history_stat write_errors)" -gt "$errors" ]'
	run ctl list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 32 ]
	echo "# while full: $(history_stat write_errors) batches failed, $(history_stat written) results written" >&3

	# Room again: the writes go on, every job's history under its name.
	mount -o remount,size=20m "$m"
	local written
	written=$(history_stat written)
	wait_written $((written + 300))
	errors=$(history_stat write_errors)
	sleep 1.5
	[ "$(history_stat write_errors)" -eq "$errors" ]
	run ctl history late -n 5 -o json
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq 5 ]
	run ctl history j01 -n 5 -o json
	[ "$status" -eq 0 ]
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq 5 ]
	[ "$(sq "$m/history.db" 'PRAGMA integrity_check')" = ok ]
	[ "$(sq "$m/history.db" 'SELECT count(*) FROM jobs')" -eq 31 ]
	[ "$(sq "$m/history.db" 'SELECT count(*) FROM results WHERE job NOT IN (SELECT id FROM jobs)')" -eq 0 ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	no_sanitizer_reports
}
