/* SPDX-License-Identifier: MIT */
/*
 * test-loop.c: the event loop itself: co_poll (ready descriptors, timeout
 * 0, no timeout, expiry, bad descriptors, outside a coroutine), the end of
 * co_eventloop when fn returns -1, an idle loop that sleeps instead of
 * spinning, timers through the loop waking in deadline order and never
 * early (also for delays of days), coroutines released or reset while
 * blocked in the loop (their waits are dropped), and one loop per thread.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <sys/select.h>

#include "tests/unit/loop-util.h"

static volatile int done;
static volatile long long ticks;
static volatile int ticker_stop;

static void *ticker(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	while (!ticker_stop) {
		usleep(5000);
		ticks++;
	}
	return NULL;
}

/* ---- co_poll ---------------------------------------------------------------- */

struct poll_job {
	struct pollfd fds[4];
	nfds_t n;
	int timeout;
	int hooks;        /* call co_enable_hook_sys first */
	int ret;
	int err;
	long long took_us;
	long long ticks_meanwhile;
};

static void *poller(void *arg)
{
	struct poll_job *j = arg;
	long long t0, k0;

	if (j->hooks)
		co_enable_hook_sys();
	t0 = lu_now_us();
	k0 = ticks;
	errno = 0;
	j->ret = co_poll(co_get_epoll_ct(), j->fds, j->n, j->timeout);
	j->err = errno;
	j->took_us = lu_now_us() - t0;
	j->ticks_meanwhile = ticks - k0;
	done++;
	return NULL;
}

static void *late_write(void *arg)
{
	co_enable_hook_sys();
	usleep(100000);
	ASSERT_EQ(write((int)(intptr_t)arg, "x", 1), 1);
	done++;
	return NULL;
}

TEST(co_poll_reports_ready_descriptors_at_once)
{
	int c1, s1, c2, s2;
	struct poll_job j = { .n = 3, .timeout = 1000 };

	lu_watchdog(5, "co_poll of ready descriptors");
	lu_tcp_pair(&c1, &s1);
	lu_tcp_pair(&c2, &s2);
	ASSERT_EQ(write(s1, "x", 1), 1);
	lu_sleep_ms(20);
	j.fds[0] = (struct pollfd){ c1, POLLIN, 0 };  /* readable */
	j.fds[1] = (struct pollfd){ s2, POLLOUT, 0 }; /* writable */
	j.fds[2] = (struct pollfd){ c2, POLLIN, 0 };  /* silent */
	lu_go(poller, &j);
	lu_run(&done, 1);
	ASSERT_EQ(j.ret, 2);
	ASSERT_EQ(j.fds[0].revents, POLLIN);
	ASSERT_EQ(j.fds[1].revents, POLLOUT);
	ASSERT_EQ(j.fds[2].revents, 0);
	ASSERT_LT(j.took_us, 50000 + (lu_slow() ? 500000 : 0));
	lu_release_all();
}

TEST(co_poll_timeout_zero_does_not_wait)
{
	int c, s;
	struct poll_job j = { .n = 1, .timeout = 0, .hooks = 1 };

	lu_watchdog(5, "co_poll with timeout 0");
	lu_tcp_pair(&c, &s);
	j.fds[0] = (struct pollfd){ c, POLLIN, 0 };
	lu_go(ticker, NULL);
	lu_go(poller, &j);
	/* It returned without yielding: done before the loop ever ran. */
	ASSERT_EQ(done, 1);
	ASSERT_EQ(j.ret, 0);
	ASSERT_EQ(j.fds[0].revents, 0);
	ticker_stop = 1;
	lu_release_all();
}

static void poll_waits_for_late_data(int timeout)
{
	int c, s;
	struct poll_job j = { .n = 1, .timeout = timeout };

	lu_watchdog(5, "co_poll without a timeout");
	lu_tcp_pair(&c, &s);
	j.fds[0] = (struct pollfd){ c, POLLIN, 0 };
	lu_go(ticker, NULL);
	lu_go(poller, &j);
	lu_go(late_write, (void *)(intptr_t)s);
	lu_run(&done, 2);
	ticker_stop = 1;
	ASSERT_EQ(j.ret, 1);
	ASSERT_EQ(j.fds[0].revents, POLLIN);
	ASSERT_GE(j.took_us, 100000);
	ASSERT_GE(j.ticks_meanwhile, 5);
	lu_release_all();
}

TEST(co_poll_timeout_minus_one_waits_until_ready) { poll_waits_for_late_data(-1); }
TEST(co_poll_any_negative_timeout_waits_until_ready) { poll_waits_for_late_data(-1000); }

TEST(co_poll_timeout_expires_never_early)
{
	int c, s;
	struct poll_job j = { .n = 1, .timeout = 150 };

	lu_watchdog(5, "co_poll timing out");
	lu_tcp_pair(&c, &s);
	j.fds[0] = (struct pollfd){ c, POLLIN, 0 };
	lu_go(ticker, NULL);
	lu_go(poller, &j);
	lu_run(&done, 1);
	ticker_stop = 1;
	ASSERT_EQ(j.ret, 0);
	ASSERT_EQ(j.fds[0].revents, 0);
	ASSERT_GE(j.took_us, 150000);
	ASSERT_LT(j.took_us, (150 + lu_slack_ms()) * 1000);
	ASSERT_GE(j.ticks_meanwhile, 5);
	lu_release_all();
}

TEST(co_poll_bad_descriptor_is_pollnval_at_once)
{
	int c, s, bad;
	struct poll_job j = { .n = 3, .timeout = 1000 };

	lu_watchdog(5, "co_poll of a bad descriptor");
	lu_tcp_pair(&c, &s);
	ASSERT(co_get_epoll_ct() != NULL); /* its epoll descriptor must not take the number below */
	bad = socket(AF_INET, SOCK_STREAM, 0);
	close(bad);
	j.fds[0] = (struct pollfd){ c, POLLIN, 0 };
	j.fds[1] = (struct pollfd){ bad, POLLIN, 0 };
	j.fds[2] = (struct pollfd){ -1, POLLIN, 0 }; /* ignored */
	lu_go(poller, &j);
	lu_run(&done, 1);
	ASSERT_EQ(j.ret, 1);
	ASSERT_EQ(j.fds[0].revents, 0);
	ASSERT_EQ(j.fds[1].revents, POLLNVAL);
	ASSERT_EQ(j.fds[2].revents, 0);
	ASSERT_LT(j.took_us, 500000);
	lu_release_all();
}

TEST(co_poll_negative_descriptors_only_sleeps)
{
	struct poll_job j = { .n = 2, .timeout = 120 };

	lu_watchdog(5, "co_poll of negative descriptors");
	j.fds[0] = (struct pollfd){ -1, POLLIN, 0 };
	j.fds[1] = (struct pollfd){ -5, POLLOUT, 0 };
	lu_go(poller, &j);
	lu_run(&done, 1);
	ASSERT_EQ(j.ret, 0);
	ASSERT_GE(j.took_us, 120000);
	ASSERT_EQ(j.fds[0].revents, 0);
	ASSERT_EQ(j.fds[1].revents, 0);
	lu_release_all();
}

TEST(co_poll_hangup_and_error_are_reported)
{
	int c, s;
	struct poll_job j = { .n = 1, .timeout = 1000 };

	lu_watchdog(5, "co_poll at a hang-up");
	lu_tcp_pair(&c, &s);
	j.fds[0] = (struct pollfd){ c, POLLRDHUP, 0 };
	lu_go(poller, &j);
	ASSERT_EQ(close(s), 0);
	lu_run(&done, 1);
	ASSERT_EQ(j.ret, 1);
	ASSERT(j.fds[0].revents & POLLRDHUP);
	ASSERT_LT(j.took_us, 500000);
	lu_release_all();
}

/* co_poll is the loop's poll in any coroutine, hooks or not. */
TEST(co_poll_in_unhooked_coroutine_yields)
{
	int c, s;
	struct poll_job j = { .n = 1, .timeout = 150, .hooks = 0 };

	lu_watchdog(5, "co_poll without hooks");
	lu_tcp_pair(&c, &s);
	j.fds[0] = (struct pollfd){ c, POLLIN, 0 };
	lu_go(ticker, NULL);
	lu_go(poller, &j);
	lu_run(&done, 1);
	ticker_stop = 1;
	ASSERT_EQ(j.ret, 0);
	ASSERT_GE(j.took_us, 150000);
	ASSERT_GE(j.ticks_meanwhile, 5);
	lu_release_all();
}

TEST(co_poll_outside_coroutine_is_poll)
{
	int c, s;
	struct pollfd p;
	long long t0;

	lu_tcp_pair(&c, &s);
	p = (struct pollfd){ s, POLLOUT, 0 };
	ASSERT_EQ(co_poll(co_get_epoll_ct(), &p, 1, 1000), 1);
	ASSERT_EQ(p.revents, POLLOUT);
	p = (struct pollfd){ c, POLLIN, 0 };
	t0 = lu_now_us();
	ASSERT_EQ(co_poll(co_get_epoll_ct(), &p, 1, 100), 0);
	ASSERT_GE(lu_now_us() - t0, 95000);
	ASSERT_EQ(co_poll(NULL, &p, 1, 0), 0);
}

/* Many descriptors, one of which becomes ready: the right one is reported. */
enum { MANY = 200 };
static struct pollfd many[MANY];
static int many_ret;

static void *poll_many(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	many_ret = poll(many, MANY, 5000);
	done++;
	return NULL;
}

TEST(poll_many_descriptors_one_ready)
{
	static int c[MANY], s[MANY];

	lu_watchdog(10, "poll of 200 descriptors");
	for (int i = 0; i < MANY; i++) {
		lu_tcp_pair(&c[i], &s[i]);
		many[i] = (struct pollfd){ c[i], POLLIN, 0 };
	}
	lu_go(poll_many, NULL);
	lu_go(late_write, (void *)(intptr_t)s[137]);
	lu_run(&done, 2);
	ASSERT_EQ(many_ret, 1);
	for (int i = 0; i < MANY; i++)
		ASSERT_EQ(many[i].revents, i == 137 ? POLLIN : 0);
	lu_release_all();
	for (int i = 0; i < MANY; i++) {
		close(c[i]);
		close(s[i]);
	}
}

/* ---- co_eventloop ------------------------------------------------------------- */

struct script {
	int calls;
	const int *returns; /* what fn returns on each call; -1 ends */
};

static int scripted(void *arg)
{
	struct script *sc = arg;

	return sc->returns[sc->calls++];
}

TEST(eventloop_ends_when_fn_returns_minus_one)
{
	static const int first[] = { 0, 1, -2, 7, INT_MIN, -1, 0, 0 };
	static const int second[] = { 5, 0, -1, 0 };
	struct script a = { 0, first }, b = { 0, second };
	struct co *t;

	lu_watchdog(5, "co_eventloop ending on -1");
	ASSERT_EQ(co_create(&t, NULL, ticker, NULL), 0); /* keeps rounds coming */
	co_resume(t);
	co_eventloop(co_get_epoll_ct(), scripted, &a);
	ASSERT_EQ(a.calls, 6);
	/* It can be run again, with another fn, and NULL means this thread's loop. */
	co_eventloop(NULL, scripted, &b);
	ASSERT_EQ(b.calls, 3);
	co_release(t);
}

/* fn is asked before the first wait: a loop with nothing to do does not sleep forever. */
TEST(eventloop_done_before_it_starts_returns_at_once)
{
	static const int stop[] = { -1 };
	struct script a = { 0, stop };

	lu_watchdog(5, "co_eventloop with nothing pending");
	co_eventloop(co_get_epoll_ct(), scripted, &a);
	ASSERT_EQ(a.calls, 1);
}

/* An idle loop sleeps until the next due timer: it does not wake every millisecond. */
struct count_until {
	int calls;
	volatile int *flag;
};

static int count_calls(void *arg)
{
	struct count_until *c = arg;

	c->calls++;
	return *c->flag ? -1 : 0;
}

static void *sleep_long(void *arg)
{
	co_enable_hook_sys();
	sleep((unsigned)(uintptr_t)arg);
	tap__fail(__FILE__, __LINE__, "a sleep of an hour ended");
}

static volatile int woke;

static void *sleep_300ms(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(300000);
	woke = 1;
	return NULL;
}

static void idle_with_long_sleepers(int n)
{
	struct count_until cu = { 0, &woke };
	long long t0;

	lu_watchdog(10, "an idle loop");
	for (int i = 0; i < n; i++)
		lu_go(sleep_long, (void *)(uintptr_t)(3600 + i));
	lu_go(sleep_300ms, NULL);
	t0 = lu_now_us();
	co_eventloop(co_get_epoll_ct(), count_calls, &cu);
	ASSERT_GE(lu_now_us() - t0, 290000);
	/* One wake-up for the 300 ms timer, give or take: not one per millisecond. */
	ASSERT_LE(cu.calls, 6);
	lu_release_all();
}

TEST(idle_loop_sleeps_until_the_next_timer) { idle_with_long_sleepers(1); }
TEST(idle_loop_with_1000_timers_an_hour_away) { idle_with_long_sleepers(1000); }

/* With no timer at all, the loop sleeps until a descriptor is ready. */
static int idle_pipe[2];
static char idle_got;

static void *idle_reader(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	ASSERT_EQ(read(idle_pipe[0], &idle_got, 1), 1);
	woke = 1;
	return NULL;
}

TEST(idle_loop_with_no_timer_sleeps_until_a_descriptor_is_ready)
{
	struct count_until cu = { 0, &woke };
	struct lu_peer peer;
	long long t0;

	lu_watchdog(5, "a loop with no timers");
	ASSERT_EQ(pipe(idle_pipe), 0);
	peer = (struct lu_peer){ .fd = idle_pipe[1], .delay_ms = 300, .act = LU_WRITE,
				 .data = "!", .len = 1 };
	lu_go(idle_reader, NULL);
	t0 = lu_now_us();
	lu_peer_start(&peer);
	co_eventloop(co_get_epoll_ct(), count_calls, &cu);
	lu_peer_join(&peer);
	ASSERT_GE(lu_now_us() - t0, 250000);
	ASSERT_EQ(idle_got, '!');
	ASSERT_LE(cu.calls, 4);
	lu_release_all();
}

/* ---- timers through the loop -------------------------------------------------- */

static int order[16], norder;

struct timed {
	int index;
	long long asked_ms;
	long long took_us;
};

static void *timed_sleeper(void *arg)
{
	struct timed *t = arg;
	long long t0;

	co_enable_hook_sys();
	t0 = lu_now_us();
	usleep((useconds_t)(t->asked_ms * 1000));
	t->took_us = lu_now_us() - t0;
	order[norder++] = t->index;
	done++;
	return NULL;
}

TEST(sleepers_wake_in_deadline_order)
{
	static const int ms[10] = { 70, 10, 50, 30, 90, 20, 80, 40, 60, 100 };
	struct timed t[10];
	int scale = lu_slow() ? 4 : 1;

	lu_watchdog(5, "ten sleepers");
	for (int i = 0; i < 10; i++) {
		t[i] = (struct timed){ i, ms[i] * scale, 0 };
		lu_go(timed_sleeper, &t[i]);
	}
	lu_run(&done, 10);
	for (int k = 0; k < 10; k++) {
		/* The k-th to wake asked for (k + 1) * 10 ms. */
		ASSERT_EQ(ms[order[k]], (k + 1) * 10);
		ASSERT_GE(t[order[k]].took_us, t[order[k]].asked_ms * 1000);
	}
	lu_release_all();
}

/* Hundreds of random deadlines: wake-ups come in deadline order, none early. */
enum { RANDOM_N = 500 };
static long long dl_ms[RANDOM_N], woke_at_us[RANDOM_N];
static int woke_order[RANDOM_N], nwoke;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *random_sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	long long ms = 1 + (i * 7919) % 300, start = now_ns();

	co_enable_hook_sys();
	/* The first whole millisecond at least ms after now: what "never early" allows. */
	dl_ms[i] = (start + 999999) / 1000000 + ms;
	usleep((useconds_t)(ms * 1000));
	woke_at_us[i] = now_ns() / 1000;
	ASSERT_GE(now_ns() - start, ms * 1000000);
	woke_order[nwoke++] = i;
	done++;
	return NULL;
}

TEST(random_timers_fire_in_deadline_order)
{
	lu_watchdog(10, "500 random timers");
	for (int i = 0; i < RANDOM_N; i++)
		lu_go(random_sleeper, (void *)(intptr_t)i);
	lu_run(&done, RANDOM_N);
	for (int k = 1; k < RANDOM_N; k++) {
		/* Within a millisecond: our reading of the clock precedes the library's. */
		ASSERT_LE(dl_ms[woke_order[k - 1]], dl_ms[woke_order[k]] + 1);
	}
	lu_release_all();
}

/* Very long delays through the loop neither fire early nor wrap around. */
static int huge_cond_ret = 1;
static struct co_cond *huge_cc;
static int huge_returned;

static void *huge_poll(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct pollfd p = { fd, POLLIN, 0 };

	co_enable_hook_sys();
	(void)poll(&p, 1, INT_MAX);
	huge_returned |= 1;
	return NULL;
}

static void *huge_sleep(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	(void)sleep(UINT_MAX);
	huge_returned |= 2;
	return NULL;
}

static void *huge_select(void *arg)
{
	struct timeval tv = { INT_MAX, 999999 };

	(void)arg;
	co_enable_hook_sys();
	(void)select(0, NULL, NULL, NULL, &tv);
	huge_returned |= 4;
	return NULL;
}

static void *huge_cond(void *arg)
{
	(void)arg;
	huge_cond_ret = co_cond_timedwait(huge_cc, INT_MAX);
	huge_returned |= 8;
	return NULL;
}

static void *huge_rcvtimeo(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4];
	struct timeval thirty_days = { 30 * 24 * 3600, 0 };

	co_enable_hook_sys();
	ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &thirty_days, sizeof thirty_days), 0);
	ssize_t n = read(fd, buf, sizeof buf); /* never returns: nothing writes to fd */

	(void)n;
	huge_returned |= 16;
	return NULL;
}

static void *huge_usleep(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	(void)usleep(UINT_MAX);
	huge_returned |= 32;
	return NULL;
}

TEST(huge_timeouts_do_not_fire_early)
{
	int c1, s1, c2, s2;
	long long end;

	lu_watchdog(5, "very long timeouts");
	huge_cc = co_cond_alloc();
	ASSERT(huge_cc != NULL);
	lu_tcp_pair(&c1, &s1);
	lu_tcp_pair(&c2, &s2);
	lu_go(ticker, NULL);
	lu_go(huge_poll, (void *)(intptr_t)c1);
	lu_go(huge_sleep, NULL);
	lu_go(huge_select, NULL);
	lu_go(huge_cond, NULL);
	lu_go(huge_rcvtimeo, (void *)(intptr_t)c2);
	lu_go(huge_usleep, NULL);
	end = lu_now_ms() + 500;
	while (lu_now_ms() < end)
		lu_one_round();
	ASSERT_EQ(huge_returned, 0);
	lu_release_all();
	ASSERT_EQ(co_cond_free(huge_cc), 0);
}

/* 18446744073709552 s is about 2^64 ms: a product in ms that wraps would be 384 ms. */
static int wrap_returned;

static void *wrapping_nanosleep(void *arg)
{
	struct timespec ts = { (time_t)18446744073709552LL, 0 };

	(void)arg;
	co_enable_hook_sys();
	(void)nanosleep(&ts, NULL);
	wrap_returned = 1;
	return NULL;
}

TEST(nanosleep_of_centuries_does_not_wrap_around)
{
	long long end;

	lu_watchdog(5, "a nanosleep of centuries");
	lu_go(ticker, NULL);
	lu_go(wrapping_nanosleep, NULL);
	end = lu_now_ms() + 800;
	while (lu_now_ms() < end)
		lu_one_round();
	ASSERT_EQ(wrap_returned, 0);
	lu_release_all();
}

/* ---- releasing a coroutine blocked in the loop --------------------------------------- */

static void *blocked_forever_read(void *arg)
{
	char buf[8];

	co_enable_hook_sys();
	ssize_t n = read((int)(intptr_t)arg, buf, sizeof buf); /* never returns */

	(void)n;
	tap__fail(__FILE__, __LINE__, "a released coroutine ran again");
}

static void *blocked_forever_poll(void *arg)
{
	int *fds = arg;
	struct pollfd p[3] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 }, { fds[2], POLLIN, 0 } };

	co_enable_hook_sys();
	(void)poll(p, 3, 200);
	tap__fail(__FILE__, __LINE__, "a released coroutine ran again");
}

static void *blocked_forever_sleep(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(50000);
	tap__fail(__FILE__, __LINE__, "a released coroutine ran again");
}

static void *blocked_forever_accept(void *arg)
{
	co_enable_hook_sys();
	(void)accept((int)(intptr_t)arg, NULL, NULL);
	tap__fail(__FILE__, __LINE__, "a released coroutine ran again");
}

/* Runs the loop for ms (with the ticker coroutine keeping it turning). */
static void run_for(int ms)
{
	struct co *t;
	long long end = lu_now_ms() + ms;

	ticker_stop = 0;
	ASSERT_EQ(co_create(&t, NULL, ticker, NULL), 0);
	co_resume(t);
	while (lu_now_ms() < end)
		lu_one_round();
	co_release(t);
}

TEST(release_coroutines_blocked_in_hooked_calls)
{
	int c1, s1, c2, s2, c3, s3, port, l = lu_listen(AF_INET, 8, &port), fds[3], c;
	struct co *r, *p, *sl, *a;
	char buf[8];

	lu_watchdog(5, "releasing blocked coroutines");
	lu_tcp_pair(&c1, &s1);
	lu_tcp_pair(&c2, &s2);
	lu_tcp_pair(&c3, &s3);
	fds[0] = c2;
	fds[1] = c3;
	fds[2] = s1; /* nothing comes to s1: only the timeout could end this poll */
	ASSERT_EQ(co_create(&r, NULL, blocked_forever_read, (void *)(intptr_t)c1), 0);
	ASSERT_EQ(co_create(&p, NULL, blocked_forever_poll, fds), 0);
	ASSERT_EQ(co_create(&sl, NULL, blocked_forever_sleep, NULL), 0);
	ASSERT_EQ(co_create(&a, NULL, blocked_forever_accept, (void *)(intptr_t)l), 0);
	co_resume(r);
	co_resume(p);
	co_resume(sl);
	co_resume(a);
	run_for(20);
	co_release(r);
	co_release(p);
	co_release(sl);
	co_release(a);
	/* Everything they waited for happens now. */
	ASSERT_EQ(write(s1, "data", 4), 4);
	ASSERT_EQ(write(s2, "data", 4), 4);
	ASSERT_EQ(write(s3, "data", 4), 4);
	c = lu_connect(AF_INET, port);
	ASSERT(c >= 0);
	run_for(lu_slow() ? 1000 : 300);
	/* Nobody consumed the data or the connection. */
	ASSERT_EQ(read(c1, buf, sizeof buf), 4);
	close(c);
	c = accept(l, NULL, NULL);
	ASSERT(c >= 0);
	close(c);
	close(c1);
	close(s1);
	close(c2);
	close(s2);
	close(c3);
	close(s3);
	close(l);
}

/*
 * A coroutine whose wake-up is queued (its descriptor became ready in the
 * same round) is released by one resumed before it in that round.
 */
static struct co *victim;
static int victim_ran, victim_released;

static void *queued_victim(void *arg)
{
	char buf[8];

	co_enable_hook_sys();
	ssize_t n = read((int)(intptr_t)arg, buf, sizeof buf); /* returns only if the release failed */

	(void)n;
	victim_ran = 1;
	done++;
	return NULL;
}

static void *releaser(void *arg)
{
	char buf[8];

	co_enable_hook_sys();
	ASSERT_EQ(read((int)(intptr_t)arg, buf, sizeof buf), 4);
	if (!victim_ran) {
		co_release(victim);
		victim_released = 1;
	}
	done++;
	return NULL;
}

TEST(release_coroutine_whose_wakeup_is_queued)
{
	int c1, s1, c2, s2;
	struct co *rel;
	char buf[8];

	lu_watchdog(5, "releasing a coroutine that is about to be resumed");
	lu_tcp_pair(&c1, &s1);
	lu_tcp_pair(&c2, &s2);
	ASSERT_EQ(co_create(&victim, NULL, queued_victim, (void *)(intptr_t)c1), 0);
	ASSERT_EQ(co_create(&rel, NULL, releaser, (void *)(intptr_t)c2), 0);
	co_resume(victim);
	co_resume(rel);
	/* One round takes the events of their registration (both are writable). */
	lu_one_round();
	/* Both become readable before the next round, the releaser's first (epoll keeps that order). */
	ASSERT_EQ(write(s2, "rel!", 4), 4);
	ASSERT_EQ(write(s1, "vic!", 4), 4);
	lu_run(&done, 1);
	ASSERT(victim_released);
	ASSERT(!victim_ran);
	run_for(100);
	ASSERT(!victim_ran);
	ASSERT_EQ(read(c1, buf, sizeof buf), 4);
	co_release(rel);
	close(c1);
	close(s1);
	close(c2);
	close(s2);
}

/* co_reset of a blocked coroutine: it starts over, and its old wait is gone. */
static int reset_runs;
static long long reset_ret;

static void *resettable(void *arg)
{
	char buf[8];

	co_enable_hook_sys();
	reset_runs++;
	reset_ret = read((int)(intptr_t)arg, buf, sizeof buf);
	done++;
	return NULL;
}

TEST(reset_coroutine_blocked_in_read)
{
	int c, s;
	struct co *co;

	lu_watchdog(5, "reset of a blocked coroutine");
	lu_tcp_pair(&c, &s);
	ASSERT_EQ(co_create(&co, NULL, resettable, (void *)(intptr_t)c), 0);
	co_resume(co);
	co_reset(co);
	co_resume(co);
	ASSERT_EQ(reset_runs, 2);
	ASSERT_EQ(write(s, "abc", 3), 3);
	lu_run(&done, 1);
	ASSERT_EQ(reset_ret, 3);
	run_for(50);
	ASSERT_EQ(done, 1);
	co_release(co);
	close(c);
	close(s);
}

/* ---- one loop per thread ----------------------------------------------------------- */

static pthread_barrier_t barrier;
static struct co_epoll *loops[4];

static void *in_coroutine_loop(void *arg)
{
	*(struct co_epoll **)arg = co_get_epoll_ct();
	return NULL;
}

static void *thread_loop(void *arg)
{
	intptr_t i = (intptr_t)arg;
	struct co_epoll *again = NULL;
	struct co *co;

	loops[i] = co_get_epoll_ct();
	if (co_create(&co, NULL, in_coroutine_loop, &again) != 0)
		return (void *)1;
	co_resume(co);
	co_release(co);
	/* All threads hold their loops at once. */
	pthread_barrier_wait(&barrier);
	return (void *)(intptr_t)(loops[i] == NULL || again != loops[i]);
}

TEST(one_loop_per_thread)
{
	pthread_t t[4];
	void *r;

	ASSERT_EQ(pthread_barrier_init(&barrier, NULL, 4), 0);
	for (intptr_t i = 0; i < 4; i++)
		ASSERT_EQ(pthread_create(&t[i], NULL, thread_loop, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(pthread_join(t[i], &r), 0);
		ASSERT_PTR_EQ(r, NULL);
	}
	for (int i = 0; i < 4; i++)
		for (int k = i + 1; k < 4; k++)
			ASSERT_PTR_NE(loops[i], loops[k]);
	ASSERT_PTR_NE(co_get_epoll_ct(), NULL);
	ASSERT_PTR_EQ(co_get_epoll_ct(), co_get_epoll_ct());
	pthread_barrier_destroy(&barrier);
}
