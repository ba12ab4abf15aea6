/*
 * Eviction. Victims are chosen by CLOCK over all regions; the reference
 * bit is set by the signals a userfaultfd monitor can see (a refault of
 * an evicted page, a first write to a clean page), so pages that proved
 * reuse get a second chance and one-touch pages leave first.
 *
 * A page leaves the cache race-free on a stock kernel (DESIGN.md):
 * write-protect it, copy it out and store it, punch it out of the memfd,
 * record it as evicted, then wake. A writer that raced the copy was
 * blocked on the write-protect fault; once woken it refaults as missing
 * and gets the stored bytes back.
 */
#include "config.h"
#include "evict.h"
#include "fault.h"
#include "lat.h"
#include "log.h"
#include "pagestate.h"
#include "region.h"
#include "uffd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SCAN_LIMIT 65536 /* pages looked at per region per round */
#define RESERVE_TRIES 200

struct evictor {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int kicked;
	int running;
	_Atomic uint64_t requested; /* `ui evict N` pages still to go */
	_Atomic uint32_t cursor;    /* region slot the clock is in */
	_Atomic uint64_t recent_key;
	_Atomic uint64_t recent_pgoff;
	struct evict_ctx ctx;
};

int evict_ctx_init(struct monitor *m, struct evict_ctx *ctx, unsigned max)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->max = max;
	ctx->conn = m->be_ops->conn_open(m->be);
	if (!ctx->conn)
		return -ENOMEM;
	if (posix_memalign((void **)&ctx->buf, m->page_size,
			   (size_t)max * m->page_size)) {
		ctx->buf = NULL;
		goto fail;
	}
	ctx->victims = calloc(max, sizeof(*ctx->victims));
	ctx->keys = calloc(max, sizeof(*ctx->keys));
	ctx->bufs = calloc(max, sizeof(*ctx->bufs));
	ctx->res = calloc(max, sizeof(*ctx->res));
	ctx->failed = calloc(max, sizeof(*ctx->failed));
	ctx->oldloc = calloc(max, sizeof(*ctx->oldloc));
	ctx->stale = calloc(max, sizeof(*ctx->stale));
	if (!ctx->victims || !ctx->keys || !ctx->bufs || !ctx->res ||
	    !ctx->failed || !ctx->oldloc || !ctx->stale)
		goto fail;
	return 0;
fail:
	evict_ctx_fini(m, ctx);
	return -ENOMEM;
}

void evict_ctx_fini(struct monitor *m, struct evict_ctx *ctx)
{
	if (ctx->conn)
		m->be_ops->conn_close(ctx->conn);
	free(ctx->buf);
	free(ctx->victims);
	free(ctx->keys);
	free(ctx->bufs);
	free(ctx->res);
	free(ctx->failed);
	free(ctx->oldloc);
	free(ctx->stale);
	memset(ctx, 0, sizeof(*ctx));
}

void evict_kick(struct monitor *m)
{
	struct evictor *ev = m->evictor;

	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	if (!ev->kicked) {
		ev->kicked = 1;
		pthread_cond_signal(&ev->cond);
	}
	pthread_mutex_unlock(&ev->lock);
}

void evict_note_install(struct monitor *m, struct region *r, uint64_t pgoff)
{
	if (!m->set.debug_victim_recent)
		return;
	atomic_store(&m->evictor->recent_pgoff, pgoff);
	atomic_store(&m->evictor->recent_key, region_key(r));
}

static uint64_t used_target(struct monitor *m)
{
	uint64_t cap = atomic_load(&m->cache.capacity);
	uint64_t room = atomic_load(&m->cache.headroom);

	return cap > room ? cap - room : 1;
}

int evict_reserve(struct monitor *m, struct region *r, struct evict_ctx *ctx)
{
	for (int tries = 0; tries < RESERVE_TRIES; tries++) {
		uint64_t cur = atomic_load(&m->cache.used);
		uint64_t cap = atomic_load(&m->cache.capacity);

		if (cur < cap) {
			if (!atomic_compare_exchange_weak(&m->cache.used, &cur,
							  cur + 1))
				continue;
			atomic_fetch_add(&r->resident, 1);
			/* Below the low watermark: refill headroom early. */
			uint64_t room = atomic_load(&m->cache.headroom);
			if (cur + 1 + room / 2 > cap)
				evict_kick(m);
			return 0;
		}
		if (atomic_load(&m->stopping))
			return -ESHUTDOWN;
		/* Cache full: reclaim directly, a few pages at a time. */
		unsigned n = evict_run(m, ctx, ctx->max < 16 ? ctx->max : 16);
		STAT_ADD(&m->stats, direct_reclaims, n);
		if (n == 0) {
			evict_kick(m);
			usleep(tries < 10 ? 20 : 200);
		}
	}
	return -EAGAIN;
}

void evict_unreserve(struct monitor *m, struct region *r, uint64_t n)
{
	atomic_fetch_sub(&r->resident, n);
	atomic_fetch_sub(&m->cache.used, n);
}

static int wp_range(struct monitor *m, struct region *r, uint64_t first,
		    uint64_t count, int protect)
{
	return uffd_wp(r->uffd, region_page_addr(r, first, m->page_shift),
		       count << m->page_shift, protect);
}

static void wake_range(struct monitor *m, struct region *r, uint64_t first,
		       uint64_t count)
{
	uffd_wake(r->uffd, region_page_addr(r, first, m->page_shift),
		  count << m->page_shift);
}

static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uint64_t x = v[i];
		unsigned j = i;
		while (j && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* Length of the run of consecutive offsets starting at v[i]. */
static unsigned run_len(const uint64_t *v, unsigned i, unsigned n)
{
	unsigned j = i + 1;

	while (j < n && v[j] == v[j - 1] + 1)
		j++;
	return j - i;
}

/*
 * Put pages back to resident after a failed eviction. They become
 * writable again, so they count as dirty (clean pages must stay
 * write-protected).
 */
static void evict_abort(struct monitor *m, struct region *r,
			const uint64_t *v, unsigned n)
{
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n; i++)
		r->pages[v[i]] = ps_set_state(
			(r->pages[v[i]] | PS_DIRTY) & (uint8_t)~PS_WAITERS,
			PS_RESIDENT);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < n; i += run_len(v, i, n))
		wp_range(m, r, v[i], run_len(v, i, n), 0);
	STAT_ADD(&m->stats, evict_aborts, n);
}

/* Evict the pages in ctx->victims[0..n) of @r, already marked EVICTING. */
static unsigned evict_pages(struct monitor *m, struct evict_ctx *ctx,
			    struct region *r, unsigned n)
{
	uint64_t *v = ctx->victims;
	size_t ps = m->page_size;
	unsigned nput = 0, kept = 0, clean = 0, nfail = 0;
	int ret;

	sort_u64(v, n);
	/* 1. Write-protect: from here on a writer blocks until the wake. */
	if (!m->set.debug_skip_wp) {
		for (unsigned i = 0; i < n; i += run_len(v, i, n)) {
			ret = wp_range(m, r, v[i], run_len(v, i, n), 1);
			if (ret) {
				log_debug("evict: write-protect: %s",
					  strerror(-ret));
				evict_abort(m, r, v, n);
				return 0;
			}
		}
	}
	/* 2. Copy out the pages whose backend copy is missing or stale. */
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n; i++) {
		uint8_t b = r->pages[v[i]];
		if ((b & PS_DIRTY) || m->set.debug_skip_wp) {
			struct page_key *k = &ctx->keys[nput];
			k->region_id = r->id;
			k->pgoff = v[i];
			k->server = m->be_ops->place(ctx->conn, k);
			/* Where the copy goes is recorded before it is
			 * written: a monitor that dies mid-put still knows
			 * where to fetch or delete it. */
			ctx->oldloc[nput] = (b & PS_STORED) ? r->loc[v[i]]
							    : BACKEND_NO_SERVER;
			r->loc[v[i]] = k->server;
			r->pages[v[i]] = b | PS_STORED;
			ctx->bufs[nput] = ctx->buf + (size_t)nput * ps;
			nput++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	/* Consecutive pages are consecutive in ctx->buf too: one pread
	 * per run, not per page. */
	for (unsigned i = 0, k; i < nput; i += k) {
		off_t off = (off_t)(r->memfd_offset +
				    (ctx->keys[i].pgoff << m->page_shift));
		for (k = 1; i + k < nput &&
			    ctx->keys[i + k].pgoff == ctx->keys[i].pgoff + k;
		     k++)
			;
		int rc = pread(r->memfd, (void *)ctx->bufs[i], k * ps, off) ==
					  (ssize_t)(k * ps)
				  ? 0
				  : -EIO;
		for (unsigned j = 0; j < k; j++)
			ctx->res[i + j] = rc;
	}
	/* 3. Store them; pages that could not be stored stay resident. */
	unsigned k = 0, nstale = 0;
	for (unsigned i = 0; i < nput; i++) {
		if (ctx->res[i] == 0) {
			ctx->keys[k] = ctx->keys[i];
			ctx->bufs[k] = ctx->bufs[i];
			ctx->oldloc[k] = ctx->oldloc[i];
			k++;
		} else {
			ctx->failed[nfail++] = ctx->keys[i].pgoff;
		}
	}
	if (k) {
		uint64_t t0 = lat_now();
		m->be_ops->multi_put(ctx->conn, r->br, ctx->keys, ctx->bufs, k,
				     ctx->res);
		lat_since(LAT_backend_write, t0);
	}
	for (unsigned i = 0; i < k; i++) {
		uint8_t old = ctx->oldloc[i];
		if (ctx->res[i]) {
			STAT_INC(&m->stats, backend_put_errors);
			log_debug("evict: backend put: %s",
				  strerror(-ctx->res[i]));
			ctx->failed[nfail++] = ctx->keys[i].pgoff;
			/* The old copy, if any, is still the one we know. */
			if (old != BACKEND_NO_SERVER)
				r->loc[ctx->keys[i].pgoff] = old;
		} else if (old != BACKEND_NO_SERVER &&
			   old != ctx->keys[i].server) {
			/* Written elsewhere than before: drop the old copy. */
			ctx->stale[nstale] = ctx->keys[i];
			ctx->stale[nstale++].server = old;
		}
	}
	if (nstale) {
		m->be_ops->del(ctx->conn, r->br, ctx->stale, nstale);
		STAT_ADD(&m->stats, remote_deletes, nstale);
	}
	if (nfail) {
		sort_u64(ctx->failed, nfail);
		evict_abort(m, r, ctx->failed, nfail);
		/* Keep only the victims that did not fail (both sorted). */
		for (unsigned i = 0, f = 0; i < n; i++) {
			while (f < nfail && ctx->failed[f] < v[i])
				f++;
			if (f < nfail && ctx->failed[f] == v[i])
				continue;
			v[kept++] = v[i];
		}
		n = kept;
	}
	/* 4. Punch them out of the memfd: the client's next access misses. */
	for (unsigned i = 0; i < n; i += run_len(v, i, n)) {
		ret = region_punch(m, r, v[i], run_len(v, i, n));
		if (ret)
			log_warn("evict: punch region %016" PRIx64 ": %s",
				 r->id, strerror(-ret));
	}
	/* 5. Record where each page now lives, then wake blocked writers. */
	unsigned ndiscard = 0;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n; i++) {
		uint8_t b = r->pages[v[i]];
		int stored = (b & (PS_DIRTY | PS_STORED)) != 0;
		if (!(b & PS_DIRTY))
			clean++;
		if (b & PS_DISCARD) {
			/* A stale copy, if any, goes with the region. */
			r->pages[v[i]] = PS_NEW | (stored ? PS_STORED : 0);
			ndiscard++;
		} else if (stored) {
			r->pages[v[i]] = PS_EVICTED | PS_STORED;
		} else {
			r->pages[v[i]] = PS_NEW; /* clean zero page */
		}
	}
	pthread_mutex_unlock(&r->lock);
	evict_unreserve(m, r, n);
	for (unsigned i = 0; i < n; i += run_len(v, i, n))
		wake_range(m, r, v[i], run_len(v, i, n));
	STAT_ADD(&m->stats, evictions, n);
	STAT_ADD(&m->stats, evict_writes, n - clean);
	STAT_ADD(&m->stats, writes_avoided, clean);
	STAT_ADD(&m->stats, discarded_pages, ndiscard);
	atomic_fetch_add_explicit(&r->st.evictions, n, memory_order_relaxed);
	return n;
}

/* Adversarial policy for tests: the page installed last goes first. */
static unsigned pick_recent(struct monitor *m, struct region *r,
			    uint64_t *v)
{
	uint64_t pg = atomic_load(&m->evictor->recent_pgoff);

	if (atomic_load(&m->evictor->recent_key) != region_key(r) ||
	    pg >= r->npages)
		return 0;
	if (ps_state(r->pages[pg]) != PS_RESIDENT)
		return 0;
	r->pages[pg] = ps_set_state(r->pages[pg], PS_EVICTING);
	v[0] = pg;
	return 1;
}

/* CLOCK: skip (and clear) referenced pages, take unreferenced ones. */
static unsigned pick_clock(struct region *r, uint64_t *v, unsigned max)
{
	uint64_t limit = r->npages < SCAN_LIMIT ? r->npages : SCAN_LIMIT;
	uint64_t h = r->hand;
	unsigned n = 0;

	if (r->hand >= r->npages)
		h = 0;
	for (uint64_t scanned = 0; scanned < limit && n < max; scanned++) {
		uint8_t b = r->pages[h];
		if (ps_state(b) == PS_RESIDENT) {
			if (b & PS_REF) {
				r->pages[h] = b & (uint8_t)~PS_REF;
			} else {
				r->pages[h] = ps_set_state(b, PS_EVICTING);
				v[n++] = h;
			}
		}
		if (++h == r->npages) {
			h = 0;
			if (n)
				break; /* keep runs contiguous */
		}
	}
	r->hand = h;
	return n;
}

unsigned evict_run(struct monitor *m, struct evict_ctx *ctx, unsigned max)
{
	struct evictor *ev = m->evictor;
	unsigned nregions = region_count(m);

	if (max > ctx->max)
		max = ctx->max;
	/* Two passes over every region: the first may only clear bits. */
	for (unsigned pass = 0; pass < 2 * nregions + 2; pass++) {
		uint32_t cur = atomic_load(&ev->cursor);
		struct region *r = region_get_next(m, &cur);
		unsigned n = 0;

		if (!r)
			return 0;
		if (!atomic_load(&r->dead) && atomic_load(&r->resident)) {
			pthread_mutex_lock(&r->lock);
			if (m->set.debug_victim_recent)
				n = pick_recent(m, r, ctx->victims);
			if (!n)
				n = pick_clock(r, ctx->victims, max);
			int wrapped = r->hand == 0 || n == 0;
			pthread_mutex_unlock(&r->lock);
			if (wrapped)
				atomic_store(&ev->cursor, cur);
			else
				atomic_store(&ev->cursor,
					     cur ? cur - 1
						 : m->set.max_regions - 1);
		} else {
			atomic_store(&ev->cursor, cur);
		}
		if (n) {
			uint64_t t0 = lat_now();
			n = evict_pages(m, ctx, r, n);
			lat_since(LAT_evict, t0);
			region_put(m, r);
			return n;
		}
		region_put(m, r);
	}
	return 0;
}

void evict_request(struct monitor *m, uint64_t npages)
{
	atomic_fetch_add(&m->evictor->requested, npages);
	evict_kick(m);
}

void evict_resize(struct monitor *m, uint64_t capacity)
{
	uint64_t room = m->set.headroom_set ? m->set.headroom : capacity / 32;

	if (room > 256 && !m->set.headroom_set)
		room = 256;
	if (room >= capacity)
		room = capacity - 1;
	atomic_store(&m->cache.headroom, room);
	atomic_store(&m->cache.capacity, capacity);
	evict_kick(m);
}

static int evictor_has_work(struct monitor *m)
{
	uint64_t used = atomic_load(&m->cache.used);
	uint64_t cap = atomic_load(&m->cache.capacity);
	uint64_t room = atomic_load(&m->cache.headroom);

	return used + room / 2 > cap || atomic_load(&m->evictor->requested) ||
	       region_reap_pending(m);
}

static void *evictor_main(void *arg)
{
	struct monitor *m = arg;
	struct evictor *ev = m->evictor;

	lat_thread_register();
	for (;;) {
		pthread_mutex_lock(&ev->lock);
		while (!ev->kicked && ev->running) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&ev->cond, &ev->lock, &ts);
			if (evictor_has_work(m))
				break;
		}
		ev->kicked = 0;
		int running = ev->running;
		pthread_mutex_unlock(&ev->lock);
		if (!running)
			break;
		region_reap(m, ev->ctx.conn);
		/* Evict down to the target, then any explicit request. */
		while (!atomic_load(&m->stopping)) {
			uint64_t req = atomic_load(&ev->requested);
			if (atomic_load(&m->cache.used) <= used_target(m) &&
			    !req)
				break;
			unsigned n = evict_run(m, &ev->ctx, m->set.evict_batch);
			if (req) {
				uint64_t dec = n < req ? n : req;
				atomic_fetch_sub(&ev->requested, dec);
			}
			if (n == 0) {
				/* Nothing evictable: drop what was asked. */
				atomic_store(&ev->requested, 0);
				break;
			}
			region_reap(m, ev->ctx.conn);
		}
	}
	region_reap(m, ev->ctx.conn);
	return NULL;
}

int evict_start(struct monitor *m)
{
	struct evictor *ev = calloc(1, sizeof(*ev));
	int ret;

	if (!ev)
		return -ENOMEM;
	pthread_mutex_init(&ev->lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	ev->running = 1;
	ret = evict_ctx_init(m, &ev->ctx, m->set.evict_batch);
	if (ret) {
		free(ev);
		return ret;
	}
	m->evictor = ev;
	evict_resize(m, m->set.cache_size);
	ret = -pthread_create(&ev->thread, NULL, evictor_main, m);
	if (ret == 0)
		pthread_setname_np(ev->thread, "fm-evict");
	if (ret) {
		evict_ctx_fini(m, &ev->ctx);
		m->evictor = NULL;
		free(ev);
	}
	return ret;
}

void evict_stop(struct monitor *m)
{
	struct evictor *ev = m->evictor;

	if (!ev)
		return;
	pthread_mutex_lock(&ev->lock);
	ev->running = 0;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	pthread_join(ev->thread, NULL);
	evict_ctx_fini(m, &ev->ctx);
	m->evictor = NULL;
	free(ev);
}
