/* memserver TCP client: connect, challenge-response, pipelined batches. */
#include "config.h"
#include "memclient.h"
#include "crc32c.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void memclient_init(struct memclient *c, const char *host, uint16_t port,
		    const struct mp_key *key, const char *id, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	c->key = *key;
	strncpy(c->id, id, MP_ID_LEN - 1);
	c->timeout_ms = timeout_ms;
}

int memclient_alloc_buffers(struct memclient *c)
{
	c->hdrs = calloc(MP_MAX_BATCH, sizeof(*c->hdrs));
	return c->hdrs ? 0 : -ENOMEM;
}

void memclient_free_buffers(struct memclient *c)
{
	free(c->hdrs);
	c->hdrs = NULL;
}

void memclient_close(struct memclient *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* A failed connection is closed; the caller reconnects later. */
static int broken(struct memclient *c, int err, const char *what)
{
	snprintf(c->err, sizeof(c->err), "memserver %s:%u: %s: %s", c->host,
		 c->port, what, strerror(-err));
	memclient_close(c);
	return err;
}

static int recv_full(struct memclient *c, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(c->fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_iov(struct memclient *c, struct iovec *iov, int iovcnt)
{
	while (iovcnt) {
		struct msghdr msg = { .msg_iov = iov,
				      .msg_iovlen = (size_t)iovcnt };
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		while (iovcnt && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int memclient_send_raw(struct memclient *c, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return send_iov(c, &iov, 1);
}

int memclient_recv_reply(struct memclient *c, struct mp_hdr *h, void *buf,
			 size_t len)
{
	int ret = recv_full(c, h, sizeof(*h));

	if (ret)
		return ret;
	mp_hdr_from_le(h);
	if (h->magic != MP_MAGIC || h->len > len)
		return -EPROTO;
	return recv_full(c, buf, h->len);
}

/* Read a reply to @op with payload into buf (exactly its checked length). */
static int reply(struct memclient *c, uint8_t op, struct mp_hdr *h, void *buf,
		 size_t cap)
{
	const char *why;
	int ret = recv_full(c, h, sizeof(*h));

	if (ret)
		return ret;
	mp_hdr_from_le(h);
	if (mp_hdr_check(h, 1, op, &why) || h->len > cap) {
		snprintf(c->err, sizeof(c->err),
			 "memserver %s:%u: bad reply to %s", c->host, c->port,
			 mp_op_name(op));
		return -EPROTO;
	}
	if (h->status == MP_EPROTO) {
		snprintf(c->err, sizeof(c->err),
			 "memserver %s:%u: the server refused our %s as "
			 "malformed",
			 c->host, c->port, mp_op_name(op));
		return -EPROTO;
	}
	return h->len ? recv_full(c, buf, h->len) : 0;
}

static int tcp_connect(struct memclient *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char port[8];
	int fd = -1, ret = -EHOSTUNREACH;

	snprintf(port, sizeof(port), "%u", c->port);
	if (getaddrinfo(c->host, port, &hints, &res))
		return -EHOSTUNREACH;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS) {
			ret = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (poll(&p, 1, c->timeout_ms) != 1)
			soerr = ETIMEDOUT;
		else
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			ret = -soerr;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ret;
	int one = 1;
	struct timeval tv = { c->timeout_ms / 1000,
			      (c->timeout_ms % 1000) * 1000 };
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int memclient_connect(struct memclient *c)
{
	struct mp_hdr h;
	struct mp_challenge chal;
	struct mp_hello hello;
	const char *why;
	int ret;

	memclient_close(c);
	ret = tcp_connect(c);
	if (ret < 0)
		return broken(c, ret, "connect");
	c->fd = ret;
	/* The server speaks first: a challenge, or nothing if it refused
	 * our address. */
	ret = recv_full(c, &h, sizeof(h));
	if (ret == -ECONNRESET) {
		snprintf(c->err, sizeof(c->err),
			 "memserver %s:%u: closed the connection before the "
			 "handshake (our address not in its --allow list?)",
			 c->host, c->port);
		memclient_close(c);
		return -ECONNREFUSED;
	}
	if (ret)
		return broken(c, ret, "handshake");
	mp_hdr_from_le(&h);
	if (mp_hdr_check(&h, 1, MP_CHALLENGE, &why) ||
	    h.len != sizeof(chal) || recv_full(c, &chal, sizeof(chal)) ||
	    le32toh(chal.page_size) != MP_PAGE_SIZE) {
		snprintf(c->err, sizeof(c->err),
			 "memserver %s:%u: not a memserver, or another "
			 "protocol version",
			 c->host, c->port);
		memclient_close(c);
		return -EPROTO;
	}
	memset(&hello, 0, sizeof(hello));
	memcpy(hello.id, c->id, MP_ID_LEN);
	mp_random(hello.nonce, sizeof(hello.nonce));
	hello.mac = htole64(mp_mac(&c->key, 'C', chal.nonce, hello.nonce,
				   hello.id));
	mp_hdr_init(&h, MP_HELLO, sizeof(hello));
	if (c->reset)
		h.flags = MP_HELLO_RESET;
	mp_hdr_to_le(&h);
	struct iovec iov[2] = { { &h, sizeof(h) }, { &hello, sizeof(hello) } };
	ret = send_iov(c, iov, 2);
	if (ret)
		return broken(c, ret, "handshake");
	ret = reply(c, MP_HELLO, &h, &c->welcome, sizeof(c->welcome));
	if (ret)
		return broken(c, ret, "handshake");
	if (h.status == MP_EACCES) {
		snprintf(c->err, sizeof(c->err),
			 "memserver %s:%u refused authentication: wrong "
			 "secret",
			 c->host, c->port);
		memclient_close(c);
		return -EACCES;
	}
	if (h.status) {
		ret = mp_status_errno(h.status);
		return broken(c, ret, "refused");
	}
	c->reset = 0;
	if (le64toh(c->welcome.mac) !=
	    mp_mac(&c->key, 'S', chal.nonce, hello.nonce, hello.id)) {
		snprintf(c->err, sizeof(c->err),
			 "memserver %s:%u failed to prove it knows the "
			 "secret: wrong secret",
			 c->host, c->port);
		memclient_close(c);
		return -EACCES;
	}
	c->instance = le64toh(c->welcome.instance);
	c->nslots = le32toh(c->welcome.nslots);
	c->owned = le32toh(c->welcome.owned);
	return 0;
}

static int ensure(struct memclient *c)
{
	return c->fd >= 0 ? 0 : -ENOTCONN;
}

int memclient_alloc(struct memclient *c, unsigned n, uint32_t *slots,
		    unsigned *got)
{
	struct mp_hdr h;
	int ret = ensure(c);

	*got = 0;
	if (ret)
		return ret;
	if (n == 0 || n > MP_MAX_BATCH)
		return -EINVAL;
	mp_hdr_init(&h, MP_ALLOC, 0);
	h.count = n;
	mp_hdr_to_le(&h);
	ret = memclient_send_raw(c, &h, sizeof(h));
	if (!ret)
		ret = reply(c, MP_ALLOC, &h, slots, n * 4);
	if (ret)
		return broken(c, ret, "alloc");
	if (h.count > n || (h.status && h.status != MP_ENOSPC))
		return broken(c, -EPROTO, "alloc reply");
	for (unsigned i = 0; i < h.count; i++)
		slots[i] = le32toh(slots[i]);
	*got = h.count;
	return 0;
}

int memclient_write(struct memclient *c, const uint32_t *slots,
		    const void *const *pages, unsigned n, int *res)
{
	struct iovec iov[2 * MP_MAX_BATCH];
	struct mp_hdr h;
	int ret = ensure(c);

	if (ret)
		return ret;
	if (n > MP_MAX_BATCH)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		mp_hdr_init(&c->hdrs[i], MP_WRITE, MP_PAGE_SIZE);
		c->hdrs[i].slot = slots[i];
		c->hdrs[i].crc = crc32c(0, pages[i], MP_PAGE_SIZE);
		c->hdrs[i].tag = i;
		mp_hdr_to_le(&c->hdrs[i]);
		iov[2 * i].iov_base = &c->hdrs[i];
		iov[2 * i].iov_len = sizeof(h);
		iov[2 * i + 1].iov_base = (void *)pages[i];
		iov[2 * i + 1].iov_len = MP_PAGE_SIZE;
	}
	ret = send_iov(c, iov, (int)(2 * n));
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = reply(c, MP_WRITE, &h, NULL, 0);
		if (!ret && h.tag != i)
			ret = -EPROTO;
		if (!ret)
			res[i] = mp_status_errno(h.status);
	}
	return ret ? broken(c, ret, "write") : 0;
}

int memclient_read(struct memclient *c, const uint32_t *slots,
		   void *const *pages, unsigned n, int *res)
{
	struct mp_hdr h;
	int ret = ensure(c);

	if (ret)
		return ret;
	if (n > MP_MAX_BATCH)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		mp_hdr_init(&c->hdrs[i], MP_READ, 0);
		c->hdrs[i].slot = slots[i];
		c->hdrs[i].tag = i;
		mp_hdr_to_le(&c->hdrs[i]);
	}
	ret = memclient_send_raw(c, c->hdrs, n * sizeof(h));
	for (unsigned i = 0; i < n && !ret; i++) {
		ret = reply(c, MP_READ, &h, pages[i], MP_PAGE_SIZE);
		if (!ret && (h.tag != i || (!h.status && h.slot != slots[i])))
			ret = -EPROTO;
		if (ret)
			break;
		res[i] = mp_status_errno(h.status);
		if (!res[i] && crc32c(0, pages[i], MP_PAGE_SIZE) != h.crc)
			res[i] = -EBADMSG;
	}
	return ret ? broken(c, ret, "read") : 0;
}

int memclient_free(struct memclient *c, const uint32_t *slots, unsigned n,
		   int *res)
{
	uint32_t le[MP_MAX_BATCH];
	struct mp_hdr h;
	int ret = ensure(c);

	if (ret)
		return ret;
	if (n == 0 || n > MP_MAX_BATCH)
		return -EINVAL;
	memcpy(le, slots, n * 4);
	mp_u32s_le(le, n);
	mp_hdr_init(&h, MP_FREE, n * 4);
	h.count = n;
	mp_hdr_to_le(&h);
	struct iovec iov[2] = { { &h, sizeof(h) }, { le, n * 4 } };
	ret = send_iov(c, iov, 2);
	if (!ret)
		ret = reply(c, MP_FREE, &h, NULL, 0);
	if (ret)
		return broken(c, ret, "free");
	*res = mp_status_errno(h.status);
	return 0;
}

int memclient_stats(struct memclient *c, char *buf, size_t len)
{
	char text[MP_STATS_MAX];
	struct mp_hdr h;
	int ret = ensure(c);

	if (ret)
		return ret;
	mp_hdr_init(&h, MP_STATS, 0);
	mp_hdr_to_le(&h);
	ret = memclient_send_raw(c, &h, sizeof(h));
	if (!ret)
		ret = reply(c, MP_STATS, &h, text, sizeof(text));
	if (ret)
		return broken(c, ret, "stats");
	snprintf(buf, len, "%.*s", (int)h.len, text);
	return 0;
}
