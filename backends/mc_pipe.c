/*
 * Pipelined memcached stores over our own socket, in the binary protocol
 * (memcached's protocol_binary.txt): per item a SETQ (header, flags and
 * expiry, key, value) and one NOOP at the end, all in one sendmsg. Quiet
 * sets answer only on failure, with the opaque we gave them (the item's
 * index), so the one NOOP answer settles the whole batch.
 *
 * A batch the server took but did not answer in time is not abandoned by
 * closing the connection: the server may still apply it later, after a
 * newer copy of the same page written over a new connection, and that
 * stale copy would pass every check. The connection is kept, the batch's
 * pages count as failed (they stay resident and dirty), and the next
 * batch first takes in the owed answer: on one connection, whatever the
 * server applies late is applied before anything written after it.
 */
#include "config.h"
#include "mc_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAGIC 0x80
#define RES_MAGIC 0x81
#define OP_SETQ 0x11
#define OP_NOOP 0x0a
#define OP_DELETEQ 0x14
#define HDR_LEN 24
#define SET_EXTRAS 8 /* flags, expiry */
#define NOOP_OPAQUE 0xffffffffU
#define RETRY_NS 1000000000ULL
#define CONNECT_TIMEOUT_MS 1000 /* as the libmemcached connections */
#define IOV_PER_ITEM 4
#define RBUF_LEN 4096

struct mc_pipe {
	char host[256];
	char port[16];
	int is_socket;
	int timeout_ms;
	int fd;
	uint64_t retry_at; /* no reconnect before (after a failure) */
	int done;	   /* the NOOP answered */
	int owed;	   /* a timed-out batch's NOOP answer is still due */
	unsigned char op;  /* of the batch in flight */
	unsigned char hdr[MC_PIPE_MAX + 1][HDR_LEN + SET_EXTRAS];
	struct iovec iov[IOV_PER_ITEM * MC_PIPE_MAX + 1];
	unsigned char rbuf[RBUF_LEN];
	size_t rlen;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Split "host[:port]", "[v6]:port" or a bare IPv6 address. */
static int name_split(struct mc_pipe *p, const char *name)
{
	const char *h = name, *port = NULL;
	size_t hl;

	if (name[0] == '[') {
		const char *end = strchr(name, ']');
		if (!end)
			return -EINVAL;
		h = name + 1;
		hl = (size_t)(end - h);
		if (end[1] == ':')
			port = end + 2;
	} else {
		const char *c = strchr(name, ':');
		if (c && !strchr(c + 1, ':')) {
			hl = (size_t)(c - name);
			port = c + 1;
		} else {
			hl = strlen(name); /* no port, or a bare IPv6 */
		}
	}
	if (hl == 0 || hl >= sizeof(p->host))
		return -EINVAL;
	memcpy(p->host, h, hl);
	p->host[hl] = '\0';
	/* The port is the digits (libmemcached allows a ":weight" after). */
	size_t pl = port ? strspn(port, "0123456789") : 0;
	if (pl == 0 || pl >= sizeof(p->port))
		snprintf(p->port, sizeof(p->port), "11211");
	else
		snprintf(p->port, sizeof(p->port), "%.*s", (int)pl, port);
	return 0;
}

struct mc_pipe *mc_pipe_new(const char *name, int is_socket, int timeout_ms)
{
	struct mc_pipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fd = -1;
	p->is_socket = is_socket;
	p->timeout_ms = timeout_ms;
	if (is_socket) {
		if (strlen(name) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			goto fail;
		snprintf(p->host, sizeof(p->host), "%s", name);
	} else if (name_split(p, name)) {
		goto fail;
	}
	return p;
fail:
	free(p);
	return NULL;
}

static void pipe_drop(struct mc_pipe *p)
{
	p->owed = 0;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->rlen = 0;
	p->retry_at = now_ns() + RETRY_NS;
}

void mc_pipe_free(struct mc_pipe *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p);
}

/* Wait up to @ms for @events on the socket; 0, or -ETIMEDOUT. */
static int pipe_wait_ms(struct mc_pipe *p, short events, short *got, int ms)
{
	struct pollfd pfd = { .fd = p->fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	*got = pfd.revents;
	return 0;
}

static int pipe_wait(struct mc_pipe *p, short events, short *got)
{
	return pipe_wait_ms(p, events, got, p->timeout_ms);
}

static int connect_one(struct mc_pipe *p, int family, const struct sockaddr *sa,
		       socklen_t salen)
{
	int one = 1, err = 0, ret;
	socklen_t len = sizeof(err);
	short got;

	p->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	if (family != AF_UNIX)
		setsockopt(p->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->fd, sa, salen) == 0)
		return 0;
	ret = -errno;
	if (ret == -EINPROGRESS) {
		ret = pipe_wait_ms(p, POLLOUT, &got, CONNECT_TIMEOUT_MS);
		if (ret == 0 &&
		    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			ret = -errno;
		else if (ret == 0)
			ret = -err;
	}
	if (ret) {
		close(p->fd);
		p->fd = -1;
	}
	return ret;
}

static int pipe_connect(struct mc_pipe *p)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	int ret = -ECONNREFUSED;

	if (now_ns() < p->retry_at)
		return -ECONNREFUSED;
	p->rlen = 0;
	if (p->is_socket) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		strcpy(sun.sun_path, p->host);
		ret = connect_one(p, AF_UNIX, (struct sockaddr *)&sun,
				  sizeof(sun));
	} else if (getaddrinfo(p->host, p->port, &hints, &ai) == 0) {
		for (a = ai; a; a = a->ai_next) {
			ret = connect_one(p, a->ai_family, a->ai_addr,
					  a->ai_addrlen);
			if (ret == 0)
				break;
		}
		freeaddrinfo(ai);
	}
	if (ret)
		pipe_drop(p);
	return ret;
}

static int status_errno(uint16_t st)
{
	switch (st) {
	case 0x0003: /* value too large */
		return -E2BIG;
	case 0x0004: /* invalid arguments */
		return -EINVAL;
	case 0x0081: /* unknown command */
		return -EPROTONOSUPPORT;
	case 0x0082: /* out of memory */
		return -ENOMEM;
	case 0x0086: /* busy */
	case 0x0087: /* temporary failure */
		return -EAGAIN;
	default:
		return -EIO; /* never -ENOENT: that means "not stored" */
	}
}

/* Read what the server sent and settle the items it answers. */
static int pipe_read(struct mc_pipe *p, struct mc_pipe_item *items,
		     unsigned n)
{
	ssize_t got = recv(p->fd, p->rbuf + p->rlen, sizeof(p->rbuf) - p->rlen,
			   MSG_DONTWAIT);
	size_t off = 0;

	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (got == 0)
		return -ECONNRESET;
	p->rlen += (size_t)got;
	while (p->rlen - off >= HDR_LEN) {
		const unsigned char *h = p->rbuf + off;
		uint32_t body = get32(h + 8), opaque = get32(h + 12);
		uint16_t st = (uint16_t)(h[6] << 8 | h[7]);

		/* An ASCII-only server answers "ERROR\r\n" here. */
		if (h[0] != RES_MAGIC || body > sizeof(p->rbuf) - HDR_LEN)
			return -EPROTO;
		if (p->rlen - off < HDR_LEN + body)
			break;
		if (h[1] == OP_NOOP && opaque == NOOP_OPAQUE) {
			if (p->owed)
				p->owed = 0; /* the timed-out batch's */
			else
				p->done = 1;
		} else if (p->owed) {
			/* A late failure in the timed-out batch, whose
			 * pages were already counted as failed. */
		} else if (h[1] == p->op && opaque < n && !p->done)
			/* Deleting what is not there is no failure. */
			items[opaque].res = st == 0 || (st == 0x0001 &&
						p->op == OP_DELETEQ)
						? 0 : status_errno(st);
		else
			return -EPROTO;
		off += HDR_LEN + body;
	}
	memmove(p->rbuf, p->rbuf + off, p->rlen - off);
	p->rlen -= off;
	return 0;
}

static void build_request(struct mc_pipe *p, struct mc_pipe_item *items,
			  unsigned n, unsigned *niov)
{
	struct iovec *v = p->iov;

	for (unsigned i = 0; i < n; i++) {
		unsigned char *h = p->hdr[i];
		struct mc_pipe_item *it = &items[i];
		size_t ext = p->op == OP_SETQ ? SET_EXTRAS : 0;
		uint32_t body = (uint32_t)(ext + it->keylen);

		if (p->op == OP_SETQ)
			body += (uint32_t)(it->vallen + it->taillen);
		memset(h, 0, sizeof(p->hdr[i])); /* flags, expiry, cas: 0 */
		h[0] = REQ_MAGIC;
		h[1] = p->op;
		put16(h + 2, (uint16_t)it->keylen);
		h[4] = (unsigned char)ext;
		put32(h + 8, body);
		put32(h + 12, i);
		*v++ = (struct iovec){ h, HDR_LEN + ext };
		*v++ = (struct iovec){ it->key, it->keylen };
		if (p->op == OP_SETQ) {
			*v++ = (struct iovec){ (void *)it->val, it->vallen };
			if (it->taillen)
				*v++ = (struct iovec){ (void *)it->tail,
						       it->taillen };
		}
		it->res = 1; /* no answer yet */
	}
	unsigned char *h = p->hdr[n];
	memset(h, 0, HDR_LEN);
	h[0] = REQ_MAGIC;
	h[1] = OP_NOOP;
	put32(h + 12, NOOP_OPAQUE);
	*v++ = (struct iovec){ h, HDR_LEN };
	*niov = (unsigned)(v - p->iov);
}

/* Send iov[0..niov) while taking in early answers (failed sets). */
static int pipe_send(struct mc_pipe *p, struct mc_pipe_item *items,
		     unsigned n, unsigned niov)
{
	struct iovec *v = p->iov;
	short got;
	int ret;

	while (niov) {
		struct msghdr msg = {
			.msg_iov = v,
			.msg_iovlen = niov < IOV_MAX ? niov : IOV_MAX,
		};
		ssize_t w = sendmsg(p->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -errno;
		if (w < 0) {
			ret = pipe_wait(p, POLLOUT | POLLIN, &got);
			if (ret)
				return ret;
			if (got & POLLIN) {
				ret = pipe_read(p, items, n);
				if (ret)
					return ret;
			}
			continue;
		}
		/* Skip what went out; finish a partly sent iovec later. */
		size_t left = (size_t)w;
		while (niov && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			niov--;
		}
		if (niov) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	return 0;
}

/* Take in the answer a timed-out batch still owes, without waiting. */
static int pipe_drain(struct mc_pipe *p)
{
	short got;
	int ret;

	while (p->owed) {
		ret = pipe_wait_ms(p, POLLIN, &got, 0);
		if (ret)
			return ret; /* -ETIMEDOUT: the server is still stuck */
		ret = pipe_read(p, NULL, 0);
		if (ret)
			return ret;
	}
	return 0;
}

static int pipe_run(struct mc_pipe *p, unsigned char op,
		    struct mc_pipe_item *items, unsigned n)
{
	unsigned niov;
	short got;
	int ret = 0;

	if (n > MC_PIPE_MAX)
		return -EINVAL;
	p->op = op;
	build_request(p, items, n, &niov);
	if (p->fd < 0)
		ret = pipe_connect(p);
	else if (p->owed)
		ret = pipe_drain(p);
	if (ret == -ETIMEDOUT && p->owed)
		goto out; /* still stuck: send nothing, keep the connection */
	p->done = 0;
	if (ret == 0)
		ret = pipe_send(p, items, n, niov);
	while (ret == 0 && !p->done) {
		ret = pipe_wait(p, POLLIN, &got);
		if (ret == -ETIMEDOUT)
			p->owed = 1; /* all sent, not answered: keep it */
		else if (ret == 0)
			ret = pipe_read(p, items, n);
	}
	if (ret == 0 && p->rlen)
		ret = -EPROTO; /* an answer after the NOOP's: out of step */
	if (ret && !(ret == -ETIMEDOUT && p->owed))
		pipe_drop(p);
out:
	/* Unanswered quiet sets succeeded if the NOOP came back. */
	for (unsigned i = 0; i < n; i++)
		if (items[i].res == 1)
			items[i].res = ret;
	return ret;
}

int mc_pipe_store(struct mc_pipe *p, struct mc_pipe_item *items, unsigned n)
{
	return pipe_run(p, OP_SETQ, items, n);
}

int mc_pipe_delete(struct mc_pipe *p, struct mc_pipe_item *items, unsigned n)
{
	return pipe_run(p, OP_DELETEQ, items, n);
}
