/* SPDX-License-Identifier: MIT */
/*
 * values.h (internal to config/): parsers of single values.
 */
#ifndef CORO_CONFIG_VALUES_H
#define CORO_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A whole number written with digits only, at most max: 0, -EINVAL, -ERANGE. */
int cfg__parse_uint(const char *text, uint64_t max, uint64_t *ret);
/* Bytes: digits with an optional unit B, k, M, KiB, MiB. */
int cfg__parse_size(const char *text, uint64_t *ret);
/* true/false, yes/no, on/off (any case). */
int cfg__parse_bool(const char *text, bool *ret);
/*
 * HOST:PORT, [IPV6]:PORT, or (port_required false) a host alone, which gets
 * default_port. Returns NULL, or what is wrong (a static string).
 */
const char *cfg__parse_hostport(const char *text, bool port_required, uint16_t default_port,
				char *host, size_t hostsize, uint16_t *port);
/* NULL if url is an http(s) URL with a host, else what is wrong. */
const char *cfg__check_url(const char *url);
/*
 * NULL if url is an etcd endpoint: http:// or https://, a host and a port,
 * and nothing after them (no path, query, fragment or user name); else
 * what is wrong.
 */
const char *cfg__check_endpoint(const char *url);
/*
 * NULL if url is an SMTP server's: smtp:// or smtps://, a host and an
 * optional port, and nothing after them (no user name, path, query or
 * fragment); else what is wrong.
 */
const char *cfg__check_smtp_url(const char *url);
/*
 * NULL if text is one mail address, local@domain or "Display Name
 * <local@domain>" (ASCII, an unquoted local part, a host name as the
 * domain); else what is wrong.
 */
const char *cfg__address_problem(const char *text);
/*
 * NULL if every "${" in text starts ${env:NAME} or ${file:/PATH}; else
 * what is wrong, written into buf (size bytes), which is returned. The
 * message quotes the bad ${...} only, never the rest of the text (it may
 * be a secret).
 */
const char *cfg__expansion_problem(const char *text, char *buf, size_t size);
/* NULL if name is an HTTP header name (an RFC 9110 token), else what is wrong. */
const char *cfg__header_name_problem(const char *name);
/* NULL if name is an environment variable name ([A-Za-z_][A-Za-z0-9_]*), else what is wrong. */
const char *cfg__env_name_problem(const char *name);
/* A job name: [A-Za-z0-9_.-]{1,64}. */
bool cfg__name_ok(const char *name);
/* The index of word in list (n words), or -1. */
int cfg__word_index(const char *word, const char *const *list, size_t n);
/* The candidate word is most likely a typo of, or NULL. */
const char *cfg__suggest(const char *word, const char *const *candidates, size_t n);

#endif
