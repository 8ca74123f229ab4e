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
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/tap.h"

/* A valid job to build bad ones around. */
#define JOB "jobs:\n  - name: j\n    type: exec\n    command: [/bin/true]\n    every: 10s\n"

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
