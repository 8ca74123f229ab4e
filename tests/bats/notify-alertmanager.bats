#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Notifications through a real Alertmanager (issue 14): Debian's
# prometheus-alertmanager on loopback, routing every alert to a webhook
# receiver of the test's (tools/webhook-receiver.py, which also checks the
# real Alertmanager's payload). A job that goes down is an active alert
# with its labels within a second of the threshold run, re-sent with
# endsAt four minutes ahead, resolved after recovery; a silence made with
# amtool stops the notification at Alertmanager, not at the daemon.

bats_require_minimum_version 1.5.0
load notify-helpers

setup() {
	command -v prometheus-alertmanager > /dev/null && command -v amtool > /dev/null || {
		echo "prometheus-alertmanager and amtool are not installed (make deps)" >&2
		return 1
	}
	notify_setup
}

teardown() {
	kill_started
}

# am_start: Alertmanager on a free port (AM_URL), no cluster, its data in
# the test's directory; one route (group_wait 0s, group_interval 1s) to a
# webhook receiver whose POSTs land in AM_HOOK (the file).
am_start() {
	local dir="$BATS_TEST_TMPDIR/am" pid try
	mkdir -p "$dir"
	receiver_start am-hook
	AM_HOOK="$R_FILE"
	cat > "$dir/am.yml" <<-EOF
	route:
	  receiver: hook
	  group_by: [alertname, job]
	  group_wait: 0s
	  group_interval: 1s
	  repeat_interval: 1h
	receivers:
	  - name: hook
	    webhook_configs:
	      - url: http://127.0.0.1:$R_PORT/am
	        send_resolved: true
	EOF
	for try in 1 2 3 4 5; do
		AM_PORT=$(free_port)
		prometheus-alertmanager --config.file="$dir/am.yml" --storage.path="$dir/data" \
			--web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= \
			--log.level=debug > "$dir/am.out" 2> "$dir/am.err" 3>&- < /dev/null &
		pid=$!
		remember_pid "$pid"
		AM_URL="http://127.0.0.1:$AM_PORT"
		export AM_URL AM_HOOK AM_PORT
		if wait_for 20 am_ready "$pid"; then
			proc_alive "$pid" && return 0
		fi
		kill -KILL "$pid" 2>/dev/null || true
	done
	echo "am_start: Alertmanager did not start:" >&2
	cat "$dir/am.err" >&2
	return 1
}

# Ready, or dead (a port taken: then am_start tries another).
am_ready() {
	proc_alive "$1" || return 0
	[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$AM_URL/-/ready")" = 200 ]
}

amq() {
	amtool --alertmanager.url="$AM_URL" "$@"
}

# am_alert JOB [FLAG...]: the alert of JOB as amtool alert query shows it (JSON), or nothing.
am_alert() {
	local job="$1"
	shift
	amq alert query -o json "$@" "job=$job" | jq -c '.[]'
}

am_active() {
	[ -n "$(am_alert "$1")" ]
}

am_gone() {
	[ -z "$(am_alert "$1" --active --silenced --inhibited --unprocessed)" ]
}

# ms since the epoch of an RFC 3339 time.
ms_of() {
	date -d "$1" +%s%3N
}

@test "alertmanager: a job that goes down is an active alert with its labels within a second of the threshold run; re-sent; resolved after recovery" {
	am_start
	write_jobs() {
		cat > "$D_CONF" <<-EOF
		notifiers:
		  - name: am
		    type: alertmanager
		    url: $AM_URL/
		    timeout: 5s
		jobs:
		$(job_yaml api am 'labels: {team: web, severity: page}')
		EOF
	}
	write_jobs
	job_up api
	daemon_start
	local started
	started=$(now_ms)
	wait_log 'job api: up$'
	local t_rm
	t_rm=$(now_ms)
	job_down api
	wait_for 30 am_active api
	local alert since updated
	alert=$(am_alert api)
	echo "$alert"
	since=$(job_json api '.jobs[0].state_since_ms')
	updated=$(ms_of "$(jq -r .updatedAt <<< "$alert")")
	echo "down at $((since - t_rm)) ms after the failure began; alert received $((updated - since)) ms after the threshold run"
	# Within failures_before_down intervals (2 x 1 s) the threshold run
	# (the run itself takes a few ms), and within a second the alert.
	[ $((since - t_rm)) -le 2300 ]
	[ $((updated - since)) -ge 0 ]
	[ $((updated - since)) -le 1000 ]
	[ "$(jq -r .status.state <<< "$alert")" = active ]
	[ "$(jq -cS .labels <<< "$alert")" = "$(jq -cnS --arg h "$HOST_NAME" \
		'{alertname: "CoroRunnerJobDown", job: "api", instance: $h, team: "web", severity: "page"}')" ]
	jq -e '.annotations.error == "exit 42" and (.annotations.summary | test("api.*down.*exit 42"))' <<< "$alert"
	[ "$(ms_of "$(jq -r .annotations.since <<< "$alert")")" -eq "$since" ]
	[ "$(ms_of "$(jq -r .startsAt <<< "$alert")")" -eq "$since" ]
	# It ends by itself four minutes after it was sent, unless re-sent.
	local ends
	ends=$(ms_of "$(jq -r .endsAt <<< "$alert")")
	[ $((ends - updated)) -ge 235000 ] && [ $((ends - updated)) -le 241000 ]
	wait_log 'job api: notify am: down delivered$'
	# Alertmanager notified its receiver, with Alertmanager's own payload.
	wait_posts "$AM_HOOK" 1 30 '.body.status == "firing" and .body.alerts[0].labels.job == "api"'
	[ "$(posts "$AM_HOOK" '.errors != []')" -eq 0 ]
	jq -e 'select(.body.status == "firing") | .body.commonAnnotations.error == "exit 42"' "$AM_HOOK"

	# The daemon re-sends the firing alert (first 10 s after its start,
	# then every minute): Alertmanager sees it again, its end moved ahead.
	am_resent() {
		[ "$(ms_of "$(am_alert api | jq -r .updatedAt)")" -gt "$updated" ]
	}
	wait_for 30 am_resent
	alert=$(am_alert api)
	echo "re-sent: $alert ($(($(now_ms) - started)) ms after the start)"
	local updated2 ends2
	updated2=$(ms_of "$(jq -r .updatedAt <<< "$alert")")
	ends2=$(ms_of "$(jq -r .endsAt <<< "$alert")")
	[ "$ends2" -gt "$ends" ]
	[ $((ends2 - updated2)) -ge 235000 ] && [ $((ends2 - updated2)) -le 241000 ]
	[ "$(ms_of "$(jq -r .startsAt <<< "$alert")")" -eq "$since" ]
	# ... which Alertmanager does not notify again (repeat_interval 1h).
	[ "$(posts "$AM_HOOK" '.body.alerts[0].labels.job == "api"')" -eq 1 ]

	job_up api
	wait_log 'job api: notify am: up delivered$'
	wait_for 30 am_gone api
	wait_posts "$AM_HOOK" 1 30 '.body.status == "resolved" and .body.alerts[0].labels.job == "api"'
	local resolved
	resolved=$(jq -c 'select(.body.status == "resolved") | .body.alerts[0]' "$AM_HOOK")
	echo "$resolved"
	# Resolved at the up, in Alertmanager too.
	[ "$(ms_of "$(jq -r .endsAt <<< "$resolved")")" -eq "$(job_json api '.jobs[0].state_since_ms')" ]
	[ "$(posts "$AM_HOOK" '.errors != []')" -eq 0 ]
	run ctl status api
	[[ "$output" =~ Notify:\ am\;\ last:\ up\ to\ am,\ delivered ]]
	daemon_stop
	no_sanitizer_reports
}

@test "alertmanager: a silence made with amtool stops the notification at Alertmanager, not at the daemon" {
	am_start
	local silence
	silence=$(amq silence add --author=bats --comment="bats: quiet is under maintenance" \
		--duration=1h alertname=CoroRunnerJobDown job=quiet)
	echo "silence $silence"
	[ -n "$silence" ]
	cat > "$D_CONF" <<-EOF
	notifiers:
	  - name: am
	    type: alertmanager
	    url: $AM_URL
	    timeout: 5s
	jobs:
	$(job_yaml loud am)
	$(job_yaml quiet am)
	EOF
	daemon_start
	# Both go down; the daemon delivers both alerts.
	wait_log 'job loud: notify am: down delivered$'
	wait_log 'job quiet: notify am: down delivered$'
	# Alertmanager has both: quiet's suppressed by the silence, loud's notified.
	wait_for 30 am_active loud
	local quiet
	quiet=$(am_alert quiet --silenced)
	echo "$quiet"
	jq -e --arg s "$silence" '.status.state == "suppressed" and .status.silencedBy == [$s]' <<< "$quiet"
	# amtool's default query shows only the active one.
	[ -z "$(am_alert quiet)" ]
	wait_posts "$AM_HOOK" 1 30 '.body.alerts[0].labels.job == "loud"'
	# Past group_wait and a few group intervals: nothing for quiet.
	sleep 3
	cat "$AM_HOOK"
	[ "$(posts "$AM_HOOK" '[.body.alerts[].labels.job] | index("quiet")')" -eq 0 ]
	run ctl status quiet
	echo "$output"
	[[ "$output" =~ last:\ down\ to\ am,\ delivered ]]
	# The silence is what held it: once it expires, Alertmanager notifies.
	amq silence expire "$silence"
	wait_posts "$AM_HOOK" 1 30 '.body.status == "firing" and .body.alerts[0].labels.job == "quiet"'
	[ "$(posts "$AM_HOOK" '.errors != []')" -eq 0 ]
	daemon_stop
	no_sanitizer_reports
}
