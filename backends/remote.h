/*
 * The remote backend's transports (tcp, rdma): the same slot operations
 * over different wires. A transport connection is used by one thread at
 * a time and allocates its buffers when created, never per page.
 */
#ifndef FLUIDMEM_REMOTE_H
#define FLUIDMEM_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "memproto.h"

struct remote_target {
	char host[256];
	uint16_t port;
	struct mp_key key;
	char id[MP_ID_LEN];
	int timeout_ms;
};

struct remote_xport {
	const char *scheme; /* "tcp" in tcp://HOST:PORT */
	void *(*create)(const struct remote_target *t);
	void (*destroy)(void *x);
	/* Connect and authenticate; 0 or -errno, reason in error(). */
	/* @reset: ask the server to free this identity's old slots. */
	int (*connect)(void *x, int reset, uint64_t *instance);
	void (*disconnect)(void *x);
	int (*connected)(void *x);
	const char *(*error)(void *x);
	/* These return -errno when the connection failed (it is closed). */
	int (*alloc)(void *x, unsigned n, uint32_t *slots, unsigned *got);
	int (*write)(void *x, const uint32_t *slots, const void *const *pages,
		     unsigned n, int *res);
	int (*read)(void *x, const uint32_t *slots, void *const *pages,
		    unsigned n, int *res);
	int (*free)(void *x, const uint32_t *slots, unsigned n, int *res);
	int (*stats)(void *x, char *buf, size_t len);
};

extern const struct remote_xport remote_tcp_xport;
extern const struct remote_xport remote_rdma_xport;

#endif
