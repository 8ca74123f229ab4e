/*
 * coctl.h: what the parts of coctl share: exit codes, the command table's
 * entry type, and the helpers every command uses to report usage errors.
 *
 * Each command is one function `int cmd_NAME(int argc, char **argv)` that
 * receives its own name as argv[0] and its arguments after it, parses its
 * own options, does its work, reports its errors (once, on stderr, saying
 * what to do) and returns one of the exit codes below. coctl.c holds the
 * table and the dispatch; a command with a body of any size lives in its
 * own file (check.c).
 */
#ifndef CORO_COCTL_H
#define CORO_COCTL_H

#include <stdio.h>
#include <stdlib.h>

/* Exit codes, documented in coctl(1) and kept stable for scripts. */
enum {
	EXIT_OK = 0,          /* the command did what was asked */
	EXIT_FAILED = 1,      /* it could not (e.g. the configuration is invalid) */
	EXIT_USAGE = 2,       /* unknown command or option, bad arguments */
	EXIT_UNREACHABLE = 3, /* the daemon's control socket did not answer */
	EXIT_NO_JOB = 4,      /* a job named on the command line does not exist */
};

/* Frees *p at the end of the scope; see STYLE.md (habit 4). */
#define _cleanup_(fn) __attribute__((cleanup(fn)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

struct command {
	const char *name;
	const char *summary;  /* one line, for `coctl --help` */
	/* NULL: the command is part of the interface but not in this version. */
	int (*run)(int argc, char **argv);
};

/*
 * Prints "coctl: MESSAGE" and a hint to COMMAND's --help (or coctl's, for
 * a NULL command) on stderr; returns EXIT_USAGE for the caller to return.
 */
int usage_error(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Reports the option getopt_long() just refused (unknown, or missing its
 * argument) as a usage error. optstring must start with "+:" or ":" so that
 * getopt returns ':' for a missing argument and prints nothing itself.
 */
int option_error(const char *command, int ret, char **argv);

/* The commands. */
int cmd_check(int argc, char **argv);

#endif
