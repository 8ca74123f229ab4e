/* SPDX-License-Identifier: MIT */
/*
 * values.c: the scalar grammars of the configuration: durations, sizes,
 * whole numbers, booleans, host:port targets, URLs, names, the words of
 * a list and suggestions for a misspelt one.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

#define MS_PER_YEAR (365ull * 24 * 3600 * 1000)

static const struct {
	const char *unit;
	uint64_t ms;
} duration_units[] = {
	{ "w", 7ull * 24 * 3600 * 1000 },
	{ "d", 24ull * 3600 * 1000 },
	{ "h", 3600ull * 1000 },
	{ "m", 60ull * 1000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

#define NUNITS (sizeof duration_units / sizeof *duration_units)

int config_parse_duration(const char *text, uint64_t *ret_ms)
{
	const char *p = text;
	uint64_t total = 0;
	size_t last = 0; /* units must come in decreasing order, each once */
	int any = 0;

	if (!text || !*text)
		return -EINVAL;
	while (*p) {
		uint64_t n = 0;
		const char *digits = p;
		size_t u;

		while (*p >= '0' && *p <= '9') {
			if (n > UINT64_MAX / 10 - 10)
				return -ERANGE;
			n = n * 10 + (uint64_t)(*p++ - '0');
		}
		if (p == digits)
			return -EINVAL;
		for (u = 0; u < NUNITS; u++) {
			size_t ul = strlen(duration_units[u].unit);

			/* "m" must not swallow the "m" of "ms". */
			if (strncmp(p, duration_units[u].unit, ul) == 0 &&
			    !(duration_units[u].unit[0] == 'm' && ul == 1 && p[1] == 's'))
				break;
		}
		if (u == NUNITS || (any && u <= last))
			return -EINVAL;
		if (n > 100 * MS_PER_YEAR / duration_units[u].ms)
			return -ERANGE;
		total += n * duration_units[u].ms;
		if (total > 100 * MS_PER_YEAR)
			return -ERANGE;
		p += strlen(duration_units[u].unit);
		last = u;
		any = 1;
	}
	*ret_ms = total;
	return 0;
}

char *config_format_duration(uint64_t ms, char *buf, size_t size)
{
	size_t off = 0;

	if (!size)
		return buf;
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	for (size_t u = 1; u < NUNITS && off < size; u++) { /* days down, no weeks */
		uint64_t n = ms / duration_units[u].ms;

		if (!n)
			continue;
		ms -= n * duration_units[u].ms;
		off += (size_t)snprintf(buf + off, size - off, "%llu%s", (unsigned long long)n,
					duration_units[u].unit);
	}
	return buf;
}

int cfg__parse_uint(const char *text, uint64_t max, uint64_t *ret)
{
	uint64_t n = 0;

	if (!*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (n > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (n > max)
		return -ERANGE;
	*ret = n;
	return 0;
}

int cfg__parse_size(const char *text, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = { { "KiB", 1024 }, { "MiB", 1024 * 1024 }, { "k", 1000 }, { "M", 1000000 },
		      { "B", 1 } };
	char digits[32];
	size_t n = strspn(text, "0123456789");
	uint64_t v, mult = 1;

	if (n == 0 || n >= sizeof digits)
		return -EINVAL;
	if (text[n]) {
		size_t u;

		for (u = 0; u < sizeof units / sizeof *units; u++)
			if (strcmp(text + n, units[u].suffix) == 0)
				break;
		if (u == sizeof units / sizeof *units)
			return -EINVAL;
		mult = units[u].mult;
	}
	memcpy(digits, text, n);
	digits[n] = '\0';
	if (cfg__parse_uint(digits, UINT64_MAX / mult, &v) < 0)
		return -ERANGE;
	*ret = v * mult;
	return 0;
}

int cfg__parse_bool(const char *text, bool *ret)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* A host name (RFC 1123 labels, underscores allowed) or an IPv4 address. */
static bool host_name_ok(const char *h, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = h[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

const char *cfg__parse_hostport(const char *text, bool port_required, uint16_t default_port,
				char *host, size_t hostsize, uint16_t *port)
{
	const char *colon, *h = text;
	size_t hlen;
	uint64_t p;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		unsigned char a6[16];

		if (!end)
			return "an IPv6 address in brackets is missing its \"]\"";
		hlen = (size_t)(end - text - 1);
		if (hlen == 0 || hlen >= hostsize)
			return "an empty or overlong IPv6 address";
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, a6) != 1)
			return "not an IPv6 address in the brackets";
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return "expected \":PORT\" after \"]\"";
	} else {
		colon = strrchr(text, ':');
		if (colon && strchr(text, ':') != colon)
			return "an IPv6 address must be written in brackets: [::1]:53";
		hlen = colon ? (size_t)(colon - text) : strlen(text);
		if (hlen == 0)
			return "the host is missing";
		if (hlen >= hostsize || !host_name_ok(h, hlen))
			return "not a valid host name or address";
		memcpy(host, text, hlen);
		host[hlen] = '\0';
	}
	if (!colon) {
		if (port_required)
			return "the port is missing (expected HOST:PORT)";
		*port = default_port;
		return NULL;
	}
	if (cfg__parse_uint(colon + 1, 65535, &p) < 0 || p == 0)
		return "the port must be a number from 1 to 65535";
	*port = (uint16_t)p;
	return NULL;
}

const char *cfg__check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	const char *problem = NULL;

	if (!u)
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		problem = "not a valid URL (expected http://HOST[:PORT]/PATH or https://...)";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		problem = "the URL must start with http:// or https://";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
		problem = "the URL has no host";
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return problem;
}

const char *cfg__check_endpoint(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *problem = NULL;
	CURLU *u;
	char *host = NULL, *port = NULL;
	uint64_t p;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return "an endpoint must start with http:// or https://";
	/* libcurl fills in a path of "/": look at the text itself for what follows the port. */
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)))
		return "an endpoint has no user name or password (etcd's client certificates go in "
		       "\"cert\" and \"key\")";
	if (*end == '/')
		return "an endpoint has no path, not even \"/\": etcd's API is at the root "
		       "(http://HOST:PORT)";
	if (*end)
		return "an endpoint has no query or fragment (http://HOST:PORT)";
	u = curl_url();
	if (!u)
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		problem = "not a valid URL (expected http://HOST:PORT or https://HOST:PORT)";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
		 (host[0] != '[' && !host_name_ok(host, strlen(host))))
		problem = "not a valid host name or address (expected http://HOST:PORT)";
	else if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		problem = "the port is missing (etcd's clients use 2379: http://HOST:2379)";
	else if (cfg__parse_uint(port, 65535, &p) < 0 || p == 0)
		problem = "the port must be a number from 1 to 65535";
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return problem;
}

/* Whether the len bytes at s are [A-Za-z_][A-Za-z0-9_]*. */
static bool env_name_ok(const char *s, size_t len)
{
	if (!len || (*s >= '0' && *s <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '_' || isalnum((unsigned char)s[i])) || (unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

const char *cfg__check_smtp_url(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *problem = NULL;
	CURLU *u;
	char *host = NULL, *port = NULL;
	CURLUcode pr;
	uint64_t p;

	if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0)
		return "the URL must start with smtp:// (STARTTLS when the server offers it) or "
		       "smtps://";
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)))
		return "the URL has no user name or password: they go in \"username\" and "
		       "\"password\"";
	if (*end == '/')
		return "the URL has no path, not even \"/\" (smtp://HOST[:PORT])";
	if (*end)
		return "the URL has no query or fragment (smtp://HOST[:PORT])";
	u = curl_url();
	if (!u)
		return "out of memory";
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
		problem = "not a valid URL (expected smtp://HOST[:PORT] or smtps://HOST[:PORT])";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
		 (host[0] != '[' && !host_name_ok(host, strlen(host))))
		problem = "not a valid host name or address (expected smtp://HOST[:PORT])";
	else if ((pr = curl_url_get(u, CURLUPART_PORT, &port, 0)) != CURLUE_OK &&
		 pr != CURLUE_NO_PORT)
		problem = "not a valid port (expected smtp://HOST[:PORT])";
	else if (port && (cfg__parse_uint(port, 65535, &p) < 0 || p == 0))
		problem = "the port must be a number from 1 to 65535";
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return problem;
}

/* The characters of an unquoted local part besides letters, digits and dots (RFC 5322 atext). */
#define ATEXT "!#$%&'*+-/=?^_`{|}~"

/* What is wrong with local@domain (len bytes at a), or NULL. */
static const char *addr_spec_problem(const char *a, size_t len)
{
	const char *at = memrchr(a, '@', len);
	size_t local, domain;

	if (!at)
		return "not a mail address: expected local@domain, or \"Name <local@domain>\"";
	local = (size_t)(at - a);
	domain = len - local - 1;
	if (!local || local > 64)
		return "the part before \"@\" must be 1 to 64 characters";
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c == '.' ? i == 0 || i == local - 1 || a[i - 1] == '.' :
			       c >= 0x80 || !(isalnum(c) || strchr(ATEXT, c)))
			return "the part before \"@\" has a character that needs quoting (letters, "
			       "digits, dots between them and !#$%&'*+-/=?^_`{|}~ only)";
	}
	if (!domain || !host_name_ok(at + 1, domain) || at[domain] == '.')
		return "the part after \"@\" is not a host name";
	if (len > 254)
		return "an address is at most 254 characters";
	return NULL;
}

const char *cfg__address_problem(const char *text)
{
	const char *lt = strchr(text, '<'), *gt = strchr(text, '>');
	size_t len = strlen(text);

	for (const char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "a control character in an address";
	if (strpbrk(text, ",;"))
		return "more than one address: give one";
	if (!lt && !gt) {
		if (strchr(text, ' '))
			return "not a mail address: expected local@domain, or \"Name <local@domain>\"";
		return addr_spec_problem(text, len);
	}
	if (!lt || !gt || gt < lt || gt != text + len - 1 || strchr(lt + 1, '<'))
		return "expected \"Name <local@domain>\": one \"<\", then the address, then \">\" "
		       "at the end";
	for (const char *p = text; p < lt; p++)
		if ((unsigned char)*p >= 0x80)
			return "the name before \"<\" is not ASCII (it would need MIME encoding)";
	return addr_spec_problem(lt + 1, (size_t)(gt - lt - 1));
}

const char *cfg__expansion_problem(const char *text, char *buf, size_t size)
{
	static const char want[] = "expected ${env:NAME} or ${file:/PATH}";

	for (const char *p = strstr(text, "${"); p; p = strstr(p, "${")) {
		const char *end = strchr(p + 2, '}');
		int n;

		if (!end) {
			snprintf(buf, size, "a \"${\" has no closing \"}\" (%s)", want);
			return buf;
		}
		n = end + 1 - p > 64 ? 64 : (int)(end + 1 - p);
		if (strncmp(p + 2, "env:", 4) == 0) {
			if (!env_name_ok(p + 6, (size_t)(end - p - 6))) {
				snprintf(buf, size, "\"%.*s\": not an environment variable name "
					 "([A-Za-z_][A-Za-z0-9_]*) after \"env:\"", n, p);
				return buf;
			}
		} else if (strncmp(p + 2, "file:", 5) == 0) {
			if (p[7] != '/') {
				snprintf(buf, size, "\"%.*s\": the path after \"file:\" must be absolute",
					 n, p);
				return buf;
			}
		} else {
			snprintf(buf, size, "\"%.*s\": %s", n, p, want);
			return buf;
		}
		p = end + 1;
	}
	return NULL;
}

const char *cfg__header_name_problem(const char *name)
{
	if (!*name)
		return "is not a header name";
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}", *p))
			return "is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)";
	return NULL;
}

const char *cfg__env_name_problem(const char *name)
{
	if (!env_name_ok(name, strlen(name)))
		return "is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
	return NULL;
}

bool cfg__name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

int cfg__word_index(const char *word, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(word, list[i]) == 0)
			return (int)i;
	return -1;
}

/* Optimal string alignment distance, capped: enough to suggest a key. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[40][40];

	if (la >= 40 || lb >= 40)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

const char *cfg__suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = 99, wl = strlen(word);

	for (size_t i = 0; i < n; i++) {
		size_t d = distance(word, candidates[i]);

		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	/* Close enough to be a typo, not a different word. */
	if (best && best_d <= 2 && best_d * 3 <= wl + 1)
		return best;
	return NULL;
}
