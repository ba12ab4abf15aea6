/*
 * Prefetch: per region, a few fault streams are tracked; three faults in
 * a row with the same stride (sequential is stride 1) make a run, and a
 * fault that continues a run asks for the next pages of the run. The
 * window doubles while the run holds, up to --prefetch pages, and a
 * stream that breaks starts over, so random access fetches nothing extra.
 *
 * A prefetched page is installed clean and write-protected, like a read
 * fault's; a read of it never reaches the monitor. So a hit is inferred:
 * the run's next fault landing beyond a prefetched page means the client
 * went past it without a miss (hit); the run's next fault landing on it
 * means it was evicted before use, and a run abandoned with pages ahead
 * of it counts those pages as wasted.
 */
#ifndef FLUIDMEM_PREFETCH_H
#define FLUIDMEM_PREFETCH_H

#include <stdint.h>

#define PF_STREAMS 4

struct monitor;
struct region;

struct pf_stream {
	uint64_t last;	  /* last fault of the run */
	int64_t stride;	  /* pages between faults; 0: not known yet */
	uint64_t fetched; /* bit i: page last + (i+1)*stride was prefetched */
	uint32_t span;	  /* window positions after last */
	uint32_t run;	  /* faults seen at this stride */
	uint32_t window;  /* pages to ask for next time */
	uint64_t tick;	  /* last use, for replacement */
};

struct pf_state {
	struct pf_stream s[PF_STREAMS];
	uint64_t tick;
};

/* A window to fetch: pages first + i*stride for i < n. */
struct pf_plan {
	struct pf_stream *stream;
	uint64_t first;
	int64_t stride;
	uint32_t n;
};

/*
 * Account the missing fault on @pg of @r and say what to prefetch, if
 * anything (plan->n == 0: nothing). Called with the region lock held.
 */
void prefetch_observe(struct monitor *m, struct region *r, uint64_t pg,
		      struct pf_plan *plan);
/* Record the window positions that were really fetched (lock held). */
void prefetch_record(struct pf_plan *plan, uint64_t fetched_mask);

#endif
