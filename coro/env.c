/* SPDX-License-Identifier: MIT */
/*
 * env.c: getenv, setenv and unsetenv per coroutine for the names given to
 * co_set_env_list (libco's feature): a hooked coroutine that sets one of
 * them changes only its own copy, which starts as the process's value.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro-internal.h"

static char **names; /* NULL-terminated, set once */
static size_t nnames;

CO__LIBC(char *, getenv, (const char *))
CO__LIBC(int, setenv, (const char *, const char *, int))
CO__LIBC(int, unsetenv, (const char *))

CO_API void co_set_env_list(const char *name[], size_t cnt)
{
	char **list;
	size_t n = 0;

	if (names || !name || !cnt)
		return; /* once, as in libco */
	list = calloc(cnt + 1, sizeof *list);
	if (!list)
		return;
	for (size_t i = 0; i < cnt; i++) {
		if (!name[i] || !*name[i] || strchr(name[i], '='))
			continue;
		list[n] = strdup(name[i]);
		if (!list[n])
			break;
		n++;
	}
	nnames = n;
	names = list;
}

/* Index of name in the list, or -1. */
static long find(const char *name)
{
	for (size_t i = 0; i < nnames; i++)
		if (strcmp(names[i], name) == 0)
			return (long)i;
	return -1;
}

/* The running coroutine's values, copied from the process on first use. */
static char **values(void)
{
	struct co *co = co_self();
	struct co__ext *ext = co ? co__ext_get(co) : NULL;

	if (!ext)
		return NULL;
	if (!ext->env) {
		char **v = calloc(nnames + 1, sizeof *v);

		if (!v)
			return NULL;
		for (size_t i = 0; i < nnames; i++) {
			const char *cur = real_getenv()(names[i]);

			v[i] = cur ? strdup(cur) : CO__ENV_UNSET;
			if (!v[i])
				v[i] = CO__ENV_UNSET;
		}
		v[nnames] = CO__ENV_END;
		ext->env = v;
	}
	return ext->env;
}

CO_API char *getenv(const char *name)
{
	long i;
	char **v;

	if (!names || !co__hooked() || (i = find(name)) < 0 || !(v = values()))
		return real_getenv()(name);
	return v[i] == CO__ENV_UNSET ? NULL : v[i];
}

CO_API int setenv(const char *name, const char *value, int overwrite)
{
	long i;
	char **v, *copy;

	if (!names || !co__hooked() || (i = find(name)) < 0)
		return real_setenv()(name, value, overwrite);
	if (!(v = values())) {
		errno = ENOMEM;
		return -1;
	}
	if (v[i] != CO__ENV_UNSET && !overwrite)
		return 0;
	copy = strdup(value);
	if (!copy) {
		errno = ENOMEM;
		return -1;
	}
	if (v[i] != CO__ENV_UNSET)
		free(v[i]);
	v[i] = copy;
	return 0;
}

CO_API int unsetenv(const char *name)
{
	long i;
	char **v;

	if (!names || !co__hooked() || (i = find(name)) < 0)
		return real_unsetenv()(name);
	if (!(v = values())) {
		errno = ENOMEM;
		return -1;
	}
	if (v[i] != CO__ENV_UNSET)
		free(v[i]);
	v[i] = CO__ENV_UNSET;
	return 0;
}
