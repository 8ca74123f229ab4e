/* SPDX-License-Identifier: MIT */
/*
 * config-internal.h: what the files of config/ share.
 *
 *   tree.c      YAML text -> a tree of nodes with positions (libyaml)
 *   values.c    the grammars of single values (values.h)
 *   config.c    the schema: which keys exist, for which job types, their
 *               values, their built-in defaults, "did you mean" suggestions
 *   kinds.c     a node read as a kind of value, with errors at its position
 *   validate.c  one document walked: defaults, jobs, metrics; the errors
 *   fleet.c     the `fleet:` section (main file only)
 *   notify.c    the `notifiers:` section (main file only), a job's `notify`
 *   history.c   the `history:` section (main file only)
 *   web.c       the `web:` section (main file only)
 *   load.c      loading: the main file, drop-in directories; the API
 *   compare.c   equality and fingerprints of jobs
 */
#ifndef CORO_CONFIG_INTERNAL_H
#define CORO_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

/* A bump allocator: everything of one parse is freed at once. */
struct cfg_arena {
	struct arena_chunk *head;
};

/* size bytes from a, aligned for any type; NULL on ENOMEM (tree.c). */
void *cfg__alloc(struct cfg_arena *a, size_t size);
/* A copy of the len bytes at s with a NUL after them, from a; NULL on ENOMEM. */
char *cfg__strndup(struct cfg_arena *a, const char *s, size_t len);
/* Frees everything allocated from a; a is then empty and can be used again. */
void cfg__arena_free(struct cfg_arena *a);

enum node_kind {
	NODE_SCALAR,
	NODE_MAP,   /* kids: key, value, key, value, ... */
	NODE_SEQ,
};

struct node {
	enum node_kind kind;
	unsigned line, column;  /* 1-based */
	bool plain;             /* a scalar written without quotes */
	char *value;            /* scalars */
	size_t len;
	struct node **kids;
	size_t nkids;
};

/* One load: the errors so far and where we are. */
struct cfg_ctx {
	struct cfg_arena arena;   /* the tree of the file being read */
	struct cfg_errors *errs;  /* NULL: count only */
	size_t nerrors;           /* errors found in this load */
	const char *file;         /* name errors give (owned by the config) */
	const char *job;          /* job the errors are about, or NULL */
	const char *section;      /* or the part of the file ("defaults"), or NULL */
};

/*
 * Records an error at a position of the current file, prefixed with the
 * job ("job \"x\": ") or the section it is about; line 0: the whole file
 * (validate.c, like cfg__sort_errors).
 */
__attribute__((format(printf, 4, 5)))
void cfg__error_at(struct cfg_ctx *ctx, unsigned line, unsigned column, const char *fmt, ...);

/*
 * Puts each run of errs that are about one file in the order of their
 * positions (a stable sort); the runs keep the order the files were read
 * in. errs may be NULL.
 */
void cfg__sort_errors(struct cfg_errors *errs);

/* Parses text into a tree; 0 (root NULL for an empty document) or -errno (tree.c). */
int cfg__parse_tree(struct cfg_ctx *ctx, const char *data, size_t len, struct node **ret);

/* ---- the keys of a job (config.c) --------------------------------------- */

/* Every key a job or `defaults` may have; key_names in config.c spells them. */
enum key {
	K_NAME, K_TYPE, K_EVERY, K_JITTER, K_TIMEOUT, K_RETRIES, K_RETRY_DELAY,
	K_FAILURES_BEFORE_DOWN, K_SUCCESSES_BEFORE_UP, K_LABELS, K_ENABLED, K_EXCLUSIVE,
	K_NOTIFY, K_NOTIFY_REPEAT,
	K_URL, K_METHOD, K_HEADERS, K_BODY, K_EXPECT_STATUS, K_EXPECT_BODY,
	K_EXPECT_BODY_REGEX, K_TLS_VERIFY, K_FOLLOW_REDIRECTS,
	K_TARGET, K_SEND, K_EXPECT,
	K_QUERY, K_RECORD, K_SERVER, K_EXPECT_RCODE, K_EXPECT_ANSWER,
	K_COMMAND, K_ENV, K_WORKDIR, K_OUTPUT_LIMIT, K_KILL_GRACE,
	NKEYS
};

/* The keys every job has run from K_EVERY to this one (then the type-specific ones). */
#define K_LAST_COMMON K_NOTIFY_REPEAT

/* `notify_repeat`: 0 (never), or at least this. */
#define CFG_NOTIFY_REPEAT_MIN_MS 60000u

/* The key spelt name, or -1. */
int cfg__key_index(const char *name);

/* How key k is spelt in a file. */
const char *cfg__key_name(enum key k);

/* Whether jobs of the given type have key k (the keys of every job: all types). */
bool cfg__key_of_type(enum key k, enum job_type type);

/* The type ("http", ...) that k, a key of one type only, belongs to. */
const char *cfg__key_owner(enum key k);

/* The key a job of the given type cannot do without (url, target, query, command). */
enum key cfg__required_key(enum job_type type);

/* The job type spelt word, or -1. */
int cfg__type_index(const char *word);

/*
 * The key that word, an unknown key, is most likely a typo of, or NULL:
 * among the keys of the given type first (every key if type is negative),
 * then among every key.
 */
const char *cfg__key_hint(const char *word, int type);

/* The same for an unknown job type. */
const char *cfg__type_hint(const char *word);

/*
 * The same for an unknown key of the top level (defaults, jobs, metrics,
 * fleet, notifiers, history, web).
 */
const char *cfg__top_key_hint(const char *word);

/*
 * What is wrong with name as a Prometheus label name a job may have
 * (`labels`, and web's `group_by`), or NULL.
 */
const char *cfg__label_name_problem(const char *name);

/* Sets the built-in defaults of a job whose type is already set. */
void cfg__job_defaults(struct job *j);

struct load;

/*
 * Sets key k of job j from node n; reports what is wrong and returns false
 * if the value is bad. The job's type is known (for type-specific keys).
 * Strings are kept with the configuration.
 */
bool cfg__apply(struct load *ld, struct job *j, enum key k, const struct node *n);

/* ---- the configuration being built (validate.c) ------------------------- */

struct config_full {
	struct config pub;
	struct cfg_arena arena; /* every string of the configuration */
	size_t capjobs;
	/* Job names: open addressing, values are job indexes + 1. */
	size_t *names;
	size_t capnames;
	const char *metrics_file;
	unsigned metrics_line, metrics_column;
};

/* A `defaults` mapping: per key, the value node, or a bad value (skip quietly). */
struct defaults {
	const struct node *node[NKEYS];
	const char *file[NKEYS];
	bool bad[NKEYS];
};

/* One call of config_load (or _files, _buffer): what it has built so far. */
struct load {
	struct cfg_ctx ctx;
	struct config_full *cfg;
	struct defaults global;  /* the main file's */
	struct cfg_arena main_tree; /* the main file's tree: global points into it */
	const char *main_file;   /* the main file's name once read, or NULL */
	/*
	 * Whether each `notify` name must be one of the notifiers (config_load
	 * and config_load_files; not config_load_buffer). The main file, the
	 * only one with `notifiers:`, is read first, and in it the notifiers
	 * before defaults and jobs: a name is checked where it is read.
	 */
	bool check_notify;
	bool notifiers_bad;      /* `notifiers:` is not a list: no check (no cascade) */
	const char **notifier_names; /* the notifiers' names in byte order (malloc'd), for lookups */
	size_t nnotifier_names;
	/*
	 * Web's `listen` once it is sound (kept with the configuration, even
	 * if another key of `web` is not), and where: once every file is read
	 * (`metrics` may be in a drop-in) it is compared with metrics' one.
	 */
	const char *web_listen;
	const char *web_listen_file;
	unsigned web_listen_line, web_listen_column;
};

/* Records an error at the position of a node. */
#define ERR(ld, node, ...) cfg__error_at(&(ld)->ctx, (node)->line, (node)->column, __VA_ARGS__)

/* A copy of s (NULL stays NULL) that lives as long as the configuration; NULL on ENOMEM. */
char *cfg__keep(struct load *ld, const char *s);

/*
 * Reads one file's text (name is what errors call it, owned by the
 * configuration); main says whether its defaults are the global ones.
 * Problems of the file are errors of ld; returns 0, or -ENOMEM.
 */
int cfg__load_text(struct load *ld, const char *name, const char *data, size_t len, bool main);

/*
 * Reads the value of the top-level key `fleet` (key is the key's node, for
 * errors about where it is) into the configuration; main says whether the
 * file is the main one, the only one that may have it (fleet.c).
 */
void cfg__read_fleet(struct load *ld, const struct node *key, const struct node *map, bool main);

/*
 * The same for `notifiers` (notify.c): each notifier is read and checked;
 * the configuration keeps every one whose name is sound (a job naming a
 * notifier with a bad value then gets no second error).
 */
void cfg__read_notifiers(struct load *ld, const struct node *key, const struct node *list,
			 bool main);

/*
 * The same for `history` (history.c): off (or false), on (or true), or a
 * mapping of its keys; the configuration gets a struct cfg_history, with
 * the defaults for what is not given, only if nothing is wrong.
 */
void cfg__read_history(struct load *ld, const struct node *key, const struct node *value,
		       bool main);

/* The same for `web` (web.c): a mapping, maybe empty. */
void cfg__read_web(struct load *ld, const struct node *key, const struct node *map, bool main);

/*
 * Once every file is read: web's `listen` must not take the address and
 * port of metrics' `listen` (web.c). An error is about the main file.
 */
void cfg__check_web_listen(struct load *ld);

/*
 * A job's `notify` (notify.c): a notifier's name or a list of them, none
 * twice, each one of the notifiers if ld->check_notify. The names are
 * kept in *ret (NULL for none) and their number in *ret_n.
 */
bool cfg__get_notify(struct load *ld, const struct node *n, char ***ret, size_t *ret_n);

/* ---- a node as a kind of value (kinds.c) -------------------------------- */

/*
 * Each cfg__get_ reader checks that node n, the value of key, is of its
 * kind and within its bounds. If so it stores the value in *ret (strings
 * kept with the configuration) and returns true; if not it reports what
 * is wrong at n's position and returns false, and what *ret holds is not
 * to be used.
 */

/*
 * A top-level section of the main file only (fleet, web): false, the
 * problem reported, if it is in a drop-in (at key) or not a mapping (at
 * map; expected says what it should be).
 */
bool cfg__main_section(struct load *ld, const struct node *key, const struct node *map, bool main,
		       const char *name, const char *expected);

/* "a mapping", "a list" or "a value": what a node is, for messages. */
const char *cfg__kind_name(const struct node *n);

/* Checks that n is a scalar; reports "KEY: expected WHAT" otherwise. */
bool cfg__want_scalar(struct load *ld, const struct node *n, const char *key, const char *what);

/*
 * Checks a mapping's keys: each a scalar, none twice (the second is the
 * error). Returns false if any is wrong.
 */
bool cfg__map_keys_unique(struct load *ld, const struct node *map);

/* A duration of at least min_ms, in milliseconds. */
bool cfg__get_duration(struct load *ld, const struct node *n, const char *key, uint64_t min_ms,
		       uint64_t *ret);

/* A whole number from min to max. */
bool cfg__get_uint(struct load *ld, const struct node *n, const char *key, uint64_t min,
		   uint64_t max, unsigned *ret);

/* true or false (yes/no, on/off). */
bool cfg__get_bool(struct load *ld, const struct node *n, const char *key, bool *ret);

/* Any string, or (nonempty) any but "". False as well on ENOMEM, with no error. */
bool cfg__get_string(struct load *ld, const struct node *n, const char *key, bool nonempty,
		     char **ret);

/* One of the nwords words, with a suggestion or the list when it is none of them. */
bool cfg__get_word(struct load *ld, const struct node *n, const char *key,
		   const char *const *words, size_t nwords, char **ret);

/*
 * HOST:PORT, or (port_required false) HOST[:PORT] with default_port: the
 * host (brackets of an IPv6 address dropped) is kept in *ret_host unless
 * ret_host is NULL, the port stored in *ret_port.
 */
bool cfg__get_hostport(struct load *ld, const struct node *n, const char *key, bool port_required,
		       uint16_t default_port, char **ret_host, uint16_t *ret_port);

/*
 * A mapping of names to strings; check_key, if given, returns what is
 * wrong with a name (NULL: nothing). Once the mapping itself is sound the
 * pairs are stored; a bad name or value is reported, its pair left unset,
 * the others still checked, and false returned.
 */
bool cfg__get_pairs(struct load *ld, const struct node *n, const char *key,
		    const char *(*check_key)(const char *), struct cfg_pair **ret, size_t *ret_n);

/*
 * `command`: the program and its arguments, a list of strings with a
 * nonempty first one (no shell); *ret_argv is NULL-terminated.
 */
bool cfg__get_command(struct load *ld, const struct node *n, char ***ret_argv, size_t *ret_argc);

#endif
