/*
 * The monitor's configuration file: each `key = value` line becomes the
 * option --key=value, checked on its own by the command-line parser (so a
 * bad value is reported with its line), then placed before the command
 * line's options so that the command line wins.
 */
#include "config.h"
#include "conf.h"
#include "evict.h"
#include "log.h"
#include "monitor.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conf {
	int argc;
	char **argv; /* the command line, as given; argv[argc] = NULL */
	char *file;  /* --config, NULL: none */
	char **opts; /* the file's options the running settings use */
	size_t nopts;
};

static void free_opts(char **opts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(opts[i]);
	free(opts);
}

/* settings_parse*() reorder argv: give them a throwaway copy. */
static char **argv_copy(char **argv, int argc, char **extra, size_t nextra)
{
	char **v = calloc((size_t)argc + nextra + 1, sizeof(*v));
	size_t k = 0;

	if (!v)
		return NULL;
	v[k++] = argv[0];
	for (size_t i = 0; i < nextra; i++)
		v[k++] = extra[i];
	for (int i = 1; i < argc; i++)
		v[k++] = argv[i];
	v[k] = NULL;
	return v;
}

static char *trim(char *p)
{
	char *end;

	while (isspace((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return p;
}

/* "a # b" -> "a": '#' starts a comment at the start or after a blank. */
static void strip_comment(char *p)
{
	for (char *q = p; *q; q++) {
		if (*q == '#' && (q == p || isspace((unsigned char)q[-1]))) {
			*q = '\0';
			return;
		}
	}
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Turn one line into an option in *@opt (NULL: nothing to add). @cmd is
 * the command line parsed alone: a locator or backend it names overrides
 * the file's. Returns 0, or -1 with a message in @err.
 */
static int line_option(char *line, const struct settings *cmd, char **opt,
		       char *err, size_t errlen)
{
	char name[64], *eq, *key, *val;
	int has_arg, on;

	*opt = NULL;
	strip_comment(line);
	line = trim(line);
	if (!*line)
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(err, errlen, "expected 'key = value', got '%.80s'",
			 line);
		return -1;
	}
	*eq = '\0';
	key = trim(line);
	val = trim(eq + 1);
	if (!*key || strlen(key) >= sizeof(name) ||
	    strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
		strlen(key)) {
		snprintf(err, errlen, "bad key '%.64s'", key);
		return -1;
	}
	/* cache_size and cache-size alike; other keys as their options. */
	strcpy(name, key);
	if (settings_option_arg(name) < 0)
		for (char *p = name; *p; p++)
			if (*p == '_')
				*p = '-';
	has_arg = settings_option_arg(name);
	if (has_arg < 0 || strcmp(name, "help") == 0 ||
	    strcmp(name, "version") == 0) {
		snprintf(err, errlen,
			 "unknown key '%s' (keys are the long "
			 "options of monitor --help)",
			 key);
		return -1;
	}
	if (strcmp(name, "config") == 0) {
		snprintf(err, errlen,
			 "'config' cannot be set in a "
			 "configuration file");
		return -1;
	}
	if (strncmp(name, "debug-", 6) == 0) {
		snprintf(err, errlen,
			 "'%s' is a test-only option: give it on "
			 "the command line",
			 key);
		return -1;
	}
	if (!*val) {
		snprintf(err, errlen, "'%s' needs a value", key);
		return -1;
	}
	if (strcmp(name, "locator") == 0 &&
	    (cmd->locator[0] ||
	     (cmd->backend && strcmp(cmd->backend, "memcached") != 0 &&
	      strcmp(cmd->backend, "nvme") != 0)))
		return 0;
	if (strcmp(name, "backend") == 0 && cmd->locator[0])
		return 0;
	if (has_arg == no_argument) {
		if (parse_bool(val, &on)) {
			snprintf(err, errlen,
				 "'%s' expects yes or no, not "
				 "'%.64s'",
				 key, val);
			return -1;
		}
		if (!on)
			return 0;
		if (asprintf(opt, "--%s", name) < 0)
			goto out_nomem;
	} else if (asprintf(opt, "--%s=%s", name, val) < 0) {
		goto out_nomem;
	}
	return 0;

out_nomem:
	*opt = NULL;
	snprintf(err, errlen, "out of memory");
	return -1;
}

/*
 * Read @file into options (*@out, *@n), each checked alone by the
 * option parser. Returns 0, or -1 with "FILE[:LINE]: why" in @err.
 */
static int read_file(const char *file, const struct settings *cmd, char *argv0,
		     char ***out, size_t *n, char *err, size_t errlen)
{
	char **opts = NULL, *line = NULL, *opt, msg[1024];
	size_t cap = 0, len = 0, nopts = 0;
	unsigned lineno = 0;
	FILE *f = fopen(file, "re");

	if (!f) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	while (getline(&line, &len, f) >= 0) {
		struct settings tmp;
		char *av[3] = {argv0, NULL, NULL};

		lineno++;
		if (line_option(line, cmd, &opt, msg, sizeof(msg)))
			goto out_err;
		if (!opt)
			continue;
		av[1] = opt;
		if (settings_parse_msg(&tmp, 2, av, 1, msg, sizeof(msg))) {
			free(opt);
			goto out_err;
		}
		if (nopts == cap) {
			char **bigger;
			cap = cap ? 2 * cap : 16;
			bigger = realloc(opts, cap * sizeof(*opts));
			if (!bigger) {
				free(opt);
				snprintf(msg, sizeof(msg), "out of memory");
				goto out_err;
			}
			opts = bigger;
		}
		opts[nopts++] = opt;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		goto out_free;
	}
	free(line);
	fclose(f);
	*out = opts;
	*n = nopts;
	return 0;

out_err:
	snprintf(err, errlen, "%s:%u: %s", file, lineno, msg);
out_free:
	free(line);
	fclose(f);
	free_opts(opts, nopts);
	return -1;
}

/*
 * Parse the file and the command line together into @s. Returns like
 * settings_parse_msg(); the new options are in *@opts, *@nopts.
 */
static int parse_with_file(struct conf *c, struct settings *s, char ***opts,
			   size_t *nopts, char *err, size_t errlen)
{
	struct settings cmd;
	char msg[1024], **v;
	int ret;

	*opts = NULL;
	*nopts = 0;
	v = argv_copy(c->argv, c->argc, NULL, 0);
	if (!v)
		goto out_nomem;
	ret = settings_parse_msg(&cmd, c->argc, v, 1, err, errlen);
	free(v);
	if (ret)
		return ret;
	if (read_file(c->file, &cmd, c->argv[0], opts, nopts, err, errlen))
		return -1;
	v = argv_copy(c->argv, c->argc, *opts, *nopts);
	if (!v)
		goto out_nomem;
	ret = settings_parse_msg(s, c->argc + (int)*nopts, v, 0, msg,
				 sizeof(msg));
	free(v);
	if (ret < 0)
		snprintf(err, errlen,
			 "%s (settings from %s and the command "
			 "line)",
			 msg, c->file);
	if (ret) {
		free_opts(*opts, *nopts);
		*opts = NULL;
		*nopts = 0;
	}
	return ret;

out_nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free_opts(c->opts, c->nopts);
	free(c->file);
	free(c->argv);
	free(c);
}

int conf_parse(struct settings *s, int argc, char **argv, struct conf **out)
{
	struct conf *c = calloc(1, sizeof(*c));
	char err[1400], **v;
	int ret;

	*out = NULL;
	if (!c || !(c->argv = argv_copy(argv, argc, NULL, 0))) {
		fprintf(stderr, "monitor: out of memory\n");
		conf_free(c);
		return -1;
	}
	c->argc = argc;
	/* The command line alone first: --help, its errors, --config. */
	v = argv_copy(argv, argc, NULL, 0);
	ret = v ? settings_parse_msg(s, argc, v, 1, NULL, 0) : -1;
	free(v);
	if (ret)
		goto out;
	if (!s->config_file) {
		v = argv_copy(argv, argc, NULL, 0);
		ret = v ? settings_parse(s, argc, v) : -1;
		free(v);
		goto out;
	}
	c->file = strdup(s->config_file);
	ret = c->file
		  ? parse_with_file(c, s, &c->opts, &c->nopts, err, sizeof(err))
		  : -1;
	if (ret < 0)
		fprintf(stderr, "monitor: %s\n",
			c->file ? err : "out of memory");
out:
	if (ret) {
		conf_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void conf_log(const struct settings *s)
{
	log_info("settings: cache_size=%" PRIu64 " backend=%s locator=%s "
		 "socket=%s run-dir=%s ctl-socket=%s ctl-tcp=%s:%u%s "
		 "local-dir=%s group=%s fault-threads=%u evict-batch=%u "
		 "headroom=%" PRIu64 " orphan-grace=%u max-regions=%u "
		 "busy-poll=%u prefetch=%u fault-cpus=%s "
		 "compressed-cache=%" PRIu64 " log-level=%s config=%s",
		 s->cache_size, s->backend, s->locator[0] ? s->locator : "-",
		 s->socket_path, s->run_dir,
		 s->ctl_socket ? s->ctl_socket : "none", s->ctl_host,
		 s->ctl_port, s->ctl_tcp ? "" : "(off)", s->local_dir,
		 s->group ? s->group : "-", s->fault_threads, s->evict_batch,
		 s->headroom, s->orphan_grace_s, s->max_regions,
		 s->busy_poll_us, s->prefetch,
		 s->fault_cpus[0] ? s->fault_cpus : "-", s->zcache_bytes,
		 log_level_name(s->log_level),
		 s->config_file ? s->config_file : "-");
}

static int str_changed(const char *a, const char *b)
{
	if (!a || !b)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Settings only read at start-up: say so when the file changes them. */
static unsigned note_restart_only(const struct settings *cur,
				  const struct settings *n)
{
	const struct {
		const char *key;
		int changed;
	} keys[] = {
	    {"backend", str_changed(cur->backend, n->backend)},
	    {"locator", strcmp(cur->locator, n->locator) != 0},
	    {"mem-path", strcmp(cur->mem_path, n->mem_path) != 0},
	    {"socket", str_changed(cur->socket_path, n->socket_path)},
	    {"run-dir", str_changed(cur->run_dir, n->run_dir)},
	    {"ctl-socket", str_changed(cur->ctl_socket, n->ctl_socket)},
	    {"ctl-tcp", cur->ctl_tcp != n->ctl_tcp ||
			    cur->ctl_port != n->ctl_port ||
			    strcmp(cur->ctl_host, n->ctl_host) != 0},
	    {"local-dir", str_changed(cur->local_dir, n->local_dir)},
	    {"group", str_changed(cur->group, n->group)},
	    {"fault-threads", cur->fault_threads != n->fault_threads},
	    {"evict-batch", cur->evict_batch != n->evict_batch},
	    {"max-regions", cur->max_regions != n->max_regions},
	    {"zookeeper", strcmp(cur->zookeeper, n->zookeeper) != 0},
	    {"zk-timeout", cur->zk_timeout_s != n->zk_timeout_s},
	    {"zk-gc-grace", cur->zk_gc_grace_s != n->zk_gc_grace_s},
	    {"busy-poll", cur->busy_poll_us != n->busy_poll_us},
	    {"prefetch", cur->prefetch != n->prefetch},
	    {"fault-cpus", strcmp(cur->fault_cpus, n->fault_cpus) != 0},
	    {"compressed-cache", cur->zcache_bytes != n->zcache_bytes},
	};
	unsigned count = 0;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!keys[i].changed)
			continue;
		log_warn("reload: %s changed; it takes effect after a restart",
			 keys[i].key);
		count++;
	}
	return count;
}

void conf_reload(struct monitor *m, struct conf *c)
{
	struct settings n, *cur = &m->set;
	char err[1400], **opts;
	size_t nopts;
	unsigned applied = 0, pending;
	uint64_t cap = atomic_load(&m->cache.capacity);
	int resize = 0;

	if (!c || !c->file) {
		log_info("SIGHUP: no --config file, nothing to reload");
		return;
	}
	if (parse_with_file(c, &n, &opts, &nopts, err, sizeof(err))) {
		log_err("reload: %s; settings unchanged", err);
		return;
	}
	if (n.log_level != cur->log_level) {
		log_info("reload: log-level %s -> %s",
			 log_level_name(cur->log_level),
			 log_level_name(n.log_level));
		cur->log_level = n.log_level;
		log_threshold = n.log_level;
		applied++;
	}
	if (n.cache_size != cur->cache_size) {
		log_info("reload: cache_size %" PRIu64 " -> %" PRIu64 " pages",
			 cur->cache_size, n.cache_size);
		cur->cache_size = n.cache_size;
		cap = n.cache_size;
		resize = 1;
		applied++;
	}
	if (n.headroom_set != cur->headroom_set ||
	    (n.headroom_set && n.headroom != cur->headroom)) {
		log_info("reload: headroom %s%" PRIu64 " pages",
			 n.headroom_set ? "" : "default, ", n.headroom);
		cur->headroom_set = n.headroom_set;
		cur->headroom = n.headroom;
		resize = 1;
		applied++;
	}
	/* A `ui resize` stays unless the file changed cache_size. */
	if (resize)
		evict_resize(m, cap);
	if (n.orphan_grace_s != cur->orphan_grace_s) {
		log_info("reload: orphan-grace %u -> %u s", cur->orphan_grace_s,
			 n.orphan_grace_s);
		cur->orphan_grace_s = n.orphan_grace_s;
		applied++;
	}
	pending = note_restart_only(cur, &n);
	log_info("reload of %s: %u change%s applied, %u waiting for a "
		 "restart",
		 c->file, applied, applied == 1 ? "" : "s", pending);
	free_opts(opts, nopts);
}
