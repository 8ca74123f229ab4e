/* SPDX-License-Identifier: MIT */
/*
 * local.c: co-local storage (co_setspecific/co_getspecific) and names.
 *
 * libco gives every coroutine a 1024-slot array up front (8 KiB each); here
 * a coroutine that never stores a value pays one NULL pointer, and one that
 * does gets an array as long as its largest key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro-internal.h"

struct co__ext *co__ext_get(struct co *co)
{
	if (!co->ext)
		co->ext = calloc(1, sizeof *co->ext);
	return co->ext;
}

CO_API int co_setspecific(pthread_key_t key, const void *value)
{
	struct co *co = co_self();
	struct co__ext *ext;

	if (!co)
		return pthread_setspecific(key, value);
	if (key >= PTHREAD_KEYS_MAX)
		return EINVAL;
	ext = co__ext_get(co);
	if (!ext)
		return ENOMEM;
	if (key >= ext->nspec) {
		unsigned n = key + 1 > 2 * ext->nspec ? key + 1 : 2 * ext->nspec;
		void **spec = realloc(ext->spec, n * sizeof *spec);

		if (!spec)
			return ENOMEM;
		memset(spec + ext->nspec, 0, (n - ext->nspec) * sizeof *spec);
		ext->spec = spec;
		ext->nspec = n;
	}
	ext->spec[key] = (void *)value;
	return 0;
}

CO_API void *co_getspecific(pthread_key_t key)
{
	struct co *co = co_self();

	if (!co)
		return pthread_getspecific(key);
	if (!co->ext || key >= co->ext->nspec)
		return NULL;
	return co->ext->spec[key];
}

void co__ext_free(struct co__ext *ext)
{
	if (!ext)
		return;
	if (ext->env) {
		for (size_t i = 0; ext->env[i] != CO__ENV_END; i++)
			if (ext->env[i] != CO__ENV_UNSET)
				free(ext->env[i]);
		free(ext->env);
	}
	free(ext->name);
	free(ext->spec);
	free(ext);
}

CO_API int co_set_name(struct co *co, const char *name)
{
	struct co__ext *ext = co__ext_get(co);
	char *copy;

	if (!ext)
		return -ENOMEM;
	copy = name ? strdup(name) : NULL;
	if (name && !copy)
		return -ENOMEM;
	free(ext->name);
	ext->name = copy;
	return 0;
}

CO_API int co_set_resolve_timeout(int timeout_ms)
{
	struct co *self = co_self();
	struct co__ext *ext;

	if (!self)
		return -EPERM;
	if (timeout_ms < 0)
		return -EINVAL;
	if (!timeout_ms && !self->ext)
		return 0;
	ext = co__ext_get(self);
	if (!ext)
		return -ENOMEM;
	ext->resolve_timeout_ms = timeout_ms;
	return 0;
}

CO_API const char *co_get_name(const struct co *co)
{
	return co->ext ? co->ext->name : NULL;
}
