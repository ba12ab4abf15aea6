/* The monitor's context: everything its threads share, in one place. */
#ifndef FLUIDMEM_MONITOR_H
#define FLUIDMEM_MONITOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "backend.h"
#include "settings.h"
#include "stats.h"

struct region_table;
struct fault_pool;
struct evictor;
struct reg_state;
struct ctl_state;
struct coord;

/* Global page budget shared by every region. */
struct cache {
	_Atomic uint64_t used;	   /* pages resident or being installed */
	_Atomic uint64_t capacity; /* --cache_size, changed by resize */
	_Atomic uint64_t headroom; /* background eviction target */
};

struct monitor {
	struct settings set;
	uint32_t page_size;
	unsigned page_shift;
	const struct backend_ops *be_ops;
	struct backend *be;
	struct region_table *regions;
	struct fault_pool *faults;
	struct evictor *evictor;
	struct cache cache;
	struct stats stats;
	_Atomic uint64_t last_fault_time; /* unix seconds */
	_Atomic uint64_t fault_rate;	  /* faults/s, sampled each second */
	_Atomic int stopping;
	int loop_epfd;	/* the main loop's epoll: control plane */
	struct reg_state *reg;
	struct ctl_state *ctl;
	struct coord *coord;	/* cluster coordination, NULL without it */
	time_t started;
};

#endif
