/* SPDX-License-Identifier: MIT */
/*
 * loop-util.h: what the event loop, hook and condition variable tests
 * share: clocks, a watchdog, coroutines that are released at the end,
 * loopback sockets, and peer threads that act on a descriptor after a
 * delay. Everything here is static; include it once per test file.
 *
 * The socket helpers use the ordinary blocking calls, so they run as they
 * are both on a plain thread (libc) and in a coroutine with hooks on (the
 * event loop).
 */
#ifndef CORO_TESTS_LOOP_UTIL_H
#define CORO_TESTS_LOOP_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

/* ---- time ---------------------------------------------------------------- */

static inline long long lu_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline long long lu_now_ms(void)
{
	return lu_now_us() / 1000;
}

/* Valgrind and qemu-user run the code many times slower. */
static inline int lu_slow(void)
{
	return tap_under_valgrind() || tap_under_qemu();
}

/* How late a wake-up may be and still count as "about on time". */
static inline long long lu_slack_ms(void)
{
	return lu_slow() ? 3000 : 250;
}

/* ---- watchdog -------------------------------------------------------------
 *
 * A hang in these tests is usually a thread blocked in a system call that
 * should have yielded, where no check of ours can run: SIGALRM then names
 * what was stuck, instead of the harness's bare timeout.
 */

static const char *lu_watch_what;

static void lu_watch_fire(int sig)
{
	char buf[300];
	int n;

	(void)sig;
	n = snprintf(buf, sizeof buf, "# watchdog: %s did not finish in time "
		     "(a blocked thread or a coroutine that is never woken)\n",
		     lu_watch_what ? lu_watch_what : "the case");
	if (write(STDERR_FILENO, buf, n > 0 ? (size_t)n : 0) < 0) {
		/* Nothing to do: we fail either way. */
	}
	_exit(3);
}

/* Fails the case with a message if it is not over in seconds (scaled when slow). */
static inline void lu_watchdog(unsigned seconds, const char *what)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = lu_watch_fire;
	sigaction(SIGALRM, &sa, NULL);
	lu_watch_what = what;
	alarm(lu_slow() ? (seconds * 4 < 100 ? seconds * 4 : 100) : seconds);
}

/* ---- coroutines ----------------------------------------------------------- */

static struct co **lu_cos;
static size_t lu_ncos, lu_capcos;
static int lu_stack_size; /* 0: the default */

/* Creates a coroutine for fn(arg), remembers it, and runs it until it first yields. */
static inline struct co *lu_go(co_fn *fn, void *arg)
{
	struct co_attr attr = { lu_stack_size, NULL };
	struct co *co = NULL;

	if (lu_ncos == lu_capcos) {
		lu_capcos = lu_capcos ? 2 * lu_capcos : 64;
		lu_cos = realloc(lu_cos, lu_capcos * sizeof *lu_cos);
		ASSERT(lu_cos != NULL);
	}
	ASSERT_EQ(co_create(&co, &attr, fn, arg), 0);
	lu_cos[lu_ncos++] = co;
	co_resume(co);
	return co;
}

/* Releases every coroutine lu_go made (finished or blocked in the loop). */
static inline void lu_release_all(void)
{
	for (size_t i = 0; i < lu_ncos; i++)
		co_release(lu_cos[i]);
	free(lu_cos);
	lu_cos = NULL;
	lu_ncos = lu_capcos = 0;
}

/* Runs this thread's loop until *counter reaches target (checked before each round). */
struct lu_until {
	volatile int *counter;
	int target;
	unsigned long rounds;
};

static inline int lu_until_fn(void *arg)
{
	struct lu_until *u = arg;

	u->rounds++;
	return *u->counter >= u->target ? -1 : 0;
}

static inline unsigned long lu_run(volatile int *counter, int target)
{
	struct lu_until u = { counter, target, 0 };

	co_eventloop(co_get_epoll_ct(), lu_until_fn, &u);
	return u.rounds;
}

/* Runs one round of this thread's loop (fn is asked before each round). */
static inline int lu_one_round_fn(void *arg)
{
	int *calls = arg;

	return (*calls)++ >= 1 ? -1 : 0;
}

static inline void lu_one_round(void)
{
	int calls = 0;

	co_eventloop(co_get_epoll_ct(), lu_one_round_fn, &calls);
}

/* ---- sockets -------------------------------------------------------------- */

static inline socklen_t lu_addr(int family, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons((uint16_t)port);
		return sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons((uint16_t)port);
		return sizeof *a;
	}
}

/* A listening TCP socket on the loopback address, its port in *ret_port; -1 on failure. */
static inline int lu_listen(int family, int backlog, int *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len = lu_addr(family, 0, &ss);
	int fd = socket(family, SOCK_STREAM, 0), one = 1;

	*ret_port = 0;
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return -1;
	}
	*ret_port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					     : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* A blocking connect to the loopback port; the descriptor, or -1 with errno. */
static inline int lu_connect(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = lu_addr(family, port, &ss);
	int fd = socket(family, SOCK_STREAM, 0), err;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* A connected loopback TCP pair, made with the ordinary calls. */
static inline void lu_tcp_pair(int *ret_client, int *ret_server)
{
	int port, l = lu_listen(AF_INET, 8, &port);

	ASSERT(l >= 0);
	*ret_client = lu_connect(AF_INET, port);
	ASSERT(*ret_client >= 0);
	*ret_server = accept(l, NULL, NULL);
	ASSERT(*ret_server >= 0);
	ASSERT_EQ(close(l), 0);
}

/* Writes all of buf; len, or -1. */
static inline ssize_t lu_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = write(fd, (const char *)buf + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return (ssize_t)len;
}

/* Reads len bytes unless EOF or an error comes first; what was read, or -1. */
static inline ssize_t lu_read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = read(fd, (char *)buf + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return done ? (ssize_t)done : -1;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static inline int lu_set_timeo(int fd, int opt, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* Raises the soft descriptor limit to the hard one; the new soft limit. */
static inline long lu_raise_nofile(void)
{
	struct rlimit rl;

	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return (long)rl.rlim_cur;
}

/* A byte pattern that tells streams and offsets apart. */
static inline unsigned char lu_pattern(unsigned stream, size_t off)
{
	return (unsigned char)((off * 131u + stream * 7u + (off >> 8) * 17u) & 0xff);
}

/* ---- peer threads ----------------------------------------------------------
 *
 * A plain thread (no coroutine, no loop: its calls are libc's) that acts on
 * a descriptor after a delay, so that a call can be seen blocking and then
 * completing the same way on a plain thread and in a hooked coroutine.
 */

enum lu_act {
	LU_WRITE,    /* write data */
	LU_CLOSE,    /* close: the other end reads EOF */
	LU_RESET,    /* SO_LINGER 0, close: the other end gets a reset */
	LU_SHUT_WR,  /* shutdown(SHUT_WR) */
	LU_ACCEPT,   /* accept one connection and keep it */
	LU_DRAIN,    /* read until EOF, counting the bytes */
	LU_CONNECT,  /* connect to the loopback port `port` and keep it */
	LU_READ,     /* one blocking read of up to len bytes into buf; result: its return, err: errno */
};

struct lu_peer {
	pthread_t thread;
	int fd;
	int delay_ms;
	enum lu_act act;
	const void *data;   /* LU_WRITE */
	size_t len;
	int pieces;         /* LU_WRITE: in this many writes, delay_ms apart */
	int port;           /* LU_CONNECT */
	void *buf;          /* LU_READ */
	int result;         /* LU_ACCEPT, LU_CONNECT: the descriptor; LU_READ: what read returned */
	int err;            /* LU_READ: errno */
	long long took_us;  /* LU_READ: how long the read took */
	long long drained;  /* LU_DRAIN: bytes */
};

static inline void lu_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits until fd is ready for events with real poll (this thread has no loop). */
static inline void lu_wait_fd(int fd, short events)
{
	struct pollfd p = { fd, events, 0 };

	poll(&p, 1, -1);
}

static inline void *lu_peer_main(void *arg)
{
	struct lu_peer *p = arg;
	struct linger lg = { 1, 0 };

	lu_sleep_ms(p->delay_ms);
	switch (p->act) {
	case LU_WRITE: {
		int pieces = p->pieces > 0 ? p->pieces : 1;
		size_t step = (p->len + (size_t)pieces - 1) / (size_t)pieces, off = 0;

		for (int i = 0; i < pieces && off < p->len; i++) {
			size_t n = p->len - off < step ? p->len - off : step;

			if (i)
				lu_sleep_ms(p->delay_ms);
			while (n) {
				ssize_t r;

				lu_wait_fd(p->fd, POLLOUT);
				r = send(p->fd, (const char *)p->data + off, n, MSG_NOSIGNAL);
				if (r < 0 && errno == ENOTSOCK) /* a pipe */
					r = write(p->fd, (const char *)p->data + off, n);
				if (r <= 0)
					break;
				off += (size_t)r;
				n -= (size_t)r;
			}
		}
		break;
	}
	case LU_CLOSE:
		close(p->fd);
		break;
	case LU_RESET:
		setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(p->fd);
		break;
	case LU_SHUT_WR:
		shutdown(p->fd, SHUT_WR);
		break;
	case LU_ACCEPT:
		lu_wait_fd(p->fd, POLLIN);
		p->result = accept(p->fd, NULL, NULL);
		break;
	case LU_CONNECT:
		p->result = lu_connect(AF_INET, p->port);
		break;
	case LU_READ: {
		long long t0 = lu_now_us();

		errno = 0;
		p->result = (int)read(p->fd, p->buf, p->len);
		p->err = errno;
		p->took_us = lu_now_us() - t0;
		break;
	}
	case LU_DRAIN: {
		char buf[65536];

		for (;;) {
			ssize_t r;

			lu_wait_fd(p->fd, POLLIN);
			r = read(p->fd, buf, sizeof buf);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0)
				break;
			p->drained += r;
		}
		break;
	}
	}
	return NULL;
}

static inline void lu_peer_start(struct lu_peer *p)
{
	ASSERT_EQ(pthread_create(&p->thread, NULL, lu_peer_main, p), 0);
}

static inline void lu_peer_join(struct lu_peer *p)
{
	ASSERT_EQ(pthread_join(p->thread, NULL), 0);
}

#endif
