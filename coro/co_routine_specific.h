/* SPDX-License-Identifier: MIT */
/*
 * co_routine_specific.h: libco's CO_ROUTINE_SPECIFIC, for C++ (98 on).
 *
 *   struct conn_stats { int requests; char peer[64]; };
 *   CO_ROUTINE_SPECIFIC(conn_stats, g_stats);
 *
 *   void *serve(void *arg)
 *   {
 *           g_stats->requests++;       (this coroutine's own conn_stats)
 *           ...
 *   }
 *
 * CO_ROUTINE_SPECIFIC(type, var), at namespace scope, defines a static
 * object var whose operator-> returns the running coroutine's own type
 * object, or on a thread's main context the thread's own. Each is made on
 * first use and value-initialised (new type()): a plain struct starts
 * zeroed, as libco's calloc'ed one did, and a class with a constructor
 * gets it run. Each use of the macro has its own pthread key, created once
 * (pthread_once), and the objects are co-local values (co_setspecific).
 *
 * A coroutine's object is deleted when the coroutine is released
 * (co_key_destructor, coro.h), a thread's main-context object when the
 * thread exits (the key's pthread destructor; not for the initial thread,
 * which ends with the process). libco never freed them. operator->
 * returns NULL when out of memory or out of pthread keys, as libco's did.
 *
 * Names it brings besides var: co_setspecific, co_getspecific and
 * co_key_destructor (C linkage), the namespace libcoro_specific, and
 * var##_co_routine_specific_tag in an anonymous namespace.
 */
#ifndef CORO_CO_ROUTINE_SPECIFIC_H
#define CORO_CO_ROUTINE_SPECIFIC_H

#ifndef __cplusplus
#error "co_routine_specific.h is C++ (as libco's); from C use co_getspecific and co_setspecific"
#endif

#include <new>
#include <pthread.h>

extern "C" {
int co_setspecific(pthread_key_t key, const void *value);
void *co_getspecific(pthread_key_t key);
int co_key_destructor(pthread_key_t key, void (*dtor)(void *value));
}

namespace libcoro_specific {

/*
 * The type of a CO_ROUTINE_SPECIFIC variable. Tag is a type of the
 * macro's own, so that every use gets its own key (the static members
 * below), even for the same T.
 */
template <class T, class Tag>
class object {
public:
	T *operator->()
	{
		if (pthread_once(&once_, make_key) != 0 || !key_ok_)
			return 0;
		T *p = static_cast<T *>(co_getspecific(key_));
		if (!p) {
			p = new (std::nothrow) T();
			if (p && co_setspecific(key_, p) != 0) {
				delete p;
				p = 0;
			}
		}
		return p;
	}

private:
	static void destroy(void *p)
	{
		delete static_cast<T *>(p);
	}

	static void make_key()
	{
		if (pthread_key_create(&key_, destroy) != 0)
			return;
		if (co_key_destructor(key_, destroy) != 0) {
			pthread_key_delete(key_);
			return;
		}
		key_ok_ = true;
	}

	/* Constant-initialised: usable from other objects' constructors. */
	static pthread_once_t once_;
	static pthread_key_t key_;
	static bool key_ok_;
};

template <class T, class Tag>
pthread_once_t object<T, Tag>::once_ = PTHREAD_ONCE_INIT;
template <class T, class Tag>
pthread_key_t object<T, Tag>::key_;
template <class T, class Tag>
bool object<T, Tag>::key_ok_ = false;

} /* namespace libcoro_specific */

#define CO_ROUTINE_SPECIFIC(type, var)                                       \
	namespace {                                                          \
	struct var##_co_routine_specific_tag {};                             \
	}                                                                    \
	static ::libcoro_specific::object<type, var##_co_routine_specific_tag> var

#endif
