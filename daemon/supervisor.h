/*
 * supervisor.h (internal to daemon/): the jobs of a running coro-runnerd.
 *
 * Each job is one coroutine on the supervisor's pool of shared stacks. It
 * sleeps on the timing wheel until its next tick, runs its probe
 * (daemon/probe.h), retries, records the result, and sleeps again. Ticks
 * are `offset + k * every` on the wall clock's millisecond count, where the
 * offset is a stable hash of the job's name modulo `every`, plus a fresh
 * jitter per tick; a tick that has already passed when a run ends is
 * skipped, never queued.
 *
 * Everything here runs on the daemon's one thread. Functions marked "may
 * yield" must be called from a coroutine; the others never block.
 */
#ifndef CORO_DAEMON_SUPERVISOR_H
#define CORO_DAEMON_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "daemon/probe.h"

struct co;
struct co_cond;
struct co_sharestack;

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

#endif
