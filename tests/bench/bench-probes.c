/* SPDX-License-Identifier: MIT */
/*
 * bench-probes: probe throughput on one core. The daemon's own probe code
 * (daemon/probe/probe.h: probe_init + probe_run on a job from
 * config_load_buffer) runs in coroutines on shared stacks, next to two
 * baselines in the same run: a plain C epoll loop of non-blocking
 * connect + close (the kernel's floor, TCP only) and the same probe_run
 * in one thread per job (blocking calls: outside a coroutine the hooks
 * pass straight through to libc).
 *
 *   bench-probes [time [RUNS [MS]]]
 *       RUNS runs (default 5); in each, every prober at each concurrency,
 *       MS ms (default 500) each after a 100 ms warm-up, order rotating.
 *       Prints median, min and max probes per second, CPU use of both
 *       sides, the median of the per-run ratios, then BENCH lines.
 *   bench-probes count IMPL CONC N
 *       Exactly N probes by IMPL with CONC in flight, in this process (for
 *       callgrind: (instructions(2N) - instructions(N)) / N is the
 *       user-space cost of one probe). The server is exec'd, so valgrind
 *       does not follow it.
 *   bench-probes probe IMPL CONC MS
 *       One measurement, as the timing mode makes it (for strace or perf
 *       by hand).
 *   bench-probes lagfloor SECONDS
 *       The machine's floor for event-loop lag, a baseline for
 *       bench-daemon.py: an empty epoll_wait with random 1-20 ms timeouts
 *       (the gaps between ticks of a daemon with a few thousand jobs) for
 *       SECONDS; prints the p99 and maximum of how late each return came,
 *       in microseconds, and the number of samples. What it measures is
 *       the kernel's timer slack and the wake-up latency of a CPU shared
 *       with whatever else runs there.
 *   bench-probes listen PORT NADDR
 *       The TCP server alone: accepts and closes on 127.0.0.1 .. 127.0.0.NADDR
 *       on PORT (0: one picked here), prints the port, serves until its
 *       standard input ends, then prints "accepted N" on stderr. Used by
 *       bench-daemon.py.
 *
 * IMPL: tcp-epoll, tcp-coro, tcp-threads, http-coro, http-threads.
 *
 * The prober runs in a child process pinned to CPU 0; the server on CPU 1:
 * for TCP a child that accepts and closes (epoll over its listeners), for
 * HTTP nginx (one worker, master_process off) serving a 3-byte file,
 * started here with a configuration of its own in a temporary directory.
 *
 * The targets are NADDR loopback addresses, 127.0.0.1 .. 127.0.0.8, on one
 * port, taken in turn; every prober closes with close() (no RST: the
 * daemon's probes do not set SO_LINGER). The TIME_WAIT sockets a close()
 * leaves hold 4-tuples; spread over eight addresses (and, for TCP, a new
 * port for each measurement), the port range is not what limits a run.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/stat.h>

#include "config/config.h"
#include "coro/coro.h"
#include "daemon/probe/probe.h"
#include "tests/bench/bench.h"
#include "tests/bench/bench-net.h"
#include "tests/bench/bench-probes-servers.h"

#define PROBER_CPU 0
#define WARM_NS 100e6
#define TIMEOUT_MS 60000
#define CONC_MAX 1000
#define NCONC 2
static const int conc_list[NCONC] = { 100, 1000 };

/* The daemon's pool: 16 shared stacks of 256 KiB (supervisor.c). */
#define SHARESTACKS 16
#define SHARESTACK_SIZE (256 * 1024)
#define THREAD_STACK (256 * 1024)

enum impl { TCP_EPOLL, TCP_CORO, TCP_THREADS, HTTP_CORO, HTTP_THREADS, NIMPL };
static const char *const impl_name[NIMPL] = {
	"tcp-epoll", "tcp-coro", "tcp-threads", "http-coro", "http-threads",
};

static bool is_http(int impl)
{
	return impl == HTTP_CORO || impl == HTTP_THREADS;
}

/* What a prober reports. */
struct result {
	int ok;              /* 1 if the prober ran */
	double ns;           /* length of the measured window */
	uint64_t probes;     /* passed probes in the window */
	uint64_t failed;     /* failed ones */
	double cpu_ns;       /* the prober's CPU time in the window, all threads */
	double server_ns;    /* the server's CPU time in the window */
	char error[96];      /* the first failure's text, if any */
};

/* ---- the prober's state (one prober per process) -------------------------- */

static pid_t server_pid;
static struct result res;

static uint64_t n_ok, n_failed;  /* atomics: threads share them */
static uint64_t limit, claimed;  /* count mode: probes to start, started */
static int stop;                 /* atomic */
static int have_error;           /* atomic */

static int win_state;            /* 0: warming up, 1: measuring, 2: done */
static double win_ms;            /* length of the window */
static double t_warm, t_end, win_start, cpu_start, srv_start;
static uint64_t win_ok, win_failed;

static double cpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * The warm-up starts now: called once the prober has set up (a thousand
 * threads take a while to create, the later ones competing for the CPU
 * with the earlier ones' probes).
 */
static void start_clock(void)
{
	t_warm = bench_now_ns() + WARM_NS;
	t_end = t_warm + win_ms * 1e6;
}

/* Called as the clock passes: opens and closes the measured window; 1 once closed. */
static int window(double now)
{
	if (win_state == 0 && now >= t_warm) {
		win_ok = __atomic_load_n(&n_ok, __ATOMIC_RELAXED);
		win_failed = __atomic_load_n(&n_failed, __ATOMIC_RELAXED);
		cpu_start = cpu_now_ns();
		srv_start = (double)bench_proc_cpu_ns(server_pid);
		win_start = now;
		win_state = 1;
	} else if (win_state == 1 && now >= t_end) {
		res.probes = __atomic_load_n(&n_ok, __ATOMIC_RELAXED) - win_ok;
		res.failed = __atomic_load_n(&n_failed, __ATOMIC_RELAXED) - win_failed;
		res.cpu_ns = cpu_now_ns() - cpu_start;
		res.server_ns = (double)bench_proc_cpu_ns(server_pid) - srv_start;
		res.ns = now - win_start;
		res.ok = 1;
		win_state = 2;
		if (getenv("BENCH_DEBUG"))
			fprintf(stderr, "window %.1f ms from %.1f ms late: %llu ok at start, %llu at end\n",
				res.ns / 1e6, (win_start - t_warm) / 1e6, (unsigned long long)win_ok,
				(unsigned long long)n_ok);
	}
	return win_state == 2;
}

/* Whether the prober should start another probe (and, in count mode, claims it). */
static bool go_on(void)
{
	if (__atomic_load_n(&stop, __ATOMIC_RELAXED))
		return false;
	if (limit && __atomic_fetch_add(&claimed, 1, __ATOMIC_RELAXED) >= limit) {
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void count(bool ok, const char *error)
{
	if (ok) {
		__atomic_fetch_add(&n_ok, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_fetch_add(&n_failed, 1, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&have_error, 1, __ATOMIC_RELAXED) == 0)
		snprintf(res.error, sizeof res.error, "%s", error);
}

/* ---- the daemon's probe, in coroutines or threads --------------------------- */

/* NADDR jobs of the benchmark's kind, one per target address. */
static struct config *make_jobs(bool http)
{
	char text[NADDR * 160];
	size_t len = (size_t)snprintf(text, sizeof text, "jobs:\n");
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;

	for (int k = 0; k < NADDR; k++) {
		if (http)
			len += (size_t)snprintf(text + len, sizeof text - len,
						"  - name: p%d\n    type: http\n"
						"    url: http://127.0.0.%d:%u/health\n"
						"    every: 10s\n    timeout: 2s\n", k, k + 1, port);
		else
			len += (size_t)snprintf(text + len, sizeof text - len,
						"  - name: p%d\n    type: tcp\n"
						"    target: 127.0.0.%d:%u\n"
						"    every: 10s\n    timeout: 2s\n", k, k + 1, port);
	}
	if (config_load_buffer("bench-probes.yaml", text, len, &cfg, &errs) < 0)
		bench_die("the benchmark's jobs do not load: %s",
			  errs.n ? errs.v[0].text : "out of memory");
	cfg_errors_free(&errs);
	return cfg;
}

static void one_probe(const struct job *job)
{
	struct probe p;
	int rc;

	probe_init(&p, job);
	rc = probe_run(&p);
	count(rc == 0 && p.result.ok, rc < 0 ? strerror(-rc) : p.result.error);
	probe_result_free(&p.result);
}

static int live;

static void *co_main(void *arg)
{
	co_enable_hook_sys();
	while (go_on())
		one_probe(arg);
	live--;
	return NULL;
}

static int coro_round(void *arg)
{
	(void)arg;
	if (!limit && !stop && window(bench_now_ns()))
		stop = 1;
	return stop && live == 0 ? -1 : 0;
}

static void run_coro(const struct config *cfg, int conc)
{
	struct co_sharestack *pool = co_alloc_sharestack(SHARESTACKS, SHARESTACK_SIZE);
	struct co_attr attr = { 0, pool };
	struct co **cos = calloc((size_t)conc, sizeof *cos);

	if (!pool || !cos)
		bench_die("coroutines: out of memory");
	for (int i = 0; i < conc; i++) {
		if (co_create(&cos[i], &attr, co_main, &cfg->jobs[i % cfg->njobs]) < 0)
			bench_die("co_create: out of memory");
		live++;
	}
	for (int i = 0; i < conc; i++)
		co_resume(cos[i]);
	start_clock();
	co_eventloop(co_get_epoll_ct(), coro_round, NULL);
	for (int i = 0; i < conc; i++)
		co_release(cos[i]);
	co_free_sharestack(pool);
	free(cos);
}

/* The threads start probing together, once all are made (see run_threads). */
static pthread_barrier_t start_line;

static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER;

static void *thread_main(void *arg)
{
	pthread_barrier_wait(&start_line);
	while (go_on()) {
		one_probe(arg);
		/* The window is kept by the probing threads themselves: with a
		 * thousand of them runnable, a sleeping thread wakes seconds late. */
		if (!limit && __atomic_load_n(&win_state, __ATOMIC_ACQUIRE) < 2) {
			double now = bench_now_ns();

			if (now >= t_warm) {
				pthread_mutex_lock(&window_lock);
				if (window(now))
					__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
				pthread_mutex_unlock(&window_lock);
			}
		}
	}
	return NULL;
}

/*
 * The threads wait at a barrier until the last one is made: otherwise the
 * first ones' probes take the CPU from the creating thread, and making a
 * thousand takes seconds. They are left running once the window has
 * closed (the process exits just after); in count mode they are joined.
 */
static void run_threads(const struct config *cfg, int conc)
{
	pthread_t *t = calloc((size_t)conc, sizeof *t);
	pthread_attr_t a;

	if (!t)
		bench_die("threads: out of memory");
	pthread_barrier_init(&start_line, NULL, (unsigned)conc + 1);
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, THREAD_STACK);
	for (int i = 0; i < conc; i++) {
		int err = pthread_create(&t[i], &a, thread_main, (void *)&cfg->jobs[i % cfg->njobs]);

		if (err)
			bench_die("pthread_create (thread %d): %s", i, strerror(err));
	}
	pthread_attr_destroy(&a);
	start_clock();
	pthread_barrier_wait(&start_line);
	if (limit) {
		for (int i = 0; i < conc; i++)
			pthread_join(t[i], NULL);
	} else {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		while (__atomic_load_n(&win_state, __ATOMIC_ACQUIRE) < 2)
			nanosleep(&ts, NULL);
		pthread_mutex_lock(&window_lock); /* res is complete */
		pthread_mutex_unlock(&window_lock);
	}
	free(t);
}

/* ---- the plain epoll loop (kernel floor) ----------------------------------- */

static unsigned next_addr;

/* Starts probes until one is in flight (EINPROGRESS) in the set; 0, or -1 when none is to start. */
static int epoll_start(int ep)
{
	while (go_on()) {
		int fd = real.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		const struct sockaddr_in *to = &addrs[next_addr++ % NADDR];
		struct epoll_event e = { .events = EPOLLOUT | EPOLLET };

		if (fd < 0) {
			count(false, "socket failed");
			continue;
		}
		if (real.connect(fd, (const struct sockaddr *)to, sizeof *to) == 0) {
			count(true, NULL); /* connected at once (loopback can) */
			real.close(fd);
			continue;
		}
		if (errno != EINPROGRESS) {
			count(false, strerror(errno));
			real.close(fd);
			continue;
		}
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
			bench_die("epoll_ctl: %s", strerror(errno));
		return 0;
	}
	return -1;
}

static void run_epoll(int conc)
{
	struct epoll_event *ev = calloc((size_t)conc, sizeof *ev);
	int ep = epoll_create1(EPOLL_CLOEXEC), inflight = 0;

	if (ep < 0 || !ev)
		bench_die("epoll_create1: %s", strerror(errno));
	for (int i = 0; i < conc; i++)
		if (epoll_start(ep) == 0)
			inflight++;
	while (inflight > 0) {
		int n = epoll_wait(ep, ev, conc, 1000);

		if (!limit && window(bench_now_ns()))
			stop = 1;
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd, err = 0;
			socklen_t len = sizeof err;

			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
				err = errno;
			count(err == 0, strerror(err));
			real.close(fd); /* also takes it out of the set */
			inflight--;
			if (epoll_start(ep) == 0)
				inflight++;
		}
	}
	real.close(ep);
	free(ev);
}

static void prober(int impl, int conc, double ms)
{
	struct config *cfg = NULL;

	win_ms = ms;
	start_clock();
	if (is_http(impl) && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		bench_die("curl_global_init failed");
	if (impl != TCP_EPOLL)
		cfg = make_jobs(is_http(impl));
	switch (impl) {
	case TCP_EPOLL:
		run_epoll(conc);
		break;
	case TCP_CORO:
	case HTTP_CORO:
		run_coro(cfg, conc);
		break;
	default:
		run_threads(cfg, conc);
	}
	if (limit) /* the threads are joined: everything can be freed */
		config_free(cfg);
}

/* ---- one measurement ----------------------------------------------------------- */

/* For HTTP, srv is nginx's pid (its port already in addrs); for TCP, 0: an acceptor is made. */
static int measure(int impl, int conc, double ms, pid_t srv, struct result *ret)
{
	int fds[NADDR] = { -1, -1, -1, -1, -1, -1, -1, -1 }, p[2], ok;
	pid_t pro;

	if (!srv) {
		listen_all(0, fds);
		srv = acceptor_start(fds);
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	server_pid = srv;
	fflush(stdout);
	pro = fork();
	if (pro < 0)
		bench_die("fork: %s", strerror(errno));
	if (pro == 0) {
		real.close(p[0]);
		if (!is_http(impl))
			for (int k = 0; k < NADDR; k++)
				real.close(fds[k]);
		own_cpu(PROBER_CPU);
		prober(impl, conc, ms);
		if (real.write(p[1], &res, sizeof res) < 0)
			_exit(3);
		_exit(0);
	}
	real.close(p[1]);
	ok = bench_read_full(p[0], ret, sizeof *ret, TIMEOUT_MS) == 0 && ret->ok;
	real.close(p[0]);
	bench_kill(pro);
	if (!is_http(impl)) {
		bench_kill(srv);
		for (int k = 0; k < NADDR; k++)
			real.close(fds[k]);
	}
	if (!ok)
		fprintf(stderr, "bench: probes: the %s prober gave no result\n", impl_name[impl]);
	return ok ? 0 : -1;
}

/* ---- timing mode ------------------------------------------------------------------ */

/* One row of the table: an implementation at a concurrency. */
struct row {
	int impl;
	int conc;
	double rate[BENCH_RUNS_MAX];
	double fail[BENCH_RUNS_MAX];
	double cpu[BENCH_RUNS_MAX];  /* prober's CPU, % of one core */
	double srv[BENCH_RUNS_MAX];  /* server's CPU, % of one core */
	double eff[BENCH_RUNS_MAX];  /* probes per second of the prober's CPU time */
	char error[96];
};

#define NROWS (3 * NCONC + 2 * NCONC)
static struct row rows[NROWS];

static struct row *row_of(int impl, int conc)
{
	for (int i = 0; i < NROWS; i++)
		if (rows[i].impl == impl && rows[i].conc == conc)
			return &rows[i];
	bench_die("no row for %s at %d", impl_name[impl], conc);
}

static struct bench_stats stats(const double *v, int n)
{
	if (n < 1 || n > BENCH_RUNS_MAX)
		bench_die("stats: %d values", n);
	return bench_stats_of(v, n);
}

/* Runs rows [first, first + n) RUNS times, order rotating; 0 or -1. */
static int run_group(int first, int n, int runs, double ms, pid_t srv)
{
	for (int r = 0; r < runs; r++) {
		for (int j = 0; j < n; j++) {
			struct row *w = &rows[first + (j + r) % n];
			struct result m;

			memset(&m, 0, sizeof m);
			if (measure(w->impl, w->conc, ms, srv, &m) < 0)
				return -1;
			w->rate[r] = (double)m.probes * 1e9 / m.ns;
			w->fail[r] = (double)m.failed * 1e9 / m.ns;
			w->cpu[r] = 100.0 * m.cpu_ns / m.ns;
			w->srv[r] = 100.0 * m.server_ns / m.ns;
			w->eff[r] = m.cpu_ns > 0 ? (double)m.probes * 1e9 / m.cpu_ns : 0;
			if (m.failed && !w->error[0])
				snprintf(w->error, sizeof w->error, "%s", m.error);
		}
	}
	return 0;
}

/* Median of the per-run ratios a / b. */
static struct bench_stats ratio(const struct row *a, const struct row *b, int runs)
{
	double v[BENCH_RUNS_MAX];

	for (int r = 0; r < runs; r++)
		v[r] = b->rate[r] > 0 ? a->rate[r] / b->rate[r] : 0;
	return stats(v, runs);
}

static void print_row(const struct row *w, int runs, int measured)
{
	struct bench_stats st;

	if (!measured) {
		printf("%-13s %5d %12s\n", impl_name[w->impl], w->conc, "(not run)");
		return;
	}
	st = stats(w->rate, runs);
	printf("%-13s %5d %12.0f %9.0f %9.0f %9.0f %6.0f %7.0f %9.0f\n", impl_name[w->impl], w->conc,
	       st.med, st.min, st.max, stats(w->fail, runs).med, stats(w->cpu, runs).med,
	       stats(w->srv, runs).med, stats(w->eff, runs).med);
	if (w->error[0])
		printf("    (first failure: %s)\n", w->error);
}

static void headline_rate(const struct row *w, int runs, const char *name)
{
	char full[96];

	snprintf(full, sizeof full, "probes_%s_%d_per_s", name, w->conc);
	bench_headline(full, stats(w->rate, runs).med, 0, "probes/s");
}

/* Probes per second of the prober's own CPU time: what a whole core would do. */
static void headline_eff(const struct row *w, int runs, const char *name)
{
	char full[96];

	snprintf(full, sizeof full, "probes_%s_%d_per_cpu_s", name, w->conc);
	bench_headline(full, stats(w->eff, runs).med, 0, "probes/s");
}

static void headline_ratio(const struct row *a, const struct row *b, int runs, const char *name)
{
	char full[96];

	snprintf(full, sizeof full, "probes_%s_%d", name, a->conc);
	bench_headline(full, ratio(a, b, runs).med, -1, "ratio");
}

static int time_mode(int runs, long ms)
{
	static const int tcp_impls[] = { TCP_EPOLL, TCP_CORO, TCP_THREADS };
	static const int http_impls[] = { HTTP_CORO, HTTP_THREADS };
	struct nginx ng = { 0 };
	int nrow = 0, http_ok;

	for (int c = 0; c < NCONC; c++)
		for (int i = 0; i < 3; i++)
			rows[nrow++] = (struct row){ .impl = tcp_impls[i], .conc = conc_list[c] };
	for (int c = 0; c < NCONC; c++)
		for (int i = 0; i < 2; i++)
			rows[nrow++] = (struct row){ .impl = http_impls[i], .conc = conc_list[c] };
	if (bench_ncpus() < 2)
		printf("(one CPU: prober and server share it; figures are not comparable)\n");
	if (bench_raise_nofile() < 2 * CONC_MAX + 64)
		bench_die("needs %d descriptors (ulimit -n)", 2 * CONC_MAX + 64);

	if (run_group(0, 3 * NCONC, runs, (double)ms, 0) < 0)
		return 2;
	http_ok = nginx_start(&ng) == 0;
	if (http_ok && run_group(3 * NCONC, 2 * NCONC, runs, (double)ms, ng.pid) < 0)
		http_ok = 0;
	nginx_stop(&ng);

	printf("Probes on one core: prober pinned to CPU %d, server to CPU %d; %d runs of %ld ms\n"
	       "after %.0f ms warm-up, order rotating. Targets 127.0.0.1-%d in turn, one port\n"
	       "(TCP: a new port per measurement), close() everywhere (no RST). TCP server: an\n"
	       "accept + close loop; HTTP server: nginx, one process, GET /health (3 bytes),\n"
	       "a new connection per probe (the probe's FORBID_REUSE).\n"
	       "  tcp-epoll     plain non-blocking connect + close with epoll (kernel floor)\n"
	       "  *-coro        probe_run (daemon/probe/probe-tcp.c, probe-http.c) in coroutines on\n"
	       "                %d shared stacks of %d KiB, hooks on, co_eventloop\n"
	       "  *-threads     the same probe_run, one thread per job, blocking calls\n"
	       "CPU%%: the prober's CPU time (all threads) in the window, %% of one core; under\n"
	       "100 it waited (for the server, or for its CPU: other work shares it). per CPU-s:\n"
	       "probes per second of that CPU time, what a whole core would do.\n\n",
	       PROBER_CPU, SERVER_CPU, runs, ms, WARM_NS / 1e6, NADDR, SHARESTACKS,
	       SHARESTACK_SIZE / 1024);
	printf("%-13s %5s %12s %9s %9s %9s %6s %7s %9s\n", "prober", "conc", "probes/s med", "min",
	       "max", "failed/s", "CPU%", "srvCPU%", "per CPU-s");
	for (int i = 0; i < NROWS; i++)
		print_row(&rows[i], runs, i < 3 * NCONC || http_ok);
	printf("\nRatios of probes/s, taken run by run (median, min, max):\n");
	for (int c = 0; c < NCONC; c++) {
		int k = conc_list[c];
		struct bench_stats a = ratio(row_of(TCP_CORO, k), row_of(TCP_EPOLL, k), runs);
		struct bench_stats b = ratio(row_of(TCP_CORO, k), row_of(TCP_THREADS, k), runs);

		printf("  tcp  %4d: coro / epoll %.3f (%.3f-%.3f), coro / threads %.3f (%.3f-%.3f)\n",
		       k, a.med, a.min, a.max, b.med, b.min, b.max);
	}
	for (int c = 0; c < NCONC && http_ok; c++) {
		int k = conc_list[c];
		struct bench_stats a = ratio(row_of(HTTP_CORO, k), row_of(HTTP_THREADS, k), runs);

		printf("  http %4d: coro / threads %.3f (%.3f-%.3f)\n", k, a.med, a.min, a.max);
	}
	printf("(BENCH.md, not measured here: blackbox_exporter 0.23 about 2,000 TCP and 1,000\n"
	       "HTTP probes/s on a full core; monit about 7,000 checks/s, one at a time.)\n\n");

	for (int c = 0; c < NCONC; c++) {
		int k = conc_list[c];

		headline_rate(row_of(TCP_EPOLL, k), runs, "tcp_epoll");
		headline_rate(row_of(TCP_CORO, k), runs, "tcp_coro");
		headline_rate(row_of(TCP_THREADS, k), runs, "tcp_threads");
		headline_eff(row_of(TCP_EPOLL, k), runs, "tcp_epoll");
		headline_eff(row_of(TCP_CORO, k), runs, "tcp_coro");
		headline_eff(row_of(TCP_THREADS, k), runs, "tcp_threads");
		headline_ratio(row_of(TCP_CORO, k), row_of(TCP_EPOLL, k), runs, "tcp_coro_vs_epoll");
		headline_ratio(row_of(TCP_CORO, k), row_of(TCP_THREADS, k), runs,
			       "tcp_coro_vs_threads");
		if (!http_ok)
			continue;
		headline_rate(row_of(HTTP_CORO, k), runs, "http_coro");
		headline_rate(row_of(HTTP_THREADS, k), runs, "http_threads");
		headline_eff(row_of(HTTP_CORO, k), runs, "http_coro");
		headline_eff(row_of(HTTP_THREADS, k), runs, "http_threads");
		headline_ratio(row_of(HTTP_CORO, k), row_of(HTTP_THREADS, k), runs,
			       "http_coro_vs_threads");
	}
	/* HTTP figures missing: the benchmark could not run all of itself. */
	return http_ok ? 0 : 3;
}

/* ---- count and listen modes ---------------------------------------------------------- */

static int impl_of(const char *name)
{
	for (int i = 0; i < NIMPL; i++)
		if (strcmp(name, impl_name[i]) == 0)
			return i;
	bench_die("IMPL: tcp-epoll, tcp-coro, tcp-threads, http-coro or http-threads, not \"%s\"",
		  name);
}

static int count_mode(const char *self, int impl, int conc, long n)
{
	struct nginx ng = { 0 };
	int in = -1;
	pid_t acc = 0;

	bench_raise_nofile();
	if (is_http(impl)) {
		if (nginx_start(&ng) < 0)
			return 2;
	} else {
		acc = acceptor_exec(self, &in);
	}
	limit = (uint64_t)n;
	prober(impl, conc, 0);
	if (is_http(impl)) {
		nginx_stop(&ng);
		curl_global_cleanup();
	} else {
		real.close(in);
		while (waitpid(acc, NULL, 0) < 0 && errno == EINTR)
			;
	}
	printf("%s, %d in flight: %llu passed, %llu failed%s%s\n", impl_name[impl], conc,
	       (unsigned long long)n_ok, (unsigned long long)n_failed,
	       n_failed ? "; first failure: " : "", n_failed ? res.error : "");
	return n_failed ? 1 : 0;
}

static int probe_mode(int impl, int conc, long ms)
{
	struct nginx ng = { 0 };
	struct result m;
	int rc;

	bench_raise_nofile();
	if (is_http(impl) && nginx_start(&ng) < 0)
		return 2;
	memset(&m, 0, sizeof m);
	rc = measure(impl, conc, (double)ms, ng.pid, &m);
	nginx_stop(&ng);
	if (rc < 0)
		return 2;
	printf("%s, %d in flight: %.0f probes/s, %.0f failed/s, CPU %.0f%%, server CPU %.0f%%%s%s\n",
	       impl_name[impl], conc, (double)m.probes * 1e9 / m.ns, (double)m.failed * 1e9 / m.ns,
	       100.0 * m.cpu_ns / m.ns, 100.0 * m.server_ns / m.ns,
	       m.failed ? "; first failure: " : "", m.failed ? m.error : "");
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int lagfloor_mode(long seconds)
{
	size_t cap = (size_t)seconds * 1000 + 16, n = 0;
	double *late = malloc(cap * sizeof *late), end;
	struct epoll_event ev;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (!late || ep < 0)
		bench_die("lagfloor: %s", strerror(errno));
	srand((unsigned)getpid());
	end = bench_now_ns() + (double)seconds * 1e9;
	while (n < cap && bench_now_ns() < end) {
		int ms = 1 + rand() % 20;
		double t0 = bench_now_ns();

		epoll_wait(ep, &ev, 1, ms);
		late[n++] = (bench_now_ns() - t0) / 1e3 - ms * 1000.0;
	}
	qsort(late, n, sizeof *late, cmp_double);
	printf("lag_p99_us=%.0f lag_max_us=%.0f lag_samples=%zu\n",
	       n ? late[(n * 99 + 99) / 100 - 1] : 0.0, n ? late[n - 1] : 0.0, n);
	free(late);
	real.close(ep);
	return 0;
}

static int listen_mode(long p, long naddr)
{
	int fds[NADDR];
	uint64_t accepted;

	if (p < 0 || p > 65535 || naddr != NADDR)
		bench_die("listen: PORT is 0-65535 and NADDR %d", NADDR);
	signal(SIGPIPE, SIG_IGN);
	listen_all((uint16_t)p, fds);
	printf("%u\n", port);
	fflush(stdout);
	accepted = accept_loop(fds, 0);
	fprintf(stderr, "accepted %llu\n", (unsigned long long)accepted);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 5;
	long ms = 500;

	bench_libc_init();
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "count") == 0) {
		long conc;

		if (argc != 5)
			bench_die("usage: bench-probes count IMPL CONC N");
		conc = bench_count(argv[3], "CONC");
		if (conc > CONC_MAX)
			bench_die("CONC: at most %d", CONC_MAX);
		return count_mode(argv[0], impl_of(argv[2]), (int)conc, bench_count(argv[4], "N"));
	}
	if (argc >= 2 && strcmp(argv[1], "probe") == 0) {
		long conc;

		if (argc != 5)
			bench_die("usage: bench-probes probe IMPL CONC MS");
		conc = bench_count(argv[3], "CONC");
		if (conc > CONC_MAX)
			bench_die("CONC: at most %d", CONC_MAX);
		return probe_mode(impl_of(argv[2]), (int)conc, bench_count(argv[4], "MS"));
	}
	if (argc >= 2 && strcmp(argv[1], "lagfloor") == 0) {
		if (argc != 3)
			bench_die("usage: bench-probes lagfloor SECONDS");
		return lagfloor_mode(bench_count(argv[2], "SECONDS"));
	}
	if (argc >= 2 && strcmp(argv[1], "listen") == 0) {
		if (argc != 4)
			bench_die("usage: bench-probes listen PORT NADDR");
		return listen_mode(strtol(argv[2], NULL, 10), strtol(argv[3], NULL, 10));
	}
	if (argc >= 2 && strcmp(argv[1], "time") != 0)
		bench_die("usage: bench-probes [time [RUNS [MS]]] | count IMPL CONC N | "
			  "probe IMPL CONC MS | lagfloor SECONDS | listen PORT NADDR");
	if (argc >= 3)
		runs = (int)bench_count(argv[2], "RUNS");
	if (argc >= 4)
		ms = bench_count(argv[3], "MS");
	if (runs > BENCH_RUNS_MAX)
		bench_die("RUNS: at most %d", BENCH_RUNS_MAX);
	return time_mode(runs, ms);
}
