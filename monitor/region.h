/*
 * Regions: one client memory range each, with its uffd, memfd, lease and
 * per-page state. The table hands out counted references so fault and
 * eviction threads never see a region freed under them.
 */
#ifndef FLUIDMEM_REGION_H
#define FLUIDMEM_REGION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "monitor.h"
#include "prefetch.h"
#include "proto.h"

/* A descriptor the main loop watches; tells what it belongs to. */
enum watch_type {
	WATCH_STOP,
	WATCH_TIMER,
	WATCH_REG_LISTEN,
	WATCH_REG_PENDING,
	WATCH_LEASE,
	WATCH_PIDFD,
	WATCH_CTL_LISTEN,
	WATCH_CTL_CONN,
};

struct watch {
	enum watch_type type;
	int fd;
	void *obj;
};

struct region_stats {
	_Atomic uint64_t faults;
	_Atomic uint64_t zero_pages;
	_Atomic uint64_t placed_pages;
	_Atomic uint64_t evictions;
	_Atomic uint64_t pages_lost;
	_Atomic uint64_t poisoned;
};

struct region {
	uint64_t id;
	char name[FM_NAME_MAX];
	pid_t pid;
	uid_t uid;
	int uffd;
	int memfd;
	uint64_t base;		/* client address */
	uint64_t size;
	uint64_t npages;
	uint64_t memfd_offset;
	uint64_t features;	/* what the client enabled on its uffd */
	struct backend_region *br;

	/* Page state bytes and, per page, the backend server holding its
	 * copy; both mapped from the state file. */
	uint8_t *pages;
	uint8_t *loc;
	void *state_map;
	size_t state_map_len;

	pthread_mutex_t lock;	/* page state transitions, hand */
	uint64_t hand;		/* clock hand */
	_Atomic uint64_t resident;
	struct region_stats st;
	struct pf_state pf;	/* fault runs, under lock */

	_Atomic int refs;
	_Atomic int dead;	/* unpublished: stop serving */
	int destroy;		/* on free: delete its data everywhere */
	int blind;		/* no page states: delete every page offset */
	uint32_t slot;
	uint32_t gen;
	time_t registered;

	/* Owned by the main loop. */
	struct watch lease;
	struct watch pidfd;
	struct region *reap_next;
};

struct region_table;

int region_table_create(struct monitor *m);
void region_table_destroy(struct monitor *m);

/* Key stored in a fault thread's epoll: slot and generation. */
static inline uint64_t region_key(const struct region *r)
{
	return ((uint64_t)r->gen << 32) | r->slot;
}

/* Counted reference by key, NULL if that region is gone. */
struct region *region_get(struct monitor *m, uint64_t key);
/* Next live region after slot *cursor (wraps); NULL when none. */
struct region *region_get_next(struct monitor *m, uint32_t *cursor);
void region_put(struct monitor *m, struct region *r);
unsigned region_count(struct monitor *m);

/*
 * Validate a registration and publish the region. The fds become the
 * region's on success (the caller closes them on failure). @err gets a
 * reason for the client.
 */
int region_attach(struct monitor *m, const struct fm_msg_register *req,
		  int uffd, int memfd, pid_t pid, uid_t uid,
		  struct region **out, char *err, size_t errlen);

/* Stop serving @r; destroy=1 also deletes its pages everywhere. */
void region_unpublish(struct monitor *m, struct region *r, int destroy);

/* Reap regions whose last reference is gone (background thread). */
void region_reap(struct monitor *m, struct backend_conn *conn);
int region_reap_pending(struct monitor *m);

/* Delete every page of a region another (dead) monitor served, in the
 * background: its page states are unknown here. */
int region_collect_remote(struct monitor *m, uint64_t id, uint64_t npages);

/* Regions left by a previous monitor: scan at start, collect later. */
int region_orphans_scan(struct monitor *m);
unsigned region_orphans_collect(struct monitor *m);

/* Call fn for every live region (holding a reference). */
void region_foreach(struct monitor *m,
		    void (*fn)(struct monitor *, struct region *, void *),
		    void *arg);

/* Page helpers. */
static inline uint64_t region_page_addr(const struct region *r,
					uint64_t pgoff, unsigned shift)
{
	return r->base + (pgoff << shift);
}

/* Punch [pgoff, pgoff+n) out of the memfd. */
int region_punch(struct monitor *m, struct region *r, uint64_t pgoff,
		 uint64_t n);

#endif
