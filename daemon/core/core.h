/* SPDX-License-Identifier: MIT */
/*
 * core.h: the core of coro-runnerd, the one header the daemon's other rooms
 * (probe/ aside, which the core uses) include: the supervisor of the jobs
 * (core/supervisor.c, schedule.c, results.c), the state file (state.c), the
 * log (log.c), the files of jobs added at run time (persist.c), and the
 * running daemon as the servers see it (struct daemon, with the
 * operations main.c provides).
 *
 * The arrows run one way: control/ and http/ include this header and call
 * the supervisor's interface and d->ops; the core never includes them,
 * and nothing but main.c includes main.c's pieces.
 *
 * One thread: every function here runs on the event loop's thread, from
 * a coroutine or from the loop's function; those marked "may yield" need
 * a coroutine.
 */
#ifndef CORO_DAEMON_CORE_H
#define CORO_DAEMON_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

#include "config/config.h"

struct co;
struct co_cond;
struct co_sharestack;
struct probe;

/* ==== the supervisor ====================================================== */

/*
 * The jobs of a running coro-runnerd (supervisor.c: the table and its
 * operations; schedule.c: a job's coroutine and its ticks; results.c:
 * what a run leaves, counters, health, the lag histogram).
 *
 * Each job is one coroutine on the supervisor's pool of shared stacks. It
 * sleeps on the timing wheel until its next tick, runs its probe
 * (daemon/probe/probe.h), retries, records the result, and sleeps again. Ticks
 * are `offset + k * every` on the wall clock's millisecond count, where the
 * offset is a stable hash of the job's name modulo `every`, plus a fresh
 * jitter per tick; a tick that has already passed when a run ends is
 * skipped, never queued.
 *
 * Everything here runs on the daemon's one thread. Functions marked "may
 * yield" must be called from a coroutine; the others never block.
 */

#define JOB_HISTORY 20 /* results kept per job */

enum job_health {
	HEALTH_UNKNOWN, /* not yet enough results to say */
	HEALTH_UP,      /* successes_before_up consecutive successes */
	HEALTH_DOWN,    /* failures_before_down consecutive failures */
};

/* Where a job's definition came from. */
enum job_origin {
	ORIGIN_FILE,    /* the main file or a drop-in directory (reload re-reads it) */
	ORIGIN_RUNTIME, /* coctl add --runtime: gone at restart, kept across reloads */
	ORIGIN_FLEET,   /* a fleet job this member owns (daemon/fleet/): kept across reloads */
};

/* How a run ended, for counters by result. */
enum run_outcome {
	OUTCOME_OK,
	OUTCOME_FAILED,  /* the check ran and did not pass (refused, status 503, exit 2, ...) */
	OUTCOME_TIMEOUT, /* the job's timeout passed */
	OUTCOME_COUNT
};

/* One entry of a job's history. */
struct run_record {
	int64_t end_ms;        /* wall clock (CLOCK_REALTIME) when the run ended, ms */
	uint32_t duration_us;  /* saturated at UINT32_MAX (71 minutes) */
	uint8_t outcome;       /* enum run_outcome */
};

/* A job's definition together with the configuration that owns it. */
struct cfg_ref {
	struct config *cfg;
	unsigned refs;         /* job states pointing into cfg */
};

struct supervisor;

struct job_state {
	struct supervisor *sup;
	const struct job *job;       /* the definition in force (inside cfg) */
	struct cfg_ref *cfg;
	const struct job *next_job;  /* reload: an equal definition to switch to after the run */
	struct cfg_ref *next_cfg;
	enum job_origin origin;
	uint64_t id;                 /* unique for the daemon's life: a killed and re-added job differs */

	struct co *co;               /* the job's coroutine */
	struct co_cond *wake;        /* the coroutine sleeps on it between ticks */
	struct probe *probe;         /* the run in progress (on the coroutine's stack), or NULL */

	bool running;                /* a run (with its retries) is in progress */
	bool paused;                 /* coctl pause: ticks pass without runs */
	bool run_now;                /* coctl run: run at once, then back to the schedule */
	bool removed;                /* killed or dropped by a reload; the coroutine is ending */
	bool ended;                  /* the coroutine has returned (sup_reap releases it) */

	uint64_t offset_ms;          /* stable per-name phase, in [0, every) */
	uint64_t next_ms;            /* CLOCK_MONOTONIC ms of the next tick (jitter included); 0 if none */

	/* Counters since the job was (re)defined, or restored from the state file. */
	uint64_t runs;               /* completed runs (a run includes its retries) */
	uint64_t by_outcome[OUTCOME_COUNT];
	uint64_t skipped;            /* ticks skipped because a run overran */
	uint64_t attempts;           /* probe attempts, retries included */
	unsigned consecutive_failures;
	unsigned consecutive_successes;
	enum job_health health;
	int64_t health_since_ms;     /* wall clock of the last health change, 0 if never */
	int64_t health_prev_since_ms; /* the one before it (when a down that ended began), 0 if none */

	/* The last run. */
	bool has_last;
	struct run_record last;
	char *last_error;            /* heap, or NULL when the last run passed */
	int last_http_status;        /* http: status of the last response, 0 if none */
	int last_exit_status;        /* exec: as from waitpid, -1 if none */

	struct run_record history[JOB_HISTORY]; /* ring; oldest first from hist_start */
	uint8_t hist_len;
	uint8_t hist_start;

	uint64_t base_ms;            /* CLOCK_MONOTONIC ms of the current tick, jitter excluded */
	struct job_state *hnext;     /* name hash chain */
	struct job_state *dnext;     /* list of ended coroutines, for sup_reap */
};

/* Daemon figures for coctl stats and the metrics. */
struct sup_stats {
	size_t jobs;                 /* defined jobs */
	size_t jobs_running;         /* runs in progress */
	size_t jobs_paused;
	size_t jobs_down;
	uint64_t runs;               /* all runs since start */
	uint64_t failures;           /* runs that did not pass */
	uint64_t skipped;
	unsigned sharestacks;        /* stacks in the pool */
	uint64_t lag_p99_us;         /* event-loop lag, last full window (10 s); to 50 us below 25 ms */
	uint64_t lag_max_us;         /* the same window's maximum */
	uint64_t lag_samples;        /* samples in that window */
	uint64_t reloads_ok;
	uint64_t reloads_failed;
	bool last_reload_ok;         /* true if none happened yet */
	int64_t last_reload_ms;      /* wall clock of the last reload attempt, 0 if none */
};

/*
 * Event-loop lag (how late a timer's coroutine runs), as a histogram with
 * three buckets an octave from 25 us; the last bucket is +Inf.
 */
#define LAG_BUCKETS 64

struct supervisor;

struct sup_options {
	unsigned sharestacks;        /* default 16 */
	size_t stack_size;           /* each shared stack; default 256 KiB */
};

/* A new supervisor with no jobs; NULL on out of memory. */
struct supervisor *sup_new(const struct sup_options *opt);

/*
 * Frees everything. The jobs must have ended (sup_stop); safe with NULL.
 */
void sup_free(struct supervisor *s);

/*
 * Puts a newly loaded configuration of the files in force (takes
 * ownership of cfg, also on error). Jobs of origin ORIGIN_FILE are matched
 * by name: an unchanged one keeps its state and schedule; a changed one is
 * cancelled (its run aborted) and starts over, first running at its next
 * tick; one that is gone is cancelled and removed; new ones start. Runtime
 * jobs stay, unless the files now define the same name (then the file's
 * wins). Counts what happened in the optional *ret_* outputs. Returns 0.
 */
int sup_apply(struct supervisor *s, struct config *cfg, size_t *ret_added,
	      size_t *ret_changed, size_t *ret_removed);

/*
 * Adds every job of cfg (takes ownership of cfg, also on error) with the
 * given origin; each first runs at its next tick. Returns 0, or -EEXIST if
 * a name is in use: then nothing is added and the clashing name is copied
 * into name_buf (if given).
 */
int sup_add(struct supervisor *s, struct config *cfg, enum job_origin origin,
	    char *name_buf, size_t name_size);

/* The job named name, or NULL. */
struct job_state *sup_find(struct supervisor *s, const char *name);

/* The jobs, in the order they were defined (index 0 .. sup_count()-1). */
size_t sup_count(const struct supervisor *s);
struct job_state *sup_job(const struct supervisor *s, size_t i);

/*
 * Cancels a job at once (an in-flight run is aborted, its child killed)
 * and removes it. Returns 0 or -ENOENT.
 */
int sup_kill(struct supervisor *s, const char *name);

/* Pauses or resumes a job. Returns 0 or -ENOENT. */
int sup_pause(struct supervisor *s, const char *name, bool pause);

/*
 * Runs a job now (or joins the run in progress) and waits for it to end;
 * may yield. Returns 0 with the job's state after the run in *ret (valid
 * until the caller next yields), -ENOENT if there is no such job,
 * -ECANCELED if it was killed or removed meanwhile, -ETIMEDOUT after
 * wait_ms (0: no limit).
 */
int sup_run(struct supervisor *s, const char *name, uint64_t wait_ms,
	    struct job_state **ret);

/*
 * Cancels every run and ends every job's coroutine, waiting at most
 * wait_ms for them to unwind; may yield. Afterwards the supervisor has
 * no jobs running and takes no new ones.
 */
void sup_stop(struct supervisor *s, uint64_t wait_ms);

/* True once every job coroutine of a stop has ended. */
bool sup_stopped(const struct supervisor *s);

/*
 * Releases the coroutines of ended jobs. Called by the event loop's
 * function before each round (a coroutine cannot release itself).
 */
void sup_reap(struct supervisor *s);

/*
 * True while a job of that name that was killed or removed is still
 * unwinding (its run aborted, its child not yet reaped): for jobs that
 * must never run twice at once (fleet's exclusive jobs), whose next run
 * elsewhere may start only once this is false.
 */
bool sup_unwinding(const struct supervisor *s, const char *name);

/*
 * Who hears of a job's up/down transitions (the fleet publishes them, the
 * notifications tell people): fn(arg, js, was) after js->health changed
 * from was, on the job's coroutine, in the order they were added; fn must
 * not yield. At most SUP_OBSERVERS_MAX: add returns 0 or -ENOSPC; remove
 * takes the same pair (not there: nothing happens).
 */
#define SUP_OBSERVERS_MAX 4
typedef void sup_health_fn(void *arg, struct job_state *js, enum job_health was);
int sup_add_health_observer(struct supervisor *s, sup_health_fn *fn, void *arg);
void sup_remove_health_observer(struct supervisor *s, sup_health_fn *fn, void *arg);

/*
 * Who hears of every run's result (the history keeps them): fn(arg, js)
 * once js->last and js->last_error hold the run that just ended, before
 * its up/down decision, on the job's coroutine; fn must not yield and
 * should cost little (it runs for every result). Same rules as above.
 */
typedef void sup_result_fn(void *arg, struct job_state *js);
int sup_add_result_observer(struct supervisor *s, sup_result_fn *fn, void *arg);
void sup_remove_result_observer(struct supervisor *s, sup_result_fn *fn, void *arg);

/*
 * Sets a job's up/down state and consecutive counts as another owner left
 * them (the fleet), keeping the supervisor's counts (O(1); no observer hears
 * it: it is not a transition here).
 */
void sup_set_health(struct job_state *js, enum job_health health, int64_t since_ms,
		    unsigned consecutive_failures, unsigned consecutive_successes);

/* Recounts paused and down jobs after their fields were set directly (the state file). */
void sup_recount(struct supervisor *s);

/* Records one lag sample (us). */
void sup_note_lag(struct supervisor *s, uint64_t lag_us);

/* Records a reload attempt (for stats). */
void sup_note_reload(struct supervisor *s, bool ok);

void sup_get_stats(const struct supervisor *s, struct sup_stats *ret);

/* The lag histogram: counts of samples per bucket since start, and each bucket's upper bound. */
const uint64_t *sup_lag_buckets(const struct supervisor *s, uint64_t *ret_sum_us, uint64_t *ret_count);
uint64_t sup_lag_bucket_le_us(unsigned bucket);

/* The history of a job, oldest first: i in [0, js->hist_len). */
const struct run_record *job_history(const struct job_state *js, unsigned i);

/* "unknown", "up", "down"; "ok", "failed", "timeout". */
const char *job_health_name(enum job_health h);
const char *run_outcome_name(enum run_outcome o);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ms. */
uint64_t sup_mono_ms(void);
int64_t sup_wall_ms(void);

/* The wall clock time (ms) of a job's next tick, or 0 if none is scheduled. */
int64_t job_next_wall_ms(const struct job_state *js);

/*
 * The state file: counters, health and history of every job, restored at
 * start for jobs whose definition is unchanged. Written atomically
 * (temporary file, fsync, rename, fsync of the directory).
 */
int sup_save_state(const struct supervisor *s, const char *path);
int sup_load_state(struct supervisor *s, const char *path);

/* ==== the running daemon ================================================== */

/*
 * The running daemon, as the servers (control/, http/) see it: where its
 * files are, its supervisor, and the operations on the whole daemon that
 * main.c provides through d->ops, so that no server calls back into
 * main.c (and a test can give its own).
 */

#define DAEMON_NAME "coro-runnerd"
#define DEFAULT_CONFIG "/etc/coro-runner/jobs.yaml"
#define DEFAULT_DROPIN_DIR "/etc/coro-runner/jobs.d"
#define DEFAULT_SOCKET "/run/coro-runner/control.sock"
#define DEFAULT_STATE_DIR "/var/lib/coro-runner"

struct daemon;

/* What main.c does for the servers; every member is required. */
struct daemon_ops {
	/*
	 * Re-reads the configuration files and applies them (SIGHUP and coctl
	 * reload; may yield). Returns 0, or a negative errno with the errors
	 * in errs (which the caller frees with cfg_errors_free in both cases;
	 * NULL if unwanted): then nothing changed. Logs the outcome and tells
	 * systemd (RELOADING=1, then READY=1 and STATUS=).
	 */
	int (*reload)(struct daemon *d, struct cfg_errors *errs);
	/* Asks the daemon to stop, as SIGTERM does. */
	void (*request_stop)(struct daemon *d);
	/* Sends systemd a fresh STATUS= line (job and failure counts). */
	void (*update_status)(struct daemon *d);
};

struct fleet;
struct history;
struct notify;

struct daemon {
	const struct daemon_ops *ops;
	struct supervisor *sup;
	struct fleet *fleet;          /* fleet mode (daemon/fleet/fleet.h), or NULL */
	struct notify *notify;        /* notifications (daemon/notify/notify.h) */
	struct history *history;      /* result history (daemon/history/history.h) */

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

static inline int daemon_reload(struct daemon *d, struct cfg_errors *errs)
{
	return d->ops->reload(d, errs);
}

static inline void daemon_request_stop(struct daemon *d)
{
	d->ops->request_stop(d);
}

static inline void daemon_update_status(struct daemon *d)
{
	d->ops->update_status(d);
}

/* Resident set size of the daemon in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t daemon_rss_bytes(void);

/* ==== the log ============================================================= */

/*
 * The daemon's log (log.c).
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

/* A message about a fleet member (MEMBER=<name>), and a job if not NULL (JOB=). */
__attribute__((format(printf, 4, 5)))
void log_member(int priority, const char *member, const char *job, const char *fmt, ...);

/* A message about a notifier (NOTIFIER=<name>), and a job if not NULL (JOB=). */
__attribute__((format(printf, 4, 5)))
void log_notifier(int priority, const char *notifier, const char *job, const char *fmt, ...);

/*
 * A job's run: RESULT= and DURATION_US= fields, message
 * "job NAME: ok in 12ms" or "job NAME: failed in 3s: timeout after 3s".
 */
void log_result(const char *job, const char *result, unsigned long long duration_us,
		const char *error);

/* A command's captured output, line by line (priority LOG_INFO, OUTPUT=1 field). */
void log_output(const char *job, const char *data, size_t len, int truncated);

/* ==== the files of coctl add ============================================== */

/*
 * The files of jobs added with `coctl add` (persist.c).
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
