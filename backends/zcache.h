/*
 * The compressed cache (--compressed-cache=SIZE): a write-through cache
 * of evicted pages in the monitor's own memory, in front of any backend.
 */
#ifndef FLUIDMEM_ZCACHE_H
#define FLUIDMEM_ZCACHE_H

#include <stdint.h>

#include "backend.h"

#define ZCACHE_MIN_BYTES (UINT64_C(1) << 20)
#define ZCACHE_MAX_BYTES (UINT64_C(32) << 30) /* 16-byte units in a u32 */

/* Is the compressed cache built into this monitor (liblz4)? */
int zcache_available(void);

/*
 * Put a cache of @bytes in front of @inner (opened with @inner_ops).
 * On success *ops_out and *be_out stand for both: the cache's close() closes
 * @inner too. On failure nothing changes and @inner stays open.
 */
int zcache_wrap(const struct backend_ops *inner_ops, struct backend *inner,
		uint32_t page_size, uint64_t bytes,
		const struct backend_ops **ops_out, struct backend **be_out,
		char *err, size_t errlen);

#endif
