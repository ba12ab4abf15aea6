/* Monitor counters: reset and print generated from STATS_COUNTERS. */
#include "config.h"
#include "stats.h"

#include <inttypes.h>

void stats_reset(struct stats *st)
{
#define X(name, desc) atomic_store(&st->name, 0);
	STATS_COUNTERS(X)
#undef X
}

void stats_print(const struct stats *st, stats_emit_fn emit, void *arg)
{
#define X(name, desc)                                                          \
	emit(arg, #name, "%" PRIu64,                                           \
	     atomic_load_explicit(&st->name, memory_order_relaxed));
	STATS_COUNTERS(X)
#undef X
}
