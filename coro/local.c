/* SPDX-License-Identifier: MIT */
/*
 * local.c: co-local storage (co_setspecific/co_getspecific, destructors
 * for its values), names, and libco's co_gethostbyname, whose result is
 * co-local.
 *
 * libco gives every coroutine a 1024-slot array up front (8 KiB each); here
 * a coroutine that never stores a value pays one NULL pointer, and one that
 * does gets an array as long as its largest key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro-internal.h"
#include "coro/co_routine.h" /* after coro.h: co_gethostbyname with libcoro's types */

typedef void key_dtor_fn(void *value);

/*
 * co_key_destructor's table, by pthread key: process-wide, as the keys
 * are. Written when a program sets a destructor, read by co_release.
 */
static key_dtor_fn *key_dtors[PTHREAD_KEYS_MAX];

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

CO_API int co_key_destructor(pthread_key_t key, void (*dtor)(void *value))
{
	if (key >= PTHREAD_KEYS_MAX)
		return EINVAL;
	__atomic_store_n(&key_dtors[key], dtor, __ATOMIC_RELEASE);
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

/* Hands the values of keys that have a destructor to it (co_release). */
static void spec_destroy(struct co__ext *ext)
{
	for (unsigned key = 0; key < ext->nspec; key++) {
		void *value = ext->spec[key];
		key_dtor_fn *dtor;

		if (!value || !(dtor = __atomic_load_n(&key_dtors[key], __ATOMIC_ACQUIRE)))
			continue;
		ext->spec[key] = NULL;
		dtor(value);
	}
}

void co__ext_free(struct co__ext *ext)
{
	if (!ext)
		return;
	spec_destroy(ext);
	if (ext->env) {
		for (size_t i = 0; ext->env[i] != CO__ENV_END; i++)
			if (ext->env[i] != CO__ENV_UNSET)
				free(ext->env[i]);
		free(ext->env);
	}
	free(ext->name);
	free(ext->spec);
	free(ext->host);
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

static size_t list_len(char **list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

struct hostent *co__hostent_dup(const struct hostent *h)
{
	size_t naliases = list_len(h->h_aliases), naddrs = list_len(h->h_addr_list);
	size_t ptrs_at = sizeof(struct hostent);
	size_t size = ptrs_at + (naliases + 1 + naddrs + 1) * sizeof(char *) +
		      naddrs * (size_t)h->h_length + strlen(h->h_name) + 1;
	struct hostent *out;
	char *mem, *p, **ptrs;

	for (size_t i = 0; i < naliases; i++)
		size += strlen(h->h_aliases[i]) + 1;
	mem = malloc(size);
	if (!mem)
		return NULL;
	/* The hostent, then its pointer arrays (aligned: they follow a struct of pointers). */
	out = (struct hostent *)(void *)mem;
	ptrs = (char **)(void *)(mem + ptrs_at);
	p = (char *)(ptrs + naliases + 1 + naddrs + 1);
	out->h_addrtype = h->h_addrtype;
	out->h_length = h->h_length;
	out->h_aliases = ptrs;
	for (size_t i = 0; i < naliases; i++) {
		ptrs[i] = strcpy(p, h->h_aliases[i]);
		p += strlen(p) + 1;
	}
	ptrs[naliases] = NULL;
	out->h_addr_list = ptrs + naliases + 1;
	for (size_t i = 0; i < naddrs; i++) {
		out->h_addr_list[i] = memcpy(p, h->h_addr_list[i], (size_t)h->h_length);
		p += h->h_length;
	}
	out->h_addr_list[naddrs] = NULL;
	out->h_name = strcpy(p, h->h_name);
	return out;
}

/*
 * gethostbyname's result belongs to the thread, and another coroutine's
 * lookup replaces it while this one is suspended: a coroutine gets a copy
 * of its own, kept until its next call or its release (as libco's).
 */
CO_API struct hostent *co_gethostbyname(const char *name)
{
	struct co *self = co_self();
	struct hostent *h = gethostbyname(name), *copy;
	struct co__ext *ext;

	if (!h || !self)
		return h;
	if (!(ext = co__ext_get(self)) || !(copy = co__hostent_dup(h))) {
		h_errno = NO_RECOVERY;
		return NULL;
	}
	free(ext->host);
	ext->host = copy;
	return copy;
}
