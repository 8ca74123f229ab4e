#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The status page of the real coro-runnerd (issue 15), on its metrics
# listener, read by Debian's chromium, headless: `/` and `/job/NAME` as
# the browser builds them (the DOM it dumps: counts of up and down jobs
# as coctl list has them, rows, groups, uptimes, labelled bars), screenshots
# at 1280 and 360 px kept as artifacts, and hostile texts that execute
# nothing (the console stays clean, no element comes out of them). Then
# HEAD, 404 and 405, secrets masked, the badges and the JSON API.
#
# Where the hostile texts come from: no probe puts a target's bytes in its
# error (http: "status 503 (expected ...)", "body lacks \"EXPECT\"", curl's
# texts; tcp: "reply lacks \"EXPECT\"" with EXPECT escaped; dns: "no answer
# contains \"EXPECT\""; exec: "exit N"; see daemon/probe/). So the hostile
# error text is the job's own expect_body, quoted in "body lacks ...", and
# the hostile group a label; both reach the page as a target's bytes would.

bats_require_minimum_version 1.5.0

load daemon-helpers
load history-helpers

HOSTILE_EXPECT='<script>alert(1)</script>"><img src=x onerror=alert(2)>'
HOSTILE_LABEL='<script>alert(3)</script>"><img src=x onerror=alert(4)>'
TITLE='Status <b>"board"</b> & co'

setup_file() {
	require_daemon
	require_coctl
	require_chromium
	export D="$BATS_FILE_TMPDIR"
	bg_start http python3 "$TOOLS/http-status.py"
	export HPORT=$BG_LINE
	bg_start listen python3 "$TOOLS/tcp-listener.py"
	export LPORT=$BG_LINE
	daemon_dir "$D/main"
	write_config "$D_CONF"
	daemon_start_metrics --config
	export WEB="http://127.0.0.1:$D_METRICS_PORT"
	# resting is paused once it has a history; every other job has three results in it.
	wait_log 'job resting: ok' 3
	"$COCTL" -s "$D_SOCK" pause resting
	local j
	for j in up-a up-b down-a hostile secret utf resting; do
		wait_for 30 has_results "$j" 3
	done
	wait_log 'job (down-a|hostile|utf): down after' 3
}

teardown() {
	kill_started
}

teardown_file() {
	kill_started "$BATS_FILE_TMPDIR/.bg-pids"
}

write_config() {
	local e
	e=$(printf 'é%.0s' $(seq 130))
	cat > "$1" <<-EOF
	web: {group_by: team, title: '$TITLE'}
	jobs:
	  - name: up-a
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeout: 900ms
	    labels: {team: web}
	  - name: up-b
	    type: tcp
	    target: "127.0.0.1:$LPORT"
	    every: 1s
	    timeout: 900ms
	    labels: {team: db}
	  - name: down-a
	    type: exec
	    command: ["/bin/sh", "-c", "exit 1 # <script>alert(5)</script>"]
	    every: 1s
	    timeout: 900ms
	    labels: {team: web}
	  - name: hostile
	    type: http
	    url: "http://127.0.0.1:$HPORT/200"
	    expect_body: '$HOSTILE_EXPECT'
	    every: 1s
	    timeout: 900ms
	    labels: {team: '$HOSTILE_LABEL'}
	  - name: secret
	    type: http
	    url: "http://user:hunter2@127.0.0.1:$HPORT/200"
	    headers: {Authorization: "Bearer s3cr3t-token", X-Api-Key: "k3y-value", Accept: text/plain}
	    every: 1s
	    timeout: 900ms
	    labels: {team: web}
	  - name: utf
	    type: http
	    url: "http://127.0.0.1:$HPORT/200"
	    expect_body: "$e"
	    every: 1s
	    timeout: 900ms
	  - name: resting
	    type: exec
	    command: [/bin/true]
	    every: 1s
	    timeout: 900ms
	    labels: {team: web}
	  - name: never
	    type: exec
	    command: [/bin/true]
	    every: 1h
	    enabled: false
	EOF
}

ctl() {
	"$COCTL" -s "$D_SOCK" "$@"
}

# has_results JOB N: the history holds N results of JOB.
has_results() {
	local out
	out=$(ctl history "$1" -n "$2" -o json 2> /dev/null) || return 1
	[ "$(json_get 'len(v["results"])' <<< "$out")" -ge "$2" ]
}

hq() {
	python3 "$HQ" "$@"
}

# fetch PATH [CURL-ARG...]: the body of GET PATH (fails on an HTTP error).
fetch() {
	local p="$1"
	shift
	curl -sSf -m 10 "$@" "$WEB$p"
}

code() {
	curl -s -m 10 -o /dev/null -w '%{http_code}' "$@"
}

# No element that a payload would make, in a DOM as chromium built it.
no_hostile_elements() {
	local tags
	tags=$(hq "$1" tags | sort -u | tr '\n' ' ')
	echo "# elements: $tags"
	if grep -qwE 'script|img|iframe|object|embed|form|input|base|link' <<< "$tags" ||
		[ "$(hq "$1" count '[onerror]')" -ne 0 ] || [ "$(hq "$1" count '[onload]')" -ne 0 ]; then
		echo "an element that a payload would make: $tags" >&2
		return 1
	fi
}

console_is_clean() {
	local msgs
	msgs=$(console_messages "$1")
	if [ -n "$msgs" ]; then
		echo "the page's console is not clean:" >&2
		echo "$msgs" >&2
		return 1
	fi
}

@test "/ in headless chromium: up and down counts as coctl list has them, a row per job with state, 24h uptime and a labelled bar, red first, groups; nothing runs" {
	chromium_run index --dump-dom "$WEB/"
	local dom="$BATS_TEST_TMPDIR/index.out" up down n
	run ctl list -o json
	[ "$status" -eq 0 ]
	up=$(json_get 'sum(j["state"] == "up" and not j["paused"] for j in v["jobs"])' <<< "$output")
	down=$(json_get 'sum(j["state"] == "down" and not j["paused"] for j in v["jobs"])' <<< "$output")
	n=$(json_get 'len(v["jobs"])' <<< "$output")
	echo "# coctl list: $n jobs, $up up, $down down" >&3
	[ "$up" -eq 3 ]
	[ "$down" -eq 3 ]
	[ "$n" -eq 8 ]
	[ "$(hq "$dom" text '#count-up')" = "$up up" ]
	[ "$(hq "$dom" text '#count-down')" = "$down down" ]
	[ "$(hq "$dom" text '#count-other')" = "2 unknown or paused" ]
	[ "$(hq "$dom" count tr.job)" -eq "$n" ]
	[ "$(hq "$dom" count 'tr.job[data-state=up]')" -eq "$up" ]
	[ "$(hq "$dom" count 'tr.job[data-state=down]')" -eq "$down" ]
	[ "$(hq "$dom" count 'tr.job[data-state=paused]')" -eq 1 ]
	[ "$(hq "$dom" count 'tr.job[data-state=unknown]')" -eq 1 ]
	# A job that never ran: no figures yet, said in words.
	[ "$(hq "$dom" text 'tr.job[data-state=unknown] td.up24')" = "–" ]
	[ "$(hq "$dom" text 'tr.job[data-state=unknown] span.mut')" = "exec" ]
	hq "$dom" texts 'tr.job[data-state=unknown] td' | grep -qx 'no history'
	# The 24h uptime as text: 100% for a job that never failed, 0.00% for one that always did.
	[ "$(hq "$dom" texts 'tr.job[data-state=up] td.up24' | sort -u)" = "100%" ]
	[ "$(hq "$dom" texts 'tr.job[data-state=down] td.up24' | sort -u)" = "0.00%" ]
	[ "$(hq "$dom" texts 'tr.job td.up30' | grep -cE '^(100|[0-9]{1,2}\.[0-9]{2})%$')" -eq $((n - 1)) ]
	# A bar per job that ran, each with its text for whoever cannot see its colours.
	[ "$(hq "$dom" count 'tr.job svg.bar[role=img]')" -eq $((n - 1)) ]
	[ "$(hq "$dom" attr 'tr.job svg.bar' aria-label |
		grep -cE '^last 90 hours: [0-9]+ all good, [0-9]+ with failures, [0-9]+ mostly failing, [0-9]+ without runs$')" -eq $((n - 1)) ]
	hq "$dom" attr 'tr.job[data-state=up] svg.bar' aria-label | grep -q 'last 90 hours: 1 all good, 0 with failures, 0 mostly failing, 89 without runs'
	# Groups by the team label, each by name, the unlabelled last; in a group, down first.
	[ "$(hq "$dom" texts h2)" = "$(printf 'team: %s\nteam: db\nteam: web\nno team' "$HOSTILE_LABEL")" ]
	[ "$(hq "$dom" attr 'tr.job td a' href | tr '\n' ' ')" = \
		"/job/hostile /job/up-b /job/down-a /job/resting /job/secret /job/up-a /job/utf /job/never " ]
	# The title, as text.
	[ "$(hq "$dom" text h1)" = "$TITLE" ]
	[ "$(hq "$dom" text title)" = "$TITLE" ]
	no_hostile_elements "$dom"
	[ "$(hq "$dom" count b)" -eq 0 ]
	console_is_clean index
}

@test "screenshots of / at 1280 px and 360 px wide, and of a job's page at 360 px, kept as artifacts" {
	local dir f
	dir="$(artifacts_dir)/web"
	mkdir -p "$dir"
	rm -f "$dir"/*.png
	chromium_run shot-1280 --hide-scrollbars --window-size=1280,900 --screenshot="$dir/index-1280.png" "$WEB/"
	chromium_run shot-360 --hide-scrollbars --window-size=360,800 --screenshot="$dir/index-360.png" "$WEB/"
	chromium_run shot-job-360 --hide-scrollbars --window-size=360,800 --screenshot="$dir/job-hostile-360.png" "$WEB/job/hostile"
	[ "$(png_size "$dir/index-1280.png")" = 1280x900 ]
	[ "$(png_size "$dir/index-360.png")" = 360x800 ]
	[ "$(png_size "$dir/job-hostile-360.png")" = 360x800 ]
	for f in "$dir"/*.png; do
		# A page drawn, not a blank one: a blank 1280x900 PNG is a few KiB.
		[ "$(stat -c %s "$f")" -gt 8000 ]
		echo "# screenshot: $f ($(png_size "$f"), $(stat -c %s "$f") bytes)" >&3
	done
	console_is_clean shot-1280
	console_is_clean shot-job-360
}

@test "/job/NAME of a job whose error and label hold <script> and \"><img onerror>: the text is there, escaped, and nothing runs" {
	local dom="$BATS_TEST_TMPDIR/job.out" raw="$BATS_TEST_TMPDIR/job.html"
	local err="body lacks \"$HOSTILE_EXPECT\""
	chromium_run job --dump-dom "$WEB/job/hostile"
	[ "$(hq "$dom" text 'h1 span#state')" = down ]
	[[ "$(hq "$dom" text 'p#uptime')" =~ ^Uptime:\ 0\.00%\ \(24h\),\ 0\.00%\ \(7d\),\ 0\.00%\ \(30d\)\ ·\ last\ outage\ 20[0-9-]+\ [0-9:]+\ UTC,\ still\ down$ ]]
	[ "$(hq "$dom" text 'p.err')" = "Last error: $err" ]
	[ "$(hq "$dom" count table.def)" -eq 1 ]
	hq "$dom" texts 'table.def td' | grep -qxF "team: $HOSTILE_LABEL"
	[ "$(hq "$dom" count 'svg.chart[role=img]')" -eq 1 ]
	[ "$(hq "$dom" count 'svg.chart circle.pt')" -ge 3 ]
	hq "$dom" texts 'svg.chart circle.pt title' | grep -qF ": $err"
	[ "$(hq "$dom" count 'table#results tbody tr')" -ge 3 ]
	hq "$dom" texts 'table#results td.err' | grep -qxF "$err"
	[ "$(hq "$dom" count 'table#outages tbody tr')" -eq 1 ]
	hq "$dom" text 'table#outages tbody tr' | grep -qF "still down"
	hq "$dom" texts 'table#outages td.err' | grep -qxF "$err"
	no_hostile_elements "$dom"
	console_is_clean job
	# As served: escaped, with a policy that allows no script should an escape be missed.
	curl -sS -m 10 -D "$BATS_TEST_TMPDIR/job.headers" -o "$raw" "$WEB/job/hostile"
	grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;' "$raw"
	not grep -qiE '<script|<img' "$raw"
	grep -qi "^Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self'" "$BATS_TEST_TMPDIR/job.headers"
	not grep -qi 'script-src' "$BATS_TEST_TMPDIR/job.headers"
	# The exec job's command holds <script> too, in its definition.
	fetch /job/down-a | grep -qF 'exit 1 # &lt;script&gt;alert(5)&lt;/script&gt;'
}

@test "the checks above can fail: a page whose payload runs is caught by the console and the DOM" {
	mkdir -p "$BATS_TEST_TMPDIR/www"
	cat > "$BATS_TEST_TMPDIR/www/x.html" <<-'EOF'
	<!DOCTYPE html><html><head><title>payload</title></head><body><p id="x">static</p>
	<img src=x onerror="console.log('IMG-ONERROR-RAN')">
	<script>document.getElementById('x').textContent = 'changed'; console.log('SCRIPT-RAN')</script>
	</body></html>
	EOF
	bg_start www python3 -u -m http.server -b 127.0.0.1 -d "$BATS_TEST_TMPDIR/www" 0
	local port
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' <<< "$BG_LINE")
	chromium_run control --dump-dom "http://127.0.0.1:$port/x.html"
	console_messages control
	not console_is_clean control
	console_messages control | grep -q SCRIPT-RAN
	console_messages control | grep -q IMG-ONERROR-RAN
	[ "$(hq "$BATS_TEST_TMPDIR/control.out" text '#x')" = changed ]
	not no_hostile_elements "$BATS_TEST_TMPDIR/control.out"
}

@test "/job/NAME masks the Authorization header, other secret-looking headers and the URL's password; / and /api show none of them" {
	local page="$BATS_TEST_TMPDIR/secret.html" p
	fetch /job/secret > "$page"
	hq "$page" texts 'table.def code' > "$BATS_TEST_TMPDIR/def.txt"
	cat "$BATS_TEST_TMPDIR/def.txt"
	grep -qxF 'GET http://user:••••@127.0.0.1:'"$HPORT"'/200' "$BATS_TEST_TMPDIR/def.txt"
	grep -qxF 'Authorization: •••• (hidden)' "$BATS_TEST_TMPDIR/def.txt"
	grep -qxF 'X-Api-Key: •••• (hidden)' "$BATS_TEST_TMPDIR/def.txt"
	grep -qxF 'Accept: text/plain' "$BATS_TEST_TMPDIR/def.txt"
	for p in /job/secret / /api/v1/jobs /api/v1/jobs/secret/history /badge/secret.svg /metrics; do
		fetch "$p" > "$BATS_TEST_TMPDIR/page"
		not grep -qE 's3cr3t|hunter2|k3y-value' "$BATS_TEST_TMPDIR/page"
	done
}

@test "HEAD gets the headers only, unknown paths and jobs 404, other methods 405; no request changes anything" {
	local before
	before=$(ctl list -o json | json_get '[(j["name"], j["paused"]) for j in v["jobs"]]')
	curl -sS -m 10 -I "$WEB/" > "$BATS_TEST_TMPDIR/head"
	grep -q '^HTTP/1.1 200 ' "$BATS_TEST_TMPDIR/head"
	grep -qi '^Content-Type: text/html; charset=utf-8' "$BATS_TEST_TMPDIR/head"
	grep -qi '^X-Content-Type-Options: nosniff' "$BATS_TEST_TMPDIR/head"
	grep -qi "^Content-Security-Policy: default-src 'none'" "$BATS_TEST_TMPDIR/head"
	# HEAD, on a connection of its own: headers and nothing after them.
	local fd
	exec {fd}<>"/dev/tcp/127.0.0.1/$D_METRICS_PORT"
	printf 'HEAD /job/up-a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&$fd
	cat <&$fd > "$BATS_TEST_TMPDIR/head-reply"
	exec {fd}<&-
	python3 - "$BATS_TEST_TMPDIR/head-reply" <<-'PY'
	import sys
	b = open(sys.argv[1], "rb").read()
	assert b.startswith(b"HTTP/1.1 200 "), b[:80]
	assert b.endswith(b"\r\n\r\n") and b.count(b"\r\n\r\n") == 1, b
	PY
	[ "$(code -I "$WEB/api/v1/jobs")" = 200 ]
	[ "$(code -I "$WEB/badge/up-a.svg")" = 200 ]
	local p
	for p in /job/no-such-job /badge/no-such-job.svg /api/v1/jobs/no-such-job/history /nope /job/ \
		/job/up-a/more '/job/up-a%2F..' '/job/..%2Fmetrics' /api/v1/jobs/up-a /api/v1 /badge/up-a \
		"/job/$(printf 'a%.0s' $(seq 70))"; do
		[ "$(code "$WEB$p")" = 404 ] || { echo "GET $p: $(code "$WEB$p")"; return 1; }
	done
	[ "$(code -I "$WEB/job/no-such-job")" = 404 ]
	[ "$(code -X POST "$WEB/")" = 405 ]
	[ "$(code -X PUT -d x "$WEB/api/v1/jobs")" = 405 ]
	[ "$(code -X DELETE "$WEB/job/up-a")" = 405 ]
	curl -s -m 10 -X POST -D - -o /dev/null "$WEB/job/resting" | grep -qi '^Allow: GET, HEAD'
	[ "$(ctl list -o json | json_get '[(j["name"], j["paused"]) for j in v["jobs"]]')" = "$before" ]
}

@test "/badge/NAME.svg (state and ?uptime=) and /api/v1 parse, with the hostile texts intact; the history's metrics" {
	fetch /badge/up-a.svg > "$BATS_TEST_TMPDIR/b1.svg"
	fetch '/badge/up-a.svg?uptime=24h' > "$BATS_TEST_TMPDIR/b2.svg"
	fetch '/badge/down-a.svg?uptime=30d' > "$BATS_TEST_TMPDIR/b3.svg"
	fetch /badge/hostile.svg > "$BATS_TEST_TMPDIR/b4.svg"
	[ "$(curl -sS -m 10 -o /dev/null -w '%{content_type}' "$WEB/badge/up-a.svg")" = image/svg+xml ]
	python3 - "$BATS_TEST_TMPDIR" <<-'PY'
	import sys, xml.etree.ElementTree as ET
	d = sys.argv[1]
	ns = "{http://www.w3.org/2000/svg}"
	for f, label in (("b1", "up-a: up"), ("b2", "up-a: 100.00%"), ("b3", "down-a: 0.00%"),
	                 ("b4", "hostile: down")):
	    root = ET.parse("%s/%s.svg" % (d, f)).getroot()
	    assert root.tag == ns + "svg" and root.get("role") == "img", root
	    assert root.get("aria-label") == label, (f, root.get("aria-label"))
	    assert root.find(ns + "title").text == label
	    assert [t.text for t in root.iter(ns + "text")] == label.split(": "), f
	PY

	fetch /api/v1/jobs > "$BATS_TEST_TMPDIR/jobs.json"
	python3 -m json.tool "$BATS_TEST_TMPDIR/jobs.json" > /dev/null
	python3 - "$BATS_TEST_TMPDIR/jobs.json" "$HOSTILE_LABEL" <<-'PY'
	import json, sys
	v = json.load(open(sys.argv[1]))
	jobs = {j["name"]: j for j in v["jobs"]}
	assert set(jobs) == {"up-a", "up-b", "down-a", "hostile", "secret", "utf", "resting", "never"}, jobs.keys()
	assert jobs["never"]["state"] == "unknown" and "uptime" not in jobs["never"], jobs["never"]
	assert jobs["never"]["last_duration_us"] is None
	assert jobs["hostile"]["group"] == sys.argv[2], jobs["hostile"]["group"]
	assert jobs["utf"]["group"] is None
	assert jobs["up-a"]["state"] == "up" and jobs["down-a"]["state"] == "down"
	assert jobs["resting"]["paused"] is True
	assert jobs["up-a"]["uptime"]["24h"] == 1.0 and jobs["down-a"]["uptime"]["30d"] == 0.0
	bar = jobs["up-a"]["hours_ok_permille"]
	assert len(bar) == 90 and bar[-1] == 1000 and bar[0] is None, bar
	assert isinstance(jobs["up-a"]["last_duration_us"], int)
	PY
	fetch /api/v1/jobs/hostile/history > "$BATS_TEST_TMPDIR/hist.json"
	python3 -m json.tool "$BATS_TEST_TMPDIR/hist.json" > /dev/null
	python3 - "$BATS_TEST_TMPDIR/hist.json" "body lacks \"$HOSTILE_EXPECT\"" <<-'PY'
	import json, sys
	v = json.load(open(sys.argv[1]))
	assert v["name"] == "hostile"
	r, e = v["results"], v["events"]
	# Failed with the hostile text (a timeout, on a loaded machine, would say so instead).
	failed = [x for x in r if x["result"] == "failed"]
	assert len(failed) >= 3 and all(x["error"] == sys.argv[2] for x in failed), r[:3]
	ends = [x["end_ms"] for x in r]
	assert ends == sorted(ends, reverse=True)
	assert e[0]["state"] == "down" and e[0]["error"] == sys.argv[2], e
	PY
	# A job that never ran: its page and its history, empty, not 404 (it is in /api/v1/jobs).
	fetch /api/v1/jobs/never/history > "$BATS_TEST_TMPDIR/never.json"
	[ "$(json_get 'v == {"name": "never", "results": [], "events": []}' < "$BATS_TEST_TMPDIR/never.json")" = true ]
	fetch /job/never | grep -qF 'No results yet.'
	[ "$(curl -s -m 10 -I -o /dev/null -w '%{content_type}' "$WEB/api/v1/jobs")" = application/json ]
	# HEAD: no body.
	[ -z "$(curl -s -m 10 -I "$WEB/api/v1/jobs" | sed '1,/^\r$/d')" ]

	fetch /metrics > "$BATS_TEST_TMPDIR/metrics"
	grep -qx 'coro_runner_history_up 1' "$BATS_TEST_TMPDIR/metrics"
	grep -qE '^coro_runner_history_records_total\{kind="result"\} [1-9][0-9]*$' "$BATS_TEST_TMPDIR/metrics"
	grep -qE '^coro_runner_history_records_total\{kind="event"\} [1-9][0-9]*$' "$BATS_TEST_TMPDIR/metrics"
	grep -qx 'coro_runner_history_dropped_total 0' "$BATS_TEST_TMPDIR/metrics"
	grep -qx 'coro_runner_history_write_errors_total 0' "$BATS_TEST_TMPDIR/metrics"
	grep -qE '^coro_runner_history_database_bytes [1-9][0-9]*$' "$BATS_TEST_TMPDIR/metrics"
}

@test "an error cut within a character (130 é): coctl history, coctl events and /api keep its results, as valid JSON" {
	run ctl history utf -n 3 -o json
	[ "$status" -eq 0 ]
	[ "$(json_get 'len(v["results"])' <<< "$output")" -eq 3 ]
	[ "$(json_get 'all(x["error"].startswith("body lacks \"" + "é" * 100) for x in v["results"])' <<< "$output")" = true ]
	run ctl history utf -n 1
	[[ "${lines[1]}" =~ body\ lacks\ \"éééé ]]
	run ctl events utf
	[ "$status" -eq 0 ]
	[ "${lines[${#lines[@]} - 1]}" = "1 outage." ]
	fetch /api/v1/jobs/utf/history > "$BATS_TEST_TMPDIR/utf.json"
	python3 -m json.tool "$BATS_TEST_TMPDIR/utf.json" > /dev/null
	[ "$(json_get 'len(v["results"]) >= 3 and len(v["events"]) == 1' < "$BATS_TEST_TMPDIR/utf.json")" = true ]
	fetch /job/utf > "$BATS_TEST_TMPDIR/utf.html"
	[ "$(hq "$BATS_TEST_TMPDIR/utf.html" count 'table#results tbody tr')" -ge 3 ]
}

@test "the daemon that served all this stops cleanly, with no sanitizer report" {
	# Not this test's child: its exit status is not ours to read; its log says how it ended.
	daemon_stop TERM 30
	wait_log 'notice: stopped$'
	no_sanitizer_reports
}
