/* SPDX-License-Identifier: MIT */
/*
 * bench-control: the control socket of coro-runnerd, measured against the
 * real daemon and coctl.
 *
 *   bench-control [quick]
 *
 * Environment: CORO_RUNNERD and COCTL (default: beside this program's
 * bench/ directory, as the Makefile builds them).
 *
 * 1. `coctl list` with 10,000 jobs: the time a user waits (a
 *    whole coctl process), interleaved with `coctl stats` (the same process
 *    start and connection, a small reply) as the baseline; and the bare
 *    protocol round trip of `list` (connect, request, read the 10k-job
 *    reply) against one of `ping`.
 * 2. `status` requests a second from 1,000 concurrent clients (each sends
 *    a request, waits for the reply, sends the next), driven by an epoll
 *    loop here; the baseline is a plain epoll server in a child process
 *    that answers every line with the same reply bytes, canned.
 *
 * Rounds alternate A B A B; medians with min and max. Prints a table, then
 * BENCH lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NJOBS 10000
#define NCLIENTS 1000
#define STATUS_REQ "{\"command\":\"status\",\"names\":[\"j1\"]}\n"

static char dir[] = "/tmp/bench-control.XXXXXX";
static char sock_path[100], base_path[100];
static pid_t daemon_pid = -1;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-control: %s: %s\n", what, strerror(errno));
	if (daemon_pid > 0)
		kill(daemon_pid, SIGKILL);
	exit(2);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* One request on a fresh connection; returns the reply's length, or -1. */
static ssize_t round_trip(const char *req, char **buf, size_t *cap)
{
	int fd = connect_to(sock_path);
	size_t len = 0;

	if (fd < 0 || write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		die("request");
	for (;;) {
		ssize_t n;

		if (*cap - len < 65536) {
			*cap = *cap ? *cap * 2 : 1 << 20;
			*buf = realloc(*buf, *cap);
			if (!*buf)
				die("realloc");
		}
		n = read(fd, *buf + len, *cap - len);
		if (n <= 0)
			die("reply");
		len += (size_t)n;
		if ((*buf)[len - 1] == '\n')
			break;
	}
	close(fd);
	return (ssize_t)len;
}

/* A whole coctl process, output thrown away; seconds. */
static double run_coctl(const char *coctl, const char *cmd)
{
	double t0 = now_s();
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execl(coctl, coctl, "-s", sock_path, cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		errno = EIO;
		die(cmd);
	}
	return now_s() - t0;
}

/*
 * NCLIENTS connections to path, each in a loop of request and reply, for
 * secs seconds. Returns replies per second.
 */
static double load(const char *path, double secs)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), fds[NCLIENTS];
	struct epoll_event ev[256];
	long replies = 0;
	double t0, t1;
	char buf[65536];

	for (int i = 0; i < NCLIENTS; i++) {
		fds[i] = connect_to(path);
		if (fds[i] < 0)
			die(path);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		struct epoll_event e = { .events = EPOLLIN, .data.fd = fds[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
	}
	t0 = now_s();
	for (int i = 0; i < NCLIENTS; i++)
		if (write(fds[i], STATUS_REQ, sizeof STATUS_REQ - 1) < 0)
			die("write");
	t1 = t0 + secs;
	while (now_s() < t1) {
		int n = epoll_wait(ep, ev, 256, 100);

		for (int i = 0; i < n; i++) {
			ssize_t r = read(ev[i].data.fd, buf, sizeof buf);

			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				die("client read");
			}
			/* One request in flight per client: a newline ends its reply. */
			if (memchr(buf, '\n', (size_t)r)) {
				replies++;
				if (write(ev[i].data.fd, STATUS_REQ, sizeof STATUS_REQ - 1) < 0)
					die("write");
			}
		}
	}
	t1 = now_s();
	for (int i = 0; i < NCLIENTS; i++)
		close(fds[i]);
	close(ep);
	return (double)replies / (t1 - t0);
}

/* The baseline: answers each line with reply, in a plain epoll loop. */
static pid_t start_baseline(const char *reply, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", base_path);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0)
		die("baseline socket");
	pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	int ep = epoll_create1(0);
	struct epoll_event e = { .events = EPOLLIN, .data.fd = lfd }, ev[256];
	char buf[65536];

	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	for (;;) {
		int n = epoll_wait(ep, ev, 256, -1);

		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;

			if (fd == lfd) {
				int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (c >= 0) {
					struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);

			if (r <= 0) {
				close(fd);
				continue;
			}
			/* A client gone at the end of a round: its reply is dropped. */
			for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + r - p))); p++)
				if (send(fd, reply, len, MSG_NOSIGNAL) != (ssize_t)len) {
					close(fd);
					break;
				}
		}
	}
}

static void cleanup(void)
{
	char cmd[512];

	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-control: could not remove %s\n", dir);
}

static void print_row(const char *what, double *v, int n, const char *unit, double scale)
{
	double med;

	qsort(v, (size_t)n, sizeof *v, cmp_double);
	med = median(v, n);
	printf("%-44s %10.2f %10.2f %10.2f  %s\n", what, med * scale, v[0] * scale,
	       v[n - 1] * scale, unit);
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
	int rounds = quick ? 3 : 9, load_rounds = quick ? 2 : 3;
	double load_secs = quick ? 1 : 3;
	char self[4096], daemon_bin[4096], coctl[4096], path[512], *buf = NULL;
	size_t cap = 0;
	double list_cli[16], stats_cli[16], list_raw[16], ping_raw[16], rps[8], base_rps[8];
	ssize_t list_len = 0, status_len;
	struct rlimit rl;
	FILE *f;

	/* The daemon and coctl: beside bench/, unless the environment says. */
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(daemon_bin, sizeof daemon_bin, "%s",
		 getenv("CORO_RUNNERD") ? getenv("CORO_RUNNERD") : strcat(strcpy(path, self), "/../coro-runnerd"));
	snprintf(coctl, sizeof coctl, "%s", getenv("COCTL") ? getenv("COCTL") :
		 strcat(strcpy(path, self), "/../coctl"));
	if (access(daemon_bin, X_OK) < 0 || access(coctl, X_OK) < 0) {
		fprintf(stderr, "bench-control: needs %s and %s: run make\n", daemon_bin, coctl);
		return 2;
	}
	/* 1,000 clients here, and as many connections in the daemon. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	atexit(cleanup);
	snprintf(sock_path, sizeof sock_path, "%.80s/sock", dir);
	snprintf(base_path, sizeof base_path, "%.80s/base.sock", dir);
	snprintf(path, sizeof path, "%s/jobs.yaml", dir);
	f = fopen(path, "w");
	if (!f)
		die(path);
	fputs("jobs:\n", f);
	for (int i = 1; i <= NJOBS; i++)
		fprintf(f, "  - {name: j%d, type: exec, command: [/bin/true], every: 1d, "
			   "labels: {n: \"%d\"}}\n", i, i);
	fclose(f);

	daemon_pid = fork();
	if (daemon_pid == 0) {
		char state[512], dropins[512];
		int null = open("/dev/null", O_WRONLY);

		snprintf(state, sizeof state, "%s/state", dir);
		snprintf(dropins, sizeof dropins, "%s/jobs.d", dir);
		if (!getenv("BENCH_DAEMON_LOG"))
			dup2(null, 2);
		execl(daemon_bin, daemon_bin, "-c", path, "-d", dropins, "-s", sock_path,
		      "--state-dir", state, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		int fd = connect_to(sock_path);

		if (fd >= 0) {
			close(fd);
			break;
		}
		usleep(25000);
	}

	/* 1. list with 10k jobs. */
	for (int r = 0; r < rounds; r++) {
		stats_cli[r] = run_coctl(coctl, "stats");
		list_cli[r] = run_coctl(coctl, "list");
		double t0 = now_s();
		round_trip("{\"command\":\"ping\"}\n", &buf, &cap);
		ping_raw[r] = now_s() - t0;
		t0 = now_s();
		list_len = round_trip("{\"command\":\"list\"}\n", &buf, &cap);
		list_raw[r] = now_s() - t0;
	}

	/* 2. status from 1,000 clients; the baseline answers the same bytes. */
	status_len = round_trip(STATUS_REQ, &buf, &cap);
	pid_t base = start_baseline(buf, (size_t)status_len);
	for (int r = 0; r < load_rounds; r++) {
		rps[r] = load(sock_path, load_secs);
		base_rps[r] = load(base_path, load_secs);
	}
	kill(base, SIGKILL);
	waitpid(base, NULL, 0);

	printf("control socket: %d jobs, %d concurrent clients; median, min, max of %d rounds\n\n",
	       NJOBS, NCLIENTS, rounds);
	printf("%-44s %10s %10s %10s\n", "", "median", "min", "max");
	double list_cli_med = median(list_cli, rounds), stats_cli_med = median(stats_cli, rounds);
	double list_raw_med = median(list_raw, rounds), ping_raw_med = median(ping_raw, rounds);
	print_row("coctl list (whole process, a table)", list_cli, rounds, "ms", 1e3);
	print_row("coctl stats (baseline: process, small reply)", stats_cli, rounds, "ms", 1e3);
	print_row("list round trip on the socket", list_raw, rounds, "ms", 1e3);
	print_row("ping round trip on the socket (baseline)", ping_raw, rounds, "ms", 1e3);
	printf("%-44s %10zd bytes (%.0f per job)\n", "list reply", list_len, (double)list_len / NJOBS);
	double rps_med = median(rps, load_rounds), base_med = median(base_rps, load_rounds);
	print_row("status requests/s, coro-runnerd", rps, load_rounds, "req/s", 1);
	print_row("status requests/s, plain epoll server (canned)", base_rps, load_rounds, "req/s", 1);
	printf("%-44s %10.2f\n", "ratio coro-runnerd / plain epoll", rps_med / base_med);
	printf("\nBENCH control_list_10k_ms %.2f ms\n", list_cli_med * 1e3);
	printf("BENCH control_list_10k_vs_stats %.2f ratio\n", list_cli_med / stats_cli_med);
	printf("BENCH control_list_10k_socket_ms %.2f ms\n", list_raw_med * 1e3);
	printf("BENCH control_ping_socket_us %.1f us\n", ping_raw_med * 1e6);
	printf("BENCH control_status_1000_clients_rps %.0f req/s\n", rps_med);
	printf("BENCH control_status_1000_clients_vs_epoll %.2f ratio\n", rps_med / base_med);
	free(buf);
	return 0;
}
