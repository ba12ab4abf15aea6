/* The nvme backend's slot allocator (see nvme_slots.h). */
#include "config.h"
#include "nvme_slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BIT_WORD(i) ((i) / 64)
#define BIT_MASK(i) (UINT64_C(1) << ((i) % 64))

int nvme_slots_init(struct nvme_slots *s, uint32_t nslots)
{
	memset(s, 0, sizeof(*s));
	s->nslots = nslots;
	s->stack = malloc((size_t)(nslots ? nslots : 1) * sizeof(*s->stack));
	s->used = calloc((size_t)nslots / 64 + 1, sizeof(*s->used));
	if (!s->stack || !s->used) {
		free(s->stack);
		free(s->used);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nslots; i++)
		s->used[BIT_WORD(i)] |= BIT_MASK(i);
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

void nvme_slots_fini(struct nvme_slots *s)
{
	pthread_mutex_destroy(&s->lock);
	free(s->stack);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

void nvme_slots_reset(struct nvme_slots *s, const uint64_t *used)
{
	pthread_mutex_lock(&s->lock);
	memcpy(s->used, used, ((size_t)s->nslots / 64 + 1) * sizeof(*used));
	s->nfree = 0;
	/* Pushed from the top down, so slot 0 is handed out first. */
	for (uint32_t i = s->nslots; i-- > 0;)
		if (!(s->used[BIT_WORD(i)] & BIT_MASK(i)))
			s->stack[s->nfree++] = i;
	pthread_mutex_unlock(&s->lock);
}

unsigned nvme_slots_alloc(struct nvme_slots *s, uint32_t *out, unsigned n)
{
	unsigned got = 0;

	pthread_mutex_lock(&s->lock);
	while (got < n && s->nfree) {
		uint32_t i = s->stack[--s->nfree];
		s->used[BIT_WORD(i)] |= BIT_MASK(i);
		out[got++] = i;
	}
	pthread_mutex_unlock(&s->lock);
	return got;
}

void nvme_slots_free(struct nvme_slots *s, const uint32_t *v, unsigned n)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned k = 0; k < n; k++) {
		uint32_t i = v[k];
		if (i >= s->nslots || !(s->used[BIT_WORD(i)] & BIT_MASK(i))) {
			s->bad_frees++;
			continue;
		}
		s->used[BIT_WORD(i)] &= ~BIT_MASK(i);
		s->stack[s->nfree++] = i;
	}
	pthread_mutex_unlock(&s->lock);
}

uint32_t nvme_slots_used(struct nvme_slots *s)
{
	pthread_mutex_lock(&s->lock);
	uint32_t used = s->nslots - s->nfree;
	pthread_mutex_unlock(&s->lock);
	return used;
}
