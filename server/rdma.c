/*
 * RDMA transport (librdmacm + libibverbs). Connections arrive through
 * rdma_cm; each gets a reliable-connected QP and a thread. Control
 * messages (CHALLENGE, HELLO, ALLOC, FREE, STATS) travel by SEND/RECV
 * and go through the same session code as TCP. Page data never touches
 * this side's CPU: the pool and the CRC array are registered memory
 * regions, and an authenticated client moves pages with one-sided RDMA
 * WRITE and READ at slot * page_size (CRC at slot * 4). The region's
 * rkey is only sent in the HELLO reply, after the secret was proven.
 */
#include "config.h"
#include "memserver.h"
#include "log.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <netdb.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const int rdma_available = 1;

#define RECV_DEPTH 4
#define MAX_DEVICES 8

/* The pool registered once per device (protection domain). */
struct rdma_dev {
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_mr *pool_mr, *crc_mr;
};

struct rconn {
	struct srv *s;
	struct rdma_cm_id *id;
	struct rdma_dev *dev;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	struct ibv_mr *msg_mr;
	uint8_t *msgs; /* RECV_DEPTH receive buffers, then one send buffer */
	struct session ss;
	_Atomic int dead;
	pthread_t thread;
	int has_thread;
	uint8_t rbuf[MP_PAGE_SIZE + MP_STATS_MAX];
};

struct rdma_srv {
	struct srv *s;
	struct rdma_dev devs[MAX_DEVICES];
	unsigned ndevs;
};

static uint8_t *send_buf(struct rconn *c)
{
	return c->msgs + RECV_DEPTH * MP_RDMA_MSG;
}

static int post_recv(struct rconn *c, unsigned i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(c->msgs + i * MP_RDMA_MSG),
		.length = MP_RDMA_MSG,
		.lkey = c->msg_mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(c->id->qp, &wr, &bad) ? -EIO : 0;
}

/* One outstanding request per connection: one send buffer is enough. */
static int post_send(struct rconn *c, struct mp_hdr *h, const void *payload)
{
	uint8_t *b = send_buf(c);
	uint32_t len = h->len;
	struct ibv_sge sge = { .addr = (uintptr_t)b,
			       .length = (uint32_t)sizeof(*h) + len,
			       .lkey = c->msg_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = RECV_DEPTH,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;

	mp_hdr_to_le(h);
	memcpy(b, h, sizeof(*h));
	memcpy(b + sizeof(*h), payload, len);
	return ibv_post_send(c->id->qp, &wr, &bad) ? -EIO : 0;
}

static struct rdma_dev *dev_get(struct rdma_srv *rs, struct ibv_context *v)
{
	struct pool *p = &rs->s->pool;
	int acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
		  IBV_ACCESS_REMOTE_WRITE;

	for (unsigned i = 0; i < rs->ndevs; i++)
		if (rs->devs[i].verbs == v)
			return &rs->devs[i];
	if (rs->ndevs == MAX_DEVICES)
		return NULL;
	struct rdma_dev *d = &rs->devs[rs->ndevs];
	d->verbs = v;
	d->pd = ibv_alloc_pd(v);
	if (!d->pd)
		return NULL;
	d->pool_mr = ibv_reg_mr(d->pd, p->mem, p->mem_len, acc);
	d->crc_mr = ibv_reg_mr(d->pd, p->crc, (size_t)p->nslots * 4, acc);
	if (!d->pool_mr || !d->crc_mr) {
		log_err("rdma: cannot register the pool: %s", strerror(errno));
		if (d->pool_mr)
			ibv_dereg_mr(d->pool_mr);
		ibv_dealloc_pd(d->pd);
		return NULL;
	}
	rs->ndevs++;
	return d;
}

static void conn_free(struct rconn *c)
{
	if (c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->msg_mr)
		ibv_dereg_mr(c->msg_mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->ch)
		ibv_destroy_comp_channel(c->ch);
	free(c->msgs);
	rdma_destroy_id(c->id);
	atomic_fetch_sub(&c->s->nconns, 1);
	free(c);
}

/* The id is destroyed by the caller once the event is acknowledged
 * (rdma_destroy_id waits for that). */
static int reject(struct rdma_cm_id *id, const char *why)
{
	rdma_reject(id, why, (uint8_t)(strlen(why) + 1));
	return -1;
}

static void peer_name(struct rdma_cm_id *id, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	struct sockaddr *sa = rdma_get_peer_addr(id);

	getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in),
		    host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	snprintf(buf, n, "rdma:%s", host);
}

/* 0: accepted; -1: rejected, destroy the id after acknowledging. */
static int connect_request(struct rdma_srv *rs, struct rdma_cm_event *ev)
{
	struct srv *s = rs->s;
	struct rdma_cm_id *id = ev->id;
	const struct mp_rdma_cm *pd = ev->param.conn.private_data;
	struct ibv_qp_init_attr qa;
	struct rdma_conn_param cp;
	struct rconn *c;
	char peer[64];

	peer_name(id, peer, sizeof(peer));
	if (!allow_check(s->set.allow, s->set.nallow, rdma_get_peer_addr(id))) {
		atomic_fetch_add(&s->st.refused_addr, 1);
		log_warn("%s: refused: address not in --allow", peer);
		return reject(id, "address not allowed");
	}
	if (ev->param.conn.private_data_len < sizeof(*pd) ||
	    le32toh(pd->magic) != MP_MAGIC ||
	    le16toh(pd->version) != MP_VERSION) {
		atomic_fetch_add(&s->st.proto_errors, 1);
		log_warn("%s: refused: not a fluidmem client or another "
			 "protocol version",
			 peer);
		return reject(id, "protocol version");
	}
	if (atomic_fetch_add(&s->nconns, 1) >= SRV_MAX_CONNS) {
		atomic_fetch_sub(&s->nconns, 1);
		atomic_fetch_add(&s->st.refused_busy, 1);
		return reject(id, "too many connections");
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out_busy;
	c->s = s;
	c->id = id;
	id->context = c;
	c->dev = dev_get(rs, id->verbs);
	c->msgs = calloc(RECV_DEPTH + 1, MP_RDMA_MSG);
	c->ch = ibv_create_comp_channel(id->verbs);
	if (!c->dev || !c->msgs || !c->ch)
		goto out_free;
	c->cq = ibv_create_cq(id->verbs, 2 * RECV_DEPTH + 2, c, c->ch, 0);
	if (!c->cq || ibv_req_notify_cq(c->cq, 0))
		goto out_free;
	c->msg_mr = ibv_reg_mr(c->dev->pd, c->msgs,
			       (RECV_DEPTH + 1) * MP_RDMA_MSG,
			       IBV_ACCESS_LOCAL_WRITE);
	if (!c->msg_mr)
		goto out_free;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = 4;
	qa.cap.max_recv_wr = RECV_DEPTH;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, c->dev->pd, &qa))
		goto out_free;
	for (unsigned i = 0; i < RECV_DEPTH; i++)
		if (post_recv(c, i))
			goto out_free;
	snprintf(c->ss.peer, sizeof(c->ss.peer), "%s", peer);
	memset(&cp, 0, sizeof(cp));
	/* The client reads pages with RDMA READ: let it have many out. */
	cp.responder_resources = 16;
	cp.initiator_depth = 0;
	cp.rnr_retry_count = 7;
	if (rdma_accept(id, &cp))
		goto out_free;
	atomic_fetch_add(&s->st.connections, 1);
	return 0;
out_free:
	log_err("%s: cannot set up the connection: %s", peer, strerror(errno));
	id->context = NULL;
	if (c->id->qp)
		rdma_destroy_qp(id);
	if (c->msg_mr)
		ibv_dereg_mr(c->msg_mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->ch)
		ibv_destroy_comp_channel(c->ch);
	free(c->msgs);
	free(c);
out_busy:
	atomic_fetch_sub(&s->nconns, 1);
	return reject(id, "server error");
}

/* Handle one received control message; -1 closes the connection. */
static int handle(struct rconn *c, const uint8_t *msg, uint32_t len)
{
	struct mp_hdr h, rep;
	const char *why;

	if (len < sizeof(h)) {
		why = "short message";
		goto bad;
	}
	memcpy(&h, msg, sizeof(h));
	mp_hdr_from_le(&h);
	if (mp_hdr_check(&h, 0, 0, &why))
		goto bad;
	if (h.len != len - sizeof(h)) {
		why = "length does not match the message";
		goto bad;
	}
	int ret = session_request(&c->ss, &h, msg + sizeof(h), &rep, c->rbuf);
	if (post_send(c, &rep, c->rbuf))
		return -1;
	return ret;
bad:
	atomic_fetch_add(&c->s->st.proto_errors, 1);
	log_warn("%s: bad message (%s): closing", c->ss.peer, why);
	mp_hdr_init(&rep, MP_REPLY, 0);
	rep.status = MP_EPROTO;
	post_send(c, &rep, NULL);
	return -1;
}

static void *conn_thread(void *arg)
{
	struct rconn *c = arg;
	struct mp_hdr h;
	struct mp_challenge chal;
	struct ibv_wc wc;
	char peer[64];

	memcpy(peer, c->ss.peer, sizeof(peer));
	c->ss.pool_addr = (uintptr_t)c->s->pool.mem;
	c->ss.crc_addr = (uintptr_t)c->s->pool.crc;
	c->ss.pool_rkey = c->dev->pool_mr->rkey;
	c->ss.crc_rkey = c->dev->crc_mr->rkey;
	uint64_t pa = c->ss.pool_addr, ca = c->ss.crc_addr;
	uint32_t pk = c->ss.pool_rkey, ck = c->ss.crc_rkey;
	session_start(&c->ss, c->s, MP_T_RDMA, peer, &h, &chal);
	/* session_start clears the session: the pool's place again. */
	c->ss.pool_addr = pa;
	c->ss.crc_addr = ca;
	c->ss.pool_rkey = pk;
	c->ss.crc_rkey = ck;
	if (post_send(c, &h, &chal))
		atomic_store(&c->dead, 1);
	while (!atomic_load(&c->dead) && !atomic_load(&c->s->stop)) {
		struct pollfd p = { .fd = c->ch->fd, .events = POLLIN };
		if (poll(&p, 1, 500) <= 0)
			continue;
		struct ibv_cq *cq;
		void *ctx;
		if (ibv_get_cq_event(c->ch, &cq, &ctx))
			break;
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
		while (ibv_poll_cq(c->cq, 1, &wc) == 1) {
			if (wc.status != IBV_WC_SUCCESS) {
				atomic_store(&c->dead, 1);
				break;
			}
			if (wc.opcode != IBV_WC_RECV)
				continue;
			unsigned i = (unsigned)wc.wr_id;
			if (handle(c, c->msgs + i * MP_RDMA_MSG,
				   wc.byte_len) ||
			    post_recv(c, i)) {
				atomic_store(&c->dead, 1);
				break;
			}
		}
	}
	rdma_disconnect(c->id);
	session_end(&c->ss);
	/* The cm thread joins us and frees the connection on DISCONNECTED. */
	return NULL;
}

static int bind_listen(struct srv *s, struct rdma_cm_id *id, char *err,
		       size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char port[8];
	int ret;

	snprintf(port, sizeof(port), "%u", s->set.port);
	ret = getaddrinfo(s->set.host, port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "listen address %s: %s", s->set.host,
			 gai_strerror(ret));
		return -EINVAL;
	}
	ret = rdma_bind_addr(id, res->ai_addr) ? -errno : 0;
	freeaddrinfo(res);
	if (!ret && rdma_listen(id, 64))
		ret = -errno;
	if (ret)
		snprintf(err, errlen,
			 "rdma: cannot listen on %s:%u: %s (is the address "
			 "on an RDMA device?)",
			 s->set.host, s->set.port, strerror(-ret));
	return ret;
}

int rdma_serve(struct srv *s, char *err, size_t errlen)
{
	struct rdma_srv rs = { .s = s };
	struct rdma_event_channel *ec;
	struct rdma_cm_id *lid;
	int ndev = 0, ret;
	struct ibv_device **list = ibv_get_device_list(&ndev);

	if (list)
		ibv_free_device_list(list);
	if (!list || ndev == 0) {
		snprintf(err, errlen,
			 "no RDMA device (ibv_get_device_list found none; "
			 "use --transport=tcp)");
		return -ENODEV;
	}
	ec = rdma_create_event_channel();
	if (!ec) {
		ret = -errno;
		snprintf(err, errlen, "rdma_create_event_channel: %s",
			 strerror(-ret));
		return ret;
	}
	if (rdma_create_id(ec, &lid, NULL, RDMA_PS_TCP)) {
		ret = -errno;
		snprintf(err, errlen, "rdma_create_id: %s", strerror(-ret));
		goto out_channel;
	}
	ret = bind_listen(s, lid, err, errlen);
	if (ret)
		goto out_id;
	log_info("memserver: %u MiB (%u slots) on rdma %s:%u",
		 (unsigned)s->set.size_mib, s->pool.nslots, s->set.host,
		 s->set.port);
	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = ec->fd, .events = POLLIN };
		struct rdma_cm_event *ev;

		if (poll(&p, 1, 500) <= 0)
			continue;
		if (rdma_get_cm_event(ec, &ev))
			continue;
		struct rconn *c = ev->id->context;
		switch (ev->event) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			if (connect_request(&rs, ev)) {
				struct rdma_cm_id *id = ev->id;
				rdma_ack_cm_event(ev);
				rdma_destroy_id(id);
				continue;
			}
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			if (c && pthread_create(&c->thread, NULL, conn_thread,
						c) == 0)
				c->has_thread = 1;
			else if (c)
				atomic_store(&c->dead, 1);
			break;
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_DISCONNECTED:
			if (c) {
				atomic_store(&c->dead, 1);
				/* Let the connection's thread finish. */
				ev->id->context = NULL;
				rdma_ack_cm_event(ev);
				if (c->has_thread)
					pthread_join(c->thread, NULL);
				conn_free(c);
				continue;
			}
			break;
		default:
			break;
		}
		rdma_ack_cm_event(ev);
	}
	ret = 0;
out_id:
	rdma_destroy_id(lid);
out_channel:
	rdma_destroy_event_channel(ec);
	return ret;
}
