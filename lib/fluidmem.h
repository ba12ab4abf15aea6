/*
 * libfluidmem: elastic memory regions served by the fluidmem monitor.
 *
 * A region is ordinary memory to its user. Behind it, the monitor keeps a
 * bounded number of its pages resident and moves the rest to a backend
 * (memcached, a local file, ...) and back on access, through userfaultfd.
 *
 * The connection to the monitor is the region's lease: it stays open for
 * the region's lifetime. If the monitor restarts, the library reconnects
 * and re-registers the region; accesses to non-resident pages wait until
 * a monitor serves them again.
 */
#ifndef FLUIDMEM_H
#define FLUIDMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct fm_region;

struct fm_region_opts {
	/* Monitor registration socket; NULL: $FLUIDMEM_SOCKET, else
	 * /run/fluidmem/monitor.sock. */
	const char *socket_path;
	/* Shown by `ui listpids`; NULL: "pid<PID>". At most 63 bytes. */
	const char *name;
	/* How long create/adopt waits for the monitor; 0: 5000 ms. */
	int connect_timeout_ms;
};

/*
 * Create a region of @size bytes (rounded up to the page size), backed by
 * a memfd that this library maps. Returns 0 or a negative errno; on
 * failure fm_last_error() says why.
 */
int fm_region_create(size_t size, const struct fm_region_opts *opts,
		     struct fm_region **out);

/*
 * Register memory the caller already mapped MAP_SHARED from @memfd at
 * @memfd_offset (how QEMU's memory-backend-elastic uses it). Nothing may
 * have touched the range yet. The caller keeps ownership of the mapping
 * and of @memfd; the library keeps its own duplicate of @memfd.
 */
int fm_region_adopt(void *addr, size_t size, int memfd, uint64_t memfd_offset,
		    const struct fm_region_opts *opts, struct fm_region **out);

void *fm_region_addr(const struct fm_region *r);
size_t fm_region_size(const struct fm_region *r);
/* Monitor-assigned id, stable across monitor restarts. */
uint64_t fm_region_id(const struct fm_region *r);
/* 1 while the lease to a monitor is up, 0 while reconnecting. */
int fm_region_connected(const struct fm_region *r);

/*
 * Release the region in the monitor (its backend pages are deleted) and
 * free it. The memory must not be accessed any more. Returns 0, or a
 * negative errno if the monitor could not be told (it then collects the
 * region itself); the region is freed either way.
 */
int fm_region_destroy(struct fm_region *r);

/* Human-readable reason for the calling thread's last failure. */
const char *fm_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
