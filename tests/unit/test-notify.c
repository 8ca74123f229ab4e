/* SPDX-License-Identifier: MIT */
/*
 * test-notify.c: what the notifications say (daemon/notify/payload.c) and
 * the expansion of secrets (send.c), without any server: Alertmanager's
 * alerts (labels, endsAt of a firing and of a resolved alert), the webhook
 * payload's fields, a mail message's headers and body, the event's JSON
 * and its way back (notify.json), ${env:} and ${file:}.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/notify/notify-internal.h"
#include "tests/unit/tap.h"

#define T0 1796680000000LL /* 2026-12-07T21:46:40Z */

static const struct cfg_pair labels[] = { { (char *)"team", (char *)"web" },
					  { (char *)"alertname", (char *)"theirs" } };

static struct nevent *down(void)
{
	struct nevent *e = nevent_new(NEV_DOWN, "api", "host-1", NULL, "connect: connection refused",
				      T0, T0, labels, 2);

	ASSERT(e);
	return e;
}

static json_t *parse(char *text)
{
	json_error_t je;
	json_t *v;

	ASSERT(text);
	v = json_loads(text, 0, &je);
	if (!v)
		fprintf(stderr, "# not JSON: %s: %s\n", je.text, text);
	ASSERT(v);
	free(text);
	return v;
}

TEST(time_is_rfc3339_utc_with_milliseconds)
{
	char buf[40];

	ASSERT_STR_EQ(notify__time(T0 + 123, buf, sizeof buf), "2026-12-07T21:46:40.123Z");
	ASSERT_STR_EQ(notify__time(0, buf, sizeof buf), "0001-01-01T00:00:00Z");
}

TEST(alertmanager_firing_alert_has_identity_labels_and_ends_ahead)
{
	struct nevent *e = down();
	json_t *arr = parse(notify__am_alerts(&e, 1, T0 + 5000)), *a, *l, *ann;

	ASSERT_EQ(json_array_size(arr), 1);
	a = json_array_get(arr, 0);
	l = json_object_get(a, "labels");
	/* Ours win over a job label of the same name: alertname is the alert's identity. */
	ASSERT_STR_EQ(json_string_value(json_object_get(l, "alertname")), "CoroRunnerJobDown");
	ASSERT_STR_EQ(json_string_value(json_object_get(l, "job")), "api");
	ASSERT_STR_EQ(json_string_value(json_object_get(l, "instance")), "host-1");
	ASSERT_STR_EQ(json_string_value(json_object_get(l, "team")), "web");
	ASSERT_EQ(json_object_size(l), 4);
	ann = json_object_get(a, "annotations");
	ASSERT_STR_EQ(json_string_value(json_object_get(ann, "error")), "connect: connection refused");
	ASSERT(strstr(json_string_value(json_object_get(ann, "summary")), "is down"));
	ASSERT_STR_EQ(json_string_value(json_object_get(ann, "since")), "2026-12-07T21:46:40.000Z");
	ASSERT_STR_EQ(json_string_value(json_object_get(a, "startsAt")), "2026-12-07T21:46:40.000Z");
	/* Four minutes after it was sent: a dead daemon's alert resolves by itself. */
	ASSERT_STR_EQ(json_string_value(json_object_get(a, "endsAt")), "2026-12-07T21:50:45.000Z");
	json_decref(arr);
	nevent_free(e);
}

TEST(alertmanager_resolved_alert_ends_at_the_up)
{
	struct nevent *e = nevent_new(NEV_UP, "api", "host-1", "m1", NULL, T0 + 60000, T0, NULL, 0);
	json_t *arr = parse(notify__am_alerts(&e, 1, T0 + 61000)), *a;

	a = json_array_get(arr, 0);
	ASSERT_STR_EQ(json_string_value(json_object_get(a, "startsAt")), "2026-12-07T21:46:40.000Z");
	ASSERT_STR_EQ(json_string_value(json_object_get(a, "endsAt")), "2026-12-07T21:47:40.000Z");
	ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(a, "annotations"), "member")),
		      "m1");
	json_decref(arr);
	nevent_free(e);
}

TEST(alertmanager_batch_keeps_order)
{
	struct nevent *ev[3];
	json_t *arr;

	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof name, "j%d", i);
		ev[i] = nevent_new(NEV_DOWN, name, "h", NULL, "x", T0, T0, NULL, 0);
	}
	arr = parse(notify__am_alerts(ev, 3, T0));
	ASSERT_EQ(json_array_size(arr), 3);
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof name, "j%d", i);
		ASSERT_STR_EQ(json_string_value(json_object_get(
				      json_object_get(json_array_get(arr, (size_t)i), "labels"), "job")),
			      name);
		nevent_free(ev[i]);
	}
	json_decref(arr);
}

/* Alertmanager's webhook payload, version 4: the fields receivers read. */
TEST(webhook_payload_has_alertmanagers_fields)
{
	struct nevent *e = down();
	json_t *p = parse(notify__webhook(e, "hook", NULL)), *alert;
	static const char *const top[] = { "version", "groupKey", "truncatedAlerts", "status",
					   "receiver", "groupLabels", "commonLabels",
					   "commonAnnotations", "externalURL", "alerts" };
	static const char *const per[] = { "status", "labels", "annotations", "startsAt", "endsAt",
					   "generatorURL", "fingerprint" };

	for (size_t i = 0; i < sizeof top / sizeof *top; i++)
		ASSERT(json_object_get(p, top[i]));
	ASSERT_STR_EQ(json_string_value(json_object_get(p, "version")), "4");
	ASSERT_STR_EQ(json_string_value(json_object_get(p, "status")), "firing");
	ASSERT_STR_EQ(json_string_value(json_object_get(p, "receiver")), "hook");
	ASSERT_EQ(json_array_size(json_object_get(p, "alerts")), 1);
	alert = json_array_get(json_object_get(p, "alerts"), 0);
	for (size_t i = 0; i < sizeof per / sizeof *per; i++)
		ASSERT(json_object_get(alert, per[i]));
	ASSERT_STR_EQ(json_string_value(json_object_get(alert, "endsAt")), "0001-01-01T00:00:00Z");
	ASSERT_EQ(strlen(json_string_value(json_object_get(alert, "fingerprint"))), 16);
	json_decref(p);
	nevent_free(e);
}

TEST(webhook_fingerprint_is_the_same_for_down_and_up)
{
	struct nevent *d = down();
	struct nevent *u = nevent_new(NEV_UP, "api", "host-1", NULL, NULL, T0 + 1000, T0, labels, 2);
	json_t *a = parse(notify__webhook(d, "h", NULL)), *b = parse(notify__webhook(u, "h", NULL));
	json_t *fa = json_object_get(json_array_get(json_object_get(a, "alerts"), 0), "fingerprint");
	json_t *fb = json_object_get(json_array_get(json_object_get(b, "alerts"), 0), "fingerprint");

	ASSERT_STR_EQ(json_string_value(fa), json_string_value(fb));
	ASSERT_STR_EQ(json_string_value(json_object_get(b, "status")), "resolved");
	json_decref(a);
	json_decref(b);
	nevent_free(d);
	nevent_free(u);
}

TEST(mail_message_has_headers_and_the_error)
{
	struct cfg_notifier c = { 0 };
	char *to[] = { (char *)"Ops <ops@example.org>", (char *)"b@example.org" };
	struct nevent *e = down();
	char *m, *body;

	c.from = (char *)"coro-runner@example.org";
	c.to = to;
	c.nto = 2;
	m = notify__mail(&e, 1, &c, T0, 7, "host-1");
	ASSERT(m);
	ASSERT(strncmp(m, "Date: Mon, 07 Dec 2026 21:46:40 +0000\r\n", 39) == 0);
	ASSERT(strstr(m, "\r\nFrom: coro-runner@example.org\r\n"));
	ASSERT(strstr(m, "\r\nTo: Ops <ops@example.org>, b@example.org\r\n"));
	ASSERT(strstr(m, "\r\nSubject: [coro-runner] DOWN: api on host-1\r\n"));
	ASSERT(strstr(m, "\r\nMessage-ID: <"));
	body = strstr(m, "\r\n\r\n");
	ASSERT(body);
	ASSERT(strstr(body, "Error: connect: connection refused\r\n"));
	ASSERT(strstr(body, "Labels: team=web, alertname=theirs\r\n"));
	/* Every line ends in CRLF: no bare LF. */
	for (char *p = m; (p = strchr(p, '\n')); p++)
		ASSERT(p > m && p[-1] == '\r');
	free(m);
	nevent_free(e);
}

TEST(mail_digest_counts_downs_and_ups)
{
	struct cfg_notifier c = { .from = (char *)"a@b", .nto = 0 };
	struct nevent *ev[3] = { down(), nevent_new(NEV_UP, "db", "h", NULL, NULL, T0 + 90000, T0, NULL,
						    0),
				 nevent_new(NEV_DOWN, "dns", "h", NULL, "rcode SERVFAIL", T0, T0, NULL,
					    0) };
	char *m = notify__mail(ev, 3, &c, T0, 1, "host-1");

	ASSERT(m);
	ASSERT(strstr(m, "Subject: [coro-runner] 2 jobs DOWN, 1 UP on host-1\r\n"));
	ASSERT(strstr(m, "Job db on h is UP again at 2026-12-07T21:48:10.000Z, after 1m30s down."));
	ASSERT(strstr(m, "Error: rcode SERVFAIL"));
	free(m);
	for (int i = 0; i < 3; i++)
		nevent_free(ev[i]);
}

TEST(bare_address)
{
	char *a = notify__bare_address("Ops Team <ops@example.org>"), *b = notify__bare_address("x@y");

	ASSERT_STR_EQ(a, "ops@example.org");
	ASSERT_STR_EQ(b, "x@y");
	free(a);
	free(b);
}

TEST(event_json_round_trip)
{
	struct nevent *e = nevent_new(NEV_UP, "api", "fleet", "m2", "", T0 + 5000, T0, labels, 2), *back;
	json_t *j;

	e->repeat = true;
	j = parse(notify__event_json(e, "cmd"));
	ASSERT_STR_EQ(json_string_value(json_object_get(j, "notifier")), "cmd");
	ASSERT_EQ(json_integer_value(json_object_get(j, "down_for_ms")), 5000);
	back = notify__event_from_json(j);
	ASSERT(back);
	ASSERT_EQ(back->kind, NEV_UP);
	ASSERT_STR_EQ(back->job, "api");
	ASSERT_STR_EQ(back->instance, "fleet");
	ASSERT_STR_EQ(back->member, "m2");
	ASSERT_EQ(back->at_ms, T0 + 5000);
	ASSERT_EQ(back->since_ms, T0);
	ASSERT(back->repeat);
	ASSERT_EQ(back->nlabels, 2);
	json_decref(j);
	nevent_free(e);
	nevent_free(back);
}

TEST(event_from_json_refuses_what_is_not_an_event)
{
	json_t *bad[] = { json_pack("{s:s}", "job", "x"), json_pack("{s:s, s:s}", "event", "sideways",
								    "job", "x"),
			  json_pack("{s:i, s:s}", "event", 3, "job", "x"), json_array() };

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ASSERT(notify__event_from_json(bad[i]) == NULL);
		json_decref(bad[i]);
	}
}

TEST(expand_env_and_file_and_never_show_the_value)
{
	char err[256] = "", path[] = "/tmp/test-notify.XXXXXX", *s;
	int fd = mkstemp(path);

	ASSERT(fd >= 0);
	ASSERT_EQ(write(fd, "s3cret\n", 7), 7);
	close(fd);
	setenv("TEST_NOTIFY_TOKEN", "abc", 1);
	s = notify__expand("Bearer ${env:TEST_NOTIFY_TOKEN}", "header Authorization", err, sizeof err);
	ASSERT_STR_EQ(s, "Bearer abc");
	free(s);
	{
		char text[128];

		snprintf(text, sizeof text, "${file:%s}:${env:TEST_NOTIFY_TOKEN}", path);
		s = notify__expand(text, "password", err, sizeof err);
		ASSERT_STR_EQ(s, "s3cret:abc");
		free(s);
	}
	unsetenv("TEST_NOTIFY_MISSING");
	s = notify__expand("x${env:TEST_NOTIFY_MISSING}", "header X", err, sizeof err);
	ASSERT(s == NULL);
	ASSERT_STR_EQ(err, "header X: the environment variable TEST_NOTIFY_MISSING is not set");
	s = notify__expand("${file:/nonexistent/secret}", "password", err, sizeof err);
	ASSERT(s == NULL);
	ASSERT(strstr(err, "cannot read /nonexistent/secret"));
	s = notify__expand("plain $text {here}", "x", err, sizeof err);
	ASSERT_STR_EQ(s, "plain $text {here}");
	free(s);
	unlink(path);
}
