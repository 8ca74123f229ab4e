/* SPDX-License-Identifier: MIT */
/*
 * config.h: coro-runner's job definitions, read from YAML (libyaml) and
 * validated before anything runs. The daemon and `coctl check` both use it.
 *
 * Files: a main file, then the drop-in directories in the order given,
 * each one's *.yaml files in lexical (byte) order. The main file's
 * `defaults` apply to every job; a drop-in's own `defaults` apply on top
 * of them to the jobs of that file. A job name defined twice, in one file
 * or across files, is an error naming both places.
 *
 * Errors: every error of every file is collected, not only the first,
 * each with file, line and column ("jobs.yaml:12:5: job \"web\": unknown
 * key \"timeot\" (did you mean \"timeout\"?)"). Nothing is half-loaded:
 * on any error the caller gets no configuration.
 *
 * Hostile input is refused with bounded cost: files over
 * CFG_MAX_FILE_BYTES, nesting deeper than CFG_MAX_DEPTH, anchors and
 * aliases (an alias bomb expands exponentially; `defaults` covers what
 * anchors are used for), invalid UTF-8, NUL bytes and binary garbage.
 *
 * The library does not log and does not exit; strings in the structures
 * below are owned by the struct config and freed by config_free.
 */
#ifndef CORO_CONFIG_H
#define CORO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CFG_MAX_FILE_BYTES (256u << 20) /* one file, 256 MiB */
#define CFG_MAX_DEPTH 32                /* nested mappings and sequences */
#define CFG_MAX_ERRORS 1000             /* more are counted, not kept */
#define CFG_NAME_MAX 64                 /* job names: [A-Za-z0-9_.-]{1,64} */

enum job_type {
	JOB_HTTP,
	JOB_TCP,
	JOB_DNS,
	JOB_EXEC,
};

/* A key and a value, in the order the file gives them. */
struct cfg_pair {
	char *key;
	char *value;
};

/* Where something was defined: 1-based line and column. */
struct cfg_where {
	const char *file; /* the path as given; owned by the struct config */
	unsigned line;
	unsigned column;
};

struct job_http {
	char *url;             /* http:// or https://, with a host */
	char *method;          /* GET (default), HEAD, POST, PUT, PATCH, DELETE, OPTIONS */
	struct cfg_pair *headers;
	size_t nheaders;
	char *body;            /* request body, or NULL */
	int *expect_status;    /* accepted status codes; default: 200-299 (nexpect_status 0) */
	size_t nexpect_status;
	char *expect_body;     /* substring the body must contain, or NULL */
	char *expect_body_regex; /* POSIX extended regex the body must match, or NULL */
	bool tls_verify;       /* default true */
	bool follow_redirects; /* default false */
};

struct job_tcp {
	char *host;            /* name or address (IPv6 without brackets) */
	uint16_t port;
	char *send;            /* bytes to send after connecting, or NULL */
	char *expect;          /* substring the reply must contain, or NULL */
};

struct job_dns {
	char *query;           /* the name asked */
	char *record;          /* A (default), AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT, CAA */
	char *server_host;     /* NULL: the system's resolvers */
	uint16_t server_port;  /* default 53 */
	char *expect_rcode;    /* NOERROR (default), NXDOMAIN, SERVFAIL, REFUSED, ... */
	char *expect_answer;   /* substring some answer must contain, or NULL */
};

struct job_exec {
	char **argv;           /* command and arguments, NULL-terminated */
	size_t argc;
	struct cfg_pair *env;  /* extra environment, or none */
	size_t nenv;
	char *workdir;         /* absolute, or NULL */
	uint64_t output_limit; /* bytes of stdout+stderr kept for the log; default 65536 */
	uint64_t kill_grace_ms; /* SIGTERM, then SIGKILL after this; default 5s */
};

struct job {
	char *name;
	enum job_type type;
	uint64_t every_ms;          /* required (here or in defaults) */
	uint64_t jitter_ms;         /* jitter as a duration, or ... */
	unsigned jitter_percent;    /* ... as a percentage of every (one of the two is 0) */
	uint64_t timeout_ms;        /* < every; default min(10s, every / 2) */
	unsigned retries;           /* 0..10, default 0 */
	uint64_t retry_delay_ms;    /* default 1s */
	unsigned failures_before_down; /* 1..1000, default 1 */
	unsigned successes_before_up;  /* 1..1000, default 1 */
	struct cfg_pair *labels;    /* Prometheus label names and values */
	size_t nlabels;
	bool enabled;               /* default true */
	bool exclusive;             /* fleet: never runs on two members at once (default false) */
	char **notify;              /* `notify`: names of notifiers told of its up/down events (none: NULL, 0) */
	size_t nnotify;
	uint64_t notify_repeat_ms;  /* `notify_repeat`: direct channels repeat a down this often while it lasts; 0: never */
	struct cfg_where where;     /* the job's mapping */
	union {
		struct job_http http;
		struct job_tcp tcp;
		struct job_dns dns;
		struct job_exec exec;
	} u;
};

/*
 * `fleet:` (main file only): this daemon is a member of a fleet that
 * shares its fleet jobs through etcd (issue 13; daemon/fleet/).
 */
#define CFG_FLEET_TTL_MIN_MS 2000u     /* ttl: 2s..5m, whole seconds */
#define CFG_FLEET_TTL_MAX_MS 300000u
#define CFG_FLEET_TTL_DEFAULT_MS 10000u
#define CFG_FLEET_PREFIX_DEFAULT "/coro-runner/"

struct cfg_fleet {
	char **etcd;                /* endpoints: http:// or https:// URLs (host, port, no path); at least one */
	size_t netcd;
	char *prefix;               /* starts and ends with '/'; default CFG_FLEET_PREFIX_DEFAULT */
	char *member;               /* [A-Za-z0-9_.-]{1,64}; default: the host name */
	uint64_t ttl_ms;            /* the member's lease, whole seconds in [2s, 5m]; default 10s */
	char *ca_file;              /* https: `ca`, `cert`, `key` (absolute paths), or NULL */
	char *cert_file;
	char *key_file;
	struct cfg_where where;     /* the `fleet` mapping */
};

/*
 * `notifiers:` (main file only): where jobs' up/down events go (issue 14;
 * daemon/notify/). A header value, username or password may hold
 * ${env:NAME} or ${file:PATH}, expanded by the daemon when it sends (the
 * configuration keeps the text as written, so secrets never reach a log
 * or coctl's output).
 */
enum notifier_type {
	NOTIFIER_ALERTMANAGER,      /* Alertmanager's v2 API: POST URL/api/v2/alerts */
	NOTIFIER_WEBHOOK,           /* POST URL, Alertmanager's webhook payload (version "4") */
	NOTIFIER_EMAIL,             /* SMTP through libcurl: smtp:// (STARTTLS when offered) or smtps:// */
	NOTIFIER_EXEC,              /* a command: the event in its environment and as JSON on stdin */
};

#define CFG_NOTIFY_TIMEOUT_DEFAULT_MS 10000u /* one delivery attempt */
#define CFG_NOTIFY_QUEUE_DEFAULT 10000u     /* events a notifier holds before it drops the oldest */
#define CFG_NOTIFY_QUEUE_MAX 1000000u

struct cfg_notifier {
	char *name;                 /* [A-Za-z0-9_.-]{1,64}, unique */
	enum notifier_type type;
	char *url;                  /* alertmanager (its base URL), webhook: http:// or https:// */
	struct cfg_pair *headers;   /* alertmanager, webhook: extra request headers */
	size_t nheaders;
	bool tls_verify;            /* https, smtps, STARTTLS: check the certificate (default true) */
	char *smtp;                 /* email: smtp://HOST[:PORT] or smtps://HOST[:PORT] */
	char *from;                 /* email: one address */
	char **to;                  /* email: one or more addresses */
	size_t nto;
	char *username;             /* email: SMTP AUTH, or NULL */
	char *password;
	char **argv;                /* exec: the program and its arguments, NULL-terminated */
	size_t argc;
	uint64_t timeout_ms;        /* one delivery attempt; default CFG_NOTIFY_TIMEOUT_DEFAULT_MS */
	unsigned queue;             /* default CFG_NOTIFY_QUEUE_DEFAULT */
	struct cfg_where where;     /* the notifier's mapping */
};

/*
 * `history:` (main file only): results and outages kept in SQLite (issue
 * 15; daemon/history/). Absent: on, with the defaults below; `history: off`
 * (or false): none.
 */
#define CFG_HISTORY_RAW_DEFAULT 100u          /* results kept per job */
#define CFG_HISTORY_RAW_MAX 100000u
#define CFG_HISTORY_HOURLY_DEFAULT_MS (30ull * 86400000)
#define CFG_HISTORY_DAILY_DEFAULT_MS (400ull * 86400000)
#define CFG_HISTORY_EVENTS_DEFAULT_MS (400ull * 86400000)

struct cfg_history {
	bool enabled;               /* false: `history: off` */
	char *path;                 /* the database file (absolute), or NULL: <state-dir>/history.db */
	unsigned raw_results;       /* `raw_results`: the last N results per job; 0..100000 */
	uint64_t hourly_ms;         /* `hourly`: how long hourly rollups are kept; 1d..10y */
	uint64_t daily_ms;          /* `daily`: the same for daily rollups; 1d..10y */
	uint64_t events_ms;         /* `events`: the same for up/down transitions; 1d..10y */
	struct cfg_where where;
};

/*
 * `web:` (main file only): the read-only status page (issue 15). Without
 * `listen`, it is served on the metrics listener; without either, nowhere.
 */
struct cfg_web {
	char *listen;               /* HOST:PORT of its own listener, or NULL */
	char *group_by;             /* a label name the page groups jobs by, or NULL */
	char *title;                /* the page's title, or NULL: "coro-runner on HOST" */
	struct cfg_where where;
};

struct config {
	struct cfg_history *history; /* `history:`, or NULL: absent (on, with the defaults) */
	struct cfg_web *web;        /* `web:`, or NULL */
	struct cfg_notifier *notifiers; /* `notifiers:`, in file order */
	size_t nnotifiers;
	struct cfg_fleet *fleet;    /* `fleet:`, or NULL: no fleet (the daemon runs alone) */
	struct job *jobs;           /* in file order: main file, then drop-ins */
	size_t njobs;
	char *metrics_listen;       /* "host:port" of `metrics: {listen: ...}`, or NULL */
	char **files;               /* every file read, in order */
	size_t nfiles;
};

/* One error, already formatted: "FILE:LINE:COLUMN: message". */
struct cfg_error {
	char *text;
	struct cfg_where where;
};

struct cfg_errors {
	struct cfg_error *v;        /* at most CFG_MAX_ERRORS */
	size_t n;
	size_t total;               /* all errors found, kept or not */
};

/*
 * Reads main_file (required; NULL for none) and then every *.yaml of each
 * directory in dirs (ndirs of them; a missing directory is skipped),
 * validates everything, and on success stores a new configuration in
 * *ret and returns 0. On any error returns -EINVAL (or -ENOMEM, -EIO) and
 * fills errs (which the caller frees with cfg_errors_free even on
 * success; it may be NULL if the caller does not want the messages).
 */
int config_load(const char *main_file, const char *const *dirs, size_t ndirs,
		struct config **ret, struct cfg_errors *errs);

/*
 * The same for a list of files, all read as drop-ins of the first (coctl check).
 *
 * Both check that each name of a job's `notify` (and of a `defaults`'
 * one) is one of the main file's notifiers, at the name's position.
 */
int config_load_files(const char *const *files, size_t nfiles, struct config **ret,
		      struct cfg_errors *errs);

/*
 * Parses one file's contents from memory; name is what the errors call it.
 * For coctl add, for fleet jobs arriving from etcd and for the fuzzer.
 *
 * Unlike config_load and config_load_files, it does not check that each
 * name of a job's `notify` is one of the notifiers: such a buffer has no
 * `notifiers:` section of its own (one that it has anyway is read, but
 * not used for the check), and the daemon checks the names against its
 * running configuration.
 */
int config_load_buffer(const char *name, const char *data, size_t len,
		       struct config **ret, struct cfg_errors *errs);

void config_free(struct config *cfg);
void cfg_errors_free(struct cfg_errors *errs);

/* The job named name, or NULL. */
const struct job *config_find(const struct config *cfg, const char *name);

/*
 * Whether two definitions are the same in everything that changes what a
 * run does or when it runs (where they were defined does not count, nor
 * notify and notify_repeat: a job whose notifiers change keeps its state).
 */
bool config_job_equal(const struct job *a, const struct job *b);

/* A 64-bit fingerprint of the same fields (equal jobs, equal hashes). */
uint64_t config_job_hash(const struct job *job);

/* The notifier named name, or NULL. */
const struct cfg_notifier *config_find_notifier(const struct config *cfg, const char *name);

/* "alertmanager", "webhook", "email", "exec". */
const char *notifier_type_name(enum notifier_type type);

/* "http", "tcp", "dns", "exec". */
const char *job_type_name(enum job_type type);

/*
 * Parses a duration: one or more <number><unit> in decreasing units, unit
 * one of ms, s, m, h, d, w ("250ms", "5s", "1h30m", "2d"). Returns 0 and
 * stores milliseconds, or -EINVAL (-ERANGE past 100 years).
 */
int config_parse_duration(const char *text, uint64_t *ret_ms);

/* Writes a duration the way it is best read ("1h30m", "250ms") into buf. */
char *config_format_duration(uint64_t ms, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
