/*
 * daemon.h (internal to daemon/): the running daemon, as the control
 * server (control.c) and the metrics server (metrics.c) see it.
 *
 * One thread: every function here runs on the event loop's thread, from
 * a coroutine or from the loop's function; those marked "may yield" need
 * a coroutine.
 */
#ifndef CORO_DAEMON_DAEMON_H
#define CORO_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "daemon/supervisor.h"

#define DAEMON_NAME "coro-runnerd"
#define DEFAULT_CONFIG "/etc/coro-runner/jobs.yaml"
#define DEFAULT_DROPIN_DIR "/etc/coro-runner/jobs.d"
#define DEFAULT_SOCKET "/run/coro-runner/control.sock"
#define DEFAULT_STATE_DIR "/var/lib/coro-runner"

struct daemon {
	struct supervisor *sup;

	/* Where the configuration is read from, in order (see config_load). */
	const char *config_file;      /* main file, or NULL for none */
	const char **dirs;            /* drop-in directories; the last is <state_dir>/jobs.d */
	size_t ndirs;
	char *state_jobs_dir;         /* <state_dir>/jobs.d: jobs added with coctl add */
	const char *socket_path;      /* control socket (unused when systemd passed one) */
	const char *state_dir;
	const char *metrics_listen;   /* --metrics override, or NULL: the configuration's */

	uid_t uid;                    /* the daemon's own user, allowed to change things */
	int64_t start_wall_ms;        /* CLOCK_REALTIME at start */
	uint64_t start_mono_ms;
	bool stopping;                /* SIGTERM (or coctl) asked the daemon to stop */
};

/*
 * Re-reads the configuration files and applies them (SIGHUP and coctl
 * reload; may yield). Returns 0, or a negative errno with the errors in
 * errs (which the caller frees with cfg_errors_free in both cases; NULL
 * if unwanted): then nothing changed. Logs the outcome and tells systemd
 * (RELOADING=1, then READY=1 and STATUS=).
 */
int daemon_reload(struct daemon *d, struct cfg_errors *errs);

/* Asks the daemon to stop, as SIGTERM does. */
void daemon_request_stop(struct daemon *d);

/* Sends systemd a fresh STATUS= line (job and failure counts). */
void daemon_update_status(struct daemon *d);

/* Resident set size of the daemon in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t daemon_rss_bytes(void);

#endif
