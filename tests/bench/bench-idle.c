/* SPDX-License-Identifier: MIT */
/*
 * bench-idle: how often an idle libcoro event loop wakes up, with 10,000
 * pending timers due in an hour (libco's loop wakes every millisecond:
 * about 750 wakeups a second while idle, measured here).
 *
 *   bench-idle [SECONDS]
 *       Each configuration below runs for SECONDS (default 2) in a child
 *       process of its own; prints a table, then BENCH lines.
 *
 * A wakeup is one return from epoll_wait: co_eventloop calls its fn
 * callback before every epoll_wait, and the callback counts the calls. The window is
 * opened and closed from outside, so that it has no timer of its own: a
 * helper thread writes a byte to a pipe 300 ms after the loop starts (once
 * the start-up work is over: the first round, and the events that newly
 * registered sockets report once) and another SECONDS later; a coroutine
 * blocked in read() on the pipe notes the count of rounds each time. The
 * round that delivers the second byte is not counted.
 *
 * Configurations:
 *   timers   10,000 coroutines (on 4 shared stacks), each in sleep(3600)
 *            with the hooks on: 10,000 timers an hour away.
 *   sockets  5,000 coroutines, each blocked in read() on one end of an idle
 *            socket pair that has SO_RCVTIMEO of an hour: 5,000 descriptors
 *            registered with epoll, and 5,000 timers.
 *   control  one coroutine sleeping 10 ms in a loop: about 100 wakeups a
 *            second are expected; shows that wakeups are counted.
 *   due      1,000 coroutines, each sleeping a random 1 ms..10 s in a loop:
 *            about 200 timers fall due a second. Not idle: it shows how
 *            many wakeups resume nobody (counted as rounds during which
 *            co_switch_count() did not move), i.e. wakeups that were not
 *            for a due timer: the wheel's cascades from a higher level,
 *            for which the loop wakes at the start of the slot.
 * The plain epoll baseline is an epoll_wait with no timeout: 0 wakeups.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro/coro.h"
#include "tests/bench/bench.h"
#include "tests/bench/bench-net.h"

#define NTIMERS 10000
#define NSOCKETS 5000
#define HOUR 3600

enum { CONF_TIMERS, CONF_SOCKETS, CONF_CONTROL, CONF_DUE, NCONF };
static const char *const conf_what[NCONF] = {
	"10,000 coroutines in sleep(3600)",
	"5,000 coroutines in read(), 1 h SO_RCVTIMEO",
	"control: 1 coroutine sleeping 10 ms in a loop",
	"1,000 coroutines sleeping 1 ms..10 s in a loop",
};

static unsigned window_s;
static int nsockets = NSOCKETS;

static int done;
static unsigned long long rounds, empty, last_switches;

static void *sleeper(void *arg)
{
	co_enable_hook_sys();
	sleep(HOUR);
	return arg;
}

static void *reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct timeval tv = { .tv_sec = HOUR };
	char c;

	co_enable_hook_sys();
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (read(fd, &c, 1) < 0)
		c = 0;
	return arg;
}

static void *random_sleeper(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	co_enable_hook_sys();
	while (!done)
		usleep(1000 * (1 + (useconds_t)(rand_r(&seed) % 10000)));
	return arg;
}

static void *ticker(void *arg)
{
	co_enable_hook_sys();
	while (!done)
		usleep(10000);
	return arg;
}

/* The window's edges, noted by the gate coroutine. */
static unsigned long long rounds_open, rounds_close, empty_open, empty_close;
static double t_open, t_close;
static int gate_fd[2];

static void *gate(void *arg)
{
	char c;

	co_enable_hook_sys();
	if (read(gate_fd[0], &c, 1) != 1)
		bench_die("gate: read: %s", strerror(errno));
	rounds_open = rounds;
	empty_open = empty;
	t_open = bench_now_ns();
	if (read(gate_fd[0], &c, 1) != 1)
		bench_die("gate: read: %s", strerror(errno));
	rounds_close = rounds;
	empty_close = empty;
	t_close = bench_now_ns();
	done = 1;
	return arg;
}

/* The helper thread: opens the window after 300 ms, closes it window_s later. */
static void *opener(void *arg)
{
	struct timespec settle = { 0, 300000000 }, win = { window_s, 0 };

	nanosleep(&settle, NULL);
	if (write(gate_fd[1], "o", 1) != 1)
		_exit(3);
	nanosleep(&win, NULL);
	if (write(gate_fd[1], "c", 1) != 1)
		_exit(3);
	return arg;
}

/* Called before each epoll_wait: counts them, and the rounds that resumed nobody. */
static int count_round(void *arg)
{
	unsigned long long sw = co_switch_count();

	if (rounds && sw == last_switches)
		empty++;
	last_switches = sw;
	rounds++;
	return done ? -1 : 0;
}

static void start(co_fn *fn, void *arg, const struct co_attr *attr)
{
	struct co *co;

	if (co_create(&co, attr, fn, arg) < 0)
		bench_die("co_create: out of memory");
	co_resume(co);
}

/* What one configuration measured. */
struct result {
	double rate;                  /* wakeups per second in the window */
	double empty_rate;            /* of which resumed no coroutine */
	unsigned long long before;    /* epoll_wait returns before the window (start-up) */
	int nsockets;                 /* socket pairs made (fewer if descriptors are short) */
};

/* Runs one configuration in this process. */
static struct result run(int conf)
{
	struct co_sharestack *pool = co_alloc_sharestack(4, 64 * 1024);
	struct co_attr attr = { .share_stack = pool };
	pthread_t helper;

	if (!pool)
		bench_die("co_alloc_sharestack: out of memory");
	if (conf == CONF_TIMERS) {
		for (int i = 0; i < NTIMERS; i++)
			start(sleeper, NULL, &attr);
	} else if (conf == CONF_SOCKETS) {
		long nofile = bench_raise_nofile();

		/* Two descriptors per pair; keep a few for the loop and the pipe. */
		nsockets = nofile / 2 - 32 < NSOCKETS ? (int)(nofile / 2 - 32) : NSOCKETS;
		for (int i = 0; i < nsockets; i++) {
			int sv[2];

			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
				bench_die("socketpair: %s", strerror(errno));
			start(reader, (void *)(intptr_t)sv[0], &attr);
		}
	} else if (conf == CONF_CONTROL) {
		start(ticker, NULL, &attr);
	} else {
		for (int i = 0; i < 1000; i++)
			start(random_sleeper, (void *)(uintptr_t)(i + 1), &attr);
	}
	if (pipe2(gate_fd, O_CLOEXEC) < 0 || pthread_create(&helper, NULL, opener, NULL) != 0)
		bench_die("pipe or thread: %s", strerror(errno));
	start(gate, NULL, &attr);
	co_eventloop(co_get_epoll_ct(), count_round, NULL);
	pthread_join(helper, NULL);
	/*
	 * When the gate wakes, the epoll_wait that woke it is the latest the
	 * callback counted: the returns strictly between the two are
	 * rounds_close - rounds_open - 1, and rounds_open - 1 came before.
	 */
	return (struct result){
		.rate = (double)(rounds_close - rounds_open - 1) * 1e9 / (t_close - t_open),
		.empty_rate = (double)(empty_close - empty_open) * 1e9 / (t_close - t_open),
		.before = rounds_open - 1,
		.nsockets = nsockets,
	};
}

int main(int argc, char **argv)
{
	struct result res[NCONF];

	window_s = argc >= 2 ? (unsigned)bench_count(argv[1], "SECONDS") : 2;
	if (argc > 2)
		bench_die("usage: bench-idle [SECONDS]");
	for (int c = 0; c < NCONF; c++) {
		int p[2], status;
		pid_t pid;

		if (pipe(p) < 0)
			bench_die("pipe: %s", strerror(errno));
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			bench_die("fork: %s", strerror(errno));
		if (pid == 0) {
			struct result r = run(c);

			if (write(p[1], &r, sizeof r) != sizeof r)
				_exit(3);
			_exit(0);
		}
		close(p[1]);
		if (read(p[0], &res[c], sizeof res[c]) != sizeof res[c])
			bench_die("%s: the child gave no result", conf_what[c]);
		close(p[0]);
		waitpid(pid, &status, 0);
	}

	printf("Idle loop: epoll_wait returns per second over a %u s window that opens\n"
	       "300 ms after the loop starts; one process per row. Start-up: epoll_wait\n"
	       "returns before the window (a newly registered socket reports one event,\n"
	       "its EPOLLOUT edge; up to 512 are taken per return).\n\n", window_s);
	printf("%-48s %10s %10s %9s\n", "configuration", "wakeups/s", "for none/s", "start-up");
	for (int c = 0; c < NCONF; c++)
		printf("%-48s %10.2f %10.2f %9llu%s\n", conf_what[c], res[c].rate, res[c].empty_rate,
		       res[c].before, c == CONF_CONTROL ? "  (each sleep >= 10 ms)" : "");
	if (res[CONF_SOCKETS].nsockets < NSOCKETS)
		printf("(only %d socket pairs: the descriptor limit is too low for %d)\n",
		       res[CONF_SOCKETS].nsockets, NSOCKETS);
	printf("%-48s %10s\n", "baseline: plain epoll_wait, no timeout", "0");
	printf("%-48s %10s\n", "libco's loop, idle (BENCH.md, not measured here)", "~750");
	printf("\n");
	bench_headline("idle_wakeups_per_s", res[CONF_TIMERS].rate, 2, "wakeups/s");
	bench_headline("idle_wakeups_per_s_sockets", res[CONF_SOCKETS].rate, 2, "wakeups/s");
	bench_headline("idle_control_wakeups_per_s", res[CONF_CONTROL].rate, 1, "wakeups/s");
	bench_headline("timers_due_wakeups_per_s", res[CONF_DUE].rate, 1, "wakeups/s");
	bench_headline("timers_due_wakeups_for_none_per_s", res[CONF_DUE].empty_rate, 1, "wakeups/s");
	return 0;
}
