/* SPDX-License-Identifier: MIT */
/*
 * test-hooktable.c: the hooked calls behave exactly like libc's.
 *
 * Each case is one scenario written as ordinary blocking code (op_*). It
 * runs twice in the same process: first on the plain main context, where
 * every call is libc's, then in a coroutine with hooks on while the event
 * loop runs, where the same calls go through the loop. Every call is a
 * STEP: its return value, errno and duration are recorded, and the two
 * runs must agree step by step (the table of both runs is printed when
 * they do not).
 *
 * On top of that each scenario states what Linux does (EXPECT_*), so that
 * both runs being wrong the same way fails too, and how long a call may
 * take: WAIT(ms) for a call that must block about that long (never less;
 * in the hooked run a ticker coroutine must have run meanwhile, which
 * proves the thread was not blocked), QUICK for one that must not block.
 *
 * Peers that act while a call is blocked are plain threads (loop-util.h),
 * the same in both runs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "tests/unit/loop-util.h"

/* ---- recording ------------------------------------------------------------ */

#define MAX_STEPS 40

struct step {
	const char *label;
	int line;
	long long ret;
	int err;          /* errno when ret < 0, else 0 */
	long long us;     /* how long the call took */
	long long ticks;  /* ticker rounds during the call (hooked run) */
};

struct run {
	const char *mode;
	int hooked;
	int n;
	struct step s[MAX_STEPS];
	const char *current; /* the step being made, or NULL */
	long long current_t0;
};

static struct run runs[2];
static struct run *run;
static volatile long long ticks;
static volatile int op_done, ticker_stop;

static char big[8 << 20]; /* scratch for large transfers */

static void dump(const struct run *r)
{
	fprintf(stderr, "#   %s run:\n", r->mode);
	for (int i = 0; i < r->n; i++) {
		const struct step *s = &r->s[i];

		fprintf(stderr, "#     %-40s ret %-9lld errno %-15s %6lld ms  ticks %lld\n",
			s->label, s->ret, s->err ? strerrorname_np(s->err) : "-",
			s->us / 1000, s->ticks);
	}
}

__attribute__((noreturn, format(printf, 2, 3)))
static void step_fail(int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	const struct step *s = run->n ? &run->s[run->n - 1] : NULL;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dump(run);
	tap__fail(__FILE__, line, "%s run, step \"%s\": %s", run->mode,
		  s ? s->label : "?", msg);
}

static void step_done(const char *label, int line, long long r, int e, long long t0, long long k0)
{
	struct step *s;

	if (run->n == MAX_STEPS)
		step_fail(line, "more than %d steps", MAX_STEPS);
	s = &run->s[run->n++];
	s->label = label;
	s->line = line;
	s->ret = r;
	s->err = r < 0 ? e : 0;
	s->us = lu_now_us() - t0;
	s->ticks = ticks - k0;
}

#define STEP(label, expr)                                                    \
	do {                                                                 \
		long long t0_ = lu_now_us(), k0_ = ticks, r_;                \
		int e_;                                                      \
		run->current = label;                                        \
		run->current_t0 = t0_;                                       \
		errno = 0;                                                   \
		r_ = (long long)(expr);                                      \
		e_ = errno;                                                  \
		run->current = NULL;                                         \
		step_done(label, __LINE__, r_, e_, t0_, k0_);                \
	} while (0)

#define LAST (&run->s[run->n - 1])

/* Replaces the last return value by a mode-independent one (a descriptor number, a partial count). */
#define NORM(v) (LAST->ret = (long long)(v))

#define EXPECT_RET(v)                                                        \
	do {                                                                 \
		if (LAST->ret != (long long)(v))                             \
			step_fail(__LINE__, "returned %lld, expected %lld",  \
				  LAST->ret, (long long)(v));                \
	} while (0)

#define EXPECT_ERR(e)                                                        \
	do {                                                                 \
		if (LAST->ret != -1 || LAST->err != (e))                     \
			step_fail(__LINE__, "returned %lld errno %s, expected -1 %s", \
				  LAST->ret, strerrorname_np(LAST->err),     \
				  strerrorname_np(e));                       \
	} while (0)

#define EXPECT_TRUE(cond)                                                    \
	do {                                                                 \
		if (!(cond))                                                 \
			step_fail(__LINE__, "%s", #cond);                    \
	} while (0)

static long long timeo_ms(void)
{
	return lu_slow() ? 400 : 100;
}

static long long quick_ms(void)
{
	return lu_slow() ? 300 : 60;
}

/*
 * Blocked for about ms: never less (the kernel's own timeouts may end up
 * to a tick early; ours may not), not much more, and in the hooked run the
 * ticker coroutine ran meanwhile. A peer thread whose delay ends the wait
 * is given 20 ms more than ms: its clock starts before the step's.
 */
#define WAIT(ms)                                                             \
	do {                                                                 \
		long long min_ = (long long)(ms) * 1000 - (run->hooked ? 0 : 10000); \
		if (LAST->us < min_)                                         \
			step_fail(__LINE__, "took %lld us, less than %lld ms", \
				  LAST->us, (long long)(ms));                \
		if (LAST->us > ((long long)(ms) + lu_slack_ms()) * 1000)     \
			step_fail(__LINE__, "took %lld ms, expected about %lld", \
				  LAST->us / 1000, (long long)(ms));         \
		if (run->hooked && LAST->ticks < 2)                          \
			step_fail(__LINE__, "the thread was blocked: the ticker " \
				  "ran %lld times", LAST->ticks);            \
	} while (0)

#define QUICK()                                                              \
	do {                                                                 \
		if (LAST->us > quick_ms() * 1000)                            \
			step_fail(__LINE__, "took %lld ms: it should not block", \
				  LAST->us / 1000);                          \
	} while (0)

/* ---- running one scenario in both modes -------------------------------------- */

typedef void op_fn(void);
static op_fn *the_op;

static void *op_main(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	the_op();
	op_done = 1;
	return NULL;
}

/*
 * Runs beside the hooked run: counts its rounds, and fails the case when a
 * step has not returned long after it should have (a coroutine never woken).
 */
static void *ticker_main(void *arg)
{
	long long limit_us = (lu_slow() ? 30000 : 2000) * 1000LL;

	(void)arg;
	co_enable_hook_sys();
	while (!ticker_stop) {
		usleep(5000);
		ticks++;
		if (run->current && lu_now_us() - run->current_t0 > limit_us) {
			dump(run);
			tap__fail(__FILE__, __LINE__, "hooked run, step \"%s\" has not returned "
				  "after %lld s", run->current, limit_us / 1000000);
		}
	}
	return NULL;
}

static int stop_when_done(void *arg)
{
	(void)arg;
	if (op_done)
		ticker_stop = 1;
	return op_done ? -1 : 0;
}

static char watch_msg[200];

/* The watchdog names the step a blocked thread is in. */
static void on_alarm(int sig)
{
	(void)sig;
	lu_watch_what = watch_msg;
	snprintf(watch_msg, sizeof watch_msg, "%s run, step \"%s\"", run->mode,
		 run->current ? run->current : "(between steps)");
	lu_watch_fire(sig);
}

static void compare(const char *name, op_fn *op)
{
	struct run *p = &runs[0], *h = &runs[1];

	signal(SIGPIPE, SIG_IGN);
	lu_watchdog(15, name);
	signal(SIGALRM, on_alarm);

	/* First on the plain main context: no loop exists yet, all calls are libc's. */
	p->mode = "plain";
	p->hooked = 0;
	run = p;
	op();

	h->mode = "hooked";
	h->hooked = 1;
	run = h;
	the_op = op;
	lu_go(ticker_main, NULL);
	lu_go(op_main, NULL);
	co_eventloop(co_get_epoll_ct(), stop_when_done, NULL);
	lu_release_all();

	for (int i = 0; i < (p->n > h->n ? p->n : h->n); i++) {
		const struct step *a = &p->s[i], *b = &h->s[i];

		if (i >= p->n || i >= h->n || a->ret != b->ret || a->err != b->err) {
			dump(p);
			dump(h);
			tap__fail(__FILE__, i < h->n ? b->line : a->line,
				  "step %d (\"%s\") differs: plain %lld %s, hooked %lld %s", i,
				  i < p->n ? a->label : b->label, i < p->n ? a->ret : 0,
				  i < p->n && a->err ? strerrorname_np(a->err) : "-",
				  i < h->n ? b->ret : 0,
				  i < h->n && b->err ? strerrorname_np(b->err) : "-");
		}
	}
}

#define TABLE_TEST(name)                                                     \
	static void op_##name(void);                                         \
	TEST(name) { compare(#name, op_##name); }                            \
	static void op_##name(void)

/* ---- helpers (ordinary calls: libc in one run, hooked in the other) --------------- */

/* A loopback port nobody listens on (a TCP socket is bound to it meanwhile). */
static int closed_port(int *ret_holder)
{
	struct sockaddr_storage ss;
	socklen_t len = lu_addr(AF_INET, 0, &ss);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT(fd >= 0);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&ss, len), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*ret_holder = fd;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int connect_port(int fd, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = lu_addr(AF_INET, port, &ss);

	return connect(fd, (struct sockaddr *)&ss, len);
}

static int so_error(int fd)
{
	int err = -1;
	socklen_t len = sizeof err;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	return err;
}

static int getfl(int fd)
{
	return fcntl(fd, F_GETFL);
}

static int setfl_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return fl;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static int fionbio(int fd, int on)
{
	return ioctl(fd, FIONBIO, &on);
}

static short poll1(int fd, short events, int timeout, int *ret)
{
	struct pollfd p = { fd, events, 0 };

	*ret = poll(&p, 1, timeout);
	return p.revents;
}

/* Waits (plainly, with poll) until fd is readable, so that data sent on loopback has arrived. */
static void arrived(int fd)
{
	int r;

	poll1(fd, POLLIN, 2000, &r);
	ASSERT_EQ(r, 1);
}

/* Fills fd's send path until a non-blocking send fails, and lets it settle. */
static void fill(int fd)
{
	for (int round = 0; round < 2; round++) {
		while (send(fd, big, 65536, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
			;
		ASSERT_EQ(errno, EAGAIN);
		usleep(50000);
	}
}

/* ---- connect --------------------------------------------------------------------- */

TABLE_TEST(connect_refused)
{
	char c;
	int holder, port = closed_port(&holder), fd = socket(AF_INET, SOCK_STREAM, 0);

	STEP("connect to a closed port", connect_port(fd, port));
	EXPECT_ERR(ECONNREFUSED);
	QUICK();
	STEP("SO_ERROR after it", so_error(fd));
	EXPECT_RET(0);
	STEP("connect again", connect_port(fd, port));
	EXPECT_ERR(ECONNREFUSED);
	STEP("read on the refused socket", read(fd, &c, 1));
	QUICK();
	STEP("close", close(fd));
	STEP("close the port holder", close(holder));
}

TABLE_TEST(connect_ok_then_eisconn)
{
	int port, l = lu_listen(AF_INET, 8, &port), fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	STEP("connect to a listener", connect_port(fd, port));
	EXPECT_RET(0);
	QUICK();
	STEP("SO_ERROR", so_error(fd));
	EXPECT_RET(0);
	STEP("getpeername", getpeername(fd, (struct sockaddr *)&ss, &len));
	EXPECT_RET(0);
	STEP("connect again", connect_port(fd, port));
	EXPECT_ERR(EISCONN);
	close(fd);
	close(l);
}

/*
 * A listener with backlog 0 takes one connection into its accept queue; the
 * next SYN is dropped, so a blocking connect with SO_SNDTIMEO gives up
 * (EINPROGRESS, as Linux says) after the timeout.
 */
TABLE_TEST(connect_sndtimeo_backlog_full)
{
	int port, l = lu_listen(AF_INET, 0, &port), a = socket(AF_INET, SOCK_STREAM, 0);
	int b = socket(AF_INET, SOCK_STREAM, 0);

	STEP("first connect fills the queue", connect_port(a, port));
	EXPECT_RET(0);
	STEP("SO_SNDTIMEO", lu_set_timeo(b, SO_SNDTIMEO, (int)timeo_ms()));
	STEP("second connect", connect_port(b, port));
	EXPECT_ERR(EINPROGRESS);
	WAIT(timeo_ms());
	close(a);
	close(b);
	close(l);
}

/* AF_UNIX: a blocking connect to a listener whose queue is full waits for room. */
TABLE_TEST(unix_connect_waits_for_backlog)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int l = socket(AF_UNIX, SOCK_STREAM, 0), a = socket(AF_UNIX, SOCK_STREAM, 0);
	int b = socket(AF_UNIX, SOCK_STREAM, 0);
	/*
	 * The peer's delay starts before the step's clock does: 20 ms more, so
	 * that the step still lasts at least timeo_ms (the floor is exact).
	 */
	struct lu_peer peer = { .fd = l, .delay_ms = (int)timeo_ms() + 20, .act = LU_ACCEPT };

	/* An abstract name: nothing to clean up. */
	snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "coro-hooktable-%d-%s", (int)getpid(),
		 run->mode);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1));
	ASSERT_EQ(bind(l, (struct sockaddr *)&sa, len), 0);
	ASSERT_EQ(listen(l, 0), 0);
	STEP("first connect fills the queue", connect(a, (struct sockaddr *)&sa, len));
	EXPECT_RET(0);
	lu_peer_start(&peer);
	STEP("second connect waits until it is accepted", connect(b, (struct sockaddr *)&sa, len));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	lu_peer_join(&peer);
	close(peer.result);
	close(a);
	close(b);
	close(l);
}

/* ---- resets, EOF ----------------------------------------------------------------- */

TABLE_TEST(peer_reset_read)
{
	struct linger lg = { 1, 0 };
	char buf[16];
	int c, s;

	lu_tcp_pair(&c, &s);
	STEP("SO_LINGER 0 on the peer", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
	STEP("peer closes", close(s));
	arrived(c);
	STEP("read", read(c, buf, sizeof buf));
	EXPECT_ERR(ECONNRESET);
	QUICK();
	STEP("read again", read(c, buf, sizeof buf));
	EXPECT_RET(0);
	STEP("recv", recv(c, buf, sizeof buf, 0));
	EXPECT_RET(0);
	STEP("send", send(c, "x", 1, MSG_NOSIGNAL));
	EXPECT_ERR(EPIPE);
	close(c);
}

TABLE_TEST(peer_reset_while_blocked_in_read)
{
	char buf[16];
	int c, s;
	struct lu_peer peer;

	lu_tcp_pair(&c, &s);
	peer = (struct lu_peer){ .fd = s, .delay_ms = (int)timeo_ms() + 20, .act = LU_RESET };
	lu_peer_start(&peer);
	STEP("read until the peer resets", read(c, buf, sizeof buf));
	EXPECT_ERR(ECONNRESET);
	WAIT(timeo_ms());
	lu_peer_join(&peer);
	STEP("close of what the peer thread closed", close(s));
	EXPECT_ERR(EBADF);
	STEP("read again", read(c, buf, sizeof buf));
	EXPECT_RET(0);
	close(c);
}

TABLE_TEST(peer_reset_write)
{
	struct linger lg = { 1, 0 };
	int c, s;

	lu_tcp_pair(&c, &s);
	ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(s);
	arrived(c);
	STEP("send after a reset", send(c, "abc", 3, MSG_NOSIGNAL));
	EXPECT_ERR(ECONNRESET);
	QUICK();
	STEP("send again", send(c, "abc", 3, MSG_NOSIGNAL));
	EXPECT_ERR(EPIPE);
	STEP("write (SIGPIPE ignored)", write(c, "abc", 3));
	EXPECT_ERR(EPIPE);
	STEP("writev", writev(c, &(struct iovec){ "abc", 3 }, 1));
	EXPECT_ERR(EPIPE);
	close(c);
}

TABLE_TEST(eof_read_repeatedly)
{
	char buf[16];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int c, s, r;

	lu_tcp_pair(&c, &s);
	STEP("write before closing", write(s, "bye", 3));
	STEP("peer closes", close(s));
	arrived(c);
	STEP("read the data", read(c, buf, sizeof buf));
	EXPECT_RET(3);
	for (int i = 0; i < 3; i++) {
		STEP("read at EOF", read(c, buf, sizeof buf));
		EXPECT_RET(0);
		QUICK();
	}
	STEP("recv at EOF", recv(c, buf, sizeof buf, 0));
	EXPECT_RET(0);
	STEP("readv at EOF", readv(c, &iov, 1));
	EXPECT_RET(0);
	STEP("recvmsg at EOF", recvmsg(c, &mh, 0));
	EXPECT_RET(0);
	STEP("poll revents at EOF", poll1(c, POLLIN | POLLRDHUP, 0, &r));
	EXPECT_TRUE(LAST->ret & POLLIN);
	close(c);
}

TABLE_TEST(eof_while_blocked_in_read)
{
	char buf[16];
	int c, s;
	struct lu_peer peer;

	lu_tcp_pair(&c, &s);
	peer = (struct lu_peer){ .fd = s, .delay_ms = (int)timeo_ms() + 20, .act = LU_SHUT_WR };
	lu_peer_start(&peer);
	STEP("read until the peer shuts down", read(c, buf, sizeof buf));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	lu_peer_join(&peer);
	STEP("read again", read(c, buf, sizeof buf));
	EXPECT_RET(0);
	QUICK();
	close(s);
	close(c);
}

TABLE_TEST(shutdown_own_directions)
{
	char buf[8];
	int c, s;

	lu_tcp_pair(&c, &s);
	STEP("shutdown(SHUT_WR)", shutdown(c, SHUT_WR));
	EXPECT_RET(0);
	STEP("send after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
	EXPECT_ERR(EPIPE);
	STEP("peer reads EOF", read(s, buf, sizeof buf));
	EXPECT_RET(0);
	STEP("shutdown(SHUT_RD)", shutdown(c, SHUT_RD));
	EXPECT_RET(0);
	STEP("read after SHUT_RD", read(c, buf, sizeof buf));
	EXPECT_RET(0);
	QUICK();
	close(c);
	close(s);
}

/* ---- SO_RCVTIMEO, SO_SNDTIMEO ------------------------------------------------------- */

TABLE_TEST(rcvtimeo_read_family)
{
	char buf[16];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	int c, s;

	lu_tcp_pair(&c, &s);
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	EXPECT_RET(0);
	STEP("read on a silent socket", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("read again: a full timeout again", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("recvfrom", recvfrom(c, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("readv", readv(c, &iov, 1));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("recvmsg", recvmsg(c, &mh, 0));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	close(c);
	close(s);
}

TABLE_TEST(rcvtimeo_data_arrives_first)
{
	char buf[16];
	int c, s;
	struct lu_peer peer;

	lu_tcp_pair(&c, &s);
	peer = (struct lu_peer){ .fd = s, .delay_ms = (int)timeo_ms() + 20, .act = LU_WRITE,
				 .data = "hello", .len = 5 };
	STEP("SO_RCVTIMEO 5 timeouts long", lu_set_timeo(c, SO_RCVTIMEO, 5 * (int)timeo_ms()));
	lu_peer_start(&peer);
	STEP("read gets the data when it comes", read(c, buf, sizeof buf));
	EXPECT_RET(5);
	WAIT(timeo_ms());
	lu_peer_join(&peer);
	close(c);
	close(s);
}

TABLE_TEST(rcvtimeo_cleared_blocks_again)
{
	char buf[16];
	int c, s;
	struct lu_peer peer;

	lu_tcp_pair(&c, &s);
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("read times out", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("SO_RCVTIMEO 0: no timeout", lu_set_timeo(c, SO_RCVTIMEO, 0));
	peer = (struct lu_peer){ .fd = s, .delay_ms = 2 * (int)timeo_ms(), .act = LU_WRITE,
				 .data = "late", .len = 4 };
	lu_peer_start(&peer);
	STEP("read waits for the data", read(c, buf, sizeof buf));
	EXPECT_RET(4);
	WAIT(2 * timeo_ms());
	lu_peer_join(&peer);
	close(c);
	close(s);
}

/* read and write of 0 bytes return 0 at once (the VFS does not ask the socket). */
TABLE_TEST(zero_length_io)
{
	char buf[8];
	int c, s;

	lu_tcp_pair(&c, &s);
	STEP("read(0) on a fresh socket", read(c, buf, 0));
	EXPECT_RET(0);
	QUICK();
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("read(1) times out", read(c, buf, 1));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("read(0) after that", read(c, buf, 0));
	EXPECT_RET(0);
	QUICK();
	STEP("write(0)", write(c, buf, 0));
	EXPECT_RET(0);
	QUICK();
	close(c);
	close(s);
}

TABLE_TEST(sndtimeo_full_socket)
{
	int c, s, sz = 4096;

	lu_tcp_pair(&c, &s);
	ASSERT_EQ(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
	ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
	fill(c);
	STEP("SO_SNDTIMEO", lu_set_timeo(c, SO_SNDTIMEO, (int)timeo_ms()));
	STEP("write on a full socket", write(c, big, 1000));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("send on a full socket", send(c, big, 1000, MSG_NOSIGNAL));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("writev on a full socket", writev(c, &(struct iovec){ big, 1000 }, 1));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("send MSG_DONTWAIT", send(c, big, 1000, MSG_DONTWAIT | MSG_NOSIGNAL));
	EXPECT_ERR(EAGAIN);
	QUICK();
	close(c);
	close(s);
}

/* A big blocking write with SO_SNDTIMEO returns the part that was queued. */
TABLE_TEST(sndtimeo_partial_write)
{
	int c, s;

	lu_tcp_pair(&c, &s);
	STEP("SO_SNDTIMEO", lu_set_timeo(c, SO_SNDTIMEO, (int)timeo_ms()));
	STEP("write 8 MiB nobody reads", write(c, big, sizeof big));
	EXPECT_TRUE(LAST->ret > 0 && LAST->ret < (long long)sizeof big);
	WAIT(timeo_ms());
	NORM(1);
	close(c);
	close(s);
}

/* ---- accept ------------------------------------------------------------------------ */

TABLE_TEST(accept_rcvtimeo)
{
	int port, l = lu_listen(AF_INET, 8, &port);

	STEP("SO_RCVTIMEO on the listener", lu_set_timeo(l, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("accept with nobody connecting", accept(l, NULL, NULL));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("accept4", accept4(l, NULL, NULL, SOCK_CLOEXEC));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	close(l);
}

/*
 * Linux copies SO_RCVTIMEO from the listener to the sockets it accepts. (If
 * the hooked read ignores it, the peer's late write ends the read, and the
 * runs differ.)
 */
TABLE_TEST(accepted_socket_inherits_rcvtimeo)
{
	int port, l = lu_listen(AF_INET, 8, &port), c, s;
	struct timeval tv;
	socklen_t len = sizeof tv;
	char buf[8];
	struct lu_peer peer;

	STEP("SO_RCVTIMEO on the listener", lu_set_timeo(l, SO_RCVTIMEO, (int)timeo_ms()));
	c = lu_connect(AF_INET, port);
	ASSERT(c >= 0);
	STEP("accept", s = accept(l, NULL, NULL));
	EXPECT_TRUE(LAST->ret >= 0);
	NORM(1);
	STEP("SO_RCVTIMEO of the accepted socket (ms)",
	     getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) < 0 ? -1 :
	     tv.tv_sec * 1000 + tv.tv_usec / 1000);
	EXPECT_RET(timeo_ms());
	peer = (struct lu_peer){ .fd = c, .delay_ms = 3 * (int)timeo_ms(), .act = LU_WRITE,
				 .data = "late", .len = 4 };
	lu_peer_start(&peer);
	STEP("read on the accepted socket", read(s, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	lu_peer_join(&peer);
	close(s);
	close(c);
	close(l);
}

TABLE_TEST(accept4_flags)
{
	int port, l = lu_listen(AF_INET, 8, &port), c1, c2, s;

	c1 = lu_connect(AF_INET, port);
	c2 = lu_connect(AF_INET, port);
	ASSERT(c1 >= 0 && c2 >= 0);
	STEP("accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)", s = accept4(l, NULL, NULL,
								 SOCK_NONBLOCK | SOCK_CLOEXEC));
	EXPECT_TRUE(s >= 0);
	NORM(1);
	STEP("F_GETFL", getfl(s));
	EXPECT_TRUE(LAST->ret & O_NONBLOCK);
	STEP("F_GETFD", fcntl(s, F_GETFD));
	EXPECT_RET(FD_CLOEXEC);
	STEP("read: EAGAIN at once", read(s, (char[4]){ 0 }, 4));
	EXPECT_ERR(EAGAIN);
	QUICK();
	close(s);
	STEP("accept4(0)", s = accept4(l, NULL, NULL, 0));
	NORM(s >= 0);
	STEP("F_GETFL", getfl(s));
	EXPECT_TRUE(!(LAST->ret & O_NONBLOCK));
	STEP("F_GETFD", fcntl(s, F_GETFD));
	EXPECT_RET(0);
	close(s);
	close(c1);
	close(c2);
	close(l);
}

/* ---- the program's own O_NONBLOCK ---------------------------------------------------- */

TABLE_TEST(user_nonblock_socket)
{
	int port, l = lu_listen(AF_INET, 8, &port), c, s;
	char buf[8];

	lu_tcp_pair(&c, &s);
	STEP("F_GETFL of a blocking socket", getfl(c));
	EXPECT_TRUE(!(LAST->ret & O_NONBLOCK));
	STEP("F_SETFL O_NONBLOCK", setfl_nonblock(c, 1));
	EXPECT_RET(0);
	STEP("F_GETFL", getfl(c));
	EXPECT_TRUE(LAST->ret & O_NONBLOCK);
	STEP("read: EAGAIN at once", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	QUICK();
	STEP("read again: EAGAIN stays EAGAIN", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	QUICK();
	STEP("recv", recv(c, buf, sizeof buf, 0));
	EXPECT_ERR(EAGAIN);
	QUICK();
	STEP("write 8 MiB: a partial write at once", write(c, big, sizeof big));
	EXPECT_TRUE(LAST->ret > 0 && LAST->ret < (long long)sizeof big);
	QUICK();
	NORM(1);
	STEP("write on the full socket", write(c, big, 1000));
	EXPECT_ERR(EAGAIN);
	QUICK();
	STEP("F_SETFL O_NONBLOCK on the listener", setfl_nonblock(l, 1));
	STEP("accept: EAGAIN at once", accept(l, NULL, NULL));
	EXPECT_ERR(EAGAIN);
	QUICK();
	STEP("F_SETFL blocking again", setfl_nonblock(c, 0));
	EXPECT_RET(0);
	STEP("F_GETFL", getfl(c));
	EXPECT_TRUE(!(LAST->ret & O_NONBLOCK));
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("read blocks again until the timeout", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	close(c);
	close(s);
	close(l);
}

TABLE_TEST(sock_nonblock_type_flag)
{
	int port, l = lu_listen(AF_INET, 8, &port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), r;
	char buf[8];

	STEP("F_GETFL of a SOCK_NONBLOCK socket", getfl(fd));
	EXPECT_TRUE(LAST->ret & O_NONBLOCK);
	STEP("connect: at once", connect_port(fd, port));
	QUICK();
	NORM(LAST->ret == 0 || LAST->err == EINPROGRESS);
	LAST->err = 0;
	STEP("poll for POLLOUT", poll1(fd, POLLOUT, 2000, &r));
	EXPECT_TRUE(LAST->ret & POLLOUT);
	STEP("SO_ERROR", so_error(fd));
	EXPECT_RET(0);
	STEP("read: EAGAIN at once", read(fd, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	QUICK();
	close(fd);
	close(l);
}

TABLE_TEST(fionbio)
{
	int c, s, n = -1;
	char buf[8];

	lu_tcp_pair(&c, &s);
	STEP("ioctl(FIONBIO, 1)", fionbio(c, 1));
	EXPECT_RET(0);
	STEP("F_GETFL", getfl(c));
	EXPECT_TRUE(LAST->ret & O_NONBLOCK);
	STEP("read: EAGAIN at once", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	QUICK();
	STEP("ioctl(FIONBIO, 0)", fionbio(c, 0));
	EXPECT_RET(0);
	STEP("F_GETFL", getfl(c));
	EXPECT_TRUE(!(LAST->ret & O_NONBLOCK));
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("read blocks until the timeout", read(c, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	ASSERT_EQ(write(s, "hello", 5), 5);
	arrived(c);
	STEP("ioctl(FIONREAD) passes through", ioctl(c, FIONREAD, &n) < 0 ? -1 : n);
	EXPECT_RET(5);
	close(c);
	close(s);
}

TABLE_TEST(fcntl_getfl_view)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), sv[2];
	char buf[4];

	STEP("F_GETFL of a new socket", getfl(fd));
	EXPECT_RET(O_RDWR);
	STEP("read on it (the hooks take it over)", read(fd, buf, sizeof buf));
	EXPECT_ERR(ENOTCONN);
	STEP("F_GETFL after that", getfl(fd));
	EXPECT_RET(O_RDWR);
	STEP("F_SETFL O_NONBLOCK|O_APPEND", fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND));
	STEP("F_GETFL", getfl(fd));
	EXPECT_TRUE(LAST->ret & O_NONBLOCK);
	STEP("F_SETFL 0", fcntl(fd, F_SETFL, 0));
	STEP("F_GETFL", getfl(fd));
	EXPECT_RET(O_RDWR);
	close(fd);

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	STEP("F_GETFL of a socketpair end", getfl(sv[0]));
	EXPECT_RET(O_RDWR);
	STEP("write on it", write(sv[0], "ab", 2));
	STEP("F_GETFL after a write", getfl(sv[0]));
	EXPECT_RET(O_RDWR);
	close(sv[0]);
	close(sv[1]);
}

TABLE_TEST(pipes)
{
	int p[2];
	char buf[8];

	ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
	STEP("F_GETFL of an O_NONBLOCK pipe", getfl(p[0]));
	EXPECT_TRUE(LAST->ret & O_NONBLOCK);
	STEP("read an empty O_NONBLOCK pipe", read(p[0], buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	QUICK();
	close(p[0]);
	close(p[1]);

	ASSERT_EQ(pipe(p), 0);
	STEP("F_GETFL of a pipe", getfl(p[0]));
	EXPECT_RET(O_RDONLY);
	STEP("write", write(p[1], "hello", 5));
	EXPECT_RET(5);
	STEP("read", read(p[0], buf, sizeof buf));
	EXPECT_RET(5);
	STEP("F_GETFL after a read", getfl(p[0]));
	EXPECT_RET(O_RDONLY);
	STEP("close the write end", close(p[1]));
	STEP("read at EOF", read(p[0], buf, sizeof buf));
	EXPECT_RET(0);
	QUICK();
	STEP("read at EOF again", read(p[0], buf, sizeof buf));
	EXPECT_RET(0);
	close(p[0]);

	ASSERT_EQ(pipe(p), 0);
	close(p[0]);
	STEP("write with no reader", write(p[1], "x", 1));
	EXPECT_ERR(EPIPE);
	close(p[1]);
}

/*
 * A call a pipe cannot do fails at once: EBADF for the wrong end, ENOTSOCK
 * for a socket call (before any data could arrive).
 */
TABLE_TEST(pipe_wrong_direction)
{
	int p[2];
	char buf[8];

	ASSERT_EQ(pipe(p), 0);
	STEP("read on the write end", read(p[1], buf, sizeof buf));
	EXPECT_ERR(EBADF);
	QUICK();
	STEP("write on the read end", write(p[0], "x", 1));
	EXPECT_ERR(EBADF);
	QUICK();
	STEP("recv on an empty pipe", recv(p[0], buf, sizeof buf, 0));
	EXPECT_ERR(ENOTSOCK);
	QUICK();
	close(p[0]);
	close(p[1]);
}

/* ---- dup --------------------------------------------------------------------------- */

TABLE_TEST(fcntl_dupfd)
{
	int c, s, d;
	char buf[8];

	lu_tcp_pair(&c, &s);
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("F_DUPFD_CLOEXEC from 50", d = fcntl(c, F_DUPFD_CLOEXEC, 50));
	EXPECT_TRUE(d >= 50);
	NORM(1);
	STEP("F_GETFD of the copy", fcntl(d, F_GETFD));
	EXPECT_RET(FD_CLOEXEC);
	STEP("F_GETFL of the copy", getfl(d));
	EXPECT_RET(O_RDWR);
	STEP("read on the copy times out", read(d, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("write on the copy", write(d, "dup", 3));
	EXPECT_RET(3);
	STEP("the peer reads it", read(s, buf, sizeof buf));
	EXPECT_RET(3);
	close(d);
	STEP("F_DUPFD", d = fcntl(c, F_DUPFD, 0));
	EXPECT_TRUE(d >= 0);
	NORM(1);
	STEP("F_GETFD", fcntl(d, F_GETFD));
	EXPECT_RET(0);
	STEP("F_DUPFD of a closed descriptor", fcntl(d + 1000, F_DUPFD_CLOEXEC, 0));
	EXPECT_ERR(EBADF);
	close(d);
	close(c);
	close(s);
}

/* dup() is not in the hook list, but reads on the copy are, and must stay blocking. */
TABLE_TEST(dup_keeps_blocking_view)
{
	int c, s, d;
	char buf[8];

	lu_tcp_pair(&c, &s);
	STEP("SO_RCVTIMEO", lu_set_timeo(c, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("dup", d = dup(c));
	NORM(d >= 0);
	STEP("F_GETFL of the copy", getfl(d));
	EXPECT_RET(O_RDWR);
	STEP("read on the copy times out", read(d, buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	close(d);
	close(c);
	close(s);
}

/* ---- bad descriptors ---------------------------------------------------------------- */

TABLE_TEST(closed_descriptors)
{
	char buf[8];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct timeval tv = { 0, 1000 };
	fd_set rd;
	int one = 1, r, fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(buf, 0, sizeof buf);
	ASSERT(fd >= 0);
	STEP("close", close(fd));
	EXPECT_RET(0);
	STEP("close again", close(fd));
	EXPECT_ERR(EBADF);
	STEP("read", read(fd, buf, sizeof buf));
	EXPECT_ERR(EBADF);
	STEP("write", write(fd, buf, 1));
	EXPECT_ERR(EBADF);
	STEP("recv", recv(fd, buf, sizeof buf, 0));
	EXPECT_ERR(EBADF);
	STEP("send", send(fd, buf, 1, MSG_NOSIGNAL));
	EXPECT_ERR(EBADF);
	STEP("readv", readv(fd, &iov, 1));
	EXPECT_ERR(EBADF);
	STEP("writev", writev(fd, &iov, 1));
	EXPECT_ERR(EBADF);
	STEP("recvmsg", recvmsg(fd, &mh, 0));
	EXPECT_ERR(EBADF);
	STEP("sendmsg", sendmsg(fd, &mh, MSG_NOSIGNAL));
	EXPECT_ERR(EBADF);
	STEP("accept", accept(fd, NULL, NULL));
	EXPECT_ERR(EBADF);
	STEP("connect", connect_port(fd, 9));
	EXPECT_ERR(EBADF);
	STEP("setsockopt", setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
	EXPECT_ERR(EBADF);
	STEP("SO_RCVTIMEO", lu_set_timeo(fd, SO_RCVTIMEO, 100));
	EXPECT_ERR(EBADF);
	STEP("fcntl(F_GETFL)", fcntl(fd, F_GETFL));
	EXPECT_ERR(EBADF);
	STEP("fcntl(F_SETFL)", fcntl(fd, F_SETFL, O_NONBLOCK));
	EXPECT_ERR(EBADF);
	STEP("ioctl(FIONBIO)", fionbio(fd, 1));
	EXPECT_ERR(EBADF);
	STEP("poll revents", poll1(fd, POLLIN, 100, &r));
	EXPECT_RET(POLLNVAL);
	QUICK();
	STEP("poll return", r);
	EXPECT_RET(1);
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	STEP("select", select(fd + 1, &rd, NULL, NULL, &tv));
	EXPECT_ERR(EBADF);
	STEP("read(-1)", read(-1, buf, 1));
	EXPECT_ERR(EBADF);
	STEP("close(-1)", close(-1));
	EXPECT_ERR(EBADF);
	STEP("read(100000)", read(100000, buf, 1));
	EXPECT_ERR(EBADF);
}

TABLE_TEST(wrong_kind_of_descriptor)
{
	int p[2], port, l = lu_listen(AF_INET, 8, &port), fd = socket(AF_INET, SOCK_STREAM, 0);
	char buf[8];

	ASSERT_EQ(pipe(p), 0);
	STEP("accept on a pipe", accept(p[0], NULL, NULL));
	EXPECT_ERR(ENOTSOCK);
	STEP("connect on a pipe", connect_port(p[0], port));
	EXPECT_ERR(ENOTSOCK);
	STEP("setsockopt on a pipe", lu_set_timeo(p[0], SO_RCVTIMEO, 100));
	EXPECT_ERR(ENOTSOCK);
	STEP("send on a pipe", send(p[1], "x", 1, 0));
	EXPECT_ERR(ENOTSOCK);
	STEP("read on a listening socket", read(l, buf, sizeof buf));
	EXPECT_ERR(ENOTCONN);
	QUICK();
	STEP("read on an unconnected socket", read(fd, buf, sizeof buf));
	EXPECT_ERR(ENOTCONN);
	QUICK();
	STEP("send on an unconnected socket", send(fd, "x", 1, MSG_NOSIGNAL));
	EXPECT_ERR(EPIPE);
	QUICK();
	STEP("accept on a socket that does not listen", accept(fd, NULL, NULL));
	EXPECT_ERR(EINVAL);
	QUICK();
	STEP("SO_RCVTIMEO with tv_usec out of range",
	     setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 0, 2000000 },
			sizeof(struct timeval)));
	EXPECT_ERR(EDOM);
	close(fd);
	close(l);
	close(p[0]);
	close(p[1]);
}

/* ---- poll, select, sleep -------------------------------------------------------------- */

TABLE_TEST(poll_semantics)
{
	int c, s, r, bad;
	struct pollfd two[3];

	lu_tcp_pair(&c, &s);
	STEP("poll POLLIN, silent socket: revents", poll1(c, POLLIN, (int)timeo_ms(), &r));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("poll POLLIN, silent socket: return", r);
	EXPECT_RET(0);
	STEP("poll POLLOUT: revents", poll1(c, POLLOUT, (int)timeo_ms(), &r));
	EXPECT_RET(POLLOUT);
	QUICK();
	STEP("poll timeout 0", poll1(c, POLLIN, 0, &r));
	EXPECT_RET(0);
	QUICK();
	STEP("poll no descriptors", poll(NULL, 0, (int)timeo_ms()));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("poll a negative descriptor: revents", poll1(-1, POLLIN, (int)timeo_ms(), &r));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("poll a negative descriptor: return", r);
	EXPECT_RET(0);
	bad = socket(AF_INET, SOCK_STREAM, 0);
	close(bad);
	STEP("poll a closed descriptor: revents", poll1(bad, POLLIN, (int)timeo_ms(), &r));
	EXPECT_RET(POLLNVAL);
	QUICK();
	two[0] = (struct pollfd){ c, POLLIN, 0 };
	two[1] = (struct pollfd){ s, POLLOUT, 0 };
	two[2] = (struct pollfd){ -1, POLLIN, 0 };
	STEP("poll three entries", poll(two, 3, (int)timeo_ms()));
	EXPECT_RET(1);
	QUICK();
	STEP("their revents", two[0].revents << 16 | two[1].revents << 8 | two[2].revents);
	ASSERT_EQ(write(s, "x", 1), 1);
	STEP("poll POLLIN with data: revents", poll1(c, POLLIN, 5 * (int)timeo_ms(), &r));
	EXPECT_RET(POLLIN);
	STEP("return", r);
	EXPECT_RET(1);
	ASSERT_EQ(shutdown(s, SHUT_WR), 0);
	arrived(c);
	STEP("poll POLLIN|POLLRDHUP at EOF", poll1(c, POLLIN | POLLRDHUP, 0, &r));
	EXPECT_TRUE(LAST->ret & POLLRDHUP);
	close(c);
	close(s);
}

/* A wake-up for another event (the socket becomes writable) does not end poll early. */
TABLE_TEST(poll_ignores_other_events)
{
	int c, s, r, sz = 4096;
	struct lu_peer peer;

	lu_tcp_pair(&c, &s);
	ASSERT_EQ(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
	ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
	fill(c);
	/* The peer drains c's data meanwhile: c becomes writable, never readable. */
	peer = (struct lu_peer){ .fd = s, .delay_ms = (int)timeo_ms() / 2, .act = LU_DRAIN };
	lu_peer_start(&peer);
	STEP("poll POLLIN while only POLLOUT comes", poll1(c, POLLIN, (int)timeo_ms(), &r));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("return", r);
	EXPECT_RET(0);
	shutdown(c, SHUT_WR);
	lu_peer_join(&peer);
	close(c);
	close(s);
}

TABLE_TEST(select_semantics)
{
	int c, s, bad;
	fd_set rd, wr;
	struct timeval tv;

	lu_tcp_pair(&c, &s);
	FD_ZERO(&rd);
	FD_SET(c, &rd);
	tv = (struct timeval){ 0, (int)timeo_ms() * 1000 };
	STEP("select a silent socket", select(c + 1, &rd, NULL, NULL, &tv));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("time left (us)", tv.tv_sec * 1000000 + tv.tv_usec);
	EXPECT_RET(0);
	STEP("the set is cleared", FD_ISSET(c, &rd));
	EXPECT_RET(0);
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(c, &rd);
	FD_SET(c, &wr);
	tv = (struct timeval){ 1, 0 };
	STEP("select read+write, writable", select(c + 1, &rd, &wr, NULL, &tv));
	EXPECT_RET(1);
	QUICK();
	STEP("FD_ISSET read, write", FD_ISSET(c, &rd) * 2 + !!FD_ISSET(c, &wr));
	EXPECT_RET(1);
	STEP("time left is some", tv.tv_sec * 1000000 + tv.tv_usec > 0);
	EXPECT_RET(1);
	ASSERT_EQ(write(s, "x", 1), 1);
	arrived(c);
	FD_ZERO(&rd);
	FD_SET(c, &rd);
	STEP("select NULL timeout, readable", select(c + 1, &rd, NULL, NULL, NULL));
	EXPECT_RET(1);
	QUICK();
	tv = (struct timeval){ 0, (int)timeo_ms() * 1000 };
	STEP("select no descriptors", select(0, NULL, NULL, NULL, &tv));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	tv = (struct timeval){ 0, 0 };
	FD_ZERO(&rd);
	FD_SET(s, &rd);
	STEP("select zero timeout", select(s + 1, &rd, NULL, NULL, &tv));
	EXPECT_RET(0);
	QUICK();
	tv = (struct timeval){ 0, -1 };
	STEP("select negative timeout", select(s + 1, &rd, NULL, NULL, &tv));
	EXPECT_ERR(EINVAL);
	bad = socket(AF_INET, SOCK_STREAM, 0);
	close(bad);
	FD_ZERO(&rd);
	FD_SET(bad, &rd);
	tv = (struct timeval){ 0, 1000 };
	STEP("select a closed descriptor", select(bad + 1, &rd, NULL, NULL, &tv));
	EXPECT_ERR(EBADF);
	close(c);
	close(s);
}

TABLE_TEST(sleeps)
{
	struct timespec ts;

	ts = (struct timespec){ 0, 1000000000 };
	STEP("nanosleep tv_nsec 1e9", nanosleep(&ts, NULL));
	EXPECT_ERR(EINVAL);
	ts = (struct timespec){ -1, 0 };
	STEP("nanosleep tv_sec -1", nanosleep(&ts, NULL));
	EXPECT_ERR(EINVAL);
	ts = (struct timespec){ 0, timeo_ms() * 1000000 };
	STEP("nanosleep", nanosleep(&ts, NULL));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("usleep", usleep((useconds_t)timeo_ms() * 1000));
	EXPECT_RET(0);
	WAIT(timeo_ms());
	STEP("usleep(0)", usleep(0));
	EXPECT_RET(0);
	QUICK();
	STEP("sleep(0)", sleep(0));
	EXPECT_RET(0);
	QUICK();
}

/* ---- flags, datagrams, files ------------------------------------------------------------ */

TABLE_TEST(recv_flags)
{
	char buf[400];
	int c, s;
	struct lu_peer peer;

	memset(big, 'w', 300);
	lu_tcp_pair(&c, &s);
	ASSERT_EQ(write(s, "abcdef", 6), 6);
	arrived(c);
	STEP("recv MSG_PEEK", recv(c, buf, 3, MSG_PEEK));
	EXPECT_RET(3);
	STEP("recv", recv(c, buf, 3, 0));
	EXPECT_RET(3);
	STEP("the peeked bytes were not consumed", buf[0] == 'a');
	EXPECT_RET(1);
	STEP("recv MSG_DONTWAIT", recv(c, buf, sizeof buf, MSG_DONTWAIT));
	EXPECT_RET(3);
	STEP("recv MSG_DONTWAIT, nothing left", recv(c, buf, sizeof buf, MSG_DONTWAIT));
	EXPECT_ERR(EAGAIN);
	QUICK();
	peer = (struct lu_peer){ .fd = s, .delay_ms = (int)timeo_ms() / 2, .act = LU_WRITE,
				 .data = big, .len = 300, .pieces = 3 };
	lu_peer_start(&peer);
	STEP("recv MSG_WAITALL of 3 pieces", recv(c, buf, 300, MSG_WAITALL));
	EXPECT_RET(300);
	lu_peer_join(&peer);
	close(c);
	close(s);
}

TABLE_TEST(recvmsg_waitall)
{
	char buf[400];
	struct iovec iov[2] = { { buf, 170 }, { buf + 200, 130 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	int c, s;
	struct lu_peer peer;

	for (int i = 0; i < 300; i++)
		big[i] = (char)lu_pattern(9, (size_t)i);
	memset(buf, 0, sizeof buf);
	lu_tcp_pair(&c, &s);
	peer = (struct lu_peer){ .fd = s, .delay_ms = (int)timeo_ms() / 2, .act = LU_WRITE,
				 .data = big, .len = 300, .pieces = 3 };
	lu_peer_start(&peer);
	STEP("recvmsg MSG_WAITALL of 3 pieces", recvmsg(c, &mh, MSG_WAITALL));
	EXPECT_RET(300);
	STEP("the data landed in both buffers, in order",
	     memcmp(buf, big, 170) == 0 && memcmp(buf + 200, big + 170, 130) == 0);
	EXPECT_RET(1);
	STEP("the caller's iovecs are unchanged", iov[0].iov_len == 170 && iov[1].iov_base == buf + 200);
	EXPECT_RET(1);
	lu_peer_join(&peer);
	close(c);
	close(s);
}

TABLE_TEST(udp)
{
	int holder, u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_storage ss, from;
	socklen_t len = lu_addr(AF_INET, 0, &ss), flen = sizeof from;
	char buf[16];

	/* A UDP port with nobody on it: bind one, note it, close it. */
	holder = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_EQ(bind(holder, (struct sockaddr *)&ss, len), 0);
	ASSERT_EQ(getsockname(holder, (struct sockaddr *)&ss, &len), 0);
	close(holder);
	STEP("connect UDP to a closed port", connect(u, (struct sockaddr *)&ss, len));
	EXPECT_RET(0);
	STEP("SO_RCVTIMEO", lu_set_timeo(u, SO_RCVTIMEO, 10 * (int)timeo_ms()));
	STEP("send", send(u, "ping", 4, 0));
	EXPECT_RET(4);
	STEP("recv gets the ICMP error", recv(u, buf, sizeof buf, 0));
	EXPECT_ERR(ECONNREFUSED);

	len = lu_addr(AF_INET, 0, &ss);
	ASSERT_EQ(bind(v, (struct sockaddr *)&ss, len), 0);
	ASSERT_EQ(getsockname(v, (struct sockaddr *)&ss, &len), 0);
	STEP("SO_RCVTIMEO", lu_set_timeo(v, SO_RCVTIMEO, (int)timeo_ms()));
	STEP("recvfrom, nothing sent", recvfrom(v, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	STEP("sendto itself", sendto(v, "datagram", 8, 0, (struct sockaddr *)&ss, len));
	EXPECT_RET(8);
	flen = sizeof from;
	STEP("recvfrom", recvfrom(v, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen));
	EXPECT_RET(8);
	STEP("sender's port", ntohs(((struct sockaddr_in *)&from)->sin_port) ==
				     ntohs(((struct sockaddr_in *)&ss)->sin_port));
	EXPECT_RET(1);
	close(u);
	close(v);
}

TABLE_TEST(socketpair_and_scm_rights)
{
	int sv[2], p[2], got = -1;
	char buf[16], cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { "fd", 2 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof cbuf };
	struct cmsghdr *cm;

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ASSERT_EQ(pipe(p), 0);
	STEP("SO_RCVTIMEO on a socketpair end", lu_set_timeo(sv[0], SO_RCVTIMEO, (int)timeo_ms()));
	STEP("read times out", read(sv[0], buf, sizeof buf));
	EXPECT_ERR(EAGAIN);
	WAIT(timeo_ms());
	memset(cbuf, 0, sizeof cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
	STEP("sendmsg SCM_RIGHTS", sendmsg(sv[1], &mh, 0));
	EXPECT_RET(2);
	iov = (struct iovec){ buf, sizeof buf };
	mh.msg_controllen = sizeof cbuf;
	STEP("recvmsg", recvmsg(sv[0], &mh, 0));
	EXPECT_RET(2);
	cm = CMSG_FIRSTHDR(&mh);
	ASSERT(cm && cm->cmsg_type == SCM_RIGHTS);
	memcpy(&got, CMSG_DATA(cm), sizeof(int));
	STEP("write on the received descriptor", write(got, "via", 3));
	EXPECT_RET(3);
	STEP("read it from the pipe", read(p[0], buf, sizeof buf));
	EXPECT_RET(3);
	STEP("peer closes", close(sv[1]));
	STEP("read at EOF", read(sv[0], buf, sizeof buf));
	EXPECT_RET(0);
	QUICK();
	STEP("write to a closed peer", write(sv[0], "x", 1));
	EXPECT_ERR(EPIPE);
	close(got);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
}

TABLE_TEST(files)
{
	char path[] = "/tmp/coro-hooktable-XXXXXX", buf[16];
	int fd = mkstemp(path), nul = open("/dev/null", O_RDWR), r;

	ASSERT(fd >= 0 && nul >= 0);
	memset(buf, 0, sizeof buf);
	unlink(path);
	STEP("write a regular file", write(fd, "0123456789", 10));
	EXPECT_RET(10);
	STEP("lseek", lseek(fd, 2, SEEK_SET));
	EXPECT_RET(2);
	STEP("read a regular file", read(fd, buf, sizeof buf));
	EXPECT_RET(8);
	STEP("read at its end", read(fd, buf, sizeof buf));
	EXPECT_RET(0);
	STEP("poll a regular file", poll1(fd, POLLIN | POLLOUT, 1000, &r));
	EXPECT_RET(POLLIN | POLLOUT);
	QUICK();
	STEP("read /dev/null", read(nul, buf, sizeof buf));
	EXPECT_RET(0);
	QUICK();
	STEP("write /dev/null", write(nul, buf, sizeof buf));
	EXPECT_RET(sizeof buf);
	STEP("F_GETFL of /dev/null", getfl(nul));
	EXPECT_TRUE((LAST->ret & O_ACCMODE) == O_RDWR && !(LAST->ret & O_NONBLOCK));
	STEP("recv on a file", recv(fd, buf, 1, 0));
	EXPECT_ERR(ENOTSOCK);
	close(fd);
	close(nul);
}
