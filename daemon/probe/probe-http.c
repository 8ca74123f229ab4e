/* SPDX-License-Identifier: MIT */
/*
 * probe-http.c: an http or https job, through libcurl's easy API run as
 * ordinary blocking code in the job's coroutine; the system call hooks make
 * its connect, poll, read and write yield to the loop (SPEC §4, issue 5).
 *
 * Cancellation reaches curl two ways: every socket it opens is tracked, so
 * probe_cancel's shutdown() wakes a blocked poll at once, and the progress
 * callback aborts the transfer as soon as p->cancelled is seen.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/probe/probe.h"

/* Enough of a body for expect_body and expect_body_regex; the rest is read and dropped. */
#define BODY_MAX (1024 * 1024)

struct http_run {
	struct probe *p;
	bool want_body;   /* the job checks the body: keep it */
	char *body;       /* heap, NUL-terminated, at most BODY_MAX bytes */
	size_t len;
	size_t cap;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct http_run *r = arg;
	size_t len = size * n, take;

	if (r->p->cancelled)
		return 0; /* less than given: an error */
	if (!r->want_body || r->len >= BODY_MAX)
		return len;
	take = len < BODY_MAX - r->len ? len : BODY_MAX - r->len;
	if (r->len + take + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 4096;
		char *b;

		while (cap < r->len + take + 1)
			cap *= 2;
		if (cap > BODY_MAX + 1)
			cap = BODY_MAX + 1;
		b = realloc(r->body, cap);
		if (!b)
			return 0; /* less than given: an error */
		r->body = b;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, take);
	r->len += take;
	r->body[r->len] = '\0';
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_run *r = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return r->p->cancelled ? 1 : 0;
}

static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct http_run *r = arg;
	int fd;

	(void)purpose;
	if (r->p->cancelled)
		return CURL_SOCKET_BAD;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd >= 0)
		probe_track_fd(r->p, fd);
	return fd >= 0 ? fd : CURL_SOCKET_BAD;
}

static int on_close_socket(void *arg, curl_socket_t fd)
{
	struct http_run *r = arg;

	probe_untrack_fd(r->p, fd);
	return close(fd);
}

/* The system's reason, as our errors spell it: "connection refused". */
static void os_error(char *e, const char *what, int err)
{
	int n = snprintf(e, PROBE_ERROR_MAX, "%s: %s", what, strerror(err));
	size_t at = strlen(what) + 2;

	if (n > 0 && at < PROBE_ERROR_MAX && e[at] >= 'A' && e[at] <= 'Z')
		e[at] = (char)(e[at] - 'A' + 'a');
}

static void curl_error(struct probe *p, CURLcode rc, long os_errno)
{
	char *e = p->result.error;
	char t[32];

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		config_format_duration(p->job->timeout_ms, t, sizeof t);
		snprintf(e, PROBE_ERROR_MAX, "timeout after %s", t);
		return;
	case CURLE_COULDNT_CONNECT:
		if (os_errno > 0)
			os_error(e, "connect", (int)os_errno);
		else
			snprintf(e, PROBE_ERROR_MAX, "connect: failed");
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(e, PROBE_ERROR_MAX, "resolve: host not found");
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
		snprintf(e, PROBE_ERROR_MAX, "tls: certificate verification failed");
		return;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(e, PROBE_ERROR_MAX, "tls: handshake failed");
		return;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(e, PROBE_ERROR_MAX, "tls: cannot read the CA certificates");
		return;
	case CURLE_GOT_NOTHING:
		snprintf(e, PROBE_ERROR_MAX, "empty reply");
		return;
	case CURLE_RECV_ERROR:
		snprintf(e, PROBE_ERROR_MAX, "receive failed");
		return;
	case CURLE_SEND_ERROR:
		snprintf(e, PROBE_ERROR_MAX, "send failed");
		return;
	case CURLE_TOO_MANY_REDIRECTS:
		snprintf(e, PROBE_ERROR_MAX, "too many redirects");
		return;
	default:
		snprintf(e, PROBE_ERROR_MAX, "%s", curl_easy_strerror(rc));
		/* curl's texts start with a capital: ours do not. */
		if (e[0] >= 'A' && e[0] <= 'Z' && !(e[1] >= 'A' && e[1] <= 'Z'))
			e[0] = (char)(e[0] - 'A' + 'a');
	}
}

static bool status_expected(const struct job_http *h, long status)
{
	if (h->nexpect_status == 0)
		return status >= 200 && status <= 299;
	for (size_t i = 0; i < h->nexpect_status; i++)
		if (h->expect_status[i] == status)
			return true;
	return false;
}

static void status_error(struct probe *p, const struct job_http *h, long status)
{
	char *e = p->result.error;
	int n = snprintf(e, PROBE_ERROR_MAX, "status %ld (expected ", status);

	if (h->nexpect_status == 0)
		n += snprintf(e + n, PROBE_ERROR_MAX - (size_t)n, "200-299");
	for (size_t i = 0; i < h->nexpect_status && n < PROBE_ERROR_MAX - 8; i++)
		n += snprintf(e + n, PROBE_ERROR_MAX - (size_t)n, "%s%d",
			      i ? ", " : "", h->expect_status[i]);
	if (n < PROBE_ERROR_MAX - 1)
		snprintf(e + n, PROBE_ERROR_MAX - (size_t)n, ")");
}

/* Sets ok, or the error, from what came back. */
static void check_response(struct probe *p, const struct job_http *h, struct http_run *r)
{
	const char *body = r->body ? r->body : "";
	long status = p->result.http_status;

	if (!status_expected(h, status)) {
		status_error(p, h, status);
		return;
	}
	if (h->expect_body && !memmem(body, r->len, h->expect_body, strlen(h->expect_body))) {
		snprintf(p->result.error, PROBE_ERROR_MAX, "body lacks \"%s\"", h->expect_body);
		return;
	}
	if (h->expect_body_regex) {
		regex_t re;
		int rc = regcomp(&re, h->expect_body_regex, REG_EXTENDED | REG_NOSUB);

		if (rc != 0) {
			/* The configuration checked it: only memory can fail here. */
			snprintf(p->result.error, PROBE_ERROR_MAX, "regex: cannot compile /%s/",
				 h->expect_body_regex);
			return;
		}
		rc = regexec(&re, body, 0, NULL, 0);
		regfree(&re);
		if (rc != 0) {
			snprintf(p->result.error, PROBE_ERROR_MAX, "body does not match /%s/",
				 h->expect_body_regex);
			return;
		}
	}
	p->result.ok = true;
}

static struct curl_slist *make_headers(const struct job_http *h, bool *failed)
{
	struct curl_slist *list = NULL;

	*failed = false;
	for (size_t i = 0; i < h->nheaders; i++) {
		char line[1024];
		struct curl_slist *l;

		/* "Name;" is curl's way to send a header with an empty value. */
		if (h->headers[i].value[0])
			snprintf(line, sizeof line, "%s: %s", h->headers[i].key, h->headers[i].value);
		else
			snprintf(line, sizeof line, "%s;", h->headers[i].key);
		l = curl_slist_append(list, line);
		if (!l) {
			*failed = true;
			return list;
		}
		list = l;
	}
	return list;
}

static void set_options(CURL *curl, const struct job *job, struct http_run *r,
			struct curl_slist *headers)
{
	const struct job_http *h = &job->u.http;
	const char *method = h->method ? h->method : "GET";

	curl_easy_setopt(curl, CURLOPT_URL, h->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)job->timeout_ms);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (h->body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(h->body));
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, h->body);
	}
	if (headers)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (!h->tls_verify) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, h->follow_redirects ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(curl, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
	curl_easy_setopt(curl, CURLOPT_CLOSESOCKETDATA, r);
	/* One connection per run: nothing stays open between runs. */
	curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
}

int probe_http(struct probe *p)
{
	const struct job_http *h = &p->job->u.http;
	struct http_run r = { .p = p, .want_body = h->expect_body || h->expect_body_regex };
	uint64_t t0 = probe_now_us();
	struct curl_slist *headers;
	bool failed;
	CURL *curl;
	CURLcode rc;
	long status = 0;
	int ret = 0;

	if (p->cancelled)
		return -ECANCELED;
	curl = curl_easy_init();
	if (!curl)
		return -ENOMEM;
	headers = make_headers(h, &failed);
	if (failed) {
		ret = -ENOMEM;
		goto out;
	}
	set_options(curl, p->job, &r, headers);
	rc = curl_easy_perform(curl);
	if (p->cancelled) {
		ret = -ECANCELED;
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	p->result.http_status = (int)status;
	if (rc != CURLE_OK) {
		long os_errno = 0;

		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
		curl_error(p, rc, os_errno);
	}
	else
		check_response(p, h, &r);
out:
	/* cleanup closes the sockets (through on_close_socket): untracked after. */
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	free(r.body);
	p->result.duration_us = probe_now_us() - t0;
	return ret;
}
