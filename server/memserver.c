/*
 * memserver: donates --size MiB of DRAM to fluidmem monitors over TCP or
 * RDMA. Options, start-up, housekeeping (expiring the slots of clients
 * gone longer than --client-grace, periodic stats) and the --stats
 * client mode.
 */
#include "config.h"
#include "memserver.h"
#include "memclient.h"
#include "log.h"
#include "parse.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_PORT 7480
#define DEFAULT_GRACE 300

enum {
	OPT_SIZE = 256,
	OPT_LISTEN,
	OPT_TRANSPORT,
	OPT_SECRET_FILE,
	OPT_ALLOW,
	OPT_STATS_INTERVAL,
	OPT_CLIENT_GRACE,
	OPT_STATS,
	OPT_LOG_LEVEL,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "stats-interval", required_argument, NULL, OPT_STATS_INTERVAL },
	{ "client-grace", required_argument, NULL, OPT_CLIENT_GRACE },
	{ "stats", required_argument, NULL, OPT_STATS },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: memserver --size=MiB --secret-file=FILE [OPTIONS]\n"
"       memserver --stats=HOST:PORT --secret-file=FILE\n"
"Donate MiB of this machine's DRAM to fluidmem monitors (their `remote`\n"
"backend). Payload is authenticated, not encrypted: use a trusted fabric.\n"
"  --size=MiB             memory to donate (required)\n"
"  --listen=HOST:PORT     address to listen on (default 0.0.0.0:%d)\n"
"  --transport=tcp|rdma   tcp (default) or rdma (needs an RDMA device and\n"
"                         a build with --enable-rdma; this one: %s)\n"
"  --secret-file=FILE     shared secret, 16-4096 bytes, mode 0600 (required)\n"
"  --allow=CIDR,...       only these client networks (default: any)\n"
"  --client-grace=SEC     keep a disconnected client's pages this long\n"
"                         (default %d)\n"
"  --stats-interval=SEC   log stats every SEC seconds (default 0: never)\n"
"  --stats=HOST:PORT      print a running server's stats and exit\n"
"  --log-level=LEVEL      error, warning, info (default), debug\n"
"  --help, --version\n",
		DEFAULT_PORT, rdma_available ? "yes" : "no", DEFAULT_GRACE);
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "memserver: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see memserver --help)\n");
	return 2;
}

static volatile sig_atomic_t got_signal;
static struct srv *the_srv; /* for the signal handler only */

static void on_signal(int sig)
{
	got_signal = sig;
	if (the_srv)
		atomic_store(&the_srv->stop, 1);
}

size_t srv_stats_text(struct srv *s, char *buf, size_t len)
{
	uint32_t used;
	unsigned clients, connected;
	size_t off = 0;

	pool_usage(&s->pool, &used, &clients, &connected);
#define EMIT(name, fmt, ...)                                                   \
	do {                                                                   \
		int k = snprintf(buf + off, len - off, "STAT %s " fmt "\r\n",  \
				 name, __VA_ARGS__);                           \
		if (k > 0 && (size_t)k < len - off)                            \
			off += (size_t)k;                                      \
	} while (0)
	EMIT("version", "%s", PACKAGE_VERSION);
	EMIT("protocol", "%d", MP_VERSION);
	EMIT("transport", "%s", s->set.transport == MP_T_RDMA ? "rdma" : "tcp");
	EMIT("instance", "%016" PRIx64, s->instance);
	EMIT("uptime", "%ld", (long)(time(NULL) - s->started));
	EMIT("page_size", "%u", MP_PAGE_SIZE);
	EMIT("capacity_slots", "%u", s->pool.nslots);
	EMIT("used_slots", "%u", used);
	EMIT("free_slots", "%u", s->pool.nslots - used);
	EMIT("clients", "%u", clients);
	EMIT("clients_connected", "%u", connected);
	EMIT("connections_open", "%u", atomic_load(&s->nconns));
	EMIT("client_grace", "%u", s->set.client_grace_s);
#define X(name, desc) EMIT(#name, "%" PRIu64, atomic_load(&s->st.name));
	SRV_COUNTERS(X)
#undef X
#undef EMIT
	if (len - off > 5) {
		memcpy(buf + off, "END\r\n", 5);
		off += 5;
	}
	return off;
}

static void *housekeeping(void *arg)
{
	struct srv *s = arg;
	time_t last_stats = time(NULL);
	char text[MP_STATS_MAX + 1];

	while (!atomic_load(&s->stop)) {
		time_t now = time(NULL);
		uint64_t n = pool_expire(&s->pool, now, s->set.client_grace_s);
		if (n) {
			atomic_fetch_add(&s->st.slots_expired, n);
			log_info("freed %" PRIu64 " slots of clients gone "
				 "longer than %us",
				 n, s->set.client_grace_s);
		}
		if (s->set.stats_interval_s &&
		    now - last_stats >= (time_t)s->set.stats_interval_s) {
			size_t k = srv_stats_text(s, text, MP_STATS_MAX);
			text[k] = '\0';
			for (char *l = strtok(text, "\r\n"); l;
			     l = strtok(NULL, "\r\n"))
				if (strncmp(l, "STAT ", 5) == 0)
					log_info("stats: %s", l + 5);
			last_stats = now;
		}
		sleep(1);
	}
	return NULL;
}

static int stats_client(const char *where, const char *secret_file)
{
	char host[256], err[256], text[MP_STATS_MAX + 1];
	struct mp_key key;
	struct memclient c;
	uint16_t port;
	int ret;

	if (parse_host_port(where, host, sizeof(host), &port) || !port)
		return bad("--stats: '%s' is not HOST:PORT", where);
	if (mp_key_load(secret_file, &key, err, sizeof(err)))
		return bad("%s", err);
	memclient_init(&c, host, port, &key, "memserver-stats", 5000);
	ret = memclient_connect(&c);
	if (!ret)
		ret = memclient_stats(&c, text, sizeof(text));
	if (ret) {
		fprintf(stderr, "memserver: %s\n", c.err);
		memclient_close(&c);
		return 1;
	}
	fputs(text, stdout);
	memclient_close(&c);
	return 0;
}

static int parse_seconds(const char *name, const char *arg, unsigned *out)
{
	uint64_t v;

	if (parse_u64(arg, 0, 86400 * 365, &v))
		return bad("--%s: '%s' is not a number of seconds", name, arg);
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static struct srv s;
	const char *stats_at = NULL;
	char err[256];
	uint64_t v;
	int opt, ret, have_size = 0;
	pthread_t hk;

	s.set.port = DEFAULT_PORT;
	strcpy(s.set.host, "0.0.0.0");
	s.set.transport = MP_T_TCP;
	s.set.client_grace_s = DEFAULT_GRACE;
	log_set_prefix("memserver");
	log_detect_journal();
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_SIZE:
			if (parse_u64(optarg, 1, 1 << 24, &v))
				return bad("--size: '%s' is not a size in MiB "
					   "(1 to 16777216)",
					   optarg);
			s.set.size_mib = v;
			have_size = 1;
			break;
		case OPT_LISTEN:
			if (parse_host_port(optarg, s.set.host,
					    sizeof(s.set.host), &s.set.port) ||
			    !strchr(optarg, ':') || !s.set.port)
				return bad("--listen: '%s' is not HOST:PORT",
					   optarg);
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "tcp") == 0)
				s.set.transport = MP_T_TCP;
			else if (strcmp(optarg, "rdma") == 0)
				s.set.transport = MP_T_RDMA;
			else
				return bad("--transport: '%s' is not tcp or "
					   "rdma",
					   optarg);
			break;
		case OPT_SECRET_FILE:
			if (snprintf(s.set.secret_file,
				     sizeof(s.set.secret_file), "%s",
				     optarg) >= (int)sizeof(s.set.secret_file))
				return bad("--secret-file: path too long");
			break;
		case OPT_ALLOW:
			if (allow_parse(optarg, s.set.allow, SRV_MAX_ALLOW,
					&s.set.nallow, err, sizeof(err)))
				return bad("--allow: %s", err);
			break;
		case OPT_STATS_INTERVAL:
			if (parse_seconds("stats-interval", optarg,
					  &s.set.stats_interval_s))
				return 2;
			break;
		case OPT_CLIENT_GRACE:
			if (parse_seconds("client-grace", optarg,
					  &s.set.client_grace_s))
				return 2;
			break;
		case OPT_STATS:
			stats_at = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &log_threshold))
				return bad("--log-level: '%s' is not error, "
					   "warning, info or debug",
					   optarg);
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("memserver %s (protocol %d)\n", PACKAGE_VERSION,
			       MP_VERSION);
			return 0;
		default:
			return bad("unknown or incomplete option '%s'",
				   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!s.set.secret_file[0])
		return bad("--secret-file is required");
	if (stats_at)
		return stats_client(stats_at, s.set.secret_file);
	if (!have_size)
		return bad("--size is required");
	if (s.set.transport == MP_T_RDMA && !rdma_available)
		return bad("--transport=rdma: this memserver was built without "
			   "RDMA (configure --enable-rdma)");
	if (mp_key_load(s.set.secret_file, &s.key, err, sizeof(err))) {
		fprintf(stderr, "memserver: %s\n", err);
		return 2;
	}
	ret = pool_init(&s.pool, s.set.size_mib << 20);
	if (ret) {
		fprintf(stderr, "memserver: cannot allocate %" PRIu64
				" MiB: %s\n",
			s.set.size_mib, strerror(-ret));
		return 1;
	}
	mp_random(&s.instance, sizeof(s.instance));
	s.started = time(NULL);
	the_srv = &s;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&hk, NULL, housekeeping, &s)) {
		fprintf(stderr, "memserver: cannot start a thread\n");
		return 1;
	}
	err[0] = '\0';
	if (s.set.transport == MP_T_RDMA)
		ret = rdma_serve(&s, err, sizeof(err));
	else
		ret = tcp_serve(&s, err, sizeof(err));
	atomic_store(&s.stop, 1);
	pthread_join(hk, NULL);
	if (ret) {
		log_err("%s", err[0] ? err : strerror(-ret));
		return 1;
	}
	log_info("stopping on signal %d", (int)got_signal);
	return 0;
}
