/* Per-stage latency histograms: see lat.h. */
#include "config.h"
#include "lat.h"

#include <stdatomic.h>
#include <string.h>

#define LAT_SUB_BITS 2
#define LAT_SUB (1u << LAT_SUB_BITS)
#define LAT_BUCKETS (64 * LAT_SUB)
/* 64 fault threads, the evictor, the reaper; the rest share slot 0. */
#define LAT_SLOTS 72

struct lat_hist {
	_Atomic uint64_t n[LAT_NSTAGES][LAT_BUCKETS];
	_Atomic uint64_t sum[LAT_NSTAGES];
	_Atomic uint64_t max[LAT_NSTAGES];
};

static struct lat_hist lat_slots[LAT_SLOTS];
static _Atomic unsigned lat_used = 1;
static __thread struct lat_hist *lat_self;

static const char *const lat_names[] = {
#define X(name, desc) #name,
	LAT_STAGES(X)
#undef X
};

void lat_thread_register(void)
{
	unsigned i = atomic_fetch_add(&lat_used, 1);

	lat_self = &lat_slots[i < LAT_SLOTS ? i : 0];
}

/* Bucket: exponent of the leading bit, then the next LAT_SUB_BITS bits. */
static unsigned lat_bucket(uint64_t ns)
{
	if (ns < LAT_SUB)
		return (unsigned)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)(ns >> (e - LAT_SUB_BITS)) & (LAT_SUB - 1);

	return (e - LAT_SUB_BITS + 1) * LAT_SUB + sub;
}

/* Smallest value in bucket @b (the inverse of lat_bucket). */
static uint64_t lat_bucket_low(unsigned b)
{
	if (b < LAT_SUB)
		return b;
	unsigned e = b / LAT_SUB + LAT_SUB_BITS - 1;

	return (UINT64_C(1) << e) |
	       ((uint64_t)(b % LAT_SUB) << (e - LAT_SUB_BITS));
}

void lat_record(enum lat_stage s, uint64_t ns)
{
	struct lat_hist *h = lat_self ? lat_self : &lat_slots[0];

	atomic_fetch_add_explicit(&h->n[s][lat_bucket(ns)], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum[s], ns, memory_order_relaxed);
	uint64_t mx = atomic_load_explicit(&h->max[s], memory_order_relaxed);
	while (ns > mx && !atomic_compare_exchange_weak_explicit(
				  &h->max[s], &mx, ns, memory_order_relaxed,
				  memory_order_relaxed))
		;
}

int lat_stage_find(const char *name)
{
	for (int i = 0; i < LAT_NSTAGES; i++)
		if (strcmp(name, lat_names[i]) == 0)
			return i;
	return -1;
}

const char *lat_stage_name(enum lat_stage s)
{
	return lat_names[s];
}

/* Middle of the bucket holding the q-th (0-based) sample. */
static uint64_t lat_quantile(const uint64_t *n, uint64_t q)
{
	uint64_t seen = 0;

	for (unsigned b = 0; b < LAT_BUCKETS; b++) {
		seen += n[b];
		if (seen > q) {
			uint64_t lo = lat_bucket_low(b);
			uint64_t hi = b + 1 < LAT_BUCKETS ? lat_bucket_low(b + 1)
							  : lo;
			return lo + (hi - lo) / 2;
		}
	}
	return 0;
}

void lat_summarize(enum lat_stage s, struct lat_summary *out)
{
	static __thread uint64_t n[LAT_BUCKETS];
	uint64_t sum = 0, mx = 0, count = 0;
	unsigned used = atomic_load(&lat_used);

	if (used > LAT_SLOTS)
		used = LAT_SLOTS;
	memset(n, 0, sizeof(n));
	for (unsigned i = 0; i < used; i++) {
		struct lat_hist *h = &lat_slots[i];
		for (unsigned b = 0; b < LAT_BUCKETS; b++) {
			uint64_t v = atomic_load_explicit(
				&h->n[s][b], memory_order_relaxed);
			n[b] += v;
			count += v;
		}
		sum += atomic_load_explicit(&h->sum[s], memory_order_relaxed);
		uint64_t m = atomic_load_explicit(&h->max[s],
						  memory_order_relaxed);
		if (m > mx)
			mx = m;
	}
	memset(out, 0, sizeof(*out));
	out->count = count;
	if (!count)
		return;
	out->mean_ns = sum / count;
	out->p50_ns = lat_quantile(n, (count - 1) / 2);
	out->p99_ns = lat_quantile(n, (count - 1) * 99 / 100);
	out->p999_ns = lat_quantile(n, (count - 1) * 999 / 1000);
	out->max_ns = mx;
}

void lat_reset(void)
{
	for (unsigned i = 0; i < LAT_SLOTS; i++) {
		struct lat_hist *h = &lat_slots[i];
		for (unsigned s = 0; s < LAT_NSTAGES; s++) {
			for (unsigned b = 0; b < LAT_BUCKETS; b++)
				atomic_store_explicit(&h->n[s][b], 0,
						      memory_order_relaxed);
			atomic_store_explicit(&h->sum[s], 0,
					      memory_order_relaxed);
			atomic_store_explicit(&h->max[s], 0,
					      memory_order_relaxed);
		}
	}
}
