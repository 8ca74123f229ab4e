/* SPDX-License-Identifier: MIT */
/*
 * send.c: how a notification is sent. HTTP (Alertmanager, webhooks) and
 * SMTP go through libcurl's easy API as blocking code in the notifier's
 * coroutine (hooked, so the thread never blocks); a command runs through
 * the exec probe, with the event on its stdin (a memfd) and in its
 * environment. Secrets in header values and SMTP credentials are written
 * ${env:NAME} or ${file:PATH} and expanded here, at each delivery, so
 * that their values are never kept, logged or shown.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/notify/notify-internal.h"
#include "daemon/probe/probe.h"

#define MAX_ANSWER (1u << 20)  /* bytes of a receiver's answer we read */
#define KEEP_ANSWER 200        /* ... and keep for an error message */
#define MAX_SECRET_FILE 65536
#define MAX_FDS 4

/* ---- ${env:NAME} and ${file:PATH} ----------------------------------------------- */

static char *read_secret_file(const char *path, char *err, size_t err_size, const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;
	size_t len = 0;

	if (fd < 0) {
		snprintf(err, err_size, "%s: cannot read %s: %s", what, path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAX_SECRET_FILE + 1);
	while (buf && (n = read(fd, buf + len, MAX_SECRET_FILE - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (!buf) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--; /* a file written by an editor ends with a newline */
	buf[len] = '\0';
	return buf;
}

char *notify__expand(const char *text, const char *what, char *err, size_t err_size)
{
	size_t cap = strlen(text) + 1, len = 0;
	char *out = malloc(cap);

	if (!out) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	for (const char *p = text; *p;) {
		const char *end, *value;
		char *owned = NULL, *name;
		size_t vlen;

		if (strncmp(p, "${env:", 6) != 0 && strncmp(p, "${file:", 7) != 0) {
			out[len++] = *p++;
			continue;
		}
		end = strchr(p, '}');
		if (!end) { /* the loader refuses these; be safe anyway */
			out[len++] = *p++;
			continue;
		}
		if (p[2] == 'e') {
			name = strndup(p + 6, (size_t)(end - p - 6));
			value = name ? getenv(name) : NULL;
			if (!value) {
				snprintf(err, err_size, "%s: the environment variable %s is not set",
					 what, name ? name : "?");
				free(name);
				free(out);
				return NULL;
			}
		} else {
			name = strndup(p + 7, (size_t)(end - p - 7));
			value = owned = name ? read_secret_file(name, err, err_size, what) : NULL;
			if (!value) {
				free(name);
				free(out);
				return NULL;
			}
		}
		free(name);
		vlen = strlen(value);
		cap += vlen;
		char *grown = realloc(out, cap);
		if (!grown) {
			free(owned);
			free(out);
			snprintf(err, err_size, "out of memory");
			return NULL;
		}
		out = grown;
		memcpy(out + len, value, vlen);
		len += vlen;
		free(owned);
		p = end + 1;
	}
	out[len] = '\0';
	return out;
}

/* ---- one libcurl exchange ------------------------------------------------------- */

struct xfer {
	struct notifier *nf;
	int fds[MAX_FDS];
	char answer[KEEP_ANSWER + 1];
	size_t answer_len, total;
	bool too_big;
	const char *upload;          /* SMTP: the message */
	size_t upload_len, upload_off;
};

static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct xfer *x = arg;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);

	(void)purpose;
	for (int i = 0; fd >= 0 && i < MAX_FDS; i++) {
		if (x->fds[i] < 0) {
			x->fds[i] = fd;
			break;
		}
	}
	return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int on_close(void *arg, curl_socket_t fd)
{
	struct xfer *x = arg;

	for (int i = 0; i < MAX_FDS; i++)
		if (x->fds[i] == fd)
			x->fds[i] = -1;
	return close(fd);
}

/*
 * Whether the exchange must end now: cancelled, or the room stopping; a
 * test (coctl notify test) also as soon as the daemon is stopping, since
 * the control server, which waits for its client, stops before the room.
 */
static bool cancelled(const struct notifier *nf)
{
	return nf->cancel || nf->n->stopping || (nf->test && nf->n->d && nf->n->d->stopping);
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct xfer *x = arg;

	(void)a, (void)b, (void)c, (void)d;
	return cancelled(x->nf);
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (x->total + len > MAX_ANSWER) {
		x->too_big = true;
		return 0;
	}
	x->total += len;
	if (x->answer_len < KEEP_ANSWER) {
		size_t k = KEEP_ANSWER - x->answer_len < len ? KEEP_ANSWER - x->answer_len : len;

		memcpy(x->answer + x->answer_len, data, k);
		x->answer_len += k;
		x->answer[x->answer_len] = '\0';
	}
	return len;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t want = size * n, left = x->upload_len - x->upload_off;

	if (want > left)
		want = left;
	memcpy(buf, x->upload + x->upload_off, want);
	x->upload_off += want;
	return want;
}

/* The kept handle, reset for a new exchange. */
static CURL *handle(struct notifier *nf, struct xfer *x)
{
	CURL *c = nf->curl;

	if (!c && !(c = nf->curl = curl_easy_init()))
		return NULL;
	curl_easy_reset(c);
	memset(x, 0, sizeof *x);
	x->nf = nf;
	for (int i = 0; i < MAX_FDS; i++)
		x->fds[i] = -1;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)nf->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)nf->cfg.timeout_ms);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, x);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	if (!nf->cfg.tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return c;
}

/* After curl_easy_perform: 0, or -1 with the reason. */
static int transfer_error(struct xfer *x, CURLcode rc, const char *errbuf, char *err,
			  size_t err_size)
{
	if (cancelled(x->nf)) {
		snprintf(err, err_size, "cancelled: the daemon is stopping");
		return -1;
	}
	if (x->too_big) {
		snprintf(err, err_size, "the receiver's answer is larger than %u KiB",
			 MAX_ANSWER >> 10);
		return -1;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		char d[32];

		snprintf(err, err_size, "timeout after %s",
			 config_format_duration(x->nf->cfg.timeout_ms, d, sizeof d));
		return -1;
	}
	if (rc != CURLE_OK) {
		long os_errno = 0;

		/*
		 * libcurl says "Couldn't connect to server" for a refused, an
		 * unreachable and a timed-out connect alike: the system's
		 * reason tells them apart.
		 */
		if (rc == CURLE_COULDNT_CONNECT && x->nf->curl &&
		    curl_easy_getinfo(x->nf->curl, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK &&
		    os_errno > 0)
			snprintf(err, err_size, "%s (%s)", *errbuf ? errbuf : curl_easy_strerror(rc),
				 strerror((int)os_errno));
		else
			snprintf(err, err_size, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

/* POSTs a JSON body to url with the notifier's headers; 2xx is a delivery. */
static int post_json(struct notifier *nf, const char *url, const char *body, char *err,
		     size_t err_size)
{
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL, *h;
	CURL *c = handle(nf, &x);
	CURLcode rc;
	long status = 0;
	int ret = -1;

	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	h = curl_slist_append(NULL, "Content-Type: application/json");
	headers = h;
	for (size_t i = 0; h && i < nf->cfg.nheaders; i++) {
		char what[128], *value, *line;

		snprintf(what, sizeof what, "header %s", nf->cfg.headers[i].key);
		value = notify__expand(nf->cfg.headers[i].value, what, err, err_size);
		if (!value)
			goto out;
		if (asprintf(&line, "%s: %s", nf->cfg.headers[i].key, value) < 0)
			line = NULL;
		explicit_bzero(value, strlen(value));
		free(value);
		h = line ? curl_slist_append(headers, line) : NULL;
		if (line) {
			explicit_bzero(line, strlen(line));
			free(line);
		}
		if (h)
			headers = h;
	}
	if (!h) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	nf->xfer = &x;
	rc = curl_easy_perform(c);
	nf->xfer = NULL;
	if (transfer_error(&x, rc, errbuf, err, err_size) < 0)
		goto out;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		/* The first line of the answer says why, usually. */
		x.answer[strcspn(x.answer, "\r\n")] = '\0';
		snprintf(err, err_size, "status %ld%s%s", status, *x.answer ? ": " : "", x.answer);
		goto out;
	}
	ret = 0;
out:
	/* The slist held the expanded secrets. */
	for (h = headers; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(headers);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	return ret;
}

/* ---- mail ------------------------------------------------------------------------- */

static int send_mail(struct notifier *nf, struct nevent *const *ev, size_t count, char *err,
		     size_t err_size)
{
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE] = "", host[256] = "localhost";
	struct curl_slist *rcpt = NULL;
	char *msg, *from, *user = NULL, *pass = NULL;
	CURL *c = handle(nf, &x);
	CURLcode rc;
	int ret = -1;

	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	gethostname(host, sizeof host - 1);
	msg = notify__mail(ev, count, &nf->cfg, sup_wall_ms(), ++nf->n->seq, nf->n->instance);
	from = notify__bare_address(nf->cfg.from);
	for (size_t i = 0; i < nf->cfg.nto; i++) {
		char *a = notify__bare_address(nf->cfg.to[i]);
		struct curl_slist *r = a ? curl_slist_append(rcpt, a) : NULL;

		free(a);
		if (!r) {
			curl_slist_free_all(rcpt);
			rcpt = NULL;
			break;
		}
		rcpt = r;
	}
	if (!msg || !from || !rcpt) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	if (nf->cfg.username &&
	    (!(user = notify__expand(nf->cfg.username, "username", err, err_size)) ||
	     !(pass = notify__expand(nf->cfg.password ? nf->cfg.password : "", "password", err,
				     err_size))))
		goto out;
	x.upload = msg;
	x.upload_len = strlen(msg);
	curl_easy_setopt(c, CURLOPT_URL, nf->cfg.smtp);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* smtp://: STARTTLS when the server offers it; smtps://: TLS from the start. */
	curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
	curl_easy_setopt(c, CURLOPT_READDATA, &x);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (user) {
		curl_easy_setopt(c, CURLOPT_USERNAME, user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
	}
	nf->xfer = &x;
	rc = curl_easy_perform(c);
	nf->xfer = NULL;
	ret = transfer_error(&x, rc, errbuf, err, err_size);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	/* No connection is reused across mails: each is its own SMTP session. */
	curl_easy_cleanup(c);
	nf->curl = NULL;
out:
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		free(pass);
	}
	free(user);
	curl_slist_free_all(rcpt);
	free(from);
	free(msg);
	return ret;
}

/* ---- a command ------------------------------------------------------------------- */

static int run_command(struct notifier *nf, const struct nevent *e, char *err, size_t err_size)
{
	char at[40], since[40], down_for[32], *json = notify__event_json(e, nf->cfg.name);
	struct cfg_pair env[9];
	struct job job = { 0 };
	struct probe p;
	size_t nenv = 0;
	int fd, ret;

	if (!json) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	fd = memfd_create("coro-runner-event", MFD_CLOEXEC);
	if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json) ||
	    write(fd, "\n", 1) != 1 || lseek(fd, 0, SEEK_SET) != 0) {
		snprintf(err, err_size, "cannot hold the event for the command's stdin: %s",
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		free(json);
		return -1;
	}
	free(json);
#define ENV(k, v) (env[nenv].key = (char *)(k), env[nenv].value = (char *)(v), nenv++)
	ENV("CORO_EVENT", nevent_kind_name(e->kind));
	ENV("CORO_JOB", e->job);
	ENV("CORO_INSTANCE", e->instance);
	ENV("CORO_ERROR", e->error);
	ENV("CORO_AT", notify__time(e->at_ms, at, sizeof at));
	ENV("CORO_SINCE", notify__time(e->since_ms, since, sizeof since));
	ENV("CORO_NOTIFIER", nf->cfg.name);
	snprintf(down_for, sizeof down_for, "%lld",
		 e->kind == NEV_UP && e->since_ms > 0 ? (long long)((e->at_ms - e->since_ms) / 1000) :
							 0LL);
	ENV("CORO_DOWN_FOR", down_for);
	ENV("CORO_MEMBER", e->member ? e->member : "");
#undef ENV
	job.name = nf->cfg.name;
	job.type = JOB_EXEC;
	job.timeout_ms = nf->cfg.timeout_ms;
	job.u.exec.argv = nf->cfg.argv;
	job.u.exec.argc = nf->cfg.argc;
	job.u.exec.env = env;
	job.u.exec.nenv = nenv;
	job.u.exec.output_limit = 4096;
	job.u.exec.kill_grace_ms = 2000;
	probe_init(&p, &job);
	p.stdin_fd = fd;
	nf->probe = &p;
	ret = probe_run(&p);
	nf->probe = NULL;
	close(fd);
	if (ret < 0) {
		snprintf(err, err_size, "cancelled");
		probe_result_free(&p.result);
		return -1;
	}
	ret = p.result.ok ? 0 : -1;
	if (!p.result.ok) {
		/* What the command said, for the failure's log line: its first line. */
		size_t n = p.result.output_len;
		const char *out = p.result.output;

		if (out && n) {
			const char *nl = memchr(out, '\n', n);

			n = nl ? (size_t)(nl - out) : n;
			snprintf(err, err_size, "%s: %.*s", p.result.error, (int)(n > 160 ? 160 : n), out);
		} else {
			snprintf(err, err_size, "%s", p.result.error);
		}
	}
	probe_result_free(&p.result);
	return ret;
}

/* ---- dispatch ----------------------------------------------------------------------- */

int notify__send(struct notifier *nf, struct nevent *const *ev, size_t count, char *err,
		 size_t err_size)
{
	char *body;
	int ret;

	err[0] = '\0';
	switch (nf->cfg.type) {
	case NOTIFIER_ALERTMANAGER:
		body = notify__am_alerts(ev, count, sup_wall_ms());
		if (!body) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		ret = post_json(nf, nf->api_url, body, err, err_size);
		free(body);
		return ret;
	case NOTIFIER_WEBHOOK:
		body = notify__webhook(ev[0], nf->cfg.name, NULL);
		if (!body) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		ret = post_json(nf, nf->cfg.url, body, err, err_size);
		free(body);
		return ret;
	case NOTIFIER_EMAIL:
		return send_mail(nf, ev, count, err, err_size);
	case NOTIFIER_EXEC:
		return run_command(nf, ev[0], err, err_size);
	}
	snprintf(err, err_size, "unknown notifier type");
	return -1;
}

void notify__send_cancel(struct notifier *nf)
{
	struct xfer *x = nf->xfer;

	nf->cancel = true;
	for (int i = 0; x && i < MAX_FDS; i++)
		if (x->fds[i] >= 0)
			shutdown(x->fds[i], SHUT_RDWR); /* wakes the poll it blocks in */
	if (nf->probe)
		probe_cancel(nf->probe);
}

void notify__send_free(struct notifier *nf)
{
	if (nf->curl)
		curl_easy_cleanup(nf->curl);
	nf->curl = NULL;
}
