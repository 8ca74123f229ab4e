/* SPDX-License-Identifier: MIT */
/*
 * fleet.c: `coctl fleet members|list|where NAME...`: what the daemon's
 * fleet (its etcd) says about the fleet as a whole: its live members, its
 * shared jobs and which member runs each. One request, the `fleet`
 * command of docs/protocol.md, with "what" saying which view.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli/coctl.h"

#define TIMEOUT_MS 60000

static const char fleet_help[] =
	"Usage: coctl fleet members [-o json] [--no-legend] [-s PATH]\n"
	"       coctl fleet list [-o json] [--no-legend] [-s PATH]\n"
	"       coctl fleet where [-o json] [-s PATH] NAME...\n"
	"\n"
	"Ask the daemon about its fleet: the daemons that share fleet jobs through\n"
	"etcd (the fleet: section of coro-runner.yaml(5); jobs added with\n"
	"'coctl add --fleet').\n"
	"\n"
	"  members  the live members: MEMBER SINCE JOBS TTL VERSION; '*' marks the\n"
	"           daemon asked, JOBS counts the fleet jobs each runs, TTL the\n"
	"           seconds left on its lease\n"
	"  list     the fleet's jobs: NAME TYPE OWNER STATE SCHEDULE; OWNER is the\n"
	"           member that runs it ('-': none now), ', exclusive' marks a job\n"
	"           that never runs on two members at once\n"
	"  where    the member that runs each named job: 'NAME MEMBER' lines\n"
	"\n"
	"Exit 1 if the daemon is not in a fleet, 4 if a named job is not a fleet job.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static const char *const whats[] = { "members", "list", "where" };
#define NWHATS (sizeof whats / sizeof *whats)

static long long wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_members(json_t *reply)
{
	json_t *members = json_object_get(reply, "members"), *m;
	/* The daemon runs on this host: its clock is ours, unless it says otherwise. */
	long long now = jint(reply, "now_ms", wall_ms());
	struct table *t = table_new(5);
	size_t i;

	if (!t)
		return;
	table_add(t, (const char *const[]){ "MEMBER", "SINCE", "JOBS", "TTL", "VERSION" });
	json_array_foreach(members, i, m) {
		char name[96], since[32] = "-", jobs[24], ttl[24] = "-";

		snprintf(name, sizeof name, "%s%s", jstr(m, "member", "?"), jbool(m, "self") ? "*" : "");
		if (jint(m, "since_ms", 0) > 0)
			fmt_relative(jint(m, "since_ms", 0), now, since, sizeof since);
		snprintf(jobs, sizeof jobs, "%lld", jint(m, "jobs", 0));
		if (json_is_integer(json_object_get(m, "ttl_left_s")))
			snprintf(ttl, sizeof ttl, "%llds", jint(m, "ttl_left_s", 0));
		table_add(t, (const char *const[]){ name, since, jobs, ttl, jstr(m, "version", "?") });
	}
	table_print(t, stdout, !opts.no_legend);
	table_free(t);
	if (!opts.no_legend)
		printf("\n%zu member%s (* this daemon, %s).\n", json_array_size(members),
		       json_array_size(members) == 1 ? "" : "s", jstr(reply, "member", "?"));
}

static void print_jobs(json_t *reply)
{
	json_t *jobs = json_object_get(reply, "jobs"), *j;
	struct table *t = table_new(5);
	size_t i;

	if (!t)
		return;
	table_add(t, (const char *const[]){ "NAME", "TYPE", "OWNER", "STATE", "SCHEDULE" });
	json_array_foreach(jobs, i, j) {
		char sched[128];

		snprintf(sched, sizeof sched, "%s%s", jstr(j, "schedule", "?"),
			 jbool(j, "exclusive") ? ", exclusive" : "");
		table_add(t, (const char *const[]){ jstr(j, "name", "?"), jstr(j, "type", "?"),
						    jstr(j, "owner", "-"), jstr(j, "state", "unknown"),
						    sched });
	}
	table_print(t, stdout, !opts.no_legend);
	table_free(t);
	if (!opts.no_legend)
		printf("\n%zu fleet job%s.\n", json_array_size(jobs),
		       json_array_size(jobs) == 1 ? "" : "s");
}

/* The subcommand word, or a usage error: unknown, with a suggestion if one is close. */
static int which(const char *word)
{
	const char *best = NULL;
	unsigned best_d = 3;

	for (size_t i = 0; i < NWHATS; i++) {
		unsigned d = edit_distance(word, whats[i]);

		if (d == 0)
			return (int)i;
		if (d < best_d) {
			best_d = d;
			best = whats[i];
		}
	}
	if (best)
		return -usage_error("fleet", "fleet: unknown subcommand '%s' (did you mean '%s'?)",
				    word, best);
	return -usage_error("fleet", "fleet: unknown subcommand '%s' (members, list or where)", word);
}

int cmd_fleet(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	json_t *req, *names, *j;
	const char *what;
	size_t i;
	int r = command_options(argc, argv, fleet_help), w;

	if (r >= 0)
		return r;
	if (optind >= argc)
		return usage_error("fleet", "fleet: give a subcommand: members, list or where");
	w = which(argv[optind]);
	if (w < 0)
		return -w;
	what = whats[w];
	optind++;
	if (strcmp(what, "where") == 0) {
		if (optind >= argc)
			return usage_error("fleet", "fleet where: give the names of one or more jobs");
		names = json_array();
		for (int a = optind; a < argc; a++)
			json_array_append_new(names, json_string(argv[a]));
		req = json_pack("{s:s, s:s, s:o}", "command", "fleet", "what", what, "names", names);
	} else {
		if (optind < argc)
			return usage_error("fleet", "fleet %s: takes no arguments ('%s')", what,
					   argv[optind]);
		req = json_pack("{s:s, s:s}", "command", "fleet", "what", what);
	}
	r = ctl_call(req, TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	if (opts.json) {
		print_json(reply);
		return reply_status(reply);
	}
	if (strcmp(what, "where") == 0) {
		/* The names found, even when some are missing (exit 4 then, as status). */
		json_array_foreach(json_object_get(reply, "jobs"), i, j)
			printf("%s %s\n", jstr(j, "name", "?"), jstr(j, "owner", "-"));
		fflush(stdout);
		return reply_status(reply);
	}
	r = reply_status(reply);
	if (r != EXIT_OK)
		return r;
	if (w == 0)
		print_members(reply);
	else
		print_jobs(reply);
	return EXIT_OK;
}
