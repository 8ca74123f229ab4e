/* SPDX-License-Identifier: MIT */
/*
 * tap.c: runs the cases registered with TEST()/TEST_DEATH(), each in its own
 * child process, and prints TAP. See tap.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/tap.h"

#define MAX_CASES 256

static const struct tap_case *cases[MAX_CASES];
static int ncases;

void tap__register(const struct tap_case *c)
{
	if (ncases == MAX_CASES) {
		fprintf(stderr, "tap: more than %d cases in one binary\n", MAX_CASES);
		exit(2);
	}
	cases[ncases++] = c;
}

void tap__fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "# %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

int tap_under_valgrind(void)
{
	return getenv("CORO_TEST_VALGRIND") != NULL;
}

int tap_under_qemu(void)
{
	/* Set by the Makefile's check-aarch64 target. */
	return getenv("CORO_TEST_QEMU") != NULL;
}

/* Reads everything from fd into a NUL-terminated heap buffer. */
static char *slurp(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf)
		return NULL;
	for (;;) {
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap *= 2);

			if (!nb)
				break;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static void print_diag(const char *text)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		printf("#   %.*s\n", n, p);
		p += n + (nl ? 1 : 0);
	}
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

/* Runs one case in a child; returns 1 if it passed. */
static int run_case(const struct tap_case *c, unsigned timeout, char **ret_err)
{
	int pfd[2] = { -1, -1 }, status;
	pid_t pid;

	*ret_err = NULL;
	if (c->expect_signal && pipe2(pfd, O_CLOEXEC) < 0) {
		perror("tap: pipe");
		return 0;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror("tap: fork");
		return 0;
	}
	if (pid == 0) {
		if (c->expect_signal) {
			dup2(pfd[1], STDERR_FILENO);
			/* No core files from deaths we expect. */
			signal(SIGABRT, SIG_DFL);
		}
		alarm(timeout);
		c->fn();
		fflush(stdout);
		exit(0);
	}
	if (c->expect_signal) {
		close(pfd[1]);
		*ret_err = slurp(pfd[0]);
		close(pfd[0]);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("tap: waitpid");
			return 0;
		}
	}
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
		printf("# timed out after %u s\n", timeout);
		return 0;
	}
	if (!c->expect_signal) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 1;
		if (WIFSIGNALED(status))
			printf("# killed by signal %d (%s)\n", WTERMSIG(status),
			       strsignal(WTERMSIG(status)));
		else
			printf("# exited with status %d\n", WEXITSTATUS(status));
		return 0;
	}
	if (!WIFSIGNALED(status) || WTERMSIG(status) != c->expect_signal) {
		if (WIFSIGNALED(status))
			printf("# expected death by signal %d, got signal %d\n",
			       c->expect_signal, WTERMSIG(status));
		else
			printf("# expected death by signal %d, got exit status %d\n",
			       c->expect_signal, WEXITSTATUS(status));
		return 0;
	}
	if (c->expect_stderr && (!*ret_err || !strstr(*ret_err, c->expect_stderr))) {
		printf("# stderr lacks \"%s\"\n", c->expect_stderr);
		return 0;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *t = getenv("TAP_TIMEOUT");
	unsigned timeout = t && atoi(t) > 0 ? (unsigned)atoi(t) : 30;
	int n = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < ncases; i++)
		n += selected(cases[i]->name, argc, argv);
	printf("1..%d\n", n);
	n = 0;
	for (int i = 0; i < ncases; i++) {
		const struct tap_case *c = cases[i];
		char *err = NULL;
		int ok;

		if (!selected(c->name, argc, argv))
			continue;
		n++;
		if ((c->skip_valgrind && tap_under_valgrind()) ||
		    (c->skip_qemu && tap_under_qemu())) {
			printf("ok %d - %s # SKIP not meaningful under %s\n", n, c->name,
			       c->skip_valgrind && tap_under_valgrind() ? "valgrind" : "qemu");
			continue;
		}
		ok = run_case(c, timeout, &err);
		printf("%s %d - %s\n", ok ? "ok" : "not ok", n, c->name);
		if (!ok) {
			failed++;
			if (err && *err) {
				printf("#   stderr of the case:\n");
				print_diag(err);
			}
		}
		free(err);
	}
	return failed ? 1 : 0;
}
