/* SPDX-License-Identifier: MIT */
/*
 * log.c: the daemon's log, to journald with structured fields when
 * systemd started us with stderr connected to the journal (JOURNAL_STREAM
 * names stderr's device and inode), else to stderr with timestamps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "daemon/core/core.h"

#define LOG_LINE_MAX 4096

static int use_journal;
static int max_priority = LOG_INFO;

static const char *const level_names[] = {
	"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug",
};

void log_init(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	use_journal = 0;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		use_journal = 1;
}

void log_set_level(int priority)
{
	max_priority = priority;
}

int log_to_journal(void)
{
	return use_journal;
}

/* "2026-11-26T12:00:00.123+0000 coro-runnerd[123]: info: " */
static int stderr_prefix(char *buf, size_t size, int priority)
{
	struct timespec ts;
	struct tm tm;
	char date[40], zone[8];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(zone, sizeof zone, "%z", &tm);
	return snprintf(buf, size, "%s.%03ld%s coro-runnerd[%ld]: %s: ", date,
			ts.tv_nsec / 1000000, zone, (long)getpid(),
			level_names[priority & 7]);
}

/* Writes one whole line to stderr (a single write, so lines never mix). */
static void write_stderr(int priority, const char *job, const char *msg)
{
	char line[LOG_LINE_MAX + 256];
	int n = stderr_prefix(line, sizeof line, priority);

	if (job)
		n += snprintf(line + n, sizeof line - (size_t)n, "job %s: ", job);
	n += snprintf(line + n, sizeof line - (size_t)n, "%s", msg);
	if ((size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* The log never blocks a coroutine on a full pipe for long: stderr is the daemon's own. */
	while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
		;
}

/* Up to 8 extra fields, "NAME=value". */
static void send_journal(int priority, const char *job, const char *msg,
			 const char *const *fields, size_t nfields)
{
	struct iovec iov[12];
	char prio[16], jobf[sizeof "JOB=" + 64];
	char *m = NULL;
	size_t n = 0;

	if (asprintf(&m, "MESSAGE=%s%s%s%s", job ? "job " : "", job ? job : "",
		     job ? ": " : "", msg) < 0)
		return;
	iov[n++] = (struct iovec){ m, strlen(m) };
	snprintf(prio, sizeof prio, "PRIORITY=%d", priority & 7);
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=coro-runnerd",
				   sizeof "SYSLOG_IDENTIFIER=coro-runnerd" - 1 };
	if (job) {
		snprintf(jobf, sizeof jobf, "JOB=%s", job);
		iov[n++] = (struct iovec){ jobf, strlen(jobf) };
	}
	for (size_t i = 0; i < nfields && n < sizeof iov / sizeof iov[0]; i++)
		iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };
	if (sd_journal_sendv(iov, (int)n) < 0)
		write_stderr(priority, job, msg);
	free(m);
}

static void emit(int priority, const char *job, const char *msg,
		 const char *const *fields, size_t nfields)
{
	if (priority > max_priority)
		return;
	if (use_journal)
		send_journal(priority, job, msg, fields, nfields);
	else
		write_stderr(priority, job, msg);
}

static void vemit(int priority, const char *job, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];

	if (priority > max_priority)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	emit(priority, job, msg, NULL, 0);
}

void log_msg(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(priority, NULL, fmt, ap);
	va_end(ap);
}

void log_job(int priority, const char *job, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(priority, job, fmt, ap);
	va_end(ap);
}

/* A message with one journald field more (NAME=value), about a job if not NULL. */
__attribute__((format(printf, 5, 0)))
static void emit_with(int priority, const char *name, const char *value, const char *job,
		      const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX], field[96];
	const char *fields[1] = { field };

	vsnprintf(msg, sizeof msg, fmt, ap);
	snprintf(field, sizeof field, "%s=%s", name, value);
	emit(priority, job, msg, fields, 1);
}

void log_member(int priority, const char *member, const char *job, const char *fmt, ...)
{
	va_list ap;

	if (priority > max_priority)
		return;
	va_start(ap, fmt);
	emit_with(priority, "MEMBER", member, job, fmt, ap);
	va_end(ap);
}

void log_notifier(int priority, const char *notifier, const char *job, const char *fmt, ...)
{
	va_list ap;

	if (priority > max_priority)
		return;
	va_start(ap, fmt);
	emit_with(priority, "NOTIFIER", notifier, job, fmt, ap);
	va_end(ap);
}

/* "12ms", "1.002s", "250us": what people read in a log. */
static void format_us(unsigned long long us, char *buf, size_t size)
{
	if (us < 1000)
		snprintf(buf, size, "%lluus", us);
	else if (us < 1000000)
		snprintf(buf, size, "%llu.%01llums", us / 1000, us % 1000 / 100);
	else
		snprintf(buf, size, "%llu.%03llus", us / 1000000, us % 1000000 / 1000);
}

void log_result(const char *job, const char *result, unsigned long long duration_us,
		const char *error)
{
	char msg[LOG_LINE_MAX], dur[32], rf[32], df[48];
	const char *fields[2] = { rf, df };
	int ok = strcmp(result, "ok") == 0;

	if ((ok ? LOG_INFO : LOG_WARNING) > max_priority)
		return;
	format_us(duration_us, dur, sizeof dur);
	if (error && *error)
		snprintf(msg, sizeof msg, "%s in %s: %s", result, dur, error);
	else
		snprintf(msg, sizeof msg, "%s in %s", result, dur);
	snprintf(rf, sizeof rf, "RESULT=%s", result);
	snprintf(df, sizeof df, "DURATION_US=%llu", duration_us);
	emit(ok ? LOG_INFO : LOG_WARNING, job, msg, fields, 2);
}

void log_output(const char *job, const char *data, size_t len, int truncated)
{
	static const char *const fields[] = { "OUTPUT=1" };
	char line[LOG_LINE_MAX];
	size_t start = 0;

	if (LOG_INFO > max_priority)
		return;
	while (start < len) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - data) : len;
		size_t n = end - start;

		if (n > sizeof line - 16)
			n = sizeof line - 16;
		snprintf(line, sizeof line, "| %.*s", (int)n, data + start);
		/* Control characters would forge lines on stderr: show them as '?'. */
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20 && *c != '\t')
				*c = '?';
		emit(LOG_INFO, job, line, fields, 1);
		start = end + 1;
	}
	if (truncated)
		emit(LOG_INFO, job, "| (output truncated at the output_limit)", fields, 1);
}
