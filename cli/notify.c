/* SPDX-License-Identifier: MIT */
/*
 * notify.c: `coctl notify list` (the daemon's notifiers and their figures)
 * and `coctl notify test NAME` (a test event through one notifier; exit 0
 * only once it was delivered). The `notifiers` and `notify-test` commands
 * of docs/protocol.md.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>
#include <time.h>

#include "cli/coctl.h"

#define LIST_TIMEOUT_MS 30000
#define TEST_TIMEOUT_MS 330000 /* a notifier's timeout is at most 5 minutes */

static const char notify_help[] =
	"Usage: coctl notify list [-o json] [--no-legend] [-s PATH]\n"
	"       coctl notify test [-o json] [-s PATH] NOTIFIER\n"
	"\n"
	"The daemon's notifiers (the notifiers: section of coro-runner.yaml(5)): where\n"
	"the up and down events of jobs go.\n"
	"\n"
	"  list  each notifier: NAME TYPE DELIVERED FAILED DROPPED QUEUED LAST-ERROR;\n"
	"        FAILED counts failed attempts, DROPPED events lost to a full queue\n"
	"  test  send a test event through NOTIFIER now and wait for the outcome:\n"
	"        exit 0 once it was delivered, 1 with the reason if it was not.\n"
	"        Alertmanager gets a CoroRunnerNotificationTest alert that ends by\n"
	"        itself a minute later. Needs the rights of a change.\n"
	"\n"
	"Exit 4 if there is no such notifier.\n"
	"\n"
	"Options:\n" GLOBAL_OPTIONS_HELP;

static void print_list(json_t *reply)
{
	json_t *v = json_object_get(reply, "notifiers"), *n;
	struct table *t = table_new(7);
	size_t i;

	if (!t)
		return;
	table_add(t, (const char *const[]){ "NAME", "TYPE", "DELIVERED", "FAILED", "DROPPED",
					    "QUEUED", "LAST-ERROR" });
	json_array_foreach(v, i, n) {
		char d[24], f[24], dr[24], q[24];

		snprintf(d, sizeof d, "%lld", jint(n, "delivered", 0));
		snprintf(f, sizeof f, "%lld", jint(n, "failed", 0));
		snprintf(dr, sizeof dr, "%lld", jint(n, "dropped", 0));
		snprintf(q, sizeof q, "%lld", jint(n, "queued", 0));
		table_add(t, (const char *const[]){ jstr(n, "name", "?"), jstr(n, "type", "?"), d, f,
						    dr, q, jstr(n, "last_error", "-") });
	}
	table_print(t, stdout, !opts.no_legend);
	table_free(t);
	if (!opts.no_legend)
		printf("\n%zu notifier%s.\n", json_array_size(v), json_array_size(v) == 1 ? "" : "s");
}

int cmd_notify(int argc, char **argv)
{
	_cleanup_(json_freep) json_t *reply = NULL;
	json_t *req;
	const char *what;
	bool test;
	int r = command_options(argc, argv, notify_help);

	if (r >= 0)
		return r;
	if (optind >= argc)
		return usage_error("notify", "notify: give a subcommand: list or test");
	what = argv[optind++];
	if (strcmp(what, "list") != 0 && strcmp(what, "test") != 0) {
		unsigned dl = edit_distance(what, "list"), dt = edit_distance(what, "test");

		if (dl < 3 || dt < 3)
			return usage_error("notify", "notify: unknown subcommand '%s' (did you mean "
					   "'%s'?)", what, dl <= dt ? "list" : "test");
		return usage_error("notify", "notify: unknown subcommand '%s' (list or test)", what);
	}
	test = what[0] == 't';
	if (test && optind + 1 != argc)
		return usage_error("notify", "notify test: give one notifier's name");
	if (!test && optind < argc)
		return usage_error("notify", "notify list: takes no arguments ('%s')", argv[optind]);
	if (test)
		req = json_pack("{s:s, s:s}", "command", "notify-test", "name", argv[optind]);
	else
		req = json_pack("{s:s}", "command", "notifiers");
	r = ctl_call(req, test ? TEST_TIMEOUT_MS : LIST_TIMEOUT_MS, &reply);
	if (r != EXIT_OK)
		return r;
	if (opts.json) {
		print_json(reply);
		return reply_status(reply);
	}
	r = reply_status(reply);
	if (r != EXIT_OK)
		return r;
	if (test)
		printf("test event delivered through %s\n", argv[optind]);
	else
		print_list(reply);
	return EXIT_OK;
}
