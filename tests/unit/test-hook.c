/* SPDX-License-Identifier: MIT */
/*
 * test-hook.c: what the hooked system calls do for coroutines sharing one
 * thread: a blocked call yields (others run meanwhile, sleeps overlap and
 * are never short), several coroutines may wait on one descriptor, close()
 * wakes whoever waits on the descriptor, pipes and descriptors made
 * elsewhere (other threads, a forked parent, numbers reused after a close
 * the hooks did not see) are handled, calls outside hooked coroutines are
 * libc's, and co_set_env_list gives each coroutine its own variables.
 *
 * Comparisons of single calls with libc (return values, errno, timeouts)
 * are in test-hooktable.c; coroutines released while blocked, in
 * test-loop.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "tests/unit/loop-util.h"

static volatile int done;
static volatile long long ticks;
static volatile int ticker_stop;

/* Counts 5 ms rounds while other coroutines are blocked: proof that the thread is not. */
static void *ticker(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	while (!ticker_stop) {
		usleep(5000);
		ticks++;
	}
	return NULL;
}

/* The kernel's own file status flags, bypassing the fcntl hook. */
static int kernel_getfl(int fd)
{
	return (int)syscall(SYS_fcntl, fd, F_GETFL);
}

static char big[1 << 20];
static char sink[1 << 20];

static void fill_pattern(char *buf, size_t len, unsigned stream)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)lu_pattern(stream, i);
}

/* ---- blocked calls yield; sleeps overlap and are never short ------------------------ */

enum { SL_USLEEP, SL_NANOSLEEP, SL_POLL, SL_SELECT, SL_SLEEP, SL_KINDS };

struct sleeper {
	int kind;
	long long asked_us;
	long long took_us;
	long long ret;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	long long t0;

	co_enable_hook_sys();
	t0 = lu_now_us();
	switch (s->kind) {
	case SL_USLEEP:
		s->ret = usleep((useconds_t)s->asked_us);
		break;
	case SL_NANOSLEEP: {
		struct timespec ts = { s->asked_us / 1000000, (long)(s->asked_us % 1000000) * 1000 + 1 };

		s->asked_us++; /* the extra nanosecond: rounded up, never down */
		s->ret = nanosleep(&ts, NULL);
		break;
	}
	case SL_POLL:
		s->ret = poll(NULL, 0, (int)(s->asked_us / 1000));
		break;
	case SL_SELECT: {
		struct timeval tv = { s->asked_us / 1000000, s->asked_us % 1000000 };

		s->ret = select(0, NULL, NULL, NULL, &tv);
		break;
	}
	case SL_SLEEP:
		s->ret = sleep((unsigned)(s->asked_us / 1000000));
		break;
	}
	s->took_us = lu_now_us() - t0;
	done++;
	return NULL;
}

static void check_sleepers(struct sleeper *s, int n)
{
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(s[i].ret, 0);
		/* Never early. */
		ASSERT_GE(s[i].took_us, s[i].asked_us);
	}
}

TEST(sleeps_of_many_coroutines_overlap)
{
	enum { N = 40 };
	static struct sleeper s[N];
	long long t0;

	lu_watchdog(5, "40 sleeps of 200 ms");
	t0 = lu_now_us();
	for (int i = 0; i < N; i++) {
		s[i] = (struct sleeper){ .kind = i % SL_SLEEP, .asked_us = 200000 };
		lu_go(sleeper_main, &s[i]);
	}
	lu_run(&done, N);
	/* One after the other, 40 x 200 ms would be 8 s. */
	ASSERT_LT(lu_now_us() - t0, (200 + lu_slack_ms()) * 1000);
	check_sleepers(s, N);
	lu_release_all();
}

TEST(sleep_seconds_overlap)
{
	enum { N = 10 };
	static struct sleeper s[N];
	long long t0;

	lu_watchdog(5, "10 x sleep(1)");
	t0 = lu_now_us();
	for (int i = 0; i < N; i++) {
		s[i] = (struct sleeper){ .kind = SL_SLEEP, .asked_us = 1000000 };
		lu_go(sleeper_main, &s[i]);
	}
	lu_run(&done, N);
	ASSERT_LT(lu_now_us() - t0, (1000 + lu_slack_ms()) * 1000);
	check_sleepers(s, N);
	lu_release_all();
}

/* Odd durations, down to the microsecond: each sleep lasts at least what was asked. */
TEST(sleeps_are_never_short)
{
	enum { N = 300 };
	static struct sleeper s[N];
	unsigned seed = 12345;

	lu_watchdog(5, "300 random sleeps");
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		s[i] = (struct sleeper){ .kind = i % 2 ? SL_USLEEP : SL_NANOSLEEP,
					 .asked_us = 1 + (seed >> 8) % 60000 };
		lu_go(sleeper_main, &s[i]);
	}
	lu_run(&done, N);
	check_sleepers(s, N);
	lu_release_all();
}

/* While one coroutine is blocked in read, accept or poll, the others run. */
struct blocker {
	int kind; /* 0 read, 1 accept, 2 poll */
	int fd;
	long long ret;
	long long ticks_meanwhile;
	long long took_us;
};

static void *blocker_main(void *arg)
{
	struct blocker *b = arg;
	long long k0 = ticks, t0 = lu_now_us();
	char buf[16];
	struct pollfd p = { b->fd, POLLIN, 0 };

	co_enable_hook_sys();
	switch (b->kind) {
	case 0:
		b->ret = read(b->fd, buf, sizeof buf);
		break;
	case 1:
		b->ret = accept(b->fd, NULL, NULL);
		if (b->ret >= 0)
			close((int)b->ret);
		break;
	case 2:
		b->ret = poll(&p, 1, -1);
		break;
	}
	b->took_us = lu_now_us() - t0;
	b->ticks_meanwhile = ticks - k0;
	done++;
	return NULL;
}

struct waker {
	int fd;   /* write a byte to it */
	int port; /* or connect to it */
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;

	co_enable_hook_sys();
	usleep(100000);
	if (w->port) {
		int c = lu_connect(AF_INET, w->port);

		ASSERT(c >= 0);
		close(c);
	} else {
		ASSERT_EQ(write(w->fd, "x", 1), 1);
	}
	done++;
	return NULL;
}

TEST(blocked_read_accept_poll_let_others_run)
{
	int c[3], s[3], port, l = lu_listen(AF_INET, 8, &port);
	struct blocker b[3];
	struct waker w[3];

	lu_watchdog(5, "blocked read, accept and poll");
	ASSERT(l >= 0);
	lu_tcp_pair(&c[0], &s[0]);
	lu_tcp_pair(&c[2], &s[2]);
	b[0] = (struct blocker){ .kind = 0, .fd = c[0] };
	b[1] = (struct blocker){ .kind = 1, .fd = l };
	b[2] = (struct blocker){ .kind = 2, .fd = c[2] };
	w[0] = (struct waker){ .fd = s[0] };
	w[1] = (struct waker){ .port = port };
	w[2] = (struct waker){ .fd = s[2] };
	lu_go(ticker, NULL);
	for (int i = 0; i < 3; i++) {
		lu_go(blocker_main, &b[i]);
		lu_go(waker_main, &w[i]);
	}
	lu_run(&done, 6);
	ticker_stop = 1;
	for (int i = 0; i < 3; i++) {
		ASSERT_GE(b[i].ret, i == 1 ? 0 : 1);
		ASSERT_GE(b[i].took_us, 100000);
		/* About 20 rounds of the ticker while it was blocked. */
		ASSERT_GE(b[i].ticks_meanwhile, 5);
	}
	lu_release_all();
	close(l);
	close(c[0]);
	close(s[0]);
	close(c[2]);
	close(s[2]);
}

/* ---- several coroutines on one descriptor ----------------------------------------- */

static int shared_fd;
static char got[4];

static void *one_byte_reader(void *arg)
{
	intptr_t i = (intptr_t)arg;
	char c = 0;

	co_enable_hook_sys();
	ASSERT_EQ(read(shared_fd, &c, 1), 1);
	got[i] = c;
	done++;
	return NULL;
}

static void *two_bytes_apart(void *arg)
{
	int fd = (int)(intptr_t)arg;

	co_enable_hook_sys();
	usleep(50000);
	ASSERT_EQ(write(fd, "a", 1), 1);
	usleep(50000);
	ASSERT_EQ(write(fd, "b", 1), 1);
	done++;
	return NULL;
}

static void two_readers(int rd, int wr)
{
	lu_watchdog(5, "two readers of one descriptor");
	shared_fd = rd;
	lu_go(one_byte_reader, (void *)(intptr_t)0);
	lu_go(one_byte_reader, (void *)(intptr_t)1);
	lu_go(two_bytes_apart, (void *)(intptr_t)wr);
	lu_run(&done, 3);
	ASSERT(got[0] != got[1]);
	ASSERT(got[0] == 'a' || got[0] == 'b');
	ASSERT(got[1] == 'a' || got[1] == 'b');
	lu_release_all();
}

TEST(two_readers_on_one_socket_both_get_data)
{
	int c, s;

	lu_tcp_pair(&c, &s);
	two_readers(c, s);
	close(c);
	close(s);
}

TEST(two_readers_on_one_pipe_both_get_data)
{
	int p[2];

	ASSERT_EQ(pipe(p), 0);
	two_readers(p[0], p[1]);
	close(p[0]);
	close(p[1]);
}

/*
 * One coroutine blocked reading a socket and another blocked writing to
 * the same socket (its buffers full), while a third, at the other end,
 * drains the data and answers.
 */
static int duplex_c, duplex_s;
static long long duplex_wrote, duplex_drained;
static char duplex_answer[8];

static void *duplex_reader(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	ASSERT_EQ(lu_read_all(duplex_c, duplex_answer, 4), 4);
	done++;
	return NULL;
}

static void *duplex_writer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	duplex_wrote = write(duplex_c, big, sizeof big);
	done++;
	return NULL;
}

static void *duplex_peer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(50000);
	while (duplex_drained < (long long)sizeof big) {
		ssize_t r = read(duplex_s, sink, sizeof sink);

		ASSERT_GT(r, 0);
		ASSERT_EQ(memcmp(sink, big + duplex_drained, (size_t)r), 0);
		duplex_drained += r;
	}
	ASSERT_EQ(write(duplex_s, "done", 4), 4);
	done++;
	return NULL;
}

TEST(reader_and_writer_on_one_socket)
{
	int sz = 16384;

	lu_watchdog(5, "a reader and a writer on one socket");
	fill_pattern(big, sizeof big, 1);
	lu_tcp_pair(&duplex_c, &duplex_s);
	ASSERT_EQ(setsockopt(duplex_c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
	lu_go(duplex_reader, NULL);
	lu_go(duplex_writer, NULL);
	lu_go(duplex_peer, NULL);
	lu_run(&done, 3);
	ASSERT_EQ(duplex_wrote, sizeof big);
	ASSERT_EQ(duplex_drained, sizeof big);
	ASSERT_EQ(memcmp(duplex_answer, "done", 4), 0);
	lu_release_all();
	close(duplex_c);
	close(duplex_s);
}

/* Two coroutines writing 1 MiB each into one full socket both finish. */
static int two_w_fd;
static long long two_w_ret[2];

static void *big_writer(void *arg)
{
	intptr_t i = (intptr_t)arg;

	co_enable_hook_sys();
	two_w_ret[i] = write(two_w_fd, big, sizeof big);
	done++;
	return NULL;
}

static void *drainer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	long long total = 0;

	co_enable_hook_sys();
	usleep(50000);
	while (total < 2 * (long long)sizeof big) {
		ssize_t r = read(fd, sink, sizeof sink);

		ASSERT_GT(r, 0);
		total += r;
	}
	done++;
	return NULL;
}

TEST(two_writers_on_one_full_socket)
{
	int c, s;

	lu_watchdog(5, "two writers on one socket");
	lu_tcp_pair(&c, &s);
	two_w_fd = c;
	lu_go(big_writer, (void *)0);
	lu_go(big_writer, (void *)1);
	lu_go(drainer, (void *)(intptr_t)s);
	lu_run(&done, 3);
	ASSERT_EQ(two_w_ret[0], sizeof big);
	ASSERT_EQ(two_w_ret[1], sizeof big);
	lu_release_all();
	close(c);
	close(s);
}

/*
 * Data and then the FIN arrive while a reader waits: reading 4096 at a
 * time gives 4096, then a short 904, then EOF. The FIN's readiness came
 * with the data, so the reader must not wait for another event after the
 * short read.
 */
static int eof_fd;
static long long eof_reads[8];
static int eof_nreads;

static void *read_to_eof(void *arg)
{
	char buf[4096];

	(void)arg;
	co_enable_hook_sys();
	for (;;) {
		ssize_t r = read(eof_fd, buf, sizeof buf);

		ASSERT(eof_nreads < 8);
		eof_reads[eof_nreads++] = r;
		if (r <= 0)
			break;
	}
	done++;
	return NULL;
}

static void *write_then_close(void *arg)
{
	int fd = (int)(intptr_t)arg;

	co_enable_hook_sys();
	usleep(20000);
	/* No yield between the two: the data and the FIN are both queued before the reader runs. */
	ASSERT_EQ(write(fd, big, 5000), 5000);
	ASSERT_EQ(close(fd), 0);
	done++;
	return NULL;
}

TEST(eof_queued_behind_data_is_seen_after_a_short_read)
{
	int c, s;

	lu_watchdog(5, "a read of the EOF that came with the last data");
	lu_tcp_pair(&c, &s);
	eof_fd = c;
	lu_go(read_to_eof, NULL);
	lu_go(write_then_close, (void *)(intptr_t)s);
	lu_run(&done, 2);
	ASSERT_EQ(eof_nreads, 3);
	ASSERT_EQ(eof_reads[0], 4096);
	ASSERT_EQ(eof_reads[1], 904);
	ASSERT_EQ(eof_reads[2], 0);
	lu_release_all();
	close(c);
}

/* ---- close() wakes the coroutines waiting on the descriptor ------------------------ */

enum { CW_READ, CW_PIPE_READ, CW_ACCEPT, CW_POLL, CW_WRITE_FULL, CW_CONNECT, CW_KINDS };

struct closed_wait {
	int kind;
	int fd;        /* what the waiter blocks on; closed by the closer */
	int port;      /* CW_CONNECT: a listener whose queue is full */
	long long ret;
	int err;
	short revents;
	long long took_us;
	int reused;    /* the number the closer got back from socket() */
};

static void *closed_waiter(void *arg)
{
	struct closed_wait *w = arg;
	long long t0;
	char buf[16];
	struct pollfd p;

	co_enable_hook_sys();
	if (w->kind == CW_CONNECT)
		w->fd = socket(AF_INET, SOCK_STREAM, 0);
	t0 = lu_now_us();
	errno = 0;
	switch (w->kind) {
	case CW_READ:
	case CW_PIPE_READ:
		w->ret = read(w->fd, buf, sizeof buf);
		break;
	case CW_ACCEPT:
		w->ret = accept(w->fd, NULL, NULL);
		break;
	case CW_POLL:
		p = (struct pollfd){ w->fd, POLLIN, 0 };
		w->ret = poll(&p, 1, -1);
		w->revents = p.revents;
		break;
	case CW_WRITE_FULL:
		w->ret = write(w->fd, big, sizeof big);
		break;
	case CW_CONNECT: {
		struct sockaddr_storage ss;
		socklen_t len = lu_addr(AF_INET, w->port, &ss);

		w->ret = connect(w->fd, (struct sockaddr *)&ss, len);
		break;
	}
	}
	w->err = errno;
	w->took_us = lu_now_us() - t0;
	done++;
	return NULL;
}

static void *closer(void *arg)
{
	struct closed_wait *w = arg;
	int fd;

	co_enable_hook_sys();
	usleep(100000);
	ASSERT_EQ(close(w->fd), 0);
	/*
	 * The number comes back at once for something else (not for poll: it
	 * would then report on the new socket, which is fair).
	 */
	fd = w->kind == CW_POLL ? -1 : socket(AF_INET, SOCK_STREAM, 0);
	w->reused = fd;
	done++;
	return NULL;
}

static void close_while_waiting(int kind)
{
	struct closed_wait w = { .kind = kind };
	int p[2] = { -1, -1 }, c = -1, s = -1, l = -1, l2 = -1, port, filler = -1, sz = 4096;

	lu_watchdog(5, "a coroutine waiting on a descriptor another one closes");
	switch (kind) {
	case CW_READ:
		lu_tcp_pair(&c, &s);
		w.fd = c;
		break;
	case CW_PIPE_READ:
		ASSERT_EQ(pipe(p), 0);
		w.fd = p[0];
		break;
	case CW_ACCEPT:
	case CW_POLL:
		l = lu_listen(AF_INET, 8, &port);
		w.fd = l;
		break;
	case CW_WRITE_FULL:
		lu_tcp_pair(&c, &s);
		ASSERT_EQ(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
		/* Full before the write, so that it has done nothing when the close comes. */
		while (send(c, big, sizeof big, MSG_DONTWAIT) > 0)
			;
		ASSERT_EQ(errno, EAGAIN);
		w.fd = c;
		break;
	case CW_CONNECT:
		/* Backlog 0: one connection fills the queue; the next SYN is dropped. */
		l2 = lu_listen(AF_INET, 0, &w.port);
		filler = lu_connect(AF_INET, w.port);
		ASSERT(filler >= 0);
		break;
	}
	lu_go(closed_waiter, &w);
	lu_go(closer, &w);
	lu_run(&done, 2);
	if (kind == CW_POLL) {
		/* poll reports the closed descriptor as poll(2) reports a bad one. */
		ASSERT_EQ(w.ret, 1);
		ASSERT_EQ(w.revents, POLLNVAL);
	} else if (kind == CW_WRITE_FULL && w.ret != -1) {
		/* Some room came before the close: the part written is what it returns. */
		ASSERT_GT(w.ret, 0);
		ASSERT_LT(w.ret, sizeof big);
	} else {
		ASSERT_EQ(w.ret, -1);
		ASSERT_EQ(w.err, EBADF);
	}
	ASSERT_GE(w.took_us, 100000);
	ASSERT_LT(w.took_us, (100 + lu_slack_ms()) * 1000);
	ASSERT(w.reused >= 0 || kind == CW_POLL);
	if (w.reused >= 0)
		close(w.reused);
	lu_release_all();
	if (p[1] >= 0)
		close(p[1]);
	if (s >= 0)
		close(s);
	if (filler >= 0)
		close(filler);
	if (l2 >= 0)
		close(l2);
}

TEST(close_wakes_reader_of_socket) { close_while_waiting(CW_READ); }
TEST(close_wakes_reader_of_pipe) { close_while_waiting(CW_PIPE_READ); }
TEST(close_wakes_accept) { close_while_waiting(CW_ACCEPT); }
TEST(close_wakes_poll) { close_while_waiting(CW_POLL); }
TEST(close_wakes_writer_of_full_socket) { close_while_waiting(CW_WRITE_FULL); }
TEST(close_wakes_connect_in_progress) { close_while_waiting(CW_CONNECT); }

/* ---- pipes and other descriptors the hooks did not make ---------------------------- */

static int pipe_rd, pipe_wr;
static long long pipe_read_ret, pipe_read_ticks;

static void *pipe_reader(void *arg)
{
	char buf[16];
	long long k0;

	(void)arg;
	co_enable_hook_sys();
	k0 = ticks;
	pipe_read_ret = read(pipe_rd, buf, sizeof buf);
	pipe_read_ticks = ticks - k0;
	done++;
	return NULL;
}

static void *pipe_late_writer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(100000);
	ASSERT_EQ(write(pipe_wr, "pipe", 4), 4);
	done++;
	return NULL;
}

TEST(pipe_read_does_not_block_the_thread)
{
	int p[2];

	lu_watchdog(5, "a read on an empty blocking pipe");
	ASSERT_EQ(pipe(p), 0);
	pipe_rd = p[0];
	pipe_wr = p[1];
	lu_go(ticker, NULL);
	lu_go(pipe_reader, NULL);
	lu_go(pipe_late_writer, NULL);
	lu_run(&done, 2);
	ticker_stop = 1;
	ASSERT_EQ(pipe_read_ret, 4);
	ASSERT_GE(pipe_read_ticks, 5);
	/* A pipe may be shared with other processes: the kernel's flag is left alone. */
	ASSERT_EQ(kernel_getfl(p[0]) & O_NONBLOCK, 0);
	ASSERT_EQ(kernel_getfl(p[1]) & O_NONBLOCK, 0);
	lu_release_all();
	close(p[0]);
	close(p[1]);
}

/* 1 MiB in one call into a blocking pipe that a coroutine of the same thread reads. */
static long long pipe_write_ret, pipe_got;
static int pipe_use_writev;

static void *pipe_big_writer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	if (pipe_use_writev) {
		struct iovec iov[2] = { { big, sizeof big / 2 }, { big + sizeof big / 2, sizeof big / 2 } };

		pipe_write_ret = writev(pipe_wr, iov, 2);
	} else {
		pipe_write_ret = write(pipe_wr, big, sizeof big);
	}
	done++;
	return NULL;
}

static void *pipe_big_reader(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	while (pipe_got < (long long)sizeof big) {
		/* Odd sizes, so that reads and writes do not line up. */
		ssize_t r = read(pipe_rd, sink + pipe_got, 3001);

		ASSERT_GT(r, 0);
		pipe_got += r;
	}
	done++;
	return NULL;
}

static void pipe_big(int use_writev)
{
	int p[2];

	lu_watchdog(5, use_writev ? "a 1 MiB writev into a pipe" : "a 1 MiB write into a pipe");
	fill_pattern(big, sizeof big, 2);
	ASSERT_EQ(pipe(p), 0);
	pipe_rd = p[0];
	pipe_wr = p[1];
	pipe_use_writev = use_writev;
	lu_go(pipe_big_writer, NULL);
	lu_go(pipe_big_reader, NULL);
	lu_run(&done, 2);
	ASSERT_EQ(pipe_write_ret, sizeof big);
	ASSERT_EQ(pipe_got, sizeof big);
	ASSERT_EQ(memcmp(big, sink, sizeof big), 0);
	lu_release_all();
	close(p[0]);
	close(p[1]);
}

TEST(pipe_big_write_to_reader_on_same_thread) { pipe_big(0); }
TEST(pipe_big_writev_to_reader_on_same_thread) { pipe_big(1); }

/* An eventfd is pollable like a pipe: a blocking read waits in the loop. */
static int efd;
static uint64_t efd_value;

static void *efd_reader(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	ASSERT_EQ(read(efd, &efd_value, sizeof efd_value), 8);
	done++;
	return NULL;
}

static void *efd_writer(void *arg)
{
	uint64_t one = 7;

	(void)arg;
	co_enable_hook_sys();
	usleep(100000);
	ASSERT_EQ(write(efd, &one, sizeof one), 8);
	done++;
	return NULL;
}

TEST(eventfd_read_does_not_block_the_thread)
{
	lu_watchdog(5, "a read on a blocking eventfd");
	efd = eventfd(0, 0);
	ASSERT(efd >= 0);
	lu_go(efd_reader, NULL);
	lu_go(efd_writer, NULL);
	lu_run(&done, 2);
	ASSERT_EQ(efd_value, 7);
	lu_release_all();
	close(efd);
}

/*
 * Sockets made before any coroutine (a socketpair, a socket accepted on the
 * main context) serve hooked coroutines, and afterwards still look and act
 * blocking on the main context.
 */
static void *pinger(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned v = 0;

	co_enable_hook_sys();
	for (unsigned i = 0; i < 1000; i++) {
		v = i;
		ASSERT_EQ(write(fd, &v, sizeof v), sizeof v);
		ASSERT_EQ(lu_read_all(fd, &v, sizeof v), sizeof v);
		ASSERT_EQ(v, i + 1);
	}
	done++;
	return NULL;
}

static void *ponger(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned v;

	co_enable_hook_sys();
	for (unsigned i = 0; i < 1000; i++) {
		ASSERT_EQ(lu_read_all(fd, &v, sizeof v), sizeof v);
		ASSERT_EQ(v, i);
		v++;
		ASSERT_EQ(write(fd, &v, sizeof v), sizeof v);
	}
	done++;
	return NULL;
}

static void inherited_pair(int a, int b)
{
	char buf[8];
	struct lu_peer peer = { .fd = b, .delay_ms = 150, .act = LU_WRITE, .data = "late", .len = 4 };
	long long t0;

	lu_watchdog(5, "ping-pong on inherited sockets");
	lu_go(pinger, (void *)(intptr_t)a);
	lu_go(ponger, (void *)(intptr_t)b);
	lu_run(&done, 2);
	lu_release_all();
	/* The program's view is unchanged: blocking. */
	ASSERT_EQ(fcntl(a, F_GETFL) & O_NONBLOCK, 0);
	/* And a blocking read on the main context blocks until data comes. */
	lu_peer_start(&peer);
	t0 = lu_now_us();
	ASSERT_EQ(read(a, buf, sizeof buf), 4);
	ASSERT_GE(lu_now_us() - t0, 100000);
	lu_peer_join(&peer);
}

TEST(inherited_socketpair)
{
	int sv[2];

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	inherited_pair(sv[0], sv[1]);
	close(sv[0]);
	close(sv[1]);
}

TEST(socket_accepted_on_main_context)
{
	int c, s;

	lu_tcp_pair(&c, &s);
	inherited_pair(c, s);
	close(c);
	close(s);
}

/* SO_RCVTIMEO set before the hooks ever saw the socket is honoured. */
static long long early_timeo_ret, early_timeo_us;
static int early_timeo_err;

static void *early_timeo_reader(void *arg)
{
	char buf[4];
	long long t0 = lu_now_us();

	co_enable_hook_sys();
	early_timeo_ret = read((int)(intptr_t)arg, buf, sizeof buf);
	early_timeo_err = errno;
	early_timeo_us = lu_now_us() - t0;
	done++;
	return NULL;
}

TEST(rcvtimeo_set_before_the_hooks_saw_the_socket)
{
	int c, s;

	lu_watchdog(5, "SO_RCVTIMEO set on the main context");
	lu_tcp_pair(&c, &s);
	ASSERT_EQ(lu_set_timeo(c, SO_RCVTIMEO, 150), 0);
	lu_go(early_timeo_reader, (void *)(intptr_t)c);
	lu_run(&done, 1);
	ASSERT_EQ(early_timeo_ret, -1);
	ASSERT_EQ(early_timeo_err, EAGAIN);
	ASSERT_GE(early_timeo_us, 150000);
	ASSERT_LT(early_timeo_us, (150 + lu_slack_ms()) * 1000);
	lu_release_all();
	close(c);
	close(s);
}

/*
 * A socket the hooks know (made, connected and waited on in a hooked
 * coroutine) is closed in a way that does not go through this thread's
 * close(), and its number is reused by a pipe: the hooks must treat the
 * number as the pipe it now is. (Taken for the old socket, a blocking read
 * on the empty pipe would block the thread, or wait for an epoll event
 * that can never come.)
 */
enum { STALE_FCLOSE, STALE_CLOSE_RANGE, STALE_DUP2, STALE_OTHER_THREAD };

static int stale_kind, stale_rd, stale_wr;
static long long stale_ret;

static void *stale_writer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(100000);
	ASSERT_EQ(write(stale_wr, "x", 1), 1);
	done++;
	return NULL;
}

static void *close_in_thread(void *arg)
{
	close((int)(intptr_t)arg);
	return NULL;
}

static void *stale_reader(void *arg)
{
	int port = (int)(intptr_t)arg, sock, p[2];
	FILE *fp;
	pthread_t t;
	char c;

	co_enable_hook_sys();
	sock = lu_connect(AF_INET, port);
	ASSERT(sock >= 0);
	switch (stale_kind) {
	case STALE_FCLOSE: /* stdio closes with libc's internal close */
		fp = fdopen(sock, "r+");
		ASSERT(fp != NULL);
		ASSERT_EQ(fclose(fp), 0);
		ASSERT_EQ(pipe(p), 0);
		break;
	case STALE_CLOSE_RANGE:
		ASSERT_EQ(close_range((unsigned)sock, (unsigned)sock, 0), 0);
		ASSERT_EQ(pipe(p), 0);
		break;
	case STALE_DUP2: /* dup2 closes the socket it replaces */
		ASSERT_EQ(pipe(p), 0);
		ASSERT_EQ(dup2(p[0], sock), sock);
		ASSERT_EQ(close(p[0]), 0);
		p[0] = sock;
		break;
	case STALE_OTHER_THREAD: /* descriptors are per process, not per thread */
		ASSERT_EQ(pthread_create(&t, NULL, close_in_thread, (void *)(intptr_t)sock), 0);
		ASSERT_EQ(pthread_join(t, NULL), 0);
		ASSERT_EQ(pipe(p), 0);
		break;
	}
	ASSERT_EQ(p[0], sock); /* the lowest free number */
	stale_rd = p[0];
	stale_wr = p[1];
	lu_go(stale_writer, NULL);
	stale_ret = read(stale_rd, &c, 1);
	done++;
	return NULL;
}

static void number_reused(int kind)
{
	int port, l = lu_listen(AF_INET, 8, &port);

	lu_watchdog(5, "a read on a pipe that reuses the number of a socket closed elsewhere");
	stale_kind = kind;
	lu_go(stale_reader, (void *)(intptr_t)port);
	lu_run(&done, 2);
	ASSERT_EQ(stale_ret, 1);
	lu_release_all();
	close(stale_rd);
	close(stale_wr);
	close(l);
}

TEST(number_reused_after_fclose_is_a_new_descriptor) { number_reused(STALE_FCLOSE); }
TEST(number_reused_after_close_range_is_a_new_descriptor) { number_reused(STALE_CLOSE_RANGE); }
TEST(number_reused_by_dup2_is_a_new_descriptor) { number_reused(STALE_DUP2); }
TEST(number_closed_by_another_thread_is_a_new_descriptor) { number_reused(STALE_OTHER_THREAD); }

/* ---- outside hooked coroutines: libc ---------------------------------------------- */

static int made_c, made_s, made_l, made_port;

static void *maker(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	made_l = lu_listen(AF_INET, 8, &made_port);
	ASSERT(made_l >= 0);
	made_c = lu_connect(AF_INET, made_port);
	ASSERT(made_c >= 0);
	made_s = accept(made_l, NULL, NULL);
	ASSERT(made_s >= 0);
	done++;
	return NULL;
}

/* Sockets a hooked coroutine made, used on the main context: blocking calls block. */
TEST(main_context_blocking_calls_on_sockets_made_by_hooks)
{
	char buf[8];
	long long t0;
	struct lu_peer writer, drain, conn;
	int fd;

	lu_watchdog(5, "blocking calls on the main context");
	lu_go(maker, NULL);
	lu_run(&done, 1);
	lu_release_all();
	ASSERT(!co_is_enable_sys_hook());
	ASSERT_EQ(fcntl(made_c, F_GETFL) & O_NONBLOCK, 0);

	writer = (struct lu_peer){ .fd = made_s, .delay_ms = 150, .act = LU_WRITE,
				   .data = "hello", .len = 5 };
	lu_peer_start(&writer);
	t0 = lu_now_us();
	ASSERT_EQ(read(made_c, buf, sizeof buf), 5);
	ASSERT_GE(lu_now_us() - t0, 100000);
	lu_peer_join(&writer);

	ASSERT_EQ(lu_set_timeo(made_c, SO_RCVTIMEO, 150), 0);
	t0 = lu_now_us();
	errno = 0;
	ASSERT_EQ(read(made_c, buf, sizeof buf), -1);
	ASSERT_EQ(errno, EAGAIN);
	ASSERT_GE(lu_now_us() - t0, 140000);

	/* A blocking write returns when all of it is queued. */
	drain = (struct lu_peer){ .fd = made_s, .delay_ms = 100, .act = LU_DRAIN };
	lu_peer_start(&drain);
	ASSERT_EQ(write(made_c, big, sizeof big), sizeof big);
	ASSERT_EQ(shutdown(made_c, SHUT_WR), 0);
	lu_peer_join(&drain);
	ASSERT_EQ(drain.drained, sizeof big);

	conn = (struct lu_peer){ .delay_ms = 150, .act = LU_CONNECT, .port = made_port };
	lu_peer_start(&conn);
	t0 = lu_now_us();
	fd = accept(made_l, NULL, NULL);
	ASSERT(fd >= 0);
	ASSERT_GE(lu_now_us() - t0, 100000);
	lu_peer_join(&conn);
	close(fd);
	close(conn.result);
	close(made_c);
	close(made_s);
	close(made_l);
}

/* The same from another thread, which has no coroutines and no loop at all. */
TEST(other_thread_blocking_read_on_socket_made_by_hooks)
{
	char buf[8];
	struct lu_peer reader;

	lu_watchdog(5, "a blocking read on another thread");
	lu_go(maker, NULL);
	lu_run(&done, 1);
	lu_release_all();
	reader = (struct lu_peer){ .fd = made_c, .delay_ms = 0, .act = LU_READ, .buf = buf,
				   .len = sizeof buf };
	lu_peer_start(&reader);
	lu_sleep_ms(150);
	ASSERT_EQ(write(made_s, "hello", 5), 5);
	lu_peer_join(&reader);
	if (reader.result < 0)
		tap__fail(__FILE__, __LINE__, "the thread's blocking read returned -1 (%s) after %lld ms",
			  strerrorname_np(reader.err), reader.took_us / 1000);
	ASSERT_EQ(reader.result, 5);
	ASSERT_GE(reader.took_us, 100000);
	close(made_c);
	close(made_s);
	close(made_l);
}

/*
 * One loop per thread, with sockets handed from one to another (an
 * acceptor thread and workers): a socket accepted by a hooked coroutine of
 * this thread, read by a hooked coroutine of another thread, still reads
 * as blocking there (it waits for the data, in that thread's loop).
 */
struct handoff {
	int fd;
	long long ret, took_us, ticks;
	int err, getfl;
	volatile int done;
};

static void *handoff_reader(void *arg)
{
	struct handoff *h = arg;
	char buf[8];
	long long t0 = lu_now_us(), k0 = ticks;

	co_enable_hook_sys();
	h->getfl = fcntl(h->fd, F_GETFL);
	errno = 0;
	h->ret = read(h->fd, buf, sizeof buf);
	h->err = errno;
	h->took_us = lu_now_us() - t0;
	h->ticks = ticks - k0;
	h->done = 1;
	return NULL;
}

static void *worker_thread(void *arg)
{
	struct handoff *h = arg;
	struct co *r, *t;

	ASSERT_EQ(co_create(&t, NULL, ticker, NULL), 0);
	ASSERT_EQ(co_create(&r, NULL, handoff_reader, h), 0);
	co_resume(t);
	co_resume(r);
	lu_run(&h->done, 1);
	co_release(r);
	co_release(t);
	return NULL;
}

TEST(socket_accepted_in_one_thread_read_by_a_coroutine_of_another)
{
	struct handoff h = { .fd = -1 };
	pthread_t w;

	lu_watchdog(5, "a socket handed to another thread's coroutine");
	lu_go(maker, NULL); /* made_s: accepted by a hooked coroutine of this thread */
	lu_run(&done, 1);
	h.fd = made_s;
	ASSERT_EQ(pthread_create(&w, NULL, worker_thread, &h), 0);
	lu_sleep_ms(150);
	ASSERT_EQ(write(made_c, "hello", 5), 5);
	ASSERT_EQ(pthread_join(w, NULL), 0);
	ASSERT_EQ(h.getfl & O_NONBLOCK, 0);
	if (h.ret < 0)
		tap__fail(__FILE__, __LINE__, "the other thread's read returned -1 (%s) after %lld ms",
			  strerrorname_np(h.err), h.took_us / 1000);
	ASSERT_EQ(h.ret, 5);
	ASSERT_GE(h.took_us, 100000);
	ASSERT_GE(h.ticks, 5); /* it waited in that thread's loop */
	lu_release_all();
	close(made_c);
	close(made_s);
	close(made_l);
}

/* A forked child's hooked coroutine reads an inherited socket the parent's hooks made non-blocking. */
TEST(forked_child_coroutine_reads_inherited_socket_blocking)
{
	int status;
	pid_t pid;

	lu_watchdog(5, "a forked child's read of an inherited socket");
	lu_go(maker, NULL);
	lu_run(&done, 1);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		struct handoff h = { .fd = made_s };
		struct co *r, *t;

		done = 0;
		if (co_create(&t, NULL, ticker, NULL) || co_create(&r, NULL, handoff_reader, &h))
			_exit(10);
		co_resume(t);
		co_resume(r);
		lu_run(&h.done, 1);
		if (h.getfl & O_NONBLOCK)
			_exit(11);
		if (h.ret < 0)
			_exit(h.err == EAGAIN ? 12 : 13);
		_exit(h.ret == 5 && h.took_us >= 100000 ? 0 : 14);
	}
	lu_sleep_ms(150);
	ASSERT_EQ(write(made_c, "hello", 5), 5);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		tap__fail(__FILE__, __LINE__, "the child failed: %s (status %#x)",
			  !WIFEXITED(status) ? "killed" :
			  WEXITSTATUS(status) == 12 ? "its read gave EAGAIN at once" :
			  WEXITSTATUS(status) == 11 ? "F_GETFL showed O_NONBLOCK" :
			  WEXITSTATUS(status) == 99 ? "valgrind found an error in it (above)" :
			  "see the exit codes in the test", status);
	lu_release_all();
	close(made_c);
	close(made_s);
	close(made_l);
}

/* A coroutine with hooks off blocks the thread, like any plain call. */
static long long off_sleep_ticks, off_sleep_us, off_read_ret, off_read_ticks, on_sleep_ticks;

static void *hooks_toggler(void *arg)
{
	int c = (int)(intptr_t)arg;
	long long k0, t0;
	char buf[8];

	co_enable_hook_sys();
	ASSERT(co_is_enable_sys_hook());
	co_disable_hook_sys();
	ASSERT(!co_is_enable_sys_hook());
	k0 = ticks;
	t0 = lu_now_us();
	ASSERT_EQ(usleep(150000), 0);
	off_sleep_us = lu_now_us() - t0;
	off_sleep_ticks = ticks - k0;
	k0 = ticks;
	off_read_ret = read(c, buf, sizeof buf);
	off_read_ticks = ticks - k0;
	co_enable_hook_sys();
	ASSERT(co_is_enable_sys_hook());
	k0 = ticks;
	ASSERT_EQ(usleep(150000), 0);
	on_sleep_ticks = ticks - k0;
	done++;
	return NULL;
}

TEST(hooks_disabled_calls_block_the_thread)
{
	int c, s;
	struct lu_peer writer;

	lu_watchdog(5, "calls with hooks off");
	ASSERT(!co_is_enable_sys_hook());
	co_enable_hook_sys(); /* no effect on the main context */
	ASSERT(!co_is_enable_sys_hook());
	lu_go(maker, NULL); /* made by hooks: non-blocking in the kernel */
	lu_run(&done, 1);
	c = made_c;
	s = made_s;
	writer = (struct lu_peer){ .fd = s, .delay_ms = 300, .act = LU_WRITE, .data = "hey", .len = 3 };
	lu_go(ticker, NULL);
	lu_peer_start(&writer);
	lu_go(hooks_toggler, (void *)(intptr_t)c);
	lu_run(&done, 2);
	ticker_stop = 1;
	lu_peer_join(&writer);
	ASSERT_GE(off_sleep_us, 150000);
	ASSERT_EQ(off_sleep_ticks, 0);
	ASSERT_EQ(off_read_ret, 3); /* blocked until the data came, not EAGAIN */
	ASSERT_EQ(off_read_ticks, 0);
	ASSERT_GE(on_sleep_ticks, 5);
	lu_release_all();
	close(c);
	close(s);
	close(made_l);
}

/* A child forked by a program that runs a loop closes inherited descriptors. */
static int fork_l;
static long long fork_accepted = -2;

static void *fork_acceptor(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	fork_accepted = accept(fork_l, NULL, NULL);
	done++;
	return NULL;
}

static void *fork_connector(void *arg)
{
	int c;

	co_enable_hook_sys();
	usleep(50000);
	c = lu_connect(AF_INET, (int)(intptr_t)arg);
	ASSERT(c >= 0);
	done++;
	return NULL;
}

TEST(forked_child_closing_descriptors_leaves_parent_loop_alone)
{
	int port, status;
	pid_t pid;

	lu_watchdog(5, "an accept after a forked child closed the listener");
	fork_l = lu_listen(AF_INET, 8, &port);
	ASSERT(fork_l >= 0);
	lu_go(fork_acceptor, NULL); /* waits in the loop: the listener is in epoll */
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		/* What a child does before exec: close what it does not need. */
		close(fork_l);
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_EQ(status, 0);
	lu_go(fork_connector, (void *)(intptr_t)port);
	lu_run(&done, 2);
	ASSERT(fork_accepted >= 0);
	lu_release_all();
	close((int)fork_accepted);
	close(fork_l);
}

/* ---- co_set_env_list ---------------------------------------------------------------- */

static const char *env_seen[16];
static int env_ret[16];

/* getenv's result may be freed by the next setenv of the name: keep a copy. */
static const char *keep(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void *env_one(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	env_seen[0] = keep(getenv("CORO_T_A"));               /* the process's value */
	env_ret[0] = setenv("CORO_T_A", "one", 1);
	env_seen[1] = keep(getenv("CORO_T_A"));               /* "one" */
	env_ret[1] = setenv("CORO_T_B", "b-one", 0);    /* unset: set */
	env_seen[2] = keep(getenv("CORO_T_B"));
	env_ret[2] = setenv("CORO_T_C", "c-one", 1);    /* not listed: the process's */
	co_yield_ct();
	env_seen[3] = keep(getenv("CORO_T_A"));               /* still "one" */
	env_ret[3] = setenv("CORO_T_A", "ignored", 0);  /* set: kept */
	env_seen[4] = keep(getenv("CORO_T_A"));
	env_ret[4] = unsetenv("CORO_T_A");
	env_seen[5] = keep(getenv("CORO_T_A"));               /* NULL */
	return NULL;
}

static void *env_two(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	env_seen[6] = keep(getenv("CORO_T_A"));               /* the process's, not one's */
	env_ret[6] = setenv("CORO_T_A", "two", 1);
	env_seen[7] = keep(getenv("CORO_T_B"));               /* NULL: one's copy is one's */
	co_yield_ct();
	env_seen[8] = keep(getenv("CORO_T_A"));               /* still "two" */
	return NULL;
}

static void *env_unhooked(void *arg)
{
	(void)arg;
	env_seen[9] = keep(getenv("CORO_T_A"));               /* the process's */
	env_ret[9] = setenv("CORO_T_A", "process-2", 1); /* changes the process */
	return NULL;
}

static void *env_late(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	env_seen[10] = keep(getenv("CORO_T_A"));              /* the process's value now */
	co_disable_hook_sys();
	env_seen[11] = keep(getenv("CORO_T_B"));              /* hooks off: the process's */
	return NULL;
}

TEST(env_list_gives_each_hooked_coroutine_its_own_values)
{
	const char *names[] = { "CORO_T_A", "CORO_T_B" }, *again[] = { "CORO_T_C" };
	struct co *one, *two, *unhooked, *late;

	ASSERT_EQ(setenv("CORO_T_A", "process", 1), 0);
	ASSERT_EQ(unsetenv("CORO_T_B"), 0);
	ASSERT_EQ(setenv("CORO_T_C", "c0", 1), 0);
	co_set_env_list(names, 2);
	co_set_env_list(again, 1); /* once only, as in libco: ignored */
	ASSERT_EQ(co_create(&one, NULL, env_one, NULL), 0);
	ASSERT_EQ(co_create(&two, NULL, env_two, NULL), 0);
	ASSERT_EQ(co_create(&unhooked, NULL, env_unhooked, NULL), 0);
	ASSERT_EQ(co_create(&late, NULL, env_late, NULL), 0);

	co_resume(one);
	ASSERT_STR_EQ(env_seen[0], "process");
	ASSERT_EQ(env_ret[0], 0);
	ASSERT_STR_EQ(env_seen[1], "one");
	ASSERT_EQ(env_ret[1], 0);
	ASSERT_STR_EQ(env_seen[2], "b-one");
	ASSERT_EQ(env_ret[2], 0);
	/* The main context sees the process: A unchanged, B unset, C changed by one. */
	ASSERT_STR_EQ(getenv("CORO_T_A"), "process");
	ASSERT_PTR_EQ(getenv("CORO_T_B"), NULL);
	ASSERT_STR_EQ(getenv("CORO_T_C"), "c-one");

	co_resume(two);
	ASSERT_STR_EQ(env_seen[6], "process");
	ASSERT_EQ(env_ret[6], 0);
	ASSERT_PTR_EQ(env_seen[7], NULL);

	co_resume(unhooked);
	ASSERT_STR_EQ(env_seen[9], "process");
	ASSERT_EQ(env_ret[9], 0);
	ASSERT_STR_EQ(getenv("CORO_T_A"), "process-2");

	co_resume(one);
	ASSERT_STR_EQ(env_seen[3], "one");
	ASSERT_EQ(env_ret[3], 0);
	ASSERT_STR_EQ(env_seen[4], "one");
	ASSERT_EQ(env_ret[4], 0);
	ASSERT_PTR_EQ(env_seen[5], NULL);
	ASSERT_STR_EQ(getenv("CORO_T_A"), "process-2");

	co_resume(two);
	ASSERT_STR_EQ(env_seen[8], "two");

	ASSERT_EQ(setenv("CORO_T_B", "b-process", 1), 0);
	co_resume(late);
	ASSERT_STR_EQ(env_seen[10], "process-2");
	ASSERT_STR_EQ(env_seen[11], "b-process");

	co_release(one);
	co_release(two);
	co_release(unhooked);
	co_release(late);
}
