/*
 * config-internal.h: what the files of config/ share.
 */
#ifndef CORO_CONFIG_INTERNAL_H
#define CORO_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* A bump allocator: everything of one parse is freed at once. */
struct cfg_arena {
	struct arena_chunk *head;
};

void *cfg__alloc(struct cfg_arena *a, size_t size);
char *cfg__strndup(struct cfg_arena *a, const char *s, size_t len);
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

/* Records an error at a position of the current file ("job \"x\": " prefixed). */
__attribute__((format(printf, 4, 5)))
void cfg__error_at(struct cfg_ctx *ctx, unsigned line, unsigned column, const char *fmt, ...);

/* Parses text into a tree; 0 (root NULL for an empty document) or -errno. */
int cfg__parse_tree(struct cfg_ctx *ctx, const char *data, size_t len, struct node **ret);

#endif
