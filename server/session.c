/*
 * One connection's protocol state, whatever the transport: the
 * challenge-response handshake, then requests on the client's slots.
 * Nothing is changed by a request that fails validation.
 */
#include "config.h"
#include "memserver.h"
#include "log.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void session_start(struct session *ss, struct srv *s, int transport,
		   const char *peer, struct mp_hdr *chal_hdr,
		   struct mp_challenge *chal)
{
	memset(ss, 0, sizeof(*ss));
	ss->s = s;
	ss->client = -1;
	ss->transport = transport;
	snprintf(ss->peer, sizeof(ss->peer), "%s", peer);
	mp_random(ss->snonce, sizeof(ss->snonce));
	mp_hdr_init(chal_hdr, MP_CHALLENGE | MP_REPLY, sizeof(*chal));
	memcpy(chal->nonce, ss->snonce, MP_NONCE_LEN);
	chal->instance = htole64(s->instance);
	chal->page_size = htole32(MP_PAGE_SIZE);
	chal->transport = htole32((uint32_t)transport);
}

void session_end(struct session *ss)
{
	if (ss->client >= 0)
		pool_client_detach(&ss->s->pool, ss->client);
	ss->client = -1;
}

static int id_valid(const char *id)
{
	size_t n = strnlen(id, MP_ID_LEN);

	if (n == 0 || n == MP_ID_LEN)
		return 0;
	for (size_t i = n; i < MP_ID_LEN; i++)
		if (id[i])
			return 0;
	for (size_t i = 0; i < n; i++)
		if (id[i] < 0x21 || id[i] > 0x7e)
			return 0;
	return 1;
}

static int hello(struct session *ss, const struct mp_hello *h, int reset,
		 struct mp_hdr *rep, struct mp_welcome *w)
{
	struct srv *s = ss->s;
	uint32_t owned = 0, freed = 0;
	int c;

	if (ss->client >= 0 || !id_valid(h->id)) {
		rep->status = MP_EPROTO;
		return -1;
	}
	if (le64toh(h->mac) != mp_mac(&s->key, 'C', ss->snonce, h->nonce,
				      h->id)) {
		atomic_fetch_add(&s->st.auth_failures, 1);
		log_warn("%s: authentication failed for client '%.*s' "
			 "(wrong secret)",
			 ss->peer, MP_ID_LEN, h->id);
		rep->status = MP_EACCES;
		return -1;
	}
	c = pool_client_attach(&s->pool, h->id, reset, &owned, &freed);
	if (c == -EAGAIN) {
		log_warn("%s: client '%.*s' asked to start afresh while "
			 "still connected: refused",
			 ss->peer, MP_ID_LEN, h->id);
		rep->status = MP_EBUSY;
		return -1;
	}
	if (freed) {
		atomic_fetch_add(&s->st.slots_reset, freed);
		log_info("%s: client '%.*s' starts afresh: freed its %u "
			 "old slots",
			 ss->peer, MP_ID_LEN, h->id, freed);
	}
	if (c < 0) {
		atomic_fetch_add(&s->st.refused_busy, 1);
		log_warn("%s: too many clients", ss->peer);
		rep->status = MP_EBUSY;
		return -1;
	}
	ss->client = c;
	memset(w, 0, sizeof(*w));
	w->instance = htole64(s->instance);
	w->mac = htole64(mp_mac(&s->key, 'S', ss->snonce, h->nonce, h->id));
	w->nslots = htole32(s->pool.nslots);
	w->owned = htole32(owned);
	w->pool_addr = htole64(ss->pool_addr);
	w->crc_addr = htole64(ss->crc_addr);
	w->pool_rkey = htole32(ss->pool_rkey);
	w->crc_rkey = htole32(ss->crc_rkey);
	rep->len = sizeof(*w);
	log_info("%s: client '%.*s' connected (%" PRIu32 " slots kept)",
		 ss->peer, MP_ID_LEN, h->id, owned);
	return 0;
}

int session_request(struct session *ss, const struct mp_hdr *req,
		    const void *payload, struct mp_hdr *rep, void *rbuf)
{
	struct srv *s = ss->s;
	struct pool *p = &s->pool;
	int ret = 0;

	mp_hdr_init(rep, req->op | MP_REPLY, 0);
	rep->tag = req->tag;
	if (req->op == MP_HELLO)
		return hello(ss, payload, req->flags & MP_HELLO_RESET, rep,
			     rbuf);
	if (ss->client < 0) {
		/* Nothing but HELLO before the handshake. */
		rep->status = MP_EACCES;
		return -1;
	}
	switch (req->op) {
	case MP_ALLOC: {
		uint32_t *slots = rbuf;
		unsigned k = pool_alloc(p, ss->client, slots, req->count);
		atomic_fetch_add(&s->st.allocs, k);
		if (k < req->count) {
			atomic_fetch_add(&s->st.refused_full, req->count - k);
			rep->status = MP_ENOSPC;
			if (!atomic_exchange(&s->full_logged, 1))
				log_warn("pool full (%u slots): refusing new "
					 "pages; stored pages are kept",
					 p->nslots);
		} else {
			atomic_store(&s->full_logged, 0);
		}
		mp_u32s_le(slots, k);
		rep->count = k;
		rep->len = k * 4;
		return 0;
	}
	case MP_WRITE:
		if (ss->transport != MP_T_TCP) {
			ret = -EPROTO;
			break;
		}
		ret = pool_write(p, ss->client, req->slot, req->crc, payload);
		if (!ret) {
			atomic_fetch_add(&s->st.writes, 1);
			atomic_fetch_add(&s->st.bytes_written, MP_PAGE_SIZE);
		}
		break;
	case MP_READ:
		if (ss->transport != MP_T_TCP) {
			ret = -EPROTO;
			break;
		}
		ret = pool_read(p, ss->client, req->slot, &rep->crc, rbuf);
		if (!ret) {
			rep->slot = req->slot;
			rep->len = MP_PAGE_SIZE;
			atomic_fetch_add(&s->st.reads, 1);
			atomic_fetch_add(&s->st.bytes_read, MP_PAGE_SIZE);
		}
		break;
	case MP_FREE: {
		uint32_t slots[MP_MAX_BATCH];
		memcpy(slots, payload, req->count * 4);
		for (unsigned i = 0; i < req->count; i++)
			slots[i] = le32toh(slots[i]);
		ret = pool_free(p, ss->client, slots, req->count);
		if (!ret)
			atomic_fetch_add(&s->st.frees, req->count);
		break;
	}
	case MP_STATS:
		rep->len = (uint32_t)srv_stats_text(s, rbuf, MP_STATS_MAX);
		break;
	default:
		ret = -EPROTO;
	}
	if (ret) {
		atomic_fetch_add(&s->st.req_errors, 1);
		rep->status = mp_errno_status(ret);
		rep->len = 0;
	}
	return rep->status == MP_EPROTO ? -1 : 0;
}
