/* SPDX-License-Identifier: MIT */
/*
 * bench-net.h: what the event-loop benchmarks (bench-echo, bench-connect,
 * bench-idle) share: libc's own socket calls for the baselines, CPU
 * pinning, a loopback listener, memory shared with forked children,
 * per-process counters from /proc, and `strace -c` attached to a running
 * process. Header only, like bench.h; include it after bench.h.
 *
 * Why libc's own calls: a benchmark is linked with libcoro.a, whose hooks
 * take the names read, write, connect, ... for the whole program. Outside
 * a hooked coroutine they pass straight through to libc, but the plain
 * epoll baselines and the load-generating clients should not even pay for
 * that check, so they call libc's functions, found with dlsym(RTLD_NEXT)
 * exactly as libcoro finds them.
 */
#ifndef CORO_TESTS_BENCH_NET_H
#define CORO_TESTS_BENCH_NET_H

#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* libc's functions, bypassing libcoro's hooks (bench_libc_init fills it). */
struct bench_libc {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	int (*close)(int);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*fcntl)(int, int, ...);
};

static struct bench_libc real __attribute__((unused));

static inline void *bench_libc_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	/* Not in tail position: see SPEC §3.3 on dlsym(RTLD_NEXT). */
	__asm__ volatile("" : : "r"(p) : "memory");
	if (!p)
		bench_die("dlsym(RTLD_NEXT, \"%s\"): %s", name, dlerror());
	return p;
}

static inline void bench_libc_init(void)
{
	real.socket = (int (*)(int, int, int))bench_libc_sym("socket");
	real.connect = (int (*)(int, const struct sockaddr *, socklen_t))bench_libc_sym("connect");
	real.accept4 = (int (*)(int, struct sockaddr *, socklen_t *, int))bench_libc_sym("accept4");
	real.read = (ssize_t (*)(int, void *, size_t))bench_libc_sym("read");
	real.write = (ssize_t (*)(int, const void *, size_t))bench_libc_sym("write");
	real.close = (int (*)(int))bench_libc_sym("close");
	real.setsockopt = (int (*)(int, int, int, const void *, socklen_t))
		bench_libc_sym("setsockopt");
	real.fcntl = (int (*)(int, int, ...))bench_libc_sym("fcntl");
}

/*
 * Pins the calling process to one CPU (the machines here have two: the
 * server side gets one, the load generator the other). Returns 0, or -1
 * if the CPU does not exist or pinning is refused: the benchmark then runs
 * unpinned, which is noisier but still correct.
 */
static inline int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof set, &set);
}

/*
 * Raises the soft limit on open descriptors to the hard limit (what an
 * unprivileged process may do) and returns it.
 */
static inline long bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 30) ? 1 << 30 : (long)rl.rlim_cur;
}

/* Number of CPUs this process may run on. */
static inline int bench_ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof set, &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

/*
 * A TCP listener on 127.0.0.1 and a port the kernel picks (a new port for
 * every measurement, so that one measurement's TIME_WAIT sockets never
 * collide with the next one's 4-tuples). Blocking, close-on-exec.
 */
static inline int bench_listen(int backlog, struct sockaddr_in *ret_addr)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	int one = 1;
	int fd = real.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		bench_die("socket: %s", strerror(errno));
	real.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		bench_die("listen on 127.0.0.1: %s", strerror(errno));
	*ret_addr = a;
	return fd;
}

/* size bytes of zeroed memory shared with the children forked afterwards. */
static inline void *bench_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap of %zu shared bytes: %s", size, strerror(errno));
	return p;
}

/* Reads a small /proc file into buf (NUL-terminated); 0 or -1. */
static inline int bench_proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = real.read(fd, buf, size - 1);
	real.close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * The read(2)-family and write(2)-family system calls a process has made
 * (syscr and syscw of /proc/PID/io). The kernel counts every call that
 * reaches vfs_read/vfs_write, failed ones (EAGAIN) included; recv/send
 * and friends are not counted. Returns 0, or -1 if the kernel has no task
 * I/O accounting.
 */
static inline int bench_proc_syscalls(pid_t pid, uint64_t *ret_r, uint64_t *ret_w)
{
	char buf[512], *p;

	if (bench_proc_read(pid, "io", buf, sizeof buf) < 0)
		return -1;
	if (!(p = strstr(buf, "syscr:")))
		return -1;
	*ret_r = strtoull(p + 6, NULL, 10);
	if (!(p = strstr(buf, "syscw:")))
		return -1;
	*ret_w = strtoull(p + 6, NULL, 10);
	return 0;
}

/* Nanoseconds of CPU a process has used (first field of /proc/PID/schedstat), or 0. */
static inline uint64_t bench_proc_cpu_ns(pid_t pid)
{
	char buf[128];

	if (bench_proc_read(pid, "schedstat", buf, sizeof buf) < 0)
		return 0;
	return strtoull(buf, NULL, 10);
}

/* Waits up to timeout_ms for fd to be readable; 1 if it is, 0 if not. */
static inline int bench_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* Reads exactly len bytes from a pipe, waiting at most timeout_ms for each part; 0 or -1. */
static inline int bench_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (!bench_wait_readable(fd, timeout_ms))
			return -1;
		n = real.read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Kills a child and reaps it. */
static inline void bench_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- strace -c ----------------------------------------------------------- */

/* `strace -c -f -p PID` running on a process; see bench_strace_attach. */
struct bench_strace {
	pid_t pid;       /* strace's */
	int err_fd;      /* its stderr, read until it exits */
	char out[64];    /* the -o file with the summary */
};

/* One row of strace's summary. */
struct bench_syscall {
	char name[32];
	uint64_t calls;
};

#define BENCH_SYSCALLS_MAX 48

/*
 * Attaches `strace -c -f` to a running process and returns once strace says
 * it is attached. Returns 0, or -1 if strace is not installed or cannot
 * attach (ptrace refused): the caller reports the figure as not measured.
 */
static inline int bench_strace_attach(struct bench_strace *st, pid_t target)
{
	char pidstr[16], line[256];
	size_t len = 0;
	int p[2], fd;

	snprintf(st->out, sizeof st->out, "/tmp/bench-strace-XXXXXX");
	fd = mkstemp(st->out);
	if (fd < 0)
		return -1;
	real.close(fd);
	snprintf(pidstr, sizeof pidstr, "%d", (int)target);
	if (pipe2(p, O_CLOEXEC) < 0)
		goto fail;
	fflush(stdout);
	st->pid = fork();
	if (st->pid < 0) {
		real.close(p[0]);
		real.close(p[1]);
		goto fail;
	}
	if (st->pid == 0) {
		dup2(p[1], 2);
		execlp("strace", "strace", "-c", "-f", "-o", st->out, "-p", pidstr, (char *)NULL);
		_exit(127);
	}
	real.close(p[1]);
	st->err_fd = p[0];
	/* "strace: Process N attached" comes on stderr once the tracee is stopped. */
	for (;;) {
		ssize_t n;

		if (!bench_wait_readable(st->err_fd, 10000))
			break;
		n = real.read(st->err_fd, line + len, sizeof line - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (strstr(line, "attached"))
			return 0;
		if (len >= sizeof line - 1)
			len = 0;
	}
	real.close(st->err_fd);
	bench_kill(st->pid);
fail:
	unlink(st->out);
	return -1;
}

/*
 * Detaches strace (SIGINT) and reads its summary: up to max rows into
 * rows (the "total" row included). Returns the number of rows, or -1.
 */
static inline int bench_strace_detach(struct bench_strace *st, struct bench_syscall *rows, int max)
{
	char buf[256];
	int n = 0, status;
	FILE *f;

	kill(st->pid, SIGINT);
	while (real.read(st->err_fd, buf, sizeof buf) > 0)
		;
	real.close(st->err_fd);
	while (waitpid(st->pid, &status, 0) < 0 && errno == EINTR)
		;
	f = fopen(st->out, "re");
	unlink(st->out);
	if (!f)
		return -1;
	/* "% time seconds usecs/call calls [errors] syscall"; errors may be blank. */
	while (n < max && fgets(buf, sizeof buf, f)) {
		char *tok[8], *save = NULL, *t;
		int k = 0;

		for (t = strtok_r(buf, " \t\n", &save); t && k < 8; t = strtok_r(NULL, " \t\n", &save))
			tok[k++] = t;
		if (k < 5 || tok[0][0] == '%' || tok[0][0] == '-')
			continue;
		snprintf(rows[n].name, sizeof rows[n].name, "%s", tok[k - 1]);
		rows[n].calls = strtoull(tok[3], NULL, 10);
		n++;
	}
	fclose(f);
	return n;
}

/* The calls of one system call in strace's rows, or 0. */
static inline uint64_t bench_strace_calls(const struct bench_syscall *rows, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return rows[i].calls;
	return 0;
}

#endif
