/*
 * chain backend: a stack of tiers, fastest first, built from --mem-path
 * ("remote:tcp://h:7070:4G|nvme:/dev/nvme1n1:64G"). Every tier is an
 * ordinary backend with a capacity. New pages go to the first tier with
 * room; a demoter thread keeps each tier under its high watermark by
 * moving its coldest pages (CLOCK over a per-page reference bit) one tier
 * down. A fetch reads the page from wherever its map entry says it lives.
 *
 * The map is one 16-bit word per page in a file under the run dir, so a
 * restarted monitor knows where every page went. Words change only by
 * compare-and-swap and no lock is ever held across I/O; ownership bits in
 * the word keep a put, a delete and a demotion of the same page apart
 * (see entry_take).
 */
#include "config.h"
#include "backend.h"
#include "log.h"
#include "parse.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHAIN_MAX_TIERS 8
#define CHAIN_BATCH 64	       /* pages per sub-backend call */
#define CHAIN_GET_TRIES 4      /* a page moved under a fetch: look again */

/* Map word: where a page's copy lives. */
#define ME_SERVER 0x00ffu      /* the tier backend's server index */
#define ME_TIER_SHIFT 8	       /* tier + 1; 0: no copy anywhere */
#define ME_TIER 0x0f00u
#define ME_REF 0x1000u	       /* read or written since the demoter looked */
#define ME_MOVING 0x2000u      /* owned by the demoter, copying it down */
#define ME_PUTTING 0x4000u     /* owned by a put or delete */
#define ME_WHERE (ME_SERVER | ME_TIER)

static inline int me_tier(uint16_t e)
{
	return (int)((e & ME_TIER) >> ME_TIER_SHIFT) - 1;
}

static inline uint16_t me_make(int tier, uint8_t server)
{
	return (uint16_t)(((unsigned)(tier + 1) << ME_TIER_SHIFT) | server);
}

struct tier {
	const struct backend_ops *ops;
	struct backend *be;
	char kind[32];
	char locator[512];
	uint64_t capacity; /* pages */
	uint64_t high, low; /* demote above high, down to low */
	_Atomic uint64_t used;
	_Atomic int64_t full_until; /* the backend said ENOSPC: skip it */
	_Atomic uint64_t gets, puts, spills, demoted_in, demoted_out, full,
		errors;
};

struct backend_region {
	uint64_t id;
	uint64_t npages;
	_Atomic uint16_t *map;
	size_t map_len;
	int blind; /* reattached: deletes go to every page offset */
	struct backend_region *sub[CHAIN_MAX_TIERS];
	uint64_t hand; /* demoter's clock hand */
	int in_use;    /* the demoter is working on it */
	struct backend_region *next;
};

struct backend {
	uint32_t page_size;
	unsigned ntiers;
	struct tier tiers[CHAIN_MAX_TIERS];
	char map_dir[512];
	pthread_mutex_t lock; /* regions list, in_use, stop */
	pthread_cond_t cond;
	struct backend_region *regions;
	struct backend_region *cursor; /* next region the demoter scans */
	int stop;
	pthread_t demoter;
	int demoter_started;
	struct backend_conn *dconn; /* the demoter's */
	char *dbuf;
	pthread_mutex_t hk_lock; /* housekeeping conn (region deletes) */
	struct backend_conn *hkconn;
	_Atomic uint64_t demote_rounds, get_retries, all_full;
	_Atomic int64_t full_logged;
};

struct backend_conn {
	struct backend *be;
	struct backend_conn *sub[CHAIN_MAX_TIERS];
	/* Scratch for one sub-backend call: no allocation per page. */
	struct page_key keys[CHAIN_BATCH];
	const void *bufs[CHAIN_BATCH];
	int res[CHAIN_BATCH];
	unsigned idx[CHAIN_BATCH];
	uint16_t old[CHAIN_BATCH];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the --mem-path spec ---- */

/*
 * One tier: KIND[:LOCATOR]:SIZE. SIZE is the last ':' field (bytes with a
 * K/M/G/T suffix, or MiB when bare, as in EMP), so locators may contain
 * colons. KIND is a backend name; "remote" and "rdma" are the memory
 * server (a bare HOST:PORT gets the tcp:// or rdma:// scheme).
 */
static int tier_parse(struct tier *t, char *tok, uint32_t page_size,
		      char *err, size_t errlen)
{
	char *colon = strrchr(tok, ':');
	uint64_t bytes;

	if (!colon || colon == tok) {
		snprintf(err, errlen,
			 "tier \"%s\": expected KIND[:LOCATOR]:SIZE", tok);
		return -EINVAL;
	}
	*colon = '\0';
	const char *size = colon + 1;
	int mib = size[0] && strspn(size, "0123456789") == strlen(size);
	if (parse_size(size, 1, UINT64_C(1) << 50, &bytes)) {
		snprintf(err, errlen, "tier \"%s\": bad size \"%s\"", tok,
			 size);
		return -EINVAL;
	}
	if (mib)
		bytes <<= 20;
	t->capacity = bytes / page_size;
	if (t->capacity < 16) {
		snprintf(err, errlen, "tier \"%s\": size %s is under 16 pages",
			 tok, size);
		return -EINVAL;
	}
	char *loc = strchr(tok, ':');
	if (loc)
		*loc++ = '\0';
	if (strlen(tok) >= sizeof(t->kind) ||
	    (loc && strlen(loc) + 8 >= sizeof(t->locator))) {
		snprintf(err, errlen, "tier \"%s\": too long", tok);
		return -EINVAL;
	}
	strcpy(t->kind, tok);
	const char *name = tok;
	if (!strcmp(tok, "remote") || !strcmp(tok, "rdma")) {
		name = "remote";
		if (loc && !strstr(loc, "://"))
			snprintf(t->locator, sizeof(t->locator), "%s://%s",
				 strcmp(tok, "rdma") ? "tcp" : "rdma", loc);
		else if (loc)
			strcpy(t->locator, loc);
	} else if (loc) {
		strcpy(t->locator, loc);
	}
	if (!strcmp(tok, "chain") || !(t->ops = backend_find(name))) {
		snprintf(err, errlen,
			 "tier \"%s\": unknown kind (tiers can be: %s; "
			 "remote and rdma mean the memory server)",
			 tok, backend_names());
		return -EINVAL;
	}
	if (t->ops->check) {
		char sub[384];
		if (t->ops->check(t->locator[0] ? t->locator : NULL, sub,
				  sizeof(sub))) {
			snprintf(err, errlen, "tier \"%s\": %s", tok, sub);
			return -EINVAL;
		}
	}
	/* Watermarks: room for a few eviction batches at the top. */
	uint64_t slack = t->capacity / 32 > 64 ? t->capacity / 32 : 64;
	if (slack > t->capacity / 4)
		slack = t->capacity / 4;
	t->high = t->capacity - slack / 2;
	t->low = t->capacity - slack;
	return 0;
}

static int chain_parse(struct backend *be, const char *spec, char *err,
		       size_t errlen)
{
	char buf[2048], *save = NULL;
	int locals = 0;

	if (!spec || !*spec) {
		snprintf(err, errlen, "no tiers given");
		return -EINVAL;
	}
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "tier list too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	unsigned bars = 0;
	for (const char *q = spec; *q; q++)
		bars += *q == '|';
	if (bars >= CHAIN_MAX_TIERS) {
		snprintf(err, errlen, "at most %d tiers", CHAIN_MAX_TIERS);
		return -EINVAL;
	}
	for (char *tok = strtok_r(buf, "|", &save); tok;
	     tok = strtok_r(NULL, "|", &save)) {
		int ret = tier_parse(&be->tiers[be->ntiers], tok,
				     be->page_size, err, errlen);
		if (ret)
			return ret;
		if (!strcmp(be->tiers[be->ntiers].kind, "local") &&
		    ++locals > 1) {
			snprintf(err, errlen,
				 "one local tier at most (they "
				 "would share --local-dir)");
			return -EINVAL;
		}
		be->ntiers++;
	}
	if (be->ntiers == 0) {
		snprintf(err, errlen, "no tiers given");
		return -EINVAL;
	}
	return 0;
}

static int chain_check(const char *spec, char *err, size_t errlen)
{
	struct backend *be = calloc(1, sizeof(*be));
	int ret;

	if (!be)
		return -ENOMEM;
	be->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	ret = chain_parse(be, spec, err, errlen);
	free(be);
	return ret;
}

/* ---- capacity ---- */

static int tier_reserve(struct tier *t)
{
	uint64_t cur = atomic_load(&t->used);

	if (atomic_load(&t->full_until) > now_ms())
		return -ENOSPC;
	while (cur < t->capacity)
		if (atomic_compare_exchange_weak(&t->used, &cur, cur + 1))
			return 0;
	return -ENOSPC;
}

static void tier_release(struct tier *t)
{
	atomic_fetch_sub(&t->used, 1);
}

static void tier_mark_full(struct tier *t)
{
	/* The backend knows better than our count: stop sending it new
	 * pages for a while instead of asking on every eviction. */
	if (atomic_load(&t->full_until) <= now_ms())
		log_warn("tier %s (%s) is full: pages go to the next tier",
			 t->kind, t->locator);
	atomic_store(&t->full_until, now_ms() + 1000);
	atomic_fetch_add(&t->full, 1);
}

/* Every tier refused: the pages stay resident; say so now and then. */
static void chain_all_full(struct backend *be)
{
	int64_t now = now_ms(), last = atomic_load(&be->full_logged);

	atomic_fetch_add(&be->all_full, 1);
	if (now - last >= 10000 &&
	    atomic_compare_exchange_strong(&be->full_logged, &last, now))
		log_warn("every tier is full: evicted pages stay resident "
			 "(tier_all_full counts them); add capacity to "
			 "--mem-path");
}

static void chain_kick(struct backend *be)
{
	pthread_mutex_lock(&be->lock);
	pthread_cond_signal(&be->cond);
	pthread_mutex_unlock(&be->lock);
}

static int tier_over_high(struct backend *be, unsigned t)
{
	return t + 1 < be->ntiers &&
	       atomic_load(&be->tiers[t].used) > be->tiers[t].high;
}

/* ---- connections ---- */

static struct backend_conn *chain_conn_open(struct backend *be)
{
	struct backend_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->be = be;
	for (unsigned t = 0; t < be->ntiers; t++) {
		c->sub[t] = be->tiers[t].ops->conn_open(be->tiers[t].be);
		if (!c->sub[t]) {
			while (t--)
				be->tiers[t].ops->conn_close(c->sub[t]);
			free(c);
			return NULL;
		}
	}
	return c;
}

static void chain_conn_close(struct backend_conn *c)
{
	if (!c)
		return;
	for (unsigned t = 0; t < c->be->ntiers; t++)
		c->be->tiers[t].ops->conn_close(c->sub[t]);
	free(c);
}

static uint8_t chain_place(struct backend_conn *c, const struct page_key *k)
{
	return 0; /* the chain keeps its own map */
}

/* Delete copies at their recorded places (entries in @old). */
static void sub_del(struct backend_conn *c, struct backend_region *br,
		    const struct page_key *keys, const uint16_t *where,
		    unsigned n)
{
	struct backend *be = c->be;
	struct page_key k[CHAIN_BATCH];

	for (unsigned t = 0; t < be->ntiers; t++) {
		unsigned m = 0;
		for (unsigned i = 0; i < n; i++) {
			if (me_tier(where[i]) != (int)t)
				continue;
			k[m] = keys[i];
			k[m++].server = where[i] & ME_SERVER;
		}
		if (m)
			be->tiers[t].ops->del(c->sub[t], br->sub[t], k, m);
	}
}

/* ---- get ---- */

static void chain_get_batch(struct backend_conn *c, struct backend_region *br,
			    const struct page_key *keys, void *const *bufs,
			    unsigned n, int *res)
{
	struct backend *be = c->be;
	unsigned pending = n;
	uint16_t seen[CHAIN_BATCH];

	for (unsigned i = 0; i < n; i++)
		res[i] = 1; /* not done */
	for (int tries = 0; pending && tries < CHAIN_GET_TRIES; tries++) {
		if (tries)
			atomic_fetch_add(&be->get_retries, 1);
		for (unsigned i = 0; i < n; i++) {
			if (res[i] != 1)
				continue;
			seen[i] = keys[i].pgoff < br->npages
					  ? atomic_load(&br->map[keys[i].pgoff])
					  : 0;
			if (me_tier(seen[i]) < 0) {
				res[i] = -ENOENT;
				pending--;
			}
		}
		for (unsigned t = 0; t < be->ntiers && pending; t++) {
			struct tier *tr = &be->tiers[t];
			unsigned m = 0;
			for (unsigned i = 0; i < n; i++) {
				if (res[i] != 1 || me_tier(seen[i]) != (int)t)
					continue;
				c->keys[m] = keys[i];
				c->keys[m].server = seen[i] & ME_SERVER;
				c->bufs[m] = bufs[i];
				c->idx[m++] = i;
			}
			if (!m)
				continue;
			tr->ops->multi_get(c->sub[t], br->sub[t], c->keys,
					   (void *const *)c->bufs, m, c->res);
			atomic_fetch_add(&tr->gets, m);
			for (unsigned j = 0; j < m; j++) {
				unsigned i = c->idx[j];
				_Atomic uint16_t *e = &br->map[keys[i].pgoff];
				if (c->res[j] == 0) {
					atomic_fetch_or(e, ME_REF);
					res[i] = 0;
					pending--;
				} else if ((atomic_load(e) & ME_WHERE) ==
					   (seen[i] & ME_WHERE)) {
					/* Still there: the answer stands. */
					res[i] = c->res[j];
					pending--;
					atomic_fetch_add(&tr->errors, 1);
				}
				/* Else it moved while we read: again. */
			}
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (res[i] == 1)
			res[i] = -EAGAIN;
}

static void chain_multi_get(struct backend_conn *c, struct backend_region *br,
			    const struct page_key *keys, void *const *bufs,
			    unsigned n, int *res)
{
	for (unsigned i = 0; i < n; i += CHAIN_BATCH)
		chain_get_batch(c, br, keys + i, bufs + i,
				n - i < CHAIN_BATCH ? n - i : CHAIN_BATCH,
				res + i);
}

/* ---- put ---- */

/*
 * An entry has at most one owner: a put or delete marks it ME_PUTTING, the
 * demoter ME_MOVING, each by compare-and-swap from an unowned word, and
 * only the owner moves copies. Fetches own nothing: they read wherever the
 * word points and look again if it moved. A put or delete that finds the
 * demoter on its page waits for that one batch to finish.
 */
static uint16_t entry_take(_Atomic uint16_t *e, uint16_t mark)
{
	for (unsigned spins = 0;; spins++) {
		uint16_t cur = atomic_load(e);
		if (cur & (ME_MOVING | ME_PUTTING)) {
			usleep(spins < 100 ? 20 : 500);
			continue;
		}
		if (atomic_compare_exchange_weak(e, &cur,
						 (cur & ME_WHERE) | mark))
			return cur;
	}
}

/* Set the word to @val, keeping a reference bit a fetch set meanwhile. */
static void entry_set(_Atomic uint16_t *e, uint16_t val)
{
	uint16_t cur = atomic_load(e);

	while (!atomic_compare_exchange_weak(e, &cur, val | (cur & ME_REF)))
		;
}

/*
 * A put writes each page to the first tier with room, deletes the old
 * copy if it lived elsewhere and only then publishes the new place (so
 * nobody can move the page onto the old place before that delete).
 */
static void chain_put_batch(struct backend_conn *c, struct backend_region *br,
			    const struct page_key *keys,
			    const void *const *bufs, unsigned n, int *res)
{
	struct backend *be = c->be;
	uint16_t old[CHAIN_BATCH], where[CHAIN_BATCH];
	struct page_key stale[CHAIN_BATCH];
	uint16_t stale_where[CHAIN_BATCH];
	int tier_of[CHAIN_BATCH];
	unsigned pending = 0, nstale = 0;

	for (unsigned i = 0; i < n; i++) {
		if (keys[i].pgoff >= br->npages) {
			res[i] = -EINVAL;
			continue;
		}
		old[i] = entry_take(&br->map[keys[i].pgoff], ME_PUTTING);
		res[i] = 1;
		tier_of[i] = -1;
		pending++;
	}
	for (unsigned t = 0; t < be->ntiers && pending; t++) {
		struct tier *tr = &be->tiers[t];
		unsigned m = 0;
		for (unsigned i = 0; i < n; i++) {
			if (res[i] != 1)
				continue;
			if (tier_reserve(tr))
				break; /* this tier is full: the next one */
			c->keys[m] = keys[i];
			c->keys[m].server =
				tr->ops->place(c->sub[t], &c->keys[m]);
			c->bufs[m] = bufs[i];
			c->idx[m++] = i;
			res[i] = 2; /* in flight */
		}
		if (!m)
			continue;
		if (t > 0)
			atomic_fetch_add(&tr->spills, m);
		tr->ops->multi_put(c->sub[t], br->sub[t], c->keys, c->bufs, m,
				   c->res);
		int full = 0;
		for (unsigned j = 0; j < m; j++) {
			unsigned i = c->idx[j];
			if (c->res[j] == 0) {
				res[i] = 0;
				tier_of[i] = (int)t;
				where[i] = me_make((int)t, c->keys[j].server);
				pending--;
				continue;
			}
			tier_release(tr);
			if (c->res[j] == -ENOSPC) {
				full = 1;
				res[i] = 1; /* try the next tier */
			} else {
				atomic_fetch_add(&tr->errors, 1);
				res[i] = c->res[j];
				pending--;
			}
		}
		if (full)
			tier_mark_full(tr);
		else
			atomic_fetch_add(&tr->puts, m);
		if (tier_over_high(be, t))
			chain_kick(be);
	}
	for (unsigned i = 0; i < n; i++) {
		if (keys[i].pgoff >= br->npages)
			continue;
		if (res[i] == 1) {
			res[i] = -ENOSPC; /* every tier is full */
			chain_all_full(be);
		}
		int ot = me_tier(old[i]);
		if (res[i] != 0 || ot < 0)
			continue;
		if ((old[i] & ME_WHERE) == where[i]) {
			tier_release(&be->tiers[tier_of[i]]); /* overwritten */
			continue;
		}
		tier_release(&be->tiers[ot]);
		stale[nstale] = keys[i];
		stale_where[nstale++] = old[i];
	}
	if (nstale)
		sub_del(c, br, stale, stale_where, nstale);
	for (unsigned i = 0; i < n; i++) {
		if (keys[i].pgoff >= br->npages)
			continue;
		/* Failed: the old copy, if any, is still the one we know. */
		entry_set(&br->map[keys[i].pgoff],
			  res[i] ? (old[i] & ME_WHERE) : (where[i] | ME_REF));
	}
}

static void chain_multi_put(struct backend_conn *c, struct backend_region *br,
			    const struct page_key *keys,
			    const void *const *bufs, unsigned n, int *res)
{
	for (unsigned i = 0; i < n; i += CHAIN_BATCH)
		chain_put_batch(c, br, keys + i, bufs + i,
				n - i < CHAIN_BATCH ? n - i : CHAIN_BATCH,
				res + i);
}

/* ---- delete ---- */

static void chain_del(struct backend_conn *c, struct backend_region *br,
		      const struct page_key *keys, unsigned n)
{
	struct backend *be = c->be;
	struct page_key k[CHAIN_BATCH];
	uint16_t where[CHAIN_BATCH];

	for (unsigned i = 0; i < n;) {
		unsigned m = 0, first = i;
		for (; i < n && m < CHAIN_BATCH; i++) {
			if (keys[i].pgoff >= br->npages)
				continue;
			uint16_t e = entry_take(&br->map[keys[i].pgoff],
						ME_PUTTING);
			int t = me_tier(e);
			if (t < 0)
				continue;
			tier_release(&be->tiers[t]);
			k[m] = keys[i];
			where[m++] = e;
		}
		sub_del(c, br, k, where, m);
		for (unsigned j = first; j < i; j++)
			if (keys[j].pgoff < br->npages)
				atomic_store(&br->map[keys[j].pgoff], 0);
	}
}

/* ---- demotion ---- */

/*
 * Demote up to CHAIN_BATCH of tier @t's coldest pages in @br to @t + 1.
 * The demoter owns each page (ME_MOVING) from before it reads the old
 * copy until after it deleted it; the word points at the new copy before
 * the old one goes, so a fetch always finds one of them.
 */
static unsigned demote_region(struct backend *be, struct backend_region *br,
			      unsigned t, unsigned want)
{
	struct backend_conn *c = be->dconn;
	struct tier *from = &be->tiers[t], *to = &be->tiers[t + 1];
	size_t ps = be->page_size;
	uint16_t ent[CHAIN_BATCH];
	struct page_key k[CHAIN_BATCH];
	void *bufs[CHAIN_BATCH];
	int res[CHAIN_BATCH];
	unsigned n = 0;

	if (want > CHAIN_BATCH)
		want = CHAIN_BATCH;
	/* CLOCK: two sweeps at most, clearing reference bits on the way. */
	for (uint64_t s = 0; s < 2 * br->npages && n < want; s++) {
		uint64_t pg = br->hand;
		br->hand = (br->hand + 1) % br->npages;
		_Atomic uint16_t *e = &br->map[pg];
		uint16_t cur = atomic_load(e);
		if (me_tier(cur) != (int)t || (cur & (ME_MOVING | ME_PUTTING)))
			continue;
		if (cur & ME_REF) {
			atomic_compare_exchange_strong(e, &cur,
						       cur & ~ME_REF);
			continue;
		}
		if (!atomic_compare_exchange_strong(e, &cur, cur | ME_MOVING))
			continue;
		ent[n] = cur;
		k[n].region_id = br->id;
		k[n].pgoff = pg;
		k[n].server = cur & ME_SERVER;
		bufs[n] = be->dbuf + n * ps;
		n++;
	}
	if (!n)
		return 0;
	from->ops->multi_get(c->sub[t], br->sub[t], k, bufs, n, res);
	/* Keep the ones we could read and find room for below. */
	unsigned m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (res[i] == 0 && tier_reserve(to) == 0) {
			ent[m] = ent[i];
			k[m] = k[i];
			bufs[m] = bufs[i];
			k[m].server = to->ops->place(c->sub[t + 1], &k[m]);
			m++;
			continue;
		}
		if (res[i])
			atomic_fetch_add(&from->errors, 1);
		/* Left where it is; a fetch will report it if it is bad. */
		atomic_fetch_and(&br->map[k[i].pgoff], (uint16_t)~ME_MOVING);
	}
	if (!m)
		return 0;
	to->ops->multi_put(c->sub[t + 1], br->sub[t + 1], k,
			   (const void *const *)bufs, m, res);
	struct page_key gone[CHAIN_BATCH];
	uint16_t gone_where[CHAIN_BATCH];
	unsigned ngone = 0, full = 0;
	for (unsigned i = 0; i < m; i++) {
		_Atomic uint16_t *e = &br->map[k[i].pgoff];
		if (res[i]) {
			tier_release(to);
			if (res[i] == -ENOSPC)
				full = 1;
			else
				atomic_fetch_add(&to->errors, 1);
			atomic_fetch_and(e, (uint16_t)~ME_MOVING);
			continue;
		}
		entry_set(e, me_make((int)t + 1, k[i].server) | ME_MOVING);
		tier_release(from);
		gone[ngone] = k[i];
		gone[ngone].server = ent[i] & ME_SERVER;
		gone_where[ngone++] = ent[i];
	}
	if (full)
		tier_mark_full(to);
	if (ngone)
		sub_del(c, br, gone, gone_where, ngone);
	for (unsigned i = 0; i < ngone; i++)
		atomic_fetch_and(&br->map[gone[i].pgoff],
				 (uint16_t)~ME_MOVING);
	atomic_fetch_add(&from->demoted_out, ngone);
	atomic_fetch_add(&to->demoted_in, ngone);
	return ngone;
}

/* Take the next region for the demoter (marked in use) or NULL. */
static struct backend_region *demote_next(struct backend *be)
{
	struct backend_region *br;

	pthread_mutex_lock(&be->lock);
	br = be->cursor ? be->cursor : be->regions;
	if (br) {
		be->cursor = br->next;
		br->in_use = 1;
	}
	pthread_mutex_unlock(&be->lock);
	return br;
}

static void demote_done(struct backend *be, struct backend_region *br)
{
	pthread_mutex_lock(&be->lock);
	br->in_use = 0;
	pthread_cond_broadcast(&be->cond);
	pthread_mutex_unlock(&be->lock);
}

/* Bring tier @t down to its low watermark if the tier below has room. */
static unsigned demote_tier(struct backend *be, unsigned t)
{
	struct tier *from = &be->tiers[t];
	unsigned moved = 0, idle = 0, nregions = 0;

	pthread_mutex_lock(&be->lock);
	for (struct backend_region *r = be->regions; r; r = r->next)
		nregions++;
	pthread_mutex_unlock(&be->lock);
	while (atomic_load(&from->used) > from->low && idle <= nregions) {
		pthread_mutex_lock(&be->lock);
		int stop = be->stop;
		pthread_mutex_unlock(&be->lock);
		if (stop)
			break;
		struct backend_region *br = demote_next(be);
		if (!br)
			break;
		uint64_t over = atomic_load(&from->used) - from->low;
		unsigned n = demote_region(be, br, t,
					   over < CHAIN_BATCH ? (unsigned)over
							      : CHAIN_BATCH);
		demote_done(be, br);
		moved += n;
		idle = n ? 0 : idle + 1;
		if (n == 0 && atomic_load(&be->tiers[t + 1].used) >=
				      be->tiers[t + 1].capacity)
			break; /* nowhere to go */
	}
	return moved;
}

static void *chain_demoter(void *arg)
{
	struct backend *be = arg;

	for (;;) {
		pthread_mutex_lock(&be->lock);
		if (!be->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&be->cond, &be->lock, &ts);
		}
		int stop = be->stop;
		pthread_mutex_unlock(&be->lock);
		if (stop)
			break;
		/* Bottom up, so each tier has room for what comes next. */
		for (int t = (int)be->ntiers - 2; t >= 0; t--)
			if (tier_over_high(be, (unsigned)t) &&
			    demote_tier(be, (unsigned)t))
				atomic_fetch_add(&be->demote_rounds, 1);
	}
	return NULL;
}

/* ---- regions ---- */

static void map_name(struct backend *be, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016" PRIx64 ".map", be->map_dir, id);
}

static int chain_region_open(struct backend *be, uint64_t id, uint64_t npages,
			     int create, struct backend_region **out)
{
	struct backend_region *br = calloc(1, sizeof(*br));
	char name[600];
	int fd, ret;
	unsigned t = 0;

	if (!br)
		return -ENOMEM;
	br->id = id;
	br->npages = npages;
	br->map_len = npages * sizeof(uint16_t);
	map_name(be, id, name, sizeof(name));
	fd = open(name, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0),
		  0600);
	if (fd < 0 && errno == ENOENT && !create) {
		/* Another host's region (cluster collection): no map, so
		 * deletes go blindly to every page offset. */
		br->blind = 1;
		fd = open(name, O_RDWR | O_CLOEXEC | O_CREAT | O_TRUNC, 0600);
	}
	if (fd < 0) {
		ret = -errno;
		goto out_free;
	}
	struct stat st;
	if ((create || br->blind) && ftruncate(fd, (off_t)br->map_len) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != br->map_len) {
		ret = -EUCLEAN;
		goto out_close;
	}
	br->map = mmap(NULL, br->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (br->map == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	close(fd);
	fd = -1;
	for (; t < be->ntiers; t++) {
		ret = be->tiers[t].ops->region_open(be->tiers[t].be, id, npages,
						    create, &br->sub[t]);
		if (ret) {
			log_err("chain: tier %u (%s) cannot open region "
				"%016" PRIx64 ": %s",
				t, be->tiers[t].kind, id, strerror(-ret));
			goto out_subs;
		}
	}
	/* Count what a previous monitor left; a copy it was still moving
	 * or writing when it died is the one the entry names. */
	if (!create) {
		/* A monitor killed mid-put or mid-demotion can leave a copy
		 * the map does not name: dropping this region later deletes
		 * every page offset, not just the mapped ones. */
		br->blind = 1;
		for (uint64_t pg = 0; pg < npages; pg++) {
			uint16_t e = atomic_load(&br->map[pg]);
			int tt = me_tier(e);
			if (tt >= (int)be->ntiers) {
				log_err("chain: region %016" PRIx64
					" page %" PRIu64 " names tier %d, "
					"but --mem-path has %u",
					id, pg, tt, be->ntiers);
				ret = -EUCLEAN;
				goto out_subs;
			}
			atomic_store(&br->map[pg], e & (ME_WHERE | ME_REF));
			if (tt >= 0)
				atomic_fetch_add(&be->tiers[tt].used, 1);
		}
	}
	pthread_mutex_lock(&be->lock);
	br->next = be->regions;
	be->regions = br;
	pthread_mutex_unlock(&be->lock);
	*out = br;
	return 0;
out_subs:
	while (t--)
		be->tiers[t].ops->region_close(be->tiers[t].be, br->sub[t], 0);
	munmap((void *)br->map, br->map_len);
out_close:
	if (fd >= 0)
		close(fd);
	if (create || br->blind)
		unlink(name);
out_free:
	free(br);
	return ret;
}

/* A dying region: delete its pages from tiers that keep pages by key. */
static void chain_region_drop(struct backend *be, struct backend_region *br)
{
	struct page_key k[CHAIN_BATCH];

	pthread_mutex_lock(&be->hk_lock);
	if (!be->hkconn)
		be->hkconn = chain_conn_open(be);
	if (!be->hkconn) {
		pthread_mutex_unlock(&be->hk_lock);
		log_warn("chain: region %016" PRIx64
			 ": no connection to delete its pages",
			 br->id);
		return;
	}
	for (unsigned t = 0; t < be->ntiers; t++) {
		struct tier *tr = &be->tiers[t];
		unsigned m = 0;
		if (tr->ops->drops_by_region)
			continue;
		for (uint64_t pg = 0; pg < br->npages; pg++) {
			uint16_t e = atomic_load(&br->map[pg]);
			if (!br->blind && me_tier(e) != (int)t)
				continue;
			k[m].region_id = br->id;
			k[m].pgoff = pg;
			k[m].server = br->blind ? BACKEND_NO_SERVER
						: (e & ME_SERVER);
			if (++m == CHAIN_BATCH) {
				tr->ops->del(be->hkconn->sub[t], br->sub[t], k,
					     m);
				m = 0;
			}
		}
		if (m)
			tr->ops->del(be->hkconn->sub[t], br->sub[t], k, m);
	}
	pthread_mutex_unlock(&be->hk_lock);
}

static void chain_region_close(struct backend *be, struct backend_region *br,
			       int destroy)
{
	char name[600];

	pthread_mutex_lock(&be->lock);
	while (br->in_use)
		pthread_cond_wait(&be->cond, &be->lock);
	for (struct backend_region **pp = &be->regions; *pp;
	     pp = &(*pp)->next)
		if (*pp == br) {
			*pp = br->next;
			break;
		}
	if (be->cursor == br)
		be->cursor = br->next;
	pthread_mutex_unlock(&be->lock);
	if (destroy)
		chain_region_drop(be, br);
	for (uint64_t pg = 0; pg < br->npages; pg++) {
		int t = me_tier(atomic_load(&br->map[pg]));
		if (t >= 0)
			tier_release(&be->tiers[t]);
	}
	for (unsigned t = 0; t < be->ntiers; t++)
		be->tiers[t].ops->region_close(be->tiers[t].be, br->sub[t],
					       destroy);
	munmap((void *)br->map, br->map_len);
	if (destroy) {
		map_name(be, br->id, name, sizeof(name));
		unlink(name);
	}
	free(br);
}

/* ---- the backend ---- */

static int mkdir_one(const char *path)
{
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

static void chain_close(struct backend *be)
{
	if (!be)
		return;
	if (be->demoter_started) {
		pthread_mutex_lock(&be->lock);
		be->stop = 1;
		pthread_cond_broadcast(&be->cond);
		pthread_mutex_unlock(&be->lock);
		pthread_join(be->demoter, NULL);
	}
	chain_conn_close(be->dconn);
	chain_conn_close(be->hkconn);
	free(be->dbuf);
	for (unsigned t = 0; t < be->ntiers; t++)
		if (be->tiers[t].be)
			be->tiers[t].ops->close(be->tiers[t].be);
	pthread_mutex_destroy(&be->lock);
	pthread_mutex_destroy(&be->hk_lock);
	pthread_cond_destroy(&be->cond);
	free(be);
}

static int chain_open(const struct backend_params *p, struct backend **out,
		      char *err, size_t errlen)
{
	struct backend *be = calloc(1, sizeof(*be));
	int ret;

	if (!be)
		return -ENOMEM;
	be->page_size = p->page_size;
	pthread_mutex_init(&be->lock, NULL);
	pthread_mutex_init(&be->hk_lock, NULL);
	pthread_cond_init(&be->cond, NULL);
	ret = chain_parse(be, p->locator, err, errlen);
	if (ret)
		goto out;
	snprintf(be->map_dir, sizeof(be->map_dir), "%s/chain", p->state_dir);
	ret = mkdir_one(be->map_dir);
	if (ret) {
		snprintf(err, errlen, "cannot create %s: %s", be->map_dir,
			 strerror(-ret));
		goto out;
	}
	for (unsigned t = 0; t < be->ntiers; t++) {
		struct tier *tr = &be->tiers[t];
		char dir[600], sub_err[512];
		/* Each tier keeps its own state (server tables, slot maps). */
		snprintf(dir, sizeof(dir), "%s/tier%u-%s", be->map_dir, t,
			 tr->kind);
		ret = mkdir_one(dir);
		if (ret) {
			snprintf(err, errlen, "cannot create %s: %s", dir,
				 strerror(-ret));
			goto out;
		}
		struct backend_params sp = *p;
		sp.locator = tr->locator[0] ? tr->locator : NULL;
		sp.state_dir = dir;
		sub_err[0] = '\0';
		ret = tr->ops->open(&sp, &tr->be, sub_err, sizeof(sub_err));
		if (ret) {
			snprintf(err, errlen, "tier %u (%s): %s", t, tr->kind,
				 sub_err[0] ? sub_err : strerror(-ret));
			goto out;
		}
	}
	be->dbuf = aligned_alloc(4096, (size_t)CHAIN_BATCH * be->page_size);
	be->dconn = chain_conn_open(be);
	if (!be->dbuf || !be->dconn) {
		snprintf(err, errlen, "cannot connect to every tier");
		ret = -ENOMEM;
		goto out;
	}
	ret = -pthread_create(&be->demoter, NULL, chain_demoter, be);
	if (ret == 0)
		pthread_setname_np(be->demoter, "fm-demote");
	if (ret) {
		snprintf(err, errlen, "cannot start the demoter: %s",
			 strerror(-ret));
		goto out;
	}
	be->demoter_started = 1;
	for (unsigned t = 0; t < be->ntiers; t++)
		log_info("tier %u: %s%s%s, %" PRIu64 " pages", t,
			 be->tiers[t].kind, be->tiers[t].locator[0] ? " " : "",
			 be->tiers[t].locator, be->tiers[t].capacity);
	*out = be;
	return 0;
out:
	chain_close(be);
	return ret;
}

/* Prefix a tier's own stats with "tier:<n>:". */
struct tier_emit {
	stats_emit_fn emit;
	void *arg;
	unsigned t;
};

static void __attribute__((format(printf, 3, 4)))
tier_emit(void *arg, const char *name, const char *fmt, ...)
{
	struct tier_emit *te = arg;
	char full[160], val[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "tier:%u:%s", te->t, name);
	te->emit(te->arg, full, "%s", val);
}

static void chain_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	emit(arg, "tiers", "%u", be->ntiers);
	emit(arg, "tier_demote_rounds", "%" PRIu64,
	     atomic_load(&be->demote_rounds));
	emit(arg, "tier_get_retries", "%" PRIu64,
	     atomic_load(&be->get_retries));
	emit(arg, "tier_all_full", "%" PRIu64, atomic_load(&be->all_full));
	for (unsigned t = 0; t < be->ntiers; t++) {
		struct tier *tr = &be->tiers[t];
		struct tier_emit te = { emit, arg, t };
		tier_emit(&te, "kind", "%s", tr->kind);
		tier_emit(&te, "locator", "%s", tr->locator);
		tier_emit(&te, "capacity", "%" PRIu64, tr->capacity);
		tier_emit(&te, "used", "%" PRIu64, atomic_load(&tr->used));
		tier_emit(&te, "gets", "%" PRIu64, atomic_load(&tr->gets));
		tier_emit(&te, "puts", "%" PRIu64, atomic_load(&tr->puts));
		tier_emit(&te, "spills", "%" PRIu64, atomic_load(&tr->spills));
		tier_emit(&te, "demoted_in", "%" PRIu64,
			  atomic_load(&tr->demoted_in));
		tier_emit(&te, "demoted_out", "%" PRIu64,
			  atomic_load(&tr->demoted_out));
		tier_emit(&te, "full", "%" PRIu64, atomic_load(&tr->full));
		tier_emit(&te, "errors", "%" PRIu64, atomic_load(&tr->errors));
		if (tr->ops->stats)
			tr->ops->stats(tr->be, tier_emit, &te);
	}
}

static void chain_tiers(struct backend *be,
			void (*emit)(void *arg, const char *line), void *arg)
{
	char line[512];

	for (unsigned t = 0; t < be->ntiers; t++) {
		struct tier *tr = &be->tiers[t];
		snprintf(line, sizeof(line),
			 "TIER %u %s capacity=%" PRIu64 " used=%" PRIu64
			 " gets=%" PRIu64 " puts=%" PRIu64 " spills=%" PRIu64
			 " demoted_in=%" PRIu64 " demoted_out=%" PRIu64
			 " full=%" PRIu64 " errors=%" PRIu64,
			 t, tr->kind, tr->capacity, atomic_load(&tr->used),
			 atomic_load(&tr->gets), atomic_load(&tr->puts),
			 atomic_load(&tr->spills),
			 atomic_load(&tr->demoted_in),
			 atomic_load(&tr->demoted_out), atomic_load(&tr->full),
			 atomic_load(&tr->errors));
		emit(arg, line);
	}
	emit(arg, "END");
}

const struct backend_ops chain_backend = {
	.name = "chain",
	.description = "tiers stacked by --mem-path, coldest pages demoted",
	.drops_by_region = 1,
	.open = chain_open,
	.check = chain_check,
	.close = chain_close,
	.region_open = chain_region_open,
	.region_close = chain_region_close,
	.place = chain_place,
	.conn_open = chain_conn_open,
	.conn_close = chain_conn_close,
	.multi_get = chain_multi_get,
	.multi_put = chain_multi_put,
	.del = chain_del,
	.stats = chain_stats,
	.tiers = chain_tiers,
};
