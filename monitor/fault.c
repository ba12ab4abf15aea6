/*
 * Fault handler threads. Each reads fault messages from whichever uffd
 * is ready and resolves them: first touch -> zero page, evicted page ->
 * fetch and copy, lost page -> poison (SIGBUS), write to a clean page ->
 * un-protect. A page some other thread is working on is left alone: that
 * thread's ioctl (copy, un-protect or the evictor's wake) wakes every
 * waiter on the page, and a woken waiter retries its access.
 */
#include "config.h"
#include "fault.h"
#include "evict.h"
#include "lat.h"
#include "log.h"
#include "pagestate.h"
#include "prefetch.h"
#include "region.h"
#include "uffd.h"
#include "uffd_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define STOP_KEY UINT64_MAX
#define MSGS_PER_READ 16
#define LOST_LOG_LIMIT 10 /* per region; the rest are only counted */

/* Prefetch windows are tracked in 64-bit masks. */
_Static_assert(FM_PREFETCH_MAX <= 64, "prefetch window masks are 64 bits");

struct fault_thread {
	struct monitor *m;
	pthread_t thread;
	struct evict_ctx ectx; /* direct reclaim; its conn fetches too */
	uint8_t *page;	       /* fetch buffer */
	const uint8_t *zero_page_ptr;
	/* Prefetch scratch: key 0 is the fault's page, then the window. */
	struct page_key *pf_keys;
	void **pf_bufs;
	int *pf_res;
	uint64_t *pf_pg;
	uint8_t *pf_before;
	uint8_t *pf_buf;	/* --prefetch pages */
};

struct fault_pool {
	int epfd;
	int stop_efd;
	unsigned n;
	uint8_t *zero_page;
	struct fault_thread *threads;
	_Atomic int spinning;	/* one thread busy-polls at a time */
};

static void lost_log(struct monitor *m, struct region *r, uint64_t pg,
		     int err)
{
	uint64_t n = atomic_fetch_add(&r->st.poisoned, 1);

	if (n < LOST_LOG_LIMIT)
		log_warn("region %016" PRIx64 " (%s) page %" PRIu64
			 ": %s; the access gets SIGBUS%s",
			 r->id, r->name, pg,
			 err == -ENOENT	   ? "backend lost the page"
			 : err == -EBADMSG ? "stored copy failed its checksum"
					   : strerror(-err),
			 n + 1 == LOST_LOG_LIMIT ? " (further losses only "
						   "counted)"
						 : "");
}

/* An install that did not happen: restore the page and let it refault. */
static void install_revert(struct monitor *m, struct region *r, uint64_t pg,
			   uint8_t before, int reserved)
{
	pthread_mutex_lock(&r->lock);
	uint8_t b = r->pages[pg];
	if (b & PS_DISCARD)
		r->pages[pg] = PS_NEW | (before & PS_STORED);
	else
		r->pages[pg] = before & (uint8_t)~PS_WAITERS;
	pthread_mutex_unlock(&r->lock);
	/* Wakes this fault and any deferred one: they refault. */
	if (reserved)
		evict_unreserve(m, r, 1);
	uffd_wake(r->uffd, region_page_addr(r, pg, m->page_shift),
		  m->page_size);
}

/* Fetch one page, retrying briefly on transient backend errors. */
static int fetch_page(struct fault_thread *ft, struct region *r, uint64_t pg)
{
	struct monitor *m = ft->m;
	struct page_key key = { .region_id = r->id, .pgoff = pg,
				.server = r->loc[pg] };
	void *bufs[1] = { ft->page };
	int res = -EIO;

	for (int attempt = 0; attempt < 3; attempt++) {
		uint64_t t0 = lat_now();
		m->be_ops->multi_get(ft->ectx.conn, r->br, &key, bufs, 1, &res);
		lat_since(LAT_backend_read, t0);
		if (res == 0 || res == -ENOENT || res == -EBADMSG)
			return res;
		STAT_INC(&m->stats, backend_get_errors);
		usleep(attempt == 0 ? 1000 : 10000);
	}
	return res;
}

/*
 * Cache slots for a prefetch window, without reclaiming: at most half of
 * the free slots the evictor keeps (the headroom), so read-ahead never
 * pushes out pages faults need.
 */
static uint32_t fault_pf_reserve(struct monitor *m, struct region *r,
				 uint32_t want)
{
	for (;;) {
		uint64_t cur = atomic_load(&m->cache.used);
		uint64_t cap = atomic_load(&m->cache.capacity);
		uint64_t room = atomic_load(&m->cache.headroom);
		uint64_t free = cap > cur ? cap - cur : 0;
		uint64_t allow = (free < room ? free : room) / 2;
		uint32_t n = want < allow ? want : (uint32_t)allow;

		if (!n)
			return 0;
		if (!atomic_compare_exchange_weak(&m->cache.used, &cur,
						  cur + n))
			continue;
		atomic_fetch_add(&r->resident, n);
		if (cur + n + room / 2 > cap)
			evict_kick(m);
		return n;
	}
}

/*
 * Claim the evicted pages of @plan's window like a fault would (state
 * INSTALLING, a cache slot each) and fill the keys after key 0. Returns
 * how many were claimed.
 */
static unsigned fault_pf_claim(struct fault_thread *ft, struct region *r,
			       struct pf_plan *plan)
{
	struct monitor *m = ft->m;
	uint32_t slots = fault_pf_reserve(m, r, plan->n);
	uint64_t mask = 0;
	unsigned n = 0;
	uint32_t i;

	if (!slots)
		return 0;
	pthread_mutex_lock(&r->lock);
	for (i = 0; i < plan->n && n < slots; i++) {
		uint64_t pg = plan->first +
			      (uint64_t)((int64_t)i * plan->stride);
		uint8_t b = r->pages[pg];
		if (ps_state(b) != PS_EVICTED)
			continue;
		r->pages[pg] = ps_set_state(b & (uint8_t)~PS_WAITERS,
					    PS_INSTALLING);
		ft->pf_pg[n] = pg;
		ft->pf_before[n] = b;
		ft->pf_keys[n + 1] = (struct page_key){
			.region_id = r->id, .pgoff = pg, .server = r->loc[pg] };
		ft->pf_bufs[n + 1] = ft->pf_buf + (size_t)n * m->page_size;
		mask |= UINT64_C(1) << i;
		n++;
	}
	plan->n = i;
	prefetch_record(plan, mask);
	pthread_mutex_unlock(&r->lock);
	if (slots > n)
		evict_unreserve(m, r, slots - n);
	return n;
}

/*
 * Prefetched pages [a, b) are in place (@dirty: contents unknown): one
 * lock round for all of them (at most FM_PREFETCH_MAX, so masks fit).
 */
static void fault_pf_installed(struct fault_thread *ft, struct region *r,
			       unsigned a, unsigned b, int dirty)
{
	struct monitor *m = ft->m;
	uint64_t waiters = 0, discards = 0;
	unsigned placed = 0;

	pthread_mutex_lock(&r->lock);
	for (unsigned k = a; k < b; k++) {
		uint64_t pg = ft->pf_pg[k];
		uint8_t stored = ft->pf_before[k] & PS_STORED;
		uint8_t now = r->pages[pg];
		if (now & PS_WAITERS)
			waiters |= UINT64_C(1) << k;
		if (now & PS_DISCARD) {
			discards |= UINT64_C(1) << k;
			r->pages[pg] = PS_NEW | stored;
		} else {
			r->pages[pg] = PS_RESIDENT | stored |
				       (dirty ? PS_DIRTY : 0);
			placed++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	for (unsigned k = a; k < b; k++) {
		uint64_t pg = ft->pf_pg[k];
		if (waiters & (UINT64_C(1) << k))
			uffd_wake(r->uffd,
				  region_page_addr(r, pg, m->page_shift),
				  m->page_size);
		if (discards & (UINT64_C(1) << k)) {
			region_punch(m, r, pg, 1);
			evict_unreserve(m, r, 1);
		}
	}
	STAT_ADD(&m->stats, prefetch_issued, placed);
	STAT_ADD(&m->stats, placed_pages, placed);
	atomic_fetch_add_explicit(&r->st.placed_pages, placed,
				  memory_order_relaxed);
	if (placed)
		evict_note_install(m, r, ft->pf_pg[b - 1]);
}

/*
 * Install the @n prefetched pages whose bytes arrived (ft->pf_res), clean
 * and write-protected like a read fault's, one UFFDIO_COPY per run of
 * consecutive pages. Any that failed go back to evicted; a fault on them
 * fetches them itself (and reports a lost page loudly).
 */
static void fault_pf_install(struct fault_thread *ft, struct region *r,
			     unsigned n)
{
	struct monitor *m = ft->m;
	size_t ps = m->page_size;

	for (unsigned i = 0; i < n;) {
		unsigned j = i + 1;
		if (ft->pf_res[i + 1]) {
			install_revert(m, r, ft->pf_pg[i], ft->pf_before[i], 1);
			i++;
			continue;
		}
		while (j < n && !ft->pf_res[j + 1] &&
		       ft->pf_pg[j] == ft->pf_pg[j - 1] + 1)
			j++;
		uint64_t done = 0;
		uint64_t dst = region_page_addr(r, ft->pf_pg[i], m->page_shift);
		int ret = uffd_copy_done(r->uffd, dst,
					 ft->pf_buf + (size_t)i * ps,
					 (uint64_t)(j - i) * ps, 1, &done);
		unsigned ok = ret ? (unsigned)(done / ps) : j - i;
		if (ok)
			fault_pf_installed(ft, r, i, i + ok, 0);
		if (ok < j - i) {
			unsigned k = i + ok;
			if (ret == -EEXIST) {
				/* Present already: wake, keep it as dirty. */
				uffd_wake(r->uffd,
					  region_page_addr(r, ft->pf_pg[k],
							   m->page_shift),
					  ps);
				fault_pf_installed(ft, r, k, k + 1, 1);
			} else {
				install_revert(m, r, ft->pf_pg[k],
					       ft->pf_before[k], 1);
			}
			j = k + 1;
		}
		i = j;
	}
}

/* Fetch the fault's page and @npf prefetched ones in one multi_get. */
static int fault_fetch_with_pf(struct fault_thread *ft, struct region *r,
			       uint64_t pg, unsigned npf)
{
	struct monitor *m = ft->m;
	uint64_t t0 = lat_now();

	ft->pf_keys[0] = (struct page_key){ .region_id = r->id, .pgoff = pg,
					    .server = r->loc[pg] };
	ft->pf_bufs[0] = ft->page;
	m->be_ops->multi_get(ft->ectx.conn, r->br, ft->pf_keys, ft->pf_bufs,
			     npf + 1, ft->pf_res);
	lat_since(LAT_backend_read, t0);
	int res = ft->pf_res[0];
	if (res == 0 || res == -ENOENT || res == -EBADMSG)
		return res;
	STAT_INC(&m->stats, backend_get_errors);
	return fetch_page(ft, r, pg);
}

static void fault_missing(struct fault_thread *ft, struct region *r,
			  uint64_t pg, int write)
{
	struct monitor *m = ft->m;
	uint64_t addr = region_page_addr(r, pg, m->page_shift);
	int reserved = 0, fetch = 0, ret;
	unsigned npf = 0;
	struct pf_plan plan = { .n = 0 };
	uint8_t before, nb;
	uint64_t t0;

	pthread_mutex_lock(&r->lock);
	before = r->pages[pg];
	switch (ps_state(before)) {
	case PS_RESIDENT:
		/* The client discarded it without telling us (yet): its slot
		 * is still counted; serve it as a first touch. */
		reserved = 1;
		break;
	case PS_NEW:
		prefetch_observe(m, r, pg, &plan);
		break;
	case PS_EVICTED:
		fetch = 1;
		prefetch_observe(m, r, pg, &plan);
		break;
	case PS_LOST:
		pthread_mutex_unlock(&r->lock);
		STAT_INC(&m->stats, poisoned);
		atomic_fetch_add(&r->st.poisoned, 1);
		uffd_poison(r->uffd, addr, m->page_size);
		return;
	default:
		r->pages[pg] = before | PS_WAITERS;
		pthread_mutex_unlock(&r->lock);
		STAT_INC(&m->stats, faults_deferred);
		return;
	}
	r->pages[pg] = ps_set_state(
		before & (uint8_t)~(PS_DISCARD | PS_WAITERS), PS_INSTALLING);
	pthread_mutex_unlock(&r->lock);

	if (!reserved) {
		if (evict_reserve(m, r, &ft->ectx)) {
			STAT_INC(&m->stats, install_retries);
			install_revert(m, r, pg, before, 0);
			return;
		}
		reserved = 1;
	}
	if (fetch) {
		/* Only an evicted page's fault prefetches: the window's
		 * evicted pages ride along in the same backend request. */
		if (plan.n)
			npf = fault_pf_claim(ft, r, &plan);
		ret = npf ? fault_fetch_with_pf(ft, r, pg, npf)
			  : fetch_page(ft, r, pg);
		if (ret == -ENOENT || ret == -EBADMSG) {
			if (ret == -ENOENT)
				STAT_INC(&m->stats, pages_lost);
			else
				STAT_INC(&m->stats, checksum_errors);
			atomic_fetch_add(&r->st.pages_lost, 1);
			lost_log(m, r, pg, ret);
			pthread_mutex_lock(&r->lock);
			r->pages[pg] = PS_LOST | (before & PS_STORED);
			pthread_mutex_unlock(&r->lock);
			evict_unreserve(m, r, 1);
			STAT_INC(&m->stats, poisoned);
			ret = uffd_poison(r->uffd, addr, m->page_size);
			if (ret)
				log_err("UFFDIO_POISON region %016" PRIx64
					": %s",
					r->id, strerror(-ret));
			goto out;
		}
		if (ret) {
			/* Backend unreachable: the client waits and refaults. */
			install_revert(m, r, pg, before, 1);
			goto out;
		}
		t0 = lat_now();
		ret = uffd_copy(r->uffd, addr, ft->page, m->page_size, !write);
		lat_since(LAT_copy, t0);
	} else if (write) {
		t0 = lat_now();
		ret = uffd_zeropage(r->uffd, addr, m->page_size);
		lat_since(LAT_zeropage, t0);
	} else {
		/* Read of a fresh page: install it protected, so a page that
		 * is never written is never written back. */
		t0 = lat_now();
		ret = uffd_copy(r->uffd, addr, ft->zero_page_ptr, m->page_size,
				1);
		lat_since(LAT_copy, t0);
	}
	if (ret == -EEXIST) {
		uffd_wake(r->uffd, addr, m->page_size);
		write = 1; /* unknown contents: treat as dirty */
	} else if (ret) {
		if (ret == -EAGAIN)
			STAT_INC(&m->stats, install_retries);
		else
			log_debug("install region %016" PRIx64 " page %" PRIu64
				  ": %s",
				  r->id, pg, strerror(-ret));
		install_revert(m, r, pg, before, 1);
		goto out;
	}

	nb = PS_RESIDENT | (before & PS_STORED);
	if (write)
		nb |= PS_DIRTY;
	if (fetch)
		nb |= PS_REF; /* it came back: reuse observed */
	else if (before & PS_STORED)
		nb |= PS_DIRTY; /* zeros over a stale stored copy */
	pthread_mutex_lock(&r->lock);
	uint8_t now = r->pages[pg];
	int discard = now & PS_DISCARD;
	r->pages[pg] = discard ? (PS_NEW | (before & PS_STORED)) : nb;
	pthread_mutex_unlock(&r->lock);
	/* A fault deferred after our copy's wake (say, the first write to
	 * a page installed protected) still waits: wake it now. */
	if (now & PS_WAITERS)
		uffd_wake(r->uffd, addr, m->page_size);
	if (discard) {
		region_punch(m, r, pg, 1);
		evict_unreserve(m, r, 1);
		goto out;
	}
	if (fetch) {
		STAT_INC(&m->stats, placed_pages);
		atomic_fetch_add_explicit(&r->st.placed_pages, 1,
					  memory_order_relaxed);
	} else {
		STAT_INC(&m->stats, zero_pages);
		atomic_fetch_add_explicit(&r->st.zero_pages, 1,
					  memory_order_relaxed);
	}
	evict_note_install(m, r, pg);
out:
	/* The client already runs on: the window goes in after its page. */
	if (npf)
		fault_pf_install(ft, r, npf);
}

static void fault_wp(struct fault_thread *ft, struct region *r, uint64_t pg)
{
	struct monitor *m = ft->m;
	uint64_t addr = region_page_addr(r, pg, m->page_shift);
	uint8_t before;

	STAT_INC(&m->stats, faults_wp);
	pthread_mutex_lock(&r->lock);
	before = r->pages[pg];
	switch (ps_state(before)) {
	case PS_RESIDENT:
		r->pages[pg] = ps_set_state(before & (uint8_t)~PS_WAITERS,
					    PS_UNPROTECTING);
		break;
	case PS_NEW:
	case PS_EVICTED:
	case PS_LOST:
		/* Evicted after the fault was raised: refault as missing. */
		pthread_mutex_unlock(&r->lock);
		uffd_wake(r->uffd, addr, m->page_size);
		return;
	default:
		r->pages[pg] = before | PS_WAITERS;
		pthread_mutex_unlock(&r->lock);
		STAT_INC(&m->stats, faults_deferred);
		return;
	}
	pthread_mutex_unlock(&r->lock);
	/* First write to a clean page: from now on it must be written back.
	 * The page is busy, so no eviction can protect it in between. */
	uffd_wp(r->uffd, addr, m->page_size, 0);
	pthread_mutex_lock(&r->lock);
	uint8_t now = r->pages[pg];
	int discard = now & PS_DISCARD;
	r->pages[pg] = discard ? (PS_NEW | (before & PS_STORED))
			       : (uint8_t)(PS_RESIDENT | PS_DIRTY | PS_REF |
					   (before & PS_STORED));
	pthread_mutex_unlock(&r->lock);
	if (now & PS_WAITERS)
		uffd_wake(r->uffd, addr, m->page_size);
	if (discard) {
		region_punch(m, r, pg, 1);
		evict_unreserve(m, r, 1);
	}
}

/* The client dropped [start, end): forget those pages here and remotely. */
static void fault_discard(struct fault_thread *ft, struct region *r,
			  uint64_t start, uint64_t end)
{
	struct monitor *m = ft->m;
	struct page_key *keys = ft->ectx.keys;
	uint64_t first, last, resident = 0, dropped = 0;

	if (end <= r->base || start >= r->base + r->size)
		return;
	if (start < r->base)
		start = r->base;
	if (end > r->base + r->size)
		end = r->base + r->size;
	first = (start - r->base) >> m->page_shift;
	last = (end - r->base + m->page_size - 1) >> m->page_shift;

	for (uint64_t pg = first; pg < last;) {
		unsigned nkeys = 0;
		pthread_mutex_lock(&r->lock);
		for (; pg < last && nkeys < ft->ectx.max; pg++) {
			uint8_t b = r->pages[pg];
			switch (ps_state(b)) {
			case PS_NEW:
				if (!(b & PS_STORED))
					continue;
				break;
			case PS_RESIDENT:
				resident++;
				/* fall through */
			case PS_EVICTED:
			case PS_LOST:
				dropped++;
				break;
			default:
				/* Its owner finishes, then sees the flag. */
				r->pages[pg] = b | PS_DISCARD;
				dropped++;
				continue;
			}
			r->pages[pg] = PS_NEW;
			if (b & PS_STORED) {
				keys[nkeys].region_id = r->id;
				keys[nkeys].pgoff = pg;
				keys[nkeys].server = r->loc[pg];
				nkeys++;
			}
		}
		pthread_mutex_unlock(&r->lock);
		if (nkeys) {
			m->be_ops->del(ft->ectx.conn, r->br, keys, nkeys);
			STAT_ADD(&m->stats, remote_deletes, nkeys);
		}
	}
	region_punch(m, r, first, last - first);
	if (resident)
		evict_unreserve(m, r, resident);
	STAT_ADD(&m->stats, discarded_pages, dropped);
}

static void fault_dispatch(struct fault_thread *ft, struct region *r,
			   const struct uffd_msg *msg)
{
	struct monitor *m = ft->m;

	switch (msg->event) {
	case UFFD_EVENT_PAGEFAULT: {
		uint64_t addr = msg->arg.pagefault.address;
		uint64_t flags = msg->arg.pagefault.flags;
		if (addr < r->base || addr >= r->base + r->size)
			return;
		uint64_t pg = (addr - r->base) >> m->page_shift;
		uint64_t t0 = lat_now();
		STAT_INC(&m->stats, faults);
		atomic_fetch_add_explicit(&r->st.faults, 1,
					  memory_order_relaxed);
		atomic_store_explicit(&m->last_fault_time, (uint64_t)time(NULL),
				      memory_order_relaxed);
		if (flags & UFFD_PAGEFAULT_FLAG_WP)
			fault_wp(ft, r, pg);
		else
			fault_missing(ft, r, pg,
				      !!(flags & UFFD_PAGEFAULT_FLAG_WRITE));
		lat_since(LAT_fault, t0);
		break;
	}
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		fault_discard(ft, r, msg->arg.remove.start,
			      msg->arg.remove.end);
		break;
	default:
		log_debug("region %016" PRIx64 ": ignoring uffd event %u",
			  r->id, msg->event);
		break;
	}
}

/*
 * Read and serve what @r's uffd holds. The uffd is in the epoll set
 * edge-triggered, so another waiting thread is not woken for messages
 * this one already owns; the price is draining until a short read, or
 * re-arming when the budget runs out first.
 */
static void fault_drain(struct fault_thread *ft, struct region *r)
{
	struct uffd_msg msgs[MSGS_PER_READ];

	/* Bounded, so one busy region cannot starve the others. */
	for (int round = 0; round < 4; round++) {
		ssize_t n = read(r->uffd, msgs, sizeof(msgs));
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++) {
			if (atomic_load(&r->dead))
				return;
			fault_dispatch(ft, r, &msgs[i]);
		}
		/* A short read drained it; epoll reports what comes next,
		 * so a read that would only say EAGAIN is saved. */
		if (n < (ssize_t)sizeof(msgs))
			return;
	}
	/* More may be queued: make epoll report the uffd again. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET,
				  .data.u64 = region_key(r) };
	epoll_ctl(ft->m->faults->epfd, EPOLL_CTL_MOD, r->uffd, &ev);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Busy-poll for the next fault instead of sleeping: a cross-CPU wake-up
 * costs more than the fault itself on some machines (DESIGN.md). One
 * thread spins at a time, for at most *spin_us; the bound doubles (up to
 * --busy-poll) when a spell catches a fault or a sleep turns out short,
 * and halves when a spell is wasted, so an idle client costs little.
 * Returns what epoll_wait returned, 0 when nothing came.
 */
static int fault_spin(struct monitor *m, struct epoll_event *evs, int max,
		      unsigned *spin_us)
{
	struct fault_pool *p = m->faults;
	unsigned limit = m->set.busy_poll_us;
	int n = 0;

	if (!*spin_us || atomic_exchange(&p->spinning, 1))
		return 0;
	uint64_t t0 = lat_now(), end = t0 + (uint64_t)*spin_us * 1000, now;
	do {
		n = epoll_wait(p->epfd, evs, max, 0);
		if (n > 0)
			break;
		for (int i = 0; i < 32; i++)
			cpu_relax();
		now = lat_now();
	} while (now < end);
	atomic_store(&p->spinning, 0);
	STAT_ADD(&m->stats, busy_poll_spin_us, (lat_now() - t0) / 1000);
	if (n > 0) {
		STAT_INC(&m->stats, busy_poll_hits);
		*spin_us = *spin_us * 2 > limit ? limit : *spin_us * 2;
		return n;
	}
	STAT_INC(&m->stats, busy_poll_misses);
	*spin_us /= 2;
	return 0;
}

static void *fault_main(void *arg)
{
	struct fault_thread *ft = arg;
	struct monitor *m = ft->m;
	unsigned limit = m->set.busy_poll_us, spin_us = limit;

	lat_thread_register();
	for (;;) {
		struct epoll_event evs[8];
		int n = fault_spin(m, evs, 8, &spin_us);
		if (n <= 0) {
			uint64_t t0 = limit ? lat_now() : 0;
			n = epoll_wait(m->faults->epfd, evs, 8, -1);
			/* Woken soon after giving up: spinning would pay. */
			if (limit && lat_now() - t0 < (uint64_t)limit * 1000)
				spin_us = spin_us ? (spin_us * 2 > limit
							     ? limit
							     : spin_us * 2)
						  : (limit + 7) / 8;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == STOP_KEY)
				return NULL;
			struct region *r = region_get(m, evs[i].data.u64);
			if (!r)
				continue;
			if (!atomic_load(&r->dead))
				fault_drain(ft, r);
			region_put(m, r);
		}
	}
}

int fault_add_region(struct monitor *m, struct region *r)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET,
				  .data.u64 = region_key(r) };
	int fl = fcntl(r->uffd, F_GETFL);

	/* Reads drain until EAGAIN: never block on a client's blocking
	 * uffd (the flag is the file's, the client never reads it). */
	if (fl < 0 || (!(fl & O_NONBLOCK) &&
		       fcntl(r->uffd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -errno;
	if (epoll_ctl(m->faults->epfd, EPOLL_CTL_ADD, r->uffd, &ev) < 0)
		return -errno;
	return 0;
}

void fault_remove_region(struct monitor *m, struct region *r)
{
	epoll_ctl(m->faults->epfd, EPOLL_CTL_DEL, r->uffd, NULL);
}

static void fault_pf_fini(struct fault_thread *ft)
{
	free(ft->pf_keys);
	free(ft->pf_bufs);
	free(ft->pf_res);
	free(ft->pf_pg);
	free(ft->pf_before);
	free(ft->pf_buf);
	ft->pf_keys = NULL;
	ft->pf_bufs = NULL;
	ft->pf_res = NULL;
	ft->pf_pg = NULL;
	ft->pf_before = NULL;
	ft->pf_buf = NULL;
}

/* Prefetch scratch for --prefetch pages plus the fault's own. */
static int fault_pf_init(struct monitor *m, struct fault_thread *ft)
{
	unsigned n = m->set.prefetch;

	if (!n)
		return 0;
	ft->pf_keys = calloc(n + 1, sizeof(*ft->pf_keys));
	ft->pf_bufs = calloc(n + 1, sizeof(*ft->pf_bufs));
	ft->pf_res = calloc(n + 1, sizeof(*ft->pf_res));
	ft->pf_pg = calloc(n, sizeof(*ft->pf_pg));
	ft->pf_before = calloc(n, sizeof(*ft->pf_before));
	if (posix_memalign((void **)&ft->pf_buf, m->page_size,
			   (size_t)n * m->page_size))
		ft->pf_buf = NULL;
	if (!ft->pf_keys || !ft->pf_bufs || !ft->pf_res || !ft->pf_pg ||
	    !ft->pf_before || !ft->pf_buf) {
		fault_pf_fini(ft);
		return -ENOMEM;
	}
	return 0;
}

/*
 * --fault-cpus: a fault thread answering on the CPU the faulting thread
 * just left wakes it there, not across CPUs (the expensive kind of
 * wake-up on a VM). Set before creation, so no fault runs elsewhere.
 */
static int fault_thread_attr(struct monitor *m, pthread_attr_t *attr)
{
	cpu_set_t cpus;
	int ret = -pthread_attr_init(attr);

	if (ret || !m->set.fault_cpus[0])
		return ret;
	CPU_ZERO(&cpus);
	for (unsigned c = 0; c < FM_MAX_CPUS && c < CPU_SETSIZE; c++)
		if (m->set.fault_cpu_mask[c / 64] >> (c % 64) & 1)
			CPU_SET(c, &cpus);
	ret = -pthread_attr_setaffinity_np(attr, sizeof(cpus), &cpus);
	if (ret) {
		log_err("--fault-cpus=%s: %s", m->set.fault_cpus,
			  strerror(-ret));
		pthread_attr_destroy(attr);
	}
	return ret;
}

int fault_start(struct monitor *m)
{
	struct fault_pool *p = calloc(1, sizeof(*p));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = STOP_KEY };
	int ret;

	if (!p)
		return -ENOMEM;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->epfd < 0 || p->stop_efd < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->stop_efd, &ev) < 0 ||
	    posix_memalign((void **)&p->zero_page, m->page_size,
			   m->page_size)) {
		ret = -errno;
		goto fail;
	}
	memset(p->zero_page, 0, m->page_size);
	p->threads = calloc(m->set.fault_threads, sizeof(*p->threads));
	if (!p->threads) {
		ret = -ENOMEM;
		goto fail;
	}
	m->faults = p;
	pthread_attr_t attr;
	ret = fault_thread_attr(m, &attr);
	if (ret) {
		m->faults = NULL;
		free(p->threads);
		goto fail;
	}
	for (unsigned i = 0; i < m->set.fault_threads; i++) {
		struct fault_thread *ft = &p->threads[i];
		ft->m = m;
		ft->zero_page_ptr = p->zero_page;
		ret = evict_ctx_init(m, &ft->ectx, m->set.evict_batch);
		if (ret == 0 && posix_memalign((void **)&ft->page,
					       m->page_size, m->page_size))
			ret = -ENOMEM;
		if (ret == 0)
			ret = fault_pf_init(m, ft);
		if (ret == 0)
			ret = -pthread_create(&ft->thread, &attr, fault_main, ft);
		if (ret == 0) {
			char name[16];
			snprintf(name, sizeof(name), "fm-fault%u", i % 1000);
			pthread_setname_np(ft->thread, name);
		}
		if (ret) {
			pthread_attr_destroy(&attr);
			evict_ctx_fini(m, &ft->ectx);
			fault_pf_fini(ft);
			free(ft->page);
			ft->page = NULL;
			fault_stop(m);
			return ret;
		}
		p->n++;
	}
	pthread_attr_destroy(&attr);
	return 0;
fail:
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	free(p->zero_page);
	free(p);
	return ret ? ret : -ENOMEM;
}

void fault_stop(struct monitor *m)
{
	struct fault_pool *p = m->faults;
	uint64_t one = 1;

	if (!p)
		return;
	if (write(p->stop_efd, &one, sizeof(one)) < 0)
		log_warn("fault_stop: %s", strerror(errno));
	for (unsigned i = 0; i < p->n; i++) {
		pthread_join(p->threads[i].thread, NULL);
		evict_ctx_fini(m, &p->threads[i].ectx);
		fault_pf_fini(&p->threads[i]);
		free(p->threads[i].page);
	}
	close(p->epfd);
	close(p->stop_efd);
	free(p->zero_page);
	free(p->threads);
	free(p);
	m->faults = NULL;
}
