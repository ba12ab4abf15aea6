/*
 * memcached backend (libmemcached). Key: "fm:<region id>:<pgoff>" - never
 * the client's address, since several monitors share one pool. Value:
 * the page followed by a trailer naming the page and carrying its
 * CRC32C, so a page memcached dropped (it evicts when full unless run
 * with -M) or mangled is detected and never handed out.
 */
#include "config.h"
#include "backend.h"
#include "crc32c.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <libmemcached/memcached.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRAILER_MAGIC 0x464d5047U /* "FMPG" */
#define KEY_MAX 48

struct trailer {
	uint32_t magic;
	uint32_t crc;
	uint64_t region_id;
	uint64_t pgoff;
};

struct backend {
	char config[1024];
	uint32_t page_size;
	_Atomic uint64_t gets, misses, bad, puts, put_errors, dels, errors;
};

struct backend_region {
	uint64_t id;
};

struct backend_conn {
	struct backend *be;
	memcached_st *mc;
	memcached_result_st result;
	char *value; /* page + trailer scratch for sets */
	char keys[64][KEY_MAX];
	const char *keyp[64];
	size_t keylen[64];
};

static size_t key_format(char *buf, const struct page_key *k)
{
	return (size_t)snprintf(buf, KEY_MAX, "fm:%016" PRIx64 ":%" PRIx64,
				k->region_id, k->pgoff);
}

static int rc_errno(memcached_return_t rc)
{
	switch (rc) {
	case MEMCACHED_SUCCESS:
		return 0;
	case MEMCACHED_NOTFOUND:
		return -ENOENT;
	case MEMCACHED_CONNECTION_FAILURE:
	case MEMCACHED_SERVER_MARKED_DEAD:
	case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
	case MEMCACHED_NO_SERVERS:
		return -ECONNREFUSED;
	case MEMCACHED_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

static memcached_st *mc_connect(const char *config)
{
	memcached_st *mc = memcached(config, strlen(config));

	if (!mc)
		return NULL;
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 1000);
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 2000);
	/* A restarted server is retried after 1 s, not the default 2 s. */
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
	return mc;
}

static int mc_open(const struct backend_params *p, struct backend **out,
		   char *err, size_t errlen)
{
	char cfgerr[256] = "";
	struct backend *be;
	memcached_return_t rc;

	if (!p->locator || strlen(p->locator) >= sizeof(be->config)) {
		snprintf(err, errlen, "a LOCATOR such as "
				      "--SERVER=127.0.0.1:11211 is required");
		return -EINVAL;
	}
	rc = libmemcached_check_configuration(p->locator, strlen(p->locator),
					      cfgerr, sizeof(cfgerr));
	if (rc != MEMCACHED_SUCCESS) {
		snprintf(err, errlen, "invalid LOCATOR '%s': %s", p->locator,
			 cfgerr);
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	strcpy(be->config, p->locator);
	be->page_size = p->page_size;

	/* Refuse to start against a pool we cannot write to. */
	memcached_st *mc = mc_connect(be->config);
	char key[64];
	int n = snprintf(key, sizeof(key), "fm:probe:%d", (int)getpid());
	rc = mc ? memcached_set(mc, key, (size_t)n, "x", 1, 0, 0)
		: MEMCACHED_FAILURE;
	if (rc == MEMCACHED_SUCCESS)
		memcached_delete(mc, key, (size_t)n, 0);
	else
		snprintf(err, errlen, "cannot store to memcached (%s): %s",
			 be->config,
			 mc ? memcached_strerror(mc, rc) : "bad configuration");
	if (mc)
		memcached_free(mc);
	if (rc != MEMCACHED_SUCCESS) {
		free(be);
		return -ECONNREFUSED;
	}
	*out = be;
	return 0;
}

static void mc_close(struct backend *be)
{
	free(be);
}

static int mc_region_open(struct backend *be, uint64_t id, uint64_t npages,
			  int create, struct backend_region **out)
{
	struct backend_region *br = calloc(1, sizeof(*br));

	if (!br)
		return -ENOMEM;
	br->id = id;
	*out = br;
	return 0;
}

static void mc_region_close(struct backend *be, struct backend_region *br,
			    int destroy)
{
	/* The monitor deletes the region's keys before it gets here. */
	free(br);
}

static struct backend_conn *mc_conn_open(struct backend *be)
{
	struct backend_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->be = be;
	c->mc = mc_connect(be->config);
	c->value = malloc(be->page_size + sizeof(struct trailer));
	if (!c->mc || !c->value ||
	    !memcached_result_create(c->mc, &c->result)) {
		if (c->mc)
			memcached_free(c->mc);
		free(c->value);
		free(c);
		return NULL;
	}
	for (unsigned i = 0; i < 64; i++)
		c->keyp[i] = c->keys[i];
	return c;
}

static void mc_conn_close(struct backend_conn *c)
{
	memcached_result_free(&c->result);
	memcached_free(c->mc);
	free(c->value);
	free(c);
}

/* Is this fetched value the page we asked for, intact? */
static int value_check(struct backend *be, const struct page_key *k,
		       const char *v, size_t len)
{
	struct trailer t;

	if (len != be->page_size + sizeof(t))
		return -EBADMSG;
	memcpy(&t, v + be->page_size, sizeof(t));
	if (t.magic != TRAILER_MAGIC || t.region_id != k->region_id ||
	    t.pgoff != k->pgoff || t.crc != crc32c(0, v, be->page_size))
		return -EBADMSG;
	return 0;
}

static void mc_multi_get(struct backend_conn *c, struct backend_region *br,
			 const struct page_key *keys, void *const *bufs,
			 unsigned n, int *res)
{
	struct backend *be = c->be;
	memcached_return_t rc;

	for (unsigned base = 0; base < n; base += 64) {
		unsigned m = n - base < 64 ? n - base : 64;
		for (unsigned i = 0; i < m; i++) {
			c->keylen[i] = key_format(c->keys[i], &keys[base + i]);
			res[base + i] = -ENOENT;
		}
		rc = memcached_mget(c->mc, c->keyp, c->keylen, m);
		if (rc != MEMCACHED_SUCCESS) {
			for (unsigned i = 0; i < m; i++)
				res[base + i] = rc_errno(rc) == -ENOENT
							? -EIO
							: rc_errno(rc);
			atomic_fetch_add(&be->errors, 1);
			log_debug("memcached mget: %s",
				  memcached_strerror(c->mc, rc));
			continue;
		}
		while (memcached_fetch_result(c->mc, &c->result, &rc)) {
			const char *k = memcached_result_key_value(&c->result);
			size_t kl = memcached_result_key_length(&c->result);
			for (unsigned i = 0; i < m; i++) {
				if (kl != c->keylen[i] ||
				    memcmp(k, c->keys[i], kl) != 0)
					continue;
				const char *v =
					memcached_result_value(&c->result);
				size_t vl = memcached_result_length(&c->result);
				res[base + i] =
					value_check(be, &keys[base + i], v, vl);
				if (res[base + i] == 0)
					memcpy(bufs[base + i], v, be->page_size);
				else
					atomic_fetch_add(&be->bad, 1);
				break;
			}
		}
		if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS &&
		    rc != MEMCACHED_NOTFOUND) {
			/* Connection trouble: a miss here proves nothing. */
			for (unsigned i = 0; i < m; i++)
				if (res[base + i] == -ENOENT)
					res[base + i] = rc_errno(rc) == -ENOENT
								? -EIO
								: rc_errno(rc);
			atomic_fetch_add(&be->errors, 1);
		}
		for (unsigned i = 0; i < m; i++) {
			atomic_fetch_add(&be->gets, 1);
			if (res[base + i] == -ENOENT)
				atomic_fetch_add(&be->misses, 1);
		}
	}
}

static void mc_multi_put(struct backend_conn *c, struct backend_region *br,
			 const struct page_key *keys, const void *const *bufs,
			 unsigned n, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;
	char key[KEY_MAX];

	for (unsigned i = 0; i < n; i++) {
		struct trailer t = {
			.magic = TRAILER_MAGIC,
			.crc = crc32c(0, bufs[i], ps),
			.region_id = keys[i].region_id,
			.pgoff = keys[i].pgoff,
		};
		memcpy(c->value, bufs[i], ps);
		memcpy(c->value + ps, &t, sizeof(t));
		size_t kl = key_format(key, &keys[i]);
		memcached_return_t rc = memcached_set(c->mc, key, kl, c->value,
						      ps + sizeof(t), 0, 0);
		res[i] = rc_errno(rc);
		if (res[i] == -ENOENT)
			res[i] = -EIO;
		if (res[i]) {
			atomic_fetch_add(&be->put_errors, 1);
			log_debug("memcached set %s: %s", key,
				  memcached_strerror(c->mc, rc));
		} else {
			atomic_fetch_add(&be->puts, 1);
		}
	}
}

static void mc_del(struct backend_conn *c, struct backend_region *br,
		   const struct page_key *keys, unsigned n)
{
	char key[KEY_MAX];

	for (unsigned i = 0; i < n; i++) {
		size_t kl = key_format(key, &keys[i]);
		memcached_delete(c->mc, key, kl, 0);
	}
	atomic_fetch_add(&c->be->dels, n);
}

static void mc_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	emit(arg, "memcached_servers", "%s", be->config);
	emit(arg, "memcached_gets", "%" PRIu64, atomic_load(&be->gets));
	emit(arg, "memcached_misses", "%" PRIu64, atomic_load(&be->misses));
	emit(arg, "memcached_bad_values", "%" PRIu64, atomic_load(&be->bad));
	emit(arg, "memcached_puts", "%" PRIu64, atomic_load(&be->puts));
	emit(arg, "memcached_put_errors", "%" PRIu64,
	     atomic_load(&be->put_errors));
	emit(arg, "memcached_deletes", "%" PRIu64, atomic_load(&be->dels));
	emit(arg, "memcached_errors", "%" PRIu64, atomic_load(&be->errors));
}

const struct backend_ops memcached_backend = {
	.name = "memcached",
	.description = "a memcached pool through libmemcached",
	.drops_by_region = 0,
	.open = mc_open,
	.close = mc_close,
	.region_open = mc_region_open,
	.region_close = mc_region_close,
	.conn_open = mc_conn_open,
	.conn_close = mc_conn_close,
	.multi_get = mc_multi_get,
	.multi_put = mc_multi_put,
	.del = mc_del,
	.stats = mc_stats,
};
