/*
 * memcached backend (libmemcached). Key: "fm:<region id>:<pgoff>" - never
 * the client's address, since several monitors share one pool. Value:
 * the page followed by a trailer naming the page and carrying its
 * CRC32C, so a page memcached dropped (it evicts when full unless run
 * with -M) or mangled is detected and never handed out.
 *
 * Placement is ours, not libmemcached's: each server has a stable index
 * (kept in <run dir>/memcached.servers), a page goes to the live server
 * its key ranks highest (rendezvous hashing), and the monitor records the
 * index per page. A fetch always goes to the server that was written,
 * so servers joining or leaving never silently move a page; a page on a
 * server that left is lost, loudly.
 *
 * Stores skip libmemcached: a set is one round trip there, so a batch of
 * evicted pages goes to each server as one pipelined write of quiet sets
 * (mc_pipe.c) that still reports per page. Fetches stay multi-gets.
 */
#include "config.h"
#include "backend.h"
#include "crc32c.h"
#include "hash.h"
#include "log.h"
#include "mc_pipe.h"

#include <errno.h>
#include <inttypes.h>
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRAILER_MAGIC 0x464d5047U /* "FMPG" */
#define KEY_MAX 48
#define BATCH 64
_Static_assert(BATCH >= MC_PIPE_MAX && KEY_MAX <= MC_PIPE_KEY_MAX,
	       "a put batch fits the idx and key scratch");
#define PIPE_TIMEOUT_MS 2000 /* as libmemcached's poll timeout below */

struct trailer {
	uint32_t magic;
	uint32_t crc;
	uint64_t region_id;
	uint64_t pgoff;
};

struct mc_server {
	char name[256];	    /* what follows --SERVER= or --SOCKET= */
	int is_socket;
	int from_locator;   /* named on the command line: never retired */
	uint64_t hash;	    /* of the name, for rendezvous placement */
	_Atomic int live;
	_Atomic uint64_t gets, puts;
};

struct backend {
	char locator[1024];
	char options[1024]; /* non-server options, applied to each server */
	char table_path[512];
	uint32_t page_size;
	pthread_mutex_t lock; /* server table changes */
	struct mc_server servers[BACKEND_MAX_SERVERS];
	_Atomic unsigned nservers;
	_Atomic uint64_t gets, misses, bad, puts, put_errors, dels, errors;
	_Atomic uint64_t put_batches;
	int pipeline; /* stores through mc_pipe.c (off if keys get a prefix) */
};

struct backend_region {
	uint64_t id;
};

struct backend_conn {
	struct backend *be;
	memcached_st *mc[BACKEND_MAX_SERVERS]; /* connected on first use */
	/* Embedded, not heap-created: libmemcached frees a result it
	 * allocated itself when a fetch loop ends. */
	memcached_result_st result[BACKEND_MAX_SERVERS];
	char *value; /* page + trailer scratch for sets */
	struct mc_pipe *pipe[BACKEND_MAX_SERVERS]; /* made on first store */
	uint8_t nopipe[BACKEND_MAX_SERVERS];	   /* server refused it */
	struct mc_pipe_item items[MC_PIPE_MAX];
	struct trailer trail[MC_PIPE_MAX];
	char keys[BATCH][KEY_MAX];
	const char *keyp[BATCH];
	size_t keylen[BATCH];
	unsigned idx[BATCH];
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

/* A failure that is not a clean miss: never report it as -ENOENT. */
static int rc_fail(memcached_return_t rc)
{
	int e = rc_errno(rc);

	return e == -ENOENT || e == 0 ? -EIO : e;
}

static memcached_st *mc_connect(const struct backend *be,
				const struct mc_server *s)
{
	char cfg[1536];
	memcached_st *mc;

	snprintf(cfg, sizeof(cfg), "--%s=%s%s%s", s->is_socket ? "SOCKET" : "SERVER",
		 s->name, be->options[0] ? " " : "", be->options);
	mc = memcached(cfg, strlen(cfg));
	if (!mc)
		return NULL;
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 1000);
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 2000);
	/* A restarted server is retried after 1 s, not the default 2 s. */
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 1);
	return mc;
}

/* Index of @name in the table, or -1. Called with be->lock held. */
static int server_find(struct backend *be, const char *name, int is_socket)
{
	unsigned n = atomic_load(&be->nservers);

	for (unsigned i = 0; i < n; i++)
		if (be->servers[i].is_socket == is_socket &&
		    strcmp(be->servers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Append a server (dead until marked live). Called with be->lock held. */
static int server_add(struct backend *be, const char *name, int is_socket)
{
	unsigned n = atomic_load(&be->nservers);
	struct mc_server *s;

	if (n >= BACKEND_MAX_SERVERS - 1)
		return -ENOSPC;
	if (strlen(name) >= sizeof(s->name))
		return -ENAMETOOLONG;
	s = &be->servers[n];
	strcpy(s->name, name);
	s->is_socket = is_socket;
	s->hash = hash_str(name);
	atomic_store(&s->live, 0);
	atomic_store(&be->nservers, n + 1); /* publish after filling in */
	return (int)n;
}

/* Indices must survive restarts: pages record them. */
static int table_save(struct backend *be)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", be->table_path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	for (unsigned i = 0; i < atomic_load(&be->nservers); i++)
		fprintf(f, "%u %s %s\n", i,
			be->servers[i].is_socket ? "socket" : "server",
			be->servers[i].name);
	if (fclose(f) != 0 || rename(tmp, be->table_path) < 0)
		return -errno;
	return 0;
}

static int table_load(struct backend *be)
{
	char line[512], kind[16], name[300];
	unsigned idx;
	FILE *f = fopen(be->table_path, "r");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%u %15s %299s", &idx, kind, name) != 3 ||
		    idx != atomic_load(&be->nservers) ||
		    server_add(be, name, strcmp(kind, "socket") == 0) < 0) {
			fclose(f);
			return -EUCLEAN;
		}
	}
	fclose(f);
	return 0;
}

/* Split a LOCATOR into server names and the options every server gets. */
static int locator_split(struct backend *be, const char *loc,
			 char names[][256], int *is_socket, unsigned *n,
			 char *err, size_t errlen)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", loc);
	*n = 0;
	be->options[0] = '\0';
	for (char *t = strtok_r(buf, " \t", &save); t;
	     t = strtok_r(NULL, " \t", &save)) {
		int sock = strncmp(t, "--SOCKET=", 9) == 0;
		if (sock || strncmp(t, "--SERVER=", 9) == 0) {
			const char *v = t + 9;
			size_t len = strlen(v);
			if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
				v++;
				len -= 2;
			}
			if (*n >= BACKEND_MAX_SERVERS - 1 || len == 0 ||
			    len >= 256) {
				snprintf(err, errlen, "bad server '%s'", t);
				return -EINVAL;
			}
			memcpy(names[*n], v, len);
			names[*n][len] = '\0';
			is_socket[(*n)++] = sock;
		} else {
			size_t used = strlen(be->options);
			snprintf(be->options + used, sizeof(be->options) - used,
				 "%s%s", used ? " " : "", t);
		}
	}
	if (*n == 0) {
		snprintf(err, errlen, "the LOCATOR names no --SERVER or --SOCKET");
		return -EINVAL;
	}
	return 0;
}

/* Refuse to start against a server we cannot write to. */
static int server_probe(struct backend *be, struct mc_server *s, char *err,
			size_t errlen)
{
	memcached_st *mc = mc_connect(be, s);
	memcached_return_t rc = MEMCACHED_FAILURE;
	char key[64];
	int n = snprintf(key, sizeof(key), "fm:probe:%d", (int)getpid());

	if (mc)
		rc = memcached_set(mc, key, (size_t)n, "x", 1, 0, 0);
	if (rc == MEMCACHED_SUCCESS)
		memcached_delete(mc, key, (size_t)n, 0);
	else
		snprintf(err, errlen, "cannot store to memcached %s: %s",
			 s->name,
			 mc ? memcached_strerror(mc, rc) : "bad configuration");
	if (mc)
		memcached_free(mc);
	return rc == MEMCACHED_SUCCESS ? 0 : -ECONNREFUSED;
}

static int mc_open(const struct backend_params *p, struct backend **out,
		   char *err, size_t errlen)
{
	static char names[BACKEND_MAX_SERVERS][256];
	int is_socket[BACKEND_MAX_SERVERS];
	char cfgerr[256] = "";
	struct backend *be;
	unsigned n;
	int ret;

	if (!p->locator || strlen(p->locator) >= sizeof(be->locator)) {
		snprintf(err, errlen, "a LOCATOR such as "
				      "--SERVER=127.0.0.1:11211 is required");
		return -EINVAL;
	}
	if (libmemcached_check_configuration(p->locator, strlen(p->locator),
					     cfgerr, sizeof(cfgerr)) !=
	    MEMCACHED_SUCCESS) {
		snprintf(err, errlen, "invalid LOCATOR '%s': %s", p->locator,
			 cfgerr);
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	strcpy(be->locator, p->locator);
	be->page_size = p->page_size;
	be->pipeline = 1;
	pthread_mutex_init(&be->lock, NULL);
	snprintf(be->table_path, sizeof(be->table_path), "%s/memcached.servers",
		 p->state_dir ? p->state_dir : ".");
	ret = locator_split(be, p->locator, names, is_socket, &n, err, errlen);
	if (ret)
		goto fail;
	/* Our own writer cannot apply libmemcached's key namespace. */
	if (strcasestr(be->options, "NAMESPACE") ||
	    strcasestr(be->options, "PREFIX"))
		be->pipeline = 0;
	ret = table_load(be);
	if (ret) {
		snprintf(err, errlen, "%s is damaged: %s", be->table_path,
			 strerror(-ret));
		goto fail;
	}
	/* Servers known from before keep their index; new ones append.
	 * Known servers missing from the LOCATOR stay dead: their pages
	 * are lost, never looked for elsewhere. */
	for (unsigned i = 0; i < n; i++) {
		int idx = server_find(be, names[i], is_socket[i]);
		if (idx < 0)
			idx = server_add(be, names[i], is_socket[i]);
		if (idx < 0) {
			ret = idx;
			snprintf(err, errlen, "too many servers");
			goto fail;
		}
		ret = server_probe(be, &be->servers[idx], err, errlen);
		if (ret)
			goto fail;
		be->servers[idx].from_locator = 1;
		atomic_store(&be->servers[idx].live, 1);
	}
	ret = table_save(be);
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", be->table_path,
			 strerror(-ret));
		goto fail;
	}
	*out = be;
	return 0;
fail:
	free(be);
	return ret;
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
	c->value = malloc(be->page_size + sizeof(struct trailer));
	if (!c->value) {
		free(c);
		return NULL;
	}
	for (unsigned i = 0; i < BATCH; i++)
		c->keyp[i] = c->keys[i];
	return c;
}

static void mc_conn_close(struct backend_conn *c)
{
	for (unsigned i = 0; i < BACKEND_MAX_SERVERS; i++) {
		if (c->mc[i]) {
			memcached_result_free(&c->result[i]);
			memcached_free(c->mc[i]);
		}
		mc_pipe_free(c->pipe[i]);
	}
	free(c->value);
	free(c);
}

/* This thread's connection to server @s (made once, not per fault). */
static memcached_st *conn_server(struct backend_conn *c, unsigned s)
{
	if (s >= atomic_load(&c->be->nservers))
		return NULL;
	if (!c->mc[s]) {
		c->mc[s] = mc_connect(c->be, &c->be->servers[s]);
		if (c->mc[s] &&
		    !memcached_result_create(c->mc[s], &c->result[s])) {
			memcached_free(c->mc[s]);
			c->mc[s] = NULL;
		}
	}
	return c->mc[s];
}

static uint8_t mc_place(struct backend_conn *c, const struct page_key *k)
{
	struct backend *be = c->be;
	uint64_t kh = hash_mix64(k->region_id ^ hash_mix64(k->pgoff + 1)), best = 0;
	unsigned n = atomic_load(&be->nservers);
	uint8_t pick = BACKEND_NO_SERVER;

	for (unsigned i = 0; i < n; i++) {
		if (!atomic_load(&be->servers[i].live))
			continue;
		uint64_t score = hash_mix64(kh ^ be->servers[i].hash);
		if (pick == BACKEND_NO_SERVER || score > best) {
			best = score;
			pick = (uint8_t)i;
		}
	}
	return pick;
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

/* Fetch keys[idx[0..m)] from server @s into their buffers. */
static void get_batch(struct backend_conn *c, unsigned s,
		      const struct page_key *keys, void *const *bufs,
		      unsigned m, int *res)
{
	struct backend *be = c->be;
	memcached_st *mc = conn_server(c, s);
	memcached_return_t rc;

	for (unsigned j = 0; j < m; j++) {
		c->keylen[j] = key_format(c->keys[j], &keys[c->idx[j]]);
		res[c->idx[j]] = -ENOENT;
	}
	if (!mc) {
		for (unsigned j = 0; j < m; j++)
			res[c->idx[j]] = -ENOMEM;
		return;
	}
	rc = memcached_mget(mc, c->keyp, c->keylen, m);
	if (rc != MEMCACHED_SUCCESS) {
		for (unsigned j = 0; j < m; j++)
			res[c->idx[j]] = rc_fail(rc);
		atomic_fetch_add(&be->errors, 1);
		log_debug("memcached %s mget: %s", be->servers[s].name,
			  memcached_strerror(mc, rc));
		return;
	}
	while (memcached_fetch_result(mc, &c->result[s], &rc)) {
		const char *k = memcached_result_key_value(&c->result[s]);
		size_t kl = memcached_result_key_length(&c->result[s]);
		for (unsigned j = 0; j < m; j++) {
			if (kl != c->keylen[j] || memcmp(k, c->keys[j], kl))
				continue;
			unsigned i = c->idx[j];
			const char *v = memcached_result_value(&c->result[s]);
			size_t vl = memcached_result_length(&c->result[s]);
			res[i] = value_check(be, &keys[i], v, vl);
			if (res[i] == 0)
				memcpy(bufs[i], v, be->page_size);
			else
				atomic_fetch_add(&be->bad, 1);
			break;
		}
	}
	if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS &&
	    rc != MEMCACHED_NOTFOUND) {
		/* Connection trouble: a miss here proves nothing. */
		for (unsigned j = 0; j < m; j++)
			if (res[c->idx[j]] == -ENOENT)
				res[c->idx[j]] = rc_fail(rc);
		atomic_fetch_add(&be->errors, 1);
	}
	atomic_fetch_add(&be->servers[s].gets, m);
}

static void mc_multi_get(struct backend_conn *c, struct backend_region *br,
			 const struct page_key *keys, void *const *bufs,
			 unsigned n, int *res)
{
	struct backend *be = c->be;
	unsigned nservers = atomic_load(&be->nservers);

	for (unsigned i = 0; i < n; i++)
		res[i] = 1; /* not yet asked */
	/* One multi-get per server, at most BATCH keys each. */
	for (unsigned i = 0; i < n; i++) {
		if (res[i] != 1)
			continue;
		unsigned s = keys[i].server, m = 0;
		if (s >= nservers || !atomic_load(&be->servers[s].live)) {
			/* Its server left the pool: the page is gone. */
			res[i] = -ENOENT;
			continue;
		}
		for (unsigned j = i; j < n && m < BATCH; j++)
			if (res[j] == 1 && keys[j].server == s) {
				c->idx[m++] = j;
				res[j] = 2;
			}
		get_batch(c, s, keys, bufs, m, res);
	}
	for (unsigned i = 0; i < n; i++) {
		atomic_fetch_add(&be->gets, 1);
		if (res[i] == -ENOENT)
			atomic_fetch_add(&be->misses, 1);
	}
}

/* This thread's pipeline to server @s, or NULL to use libmemcached. */
static struct mc_pipe *conn_pipe(struct backend_conn *c, unsigned s)
{
	struct backend *be = c->be;

	if (!be->pipeline || c->nopipe[s])
		return NULL;
	if (!c->pipe[s])
		c->pipe[s] = mc_pipe_new(be->servers[s].name,
					 be->servers[s].is_socket,
					 PIPE_TIMEOUT_MS);
	return c->pipe[s];
}

static void trailer_make(struct trailer *t, const struct page_key *k,
			 const void *page, size_t ps)
{
	*t = (struct trailer){
		.magic = TRAILER_MAGIC,
		.crc = crc32c(0, page, ps),
		.region_id = k->region_id,
		.pgoff = k->pgoff,
	};
}

static void put_done(struct backend *be, const struct page_key *k,
		     int res, const char *how)
{
	if (res) {
		atomic_fetch_add(&be->put_errors, 1);
		log_debug("memcached %s set fm:%016" PRIx64 ":%" PRIx64 ": %s",
			  be->servers[k->server].name, k->region_id, k->pgoff,
			  how);
	} else {
		atomic_fetch_add(&be->puts, 1);
		atomic_fetch_add(&be->servers[k->server].puts, 1);
	}
}

/* One libmemcached set per page: for servers that refuse our pipeline. */
static void put_each(struct backend_conn *c, unsigned s,
		     const struct page_key *keys, const void *const *bufs,
		     unsigned m, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;
	memcached_st *mc = conn_server(c, s);
	char key[KEY_MAX];

	for (unsigned j = 0; j < m; j++) {
		unsigned i = c->idx[j];
		memcached_return_t rc = MEMCACHED_FAILURE;
		if (mc) {
			struct trailer t;
			trailer_make(&t, &keys[i], bufs[i], ps);
			memcpy(c->value, bufs[i], ps);
			memcpy(c->value + ps, &t, sizeof(t));
			size_t kl = key_format(key, &keys[i]);
			rc = memcached_set(mc, key, kl, c->value,
					   ps + sizeof(t), 0, 0);
			res[i] = rc == MEMCACHED_SUCCESS ? 0 : rc_fail(rc);
		} else {
			res[i] = -ENODEV;
		}
		put_done(be, &keys[i], res[i],
			 mc ? memcached_strerror(mc, rc) : "no connection");
	}
}

/* Store keys[idx[0..m)] on server @s: one pipelined round trip. */
static void put_batch(struct backend_conn *c, unsigned s,
		      const struct page_key *keys, const void *const *bufs,
		      unsigned m, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;
	int ret;

	if (!be->pipeline || c->nopipe[s])
		return put_each(c, s, keys, bufs, m, res);
	if (!conn_pipe(c, s)) {
		for (unsigned j = 0; j < m; j++) {
			res[c->idx[j]] = -ENOMEM;
			put_done(be, &keys[c->idx[j]], -ENOMEM, "no memory");
		}
		return;
	}
	for (unsigned j = 0; j < m; j++) {
		unsigned i = c->idx[j];
		struct mc_pipe_item *it = &c->items[j];
		trailer_make(&c->trail[j], &keys[i], bufs[i], ps);
		it->keylen = key_format(it->key, &keys[i]);
		it->val = bufs[i];
		it->vallen = ps;
		it->tail = &c->trail[j];
		it->taillen = sizeof(c->trail[j]);
	}
	ret = mc_pipe_store(c->pipe[s], c->items, m);
	if (ret == -EPROTO ||
	    (ret == 0 && c->items[0].res == -EPROTONOSUPPORT)) {
		/* Not a binary-protocol server (memcached -B ascii). */
		log_warn("memcached %s: pipelined binary sets refused (%s); "
			 "storing one page per round trip",
			 be->servers[s].name, strerror(-ret ? -ret : EPROTONOSUPPORT));
		c->nopipe[s] = 1;
		return put_each(c, s, keys, bufs, m, res);
	}
	atomic_fetch_add(&be->put_batches, 1);
	if (ret)
		atomic_fetch_add(&be->errors, 1);
	for (unsigned j = 0; j < m; j++) {
		unsigned i = c->idx[j];
		res[i] = c->items[j].res;
		put_done(be, &keys[i], res[i], strerror(-res[i]));
	}
}

static void mc_multi_put(struct backend_conn *c, struct backend_region *br,
			 const struct page_key *keys, const void *const *bufs,
			 unsigned n, int *res)
{
	struct backend *be = c->be;
	unsigned nservers = atomic_load(&be->nservers);

	for (unsigned i = 0; i < n; i++)
		res[i] = 1; /* not yet stored */
	/* One pipelined batch per server, at most MC_PIPE_MAX pages each. */
	for (unsigned i = 0; i < n; i++) {
		if (res[i] != 1)
			continue;
		unsigned s = keys[i].server, m = 0;
		if (s >= nservers) {
			res[i] = -ENODEV;
			put_done(be, &keys[i], res[i], "no such server");
			continue;
		}
		for (unsigned j = i; j < n && m < MC_PIPE_MAX; j++)
			if (res[j] == 1 && keys[j].server == s) {
				c->idx[m++] = j;
				res[j] = 2;
			}
		put_batch(c, s, keys, bufs, m, res);
	}
}

/* Delete keys[idx[0..m)] from server @s: one round trip when we can. */
static void del_batch(struct backend_conn *c, unsigned s,
		      const struct page_key *keys, unsigned m)
{
	struct mc_pipe *p = conn_pipe(c, s);
	memcached_st *mc;

	if (p) {
		for (unsigned j = 0; j < m; j++)
			c->items[j].keylen = key_format(c->items[j].key,
							&keys[c->idx[j]]);
		int ret = mc_pipe_delete(p, c->items, m);
		if (ret != -EPROTO &&
		    !(ret == 0 && c->items[0].res == -EPROTONOSUPPORT))
			return; /* best effort: failures are not retried */
		c->nopipe[s] = 1;
	}
	mc = conn_server(c, s);
	for (unsigned j = 0; mc && j < m; j++) {
		char key[KEY_MAX];
		size_t kl = key_format(key, &keys[c->idx[j]]);
		memcached_delete(mc, key, kl, 0);
	}
}

static void mc_del(struct backend_conn *c, struct backend_region *br,
		   const struct page_key *keys, unsigned n)
{
	unsigned nservers = atomic_load(&c->be->nservers);

	/* Per server, in batches. A key with no recorded server (a dead
	 * monitor's region) goes to every live one. */
	for (unsigned s = 0; s < nservers; s++) {
		int live = atomic_load(&c->be->servers[s].live);
		unsigned m = 0;
		for (unsigned i = 0; i < n; i++) {
			if (keys[i].server != s &&
			    !(keys[i].server == BACKEND_NO_SERVER && live))
				continue;
			c->idx[m++] = i;
			if (m == MC_PIPE_MAX) {
				del_batch(c, s, keys, m);
				m = 0;
			}
		}
		if (m)
			del_batch(c, s, keys, m);
	}
	atomic_fetch_add(&c->be->dels, n);
}

static int mc_set_servers(struct backend *be, const char *const *names,
			  unsigned n)
{
	int ret = 0, changed = 0;

	pthread_mutex_lock(&be->lock);
	for (unsigned i = 0; i < n; i++) {
		int idx = server_find(be, names[i], 0);
		if (idx < 0) {
			idx = server_add(be, names[i], 0);
			if (idx < 0) {
				ret = idx;
				continue;
			}
			log_info("memcached: server %s joined the pool as %d",
				 names[i], idx);
			changed = 1;
		}
		if (!atomic_exchange(&be->servers[idx].live, 1) && !changed)
			log_info("memcached: server %s is back in the pool",
				 names[i]);
	}
	for (unsigned s = 0; s < atomic_load(&be->nservers); s++) {
		struct mc_server *srv = &be->servers[s];
		int listed = 0;
		for (unsigned i = 0; i < n && !listed; i++)
			listed = !srv->is_socket && strcmp(srv->name, names[i]) == 0;
		if (!listed && !srv->from_locator &&
		    atomic_exchange(&srv->live, 0))
			log_warn("memcached: server %s left the pool; pages "
				 "stored there are lost",
				 srv->name);
	}
	if (changed && (ret = table_save(be)))
		log_err("memcached: cannot write %s: %s", be->table_path,
			strerror(-ret));
	pthread_mutex_unlock(&be->lock);
	return ret;
}

static void mc_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	unsigned n = atomic_load(&be->nservers), live = 0;
	char name[64];

	for (unsigned i = 0; i < n; i++)
		live += atomic_load(&be->servers[i].live) != 0;
	emit(arg, "memcached_servers", "%u", n);
	emit(arg, "memcached_servers_live", "%u", live);
	emit(arg, "memcached_gets", "%" PRIu64, atomic_load(&be->gets));
	emit(arg, "memcached_misses", "%" PRIu64, atomic_load(&be->misses));
	emit(arg, "memcached_bad_values", "%" PRIu64, atomic_load(&be->bad));
	emit(arg, "memcached_puts", "%" PRIu64, atomic_load(&be->puts));
	emit(arg, "memcached_put_errors", "%" PRIu64,
	     atomic_load(&be->put_errors));
	emit(arg, "memcached_put_batches", "%" PRIu64,
	     atomic_load(&be->put_batches));
	emit(arg, "memcached_deletes", "%" PRIu64, atomic_load(&be->dels));
	emit(arg, "memcached_errors", "%" PRIu64, atomic_load(&be->errors));
	for (unsigned i = 0; i < n; i++) {
		struct mc_server *s = &be->servers[i];
		snprintf(name, sizeof(name), "memcached_server:%u:name", i);
		emit(arg, name, "%s", s->name);
		snprintf(name, sizeof(name), "memcached_server:%u:live", i);
		emit(arg, name, "%d", atomic_load(&s->live));
		snprintf(name, sizeof(name), "memcached_server:%u:puts", i);
		emit(arg, name, "%" PRIu64, atomic_load(&s->puts));
		snprintf(name, sizeof(name), "memcached_server:%u:gets", i);
		emit(arg, name, "%" PRIu64, atomic_load(&s->gets));
	}
}

const struct backend_ops memcached_backend = {
	.name = "memcached",
	.description = "a memcached pool through libmemcached",
	.drops_by_region = 0,
	.open = mc_open,
	.close = mc_close,
	.region_open = mc_region_open,
	.region_close = mc_region_close,
	.place = mc_place,
	.conn_open = mc_conn_open,
	.conn_close = mc_conn_close,
	.multi_get = mc_multi_get,
	.multi_put = mc_multi_put,
	.del = mc_del,
	.stats = mc_stats,
	.set_servers = mc_set_servers,
};
