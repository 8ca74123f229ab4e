/* SPDX-License-Identifier: MIT */
/*
 * test-echo.c: echo servers and clients written as plain blocking code in
 * hooked coroutines: a server coroutine accepts and starts one coroutine
 * per connection. Many messages of many sizes through every read and
 * write call, over IPv4 and IPv6, on shared stacks, with large transfers
 * in both directions at once, 10,000 concurrent connections on one thread
 * (the clients in a child process: the descriptor limit is per process),
 * and one loop per thread in four threads at once. Every byte is checked.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "tests/unit/loop-util.h"

/* ---- the server ------------------------------------------------------------- */

struct server {
	int listener;
	int expect;           /* connections to accept, then stop accepting */
	int accepted;
	int live;             /* connections being served now */
	int max_live;
	int finished;         /* connections served to EOF */
	long long bytes;
	int stack_size;       /* of the connection coroutines; 0: default */
	struct co_sharestack *pool;
	struct co **cos;      /* the connection coroutines, released by the caller */
};

struct conn {
	struct server *srv;
	int fd;
};

/* Small echoes go out at once (Nagle would hold them for the peer's delayed ACK). */
static void nodelay(int fd)
{
	int one = 1;

	ASSERT_EQ(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
}

/* One connection: echo until EOF, with whatever read returns. */
static void *serve_conn(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	char buf[4096];

	co_enable_hook_sys();
	srv->live++;
	if (srv->live > srv->max_live)
		srv->max_live = srv->live;
	for (;;) {
		ssize_t r = read(c->fd, buf, sizeof buf);

		if (r == 0)
			break;
		ASSERT_GT(r, 0);
		ASSERT_EQ(lu_write_all(c->fd, buf, (size_t)r), r);
		srv->bytes += r;
	}
	ASSERT_EQ(close(c->fd), 0);
	srv->live--;
	srv->finished++;
	free(c);
	return NULL;
}

static void *serve(void *arg)
{
	struct server *srv = arg;

	co_enable_hook_sys();
	srv->cos = calloc((size_t)srv->expect, sizeof *srv->cos);
	ASSERT(srv->cos != NULL);
	while (srv->accepted < srv->expect) {
		struct co_attr attr = { srv->stack_size, srv->pool };
		struct conn *c = malloc(sizeof *c);
		int fd = accept(srv->listener, NULL, NULL);

		ASSERT(fd >= 0);
		ASSERT(c != NULL);
		nodelay(fd);
		c->srv = srv;
		c->fd = fd;
		ASSERT_EQ(co_create(&srv->cos[srv->accepted], &attr, serve_conn, c), 0);
		co_resume(srv->cos[srv->accepted++]);
	}
	return NULL;
}

static void server_release(struct server *srv)
{
	for (int i = 0; i < srv->accepted; i++)
		co_release(srv->cos[i]);
	free(srv->cos);
}

/* ---- clients ------------------------------------------------------------------ */

enum { IO_READWRITE, IO_SENDRECV, IO_VECTORS, IO_MSGS, IO_KINDS };

struct client {
	int family;
	int port;
	unsigned id;
	int messages;
	int max_size;
	int done;
	long long bytes;
};

static __thread volatile int clients_done; /* per thread: echo_run runs in several at once */

static ssize_t send_some(int kind, int fd, const char *buf, size_t len)
{
	struct iovec iov[2] = { { (void *)buf, len / 2 }, { (void *)(buf + len / 2), len - len / 2 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	switch (kind) {
	case IO_SENDRECV:
		return send(fd, buf, len, MSG_NOSIGNAL);
	case IO_VECTORS:
		return writev(fd, iov, 2);
	case IO_MSGS:
		return sendmsg(fd, &mh, MSG_NOSIGNAL);
	default:
		return write(fd, buf, len);
	}
}

static ssize_t recv_some(int kind, int fd, char *buf, size_t len)
{
	struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	switch (kind) {
	case IO_SENDRECV:
		return recv(fd, buf, len, 0);
	case IO_VECTORS:
		return len >= 2 ? readv(fd, iov, 2) : read(fd, buf, len);
	case IO_MSGS:
		return len >= 2 ? recvmsg(fd, &mh, 0) : read(fd, buf, len);
	default:
		return read(fd, buf, len);
	}
}

/* Sends each message whole (blocking calls send all), then reads the echo back and checks it. */
static void *client_main(void *arg)
{
	struct client *cl = arg;
	int kind = (int)(cl->id % IO_KINDS), fd;
	char *out = malloc((size_t)cl->max_size), *in = malloc((size_t)cl->max_size);

	co_enable_hook_sys();
	ASSERT(out && in);
	fd = lu_connect(cl->family, cl->port);
	ASSERT(fd >= 0);
	nodelay(fd);
	for (int m = 0; m < cl->messages; m++) {
		size_t len = 1 + ((size_t)m * 7919u + cl->id * 104729u) % (size_t)cl->max_size, got = 0;

		for (size_t i = 0; i < len; i++)
			out[i] = (char)lu_pattern(cl->id * 1000 + (unsigned)m, i);
		ASSERT_EQ(send_some(kind, fd, out, len), len);
		while (got < len) {
			ssize_t r = recv_some(kind, fd, in + got, len - got);

			ASSERT_GT(r, 0);
			got += (size_t)r;
		}
		ASSERT_EQ(memcmp(in, out, len), 0);
		cl->bytes += (long long)len;
	}
	ASSERT_EQ(close(fd), 0);
	free(out);
	free(in);
	cl->done = 1;
	clients_done++;
	return NULL;
}

/* A server and n clients on this thread's loop; returns when all are done. */
static void echo_run(int family, int n, int messages, int max_size, struct co_sharestack *pool)
{
	struct server srv = { .expect = n, .pool = pool };
	struct client *cl = calloc((size_t)n, sizeof *cl);
	int port;
	long long total = 0;
	struct co **cos = calloc((size_t)n + 1, sizeof *cos);
	struct co_attr attr = { 0, pool };

	ASSERT(cl && cos);
	srv.listener = lu_listen(family, 128, &port);
	ASSERT(srv.listener >= 0);
	clients_done = 0;
	ASSERT_EQ(co_create(&cos[n], &attr, serve, &srv), 0);
	co_resume(cos[n]);
	for (int i = 0; i < n; i++) {
		cl[i] = (struct client){ family, port, (unsigned)i, messages, max_size, 0, 0 };
		ASSERT_EQ(co_create(&cos[i], &attr, client_main, &cl[i]), 0);
		co_resume(cos[i]);
	}
	lu_run(&clients_done, n);
	/* The server sees each EOF in the round after the client closed. */
	while (srv.finished < n)
		lu_one_round();
	for (int i = 0; i < n; i++) {
		ASSERT(cl[i].done);
		total += cl[i].bytes;
	}
	ASSERT_EQ(srv.accepted, n);
	ASSERT_EQ(srv.live, 0);
	ASSERT_EQ(srv.bytes, total);
	for (int i = 0; i <= n; i++)
		co_release(cos[i]);
	server_release(&srv);
	free(cos);
	free(cl);
	close(srv.listener);
}

TEST(echo_many_messages_ipv4)
{
	lu_watchdog(10, "echo of many messages");
	echo_run(AF_INET, 24, lu_slow() ? 60 : 300, 9000, NULL);
}

TEST(echo_ipv6)
{
	int port, fd = lu_listen(AF_INET6, 1, &port);

	if (fd < 0) {
		printf("# no IPv6 loopback here (%s): nothing to test\n", strerror(errno));
		return;
	}
	close(fd);
	lu_watchdog(10, "echo over ::1");
	echo_run(AF_INET6, 8, 50, 3000, NULL);
}

TEST(echo_on_shared_stacks)
{
	struct co_sharestack *pool = co_alloc_sharestack(4, 64 * 1024);

	ASSERT(pool != NULL);
	lu_watchdog(10, "echo on shared stacks");
	echo_run(AF_INET, 100, lu_slow() ? 5 : 20, 2000, pool);
	co_free_sharestack(pool);
}

/* Large transfers both ways at once: a writer and a reader coroutine per connection. */
enum { BIG = 4 << 20 };

struct big_client {
	int port;
	unsigned id;
	int fd;
	long long received;
	int writer_done, reader_done;
};

static volatile int big_done;

static void *big_writer(void *arg)
{
	struct big_client *b = arg;
	char *buf = malloc(BIG);

	co_enable_hook_sys();
	ASSERT(buf != NULL);
	for (size_t i = 0; i < BIG; i++)
		buf[i] = (char)lu_pattern(b->id, i);
	/* One call: a blocking write returns when all of it is queued. */
	ASSERT_EQ(write(b->fd, buf, BIG), BIG);
	ASSERT_EQ(shutdown(b->fd, SHUT_WR), 0);
	free(buf);
	b->writer_done = 1;
	big_done++;
	return NULL;
}

static void *big_reader(void *arg)
{
	struct big_client *b = arg;
	static char buf[65536];

	co_enable_hook_sys();
	for (;;) {
		ssize_t r = read(b->fd, buf, sizeof buf);

		ASSERT(r >= 0);
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if ((unsigned char)buf[i] != lu_pattern(b->id, (size_t)b->received + (size_t)i))
				tap__fail(__FILE__, __LINE__, "connection %u: byte %lld differs",
					  b->id, b->received + i);
		b->received += r;
	}
	b->reader_done = 1;
	big_done++;
	return NULL;
}

TEST(echo_large_transfers_both_ways)
{
	enum { N = 4 };
	struct server srv = { .expect = N };
	struct big_client b[N];
	int port;

	lu_watchdog(10, "large transfers");
	srv.listener = lu_listen(AF_INET, 16, &port);
	ASSERT(srv.listener >= 0);
	lu_go(serve, &srv);
	for (int i = 0; i < N; i++) {
		b[i] = (struct big_client){ .port = port, .id = (unsigned)i };
		b[i].fd = lu_connect(AF_INET, port);
		ASSERT(b[i].fd >= 0);
		lu_go(big_writer, &b[i]);
		lu_go(big_reader, &b[i]);
	}
	lu_run(&big_done, 2 * N);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(b[i].received, BIG);
		close(b[i].fd);
	}
	while (srv.finished < N)
		lu_one_round();
	ASSERT_EQ(srv.bytes, (long long)N * BIG);
	lu_release_all();
	server_release(&srv);
	close(srv.listener);
}

/* ---- 10,000 connections --------------------------------------------------------- */

enum { MSG = 32 };

static void conn_message(int i, char *buf)
{
	char tmp[64];

	memset(tmp, '.', sizeof tmp);
	snprintf(tmp, sizeof tmp, "conn %05u says %08u", (unsigned)i % 100000u,
		 (unsigned)i * 7919u % 100000000u);
	memcpy(buf, tmp, MSG);
}

/*
 * The client side, in a child process with plain epoll: opens n
 * connections (at most a few hundred handshakes at a time), sends each a
 * message and checks the echo, keeps every connection open until all n
 * have echoed, then closes them all. Returns the exit status.
 */
static int many_clients(int port, int n)
{
	struct cl {
		int fd;
		int state; /* 0 connecting, 1 sent, 2 echoed */
		int got;
		char buf[MSG];
	} *cs = calloc((size_t)n, sizeof *cs);
	struct epoll_event evs[512];
	int ep = epoll_create1(EPOLL_CLOEXEC), started = 0, inflight = 0, echoed = 0;
	struct sockaddr_storage ss;
	socklen_t len = lu_addr(AF_INET, port, &ss);

	if (!cs || ep < 0)
		return 10;
	while (echoed < n) {
		int nev;

		while (started < n && inflight < 256) {
			struct cl *c = &cs[started];
			struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)started };

			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd < 0) {
				fprintf(stderr, "# client: socket %d: %s\n", started, strerror(errno));
				return 11;
			}
			if (connect(c->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
				return 12;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
				return 13;
			started++;
			inflight++;
		}
		nev = epoll_wait(ep, evs, 512, 10000);
		if (nev <= 0) {
			fprintf(stderr, "# client: nothing for 10 s (%d echoed)\n", echoed);
			return 14;
		}
		for (int k = 0; k < nev; k++) {
			int i = (int)evs[k].data.u32;
			struct cl *c = &cs[i];

			if (c->state == 0 && (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				int err = -1;
				socklen_t el = sizeof err;
				char msg[MSG];
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
					fprintf(stderr, "# client: connect %d: %s\n", i, strerror(err));
					return 15;
				}
				conn_message(i, msg);
				if (write(c->fd, msg, MSG) != MSG)
					return 16;
				c->state = 1;
				if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
					return 17;
			} else if (c->state == 1 && (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
				ssize_t r = read(c->fd, c->buf + c->got, (size_t)(MSG - c->got));
				char msg[MSG];

				if (r < 0 && errno == EAGAIN)
					continue;
				if (r <= 0) {
					fprintf(stderr, "# client: connection %d ended early\n", i);
					return 18;
				}
				c->got += (int)r;
				if (c->got < MSG)
					continue;
				conn_message(i, msg);
				if (memcmp(msg, c->buf, MSG) != 0) {
					fprintf(stderr, "# client: connection %d: wrong echo\n", i);
					return 19;
				}
				c->state = 2;
				echoed++;
				inflight--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
	}
	/* All n are open and echoed at this point. */
	for (int i = 0; i < n; i++)
		close(cs[i].fd);
	return 0;
}

TEST_NO_VALGRIND(echo_10000_concurrent_connections_on_one_thread)
{
	enum { N = 10000 };
	struct server srv = { .expect = N, .stack_size = 64 * 1024 };
	int port, status;
	pid_t pid;
	long long t0 = lu_now_us();

	lu_watchdog(30, "10,000 connections");
	/* The limit is 20,000 here; each side needs 10,000 (the clients are another process). */
	ASSERT_GE(lu_raise_nofile(), N + 100);
	/* Made before the loop exists: the child inherits no loop state. */
	srv.listener = lu_listen(AF_INET, 4096, &port);
	ASSERT(srv.listener >= 0);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		alarm(lu_slow() ? 100 : 30);
		_exit(many_clients(port, N));
	}
	lu_go(serve, &srv);
	lu_run(&srv.finished, N);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		tap__fail(__FILE__, __LINE__, "the client process failed (status %#x)", status);
	ASSERT_EQ(srv.accepted, N);
	ASSERT_EQ(srv.max_live, N); /* all 10,000 served at once */
	ASSERT_EQ(srv.live, 0);
	ASSERT_EQ(srv.bytes, (long long)N * MSG);
	printf("# 10,000 connections echoed in %lld ms\n", (lu_now_us() - t0) / 1000);
	lu_release_all();
	server_release(&srv);
	close(srv.listener);
}

/* ---- a loop per thread ---------------------------------------------------------- */

static struct co_epoll *thread_loops[4];

static void *echo_thread(void *arg)
{
	intptr_t i = (intptr_t)arg;

	thread_loops[i] = co_get_epoll_ct();
	/* ASSERTs here end the whole process with a failure, which is what we want. */
	echo_run(AF_INET, 10, lu_slow() ? 10 : 100, 5000, NULL);
	ASSERT_PTR_EQ(co_get_epoll_ct(), thread_loops[i]);
	return NULL;
}

TEST(echo_in_four_threads_each_with_its_loop)
{
	pthread_t t[4];

	lu_watchdog(20, "echo in four threads");
	for (intptr_t i = 0; i < 4; i++)
		ASSERT_EQ(pthread_create(&t[i], NULL, echo_thread, (void *)i), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		ASSERT_PTR_NE(thread_loops[i], NULL);
		for (int k = i + 1; k < 4; k++)
			ASSERT_PTR_NE(thread_loops[i], thread_loops[k]);
	}
}
