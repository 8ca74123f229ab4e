/* SPDX-License-Identifier: MIT */
/*
 * history.c: `coctl history NAME` (a job's results from the daemon's
 * history, newest first) and `coctl events [NAME]` (outages: when a job
 * went down, when it came back, how long, why). The `history` and
 * `events` commands of docs/protocol.md.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/coctl.h"
#include "config/config.h"

#define TIMEOUT_MS 60000

static const char history_help[] =
	"Usage: coctl history [--since WHEN] [--until WHEN] [--failed] [-n N] [-o json] NAME\n"
	"\n"
	"The results of job NAME that the daemon's history keeps (its last raw_results,\n"
	"coro-runner.yaml(5)), newest first: TIME RESULT DURATION ERROR.\n"
	"\n"
	"  --since WHEN   only results from then on: a duration back from now (24h, 7d)\n"
	"                 or a local time (2026-12-07, '2026-12-07 18:30')\n"
	"  --until WHEN   only results up to then\n"
	"  --failed       only the runs that did not pass\n"
	"  -n, --limit N  at most N results (default 100)\n"
	"\n"
	"Exit 4 if the history knows no job NAME, 1 if the daemon keeps no history.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static const char events_help[] =
	"Usage: coctl events [--since WHEN] [-n N] [-o json] [NAME]\n"
	"\n"
	"Outages from the daemon's history, newest first: JOB DOWN UP FOR ERROR (UP is\n"
	"'-' while it lasts), of job NAME or of every job.\n"
	"\n"
	"  --since WHEN   only outages that began from then on: a duration back from now\n"
	"                 (7d) or a local time (2026-12-07); default 7d\n"
	"  -n, --limit N  at most N transitions read (default 1000)\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* WHEN: a duration back from now, or a local date and time. -1 if neither. */
static long long parse_when(const char *s)
{
	static const char *const formats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
					       "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M" };
	uint64_t ms;

	if (config_parse_duration(s, &ms) == 0)
		return now_ms() - (long long)ms;
	for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
		struct tm tm = { 0 };
		const char *end = strptime(s, formats[i], &tm);

		if (end && !*end) {
			tm.tm_isdst = -1;
			return (long long)mktime(&tm) * 1000;
		}
	}
	return -1;
}

struct hist_opts {
	long long since, until, limit;
	bool failed;
};

/* The options of history and events. -1 to go on, or an exit code. */
static int parse(int argc, char **argv, const char *help, bool events, struct hist_opts *o)
{
	static const struct option options[] = {
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "failed", no_argument, NULL, 'F' },
		{ "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		GLOBAL_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hn:" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(help, stdout);
			return EXIT_OK;
		case 'S':
		case 'U':
			if (parse_when(optarg) < 0)
				return usage_error(argv[0], "%s: --%s: '%s' is neither a duration (24h, 7d) "
						   "nor a date (2026-12-07 18:30)", argv[0],
						   c == 'S' ? "since" : "until", optarg);
			*(c == 'S' ? &o->since : &o->until) = parse_when(optarg);
			break;
		case 'F':
			if (events)
				return option_error(argv[0], '?', argv);
			o->failed = true;
			break;
		case 'n':
			o->limit = strtoll(optarg, &end, 10);
			if (*end || o->limit < 1 || o->limit > 100000)
				return usage_error(argv[0], "%s: --limit: a number from 1 to 100000, not "
						   "'%s'", argv[0], optarg);
			break;
		default:
			r = global_option(argv[0], c, optarg);
			if (r > 0)
				return r;
			if (r < 0)
				return option_error(argv[0], c, argv);
		}
	}
	return -1;
}

int cmd_history(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	struct hist_opts o = { .limit = 100 };
	json_t *req, *v;
	struct table *t;
	size_t i;
	int r = parse(argc, argv, history_help, false, &o);

	if (r >= 0)
		return r;
	if (optind + 1 != argc)
		return usage_error("history", "history: give one job's name");
	req = json_pack("{s:s, s:s, s:I, s:b, s:I}", "command", "history", "name", argv[optind],
			"since_ms", (json_int_t)(o.since > 0 ? o.since : 0), "failed", o.failed,
			"limit", (json_int_t)o.limit);
	if (req && o.until > 0)
		json_object_set_new(req, "until_ms", json_integer(o.until));
	r = ctl_call(req, TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	if (opts.json) {
		print_json(reply);
		return reply_status(reply);
	}
	if ((r = reply_status(reply)) != EXIT_OK)
		return r;
	if (!(t = table_new(4)))
		return EXIT_FAILED;
	table_add(t, (const char *const[]){ "TIME", "RESULT", "DURATION", "ERROR" });
	json_array_foreach(json_object_get(reply, "results"), i, v) {
		char when[64], dur[32];

		fmt_time(jint(v, "end_ms", 0), when, sizeof when);
		fmt_duration_us((unsigned long long)jint(v, "duration_us", 0), dur, sizeof dur);
		table_add(t, (const char *const[]){ when, jstr(v, "result", "?"), dur,
						    jstr(v, "error", "") });
	}
	table_print(t, stdout, !opts.no_legend);
	table_free(t);
	if (!opts.no_legend)
		printf("\n%zu result%s.\n", json_array_size(json_object_get(reply, "results")),
		       json_array_size(json_object_get(reply, "results")) == 1 ? "" : "s");
	return EXIT_OK;
}

int cmd_events(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	struct hist_opts o = { .limit = 1000 };
	json_t *req, *v, *events;
	struct table *t;
	size_t i, n, outages = 0;
	int r = parse(argc, argv, events_help, true, &o);

	if (r >= 0)
		return r;
	if (optind + 1 < argc)
		return usage_error("events", "events: give at most one job's name");
	if (o.since <= 0)
		o.since = now_ms() - 7LL * 86400000;
	req = json_pack("{s:s, s:I, s:I}", "command", "events", "since_ms", (json_int_t)o.since,
			"limit", (json_int_t)o.limit);
	if (req && optind < argc)
		json_object_set_new(req, "name", json_string(argv[optind]));
	r = ctl_call(req, TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	if (opts.json) {
		print_json(reply);
		return reply_status(reply);
	}
	if ((r = reply_status(reply)) != EXIT_OK)
		return r;
	if (!(t = table_new(5)))
		return EXIT_FAILED;
	table_add(t, (const char *const[]){ "JOB", "DOWN", "UP", "FOR", "ERROR" });
	/*
	 * Transitions come newest first; an outage is a down and the up that
	 * ended it (the up says how long it was down).
	 */
	events = json_object_get(reply, "events");
	n = json_array_size(events);
	for (i = 0; i < n; i++) {
		char down[64] = "?", up[64] = "-", dur[32] = "-";
		const char *err = "";
		long long up_ms = 0, down_ms;

		v = json_array_get(events, i);
		if (strcmp(jstr(v, "state", ""), "up") == 0) {
			up_ms = jint(v, "at_ms", 0);
			fmt_time(up_ms, up, sizeof up);
			if (jint(v, "down_ms", 0) > 0)
				fmt_duration_us((unsigned long long)jint(v, "down_ms", 0) * 1000, dur,
						sizeof dur);
			/* Its down is the next older transition of the same job, if read. */
			for (size_t k = i + 1; k < n; k++) {
				json_t *d = json_array_get(events, k);

				if (strcmp(jstr(d, "name", ""), jstr(v, "name", "")) != 0)
					continue;
				if (strcmp(jstr(d, "state", ""), "down") == 0) {
					fmt_time(jint(d, "at_ms", 0), down, sizeof down);
					err = jstr(d, "error", "");
				}
				break;
			}
			if (!strcmp(down, "?") && jint(v, "down_ms", 0) > 0)
				fmt_time(up_ms - jint(v, "down_ms", 0), down, sizeof down);
		} else {
			bool ended = false;

			/* A down already shown with its up is skipped. */
			for (size_t k = i; k-- > 0;) {
				json_t *u = json_array_get(events, k);

				if (strcmp(jstr(u, "name", ""), jstr(v, "name", "")) == 0) {
					ended = strcmp(jstr(u, "state", ""), "up") == 0;
					break;
				}
			}
			if (ended)
				continue;
			down_ms = jint(v, "at_ms", 0);
			fmt_time(down_ms, down, sizeof down);
			fmt_duration_us((unsigned long long)(now_ms() - down_ms) * 1000, dur, sizeof dur);
			snprintf(up, sizeof up, "- (lasts)");
			err = jstr(v, "error", "");
		}
		table_add(t, (const char *const[]){ jstr(v, "name", "?"), down, up, dur, err });
		outages++;
	}
	table_print(t, stdout, !opts.no_legend);
	table_free(t);
	if (!opts.no_legend)
		printf("\n%zu outage%s.\n", outages, outages == 1 ? "" : "s");
	return EXIT_OK;
}
