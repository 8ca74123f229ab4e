/* SPDX-License-Identifier: MIT */
/*
 * client.c: coctl's side of the control protocol (docs/protocol.md): the
 * socket's path, one request line out, one reply line in, and what the
 * reply's error codes mean as exit codes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/coctl.h"

struct global_opts opts;

/* The last reply as the daemon sent it (a line), for -o json. */
static char *reply_line;
static size_t reply_line_len;

int command_options(int argc, char **argv, const char *help)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		GLOBAL_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return EXIT_OK;
		}
		r = global_option(argv[0], c, optarg);
		if (r > 0)
			return r;
		if (r < 0)
			return option_error(argv[0], c, argv);
	}
	return -1;
}

int global_option(const char *command, int c, const char *arg)
{
	switch (c) {
	case 's':
		opts.socket = arg;
		return 0;
	case 'o':
		if (strcmp(arg, "json") == 0 || strcmp(arg, "json-pretty") == 0) {
			opts.json = true;
			opts.pretty = arg[4] != '\0';
		} else if (strcmp(arg, "table") == 0 || strcmp(arg, "text") == 0) {
			opts.json = false;
		} else {
			return usage_error(command, "%s%s-o: unknown format '%s' (json, json-pretty "
					   "or table)", command ? command : "", command ? ": " : "", arg);
		}
		return 0;
	case 'J':
		opts.json = true;
		return 0;
	case 'L':
		opts.no_legend = true;
		return 0;
	}
	return -1;
}

static const char *socket_path(void)
{
	const char *env = getenv("CORO_RUNNER_SOCKET");

	if (opts.socket)
		return opts.socket;
	return env && *env ? env : DEFAULT_SOCKET;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int unreachable(const char *path, const char *what, int err)
{
	fprintf(stderr, "coctl: cannot reach coro-runnerd at %s: %s%s%s\n", path, what,
		err ? ": " : "", err ? strerror(err) : "");
	if (err == ENOENT || err == ECONNREFUSED)
		fputs("Is it running? ('systemctl status coro-runnerd'; -s PATH or "
		      "CORO_RUNNER_SOCKET name another socket)\n", stderr);
	else if (err == EACCES)
		fputs("The socket is for root and its group: run as one of them.\n", stderr);
	return EXIT_UNREACHABLE;
}

static int connect_to(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sa.sun_path) {
		fprintf(stderr, "coctl: socket path too long (%zu bytes at most): %s\n",
			sizeof sa.sun_path - 1, path);
		return EXIT_USAGE;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return unreachable(path, "socket", errno);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;

		close(fd);
		return unreachable(path, "connect", err);
	}
	*ret_fd = fd;
	return EXIT_OK;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line (the reply) into a growing buffer; NULL-terminated. */
static int read_reply(int fd, int timeout_ms, char **ret, size_t *ret_len)
{
	uint64_t deadline = timeout_ms ? now_ms() + (uint64_t)timeout_ms : 0;
	size_t len = 0, cap = 0;
	char *buf = NULL;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int wait = -1;
		ssize_t n;

		if (deadline) {
			uint64_t now = now_ms();

			if (now >= deadline) {
				free(buf);
				return -ETIMEDOUT;
			}
			wait = (int)(deadline - now);
		}
		if (poll(&p, 1, wait) < 0 && errno != EINTR) {
			free(buf);
			return -errno;
		}
		if (cap - len < 65536) {
			char *b = realloc(buf, cap ? cap * 2 : 65536);

			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap = cap ? cap * 2 : 65536;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : ECONNRESET;

			free(buf);
			return -err;
		}
		if (memchr(buf + len, '\n', (size_t)n)) {
			len += (size_t)n;
			buf[len] = '\0';
			*ret = buf;
			*ret_len = len;
			return 0;
		}
		len += (size_t)n;
	}
}

int ctl_call(json_t *req, int timeout_ms, json_t **ret)
{
	const char *path = socket_path();
	char *line = NULL, *text;
	size_t len;
	json_error_t err;
	json_t *reply;
	int fd = -1, r;

	if (!req) {
		fputs("coctl: cannot make the request: out of memory, or an argument that is "
		      "not valid UTF-8\n", stderr);
		return EXIT_FAILED;
	}
	json_object_set_new(req, "version", json_integer(CONTROL_PROTOCOL));
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text) {
		fputs("coctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	len = strlen(text);
	if (len >= MAX_REQUEST) {
		fprintf(stderr, "coctl: the request is %zu bytes, more than the daemon takes "
			"(%u): split it\n", len, MAX_REQUEST);
		free(text);
		return EXIT_FAILED;
	}
	text[len] = '\n';
	r = connect_to(path, &fd);
	if (r != EXIT_OK) {
		free(text);
		return r;
	}
	r = send_all(fd, text, len + 1);
	free(text);
	if (r == 0)
		r = read_reply(fd, timeout_ms, &line, &len);
	close(fd);
	if (r == -ETIMEDOUT)
		return unreachable(path, "no reply in time", 0);
	if (r < 0)
		return unreachable(path, "no reply", -r);
	reply = json_loadb(line, len, 0, &err);
	free(reply_line);
	reply_line = line;
	reply_line_len = len;
	if (!json_is_object(reply)) {
		fprintf(stderr, "coctl: the daemon's reply is not JSON: %s\n", err.text);
		json_decref(reply);
		return EXIT_FAILED;
	}
	*ret = reply;
	return EXIT_OK;
}

int reply_status(json_t *reply)
{
	json_t *errors = json_object_get(reply, "errors"), *e;
	const char *code = jstr(reply, "code", "");
	size_t i;

	if (jbool(reply, "ok"))
		return EXIT_OK;
	fprintf(stderr, "coctl: %s\n", jstr(reply, "error", "the daemon says the command failed"));
	json_array_foreach(errors, i, e)
		fprintf(stderr, "%s\n", json_string_value(e));
	if (strcmp(code, "no_such_job") == 0 || strcmp(code, "not_found") == 0)
		return EXIT_NO_JOB;
	if (strcmp(code, "unknown_command") == 0 || strcmp(code, "unsupported_version") == 0)
		fputs("coctl: coctl and coro-runnerd differ in version? "
		      "('coctl --version', 'coro-runnerd --version')\n", stderr);
	return EXIT_FAILED;
}

void print_json(json_t *reply)
{
	if (opts.pretty || !reply_line) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		fwrite(reply_line, 1, reply_line_len, stdout); /* ends with its newline */
	}
}

const char *jstr(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

long long jint(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

bool jbool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}
