/* SPDX-License-Identifier: MIT */
/*
 * compat.c: libco's entry points that are not part of libcoro's own API
 * (co_accept, co_log_err), and the check that co_routine.h's
 * stCoRoutineAttr_t is laid out as struct co_attr.
 *
 * This file includes co_routine.h alone, as a libco program does, so the
 * compiler checks the definitions below against its declarations.
 * (co_gethostbyname, whose answer is co-local, is in local.c.)
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coro/co_routine.h"
#include "coro/compat-internal.h"

#define CO_API __attribute__((visibility("default")))

_Static_assert(offsetof(stCoRoutineAttr_t, stack_size) == CO__ATTR_STACK_SIZE_OFFSET,
	       "stCoRoutineAttr_t.stack_size is not where struct co_attr has it");
_Static_assert(sizeof(((stCoRoutineAttr_t *)0)->stack_size) == sizeof(int),
	       "stCoRoutineAttr_t.stack_size is not an int");
_Static_assert(offsetof(stCoRoutineAttr_t, share_stack) == CO__ATTR_SHARE_STACK_OFFSET,
	       "stCoRoutineAttr_t.share_stack is not where struct co_attr has it");
_Static_assert(sizeof(stCoRoutineAttr_t) == CO__ATTR_SIZE,
	       "stCoRoutineAttr_t and struct co_attr differ in size");

/*
 * accept() is the hooked one (hook-socket.c): with hooks on it honours the
 * listener's O_NONBLOCK as the program set it, as libco's co_accept did by
 * calling the plain accept on a socket libco never switched.
 */
CO_API int co_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept(fd, addr, len);
}

/*
 * One write to stderr per message (a line, newline added if missing), so
 * that messages of several threads do not interleave.
 */
CO_API void co_log_err(const char *fmt, ...)
{
	char local[512], *buf = local;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(local, sizeof local - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof local - 1) {
		buf = malloc((size_t)n + 2);
		if (!buf) {
			/* No memory: the truncated message is better than none. */
			buf = local;
			n = (int)strlen(local);
		} else {
			va_start(ap, fmt);
			vsnprintf(buf, (size_t)n + 1, fmt, ap);
			va_end(ap);
		}
	}
	if (n == 0 || buf[n - 1] != '\n')
		buf[n++] = '\n';
	fwrite(buf, 1, (size_t)n, stderr);
	if (buf != local)
		free(buf);
}
