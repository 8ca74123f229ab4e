/* SPDX-License-Identifier: MIT */
/*
 * probe-dns.c: a dns job's run: one query with c-ares, to the job's server
 * or the system's resolvers, driven in the calling coroutine by co_poll on
 * c-ares's sockets (which are tracked, so that a cancel wakes the run).
 * Checks the reply's rcode and, optionally, that some answer record's text
 * form contains the expected text. The job's timeout bounds the run.
 */
#define _GNU_SOURCE
#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coro/coro.h"
#include "daemon/probe/probe.h"

#define CLASS_IN 1

static const struct {
	const char *name;
	int type;
} record_types[] = {
	{ "A", 1 }, { "NS", 2 }, { "CNAME", 5 }, { "SOA", 6 }, { "PTR", 12 },
	{ "MX", 15 }, { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 }, { "CAA", 257 },
};

static const char *const rcode_names[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
};

/* What the query's callback leaves. */
struct dns_reply {
	bool done;
	int status;             /* ARES_* */
	unsigned char *abuf;    /* a copy of the reply, or NULL */
	int alen;
};

struct dns_run {
	struct probe *p;
	uint64_t start_us;
	uint64_t limit_us;      /* 0: no timeout */
};

/* c-ares's message, lowercase first letter, no trailing period. */
static int fail_ares(struct probe *p, const char *what, int status)
{
	char buf[96];
	size_t n;

	snprintf(buf, sizeof buf, "%s", ares_strerror(status));
	if (isupper((unsigned char)buf[0]) && !isupper((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	n = strlen(buf);
	if (n && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return probe_fail(p, "%s: %s", what, buf);
}

static uint64_t left_us(const struct dns_run *r)
{
	uint64_t spent = probe_now_us() - r->start_us;

	if (!r->limit_us)
		return UINT64_MAX;
	return spent >= r->limit_us ? 0 : r->limit_us - spent;
}

/* c-ares opens and closes its sockets: keep the canceller's list in step. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct probe *p = data;
	bool tracked = false;

	for (size_t i = 0; i < PROBE_FDS_MAX; i++)
		if (p->fds[i] == fd)
			tracked = true;
	if ((readable || writable) && !tracked)
		probe_track_fd(p, fd);
	else if (!readable && !writable)
		probe_untrack_fd(p, fd);
}

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_reply *q = arg;

	(void)timeouts;
	q->done = true;
	q->status = status;
	if (abuf && alen >= 12) {
		q->abuf = malloc((size_t)alen);
		if (q->abuf) {
			memcpy(q->abuf, abuf, (size_t)alen);
			q->alen = alen;
		}
	}
}

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* A channel on the job's server, or the system's; an ARES_* status. */
static int channel_open(struct probe *p, const char *server, ares_channel *ret)
{
	const struct job_dns *d = &p->job->u.dns;
	struct ares_options opts;
	int status;

	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS)
		return library_status;
	memset(&opts, 0, sizeof opts);
	/* Hand back every reply, SERVFAIL and REFUSED too: the job checks the rcode. */
	opts.flags = ARES_FLAG_NOCHECKRESP;
	opts.sock_state_cb = on_sock_state;
	opts.sock_state_cb_data = p;
	status = ares_init_options(ret, &opts, ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB);
	if (status != ARES_SUCCESS)
		return status;
	if (server) {
		char csv[INET6_ADDRSTRLEN + 16];

		if (strchr(server, ':'))
			snprintf(csv, sizeof csv, "[%s]:%u", server, (unsigned)d->server_port);
		else
			snprintf(csv, sizeof csv, "%s:%u", server, (unsigned)d->server_port);
		status = ares_set_servers_ports_csv(*ret, csv);
		if (status != ARES_SUCCESS)
			ares_destroy(*ret);
	}
	return status;
}

/*
 * Runs the channel until the reply, the timeout or a cancel, waiting in
 * the loop. Returns 0 (reply or timeout: see q->done), or -ECANCELED.
 */
static int drive(struct dns_run *r, ares_channel ch, const struct dns_reply *q)
{
	struct co_epoll *loop = co_get_epoll_ct();

	while (!q->done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval tv, maxtv, *tvp;
		uint64_t left = left_us(r);
		int bits, n = 0, ready, timeout;
		unsigned ubits;

		if (r->p->cancelled)
			return -ECANCELED;
		if (left == 0)
			return 0;
		bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		/* (c-ares's own macros shift a signed 1 into the sign bit.) */
		ubits = (unsigned)bits;
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = (short)(((ubits >> i) & 1 ? POLLIN : 0) |
					   ((ubits >> (i + ARES_GETSOCK_MAXNUM)) & 1 ? POLLOUT : 0));

			if (!ev)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = ev;
			pfd[n].revents = 0;
			n++;
		}
		if (left != UINT64_MAX) {
			maxtv.tv_sec = (time_t)(left / 1000000u);
			maxtv.tv_usec = (suseconds_t)(left % 1000000u);
		}
		/* (It may return maxtv itself, leaving tv unset.) */
		tvp = ares_timeout(ch, left != UINT64_MAX ? &maxtv : NULL, &tv);
		timeout = tvp ? (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000) : -1;
		if (!n && !tvp) {
			/* Nothing in flight and no reply: let c-ares finish its bookkeeping. */
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			return 0;
		}
		ready = co_poll(loop, pfd, (nfds_t)n, timeout);
		if (r->p->cancelled)
			return -ECANCELED;
		if (ready < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (ready == 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			ares_process_fd(ch,
					pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
					pfd[i].revents & (POLLOUT | POLLERR) ? pfd[i].fd : ARES_SOCKET_BAD);
		}
	}
	return 0;
}

/* ---- the reply ----------------------------------------------------------- */

static unsigned get16(const unsigned char *b)
{
	return (unsigned)b[0] << 8 | b[1];
}

static unsigned long get32(const unsigned char *b)
{
	return (unsigned long)get16(b) << 16 | get16(b + 2);
}

/* The domain name at at, expanded into out; false if malformed. */
static bool name_at(const unsigned char *at, const unsigned char *abuf, int alen,
		    char *out, size_t size, long *enclen)
{
	char *name;

	if (ares_expand_name(at, abuf, alen, &name, enclen) != ARES_SUCCESS)
		return false;
	snprintf(out, size, "%s", name);
	ares_free_string(name);
	return true;
}

/* Writes a record's data as text ("10 mail.example.org" for an MX); false if unknown or malformed. */
static bool rdata_text(unsigned type, const unsigned char *rd, unsigned rdlen,
		       const unsigned char *abuf, int alen, char *out, size_t size)
{
	char name[256], name2[256];
	long enclen, enclen2;

	switch (type) {
	case 1:
		return rdlen == 4 && inet_ntop(AF_INET, rd, out, (socklen_t)size);
	case 28:
		return rdlen == 16 && inet_ntop(AF_INET6, rd, out, (socklen_t)size);
	case 2: case 5: case 12:
		return name_at(rd, abuf, alen, out, size, &enclen);
	case 15:
		if (rdlen < 3 || !name_at(rd + 2, abuf, alen, name, sizeof name, &enclen))
			return false;
		snprintf(out, size, "%u %s", get16(rd), name);
		return true;
	case 33:
		if (rdlen < 7 || !name_at(rd + 6, abuf, alen, name, sizeof name, &enclen))
			return false;
		snprintf(out, size, "%u %u %u %s", get16(rd), get16(rd + 2), get16(rd + 4), name);
		return true;
	case 6:
		if (!name_at(rd, abuf, alen, name, sizeof name, &enclen) ||
		    !name_at(rd + enclen, abuf, alen, name2, sizeof name2, &enclen2) ||
		    (unsigned long)(enclen + enclen2 + 4) > rdlen)
			return false;
		snprintf(out, size, "%s %s %lu", name, name2, get32(rd + enclen + enclen2));
		return true;
	case 16: {
		size_t n = 0;

		for (unsigned i = 0; i < rdlen;) {
			unsigned len = rd[i++];

			if (i + len > rdlen)
				return false;
			for (unsigned k = 0; k < len && n + 1 < size; k++)
				out[n++] = (char)rd[i + k];
			i += len;
		}
		out[n] = '\0';
		return true;
	}
	case 257: {
		unsigned taglen;

		if (rdlen < 2 || (taglen = rd[1]) + 2 > rdlen)
			return false;
		snprintf(out, size, "%u %.*s \"%.*s\"", rd[0], (int)taglen, (const char *)rd + 2,
			 (int)(rdlen - 2 - taglen), (const char *)rd + 2 + taglen);
		return true;
	}
	}
	return false;
}

/* Whether some answer record's text form contains want. */
static bool answer_contains(const unsigned char *abuf, int alen, const char *want)
{
	const unsigned char *at = abuf + 12, *end = abuf + alen;
	unsigned qd = get16(abuf + 4), an = get16(abuf + 6);
	char name[256], text[1024];
	long enclen;

	for (unsigned i = 0; i < qd; i++) {
		if (!name_at(at, abuf, alen, name, sizeof name, &enclen) || end - at < enclen + 4)
			return false;
		at += enclen + 4;
	}
	for (unsigned i = 0; i < an; i++) {
		unsigned type, rdlen;

		if (!name_at(at, abuf, alen, name, sizeof name, &enclen) || end - at < enclen + 10)
			return false;
		at += enclen;
		type = get16(at);
		rdlen = get16(at + 8);
		at += 10;
		if (end - at < (long)rdlen)
			return false;
		if (rdata_text(type, at, rdlen, abuf, alen, text, sizeof text) && strstr(text, want))
			return true;
		at += rdlen;
	}
	return false;
}

static void quote(const char *text, char *buf, size_t size)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)text; *s && n + 5 < size; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		if (isprint(*s))
			buf[n++] = (char)*s;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *s);
	}
	buf[n] = '\0';
}

/* Judges a reply against the job's expectations. */
static int check(struct probe *p, const struct dns_reply *q)
{
	const struct job_dns *d = &p->job->u.dns;
	const char *want = d->expect_rcode ? d->expect_rcode : "NOERROR";
	char rcode_buf[16], qbuf[128];
	const char *rcode;
	unsigned rc;

	if (!q->abuf) {
		if (q->status == ARES_ENOMEM)
			return probe_fail(p, "out of memory");
		return fail_ares(p, "query", q->status);
	}
	rc = q->abuf[3] & 0x0f;
	if (rc < sizeof rcode_names / sizeof rcode_names[0]) {
		rcode = rcode_names[rc];
	} else {
		snprintf(rcode_buf, sizeof rcode_buf, "%u", rc);
		rcode = rcode_buf;
	}
	if (strcasecmp(rcode, want) != 0)
		return probe_fail(p, "rcode %s (expected %s)", rcode, want);
	if (d->expect_answer && *d->expect_answer &&
	    !answer_contains(q->abuf, q->alen, d->expect_answer)) {
		quote(d->expect_answer, qbuf, sizeof qbuf);
		return probe_fail(p, "no answer contains \"%s\"", qbuf);
	}
	p->result.ok = true;
	return 0;
}

static int record_type(const char *name)
{
	if (!name)
		return 1;
	for (size_t i = 0; i < sizeof record_types / sizeof record_types[0]; i++)
		if (strcasecmp(record_types[i].name, name) == 0)
			return record_types[i].type;
	return -1;
}

/*
 * RFC 6761 6.3: "localhost." and names below it are the loopback address,
 * answered by the resolver itself without asking a server (as glibc and
 * systemd-resolved do). Only when the job names no server of its own: a
 * job that asks a given server wants that server's answer.
 */
static bool is_localhost(const char *name)
{
	size_t n = strlen(name);

	if (n && name[n - 1] == '.')
		n--;
	if (n < 9 || strncasecmp(name + n - 9, "localhost", 9) != 0)
		return false;
	return n == 9 || name[n - 10] == '.';
}

static int local_answer(struct probe *p, int type)
{
	const struct job_dns *d = &p->job->u.dns;
	const char *want = d->expect_rcode ? d->expect_rcode : "NOERROR";
	const char *answer = type == 1 ? "127.0.0.1" : type == 28 ? "::1" : NULL;
	char qbuf[128];

	if (strcasecmp(want, "NOERROR") != 0)
		return probe_fail(p, "rcode NOERROR (expected %s)", want);
	if (d->expect_answer && *d->expect_answer &&
	    (!answer || !strstr(answer, d->expect_answer))) {
		quote(d->expect_answer, qbuf, sizeof qbuf);
		return probe_fail(p, "no answer contains \"%s\"", qbuf);
	}
	p->result.ok = true;
	return 0;
}

/*
 * The job's server as an address: a name is looked up first (through the
 * hooks, bounded by what is left of the timeout). Returns 1 with the
 * address in buf, or 0 with the run failed.
 */
static int server_address(struct dns_run *r, char *buf, size_t size)
{
	const char *host = r->p->job->u.dns.server_host;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *list = NULL;
	unsigned char bin[16];
	int err;

	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1) {
		snprintf(buf, size, "%s", host);
		return 1;
	}
	if (r->limit_us)
		co_set_resolve_timeout((int)((left_us(r) + 999) / 1000) + 1);
	err = getaddrinfo(host, NULL, &hints, &list);
	co_set_resolve_timeout(0);
	if (err || !list) {
		if (r->limit_us && left_us(r) == 0)
			return probe_fail_timeout(r->p), 0;
		probe_fail(r->p, "resolve server %s: %s", host,
			   err == EAI_NONAME || err == EAI_NODATA ? "name not found"
			   : err == EAI_AGAIN ? "temporary failure" : gai_strerror(err));
		return 0;
	}
	if (list->ai_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)list->ai_addr)->sin6_addr, buf,
			  (socklen_t)size);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)list->ai_addr)->sin_addr, buf,
			  (socklen_t)size);
	freeaddrinfo(list);
	return 1;
}

static int run(struct dns_run *r)
{
	const struct job_dns *d = &r->p->job->u.dns;
	struct dns_reply q = { 0 };
	char server[INET6_ADDRSTRLEN];
	ares_channel ch;
	int type = record_type(d->record), status, ret;

	if (type < 0)
		return probe_fail(r->p, "record type %s is not supported", d->record);
	if (!d->server_host && is_localhost(d->query))
		return local_answer(r->p, type);
	if (d->server_host && !server_address(r, server, sizeof server))
		return r->p->cancelled ? -ECANCELED : 0;
	status = channel_open(r->p, d->server_host ? server : NULL, &ch);
	if (status != ARES_SUCCESS) {
		if (d->server_host && status != ARES_ENOMEM)
			return probe_fail(r->p, "server %s: not usable", d->server_host);
		return fail_ares(r->p, "resolver", status);
	}
	ares_query(ch, d->query, CLASS_IN, type, on_reply, &q);
	ret = drive(r, ch, &q);
	if (!q.done)
		ares_cancel(ch); /* the callback says ARES_ECANCELLED; no reply */
	ares_destroy(ch);    /* closes c-ares's sockets (and untracks them) */
	if (ret == 0 && !r->p->cancelled) {
		if (q.status == ARES_ECANCELLED || (!q.abuf && q.status == ARES_ETIMEOUT))
			probe_fail_timeout(r->p);
		else
			check(r->p, &q);
	} else {
		ret = -ECANCELED;
	}
	free(q.abuf);
	return ret;
}

int probe_dns(struct probe *p)
{
	struct dns_run r = { .p = p, .start_us = probe_now_us() };
	int ret;

	r.limit_us = p->job->timeout_ms * 1000u;
	p->result.ok = false;
	p->result.error[0] = '\0';
	ret = run(&r);
	p->result.duration_us = probe_now_us() - r.start_us;
	if (p->result.ok)
		p->result.error[0] = '\0';
	return ret;
}
