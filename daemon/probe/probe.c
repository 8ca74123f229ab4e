/* SPDX-License-Identifier: MIT */
/*
 * probe.c: what every probe shares: setting up a run, tracking what a
 * canceller must reach, cancelling, freeing a result.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daemon/probe/probe.h"

void probe_init(struct probe *p, const struct job *job)
{
	memset(p, 0, sizeof *p);
	p->job = job;
	p->pidfd = -1;
	p->stdin_fd = -1;
	for (size_t i = 0; i < PROBE_FDS_MAX; i++)
		p->fds[i] = -1;
	p->result.exit_status = -1;
}

void probe_track_fd(struct probe *p, int fd)
{
	for (size_t i = 0; i < PROBE_FDS_MAX; i++) {
		if (p->fds[i] < 0) {
			p->fds[i] = fd;
			return;
		}
	}
	/* More than PROBE_FDS_MAX at once: the timeout still bounds the run. */
}

void probe_untrack_fd(struct probe *p, int fd)
{
	for (size_t i = 0; i < PROBE_FDS_MAX; i++)
		if (p->fds[i] == fd)
			p->fds[i] = -1;
}

void probe_cancel(struct probe *p)
{
	p->cancelled = true;
	/*
	 * shutdown, not close: the run still owns the numbers (it closes them
	 * when it unwinds), and a blocked connect, read or write wakes at once.
	 */
	for (size_t i = 0; i < PROBE_FDS_MAX; i++)
		if (p->fds[i] >= 0)
			shutdown(p->fds[i], SHUT_RDWR);
	if (p->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
	else if (p->pid > 0)
		kill(p->pid, SIGKILL);
}

void probe_result_free(struct probe_result *r)
{
	free(r->output);
	r->output = NULL;
	r->output_len = 0;
}

uint64_t probe_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int probe_fail(struct probe *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->result.error, sizeof p->result.error, fmt, ap);
	va_end(ap);
	p->result.ok = false;
	return 0;
}

int probe_fail_timeout(struct probe *p)
{
	char d[32];

	/* As the configuration writes it: "3s", "500ms", "1m30s". */
	config_format_duration(p->job->timeout_ms, d, sizeof d);
	return probe_fail(p, "timeout after %s", d);
}
