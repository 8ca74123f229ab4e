/* SPDX-License-Identifier: MIT */
/*
 * tree.c: YAML text -> a small tree of nodes with positions, through
 * libyaml's event parser, with the limits that make hostile input cheap:
 * no anchors or aliases (so no alias bomb can expand), bounded depth, one
 * document. libyaml itself refuses invalid UTF-8 and control characters.
 *
 * Nodes and strings live in an arena freed in one go.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config/config-internal.h"

/* ---- arena -------------------------------------------------------------- */

#define ARENA_FIRST (2u << 10)    /* the first chunk: a configuration of one job fits */
#define ARENA_CHUNK (256u << 10)  /* chunks grow fourfold up to this */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

void *cfg__alloc(struct cfg_arena *a, size_t size)
{
	struct arena_chunk *c = a->head;

	size = (size + 15) & ~(size_t)15;
	if (!c || c->size - c->used < size) {
		/*
		 * Small at first, growing fourfold: a daemon holds one
		 * configuration per job added at run time or taken from its
		 * fleet, tens of thousands of one-job arenas (a 256 KiB first
		 * chunk was a mapping and at least a page of each). Large
		 * ones end above glibc's mmap threshold (128 KiB): each such
		 * chunk is its own mapping, given back to the system when the
		 * arena is freed instead of stranding heap pages between
		 * long-lived strings.
		 */
		size_t next = c ? (c->size >= ARENA_CHUNK / 4 ? ARENA_CHUNK : c->size * 4) : ARENA_FIRST;
		size_t want = size > next ? size : next;

		c = malloc(sizeof *c + want);
		if (!c)
			return NULL;
		c->size = want;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	c->used += size;
	return (char *)c->data + c->used - size;
}

char *cfg__strndup(struct cfg_arena *a, const char *s, size_t len)
{
	char *p = cfg__alloc(a, len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

void cfg__arena_free(struct cfg_arena *a)
{
	struct arena_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

/* ---- building the tree -------------------------------------------------- */

struct builder {
	struct cfg_ctx *ctx;
	struct node *stack[CFG_MAX_DEPTH + 1];
	/* Children collected per open container, grown as needed. */
	struct node **kids[CFG_MAX_DEPTH + 1];
	size_t nkids[CFG_MAX_DEPTH + 1], capkids[CFG_MAX_DEPTH + 1];
	int depth;
	struct node *root;
};

static struct node *node_new(struct builder *b, enum node_kind kind, const yaml_mark_t *mark)
{
	struct node *n = cfg__alloc(&b->ctx->arena, sizeof *n);

	if (!n)
		return NULL;
	memset(n, 0, sizeof *n);
	n->kind = kind;
	n->line = (unsigned)mark->line + 1;
	n->column = (unsigned)mark->column + 1;
	return n;
}

static int add_child(struct builder *b, struct node *n)
{
	int d = b->depth;

	if (d < 0) {
		b->root = n;
		return 0;
	}
	if (b->nkids[d] == b->capkids[d]) {
		size_t cap = b->capkids[d] ? 2 * b->capkids[d] : 16;
		struct node **k = realloc(b->kids[d], cap * sizeof *k);

		if (!k)
			return -ENOMEM;
		b->kids[d] = k;
		b->capkids[d] = cap;
	}
	b->kids[d][b->nkids[d]++] = n;
	return 0;
}

static int open_container(struct builder *b, struct node *n, const yaml_mark_t *mark)
{
	if (b->depth + 1 >= CFG_MAX_DEPTH) {
		cfg__error_at(b->ctx, (unsigned)mark->line + 1, (unsigned)mark->column + 1,
			      "nesting deeper than %d levels: not a job configuration", CFG_MAX_DEPTH);
		return -EINVAL;
	}
	if (add_child(b, n) < 0)
		return -ENOMEM;
	b->depth++;
	b->stack[b->depth] = n;
	b->nkids[b->depth] = 0;
	return 0;
}

static int close_container(struct builder *b)
{
	int d = b->depth;
	struct node *n = b->stack[d];
	size_t count = b->nkids[d];

	n->kids = cfg__alloc(&b->ctx->arena, (count ? count : 1) * sizeof *n->kids);
	if (!n->kids)
		return -ENOMEM;
	if (count)
		memcpy(n->kids, b->kids[d], count * sizeof *n->kids);
	n->nkids = count;
	b->depth--;
	return 0;
}

static int anchor_error(struct builder *b, const yaml_event_t *ev, const char *anchor)
{
	cfg__error_at(b->ctx, (unsigned)ev->start_mark.line + 1, (unsigned)ev->start_mark.column + 1,
		      "anchors (&%s) are not supported: put shared settings in `defaults`", anchor);
	return -EINVAL;
}

/* Returns 0 and stores the root (NULL for an empty document), or -errno. */
int cfg__parse_tree(struct cfg_ctx *ctx, const char *data, size_t len, struct node **ret)
{
	struct builder b;
	yaml_parser_t parser;
	yaml_event_t ev;
	int err = 0, done = 0, documents = 0;

	memset(&b, 0, sizeof b);
	b.ctx = ctx;
	b.depth = -1;
	*ret = NULL;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (!done && !err) {
		if (!yaml_parser_parse(&parser, &ev)) {
			unsigned line, column;

			if (parser.error == YAML_READER_ERROR) {
				/* Bad bytes: libyaml gives an offset, not a position. */
				size_t off = parser.problem_offset < len ? parser.problem_offset : len;

				line = 1;
				column = 1;
				for (size_t i = 0; i < off; i++) {
					if (data[i] == '\n') {
						line++;
						column = 1;
					} else if (((unsigned char)data[i] & 0xc0) != 0x80) {
						column++;
					}
				}
				cfg__error_at(ctx, line, column, "not a text file in UTF-8: %s (byte 0x%02x at "
					      "offset %zu)", parser.problem ? parser.problem : "bad byte",
					      (unsigned)parser.problem_value & 0xff, off);
			} else {
				const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column ?
							       &parser.problem_mark : &parser.context_mark;

				line = (unsigned)m->line + 1;
				column = (unsigned)m->column + 1;
				cfg__error_at(ctx, line, column, "invalid YAML: %s%s%s",
					      parser.problem ? parser.problem : "syntax error",
					      parser.context ? " " : "", parser.context ? parser.context : "");
			}
			err = -EINVAL;
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				cfg__error_at(ctx, (unsigned)ev.start_mark.line + 1,
					      (unsigned)ev.start_mark.column + 1,
					      "a second YAML document (---): a file holds one configuration");
				err = -EINVAL;
			}
			break;
		case YAML_ALIAS_EVENT:
			cfg__error_at(ctx, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
				      "aliases (*%s) are not supported: put shared settings in `defaults`",
				      (const char *)ev.data.alias.anchor);
			err = -EINVAL;
			break;
		case YAML_SCALAR_EVENT: {
			struct node *n;

			if (ev.data.scalar.anchor) {
				err = anchor_error(&b, &ev, (const char *)ev.data.scalar.anchor);
				break;
			}
			n = node_new(&b, NODE_SCALAR, &ev.start_mark);
			if (!n || !(n->value = cfg__strndup(&ctx->arena, (const char *)ev.data.scalar.value,
							    ev.data.scalar.length))) {
				err = -ENOMEM;
				break;
			}
			n->len = ev.data.scalar.length;
			n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			if (strlen(n->value) != n->len) {
				cfg__error_at(ctx, n->line, n->column, "a string with a NUL byte in it");
				err = -EINVAL;
				break;
			}
			err = add_child(&b, n);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			const yaml_char_t *anchor = ev.type == YAML_SEQUENCE_START_EVENT ?
							    ev.data.sequence_start.anchor :
							    ev.data.mapping_start.anchor;
			struct node *n;

			if (anchor) {
				err = anchor_error(&b, &ev, (const char *)anchor);
				break;
			}
			n = node_new(&b, ev.type == YAML_SEQUENCE_START_EVENT ? NODE_SEQ : NODE_MAP,
				     &ev.start_mark);
			err = n ? open_container(&b, n, &ev.start_mark) : -ENOMEM;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			err = close_container(&b);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (int d = 0; d <= CFG_MAX_DEPTH; d++)
		free(b.kids[d]);
	if (!err)
		*ret = b.root;
	return err;
}
