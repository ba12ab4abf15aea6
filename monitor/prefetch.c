/* Fault run detection and prefetch accounting: see prefetch.h. */
#include "config.h"
#include "prefetch.h"
#include "region.h"

#define PF_MAX_STRIDE 16  /* pages; a larger gap is not a run */
#define PF_SLACK 8	  /* positions past the window still continuing */
#define PF_FIRST_WINDOW 4

static unsigned prefetch_popcount(uint64_t v)
{
	return (unsigned)__builtin_popcountll(v);
}

/* Window position k (1-based) of @pg in @s's run, or 0 if not in it. */
static uint64_t prefetch_position(const struct pf_stream *s, uint64_t pg)
{
	int64_t d = (int64_t)(pg - s->last);

	if (!s->stride || d == 0 || d % s->stride)
		return 0;
	int64_t k = d / s->stride;
	/* A stride seen once must repeat exactly to make a run. */
	if (k < 1 || k > (s->run < 2 ? 1 : (int64_t)s->span + 1 + PF_SLACK))
		return 0;
	return (uint64_t)k;
}

void prefetch_observe(struct monitor *m, struct region *r, uint64_t pg,
		      struct pf_plan *plan)
{
	struct pf_state *ps = &r->pf;
	struct pf_stream *s = NULL, *lru = &ps->s[0];
	uint64_t k = 0;
	unsigned max = m->set.prefetch;

	plan->n = 0;
	if (!max)
		return;
	ps->tick++;
	for (unsigned i = 0; i < PF_STREAMS && !s; i++) {
		k = prefetch_position(&ps->s[i], pg);
		if (k)
			s = &ps->s[i];
	}
	if (s) {
		/* The run goes on: everything before pg was passed. */
		uint64_t pos = k - 1;
		uint64_t before = pos >= 64 ? ~UINT64_C(0)
					    : (UINT64_C(1) << pos) - 1;
		unsigned hits = prefetch_popcount(s->fetched & before);
		unsigned wasted = 0;
		if (pos < 64 && (s->fetched >> pos) & 1)
			wasted = 1; /* evicted before it was used */
		/* Pages beyond pg stay resident; the client is heading
		 * there: count them as hits now, they leave the window. */
		if (pos < 63)
			hits += prefetch_popcount(s->fetched >> (pos + 1));
		STAT_ADD(&m->stats, prefetch_hits, hits);
		STAT_ADD(&m->stats, prefetch_wasted, wasted);
		s->run++;
		if (s->run > 2)
			s->window = s->window * 2 > max ? max : s->window * 2;
	} else {
		/* A second fault near a young stream sets its stride. */
		for (unsigned i = 0; i < PF_STREAMS && !s; i++) {
			struct pf_stream *c = &ps->s[i];
			int64_t d = (int64_t)(pg - c->last);
			if (c->run <= 1 && c->tick && d &&
			    d >= -PF_MAX_STRIDE && d <= PF_MAX_STRIDE) {
				s = c;
				STAT_ADD(&m->stats, prefetch_wasted,
					 prefetch_popcount(c->fetched));
				s->stride = d;
				s->run = 1;
				s->window = 0;
			}
		}
	}
	if (!s) {
		/* A new stream replaces the least recently used one. */
		for (unsigned i = 1; i < PF_STREAMS; i++)
			if (ps->s[i].tick < lru->tick)
				lru = &ps->s[i];
		s = lru;
		STAT_ADD(&m->stats, prefetch_wasted,
			 prefetch_popcount(s->fetched));
		s->stride = 0;
		s->run = 0;
		s->window = 0;
	}
	s->last = pg;
	s->fetched = 0;
	s->span = 0;
	s->tick = ps->tick;
	if (s->run < 2)
		return;
	if (s->window < PF_FIRST_WINDOW)
		s->window = PF_FIRST_WINDOW < max ? PF_FIRST_WINDOW : max;
	/* Stay inside the region. */
	uint64_t n = s->window;
	if (s->stride > 0) {
		uint64_t room = (r->npages - 1 - pg) / (uint64_t)s->stride;
		if (room < n)
			n = room;
	} else {
		uint64_t room = pg / (uint64_t)(-s->stride);
		if (room < n)
			n = room;
	}
	plan->stream = s;
	plan->first = pg + (uint64_t)s->stride;
	plan->stride = s->stride;
	plan->n = (uint32_t)n;
}

void prefetch_record(struct pf_plan *plan, uint64_t fetched_mask)
{
	plan->stream->fetched = fetched_mask;
	plan->stream->span = plan->n;
}
