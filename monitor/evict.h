/*
 * The page cache budget and eviction: CLOCK victim choice, the race-free
 * WP -> copy -> write -> punch -> wake sequence, a background evictor
 * that keeps free headroom, and direct reclaim when the cache is full.
 */
#ifndef FLUIDMEM_EVICT_H
#define FLUIDMEM_EVICT_H

#include <stdint.h>

#include "monitor.h"

struct region;

/* Per-thread eviction scratch: allocated once, never per fault. */
struct evict_ctx {
	struct backend_conn *conn;
	unsigned max;
	uint8_t *buf;		/* max pages */
	uint64_t *victims;
	struct page_key *keys;
	const void **bufs;
	int *res;
	uint64_t *failed;
	uint8_t *oldloc;	/* server of the copy being replaced */
	struct page_key *stale;	/* old copies to delete */
};

int evict_ctx_init(struct monitor *m, struct evict_ctx *ctx, unsigned max);
void evict_ctx_fini(struct monitor *m, struct evict_ctx *ctx);

int evict_start(struct monitor *m);
void evict_stop(struct monitor *m);
/* Wake the background evictor (cheap when it is already busy). */
void evict_kick(struct monitor *m);

/*
 * Take one cache slot for a page about to be installed in @r, evicting
 * synchronously if the cache is full. 0, or -EAGAIN when nothing could be
 * freed for a while (the caller backs off and lets the client refault).
 */
int evict_reserve(struct monitor *m, struct region *r, struct evict_ctx *ctx);
/* Give back a slot whose install did not happen. */
void evict_unreserve(struct monitor *m, struct region *r, uint64_t n);
/* Record the page installed last (for --debug-victim=recent). */
void evict_note_install(struct monitor *m, struct region *r, uint64_t pgoff);

/* Control commands: evict N pages now; change the cache capacity. */
void evict_request(struct monitor *m, uint64_t npages);
void evict_resize(struct monitor *m, uint64_t capacity);
/* Evict one round with @ctx; returns pages evicted. */
unsigned evict_run(struct monitor *m, struct evict_ctx *ctx, unsigned max);

#endif
