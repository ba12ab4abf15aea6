/*
 * ui: talk to a monitor's control endpoint. FluidMem-compatible:
 * `ui 127.0.0.1 s` prints stats. A target containing '/' is a UNIX
 * socket path; otherwise HOST[:PORT] (port 5001 by default).
 */
#include "config.h"
#include "parse.h"
#include "proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 10000

static void usage(FILE *out)
{
	fprintf(out,
"Usage: ui [-i] HOST[:PORT]|SOCKET COMMAND [ARG]\n"
"       ui -i HOST[:PORT]|SOCKET            (commands from standard input)\n"
"Talk to a fluidmem monitor's control endpoint (default port %d).\n"
"\n"
"Commands (short form in brackets):\n"
"  stat [s]              show statistics\n"
"  resize [r] PAGES      change the cache size (privileged)\n"
"  evict [e] PAGES       evict PAGES pages now (privileged)\n"
"  listpids [l]          list registered regions and their pids\n"
"  disconnectpid [d] PID drop every region of PID (privileged)\n"
"  clearstats [c]        reset counters (privileged)\n"
"  stop [t]              stop the monitor (privileged)\n"
"  version [v]           show the monitor's version\n"
"  cluster [k]           monitors and memory servers ZooKeeper knows\n"
"  tiers [m]             the --mem-path tiers: capacity, use, demotions\n"
"  latency [h] [STAGE]   per-stage latency: count, mean, p50, p99, p999\n"
"                        and max in microseconds; STAGE is fault,\n"
"                        zeropage, copy, backend_read, backend_write\n"
"                        or evict (default all)\n"
"\n"
"Exit status: 0 success, 1 the monitor answered ERROR, 2 usage or\n"
"connection error.\n",
		FM_DEFAULT_CTL_PORT);
}

static int connect_target(const char *target)
{
	int fd;

	if (strchr(target, '/')) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(target) >= sizeof(sa.sun_path)) {
			fprintf(stderr, "ui: socket path too long\n");
			return -1;
		}
		strcpy(sa.sun_path, target);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		fprintf(stderr, "ui: cannot connect to %s: %s\n", target,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}

	char host[256], port[8];
	const char *colon = strrchr(target, ':');
	uint64_t p = FM_DEFAULT_CTL_PORT;
	if (colon && strchr(target, ':') == colon) {
		if (parse_u64(colon + 1, 1, 65535, &p) ||
		    (size_t)(colon - target) >= sizeof(host)) {
			fprintf(stderr, "ui: bad target '%s' (HOST[:PORT] or a "
					"socket path)\n",
				target);
			return -1;
		}
		memcpy(host, target, (size_t)(colon - target));
		host[colon - target] = '\0';
	} else {
		snprintf(host, sizeof(host), "%s", target);
	}
	snprintf(port, sizeof(port), "%u", (unsigned)p);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	int ret = getaddrinfo(host, port, &hints, &ai);
	if (ret) {
		fprintf(stderr, "ui: %s: %s\n", host, gai_strerror(ret));
		return -1;
	}
	fd = -1;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "ui: cannot connect to %s:%s: %s\n", host, port,
			strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

/*
 * Send one command line and print the reply. Returns 0 (END/OK/VERSION),
 * 1 (ERROR) or 2 (connection trouble).
 */
static int exchange(int fd, FILE *in, const char *line)
{
	char buf[4096];
	size_t len = strlen(line);

	if (send(fd, line, len, MSG_NOSIGNAL) != (ssize_t)len ||
	    send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2) {
		fprintf(stderr, "ui: send: %s\n", strerror(errno));
		return 2;
	}
	for (int buffered = 0;; buffered = 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		/* Only wait for the first line; stdio may hold the rest. */
		if (!buffered && poll(&p, 1, REPLY_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "ui: no reply from the monitor\n");
			return 2;
		}
		if (!fgets(buf, sizeof(buf), in)) {
			fprintf(stderr, "ui: the monitor closed the "
					"connection\n");
			return 2;
		}
		size_t n = strlen(buf);
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		printf("%s\n", buf);
		if (strcmp(buf, "END") == 0 || strncmp(buf, "OK", 2) == 0 ||
		    strncmp(buf, "VERSION ", 8) == 0)
			return 0;
		if (strncmp(buf, "ERROR", 5) == 0)
			return 1;
	}
}

int main(int argc, char **argv)
{
	int interactive = 0, argi = 1, ret, fd;
	char line[512];
	FILE *in;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 ||
			 strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "-i") == 0) {
		interactive = 1;
		argi++;
	}
	if (argc - argi < 1 || (!interactive && argc - argi < 2) ||
	    argc - argi > 3) {
		usage(stderr);
		return 2;
	}
	if (argc - argi == 3) {
		snprintf(line, sizeof(line), "%s %s", argv[argi + 1],
			 argv[argi + 2]);
	} else if (argc - argi == 2) {
		snprintf(line, sizeof(line), "%s", argv[argi + 1]);
	}
	if (argc - argi >= 2 && strpbrk(line, "\r\n")) {
		fprintf(stderr, "ui: commands cannot contain line breaks\n");
		return 2;
	}
	fd = connect_target(argv[argi]);
	if (fd < 0)
		return 2;
	in = fdopen(dup(fd), "r");
	if (!in)
		return 2;
	if (argc - argi >= 2) {
		ret = exchange(fd, in, line);
		if (!interactive)
			return ret;
	}
	ret = 0;
	for (;;) {
		if (isatty(0)) {
			fputs("fluidmem> ", stdout);
			fflush(stdout);
		}
		if (!fgets(line, sizeof(line), stdin))
			break;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (strcmp(line, "quit") == 0 || strcmp(line, "q") == 0)
			break;
		ret = exchange(fd, in, line);
		fflush(stdout);
		if (ret == 2)
			break;
	}
	return ret;
}
