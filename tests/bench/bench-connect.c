/* SPDX-License-Identifier: MIT */
/*
 * bench-connect: TCP connect probes per second against a loopback
 * listener, from libcoro coroutines (plain blocking socket, connect and
 * close with the hooks on), against a plain C epoll loop of non-blocking
 * connects in the same run; with an ordinary close() and with an RST close
 * (SO_LINGER 0).
 *
 *   bench-connect [time [RUNS [MS]]]
 *       5 runs; in each, both probers with both close styles, MS ms
 *       (default 500) each after a 100 ms warm-up, order rotating. Prints
 *       median, min and max probes per second, the median of the per-run
 *       ratios, then BENCH lines.
 *   bench-connect probe IMPL STYLE PORT MS
 *       One prober alone against 127.0.0.1:PORT (for strace or callgrind
 *       by hand). IMPL: coro, epoll; STYLE: close, rst.
 *
 * A probe: socket(), connect() to 127.0.0.1:PORT, check the outcome
 * (SO_ERROR), optionally SO_LINGER 0, close(). Probes/s counts the
 * successful ones. Both probers keep CONCURRENCY probes in flight:
 *   coro   CONCURRENCY coroutines, each looping over a probe written as
 *          blocking code; the thread runs co_eventloop.
 *   epoll  one loop: a non-blocking connect per slot; EINPROGRESS ones are
 *          added to epoll for EPOLLOUT; when one completes, getsockopt
 *          SO_ERROR, close (which also takes it out of the set), next.
 *
 * The prober runs in a child process pinned to CPU 0; the listener's
 * owner, a child on CPU 1, accepts and closes in a blocking loop. Every
 * measurement gets a new listening port, so the TIME_WAIT sockets that
 * close() leaves (on the prober's side, which closes first) never collide
 * with the next measurement's 4-tuples. For scale (BENCH.md): the kernel's
 * floor here is about 14,000 probes a second with close() and 20,000-30,000
 * with an RST close, about 33-50 us of kernel work per connect.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/epoll.h>

#include "coro/coro.h"
#include "tests/bench/bench.h"
#include "tests/bench/bench-net.h"

#define CONCURRENCY 100
#define PROBER_CPU 0
#define ACCEPTOR_CPU 1
#define WARM_NS 100e6
#define TIMEOUT_MS 60000

enum { IMPL_CORO, IMPL_EPOLL, NIMPL };
static const char *const impl_name[NIMPL] = { "coro", "epoll" };
enum { STYLE_CLOSE, STYLE_RST, NSTYLE };
static const char *const style_name[NSTYLE] = { "close", "rst" };

/* What a prober reports. */
struct result {
	int ok;           /* 1 if the prober ran */
	double ns;        /* length of the measured window */
	uint64_t probes;  /* successful probes in the window */
	uint64_t failed;  /* failed ones (connect error) in the window */
};

/* Counters of the running prober. */
static uint64_t n_ok, n_failed;
static struct sockaddr_in target;
static int style;
static double t_warm, t_end;
static struct result res;

static int win_state;         /* 0: warming up, 1: measuring, 2: done */
static double win_start;
static uint64_t win_ok, win_failed;

/* Called as the clock passes: opens and closes the measured window; 1 once closed. */
static int window(double now)
{
	if (win_state == 0 && now >= t_warm) {
		win_ok = n_ok;
		win_failed = n_failed;
		win_start = now;
		win_state = 1;
	} else if (win_state == 1 && now >= t_end) {
		res.probes = n_ok - win_ok;
		res.failed = n_failed - win_failed;
		res.ns = now - win_start;
		res.ok = 1;
		win_state = 2;
	}
	return win_state == 2;
}

static const struct linger rst_linger = { .l_onoff = 1, .l_linger = 0 };

/* ---- coroutines ---------------------------------------------------------- */

static int stop, live;

static void *probe_co(void *arg)
{
	co_enable_hook_sys();
	while (!stop) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			n_failed++;
			usleep(1000);
			continue;
		}
		if (connect(fd, (const struct sockaddr *)&target, sizeof target) == 0)
			n_ok++;
		else
			n_failed++;
		if (style == STYLE_RST)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst_linger, sizeof rst_linger);
		close(fd);
	}
	live--;
	return arg;
}

static int coro_round(void *arg)
{
	if (!stop && window(bench_now_ns()))
		stop = 1;
	return stop && live == 0 ? -1 : 0;
}

static void run_coro(void)
{
	struct co *cos[CONCURRENCY];

	for (int i = 0; i < CONCURRENCY; i++) {
		if (co_create(&cos[i], NULL, probe_co, NULL) < 0)
			bench_die("co_create: out of memory");
		live++;
	}
	for (int i = 0; i < CONCURRENCY; i++)
		co_resume(cos[i]);
	co_eventloop(co_get_epoll_ct(), coro_round, NULL);
}

/* ---- plain epoll ----------------------------------------------------------- */

/* Ends one probe: its outcome counted, the descriptor closed. */
static void epoll_finish(int fd, int ok)
{
	if (ok)
		n_ok++;
	else
		n_failed++;
	if (style == STYLE_RST)
		real.setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst_linger, sizeof rst_linger);
	real.close(fd); /* also takes it out of the epoll set */
}

/* Starts probes until one is in flight (EINPROGRESS) in the set; returns 0, or -1. */
static int epoll_start(int ep)
{
	for (;;) {
		int fd = real.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct epoll_event e = { .events = EPOLLOUT | EPOLLET };

		if (fd < 0)
			return -1;
		if (real.connect(fd, (const struct sockaddr *)&target, sizeof target) == 0) {
			epoll_finish(fd, 1); /* connected at once (loopback can) */
			continue;
		}
		if (errno != EINPROGRESS) {
			epoll_finish(fd, 0);
			continue;
		}
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			real.close(fd);
			return -1;
		}
		return 0;
	}
}

static void run_epoll(void)
{
	static struct epoll_event ev[CONCURRENCY];
	int ep = epoll_create1(EPOLL_CLOEXEC), inflight = 0;

	if (ep < 0)
		bench_die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < CONCURRENCY; i++)
		if (epoll_start(ep) == 0)
			inflight++;
	while (inflight > 0) {
		int n = epoll_wait(ep, ev, CONCURRENCY, 1000);
		int done = window(bench_now_ns());

		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd, err = 0;
			socklen_t len = sizeof err;

			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			epoll_finish(fd, err == 0);
			inflight--;
			if (!done && epoll_start(ep) == 0)
				inflight++;
		}
		if (done)
			break;
	}
}

/* ---- one measurement ------------------------------------------------------- */

static void acceptor(int lfd)
{
	for (;;) {
		int fd = real.accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0)
			real.close(fd);
		else if (errno == EMFILE || errno == ENFILE)
			usleep(1000);
	}
}

static int pinning = 1;

static void prober(int impl, double ms)
{
	double now = bench_now_ns();

	t_warm = now + WARM_NS;
	t_end = t_warm + ms * 1e6;
	if (impl == IMPL_CORO)
		run_coro();
	else
		run_epoll();
}

static int measure(int impl, int st, double ms, struct result *ret)
{
	int lfd = bench_listen(4096, &target), p[2], ok;
	pid_t acc, pro;

	style = st;
	if (pipe2(p, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	acc = fork();
	if (acc < 0)
		bench_die("fork: %s", strerror(errno));
	if (acc == 0) {
		if (pinning)
			bench_pin(ACCEPTOR_CPU);
		acceptor(lfd);
		_exit(0);
	}
	pro = fork();
	if (pro < 0)
		bench_die("fork: %s", strerror(errno));
	if (pro == 0) {
		real.close(lfd);
		real.close(p[0]);
		if (pinning)
			bench_pin(PROBER_CPU);
		prober(impl, ms);
		if (real.write(p[1], &res, sizeof res) < 0)
			_exit(3);
		_exit(0);
	}
	real.close(lfd);
	real.close(p[1]);
	ok = bench_read_full(p[0], ret, sizeof *ret, TIMEOUT_MS) == 0 && ret->ok;
	real.close(p[0]);
	bench_kill(pro);
	bench_kill(acc);
	if (!ok)
		fprintf(stderr, "bench: connect: the %s prober gave no result\n", impl_name[impl]);
	return ok ? 0 : -1;
}

/* ---- timing mode ----------------------------------------------------------- */

static struct bench_stats stats(const double *v, int n)
{
	if (n < 1 || n > BENCH_RUNS_MAX)
		bench_die("stats: %d values", n);
	return bench_stats_of(v, n);
}

static int time_mode(int runs, long ms)
{
	static double rate[NSTYLE][NIMPL][BENCH_RUNS_MAX], fails[NSTYLE][NIMPL][BENCH_RUNS_MAX];
	double ratio[NSTYLE][BENCH_RUNS_MAX];
	struct bench_stats st[NSTYLE][NIMPL], rt[NSTYLE];
	char name[64];

	if (bench_ncpus() < 2) {
		pinning = 0;
		printf("(one CPU: prober and acceptor share it; figures are not comparable)\n");
	}
	for (int r = 0; r < runs; r++) {
		for (int k = 0; k < NSTYLE * NIMPL; k++) {
			int j = (k + r) % (NSTYLE * NIMPL), s = j / NIMPL, i = j % NIMPL;
			struct result res1;

			if (measure(i, s, (double)ms, &res1) < 0)
				return 2;
			rate[s][i][r] = (double)res1.probes * 1e9 / res1.ns;
			fails[s][i][r] = (double)res1.failed * 1e9 / res1.ns;
		}
		for (int s = 0; s < NSTYLE; s++)
			ratio[s][r] = rate[s][IMPL_CORO][r] / rate[s][IMPL_EPOLL][r];
	}
	for (int s = 0; s < NSTYLE; s++) {
		for (int i = 0; i < NIMPL; i++)
			st[s][i] = stats(rate[s][i], runs);
		rt[s] = stats(ratio[s], runs);
	}

	printf("Connect probes: socket + connect + close against 127.0.0.1, %d in flight;\n"
	       "prober on CPU %d, a blocking accept + close loop on CPU %d; %d runs of %ld ms\n"
	       "after %.0f ms warm-up, probers and close styles interleaved.\n\n",
	       CONCURRENCY, PROBER_CPU, ACCEPTOR_CPU, runs, ms, WARM_NS / 1e6);
	printf("%-6s %-7s %12s %10s %10s %10s\n", "close", "prober", "probes/s med", "min", "max",
	       "failed/s");
	for (int s = 0; s < NSTYLE; s++)
		for (int i = 0; i < NIMPL; i++)
			printf("%-6s %-7s %12.0f %10.0f %10.0f %10.0f\n", style_name[s], impl_name[i],
			       st[s][i].med, st[s][i].min, st[s][i].max,
			       stats(fails[s][i], runs).med);
	printf("\n");
	for (int s = 0; s < NSTYLE; s++)
		printf("coro / epoll, %-5s, per run: median %.3f (min %.3f, max %.3f)\n",
		       style_name[s], rt[s].med, rt[s].min, rt[s].max);
	printf("(BENCH.md, not measured here: kernel floor about 14,000/s with close(),\n"
	       "20,000-30,000/s with an RST close)\n\n");

	for (int s = 0; s < NSTYLE; s++) {
		const char *pre = s == STYLE_CLOSE ? "connect" : "connect_rst";

		snprintf(name, sizeof name, "%s_probes_per_s", pre);
		bench_headline(name, st[s][IMPL_CORO].med, 0, "probes/s");
		snprintf(name, sizeof name, "%s_probes_vs_epoll", pre);
		bench_headline(name, rt[s].med, -1, "ratio");
		snprintf(name, sizeof name, "%s_probes_epoll_per_s", pre);
		bench_headline(name, st[s][IMPL_EPOLL].med, 0, "probes/s");
	}
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 5;
	long ms = 500;

	bench_libc_init();
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "probe") == 0) {
		int impl = -1, st = -1;

		if (argc != 6)
			bench_die("usage: bench-connect probe IMPL STYLE PORT MS");
		for (int i = 0; i < NIMPL; i++)
			if (strcmp(argv[2], impl_name[i]) == 0)
				impl = i;
		for (int s = 0; s < NSTYLE; s++)
			if (strcmp(argv[3], style_name[s]) == 0)
				st = s;
		if (impl < 0 || st < 0)
			bench_die("probe: IMPL is coro or epoll, STYLE is close or rst");
		style = st;
		target.sin_family = AF_INET;
		target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		target.sin_port = htons((uint16_t)atoi(argv[4]));
		prober(impl, (double)bench_count(argv[5], "MS"));
		printf("%s %s: %.0f probes/s, %.0f failed/s\n", impl_name[impl], style_name[st],
		       (double)res.probes * 1e9 / res.ns, (double)res.failed * 1e9 / res.ns);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "time") != 0)
		bench_die("usage: bench-connect [time [RUNS [MS]]] | probe IMPL STYLE PORT MS");
	if (argc >= 3)
		runs = (int)bench_count(argv[2], "RUNS");
	if (argc >= 4)
		ms = bench_count(argv[3], "MS");
	if (runs > BENCH_RUNS_MAX)
		bench_die("RUNS: at most %d", BENCH_RUNS_MAX);
	return time_mode(runs, ms);
}
