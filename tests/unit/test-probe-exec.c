/* SPDX-License-Identifier: MIT */
/*
 * test-probe-exec.c: the exec probe: exit statuses, the captured output and
 * its limit, env and workdir, a missing program, the timeout (SIGTERM, then
 * SIGKILL for a child that ignores it), a cancel; and never a zombie left.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PT_PROBE probe_exec
#include "tests/unit/probe-util.h"

#define JOB "jobs:\n  - name: j\n    type: exec\n    every: 20s\n    timeout: %s\n"

/* No child of ours is left, running or zombie. */
static void assert_no_children(void)
{
	errno = 0;
	ASSERT_EQ(waitpid(-1, NULL, WNOHANG), -1);
	ASSERT_EQ(errno, ECHILD);
}

static void run_ok(struct probe_test *t)
{
	pt_run(t);
	ASSERT_EQ(t->ret, 0);
	ASSERT(t->p.result.output);
	assert_no_children();
}

TEST(exec_true)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "    command: [/bin/true]\n", "2s");
	run_ok(&t);
	ASSERT(t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT_EQ(t.p.result.exit_status, 0);
	ASSERT_EQ(t.p.result.output_len, 0);
	ASSERT_EQ(t.p.pid, 0);
	ASSERT_EQ(t.p.pidfd, -1);
	pt_done(&t);
}

TEST(exec_false)
{
	struct probe_test t = { 0 };

	/* Found in PATH. */
	pt_load(&t, JOB "    command: [\"false\"]\n", "2s");
	run_ok(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "exit 1");
	ASSERT(WIFEXITED(t.p.result.exit_status));
	ASSERT_EQ(WEXITSTATUS(t.p.result.exit_status), 1);
	pt_done(&t);
}

TEST(exec_signal)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "    command: [/bin/sh, -c, 'kill -9 $$']\n", "2s");
	run_ok(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "killed by signal 9");
	pt_done(&t);
}

TEST(exec_output)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "    command: [/bin/sh, -c, 'echo hi; echo err >&2; exit 2']\n", "2s");
	run_ok(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "exit 2");
	ASSERT_STR_EQ(t.p.result.output, "hi\nerr\n");
	ASSERT_EQ(t.p.result.output_len, 7);
	ASSERT(!t.p.result.output_truncated);
	pt_done(&t);
}

TEST(exec_output_limit)
{
	struct probe_test t = { 0 };

	/* 100 KB through a 10-byte limit: the rest is read and dropped, the child is not stuck. */
	pt_load(&t, JOB "    output_limit: 10\n"
		"    command: [/bin/sh, -c, 'i=0; while [ $i -lt 1000 ]; do "
		"echo 0123456789012345678901234567890123456789012345678901234567890123456789"
		"012345678901234567890123456789; i=$((i+1)); done']\n", "5s");
	run_ok(&t);
	ASSERT(t.p.result.ok);
	ASSERT_EQ(t.p.result.output_len, 10);
	ASSERT_STR_EQ(t.p.result.output, "0123456789");
	ASSERT(t.p.result.output_truncated);
	pt_done(&t);
}

TEST(exec_output_grows)
{
	struct probe_test t = { 0 };

	/* 10,000 bytes under the default 64 KiB, then 100,000 over it. */
	pt_load(&t, JOB "    command: [/bin/sh, -c, 'i=0; while [ $i -lt 1000 ]; do "
		"echo 012345678; i=$((i+1)); done']\n", "5s");
	run_ok(&t);
	ASSERT(t.p.result.ok);
	ASSERT_EQ(t.p.result.output_len, 10000);
	ASSERT_EQ(strlen(t.p.result.output), 10000);
	ASSERT(!t.p.result.output_truncated);
	pt_done(&t);
	memset(&t, 0, sizeof t);
	pt_load(&t, JOB "    command: [/bin/sh, -c, 'i=0; while [ $i -lt 10000 ]; do "
		"echo 012345678; i=$((i+1)); done']\n", "5s");
	run_ok(&t);
	ASSERT(t.p.result.ok);
	ASSERT_EQ(t.p.result.output_len, 65536);
	ASSERT_EQ(strlen(t.p.result.output), 65536);
	ASSERT(t.p.result.output_truncated);
	pt_done(&t);
}

TEST(exec_no_inherited_fds)
{
	struct probe_test t = { 0 };
	int fd = open("/dev/null", O_RDONLY); /* without O_CLOEXEC */

	ASSERT(fd > 2);
	pt_load(&t, JOB "    command: [/bin/sh, -c, 'ls /proc/self/fd | wc -l']\n", "2s");
	run_ok(&t);
	ASSERT(t.p.result.ok);
	/* 0, 1, 2, and ls's own directory. */
	ASSERT_STR_EQ(t.p.result.output, "4\n");
	close(fd);
	pt_done(&t);
}

TEST(exec_env_and_workdir)
{
	struct probe_test t = { 0 };

	setenv("PT_KEEP", "kept", 1);
	setenv("FOO", "old", 1);
	pt_load(&t, JOB "    env: {FOO: bar}\n    workdir: /tmp\n"
		"    command: [/bin/sh, -c, 'echo $FOO $PT_KEEP; pwd']\n", "2s");
	run_ok(&t);
	ASSERT(t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.output, "bar kept\n/tmp\n");
	pt_done(&t);
}

TEST(exec_missing)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "    command: [/no/such]\n", "2s");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "spawn /no/such: No such file or directory");
	ASSERT_EQ(t.p.result.exit_status, -1);
	assert_no_children();
	pt_done(&t);
}

TEST(exec_timeout)
{
	struct probe_test t = { 0 };
	int fds;

	pt_load(&t, JOB "    kill_grace: 2s\n    command: [/bin/sh, -c, 'sleep 10; echo late']\n",
		"300ms");
	co_get_epoll_ct();
	fds = pt_count_fds();
	run_ok(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 300ms (terminated)");
	ASSERT(WIFSIGNALED(t.p.result.exit_status));
	ASSERT_EQ(WTERMSIG(t.p.result.exit_status), SIGTERM);
	ASSERT(t.elapsed >= 0.25);
	ASSERT(t.elapsed < 1.5);
	ASSERT_EQ(pt_count_fds(), fds);
	pt_done(&t);
}

TEST(exec_timeout_ignores_term)
{
	struct probe_test t = { 0 };

	/* The shell ignores SIGTERM, and so does its sleep (inherited). */
	pt_load(&t, JOB "    kill_grace: 500ms\n"
		"    command: [/bin/sh, -c, 'trap \"\" TERM; sleep 10; echo late']\n", "300ms");
	run_ok(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 300ms (killed)");
	ASSERT(WIFSIGNALED(t.p.result.exit_status));
	ASSERT_EQ(WTERMSIG(t.p.result.exit_status), SIGKILL);
	ASSERT(t.elapsed >= 0.75);
	ASSERT(t.elapsed < 2.5);
	pt_done(&t);
}

TEST(exec_cancel)
{
	struct probe_test t = { 0 };
	int fds;

	pt_load(&t, JOB "    command: [/bin/sh, -c, 'sleep 10; echo late']\n", "5s");
	co_get_epoll_ct();
	fds = pt_count_fds();
	t.cancel_after_ms = 200;
	pt_run(&t);
	ASSERT_EQ(t.ret, -ECANCELED);
	ASSERT(t.elapsed >= 0.15);
	ASSERT(t.elapsed < 1.0);
	ASSERT(!t.p.result.output);
	ASSERT_EQ(t.p.pid, 0);
	ASSERT_EQ(t.p.pidfd, -1);
	ASSERT_EQ(pt_count_fds(), fds);
	assert_no_children();
	pt_done(&t);
}

TEST(exec_missing_in_path)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "    command: [no-such-program-here, x]\n", "2s");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "spawn no-such-program-here: No such file or directory");
	pt_done(&t);
}

TEST(exec_not_executable)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "    command: [/etc/passwd]\n", "2s");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "spawn /etc/passwd: Permission denied");
	pt_done(&t);
}
