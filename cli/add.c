/* SPDX-License-Identifier: MIT */
/*
 * add.c: `coctl add -f FILE|-` and `coctl add NAME --type TYPE --KEY VALUE...`.
 *
 * Either way the daemon receives YAML: the flags are turned into a file of
 * one job here, so that the daemon has one way in for new jobs, with the
 * errors of `coctl check` (the flags' errors name "command line" and the
 * key). Every job key of coro-runner.yaml(5) is a flag: --KEY VALUE (with
 * '_' or '-' in the key's name); lists take the flag again or commas
 * (--expect-status 200,204); maps take KEY=VALUE again and again (--label,
 * --header, --env); a command takes --command once per word, or its words
 * after "--".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli/coctl.h"

enum kind { SCALAR, LIST, MAP, WORDS };

static const struct key {
	const char *name;   /* the YAML key */
	const char *flag;   /* the flag, if not the key with '-' for '_' */
	enum kind kind;
} keys[] = {
	{ "type", NULL, SCALAR },
	{ "every", NULL, SCALAR },
	{ "jitter", NULL, SCALAR },
	{ "timeout", NULL, SCALAR },
	{ "retries", NULL, SCALAR },
	{ "retry_delay", NULL, SCALAR },
	{ "failures_before_down", NULL, SCALAR },
	{ "successes_before_up", NULL, SCALAR },
	{ "labels", "label", MAP },
	{ "enabled", NULL, SCALAR },
	{ "exclusive", NULL, SCALAR },
	{ "notify", NULL, LIST },
	{ "notify_repeat", NULL, SCALAR },
	{ "url", NULL, SCALAR },
	{ "method", NULL, SCALAR },
	{ "headers", "header", MAP },
	{ "body", NULL, SCALAR },
	{ "expect_status", NULL, LIST },
	{ "expect_body", NULL, SCALAR },
	{ "expect_body_regex", NULL, SCALAR },
	{ "tls_verify", NULL, SCALAR },
	{ "follow_redirects", NULL, SCALAR },
	{ "target", NULL, SCALAR },
	{ "send", NULL, SCALAR },
	{ "expect", NULL, SCALAR },
	{ "query", NULL, SCALAR },
	{ "record", NULL, SCALAR },
	{ "server", NULL, SCALAR },
	{ "expect_rcode", NULL, SCALAR },
	{ "expect_answer", NULL, SCALAR },
	{ "command", NULL, WORDS },
	{ "env", NULL, MAP },
	{ "workdir", NULL, SCALAR },
	{ "output_limit", NULL, SCALAR },
	{ "kill_grace", NULL, SCALAR },
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The index of a key of keys[] (one that is there). */
static size_t key_index(const char *name)
{
	size_t k = 0;

	while (k < NKEYS - 1 && strcmp(keys[k].name, name) != 0)
		k++;
	return k;
}

enum { OPT_KEY = 1000, OPT_RUNTIME = 900, OPT_DISABLED, OPT_FLEET, OPT_FILE = 'f' };

static void print_add_help(void)
{
	fputs("Usage: coctl add [--runtime|--fleet] -f FILE|-\n"
	      "       coctl add [--runtime|--fleet] NAME --type TYPE [--KEY VALUE]... [-- COMMAND...]\n"
	      "\n"
	      "Add jobs to the running daemon: the jobs of a YAML file (as in\n"
	      "/etc/coro-runner/jobs.d; '-' reads standard input), or one job described\n"
	      "by flags. Each starts at its next tick. A job is saved in the daemon's state\n"
	      "directory (/var/lib/coro-runner/jobs.d/NAME.yaml) and survives restarts,\n"
	      "unless --runtime. 'coctl kill NAME' removes it again.\n"
	      "With --fleet the jobs go to the daemon's fleet instead (its etcd): each runs\n"
	      "on exactly one live member, and moves when that member goes away.\n"
	      "'coctl kill --fleet NAME' removes it from the fleet.\n"
	      "\n"
	      "Every job key of coro-runner.yaml(5) is a flag, with '-' or '_':\n"
	      "  --type http|tcp|dns|exec   --every DURATION   --timeout DURATION\n"
	      "  --jitter DURATION|PERCENT  --retries N        --retry-delay DURATION\n"
	      "  --failures-before-down N   --successes-before-up N\n"
	      "  --enabled true|false (--disabled)   --label KEY=VALUE (again for more)\n"
	      "  --exclusive true|false (fleet jobs: never on two members at once)\n"
	      "  --notify NAME[,NAME]... (again for more; '' for none)\n"
	      "  --notify-repeat DURATION (repeat a down event this often; 0s: never)\n"
	      "  http: --url URL --method M --header NAME=VALUE --body TEXT\n"
	      "        --expect-status 200,204 --expect-body TEXT --expect-body-regex RE\n"
	      "        --tls-verify true|false --follow-redirects true|false\n"
	      "  tcp:  --target HOST:PORT --send TEXT --expect TEXT\n"
	      "  dns:  --query NAME --record TYPE --server HOST[:PORT] --expect-rcode RCODE\n"
	      "        --expect-answer TEXT\n"
	      "  exec: --command WORD (again for each word, or the words after --)\n"
	      "        --env NAME=VALUE --workdir DIR --output-limit SIZE --kill-grace DURATION\n"
	      "\n"
	      "Options:\n"
	      "  -f, --file FILE    add the jobs of FILE ('-': standard input)\n"
	      "      --runtime      do not save: the jobs are gone at the next restart\n"
	      "      --fleet        add the jobs to the fleet, not to this daemon alone\n"
	      "                     (not with --runtime)\n"
	      GLOBAL_OPTIONS_HELP
	      "\n"
	      "Example: coctl add pg --type tcp --target db.internal:5432 --every 10s\n"
	      "Errors in the definition: exit 1, each printed as coctl check does.\n", stdout);
}

/* What the flags gave, per key. */
struct given {
	char **values[NKEYS];
	size_t n[NKEYS];
};

static void given_free(struct given *g)
{
	for (size_t i = 0; i < NKEYS; i++) {
		for (size_t j = 0; j < g->n[i]; j++)
			free(g->values[i][j]);
		free(g->values[i]);
	}
}

static int give(struct given *g, size_t k, const char *value)
{
	char **v = realloc(g->values[k], (g->n[k] + 1) * sizeof *v);

	if (!v || !(v[g->n[k]] = strdup(value)))
		return -ENOMEM;
	g->values[k] = v;
	g->n[k]++;
	return 0;
}

/* A double-quoted YAML scalar, as the daemon writes its files. */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* The YAML of the job the flags describe; NULL with a usage error reported. */
static char *flags_yaml(const char *name, struct given *g, int *ret)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		*ret = EXIT_FAILED;
		return NULL;
	}
	fputs("jobs:\n  - name: ", f);
	put_str(f, name);
	fputc('\n', f);
	for (size_t k = 0; k < NKEYS; k++) {
		if (!g->n[k])
			continue;
		if (keys[k].kind == SCALAR && g->n[k] > 1) {
			fclose(f);
			free(text);
			*ret = usage_error("add", "add: --%s given %zu times", keys[k].name, g->n[k]);
			return NULL;
		}
		fprintf(f, "    %s: ", keys[k].name);
		switch (keys[k].kind) {
		case SCALAR:
			put_str(f, g->values[k][0]);
			break;
		case LIST:
		case WORDS:
			fputc('[', f);
			for (size_t i = 0, first = 1; i < g->n[k]; i++) {
				char *save = NULL, *copy = g->values[k][i];

				if (keys[k].kind == WORDS) {
					fputs(i ? ", " : "", f);
					put_str(f, copy);
					continue;
				}
				for (char *w = strtok_r(copy, ",", &save); w;
				     w = strtok_r(NULL, ",", &save), first = 0) {
					fputs(first ? "" : ", ", f);
					put_str(f, w);
				}
			}
			fputc(']', f);
			break;
		case MAP:
			fputc('{', f);
			for (size_t i = 0; i < g->n[k]; i++) {
				char *kv = g->values[k][i], *eq = strchr(kv, '=');

				/* "Name: value" is how people write headers. */
				if (!eq && keys[k].name[0] == 'h')
					eq = strchr(kv, ':');
				if (!eq || eq == kv) {
					fclose(f);
					free(text);
					*ret = usage_error("add", "add: --%s: expected KEY=VALUE, not '%s'",
							   keys[k].flag, kv);
					return NULL;
				}
				*eq++ = '\0';
				while (keys[k].name[0] == 'h' && *eq == ' ')
					eq++;
				fputs(i ? ", " : "", f);
				put_str(f, kv);
				fputs(": ", f);
				put_str(f, eq);
			}
			fputc('}', f);
			break;
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(text);
		*ret = EXIT_FAILED;
		return NULL;
	}
	return text;
}

/* A whole file (or standard input) into memory, at most MAX_REQUEST bytes. */
static char *read_file(const char *path, int *ret)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		fprintf(stderr, "coctl: cannot read %s: %s\n", path, strerror(errno));
		*ret = EXIT_FAILED;
		return NULL;
	}
	do {
		if (cap - len < 65536) {
			char *b = realloc(buf, cap + 65536 + 1);

			if (!b)
				break;
			buf = b;
			cap += 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0 && len <= MAX_REQUEST);
	if (!buf || ferror(f) || len > MAX_REQUEST) {
		fprintf(stderr, "coctl: cannot read %s: %s\n", path,
			len > MAX_REQUEST ? "more than 1 MiB: split it into several adds" :
			ferror(f) ? strerror(errno) : strerror(ENOMEM));
		free(buf);
		buf = NULL;
		*ret = EXIT_FAILED;
	} else {
		buf[len] = '\0';
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

/* The options: the fixed ones and two spellings of each key. */
static struct option *add_options(void)
{
	static const struct option fixed[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "runtime", no_argument, NULL, OPT_RUNTIME },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		{ "fleet", no_argument, NULL, OPT_FLEET },
		GLOBAL_LONG_OPTIONS,
	};
	size_t nfixed = sizeof fixed / sizeof fixed[0], n = nfixed;
	struct option *o = calloc(nfixed + 3 * NKEYS + 1, sizeof *o);
	static char names[NKEYS][2][32];

	if (!o)
		return NULL;
	memcpy(o, fixed, sizeof fixed);
	for (size_t k = 0; k < NKEYS; k++) {
		const char *flag = keys[k].flag ? keys[k].flag : keys[k].name;

		snprintf(names[k][0], sizeof names[k][0], "%s", flag);
		snprintf(names[k][1], sizeof names[k][1], "%s", flag);
		for (char *p = names[k][1]; *p; p++)
			*p = *p == '_' ? '-' : *p;
		o[n++] = (struct option){ names[k][0], required_argument, NULL, OPT_KEY + (int)k };
		if (strcmp(names[k][0], names[k][1]) != 0)
			o[n++] = (struct option){ names[k][1], required_argument, NULL,
						  OPT_KEY + (int)k };
		if (keys[k].flag) /* --labels and --headers as the file spells them */
			o[n++] = (struct option){ keys[k].name, required_argument, NULL,
						  OPT_KEY + (int)k };
	}
	return o;
}

/* An unknown --flag: the key it is closest to, if one is close. */
static int unknown_flag(int c, char **argv)
{
	const char *word = argv[optind - 1], *best = NULL;
	char name[64];
	unsigned best_d = 3;

	if (c != '?' || strncmp(word, "--", 2) != 0)
		return option_error("add", c, argv);
	snprintf(name, sizeof name, "%.*s", (int)strcspn(word + 2, "="), word + 2);
	for (char *p = name; *p; p++)
		*p = *p == '-' ? '_' : *p;
	for (size_t k = 0; k < NKEYS; k++) {
		unsigned d = edit_distance(name, keys[k].flag ? keys[k].flag : keys[k].name);

		if (d < best_d) {
			best_d = d;
			best = keys[k].flag ? keys[k].flag : keys[k].name;
		}
	}
	if (!best)
		return option_error("add", c, argv);
	snprintf(name, sizeof name, "%s", best);
	for (char *p = name; *p; p++)
		*p = *p == '_' ? '-' : *p;
	return usage_error("add", "add: unknown option '%.*s' (did you mean '--%s'?)",
			   (int)strcspn(word, "="), word, name);
}

static void given_freep(struct given *g)
{
	given_free(g);
}

int cmd_add(int argc, char **argv)
{
	_cleanup_(freep) struct option *options = add_options();
	_cleanup_(given_freep) struct given g = { 0 };
	_cleanup_(json_freep) json_t *reply = NULL;
	_cleanup_(freep) char *yaml = NULL;
	const char *file = NULL, *source;
	bool runtime = false, fleet = false;
	json_t *req, *added, *v;
	size_t i;
	int c, r;

	if (!options)
		return EXIT_FAILED;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hf:" GLOBAL_SHORT_OPTIONS, options, NULL)) != -1) {
		if (c >= OPT_KEY) {
			if (give(&g, (size_t)(c - OPT_KEY), optarg) < 0)
				return EXIT_FAILED;
			continue;
		}
		switch (c) {
		case 'h':
			print_add_help();
			return EXIT_OK;
		case OPT_FILE:
			file = optarg;
			continue;
		case OPT_RUNTIME:
			runtime = true;
			continue;
		case OPT_FLEET:
			fleet = true;
			continue;
		case OPT_DISABLED:
			if (give(&g, key_index("enabled"), "false") < 0)
				return EXIT_FAILED;
			continue;
		}
		r = global_option("add", c, optarg);
		if (r > 0)
			return r;
		if (r < 0)
			return unknown_flag(c, argv);
	}
	if (fleet && runtime)
		return usage_error("add", "add: --fleet and --runtime do not go together: a fleet job "
				   "is kept in etcd, never only in one daemon's memory");
	if (file) {
		for (size_t k = 0; k < NKEYS; k++)
			if (g.n[k])
				return usage_error("add", "add: -f takes the jobs from the file; "
						   "--%s belongs in it", keys[k].name);
		if (optind < argc)
			return usage_error("add", "add: -f takes no job name ('%s')", argv[optind]);
		yaml = read_file(file, &r);
		if (!yaml)
			return r;
		source = strcmp(file, "-") == 0 ? "<stdin>" : file;
	} else {
		if (optind >= argc)
			return usage_error("add", "add: give a job's NAME and its --type, or -f FILE");
		for (int w = optind + 1; w < argc; w++)
			if (give(&g, key_index("command"), argv[w]) < 0)
				return EXIT_FAILED;
		if (!g.n[0])
			return usage_error("add", "add: %s: --type is required (http, tcp, dns or exec)",
					   argv[optind]);
		yaml = flags_yaml(argv[optind], &g, &r);
		if (!yaml)
			return r;
		source = "command line";
	}
	/* A fleet add has "fleet" and no "runtime" (docs/protocol.md). */
	req = json_pack("{s:s, s:s, s:s}", "command", "add", "yaml", yaml, "source", source);
	if (req && json_object_set_new(req, fleet ? "fleet" : "runtime",
				       json_boolean(fleet || runtime)) < 0) {
		json_decref(req);
		req = NULL;
	}
	r = ctl_call(req, 60000, &reply);
	if (r != EXIT_OK)
		return r;
	if (opts.json)
		print_json(reply);
	r = reply_status(reply);
	if (r != EXIT_OK || opts.json)
		return r;
	added = json_object_get(reply, "added");
	printf("added ");
	json_array_foreach(added, i, v)
		printf("%s%s", i ? ", " : "", json_string_value(v));
	if (fleet)
		printf(" to the fleet\n");
	else if (jbool(reply, "persisted"))
		printf(" (saved in %s)\n", jstr(reply, "dir", "the state directory"));
	else
		printf(" (--runtime: gone at the next restart)\n");
	return EXIT_OK;
}
