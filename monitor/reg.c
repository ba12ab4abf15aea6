/*
 * Registration socket and leases. Every message is checked before it can
 * change anything; a bad one gets an error reply and its connection is
 * closed, and the monitor goes on serving everyone else.
 */
#include "config.h"
#include "reg.h"
#include "auth.h"
#include "log.h"
#include "sock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PENDING_MAX 64
#define PENDING_TIMEOUT_S 10

struct reg_conn {
	struct watch w;
	time_t since;
	struct reg_conn *next;
};

struct reg_state {
	struct watch listen;
	struct reg_conn *pending;
	unsigned npending;
};

int loop_watch(struct monitor *m, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(m->loop_epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno
								       : 0;
}

void loop_unwatch(struct monitor *m, struct watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(m->loop_epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int reg_init(struct monitor *m)
{
	struct reg_state *rs = calloc(1, sizeof(*rs));
	mode_t mode = m->set.group ? 0660 : 0600;
	int fd;

	if (!rs)
		return -ENOMEM;
	fd = sock_listen_unix(m->set.socket_path, SOCK_SEQPACKET, mode,
			      m->set.group ? m->set.gid : (gid_t)-1);
	if (fd < 0) {
		log_err("cannot listen on %s: %s", m->set.socket_path,
			strerror(-fd));
		free(rs);
		return fd;
	}
	rs->listen = (struct watch){ .type = WATCH_REG_LISTEN, .fd = fd };
	m->reg = rs;
	return loop_watch(m, &rs->listen);
}

static void pending_close(struct monitor *m, struct reg_conn *c)
{
	struct reg_state *rs = m->reg;

	for (struct reg_conn **pp = &rs->pending; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			rs->npending--;
			break;
		}
	}
	loop_unwatch(m, &c->w);
	if (c->w.fd >= 0)
		close(c->w.fd);
	free(c);
}

void reg_fini(struct monitor *m)
{
	struct reg_state *rs = m->reg;

	if (!rs)
		return;
	while (rs->pending)
		pending_close(m, rs->pending);
	loop_unwatch(m, &rs->listen);
	close(rs->listen.fd);
	unlink(m->set.socket_path);
	free(rs);
	m->reg = NULL;
}

static void reply(int fd, int status, uint64_t id, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply(int fd, int status, uint64_t id, const char *fmt, ...)
{
	struct fm_msg_reply r = { 0 };
	va_list ap;

	r.hdr.magic = FM_PROTO_MAGIC;
	r.hdr.version = FM_PROTO_VERSION;
	r.hdr.type = FM_MSG_REPLY;
	r.hdr.length = sizeof(r);
	r.status = status;
	r.region_id = id;
	va_start(ap, fmt);
	vsnprintf(r.message, sizeof(r.message), fmt, ap);
	va_end(ap);
	/* Never block the control plane on a client that does not read. */
	send(fd, &r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void reg_accept(struct monitor *m)
{
	struct reg_state *rs = m->reg;
	int fd = accept4(rs->listen.fd, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (rs->npending >= PENDING_MAX) {
		reply(fd, -EBUSY, 0, "too many registrations in progress");
		STAT_INC(&m->stats, registrations_rejected);
		close(fd);
		return;
	}
	struct reg_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->w = (struct watch){ .type = WATCH_REG_PENDING, .fd = fd, .obj = c };
	c->since = time(NULL);
	if (loop_watch(m, &c->w)) {
		close(fd);
		free(c);
		return;
	}
	c->next = rs->pending;
	rs->pending = c;
	rs->npending++;
}

void reg_sweep(struct monitor *m)
{
	time_t now = time(NULL);

	for (struct reg_conn *c = m->reg->pending, *next; c; c = next) {
		next = c->next;
		if (now - c->since >= PENDING_TIMEOUT_S) {
			reply(c->w.fd, -ETIMEDOUT, 0,
			      "no registration within %d s", PENDING_TIMEOUT_S);
			pending_close(m, c);
		}
	}
}

/* Check the common header of a received message; NULL if it is fine. */
static const char *check_hdr(const struct fm_msg_hdr *h, ssize_t n,
			     int truncated, char *why, size_t len)
{
	if (truncated || n > FM_MSG_MAX)
		return "message too large";
	if (n < (ssize_t)sizeof(*h))
		return "truncated message";
	if (h->magic != FM_PROTO_MAGIC)
		return "bad magic (not a fluidmem client?)";
	if (h->version != FM_PROTO_VERSION) {
		snprintf(why, len, "protocol version %u, monitor speaks %u",
			 h->version, FM_PROTO_VERSION);
		return why;
	}
	if (h->length != (uint32_t)n)
		return "length field does not match the message";
	return NULL;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n && i < 2; i++)
		close(fds[i]);
}

static int pidfd_open_pid(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void registered(struct monitor *m, struct region *r, int fd,
		       const struct peer *peer, int reattach)
{
	r->lease = (struct watch){ .type = WATCH_LEASE, .fd = fd, .obj = r };
	loop_watch(m, &r->lease);
	r->pidfd = (struct watch){ .type = WATCH_PIDFD,
				   .fd = pidfd_open_pid(peer->pid),
				   .obj = r };
	if (r->pidfd.fd >= 0)
		loop_watch(m, &r->pidfd);
	STAT_INC(&m->stats, regions_registered);
	if (reattach)
		STAT_INC(&m->stats, regions_reattached);
	log_info("region %016" PRIx64 " %s: %s, pid %d, %" PRIu64
		 " pages",
		 r->id, reattach ? "resumed" : "registered", r->name,
		 (int)r->pid, r->npages);
}

void reg_pending_input(struct monitor *m, struct watch *w)
{
	struct reg_conn *c = w->obj;
	union {
		struct fm_msg_hdr hdr;
		struct fm_msg_register reg;
		char raw[FM_MSG_MAX + 1];
	} msg;
	char why[128];
	const char *err;
	int fds[2] = { -1, -1 };
	unsigned nfds = 0;
	int trunc = 0, ret;
	struct peer peer;
	struct region *r;
	ssize_t n;

	n = sock_recv_fds(w->fd, &msg, sizeof(msg), fds, 2, &nfds, &trunc);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		close_fds(fds, nfds);
		pending_close(m, c);
		return;
	}
	err = check_hdr(&msg.hdr, n, trunc, why, sizeof(why));
	if (!err && msg.hdr.type != FM_MSG_REGISTER)
		err = msg.hdr.type == FM_MSG_RELEASE
			      ? "no region is registered on this connection"
			      : "unknown message type";
	if (!err && n != (ssize_t)sizeof(msg.reg))
		err = "REGISTER has the wrong size";
	if (!err && nfds != 2)
		err = "REGISTER needs exactly two descriptors: uffd, memfd";
	if (!err && (auth_unix_peer(&m->set, w->fd, &peer) || !peer.allowed))
		err = "not authorized: root or the monitor's --group only";
	if (err) {
		STAT_INC(&m->stats, registrations_rejected);
		log_warn("registration rejected: %s", err);
		reply(w->fd, -EINVAL, 0, "%s", err);
		close_fds(fds, nfds);
		pending_close(m, c);
		return;
	}
	ret = region_attach(m, &msg.reg, fds[0], fds[1], peer.pid, peer.uid,
			    &r, why, sizeof(why));
	if (ret) {
		STAT_INC(&m->stats, registrations_rejected);
		log_warn("registration from pid %d rejected: %s",
			 (int)peer.pid, why);
		reply(w->fd, ret, 0, "%s", why);
		close_fds(fds, nfds);
		pending_close(m, c);
		return;
	}
	reply(w->fd, 0, r->id, "ok");
	/* The connection becomes the region's lease. */
	int fd = w->fd;
	loop_unwatch(m, w);
	c->w.fd = -1;
	pending_close(m, c);
	registered(m, r, fd, &peer, msg.reg.region_id != 0);
}

static void lease_close(struct monitor *m, struct region *r)
{
	loop_unwatch(m, &r->lease);
	loop_unwatch(m, &r->pidfd);
	if (r->lease.fd >= 0)
		close(r->lease.fd);
	if (r->pidfd.fd >= 0)
		close(r->pidfd.fd);
	r->lease.fd = r->pidfd.fd = -1;
}

void reg_drop(struct monitor *m, struct region *r)
{
	lease_close(m, r);
	STAT_INC(&m->stats, regions_dropped);
	region_unpublish(m, r, 1);
}

void reg_lease_input(struct monitor *m, struct region *r)
{
	union {
		struct fm_msg_hdr hdr;
		struct fm_msg_release rel;
		char raw[FM_MSG_MAX + 1];
	} msg;
	char why[128];
	const char *err;
	int fds[2] = { -1, -1 };
	unsigned nfds = 0;
	int trunc = 0;
	ssize_t n;

	n = sock_recv_fds(r->lease.fd, &msg, sizeof(msg), fds, 2, &nfds,
			  &trunc);
	close_fds(fds, nfds);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		/* EOF: the client closed its lease or died. */
		reg_drop(m, r);
		return;
	}
	err = check_hdr(&msg.hdr, n, trunc, why, sizeof(why));
	if (!err && msg.hdr.type != FM_MSG_RELEASE)
		err = msg.hdr.type == FM_MSG_REGISTER
			      ? "this connection already holds a region"
			      : "unknown message type";
	if (!err && (n != (ssize_t)sizeof(msg.rel) ||
		     msg.rel.region_id != r->id))
		err = "RELEASE for a different region";
	if (err) {
		STAT_INC(&m->stats, registrations_rejected);
		reply(r->lease.fd, -EINVAL, r->id, "%s", err);
		return;
	}
	reply(r->lease.fd, 0, r->id, "released");
	log_debug("region %016" PRIx64 " released by its client", r->id);
	reg_drop(m, r);
}

void reg_pidfd_ready(struct monitor *m, struct region *r)
{
	log_info("region %016" PRIx64 ": client pid %d exited", r->id,
		 (int)r->pid);
	reg_drop(m, r);
}

struct pid_match {
	pid_t pid;
	unsigned n;
};

static void drop_if_pid(struct monitor *m, struct region *r, void *arg)
{
	struct pid_match *pm = arg;

	if (r->pid == pm->pid && !atomic_load(&r->dead)) {
		reg_drop(m, r);
		pm->n++;
	}
}

unsigned reg_drop_pid(struct monitor *m, pid_t pid)
{
	struct pid_match pm = { .pid = pid };

	region_foreach(m, drop_if_pid, &pm);
	return pm.n;
}

static void detach(struct monitor *m, struct region *r, void *arg)
{
	lease_close(m, r);
	region_unpublish(m, r, 0);
}

void reg_detach_all(struct monitor *m)
{
	region_foreach(m, detach, NULL);
}
