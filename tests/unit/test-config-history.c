/* SPDX-License-Identifier: MIT */
/*
 * test-config-history.c: the `history:` and `web:` sections of the job
 * configuration (issue 15): what good sections turn into (every key, the
 * defaults, off and on, the bounds themselves), a table of bad ones each
 * with the exact message it must produce, both sections refused in a
 * drop-in, and web's listener checked against the metrics one across
 * files.
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

/* A valid job, for files that need one. */
#define JOB "jobs:\n  - name: j\n    type: exec\n    command: [/bin/true]\n    every: 10s\n"

#define DAY_MS 86400000ull

/* 129 characters: one more than a title may have. */
#define LONG_TITLE "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct {
	const char *yaml;
	const char *message; /* the first error, exactly */
} bad[] = {
	/* history: the section as a whole */
	{ "history: [a]\n", "t.yaml:1:10: \"history\": expected a mapping such as {path: /var/lib/coro-runner/history.db}, or off, not a list" },
	{ "history: maybe\n", "t.yaml:1:10: \"history\": expected a mapping such as {path: /var/lib/coro-runner/history.db}, or off, not \"maybe\"" },
	{ "history:\n" JOB, "t.yaml:1:9: \"history\": expected a mapping such as {path: /var/lib/coro-runner/history.db}, or off, not an empty value" },
	{ "history: off\nhistory: on\n", "t.yaml:2:1: key \"history\" appears twice (first at line 1, column 1)" },
	{ "histroy: off\n", "t.yaml:1:1: unknown key \"histroy\" (did you mean \"history\"?)" },
	/* history: keys */
	{ "history: {hourli: 30d}\n", "t.yaml:1:11: history: unknown key \"hourli\" (did you mean \"hourly\"?)" },
	{ "history: {retention: 30d}\n", "t.yaml:1:11: history: unknown key \"retention\" (history has path, raw_results, hourly, daily and events)" },
	{ "history: {enabled: false}\n", "t.yaml:1:11: history: unknown key \"enabled\" (\"history: off\" keeps no history)" },
	{ "history: {daily: 1d, daily: 2d}\n", "t.yaml:1:22: history: key \"daily\" appears twice (first at line 1, column 11)" },
	/* history: values */
	{ "history: {path: history.db}\n", "t.yaml:1:17: history: \"path\": \"history.db\" must be an absolute path" },
	{ "history: {path: /var/lib/coro-runner/}\n", "t.yaml:1:17: history: \"path\": \"/var/lib/coro-runner/\" is a directory: give the database file, such as /var/lib/coro-runner/history.db" },
	{ "history: {path: \"\"}\n", "t.yaml:1:17: history: \"path\": must not be empty" },
	{ "history: {path: [/a]}\n", "t.yaml:1:17: history: \"path\": expected a string, not a list" },
	{ "history: {raw_results: 100001}\n", "t.yaml:1:24: history: \"raw_results\": expected a whole number from 0 to 100000, not \"100001\"" },
	{ "history: {raw_results: -1}\n", "t.yaml:1:24: history: \"raw_results\": expected a whole number from 0 to 100000, not \"-1\"" },
	{ "history: {raw_results: all}\n", "t.yaml:1:24: history: \"raw_results\": expected a whole number from 0 to 100000, not \"all\"" },
	{ "history: {hourly: 23h}\n", "t.yaml:1:19: history: \"hourly\": 23h is too short (at least 1d, at most 3650d: 10 years)" },
	{ "history: {daily: 3651d}\n", "t.yaml:1:18: history: \"daily\": 3651d is too long (at least 1d, at most 3650d: 10 years)" },
	{ "history: {events: 522w}\n", "t.yaml:1:19: history: \"events\": 522w is too long (at least 1d, at most 3650d: 10 years)" },
	{ "history: {events: 10y}\n", "t.yaml:1:19: history: \"events\": invalid duration \"10y\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)" },
	{ "history: {hourly: 30}\n", "t.yaml:1:19: history: \"hourly\": invalid duration \"30\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)" },
	{ "history: {daily: {a: b}}\n", "t.yaml:1:18: history: \"daily\": expected a duration such as 30s, not a mapping" },
	/* web: the section as a whole */
	{ "web: [a]\n", "t.yaml:1:6: \"web\": expected a mapping such as {listen: 127.0.0.1:9465}, or {} for the metrics listener, not a list" },
	{ "web: off\n", "t.yaml:1:6: \"web\": expected a mapping such as {listen: 127.0.0.1:9465}, or {} for the metrics listener, not a value" },
	{ "web: {}\nweb: {}\n", "t.yaml:2:1: key \"web\" appears twice (first at line 1, column 1)" },
	{ "wbe: {}\n", "t.yaml:1:1: unknown key \"wbe\" (did you mean \"web\"?)" },
	{ "status: {}\n", "t.yaml:1:1: unknown key \"status\" (the top level has jobs, defaults, metrics, fleet, notifiers, history and web)" },
	/* web: keys */
	{ "web: {listn: \"127.0.0.1:9465\"}\n", "t.yaml:1:7: web: unknown key \"listn\" (did you mean \"listen\"?)" },
	{ "web: {port: 9465}\n", "t.yaml:1:7: web: unknown key \"port\" (web has listen, group_by and title)" },
	{ "web: {title: a, title: b}\n", "t.yaml:1:17: web: key \"title\" appears twice (first at line 1, column 7)" },
	/* web: values */
	{ "web: {listen: 9465}\n", "t.yaml:1:15: web: \"listen\": \"9465\": the port is missing (expected HOST:PORT)" },
	{ "web: {listen: \"::1:9465\"}\n", "t.yaml:1:15: web: \"listen\": \"::1:9465\": an IPv6 address must be written in brackets: [::1]:53" },
	{ "web: {listen: \"127.0.0.1:0\"}\n", "t.yaml:1:15: web: \"listen\": \"127.0.0.1:0\": the port must be a number from 1 to 65535" },
	{ "web: {listen: [a]}\n", "t.yaml:1:15: web: \"listen\": expected HOST:PORT, not a list" },
	{ "web: {group_by: 9team}\n", "t.yaml:1:17: web: \"group_by\": \"9team\" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)" },
	{ "web: {group_by: team-name}\n", "t.yaml:1:17: web: \"group_by\": \"team-name\" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)" },
	{ "web: {group_by: __name__}\n", "t.yaml:1:17: web: \"group_by\": \"__name__\" is reserved (label names starting with __ are Prometheus's)" },
	{ "web: {group_by: instance}\n", "t.yaml:1:17: web: \"group_by\": \"instance\" is set by coro-runner itself" },
	{ "web: {group_by: \"\"}\n", "t.yaml:1:17: web: \"group_by\": must not be empty" },
	{ "web: {title: \"\"}\n", "t.yaml:1:14: web: \"title\": must not be empty" },
	{ "web: {title: [a]}\n", "t.yaml:1:14: web: \"title\": expected a string, not a list" },
	{ "web: {title: \"" LONG_TITLE "\"}\n", "t.yaml:1:14: web: \"title\": 129 characters, more than the 128 it may have" },
	{ "web: {title: \"Ops\\tstatus\"}\n", "t.yaml:1:14: web: \"title\": character 4 is a control character (U+0009): the title is one line of printable text" },
	{ "web: {title: \"Ops\\nstatus\"}\n", "t.yaml:1:14: web: \"title\": character 4 is a control character (U+000A): the title is one line of printable text" },
	{ "web: {title: \"\xc3\xa9t\xc3\xa9\\x7f\"}\n", "t.yaml:1:14: web: \"title\": character 4 is a control character (U+007F): the title is one line of printable text" },
	{ "web: {title: \"\xc3\xa9t\xc3\xa9\\x85\"}\n", "t.yaml:1:14: web: \"title\": character 4 is a control character (U+0085): the title is one line of printable text" },
	/* web.listen against metrics.listen */
	{ "metrics: {listen: \"127.0.0.1:9464\"}\nweb: {listen: \"127.0.0.1:9464\"}\n", "t.yaml:2:15: web: \"listen\": \"127.0.0.1:9464\" is the address metrics listens on (metrics at t.yaml:1:10): omit web.listen to share the metrics listener" },
	{ "web: {listen: \"localhost:9464\"}\nmetrics: {listen: \"LOCALHOST:9464\"}\n", "t.yaml:1:15: web: \"listen\": \"localhost:9464\" is the address metrics listens on (metrics at t.yaml:2:10): omit web.listen to share the metrics listener" },
	{ "metrics: {listen: \"[::1]:9464\"}\nweb: {listen: \"[0::1]:9464\"}\n", "t.yaml:2:15: web: \"listen\": \"[0::1]:9464\" is the address metrics listens on (metrics at t.yaml:1:10): omit web.listen to share the metrics listener" },
	{ "metrics: {listen: \"127.0.0.1:9464\"}\nweb: {listen: \"0.0.0.0:9464\"}\n", "t.yaml:2:15: web: \"listen\": \"0.0.0.0:9464\" and the metrics listener's \"127.0.0.1:9464\" (metrics at t.yaml:1:10) take the same port: omit web.listen to share the metrics listener, or give another port" },
	{ "metrics: {listen: \"[::]:9464\"}\nweb: {listen: \"[::1]:9464\"}\n", "t.yaml:2:15: web: \"listen\": \"[::1]:9464\" and the metrics listener's \"[::]:9464\" (metrics at t.yaml:1:10) take the same port: omit web.listen to share the metrics listener, or give another port" },
};

TEST(bad_sections_give_exact_messages)
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

		/* Without messages (errs NULL), the same failure. */
		cfg = (struct config *)1;
		r = config_load_buffer("t.yaml", bad[i].yaml, strlen(bad[i].yaml), &cfg, NULL);
		if (r != -EINVAL || cfg) {
			printf("# case %zu without errs: r=%d cfg=%p\n", i, r, (void *)cfg);
			failures++;
		}
	}
	ASSERT_EQ(failures, 0);
}

TEST(history_in_full)
{
	const char *yaml = "history:\n"
			   "  path: /var/lib/coro-runner/history.db\n"
			   "  raw_results: 250\n"
			   "  hourly: 60d\n"
			   "  daily: 2w\n"
			   "  events: 1d12h\n"
			   JOB;
	struct config *cfg;
	struct cfg_errors errs;
	const struct cfg_history *h;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(errs.n, 0);
	h = cfg->history;
	ASSERT(h);
	ASSERT(h->enabled);
	ASSERT_STR_EQ(h->path, "/var/lib/coro-runner/history.db");
	ASSERT_EQ(h->raw_results, 250);
	ASSERT_UEQ(h->hourly_ms, 60 * DAY_MS);
	ASSERT_UEQ(h->daily_ms, 14 * DAY_MS);
	ASSERT_UEQ(h->events_ms, 36 * 3600000ull);
	ASSERT_STR_EQ(h->where.file, "t.yaml");
	ASSERT_EQ(h->where.line, 2);
	ASSERT_EQ(h->where.column, 3);
	ASSERT_EQ(cfg->njobs, 1);
	ASSERT(!cfg->web);
	config_free(cfg);
	cfg_errors_free(&errs);

	/* The bounds themselves are valid: no raw results, 1 day, 10 years. */
	yaml = "history: {raw_results: 0, hourly: 1d, daily: 3650d, events: 521w3d}\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(cfg->history->raw_results, 0);
	ASSERT_UEQ(cfg->history->hourly_ms, DAY_MS);
	ASSERT_UEQ(cfg->history->daily_ms, 3650 * DAY_MS);
	ASSERT_UEQ(cfg->history->events_ms, 3650 * DAY_MS);
	config_free(cfg);
	cfg_errors_free(&errs);
	yaml = "history: {raw_results: 100000, hourly: 24h}\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(cfg->history->raw_results, CFG_HISTORY_RAW_MAX);
	ASSERT_UEQ(cfg->history->hourly_ms, DAY_MS);
	config_free(cfg);
	cfg_errors_free(&errs);
}

/* Checks that h holds every default, and enabled as given. */
static void assert_defaults(const struct cfg_history *h, bool enabled)
{
	ASSERT(h);
	ASSERT_EQ(h->enabled, enabled);
	ASSERT(!h->path);
	ASSERT_EQ(h->raw_results, CFG_HISTORY_RAW_DEFAULT);
	ASSERT_EQ(h->raw_results, 100);
	ASSERT_UEQ(h->hourly_ms, CFG_HISTORY_HOURLY_DEFAULT_MS);
	ASSERT_UEQ(h->hourly_ms, 30 * DAY_MS);
	ASSERT_UEQ(h->daily_ms, CFG_HISTORY_DAILY_DEFAULT_MS);
	ASSERT_UEQ(h->daily_ms, 400 * DAY_MS);
	ASSERT_UEQ(h->events_ms, CFG_HISTORY_EVENTS_DEFAULT_MS);
	ASSERT_UEQ(h->events_ms, 400 * DAY_MS);
}

TEST(history_minimal_off_on_and_absent)
{
	static const struct {
		const char *yaml;
		bool enabled;
	} cases[] = {
		{ "history: {}\n", true },
		{ "history:\n  raw_results: 100\n", true },
		{ "history: off\n", false },
		{ "history: false\n", false },
		{ "history: no\n", false },
		{ "history: OFF\n", false },
		{ "history: \"off\"\n", false },
		{ "history: on\n", true },
		{ "history: true\n", true },
		{ "history: yes\n", true },
	};
	struct config *cfg;
	struct cfg_errors errs;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		printf("# case %zu\n", i);
		ASSERT_EQ(config_load_buffer("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &cfg,
					     &errs), 0);
		ASSERT_EQ(errs.n, 0);
		assert_defaults(cfg->history, cases[i].enabled);
		ASSERT_STR_EQ(cfg->history->where.file, "t.yaml");
		ASSERT_EQ(cfg->history->where.line, 1 + (cases[i].yaml[8] == '\n'));
		config_free(cfg);
		cfg_errors_free(&errs);
	}

	/* Absent: no section (on, with the defaults, for the daemon). */
	ASSERT_EQ(config_load_buffer("t.yaml", JOB, strlen(JOB), &cfg, &errs), 0);
	ASSERT(!cfg->history);
	ASSERT(!cfg->web);
	config_free(cfg);
	cfg_errors_free(&errs);
	ASSERT_EQ(config_load_buffer("t.yaml", "", 0, &cfg, &errs), 0);
	ASSERT(!cfg->history);
	config_free(cfg);
	cfg_errors_free(&errs);
}

TEST(web_in_full_and_empty)
{
	const char *yaml = "metrics: {listen: \"127.0.0.1:9464\"}\n"
			   "web:\n"
			   "  listen: \"[::1]:9465\"\n"
			   "  group_by: team\n"
			   "  title: \"Ops \xe2\x80\x94 status \xe2\x9c\x93\"\n"
			   JOB;
	struct config *cfg;
	struct cfg_errors errs;
	const struct cfg_web *w;
	char title[400], doc[600];

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	ASSERT_EQ(errs.n, 0);
	w = cfg->web;
	ASSERT(w);
	ASSERT_STR_EQ(w->listen, "[::1]:9465");
	ASSERT_STR_EQ(w->group_by, "team");
	ASSERT_STR_EQ(w->title, "Ops \xe2\x80\x94 status \xe2\x9c\x93");
	ASSERT_STR_EQ(w->where.file, "t.yaml");
	ASSERT_EQ(w->where.line, 3);
	ASSERT_EQ(w->where.column, 3);
	ASSERT_STR_EQ(cfg->metrics_listen, "127.0.0.1:9464");
	ASSERT(!cfg->history);
	config_free(cfg);
	cfg_errors_free(&errs);

	/* web: {}: every key optional (served on the metrics listener). */
	yaml = "web: {}\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	w = cfg->web;
	ASSERT(w);
	ASSERT(!w->listen && !w->group_by && !w->title);
	ASSERT_EQ(w->where.line, 1);
	ASSERT_EQ(w->where.column, 6);
	config_free(cfg);
	cfg_errors_free(&errs);

	/* 128 characters, most of them two bytes long, is the most a title has. */
	memset(title, 0, sizeof title);
	for (int i = 0; i < 127; i++)
		memcpy(title + 2 * i, "\xc3\xa9", 2);
	title[254] = 'x';
	snprintf(doc, sizeof doc, "web: {title: \"%s\"}\n", title);
	ASSERT_EQ(config_load_buffer("t.yaml", doc, strlen(doc), &cfg, &errs), 0);
	ASSERT_STR_EQ(cfg->web->title, title);
	config_free(cfg);
	cfg_errors_free(&errs);
	memcpy(title + 255, "\xc3\xa9", 3); /* one more (characters are counted, not bytes) */
	snprintf(doc, sizeof doc, "web: {title: \"%s\"}\n", title);
	ASSERT_EQ(config_load_buffer("t.yaml", doc, strlen(doc), &cfg, &errs), -EINVAL);
	ASSERT_STR_EQ(errs.v[0].text, "t.yaml:1:14: web: \"title\": 129 characters, more than the 128 it may have");
	cfg_errors_free(&errs);
}

TEST(web_listen_beside_the_metrics_listener)
{
	/* Listeners that do not collide: another port, another address, another family. */
	static const char *const fine[] = {
		"metrics: {listen: \"127.0.0.1:9464\"}\nweb: {listen: \"127.0.0.1:9465\"}\n",
		"metrics: {listen: \"127.0.0.1:9464\"}\nweb: {listen: \"127.0.0.2:9464\"}\n",
		"metrics: {listen: \"127.0.0.1:9464\"}\nweb: {listen: \"[::]:9464\"}\n",
		"metrics: {listen: \"0.0.0.0:9464\"}\nweb: {listen: \"[::1]:9464\"}\n",
		"metrics: {listen: \"localhost:9464\"}\nweb: {listen: \"127.0.0.1:9464\"}\n",
		"web: {listen: \"127.0.0.1:9464\"}\n",
		"metrics: {listen: \"127.0.0.1:9464\"}\nweb: {group_by: team}\n",
	};
	struct config *cfg;
	struct cfg_errors errs;

	for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
		int r = config_load_buffer("t.yaml", fine[i], strlen(fine[i]), &cfg, &errs);

		if (r)
			printf("# %s#   %s\n", fine[i], errs.n ? errs.v[0].text : "(no error)");
		ASSERT_EQ(r, 0);
		ASSERT(cfg->web);
		config_free(cfg);
		cfg_errors_free(&errs);
	}
}

/* Every error at once: a bad history, a bad web, and the jobs still checked. */
TEST(every_error_of_both_sections_is_reported)
{
	const char *yaml = "history:\n  path: rel.db\n  hourly: 1h\n  colour: red\n"
			   "web:\n  listen: nope\n  title: \"\"\n"
			   "jobs:\n  - {name: j, type: exec, command: [x], every: 5x}\n";
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), -EINVAL);
	ASSERT(!cfg);
	ASSERT_EQ(errs.n, 6);
	ASSERT_STR_EQ(errs.v[0].text, "t.yaml:2:9: history: \"path\": \"rel.db\" must be an absolute path");
	ASSERT_STR_EQ(errs.v[1].text, "t.yaml:3:11: history: \"hourly\": 1h is too short (at least 1d, at most 3650d: 10 years)");
	ASSERT_STR_EQ(errs.v[2].text, "t.yaml:4:3: history: unknown key \"colour\" (history has path, raw_results, hourly, daily and events)");
	ASSERT_STR_EQ(errs.v[3].text, "t.yaml:6:11: web: \"listen\": \"nope\": the port is missing (expected HOST:PORT)");
	ASSERT_STR_EQ(errs.v[4].text, "t.yaml:7:10: web: \"title\": must not be empty");
	ASSERT_STR_EQ(errs.v[5].text, "t.yaml:9:48: job \"j\": \"every\": invalid duration \"5x\" (expected a number and a unit, largest first: 250ms, 5s, 10m, 1h30m, 2d)");
	cfg_errors_free(&errs);

	/* A sound listen is compared with metrics' even when another key of web is wrong. */
	yaml = "metrics: {listen: \"127.0.0.1:9464\"}\nweb: {listen: \"127.0.0.1:9464\", title: \"\"}\n";
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), -EINVAL);
	ASSERT_EQ(errs.n, 2);
	ASSERT_STR_EQ(errs.v[0].text, "t.yaml:2:15: web: \"listen\": \"127.0.0.1:9464\" is the address metrics listens on (metrics at t.yaml:1:10): omit web.listen to share the metrics listener");
	ASSERT_STR_EQ(errs.v[1].text, "t.yaml:2:40: web: \"title\": must not be empty");
	cfg_errors_free(&errs);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ASSERT(f);
	ASSERT(fputs(text, f) >= 0);
	ASSERT_EQ(fclose(f), 0);
}

static void remove_tree(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ASSERT_EQ(system(cmd), 0);
}

TEST(history_and_web_only_in_the_main_file)
{
	char dir[] = "/tmp/coro-config-XXXXXX", main_path[512], drop[512], want[1200];
	const char *files[2] = { main_path, drop };
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(mkdtemp(dir));
	snprintf(main_path, sizeof main_path, "%s/jobs.yaml", dir);
	snprintf(drop, sizeof drop, "%s/10-page.yaml", dir);
	write_file(main_path, JOB);
	write_file(drop, "# a drop-in\nhistory: off\nweb: {title: Ops}\n");
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), -EINVAL);
	ASSERT(!cfg);
	ASSERT_EQ(errs.n, 2);
	snprintf(want, sizeof want, "%s:2:1: \"history\" belongs in the main file (%s), not in a "
		 "drop-in", drop, main_path);
	ASSERT_STR_EQ(errs.v[0].text, want);
	snprintf(want, sizeof want, "%s:3:1: \"web\" belongs in the main file (%s), not in a "
		 "drop-in", drop, main_path);
	ASSERT_STR_EQ(errs.v[1].text, want);
	cfg_errors_free(&errs);

	/* In the main file they are fine, with drop-ins beside it. */
	write_file(main_path, "history: {raw_results: 5}\nweb: {title: Ops}\n");
	write_file(drop, JOB);
	ASSERT_EQ(config_load_files(files, 2, &cfg, &errs), 0);
	ASSERT_EQ(cfg->history->raw_results, 5);
	ASSERT_STR_EQ(cfg->history->where.file, main_path);
	ASSERT_STR_EQ(cfg->web->title, "Ops");
	ASSERT_STR_EQ(cfg->web->where.file, main_path);
	ASSERT_EQ(cfg->njobs, 1);
	config_free(cfg);
	cfg_errors_free(&errs);
	remove_tree(dir);
}

/* `metrics` may be in a drop-in: web.listen is checked once every file is read. */
TEST(web_listen_is_checked_against_metrics_of_a_drop_in)
{
	char dir[] = "/tmp/coro-config-XXXXXX", main_path[512], d[512], drop[600], want[1400];
	const char *dirs[1] = { d };
	struct config *cfg;
	struct cfg_errors errs;

	ASSERT(mkdtemp(dir));
	snprintf(main_path, sizeof main_path, "%s/jobs.yaml", dir);
	snprintf(d, sizeof d, "%s/jobs.d", dir);
	snprintf(drop, sizeof drop, "%s/10-metrics.yaml", d);
	ASSERT_EQ(mkdir(d, 0755), 0);
	write_file(main_path, "web:\n  listen: \"127.0.0.1:9464\"\n" JOB);
	write_file(drop, "# the metrics\nmetrics:\n  listen: \"127.0.0.1:9464\"\n");
	ASSERT_EQ(config_load(main_path, dirs, 1, &cfg, &errs), -EINVAL);
	ASSERT(!cfg);
	ASSERT_EQ(errs.n, 1);
	snprintf(want, sizeof want, "%s:2:11: web: \"listen\": \"127.0.0.1:9464\" is the address "
		 "metrics listens on (metrics at %s:3:3): omit web.listen to share the metrics "
		 "listener", main_path, drop);
	ASSERT_STR_EQ(errs.v[0].text, want);
	ASSERT_STR_EQ(errs.v[0].where.file, main_path);
	cfg_errors_free(&errs);

	/* Another port: fine. */
	write_file(drop, "metrics:\n  listen: \"127.0.0.1:9463\"\n");
	ASSERT_EQ(config_load(main_path, dirs, 1, &cfg, &errs), 0);
	ASSERT_STR_EQ(cfg->web->listen, "127.0.0.1:9464");
	ASSERT_STR_EQ(cfg->metrics_listen, "127.0.0.1:9463");
	config_free(cfg);
	cfg_errors_free(&errs);
	remove_tree(dir);
}

/* Neither section is about jobs: they change no job's equality or hash. */
TEST(sections_leave_jobs_alone)
{
	const char *with = "history: {raw_results: 7}\nweb: {group_by: team}\n" JOB;
	struct config *a, *b;
	struct cfg_errors errs;

	ASSERT_EQ(config_load_buffer("t.yaml", with, strlen(with), &a, &errs), 0);
	cfg_errors_free(&errs);
	ASSERT_EQ(config_load_buffer("t.yaml", JOB, strlen(JOB), &b, &errs), 0);
	cfg_errors_free(&errs);
	ASSERT_EQ(a->njobs, 1);
	ASSERT(config_job_equal(&a->jobs[0], &b->jobs[0]));
	ASSERT_UEQ(config_job_hash(&a->jobs[0]), config_job_hash(&b->jobs[0]));
	config_free(a);
	config_free(b);
}
