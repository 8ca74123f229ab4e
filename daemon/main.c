/* SPDX-License-Identifier: MIT */
/*
 * main.c: coro-runnerd, the job runner daemon (SPEC §1, §4, §6).
 *
 * One thread, one event loop. main() parses the command line, raises the
 * descriptor limit, loads the configuration and hands over to coroutines:
 *
 *   - "main": starts the supervisor, the control socket and the metrics,
 *     tells systemd READY=1, then serves signals from a signalfd (SIGHUP
 *     reload, SIGTERM/SIGINT stop, SIGUSR1 a stats line);
 *   - "watchdog": WATCHDOG=1 at half systemd's interval, from the loop
 *     itself, so a stalled loop is what systemd sees;
 *   - "ticker": once a second, a lag sample and a fresh STATUS= if it changed;
 *   - one per job (core/schedule.c), per control client (control/) and per
 *     metrics client (http/).
 *
 * main.c is the root that wires the rooms together: it alone includes
 * control/control.h and http/http.h; they reach the daemon only through
 * core/core.h and the operations table below (struct daemon_ops).
 *
 * The loop's function releases ended job coroutines before each round and
 * ends the loop once a stop has finished.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "config/config.h"
#include "coro/coro.h"
#include "daemon/control/control.h"
#include "daemon/core/core.h"
#include "daemon/fleet/fleet.h"
#include "daemon/history/history.h"
#include "daemon/http/http.h"
#include "daemon/notify/notify.h"

#ifndef CORO_VERSION
#define CORO_VERSION "unknown"
#endif

#define STOP_WAIT_MS 1500 /* SIGTERM: how long runs get to unwind after their cancel */
#define NOTIFY_STOP_WAIT_MS 1000 /* ... and deliveries in flight (they stay queued) */

static struct {
	struct daemon d;
	struct config *initial;       /* loaded in main(), handed to the supervisor */
	char *state_file;
	bool done;                    /* the loop ends */
	int exit_code;
	char status[256];             /* the last STATUS= sent */
	struct co *watchdog, *ticker;
} g;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: coro-runnerd [OPTION]...\n"
		"Run the jobs of coro-runner's configuration: probes and commands on schedules.\n"
		"\n"
		"  -c, --config FILE      main configuration file (default " DEFAULT_CONFIG ")\n"
		"  -d, --dropin-dir DIR   drop-in directory of *.yaml files; may repeat, replaces\n"
		"                         the default (" DEFAULT_DROPIN_DIR ")\n"
		"  -s, --socket PATH      control socket (default " DEFAULT_SOCKET ")\n"
		"      --state-dir DIR    state: jobs added with coctl add, saved results\n"
		"                         (default " DEFAULT_STATE_DIR ")\n"
		"      --metrics HOST:PORT  serve /metrics there, whatever the configuration says\n"
		"      --check            check the configuration and exit (0 valid, 1 not)\n"
		"  -v, --verbose          log debug messages too\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n"
		"\n"
		"Signals: SIGHUP reloads the configuration, SIGTERM or SIGINT stops, SIGUSR1 logs\n"
		"a line of figures. Started by systemd (Type=notify), it reports READY=1, STATUS=,\n"
		"WATCHDOG=1, RELOADING=1 and STOPPING=1, and logs to the journal.\n"
		"See coro-runnerd(8), coro-runner.yaml(5) and coctl(1).\n");
}

/* ---- systemd ------------------------------------------------------------ */

static void notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void notify(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* Without NOTIFY_SOCKET this does nothing. */
	sd_notify(0, buf);
}

static void status_text(char *buf, size_t size)
{
	struct sup_stats st;
	struct history_stats hs;
	int n;

	sup_get_stats(g.d.sup, &st);
	if (g.d.fleet) {
		struct fleet_stats fs;

		fleet_get_stats(g.d.fleet, &fs);
		n = snprintf(buf, size, "%zu jobs, %zu failing; fleet member %s: %s, owns %zu of %zu",
			     st.jobs, st.jobs_down, fs.member, fs.state, fs.jobs_owned, fs.jobs);
	} else {
		n = snprintf(buf, size, "%zu jobs, %zu failing", st.jobs, st.jobs_down);
	}
	history_get_stats(g.d.history, &hs);
	if (hs.enabled && !hs.working && n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "; no history: %s", hs.error ? hs.error : "?");
}

static void update_status(struct daemon *d)
{
	char text[256];

	(void)d;
	status_text(text, sizeof text);
	if (strcmp(text, g.status) == 0)
		return;
	snprintf(g.status, sizeof g.status, "%s", text);
	notify("STATUS=%s", text);
}

/* ---- configuration ------------------------------------------------------ */

static int load(struct config **ret, struct cfg_errors *errs)
{
	return config_load(g.d.config_file, g.d.dirs, g.d.ndirs, ret, errs);
}

static void log_errors(const struct cfg_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_msg(LOG_ERR, "%s", errs->v[i].text);
	if (errs->total > errs->n)
		log_msg(LOG_ERR, "... and %zu more errors", errs->total - errs->n);
}

static const char *metrics_address(const struct config *cfg)
{
	return g.d.metrics_listen ? g.d.metrics_listen : cfg->metrics_listen;
}

static int reload(struct daemon *d, struct cfg_errors *errs)
{
	struct cfg_errors local = { 0 };
	struct cfg_errors *e = errs ? errs : &local;
	size_t added, changed, removed;
	struct config *cfg = NULL;
	char *listen;
	int ret;

	notify("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
	       (unsigned long long)sup_mono_ms() * 1000);
	ret = load(&cfg, e);
	if (ret < 0) {
		size_t n = e->total ? e->total : 1;

		if (ret == -EINVAL)
			log_msg(LOG_ERR, "reload failed: %zu error%s in the configuration; "
				"keeping the running one", n, n == 1 ? "" : "s");
		else
			log_msg(LOG_ERR, "reload failed: cannot read the configuration (%s); "
				"keeping the running one", strerror(-ret));
		log_errors(e);
		sup_note_reload(d->sup, false);
		status_text(g.status, sizeof g.status);
		notify("READY=1\nSTATUS=reload failed: %zu error%s, running the previous "
		       "configuration (%s)", n, n == 1 ? "" : "s", g.status);
		g.status[0] = '\0';
		cfg_errors_free(&local);
		return ret;
	}
	listen = metrics_address(cfg) ? strdup(metrics_address(cfg)) : NULL;
	if (!cfg->fleet != !d->fleet)
		log_msg(LOG_WARNING, "reload: the fleet section %s: that takes effect at the "
			"next start", cfg->fleet ? "was added" : "was removed");
	if (d->notify && notify_configure(d->notify, cfg) < 0)
		log_msg(LOG_ERR, "reload: out of memory: the notifiers keep their old settings");
	/* Before sup_apply, which takes cfg. */
	web_configure(d, cfg->web, listen);
	sup_apply(d->sup, cfg, &added, &changed, &removed);
	if (d->fleet)
		fleet_reloaded(d->fleet);
	sup_note_reload(d->sup, true);
	log_msg(LOG_NOTICE, "reloaded: %zu added, %zu changed, %zu removed", added, changed,
		removed);
	metrics_configure(d, listen);
	free(listen);
	status_text(g.status, sizeof g.status);
	notify("READY=1\nSTATUS=%s", g.status);
	cfg_errors_free(&local);
	return 0;
}

static void request_stop(struct daemon *d)
{
	d->stopping = true;
}

/* What the servers may ask of the daemon (core.h). */
static const struct daemon_ops ops = {
	.reload = reload,
	.request_stop = request_stop,
	.update_status = update_status,
};

/* ---- coroutines --------------------------------------------------------- */

static void stats_line(void)
{
	struct sup_stats st;
	struct co_stats cs;

	sup_get_stats(g.d.sup, &st);
	co_get_stats(&cs);
	log_msg(LOG_INFO,
		"stats: jobs=%zu running=%zu paused=%zu down=%zu runs=%llu failures=%llu "
		"skipped=%llu coroutines=%zu sharestacks=%u saved_stack_bytes=%zu switches=%llu "
		"lag_p99_us=%llu lag_max_us=%llu lag_samples=%llu rss_bytes=%llu",
		st.jobs, st.jobs_running, st.jobs_paused, st.jobs_down,
		(unsigned long long)st.runs, (unsigned long long)st.failures,
		(unsigned long long)st.skipped, cs.coroutines, cs.sharestacks,
		cs.saved_stack_bytes, cs.switches, (unsigned long long)st.lag_p99_us,
		(unsigned long long)st.lag_max_us, (unsigned long long)st.lag_samples,
		(unsigned long long)daemon_rss_bytes());
}

static void stop(void)
{
	int ret;

	notify("STOPPING=1\nSTATUS=stopping");
	log_msg(LOG_NOTICE, "stopping");
	g.d.stopping = true;
	control_stop(&g.d);
	web_stop(&g.d);
	metrics_stop(&g.d);
	/* First, so that the other members take over this one's fleet jobs at once. */
	fleet_stop(g.d.fleet, STOP_WAIT_MS);
	sup_stop(g.d.sup, STOP_WAIT_MS);
	if (!sup_stopped(g.d.sup))
		log_msg(LOG_WARNING, "some runs had not ended %d ms after their cancel",
			STOP_WAIT_MS);
	/* Last: events of the stop are queued, and every queue goes to notify.json. */
	notify_stop(g.d.notify, NOTIFY_STOP_WAIT_MS);
	/* The writer commits what is queued, then its thread ends. */
	history_stop(g.d.history);
	if (g.state_file) {
		ret = sup_save_state(g.d.sup, g.state_file);
		if (ret < 0)
			log_msg(LOG_ERR, "cannot write the state file %s: %s", g.state_file,
				strerror(-ret));
	}
	log_msg(LOG_NOTICE, "stopped");
	g.done = true;
}

static void *watchdog_main(void *arg)
{
	uint64_t usec = *(uint64_t *)arg;

	co_enable_hook_sys();
	while (!g.done && !g.d.stopping) {
		notify("WATCHDOG=1");
		poll(NULL, 0, (int)(usec / 2000 ? usec / 2000 : 1));
	}
	return NULL;
}

static void *ticker_main(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	while (!g.done && !g.d.stopping) {
		struct timespec a, b;
		long long late;

		clock_gettime(CLOCK_MONOTONIC, &a);
		poll(NULL, 0, 1000);
		clock_gettime(CLOCK_MONOTONIC, &b);
		late = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000 - 1000000;
		sup_note_lag(g.d.sup, late > 0 ? (uint64_t)late : 0);
		if (!g.d.stopping)
			daemon_update_status(&g.d);
	}
	return NULL;
}

static int open_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static struct co *spawn(co_fn *fn, void *arg, const char *name)
{
	struct co_attr attr = { 128 * 1024, NULL };
	struct co *co;

	if (co_create(&co, &attr, fn, arg) < 0)
		return NULL;
	co_set_name(co, name);
	co_resume(co);
	return co;
}

static void *main_co(void *arg)
{
	static uint64_t wd_usec;
	int sfd = *(int *)arg;
	struct sup_stats st;
	char *listen;

	co_enable_hook_sys();
	listen = metrics_address(g.initial) ? strdup(metrics_address(g.initial)) : NULL;
	/* Before sup_apply, which takes the configuration. */
	web_configure(&g.d, g.initial->web, listen);
	sup_apply(g.d.sup, g.initial, NULL, NULL, NULL);
	g.initial = NULL;
	if (g.state_file)
		sup_load_state(g.d.sup, g.state_file);
	/* After the state file: a job restored down is not a transition. */
	if (notify_start(g.d.notify) < 0)
		log_msg(LOG_ERR, "notify: cannot start: out of memory");
	history_start(g.d.history);
	if (control_start(&g.d) < 0) {
		free(listen);
		g.exit_code = 1;
		sup_stop(g.d.sup, STOP_WAIT_MS);
		g.done = true;
		return NULL;
	}
	/* A metrics address that cannot be bound is logged; the jobs run anyway. */
	metrics_configure(&g.d, listen);
	free(listen);
	/* The fleet joins in the background: local jobs never wait for etcd. */
	if (g.d.fleet && fleet_start(g.d.fleet) < 0)
		log_msg(LOG_ERR, "fleet: cannot start: out of memory");
	sup_get_stats(g.d.sup, &st);
	log_msg(LOG_INFO, "started: %zu job%s, control socket %s", st.jobs,
		st.jobs == 1 ? "" : "s", g.d.socket_path);
	status_text(g.status, sizeof g.status);
	notify("READY=1\nSTATUS=%s\nMAINPID=%ld", g.status, (long)getpid());
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		g.watchdog = spawn(watchdog_main, &wd_usec, "watchdog");
	g.ticker = spawn(ticker_main, NULL, "ticker");

	while (!g.d.stopping) {
		struct pollfd pfd = { sfd, POLLIN, 0 };
		struct signalfd_siginfo si;

		poll(&pfd, 1, 1000);
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			switch (si.ssi_signo) {
			case SIGHUP:
				log_msg(LOG_INFO, "SIGHUP: reloading the configuration");
				daemon_reload(&g.d, NULL);
				break;
			case SIGUSR1:
				stats_line();
				break;
			default:
				g.d.stopping = true;
				break;
			}
		}
	}
	stop();
	return NULL;
}

static int loop_fn(void *arg)
{
	(void)arg;
	if (g.d.sup)
		sup_reap(g.d.sup);
	return g.done ? -1 : 0;
}

/* ---- start -------------------------------------------------------------- */

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_msg(LOG_WARNING, "cannot raise the open-file limit to %llu: %s",
			(unsigned long long)rl.rlim_max, strerror(errno));
}

/*
 * The notifications: the instance label of local jobs' alerts is the fleet
 * member's name or the host's; a fleet job's is the fleet's (its prefix
 * without slashes), the same on every member, so that its alert does not
 * change when it moves.
 */
static struct notify *new_notify(const struct config *cfg)
{
	char host[256] = "localhost", fleet[160] = "", *p = fleet;
	struct notify *n;

	if (gethostname(host, sizeof host - 1) < 0)
		snprintf(host, sizeof host, "localhost");
	if (cfg->fleet) {
		for (const char *s = cfg->fleet->prefix; *s && p < fleet + sizeof fleet - 1; s++)
			if (*s != '/' || (p > fleet && s[1]))
				*p++ = *s;
		*p = '\0';
		if (!*fleet)
			snprintf(fleet, sizeof fleet, "fleet");
	}
	n = notify_new(&g.d, g.state_file ? g.d.state_dir : NULL,
		       cfg->fleet ? cfg->fleet->member : host, cfg->fleet ? fleet : NULL);
	if (n && notify_configure(n, cfg) < 0) {
		notify_free(n);
		return NULL;
	}
	return n;
}

/* Makes the state directory and its jobs.d if missing; failing is a warning. */
static void prepare_state_dir(void)
{
	if (mkdir(g.d.state_dir, 0750) < 0 && errno != EEXIST) {
		log_msg(LOG_WARNING, "cannot create the state directory %s: %s; results will "
			"not be kept across restarts", g.d.state_dir, strerror(errno));
		return;
	}
	if (mkdir(g.d.state_jobs_dir, 0750) < 0 && errno != EEXIST)
		log_msg(LOG_WARNING, "cannot create %s: %s", g.d.state_jobs_dir,
			strerror(errno));
	if (asprintf(&g.state_file, "%s/state.json", g.d.state_dir) < 0)
		g.state_file = NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dropin-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "check", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0, 0, 0, 0 },
	};
	const char **dirs = calloc((size_t)argc + 2, sizeof *dirs);
	struct cfg_errors errs = { 0 };
	bool check = false;
	size_t ndirs = 0;
	int opt, sfd, ret;
	struct co *co;

	if (!dirs) {
		fprintf(stderr, "coro-runnerd: out of memory\n");
		return 1;
	}
	g.d.ops = &ops;
	g.d.config_file = DEFAULT_CONFIG;
	g.d.socket_path = DEFAULT_SOCKET;
	g.d.state_dir = DEFAULT_STATE_DIR;
	while ((opt = getopt_long(argc, argv, "c:d:s:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			g.d.config_file = optarg;
			break;
		case 'd':
			dirs[ndirs++] = optarg;
			break;
		case 's':
			g.d.socket_path = optarg;
			break;
		case 'S':
			g.d.state_dir = optarg;
			break;
		case 'M':
			g.d.metrics_listen = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			free(dirs);
			return 0;
		case 'V':
			printf("coro-runnerd %s\n", CORO_VERSION);
			free(dirs);
			return 0;
		default:
			fprintf(stderr, "Try 'coro-runnerd --help' for more information.\n");
			free(dirs);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "coro-runnerd: unexpected argument '%s'\n"
			"Try 'coro-runnerd --help' for more information.\n", argv[optind]);
		free(dirs);
		return 2;
	}
	if (!ndirs)
		dirs[ndirs++] = DEFAULT_DROPIN_DIR;
	if (asprintf(&g.d.state_jobs_dir, "%s/jobs.d", g.d.state_dir) < 0)
		return 1;
	dirs[ndirs++] = g.d.state_jobs_dir;
	g.d.dirs = dirs;
	g.d.ndirs = ndirs;
	g.d.uid = getuid();

	log_init();
	ret = load(&g.initial, &errs);
	if (check) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i].text);
		if (ret == 0)
			printf("%s: %zu job%s, configuration valid\n", g.d.config_file,
			       g.initial->njobs, g.initial->njobs == 1 ? "" : "s");
		cfg_errors_free(&errs);
		config_free(g.initial);
		free(g.d.state_jobs_dir);
		free(dirs);
		return ret == 0 ? 0 : 1;
	}
	if (ret < 0) {
		log_msg(LOG_ERR, "the configuration has %zu error%s; not starting",
			errs.total ? errs.total : 1, errs.total == 1 ? "" : "s");
		log_errors(&errs);
		cfg_errors_free(&errs);
		free(g.d.state_jobs_dir);
		free(dirs);
		return 1;
	}
	cfg_errors_free(&errs);

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sfd = open_signalfd();
	if (sfd < 0) {
		log_msg(LOG_ERR, "signalfd: %s", strerror(errno));
		return 1;
	}
	prepare_state_dir();
	g.d.start_wall_ms = sup_wall_ms();
	g.d.start_mono_ms = sup_mono_ms();
	g.d.sup = sup_new(NULL);
	if (!g.d.sup) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	if (g.initial->fleet &&
	    !(g.d.fleet = fleet_new(&g.d, g.initial->fleet, metrics_address(g.initial)))) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	if (!(g.d.notify = new_notify(g.initial))) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	/* A database that cannot be opened is logged: the daemon runs on without history. */
	if (!(g.d.history = history_new(&g.d, g.initial->history,
					g.state_file ? g.d.state_dir : NULL))) {
		log_msg(LOG_ERR, "out of memory");
		return 1;
	}
	co = spawn(main_co, &sfd, "main");
	if (!co) {
		log_msg(LOG_ERR, "cannot create the main coroutine: out of memory");
		return 1;
	}
	co_eventloop(co_get_epoll_ct(), loop_fn, NULL);

	co_release(co);
	co_release(g.watchdog);
	co_release(g.ticker);
	sup_reap(g.d.sup);
	fleet_free(g.d.fleet);
	notify_free(g.d.notify);
	history_free(g.d.history);
	sup_free(g.d.sup);
	close(sfd);
	free(g.state_file);
	free(g.d.state_jobs_dir);
	free(dirs);
	return g.exit_code;
}
