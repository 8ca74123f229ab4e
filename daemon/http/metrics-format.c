/* SPDX-License-Identifier: MIT */
/*
 * metrics-format.c: the output buffer of a /metrics render, numbers and
 * label values. A page of 100k jobs is about a million lines: numbers are
 * written from integers digit pair by digit pair (no printf, no floating
 * point, so every value is exact), and label values are copied whole
 * unless they hold a byte that needs escaping.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/core/core.h"
#include "daemon/http/http-internal.h"

void metrics__mbuf_free(struct mbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

char *metrics__mbuf_room(struct mbuf *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap - b->len < n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	return b->p + b->len;
}

void metrics__put(struct mbuf *b, const char *s, size_t n)
{
	char *at = metrics__mbuf_room(b, n);

	if (at) {
		memcpy(at, s, n);
		b->len += n;
	}
}

void metrics__puts(struct mbuf *b, const char *s)
{
	metrics__put(b, s, strlen(s));
}

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

size_t metrics__fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof tmp, n;

	while (v >= 100) {
		unsigned pair = (unsigned)(v % 100);

		v /= 100;
		tmp[--i] = digit_pairs[2 * pair + 1];
		tmp[--i] = digit_pairs[2 * pair];
	}
	if (v >= 10) {
		tmp[--i] = digit_pairs[2 * v + 1];
		tmp[--i] = digit_pairs[2 * v];
	} else {
		tmp[--i] = (char)('0' + v);
	}
	n = sizeof tmp - i;
	memcpy(out, tmp + i, n);
	return n;
}

size_t metrics__fmt_scaled(char *out, int64_t v, unsigned scale)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000,
					  10000000, 100000000, 1000000000 };
	uint64_t u, whole, frac;
	size_t n = 0;

	if (scale >= sizeof pow10 / sizeof *pow10)
		scale = sizeof pow10 / sizeof *pow10 - 1;
	if (v < 0) {
		out[n++] = '-';
		u = (uint64_t)0 - (uint64_t)v;
	} else {
		u = (uint64_t)v;
	}
	whole = u / pow10[scale];
	frac = u % pow10[scale];
	n += metrics__fmt_u64(out + n, whole);
	if (frac) {
		unsigned digits = scale;

		/* Drop trailing zeros, then write the rest zero-padded on the left. */
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		out[n++] = '.';
		for (unsigned i = digits; i > 0; i--) {
			out[n + i - 1] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n += digits;
	}
	return n;
}

bool metrics__put_label_value(struct mbuf *b, const char *value)
{
	size_t len = strcspn(value, "\\\"\n");
	char *at;

	if (!value[len]) {
		metrics__put(b, value, len);
		return !b->oom;
	}
	/* At worst every byte doubles. */
	at = metrics__mbuf_room(b, 2 * strlen(value));
	if (!at)
		return false;
	for (const char *s = value; *s; s++) {
		switch (*s) {
		case '\\':
			*at++ = '\\';
			*at++ = '\\';
			break;
		case '"':
			*at++ = '\\';
			*at++ = '"';
			break;
		case '\n':
			*at++ = '\\';
			*at++ = 'n';
			break;
		default:
			*at++ = *s;
		}
	}
	b->len = (size_t)(at - b->p);
	return true;
}

/* Label names coro-runner puts on per-job metrics besides job (config refuses job, instance). */
static bool reserved_label(const char *name)
{
	return !strcmp(name, "result");
}

void metrics__put_job_labels(struct mbuf *b, const struct job_state *js)
{
	const struct job *job = js->job;

	metrics__put(b, "job=\"", 5);
	metrics__put_label_value(b, job->name);
	metrics__put(b, "\"", 1);
	for (size_t i = 0; i < job->nlabels; i++) {
		const struct cfg_pair *l = &job->labels[i];

		metrics__put(b, ",", 1);
		if (reserved_label(l->key))
			metrics__put(b, "exported_", 9);
		metrics__puts(b, l->key);
		metrics__put(b, "=\"", 2);
		metrics__put_label_value(b, l->value);
		metrics__put(b, "\"", 1);
	}
}
