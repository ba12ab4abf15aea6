/* Command-line parsing for the monitor: strict, every error explained. */
#include "config.h"
#include "settings.h"
#include "backend.h"
#include "parse.h"
#include "proto.h"
#include "zcache.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FM_DEFAULT_LOCAL_DIR "/var/tmp/fluidmem"

enum {
	OPT_CACHE_SIZE = 256,
	OPT_BACKEND,
	OPT_LOCATOR,
	OPT_SOCKET,
	OPT_RUN_DIR,
	OPT_CTL_SOCKET,
	OPT_CTL_TCP,
	OPT_LOCAL_DIR,
	OPT_GROUP,
	OPT_FAULT_THREADS,
	OPT_EVICT_BATCH,
	OPT_HEADROOM,
	OPT_ORPHAN_GRACE,
	OPT_MAX_REGIONS,
	OPT_LOG_LEVEL,
	OPT_DEBUG_SKIP_WP,
	OPT_DEBUG_VICTIM,
	OPT_VERSION,
	OPT_CONFIG,
	OPT_ZOOKEEPER,
	OPT_ZK_TIMEOUT,
	OPT_ZK_GC_GRACE,
	OPT_MEM_PATH,
	OPT_BUSY_POLL,
	OPT_PREFETCH,
	OPT_FAULT_CPUS,
	OPT_ZCACHE,
};

static const struct option long_options[] = {
	{ "cache_size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "locator", required_argument, NULL, OPT_LOCATOR },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "run-dir", required_argument, NULL, OPT_RUN_DIR },
	{ "ctl-socket", required_argument, NULL, OPT_CTL_SOCKET },
	{ "ctl-tcp", required_argument, NULL, OPT_CTL_TCP },
	{ "local-dir", required_argument, NULL, OPT_LOCAL_DIR },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "fault-threads", required_argument, NULL, OPT_FAULT_THREADS },
	{ "evict-batch", required_argument, NULL, OPT_EVICT_BATCH },
	{ "headroom", required_argument, NULL, OPT_HEADROOM },
	{ "orphan-grace", required_argument, NULL, OPT_ORPHAN_GRACE },
	{ "max-regions", required_argument, NULL, OPT_MAX_REGIONS },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "debug-skip-wp", no_argument, NULL, OPT_DEBUG_SKIP_WP },
	{ "debug-victim", required_argument, NULL, OPT_DEBUG_VICTIM },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "zookeeper", required_argument, NULL, OPT_ZOOKEEPER },
	{ "zk-timeout", required_argument, NULL, OPT_ZK_TIMEOUT },
	{ "zk-gc-grace", required_argument, NULL, OPT_ZK_GC_GRACE },
	{ "mem-path", required_argument, NULL, OPT_MEM_PATH },
	{ "busy-poll", required_argument, NULL, OPT_BUSY_POLL },
	{ "prefetch", required_argument, NULL, OPT_PREFETCH },
	{ "fault-cpus", required_argument, NULL, OPT_FAULT_CPUS },
	{ "compressed-cache", required_argument, NULL, OPT_ZCACHE },
	{ NULL, 0, NULL, 0 },
};

void settings_usage(FILE *out)
{
	fprintf(out,
"Usage: monitor [LOCATOR] [OPTION]...\n"
"Serve elastic memory regions through userfaultfd, keeping at most\n"
"--cache_size pages resident and moving the rest to a backend.\n"
"\n"
"LOCATOR selects memcached with a libmemcached configuration string,\n"
"e.g. --SERVER=127.0.0.1:11211 (several --SERVER= may be given).\n"
"Without one the monitor uses the built-in local backend, which needs\n"
"no server: pages go to sparse files under --local-dir.\n"
"\n"
"  --cache_size=PAGES     pages kept resident at most (default 20000);\n"
"                         --cache-size is the same\n"
"  --backend=NAME         backend: %s (default local, or memcached\n"
"                         when a LOCATOR is given)\n"
"  --locator=STRING       libmemcached configuration string, or for\n"
"                         remote: tcp://HOST:PORT;secret-file=PATH\n"
"                         nvme PATH[;size=SIZE][;io=uring|sync]\n"
"                         [;meta=DIR]\n"
"  --mem-path=TIER|TIER...\n"
"                         a chain of tiers, fastest first, each\n"
"                         KIND[:LOCATOR]:SIZE (SIZE in MiB or with a\n"
"                         K/M/G/T suffix); full tiers demote their\n"
"                         coldest pages to the next; dram:SIZE sets the\n"
"                         resident cache (see monitor(8))\n"
"  --socket=PATH          registration socket (default %s)\n"
"  --run-dir=DIR          region state files (default %s)\n"
"  --ctl-socket=PATH|none UNIX control socket for ui (default RUN_DIR/ctl.sock)\n"
"  --ctl-tcp=[HOST:]PORT|none\n"
"                         TCP control endpoint (default 127.0.0.1:%d)\n"
"  --local-dir=DIR        local backend page files (default %s)\n"
"  --group=NAME           group allowed to register regions and run\n"
"                         privileged ui commands besides root\n"
"  --fault-threads=N      userfaultfd handler threads (default 2)\n"
"  --fault-cpus=LIST      run the fault threads only on these CPUs\n"
"                         (\"0\", \"0-3,6\"): the CPUs of the client or\n"
"                         guest vCPU threads (default: any CPU)\n"
"  --evict-batch=N        pages per eviction round, 1-1024 (default 64)\n"
"  --headroom=PAGES       free cache slots background eviction keeps\n"
"                         (default cache_size/32, at most 256)\n"
"  --orphan-grace=SECONDS after a restart, how long regions left by the\n"
"                         previous monitor wait for their client (default 60)\n"
"  --max-regions=N        regions served at once (default 256)\n"
"  --zookeeper=HOST:PORT[,HOST:PORT...]\n"
"                         join a cluster: ZooKeeper allocates region ids,\n"
"                         records this monitor, lists memcached servers\n"
"  --zk-timeout=SECONDS   give up reaching ZooKeeper at start (default 10)\n"
"  --zk-gc-grace=SECONDS  delete the pages of a region whose monitor died\n"
"                         after this long (default 300)\n"
"  --busy-poll=US         a fault thread busy-polls up to US microseconds\n"
"                         for the next fault before sleeping, adapting\n"
"                         within that bound; 0 disables (default %d)\n"
"  --compressed-cache=SIZE\n"
"                         keep evicted pages LZ4-compressed in up to SIZE\n"
"                         bytes of monitor memory too (K/M/G suffix; bare:\n"
"                         MiB; 0: off, the default); a write-through cache,\n"
"                         the backend always has every page\n"
"  --prefetch=PAGES       most pages fetched ahead of a sequential or\n"
"                         strided fault run, 0-%d; 0 disables (default %d)\n"
"  --log-level=LEVEL      error, warn, info or debug (default info)\n"
"  --config=FILE          read settings from FILE first (key = value lines,\n"
"                         see monitor.conf(5)); the command line wins\n"
"  --debug-skip-wp        TEST ONLY: evict without write-protecting (loses writes)\n"
"  --debug-victim=POLICY  TEST ONLY: clock (default) or recent (evict the page\n"
"                         installed last)\n"
"  -h, --help             show this help and exit\n"
"      --version          show the version and exit\n",
		backend_names(), FM_DEFAULT_SOCKET, FM_DEFAULT_RUN_DIR,
		FM_DEFAULT_CTL_PORT, FM_DEFAULT_LOCAL_DIR, FM_DEFAULT_BUSY_POLL,
		FM_PREFETCH_MAX, FM_DEFAULT_PREFETCH);
}

static void settings_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	s->cache_size = 20000;
	s->backend = NULL;
	s->socket_path = FM_DEFAULT_SOCKET;
	s->run_dir = FM_DEFAULT_RUN_DIR;
	s->ctl_socket = NULL; /* derived from run_dir */
	s->ctl_tcp = 1;
	strcpy(s->ctl_host, "127.0.0.1");
	s->ctl_port = FM_DEFAULT_CTL_PORT;
	s->local_dir = FM_DEFAULT_LOCAL_DIR;
	s->gid = (gid_t)-1;
	s->fault_threads = 2;
	s->evict_batch = 64;
	s->orphan_grace_s = 60;
	s->max_regions = 256;
	s->zk_timeout_s = 10;
	s->zk_gc_grace_s = 300;
	s->busy_poll_us = FM_DEFAULT_BUSY_POLL;
	s->prefetch = FM_DEFAULT_PREFETCH;
	s->log_level = LOG_INFO;
}

/* libmemcached options are upper case: --SERVER=, --SOCKET=, --POOL-MIN= */
static int is_locator_arg(const char *a)
{
	if (strncmp(a, "--", 2) != 0 || a[2] < 'A' || a[2] > 'Z')
		return 0;
	for (const char *p = a + 2; *p && *p != '='; p++)
		if (!((*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'))
			return 0;
	return 1;
}

/* Where errors go: stderr, or a caller's buffer (config file lines). */
static char *err_buf;
static size_t err_len;

static __attribute__((format(printf, 1, 2))) int fail(const char *fmt, ...)
{
	char msg[1280];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err_buf)
		snprintf(err_buf, err_len, "%s", msg);
	else
		fprintf(stderr, "monitor: %s\n", msg);
	return -1;
}

static int bad_value(const char *opt, const char *val, const char *why)
{
	return fail("invalid value '%s' for --%s: %s", val, opt, why);
}

static int num_opt(const char *opt, const char *val, uint64_t min,
		   uint64_t max, uint64_t *out)
{
	char why[96];
	int ret = parse_u64(val, min, max, out);

	if (ret == 0)
		return 0;
	snprintf(why, sizeof(why), "expected a whole number from %llu to %llu",
		 (unsigned long long)min, (unsigned long long)max);
	return bad_value(opt, val, why);
}

/* --compressed-cache: 0, or a size; bare numbers are MiB (as --mem-path). */
static int zcache_opt(struct settings *s, const char *opt, const char *val)
{
	int mib = *val && strspn(val, "0123456789") == strlen(val);
	uint64_t v;

	if (parse_size(val, 0, ZCACHE_MAX_BYTES, &v) ||
	    (mib && v > ZCACHE_MAX_BYTES >> 20))
		return bad_value(opt, val, "expected 0 or a size from 1M to 32G");
	if (mib)
		v <<= 20;
	if (v && v < ZCACHE_MIN_BYTES)
		return bad_value(opt, val, "expected 0 or a size from 1M to 32G");
	if (v && !zcache_available())
		return bad_value(opt, val, "this monitor was built without "
				 "liblz4 (configure --enable-lz4)");
	s->zcache_bytes = v;
	return 0;
}

/* --fault-cpus: a CPU list, every CPU one the monitor may run on. */
static int cpus_opt(struct settings *s, const char *opt, const char *val)
{
	cpu_set_t allowed;
	char why[128];
	int ret;

	if (strlen(val) >= sizeof(s->fault_cpus))
		return bad_value(opt, val, "too long");
	ret = parse_cpu_list(val, s->fault_cpu_mask, FM_MAX_CPUS);
	if (ret == -ERANGE) {
		snprintf(why, sizeof(why), "CPU numbers go up to %d",
			 FM_MAX_CPUS - 1);
		return bad_value(opt, val, why);
	}
	if (ret)
		return bad_value(opt, val,
				 "expected a CPU list such as 0 or 0-3,6");
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return fail("--%s: sched_getaffinity: %s", opt,
			    strerror(errno));
	for (unsigned c = 0; c < FM_MAX_CPUS; c++)
		if ((s->fault_cpu_mask[c / 64] >> (c % 64) & 1) &&
		    !CPU_ISSET(c, &allowed)) {
			snprintf(why, sizeof(why),
				 "CPU %u is offline or not allowed to the "
				 "monitor (see taskset -p)", c);
			return bad_value(opt, val, why);
		}
	strcpy(s->fault_cpus, val);
	return 0;
}

static int path_opt(const char *opt, const char *val, size_t max)
{
	if (!*val)
		return bad_value(opt, val, "must not be empty");
	if (strlen(val) >= max)
		return bad_value(opt, val, "path too long");
	return 0;
}

/*
 * --mem-path: the tiers become the chain backend's locator; EMP's
 * "dram:SIZE" is the resident cache itself.
 */
static int mem_path_apply(struct settings *s, int nloc)
{
	char buf[sizeof(s->mem_path)], *save = NULL;
	int ndram = 0;

	if (nloc || (s->backend && strcmp(s->backend, "chain") != 0))
		return fail("--mem-path replaces --backend and LOCATOR: give "
			    "one or the other");
	strcpy(buf, s->mem_path);
	s->locator[0] = '\0';
	for (char *tok = strtok_r(buf, "|", &save); tok;
	     tok = strtok_r(NULL, "|", &save)) {
		uint64_t bytes;
		if (strncmp(tok, "dram:", 5) != 0) {
			size_t used = strlen(s->locator);
			if (used + strlen(tok) + 2 > sizeof(s->locator))
				return fail("--mem-path is too long");
			snprintf(s->locator + used, sizeof(s->locator) - used,
				 "%s%s", used ? "|" : "", tok);
			continue;
		}
		const char *size = tok + 5;
		int mib = *size && strspn(size, "0123456789") == strlen(size);
		if (ndram++ || parse_size(size, 1, UINT64_C(1) << 52, &bytes))
			return fail("--mem-path: '%s': expected one dram:SIZE "
				    "(MiB, or with a K/M/G/T suffix)",
				    tok);
		if (mib)
			bytes <<= 20;
		uint64_t pages = bytes / (uint64_t)sysconf(_SC_PAGESIZE);
		if (pages == 0)
			return fail("--mem-path: '%s' is under a page", tok);
		if (s->cache_size_set && s->cache_size != pages)
			return fail("--mem-path: '%s' (%llu pages) disagrees "
				    "with --cache_size=%llu",
				    tok, (unsigned long long)pages,
				    (unsigned long long)s->cache_size);
		s->cache_size = pages;
	}
	if (!s->locator[0])
		return fail("--mem-path names no tier besides dram");
	s->backend = "chain";
	return 0;
}

int settings_option_arg(const char *name)
{
	for (const struct option *o = long_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o->has_arg;
	return -1;
}

int settings_parse(struct settings *s, int argc, char **argv)
{
	return settings_parse_msg(s, argc, argv, 0, NULL, 0);
}

static int parse_all(struct settings *s, int argc, char **argv, int partial);

int settings_parse_msg(struct settings *s, int argc, char **argv, int partial,
		       char *err, size_t errlen)
{
	int ret;

	err_buf = err;
	err_len = errlen;
	ret = parse_all(s, argc, argv, partial);
	err_buf = NULL;
	return ret;
}

static int parse_all(struct settings *s, int argc, char **argv, int partial)
{
	uint64_t v;
	int c, nloc = 0;

	settings_defaults(s);
	/* FluidMem-style LOCATOR words are not getopt options: take them out. */
	int w = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				argv[w++] = argv[i++];
			break;
		}
		if (is_locator_arg(argv[i])) {
			size_t used = strlen(s->locator);
			if (used + strlen(argv[i]) + 2 > sizeof(s->locator)) {
				return fail("LOCATOR too long");
			}
			snprintf(s->locator + used, sizeof(s->locator) - used,
				 "%s%s", used ? " " : "", argv[i]);
			nloc++;
			continue;
		}
		argv[w++] = argv[i];
	}
	argc = w;
	argv[argc] = NULL;

	/* 0, not 1: glibc then forgets the previous argv (config lines). */
	optind = 0;
	opterr = 0;
	int idx = -1;
	while ((c = getopt_long(argc, argv, ":h", long_options, &idx)) != -1) {
		/* Name the option as the user spelled it. */
		const char *name = idx >= 0 ? long_options[idx].name : "?";
		idx = -1;
		switch (c) {
		case OPT_CACHE_SIZE:
			if (num_opt(name, optarg, 1, UINT64_C(1) << 40, &v))
				return -1;
			s->cache_size = v;
			s->cache_size_set = 1;
			break;
		case OPT_BACKEND:
			if (!backend_find(optarg)) {
				char why[128];
				snprintf(why, sizeof(why),
					 "unknown backend (this build has: %s)",
					 backend_names());
				return bad_value(name, optarg, why);
			}
			s->backend = optarg;
			break;
		case OPT_LOCATOR:
			if (snprintf(s->locator, sizeof(s->locator), "%s",
				     optarg) >= (int)sizeof(s->locator) ||
			    !*optarg)
				return bad_value(name, optarg,
						 "empty or too long");
			nloc++;
			break;
		case OPT_SOCKET:
			if (path_opt(name, optarg, 108))
				return -1;
			s->socket_path = optarg;
			break;
		case OPT_RUN_DIR:
			if (path_opt(name, optarg, 200))
				return -1;
			s->run_dir = optarg;
			break;
		case OPT_CTL_SOCKET:
			if (path_opt(name, optarg, 108))
				return -1;
			s->ctl_socket = optarg;
			break;
		case OPT_CTL_TCP: {
			uint16_t port;
			if (strcmp(optarg, "none") == 0) {
				s->ctl_tcp = 0;
				break;
			}
			if (parse_host_port(optarg, s->ctl_host,
					    sizeof(s->ctl_host), &port))
				return bad_value(name, optarg,
						 "expected [HOST:]PORT or none");
			s->ctl_tcp = 1;
			s->ctl_port = port;
			break;
		}
		case OPT_LOCAL_DIR:
			if (path_opt(name, optarg, 200))
				return -1;
			s->local_dir = optarg;
			break;
		case OPT_GROUP: {
			struct group *g = getgrnam(optarg);
			if (!g)
				return bad_value(name, optarg, "no such group");
			s->group = optarg;
			s->gid = g->gr_gid;
			break;
		}
		case OPT_FAULT_THREADS:
			if (num_opt(name, optarg, 1, 64, &v))
				return -1;
			s->fault_threads = (unsigned)v;
			break;
		case OPT_EVICT_BATCH:
			if (num_opt(name, optarg, 1, 1024, &v))
				return -1;
			s->evict_batch = (unsigned)v;
			break;
		case OPT_HEADROOM:
			if (num_opt(name, optarg, 0, UINT64_C(1) << 40, &v))
				return -1;
			s->headroom = v;
			s->headroom_set = 1;
			break;
		case OPT_ORPHAN_GRACE:
			if (num_opt(name, optarg, 0, 86400, &v))
				return -1;
			s->orphan_grace_s = (unsigned)v;
			break;
		case OPT_MAX_REGIONS:
			if (num_opt(name, optarg, 1, 65536, &v))
				return -1;
			s->max_regions = (unsigned)v;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &s->log_level))
				return bad_value(name, optarg,
						 "expected error, warn, info "
						 "or debug");
			break;
		case OPT_DEBUG_SKIP_WP:
			s->debug_skip_wp = 1;
			break;
		case OPT_DEBUG_VICTIM:
			if (strcmp(optarg, "recent") == 0)
				s->debug_victim_recent = 1;
			else if (strcmp(optarg, "clock") == 0)
				s->debug_victim_recent = 0;
			else
				return bad_value(name, optarg,
						 "expected clock or recent");
			break;
		case 'h':
			settings_usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("monitor (fluidmem) %s\n", PACKAGE_VERSION);
			return 1;
		case OPT_ZOOKEEPER:
			if (!*optarg || strlen(optarg) >= sizeof(s->zookeeper) ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789.-:,[]") != strlen(optarg) ||
			    !strchr(optarg, ':'))
				return bad_value(name, optarg,
						 "expected HOST:PORT[,HOST:PORT...]");
			strcpy(s->zookeeper, optarg);
			break;
		case OPT_ZK_TIMEOUT:
			if (num_opt(name, optarg, 1, 600, &v))
				return -1;
			s->zk_timeout_s = (unsigned)v;
			break;
		case OPT_ZK_GC_GRACE:
			if (num_opt(name, optarg, 1, 86400 * 30, &v))
				return -1;
			s->zk_gc_grace_s = (unsigned)v;
			break;
		case OPT_MEM_PATH:
			if (!*optarg ||
			    strlen(optarg) >= sizeof(s->mem_path))
				return bad_value(name, optarg,
						 "empty or too long");
			strcpy(s->mem_path, optarg);
			break;
		case OPT_BUSY_POLL:
			if (num_opt(name, optarg, 0, 10000, &v))
				return -1;
			s->busy_poll_us = (unsigned)v;
			break;
		case OPT_PREFETCH:
			if (num_opt(name, optarg, 0, FM_PREFETCH_MAX, &v))
				return -1;
			s->prefetch = (unsigned)v;
			break;
		case OPT_ZCACHE:
			if (zcache_opt(s, name, optarg))
				return -1;
			break;
		case OPT_FAULT_CPUS:
			if (cpus_opt(s, name, optarg))
				return -1;
			break;
		case OPT_CONFIG:
			if (path_opt(name, optarg, 4096))
				return -1;
			s->config_file = optarg;
			break;
		case ':':
			return fail("option '%s' needs a value", argv[optind - 1]);
		default:
			return fail("unknown option '%s' (see --help)",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail("unexpected argument '%s' (see --help)",
			    argv[optind]);
	/* One config file line: the checks across options come later. */
	if (partial)
		return 0;
	if (s->mem_path[0] && mem_path_apply(s, nloc))
		return -1;
	if (!s->mem_path[0] && s->backend && !strcmp(s->backend, "chain"))
		return fail("the chain backend is built with --mem-path");
	if (!s->backend)
		s->backend = nloc ? "memcached" : "local";
	if (nloc && strcmp(s->backend, "memcached") != 0 &&
	    strcmp(s->backend, "remote") != 0 &&
	    strcmp(s->backend, "nvme") != 0)
		return fail("a LOCATOR only makes sense with the memcached, "
			    "remote and nvme backends");
	if (!backend_find(s->backend))
		return fail("backend '%s' is not in this build (it has: %s); "
			    "reconfigure with --enable-%s",
			    s->backend, backend_names(), s->backend);
	if (strcmp(s->backend, "memcached") == 0 && !nloc)
		return fail("the memcached backend needs a LOCATOR, e.g. "
			    "--SERVER=127.0.0.1:11211");
	if (strcmp(s->backend, "remote") == 0 && !nloc)
		return fail("the remote backend needs --locator=tcp://HOST:PORT;"
			    "secret-file=PATH");
	if (strcmp(s->backend, "nvme") == 0 && !nloc)
		return fail("the nvme backend needs a LOCATOR, e.g. "
			    "--locator='/var/lib/fluidmem/pages;size=8G'");
	/* The backend's own look at its locator, still before start-up. */
	const struct backend_ops *ops = backend_find(s->backend);
	char why[512];
	if (ops->check && ops->check(s->locator[0] ? s->locator : NULL, why,
				     sizeof(why)))
		return fail("%s%s", s->mem_path[0] ? "--mem-path: " : "", why);
	if (!s->ctl_socket) {
		snprintf(s->ctl_socket_buf, sizeof(s->ctl_socket_buf),
			 "%s/ctl.sock", s->run_dir);
		s->ctl_socket = s->ctl_socket_buf;
	} else if (strcmp(s->ctl_socket, "none") == 0) {
		s->ctl_socket = NULL;
	}
	if (!s->headroom_set) {
		s->headroom = s->cache_size / 32;
		if (s->headroom > 256)
			s->headroom = 256;
	}
	if (s->headroom >= s->cache_size)
		s->headroom = s->cache_size - 1;
	return 0;
}
