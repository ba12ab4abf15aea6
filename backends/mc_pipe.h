/*
 * Pipelined stores (and deletes) to one memcached server: a batch of quiet
 * binary protocol sets (SETQ) closed by a NOOP, written in one go. A quiet set
 * only answers when it fails, naming the failed key by its opaque, and
 * the NOOP's answer proves every set before it was handled: one round
 * trip per batch, yet a result per key.
 */
#ifndef FLUIDMEM_MC_PIPE_H
#define FLUIDMEM_MC_PIPE_H

#include <stddef.h>
#include <stdint.h>

#define MC_PIPE_MAX 64	   /* items per mc_pipe_store() */
#define MC_PIPE_KEY_MAX 48 /* bytes of key */

struct mc_pipe;

/* One value to store: the key, then val followed by tail (no copy). */
struct mc_pipe_item {
	char key[MC_PIPE_KEY_MAX];
	size_t keylen;
	const void *val;
	size_t vallen;
	const void *tail;
	size_t taillen;
	int res; /* out: 0 or -errno */
};

/* @name is host[:port] (IPv6 in brackets) or, with @is_socket, a path.
 * Nothing is connected until the first store. */
struct mc_pipe *mc_pipe_new(const char *name, int is_socket, int timeout_ms);
void mc_pipe_free(struct mc_pipe *p);

/*
 * Store items[0..n), n <= MC_PIPE_MAX. Sets every items[i].res. Returns
 * 0 when the server answered (some items may still have failed), or
 * -errno when the connection failed: then every item that has no answer
 * carries that error and the connection is dropped (retried after 1 s).
 */
int mc_pipe_store(struct mc_pipe *p, struct mc_pipe_item *items, unsigned n);
/* The same with quiet deletes of items[i].key; a missing key is no error. */
int mc_pipe_delete(struct mc_pipe *p, struct mc_pipe_item *items, unsigned n);

#endif
