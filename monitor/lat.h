/*
 * Per-stage latency histograms. Each thread that records takes its own
 * preallocated slot once (lat_thread_register), so recording is a couple
 * of uncontended relaxed adds: no locks, no allocation. Readers sum the
 * slots. Buckets are powers of two of nanoseconds split in 4 sub-buckets
 * (each ~19% wide), so a percentile is exact to that resolution.
 */
#ifndef FLUIDMEM_LAT_H
#define FLUIDMEM_LAT_H

#include <stdint.h>
#include <time.h>

/* X(name, description) - documented in doc/protocol.md. */
#define LAT_STAGES(X)                                                          \
	X(fault, "whole fault: message read to resolved, prefetch included")  \
	X(zeropage, "UFFDIO_ZEROPAGE ioctl")                                   \
	X(copy, "UFFDIO_COPY ioctl (fetched, zero or prefetched page)")       \
	X(backend_read, "backend multi_get (fault fetch or prefetch)")         \
	X(backend_write, "backend multi_put of one eviction round")           \
	X(evict, "one eviction round: WP, copy out, store, punch, wake")

enum lat_stage {
#define X(name, desc) LAT_##name,
	LAT_STAGES(X)
#undef X
	LAT_NSTAGES
};

static inline uint64_t lat_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Give the calling thread a histogram slot of its own (at start). */
void lat_thread_register(void);
void lat_record(enum lat_stage s, uint64_t ns);
static inline void lat_since(enum lat_stage s, uint64_t t0)
{
	lat_record(s, lat_now() - t0);
}

/* Stage by name: its index, or -1. */
int lat_stage_find(const char *name);
const char *lat_stage_name(enum lat_stage s);

struct lat_summary {
	uint64_t count;
	uint64_t mean_ns, p50_ns, p99_ns, p999_ns, max_ns;
};
void lat_summarize(enum lat_stage s, struct lat_summary *out);
void lat_reset(void);

#endif
