/*
 * Control endpoint: one text command per line, memcached-style replies.
 * Reading commands (stats, listpids, version) are open to any peer that
 * can connect; commands that change the monitor need root or --group.
 */
#include "config.h"
#include "ctl.h"
#include "auth.h"
#include "coord.h"
#include "evict.h"
#include "lat.h"
#include "log.h"
#include "parse.h"
#include "reg.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTL_LINE_MAX 512
#define CTL_CONN_MAX 64

struct ctl_conn {
	struct watch w;
	struct peer peer;
	size_t len;
	char buf[CTL_LINE_MAX];
	struct ctl_conn *next;
};

struct ctl_state {
	struct watch unix_listen;
	struct watch tcp_listen;
	struct ctl_conn *conns;
	unsigned nconns;
	int stop;
};

/* Output buffer for one reply, sent with a single write. */
struct out {
	struct monitor *m;
	char *buf;
	size_t len, cap;
};

static void out_printf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = o->cap - o->len;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap * 2 : 4096;
		while (cap - o->len <= (size_t)n)
			cap *= 2;
		char *nb = realloc(o->buf, cap);
		if (!nb)
			return;
		o->buf = nb;
		o->cap = cap;
	}
}

static void emit_stat(void *arg, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void emit_stat(void *arg, const char *name, const char *fmt, ...)
{
	struct out *o = arg;
	char val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	out_printf(o, "STAT %s %s\r\n", name, val);
}

static void region_stats(struct monitor *m, struct region *r, void *arg)
{
	struct out *o = arg;
	char p[64];

#define RSTAT(field, fmt, val)                                                 \
	do {                                                                   \
		snprintf(p, sizeof(p), "region:%016" PRIx64 ":" field, r->id);  \
		emit_stat(o, p, fmt, val);                                     \
	} while (0)
	RSTAT("name", "%s", r->name);
	RSTAT("pid", "%d", (int)r->pid);
	RSTAT("pages", "%" PRIu64, r->npages);
	RSTAT("resident", "%" PRIu64, atomic_load(&r->resident));
	RSTAT("faults", "%" PRIu64, atomic_load(&r->st.faults));
	RSTAT("zero_pages", "%" PRIu64, atomic_load(&r->st.zero_pages));
	RSTAT("placed_pages", "%" PRIu64, atomic_load(&r->st.placed_pages));
	RSTAT("evictions", "%" PRIu64, atomic_load(&r->st.evictions));
	RSTAT("pages_lost", "%" PRIu64, atomic_load(&r->st.pages_lost));
	RSTAT("poisoned", "%" PRIu64, atomic_load(&r->st.poisoned));
#undef RSTAT
}

static void cmd_stats(struct monitor *m, struct out *o)
{
	emit_stat(o, "pid", "%d", (int)getpid());
	emit_stat(o, "version", "%s", PACKAGE_VERSION);
	emit_stat(o, "proto_version", "%d", FM_CTL_PROTO_VERSION);
	emit_stat(o, "uptime", "%ld", (long)(time(NULL) - m->started));
	emit_stat(o, "time", "%ld", (long)time(NULL));
	emit_stat(o, "backend", "%s", m->be_ops->name);
	emit_stat(o, "page_size", "%u", m->page_size);
	emit_stat(o, "cache_size", "%" PRIu64,
		  atomic_load(&m->cache.capacity));
	emit_stat(o, "cache_used", "%" PRIu64, atomic_load(&m->cache.used));
	emit_stat(o, "cache_headroom", "%" PRIu64,
		  atomic_load(&m->cache.headroom));
	emit_stat(o, "regions", "%u", region_count(m));
	emit_stat(o, "fault_threads", "%u", m->set.fault_threads);
	emit_stat(o, "fault_rate", "%" PRIu64, atomic_load(&m->fault_rate));
	emit_stat(o, "last_fault", "%" PRIu64,
		  atomic_load(&m->last_fault_time));
	stats_print(&m->stats, emit_stat, o);
	if (m->be_ops->stats)
		m->be_ops->stats(m->be, emit_stat, o);
	region_foreach(m, region_stats, o);
	out_printf(o, "END\r\n");
}

static void emit_line(void *arg, const char *line)
{
	if (strncmp(line, "ERROR", 5) == 0)
		STAT_INC(&((struct out *)arg)->m->stats, ctl_errors);
	out_printf(arg, "%s\r\n", line);
}

static void list_region(struct monitor *m, struct region *r, void *arg)
{
	out_printf(arg,
		   "REGION %016" PRIx64 " pid=%d name=%s pages=%" PRIu64
		   " resident=%" PRIu64 "\r\n",
		   r->id, (int)r->pid, r->name, r->npages,
		   atomic_load(&r->resident));
}

static int parse_count(const char *arg, uint64_t min, uint64_t *out)
{
	return arg ? parse_u64(arg, min, UINT64_C(1) << 40, out) : -EINVAL;
}

/* Command table: long name, short form, needs privilege, takes an arg. */
enum cmd {
	CMD_STATS,
	CMD_RESIZE,
	CMD_EVICT,
	CMD_LISTPIDS,
	CMD_DISCONNECTPID,
	CMD_CLEARSTATS,
	CMD_STOP,
	CMD_VERSION,
	CMD_CLUSTER,
	CMD_TIERS,
	CMD_QUIT,
	CMD_LATENCY,
};

static const struct {
	const char *name, *abbrev, *arg;
	int privileged;
	int optional; /* the argument may be left out */
} cmds[] = {
	[CMD_STATS] = { "stats", "s", NULL, 0 },
	[CMD_RESIZE] = { "resize", "r", "PAGES", 1 },
	[CMD_EVICT] = { "evict", "e", "PAGES", 1 },
	[CMD_LISTPIDS] = { "listpids", "l", NULL, 0 },
	[CMD_DISCONNECTPID] = { "disconnectpid", "d", "PID", 1 },
	[CMD_CLEARSTATS] = { "clearstats", "c", NULL, 1 },
	[CMD_STOP] = { "stop", "t", NULL, 1 },
	[CMD_VERSION] = { "version", "v", NULL, 0 },
	[CMD_CLUSTER] = { "cluster", "k", NULL, 0 },
	[CMD_TIERS] = { "tiers", "m", NULL, 0 },
	[CMD_QUIT] = { "quit", "q", NULL, 0 },
	[CMD_LATENCY] = { "latency", "h", "STAGE", 0, 1 },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static int cmd_lookup(const char *word)
{
	if (strcmp(word, "stat") == 0)
		return CMD_STATS;
	for (unsigned i = 0; i < NCMDS; i++)
		if (strcmp(word, cmds[i].name) == 0 ||
		    strcmp(word, cmds[i].abbrev) == 0)
			return (int)i;
	return -1;
}

static void ctl_error(struct monitor *m, struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ctl_error(struct monitor *m, struct out *o, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	STAT_INC(&m->stats, ctl_errors);
	out_printf(o, "ERROR %s\r\n", msg);
}

static void lat_line(struct out *o, enum lat_stage s)
{
	struct lat_summary l;

	lat_summarize(s, &l);
	out_printf(o,
		   "LAT %s count=%" PRIu64 " mean_us=%.1f p50_us=%.1f "
		   "p99_us=%.1f p999_us=%.1f max_us=%.1f\r\n",
		   lat_stage_name(s), l.count, l.mean_ns / 1e3, l.p50_ns / 1e3,
		   l.p99_ns / 1e3, l.p999_ns / 1e3, l.max_ns / 1e3);
}

/* Per-stage latency percentiles, every stage or the one named. */
static void cmd_latency(struct monitor *m, struct out *o, const char *arg)
{
	int s = arg ? lat_stage_find(arg) : -1;

	if (arg && s < 0) {
		ctl_error(m, o, "unknown stage '%.64s' (fault, zeropage, "
				"copy, backend_read, backend_write, evict)",
			  arg);
		return;
	}
	for (int i = 0; i < LAT_NSTAGES; i++)
		if (s < 0 || s == i)
			lat_line(o, (enum lat_stage)i);
	out_printf(o, "END\r\n");
}

/* Returns 1 when the connection should be closed. */
static int ctl_command(struct monitor *m, struct ctl_conn *c, char *line,
		       struct out *o)
{
	char *save = NULL;
	char *word = strtok_r(line, " \t", &save);
	char *arg = word ? strtok_r(NULL, " \t", &save) : NULL;
	char *extra = arg ? strtok_r(NULL, " \t", &save) : NULL;
	uint64_t v;
	int cmd;

	if (!word)
		return 0; /* empty line */
	cmd = cmd_lookup(word);
	if (cmd < 0) {
		ctl_error(m, o, "unknown command '%.64s'", word);
		return 0;
	}
	if ((cmds[cmd].arg && !arg && !cmds[cmd].optional) ||
	    (!cmds[cmd].arg && arg) || extra) {
		ctl_error(m, o, "usage: %s%s%s%s", cmds[cmd].name,
			  cmds[cmd].arg ? (cmds[cmd].optional ? " [" : " ")
					: "",
			  cmds[cmd].arg ? cmds[cmd].arg : "",
			  cmds[cmd].optional ? "]" : "");
		return 0;
	}
	if (cmds[cmd].privileged && !c->peer.allowed) {
		STAT_INC(&m->stats, ctl_denied);
		ctl_error(m, o, "permission denied: %s needs root or the "
				"monitor's --group",
			  cmds[cmd].name);
		return 0;
	}
	switch ((enum cmd)cmd) {
	case CMD_STATS:
		cmd_stats(m, o);
		break;
	case CMD_RESIZE:
		if (parse_count(arg, 1, &v)) {
			ctl_error(m, o, "invalid page count '%.64s' (1 or more)",
				  arg);
			break;
		}
		log_info("cache resized from %" PRIu64 " to %" PRIu64
			 " pages",
			 atomic_load(&m->cache.capacity), v);
		evict_resize(m, v);
		out_printf(o, "OK cache_size %" PRIu64 "\r\n", v);
		break;
	case CMD_EVICT:
		if (parse_count(arg, 1, &v)) {
			ctl_error(m, o, "invalid page count '%.64s' (1 or more)",
				  arg);
			break;
		}
		evict_request(m, v);
		out_printf(o, "OK evicting %" PRIu64 "\r\n", v);
		break;
	case CMD_LISTPIDS:
		region_foreach(m, list_region, o);
		out_printf(o, "END\r\n");
		break;
	case CMD_DISCONNECTPID: {
		if (parse_u64(arg, 1, INT32_MAX, &v)) {
			ctl_error(m, o, "invalid pid '%.64s'", arg);
			break;
		}
		unsigned n = reg_drop_pid(m, (pid_t)v);
		if (n)
			out_printf(o, "OK disconnected %u region(s)\r\n", n);
		else
			ctl_error(m, o, "no region belongs to pid %" PRIu64,
				  v);
		break;
	}
	case CMD_CLEARSTATS:
		stats_reset(&m->stats);
		lat_reset();
		out_printf(o, "OK\r\n");
		break;
	case CMD_STOP:
		log_info("stop requested through the control socket");
		m->ctl->stop = 1;
		out_printf(o, "OK stopping\r\n");
		break;
	case CMD_VERSION:
		out_printf(o, "VERSION %s\r\n", PACKAGE_VERSION);
		break;
	case CMD_CLUSTER:
		coord_cluster(m, emit_line, o);
		break;
	case CMD_TIERS:
		if (m->be_ops->tiers)
			m->be_ops->tiers(m->be, emit_line, o);
		else
			ctl_error(m, o,
				  "no tier chain: this monitor uses the %s "
				  "backend (see --mem-path)",
				  m->be_ops->name);
		break;
	case CMD_QUIT:
		return 1;
	case CMD_LATENCY:
		cmd_latency(m, o, arg);
		break;
	}
	return 0;
}

static void conn_close(struct monitor *m, struct ctl_conn *c)
{
	struct ctl_state *cs = m->ctl;

	for (struct ctl_conn **pp = &cs->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			cs->nconns--;
			break;
		}
	}
	loop_unwatch(m, &c->w);
	close(c->w.fd);
	free(c);
}

/*
 * Send a whole reply. A peer that does not read gets at most SEND_WAIT_MS
 * of the main loop's time; then its connection is dropped (returns -1).
 */
#define SEND_WAIT_MS 1000
static int send_all(int fd, const char *buf, size_t len)
{
	int waited_ms = 0;

	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (waited_ms >= SEND_WAIT_MS)
				return -1;
			poll(&p, 1, 10);
			waited_ms += 10;
			continue;
		}
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

void ctl_input(struct monitor *m, struct watch *w)
{
	struct ctl_conn *c = w->obj;
	struct out o = { .m = m };
	int close_it = 0;
	ssize_t n;

	n = recv(w->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(m, c);
		return;
	}
	c->len += (size_t)n;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (!nl) {
			if (c->len == sizeof(c->buf)) {
				ctl_error(m, &o, "line too long");
				close_it = 1;
			}
			break;
		}
		size_t linelen = (size_t)(nl - c->buf);
		*nl = '\0';
		if (linelen && c->buf[linelen - 1] == '\r')
			c->buf[--linelen] = '\0';
		if (strlen(c->buf) != linelen)
			ctl_error(m, &o, "NUL byte in command");
		else
			close_it = ctl_command(m, c, c->buf, &o);
		size_t used = (size_t)(nl - c->buf) + 1;
		memmove(c->buf, nl + 1, c->len - used);
		c->len -= used;
		if (close_it)
			break;
	}
	if (o.len && send_all(w->fd, o.buf, o.len) < 0) {
		log_warn("control client does not read its replies: "
			 "disconnected");
		close_it = 1;
	}
	free(o.buf);
	if (close_it)
		conn_close(m, c);
}

void ctl_accept(struct monitor *m, struct watch *listen)
{
	struct ctl_state *cs = m->ctl;
	int fd = accept4(listen->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ctl_conn *c;

	if (fd < 0)
		return;
	if (cs->nconns >= CTL_CONN_MAX) {
		send_all(fd, "ERROR too many control connections\r\n", 36);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->w = (struct watch){ .type = WATCH_CTL_CONN, .fd = fd, .obj = c };
	if (listen == &cs->tcp_listen) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		auth_tcp_peer(&m->set, fd, &c->peer);
	} else {
		auth_unix_peer(&m->set, fd, &c->peer);
	}
	if (loop_watch(m, &c->w)) {
		close(fd);
		free(c);
		return;
	}
	c->next = cs->conns;
	cs->conns = c;
	cs->nconns++;
}

static int tcp_listen(struct monitor *m)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(m->set.ctl_port) };
	int one = 1, fd, ret;

	if (inet_pton(AF_INET, m->set.ctl_host, &sa.sin_addr) != 1) {
		log_err("--ctl-tcp: '%s' is not an IPv4 address",
			m->set.ctl_host);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0) {
		ret = -errno;
		log_err("cannot listen on %s:%u: %s%s", m->set.ctl_host,
			m->set.ctl_port, strerror(-ret),
			ret == -EADDRINUSE ? " (another monitor? pick another "
					     "port with --ctl-tcp or 'none')"
					   : "");
		close(fd);
		return ret;
	}
	return fd;
}

int ctl_init(struct monitor *m)
{
	struct ctl_state *cs = calloc(1, sizeof(*cs));
	int fd, ret;

	if (!cs)
		return -ENOMEM;
	cs->unix_listen.fd = cs->tcp_listen.fd = -1;
	m->ctl = cs;
	if (m->set.ctl_socket) {
		/* Same access as registration; unprivileged users read
		 * stats over loopback TCP. */
		fd = sock_listen_unix(m->set.ctl_socket, SOCK_STREAM,
				      m->set.group ? 0660 : 0600,
				      m->set.group ? m->set.gid : (gid_t)-1);
		if (fd < 0) {
			log_err("cannot listen on %s: %s", m->set.ctl_socket,
				strerror(-fd));
			return fd;
		}
		cs->unix_listen =
			(struct watch){ .type = WATCH_CTL_LISTEN, .fd = fd };
		if ((ret = loop_watch(m, &cs->unix_listen)))
			return ret;
	}
	if (m->set.ctl_tcp) {
		fd = tcp_listen(m);
		if (fd < 0)
			return fd;
		cs->tcp_listen =
			(struct watch){ .type = WATCH_CTL_LISTEN, .fd = fd };
		if ((ret = loop_watch(m, &cs->tcp_listen)))
			return ret;
	}
	return 0;
}

void ctl_fini(struct monitor *m)
{
	struct ctl_state *cs = m->ctl;

	if (!cs)
		return;
	while (cs->conns)
		conn_close(m, cs->conns);
	if (cs->unix_listen.fd >= 0) {
		loop_unwatch(m, &cs->unix_listen);
		close(cs->unix_listen.fd);
		unlink(m->set.ctl_socket);
	}
	if (cs->tcp_listen.fd >= 0) {
		loop_unwatch(m, &cs->tcp_listen);
		close(cs->tcp_listen.fd);
	}
	free(cs);
	m->ctl = NULL;
}

int ctl_stop_requested(struct monitor *m)
{
	return m->ctl && m->ctl->stop;
}
