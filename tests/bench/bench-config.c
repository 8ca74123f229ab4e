/* SPDX-License-Identifier: MIT */
/*
 * bench-config: parsing and validating job files of 1k, 10k and 100k jobs.
 *
 *   bench-config                  the standard run: every size, timings
 *                                 against the libyaml baseline, then peak
 *                                 memory per size in a fresh process
 *   bench-config time RUNS        the same with RUNS timing runs per size
 *   bench-config gen COUNT FILE   writes the file of COUNT jobs used here
 *   bench-config load FILE [N]    loads FILE N times, prints the median ms
 *                                 (for profiling by hand, or callgrind)
 *   bench-config peak FILE        one load in this process: memory figures
 *                                 (what the standard run executes per size)
 *   bench-config count WHAT N     callgrind mode: config_load_buffer()
 *                                 (WHAT config) or libyaml's event parse
 *                                 (WHAT libyaml) of N generated jobs, once
 *   bench-config has-client-requests   exit 0 if built with valgrind's
 *                                 client requests (see count_mode)
 *
 * The files are generated into a temporary directory (TMPDIR, default
 * /tmp), removed at exit: a realistic mix of 40% http, 30% tcp, 15% dns
 * and 15% exec jobs, each with two to four labels; http jobs with two to
 * four headers, some with a body, a status list, a substring or a regex to
 * expect; exec jobs with argument lists, some with an environment and a
 * working directory; a `defaults` block that about a third of the jobs
 * lean on for `every`. About 256 bytes a job, 25.6 MB for 100k.
 *
 * What is timed: config_load() of the file (read, parse, validate, build
 * the structures), as the daemon does at start; config_free() after it is
 * not timed. The baseline, in the same process and interleaved with it
 * (order alternating from run to run): read the same file and run
 * libyaml's parser over it to the end, event by event, building nothing.
 * That is the floor of any loader built on libyaml; the ratio says what
 * the schema, the checks and the structures cost on top.
 *
 * Peak memory: for each size, this program is executed afresh ("peak"
 * mode, a new process image, so its VmHWM starts from nothing of the
 * parent's); it reads VmRSS, loads the file once, then reads VmHWM, VmRSS
 * and malloc's own count (mallinfo2). The figure is VmHWM - VmRSS before:
 * the most the load ever had resident, file buffer and parser included.
 * What stays resident after the load is shown beside it, before and after
 * malloc_trim(0) (the difference: memory the load freed that the
 * allocator kept), with the live heap of the configuration per job.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "config/config.h"
#include "tests/bench/bench.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CLIENT_REQUESTS 1
#endif
#endif
#if !defined(HAVE_CLIENT_REQUESTS)
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

/* The sizes of the standard run, with their timing runs and headline names. */
struct size {
	long jobs;
	int runs;           /* timing runs (after one untimed warm-up load) */
	const char *tag;    /* "1k": config_parse_1k_ms, config_peak_rss_1k_mb */
};

static const struct size sizes[] = {
	{ 1000, 21, "1k" },
	{ 10000, 11, "10k" },
	{ 100000, 5, "100k" },
};

#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* Past this many seconds for a warm-up load, a size gets 3 timing runs. */
#define SLOW_LOAD_S 2.0

/* ---- the generated files ----------------------------------------------- */

static char tmpdir[4096];
static char tmpfiles[NSIZES][4096 + 32];

static void cleanup(void)
{
	for (int i = 0; i < NSIZES; i++) {
		if (tmpfiles[i][0])
			unlink(tmpfiles[i]);
	}
	if (tmpdir[0])
		rmdir(tmpdir);
}

/* xorshift64*, seeded from COUNT: the same file for the same COUNT. */
static uint64_t rnd_state;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return (unsigned)((rnd_state * UINT64_C(2685821657736338717)) >> 33) % n;
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

static const char *const teams[] = { "web", "api", "payments", "search", "data",
				     "infra", "ops", "mobile" };
static const char *const envs[] = { "prod", "staging", "dev" };
static const char *const regions[] = { "eu-west-1", "eu-central-1", "us-east-1" };
static const char *const everys[] = { "10s", "15s", "30s", "1m", "5m" };
static const char *const timeouts[] = { "1s", "2s", "3s", "5s", "2500ms" };

/* Labels, in block or flow style; every job has team and env. */
static void gen_labels(FILE *f, const char *team)
{
	const char *env = PICK(envs);

	if (rnd(2)) {
		fprintf(f, "    labels: {team: %s, env: %s", team, env);
		if (rnd(3) == 0)
			fprintf(f, ", region: %s", PICK(regions));
		fputs("}\n", f);
	} else {
		fprintf(f, "    labels:\n      team: %s\n      env: %s\n", team, env);
		if (rnd(2))
			fprintf(f, "      tier: \"%u\"\n", 1 + rnd(3));
		if (rnd(3) == 0)
			fprintf(f, "      region: %s\n", PICK(regions));
	}
}

/* The timing keys every kind of job may have; a third use the defaults' every. */
static void gen_schedule(FILE *f, int slow)
{
	if (slow) {
		fprintf(f, "    every: %s\n    timeout: %s\n", rnd(2) ? "5m" : "1h", rnd(2) ? "30s" : "2m");
	} else if (rnd(3)) {
		fprintf(f, "    every: %s\n", PICK(everys));
		if (rnd(2))
			fprintf(f, "    timeout: %s\n", PICK(timeouts));
	}
	switch (rnd(6)) {
	case 0:
		fputs("    jitter: 10%\n", f);
		break;
	case 1:
		fputs("    jitter: 500ms\n", f);
		break;
	case 2:
		fprintf(f, "    retries: %u\n    retry_delay: %s\n", 1 + rnd(3), rnd(2) ? "1s" : "250ms");
		break;
	case 3:
		fprintf(f, "    failures_before_down: %u\n    successes_before_up: %u\n", 2 + rnd(4),
			1 + rnd(2));
		break;
	}
	if (rnd(50) == 0)
		fputs("    enabled: false\n", f);
}

static void gen_http(FILE *f, long i, const char *team)
{
	static const char *const paths[] = { "/health", "/healthz", "/ready?full=1", "/api/v1/status",
					     "/" };

	fprintf(f, "  - name: http-%s-%06ld\n    type: http\n", team, i);
	if (rnd(3))
		fprintf(f, "    url: https://svc-%u.%s.internal:8443%s\n", rnd(500), team, PICK(paths));
	else
		fprintf(f, "    url: http://10.%u.%u.%u:8080%s\n", rnd(256), rnd(256), 1 + rnd(254),
			PICK(paths));
	switch (rnd(10)) {
	case 0:
		fputs("    method: HEAD\n", f);
		break;
	case 1:
		fputs("    method: POST\n    body: '{\"probe\": true}'\n", f);
		break;
	default:
		if (rnd(2))
			fputs("    method: GET\n", f);
	}
	fputs("    headers:\n      Accept: application/json\n      User-Agent: coro-runner/0.1\n", f);
	if (rnd(2))
		fprintf(f, "      X-Probe-Id: \"%ld\"\n", i);
	if (rnd(4) == 0)
		fprintf(f, "      Authorization: \"Bearer %08x%08x\"\n", rnd(1u << 31), rnd(1u << 31));
	switch (rnd(4)) {
	case 0:
		fputs("    expect_status: [200, 204]\n", f);
		break;
	case 1:
		fputs("    expect_status: [200]\n", f);
		break;
	}
	if (rnd(3) == 0)
		fputs("    expect_body: \"ok\"\n", f);
	else if (rnd(20) == 0)
		fputs("    expect_body_regex: '\"status\": *\"(ok|up)\"'\n", f);
	if (rnd(10) == 0)
		fputs("    tls_verify: false\n", f);
	if (rnd(10) == 0)
		fputs("    follow_redirects: true\n", f);
	gen_schedule(f, 0);
	gen_labels(f, team);
}

static void gen_tcp(FILE *f, long i, const char *team)
{
	fprintf(f, "  - name: tcp-%s-%06ld\n    type: tcp\n", team, i);
	switch (rnd(4)) {
	case 0:
		fprintf(f, "    target: redis-%u.%s.internal:6379\n    send: \"PING\\r\\n\"\n"
			   "    expect: \"+PONG\"\n", rnd(100), team);
		break;
	case 1:
		fprintf(f, "    target: 10.%u.%u.%u:22\n    expect: \"SSH-2.0\"\n", rnd(256), rnd(256),
			1 + rnd(254));
		break;
	case 2:
		fprintf(f, "    target: \"[fd00::%x]:443\"\n", 1 + rnd(0xfffe));
		break;
	default:
		fprintf(f, "    target: db-%u.%s.internal:5432\n", rnd(100), team);
	}
	gen_schedule(f, 0);
	gen_labels(f, team);
}

static void gen_dns(FILE *f, long i, const char *team)
{
	static const char *const records[] = { "A", "AAAA", "MX", "TXT", "SRV", "CNAME" };

	fprintf(f, "  - name: dns-%s-%06ld\n    type: dns\n    query: host-%ld.%s.example.org\n", team,
		i, i, team);
	if (rnd(3))
		fprintf(f, "    record: %s\n", PICK(records));
	if (rnd(2))
		fprintf(f, "    server: 10.0.%u.2:53\n", rnd(16));
	if (rnd(4) == 0)
		fputs("    expect_rcode: NOERROR\n", f);
	if (rnd(5) == 0)
		fputs("    expect_answer: \"10.\"\n", f);
	gen_schedule(f, 0);
	gen_labels(f, team);
}

static void gen_exec(FILE *f, long i, const char *team)
{
	fprintf(f, "  - name: exec-%s-%06ld\n    type: exec\n", team, i);
	switch (rnd(3)) {
	case 0:
		fputs("    command: [\"/usr/lib/nagios/plugins/check_disk\", \"-w\", \"20%\", \"-c\", "
		      "\"10%\", \"-p\", \"/var\"]\n", f);
		break;
	case 1:
		fprintf(f, "    command:\n      - /usr/local/bin/backup-verify\n      - --quick\n"
			   "      - --set=%ld\n", i);
		break;
	default:
		fputs("    command: [/usr/lib/nagios/plugins/check_load, -w, \"5,4,3\", -c, "
		      "\"10,8,6\"]\n", f);
	}
	if (rnd(3) == 0)
		fputs("    env:\n      LC_ALL: C\n      PATH: /usr/local/bin:/usr/bin:/bin\n", f);
	if (rnd(3) == 0)
		fputs("    workdir: /var/tmp\n", f);
	if (rnd(4) == 0)
		fputs("    output_limit: 4096\n", f);
	if (rnd(4) == 0)
		fputs("    kill_grace: 2s\n", f);
	gen_schedule(f, 1);
	gen_labels(f, team);
}

/* Writes the file of count jobs to f (the same text for the same count). */
static void generate_to(FILE *f, long count)
{
	rnd_state = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)count;
	fprintf(f, "# bench-config: %ld generated jobs\n"
		   "defaults:\n  every: 30s\n  timeout: 5s\n  jitter: 5%%\n"
		   "metrics:\n  listen: 127.0.0.1:9464\n"
		   "jobs:\n", count);
	for (long i = 0; i < count; i++) {
		const char *team = PICK(teams);
		unsigned kind = (unsigned)(i % 20);

		if (kind < 8)
			gen_http(f, i, team);
		else if (kind < 14)
			gen_tcp(f, i, team);
		else if (kind < 17)
			gen_dns(f, i, team);
		else
			gen_exec(f, i, team);
	}
}

static void generate(const char *path, long count)
{
	FILE *f = fopen(path, "we");

	if (!f)
		bench_die("%s: %s", path, strerror(errno));
	generate_to(f, count);
	if (fflush(f) != 0 || ferror(f) || fclose(f) != 0)
		bench_die("writing %s: %s", path, strerror(errno));
}

static double file_mb(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		bench_die("%s: %s", path, strerror(errno));
	return (double)st.st_size / 1e6;
}

/* ---- what is timed ------------------------------------------------------ */

/* Exits with the loader's first errors: the generator and the schema disagree. */
__attribute__((noreturn))
static void die_load(const char *path, int rc, const struct cfg_errors *errs)
{
	fflush(stdout);
	fprintf(stderr, "bench: config_load(%s): %s, %zu errors\n", path, strerror(-rc),
		errs->total);
	for (size_t i = 0; i < errs->n && i < 10; i++)
		fprintf(stderr, "  %s\n", errs->v[i].text);
	exit(2);
}

/* One timed config_load of path, checked for want jobs; returns ns. */
static double time_config(const char *path, long want)
{
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;
	double t0, t;
	int rc;

	t0 = bench_now_ns();
	rc = config_load(path, NULL, 0, &cfg, &errs);
	t = bench_now_ns() - t0;
	if (rc < 0)
		die_load(path, rc, &errs);
	if ((long)cfg->njobs != want)
		bench_die("%s: %zu jobs loaded, %ld expected", path, cfg->njobs, want);
	config_free(cfg);
	cfg_errors_free(&errs);
	return t;
}

static char *read_file(const char *path, size_t *ret_len)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		bench_die("%s: %s", path, strerror(errno));
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		bench_die("out of memory for %s", path);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n <= 0)
			bench_die("reading %s: %s", path, n < 0 ? strerror(errno) : "short read");
		got += (size_t)n;
	}
	close(fd);
	*ret_len = got;
	return buf;
}

/* libyaml's parser over buf to the end, event by event; the number of events. */
static size_t parse_events(const char *path, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t events = 0;
	int done = 0;

	if (!yaml_parser_initialize(&parser))
		bench_die("yaml_parser_initialize failed");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev))
			bench_die("%s: libyaml: %s at line %zu", path, parser.problem,
				  parser.problem_mark.line + 1);
		done = ev.type == YAML_STREAM_END_EVENT;
		events++;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return events;
}

/* The baseline: read the file, run libyaml's parser to the end; returns ns. */
static double time_libyaml(const char *path)
{
	size_t len, events;
	double t0 = bench_now_ns();
	char *buf = read_file(path, &len);

	events = parse_events(path, buf, len);
	free(buf);
	bench_escape(&events);
	return bench_now_ns() - t0;
}

/* ---- peak memory, in a fresh process ------------------------------------ */

struct peak {
	long rss_before_kb; /* VmRSS before the load */
	long hwm_kb;        /* VmHWM after it */
	long rss_after_kb;  /* VmRSS with the configuration loaded */
	long rss_trim_kb;   /* the same after malloc_trim(0) */
	double heap_bytes;  /* mallinfo2 growth: what the configuration holds */
	double load_ms;     /* this one load, cold allocator */
};

/* "peak FILE": runs in the fresh process; prints one line for the parent. */
static int peak_here(const char *path)
{
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;
	struct peak p;
	size_t heap0;
	double t0;
	int rc;

	heap0 = mallinfo2().uordblks;
	p.rss_before_kb = bench_status_kb("VmRSS");
	t0 = bench_now_ns();
	rc = config_load(path, NULL, 0, &cfg, &errs);
	p.load_ms = (bench_now_ns() - t0) / 1e6;
	p.hwm_kb = bench_status_kb("VmHWM");
	p.rss_after_kb = bench_status_kb("VmRSS");
	p.heap_bytes = (double)mallinfo2().uordblks - (double)heap0;
	if (rc < 0)
		die_load(path, rc, &errs);
	malloc_trim(0);
	p.rss_trim_kb = bench_status_kb("VmRSS");
	if (p.rss_before_kb < 0 || p.hwm_kb < 0 || p.rss_after_kb < 0 || p.rss_trim_kb < 0)
		bench_die("no VmRSS or VmHWM in /proc/self/status");
	printf("PEAK %zu %ld %ld %ld %ld %.0f %.3f\n", cfg->njobs, p.rss_before_kb, p.hwm_kb,
	       p.rss_after_kb, p.rss_trim_kb, p.heap_bytes, p.load_ms);
	config_free(cfg);
	cfg_errors_free(&errs);
	return 0;
}

/* Executes this program afresh in "peak" mode on path and reads its figures. */
static struct peak peak_child(const char *path, long want)
{
	char line[256];
	struct peak p;
	size_t njobs;
	int fds[2], status, ok;
	FILE *in;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(fds[1], STDOUT_FILENO) < 0)
			_exit(127);
		execl("/proc/self/exe", "bench-config", "peak", path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	if (!in)
		bench_die("fdopen: %s", strerror(errno));
	ok = fgets(line, sizeof line, in) &&
	     sscanf(line, "PEAK %zu %ld %ld %ld %ld %lf %lf", &njobs, &p.rss_before_kb, &p.hwm_kb,
		    &p.rss_after_kb, &p.rss_trim_kb, &p.heap_bytes, &p.load_ms) == 7;
	fclose(in);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || !ok)
		bench_die("the peak-memory run on %s failed", path);
	if ((long)njobs != want)
		bench_die("%s: %zu jobs loaded in the peak run, %ld expected", path, njobs, want);
	return p;
}

/* ---- the standard run ----------------------------------------------------- */

struct result {
	struct bench_stats config;  /* ns per load */
	struct bench_stats libyaml; /* ns per read + event parse */
	double ratio;               /* median over runs of config / libyaml */
	int runs;
	double mb;                  /* file size */
};

static struct result measure(const struct size *s, const char *path, int runs)
{
	double cfg_ns[BENCH_RUNS_MAX], yaml_ns[BENCH_RUNS_MAX], ratio[BENCH_RUNS_MAX];
	struct result r;
	double warm;

	/* Warm-up, untimed: checks the file is valid and fills the page cache. */
	warm = time_config(path, s->jobs);
	time_libyaml(path);
	if (runs <= 0)
		runs = warm / 1e9 > SLOW_LOAD_S && s->runs > 3 ? 3 : s->runs;
	if (runs > BENCH_RUNS_MAX)
		runs = BENCH_RUNS_MAX;
	if (runs < 1)
		runs = 1;
	for (int i = 0; i < runs; i++) {
		if (i % 2 == 0) {
			cfg_ns[i] = time_config(path, s->jobs);
			yaml_ns[i] = time_libyaml(path);
		} else {
			yaml_ns[i] = time_libyaml(path);
			cfg_ns[i] = time_config(path, s->jobs);
		}
		ratio[i] = cfg_ns[i] / yaml_ns[i];
	}
	r.config = bench_stats_of(cfg_ns, runs);
	r.libyaml = bench_stats_of(yaml_ns, runs);
	r.ratio = bench_stats_of(ratio, runs).med;
	r.runs = runs;
	r.mb = file_mb(path);
	return r;
}

static void standard(int runs)
{
	struct result res[NSIZES];
	struct peak pk[NSIZES];
	char name[96];
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/bench-config.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		int err = errno;

		tmpdir[0] = '\0';
		bench_die("mkdtemp: %s", strerror(err));
	}
	atexit(cleanup);
	for (int i = 0; i < NSIZES; i++) {
		snprintf(tmpfiles[i], sizeof tmpfiles[i], "%s/jobs-%s.yaml", tmpdir, sizes[i].tag);
		generate(tmpfiles[i], sizes[i].jobs);
	}

	printf("Configuration: config_load() of one generated file (read, parse, validate,\n"
	       "build), against libyaml's event parse of the same file (read + yaml_parser_parse\n"
	       "to the end, nothing built) interleaved in the same run; median (min-max) ms.\n\n");
	printf("%8s %8s %5s %26s %9s %24s %7s\n", "jobs", "file MB", "runs", "config_load ms",
	       "us/job", "libyaml events ms", "ratio");
	for (int i = 0; i < NSIZES; i++) {
		struct result *r = &res[i];

		*r = measure(&sizes[i], tmpfiles[i], runs);
		printf("%8ld %8.1f %5d %9.2f (%6.2f-%7.2f) %9.2f %8.2f (%6.2f-%6.2f) %7.2f\n",
		       sizes[i].jobs, r->mb, r->runs, r->config.med / 1e6, r->config.min / 1e6,
		       r->config.max / 1e6, r->config.med / 1e3 / (double)sizes[i].jobs,
		       r->libyaml.med / 1e6, r->libyaml.min / 1e6, r->libyaml.max / 1e6, r->ratio);
		fflush(stdout);
	}

	printf("\nMemory: one load in a freshly executed process per size. Peak: VmHWM after the\n"
	       "load - VmRSS before it. Held: VmRSS growth with the configuration loaded, then\n"
	       "after malloc_trim(0) (what the allocator kept of the memory the load freed);\n"
	       "heap: malloc's count (mallinfo2) of what the configuration holds.\n\n");
	printf("%8s %8s %9s %10s %9s %10s %11s %10s\n", "jobs", "file MB", "peak MB", "peak/file",
	       "held MB", "trimmed MB", "heap B/job", "cold ms");
	for (int i = 0; i < NSIZES; i++) {
		struct peak *p = &pk[i];
		double peak_mb;

		*p = peak_child(tmpfiles[i], sizes[i].jobs);
		peak_mb = (double)(p->hwm_kb - p->rss_before_kb) / 1024.0;
		printf("%8ld %8.1f %9.1f %10.2f %9.1f %10.1f %11.0f %10.1f\n", sizes[i].jobs,
		       res[i].mb, peak_mb, peak_mb * 1.048576 / res[i].mb,
		       (double)(p->rss_after_kb - p->rss_before_kb) / 1024.0,
		       (double)(p->rss_trim_kb - p->rss_before_kb) / 1024.0,
		       p->heap_bytes / (double)sizes[i].jobs, p->load_ms);
		fflush(stdout);
	}

	for (int i = 0; i < NSIZES; i++) {
		snprintf(name, sizeof name, "config_parse_%s_ms", sizes[i].tag);
		bench_headline(name, res[i].config.med / 1e6, 2, "ms");
	}
	bench_headline("config_parse_100k_us_per_job", res[NSIZES - 1].config.med / 1e3 / 1e5, 2,
		       "us");
	bench_headline("libyaml_parse_100k_ms", res[NSIZES - 1].libyaml.med / 1e6, 2, "ms");
	bench_headline("config_parse_100k_vs_libyaml", res[NSIZES - 1].ratio, 2, "ratio");
	for (int i = 0; i < NSIZES; i++) {
		snprintf(name, sizeof name, "config_peak_rss_%s_mb", sizes[i].tag);
		bench_headline(name, (double)(pk[i].hwm_kb - pk[i].rss_before_kb) / 1024.0, 1, "MB");
	}
	bench_headline("config_heap_per_job_100k_bytes", pk[NSIZES - 1].heap_bytes / 1e5, 0,
		       "bytes");
}

/* "load FILE [N]": N loads (default 1) of any file; the median. */
static void load_only(const char *path, long n)
{
	double v[BENCH_RUNS_MAX];
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;
	long jobs;
	int rc;

	if (n > BENCH_RUNS_MAX)
		n = BENCH_RUNS_MAX;
	rc = config_load(path, NULL, 0, &cfg, &errs);
	if (rc < 0)
		die_load(path, rc, &errs);
	jobs = (long)cfg->njobs;
	config_free(cfg);
	cfg_errors_free(&errs);
	for (long i = 0; i < n; i++)
		v[i] = time_config(path, jobs);
	printf("%s: %ld jobs, %.2f ms median of %ld loads (first load untimed)\n", path, jobs,
	       bench_stats_of(v, (int)n).med / 1e6, n);
}

/*
 * "count WHAT N", for callgrind: generates N jobs in memory, then runs
 * config_load_buffer() ("config") or the libyaml event parse ("libyaml")
 * over them once. With valgrind's client requests, only that is
 * instrumented (run passes --instr-atstart=no): generation and teardown
 * cost nothing, and instructions(2N) - instructions(N) over N is the cost
 * per job.
 */
static int count_mode(const char *what, long n)
{
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0, events;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		bench_die("open_memstream: %s", strerror(errno));
	generate_to(f, n);
	if (fclose(f) != 0)
		bench_die("generating %ld jobs: %s", n, strerror(errno));
	if (strcmp(what, "config") == 0) {
		CALLGRIND_START_INSTRUMENTATION;
		rc = config_load_buffer("bench.yaml", buf, len, &cfg, &errs);
		CALLGRIND_STOP_INSTRUMENTATION;
		if (rc < 0)
			die_load("bench.yaml", rc, &errs);
		config_free(cfg);
		cfg_errors_free(&errs);
	} else if (strcmp(what, "libyaml") == 0) {
		CALLGRIND_START_INSTRUMENTATION;
		events = parse_events("bench.yaml", buf, len);
		CALLGRIND_STOP_INSTRUMENTATION;
		bench_escape(&events);
	} else {
		bench_die("count: expected config or libyaml, got \"%s\"", what);
	}
	free(buf);
	return 0;
}

static void usage(void)
{
	bench_die("usage: bench-config [time RUNS | gen COUNT FILE | load FILE [N] | peak FILE |\n"
		  "       count config|libyaml N | has-client-requests]");
}

int main(int argc, char **argv)
{
	if (argc == 1) {
		standard(0);
	} else if (strcmp(argv[1], "time") == 0 && argc == 3) {
		standard((int)bench_count(argv[2], "RUNS"));
	} else if (strcmp(argv[1], "gen") == 0 && argc == 4) {
		generate(argv[3], bench_count(argv[2], "COUNT"));
	} else if (strcmp(argv[1], "load") == 0 && (argc == 3 || argc == 4)) {
		load_only(argv[2], argc == 4 ? bench_count(argv[3], "N") : 1);
	} else if (strcmp(argv[1], "peak") == 0 && argc == 3) {
		return peak_here(argv[2]);
	} else if (strcmp(argv[1], "count") == 0 && argc == 4) {
		return count_mode(argv[2], bench_count(argv[3], "N"));
	} else if (strcmp(argv[1], "has-client-requests") == 0 && argc == 2) {
#if defined(HAVE_CLIENT_REQUESTS)
		return 0;
#else
		return 1;
#endif
	} else {
		usage();
	}
	return 0;
}
