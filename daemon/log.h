/*
 * log.h (internal to daemon/): the daemon's log.
 *
 * Started by systemd (JOURNAL_STREAM names our stderr), messages go to
 * journald through sd_journal_send with structured fields: MESSAGE,
 * PRIORITY, SYSLOG_IDENTIFIER=coro-runnerd, and for a job JOB=<name>,
 * plus RESULT=ok|failed|timeout and DURATION_US for a result.
 * Otherwise they go to stderr, one line each:
 *
 *     2026-11-26T12:00:00.123+0000 coro-runnerd[123]: <level>: <message>
 *
 * where level is one of error, warning, notice, info, debug, and a job's
 * message starts with `job NAME: `.
 */
#ifndef CORO_DAEMON_LOG_H
#define CORO_DAEMON_LOG_H

#include <stddef.h>
#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

/* Decides once where logs go (journald or stderr); call early in main. */
void log_init(void);

/* Messages below this priority are dropped (default LOG_INFO). */
void log_set_level(int priority);

/* True when logging to journald. */
int log_to_journal(void);

__attribute__((format(printf, 2, 3)))
void log_msg(int priority, const char *fmt, ...);

/* A message about one job (JOB= field; "job NAME: " on stderr). */
__attribute__((format(printf, 3, 4)))
void log_job(int priority, const char *job, const char *fmt, ...);

/*
 * A job's run: RESULT= and DURATION_US= fields, message
 * "job NAME: ok in 12ms" or "job NAME: failed in 3s: timeout after 3s".
 */
void log_result(const char *job, const char *result, unsigned long long duration_us,
		const char *error);

/* A command's captured output, line by line (priority LOG_INFO, OUTPUT=1 field). */
void log_output(const char *job, const char *data, size_t len, int truncated);

#endif
