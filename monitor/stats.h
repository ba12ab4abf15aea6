/* Monitor counters: declared once, struct/reset/print generated. */
#ifndef FLUIDMEM_STATS_H
#define FLUIDMEM_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* X(name, description) - every one is documented in doc/protocol.md. */
#define STATS_COUNTERS(X)                                                      \
	X(faults, "page faults handled (missing + write-protect)")            \
	X(faults_wp, "write-protect faults (first write to a clean page)")     \
	X(faults_deferred, "faults on a busy page, served by its owner")      \
	X(zero_pages, "first touches served with a zero page")                \
	X(placed_pages, "evicted pages fetched and placed back")              \
	X(evictions, "pages evicted from the cache")                          \
	X(evict_writes, "evicted pages written to the backend")               \
	X(writes_avoided, "evictions of clean pages that needed no write")    \
	X(evict_aborts, "evictions undone because the backend failed")        \
	X(direct_reclaims, "evictions run by a fault thread (cache full)")    \
	X(install_retries, "installs retried because the mm was changing")    \
	X(pages_lost, "pages the backend no longer had")                      \
	X(checksum_errors, "pages that failed their checksum")                \
	X(poisoned, "accesses failed with SIGBUS (lost pages)")               \
	X(backend_get_errors, "backend read errors")                          \
	X(backend_put_errors, "backend write errors")                         \
	X(remote_deletes, "pages deleted from the backend")                   \
	X(discarded_pages, "pages the client discarded (REMOVE/UNMAP)")       \
	X(regions_registered, "successful registrations")                     \
	X(regions_reattached, "registrations resuming an existing region")    \
	X(regions_dropped, "regions released or lost with their client")      \
	X(registrations_rejected, "registration messages refused")            \
	X(ctl_errors, "control commands answered with ERROR")                 \
	X(ctl_denied, "privileged control commands refused")                  \
	X(busy_poll_hits, "faults a busy-polling fault thread caught")         \
	X(busy_poll_misses, "busy-poll spells that ended with no fault")       \
	X(busy_poll_spin_us, "microseconds fault threads spent busy-polling")  \
	X(prefetch_issued, "pages fetched ahead of a fault run")               \
	X(prefetch_hits, "prefetched pages the run went past (used)")          \
	X(prefetch_wasted, "prefetched pages evicted or left before use")

struct stats {
#define X(name, desc) _Atomic uint64_t name;
	STATS_COUNTERS(X)
#undef X
};

#define STAT_INC(st, name) atomic_fetch_add_explicit(&(st)->name, 1, \
						    memory_order_relaxed)
#define STAT_ADD(st, name, n) atomic_fetch_add_explicit(&(st)->name, (n), \
						       memory_order_relaxed)

typedef void (*stats_emit_fn)(void *arg, const char *name, const char *fmt,
			      ...) __attribute__((format(printf, 3, 4)));

void stats_reset(struct stats *st);
void stats_print(const struct stats *st, stats_emit_fn emit, void *arg);

#endif
