/*
 * Where evicted pages go. A backend is a const ops table; each thread
 * that talks to it opens its own connection, so no call shares state
 * across threads unless the backend itself locks.
 */
#ifndef FLUIDMEM_BACKEND_H
#define FLUIDMEM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

/*
 * A page's identity in every backend: never the client's address. @server
 * says which of the backend's servers holds it; the monitor records it per
 * page, so a page is always fetched from where it was written, whatever
 * servers join or leave later.
 */
struct page_key {
	uint64_t region_id;
	uint64_t pgoff;
	uint8_t server;
};

#define BACKEND_MAX_SERVERS 255
#define BACKEND_NO_SERVER 255

struct backend;
struct backend_conn;
struct backend_region;

struct backend_params {
	uint32_t page_size;
	const char *locator;   /* backend-specific, may be NULL */
	const char *local_dir; /* where file-based backends keep data */
	const char *state_dir; /* the monitor's run dir, for server tables */
};

/*
 * Per-page results: 0, -ENOENT (backend does not have the page),
 * -EBADMSG (stored copy failed its checksum), other -errno (I/O error).
 */
struct backend_ops {
	const char *name;
	const char *description;
	/* Regions are deleted as a whole by region_close(destroy=1); no
	 * per-page deletes are needed when a region is dropped. */
	int drops_by_region;
	int (*open)(const struct backend_params *p, struct backend **out,
		    char *err, size_t errlen);
	/* Optional: is @locator well formed? Called while parsing options,
	 * so a bad one is refused before anything starts (no connecting). */
	int (*check)(const char *locator, char *err, size_t errlen);
	void (*close)(struct backend *be);
	/* create=0: reattach to data a previous monitor left behind. */
	int (*region_open)(struct backend *be, uint64_t region_id,
			   uint64_t npages, int create,
			   struct backend_region **out);
	void (*region_close)(struct backend *be, struct backend_region *br,
			     int destroy);
	/* Which server a page should be written to now. */
	uint8_t (*place)(struct backend_conn *c, const struct page_key *key);
	struct backend_conn *(*conn_open)(struct backend *be);
	void (*conn_close)(struct backend_conn *c);
	void (*multi_get)(struct backend_conn *c, struct backend_region *br,
			  const struct page_key *keys, void *const *bufs,
			  unsigned n, int *res);
	void (*multi_put)(struct backend_conn *c, struct backend_region *br,
			  const struct page_key *keys,
			  const void *const *bufs, unsigned n, int *res);
	/* Best effort; deleting a missing page is not an error. A key whose
	 * server is BACKEND_NO_SERVER is deleted from every live server. */
	void (*del)(struct backend_conn *c, struct backend_region *br,
		    const struct page_key *keys, unsigned n);
	void (*stats)(struct backend *be, stats_emit_fn emit, void *arg);
	/* Optional: one "TIER ..." line per tier of a chain (`ui tiers`). */
	void (*tiers)(struct backend *be,
		      void (*emit)(void *arg, const char *line), void *arg);
	/* Optional: the server pool is now @names (from ZooKeeper). New
	 * servers join; servers that left are retired and their pages are
	 * lost. Servers given on the command line always stay. */
	int (*set_servers)(struct backend *be, const char *const *names,
			   unsigned n);
};

const struct backend_ops *backend_find(const char *name);
/* "local, memcached" - for --help and error messages. */
const char *backend_names(void);

#endif
