#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Notifications (issue 14) against real receivers on loopback: a webhook
# receiver that checks Alertmanager's webhook payload and can fail, hang
# or answer 10 MB (tools/webhook-receiver.py), an SMTP server (aiosmtpd,
# tools/smtp-sink.py, with and without STARTTLS), exec commands; retries
# with backoff, a delivery that hangs, restarts (clean or SIGKILL) with
# events queued or downs already notified, a reload that moves or removes
# a notifier, notify_repeat, flapping, bad receivers (refused, too large,
# a certificate that does not verify), coctl notify list|test, coctl
# status and the metrics. Alertmanager itself: notify-alertmanager.bats.

bats_require_minimum_version 1.5.0
load notify-helpers

setup() {
	notify_setup
}

teardown() {
	kill_started
}

# write_config NOTIFIERS JOBS: the main file, its notifiers: and jobs: sections (YAML items).
write_config() {
	{
		echo "notifiers:"
		printf '%s\n' "$1"
		echo "jobs:"
		printf '%s\n' "$2"
	} > "$D_CONF"
}

@test "the receiver's checks catch a payload that is not Alertmanager's" {
	local f="$BATS_TEST_TMPDIR/bad.json"
	cat > "$f" <<-'EOF'
	{"version": 4, "groupKey": "k", "truncatedAlerts": false, "status": "firing",
	 "receiver": "r", "groupLabels": {}, "commonLabels": {"job": "b"}, "commonAnnotations": {},
	 "externalURL": "", "extra": 1,
	 "alerts": [{"status": "resolved", "labels": {"job": "a"}, "annotations": {},
	             "startsAt": "2024-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
	             "generatorURL": ""}]}
	EOF
	run python3 "$TOOLS/webhook-receiver.py" --validate "$f"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'version: expected the string "4"'* ]]
	[[ "$output" == *'truncatedAlerts: expected a whole number'* ]]
	[[ "$output" == *'unknown key extra'* ]]
	[[ "$output" == *'alerts[0]: missing key fingerprint'* ]]
	[[ "$output" == *"commonLabels.job='b' is not the alert's labels"* ]]
	[[ "$output" == *'resolved, but endsAt'* ]]
	[[ "$output" == *'status: firing, but none of the alerts fires'* ]]
}

@test "webhook: a down and an up in Alertmanager's webhook payload; the secret header sent, never shown" {
	receiver_start hook
	export HOOK_TOKEN="s3cret-$RANDOM$RANDOM"
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    headers: {Authorization: "Bearer \${env:HOOK_TOKEN}", X-Test: plain}
	    timeout: 2s
	EOF
	)" "$(job_yaml api hook 'labels: {team: web, tier: "1"}')"
	job_up api
	daemon_start
	wait_log 'job api: up$'
	job_down api
	wait_posts "$R_FILE" 1
	cat "$R_FILE"
	[ "$(post "$R_FILE" 1 .errors)" = '[]' ]
	[ "$(post_r "$R_FILE" 1 .path)" = /hook ]
	[ "$(post_r "$R_FILE" 1 '.headers.Authorization')" = "Bearer $HOOK_TOKEN" ]
	[ "$(post_r "$R_FILE" 1 '.headers["X-Test"]')" = plain ]
	[ "$(post_r "$R_FILE" 1 '.headers["Content-Type"]')" = application/json ]
	[ "$(post_r "$R_FILE" 1 .body.status)" = firing ]
	[ "$(post_r "$R_FILE" 1 .body.receiver)" = hook ]
	[ "$(post "$R_FILE" 1 '.body.alerts | length')" = 1 ]
	[ "$(post "$R_FILE" 1 '.body.alerts[0].labels')" = \
		"$(jq -cn --arg h "$HOST_NAME" '{alertname: "CoroRunnerJobDown", instance: $h, job: "api", team: "web", tier: "1"}' | jq -cS .)" ] ||
		{ post "$R_FILE" 1 '.body.alerts[0].labels'; false; }
	[ "$(post_r "$R_FILE" 1 '.body.alerts[0].annotations.error')" = "exit 42" ]
	[[ "$(post_r "$R_FILE" 1 '.body.alerts[0].annotations.summary')" == *"api"*"down"*"exit 42"* ]]
	[ "$(post_r "$R_FILE" 1 '.body.alerts[0].endsAt')" = "0001-01-01T00:00:00Z" ]
	# startsAt is when the job went down: its state's since, to the millisecond.
	local since starts
	since=$(job_json api '.jobs[0].state_since_ms')
	starts=$(date -d "$(post_r "$R_FILE" 1 '.body.alerts[0].startsAt')" +%s%3N)
	echo "since $since startsAt $starts"
	[ "$starts" -eq "$since" ]
	run ctl status api
	echo "$output"
	[[ "$output" =~ Notify:\ hook\;\ last:\ down\ to\ hook,\ delivered ]]
	[ "$(job_json api '.jobs[0].notification | [.event, .notifier, .outcome] | join(" ")')" = '"down hook delivered"' ]

	job_up api
	wait_posts "$R_FILE" 2
	[ "$(post "$R_FILE" 2 .errors)" = '[]' ]
	[ "$(post_r "$R_FILE" 2 .body.status)" = resolved ]
	[ "$(post_r "$R_FILE" 2 '.body.alerts[0].status')" = resolved ]
	# The same alert: its labels, fingerprint and start; it ends at the up.
	[ "$(post "$R_FILE" 2 '.body.alerts[0].labels')" = "$(post "$R_FILE" 1 '.body.alerts[0].labels')" ]
	[ "$(post "$R_FILE" 2 '.body.alerts[0].fingerprint')" = "$(post "$R_FILE" 1 '.body.alerts[0].fingerprint')" ]
	[ "$(post "$R_FILE" 2 '.body.alerts[0].startsAt')" = "$(post "$R_FILE" 1 '.body.alerts[0].startsAt')" ]
	local ends
	ends=$(date -d "$(post_r "$R_FILE" 2 '.body.alerts[0].endsAt')" +%s%3N)
	[ "$ends" -eq "$(job_json api '.jobs[0].state_since_ms')" ]
	wait_log 'job api: notify hook: up delivered$'

	# The secret is sent, never shown: not in the log, coctl's answers, the state.
	ctl notify list -o json > "$BATS_TEST_TMPDIR/list.json"
	ctl status api -o json > "$BATS_TEST_TMPDIR/status.json"
	daemon_stop
	! grep -rF "$HOOK_TOKEN" "$D_DIR" "$BATS_TEST_TMPDIR/list.json" "$BATS_TEST_TMPDIR/status.json" || false
	[ "$(posts "$R_FILE")" -eq 2 ]
	no_sanitizer_reports
}

@test "webhook: a receiver that fails the first three POSTs gets the event on the fourth, after 1 s, 2 s, 4 s (+-20%)" {
	receiver_start hook --fail-first 3
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 2s
	EOF
	)" "$(job_yaml api hook)"
	daemon_start
	wait_log 'job api: notify hook: down delivered$' 1 60
	[ "$(posts "$R_FILE")" -eq 4 ]
	[ "$(posts "$R_FILE" '.answer == 500')" -eq 3 ]
	[ "$(posts "$R_FILE" '.errors == []')" -eq 4 ]
	# Four times the same event.
	[ "$(jq -c '.body' "$R_FILE" | sort -u | wc -l)" -eq 1 ]
	local i
	for i in 1 2 3; do
		[ "$(count_log "job api: notify hook: down not delivered, attempt $i: status 500: injected failure; next try in [0-9.]+s$")" -eq 1 ]
	done
	# The waits announced, and the gaps between the POSTs the receiver saw.
	local waits gaps
	waits=$(grep -oE 'attempt [123]: .*; next try in [0-9.]+s$' "$D_LOG" | sed -E 's/.* ([0-9.]+)s$/\1/' | tr '\n' ' ')
	gaps=$(jq -s -r '[.[].time_ms] | [.[1] - .[0], .[2] - .[1], .[3] - .[2]] | map(tostring) | join(" ")' "$R_FILE")
	echo "announced: $waits; seen: $gaps (ms)"
	read -r w1 w2 w3 <<< "$waits"
	read -r g1 g2 g3 <<< "$gaps"
	awk -v a="$w1" -v b="$w2" -v c="$w3" 'BEGIN { exit !(a >= 0.8 && a <= 1.2 && b >= 1.6 && b <= 2.4 && c >= 3.2 && c <= 4.8) }'
	# Never sooner than the backoff allows; later only by the machine's load.
	[ "$g1" -ge 800 ] && [ "$g1" -le 3200 ]
	[ "$g2" -ge 1600 ] && [ "$g2" -le 4400 ]
	[ "$g3" -ge 3200 ] && [ "$g3" -le 6800 ]

	run ctl notify list -o json
	echo "$output"
	[ "$(jq -c '.notifiers[0] | [.name, .delivered, .failed, .dropped, .queued]' <<< "$output")" = '["hook",1,3,0,0]' ]
	run ctl notify list
	echo "$output"
	[[ "$output" =~ NAME\ +TYPE\ +DELIVERED\ +FAILED\ +DROPPED\ +QUEUED\ +LAST-ERROR ]]
	[[ "$output" =~ hook\ +webhook\ +1\ +3\ +0\ +0\ +status\ 500:\ injected\ failure ]]
	[ "$(job_json api '.jobs[0].notification | [.event, .outcome] | join(" ")')" = '"down delivered"' ]
	daemon_stop
	no_sanitizer_reports
}

@test "webhook: a receiver that hangs: the job keeps its 1 s schedule, the attempt ends at the notifier's timeout" {
	receiver_start hook --hang
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 3s
	EOF
	)" "$(job_yaml api hook)"
	daemon_start
	wait_posts "$R_FILE" 1
	local t0 r0 t1 r1
	t0=$(now_ms)
	r0=$(job_json api '.jobs[0].runs')
	# coctl is answered while the delivery hangs.
	local a b
	a=$(now_ms)
	ctl list > /dev/null
	b=$(now_ms)
	[ $((b - a)) -lt 2000 ]
	# Two attempts time out (3 s each, a second between them).
	wait_log 'job api: notify hook: down not delivered, attempt 2: timeout after 3s; next try in' 1 30
	t1=$(now_ms)
	r1=$(job_json api '.jobs[0].runs')
	echo "runs: $r0 -> $r1 in $((t1 - t0)) ms; skipped $(job_json api '.jobs[0].skipped')"
	# One run a second all along (a blocked loop would have made none for 3 s twice).
	[ $((r1 - r0)) -ge $(((t1 - t0) / 1000 - 2)) ]
	[ $((r1 - r0)) -le $(((t1 - t0) / 1000 + 2)) ]
	# The attempt lasted the notifier's timeout: from the POST received to the failure logged.
	local posted failed
	posted=$(post "$R_FILE" 1 .time_ms)
	failed=$(log_ms 'notify hook: down not delivered, attempt 1: timeout after 3s')
	echo "attempt 1: POST at $posted, failure logged at $failed"
	[ $((failed - posted)) -ge 2800 ]
	[ $((failed - posted)) -le 5000 ]
	[ "$(count_log 'notify hook: down delivered')" -eq 0 ]
	# A stop does not wait for the hanging receiver; the event stays queued.
	daemon_stop
	echo "stopped in $D_STOP_MS ms"
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -lt 5000 ]
	jq -e '.queues[] | select(.notifier == "hook") | .events | length == 1 and .[0].event == "down" and .[0].job == "api"' "$D_STATE/notify.json"
	no_sanitizer_reports
}

@test "webhook: a receiver down across a restart gets the event after it, exactly once" {
	local dead
	dead=$(free_port)
	hook_yaml() {
		cat <<-EOF
		  - name: hook
		    type: webhook
		    url: http://127.0.0.1:$1/hook
		    timeout: 2s
		EOF
	}
	write_config "$(hook_yaml "$dead")" "$(job_yaml api hook)"
	daemon_start
	wait_log "job api: notify hook: down not delivered, attempt 1: .*127\.0\.0\.1 port $dead.*\(Connection refused\)"
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	cat "$D_STATE/notify.json"
	jq -e '[.queues[] | select(.notifier == "hook") | .events[]] | length == 1 and .[0].event == "down"' "$D_STATE/notify.json"

	# The receiver is back (elsewhere: the configuration says where); the job is still down.
	receiver_start hook
	write_config "$(hook_yaml "$R_PORT")" "$(job_yaml api hook)"
	daemon_start
	wait_log 'notify: 1 event still to deliver from before the restart'
	wait_posts "$R_FILE" 1
	wait_log 'job api: notify hook: down delivered$'
	# The job is still down after the restart (three more failed runs): no new event.
	local runs
	runs=$(job_json api '.jobs[0].runs')
	wait_for 30 job_runs_at_least api $((runs + 3))
	[ "$(job_state api)" = down ]
	[ "$(posts "$R_FILE")" -eq 1 ]
	[ "$(count_log 'notify hook: down')" -eq 1 ]
	[ "$(post "$R_FILE" 1 .errors)" = '[]' ]
	[ "$(post_r "$R_FILE" 1 .body.status)" = firing ]
	# Its up is delivered, for the down that began before the restart.
	job_up api
	wait_posts "$R_FILE" 2
	sleep 1
	[ "$(posts "$R_FILE")" -eq 2 ]
	[ "$(post_r "$R_FILE" 2 .body.status)" = resolved ]
	[ "$(post "$R_FILE" 2 '.body.alerts[0].startsAt')" = "$(post "$R_FILE" 1 '.body.alerts[0].startsAt')" ]
	daemon_stop
	no_sanitizer_reports
}

@test "a down delivered before a restart is not notified again after it; its up after the restart is" {
	receiver_start hook
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 2s
	EOF
	)" "$(job_yaml api hook)"
	daemon_start
	wait_posts "$R_FILE" 1
	wait_log 'job api: notify hook: down delivered$'
	daemon_stop
	jq -e '.jobs[] | select(.name == "api") | .down_since_ms > 0' "$D_STATE/notify.json"
	jq -e '[.queues[].events[]] | length == 0' "$D_STATE/notify.json"

	# Restarted (the job's state restored: still down), then restarted
	# again without the job's state (state.json lost; notify.json kept):
	# the job goes down anew, and its down was notified already.
	local runs
	daemon_start
	runs=$(job_json api '.jobs[0].runs')
	wait_for 30 job_runs_at_least api $((runs + 3))
	[ "$(job_state api)" = down ]
	daemon_stop
	rm "$D_STATE/state.json"
	daemon_start
	wait_log 'job api: down after 2 consecutive failures'
	wait_log 'job api: notify: down again, already notified'
	sleep 1.5
	[ "$(posts "$R_FILE")" -eq 1 ]
	[ "$(count_log 'notify hook: down')" -eq 0 ]
	# coctl status still tells of the down notified before the restarts.
	run ctl status api
	echo "$output"
	[[ "$output" =~ last:\ down\ to\ hook,\ delivered ]]
	job_up api
	wait_posts "$R_FILE" 2
	wait_log 'job api: notify hook: up delivered$'
	[ "$(post_r "$R_FILE" 2 .body.status)" = resolved ]
	[ "$(post "$R_FILE" 2 .errors)" = '[]' ]
	[ "$(post "$R_FILE" 2 '.body.alerts[0].startsAt')" = "$(post "$R_FILE" 1 '.body.alerts[0].startsAt')" ]
	sleep 1
	[ "$(posts "$R_FILE")" -eq 2 ]
	daemon_stop
	no_sanitizer_reports
}

@test "a daemon killed (SIGKILL) with an event queued delivers it after its restart, once" {
	local dead
	dead=$(free_port)
	hook_yaml() {
		cat <<-EOF
		  - name: hook
		    type: webhook
		    url: http://127.0.0.1:$1/hook
		    timeout: 2s
		EOF
	}
	write_config "$(hook_yaml "$dead")" "$(job_yaml api hook)"
	daemon_start
	wait_log 'job api: notify hook: down not delivered, attempt 1: '
	# notify.json holds the queued event within 2 s (and the keeper's second).
	queued_in_state() {
		jq -e '[.queues[]? | select(.notifier == "hook") | .events[]] | length == 1' \
			"$D_STATE/notify.json" > /dev/null 2>&1
	}
	wait_for 10 queued_in_state
	local down saved
	down=$(log_ms 'job api: down after 2 consecutive failures')
	saved=$(date -r "$D_STATE/notify.json" +%s%3N)
	echo "down at $down, notify.json written at $saved"
	[ $((saved - down)) -le 3000 ]
	daemon_stop KILL
	receiver_start hook
	write_config "$(hook_yaml "$R_PORT")" "$(job_yaml api hook)"
	daemon_start
	wait_posts "$R_FILE" 1
	wait_log 'job api: notify hook: down delivered$'
	local runs
	runs=$(job_json api '.jobs[0].runs')
	wait_for 30 job_runs_at_least api $((runs + 3))
	[ "$(posts "$R_FILE")" -eq 1 ]
	[ "$(post "$R_FILE" 1 .errors)" = '[]' ]
	daemon_stop
	no_sanitizer_reports
}

@test "a reload that fixes a notifier's URL delivers its queued event there; a notifier removed drops its queue, logged" {
	local dead gone
	dead=$(free_port)
	gone=$(free_port)
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$dead/hook
	    timeout: 2s
	  - name: gone
	    type: webhook
	    url: http://127.0.0.1:$gone/hook
	    timeout: 2s
	EOF
	)" "$(job_yaml api 'hook, gone')"
	daemon_start
	wait_log 'job api: notify hook: down not delivered, attempt 1: '
	wait_log 'job api: notify gone: down not delivered, attempt 1: '
	receiver_start hook
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 2s
	EOF
	)" "$(job_yaml api hook)"
	kill -HUP "$D_PID"
	wait_log 'reloaded: '
	wait_posts "$R_FILE" 1
	wait_log 'job api: notify hook: down delivered$'
	wait_log 'notify gone: removed from the configuration: its 1 queued event is dropped'
	[ "$(post "$R_FILE" 1 .errors)" = '[]' ]
	[ "$(post_r "$R_FILE" 1 .body.status)" = firing ]
	# The notifier kept its counters; the removed one is gone from the list.
	run ctl notify list -o json
	echo "$output"
	jq -e '.notifiers | length == 1 and .[0].name == "hook" and .[0].delivered == 1 and .[0].failed >= 1 and .[0].queued == 0' <<< "$output"
	sleep 1
	[ "$(posts "$R_FILE")" -eq 1 ]
	daemon_stop
	no_sanitizer_reports
}

# notify_repeat is at least a minute, and the daemon looks for lasting
# downs every 10 s: a real repeat takes 60 to 70 s. Instead, the down's
# start is moved 55 s back in notify.json (what the daemon keeps of it)
# before a restart: the repeat is then due at the first look, 10 s after.
@test "notify_repeat: a down that lasts is sent again to direct channels, not to Alertmanager" {
	local cmd="$BATS_TEST_TMPDIR/notify-cmd.sh" out="$BATS_TEST_TMPDIR/cmd"
	mkdir -p "$out"
	cat > "$cmd" <<-EOF
	#!/bin/sh
	n=\$(ls "$out" | wc -l)
	cat > "$out/\$((n + 1)).json"
	EOF
	chmod +x "$cmd"
	receiver_start fake-am
	write_config "$(cat <<-EOF
	  - name: cmd
	    type: exec
	    command: ["$cmd"]
	    timeout: 5s
	  - name: am
	    type: alertmanager
	    url: http://127.0.0.1:$R_PORT
	    timeout: 2s
	EOF
	)" "$(job_yaml api 'cmd, am' 'notify_repeat: 1m')"
	daemon_start
	wait_log 'job api: notify cmd: down delivered$'
	wait_log 'job api: notify am: down delivered$'
	daemon_stop
	[ "$(ls "$out" | wc -l)" -eq 1 ]
	local since
	since=$(jq '.jobs[] | select(.name == "api") | .down_since_ms' "$D_STATE/notify.json")
	[ "$since" -gt 0 ]
	jq --argjson s $((since - 55000)) '.jobs |= map(if .name == "api" then .down_since_ms = $s else . end)' \
		"$D_STATE/notify.json" > "$D_STATE/notify.json.new"
	mv "$D_STATE/notify.json.new" "$D_STATE/notify.json"

	daemon_start
	wait_log 'job api: notify cmd: down \(repeat\) delivered$' 1 40
	[ "$(ls "$out" | wc -l)" -eq 2 ]
	cat "$out/2.json"
	jq -e --argjson s $((since - 55000)) '.event == "down" and .repeat == true and .job == "api" and
		.since_ms == $s and .error == "exit 42"' "$out/2.json"
	jq -e '.repeat == false' "$out/1.json"
	# Alertmanager is not sent repeats (it re-sends the firing alert itself).
	[ "$(count_log 'notify am: down \(repeat\)')" -eq 0 ]
	run ctl status api
	echo "$output"
	[[ "$output" =~ Notify:\ cmd,\ am\ \(a\ down\ again\ every\ 1m(0s)?\)\;\ last:\ down\ to\ cmd,\ delivered ]]
	daemon_stop
	no_sanitizer_reports
}

@test "email: the messages reach a real SMTP server with valid headers and the error" {
	smtp_start smtp
	write_config "$(cat <<-EOF
	  - name: mail
	    type: email
	    smtp: smtp://127.0.0.1:$S_PORT
	    from: "coro-runner <coro-runner@example.org>"
	    to: [ops@example.org, "On Call <oncall@example.org>"]
	    timeout: 5s
	EOF
	)" "$(job_yaml api mail 'labels: {team: web}')"
	job_up api
	daemon_start
	wait_log 'job api: up$'
	job_down api
	wait_for 30 test -s "$S_DIR/001.json"
	wait_log 'job api: notify mail: down delivered$'
	job_up api
	wait_for 30 test -s "$S_DIR/002.json"
	wait_log 'job api: notify mail: up delivered$'
	run ctl notify test mail
	echo "$output"
	[ "$status" -eq 0 ]
	[ -s "$S_DIR/003.json" ]
	grep -qx "Subject: \[coro-runner\] test notification from $HOST_NAME"$'\r' "$S_DIR/003.eml"
	daemon_stop
	[ ! -e "$S_DIR/004.json" ]
	jq -e '.mail_from == "coro-runner@example.org" and .rcpt_tos == ["ops@example.org", "oncall@example.org"]' "$S_DIR/001.json"
	run /usr/bin/python3 - "$S_DIR" "$HOST_NAME" <<-'EOF'
	import email, email.policy, email.utils, re, sys, time
	d, host = sys.argv[1], sys.argv[2]
	ids = set()
	for n, kind in ((1, "DOWN"), (2, "UP")):
	    raw = open("%s/%03d.eml" % (d, n), "rb").read()
	    lines = raw.split(b"\r\n")
	    assert all(b"\n" not in l and b"\r" not in l for l in lines), "bare CR or LF"
	    assert all(len(l) <= 998 for l in lines), "a line longer than 998"
	    m = email.message_from_bytes(raw, policy=email.policy.default)
	    assert not m.defects, m.defects
	    for h in ("Date", "From", "To", "Subject", "Message-ID"):
	        assert len(m.get_all(h) or []) == 1, "%s: %r" % (h, m.get_all(h))
	        assert not m[h].defects, (h, m[h].defects)
	    subject = "[coro-runner] %s: api on %s" % (kind, host)
	    assert m["Subject"] == subject, m["Subject"]
	    assert m["From"].addresses[0].addr_spec == "coro-runner@example.org"
	    assert [a.addr_spec for a in m["To"].addresses] == ["ops@example.org", "oncall@example.org"], m["To"]
	    assert m["To"].addresses[1].display_name == "On Call"
	    age = time.time() - email.utils.parsedate_to_datetime(m["Date"]).timestamp()
	    assert -5 < age < 120, ("Date", m["Date"], age)
	    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", m["Message-ID"]), m["Message-ID"]
	    ids.add(m["Message-ID"])
	    assert m.get_content_type() == "text/plain"
	    body = m.get_content()
	    print("--- %03d ---\n%s\n%s" % (n, "".join("%s: %s\n" % kv for kv in m.items()), body))
	    assert "api" in body
	    if kind == "DOWN":
	        assert "exit 42" in body, "the error is not in the body"
	    else:
	        assert "UP" in body
	assert len(ids) == 2, ids
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
	no_sanitizer_reports
}

@test "email: STARTTLS when the server offers it; a certificate that does not verify is refused, tls_verify: false delivers over TLS" {
	make_cert
	smtp_start smtp --cert "$CERT" --key "$KEY"
	write_config "$(cat <<-EOF
	  - name: mail
	    type: email
	    smtp: smtp://127.0.0.1:$S_PORT
	    from: coro-runner@example.org
	    to: ops@example.org
	    timeout: 5s
	  - name: mail-lax
	    type: email
	    smtp: smtp://127.0.0.1:$S_PORT
	    from: coro-runner@example.org
	    to: lax@example.org
	    timeout: 5s
	    tls_verify: false
	EOF
	)" "$(job_yaml api 'mail, mail-lax')"
	daemon_start
	wait_log 'job api: notify mail-lax: down delivered$'
	wait_log 'job api: notify mail: down not delivered, attempt 2: '
	grep 'notify mail' "$D_LOG"
	[ "$(count_log 'job api: notify mail: down not delivered, attempt 1: .*certificate.*; next try in')" -eq 1 ]
	[ "$(count_log 'notify mail: down delivered')" -eq 0 ]
	# One message, the lax notifier's, and it came over TLS.
	[ "$(ls "$S_DIR"/*.json | wc -l)" -eq 1 ]
	jq -e '.tls == true and .rcpt_tos == ["lax@example.org"]' "$S_DIR/001.json"
	grep -q "^Subject: \[coro-runner\] DOWN: api on $HOST_NAME" "$S_DIR/001.eml"
	daemon_stop
	no_sanitizer_reports
}

@test "exec: the command gets the event in its environment and as JSON on stdin" {
	local cmd="$BATS_TEST_TMPDIR/notify-cmd.sh" out="$BATS_TEST_TMPDIR/cmd"
	mkdir -p "$out"
	cat > "$cmd" <<-EOF
	#!/bin/sh
	env | grep '^CORO_' | sort > "$out/env.\$CORO_EVENT"
	cat > "$out/stdin.\$CORO_EVENT"
	EOF
	chmod +x "$cmd"
	write_config "$(cat <<-EOF
	  - name: cmd
	    type: exec
	    command: ["$cmd"]
	    timeout: 5s
	EOF
	)" "$(job_yaml api cmd 'labels: {team: web}')"
	job_up api
	daemon_start
	wait_log 'job api: up$'
	job_down api
	wait_log 'job api: notify cmd: down delivered$'
	sleep 2
	job_up api
	wait_log 'job api: notify cmd: up delivered$'
	run ctl notify test cmd
	echo "$output"
	[ "$status" -eq 0 ]
	daemon_stop
	cat "$out"/env.* "$out"/stdin.*
	grep -qx 'CORO_EVENT=test' "$out/env.test"
	grep -qx 'CORO_NOTIFIER=cmd' "$out/env.test"
	jq -e '.event == "test"' "$out/stdin.test"
	local env="$out/env.down" json="$out/stdin.down"
	grep -qx 'CORO_EVENT=down' "$env"
	grep -qx 'CORO_JOB=api' "$env"
	grep -qx "CORO_INSTANCE=$HOST_NAME" "$env"
	grep -qx 'CORO_ERROR=exit 42' "$env"
	grep -qx 'CORO_NOTIFIER=cmd' "$env"
	grep -qx 'CORO_DOWN_FOR=0' "$env"
	grep -qx 'CORO_MEMBER=' "$env"
	grep -qE '^CORO_AT=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$' "$env"
	grep -qE '^CORO_SINCE=[0-9]{4}-' "$env"
	jq -e --arg h "$HOST_NAME" '.event == "down" and .job == "api" and .instance == $h and
		.error == "exit 42" and .labels == {team: "web"} and .notifier == "cmd" and .repeat == false' "$json"
	[ "CORO_AT=$(jq -r .at "$json")" = "$(grep '^CORO_AT=' "$env")" ]
	[ "CORO_SINCE=$(jq -r .since "$json")" = "$(grep '^CORO_SINCE=' "$env")" ]
	[ "$(date -d "$(jq -r .at "$json")" +%s%3N)" -eq "$(jq .at_ms "$json")" ]

	env="$out/env.up" json="$out/stdin.up"
	grep -qx 'CORO_EVENT=up' "$env"
	grep -qx 'CORO_ERROR=' "$env"
	# Down for two seconds or more: the up says so, in both.
	local down_for
	down_for=$(sed -n 's/^CORO_DOWN_FOR=//p' "$env")
	[ "$down_for" -ge 2 ] && [ "$down_for" -le 30 ]
	jq -e '.event == "up" and .down_for_ms == .at_ms - .since_ms' "$json"
	[ "$(jq .since_ms "$json")" -eq "$(jq .since_ms "$out/stdin.down")" ]
	[ $(($(jq .down_for_ms "$json") / 1000)) -eq "$down_for" ]
	no_sanitizer_reports
}

@test "exec: a command that hangs is killed at the notifier's timeout, logged as a failure, and leaves no process" {
	local marker
	marker=$(unique_marker)
	write_config "$(cat <<-EOF
	  - name: cmd
	    type: exec
	    command: ["/bin/sh", "-c", "/bin/sleep $marker & /bin/sleep $marker; wait"]
	    timeout: 1s
	EOF
	)" "$(job_yaml api cmd)"
	daemon_start
	# The command and its child, both sleeping.
	two_sleeping() {
		[ "$(pids_matching "^/bin/sleep $marker\$" | wc -l)" -eq 2 ]
	}
	wait_for 30 two_sleeping
	local first
	first=$(pids_matching "^/bin/sleep $marker\$")
	wait_log 'job api: notify cmd: down not delivered, attempt 1: timeout after 1s.*; next try in'
	local pid
	for pid in $first; do
		wait_for 10 proc_gone "$pid"
	done
	# The timeout counts from the down (the attempt began at once).
	local down failed
	down=$(log_ms 'job api: down after 2 consecutive failures')
	failed=$(log_ms 'notify cmd: down not delivered, attempt 1')
	echo "down at $down, attempt 1 failed at $failed"
	[ $((failed - down)) -ge 950 ]
	[ $((failed - down)) -le 4000 ]
	# The retry runs the command again, never two at a time.
	wait_log 'notify cmd: down not delivered, attempt 2: timeout after 1s'
	[ "$(pids_matching "^/bin/sleep $marker\$" | wc -l)" -le 2 ]
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	wait_for 10 no_process_matching "$marker"
	[ "$(count_log 'notify cmd: down delivered')" -eq 0 ]
	no_sanitizer_reports
}

@test "flapping: a job that alternates every run with thresholds 3/3 sends nothing; one down and up once sends exactly two" {
	receiver_start hook
	local flip="$BATS_TEST_TMPDIR/flip"
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 2s
	EOF
	)" "$(cat <<-EOF
	  - name: flap
	    type: exec
	    command: ["/bin/sh", "-c", "if [ -e $flip ]; then rm $flip; exit 1; fi; touch $flip"]
	    every: 1s
	    timeout: 900ms
	    failures_before_down: 3
	    successes_before_up: 3
	    notify: [hook]
	$(job_yaml once hook 'failures_before_down: 3' 'successes_before_up: 3')
	EOF
	)"
	cat "$D_CONF"
	daemon_start
	wait_log 'job once: down after 3 consecutive failures'
	job_up once
	wait_log 'job once: up$'
	wait_posts "$R_FILE" 2
	# Ten runs of flap at least, alternating.
	wait_for 30 job_runs_at_least flap 10
	sleep 1.5
	ctl status flap
	local runs fails
	runs=$(job_json flap '.jobs[0].runs')
	fails=$(job_json flap '.jobs[0].failures')
	[ $((fails * 2)) -ge $((runs - 1)) ] && [ $((fails * 2)) -le $((runs + 1)) ]
	job_json flap '.jobs[0].history | map(.result) | join(" ")'
	[ "$(job_json flap '[.jobs[0].history | map(.result) | .[] ] | . as $h | [range(1; length) | select($h[.] == $h[. - 1])] | length')" -eq 0 ]
	[ "$(posts "$R_FILE")" -eq 2 ]
	[ "$(posts "$R_FILE" '.body.alerts[0].labels.job == "once"')" -eq 2 ]
	[ "$(post_r "$R_FILE" 1 .body.status)" = firing ]
	[ "$(post_r "$R_FILE" 2 .body.status)" = resolved ]
	[ "$(count_log 'job flap: notify')" -eq 0 ]
	[ "$(count_log 'job once: notify hook: (down|up) delivered$')" -eq 2 ]
	daemon_stop
	no_sanitizer_reports
}

@test "bad receivers: refused, a 10 MB answer, a certificate that does not verify: clear errors, retries, no delivery; tls_verify: false delivers" {
	local dead
	dead=$(free_port)
	make_cert
	receiver_start big --big
	local big_port="$R_PORT" big_file="$R_FILE"
	receiver_start tls --cert "$CERT" --key "$KEY"
	local tls_port="$R_PORT" tls_file="$R_FILE"
	write_config "$(cat <<-EOF
	  - name: refused
	    type: webhook
	    url: http://127.0.0.1:$dead/hook
	    timeout: 2s
	  - name: big
	    type: webhook
	    url: http://127.0.0.1:$big_port/hook
	    timeout: 5s
	  - name: tls
	    type: webhook
	    url: https://127.0.0.1:$tls_port/hook
	    timeout: 5s
	  - name: tls-lax
	    type: webhook
	    url: https://127.0.0.1:$tls_port/hook
	    timeout: 5s
	    tls_verify: false
	EOF
	)" "$(job_yaml api 'refused, big, tls, tls-lax')"
	daemon_start
	wait_log 'job api: notify tls-lax: down delivered$'
	wait_log 'job api: notify refused: down not delivered, attempt 2: '
	wait_log 'job api: notify big: down not delivered, attempt 2: '
	wait_log 'job api: notify tls: down not delivered, attempt 2: '
	grep -E 'notify (refused|big|tls):' "$D_LOG"
	[ "$(count_log 'job api: notify refused: down not delivered, attempt 1: .*127\.0\.0\.1.*'"$dead"'.*\(Connection refused\); next try in')" -eq 1 ]
	[ "$(count_log "job api: notify big: down not delivered, attempt 1: the receiver's answer is larger than 1024 KiB; next try in")" -eq 1 ]
	[ "$(count_log 'job api: notify tls: down not delivered, attempt 1: .*(certificate|SSL).*self.signed')" -eq 1 ]
	[ "$(count_log 'notify (refused|big|tls): down delivered')" -eq 0 ]
	# The TLS receiver got only the lax notifier's POST; the big one got the attempts.
	[ "$(posts "$tls_file")" -eq 1 ]
	[ "$(post_r "$tls_file" 1 .body.receiver)" = tls-lax ]
	[ "$(post "$tls_file" 1 .errors)" = '[]' ]
	[ "$(posts "$big_file")" -ge 2 ]
	run ctl notify list -o json
	echo "$output"
	jq -e '.notifiers | map({(.name): [.delivered, (.failed >= 2), .queued]}) | add ==
		{"refused": [0, true, 1], "big": [0, true, 1], "tls": [0, true, 1], "tls-lax": [1, false, 0]}' <<< "$output"
	jq -e '.notifiers[] | select(.name == "big") | .last_error | test("larger than")' <<< "$output"
	jq -e '.notifiers[] | select(.name == "tls") | .last_error | test("certificate")' <<< "$output"
	daemon_stop
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -lt 8000 ]
	no_sanitizer_reports
}

@test "coctl notify test: 0 once delivered, 1 with the reason, 4 for no such notifier; the metrics count" {
	receiver_start hook
	local dead
	dead=$(free_port)
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 2s
	  - name: refused
	    type: webhook
	    url: http://127.0.0.1:$dead/hook
	    timeout: 2s
	    queue: 1
	EOF
	)" "$(job_yaml api 'hook, refused')"
	job_up api
	daemon_start_metrics
	wait_log 'job api: up$'

	run ctl notify test hook
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "test event delivered through hook" ]
	[ "$(posts "$R_FILE")" -eq 1 ]
	[ "$(post "$R_FILE" 1 .errors)" = '[]' ]
	[ "$(post_r "$R_FILE" 1 '.body.alerts[0].labels.alertname')" = CoroRunnerNotificationTest ]
	run ctl notify test refused
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" =~ refused.*not\ delivered.*$dead.*\(Connection\ refused\) ]]
	run ctl notify test nosuch
	echo "$output"
	[ "$status" -eq 4 ]
	[[ "$output" == *"no notifier named nosuch"* ]]
	run ctl notify test
	[ "$status" -eq 2 ]
	wait_log 'notify hook: test event delivered'
	wait_log 'notify refused: test event not delivered: '

	# A test event is no event: nothing counted yet.
	[ "$(metric 'coro_runner_notifications_total{notifier="hook",result="delivered"}')" = 0 ]
	job_down api
	wait_posts "$R_FILE" 2
	job_up api
	wait_posts "$R_FILE" 3
	wait_log 'job api: notify refused: .*queue full \(1 events\): the oldest, a down event, is dropped'
	wait_log 'job api: notify refused: up not delivered, attempt [0-9]+'
	local page="$BATS_TEST_TMPDIR/metrics"
	curl -sS -m 10 "http://127.0.0.1:$D_METRICS_PORT/metrics" > "$page"
	grep notif "$page"
	grep -qx '# TYPE coro_runner_notifications_total counter' "$page"
	grep -qx '# TYPE coro_runner_notification_queue gauge' "$page"
	grep -qx '# TYPE coro_runner_notifications_dropped_total counter' "$page"
	grep -q '^# HELP coro_runner_notifications_total ' "$page"
	[ "$(metric 'coro_runner_notifications_total{notifier="hook",result="delivered"}')" = 2 ]
	[ "$(metric 'coro_runner_notifications_total{notifier="hook",result="failed"}')" = 0 ]
	[ "$(metric 'coro_runner_notifications_total{notifier="refused",result="delivered"}')" = 0 ]
	[ "$(metric 'coro_runner_notifications_total{notifier="refused",result="failed"}')" -ge 2 ]
	[ "$(metric 'coro_runner_notification_queue{notifier="hook"}')" = 0 ]
	[ "$(metric 'coro_runner_notification_queue{notifier="refused"}')" = 1 ]
	[ "$(metric 'coro_runner_notifications_dropped_total{notifier="hook"}')" = 0 ]
	[ "$(metric 'coro_runner_notifications_dropped_total{notifier="refused"}')" = 1 ]
	# And coctl notify list agrees.
	run ctl notify list -o json
	echo "$output"
	jq -e '.notifiers | map({(.name): [.delivered, .dropped, .queued]}) | add == {"hook": [2, 0, 0], "refused": [0, 1, 1]}' <<< "$output"
	daemon_stop
	no_sanitizer_reports
}

@test "a stop during coctl notify test to a receiver that hangs cancels the test at once, leaking nothing" {
	receiver_start hook --hang
	write_config "$(cat <<-EOF
	  - name: hook
	    type: webhook
	    url: http://127.0.0.1:$R_PORT/hook
	    timeout: 30s
	EOF
	)" "$(job_yaml api hook)"
	job_up api
	daemon_start
	"$COCTL" -s "$D_SOCK" notify test hook > "$BATS_TEST_TMPDIR/test.out" 2>&1 &
	local cpid=$!
	remember_pid "$cpid"
	wait_posts "$R_FILE" 1
	daemon_stop
	echo "stopped in $D_STOP_MS ms"
	[ "$D_STATUS" -eq 0 ]
	[ "$D_STOP_MS" -lt 5000 ]
	grep -q 'notify hook: test event not delivered: cancelled: the daemon is stopping' "$D_LOG"
	# coctl is answered or loses its connection; it does not wait for the timeout.
	wait_for 10 proc_gone "$cpid"
	local st=0
	wait "$cpid" || st=$?
	cat "$BATS_TEST_TMPDIR/test.out"
	[ "$st" -ne 0 ]
	no_sanitizer_reports
}
