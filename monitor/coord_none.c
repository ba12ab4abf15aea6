/* Coordination without ZooKeeper: one host, random 64-bit region ids. */
#include "config.h"
#include "coord.h"
#include "log.h"

#include <errno.h>

int coord_start(struct monitor *m)
{
	if (m->set.zookeeper[0]) {
		log_err("--zookeeper: this monitor was built without ZooKeeper "
			"support (configure --enable-zookeeper)");
		return -ENOTSUP;
	}
	return 0;
}

void coord_stop(struct monitor *m)
{
}

void coord_tick(struct monitor *m)
{
}

int coord_region_id(struct monitor *m, uint64_t *id, char *err,
		    size_t errlen)
{
	return 1; /* the caller picks a random id */
}

void coord_region_up(struct monitor *m, struct region *r)
{
}

void coord_region_down(struct monitor *m, uint64_t id, int destroyed)
{
}

void coord_cluster(struct monitor *m, void (*emit)(void *arg, const char *line),
		   void *arg)
{
	emit(arg, "ERROR this monitor runs without --zookeeper");
}
