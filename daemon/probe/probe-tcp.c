/* SPDX-License-Identifier: MIT */
/*
 * probe-tcp.c: a tcp job's run: resolve, connect (each address in turn),
 * optionally send, optionally read until the expected text. Ordinary
 * blocking calls: in a hooked coroutine they only block the coroutine.
 * The job's timeout bounds the whole run: before each blocking call the
 * socket's SO_SNDTIMEO and SO_RCVTIMEO are set to the time left.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/probe/probe.h"

/* Bytes of reply kept while looking for the expected text. */
#define REPLY_WINDOW 65536

struct tcp_run {
	struct probe *p;
	uint64_t start_us;
	uint64_t limit_us;      /* 0: no timeout */
	struct sockaddr_storage sa; /* the address being tried (a copy: the list is freed before the reads) */
	char addr[INET6_ADDRSTRLEN + 8]; /* its text, made only for an error message */
};

/* strerror, lowercase first letter ("connection refused"). */
static const char *errtext(int err, char *buf, size_t size)
{
	snprintf(buf, size, "%s", strerror(err));
	if (buf[0] && isupper((unsigned char)buf[0]) && !isupper((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* text, quoted for an error message: non-printable bytes as escapes. */
static const char *quoted(const char *text, char *buf, size_t size)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)text; *s && n + 5 < size; s++) {
		if (*s == '\r' || *s == '\n' || *s == '\t') {
			buf[n++] = '\\';
			buf[n++] = *s == '\r' ? 'r' : *s == '\n' ? 'n' : 't';
		} else if (*s == '"' || *s == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)*s;
		} else if (isprint(*s)) {
			buf[n++] = (char)*s;
		} else {
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", *s);
		}
	}
	buf[n] = '\0';
	return buf;
}

/* Microseconds left before the timeout; UINT64_MAX without one, 0 when up. */
static uint64_t left_us(const struct tcp_run *r)
{
	uint64_t spent = probe_now_us() - r->start_us;

	if (!r->limit_us)
		return UINT64_MAX;
	return spent >= r->limit_us ? 0 : r->limit_us - spent;
}

/* Bounds the next blocking call on fd by the time left; false when it is up. */
static bool arm(const struct tcp_run *r, int fd)
{
	uint64_t left = left_us(r);
	struct timeval tv = { 0, 0 }; /* zero: no timeout */

	if (left == 0)
		return false;
	if (left != UINT64_MAX) {
		tv.tv_sec = (time_t)(left / 1000000u);
		tv.tv_usec = (suseconds_t)(left % 1000000u);
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return true;
}

/*
 * "a.b.c.d:port" or "[::1]:port" of the address being tried. Made only
 * when an error names it: formatting it for every connect cost a probe
 * more instructions than the rest of its user-space work.
 */
static const char *addr_text(struct tcp_run *r)
{
	const struct sockaddr *sa = (const struct sockaddr *)&r->sa;
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = r->p->job->u.tcp.port;

	if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  host, sizeof host);
		snprintf(r->addr, sizeof r->addr, "[%s]:%u", host, port);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  host, sizeof host);
		snprintf(r->addr, sizeof r->addr, "%s:%u", host, port);
	}
	return r->addr;
}

static void drop(struct probe *p, int *fd)
{
	if (*fd >= 0) {
		probe_untrack_fd(p, *fd);
		close(*fd);
		*fd = -1;
	}
}

/*
 * Connects to one of the addresses: returns the socket, or -1 with the
 * result already set (or -2 when cancelled).
 */
static int connect_any(struct tcp_run *r, const struct addrinfo *list)
{
	char ebuf[64];
	int last_err = 0;

	for (const struct addrinfo *a = list; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);

		memcpy(&r->sa, a->ai_addr, a->ai_addrlen <= sizeof r->sa ? a->ai_addrlen : sizeof r->sa);
		if (fd < 0) {
			last_err = errno;
			continue;
		}
		probe_track_fd(r->p, fd);
		if (!arm(r, fd)) {
			drop(r->p, &fd);
			probe_fail_timeout(r->p);
			return -1;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 && !r->p->cancelled)
			return fd;
		last_err = errno;
		drop(r->p, &fd);
		if (r->p->cancelled)
			return -2;
		/* The hook says EINPROGRESS when SO_SNDTIMEO expires, as Linux does. */
		if (last_err == EINPROGRESS || last_err == EAGAIN || left_us(r) == 0) {
			probe_fail_timeout(r->p);
			return -1;
		}
	}
	probe_fail(r->p, "connect %s: %s", addr_text(r), errtext(last_err, ebuf, sizeof ebuf));
	return -1;
}

/* Returns 0 when all is sent, -1 with the result set, -2 when cancelled. */
static int send_all(struct tcp_run *r, int fd, const char *data, size_t len)
{
	char ebuf[64];

	while (len) {
		ssize_t n;

		if (!arm(r, fd)) {
			probe_fail_timeout(r->p);
			return -1;
		}
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (r->p->cancelled)
			return -2;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				probe_fail_timeout(r->p);
				return -1;
			}
			probe_fail(r->p, "send %s: %s", addr_text(r), errtext(errno, ebuf, sizeof ebuf));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until expect shows up: 0 when found, -1 with the result set, -2 when cancelled. */
static int read_expect(struct tcp_run *r, int fd, const char *expect)
{
	size_t elen = strlen(expect), have = 0;
	char *buf = malloc(REPLY_WINDOW), ebuf[64], qbuf[128];
	int ret = -1;

	if (!buf) {
		probe_fail(r->p, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t n;

		if (!arm(r, fd)) {
			probe_fail_timeout(r->p);
			break;
		}
		n = recv(fd, buf + have, REPLY_WINDOW - have, 0);
		if (r->p->cancelled) {
			ret = -2;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				probe_fail_timeout(r->p);
			else
				probe_fail(r->p, "read %s: %s", addr_text(r), errtext(errno, ebuf, sizeof ebuf));
			break;
		}
		if (n == 0) {
			probe_fail(r->p, "reply lacks \"%s\"", quoted(expect, qbuf, sizeof qbuf));
			break;
		}
		have += (size_t)n;
		if (memmem(buf, have, expect, elen)) {
			ret = 0;
			break;
		}
		if (have == REPLY_WINDOW) {
			/* Keep only what could start a match that the next read ends. */
			size_t keep = elen < REPLY_WINDOW ? elen - 1 : 0;

			memmove(buf, buf + have - keep, keep);
			have = keep;
		}
	}
	free(buf);
	return ret;
}

static int run(struct tcp_run *r)
{
	const struct job_tcp *t = &r->p->job->u.tcp;
	struct addrinfo hints, *list = NULL, numeric;
	struct sockaddr_in6 sa6;
	struct sockaddr_in sa4;
	char port[8];
	int fd, err, ret = 0;

	/* A numeric address needs no lookup (nor getaddrinfo's allocations). */
	memset(&numeric, 0, sizeof numeric);
	numeric.ai_socktype = SOCK_STREAM;
	numeric.ai_protocol = IPPROTO_TCP;
	memset(&sa4, 0, sizeof sa4);
	memset(&sa6, 0, sizeof sa6);
	if (inet_pton(AF_INET, t->host, &sa4.sin_addr) == 1) {
		sa4.sin_family = AF_INET;
		sa4.sin_port = htons(t->port);
		numeric.ai_family = AF_INET;
		numeric.ai_addr = (struct sockaddr *)&sa4;
		numeric.ai_addrlen = sizeof sa4;
	} else if (inet_pton(AF_INET6, t->host, &sa6.sin6_addr) == 1) {
		sa6.sin6_family = AF_INET6;
		sa6.sin6_port = htons(t->port);
		numeric.ai_family = AF_INET6;
		numeric.ai_addr = (struct sockaddr *)&sa6;
		numeric.ai_addrlen = sizeof sa6;
	}
	if (numeric.ai_addr) {
		fd = connect_any(r, &numeric);
		goto connected;
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%u", (unsigned)t->port);
	/* The job's timeout bounds the lookup too (c-ares alone may retry for longer). */
	if (r->limit_us)
		co_set_resolve_timeout((int)((left_us(r) + 999) / 1000) + 1);
	err = getaddrinfo(t->host, port, &hints, &list);
	co_set_resolve_timeout(0);
	if (r->p->cancelled) {
		if (!err)
			freeaddrinfo(list);
		return -ECANCELED;
	}
	if (err) {
		const char *why = err == EAI_NONAME || err == EAI_NODATA ? "name not found"
				  : err == EAI_AGAIN ? "temporary failure"
				  : gai_strerror(err);
		char ebuf[64];

		if (err == EAI_SYSTEM)
			why = errtext(errno, ebuf, sizeof ebuf);
		if (left_us(r) == 0)
			return probe_fail_timeout(r->p);
		return probe_fail(r->p, "resolve %s: %s", t->host, why);
	}
	if (left_us(r) == 0) {
		freeaddrinfo(list);
		return probe_fail_timeout(r->p);
	}
	fd = connect_any(r, list);
	freeaddrinfo(list);
connected:
	if (fd == -2)
		return -ECANCELED;
	if (fd < 0)
		return 0;
	if (t->send && *t->send)
		ret = send_all(r, fd, t->send, strlen(t->send));
	if (ret == 0 && t->expect && *t->expect)
		ret = read_expect(r, fd, t->expect);
	drop(r->p, &fd);
	if (ret == -2 || r->p->cancelled)
		return -ECANCELED;
	if (ret == 0)
		r->p->result.ok = true;
	return 0;
}

int probe_tcp(struct probe *p)
{
	struct tcp_run r = { .p = p, .start_us = probe_now_us() };
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
