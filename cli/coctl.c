/* SPDX-License-Identifier: MIT */
/*
 * coctl.c: coro-runner's command-line tool: global options, the command
 * table and the dispatch. The commands themselves are in their own files.
 *
 * `check` works offline; the others talk to the daemon over its control
 * socket (shared/SPEC.md section 5, docs/protocol.md): client.c. The global
 * options (-s, -o, --json, --no-legend) may come before the command or
 * after it.
 */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/coctl.h"

#ifndef CORO_VERSION
#error "build with -DCORO_VERSION='\"x.y.z\"', as the Makefile does"
#endif

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "list",   "list jobs with their state",                            cmd_list },
	{ "status", "show jobs in detail, with their recent history",        cmd_status },
	{ "add",    "add jobs at run time",                                  cmd_add },
	{ "kill",   "cancel and remove jobs",                                cmd_kill },
	{ "pause",  "stop scheduling jobs",                                  cmd_pause },
	{ "resume", "schedule paused jobs again",                            cmd_resume },
	{ "run",    "run a job now and wait for its result",                 cmd_run },
	{ "reload", "make the daemon re-read its configuration",             cmd_reload },
	{ "check",  "validate configuration files, offline (like nginx -t)", cmd_check },
	{ "stats",  "show the daemon's figures",                             cmd_stats },
	{ "fleet",  "show the fleet: its members, its jobs, who runs each",  cmd_fleet },
	{ "notify", "list the notifiers, or send a test event through one",  cmd_notify },
	{ "history", "show a job's past results from the daemon's history",   cmd_history },
	{ "events", "show outages: when jobs went down and came back",       cmd_events },
	{ "help",   "show this help, or a command's",                        cmd_help },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[32], prev, tmp;

	if (la >= 32 || lb >= 32)
		return 3;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb] < 3 ? row[lb] : 3;
}

/* The command closest to a misspelt name, or NULL if none is close. */
static const char *suggest_command(const char *name)
{
	const char *best = NULL;
	/* Short words are close to too many others: allow one edit there. */
	unsigned best_distance = strlen(name) <= 4 ? 2 : 3;

	for (size_t i = 0; i < NCOMMANDS; i++) {
		unsigned d = edit_distance(name, commands[i].name);

		if (d < best_distance) {
			best = commands[i].name;
			best_distance = d;
		}
	}
	return best;
}

static int unknown_command(const char *context, const char *name)
{
	const char *suggestion = suggest_command(name);

	if (suggestion)
		return usage_error(NULL, "%sunknown command '%s' (did you mean '%s'?)", context,
				   name, suggestion);
	return usage_error(NULL, "%sunknown command '%s'", context, name);
}

int usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;

	fputs("coctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (command)
		fprintf(stderr, "\nTry 'coctl %s --help' for more information.\n", command);
	else
		fputs("\nTry 'coctl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/*
 * Whether getopt stopped inside a group of short options ("-qx"): it then
 * leaves optind on that word instead of past it.
 */
static bool inside_short_group(char **argv)
{
	const char *w = argv[optind];

	return w && w[0] == '-' && w[1] && w[1] != '-' && optopt && strchr(w + 1, optopt);
}

int option_error(const char *command, int ret, char **argv)
{
	/* Usually getopt_long leaves optind past the word it refused. */
	const char *word = inside_short_group(argv) ? argv[optind] : argv[optind - 1];
	const char *prefix = command ? command : "";
	const char *colon = command ? ": " : "";
	char shortopt[3] = { '-', (char)optopt, '\0' };
	int len;

	if (strncmp(word, "--", 2) == 0) {
		len = (int)strcspn(word, "=");  /* --name=value: the name */
		/* A known long option given a value it does not take. */
		if (ret == '?' && optopt)
			return usage_error(command, "%s%soption '%.*s' takes no argument", prefix,
					   colon, len, word);
	} else {
		word = shortopt;
		len = 2;
	}
	if (ret == ':')
		return usage_error(command, "%s%soption '%.*s' needs an argument", prefix, colon,
				   len, word);
	return usage_error(command, "%s%sunknown option '%.*s'", prefix, colon, len, word);
}

static void print_help(FILE *out)
{
	fputs("Usage: coctl [OPTIONS] COMMAND [ARGS...]\n"
	      "\n"
	      "Control coro-runner, the job runner. Commands:\n", out);
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].run)
			fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "Options (before or after the command):\n"
	      GLOBAL_OPTIONS_HELP
	      "      --version      show the version and exit\n"
	      "\n"
	      "'coctl COMMAND --help' describes a command.\n"
	      "Exit status: 0 success, 1 command failed, 2 usage error,\n"
	      "3 daemon not reachable, 4 no such job. See coctl(1).\n", out);
}

/* `coctl help [COMMAND]`: coctl's help, or COMMAND's (as COMMAND --help). */
static int cmd_help(int argc, char **argv)
{
	const struct command *cmd;
	char *help_argv[] = { NULL, "--help", NULL };

	if (argc > 2)
		return usage_error("help", "help: too many arguments: give one command");
	if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		print_help(stdout);
		return EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return unknown_command("help: ", argv[1]);
	help_argv[0] = (char *)cmd->name;
	optind = 0;
	return cmd->run(2, help_argv);
}

/* Reports a failed write to stdout (a full disk, a closed pipe) once. */
static int finish_stdout(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "coctl: cannot write the output: %s\n", strerror(errno));
		return status == EXIT_OK ? EXIT_FAILED : status;
	}
	return status;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help",    no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		GLOBAL_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd;
	int c, r;

	setlocale(LC_ALL, "");

	/* "+": stop at the command; its options are its own. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_help(stdout);
			return finish_stdout(EXIT_OK);
		case 'V':
			printf("coctl %s\n", CORO_VERSION);
			return finish_stdout(EXIT_OK);
		default:
			r = global_option(NULL, c, optarg);
			if (r > 0)
				return r;
			if (r < 0)
				return option_error(NULL, c, argv);
		}
	}
	if (optind >= argc)
		return usage_error(NULL, "no command given");

	cmd = find_command(argv[optind]);
	if (!cmd)
		return unknown_command("", argv[optind]);

	/* The command parses argv from its own name on, with a fresh getopt. */
	argc -= optind;
	argv += optind;
	optind = 0;
	return finish_stdout(cmd->run(argc, argv));
}
