/*
 * The compressed cache (--compressed-cache=SIZE): evicted pages, LZ4-
 * compressed, in the monitor's own memory, in front of whatever backend
 * it uses. It is write-through: a page enters the cache only after the
 * backend behind it has stored the same bytes, so the cache never holds
 * the only copy. A restart, a crash or the cache being full loses
 * nothing; a fetch it cannot serve goes to the backend.
 *
 * Copies live in slots of a pool of SIZE bytes, one size class per 64
 * bytes of compressed length, carved in chunks and recycled through a
 * free list per class: a rewritten or deleted page's slot is free at
 * once. Each region has an index (4 bytes per page) to its pages' slots.
 * A copy carries its own slot offset, key and CRC32C; a slot that does not
 * name the page, or a copy that fails its checksum, is a miss, never data.
 * Writers hold the pool's lock to allocate, copy in and free; readers
 * share it while decompressing (a few microseconds, no I/O under it).
 * Compression runs outside the lock.
 */
#include "config.h"
#include "zcache.h"
#include "crc32c.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef HAVE_LZ4
#include <lz4.h>

#define ZC_SLOT 64	/* slot sizes are multiples of this */
#define ZC_UNIT 16	/* index entries count these */
#define ZC_BATCH 64	/* pages per call to the backend behind */
#define ZC_CHUNK (64 * 1024) /* carved for one size class at a time */
#define ZC_MAGIC 0x7au

/* At the start of every copy's slot. */
struct zc_hdr {
	uint64_t off;	    /* the slot's offset in the pool (a free slot
			       holds its free-list link here instead) */
	uint64_t region_id;
	uint64_t pgoff;
	uint32_t crc;	    /* CRC32C of the whole page */
	uint16_t clen;	    /* bytes that follow; == page size: stored raw */
	uint8_t server;	    /* the backend server the page was stored on */
	uint8_t magic;
};

/* Slots of one size: a free list, and the chunk being carved. */
struct zc_class {
	uint64_t free;	    /* offset + 1 of the first free slot, 0: none */
	uint64_t carve, carve_end;
};

struct backend {
	const struct backend_ops *ops; /* the backend behind the cache */
	struct backend *inner;
	uint32_t page_size;
	unsigned char *pool;
	uint64_t size;		/* pool bytes */
	uint64_t chunk;		/* carving step */
	unsigned nclass;
	struct zc_class *cls;
	pthread_rwlock_t lock;	/* writers: slots, classes, index entries */
	uint64_t bump;		/* pool bytes carved into chunks so far */
	uint64_t used;		/* bytes in live slots */
	_Atomic uint64_t hits, misses, stale, stores, stored_bytes, raw,
		crc_errors, full;
};

struct backend_region {
	struct backend_region *inner;
	uint64_t id;
	uint64_t npages;
	_Atomic uint32_t *idx; /* the copy's offset / ZC_UNIT + 1; 0: none */
};

struct backend_conn {
	struct backend *be;
	struct backend_conn *inner;
	char *cbuf;  /* compression output, LZ4_compressBound(page) */
	void *state; /* LZ4 compression state */
	struct page_key keys[ZC_BATCH];
	void *bufs[ZC_BATCH];
	int res[ZC_BATCH];
	unsigned idx[ZC_BATCH];
};

static struct backend_ops zcache_ops; /* the behind backend's, wrapped */

static unsigned slot_class(uint64_t clen)
{
	return (unsigned)((sizeof(struct zc_hdr) + clen + ZC_SLOT - 1) /
			  ZC_SLOT) - 1;
}

static uint64_t class_bytes(unsigned c)
{
	return (uint64_t)(c + 1) * ZC_SLOT;
}

/* ---- the pool (callers hold the write lock) ---- */

/* A slot of class @c: its offset, or UINT64_MAX when the pool is full. */
static uint64_t slot_alloc(struct backend *be, unsigned c)
{
	struct zc_class *k = &be->cls[c];
	uint64_t sz = class_bytes(c), off;

	if (k->free) {
		off = k->free - 1;
		memcpy(&k->free, be->pool + off, sizeof(k->free));
	} else {
		if (k->carve + sz > k->carve_end) {
			if (be->bump + be->chunk > be->size)
				return UINT64_MAX;
			k->carve = be->bump;
			k->carve_end = be->bump + be->chunk;
			be->bump += be->chunk;
		}
		off = k->carve;
		k->carve += sz;
	}
	be->used += sz;
	return off;
}

static void slot_free(struct backend *be, uint64_t off, unsigned c)
{
	struct zc_class *k = &be->cls[c];

	/* The link overwrites the header's offset: a reader that still
	 * had this slot's index entry sees a stranger's slot. */
	memcpy(be->pool + off, &k->free, sizeof(k->free));
	memset(be->pool + off + offsetof(struct zc_hdr, magic), 0,
	       sizeof(uint8_t));
	k->free = off + 1;
	be->used -= class_bytes(c);
}

/* The page's copy at index entry @u, if the slot really holds it. */
static int copy_header(struct backend *be, uint32_t u,
		       const struct page_key *k, struct zc_hdr *h)
{
	uint64_t off = (uint64_t)(u - 1) * ZC_UNIT;

	if (off + sizeof(*h) > be->size)
		return 0;
	memcpy(h, be->pool + off, sizeof(*h));
	return h->magic == ZC_MAGIC && h->off == off &&
	       h->region_id == k->region_id && h->pgoff == k->pgoff &&
	       h->clen > 0 && h->clen <= be->page_size &&
	       off + class_bytes(slot_class(h->clen)) <= be->size;
}

/* Drop the page's copy, if any; with @match_server only a copy stored
 * on k->server (a delete names the server it deletes from). */
static void forget_locked(struct backend *be, struct backend_region *br,
			  const struct page_key *k, int match_server)
{
	struct zc_hdr h;
	uint32_t u;

	if (k->pgoff >= br->npages)
		return;
	/* Load first: deletes of pages never cached (a blind region delete
	 * walks every offset) must not commit the lazily mapped index. */
	u = atomic_load(&br->idx[k->pgoff]);
	if (!u || !copy_header(be, u, k, &h))
		return;
	/* A delete of a copy left on a server the page has since moved
	 * from must not drop the copy of where it is now. */
	if (match_server && k->server != BACKEND_NO_SERVER &&
	    k->server != h.server)
		return;
	atomic_store(&br->idx[k->pgoff], 0);
	slot_free(be, h.off, slot_class(h.clen));
}

/* ---- one page ---- */

/* The page's copy into @buf: 0, or -ENOENT when the cache cannot serve it. */
static int zc_lookup(struct backend *be, struct backend_region *br,
		     const struct page_key *k, void *buf)
{
	struct zc_hdr h;
	int ok = 0;

	if (k->pgoff >= br->npages) {
		atomic_fetch_add_explicit(&be->misses, 1, memory_order_relaxed);
		return -ENOENT;
	}
	/* Slots change owner only under the write lock, and an entry is
	 * cleared before its slot is freed: the slot read here is the
	 * page's as long as the read lock is held. */
	pthread_rwlock_rdlock(&be->lock);
	uint32_t u = atomic_load(&br->idx[k->pgoff]);
	if (!u) {
		pthread_rwlock_unlock(&be->lock);
		atomic_fetch_add_explicit(&be->misses, 1, memory_order_relaxed);
		return -ENOENT;
	}
	if (copy_header(be, u, k, &h)) {
		const char *src = (const char *)be->pool + h.off + sizeof(h);
		if (h.clen == be->page_size) {
			memcpy(buf, src, be->page_size);
			ok = 1;
		} else {
			ok = LZ4_decompress_safe(src, buf, h.clen,
						 (int)be->page_size) ==
			     (int)be->page_size;
		}
	}
	pthread_rwlock_unlock(&be->lock);
	if (!ok) {
		/* Cannot happen while the index and slots agree. */
		atomic_fetch_add_explicit(&be->stale, 1, memory_order_relaxed);
		return -ENOENT;
	}
	if (crc32c(0, buf, be->page_size) != h.crc) {
		/* Cannot happen short of memory corruption: the backend
		 * behind has the page, so ask it instead. */
		atomic_fetch_add_explicit(&be->crc_errors, 1,
					  memory_order_relaxed);
		return -ENOENT;
	}
	atomic_fetch_add_explicit(&be->hits, 1, memory_order_relaxed);
	return 0;
}

/* Keep a copy of the page (already stored behind); when the pool is full
 * the page is simply not cached. */
static void zc_store(struct backend_conn *c, struct backend_region *br,
		     const struct page_key *k, const void *page)
{
	struct backend *be = c->be;
	uint32_t ps = be->page_size;
	int clen = LZ4_compress_fast_extState(c->state, page, c->cbuf, (int)ps,
					      LZ4_compressBound((int)ps), 1);
	const void *data = c->cbuf;
	struct zc_hdr h = {
		.region_id = k->region_id,
		.pgoff = k->pgoff,
		.crc = crc32c(0, page, ps),
		.server = k->server,
		.magic = ZC_MAGIC,
	};

	if (clen <= 0 || (uint32_t)clen >= ps) {
		clen = (int)ps; /* incompressible: kept as it is */
		data = page;
		atomic_fetch_add_explicit(&be->raw, 1, memory_order_relaxed);
	}
	h.clen = (uint16_t)clen;
	unsigned cl = slot_class((uint64_t)clen);

	pthread_rwlock_wrlock(&be->lock);
	forget_locked(be, br, k, 0);
	h.off = slot_alloc(be, cl);
	if (h.off != UINT64_MAX) {
		memcpy(be->pool + h.off, &h, sizeof(h));
		memcpy(be->pool + h.off + sizeof(h), data, (size_t)clen);
		atomic_store(&br->idx[k->pgoff],
			     (uint32_t)(h.off / ZC_UNIT + 1));
	}
	pthread_rwlock_unlock(&be->lock);
	if (h.off == UINT64_MAX) {
		atomic_fetch_add_explicit(&be->full, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&be->stores, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&be->stored_bytes, class_bytes(cl),
				  memory_order_relaxed);
}

/* Drop the copies of @n pages, one lock for all. */
static void zc_forget(struct backend *be, struct backend_region *br,
		      const struct page_key *keys, unsigned n, int match_server)
{
	pthread_rwlock_wrlock(&be->lock);
	for (unsigned i = 0; i < n; i++)
		forget_locked(be, br, &keys[i], match_server);
	pthread_rwlock_unlock(&be->lock);
}

/* ---- backend ops ---- */

static void zc_multi_get(struct backend_conn *c, struct backend_region *br,
			 const struct page_key *keys, void *const *bufs,
			 unsigned n, int *res)
{
	struct backend *be = c->be;

	for (unsigned done = 0; done < n;) {
		unsigned chunk = n - done < ZC_BATCH ? n - done : ZC_BATCH;
		unsigned m = 0;
		for (unsigned i = done; i < done + chunk; i++) {
			res[i] = zc_lookup(be, br, &keys[i], bufs[i]);
			if (res[i] == 0)
				continue;
			c->keys[m] = keys[i];
			c->bufs[m] = bufs[i];
			c->idx[m++] = i;
		}
		if (m) {
			be->ops->multi_get(c->inner, br->inner, c->keys,
					   c->bufs, m, c->res);
			for (unsigned j = 0; j < m; j++)
				res[c->idx[j]] = c->res[j];
		}
		done += chunk;
	}
}

static void zc_multi_put(struct backend_conn *c, struct backend_region *br,
			 const struct page_key *keys, const void *const *bufs,
			 unsigned n, int *res)
{
	struct backend *be = c->be;

	/* The old copy goes first: from here on the cache must not serve
	 * it, whatever the backend says about the new one. */
	zc_forget(be, br, keys, n, 0);
	be->ops->multi_put(c->inner, br->inner, keys, bufs, n, res);
	for (unsigned i = 0; i < n; i++)
		if (res[i] == 0 && keys[i].pgoff < br->npages)
			zc_store(c, br, &keys[i], bufs[i]);
}

static void zc_del(struct backend_conn *c, struct backend_region *br,
		   const struct page_key *keys, unsigned n)
{
	zc_forget(c->be, br, keys, n, 1);
	c->be->ops->del(c->inner, br->inner, keys, n);
}

static uint8_t zc_place(struct backend_conn *c, const struct page_key *key)
{
	return c->be->ops->place(c->inner, key);
}

static struct backend_conn *zc_conn_open(struct backend *be)
{
	struct backend_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->be = be;
	c->cbuf = malloc((size_t)LZ4_compressBound((int)be->page_size));
	c->state = malloc((size_t)LZ4_sizeofState());
	c->inner = c->cbuf && c->state ? be->ops->conn_open(be->inner) : NULL;
	if (!c->inner) {
		free(c->cbuf);
		free(c->state);
		free(c);
		return NULL;
	}
	return c;
}

static void zc_conn_close(struct backend_conn *c)
{
	if (!c)
		return;
	c->be->ops->conn_close(c->inner);
	free(c->cbuf);
	free(c->state);
	free(c);
}

static int zc_region_open(struct backend *be, uint64_t id, uint64_t npages,
			  int create, struct backend_region **out)
{
	struct backend_region *br = calloc(1, sizeof(*br));
	int ret;

	if (!br)
		return -ENOMEM;
	br->id = id;
	br->npages = npages;
	/* Large and mostly untouched: calloc maps it lazily. A reattached
	 * region starts with an empty index (the cache died with the
	 * previous monitor; the backend behind has every page). */
	br->idx = calloc(npages ? npages : 1, sizeof(*br->idx));
	if (!br->idx) {
		free(br);
		return -ENOMEM;
	}
	ret = be->ops->region_open(be->inner, id, npages, create, &br->inner);
	if (ret) {
		free(br->idx);
		free(br);
		return ret;
	}
	*out = br;
	return 0;
}

static void zc_region_close(struct backend *be, struct backend_region *br,
			    int destroy)
{
	if (!br)
		return;
	be->ops->region_close(be->inner, br->inner, destroy);
	/* Its copies' slots go back to the pool, a slice at a time so
	 * fetches of other regions are not held up long. */
	for (uint64_t pg = 0; pg < br->npages;) {
		pthread_rwlock_wrlock(&be->lock);
		for (uint64_t end = pg + 4096; pg < br->npages && pg < end; pg++) {
			struct page_key k = { .region_id = br->id, .pgoff = pg };
			if (atomic_load_explicit(&br->idx[pg],
						 memory_order_relaxed))
				forget_locked(be, br, &k, 0);
		}
		pthread_rwlock_unlock(&be->lock);
	}
	free(br->idx);
	free(br);
}

static void zc_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	uint64_t used, carved;

	pthread_rwlock_rdlock(&be->lock);
	used = be->used;
	carved = be->bump;
	pthread_rwlock_unlock(&be->lock);
	emit(arg, "zcache_bytes", "%" PRIu64, be->size);
	emit(arg, "zcache_used_bytes", "%" PRIu64, used);
	emit(arg, "zcache_carved_bytes", "%" PRIu64, carved);
	emit(arg, "zcache_hits", "%" PRIu64, atomic_load(&be->hits));
	emit(arg, "zcache_misses", "%" PRIu64, atomic_load(&be->misses));
	emit(arg, "zcache_stale", "%" PRIu64, atomic_load(&be->stale));
	emit(arg, "zcache_stores", "%" PRIu64, atomic_load(&be->stores));
	emit(arg, "zcache_stored_bytes", "%" PRIu64,
	     atomic_load(&be->stored_bytes));
	emit(arg, "zcache_full", "%" PRIu64, atomic_load(&be->full));
	emit(arg, "zcache_incompressible", "%" PRIu64, atomic_load(&be->raw));
	emit(arg, "zcache_crc_errors", "%" PRIu64,
	     atomic_load(&be->crc_errors));
	if (be->ops->stats)
		be->ops->stats(be->inner, emit, arg);
}

static void zc_tiers(struct backend *be,
		     void (*emit)(void *arg, const char *line), void *arg)
{
	be->ops->tiers(be->inner, emit, arg);
}

static int zc_set_servers(struct backend *be, const char *const *names,
			  unsigned n)
{
	return be->ops->set_servers(be->inner, names, n);
}

static void zc_close(struct backend *be)
{
	if (!be)
		return;
	be->ops->close(be->inner);
	munmap(be->pool, be->size);
	pthread_rwlock_destroy(&be->lock);
	free(be->cls);
	free(be);
}

int zcache_available(void)
{
	return 1;
}

int zcache_wrap(const struct backend_ops *inner_ops, struct backend *inner,
		uint32_t page_size, uint64_t bytes,
		const struct backend_ops **ops_out, struct backend **be_out,
		char *err, size_t errlen)
{
	struct backend *be;

	if (page_size > UINT16_MAX) {
		/* A raw copy's length must fit the header's 16 bits. */
		snprintf(err, errlen, "pages of %u bytes are too large for "
			 "the compressed cache (at most 32 KiB)", page_size);
		return -EINVAL;
	}
	if (bytes < ZCACHE_MIN_BYTES || bytes > ZCACHE_MAX_BYTES) {
		snprintf(err, errlen, "compressed cache size %" PRIu64
			 " out of range", bytes);
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->ops = inner_ops;
	be->inner = inner;
	be->page_size = page_size;
	be->size = bytes / ZC_SLOT * ZC_SLOT;
	be->nclass = slot_class(page_size) + 1;
	/* Chunks small enough that every class can have a few in a
	 * small pool, never smaller than the largest slot. */
	be->chunk = be->size / (2 * be->nclass) / ZC_SLOT * ZC_SLOT;
	if (be->chunk > ZC_CHUNK)
		be->chunk = ZC_CHUNK;
	if (be->chunk < class_bytes(be->nclass - 1))
		be->chunk = class_bytes(be->nclass - 1);
	be->cls = calloc(be->nclass, sizeof(*be->cls));
	/* Reserved, not committed: memory is used as slots are carved. */
	be->pool = be->cls ? mmap(NULL, be->size, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				  -1, 0)
			   : MAP_FAILED;
	if (be->pool == MAP_FAILED) {
		int ret = be->cls ? -errno : -ENOMEM;
		snprintf(err, errlen, "cannot map %" PRIu64 " bytes: %s",
			 be->size, strerror(-ret));
		free(be->cls);
		free(be);
		return ret;
	}
	pthread_rwlock_init(&be->lock, NULL);
	zcache_ops = (struct backend_ops){
		.name = inner_ops->name,
		.description = inner_ops->description,
		.drops_by_region = inner_ops->drops_by_region,
		.open = NULL, /* made by zcache_wrap, not opened by name */
		.close = zc_close,
		.region_open = zc_region_open,
		.region_close = zc_region_close,
		.place = zc_place,
		.conn_open = zc_conn_open,
		.conn_close = zc_conn_close,
		.multi_get = zc_multi_get,
		.multi_put = zc_multi_put,
		.del = zc_del,
		.stats = zc_stats,
		.tiers = inner_ops->tiers ? zc_tiers : NULL,
		.set_servers = inner_ops->set_servers ? zc_set_servers : NULL,
	};
	*ops_out = &zcache_ops;
	*be_out = be;
	return 0;
}

#else /* !HAVE_LZ4 */

int zcache_available(void)
{
	return 0;
}

int zcache_wrap(const struct backend_ops *inner_ops, struct backend *inner,
		uint32_t page_size, uint64_t bytes,
		const struct backend_ops **ops_out, struct backend **be_out,
		char *err, size_t errlen)
{
	(void)inner_ops, (void)inner, (void)page_size, (void)bytes;
	(void)ops_out, (void)be_out;
	snprintf(err, errlen, "this monitor was built without liblz4");
	return -ENOTSUP;
}

#endif
