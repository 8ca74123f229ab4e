/*
 * persist.h (internal to daemon/): the files of jobs added with `coctl add`.
 *
 * Each such job lives in a file of its own, <dir>/<NAME>.yaml (@<NAME>.yaml
 * for a name starting with a dot, which the loader would skip), where dir is
 * the daemon's <state-dir>/jobs.d, the last drop-in directory the
 * configuration is read from: a restart or a reload finds the job there.
 * The file holds the job as the daemon understood it, every key written
 * out (the defaults it was added under included), so that it means the
 * same whatever the main file's defaults become.
 *
 * A file appears whole or not at all: it is written to a temporary file
 * (".NAME.yaml.XXXXXX", which the loader ignores: it reads *.yaml only),
 * flushed with fsync, renamed over its final name and the directory is
 * flushed too. A failure (a full disk, say) removes the temporary file and
 * leaves the directory as it was.
 *
 * These functions block (file system calls are not hooked) but only for
 * the time of a small write and two fsyncs; they never log.
 */
#ifndef CORO_DAEMON_PERSIST_H
#define CORO_DAEMON_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"

/*
 * The YAML text of one job (a whole file: a comment, then `jobs:` with the
 * job), or NULL on out of memory. The caller frees it.
 */
char *persist_job_yaml(const struct job *job);

/*
 * The path of NAME's file in dir, into buf. Returns buf, or NULL if it
 * does not fit.
 */
char *persist_path(const char *dir, const char *name, char *buf, size_t size);

/*
 * Writes text as <dir>/<name>.yaml atomically, creating dir (mode 0755) if
 * it is missing. Returns 0 or a negative errno (-ENOSPC for a full disk,
 * -EDQUOT, -EIO, -EACCES, ...); on failure nothing is left behind.
 */
int persist_write(const char *dir, const char *name, const char *text, size_t len);

/*
 * The same for any file of dir (the state file, say): <dir>/<file> is
 * written through ".<file>.XXXXXX" with the given mode.
 */
int persist_write_file(const char *dir, const char *file, const char *text, size_t len,
		       mode_t mode);

/*
 * Removes <dir>/<name>.yaml and flushes the directory. Returns 0, -ENOENT
 * if there was no such file, or another negative errno.
 */
int persist_remove(const char *dir, const char *name);

/* True if file (a job's where.file) is in dir: the job was added with coctl add. */
bool persist_owns(const char *dir, const char *file);

/*
 * Removes the temporary files a daemon killed during a write left in dir.
 * Returns how many it removed, or a negative errno if dir cannot be read
 * (a missing dir is not an error: 0).
 */
int persist_clean(const char *dir);

#endif
