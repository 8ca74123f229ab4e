/* SPDX-License-Identifier: MIT */
/*
 * compare.c: whether two job definitions are the same (a reload keeps an
 * unchanged job's state), and a fingerprint of one (the state file keeps
 * results only for definitions that did not change while the daemon was
 * down). Both walk the same canonical byte stream of a job: every field
 * that changes what a run does or how it is scheduled, each length-
 * prefixed; where it was defined is not part of it, nor whom it tells of
 * its state (notify, notify_repeat): a job whose notifiers change keeps
 * its state, and the fingerprints of state files written before those
 * keys existed still match.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

/* Where the stream goes: compared against another stream, or hashed. */
struct sink {
	uint64_t hash;                /* FNV-1a 64 */
};

static void put(struct sink *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		s->hash ^= p[i];
		s->hash *= 0x100000001b3ull;
	}
}

static void put_u64(struct sink *s, uint64_t v)
{
	put(s, &v, sizeof v);
}

/* NULL and "" differ: a length of ~0 marks NULL. */
static void put_str(struct sink *s, const char *str)
{
	if (!str) {
		put_u64(s, UINT64_MAX);
		return;
	}
	put_u64(s, strlen(str));
	put(s, str, strlen(str));
}

static void put_pairs(struct sink *s, const struct cfg_pair *v, size_t n)
{
	put_u64(s, n);
	for (size_t i = 0; i < n; i++) {
		put_str(s, v[i].key);
		put_str(s, v[i].value);
	}
}

static void put_job(struct sink *s, const struct job *j)
{
	put_str(s, j->name);
	put_u64(s, (uint64_t)j->type);
	put_u64(s, j->every_ms);
	put_u64(s, j->jitter_ms);
	put_u64(s, j->jitter_percent);
	put_u64(s, j->timeout_ms);
	put_u64(s, j->retries);
	put_u64(s, j->retry_delay_ms);
	put_u64(s, j->failures_before_down);
	put_u64(s, j->successes_before_up);
	put_pairs(s, j->labels, j->nlabels);
	put_u64(s, j->enabled);
	switch (j->type) {
	case JOB_HTTP: {
		const struct job_http *h = &j->u.http;

		put_str(s, h->url);
		put_str(s, h->method);
		put_pairs(s, h->headers, h->nheaders);
		put_str(s, h->body);
		put_u64(s, h->nexpect_status);
		for (size_t i = 0; i < h->nexpect_status; i++)
			put_u64(s, (uint64_t)(int64_t)h->expect_status[i]);
		put_str(s, h->expect_body);
		put_str(s, h->expect_body_regex);
		put_u64(s, h->tls_verify);
		put_u64(s, h->follow_redirects);
		break;
	}
	case JOB_TCP:
		put_str(s, j->u.tcp.host);
		put_u64(s, j->u.tcp.port);
		put_str(s, j->u.tcp.send);
		put_str(s, j->u.tcp.expect);
		break;
	case JOB_DNS:
		put_str(s, j->u.dns.query);
		put_str(s, j->u.dns.record);
		put_str(s, j->u.dns.server_host);
		put_u64(s, j->u.dns.server_port);
		put_str(s, j->u.dns.expect_rcode);
		put_str(s, j->u.dns.expect_answer);
		break;
	case JOB_EXEC:
		put_u64(s, j->u.exec.argc);
		for (size_t i = 0; i < j->u.exec.argc; i++)
			put_str(s, j->u.exec.argv[i]);
		put_pairs(s, j->u.exec.env, j->u.exec.nenv);
		put_str(s, j->u.exec.workdir);
		put_u64(s, j->u.exec.output_limit);
		put_u64(s, j->u.exec.kill_grace_ms);
		break;
	}
	/*
	 * Last, and only when set: the stream of a job that is not exclusive
	 * stays what it was before the key existed, so the fingerprints in
	 * state files written by an older daemon still match (the stream is
	 * self-delimiting, so a trailing mark cannot make two jobs collide).
	 */
	if (j->exclusive)
		put_str(s, "exclusive");
}

uint64_t config_job_hash(const struct job *job)
{
	struct sink s = { 0xcbf29ce484222325ull };

	put_job(&s, job);
	return s.hash;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool pairs_eq(const struct cfg_pair *a, size_t na, const struct cfg_pair *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
			return false;
	return true;
}

bool config_job_equal(const struct job *a, const struct job *b)
{
	if (!str_eq(a->name, b->name) || a->type != b->type || a->every_ms != b->every_ms ||
	    a->jitter_ms != b->jitter_ms || a->jitter_percent != b->jitter_percent ||
	    a->timeout_ms != b->timeout_ms || a->retries != b->retries ||
	    a->retry_delay_ms != b->retry_delay_ms ||
	    a->failures_before_down != b->failures_before_down ||
	    a->successes_before_up != b->successes_before_up || a->enabled != b->enabled ||
	    a->exclusive != b->exclusive || !pairs_eq(a->labels, a->nlabels, b->labels, b->nlabels))
		return false;
	switch (a->type) {
	case JOB_HTTP: {
		const struct job_http *x = &a->u.http, *y = &b->u.http;

		return str_eq(x->url, y->url) && str_eq(x->method, y->method) &&
		       pairs_eq(x->headers, x->nheaders, y->headers, y->nheaders) &&
		       str_eq(x->body, y->body) && x->nexpect_status == y->nexpect_status &&
		       (x->nexpect_status == 0 ||
			memcmp(x->expect_status, y->expect_status,
			       x->nexpect_status * sizeof *x->expect_status) == 0) &&
		       str_eq(x->expect_body, y->expect_body) &&
		       str_eq(x->expect_body_regex, y->expect_body_regex) &&
		       x->tls_verify == y->tls_verify && x->follow_redirects == y->follow_redirects;
	}
	case JOB_TCP:
		return str_eq(a->u.tcp.host, b->u.tcp.host) && a->u.tcp.port == b->u.tcp.port &&
		       str_eq(a->u.tcp.send, b->u.tcp.send) && str_eq(a->u.tcp.expect, b->u.tcp.expect);
	case JOB_DNS:
		return str_eq(a->u.dns.query, b->u.dns.query) &&
		       str_eq(a->u.dns.record, b->u.dns.record) &&
		       str_eq(a->u.dns.server_host, b->u.dns.server_host) &&
		       a->u.dns.server_port == b->u.dns.server_port &&
		       str_eq(a->u.dns.expect_rcode, b->u.dns.expect_rcode) &&
		       str_eq(a->u.dns.expect_answer, b->u.dns.expect_answer);
	case JOB_EXEC:
		if (a->u.exec.argc != b->u.exec.argc)
			return false;
		for (size_t i = 0; i < a->u.exec.argc; i++)
			if (!str_eq(a->u.exec.argv[i], b->u.exec.argv[i]))
				return false;
		return pairs_eq(a->u.exec.env, a->u.exec.nenv, b->u.exec.env, b->u.exec.nenv) &&
		       str_eq(a->u.exec.workdir, b->u.exec.workdir) &&
		       a->u.exec.output_limit == b->u.exec.output_limit &&
		       a->u.exec.kill_grace_ms == b->u.exec.kill_grace_ms;
	}
	return false;
}
