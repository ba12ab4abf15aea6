/*
 * The nvme backend's slot allocator: which page-sized slots of the data
 * file hold a page. O(1) alloc and free (a LIFO stack of free slots, so
 * freed slots are reused first) plus a bitmap that refuses double frees.
 * Thread-safe; one per backend instance, shared by all its connections.
 */
#ifndef FLUIDMEM_NVME_SLOTS_H
#define FLUIDMEM_NVME_SLOTS_H

#include <pthread.h>
#include <stdint.h>

struct nvme_slots {
	pthread_mutex_t lock;
	uint32_t nslots;
	uint32_t nfree;
	uint32_t *stack; /* free slots; the top is stack[nfree - 1] */
	uint64_t *used;	 /* bit per slot */
	uint64_t bad_frees;
};

/* All slots in use; nvme_slots_release() then frees the ones to use. */
int nvme_slots_init(struct nvme_slots *s, uint32_t nslots);
void nvme_slots_fini(struct nvme_slots *s);
/* Rebuild: @used (bit per slot) marks the slots to keep; all others are
 * free, handed out lowest first. */
void nvme_slots_reset(struct nvme_slots *s, const uint64_t *used);
/* Fill out[0..n) with free slots; returns how many it got (< n: full). */
unsigned nvme_slots_alloc(struct nvme_slots *s, uint32_t *out, unsigned n);
/* Free n slots; a slot that is not in use is ignored and counted. */
void nvme_slots_free(struct nvme_slots *s, const uint32_t *v, unsigned n);
uint32_t nvme_slots_used(struct nvme_slots *s);

#endif
