/*
 * Cluster coordination: cluster-unique region ids, this monitor's
 * membership record, the memory-server pool. With --zookeeper it is
 * ZooKeeper (coord_zk.c); without, a single-host stand-in (coord_none.c)
 * that allocates random ids. See doc/cluster.md for the znode layout.
 */
#ifndef FLUIDMEM_COORD_H
#define FLUIDMEM_COORD_H

#include <stdint.h>

#include "monitor.h"

struct region;

/* Connect and register; a clear error (not a hang) if unreachable. */
int coord_start(struct monitor *m);
void coord_stop(struct monitor *m);
/* Called once a second by the main loop: reconnect, refresh, follow the
 * server pool. Never blocks on an unreachable ZooKeeper. */
void coord_tick(struct monitor *m);

/*
 * A new region id no monitor sharing the pool can ever hand out again:
 * 0 with *id set; 1 when there is no cluster service (the caller uses 64
 * random bits); -errno with @err explaining (ZooKeeper unreachable).
 */
int coord_region_id(struct monitor *m, uint64_t *id, char *err,
		    size_t errlen);
/* The region is served here now / no longer (destroyed: its data is gone). */
void coord_region_up(struct monitor *m, struct region *r);
void coord_region_down(struct monitor *m, uint64_t id, int destroyed);

/* `ui cluster`: one line per monitor and memory server, then END; or an
 * ERROR line. Written with @emit(arg, line). */
void coord_cluster(struct monitor *m, void (*emit)(void *arg, const char *line),
		   void *arg);

#endif
