/* SPDX-License-Identifier: MIT */
/*
 * test-config.c: the job configuration loader. A table of bad files, each
 * with the exact message it must produce; what good files turn into
 * (defaults, drop-in order, built-in defaults); durations; hostile input.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/tap.h"

/* A valid job to build bad ones around. */
#define JOB "jobs:\n  - name: j\n    type: exec\n    command: [/bin/true]\n    every: 10s\n"

/* The same for notifiers: an item of `notifiers:` holding a valid email notifier, not closed. */
#define MAIL "notifiers:\n  - {name: m, type: email, smtp: \"smtp://a\", from: a@b.c, to: c@d.e"
#define NFS "notifiers:\n  - "

static const struct {
	const char *yaml;
	const char *message; /* the first error, exactly */
} bad[] = {
	/* keys */
	{ JOB "    timeot: 3s\n", "t.yaml:6:5: job \"j\": unknown key \"timeot\" (did you mean \"timeout\"?)" },
	{ JOB "    colour: red\n", "t.yaml:6:5: job \"j\": unknown key \"colour\"" },
	{ JOB "    url: http://x/\n", "t.yaml:6:5: job \"j\": \"url\" is not a key of exec jobs (it belongs to http jobs)" },
	{ "job:\n  - name: j\n", "t.yaml:1:1: unknown key \"job\" (did you mean \"jobs\"?)" },
	{ "every: 5s\njobs: []\n", "t.yaml:1:1: unknown key \"every\" at the top level: job keys go in an item of \"jobs:\" or in \"defaults:\"" },
	{ "defaults:\n  timout: 3s\n", "t.yaml:2:3: defaults: unknown key \"timout\" (did you mean \"timeout\"?)" },
	{ "defaults:\n  name: x\n", "t.yaml:2:3: defaults: \"name\" cannot have a default: every job names itself" },
	{ JOB "    every: 20s\n", "t.yaml:6:5: job \"j\": key \"every\" appears twice (first at line 5, column 5)" },
	/* missing */
	{ "jobs:\n  - type: exec\n    command: [/bin/true]\n    every: 1s\n", "t.yaml:2:5: job \"#1\": \"name\" is missing" },
	{ "jobs:\n  - name: j\n    command: [/bin/true]\n    every: 1s\n", "t.yaml:2:5: job \"j\": \"type\" is missing (expected http, tcp, dns or exec)" },
	{ "jobs:\n  - name: j\n    type: exec\n    every: 1s\n", "t.yaml:2:5: job \"j\": \"command\" is missing (a exec job needs it)" },
	{ "jobs:\n  - name: j\n    type: http\n    every: 1s\n", "t.yaml:2:5: job \"j\": \"url\" is missing (a http job needs it)" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: [/bin/true]\n", "t.yaml:2:5: job \"j\": \"every\" is missing (how often it runs, such as 30s), here or in defaults" },
	/* types and values */
	{ "jobs:\n  - name: j\n    type: tpc\n", "t.yaml:3:11: job \"j\": unknown job type \"tpc\" (did you mean \"tcp\"?)" },
	{ "jobs:\n  - name: j\n    type: ftp\n", "t.yaml:3:11: job \"j\": unknown job type \"ftp\" (expected http, tcp, dns or exec)" },
	{ "jobs:\n  - name: \"a b\"\n    type: exec\n    command: [x]\n    every: 1s\n", "t.yaml:2:11: job \"#1\": \"name\": \"a b\" is not a job name (1 to 64 letters, digits, \"_\", \".\" or \"-\")" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: /bin/true\n    every: 1s\n", "t.yaml:4:14: job \"j\": \"command\": expected a list of arguments, such as [\"/usr/bin/du\", \"-s\", \"/var\"] (no shell is involved), not a value" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: []\n    every: 1s\n", "t.yaml:4:14: job \"j\": \"command\": the list is empty: give the program and its arguments" },
	{ JOB "    timeout: 10s\n", "t.yaml:6:14: job \"j\": \"timeout\" 10s must be shorter than \"every\" 10s" },
	{ "defaults:\n  timeout: 1m\n" JOB, "t.yaml:4:5: job \"j\": \"timeout\" 1m (from defaults) must be shorter than \"every\" 10s" },
	{ JOB "    jitter: 100%\n", "t.yaml:6:13: job \"j\": \"jitter\": a percentage of every must be from 0% to 99%, not \"100%\"" },
	{ JOB "    jitter: 1m\n", "t.yaml:6:13: job \"j\": \"jitter\" 1m must be shorter than \"every\" 10s" },
	{ JOB "    retries: 11\n", "t.yaml:6:14: job \"j\": \"retries\": expected a whole number from 0 to 10, not \"11\"" },
	{ JOB "    retries: -1\n", "t.yaml:6:14: job \"j\": \"retries\": expected a whole number from 0 to 10, not \"-1\"" },
	{ JOB "    failures_before_down: 0\n", "t.yaml:6:27: job \"j\": \"failures_before_down\": expected a whole number from 1 to 1000, not \"0\"" },
	{ JOB "    enabled: maybe\n", "t.yaml:6:14: job \"j\": \"enabled\": expected true or false, not \"maybe\"" },
	{ JOB "    labels: [a, b]\n", "t.yaml:6:13: job \"j\": \"labels\": expected a mapping of names to values, not a list" },
	{ JOB "    labels: {9lives: x}\n", "t.yaml:6:14: job \"j\": \"labels\": \"9lives\" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)" },
	{ JOB "    labels: {instance: x}\n", "t.yaml:6:14: job \"j\": \"labels\": \"instance\" is set by coro-runner itself" },
	{ JOB "    env: {1X: y}\n", "t.yaml:6:11: job \"j\": \"env\": \"1X\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)" },
	{ JOB "    workdir: tmp\n", "t.yaml:6:14: job \"j\": \"workdir\": \"tmp\" must be an absolute path" },
	{ JOB "    output_limit: 1GiB\n", "t.yaml:6:19: job \"j\": \"output_limit\": expected a size up to 16MiB (such as 65536, 64KiB, 1MiB), not \"1GiB\"" },
	/* durations */
	{ "jobs:\n  - name: j\n    type: exec\n    command: [x]\n    every: 5x\n", "t.yaml:5:12: job \"j\": \"every\": invalid duration \"5x\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: [x]\n    every: 30m1h\n", "t.yaml:5:12: job \"j\": \"every\": invalid duration \"30m1h\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: [x]\n    every: 30\n", "t.yaml:5:12: job \"j\": \"every\": invalid duration \"30\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: [x]\n    every: 1ms\n", "t.yaml:5:12: job \"j\": \"every\": 1ms is too short (at least 10ms)" },
	{ "jobs:\n  - name: j\n    type: exec\n    command: [x]\n    every: 99999999999d\n", "t.yaml:5:12: job \"j\": \"every\": duration \"99999999999d\" is too long (at most 100 years)" },
	/* http */
	{ "jobs:\n  - {name: j, type: http, every: 5s, url: \"ftp://x/\"}\n", "t.yaml:2:43: job \"j\": \"url\": \"ftp://x/\": the URL must start with http:// or https://" },
	{ "jobs:\n  - {name: j, type: http, every: 5s, url: \"http//x\"}\n", "t.yaml:2:43: job \"j\": \"url\": \"http//x\": not a valid URL (expected http://HOST[:PORT]/PATH or https://...)" },
	{ "jobs:\n  - {name: j, type: http, every: 5s, url: \"http://x/\", method: GETT}\n", "t.yaml:2:64: job \"j\": \"method\": unknown value \"GETT\" (did you mean \"GET\"?)" },
	{ "jobs:\n  - {name: j, type: http, every: 5s, url: \"http://x/\", expect_status: [200, 700]}\n", "t.yaml:2:77: job \"j\": \"expect_status\": expected an HTTP status code from 100 to 599, not \"700\"" },
	{ "jobs:\n  - {name: j, type: http, every: 5s, url: \"http://x/\", expect_body_regex: \"(\"}\n", "t.yaml:2:75: job \"j\": \"expect_body_regex\": not a valid extended regular expression: Unmatched ( or \\(" },
	{ "jobs:\n  - {name: j, type: http, every: 5s, url: \"http://x/\", headers: {\"a b\": c}}\n", "t.yaml:2:66: job \"j\": \"headers\": \"a b\" is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)" },
	/* tcp and dns */
	{ "jobs:\n  - {name: j, type: tcp, every: 5s, target: db}\n", "t.yaml:2:45: job \"j\": \"target\": \"db\": the port is missing (expected HOST:PORT)" },
	{ "jobs:\n  - {name: j, type: tcp, every: 5s, target: \"db:99999\"}\n", "t.yaml:2:45: job \"j\": \"target\": \"db:99999\": the port must be a number from 1 to 65535" },
	{ "jobs:\n  - {name: j, type: tcp, every: 5s, target: \"::1:53\"}\n", "t.yaml:2:45: job \"j\": \"target\": \"::1:53\": an IPv6 address must be written in brackets: [::1]:53" },
	{ "jobs:\n  - {name: j, type: tcp, every: 5s, target: \"bad host:1\"}\n", "t.yaml:2:45: job \"j\": \"target\": \"bad host:1\": not a valid host name or address" },
	{ "jobs:\n  - {name: j, type: dns, every: 5s, query: x.org, record: AA}\n", "t.yaml:2:59: job \"j\": \"record\": unknown value \"AA\" (did you mean \"A\"?)" },
	{ "jobs:\n  - {name: j, type: dns, every: 5s, query: x.org, expect_rcode: NOPE}\n", "t.yaml:2:65: job \"j\": \"expect_rcode\": unknown value \"NOPE\" (expected one of NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE)" },
	/* structure */
	{ "- a\n- b\n", "t.yaml:1:1: the file must be a mapping with \"jobs:\" (and optionally \"defaults:\" and \"metrics:\"), not a list" },
	{ "jobs: {name: j}\n", "t.yaml:1:7: \"jobs\": expected a list of jobs (items starting with \"- \"), not a mapping" },
	{ "jobs:\n  - just a string\n", "t.yaml:2:5: jobs: item 1: expected a job (a mapping with name, type, every, ...), not a value" },
	{ "metrics: {listen: 9464}\n", "t.yaml:1:19: \"listen\": \"9464\": the port is missing (expected HOST:PORT)" },
	{ "metrics: {lisen: \"127.0.0.1:9464\"}\n", "t.yaml:1:11: metrics: unknown key \"lisen\" (did you mean \"listen\"?)" },
	/* fleet */
	{ "fleet: {etcd: \"ftp://127.0.0.1:2379\"}\n", "t.yaml:1:15: fleet: \"etcd\": \"ftp://127.0.0.1:2379\": an endpoint must start with http:// or https://" },
	{ "fleet: {etcd: [\"http://127.0.0.1:2379/v3\"]}\n", "t.yaml:1:16: fleet: \"etcd\": \"http://127.0.0.1:2379/v3\": an endpoint has no path, not even \"/\": etcd's API is at the root (http://HOST:PORT)" },
	{ "fleet: {etcd: [\"http://127.0.0.1:2379/\"]}\n", "t.yaml:1:16: fleet: \"etcd\": \"http://127.0.0.1:2379/\": an endpoint has no path, not even \"/\": etcd's API is at the root (http://HOST:PORT)" },
	{ "fleet: {etcd: \"http://127.0.0.1:2379?a=b\"}\n", "t.yaml:1:15: fleet: \"etcd\": \"http://127.0.0.1:2379?a=b\": an endpoint has no query or fragment (http://HOST:PORT)" },
	{ "fleet: {etcd: \"http://root:pw@127.0.0.1:2379\"}\n", "t.yaml:1:15: fleet: \"etcd\": \"http://root:pw@127.0.0.1:2379\": an endpoint has no user name or password (etcd's client certificates go in \"cert\" and \"key\")" },
	{ "fleet: {etcd: \"http://127.0.0.1\"}\n", "t.yaml:1:15: fleet: \"etcd\": \"http://127.0.0.1\": the port is missing (etcd's clients use 2379: http://HOST:2379)" },
	{ "fleet: {etcd: \"http://127.0.0.1:99999\"}\n", "t.yaml:1:15: fleet: \"etcd\": \"http://127.0.0.1:99999\": not a valid URL (expected http://HOST:PORT or https://HOST:PORT)" },
	{ "fleet: {etcd: [\"http://a:1\", \"http://a:1\"]}\n", "t.yaml:1:30: fleet: \"etcd\": \"http://a:1\" is listed twice" },
	{ "fleet: {etcd: []}\n", "t.yaml:1:15: fleet: \"etcd\": the list is empty: give at least one endpoint, such as \"http://127.0.0.1:2379\"" },
	{ "fleet: {etcd: {a: b}}\n", "t.yaml:1:15: fleet: \"etcd\": expected an endpoint or a list of them, such as [\"http://127.0.0.1:2379\"], not a mapping" },
	{ "fleet: {prefix: /x/}\n", "t.yaml:1:8: fleet: \"etcd\" is missing: the endpoints of the fleet's etcd, such as etcd: [\"http://127.0.0.1:2379\"]" },
	{ "fleet: [http://a:1]\n", "t.yaml:1:8: \"fleet\": expected a mapping such as {etcd: \"http://127.0.0.1:2379\"}, not a list" },
	{ "fleet: {etcd: \"http://a:1\", ttl: 1s}\n", "t.yaml:1:34: fleet: \"ttl\": 1s is too short (at least 2s, at most 5m)" },
	{ "fleet: {etcd: \"http://a:1\", ttl: 6m}\n", "t.yaml:1:34: fleet: \"ttl\": 6m is too long (at least 2s, at most 5m)" },
	{ "fleet: {etcd: \"http://a:1\", ttl: 1500ms}\n", "t.yaml:1:34: fleet: \"ttl\": 1500ms is not a whole number of seconds (etcd grants leases in seconds)" },
	{ "fleet: {etcd: \"http://a:1\", ttl: soon}\n", "t.yaml:1:34: fleet: \"ttl\": invalid duration \"soon\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)" },
	{ "fleet: {etcd: \"http://a:1\", member: \"web 01\"}\n", "t.yaml:1:37: fleet: \"member\": \"web 01\" is not a member name (1 to 64 letters, digits, \"_\", \".\" or \"-\")" },
	{ "fleet: {etcd: \"http://a:1\", member: \"\"}\n", "t.yaml:1:37: fleet: \"member\": must not be empty" },
	{ "fleet: {etcd: \"http://a:1\", prefix: coro-runner}\n", "t.yaml:1:37: fleet: \"prefix\": \"coro-runner\" must start and end with \"/\" (such as /coro-runner/)" },
	{ "fleet: {etcd: \"http://a:1\", prefix: /coro-runner}\n", "t.yaml:1:37: fleet: \"prefix\": \"/coro-runner\" must start and end with \"/\" (such as /coro-runner/)" },
	{ "fleet: {etcd: \"http://a:1\", prefix: \"/a b/\"}\n", "t.yaml:1:37: fleet: \"prefix\": \"/a b/\": printable ASCII only, without spaces" },
	{ "fleet: {etcd: \"https://a:1\", cert: /c.pem}\n", "t.yaml:1:30: fleet: \"cert\" without \"key\": give the client certificate's private key too" },
	{ "fleet: {etcd: \"https://a:1\", key: /k.pem}\n", "t.yaml:1:30: fleet: \"key\" without \"cert\": give the client certificate too" },
	{ "fleet: {etcd: \"https://a:1\", ca: ca.pem}\n", "t.yaml:1:34: fleet: \"ca\": \"ca.pem\" must be an absolute path" },
	{ "fleet: {etcd: [\"http://a:1\", \"http://b:1\"], ca: /ca.pem}\n", "t.yaml:1:45: fleet: \"ca\" is for https:// endpoints, and every endpoint in \"etcd\" is http://" },
	{ "fleet: {etcd: \"http://a:1\", membr: x}\n", "t.yaml:1:29: fleet: unknown key \"membr\" (did you mean \"member\"?)" },
	{ "fleet: {etcd: \"http://a:1\", endpoints: x}\n", "t.yaml:1:29: fleet: unknown key \"endpoints\" (fleet has etcd, prefix, member, ttl, ca, cert and key)" },
	{ "flet: {etcd: \"http://a:1\"}\n", "t.yaml:1:1: unknown key \"flet\" (did you mean \"fleet\"?)" },
	{ JOB "    exclusive: maybe\n", "t.yaml:6:16: job \"j\": \"exclusive\": expected true or false, not \"maybe\"" },
	{ "defaults:\n  exclusive: [x]\n", "t.yaml:2:14: defaults: \"exclusive\": expected true or false, not a list" },
	{ JOB "    exclusiv: true\n", "t.yaml:6:5: job \"j\": unknown key \"exclusiv\" (did you mean \"exclusive\"?)" },
	/* notifiers: keys */
	{ MAIL ", url: \"http://x/\"}\n", "t.yaml:2:70: notifier \"m\": \"url\" is for alertmanager and webhook notifiers" },
	{ NFS "{name: x, type: exec, command: [x], tls_verify: no}\n", "t.yaml:2:41: notifier \"x\": \"tls_verify\" is for alertmanager, webhook and email notifiers" },
	{ MAIL ", tls_verfy: no}\n", "t.yaml:2:70: notifier \"m\": unknown key \"tls_verfy\" (did you mean \"tls_verify\"?)" },
	{ NFS "{name: x, type: exec, command: [x], foo: 1}\n", "t.yaml:2:41: notifier \"x\": unknown key \"foo\" (an exec notifier has name, type, timeout, queue and command)" },
	{ NFS "{name: x, type: webhok, url: \"http://x/\"}\n", "t.yaml:2:21: notifier \"x\": unknown notifier type \"webhok\" (did you mean \"webhook\"?)" },
	{ NFS "{name: x, type: pager}\n", "t.yaml:2:21: notifier \"x\": unknown notifier type \"pager\" (expected alertmanager, webhook, email or exec)" },
	{ NFS "{name: x, url: \"http://x/\"}\n", "t.yaml:2:5: notifier \"x\": \"type\" is missing (expected alertmanager, webhook, email or exec)" },
	{ NFS "{type: exec, command: [x]}\n", "t.yaml:2:5: notifier \"#1\": \"name\" is missing" },
	{ NFS "{name: \"a/b\", type: exec, command: [x]}\n", "t.yaml:2:12: notifier \"#1\": \"name\": \"a/b\" is not a notifier name (1 to 64 letters, digits, \"_\", \".\" or \"-\")" },
	{ NFS "{name: x, type: alertmanager}\n", "t.yaml:2:5: notifier \"x\": \"url\" is missing (an alertmanager notifier needs it)" },
	{ NFS "{name: x, type: email, from: a@b.c, to: c@d.e}\n", "t.yaml:2:5: notifier \"x\": \"smtp\" is missing (an email notifier needs it)" },
	{ NFS "{name: x, type: exec}\n", "t.yaml:2:5: notifier \"x\": \"command\" is missing (an exec notifier needs it)" },
	{ NFS "{name: x, type: exec, command: [x]}\n  - {name: x, type: exec, command: [y]}\n", "t.yaml:3:12: notifier \"x\": defined twice: here and at t.yaml:2:5" },
	{ NFS "just a string\n", "t.yaml:2:5: notifiers: item 1: expected a notifier (a mapping with name, type, ...), not a value" },
	{ "notifiers: {name: x}\n", "t.yaml:1:12: \"notifiers\": expected a list of notifiers (items starting with \"- \"), not a mapping" },
	{ "notifers: []\n", "t.yaml:1:1: unknown key \"notifers\" (did you mean \"notifiers\"?)" },
	/* notifiers: values */
	{ NFS "{name: x, type: exec, command: x}\n", "t.yaml:2:36: notifier \"x\": \"command\": expected a list of arguments, such as [\"/usr/bin/du\", \"-s\", \"/var\"] (no shell is involved), not a value" },
	{ NFS "{name: x, type: exec, command: [x], timeout: 10ms}\n", "t.yaml:2:50: notifier \"x\": \"timeout\": 10ms is too short (at least 100ms)" },
	{ NFS "{name: x, type: exec, command: [x], timeout: 10m}\n", "t.yaml:2:50: notifier \"x\": \"timeout\": 10m is too long (at most 5m)" },
	{ NFS "{name: x, type: exec, command: [x], queue: 0}\n", "t.yaml:2:48: notifier \"x\": \"queue\": expected a whole number from 1 to 1000000, not \"0\"" },
	{ NFS "{name: x, type: webhook, url: \"ftp://x/\"}\n", "t.yaml:2:35: notifier \"x\": \"url\": \"ftp://x/\": the URL must start with http:// or https://" },
	{ NFS "{name: x, type: webhook, url: \"http://x/\", headers: {\"a b\": c}}\n", "t.yaml:2:58: notifier \"x\": \"headers\": \"a b\" is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)" },
	{ NFS "{name: x, type: webhook, url: \"http://x/\", headers: {A: \"a\\nb\"}}\n", "t.yaml:2:61: notifier \"x\": \"headers\": the value of \"A\" must be one line" },
	{ MAIL ", username: u}\n", "t.yaml:2:70: notifier \"m\": \"username\" without \"password\": SMTP AUTH needs both" },
	{ NFS "{name: m, type: email, smtp: \"http://a\", from: a@b.c, to: c@d.e}\n", "t.yaml:2:34: notifier \"m\": \"smtp\": \"http://a\": the URL must start with smtp:// (STARTTLS when the server offers it) or smtps://" },
	{ NFS "{name: m, type: email, smtp: \"smtp://u:p@a\", from: a@b.c, to: c@d.e}\n", "t.yaml:2:34: notifier \"m\": \"smtp\": \"smtp://u:p@a\": the URL has no user name or password: they go in \"username\" and \"password\"" },
	{ NFS "{name: m, type: email, smtp: \"smtps://a:465/x\", from: a@b.c, to: c@d.e}\n", "t.yaml:2:34: notifier \"m\": \"smtp\": \"smtps://a:465/x\": the URL has no path, not even \"/\" (smtp://HOST[:PORT])" },
	{ NFS "{name: m, type: email, smtp: \"smtp://a:0\", from: a@b.c, to: c@d.e}\n", "t.yaml:2:34: notifier \"m\": \"smtp\": \"smtp://a:0\": the port must be a number from 1 to 65535" },
	{ NFS "{name: m, type: email, smtp: \"smtp://a\", from: \"a b\", to: c@d.e}\n", "t.yaml:2:52: notifier \"m\": \"from\": \"a b\": not a mail address: expected local@domain, or \"Name <local@domain>\"" },
	{ NFS "{name: m, type: email, smtp: \"smtp://a\", from: \"A <a@b.c\", to: c@d.e}\n", "t.yaml:2:52: notifier \"m\": \"from\": \"A <a@b.c\": expected \"Name <local@domain>\": one \"<\", then the address, then \">\" at the end" },
	{ NFS "{name: m, type: email, smtp: \"smtp://a\", from: a@b.c, to: []}\n", "t.yaml:2:63: notifier \"m\": \"to\": the list is empty: give at least one address" },
	{ NFS "{name: m, type: email, smtp: \"smtp://a\", from: a@b.c, to: [\"c@d.e, f@g.h\"]}\n", "t.yaml:2:64: notifier \"m\": \"to\": \"c@d.e, f@g.h\": more than one address: give one" },
	{ NFS "{name: m, type: email, smtp: \"smtp://a\", from: a@b.c, to: [\"c..d@e\"]}\n", "t.yaml:2:64: notifier \"m\": \"to\": \"c..d@e\": the part before \"@\" has a character that needs quoting (letters, digits, dots between them and !#$%&'*+-/=?^_`{|}~ only)" },
	/* ${env:NAME} and ${file:/PATH}: the form only; a message quotes the ${...}, never the rest */
	{ NFS "{name: x, type: webhook, url: \"http://x/\", headers: {A: \"${HOME}\"}}\n", "t.yaml:2:61: notifier \"x\": \"headers\": the value of \"A\": \"${HOME}\": expected ${env:NAME} or ${file:/PATH}" },
	{ NFS "{name: x, type: webhook, url: \"http://x/\", headers: {A: \"${env:1X}\"}}\n", "t.yaml:2:61: notifier \"x\": \"headers\": the value of \"A\": \"${env:1X}\": not an environment variable name ([A-Za-z_][A-Za-z0-9_]*) after \"env:\"" },
	{ NFS "{name: x, type: webhook, url: \"http://x/\", headers: {A: \"${file:pw}\"}}\n", "t.yaml:2:61: notifier \"x\": \"headers\": the value of \"A\": \"${file:pw}\": the path after \"file:\" must be absolute" },
	{ NFS "{name: x, type: webhook, url: \"http://x/\", headers: {A: \"secret ${env:T\"}}\n", "t.yaml:2:61: notifier \"x\": \"headers\": the value of \"A\": a \"${\" has no closing \"}\" (expected ${env:NAME} or ${file:/PATH})" },
	{ MAIL ", username: u, password: \"s3cret${env:}\"}\n", "t.yaml:2:93: notifier \"m\": \"password\": \"${env:}\": not an environment variable name ([A-Za-z_][A-Za-z0-9_]*) after \"env:\"" },
	{ MAIL ", username: \"${USER}\", password: p}\n", "t.yaml:2:80: notifier \"m\": \"username\": \"${USER}\": expected ${env:NAME} or ${file:/PATH}" },
	/* a job's notify and notify_repeat (unchecked names: config_load_buffer) */
	{ JOB "    notify: [a, \"b c\"]\n", "t.yaml:6:17: job \"j\": \"notify\": \"b c\" is not a notifier name (1 to 64 letters, digits, \"_\", \".\" or \"-\")" },
	{ JOB "    notify: [a, b, a]\n", "t.yaml:6:20: job \"j\": \"notify\": \"a\" is listed twice" },
	{ JOB "    notify: {a: b}\n", "t.yaml:6:13: job \"j\": \"notify\": expected a notifier's name or a list of them, not a mapping" },
	{ JOB "    notify: [[a]]\n", "t.yaml:6:14: job \"j\": \"notify\": each item must be a notifier's name, not a list" },
	{ JOB "    notify:\n", "t.yaml:6:12: job \"j\": \"notify\": expected a notifier's name, or [] for none" },
	{ JOB "    notify_repeat: 30s\n", "t.yaml:6:20: job \"j\": \"notify_repeat\": 30s is too short (at least 1m, or 0s for never)" },
	{ JOB "    notfy: [a]\n", "t.yaml:6:5: job \"j\": unknown key \"notfy\" (did you mean \"notify\"?)" },
	{ "defaults:\n  notify_repeat: [1m]\n", "t.yaml:2:18: defaults: \"notify_repeat\": expected a duration such as 30s, not a list" },
	/* hostile */
	{ "a: &x [1]\nb: *x\n", "t.yaml:1:4: anchors (&x) are not supported: put shared settings in `defaults`" },
	{ "jobs: [*nope]\n", "t.yaml:1:8: aliases (*nope) are not supported: put shared settings in `defaults`" },
	{ "jobs: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "t.yaml:1:38: nesting deeper than 32 levels: not a job configuration" },
	{ "jobs:\n  - name: \"\xc3\x28\"\n", "t.yaml:2:13: not a text file in UTF-8: invalid trailing UTF-8 octet (byte 0x28 at offset 18)" },
	{ "jobs: [\n", "t.yaml:2:1: invalid YAML: did not find expected node content while parsing a flow node" },
	{ "jobs: []\n---\njobs: []\n", "t.yaml:2:1: a second YAML document (---): a file holds one configuration" },
};

TEST(bad_files_give_exact_messages)
{
	int failures = 0;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct config *cfg = (struct config *)1;
		struct cfg_errors errs;
		int r = config_load_buffer("t.yaml", bad[i].yaml, strlen(bad[i].yaml), &cfg, &errs);

		if (r != -EINVAL || cfg || !errs.n || strcmp(errs.v[0].text, bad[i].message) != 0) {
			printf("# case %zu: r=%d cfg=%p\n#   want: %s\n#   got:  %s\n", i, r, (void *)cfg,
			       bad[i].message, errs.n ? errs.v[0].text : "(no error)");
			failures++;
		}
		config_free(cfg);
		cfg_errors_free(&errs);
	}
	ASSERT_EQ(failures, 0);
}

TEST(every_error_is_reported_not_only_the_first)
{
	const char *yaml = "jobs:\n"
			   "  - {name: a, type: exec, every: 5x, command: [x]}\n"
			   "  - {name: b, type: tcp, every: 5s, target: nope}\n"
			   "  - {name: c, type: dns, every: 5s, query: x, recrd: A}\n";
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 3);
	ASSERT_EQ(errs.total, 3);
	ASSERT(strstr(errs.v[0].text, "job \"a\""));
	ASSERT(strstr(errs.v[1].text, "job \"b\""));
	ASSERT_STR_EQ(errs.v[2].text, "t.yaml:4:47: job \"c\": unknown key \"recrd\" (did you mean \"record\"?)");
	ASSERT_EQ(errs.v[2].where.line, 4);
	ASSERT_EQ(errs.v[2].where.column, 47);
	cfg_errors_free(&errs);
}

TEST(good_file_with_defaults_and_builtins)
{
	const char *yaml = "defaults:\n  every: 30s\n  jitter: 10%\n  labels: {team: ops}\n"
			   "metrics: {listen: \"127.0.0.1:9464\"}\n"
			   "jobs:\n"
			   "  - name: api\n    type: http\n    url: https://api.internal/health\n"
			   "    expect_status: [200, 204]\n    timeout: 3s\n"
			   "  - {name: pg, type: tcp, target: \"[::1]:5432\", every: 1m, enabled: no}\n"
			   "  - {name: r, type: dns, query: example.org, server: 127.0.0.53}\n"
			   "  - {name: x, type: exec, command: [/bin/echo, hi], every: 1h30m, env: {A: b}}\n";
	struct config *cfg;
	struct cfg_errors errs;
	const struct job *j;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(errs.n, 0);
	ASSERT_EQ(cfg->njobs, 4);
	ASSERT_STR_EQ(cfg->metrics_listen, "127.0.0.1:9464");
	j = config_find(cfg, "api");
	ASSERT(j);
	ASSERT_EQ(j->type, JOB_HTTP);
	ASSERT_EQ(j->every_ms, 30000);
	ASSERT_EQ(j->jitter_percent, 10);
	ASSERT_EQ(j->timeout_ms, 3000);
	ASSERT_STR_EQ(j->u.http.method, "GET");
	ASSERT(j->u.http.tls_verify);
	ASSERT_EQ(j->u.http.nexpect_status, 2);
	ASSERT_EQ(j->u.http.expect_status[1], 204);
	ASSERT_EQ(j->nlabels, 1);
	ASSERT_STR_EQ(j->labels[0].key, "team");
	ASSERT_EQ(j->where.line, 7);
	j = config_find(cfg, "pg");
	ASSERT_STR_EQ(j->u.tcp.host, "::1");
	ASSERT_EQ(j->u.tcp.port, 5432);
	ASSERT(!j->enabled);
	ASSERT_EQ(j->timeout_ms, 10000); /* min(10s, every / 2) */
	j = config_find(cfg, "r");
	ASSERT_STR_EQ(j->u.dns.server_host, "127.0.0.53");
	ASSERT_EQ(j->u.dns.server_port, 53);
	ASSERT_STR_EQ(j->u.dns.record, "A");
	ASSERT_EQ(j->timeout_ms, 10000);
	j = config_find(cfg, "x");
	ASSERT_EQ(j->every_ms, 5400000);
	ASSERT_EQ(j->u.exec.argc, 2);
	ASSERT_STR_EQ(j->u.exec.argv[1], "hi");
	ASSERT(!j->u.exec.argv[2]);
	ASSERT_EQ(j->u.exec.output_limit, 65536);
	ASSERT_EQ(j->u.exec.kill_grace_ms, 5000);
	ASSERT(!config_find(cfg, "nope"));
	config_free(cfg);
	cfg_errors_free(&errs);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ASSERT(f);
	ASSERT(fputs(text, f) >= 0);
	ASSERT_EQ(fclose(f), 0);
}

TEST(drop_ins_in_lexical_order_with_their_own_defaults)
{
	char dir[] = "/tmp/coro-config-XXXXXX", path[1024], d[256];
	const char *dirs[2];
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/jobs.yaml", dir);
	write_file(path, "defaults: {every: 1m, retries: 2}\njobs:\n  - {name: main, type: exec, command: [x]}\n");
	snprintf(d, sizeof d, "%s/jobs.d", dir);
	ASSERT_EQ(mkdir(d, 0755), 0);
	snprintf(path, sizeof path, "%s/20-b.yaml", d);
	write_file(path, "jobs:\n  - {name: b, type: exec, command: [x]}\n");
	snprintf(path, sizeof path, "%s/10-a.yaml", d);
	write_file(path, "defaults: {every: 5s}\njobs:\n  - {name: a, type: exec, command: [x]}\n");
	snprintf(path, sizeof path, "%s/99-ignored.yml", d);
	write_file(path, "this is not read");
	snprintf(path, sizeof path, "%s/.hidden.yaml", d);
	write_file(path, "this is not read either: [");
	dirs[0] = d;
	dirs[1] = "/nonexistent/jobs.d"; /* missing directories are skipped */
	snprintf(path, sizeof path, "%s/jobs.yaml", dir);
	ASSERT_EQ(config_load(path, dirs, 2, &cfg, &errs), 0);
	ASSERT_EQ(cfg->njobs, 3);
	ASSERT_STR_EQ(cfg->jobs[0].name, "main");
	ASSERT_STR_EQ(cfg->jobs[1].name, "a");
	ASSERT_STR_EQ(cfg->jobs[2].name, "b");
	ASSERT_EQ(cfg->jobs[1].every_ms, 5000);  /* its file's defaults */
	ASSERT_EQ(cfg->jobs[1].retries, 2);      /* the main file's, under them */
	ASSERT_EQ(cfg->jobs[2].every_ms, 60000); /* the main file's only */
	ASSERT_EQ(cfg->nfiles, 3);
	config_free(cfg);
	cfg_errors_free(&errs);

	/* The same name in two files: both places named. */
	snprintf(path, sizeof path, "%s/30-c.yaml", d);
	write_file(path, "jobs:\n  - {name: a, type: exec, command: [y]}\n");
	snprintf(path, sizeof path, "%s/jobs.yaml", dir);
	ASSERT_EQ(config_load(path, dirs, 1, &cfg, &errs), -EINVAL);
	ASSERT(!cfg);
	ASSERT_EQ(errs.n, 1);
	snprintf(path, sizeof path, "%s/30-c.yaml:2:12: job \"a\": defined twice: here and at %s/10-a.yaml:3:5",
		 d, d);
	ASSERT_STR_EQ(errs.v[0].text, path);
	cfg_errors_free(&errs);

	/* A main file that is not there. */
	snprintf(path, sizeof path, "%s/absent.yaml", dir);
	ASSERT_EQ(config_load(path, NULL, 0, &cfg, &errs), -EINVAL);
	ASSERT(strstr(errs.v[0].text, "absent.yaml: cannot open: No such file or directory"));
	cfg_errors_free(&errs);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	ASSERT_EQ(system(path), 0);
}

TEST(durations)
{
	static const struct {
		const char *text;
		long long ms; /* -1: invalid */
	} cases[] = {
		{ "250ms", 250 }, { "5s", 5000 }, { "10m", 600000 }, { "1h30m", 5400000 },
		{ "2d", 172800000 }, { "1w", 604800000 }, { "1m1s1ms", 61001 }, { "0s", 0 },
		{ "", -1 }, { "5", -1 }, { "s", -1 }, { "5x", -1 }, { "-3s", -1 }, { "1s1m", -1 },
		{ "1s1s", -1 }, { "1.5s", -1 }, { " 5s", -1 }, { "5s ", -1 }, { "99999999999d", -1 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t ms = 12345;
		int r = config_parse_duration(cases[i].text, &ms);

		if (cases[i].ms < 0) {
			ASSERT(r < 0);
			ASSERT_EQ(ms, 12345);
		} else {
			ASSERT_EQ(r, 0);
			ASSERT_EQ(ms, cases[i].ms);
		}
	}
	{
		char buf[32];

		ASSERT_STR_EQ(config_format_duration(5400000, buf, sizeof buf), "1h30m");
		ASSERT_STR_EQ(config_format_duration(250, buf, sizeof buf), "250ms");
		ASSERT_STR_EQ(config_format_duration(0, buf, sizeof buf), "0s");
		ASSERT_STR_EQ(config_format_duration(90061001, buf, sizeof buf), "1d1h1m1s1ms");
	}
}

TEST(huge_and_binary_input_is_refused_cheaply)
{
	size_t n = 4 << 20;
	char *junk = malloc(n);
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(junk);
	for (size_t i = 0; i < n; i++)
		junk[i] = (char)(i * 2654435761u >> 13);
	ASSERT_EQ(config_load_buffer("junk", junk, n, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 1);
	free(junk);
	cfg_errors_free(&errs);
	/* An alias bomb never expands: it is refused at its first anchor. */
	{
		const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
				   "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
				   "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
				   "jobs: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";

		ASSERT_EQ(config_load_buffer("bomb", bomb, strlen(bomb), &cfg, &errs), -EINVAL);
		ASSERT(errs.n >= 1);
		cfg_errors_free(&errs);
	}
	/* An empty file is a valid one with no jobs. */
	ASSERT_EQ(config_load_buffer("empty", "", 0, &cfg, &errs), 0);
	ASSERT_EQ(cfg->njobs, 0);
	config_free(cfg);
	cfg_errors_free(&errs);
}

TEST(error_count_is_capped_but_total_kept)
{
	size_t n = CFG_MAX_ERRORS + 50, len = 0;
	char *yaml = malloc(n * 64 + 16);
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(yaml);
	len += (size_t)sprintf(yaml, "jobs:\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(yaml + len, "  - {name: j%zu, type: nope}\n", i);
	ASSERT_EQ(config_load_buffer("many", yaml, len, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, CFG_MAX_ERRORS);
	ASSERT_EQ(errs.total, n);
	free(yaml);
	cfg_errors_free(&errs);
}

/* ---- fleet -------------------------------------------------------------- */

/*
 * The host name the loader sees: this definition takes the place of libc's
 * in this program, so that a host name that is no member name can be
 * tested. NULL: the real one (from uname, as libc would give it).
 */
static const char *fake_hostname;

int gethostname(char *name, size_t len)
{
	struct utsname u;
	const char *h = fake_hostname;

	if (!h) {
		if (uname(&u) < 0)
			return -1;
		h = u.nodename;
	}
	if (strlen(h) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(name, h);
	return 0;
}

TEST(fleet_section_in_full)
{
	const char *yaml = "fleet:\n"
			   "  etcd: [\"https://127.0.0.1:2379\", \"http://[::1]:22379\", \"https://etcd-2.internal:2379\"]\n"
			   "  prefix: /prod/coro/\n"
			   "  member: web-01.eu\n"
			   "  ttl: 1m30s\n"
			   "  ca: /etc/ssl/etcd-ca.pem\n"
			   "  cert: /etc/ssl/web-01.pem\n"
			   "  key: /etc/ssl/private/web-01.key\n"
			   JOB;
	struct config *cfg;
	struct cfg_errors errs;
	const struct cfg_fleet *f;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(errs.n, 0);
	f = cfg->fleet;
	ASSERT(f);
	ASSERT_EQ(f->netcd, 3);
	ASSERT_STR_EQ(f->etcd[0], "https://127.0.0.1:2379");
	ASSERT_STR_EQ(f->etcd[1], "http://[::1]:22379");
	ASSERT_STR_EQ(f->etcd[2], "https://etcd-2.internal:2379");
	ASSERT_STR_EQ(f->prefix, "/prod/coro/");
	ASSERT_STR_EQ(f->member, "web-01.eu");
	ASSERT_EQ(f->ttl_ms, 90000);
	ASSERT_STR_EQ(f->ca_file, "/etc/ssl/etcd-ca.pem");
	ASSERT_STR_EQ(f->cert_file, "/etc/ssl/web-01.pem");
	ASSERT_STR_EQ(f->key_file, "/etc/ssl/private/web-01.key");
	ASSERT_STR_EQ(f->where.file, "t.yaml");
	ASSERT_EQ(f->where.line, 2);
	ASSERT_EQ(f->where.column, 3);
	ASSERT_EQ(cfg->njobs, 1);
	ASSERT(!cfg->jobs[0].exclusive);
	config_free(cfg);
	cfg_errors_free(&errs);

	/* The bounds themselves are valid; a CA alone is enough for https. */
	yaml = "fleet: {etcd: \"https://a:1\", ttl: 2s, ca: /ca.pem}\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(cfg->fleet->ttl_ms, 2000);
	ASSERT(!cfg->fleet->cert_file);
	config_free(cfg);
	cfg_errors_free(&errs);
	yaml = "fleet: {etcd: \"http://a:1\", ttl: 5m, prefix: /}\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(cfg->fleet->ttl_ms, 300000);
	ASSERT_STR_EQ(cfg->fleet->prefix, "/");
	config_free(cfg);
	cfg_errors_free(&errs);

	/* No fleet: no section. */
	ASSERT_EQ(config_load_buffer("t.yaml", JOB, strlen(JOB), &cfg, &errs), 0);
	ASSERT(!cfg->fleet);
	config_free(cfg);
	cfg_errors_free(&errs);
}

TEST(fleet_defaults_member_is_the_host_name)
{
	const char *yaml = "fleet:\n  etcd: http://127.0.0.1:2379\n";
	struct config *cfg;
	struct cfg_errors errs;
	char host[256];

	ASSERT_EQ(gethostname(host, sizeof host), 0);
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(cfg->fleet->netcd, 1); /* a single string is a list of one */
	ASSERT_STR_EQ(cfg->fleet->etcd[0], "http://127.0.0.1:2379");
	ASSERT_STR_EQ(cfg->fleet->prefix, CFG_FLEET_PREFIX_DEFAULT);
	ASSERT_STR_EQ(cfg->fleet->prefix, "/coro-runner/");
	ASSERT_EQ(cfg->fleet->ttl_ms, CFG_FLEET_TTL_DEFAULT_MS);
	ASSERT_EQ(cfg->fleet->ttl_ms, 10000);
	ASSERT_STR_EQ(cfg->fleet->member, host);
	ASSERT(!cfg->fleet->ca_file && !cfg->fleet->cert_file && !cfg->fleet->key_file);
	config_free(cfg);
	cfg_errors_free(&errs);

	fake_hostname = "web-07";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_STR_EQ(cfg->fleet->member, "web-07");
	config_free(cfg);
	cfg_errors_free(&errs);

	/* A host name that is no member name: asked to set member:. */
	fake_hostname = "web 07";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), -EINVAL);
	ASSERT(!cfg);
	ASSERT_EQ(errs.n, 1);
	ASSERT_STR_EQ(errs.v[0].text, "t.yaml:2:3: fleet: \"member\" is missing and the host name "
				      "\"web 07\" is not a member name (1 to 64 letters, digits, "
				      "\"_\", \".\" or \"-\"): set \"member:\"");
	cfg_errors_free(&errs);

	/* ... which member: then overrides. */
	yaml = "fleet:\n  etcd: http://127.0.0.1:2379\n  member: web-07\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_STR_EQ(cfg->fleet->member, "web-07");
	config_free(cfg);
	cfg_errors_free(&errs);
}

TEST(fleet_only_in_the_main_file)
{
	char dir[] = "/tmp/coro-config-XXXXXX", main_path[512], drop[512], cmd[600];
	const char *files[2] = { main_path, drop };
	struct config *cfg;
	struct cfg_errors errs;
	char want[1200];

	ASSERT(mkdtemp(dir));
	snprintf(main_path, sizeof main_path, "%s/jobs.yaml", dir);
	snprintf(drop, sizeof drop, "%s/10-fleet.yaml", dir);
	write_file(main_path, JOB);
	write_file(drop, "# a drop-in\nfleet:\n  etcd: http://127.0.0.1:2379\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT(!cfg);
	ASSERT_EQ(errs.n, 1);
	snprintf(want, sizeof want, "%s:2:1: \"fleet\" belongs in the main file (%s), not in a drop-in",
		 drop, main_path);
	ASSERT_STR_EQ(errs.v[0].text, want);
	cfg_errors_free(&errs);

	/* In the main file it is fine, with drop-ins beside it. */
	write_file(main_path, "fleet:\n  etcd: http://127.0.0.1:2379\n  member: m1\n");
	write_file(drop, JOB);
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), 0);
	ASSERT_STR_EQ(cfg->fleet->member, "m1");
	ASSERT_STR_EQ(cfg->fleet->where.file, main_path);
	ASSERT_EQ(cfg->njobs, 1);
	config_free(cfg);
	cfg_errors_free(&errs);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ASSERT_EQ(system(cmd), 0);
}

TEST(exclusive_in_jobs_and_defaults)
{
	const char *yaml = "defaults:\n  every: 10s\n  exclusive: true\n"
			   "jobs:\n"
			   "  - {name: a, type: exec, command: [x]}\n"
			   "  - {name: b, type: exec, command: [x], exclusive: false}\n";
	const char *yaml2 = "jobs:\n"
			    "  - {name: a, type: exec, command: [x], every: 10s}\n"
			    "  - {name: b, type: exec, command: [x], every: 10s, exclusive: yes}\n";
	struct config *cfg, *cfg2;
	struct cfg_errors errs;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	cfg_errors_free(&errs);
	ASSERT(config_find(cfg, "a")->exclusive);  /* from defaults */
	ASSERT(!config_find(cfg, "b")->exclusive); /* its own */
	ASSERT_EQ(config_load_buffer("t.yaml", yaml2, strlen(yaml2), &cfg2, &errs), 0);
	cfg_errors_free(&errs);
	ASSERT(!config_find(cfg2, "a")->exclusive); /* the built-in default */
	ASSERT(config_find(cfg2, "b")->exclusive);

	/* Only exclusive differs between the two files' jobs. */
	ASSERT(!config_job_equal(config_find(cfg, "a"), config_find(cfg2, "a")));
	ASSERT(!config_job_equal(config_find(cfg, "b"), config_find(cfg2, "b")));
	ASSERT_NE(config_job_hash(config_find(cfg, "a")), config_job_hash(config_find(cfg2, "a")));
	ASSERT_NE(config_job_hash(config_find(cfg, "b")), config_job_hash(config_find(cfg2, "b")));
	/* And a job is equal to the same definition with the same exclusive. */
	{
		struct job x = *config_find(cfg, "a");

		ASSERT(config_job_equal(&x, config_find(cfg, "a")));
		x.exclusive = false;
		ASSERT(!config_job_equal(&x, config_find(cfg, "a")));
		ASSERT(config_job_equal(&x, config_find(cfg2, "a")));
		ASSERT_EQ(config_job_hash(&x), config_job_hash(config_find(cfg2, "a")));
	}
	config_free(cfg);
	config_free(cfg2);
}

/* ---- notifiers ---------------------------------------------------------- */

/* The four types with every key, as coro-runner.yaml(5) shows them, and jobs that name them. */
#define NOTIFIERS \
	"notifiers:\n" \
	"  - name: am\n    type: alertmanager\n    url: http://127.0.0.1:9093\n" \
	"  - name: ops-hook\n    type: webhook\n    url: https://hooks.example.org/coro\n" \
	"    headers: {Authorization: \"Bearer ${env:HOOK_TOKEN}\", X-A: \"${file:/a}${env:B}\"}\n" \
	"    tls_verify: false\n    timeout: 100ms\n    queue: 1000000\n" \
	"  - name: mail\n    type: email\n    smtp: smtps://[::1]:465\n" \
	"    from: \"Coro Runner <coro-runner@host.example>\"\n    to: ops@example.org\n" \
	"    username: alerts\n    password: \"${file:/etc/coro-runner/smtp-password}\"\n" \
	"    timeout: 5m\n" \
	"  - name: page\n    type: exec\n    command: [\"/usr/local/bin/page-oncall\", \"-q\"]\n"

/* Writes text to DIR/NAME, whose path goes in buf. */
static const char *put_file(char *buf, size_t size, const char *dir, const char *name,
			    const char *text)
{
	snprintf(buf, size, "%s/%s", dir, name);
	write_file(buf, text);
	return buf;
}

TEST(notifiers_of_each_type_and_jobs_naming_them)
{
	char dir[] = "/tmp/coro-config-XXXXXX", main_path[512], drop[512], cmd[600];
	const char *files[2] = { main_path, drop };
	const struct cfg_notifier *n;
	const struct job *j;
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(mkdtemp(dir));
	put_file(main_path, sizeof main_path, dir, "jobs.yaml",
		 NOTIFIERS "defaults:\n  every: 1m\n  notify: [am]\n"
		 "jobs:\n  - {name: a, type: exec, command: [x]}\n"
		 "  - {name: b, type: exec, command: [x], notify: [], notify_repeat: 4h}\n"
		 "  - {name: c, type: exec, command: [x], notify: [mail, ops-hook, page]}\n");
	put_file(drop, sizeof drop, dir, "10-more.yaml",
		 "defaults:\n  notify_repeat: 1m\njobs:\n  - {name: d, type: exec, command: [x], notify: page}\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), 0);
	ASSERT_EQ(errs.n, 0);
	ASSERT_EQ(cfg->nnotifiers, 4);

	n = config_find_notifier(cfg, "am");
	ASSERT(n == &cfg->notifiers[0]);
	ASSERT_EQ(n->type, NOTIFIER_ALERTMANAGER);
	ASSERT_STR_EQ(notifier_type_name(n->type), "alertmanager");
	ASSERT_STR_EQ(n->url, "http://127.0.0.1:9093");
	ASSERT(n->tls_verify && !n->nheaders); /* the built-in defaults */
	ASSERT_EQ(n->timeout_ms, CFG_NOTIFY_TIMEOUT_DEFAULT_MS);
	ASSERT_EQ(n->queue, CFG_NOTIFY_QUEUE_DEFAULT);
	ASSERT_STR_EQ(n->where.file, main_path);
	ASSERT(n->where.line == 2 && n->where.column == 5);

	n = config_find_notifier(cfg, "ops-hook");
	ASSERT_EQ(n->type, NOTIFIER_WEBHOOK);
	ASSERT_EQ(n->nheaders, 2);
	ASSERT_STR_EQ(n->headers[0].key, "Authorization");
	ASSERT_STR_EQ(n->headers[0].value, "Bearer ${env:HOOK_TOKEN}"); /* kept as written */
	ASSERT_STR_EQ(n->headers[1].value, "${file:/a}${env:B}");
	ASSERT(!n->tls_verify);
	ASSERT_EQ(n->timeout_ms, 100);
	ASSERT_EQ(n->queue, CFG_NOTIFY_QUEUE_MAX);

	n = config_find_notifier(cfg, "mail");
	ASSERT_EQ(n->type, NOTIFIER_EMAIL);
	ASSERT_STR_EQ(notifier_type_name(n->type), "email");
	ASSERT_STR_EQ(n->smtp, "smtps://[::1]:465");
	ASSERT_STR_EQ(n->from, "Coro Runner <coro-runner@host.example>");
	ASSERT_EQ(n->nto, 1); /* one address is a list of one */
	ASSERT_STR_EQ(n->to[0], "ops@example.org");
	ASSERT_STR_EQ(n->username, "alerts");
	ASSERT_STR_EQ(n->password, "${file:/etc/coro-runner/smtp-password}");
	ASSERT(n->tls_verify && !n->url && !n->argv);
	ASSERT_EQ(n->timeout_ms, 300000);

	n = config_find_notifier(cfg, "page");
	ASSERT_EQ(n->type, NOTIFIER_EXEC);
	ASSERT_EQ(n->argc, 2);
	ASSERT_STR_EQ(n->argv[0], "/usr/local/bin/page-oncall");
	ASSERT(!n->argv[2]);
	ASSERT_STR_EQ(notifier_type_name(n->type), "exec");
	ASSERT(!config_find_notifier(cfg, "nope"));

	j = config_find(cfg, "a"); /* the default's */
	ASSERT_EQ(j->nnotify, 1);
	ASSERT_STR_EQ(j->notify[0], "am");
	ASSERT_EQ(j->notify_repeat_ms, 0);
	j = config_find(cfg, "b"); /* [] overrides it */
	ASSERT(!j->nnotify && !j->notify);
	ASSERT_EQ(j->notify_repeat_ms, 4 * 3600000);
	j = config_find(cfg, "c");
	ASSERT_EQ(j->nnotify, 3);
	ASSERT_STR_EQ(j->notify[0], "mail");
	ASSERT_STR_EQ(j->notify[2], "page");
	j = config_find(cfg, "d"); /* a name alone; its file's default under the main file's */
	ASSERT_EQ(j->nnotify, 1);
	ASSERT_STR_EQ(j->notify[0], "page");
	ASSERT_EQ(j->notify_repeat_ms, 60000);
	config_free(cfg);
	cfg_errors_free(&errs);

	/* No section: none. */
	ASSERT_EQ(config_load_buffer("t.yaml", JOB, strlen(JOB), &cfg, &errs), 0);
	ASSERT(!cfg->nnotifiers && !cfg->notifiers && !cfg->jobs[0].notify);
	config_free(cfg);
	cfg_errors_free(&errs);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ASSERT_EQ(system(cmd), 0);
}

TEST(notify_names_are_checked_by_load_not_by_load_buffer)
{
	char dir[] = "/tmp/coro-config-XXXXXX", main_path[512], drop[512], want[1200], cmd[600];
	const char *files[2] = { main_path, drop }, *dirs[1] = { dir };
	const char *job = "jobs:\n  - {name: api, type: exec, command: [x], every: 1m, notify: [page, amm]}\n";
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(mkdtemp(dir));
	put_file(main_path, sizeof main_path, dir, "main.yml", NOTIFIERS); /* .yml: not a drop-in */
	put_file(drop, sizeof drop, dir, "10-api.yaml", job);
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 1);
	snprintf(want, sizeof want, "%s:2:69: job \"api\": notify: unknown notifier \"amm\" (did you "
		 "mean \"am\"?)", drop);
	ASSERT_STR_EQ(errs.v[0].text, want);
	cfg_errors_free(&errs);
	/* config_load: the same. */
	ASSERT_EQ(config_load(main_path, dirs, 1, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 1);
	ASSERT_STR_EQ(errs.v[0].text, want);
	cfg_errors_free(&errs);
	/* Far from every name: the names are listed. */
	put_file(drop, sizeof drop, dir, "10-api.yaml", "defaults:\n  notify: [zzzzzz]\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	snprintf(want, sizeof want, "%s:2:12: defaults: notify: unknown notifier \"zzzzzz\" (expected "
		 "one of am, mail, ops-hook, page)", drop);
	ASSERT_STR_EQ(errs.v[0].text, want);
	cfg_errors_free(&errs);
	/* A main file without notifiers. */
	put_file(main_path, sizeof main_path, dir, "main.yml", "defaults: {every: 1m}\n");
	put_file(drop, sizeof drop, dir, "10-api.yaml", job);
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 2);
	snprintf(want, sizeof want, "%s:2:63: job \"api\": notify: unknown notifier \"page\" (no "
		 "notifiers are defined)", drop);
	ASSERT_STR_EQ(errs.v[0].text, want);
	cfg_errors_free(&errs);
	/* A broken main file or section: its errors only, no unknown notifier after them. */
	put_file(main_path, sizeof main_path, dir, "main.yml", "notifiers: {am: 1}\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 1);
	ASSERT(strstr(errs.v[0].text, "\"notifiers\": expected a list of notifiers"));
	cfg_errors_free(&errs);
	put_file(main_path, sizeof main_path, dir, "main.yml", "notifiers: [\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 1);
	ASSERT(strstr(errs.v[0].text, "invalid YAML"));
	cfg_errors_free(&errs);
	/* A notifier with a bad value is still a name jobs may give: one error, not two. */
	put_file(main_path, sizeof main_path, dir, "main.yml",
		 "notifiers:\n  - {name: page, type: exec, command: [x], queue: 0}\n"
		 "  - {name: amm, type: webhook, url: \"http://x/\", tls_verify: maybe}\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 2);
	ASSERT(strstr(errs.v[0].text, "\"queue\""));
	ASSERT(strstr(errs.v[1].text, "\"tls_verify\""));
	cfg_errors_free(&errs);

	/* config_load_buffer (coctl add, fleet jobs): names are not checked, the daemon does. */
	ASSERT_EQ(config_load_buffer("add", job, strlen(job), &cfg, &errs), 0);
	ASSERT_EQ(cfg->jobs[0].nnotify, 2);
	ASSERT_STR_EQ(cfg->jobs[0].notify[1], "amm");
	config_free(cfg);
	cfg_errors_free(&errs);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ASSERT_EQ(system(cmd), 0);
}

TEST(notifiers_only_in_the_main_file)
{
	char dir[] = "/tmp/coro-config-XXXXXX", main_path[512], drop[512], want[1200], cmd[600];
	const char *files[2] = { main_path, drop };
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(mkdtemp(dir));
	put_file(main_path, sizeof main_path, dir, "jobs.yaml", JOB);
	put_file(drop, sizeof drop, dir, "10-n.yaml", "# a drop-in\n" NOTIFIERS);
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 1);
	snprintf(want, sizeof want, "%s:2:1: \"notifiers\" belongs in the main file (%s), not in a "
		 "drop-in", drop, main_path);
	ASSERT_STR_EQ(errs.v[0].text, want);
	cfg_errors_free(&errs);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ASSERT_EQ(system(cmd), 0);
}

TEST(notify_and_notify_repeat_do_not_count_in_equality)
{
	const char *yaml = NOTIFIERS "jobs:\n"
			   "  - {name: a, type: exec, command: [x], every: 1m}\n"
			   "  - {name: b, type: exec, command: [x], every: 1m, notify: [am, page], notify_repeat: 1h}\n";
	struct config *cfg;
	struct cfg_errors errs;
	struct job x;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	cfg_errors_free(&errs);
	x = *config_find(cfg, "b");
	x.name = cfg->jobs[0].name; /* b as a, with notify and notify_repeat */
	ASSERT(config_job_equal(&x, &cfg->jobs[0]));
	ASSERT_EQ(config_job_hash(&x), config_job_hash(&cfg->jobs[0]));
	x.every_ms++;
	ASSERT(!config_job_equal(&x, &cfg->jobs[0]));
	config_free(cfg);
}
