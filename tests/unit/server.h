/* SPDX-License-Identifier: MIT */
/*
 * server.h: starts one of the test servers of tests/tools (Python, on
 * loopback) for a test case, and stops it. Header-only: include it in the
 * one test file that needs it.
 */
#ifndef CORO_TESTS_SERVER_H
#define CORO_TESTS_SERVER_H

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/tap.h"

struct test_server {
	pid_t pid;
	int port;
};

/*
 * Runs tests/tools/<script> with the given arguments (NULL-terminated) and
 * waits for the port it prints. Fails the case if it cannot.
 */
static inline struct test_server test_server_start(const char *script, const char *const *args)
{
	struct test_server s = { -1, 0 };
	const char *dir = getenv("CORO_TOOLS_DIR");
	char path[512], line[32];
	const char *argv[16];
	int pfd[2], n = 0;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/tools", script);
	/* Debian's own, not a wrapper script that would fork the real one. */
	argv[n++] = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	argv[n++] = path;
	while (args && *args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	ASSERT_EQ(pipe(pfd), 0);
	s.pid = fork();
	ASSERT(s.pid >= 0);
	if (s.pid == 0) {
		/*
		 * A failed case exits early: the server must not outlive it.
		 * Its own process group, so that stopping it stops all of it;
		 * none of our descriptors, so that it holds no pipe of prove's.
		 */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setpgid(0, 0);
		dup2(pfd[1], STDOUT_FILENO);
		closefrom(3);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	ASSERT(f);
	if (!fgets(line, sizeof line, f))
		tap__fail(__FILE__, __LINE__, "test server %s did not start", path);
	fclose(f);
	s.port = atoi(line);
	ASSERT(s.port > 0);
	return s;
}

static inline void test_server_stop(struct test_server *s)
{
	if (s->pid > 0) {
		kill(-s->pid, SIGTERM);
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
	}
}

#endif
