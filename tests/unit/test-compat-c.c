/* SPDX-License-Identifier: MIT */
/*
 * test-compat-c.c: a libco program written in C builds and runs against
 * co_routine.h included alone: libco's type names (stCoRoutine_t,
 * stCoRoutineAttr_t with stack_size and share_stack, stShareStack_t,
 * pfn_co_routine_t, and the event loop's types), libco's call signatures,
 * co_yield(co) naming the coroutine, co_self()/co_get_current() from
 * inside, co_log_err and co_gethostbyname. The program uses libcoro's own
 * names (struct co, co_fn, co_is_dead, ...) for things of its own: the
 * header must leave them free.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/co_routine.h"
#include "tests/unit/tap.h"

/* libcoro's names, as this program's own. */
struct co {
	int finished; /* the routine returned */
};
typedef int co_fn;
struct co_attr {
	co_fn label;
};
#define CO_API static
#define CO_ATTR_INIT 7

CO_API int co_is_dead(const struct co *c)
{
	return c->finished;
}

CO_API int co_is_main(void)
{
	return co_self() == NULL;
}

/* The event loop's types exist and are distinct pointer types. */
static stCoEpoll_t *no_epoll;
static stCoCond_t *no_cond;
static pfn_co_eventloop_t no_loop;

struct task {
	stCoRoutine_t *co;
	int id;
	int steps;
	int *log;       /* shared: the order in which steps ran */
	int *log_len;
};

static void *routine(void *arg)
{
	struct task *t = arg;

	if (co_self() != t->co || co_get_current() != t->co)
		return NULL;
	for (;;) {
		t->log[(*t->log_len)++] = t->id;
		t->steps++;
		co_yield(t->co);
	}
	return NULL;
}

static void run(stCoRoutineAttr_t *attr)
{
	struct task tasks[4];
	int log[64], log_len = 0;
	pfn_co_routine_t fn = routine;

	for (int i = 0; i < 4; i++) {
		tasks[i].id = i;
		tasks[i].steps = 0;
		tasks[i].log = log;
		tasks[i].log_len = &log_len;
		ASSERT_EQ(co_create(&tasks[i].co, attr, fn, &tasks[i]), 0);
	}
	for (int round = 0; round < 10; round++)
		for (int i = 0; i < 4; i++)
			co_resume(tasks[i].co);
	ASSERT_EQ(log_len, 40);
	for (int i = 0; i < 40; i++)
		ASSERT_EQ(log[i], i % 4);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(tasks[i].steps, 10);
		co_release(tasks[i].co);
	}
}

TEST(libco_program_private_stacks)
{
	stCoRoutineAttr_t attr;

	/* In C the attribute is a plain struct: the program fills it in, as with libco. */
	attr.stack_size = 64 * 1024;
	attr.share_stack = NULL;
	run(&attr);
	ASSERT_PTR_EQ(no_epoll, NULL);
	ASSERT_PTR_EQ(no_cond, NULL);
	ASSERT(no_loop == NULL);
}

/* libco has no call that frees a pool: its programs keep them for good. */
/* Not static: a store to a static never read would be dropped, and the pool reported leaked. */
stShareStack_t *share;

TEST(libco_program_shared_stacks)
{
	stCoRoutineAttr_t attr = { 0 };
	struct co_attr own = { CO_ATTR_INIT };

	share = co_alloc_sharestack(2, 64 * 1024);
	ASSERT(share);
	attr.stack_size = 128 * 1024;
	attr.share_stack = share;
	run(&attr);
	ASSERT_EQ(own.label, 7);
}

TEST(libco_program_default_attr)
{
	run(NULL);
	ASSERT_PTR_EQ(co_self(), NULL);
	ASSERT(co_is_main());
}

static pthread_key_t key;

struct specific_task {
	struct co state;
	int seen; /* 1: found its own value after the other coroutine set its */
};

static void *specific_routine(void *arg)
{
	struct specific_task *t = arg;

	co_setspecific(key, t);
	co_yield_ct();
	t->seen = co_getspecific(key) == t;
	t->state.finished = 1;
	return NULL;
}

TEST(libco_specific)
{
	stCoRoutine_t *a, *b;
	struct specific_task x = { { 0 }, 0 }, y = { { 0 }, 0 };

	ASSERT_EQ(pthread_key_create(&key, NULL), 0);
	ASSERT_EQ(co_create(&a, NULL, specific_routine, &x), 0);
	ASSERT_EQ(co_create(&b, NULL, specific_routine, &y), 0);
	co_resume(a);
	co_resume(b);
	ASSERT_PTR_EQ(co_getspecific(key), NULL);
	co_resume(a);
	co_resume(b);
	ASSERT(co_is_dead(&x.state) && co_is_dead(&y.state));
	ASSERT_EQ(x.seen, 1);
	ASSERT_EQ(y.seen, 1);
	co_release(a);
	co_release(b);
}

/* What co_log_err writes to stderr, caught through a pipe. */
static void log_capture(const char *text, size_t len, char *out, size_t out_len)
{
	int p[2], saved = dup(2);
	ssize_t n;

	ASSERT(saved >= 0);
	ASSERT_EQ(pipe(p), 0);
	ASSERT(dup2(p[1], 2) == 2);
	close(p[1]);
	co_log_err("%.*s", (int)len, text);
	ASSERT(dup2(saved, 2) == 2);
	close(saved);
	n = read(p[0], out, out_len - 1);
	ASSERT(n >= 0);
	out[n] = '\0';
	close(p[0]);
}

TEST(libco_log_err_writes_a_line)
{
	static char big[3000], out[4096];

	log_capture("CO_ERR: read fd 5", 17, out, sizeof out);
	ASSERT_STR_EQ(out, "CO_ERR: read fd 5\n");
	log_capture("ends with its own newline\n", 26, out, sizeof out);
	ASSERT_STR_EQ(out, "ends with its own newline\n");
	memset(big, 'x', sizeof big - 1);
	log_capture(big, sizeof big - 1, out, sizeof out);
	ASSERT_EQ(strlen(out), sizeof big);
	ASSERT_EQ(out[sizeof big - 2], 'x');
	ASSERT_EQ(out[sizeof big - 1], '\n');
}

/*
 * gethostbyname's answer is the thread's; co_gethostbyname's belongs to
 * the coroutine, which keeps it while others look names up.
 */
struct lookup {
	const char *name;
	struct hostent *h;
	char addr[INET_ADDRSTRLEN];
};

static void *lookup_routine(void *arg)
{
	struct lookup *l = arg;

	co_enable_hook_sys();
	l->h = co_gethostbyname(l->name);
	co_yield_ct(); /* the other coroutine looks its name up */
	if (l->h && l->h->h_addrtype == AF_INET && l->h->h_addr_list[0])
		inet_ntop(AF_INET, l->h->h_addr_list[0], l->addr, sizeof l->addr);
	return NULL;
}

TEST(libco_gethostbyname_answer_is_the_coroutines)
{
	struct lookup a = { "127.0.0.1", NULL, "" }, b = { "127.0.0.2", NULL, "" };
	stCoRoutine_t *ca, *cb;
	struct hostent *main_h;

	ASSERT_EQ(co_create(&ca, NULL, lookup_routine, &a), 0);
	ASSERT_EQ(co_create(&cb, NULL, lookup_routine, &b), 0);
	co_resume(ca);
	co_resume(cb);
	ASSERT(a.h && b.h);
	ASSERT(a.h != b.h);
	co_resume(ca);
	co_resume(cb);
	ASSERT_STR_EQ(a.addr, "127.0.0.1");
	ASSERT_STR_EQ(b.addr, "127.0.0.2");
	ASSERT_STR_EQ(a.h->h_name, "127.0.0.1");
	/* On the main context it is gethostbyname. */
	main_h = co_gethostbyname("127.0.0.3");
	ASSERT(main_h);
	ASSERT_STR_EQ(main_h->h_name, "127.0.0.3");
	co_release(ca);
	co_release(cb);
}
