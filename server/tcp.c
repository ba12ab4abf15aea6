/*
 * TCP transport: a thread per connection. Requests are read into a
 * per-connection staging buffer and applied only once complete, so a
 * client that vanishes mid-message changes nothing. Replies collect in
 * an output buffer that is flushed when no more input is waiting, so a
 * client's pipelined batch costs one round trip.
 */
#include "config.h"
#include "memserver.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_SIZE (64 * 1024)
#define OUT_SIZE (256 * 1024)
#define HANDSHAKE_TIMEOUT_S 10
#define SEND_TIMEOUT_S 30

struct tcp_conn {
	struct srv *s;
	int fd;
	struct session ss;
	uint8_t in[IN_SIZE];
	size_t in_off, in_len;
	uint8_t out[OUT_SIZE];
	size_t out_len;
	uint8_t payload[MP_PAGE_SIZE + MP_STATS_MAX]; /* staged request */
	uint8_t rbuf[MP_PAGE_SIZE + MP_STATS_MAX];    /* reply payload */
};

static int flush_out(struct tcp_conn *c)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t n = send(c->fd, c->out + off, c->out_len - off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		off += (size_t)n;
	}
	c->out_len = 0;
	return 0;
}

/* Read exactly len bytes; replies are flushed before blocking. */
static int read_full(struct tcp_conn *c, void *buf, size_t len)
{
	uint8_t *dst = buf;

	while (len) {
		if (c->in_off == c->in_len) {
			c->in_off = c->in_len = 0;
			ssize_t n = recv(c->fd, c->in, IN_SIZE, MSG_DONTWAIT);
			if (n < 0 && errno == EAGAIN) {
				if (flush_out(c))
					return -EPIPE;
				n = recv(c->fd, c->in, IN_SIZE, 0);
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n == 0 ? -ECONNRESET : -errno;
			c->in_len = (size_t)n;
		}
		size_t k = c->in_len - c->in_off;
		if (k > len)
			k = len;
		memcpy(dst, c->in + c->in_off, k);
		c->in_off += k;
		dst += k;
		len -= k;
	}
	return 0;
}

static int queue_reply(struct tcp_conn *c, struct mp_hdr *rep,
		       const void *payload)
{
	uint32_t len = rep->len;

	if (c->out_len + sizeof(*rep) + len > OUT_SIZE && flush_out(c))
		return -EPIPE;
	mp_hdr_to_le(rep);
	memcpy(c->out + c->out_len, rep, sizeof(*rep));
	c->out_len += sizeof(*rep);
	memcpy(c->out + c->out_len, payload, len);
	c->out_len += len;
	return 0;
}

static void conn_serve(struct tcp_conn *c)
{
	struct srv *s = c->s;
	struct mp_hdr h, rep;
	const char *why = "";
	struct timeval tv = { 0, 0 };
	int ret, partial = 0;

	for (;;) {
		ret = read_full(c, &h, sizeof(h));
		if (ret)
			break;
		partial = 1;
		mp_hdr_from_le(&h);
		ret = mp_hdr_check(&h, 0, 0, &why);
		if (ret) {
			atomic_fetch_add(&s->st.proto_errors, 1);
			log_warn("%s: bad message (%s): closing", c->ss.peer,
				 why);
			uint8_t op = h.op & (uint8_t)~MP_REPLY;
			mp_hdr_init(&rep, MP_REPLY | (op <= MP_STATS ? op : 0),
				    0);
			rep.status = MP_EPROTO;
			queue_reply(c, &rep, NULL);
			flush_out(c);
			return;
		}
		if (h.len && read_full(c, c->payload, h.len))
			break;
		partial = 0;
		ret = session_request(&c->ss, &h, c->payload, &rep, c->rbuf);
		if (h.op == MP_HELLO && c->ss.client >= 0)
			/* Authenticated: idle connections are normal now. */
			setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
		if (rep.status == MP_EPROTO && h.op != MP_HELLO)
			atomic_fetch_add(&s->st.proto_errors, 1);
		if (queue_reply(c, &rep, c->rbuf))
			break;
		if (ret) {
			flush_out(c);
			return;
		}
	}
	if (partial) {
		atomic_fetch_add(&s->st.disconnects_mid_msg, 1);
		log_info("%s: connection lost in the middle of a message; "
			 "nothing applied",
			 c->ss.peer);
	}
}

static void peer_name(const struct sockaddr_storage *sa, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";

	getnameinfo((const struct sockaddr *)sa, sizeof(*sa), host,
		    sizeof(host), port, sizeof(port),
		    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, n, "%s:%s", host, port);
}

static void *conn_thread(void *arg)
{
	struct tcp_conn *c = arg;
	struct mp_hdr h;
	struct mp_challenge chal;
	char peer[64];

	memcpy(peer, c->ss.peer, sizeof(peer));
	session_start(&c->ss, c->s, MP_T_TCP, peer, &h, &chal);
	if (queue_reply(c, &h, &chal) == 0 && flush_out(c) == 0)
		conn_serve(c);
	session_end(&c->ss);
	close(c->fd);
	atomic_fetch_sub(&c->s->nconns, 1);
	free(c);
	return NULL;
}

static int listen_on(struct srv *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char port[8];
	int fd = -1, one = 1, ret;

	snprintf(port, sizeof(port), "%u", s->set.port);
	ret = getaddrinfo(s->set.host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "listen address %s: %s", s->set.host,
			 gai_strerror(ret));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0)
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, errlen, "cannot listen on %s:%u: %s",
			 s->set.host, s->set.port, strerror(-ret));
	return fd < 0 ? ret : fd;
}

int tcp_serve(struct srv *s, char *err, size_t errlen)
{
	int lfd = listen_on(s, err, errlen);

	if (lfd < 0)
		return lfd;
	log_info("memserver: %u MiB (%u slots) on tcp %s:%u",
		 (unsigned)s->set.size_mib, s->pool.nslots, s->set.host,
		 s->set.port);
	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		char peer[64];
		pthread_t t;
		pthread_attr_t attr;

		if (poll(&pfd, 1, 500) <= 0)
			continue;
		int fd = accept4(lfd, (struct sockaddr *)&sa, &salen,
				 SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		peer_name(&sa, peer, sizeof(peer));
		if (!allow_check(s->set.allow, s->set.nallow,
				 (struct sockaddr *)&sa)) {
			atomic_fetch_add(&s->st.refused_addr, 1);
			log_warn("%s: refused: address not in --allow", peer);
			close(fd);
			continue;
		}
		if (atomic_fetch_add(&s->nconns, 1) >= SRV_MAX_CONNS) {
			atomic_fetch_sub(&s->nconns, 1);
			atomic_fetch_add(&s->st.refused_busy, 1);
			log_warn("%s: refused: too many connections", peer);
			close(fd);
			continue;
		}
		atomic_fetch_add(&s->st.connections, 1);
		struct tcp_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			atomic_fetch_sub(&s->nconns, 1);
			close(fd);
			continue;
		}
		int one = 1;
		struct timeval tv = { HANDSHAKE_TIMEOUT_S, 0 };
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		/* A client that stops reading its replies is dropped. */
		tv.tv_sec = SEND_TIMEOUT_S;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c->s = s;
		c->fd = fd;
		snprintf(c->ss.peer, sizeof(c->ss.peer), "%s", peer);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_thread, c)) {
			atomic_fetch_sub(&s->nconns, 1);
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&attr);
	}
	close(lfd);
	return 0;
}
