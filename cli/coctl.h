/* SPDX-License-Identifier: MIT */
/*
 * coctl.h: what the parts of coctl share: exit codes, the command table's
 * entry type, and the helpers every command uses to report usage errors.
 *
 * Each command is one function `int cmd_NAME(int argc, char **argv)` that
 * receives its own name as argv[0] and its arguments after it, parses its
 * own options, does its work, reports its errors (once, on stderr, saying
 * what to do) and returns one of the exit codes below. coctl.c holds the
 * table and the dispatch; a command with a body of any size lives in its
 * own file (check.c, add.c, fleet.c).
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

/* ---- talking to the daemon (client.c) ------------------------------------ */

#include <jansson.h>
#include <stdbool.h>

#define DEFAULT_SOCKET "/run/coro-runner/control.sock"
#define CONTROL_PROTOCOL 1        /* docs/protocol.md */
#define MAX_REQUEST (1u << 20)    /* the daemon's limit on one request line */

/* Options every daemon command takes, before or after its name. */
struct global_opts {
	const char *socket;   /* -s PATH; else $CORO_RUNNER_SOCKET; else DEFAULT_SOCKET */
	bool json;            /* -o json, --json: the daemon's reply, one line */
	bool pretty;          /* -o json-pretty: the same, indented */
	bool no_legend;       /* --no-legend */
};
extern struct global_opts opts;

/*
 * The long options of struct global_opts, to append to a command's own
 * table (their values are 's', 'o', 'J' and 'L'), and their short ones,
 * to append to its optstring.
 */
#define GLOBAL_LONG_OPTIONS \
	{ "socket", required_argument, NULL, 's' }, \
	{ "output", required_argument, NULL, 'o' }, \
	{ "json", no_argument, NULL, 'J' }, \
	{ "no-legend", no_argument, NULL, 'L' }
#define GLOBAL_SHORT_OPTIONS "s:o:"
#define GLOBAL_OPTIONS_HELP \
	"  -s, --socket PATH  the daemon's control socket (default $CORO_RUNNER_SOCKET,\n" \
	"                     else " DEFAULT_SOCKET ")\n" \
	"  -o, --output FMT   'json' (one line) or 'json-pretty' for scripts, 'table'\n" \
	"                     (the default) for people\n" \
	"      --json         the same as -o json\n" \
	"      --no-legend    no column headers or closing count\n" \
	"  -h, --help         show this help and exit\n"

/*
 * Handles one of the global options getopt_long returned (c); returns 0 if
 * it was one, -1 if c is not a global option, or EXIT_USAGE after
 * reporting a bad value.
 */
int global_option(const char *command, int c, const char *arg);

/*
 * Parses the options of a command that takes only the global ones and
 * --help (the text help). Returns -1 to carry on (optind at the
 * operands), or an exit code.
 */
int command_options(int argc, char **argv, const char *help);

/* For _cleanup_(json_freep) json_t *reply. */
static inline void json_freep(json_t **j)
{
	json_decref(*j);
}

/*
 * Sends req (an object, taken: ctl_call frees it; "version" is added; NULL
 * is reported as a request that could not be made) to the daemon and waits for
 * its reply, at most timeout_ms (0: no limit). On success stores the reply
 * object in *ret and returns EXIT_OK, whatever its "ok" says; otherwise
 * reports why on stderr and returns EXIT_UNREACHABLE (no daemon, no reply)
 * or EXIT_FAILED (a request too big, a reply that is not JSON).
 */
int ctl_call(json_t *req, int timeout_ms, json_t **ret);

/*
 * For a reply with "ok": false: prints "coctl: ERROR" on stderr (and the
 * configuration errors it lists, one per line) and returns the exit code
 * its "code" means (EXIT_NO_JOB for no_such_job, EXIT_FAILED otherwise).
 * Returns EXIT_OK for a reply with "ok": true.
 */
int reply_status(json_t *reply);

/* Prints a reply on stdout: as the daemon sent it, or indented (-o json-pretty). */
void print_json(json_t *reply);

/* ---- formatting (format.c) ---------------------------------------------- */

/* Whether the terminal takes UTF-8 (the locale's codeset). */
bool utf8_output(void);

/* A duration for people: "850us", "12ms", "1.25s", "3m4s", "2h1m", "3d4h". */
char *fmt_duration_us(unsigned long long us, char *buf, size_t size);

/* A wall clock time relative to now, both in ms: "5s ago", "in 3m". */
char *fmt_relative(long long when_ms, long long now_ms, char *buf, size_t size);

/* A wall clock time in local time: "2026-11-26 12:00:01". */
char *fmt_time(long long when_ms, char *buf, size_t size);

/*
 * A table: add rows of ncols strings (copied), then print it with each
 * column as wide as its widest cell (the last one unpadded).
 */
struct table;
struct table *table_new(size_t ncols);
void table_add(struct table *t, const char *const *cells);
void table_print(struct table *t, FILE *out, bool header);
void table_free(struct table *t);

/* JSON getters that tolerate a missing or mistyped member. */
const char *jstr(json_t *o, const char *key, const char *dflt);
long long jint(json_t *o, const char *key, long long dflt);
bool jbool(json_t *o, const char *key);

/* Levenshtein distance of two short words, capped at 3 (enough to suggest). */
unsigned edit_distance(const char *a, const char *b);

/* The commands. */
int cmd_check(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_add(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_notify(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_events(int argc, char **argv);

#endif
