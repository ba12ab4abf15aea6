/*
 * Client side of the memserver protocol over TCP: the handshake and
 * pipelined batches (one send of many requests, then the replies). Used
 * by the monitor's remote backend and by `memserver --stats`. One
 * thread at a time per client; buffers are allocated once, at init.
 */
#ifndef FLUIDMEM_MEMCLIENT_H
#define FLUIDMEM_MEMCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "memproto.h"

struct memclient {
	int fd; /* -1 while disconnected */
	char host[256];
	uint16_t port;
	struct mp_key key;
	char id[MP_ID_LEN];
	int timeout_ms;
	int reset; /* next HELLO asks for MP_HELLO_RESET */
	/* Learned in the handshake. */
	uint64_t instance;
	uint32_t nslots, owned;
	struct mp_welcome welcome;
	struct mp_hdr *hdrs; /* MP_MAX_BATCH request headers */
	char err[512];	     /* why the last call failed */
};

void memclient_init(struct memclient *c, const char *host, uint16_t port,
		    const struct mp_key *key, const char *id, int timeout_ms);
/* Allocates the header array; 0 or -ENOMEM. */
int memclient_alloc_buffers(struct memclient *c);
void memclient_free_buffers(struct memclient *c);
/* Connect and authenticate; 0 or -errno with c->err set. */
int memclient_connect(struct memclient *c);
void memclient_close(struct memclient *c);

/*
 * The calls below return 0, or -errno for a failed connection (which
 * is then closed). Per-slot outcomes go to res[] (0 or -errno).
 */
/* Up to n (<= MP_MAX_BATCH) fresh slots; *got < n means the server is full. */
int memclient_alloc(struct memclient *c, unsigned n, uint32_t *slots,
		    unsigned *got);
int memclient_write(struct memclient *c, const uint32_t *slots,
		    const void *const *pages, unsigned n, int *res);
/* A page whose CRC does not match gets -EBADMSG. */
int memclient_read(struct memclient *c, const uint32_t *slots,
		   void *const *pages, unsigned n, int *res);
int memclient_free(struct memclient *c, const uint32_t *slots, unsigned n,
		   int *res);
/* The server's stats text, NUL terminated. */
int memclient_stats(struct memclient *c, char *buf, size_t len);
/* Send raw bytes (tests of the server's validation). */
int memclient_send_raw(struct memclient *c, const void *buf, size_t len);
/* Receive one reply header (host order) plus up to len payload bytes. */
int memclient_recv_reply(struct memclient *c, struct mp_hdr *h, void *buf,
			 size_t len);

#endif
