/* SPDX-License-Identifier: MIT */
/*
 * bench-echo: echo round trips per second through a libcoro server against
 * plain hand-written epoll servers, with 1, 100 and 10,000 connections, and
 * the system calls each server makes per echoed message.
 *
 *   bench-echo [time [RUNS [MS]]]
 *       The standard measurement (5 runs of 500 ms per server and
 *       connection count, after a 200 ms warm-up), then the system call
 *       count at 100 connections, then BENCH lines.
 *   bench-echo serve IMPL PORT [MESSAGES]
 *       A server alone on 127.0.0.1:PORT (0: any; the port is printed),
 *       exiting after MESSAGES echoes if given: for callgrind or strace by
 *       hand. IMPL: coro, epoll-lt, epoll-et.
 *   bench-echo load PORT CONNS MS
 *       The load generator alone against 127.0.0.1:PORT: prints round
 *       trips per second.
 *   bench-echo count IMPL CONNS N
 *       For callgrind (tests/bench/run): a server that exits after N
 *       echoes, its load generator started with exec, so that valgrind,
 *       which does not follow exec by default, measures the server alone;
 *       instructions(2N) - instructions(N) over N is the server's user-space
 *       cost of one echo.
 *
 * The servers (the thing compared; each in a child process of its own,
 * pinned to CPU 0):
 *   coro      libcoro: a coroutine accepts with a plain blocking accept()
 *             and starts one coroutine per connection (private 128 KiB
 *             stack), which loops on blocking read() and write() with the
 *             hooks on; the thread runs co_eventloop.
 *   epoll-lt  one thread, one epoll set, level-triggered EPOLLIN: on an
 *             event, one read() and one write() of what was read (EPOLLOUT
 *             only while a write is incomplete).
 *   epoll-et  the same, edge-triggered for both directions from the start
 *             (as libcoro registers): a read shorter than the buffer means
 *             the socket is drained, so no read ends in EAGAIN. The
 *             baseline of the ratios: it is the faster of the two at
 *             10,000 connections (level-triggered epoll re-checks every
 *             reported descriptor at the next epoll_wait).
 *
 * The load generator (a child process pinned to CPU 1, its own process
 * because 10,000 connections and their peers do not fit under one
 * 20,000-descriptor limit): plain epoll, level-triggered; every connection
 * has one 32-byte message in flight at all times, and the next goes out
 * as soon as the echo is back. Connections are opened in batches of 256,
 * each batch followed by one round trip on each of its connections, so the
 * listen backlog never overflows. They are closed with an RST (SO_LINGER
 * 0) so that no TIME_WAIT is left behind.
 *
 * Timing: the generator counts round trips completed in the measured
 * window; at its two ends it also reads the server's counters: messages
 * echoed and epoll_wait calls (in memory shared with the server; libcoro's
 * server counts them in co_eventloop's fn, called before each), read
 * and write system calls (syscr, syscw of /proc/PID/io: every call that
 * reaches the kernel's vfs_read/vfs_write, EAGAIN ones included) and CPU
 * time (/proc/PID/schedstat). In each run, for each connection count,
 * the servers are measured one after the other, the order rotating from
 * run to run; the ratio is taken run by run (coro / best epoll in the
 * same run) and its median reported.
 *
 * System calls per echoed message at 100 connections: the counters above
 * give read + write + epoll_wait, exactly and without disturbing the run.
 * Any other call would be missed, so each server is also run once more
 * with `strace -c -f` attached for one second of steady state: its
 * breakdown shows every system call, and the headline figure is
 * (read + write + epoll_wait, from the counters) + (everything else
 * strace saw, per message). strace itself slows the server several times,
 * which makes each epoll_wait return more events: that is why its
 * epoll_wait share is not used.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/epoll.h>

#include "coro/coro.h"
#include "tests/bench/bench.h"
#include "tests/bench/bench-net.h"

#define MSG_SIZE 32      /* bytes per message */
#define BUF_SIZE 4096    /* read buffer of every server and of the generator */
#define BATCH 256        /* connections opened before a round trip on each */
#define SERVER_CPU 0
#define CLIENT_CPU 1
#define TIMEOUT_MS 60000 /* a measurement that takes longer is broken */

enum { IMPL_CORO, IMPL_EPOLL_LT, IMPL_EPOLL_ET, NIMPL };

static const char *const impl_name[NIMPL] = { "coro", "epoll-lt", "epoll-et" };
static const char *const impl_what[NIMPL] = {
	"libcoro: coroutine per connection, blocking read/write",
	"plain epoll, level-triggered",
	"plain epoll, edge-triggered",
};

/* Written by the server, read by the others (one writer each field). */
struct shared {
	volatile uint64_t bytes;  /* echoed */
	volatile uint64_t rounds; /* epoll_wait calls */
	volatile uint64_t limit;  /* serve mode: exit once this many bytes are echoed (0: never) */
};

static struct shared *sh;

static void echoed(size_t n)
{
	sh->bytes += n;
	if (sh->limit && sh->bytes >= sh->limit)
		exit(0);
}

/* ---- the libcoro server -------------------------------------------------- */

static void *coro_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF_SIZE];

	co_enable_hook_sys();
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);

		if (n <= 0)
			break;
		/* A blocking write returns once all of it is queued. */
		if (write(fd, buf, (size_t)n) != n)
			break;
		echoed((size_t)n);
	}
	close(fd);
	return NULL;
}

static void *coro_accept(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	co_enable_hook_sys();
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		struct co *co;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			bench_die("coro server: accept: %s", strerror(errno));
		}
		if (co_create(&co, NULL, coro_conn, (void *)(intptr_t)fd) < 0) {
			close(fd);
			continue;
		}
		co_resume(co); /* runs until its first read blocks */
	}
	return NULL;
}

static int coro_round(void *arg)
{
	sh->rounds++;
	return 0;
}

static void serve_coro(int lfd)
{
	struct co *co;

	if (co_create(&co, NULL, coro_accept, (void *)(intptr_t)lfd) < 0)
		bench_die("co_create: out of memory");
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), coro_round, NULL);
}

/* ---- the plain epoll servers --------------------------------------------- */

/* What a connection has left to write (only after a short write). */
struct pending {
	char *buf;
	size_t off, len;
};

static struct pending *pend; /* indexed by descriptor */

static void ep_close(int ep, int fd)
{
	free(pend[fd].buf);
	memset(&pend[fd], 0, sizeof pend[fd]);
	real.close(fd); /* also takes it out of the epoll set */
}

/* Writes what is pending; 1 if all of it is out, 0 if not yet, -1 on error. */
static int ep_flush(int fd)
{
	struct pending *p = &pend[fd];

	while (p->off < p->len) {
		ssize_t w = real.write(fd, p->buf + p->off, p->len - p->off);

		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		p->off += (size_t)w;
	}
	p->off = p->len = 0;
	return 1;
}

/* Echoes what was read; returns 1 if all is written, 0 if some is pending, -1 on error. */
static int ep_echo(int fd, const char *buf, size_t n)
{
	ssize_t w = real.write(fd, buf, n);
	struct pending *p = &pend[fd];

	if (w == (ssize_t)n)
		return 1;
	if (w < 0 && errno != EAGAIN)
		return -1;
	if (w < 0)
		w = 0;
	if (!p->buf && !(p->buf = malloc(BUF_SIZE)))
		return -1;
	memcpy(p->buf, buf + w, n - (size_t)w);
	p->off = 0;
	p->len = n - (size_t)w;
	return 0;
}

static void serve_epoll(int lfd, int edge)
{
	static struct epoll_event ev[1024];
	static char buf[BUF_SIZE];
	struct epoll_event e = { .events = EPOLLIN, .data.fd = lfd };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned conn_events = edge ? EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET : EPOLLIN;

	if (ep < 0 || !(pend = calloc(1 << 16, sizeof *pend)))
		bench_die("epoll server: setup: %s", strerror(errno));
	real.fcntl(lfd, F_SETFL, O_NONBLOCK);
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e) < 0)
		bench_die("epoll_ctl: %s", strerror(errno));
	for (;;) {
		int n = epoll_wait(ep, ev, 1024, -1);

		sh->rounds++;
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			unsigned what = ev[i].events;

			if (fd == lfd) {
				int c;

				while ((c = real.accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ce = { .events = conn_events, .data.fd = c };

					if (c >= 1 << 16 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce) < 0)
						real.close(c);
				}
				continue;
			}
			if (pend[fd].len) { /* a write is incomplete: finish it first */
				int r = ep_flush(fd);

				if (r < 0) {
					ep_close(ep, fd);
					continue;
				}
				if (r == 0)
					continue;
				if (!edge) {
					struct epoll_event ce = { .events = EPOLLIN, .data.fd = fd };

					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
				}
			}
			if (!(what & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && edge)
				continue;
			for (;;) {
				ssize_t r = real.read(fd, buf, sizeof buf);
				int w;

				if (r <= 0) {
					if (r == 0 || errno != EAGAIN)
						ep_close(ep, fd);
					break;
				}
				w = ep_echo(fd, buf, (size_t)r);
				echoed((size_t)r);
				if (w < 0) {
					ep_close(ep, fd);
					break;
				}
				if (w == 0) {
					if (!edge) {
						struct epoll_event ce = { .events = EPOLLOUT, .data.fd = fd };

						epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
					}
					break;
				}
				/* Level-triggered: one read per event. Edge: until a short read. */
				if (!edge || (size_t)r < sizeof buf)
					break;
			}
		}
	}
}

static void serve(int impl, int lfd)
{
	if (impl == IMPL_CORO)
		serve_coro(lfd);
	else
		serve_epoll(lfd, impl == IMPL_EPOLL_ET);
	exit(0);
}

/* ---- the load generator -------------------------------------------------- */

/* The server's counters at one instant. */
struct sample {
	double t_ns;
	uint64_t trips;   /* client: round trips completed */
	uint64_t bytes;   /* server: bytes echoed */
	uint64_t rounds;  /* server: epoll_wait calls */
	uint64_t syscr, syscw; /* server: read/write system calls, or 0 */
	uint64_t cpu_ns;  /* server: CPU time, or 0 */
};

/* What the generator reports: a warm-up notice (stage 1), then the result (stage 2). */
struct report {
	int stage;        /* 1: warmed up, measuring; 2: done; -1: failed */
	struct sample a, b; /* the window's two ends (stage 2) */
	char err[120];
};

static struct sample take_sample(pid_t server, uint64_t trips)
{
	struct sample s;

	memset(&s, 0, sizeof s);
	s.trips = trips;
	s.t_ns = bench_now_ns();
	if (server > 0) {
		s.bytes = sh->bytes;
		s.rounds = sh->rounds;
		if (bench_proc_syscalls(server, &s.syscr, &s.syscw) < 0)
			s.syscr = s.syscw = 0;
		s.cpu_ns = bench_proc_cpu_ns(server);
	}
	return s;
}

static int out_fd = -1;

__attribute__((noreturn, format(printf, 1, 2)))
static void client_fail(const char *fmt, ...)
{
	struct report rep = { .stage = -1 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rep.err, sizeof rep.err, fmt, ap);
	va_end(ap);
	if (out_fd >= 0) {
		if (real.write(out_fd, &rep, sizeof rep) < 0)
			_exit(3);
	} else {
		fprintf(stderr, "bench: load: %s\n", rep.err);
	}
	_exit(3);
}

/* What the generator sends: 31 characters and a NUL. */
static const char msg[MSG_SIZE] = "echo, echo, echo, echo, echo...";

/* Opens nconn connections to addr, each having done one round trip. */
static int *client_connect(const struct sockaddr_in *addr, int nconn)
{
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	int one = 1, *fds = calloc((size_t)nconn, sizeof *fds);
	char buf[MSG_SIZE];

	if (!fds)
		client_fail("out of memory");
	for (int base = 0; base < nconn; base += BATCH) {
		int end = base + BATCH < nconn ? base + BATCH : nconn;

		for (int i = base; i < end; i++) {
			int fd = real.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (fd < 0)
				client_fail("socket (connection %d): %s", i, strerror(errno));
			real.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			/* Closed with an RST: no TIME_WAIT left for the next measurement. */
			real.setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
			if (real.connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
				client_fail("connect (connection %d): %s", i, strerror(errno));
			if (real.write(fd, msg, MSG_SIZE) != MSG_SIZE)
				client_fail("first write: %s", strerror(errno));
			fds[i] = fd;
		}
		for (int i = base; i < end; i++) {
			size_t got = 0;

			while (got < MSG_SIZE) {
				ssize_t r = real.read(fds[i], buf + got, MSG_SIZE - got);

				if (r <= 0)
					client_fail("first read: %s", r ? strerror(errno) : "EOF");
				got += (size_t)r;
			}
			real.fcntl(fds[i], F_SETFL, O_NONBLOCK);
		}
	}
	return fds;
}

/*
 * Keeps every connection busy for warm_ns, then measures for run_ns (or
 * until killed if run_ns < 0), reporting on out_fd (or printing if there
 * is none).
 */
static void client(const struct sockaddr_in *addr, int nconn, double warm_ns, double run_ns,
		   pid_t server)
{
	static struct epoll_event ev[1024];
	static char buf[BUF_SIZE];
	struct report rep = { .stage = 1 };
	int *fds = client_connect(addr, nconn);
	uint32_t *got = calloc((size_t)nconn, sizeof *got);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t trips = 0;
	double start, warm_end, end = 0;

	if (!got || ep < 0)
		client_fail("setup: %s", strerror(errno));
	for (int i = 0; i < nconn; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) < 0)
			client_fail("epoll_ctl: %s", strerror(errno));
		if (real.write(fds[i], msg, MSG_SIZE) != MSG_SIZE)
			client_fail("write: %s", strerror(errno));
	}
	start = bench_now_ns();
	warm_end = start + warm_ns;
	for (;;) {
		int n = epoll_wait(ep, ev, 1024, 1000);
		double now;

		if (n < 0 && errno != EINTR)
			client_fail("epoll_wait: %s", strerror(errno));
		for (int k = 0; k < n; k++) {
			uint32_t i = ev[k].data.u32;
			ssize_t r = real.read(fds[i], buf, sizeof buf);

			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				client_fail("read: %s", r ? strerror(errno) : "EOF from the server");
			}
			got[i] += (uint32_t)r;
			if (got[i] >= MSG_SIZE) {
				got[i] -= MSG_SIZE;
				trips++;
				if (real.write(fds[i], msg, MSG_SIZE) != MSG_SIZE)
					client_fail("write: %s", strerror(errno));
			}
		}
		now = bench_now_ns();
		if (rep.stage == 1 && now >= warm_end) {
			rep.a = take_sample(server, trips);
			rep.stage = 2;
			if (out_fd >= 0) {
				struct report notice = { .stage = 1 };

				if (real.write(out_fd, &notice, sizeof notice) < 0)
					_exit(3);
			}
			if (run_ns < 0)
				end = 1e300; /* until killed */
			else
				end = rep.a.t_ns + run_ns;
		} else if (rep.stage == 2 && now >= end) {
			rep.b = take_sample(server, trips);
			break;
		}
	}
	if (out_fd >= 0) {
		if (real.write(out_fd, &rep, sizeof rep) < 0)
			_exit(3);
	} else {
		printf("%d connections: %.0f round trips/s\n", nconn,
		       (double)(rep.b.trips - rep.a.trips) * 1e9 / (rep.b.t_ns - rep.a.t_ns));
	}
	/* Exiting closes every connection with an RST (SO_LINGER 0). */
}

/* ---- one measurement ----------------------------------------------------- */

/* A server and its generator, running. */
struct session {
	pid_t server, client;
	int from_client; /* the generator's reports */
};

static int pinning = 1;

static void session_start(struct session *s, int impl, int nconn, double warm_ns,
			  double run_ns)
{
	struct sockaddr_in addr;
	int lfd = bench_listen(4096, &addr), p[2];

	memset((void *)sh, 0, sizeof *sh);
	if (pipe2(p, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	s->server = fork();
	if (s->server < 0)
		bench_die("fork: %s", strerror(errno));
	if (s->server == 0) {
		real.close(p[0]);
		real.close(p[1]);
		if (pinning)
			bench_pin(SERVER_CPU);
		serve(impl, lfd);
	}
	s->client = fork();
	if (s->client < 0)
		bench_die("fork: %s", strerror(errno));
	if (s->client == 0) {
		real.close(lfd);
		real.close(p[0]);
		out_fd = p[1];
		if (pinning)
			bench_pin(CLIENT_CPU);
		client(&addr, nconn, warm_ns, run_ns, s->server);
		_exit(0);
	}
	real.close(lfd);
	real.close(p[1]);
	s->from_client = p[0];
}

/* Waits for a report of the given stage; 0, or -1 (message printed). */
static int session_wait(struct session *s, int stage, struct report *rep)
{
	if (bench_read_full(s->from_client, rep, sizeof *rep, TIMEOUT_MS) < 0) {
		fprintf(stderr, "bench: echo: the load generator stopped without a report\n");
		return -1;
	}
	if (rep->stage != stage) {
		fprintf(stderr, "bench: echo: load generator: %s\n", rep->err);
		return -1;
	}
	return 0;
}

static void session_end(struct session *s)
{
	/* The generator first, so that its RSTs, not the server's FINs, end the connections. */
	bench_kill(s->client);
	bench_kill(s->server);
	real.close(s->from_client);
}

/* One measured window: figures derived from the two samples. */
struct figures {
	double rps;          /* client round trips per second */
	double cpu_ns_msg;   /* server CPU ns per echoed message */
	double rw_msg;       /* server read + write calls per message */
	double wait_msg;     /* server epoll_wait calls per message */
	double per_wait;     /* messages per epoll_wait */
};

static int measure(int impl, int nconn, double warm_ns, double run_ns, struct figures *f)
{
	struct session s;
	struct report rep;
	double msgs;
	int ok;

	session_start(&s, impl, nconn, warm_ns, run_ns);
	ok = session_wait(&s, 1, &rep) == 0 && session_wait(&s, 2, &rep) == 0;
	session_end(&s);
	if (!ok)
		return -1;
	msgs = (double)(rep.b.bytes - rep.a.bytes) / MSG_SIZE;
	if (msgs < 1)
		msgs = 1;
	f->rps = (double)(rep.b.trips - rep.a.trips) * 1e9 / (rep.b.t_ns - rep.a.t_ns);
	f->cpu_ns_msg = (double)(rep.b.cpu_ns - rep.a.cpu_ns) / msgs;
	f->rw_msg = (double)(rep.b.syscr - rep.a.syscr + rep.b.syscw - rep.a.syscw) / msgs;
	f->wait_msg = (double)(rep.b.rounds - rep.a.rounds) / msgs;
	f->per_wait = f->wait_msg > 0 ? 1 / f->wait_msg : 0;
	return 0;
}

/*
 * strace -c on a server for one second of steady state at nconn
 * connections: the rows, and the messages echoed meanwhile. Returns the
 * number of rows, or -1 if strace could not be used.
 */
static int strace_server(int impl, int nconn, struct bench_syscall *rows, double *ret_msgs)
{
	struct session s;
	struct report rep;
	struct bench_strace st;
	uint64_t b0, b1;
	int n = -1;

	session_start(&s, impl, nconn, 200e6, -1);
	if (session_wait(&s, 1, &rep) == 0 && bench_strace_attach(&st, s.server) == 0) {
		b0 = sh->bytes;
		usleep(1000000);
		b1 = sh->bytes;
		n = bench_strace_detach(&st, rows, BENCH_SYSCALLS_MAX);
		*ret_msgs = (double)(b1 - b0) / MSG_SIZE;
	}
	session_end(&s);
	return n;
}

/* ---- the standard measurement -------------------------------------------- */

#define NCONF 3
static const int conf_conns[NCONF] = { 1, 100, 10000 };
static const char *const conf_name[NCONF] = { "1conn", "100conn", "10kconn" };
#define C100 1 /* the configuration whose system calls are counted */

/* Configurations that fit under the descriptor limit (the largest may not). */
static int nconf = NCONF;

/* bench_stats_of, with the count's range made plain to the compiler. */
static struct bench_stats stats(const double *v, int n)
{
	if (n < 1 || n > BENCH_RUNS_MAX)
		bench_die("stats: %d values", n);
	return bench_stats_of(v, n);
}

/* Median of one field of the figures over runs. */
static double fig_med(const struct figures *f, int runs, size_t off)
{
	double v[BENCH_RUNS_MAX];

	for (int r = 0; r < runs; r++)
		v[r] = *(const double *)((const char *)&f[r] + off);
	return stats(v, runs).med;
}

#define FIG_MED(f, runs, field) fig_med(f, runs, offsetof(struct figures, field))

/* Median over runs of a ratio of one field between two servers. */
static struct bench_stats ratio_of(const struct figures *a, const struct figures *b, int runs,
				   size_t off)
{
	double v[BENCH_RUNS_MAX];

	for (int r = 0; r < runs; r++)
		v[r] = *(const double *)((const char *)&a[r] + off) /
		       *(const double *)((const char *)&b[r] + off);
	return stats(v, runs);
}

#define RATIO(a, b, runs, field) ratio_of(a, b, runs, offsetof(struct figures, field))

static void print_timings(struct figures fig[NCONF][NIMPL][BENCH_RUNS_MAX], int runs, long ms,
			  double warm_ns)
{
	printf("Echo: %d-byte messages, one in flight per connection; server on CPU %d, load\n"
	       "generator (plain epoll, another process) on CPU %d. %d runs of %ld ms after a\n"
	       "%.0f ms warm-up; in each run the servers take turns, order rotating.\n",
	       MSG_SIZE, SERVER_CPU, CLIENT_CPU, runs, ms, warm_ns / 1e6);
	printf("Server side, per echoed message: CPU ns (user + kernel), read + write system\n"
	       "calls (/proc/PID/io), epoll_wait calls; messages per epoll_wait.\n\n");
	printf("%-6s %-9s %11s %9s %9s %8s %7s %8s %9s\n", "conns", "server", "trips/s med",
	       "min", "max", "CPU ns", "rd+wr", "ep_wait", "msgs/wait");
	for (int c = 0; c < nconf; c++) {
		for (int i = 0; i < NIMPL; i++) {
			const struct figures *f = fig[c][i];
			double v[BENCH_RUNS_MAX];
			struct bench_stats st;

			for (int r = 0; r < runs; r++)
				v[r] = f[r].rps;
			st = stats(v, runs);
			printf("%-6d %-9s %11.0f %9.0f %9.0f %8.0f %7.3f %8.4f %9.1f\n",
			       conf_conns[c], impl_name[i], st.med, st.min, st.max,
			       FIG_MED(f, runs, cpu_ns_msg), FIG_MED(f, runs, rw_msg),
			       FIG_MED(f, runs, wait_msg), FIG_MED(f, runs, per_wait));
		}
	}
	printf("\nServers: coro = %s;\nepoll-lt = %s; epoll-et = %s (the baseline of the ratios).\n\n",
	       impl_what[IMPL_CORO], impl_what[IMPL_EPOLL_LT], impl_what[IMPL_EPOLL_ET]);
	printf("%-6s %-40s %7s %7s %7s\n", "conns", "ratio, per run (median, min, max)", "med",
	       "min", "max");
	for (int c = 0; c < nconf; c++) {
		struct bench_stats a = RATIO(fig[c][IMPL_CORO], fig[c][IMPL_EPOLL_ET], runs, rps);
		struct bench_stats b = RATIO(fig[c][IMPL_CORO], fig[c][IMPL_EPOLL_LT], runs, rps);
		struct bench_stats d = RATIO(fig[c][IMPL_CORO], fig[c][IMPL_EPOLL_ET], runs, cpu_ns_msg);

		printf("%-6d %-40s %7.3f %7.3f %7.3f%s\n", conf_conns[c], "trips/s, coro / epoll-et",
		       a.med, a.min, a.max, c ? "  goal >= 0.9" : "");
		printf("%-6s %-40s %7.3f %7.3f %7.3f\n", "", "trips/s, coro / epoll-lt", b.med, b.min,
		       b.max);
		printf("%-6s %-40s %7.3f %7.3f %7.3f\n", "", "server CPU per message, coro / epoll-et",
		       d.med, d.min, d.max);
	}
	printf("\n");
}

/*
 * The strace breakdown of one server at 100 connections, and its system
 * calls per message: read + write + epoll_wait from the timed runs'
 * counters, plus whatever else strace saw. Returns that figure, or -1 if
 * neither counters nor strace are available.
 */
static double syscalls_row(int impl, const struct figures *f, int runs)
{
	struct bench_syscall rows[BENCH_SYSCALLS_MAX];
	double msgs = 0, rw = FIG_MED(f, runs, rw_msg), wt = FIG_MED(f, runs, wait_msg);
	double other = 0, total = 0;
	int n = strace_server(impl, conf_conns[C100], rows, &msgs);

	printf("%-9s", impl_name[impl]);
	if (n < 0 || msgs < 1) {
		printf(" strace -c not available (not installed, or ptrace refused)\n");
	} else {
		for (int k = 0; k < n; k++) {
			double per = (double)rows[k].calls / msgs;

			if (strcmp(rows[k].name, "total") == 0) {
				total = per;
				continue;
			}
			if (strcmp(rows[k].name, "read") && strcmp(rows[k].name, "write") &&
			    strcmp(rows[k].name, "epoll_wait"))
				other += per;
			if (per >= 0.0005)
				printf(" %s %.3f", rows[k].name, per);
		}
		printf("  | total %.3f (%.0f msgs traced)\n", total, msgs);
	}
	if (rw <= 0) { /* no /proc/PID/io: strace's figure it is */
		if (total <= 0)
			return -1;
		printf("%-9s no /proc/PID/io: strace's total stands\n", "");
		return total;
	}
	printf("%-9s untraced: read+write %.3f + epoll_wait %.4f + other (strace) %.4f = %.3f\n", "",
	       rw, wt, other, rw + wt + other);
	return rw + wt + other;
}

static int time_mode(int runs, long ms)
{
	static struct figures fig[NCONF][NIMPL][BENCH_RUNS_MAX];
	double run_ns = (double)ms * 1e6, warm_ns = 200e6, sys_coro, sys_et;
	char name[64];

	long nofile = bench_raise_nofile();

	if (bench_ncpus() < 2) {
		pinning = 0;
		printf("(one CPU: server and load generator share it; figures are not comparable)\n");
	}
	/* Each side holds its connections and a few more descriptors. */
	while (nconf > C100 + 1 && conf_conns[nconf - 1] + 64 > nofile) {
		nconf--;
		printf("(%d connections skipped: the descriptor limit is %ld)\n", conf_conns[nconf],
		       nofile);
	}
	for (int r = 0; r < runs; r++)
		for (int c = 0; c < nconf; c++)
			for (int k = 0; k < NIMPL; k++) {
				int i = (k + r) % NIMPL;

				if (measure(i, conf_conns[c], warm_ns, run_ns, &fig[c][i][r]) < 0)
					return 2;
			}
	print_timings(fig, runs, ms, warm_ns);

	printf("System calls per echoed message at %d connections, server side. strace -c -f\n"
	       "attached for 1 s of steady state (calls per message; strace slows the server,\n"
	       "so its epoll_wait share is low), then the figure without strace: read + write\n"
	       "and epoll_wait counted in the timed runs, plus the other calls strace saw.\n\n",
	       conf_conns[C100]);
	sys_coro = syscalls_row(IMPL_CORO, fig[C100][IMPL_CORO], runs);
	sys_et = syscalls_row(IMPL_EPOLL_ET, fig[C100][IMPL_EPOLL_ET], runs);
	printf("\ncoro: %.3f system calls per echoed message  goal <= 2.1\n\n", sys_coro);

	for (int c = 0; c < nconf; c++) {
		const struct figures *co = fig[c][IMPL_CORO], *et = fig[c][IMPL_EPOLL_ET];

		snprintf(name, sizeof name, "echo_%s_rps", conf_name[c]);
		bench_headline(name, FIG_MED(co, runs, rps), 0, "trips/s");
		snprintf(name, sizeof name, "echo_%s_vs_epoll", conf_name[c]);
		bench_headline(name, RATIO(co, et, runs, rps).med, -1, "ratio");
		snprintf(name, sizeof name, "echo_%s_epoll_rps", conf_name[c]);
		bench_headline(name, FIG_MED(et, runs, rps), 0, "trips/s");
		snprintf(name, sizeof name, "echo_%s_vs_epoll_lt", conf_name[c]);
		bench_headline(name, RATIO(co, fig[c][IMPL_EPOLL_LT], runs, rps).med, -1, "ratio");
		snprintf(name, sizeof name, "echo_%s_cpu_vs_epoll", conf_name[c]);
		bench_headline(name, RATIO(co, et, runs, cpu_ns_msg).med, -1, "ratio");
		snprintf(name, sizeof name, "echo_%s_cpu_ns_per_msg", conf_name[c]);
		bench_headline(name, FIG_MED(co, runs, cpu_ns_msg), 0, "ns");
		snprintf(name, sizeof name, "echo_%s_epoll_cpu_ns_per_msg", conf_name[c]);
		bench_headline(name, FIG_MED(et, runs, cpu_ns_msg), 0, "ns");
	}
	if (sys_coro >= 0)
		bench_headline("echo_syscalls_per_msg_100conn", sys_coro, 3, "syscalls");
	if (sys_et >= 0)
		bench_headline("echo_syscalls_per_msg_100conn_epoll", sys_et, 3, "syscalls");
	bench_headline("echo_epoll_waits_per_msg_100conn",
		       FIG_MED(fig[C100][IMPL_CORO], runs, wait_msg), 4, "calls");
	return 0;
}

/*
 * count mode: a server that exits after n messages, its load generator
 * started with exec (so that under valgrind, which does not follow exec
 * by default, only the server is measured).
 */
static int count_mode(const char *self, int impl, int nconn, long n)
{
	struct sockaddr_in addr;
	int lfd = bench_listen(4096, &addr);
	char port[16], conns[16];
	pid_t pid;

	snprintf(port, sizeof port, "%d", ntohs(addr.sin_port));
	snprintf(conns, sizeof conns, "%d", nconn);
	sh->limit = (uint64_t)n * MSG_SIZE;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		/* It ends with "EOF from the server" once the server has exited: expected. */
		dup2(null, 1);
		dup2(null, 2);
		execl(self, self, "load", port, conns, "3600000", (char *)NULL);
		_exit(127);
	}
	serve(impl, lfd);
	return 0;
}

static int impl_by_name(const char *s)
{
	for (int i = 0; i < NIMPL; i++)
		if (strcmp(s, impl_name[i]) == 0)
			return i;
	bench_die("unknown server \"%s\" (coro, epoll-lt, epoll-et)", s);
}

int main(int argc, char **argv)
{
	int runs = 5;
	long ms = 500;

	bench_libc_init();
	sh = bench_shared(sizeof *sh);
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
		struct sockaddr_in addr = { .sin_family = AF_INET };
		int impl, lfd, one = 1;

		if (argc < 4 || argc > 5)
			bench_die("usage: bench-echo serve IMPL PORT [MESSAGES]");
		impl = impl_by_name(argv[2]);
		if (argc == 5)
			sh->limit = (uint64_t)bench_count(argv[4], "MESSAGES") * MSG_SIZE;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons((uint16_t)atoi(argv[3]));
		lfd = real.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0)
			bench_die("serve: socket: %s", strerror(errno));
		real.setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0)
			bench_die("serve: listen on port %s: %s", argv[3], strerror(errno));
		if (addr.sin_port == 0) {
			socklen_t len = sizeof addr;

			getsockname(lfd, (struct sockaddr *)&addr, &len);
			printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
			fflush(stdout);
		}
		serve(impl, lfd);
	}
	if (argc >= 2 && strcmp(argv[1], "load") == 0) {
		struct sockaddr_in addr = { .sin_family = AF_INET };

		if (argc != 5)
			bench_die("usage: bench-echo load PORT CONNS MS");
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons((uint16_t)atoi(argv[2]));
		client(&addr, (int)bench_count(argv[3], "CONNS"), 200e6,
		       (double)bench_count(argv[4], "MS") * 1e6, 0);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "count") == 0) {
		if (argc != 5)
			bench_die("usage: bench-echo count IMPL CONNS N");
		return count_mode(argv[0], impl_by_name(argv[2]), (int)bench_count(argv[3], "CONNS"),
				  bench_count(argv[4], "N"));
	}
	if (argc >= 2 && strcmp(argv[1], "time") != 0)
		bench_die("usage: bench-echo [time [RUNS [MS]]] | serve IMPL PORT [MESSAGES] | "
			  "load PORT CONNS MS | count IMPL CONNS N");
	if (argc >= 3)
		runs = (int)bench_count(argv[2], "RUNS");
	if (argc >= 4)
		ms = bench_count(argv[3], "MS");
	if (runs > BENCH_RUNS_MAX)
		bench_die("RUNS: at most %d", BENCH_RUNS_MAX);
	return time_mode(runs, ms);
}
