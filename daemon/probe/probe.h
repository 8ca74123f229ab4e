/* SPDX-License-Identifier: MIT */
/*
 * probe.h (internal to daemon/): one run of a job's check, as ordinary
 * blocking code in a coroutine with the system call hooks on, so that it
 * only ever blocks its coroutine (SPEC §4, issue 5).
 *
 * The supervisor makes a struct probe for a run, calls probe_run() in the
 * job's coroutine, and reads the result. Another coroutine of the same
 * thread may call probe_cancel() at any time: the run then ends soon
 * (without waiting for its timeout), releases everything it holds (sockets,
 * curl handles, the child process, which is killed), and returns
 * -ECANCELED.
 */
#ifndef CORO_DAEMON_PROBE_H
#define CORO_DAEMON_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"

#define PROBE_ERROR_MAX 256

struct probe_result {
	bool ok;                      /* the check passed */
	uint64_t duration_us;         /* from start to end of the run */
	/*
	 * Why it failed, for people and logs, in the style of:
	 * "connect: connection refused", "timeout after 3s", "status 503",
	 * "body lacks \"ok\"", "rcode NXDOMAIN", "exit 2", "killed by signal 9".
	 * Empty when ok.
	 */
	char error[PROBE_ERROR_MAX];
	/* exec: stdout and stderr, interleaved, at most output_limit bytes (heap, or NULL). */
	char *output;
	size_t output_len;
	bool output_truncated;
	int exit_status;              /* exec: as from waitpid, -1 if it did not exit */
	int http_status;              /* http: the response's status, 0 if none */
};

/*
 * What the canceller needs to reach a run that is blocked: the probe
 * records its descriptors and child here as it makes them. Owned by the
 * run; the supervisor only reads it through probe_cancel().
 */
#define PROBE_FDS_MAX 8

struct probe {
	const struct job *job;
	bool cancelled;               /* set by probe_cancel() */
	int fds[PROBE_FDS_MAX];       /* sockets in use (-1: free slot) */
	pid_t pid;                    /* exec: the child, or 0 */
	int pidfd;                    /* exec: its pidfd, or -1 */
	int stdin_fd;                 /* exec: the child's stdin, or -1 for /dev/null (the caller's to close) */
	struct probe_result result;
};

/* Prepares p for one run of job (no allocation). */
void probe_init(struct probe *p, const struct job *job);

/*
 * Runs the check once, in the calling coroutine (hooks must be on), within
 * the job's timeout. Returns 0 with p->result filled (passed or failed), or
 * -ECANCELED if probe_cancel() was called. Never blocks the thread.
 */
int probe_run(struct probe *p);

/* Frees what p->result holds (the exec output). */
void probe_result_free(struct probe_result *r);

/*
 * From another coroutine (or the main context) of the same thread: makes
 * the run end as soon as it is next scheduled, by shutting down its
 * sockets and killing its child (SIGKILL). Safe to call twice, or when no
 * run is in progress.
 */
void probe_cancel(struct probe *p);

/* Each type's run (probe_run dispatches); the same contract. */
int probe_tcp(struct probe *p);
int probe_http(struct probe *p);
int probe_dns(struct probe *p);
int probe_exec(struct probe *p);

/* For the probes: CLOCK_MONOTONIC in microseconds. */
uint64_t probe_now_us(void);

/* For the probes: marks the run failed with a formatted reason; returns 0. */
__attribute__((format(printf, 2, 3)))
int probe_fail(struct probe *p, const char *fmt, ...);

/* probe_fail(p, "timeout after 3s"), the timeout written as the configuration writes it. */
int probe_fail_timeout(struct probe *p);

/* For the probes: record and forget a descriptor, so that probe_cancel reaches it. */
void probe_track_fd(struct probe *p, int fd);
void probe_untrack_fd(struct probe *p, int fd);

#endif
