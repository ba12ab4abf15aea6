/*
 * memserver: donates a slab of DRAM to monitors as page slots. The
 * pieces: pool.c (slots and their owners), session.c (the protocol,
 * one per connection, transport independent), tcp.c and rdma.c (the
 * transports), allow.c (address allow-list), memserver.c (options,
 * start-up, stats).
 */
#ifndef FLUIDMEM_MEMSERVER_H
#define FLUIDMEM_MEMSERVER_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "memproto.h"

#define SRV_MAX_CLIENTS 256
#define SRV_MAX_CONNS 512
#define SRV_MAX_ALLOW 32

/* X(name, description): every one is printed by STATS (doc/memserver.md). */
#define SRV_COUNTERS(X)                                                        \
	X(connections, "connections accepted")                                 \
	X(reads, "pages read")                                                 \
	X(writes, "pages written")                                             \
	X(bytes_read, "bytes read by clients")                                 \
	X(bytes_written, "bytes written by clients")                           \
	X(allocs, "slots allocated")                                           \
	X(frees, "slots freed by clients")                                     \
	X(refused_full, "slots refused because the pool was full")             \
	X(auth_failures, "handshakes refused: wrong secret")                   \
	X(refused_addr, "connections refused by the allow-list")               \
	X(refused_busy, "connections refused: too many")                       \
	X(proto_errors, "malformed messages (connection closed)")              \
	X(req_errors, "requests answered with an error")                       \
	X(disconnects_mid_msg, "connections lost in the middle of a message")  \
	X(slots_expired, "slots freed after their client's grace period")    \
	X(slots_reset, "slots freed by a client that started afresh")

struct srv_stats {
#define X(name, desc) _Atomic uint64_t name;
	SRV_COUNTERS(X)
#undef X
};

struct srv_client {
	char id[MP_ID_LEN];
	int used;
	unsigned nconns;
	uint32_t owned;
	time_t gone_at; /* when the last connection closed */
};

struct pool {
	pthread_mutex_t lock;
	uint8_t *mem;	   /* nslots pages */
	uint32_t *crc;	   /* per slot; registered for RDMA too */
	uint16_t *owner;   /* client index + 1; 0 = free */
	uint8_t *written;  /* TCP: slot holds a page */
	uint32_t *freelist;
	uint32_t nslots, nfree;
	size_t mem_len;
	struct srv_client clients[SRV_MAX_CLIENTS];
	unsigned nclients;
};

struct allow_net {
	int family;
	uint8_t addr[16];
	unsigned prefix;
};

struct srv_settings {
	uint64_t size_mib;
	char host[256];
	uint16_t port;
	int transport; /* MP_T_TCP or MP_T_RDMA */
	char secret_file[512];
	struct allow_net allow[SRV_MAX_ALLOW];
	unsigned nallow;
	unsigned stats_interval_s; /* 0: never log stats */
	unsigned client_grace_s;
};

struct srv {
	struct srv_settings set;
	struct pool pool;
	struct mp_key key;
	uint64_t instance;
	time_t started;
	struct srv_stats st;
	_Atomic unsigned nconns;
	_Atomic int stop;
	_Atomic int full_logged; /* reset when an ALLOC is served in full */
};

/* pool.c */
int pool_init(struct pool *p, uint64_t bytes);
void pool_destroy(struct pool *p);
/* Register a connection of identity @id: client index, -EBUSY (table
 * full) or -EAGAIN (@reset asked while the identity has connections). */
int pool_client_attach(struct pool *p, const char *id, int reset,
		       uint32_t *owned, uint32_t *freed);
void pool_client_detach(struct pool *p, int client);
/* Up to n slots into out; returns how many (fewer when full). */
unsigned pool_alloc(struct pool *p, int client, uint32_t *out, unsigned n);
int pool_free(struct pool *p, int client, const uint32_t *slots, unsigned n);
int pool_write(struct pool *p, int client, uint32_t slot, uint32_t crc,
	       const void *page);
int pool_read(struct pool *p, int client, uint32_t slot, uint32_t *crc,
	      void *page);
/* Free the slots of clients gone longer than @grace; returns slots freed. */
uint64_t pool_expire(struct pool *p, time_t now, unsigned grace);
void pool_usage(struct pool *p, uint32_t *used, unsigned *clients,
		unsigned *connected);

/* allow.c */
int allow_parse(const char *list, struct allow_net *out, unsigned max,
		unsigned *n, char *err, size_t errlen);
/* 1 if @sa may connect (an empty list allows everyone). */
int allow_check(const struct allow_net *nets, unsigned n,
		const struct sockaddr *sa);

/* session.c: one per connection, whatever the transport. */
struct session {
	struct srv *s;
	int client; /* -1 until HELLO succeeded */
	int transport;
	uint8_t snonce[MP_NONCE_LEN];
	char peer[64];
	/* RDMA: where the registered pool is, for the HELLO reply. */
	uint64_t pool_addr, crc_addr;
	uint32_t pool_rkey, crc_rkey;
};
void session_start(struct session *ss, struct srv *s, int transport,
		   const char *peer, struct mp_hdr *chal_hdr,
		   struct mp_challenge *chal);
/*
 * Handle one validated request. Fills the reply header and payload
 * (rbuf holds at least MP_STATS_MAX and a page). Returns 0 to go on,
 * -1 to close the connection after sending the reply.
 */
int session_request(struct session *ss, const struct mp_hdr *req,
		    const void *payload, struct mp_hdr *rep, void *rbuf);
void session_end(struct session *ss);
size_t srv_stats_text(struct srv *s, char *buf, size_t len);

/* Transports: run until s->stop; 0 or -errno with a message. */
int tcp_serve(struct srv *s, char *err, size_t errlen);
int rdma_serve(struct srv *s, char *err, size_t errlen);
extern const int rdma_available;

#endif
