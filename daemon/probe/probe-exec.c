/* SPDX-License-Identifier: MIT */
/*
 * probe-exec.c: an exec job. The command is started with posix_spawn (a
 * vfork-like clone: the daemon's address space is never copied), in a
 * process group of its own so that the whole group can be signalled, with
 * stdout and stderr into one pipe. The coroutine waits on the pipe and on a
 * pidfd with co_poll, so only it blocks. On timeout the group gets SIGTERM,
 * then SIGKILL after kill_grace; the child is always reaped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "coro/coro.h"
#include "daemon/probe/probe.h"

extern char **environ;

/* When pidfds are missing (Linux < 5.3), how often the child is checked. */
#define EXEC_POLL_FALLBACK_MS 20

struct exec_run {
	struct probe *p;
	int out;               /* the pipe's read end, or -1 at its end */
	size_t limit;          /* output_limit */
	char *buf;             /* cap + 1 bytes (heap), grown as output comes */
	size_t cap;
	size_t len;
	bool truncated;
	bool exited;           /* the child is a zombie (or reaped) */
	int status;            /* from waitpid */
	int term_sent;         /* 0, SIGTERM, SIGKILL: how far the timeout went */
};

static uint64_t now_ms(void)
{
	return probe_now_us() / 1000u;
}

/* The environment: ours, with the job's variables added or replaced (heap array, borrowed strings). */
static char **make_env(const struct job_exec *x, char **owned)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + x->nenv + 1, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;

		for (size_t j = 0; j < x->nenv && !replaced; j++) {
			size_t kl = strlen(x->env[j].key);

			replaced = strncmp(environ[i], x->env[j].key, kl) == 0 && environ[i][kl] == '=';
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < x->nenv; j++) {
		size_t size = strlen(x->env[j].key) + strlen(x->env[j].value) + 2;

		owned[j] = malloc(size);
		if (!owned[j]) {
			free(env);
			return NULL;
		}
		snprintf(owned[j], size, "%s=%s", x->env[j].key, x->env[j].value);
		env[k++] = owned[j];
	}
	env[k] = NULL;
	return env;
}

static int setup_attr(posix_spawnattr_t *attr)
{
	static const int defaults[] = { SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD,
					SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU,
					SIGXFSZ };
	sigset_t def, mask;

	sigemptyset(&def);
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		sigaddset(&def, defaults[i]);
	sigemptyset(&mask);
	if (posix_spawnattr_init(attr) != 0)
		return -ENOMEM;
	posix_spawnattr_setsigdefault(attr, &def);
	posix_spawnattr_setsigmask(attr, &mask);
	posix_spawnattr_setpgroup(attr, 0);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETSIGMASK);
	return 0;
}

static int setup_actions(posix_spawn_file_actions_t *fa, const struct job_exec *x, int in, int wr)
{
	int rc = posix_spawn_file_actions_init(fa);

	if (rc != 0)
		return -rc;
	if (in >= 0)
		rc = posix_spawn_file_actions_adddup2(fa, in, STDIN_FILENO);
	else
		rc = posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, wr, STDOUT_FILENO);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(fa, wr, STDERR_FILENO);
	/* Nothing of the daemon's beyond these three, even without O_CLOEXEC. */
	if (rc == 0)
		rc = posix_spawn_file_actions_addclosefrom_np(fa, STDERR_FILENO + 1);
	if (rc == 0 && x->workdir)
		rc = posix_spawn_file_actions_addchdir_np(fa, x->workdir);
	if (rc != 0) {
		posix_spawn_file_actions_destroy(fa);
		return -rc;
	}
	return 0;
}

/*
 * Whether name can be run: 0, or a positive errno. posix_spawn reports a
 * failed exec itself on glibc, but where the spawn is a real fork (under
 * valgrind, say) the same failure only shows as exit 127: checking first
 * gives the same error everywhere.
 */
static int check_program(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? 0 : errno;
	if (!path)
		path = "/bin:/usr/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		/* An empty element is the current directory. */
		if (snprintf(buf, sizeof buf, "%.*s%s%s", (int)n, path, n ? "/" : "", name) <
			    (int)sizeof buf &&
		    access(buf, X_OK) == 0)
			return 0;
		path += n + (path[n] == ':');
	}
	return ENOENT;
}

/* Starts the child; p->pid and r->out set. Returns 0, or a positive errno of the spawn. */
static int spawn(struct probe *p, struct exec_run *r)
{
	const struct job_exec *x = &p->job->u.exec;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **owned, **env;
	int pipefd[2], rc;
	pid_t pid;

	rc = check_program(x->argv[0]);
	if (rc != 0)
		return rc;
	owned = calloc(x->nenv + 1, sizeof *owned);
	if (!owned)
		return ENOMEM;
	env = make_env(x, owned);
	if (!env) {
		rc = ENOMEM;
		goto fail_env;
	}
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = errno;
		goto fail_pipe;
	}
	rc = -setup_actions(&fa, x, p->stdin_fd, pipefd[1]);
	if (rc != 0)
		goto fail_actions;
	rc = -setup_attr(&attr);
	if (rc != 0)
		goto fail_attr;
	/* posix_spawnp searches PATH only for a name without a slash. */
	rc = posix_spawnp(&pid, x->argv[0], &fa, &attr, x->argv, env);
	if (rc == 0) {
		p->pid = pid;
		r->out = pipefd[0];
	}
	posix_spawnattr_destroy(&attr);
fail_attr:
	posix_spawn_file_actions_destroy(&fa);
fail_actions:
	close(pipefd[1]);
	if (rc != 0)
		close(pipefd[0]);
fail_pipe:
	free(env);
fail_env:
	for (size_t i = 0; i < x->nenv; i++)
		free(owned[i]);
	free(owned);
	return rc;
}

/* Makes room for more output, up to the limit; false if there is none. */
static bool grow(struct exec_run *r)
{
	size_t cap;
	char *b;

	if (r->len < r->cap)
		return true;
	if (r->cap >= r->limit)
		return false;
	cap = r->cap ? r->cap * 2 : 4096;
	if (cap > r->limit)
		cap = r->limit;
	b = realloc(r->buf, cap + 1);
	if (!b)
		return false;
	r->buf = b;
	r->cap = cap;
	return true;
}

/* Reads what the pipe holds now; keeps up to the limit and drops the rest. */
static void drain(struct exec_run *r)
{
	char scratch[4096];

	while (r->out >= 0) {
		bool keep = grow(r);
		ssize_t n = keep ? read(r->out, r->buf + r->len, r->cap - r->len)
				 : read(r->out, scratch, sizeof scratch);

		if (n > 0) {
			if (keep)
				r->len += (size_t)n;
			else
				r->truncated = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* End of file (or an error): nobody writes any more. */
		close(r->out);
		r->out = -1;
	}
}

/*
 * The child has exited (or is being given up on): kill what is left of its
 * group while the leader's zombie still holds the group's id (so the id
 * cannot belong to anyone else yet), then reap it.
 */
static void reap(struct probe *p, struct exec_run *r)
{
	kill(-p->pid, SIGKILL);
	drain(r);
	while (waitpid(p->pid, &r->status, 0) < 0 && errno == EINTR)
		;
	r->exited = true;
}

/* Whether the child has exited, without reaping it. */
static bool child_exited(struct probe *p)
{
	siginfo_t si = { 0 };

	return waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

static void signal_group(struct probe *p, struct exec_run *r, int sig)
{
	kill(-p->pid, sig);
	r->term_sent = sig;
}

/* Waits for the child, reading its output, within the timeout and the grace. */
static void wait_child(struct probe *p, struct exec_run *r)
{
	uint64_t deadline = now_ms() + p->job->timeout_ms;
	uint64_t grace = p->job->u.exec.kill_grace_ms;

	while (!r->exited) {
		struct pollfd fds[2];
		nfds_t n = 0;
		uint64_t now = now_ms();
		int timeout;

		if (p->cancelled && r->term_sent != SIGKILL) {
			/* probe_cancel killed the leader; the rest of its group goes too. */
			signal_group(p, r, SIGKILL);
			deadline = now + 1000;
		}
		if (now >= deadline) {
			if (r->term_sent == 0) {
				signal_group(p, r, SIGTERM);
				deadline = now + grace;
			} else if (r->term_sent == SIGTERM) {
				signal_group(p, r, SIGKILL);
				deadline = now + 1000;
			} else {
				/* Killed a second ago and still there: wait in earnest. */
				reap(p, r);
				break;
			}
			continue;
		}
		/* A timeout of weeks does not fit poll's int: wake once a minute. */
		timeout = deadline - now > 60000 ? 60000 : (int)(deadline - now);
		if (p->pidfd >= 0)
			fds[n++] = (struct pollfd){ .fd = p->pidfd, .events = POLLIN };
		else if (timeout > EXEC_POLL_FALLBACK_MS)
			timeout = EXEC_POLL_FALLBACK_MS;
		if (r->out >= 0)
			fds[n++] = (struct pollfd){ .fd = r->out, .events = POLLIN };
		co_poll(co_get_epoll_ct(), fds, n, timeout);
		drain(r);
		if (child_exited(p))
			reap(p, r);
	}
}

static void set_result(struct probe *p, struct exec_run *r)
{
	struct probe_result *res = &p->result;
	char t[32];

	r->buf[r->len] = '\0';
	res->output = r->buf;
	res->output_len = r->len;
	res->output_truncated = r->truncated;
	res->exit_status = r->status;
	r->buf = NULL;
	if (r->term_sent) {
		config_format_duration(p->job->timeout_ms, t, sizeof t);
		snprintf(res->error, PROBE_ERROR_MAX, "timeout after %s (%s)", t,
			 r->term_sent == SIGTERM ? "terminated" : "killed");
	} else if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0) {
		res->ok = true;
	} else if (WIFEXITED(r->status)) {
		snprintf(res->error, PROBE_ERROR_MAX, "exit %d", WEXITSTATUS(r->status));
	} else if (WIFSIGNALED(r->status)) {
		snprintf(res->error, PROBE_ERROR_MAX, "killed by signal %d", WTERMSIG(r->status));
	} else {
		snprintf(res->error, PROBE_ERROR_MAX, "wait: %s", strerror(ECHILD));
	}
}

int probe_exec(struct probe *p)
{
	const struct job_exec *x = &p->job->u.exec;
	struct exec_run r = { .p = p, .out = -1, .status = -1 };
	uint64_t t0 = probe_now_us();
	int rc, ret = 0;

	if (p->cancelled)
		return -ECANCELED;
	r.limit = x->output_limit;
	/* Grown up to the limit (16 MiB at most) only as the command writes. */
	r.buf = malloc(1);
	if (!r.buf)
		return -ENOMEM;
	rc = spawn(p, &r);
	if (rc != 0) {
		snprintf(p->result.error, PROBE_ERROR_MAX, "spawn %s: %s", x->argv[0], strerror(rc));
		free(r.buf);
		p->result.duration_us = probe_now_us() - t0;
		return 0;
	}
	/* Recorded at once, so that a cancel from now on reaches the child. */
	/*
	 * valgrind (3.19) does not know pidfd_open and warns at every call:
	 * under it the child is checked every EXEC_POLL_FALLBACK_MS instead.
	 */
	p->pidfd = RUNNING_ON_VALGRIND ? -1 : (int)syscall(SYS_pidfd_open, p->pid, 0);
	wait_child(p, &r);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->pid = 0;
	if (r.out >= 0)
		close(r.out);
	if (p->cancelled) {
		ret = -ECANCELED;
		free(r.buf);
	} else {
		set_result(p, &r);
	}
	p->result.duration_us = probe_now_us() - t0;
	return ret;
}
