/* SPDX-License-Identifier: MIT */
/*
 * control.c: the control socket (control.h, docs/protocol.md): the
 * listening socket, one accepting coroutine, one coroutine per client, the
 * framing of requests (one JSON object per line) and the peer's
 * credentials. The commands are in control-cmd.c.
 *
 * Everything runs on the daemon's event loop with the system call hooks
 * on: accept, poll, read and send yield, so a slow or hostile client holds
 * only its own coroutine. Bounds: CONTROL_MAX_REQUEST bytes per request,
 * CONTROL_IDLE_MS for a request to arrive whole and for a reply to be
 * taken, CONTROL_MAX_CLIENTS at once (the next gets a "busy" reply).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/control/control-internal.h"
#include "daemon/control/control.h"
#include "daemon/core/core.h"

/*
 * The daemon's one control server. control_stop() receives only the
 * daemon, which has no field for it; one daemon runs per process.
 */
static struct control *the_control;

#define CLIENT_STACK (256 << 10) /* jansson, libyaml and the loader run on it */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool control__fail(json_t *reply, const char *code, const char *fmt, ...)
{
	char msg[1024];
	json_t *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_object_set_new(reply, "ok", json_false());
	json_object_set_new(reply, "code", json_string(code));
	/* A message quoting the request may hold bytes that are not UTF-8. */
	s = json_string(msg);
	json_object_set_new(reply, "error", s ? s : json_string("(message not valid UTF-8)"));
	return false;
}

/* ---- credentials -------------------------------------------------------- */

static bool socket_group(const struct control *ctl, gid_t *ret);

/* Whether gid is among the supplementary groups /proc says pid has. */
static int proc_has_group(pid_t pid, gid_t gid)
{
	char path[64], line[4096];
	FILE *f;
	int found = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		found = 0;
		for (char *p = line + 7, *end; *p; p = end) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			if ((gid_t)g == gid)
				found = 1;
		}
		break;
	}
	fclose(f);
	return found;
}

/* The same from the user database, when /proc does not know the peer. */
static bool user_has_group(uid_t uid, gid_t primary, gid_t gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	gid_t groups[256];
	int n = 256;

	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
		return false;
	if (getgrouplist(res->pw_name, primary, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool control__privileged(const struct client *c)
{
	const struct control *ctl = c->ctl;
	gid_t gid;
	int r;

	if (c->cred.uid == 0 || c->cred.uid == ctl->d->uid)
		return true;
	if (c->cred.uid == (uid_t)-1 || !socket_group(ctl, &gid))
		return false;
	if (c->cred.gid == gid)
		return true;
	r = c->cred.pid > 0 ? proc_has_group(c->cred.pid, gid) : -1;
	if (r >= 0)
		return r == 1;
	return user_has_group(c->cred.uid, c->cred.gid, gid);
}

/* ---- one client --------------------------------------------------------- */

/* Sends all of p; false if the client is gone or took longer than the timeout. */
static bool send_all(struct client *c, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_reply(struct client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len;
	bool ok;

	if (!text) {
		free(c->raw);
		c->raw = NULL;
		return false;
	}
	len = strlen(text);
	if (c->raw) {
		/* {...} becomes {..., RAW}: the object is never empty ("version"). */
		text[len - 1] = ',';
		ok = send_all(c, text, len) && send_all(c, c->raw, c->raw_len) &&
		     send_all(c, "}\n", 2);
		free(c->raw);
		c->raw = NULL;
	} else {
		text[len] = '\n'; /* replaces the NUL: the reply is a line */
		ok = send_all(c, text, len + 1);
	}
	free(text);
	return ok;
}

static json_t *new_reply(void)
{
	json_t *reply = json_object();

	if (reply)
		json_object_set_new(reply, "version", json_integer(CONTROL_PROTOCOL));
	return reply;
}

/* Sends one error reply (best effort: the client may be gone). */
static void send_error(struct client *c, const char *code, const char *msg)
{
	json_t *reply = new_reply();

	if (!reply)
		return;
	control__fail(reply, code, "%s", msg);
	send_reply(c, reply);
	json_decref(reply);
}

/*
 * The depth of the deepest array or object in a line of JSON, counted
 * outside strings. jansson's parser recurses (up to 2048 levels): a
 * hostile "[[[[..." must not reach it on a coroutine's small stack.
 */
static bool too_deep(const char *p, size_t len)
{
	int depth = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > CONTROL_MAX_DEPTH)
				return true;
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	return false;
}

/* Parses and executes one request line; false to close the connection. */
static bool handle_line(struct client *c, const char *line, size_t len)
{
	json_error_t err;
	json_t *req, *reply = new_reply(), *v;
	bool keep = false;

	if (!reply)
		return false;
	if (too_deep(line, len)) {
		control__fail(reply, "bad_request", "request nested deeper than %d levels",
			      CONTROL_MAX_DEPTH);
		goto send;
	}
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!req) {
		control__fail(reply, "bad_request", "not a JSON object: %s at column %d",
			      err.text, err.column);
		goto send;
	}
	if (!json_is_object(req)) {
		control__fail(reply, "bad_request", "a request is a JSON object");
		json_decref(req);
		goto send;
	}
	v = json_object_get(req, "id");
	if (v)
		json_object_set(reply, "id", v);
	v = json_object_get(req, "version");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > CONTROL_PROTOCOL))
		control__fail(reply, "unsupported_version",
			      "this coro-runnerd speaks protocol version %d", CONTROL_PROTOCOL);
	else
		keep = control__execute(c, req, reply);
	json_decref(req);
send:
	c->ctl->served++;
	if (!send_reply(c, reply))
		keep = false;
	json_decref(reply);
	return keep;
}

/*
 * Reads until the buffer holds a whole line, within deadline. Returns the
 * line's length (without the newline), -1 when the client is gone or timed
 * out, -2 when the line is too long.
 */
static ssize_t read_line(struct client *c, uint64_t deadline)
{
	size_t scanned = 0;

	for (;;) {
		char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (nl)
			return nl - c->buf;
		scanned = c->len;
		if (c->len > CONTROL_MAX_REQUEST)
			return -2;
		if (now >= deadline || c->ctl->stopping)
			return -1;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue; /* the deadline (or a signal): checked above */
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b = realloc(c->buf, cap);

			if (!b)
				return -1;
			c->buf = b;
			c->cap = cap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return -1;
		if (n > 0)
			c->len += (size_t)n;
	}
}

static void serve(struct client *c)
{
	for (;;) {
		ssize_t len = read_line(c, now_ms() + (uint64_t)c->ctl->idle_ms);
		bool keep;

		if (len == -2) {
			char msg[96];

			snprintf(msg, sizeof msg, "request longer than %u bytes",
				 CONTROL_MAX_REQUEST);
			send_error(c, "too_large", msg);
			return;
		}
		if (len < 0)
			return;
		keep = handle_line(c, c->buf, (size_t)len);
		c->len -= (size_t)len + 1;
		memmove(c->buf, c->buf + len + 1, c->len);
		if (!keep || c->ctl->stopping)
			return;
		/* A big request's buffer is not kept for the connection's life. */
		if (c->cap > (256u << 10) && c->len < 65536) {
			char *b = realloc(c->buf, 65536);

			if (b) {
				c->buf = b;
				c->cap = 65536;
			}
		}
	}
}

/* Puts an ended client where the reaper will free it and release its coroutine. */
static void bury(struct control *ctl, struct client *c)
{
	c->next = ctl->dead;
	ctl->dead = c;
	co_cond_signal(ctl->reap_cond);
}

/* Frees the ended clients (their coroutines have returned). */
static void release_dead(struct control *ctl)
{
	while (ctl->dead) {
		struct client *c = ctl->dead;

		ctl->dead = c->next;
		co_release(c->co);
		free(c);
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct control *ctl = c->ctl;
	struct timeval tv = { .tv_sec = ctl->idle_ms / 1000,
			      .tv_usec = (ctl->idle_ms % 1000) * 1000 };

	co_enable_hook_sys();
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	serve(c);
	close(c->fd);
	free(c->buf);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nclients--;
	if (ctl->stopping)
		co_cond_signal(ctl->drained);
	bury(ctl, c);
	return NULL;
}

/* Refuses a connection over the cap, with a reply saying so. */
static void refuse(struct control *ctl, int fd)
{
	static const char busy[] = "{\"version\":1,\"ok\":false,\"code\":\"busy\",\"error\":"
				   "\"too many clients; try again\"}\n";

	ctl->refused++;
	send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void start_client(struct control *ctl, int fd)
{
	struct co_attr attr = { .stack_size = CLIENT_STACK };
	struct client *c = calloc(1, sizeof *c);
	socklen_t len = sizeof c->cred;

	if (!c) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		c->cred.uid = (uid_t)-1; /* unknown: read-only */
		c->cred.gid = (gid_t)-1;
	}
	if (co_create(&c->co, &attr, client_main, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = ctl->clients;
	if (c->next)
		c->next->prev = c;
	ctl->clients = c;
	ctl->nclients++;
	co_resume(c->co);
}

static void *acceptor_main(void *arg)
{
	struct control *ctl = arg;
	bool warned = false;

	co_enable_hook_sys();
	while (!ctl->stopping) {
		struct pollfd p[2] = { { .fd = ctl->listen_fd, .events = POLLIN },
				       { .fd = ctl->stop_fd, .events = POLLIN } };
		int fd;

		if (poll(p, 2, -1) <= 0 || ctl->stopping || !(p[0].revents & POLLIN))
			continue;
		fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			     errno == ENOMEM) && !warned) {
				log_msg(LOG_WARNING, "control: cannot accept a client: %s",
					strerror(errno));
				warned = true;
			}
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				poll(NULL, 0, 100); /* let clients end and give back descriptors */
			continue;
		}
		warned = false;
		if (ctl->nclients >= CONTROL_MAX_CLIENTS)
			refuse(ctl, fd);
		else
			start_client(ctl, fd);
	}
	co_cond_signal(ctl->drained);
	return NULL;
}

static void *reaper_main(void *arg)
{
	struct control *ctl = arg;

	for (;;) {
		release_dead(ctl);
		if (ctl->stopping)
			break;
		co_cond_timedwait(ctl->reap_cond, -1);
	}
	co_cond_signal(ctl->drained);
	return NULL;
}

/* ---- the listening socket ----------------------------------------------- */

/* The socket passed by systemd (a .socket unit), or -1 if none. */
static int systemd_socket(void)
{
	int n = sd_listen_fds(0);

	for (int fd = SD_LISTEN_FDS_START; n > 0 && fd < SD_LISTEN_FDS_START + n; fd++)
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			return fd;
		}
	return -1;
}

/* Whether a daemon answers on path (a socket file that refuses is stale). */
static bool someone_listens(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
	       (errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return live;
}

static int bind_path(struct control *ctl, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof sa.sun_path) {
		log_msg(LOG_ERR, "control socket %s: path longer than %zu bytes", path,
			sizeof sa.sun_path - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_msg(LOG_ERR, "control socket %s: a file that is not a socket is there",
				path);
			return -EEXIST;
		}
		if (someone_listens(&sa)) {
			log_msg(LOG_ERR, "control socket %s: in use (another coro-runnerd runs?)",
				path);
			return -EADDRINUSE;
		}
		unlink(path); /* stale: left by a daemon that died */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Mode 0666: every local user may connect and read (list, status,
	 * stats), as with systemctl status; what a peer may change is decided
	 * by its credentials (control__privileged), never by the file mode.
	 * Sites that want the socket closed to others use a directory of mode
	 * 0750 (RuntimeDirectoryMode=) or the socket unit's SocketMode=0660.
	 */
	old = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_msg(LOG_ERR, "control socket %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	chmod(path, 0666); /* whatever the umask the daemon was started with */
	ctl->made_file = true;
	ctl->listen_fd = fd;
	return 0;
}

/*
 * The socket file's group, whose members may change things. Looked up at
 * each check: an administrator may chgrp the socket while the daemon runs.
 */
static bool socket_group(const struct control *ctl, gid_t *ret)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof sa;
	struct stat st;

	memset(&sa, 0, sizeof sa);
	if (getsockname(ctl->listen_fd, (struct sockaddr *)&sa, &len) < 0 ||
	    sa.sun_family != AF_UNIX || !sa.sun_path[0] || stat(sa.sun_path, &st) < 0)
		return false;
	*ret = st.st_gid;
	return true;
}

static void free_control(struct control *ctl)
{
	if (ctl->listen_fd >= 0)
		close(ctl->listen_fd);
	if (ctl->stop_fd >= 0)
		close(ctl->stop_fd);
	co_cond_free(ctl->reap_cond);
	co_cond_free(ctl->drained);
	free(ctl);
}

int control_start(struct daemon *d)
{
	struct control *ctl = calloc(1, sizeof *ctl);
	const char *env = getenv("CORO_RUNNER_CONTROL_IDLE_MS");
	int r, removed;

	if (!ctl)
		return -ENOMEM;
	ctl->d = d;
	ctl->stop_fd = -1;
	ctl->idle_ms = env && atoi(env) > 0 ? atoi(env) : CONTROL_IDLE_MS;
	ctl->listen_fd = systemd_socket();
	ctl->from_systemd = ctl->listen_fd >= 0;
	if (!ctl->from_systemd) {
		r = bind_path(ctl, d->socket_path);
		if (r < 0)
			goto fail;
	}
	ctl->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ctl->reap_cond = co_cond_alloc();
	ctl->drained = co_cond_alloc();
	r = -ENOMEM;
	if (ctl->stop_fd < 0 || !ctl->reap_cond || !ctl->drained)
		goto fail_unlink;
	if (co_create(&ctl->acceptor, NULL, acceptor_main, ctl) < 0)
		goto fail_unlink;
	if (co_create(&ctl->reaper, NULL, reaper_main, ctl) < 0) {
		co_release(ctl->acceptor);
		goto fail_unlink;
	}
	/* Temporary files of an add that a crash interrupted. */
	removed = d->state_jobs_dir ? persist_clean(d->state_jobs_dir) : 0;
	if (removed > 0)
		log_msg(LOG_NOTICE, "removed %d unfinished job file%s from %s", removed,
			removed == 1 ? "" : "s", d->state_jobs_dir);
	the_control = ctl;
	co_resume(ctl->acceptor);
	co_resume(ctl->reaper);
	return 0;

fail_unlink:
	if (ctl->made_file)
		unlink(d->socket_path);
	log_msg(LOG_ERR, "control socket: %s", strerror(-r));
fail:
	free_control(ctl);
	return r;
}

void control_stop(struct daemon *d)
{
	struct control *ctl = the_control;
	uint64_t deadline = now_ms() + 1000, val = 1;
	bool in_co = co_self() != NULL, hard = false;

	if (!ctl || ctl->d != d)
		return;
	ctl->stopping = true;
	if (write(ctl->stop_fd, &val, sizeof val) < 0) {
		/* The counter cannot overflow with one write; nothing to do. */
	}
	/*
	 * Readers see the end of their input; a client whose command is
	 * under way (a run) gets its reply ("the daemon is stopping") first.
	 * Those still there halfway to the deadline, stuck in a send to a
	 * client that does not read, lose their connection.
	 */
	for (struct client *c = ctl->clients; c; c = c->next)
		shutdown(c->fd, SHUT_RD);
	co_cond_signal(ctl->reap_cond);
	while (in_co && (ctl->nclients || !co_is_dead(ctl->acceptor) || !co_is_dead(ctl->reaper))) {
		uint64_t now = now_ms();
		int wait;

		if (now >= deadline)
			break;
		if (!hard && now >= deadline - 500) {
			for (struct client *c = ctl->clients; c; c = c->next)
				shutdown(c->fd, SHUT_RDWR);
			hard = true;
		}
		wait = (int)((hard ? deadline : deadline - 500) - now);
		co_cond_timedwait(ctl->drained, wait > 0 ? wait : 1); /* 0 would wait for ever */
	}
	if (ctl->made_file)
		unlink(d->socket_path);
	if (ctl->nclients || !co_is_dead(ctl->acceptor) || !co_is_dead(ctl->reaper)) {
		/*
		 * Something still waits in the loop (no coroutine to wait from,
		 * or a client stuck past the deadline): its memory stays, as
		 * the process is ending; releasing it would leave the loop
		 * pointing at freed waits.
		 */
		log_msg(LOG_WARNING, "control: %zu clients still busy at stop", ctl->nclients);
		close(ctl->listen_fd);
		ctl->listen_fd = -1;
		return;
	}
	release_dead(ctl);
	co_release(ctl->acceptor);
	co_release(ctl->reaper);
	the_control = NULL;
	free_control(ctl);
}
