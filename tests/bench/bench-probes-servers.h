/* SPDX-License-Identifier: MIT */
/*
 * bench-probes-servers.h: the servers bench-probes measures against (and
 * bench-daemon.py's listener): an accept + close loop on 127.0.0.1 ..
 * 127.0.0.NADDR, one port, and nginx with a configuration of its own.
 * Header only, like bench-net.h; included once, by bench-probes.c, after
 * bench.h and bench-net.h.
 */
#ifndef CORO_TESTS_BENCH_PROBES_SERVERS_H
#define CORO_TESTS_BENCH_PROBES_SERVERS_H

#include <sys/epoll.h>
#include <sys/stat.h>

#define NADDR 8        /* loopback addresses: 127.0.0.1 .. 127.0.0.NADDR */
#define SERVER_CPU 1   /* the servers run there; the prober on the other */

/* The targets: 127.0.0.1 .. 127.0.0.NADDR on one port. */
static struct sockaddr_in addrs[NADDR];
static uint16_t port;

/*
 * Pins the calling process to cpu, in a session of its own. The session
 * matters: with sched_autogroup (on by default) a session's processes
 * share one scheduling group, whose weight on each CPU follows how many of
 * its threads run there. A prober of 1,000 threads on CPU 0 in the
 * server's session leaves the server a tiny weight on CPU 1, and it
 * starves next to anything else running there.
 */
static inline void own_cpu(int cpu)
{
	setsid();
	bench_pin(cpu);
}

/* ---- servers ------------------------------------------------------------------ */

static inline void set_addrs(uint16_t p)
{
	port = p;
	for (int k = 0; k < NADDR; k++) {
		addrs[k].sin_family = AF_INET;
		addrs[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)k);
		addrs[k].sin_port = htons(p);
	}
}

/*
 * Listening sockets on 127.0.0.1 .. 127.0.0.NADDR, one port (p, or the one
 * the kernel gives 127.0.0.1 when p is 0; retried if another address has
 * it taken). Non-blocking, close-on-exec. Sets addrs and port.
 */
static inline void listen_all(uint16_t p, int *fds)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		int k, one = 1;
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p) };
		socklen_t alen = sizeof a;

		for (k = 0; k < NADDR; k++) {
			fds[k] = real.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fds[k] < 0)
				bench_die("socket: %s", strerror(errno));
			real.setsockopt(fds[k], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)k);
			if (bind(fds[k], (struct sockaddr *)&a, sizeof a) < 0 || listen(fds[k], 4096) < 0)
				break;
			if (k == 0 && getsockname(fds[0], (struct sockaddr *)&a, &alen) < 0)
				break;
		}
		if (k == NADDR) {
			set_addrs(ntohs(a.sin_port));
			return;
		}
		if (p)
			bench_die("listen on 127.0.0.%d:%u: %s", k + 1, p, strerror(errno));
		for (int j = 0; j <= k && j < NADDR; j++)
			real.close(fds[j]);
	}
	bench_die("no port free on all of 127.0.0.1-%d", NADDR);
}

/*
 * Accepts and closes on the listeners until in (if >= 0) reaches its end.
 * Returns the number of connections accepted.
 */
static inline uint64_t accept_loop(const int *fds, int in)
{
	struct epoll_event e, ev[NADDR + 1];
	uint64_t accepted = 0;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		bench_die("epoll_create1: %s", strerror(errno));
	for (int k = 0; k <= NADDR; k++) {
		int fd = k < NADDR ? fds[k] : in;

		if (fd < 0)
			continue;
		e.events = EPOLLIN;
		e.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0)
			bench_die("epoll_ctl: %s", strerror(errno));
	}
	for (;;) {
		int n = epoll_wait(ep, ev, NADDR + 1, -1);

		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd, c;

			if (fd == in) {
				char buf[64];

				if (real.read(in, buf, sizeof buf) <= 0) {
					real.close(ep);
					return accepted;
				}
				continue;
			}
			while ((c = real.accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
				real.close(c);
				accepted++;
			}
		}
	}
}

static inline pid_t acceptor_start(int *fds)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		own_cpu(SERVER_CPU);
		accept_loop(fds, -1);
		_exit(0);
	}
	return pid;
}

/* The acceptor as a program of its own (count mode: valgrind must not follow it). */
static inline pid_t acceptor_exec(const char *self, int *ret_in)
{
	int in[2], out[2];
	char line[32];
	ssize_t n;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		own_cpu(SERVER_CPU);
		execl(self, self, "listen", "0", "8", (char *)NULL);
		_exit(127);
	}
	real.close(in[0]);
	real.close(out[1]);
	if (!bench_wait_readable(out[0], 10000) || (n = real.read(out[0], line, sizeof line - 1)) <= 0)
		bench_die("the acceptor (%s listen) did not start", self);
	line[n] = '\0';
	real.close(out[0]);
	set_addrs((uint16_t)atoi(line));
	*ret_in = in[1];
	return pid;
}

/* nginx, its directory and port. */
struct nginx {
	pid_t pid;
	char dir[64];
};

static inline void write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		bench_die("cannot write %s: %s", path, strerror(errno));
	chmod(path, 0644);
}

/* Connects to 127.0.0.1:p with libc's calls; true if something listens. */
static inline bool port_open(uint16_t p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = real.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && real.connect(fd, (struct sockaddr *)&a, sizeof a) == 0;

	if (fd >= 0)
		real.close(fd);
	return ok;
}

/*
 * Starts nginx on CPU 1 with a configuration of its own: one process
 * (master_process off), 127.0.0.1-8 on a random port from 10000-29999
 * (below the ephemeral range; another port if it is taken), GET /health
 * answering "ok\n". Returns 0, or -1 if nginx is not installed or does
 * not start (its error log is shown).
 */
static inline int nginx_start(struct nginx *ng)
{
	char conf[2048], www[96], path[128];
	size_t len;

	snprintf(ng->dir, sizeof ng->dir, "/tmp/bench-probes-XXXXXX");
	if (!mkdtemp(ng->dir))
		bench_die("mkdtemp: %s", strerror(errno));
	chmod(ng->dir, 0755);
	snprintf(www, sizeof www, "%s/www", ng->dir);
	mkdir(www, 0755);
	write_file(www, "health", "ok\n");
	srand((unsigned)getpid() ^ (unsigned)bench_now_ns());
	for (int attempt = 0; attempt < 10; attempt++) {
		uint16_t p = (uint16_t)(10000 + rand() % 20000);

		len = (size_t)snprintf(conf, sizeof conf,
			"daemon off;\nmaster_process off;\nworker_processes 1;\n"
			"error_log %s/error.log warn;\npid %s/nginx.pid;\n"
			"events { worker_connections 8192; }\n"
			"http {\n  access_log off;\n"
			"  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
			"  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
			"  scgi_temp_path %s/scgi;\n  default_type text/plain;\n"
			"  server {\n    root %s;\n",
			ng->dir, ng->dir, ng->dir, ng->dir, ng->dir, ng->dir, ng->dir, www);
		for (int k = 0; k < NADDR; k++)
			len += (size_t)snprintf(conf + len, sizeof conf - len,
						"    listen 127.0.0.%d:%u backlog=4096;\n", k + 1, p);
		snprintf(conf + len, sizeof conf - len, "  }\n}\n");
		write_file(ng->dir, "nginx.conf", conf);
		snprintf(path, sizeof path, "%s/nginx.conf", ng->dir);
		fflush(stdout);
		ng->pid = fork();
		if (ng->pid < 0)
			bench_die("fork: %s", strerror(errno));
		if (ng->pid == 0) {
			int null = open("/dev/null", O_RDWR | O_CLOEXEC);

			dup2(null, 1);
			own_cpu(SERVER_CPU);
			execlp("nginx", "nginx", "-q", "-p", ng->dir, "-c", path, (char *)NULL);
			_exit(127);
		}
		for (double end = bench_now_ns() + 5e9; bench_now_ns() < end;) {
			int status;

			if (waitpid(ng->pid, &status, WNOHANG) == ng->pid) {
				ng->pid = 0;
				if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
					fprintf(stderr, "bench: nginx is not installed (make deps)\n");
					return -1;
				}
				break; /* the port was taken, probably: another one */
			}
			if (port_open(p)) {
				set_addrs(p);
				return 0;
			}
			usleep(10000);
		}
		bench_kill(ng->pid);
		ng->pid = 0;
	}
	snprintf(path, sizeof path, "cat %s/error.log >&2", ng->dir);
	fprintf(stderr, "bench: nginx did not start; its log:\n");
	if (system(path) != 0)
		fprintf(stderr, "(no log)\n");
	return -1;
}

static inline void nginx_stop(struct nginx *ng)
{
	char cmd[96];

	if (ng->pid > 0)
		bench_kill(ng->pid);
	ng->pid = 0;
	snprintf(cmd, sizeof cmd, "rm -rf %s", ng->dir);
	if (ng->dir[0] && system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", ng->dir);
}

#endif
