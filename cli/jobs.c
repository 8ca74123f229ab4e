/* SPDX-License-Identifier: MIT */
/*
 * jobs.c: the commands that ask the daemon about jobs or act on named
 * ones: list, status, kill, pause, resume, run. (`coctl fleet` is fleet.c.)
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "cli/coctl.h"
#include "config/config.h"

#define TIMEOUT_MS 60000 /* a daemon that does not answer in a minute is stuck */

/* Sends req, prints the reply as JSON if asked; *ret the reply or NULL. */
static int call(json_t *req, int timeout_ms, json_t **ret)
{
	int r = ctl_call(req, timeout_ms, ret);

	if (r != EXIT_OK)
		return r;
	if (opts.json)
		print_json(*ret);
	return EXIT_OK;
}

/* The names after the options, as a JSON array; NULL (usage reported) if none. */
static json_t *names_from(int argc, char **argv, int *ret)
{
	json_t *a;

	if (optind >= argc) {
		*ret = usage_error(argv[0], "%s: give the names of one or more jobs", argv[0]);
		return NULL;
	}
	a = json_array();
	for (int i = optind; i < argc; i++)
		json_array_append_new(a, json_string(argv[i]));
	return a;
}

/* ---- list --------------------------------------------------------------- */

static const char list_help[] =
	"Usage: coctl list [-o json] [--no-legend] [-s PATH]\n"
	"\n"
	"List the daemon's jobs, one a line: NAME TYPE SCHEDULE STATE LAST DURATION\n"
	"RUNS FAILS NEXT. STATE is up, down or unknown (not enough results yet), with\n"
	"',paused' or ',running' added, or 'disabled'. LAST is the last run's result.\n"
	"When some of the jobs are fleet jobs (coctl add --fleet), a last column,\n"
	"OWNER, names the fleet member that runs each ('-' for this daemon's own).\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

/* "up", "down,paused", "unknown,running", "disabled". */
static void state_text(json_t *job, char *buf, size_t size)
{
	if (json_is_false(json_object_get(job, "enabled"))) {
		snprintf(buf, size, "disabled");
		return;
	}
	snprintf(buf, size, "%s%s%s", jstr(job, "state", "?"),
		 jbool(job, "paused") ? ",paused" : "", jbool(job, "running") ? ",running" : "");
}

/* The member that runs a fleet job, "-" for a local one or one no member has now. */
static const char *owner_text(json_t *job)
{
	return jbool(job, "fleet") ? jstr(job, "owner", "-") : "-";
}

int cmd_list(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	struct table *t;
	json_t *jobs, *job;
	long long now;
	bool fleet = false;
	size_t i;
	int r = command_options(argc, argv, list_help);

	if (r >= 0)
		return r;
	if (optind < argc)
		return usage_error("list", "list: takes no arguments (did you mean 'coctl status %s'?)",
				   argv[optind]);
	r = call(json_pack("{s:s}", "command", "list"), TIMEOUT_MS, &reply);
	if (r != EXIT_OK || opts.json)
		return r != EXIT_OK ? r : reply_status(reply);
	r = reply_status(reply);
	if (r != EXIT_OK)
		return r;
	jobs = json_object_get(reply, "jobs");
	now = jint(reply, "now_ms", 0);
	/* OWNER only with fleet jobs: the table of a daemon alone stays as it was. */
	json_array_foreach(jobs, i, job)
		fleet = fleet || jbool(job, "fleet");
	t = table_new(fleet ? 10 : 9);
	if (!t)
		return EXIT_FAILED;
	table_add(t, (const char *const[]){ "NAME", "TYPE", "SCHEDULE", "STATE", "LAST",
					    "DURATION", "RUNS", "FAILS", "NEXT", "OWNER" });
	json_array_foreach(jobs, i, job) {
		json_t *last = json_object_get(job, "last");
		char state[64], dur[32] = "-", runs[24], fails[24], next[32] = "-";

		state_text(job, state, sizeof state);
		if (json_is_object(last))
			fmt_duration_us((unsigned long long)jint(last, "duration_us", 0), dur,
					sizeof dur);
		snprintf(runs, sizeof runs, "%lld", jint(job, "runs", 0));
		snprintf(fails, sizeof fails, "%lld", jint(job, "failures", 0));
		if (jint(job, "next_ms", 0) && !jbool(job, "paused"))
			fmt_relative(jint(job, "next_ms", 0), now, next, sizeof next);
		table_add(t, (const char *const[]){ jstr(job, "name", "?"), jstr(job, "type", "?"),
						    jstr(job, "schedule", "?"), state,
						    json_is_object(last) ? jstr(last, "result", "?") : "-",
						    dur, runs, fails, next, owner_text(job) });
	}
	table_print(t, stdout, !opts.no_legend);
	table_free(t);
	if (!opts.no_legend)
		printf("\n%zu job%s listed.\n", json_array_size(jobs),
		       json_array_size(jobs) == 1 ? "" : "s");
	return EXIT_OK;
}

/* ---- status ------------------------------------------------------------- */

static const char status_help[] =
	"Usage: coctl status [-o json] [-s PATH] NAME...\n"
	"\n"
	"Show jobs in detail: state, schedule, where each is defined, counters, the\n"
	"last result, and the last 20 results as a row of marks (oldest first) with\n"
	"a sparkline of their durations. Exit 4 if a job does not exist.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static const char *mark(const char *result, bool utf8)
{
	if (strcmp(result, "ok") == 0)
		return utf8 ? "\u2713" : "+";
	if (strcmp(result, "timeout") == 0)
		return utf8 ? "\u231b" : "T";
	return utf8 ? "\u2717" : "x";
}

/* The last results as marks and their durations as a sparkline. */
/* "    Uptime: 99.98% (24h), 99.95% (7d), 99.90% (30d)" and the last outage. */
static void print_uptime(json_t *job, long long now)
{
	json_t *u = json_object_get(job, "uptime"), *o = json_object_get(job, "last_outage");
	static const char *const windows[] = { "24h", "7d", "30d" };
	char a[64], b[64], c[32];

	if (!json_is_object(u))
		return;
	printf("    Uptime: ");
	for (size_t i = 0; i < 3; i++) {
		json_t *v = json_object_get(u, windows[i]);

		/* Truncated, as the status page shows it: 99.996% is not 100%. */
		if (json_is_number(v))
			printf("%s%.2f%% (%s)", i ? ", " : "",
			       (double)(long long)(json_number_value(v) * 10000) / 100, windows[i]);
		else
			printf("%s- (%s)", i ? ", " : "", windows[i]);
	}
	putchar('\n');
	if (!json_is_object(o))
		return;
	printf("    Outage: down %s (%s)", fmt_time(jint(o, "down_ms", 0), a, sizeof a),
	       fmt_relative(jint(o, "down_ms", 0), now, b, sizeof b));
	if (jint(o, "up_ms", 0) > 0)
		printf(", up after %s",
		       fmt_duration_us((unsigned long long)(jint(o, "up_ms", 0) - jint(o, "down_ms", 0)) *
					       1000, c, sizeof c));
	else
		printf(", still down");
	if (json_is_string(json_object_get(o, "error")))
		printf(": %s", jstr(o, "error", ""));
	putchar('\n');
}

/* "    Notify: am, hook (again every 4h); last: down to am, delivered 2m ago". */
static void print_notify(json_t *job, long long now)
{
	json_t *names = json_object_get(job, "notify"), *last = json_object_get(job, "notification");
	json_t *v;
	char a[64], b[64];
	size_t i;

	if (!json_array_size(names) && !json_is_object(last))
		return;
	printf("    Notify: ");
	json_array_foreach(names, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v) ? json_string_value(v) : "?");
	if (!json_array_size(names))
		printf("nobody");
	if (jint(job, "notify_repeat_ms", 0) > 0)
		printf(" (a down again every %s)",
		       config_format_duration((uint64_t)jint(job, "notify_repeat_ms", 0), a, sizeof a));
	if (json_is_object(last) && json_is_string(json_object_get(last, "event"))) {
		printf("; last: %s to %s, %s %s", jstr(last, "event", "?"), jstr(last, "notifier", "?"),
		       jstr(last, "outcome", "?"), fmt_relative(jint(last, "at_ms", 0), now, b, sizeof b));
		if (json_is_string(json_object_get(last, "error")))
			printf(": %s", jstr(last, "error", ""));
	}
	putchar('\n');
}

static void print_history(json_t *hist, bool utf8)
{
	static const char *const bars[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					    "\u2585", "\u2586", "\u2587", "\u2588" };
	static const char ascii[] = "_.-=+*#@";
	long long max = 1, min = -1;
	char a[32], b[32];
	json_t *h;
	size_t i;

	if (json_array_size(hist) == 0)
		return;
	json_array_foreach(hist, i, h) {
		long long d = jint(h, "duration_us", 0);

		max = d > max ? d : max;
		min = min < 0 || d < min ? d : min;
	}
	printf("   History: ");
	json_array_foreach(hist, i, h)
		fputs(mark(jstr(h, "result", "?"), utf8), stdout);
	printf("  (%zu, oldest first)\n Durations: ", json_array_size(hist));
	json_array_foreach(hist, i, h) {
		long long d = jint(h, "duration_us", 0);
		int level = (int)(d * 7 / max);

		if (utf8)
			fputs(bars[level], stdout);
		else
			putchar(ascii[level]);
	}
	printf("  (%s .. %s)\n", fmt_duration_us((unsigned long long)min, a, sizeof a),
	       fmt_duration_us((unsigned long long)max, b, sizeof b));
}

static void print_status(json_t *job, long long now, bool utf8)
{
	json_t *last = json_object_get(job, "last"), *labels = json_object_get(job, "labels"), *v;
	const char *state = jstr(job, "state", "unknown"), *key, *dot;
	char a[64], b[64], c[64];
	size_t shown = 0;

	dot = !utf8 ? "*" : strcmp(state, "up") == 0 ? "\u25cf" :
	      strcmp(state, "down") == 0 ? "\u00d7" : "\u25cb";
	printf("%s %s - %s %s\n", dot, jstr(job, "name", "?"), jstr(job, "type", "?"),
	       jstr(job, "target", ""));
	state_text(job, a, sizeof a);
	printf("     State: %s", a);
	if (jint(job, "state_since_ms", 0) > 0)
		printf(" since %s (%s)", fmt_time(jint(job, "state_since_ms", 0), b, sizeof b),
		       fmt_relative(jint(job, "state_since_ms", 0), now, c, sizeof c));
	printf("\n  Schedule: %s, timeout %s, retries %lld", jstr(job, "schedule", "?"),
	       fmt_duration_us((unsigned long long)jint(job, "timeout_ms", 0) * 1000, a, sizeof a),
	       jint(job, "retries", 0));
	if (jint(job, "next_ms", 0) && !jbool(job, "paused"))
		printf("; next %s", fmt_relative(jint(job, "next_ms", 0), now, b, sizeof b));
	printf("\n    Origin: %s", jstr(job, "origin", "?"));
	if (json_is_string(json_object_get(job, "file")))
		printf(" (%s:%lld)", jstr(job, "file", ""), jint(job, "line", 0));
	putchar('\n');
	if (jbool(job, "fleet") || strcmp(jstr(job, "origin", ""), "fleet") == 0) {
		if (json_is_string(json_object_get(job, "owner")))
			printf("     Fleet: owned by %s\n", jstr(job, "owner", ""));
		else
			printf("     Fleet: owned by no member now (none is live)\n");
	}
	if (jbool(job, "exclusive"))
		printf(" Exclusive: yes\n");
	print_notify(job, now);
	print_uptime(job, now);
	if (json_is_object(last)) {
		printf("      Last: %s in %s, %s", jstr(last, "result", "?"),
		       fmt_duration_us((unsigned long long)jint(last, "duration_us", 0), a, sizeof a),
		       fmt_relative(jint(last, "end_ms", 0), now, b, sizeof b));
		if (json_is_string(json_object_get(last, "error")))
			printf(": %s", jstr(last, "error", ""));
		putchar('\n');
	} else {
		printf("      Last: none yet\n");
	}
	printf("      Runs: %lld (%lld ok, %lld failed, %lld timed out); %lld skipped, "
	       "%lld consecutive failures\n", jint(job, "runs", 0), jint(job, "ok", 0),
	       jint(job, "failed", 0), jint(job, "timeouts", 0), jint(job, "skipped", 0),
	       jint(job, "consecutive_failures", 0));
	print_history(json_object_get(job, "history"), utf8);
	json_object_foreach(labels, key, v)
		printf("%s%s=%s", shown++ ? ", " : "    Labels: ", key, json_string_value(v));
	if (shown)
		putchar('\n');
}

int cmd_status(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	json_t *names, *job;
	size_t i;
	int r = command_options(argc, argv, status_help);

	if (r >= 0)
		return r;
	names = names_from(argc, argv, &r);
	if (!names)
		return r;
	r = call(json_pack("{s:s, s:o}", "command", "status", "names", names), TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	if (!opts.json) {
		json_array_foreach(json_object_get(reply, "jobs"), i, job) {
			if (i)
				putchar('\n');
			print_status(job, jint(reply, "now_ms", 0), utf8_output());
		}
		fflush(stdout);
	}
	return reply_status(reply);
}

/* ---- kill, pause, resume ------------------------------------------------ */

static const char kill_help[] =
	"Usage: coctl kill [--fleet] [-s PATH] NAME...\n"
	"\n"
	"Cancel jobs at once (a run in progress is aborted, its command killed) and\n"
	"remove them. A job added with 'coctl add' is gone for good (its file in the\n"
	"state directory is removed); a job defined in the configuration files comes\n"
	"back at the next reload or restart: remove it from its file to be rid of it.\n"
	"With --fleet the names are fleet jobs (coctl add --fleet): each is removed\n"
	"from the fleet, and whichever member runs it stops it.\n"
	"Exit 4 if a job does not exist (the others are killed).\n"
	"\n"
	"Options:\n"
	"      --fleet        kill fleet jobs, wherever they run\n"
	GLOBAL_OPTIONS_HELP;

static const char pause_help[] =
	"Usage: coctl pause [-s PATH] NAME...\n"
	"\n"
	"Stop running jobs on their schedule (a run in progress finishes). They keep\n"
	"their state; 'coctl resume' schedules them again, 'coctl run' still runs them.\n"
	"Exit 4 if a job does not exist (the others are paused).\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static const char resume_help[] =
	"Usage: coctl resume [-s PATH] NAME...\n"
	"\n"
	"Schedule paused jobs again: each runs at its next tick.\n"
	"Exit 4 if a job does not exist (the others are resumed).\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

/*
 * The options of kill: the global ones, --help and --fleet. Returns -1 to
 * carry on (optind at the names), or an exit code.
 */
static int kill_options(int argc, char **argv, bool *fleet)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "fleet", no_argument, NULL, 'F' },
		GLOBAL_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
		if (c == 'h') {
			fputs(kill_help, stdout);
			return EXIT_OK;
		}
		if (c == 'F') {
			*fleet = true;
			continue;
		}
		r = global_option(argv[0], c, optarg);
		if (r > 0)
			return r;
		if (r < 0)
			return option_error(argv[0], c, argv);
	}
	return -1;
}

/* kill, pause and resume: names in, one line out per job; only kill has --fleet. */
static int act_on_names(int argc, char **argv, const char *help, const char *done_key,
			const char *verb, bool fleet_option)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	json_t *names, *req, *v;
	bool fleet = false;
	size_t i;
	int r = fleet_option ? kill_options(argc, argv, &fleet) : command_options(argc, argv, help);

	if (r >= 0)
		return r;
	names = names_from(argc, argv, &r);
	if (!names)
		return r;
	req = json_pack("{s:s, s:o}", "command", argv[0], "names", names);
	if (req && fleet && json_object_set_new(req, "fleet", json_true()) < 0) {
		json_decref(req);
		req = NULL;
	}
	r = call(req, TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	if (!opts.json) {
		json_array_foreach(json_object_get(reply, done_key), i, v) {
			if (json_is_string(v)) {
				printf("%s %s\n", verb, json_string_value(v));
				continue;
			}
			printf("%s %s", verb, jstr(v, "name", "?"));
			if (strcmp(jstr(v, "origin", ""), "fleet") == 0)
				printf(" (removed from the fleet)");
			else if (strcmp(jstr(v, "origin", ""), "added") == 0)
				printf(" (its file in the state directory is removed)");
			else if (strcmp(jstr(v, "origin", ""), "runtime") == 0)
				printf(" (added with --runtime: gone for good)");
			else if (jbool(v, "returns_on_reload"))
				printf("; it is defined in %s and comes back on reload",
				       jstr(v, "file", "the configuration"));
			putchar('\n');
			if (json_is_string(json_object_get(v, "warning")))
				fprintf(stderr, "coctl: warning: %s: %s\n", jstr(v, "name", "?"),
					jstr(v, "warning", ""));
		}
		fflush(stdout);
	}
	return reply_status(reply);
}

int cmd_kill(int argc, char **argv)
{
	return act_on_names(argc, argv, kill_help, "killed", "killed", true);
}

int cmd_pause(int argc, char **argv)
{
	return act_on_names(argc, argv, pause_help, "paused", "paused", false);
}

int cmd_resume(int argc, char **argv)
{
	return act_on_names(argc, argv, resume_help, "resumed", "resumed", false);
}

/* ---- run ---------------------------------------------------------------- */

static const char run_help[] =
	"Usage: coctl run [-o json] [-s PATH] NAME\n"
	"\n"
	"Run a job now (or join the run in progress), wait for its result and print\n"
	"it. The job then goes back to its schedule. Exit 0 if the run passed, 1 if\n"
	"it failed or timed out, 4 if there is no such job.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

int cmd_run(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	json_t *job, *last;
	char d[32];
	int r = command_options(argc, argv, run_help);

	if (r >= 0)
		return r;
	if (optind + 1 != argc)
		return usage_error("run", "run: give the name of one job");
	r = call(json_pack("{s:s, s:s}", "command", "run", "name", argv[optind]), 0, &reply);
	if (r != EXIT_OK)
		return r;
	r = reply_status(reply);
	if (r != EXIT_OK)
		return r;
	job = json_object_get(reply, "job");
	last = json_object_get(job, "last");
	if (!opts.json) {
		printf("%s: %s in %s", jstr(job, "name", argv[optind]), jstr(reply, "result", "?"),
		       fmt_duration_us((unsigned long long)jint(last, "duration_us", 0), d, sizeof d));
		if (json_is_string(json_object_get(last, "error")))
			printf(": %s", jstr(last, "error", ""));
		putchar('\n');
	}
	return strcmp(jstr(reply, "result", ""), "ok") == 0 ? EXIT_OK : EXIT_FAILED;
}
