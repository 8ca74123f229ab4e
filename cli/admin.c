/* SPDX-License-Identifier: MIT */
/*
 * admin.c: the commands about the daemon itself: reload and stats.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli/coctl.h"

/* Only the global options and --help, no operands; -1 to carry on, else an exit code. */
static int parse_options(int argc, char **argv, const char *help)
{
	int r = command_options(argc, argv, help);

	if (r == -1 && optind < argc)
		return usage_error(argv[0], "%s: takes no arguments", argv[0]);
	return r;
}

static const char reload_help[] =
	"Usage: coctl reload [-o json] [-s PATH]\n"
	"\n"
	"Make the daemon re-read its configuration files (as SIGHUP does). Jobs that\n"
	"did not change keep their state and schedule; changed ones start over, removed\n"
	"ones stop, new ones start. If the files have any error nothing changes: the\n"
	"errors are printed, one per line as FILE:LINE:COLUMN: message, and coctl\n"
	"exits 1. 'coctl check' finds the same errors without the daemon.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

int cmd_reload(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	int r = parse_options(argc, argv, reload_help);

	if (r >= 0)
		return r;
	r = ctl_call(json_pack("{s:s}", "command", "reload"), 0, &reply);
	if (r != EXIT_OK)
		return r;
	if (opts.json)
		print_json(reply);
	r = reply_status(reply);
	if (r == EXIT_OK && !opts.json)
		printf("coctl: reloaded: %lld jobs\n", jint(reply, "jobs", 0));
	return r;
}

static const char stats_help[] =
	"Usage: coctl stats [-o json] [-s PATH]\n"
	"\n"
	"Show the daemon's figures: uptime, jobs (running, paused, down), runs and\n"
	"failures, coroutines, shared stacks and the bytes of stacks saved on the heap,\n"
	"context switches, event-loop lag, resident memory, control clients; and in a\n"
	"fleet, the member's state, its etcd endpoint and lease, members and jobs.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static void bytes(unsigned long long n, char *buf, size_t size)
{
	if (n >= 1ull << 30)
		snprintf(buf, size, "%.1f GiB", (double)n / (1 << 30));
	else if (n >= 1ull << 20)
		snprintf(buf, size, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 1ull << 10)
		snprintf(buf, size, "%.1f KiB", (double)n / (1 << 10));
	else
		snprintf(buf, size, "%llu B", n);
}

/*
 * The "fleet" object of a member's stats, lined up with the rest: its
 * state, then etcd, then the counts.
 */
static void print_fleet(json_t *f)
{
	struct timespec ts;
	long long last = jint(f, "last_renewal_ms", 0), now;
	char a[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	printf("Fleet:      member %s, %s\n", jstr(f, "member", "?"), jstr(f, "state", "?"));
	printf("            etcd %s %s, lease %s (renewed %s), watch at revision %lld\n",
	       jstr(f, "endpoint", "-"), jbool(f, "etcd_up") ? "up" : "DOWN",
	       jstr(f, "lease_id", "-"), last > 0 ? fmt_relative(last, now, a, sizeof a) : "never",
	       jint(f, "watch_revision", 0));
	printf("            %lld members, %lld jobs (%lld run here), %lld moves, %lld renewals\n",
	       jint(f, "members", 0), jint(f, "jobs", 0), jint(f, "jobs_owned", 0),
	       jint(f, "moves", 0), jint(f, "renewals", 0));
}

int cmd_stats(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *r_ = NULL;
	char a[64], b[64], c[64];
	json_t *s;
	int r = parse_options(argc, argv, stats_help);

	if (r >= 0)
		return r;
	r = ctl_call(json_pack("{s:s}", "command", "stats"), 60000, &r_);
	if (r != EXIT_OK)
		return r;
	s = r_;
	if (opts.json)
		print_json(s);
	r = reply_status(s);
	if (r != EXIT_OK || opts.json)
		return r;
	printf("Daemon:     coro-runnerd %s, pid %lld, up %s (since %s)\n",
	       jstr(s, "daemon_version", "?"), jint(s, "pid", 0),
	       fmt_duration_us((unsigned long long)jint(s, "uptime_ms", 0) / 1000 * 1000000, a,
			       sizeof a),
	       fmt_time(jint(s, "start_ms", 0), b, sizeof b));
	printf("Jobs:       %lld (%lld running, %lld paused, %lld down)\n", jint(s, "jobs", 0),
	       jint(s, "jobs_running", 0), jint(s, "jobs_paused", 0), jint(s, "jobs_down", 0));
	printf("Runs:       %lld (%lld failed, %lld ticks skipped)\n", jint(s, "runs", 0),
	       jint(s, "failures", 0), jint(s, "skipped", 0));
	bytes((unsigned long long)jint(s, "saved_stack_bytes", 0), a, sizeof a);
	printf("Coroutines: %lld on %lld shared stacks, %s of stacks saved\n",
	       jint(s, "coroutines", 0), jint(s, "sharestacks", 0), a);
	printf("Switches:   %lld\n", jint(s, "switches", 0));
	printf("Loop lag:   p99 %s, max %s (last 10 s)\n",
	       fmt_duration_us((unsigned long long)jint(s, "loop_lag_p99_us", 0), a, sizeof a),
	       fmt_duration_us((unsigned long long)jint(s, "loop_lag_max_us", 0), b, sizeof b));
	bytes((unsigned long long)jint(s, "rss_bytes", 0), c, sizeof c);
	printf("Memory:     %s resident\n", c);
	printf("Reloads:    %lld ok, %lld failed%s\n", jint(s, "reloads_ok", 0),
	       jint(s, "reloads_failed", 0), jbool(s, "last_reload_ok") ? "" : " (the last failed)");
	printf("Clients:    %lld connected, %lld requests served\n", jint(s, "clients", 0),
	       jint(s, "requests", 0));
	if (json_is_object(json_object_get(s, "fleet")))
		print_fleet(json_object_get(s, "fleet"));
	return EXIT_OK;
}
