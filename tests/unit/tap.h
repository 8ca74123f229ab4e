/* SPDX-License-Identifier: MIT */
/*
 * tap.h: the unit test harness. Each TEST() case runs in a child process
 * of its own with a timeout (TAP_TIMEOUT seconds, default 30), so a crash
 * or a hang fails that case only; results are printed as TAP for prove.
 *
 *   TEST(ping_pong) { ASSERT_EQ(f(2), 4); }
 *   TEST_DEATH(resume_dead, SIGABRT, "has finished") { ... }
 *
 * A death test passes when its child is killed by the given signal and its
 * stderr contains the given text. Run one binary with case names as
 * arguments to run only those cases.
 */
#ifndef CORO_TESTS_TAP_H
#define CORO_TESTS_TAP_H

#include <signal.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tap_case {
	const char *name;
	void (*fn)(void);
	int expect_signal;         /* 0: the case must exit 0 */
	const char *expect_stderr; /* death tests: text stderr must contain */
	int skip_valgrind;         /* skipped when CORO_TEST_VALGRIND is set */
	int skip_qemu;             /* skipped when run under qemu-user */
};

void tap__register(const struct tap_case *c);
__attribute__((noreturn, format(printf, 3, 4)))
void tap__fail(const char *file, int line, const char *fmt, ...);
/* Non-zero when the binary runs under valgrind (CORO_TEST_VALGRIND set). */
int tap_under_valgrind(void);
/* Non-zero when the binary runs under qemu-user (the CPU is emulated). */
int tap_under_qemu(void);

#ifdef __cplusplus
}
#endif

#define TAP__CASE(name, sig, msg, skipvg, skipqemu)                          \
	static void test_##name(void);                                       \
	__attribute__((constructor)) static void tap__reg_##name(void)       \
	{                                                                    \
		static const struct tap_case c = { #name, test_##name, sig,  \
						   msg, skipvg, skipqemu };  \
		tap__register(&c);                                           \
	}                                                                    \
	static void test_##name(void)

#define TEST(name) TAP__CASE(name, 0, NULL, 0, 0)
#define TEST_DEATH(name, sig, msg) TAP__CASE(name, sig, msg, 0, 0)
/* A case that is meaningless or too slow under valgrind. */
#define TEST_NO_VALGRIND(name) TAP__CASE(name, 0, NULL, 1, 0)
#define TEST_DEATH_NO_VALGRIND(name, sig, msg) TAP__CASE(name, sig, msg, 1, 0)

#define ASSERT(cond)                                                         \
	do {                                                                 \
		if (!(cond))                                                 \
			tap__fail(__FILE__, __LINE__, "ASSERT(%s)", #cond);  \
	} while (0)

#define TAP__CMP(a, op, b, type, fmt)                                        \
	do {                                                                 \
		type tap__a = (type)(a);                                     \
		type tap__b = (type)(b);                                     \
		if (!(tap__a op tap__b))                                     \
			tap__fail(__FILE__, __LINE__,                        \
				  "%s " #op " %s: " fmt " vs " fmt, #a, #b,  \
				  tap__a, tap__b);                           \
	} while (0)

#define ASSERT_EQ(a, b) TAP__CMP(a, ==, b, long long, "%lld")
#define ASSERT_NE(a, b) TAP__CMP(a, !=, b, long long, "%lld")
#define ASSERT_LT(a, b) TAP__CMP(a, <, b, long long, "%lld")
#define ASSERT_LE(a, b) TAP__CMP(a, <=, b, long long, "%lld")
#define ASSERT_GT(a, b) TAP__CMP(a, >, b, long long, "%lld")
#define ASSERT_GE(a, b) TAP__CMP(a, >=, b, long long, "%lld")
#define ASSERT_UEQ(a, b) TAP__CMP(a, ==, b, unsigned long long, "%#llx")
#define ASSERT_PTR_EQ(a, b) TAP__CMP(a, ==, b, const void *, "%p")
#define ASSERT_PTR_NE(a, b) TAP__CMP(a, !=, b, const void *, "%p")

#define ASSERT_STR_EQ(a, b)                                                  \
	do {                                                                 \
		const char *tap__a = (a), *tap__b = (b);                     \
		if (!tap__a || !tap__b || strcmp(tap__a, tap__b) != 0)       \
			tap__fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", \
				  #a, #b, tap__a ? tap__a : "(null)",        \
				  tap__b ? tap__b : "(null)");               \
	} while (0)

#endif
