/* SPDX-License-Identifier: MIT */
/*
 * format.c: how coctl writes things for people: durations, times, aligned
 * tables like systemctl's.
 */
#define _GNU_SOURCE
#include <langinfo.h>
#include <string.h>
#include <time.h>

#include "cli/coctl.h"

bool utf8_output(void)
{
	const char *cs = nl_langinfo(CODESET);

	return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

char *fmt_duration_us(unsigned long long us, char *buf, size_t size)
{
	unsigned long long s = us / 1000000;

	if (us < 1000)
		snprintf(buf, size, "%lluus", us);
	else if (us < 10000)
		snprintf(buf, size, "%llu.%llums", us / 1000, us / 100 % 10);
	else if (us < 1000000)
		snprintf(buf, size, "%llums", us / 1000);
	else if (s < 60)
		snprintf(buf, size, "%llu.%03llus", s, us / 1000 % 1000);
	else if (s < 3600)
		snprintf(buf, size, "%llum%llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lluh%llum", s / 3600, s / 60 % 60);
	else
		snprintf(buf, size, "%llud%lluh", s / 86400, s / 3600 % 24);
	/* 1.250s rather than 1.25 or 1.2500: trim the zeros of a fraction. */
	if (us >= 1000000 && s < 60) {
		char *end = buf + strlen(buf) - 1; /* the 's' */

		while (end[-1] == '0')
			memmove(end - 1, end, 2), end--;
		if (end[-1] == '.')
			memmove(end - 1, end, 2);
	}
	return buf;
}

/* A coarse duration for "ago" and "in": "5s", "3min", "2h", "4d". */
static void coarse(long long ms, char *buf, size_t size)
{
	long long s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, size, "%lldms", ms);
	else if (s < 120)
		snprintf(buf, size, "%llds", s);
	else if (s < 7200)
		snprintf(buf, size, "%lldmin", s / 60);
	else if (s < 172800)
		snprintf(buf, size, "%lldh", s / 3600);
	else
		snprintf(buf, size, "%lldd", s / 86400);
}

char *fmt_relative(long long when_ms, long long now_ms, char *buf, size_t size)
{
	char d[32];

	if (when_ms <= now_ms) {
		coarse(now_ms - when_ms, d, sizeof d);
		snprintf(buf, size, "%s ago", d);
	} else {
		coarse(when_ms - now_ms, d, sizeof d);
		snprintf(buf, size, "in %s", d);
	}
	return buf;
}

char *fmt_time(long long when_ms, char *buf, size_t size)
{
	time_t t = (time_t)(when_ms / 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "%lld", when_ms);
	return buf;
}

/* ---- tables ------------------------------------------------------------- */

struct table {
	size_t ncols, nrows, cap;
	char **cells;    /* nrows * ncols */
	size_t *widths;  /* in characters (UTF-8 aware) */
};

struct table *table_new(size_t ncols)
{
	struct table *t = calloc(1, sizeof *t);

	if (!t)
		return NULL;
	t->ncols = ncols;
	t->widths = calloc(ncols, sizeof *t->widths);
	if (!t->widths) {
		free(t);
		return NULL;
	}
	return t;
}

/* Characters in a UTF-8 string (continuation bytes do not count). */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

void table_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * t->ncols * sizeof *c);

		if (!c)
			return;
		t->cells = c;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *s = strdup(cells[i] ? cells[i] : "");
		size_t w = s ? text_width(s) : 0;

		t->cells[t->nrows * t->ncols + i] = s;
		if (w > t->widths[i])
			t->widths[i] = w;
	}
	t->nrows++;
}

void table_print(struct table *t, FILE *out, bool header)
{
	for (size_t r = header ? 0 : 1; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];

			s = s ? s : "";
			if (i + 1 == t->ncols)
				fprintf(out, "%s\n", s);
			else
				fprintf(out, "%s%*s", s, (int)(t->widths[i] - text_width(s) + 1), "");
		}
	}
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->widths);
	free(t);
}
