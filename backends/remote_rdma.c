/*
 * The remote backend's RDMA transport. rdma_cm sets up a reliable
 * connection; the CHALLENGE/HELLO handshake and ALLOC/FREE/STATS go by
 * SEND/RECV; pages move with one-sided RDMA WRITE (page, then its CRC)
 * and RDMA READ into a registered per-connection staging area, so the
 * memserver's CPU is not involved. One request in flight at a time;
 * completions are busy-polled with a deadline.
 */
#include "config.h"
#include "remote.h"
#include "crc32c.h"

#include <endian.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <netdb.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Staging: pages, their CRCs, one send and one receive message. */
#define STAGE_PAGES MP_MAX_BATCH
#define OFF_CRC ((size_t)STAGE_PAGES * MP_PAGE_SIZE)
#define OFF_SEND (OFF_CRC + STAGE_PAGES * 4)
#define OFF_RECV (OFF_SEND + MP_RDMA_MSG)
#define STAGE_LEN (OFF_RECV + MP_RDMA_MSG)
#define WR_RECV 1
#define WR_SEND 2
#define WR_DATA 3

struct rrdma {
	struct remote_target t;
	char err[512];
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *stage;
	int up;
	uint32_t nslots;
	uint64_t pool_addr, crc_addr;
	uint32_t pool_rkey, crc_rkey;
};

static int fail(struct rrdma *r, int err, const char *what)
{
	snprintf(r->err, sizeof(r->err), "memserver rdma://%s:%u: %s: %s",
		 r->t.host, r->t.port, what, strerror(-err));
	return err;
}

static void teardown(struct rrdma *r)
{
	if (r->id) {
		if (r->up)
			rdma_disconnect(r->id);
		if (r->id->qp)
			rdma_destroy_qp(r->id);
	}
	if (r->mr)
		ibv_dereg_mr(r->mr);
	if (r->cq)
		ibv_destroy_cq(r->cq);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->id)
		rdma_destroy_id(r->id);
	if (r->ec)
		rdma_destroy_event_channel(r->ec);
	r->mr = NULL;
	r->cq = NULL;
	r->pd = NULL;
	r->id = NULL;
	r->ec = NULL;
	r->up = 0;
}

static void *rr_create(const struct remote_target *t)
{
	struct rrdma *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->t = *t;
	if (posix_memalign((void **)&r->stage, 4096, STAGE_LEN)) {
		free(r);
		return NULL;
	}
	memset(r->stage, 0, STAGE_LEN);
	return r;
}

static void rr_destroy(void *x)
{
	struct rrdma *r = x;

	teardown(r);
	free(r->stage);
	free(r);
}

/* Wait for one rdma_cm event of type @want. */
static int cm_wait(struct rrdma *r, enum rdma_cm_event_type want,
		   char *reason, size_t rlen)
{
	struct pollfd p = { .fd = r->ec->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	int ret;

	if (poll(&p, 1, r->t.timeout_ms) != 1)
		return -ETIMEDOUT;
	if (rdma_get_cm_event(r->ec, &ev))
		return -errno;
	ret = ev->event == want ? 0 : -ECONNREFUSED;
	if (ev->event == RDMA_CM_EVENT_REJECTED && reason &&
	    ev->param.conn.private_data_len)
		snprintf(reason, rlen, "%.*s",
			 (int)ev->param.conn.private_data_len,
			 (const char *)ev->param.conn.private_data);
	rdma_ack_cm_event(ev);
	return ret;
}

/* Busy-poll until the completion tagged @wr_id arrives. */
static int cq_wait(struct rrdma *r, uint64_t wr_id, uint32_t *len)
{
	struct timespec t0, now;
	struct ibv_wc wc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int n = ibv_poll_cq(r->cq, 1, &wc);
		if (n < 0)
			return -EIO;
		if (n == 1) {
			if (wc.status != IBV_WC_SUCCESS)
				return -ECONNRESET;
			if (wc.wr_id == wr_id) {
				if (len)
					*len = wc.byte_len;
				return 0;
			}
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 +
			    (now.tv_nsec - t0.tv_nsec) / 1000000 >
		    r->t.timeout_ms)
			return -ETIMEDOUT;
	}
}

static int post_recv(struct rrdma *r)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(r->stage + OFF_RECV),
			       .length = MP_RDMA_MSG,
			       .lkey = r->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = WR_RECV, .sg_list = &sge,
				  .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(r->id->qp, &wr, &bad) ? -EIO : 0;
}

/* Wait for the next control message; checks it as a reply to @op. */
static int recv_msg(struct rrdma *r, uint8_t op, struct mp_hdr *h,
		    void *payload, size_t cap)
{
	const char *why;
	uint32_t len;
	int ret = cq_wait(r, WR_RECV, &len);

	if (ret)
		return ret;
	if (len < sizeof(*h))
		return -EPROTO;
	memcpy(h, r->stage + OFF_RECV, sizeof(*h));
	mp_hdr_from_le(h);
	if (mp_hdr_check(h, 1, op, &why) || h->len != len - sizeof(*h) ||
	    h->len > cap)
		return -EPROTO;
	memcpy(payload, r->stage + OFF_RECV + sizeof(*h), h->len);
	ret = post_recv(r);
	return ret;
}

static int send_msg(struct rrdma *r, struct mp_hdr *h, const void *payload)
{
	uint32_t len = h->len;
	struct ibv_sge sge = { .addr = (uintptr_t)(r->stage + OFF_SEND),
			       .length = (uint32_t)sizeof(*h) + len,
			       .lkey = r->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = WR_SEND,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;

	mp_hdr_to_le(h);
	memcpy(r->stage + OFF_SEND, h, sizeof(*h));
	memcpy(r->stage + OFF_SEND + sizeof(*h), payload, len);
	if (ibv_post_send(r->id->qp, &wr, &bad))
		return -EIO;
	return cq_wait(r, WR_SEND, NULL);
}

static int setup(struct rrdma *r, char *reason, size_t rlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	struct ibv_qp_init_attr qa;
	struct rdma_conn_param cp;
	struct mp_rdma_cm pd;
	char port[8];
	int ret;

	r->ec = rdma_create_event_channel();
	if (!r->ec)
		return -errno;
	if (rdma_create_id(r->ec, &r->id, NULL, RDMA_PS_TCP))
		return -errno;
	snprintf(port, sizeof(port), "%u", r->t.port);
	if (getaddrinfo(r->t.host, port, &hints, &res))
		return -EHOSTUNREACH;
	ret = rdma_resolve_addr(r->id, NULL, res->ai_addr, r->t.timeout_ms);
	freeaddrinfo(res);
	if (ret)
		return -errno;
	ret = cm_wait(r, RDMA_CM_EVENT_ADDR_RESOLVED, NULL, 0);
	if (!ret && rdma_resolve_route(r->id, r->t.timeout_ms))
		ret = -errno;
	if (!ret)
		ret = cm_wait(r, RDMA_CM_EVENT_ROUTE_RESOLVED, NULL, 0);
	if (ret)
		return ret;
	r->pd = ibv_alloc_pd(r->id->verbs);
	if (!r->pd)
		return -ENOMEM;
	r->cq = ibv_create_cq(r->id->verbs, 2 * STAGE_PAGES + 8, NULL, NULL,
			      0);
	r->mr = ibv_reg_mr(r->pd, r->stage, STAGE_LEN,
			   IBV_ACCESS_LOCAL_WRITE);
	if (!r->cq || !r->mr)
		return -ENOMEM;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = r->cq;
	qa.recv_cq = r->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.sq_sig_all = 0;
	qa.cap.max_send_wr = 2 * STAGE_PAGES + 4;
	qa.cap.max_recv_wr = 2;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(r->id, r->pd, &qa))
		return -errno;
	ret = post_recv(r);
	if (ret)
		return ret;
	memset(&pd, 0, sizeof(pd));
	pd.magic = htole32(MP_MAGIC);
	pd.version = htole16(MP_VERSION);
	memcpy(pd.id, r->t.id, sizeof(pd.id) - 1);
	memset(&cp, 0, sizeof(cp));
	cp.private_data = &pd;
	cp.private_data_len = sizeof(pd);
	cp.initiator_depth = 16;
	cp.responder_resources = 0;
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	if (rdma_connect(r->id, &cp))
		return -errno;
	ret = cm_wait(r, RDMA_CM_EVENT_ESTABLISHED, reason, rlen);
	if (!ret)
		r->up = 1;
	return ret;
}

static int rr_connect(void *x, int reset, uint64_t *instance)
{
	struct rrdma *r = x;
	struct mp_hdr h;
	struct mp_challenge chal;
	struct mp_hello hello;
	struct mp_welcome w;
	char reason[64] = "";
	int ret;

	teardown(r);
	int ndev = 0;
	struct ibv_device **list = ibv_get_device_list(&ndev);
	if (list)
		ibv_free_device_list(list);
	if (ndev == 0) {
		snprintf(r->err, sizeof(r->err),
			 "memserver rdma://%s:%u: no RDMA device on this host "
			 "(use tcp://)",
			 r->t.host, r->t.port);
		return -ENODEV;
	}
	ret = setup(r, reason, sizeof(reason));
	if (ret) {
		teardown(r);
		if (reason[0]) {
			snprintf(r->err, sizeof(r->err),
				 "memserver rdma://%s:%u refused the "
				 "connection: %s",
				 r->t.host, r->t.port, reason);
			return -ECONNREFUSED;
		}
		return fail(r, ret, "connect");
	}
	ret = recv_msg(r, MP_CHALLENGE, &h, &chal, sizeof(chal));
	if (ret || h.len != sizeof(chal) ||
	    le32toh(chal.transport) != MP_T_RDMA) {
		teardown(r);
		return fail(r, ret ? ret : -EPROTO, "handshake");
	}
	memset(&hello, 0, sizeof(hello));
	memcpy(hello.id, r->t.id, MP_ID_LEN);
	mp_random(hello.nonce, sizeof(hello.nonce));
	hello.mac = htole64(mp_mac(&r->t.key, 'C', chal.nonce, hello.nonce,
				   hello.id));
	mp_hdr_init(&h, MP_HELLO, sizeof(hello));
	if (reset)
		h.flags = MP_HELLO_RESET;
	ret = send_msg(r, &h, &hello);
	if (!ret)
		ret = recv_msg(r, MP_HELLO, &h, &w, sizeof(w));
	if (ret) {
		teardown(r);
		return fail(r, ret, "handshake");
	}
	if (h.status == MP_EACCES) {
		teardown(r);
		snprintf(r->err, sizeof(r->err),
			 "memserver rdma://%s:%u refused authentication: "
			 "wrong secret",
			 r->t.host, r->t.port);
		return -EACCES;
	}
	if (h.status || le64toh(w.mac) != mp_mac(&r->t.key, 'S', chal.nonce,
						hello.nonce, hello.id)) {
		ret = h.status ? mp_status_errno(h.status) : -EACCES;
		teardown(r);
		if (ret == -EACCES) {
			snprintf(r->err, sizeof(r->err),
				 "memserver rdma://%s:%u failed to prove it "
				 "knows the secret: wrong secret",
				 r->t.host, r->t.port);
			return ret;
		}
		return fail(r, ret, "refused");
	}
	r->nslots = le32toh(w.nslots);
	r->pool_addr = le64toh(w.pool_addr);
	r->crc_addr = le64toh(w.crc_addr);
	r->pool_rkey = le32toh(w.pool_rkey);
	r->crc_rkey = le32toh(w.crc_rkey);
	*instance = le64toh(w.instance);
	return 0;
}

static void rr_disconnect(void *x)
{
	teardown(x);
}

static int rr_connected(void *x)
{
	return ((struct rrdma *)x)->up;
}

static const char *rr_error(void *x)
{
	return ((struct rrdma *)x)->err;
}

static int broken(struct rrdma *r, int err, const char *what)
{
	fail(r, err, what);
	teardown(r);
	return err;
}

static int ctl(struct rrdma *r, struct mp_hdr *h, const void *payload,
	       void *rbuf, size_t cap)
{
	uint8_t op = h->op;
	int ret;

	if (!r->up)
		return -ENOTCONN;
	ret = send_msg(r, h, payload);
	if (!ret)
		ret = recv_msg(r, op, h, rbuf, cap);
	if (!ret && h->status == MP_EPROTO)
		ret = -EPROTO;
	return ret ? broken(r, ret, mp_op_name(op)) : 0;
}

static int rr_alloc(void *x, unsigned n, uint32_t *slots, unsigned *got)
{
	struct mp_hdr h;
	int ret;

	*got = 0;
	mp_hdr_init(&h, MP_ALLOC, 0);
	h.count = n;
	ret = ctl(x, &h, NULL, slots, n * 4);
	if (ret)
		return ret;
	for (unsigned i = 0; i < h.count; i++)
		slots[i] = le32toh(slots[i]);
	*got = h.count;
	return 0;
}

static int rr_free(void *x, const uint32_t *slots, unsigned n, int *res)
{
	uint32_t le[MP_MAX_BATCH];
	struct mp_hdr h;
	int ret;

	memcpy(le, slots, n * 4);
	mp_u32s_le(le, n);
	mp_hdr_init(&h, MP_FREE, n * 4);
	h.count = n;
	ret = ctl(x, &h, le, NULL, 0);
	if (!ret)
		*res = mp_status_errno(h.status);
	return ret;
}

static int rr_stats(void *x, char *buf, size_t len)
{
	char text[MP_STATS_MAX];
	struct mp_hdr h;
	int ret;

	mp_hdr_init(&h, MP_STATS, 0);
	ret = ctl(x, &h, NULL, text, sizeof(text));
	if (!ret)
		snprintf(buf, len, "%.*s", (int)h.len, text);
	return ret;
}

/* Post 2n one-sided ops (page and CRC per slot); only the last signals. */
static int rdma_batch(struct rrdma *r, enum ibv_wr_opcode op,
		      const uint32_t *slots, unsigned n)
{
	struct ibv_sge sge[2];
	struct ibv_send_wr wr[2], *bad;

	for (unsigned i = 0; i < n; i++) {
		sge[0].addr = (uintptr_t)(r->stage + (size_t)i * MP_PAGE_SIZE);
		sge[0].length = MP_PAGE_SIZE;
		sge[0].lkey = r->mr->lkey;
		sge[1].addr = (uintptr_t)(r->stage + OFF_CRC + i * 4);
		sge[1].length = 4;
		sge[1].lkey = r->mr->lkey;
		memset(wr, 0, sizeof(wr));
		for (int k = 0; k < 2; k++) {
			wr[k].sg_list = &sge[k];
			wr[k].num_sge = 1;
			wr[k].opcode = op;
		}
		wr[0].wr.rdma.remote_addr =
			r->pool_addr + (uint64_t)slots[i] * MP_PAGE_SIZE;
		wr[0].wr.rdma.rkey = r->pool_rkey;
		wr[0].next = &wr[1];
		/* The CRC goes after its page: on an RC QP writes land in
		 * order, so a CRC never describes a page not yet there. */
		wr[1].wr.rdma.remote_addr =
			r->crc_addr + (uint64_t)slots[i] * 4;
		wr[1].wr.rdma.rkey = r->crc_rkey;
		if (i == n - 1) {
			wr[1].wr_id = WR_DATA;
			wr[1].send_flags = IBV_SEND_SIGNALED;
		}
		if (ibv_post_send(r->id->qp, wr, &bad))
			return -EIO;
	}
	return cq_wait(r, WR_DATA, NULL);
}

static int rr_write(void *x, const uint32_t *slots, const void *const *pages,
		    unsigned n, int *res)
{
	struct rrdma *r = x;
	uint32_t *crc = (uint32_t *)(r->stage + OFF_CRC);
	int ret;

	if (!r->up)
		return -ENOTCONN;
	for (unsigned i = 0; i < n; i++) {
		if (slots[i] >= r->nslots)
			return broken(r, -ERANGE, "write");
		memcpy(r->stage + (size_t)i * MP_PAGE_SIZE, pages[i],
		       MP_PAGE_SIZE);
		crc[i] = htole32(crc32c(0, pages[i], MP_PAGE_SIZE));
	}
	ret = rdma_batch(r, IBV_WR_RDMA_WRITE, slots, n);
	if (ret)
		return broken(r, ret, "RDMA WRITE");
	for (unsigned i = 0; i < n; i++)
		res[i] = 0;
	return 0;
}

static int rr_read(void *x, const uint32_t *slots, void *const *pages,
		   unsigned n, int *res)
{
	struct rrdma *r = x;
	uint32_t *crc = (uint32_t *)(r->stage + OFF_CRC);
	int ret;

	if (!r->up)
		return -ENOTCONN;
	for (unsigned i = 0; i < n; i++)
		if (slots[i] >= r->nslots)
			return broken(r, -ERANGE, "read");
	ret = rdma_batch(r, IBV_WR_RDMA_READ, slots, n);
	if (ret)
		return broken(r, ret, "RDMA READ");
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = r->stage + (size_t)i * MP_PAGE_SIZE;
		res[i] = crc32c(0, p, MP_PAGE_SIZE) == le32toh(crc[i])
				 ? 0
				 : -EBADMSG;
		if (!res[i])
			memcpy(pages[i], p, MP_PAGE_SIZE);
	}
	return 0;
}

const struct remote_xport remote_rdma_xport = {
	.scheme = "rdma",
	.create = rr_create,
	.destroy = rr_destroy,
	.connect = rr_connect,
	.disconnect = rr_disconnect,
	.connected = rr_connected,
	.error = rr_error,
	.alloc = rr_alloc,
	.write = rr_write,
	.read = rr_read,
	.free = rr_free,
	.stats = rr_stats,
};
