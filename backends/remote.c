/*
 * remote backend: pages go to a memserver's DRAM (doc/memserver.md),
 * over TCP or RDMA. The server hands out slots; each region keeps a slot
 * per page in a map file under the monitor's run dir (mmap'd, so it
 * survives a monitor restart and region_open(create=0) finds it again).
 * The map records which server instance its slots belong to: a server
 * that restarted has lost them, and those pages are -ENOENT (SIGBUS),
 * never zeros. A full server gets -ENOSPC: the monitor keeps the page.
 *
 * Locator: tcp://HOST:PORT;secret-file=PATH[;id=NAME][;timeout=MS]
 *          (rdma://... the same, in builds with RDMA)
 */
#include "config.h"
#include "backend.h"
#include "hash.h"
#include "log.h"
#include "parse.h"
#include "remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAP_MAGIC 0x50414d53464d4652ULL /* "RFMSMAP" */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

/* The transports this build has (the only place RDMA is conditional). */
static const struct remote_xport *const xports[] = {
	&remote_tcp_xport,
#ifdef HAVE_RDMA
	&remote_rdma_xport,
#endif
};
#define NXPORTS (sizeof(xports) / sizeof(xports[0]))

struct backend {
	const struct remote_xport *xp;
	struct remote_target t;
	char map_dir[512];
	pthread_mutex_t admin_lock; /* the stats connection */
	void *admin;
	_Atomic uint64_t instance; /* last seen, for stats */
	_Atomic int down_logged, full_logged;
	_Atomic uint64_t gets, puts, dels, full, lost, bad, conn_errors,
		reconnects;
};

/* The map file: this header, then one slot per page. */
struct map_hdr {
	uint64_t magic;
	uint64_t npages;
	_Atomic uint64_t instance; /* server instance the slots belong to */
	uint64_t reserved;
};

struct backend_region {
	uint64_t id, npages;
	struct map_hdr *hdr;
	_Atomic uint32_t *slots;
	size_t maplen;
	pthread_mutex_t lock; /* resetting the map for a new instance */
	char path[600];
};

struct backend_conn {
	struct backend *be;
	void *x;
	uint64_t instance;
	unsigned backoff_ms;
	int ever; /* connected before: the next connect is a reconnect */
	struct timespec retry_at;
	/* Per-batch scratch, allocated once. */
	uint32_t slots[MP_MAX_BATCH];
	uint32_t fresh[MP_MAX_BATCH];
	unsigned idx[MP_MAX_BATCH];
	const void *pbufs[MP_MAX_BATCH];
	void *gbufs[MP_MAX_BATCH];
	int res[MP_MAX_BATCH];
};

static int locator_parse(const char *loc, struct backend *be, char *err,
			 size_t errlen)
{
	char buf[1024], *save = NULL, *tok, *hp;
	char secret[512] = "";
	uint64_t v;

	if (strlen(loc) >= sizeof(buf)) {
		snprintf(err, errlen, "locator too long");
		return -EINVAL;
	}
	strcpy(buf, loc);
	hp = strstr(buf, "://");
	if (!hp) {
		snprintf(err, errlen,
			 "locator '%s' is not tcp://HOST:PORT;secret-file=PATH",
			 loc);
		return -EINVAL;
	}
	*hp = '\0';
	for (unsigned i = 0; i < NXPORTS; i++)
		if (strcmp(buf, xports[i]->scheme) == 0)
			be->xp = xports[i];
	if (!be->xp) {
		snprintf(err, errlen,
			 "transport '%s' is not in this build (it has tcp%s)",
			 buf,
			 NXPORTS > 1 ? ", rdma" : "");
		return -EINVAL;
	}
	hp += 3;
	tok = strtok_r(hp, ";", &save);
	if (!tok || parse_host_port(tok, be->t.host, sizeof(be->t.host),
				    &be->t.port) ||
	    !strchr(tok, ':') || !be->t.port) {
		snprintf(err, errlen, "locator: '%s' is not HOST:PORT",
			 tok ? tok : "");
		return -EINVAL;
	}
	while ((tok = strtok_r(NULL, ";", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, errlen, "locator: '%s' is not key=value",
				 tok);
			return -EINVAL;
		}
		*eq++ = '\0';
		if (strcmp(tok, "secret-file") == 0) {
			snprintf(secret, sizeof(secret), "%s", eq);
		} else if (strcmp(tok, "id") == 0) {
			size_t n = strlen(eq);
			int ok = n > 0 && n < MP_ID_LEN;
			for (size_t i = 0; ok && i < n; i++)
				ok = eq[i] > 0x20 && eq[i] < 0x7f;
			if (!ok) {
				snprintf(err, errlen,
					 "locator: id must be 1-%d printable "
					 "characters without spaces",
					 MP_ID_LEN - 1);
				return -EINVAL;
			}
			memset(be->t.id, 0, sizeof(be->t.id));
			memcpy(be->t.id, eq, n);
		} else if (strcmp(tok, "timeout") == 0) {
			if (parse_u64(eq, 100, 600000, &v)) {
				snprintf(err, errlen,
					 "locator: timeout is 100 to 600000 "
					 "ms");
				return -EINVAL;
			}
			be->t.timeout_ms = (int)v;
		} else {
			snprintf(err, errlen,
				 "locator: unknown key '%s' (secret-file, id, "
				 "timeout)",
				 tok);
			return -EINVAL;
		}
	}
	if (!secret[0]) {
		snprintf(err, errlen, "locator: secret-file=PATH is required");
		return -EINVAL;
	}
	return mp_key_load(secret, &be->t.key, err, errlen);
}

/* No slot maps: a fresh start, whatever our identity held is unknown. */
static int map_dir_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return 1;
	while (empty && (de = readdir(d)))
		if (strstr(de->d_name, ".slots"))
			empty = 0;
	closedir(d);
	return empty;
}

/*
 * A stable identity: this host, the run dir and the server, so a
 * restarted monitor owns the same slots, and two remote backends of one
 * monitor (a tier chain) are different clients with their own slot maps.
 */
static void default_id(struct backend *be, const char *state_dir,
		       uint64_t where)
{
	char host[40] = "host";

	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			*p = '_';
	memset(be->t.id, 0, sizeof(be->t.id));
	snprintf(be->t.id, sizeof(be->t.id), "fm:%s:%016" PRIx64, host,
		 hash_str(state_dir ? state_dir : "") ^ where);
}

static int remote_open(const struct backend_params *p, struct backend **out,
		       char *err, size_t errlen)
{
	struct backend *be;
	int ret;

	if (!p->locator) {
		snprintf(err, errlen,
			 "the remote backend needs --locator=tcp://HOST:PORT;"
			 "secret-file=PATH");
		return -EINVAL;
	}
	if (p->page_size != MP_PAGE_SIZE) {
		snprintf(err, errlen, "memserver stores %u-byte pages only",
			 MP_PAGE_SIZE);
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	be->t.timeout_ms = 5000;
	ret = locator_parse(p->locator, be, err, errlen);
	if (ret)
		goto out_free;
	char where[300];
	snprintf(where, sizeof(where), "%s://%s:%u", be->xp->scheme,
		 be->t.host, be->t.port);
	uint64_t wh = hash_str(where);
	if (!be->t.id[0])
		default_id(be, p->state_dir, wh);
	/* One map directory per server: several instances never mix. */
	snprintf(be->map_dir, sizeof(be->map_dir), "%s/remote-%016" PRIx64,
		 p->state_dir ? p->state_dir : ".", wh);
	if (mkdir(be->map_dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", be->map_dir, strerror(-ret));
		goto out_free;
	}
	pthread_mutex_init(&be->admin_lock, NULL);
	be->admin = be->xp->create(&be->t);
	if (!be->admin) {
		ret = -ENOMEM;
		goto out_free;
	}
	/* Probe once: a wrong secret or address is a start-up error. An
	 * unreachable server is not: it may come later. */
	uint64_t inst;
	int reset = map_dir_empty(be->map_dir);
	for (int tries = 0;; tries++) {
		ret = be->xp->connect(be->admin, reset, &inst);
		/* Our previous self's connections may not be closed yet. */
		if (ret != -EBUSY || tries == 30)
			break;
		usleep(100000);
	}
	if (ret == -EBUSY) {
		log_warn("remote: could not reclaim the slots of a previous "
			 "monitor with this identity; they stay allocated");
		ret = be->xp->connect(be->admin, 0, &inst);
	}
	if (ret == -EACCES || ret == -EPROTO || ret == -EOPNOTSUPP ||
	    ret == -ENODEV) {
		snprintf(err, errlen, "%s", be->xp->error(be->admin));
		be->xp->destroy(be->admin);
		goto out_free;
	}
	if (ret)
		log_warn("remote: %s (will retry)", be->xp->error(be->admin));
	else
		atomic_store(&be->instance, inst);
	log_info("remote: %s://%s:%u as client '%s'", be->xp->scheme,
		 be->t.host, be->t.port, be->t.id);
	*out = be;
	return 0;
out_free:
	free(be);
	return ret;
}

static void remote_close(struct backend *be)
{
	if (!be)
		return;
	be->xp->destroy(be->admin);
	free(be);
}

static int remote_region_open(struct backend *be, uint64_t id,
			      uint64_t npages, int create,
			      struct backend_region **out)
{
	struct backend_region *br = calloc(1, sizeof(*br));
	int fd, ret;
	struct stat st;

	if (!br)
		return -ENOMEM;
	br->id = id;
	br->npages = npages;
	br->maplen = sizeof(struct map_hdr) + npages * sizeof(uint32_t);
	snprintf(br->path, sizeof(br->path), "%s/%016" PRIx64 ".slots",
		 be->map_dir, id);
	fd = open(br->path,
		  O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
	if (fd < 0) {
		ret = -errno;
		goto out_free;
	}
	if (create && ftruncate(fd, (off_t)br->maplen) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != br->maplen) {
		ret = -EUCLEAN;
		goto out_close;
	}
	br->hdr = mmap(NULL, br->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (br->hdr == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	close(fd);
	br->slots = (_Atomic uint32_t *)(br->hdr + 1);
	if (create) {
		memset((void *)br->slots, 0xff, npages * sizeof(uint32_t));
		br->hdr->npages = npages;
		atomic_store(&br->hdr->instance, 0);
		br->hdr->magic = MAP_MAGIC;
	} else if (br->hdr->magic != MAP_MAGIC || br->hdr->npages != npages) {
		munmap(br->hdr, br->maplen);
		ret = -EUCLEAN;
		goto out_free;
	}
	pthread_mutex_init(&br->lock, NULL);
	*out = br;
	return 0;
out_close:
	close(fd);
out_free:
	free(br);
	return ret;
}

static void remote_region_close(struct backend *be, struct backend_region *br,
				int destroy)
{
	munmap(br->hdr, br->maplen);
	if (destroy)
		unlink(br->path);
	free(br);
}

static uint8_t remote_place(struct backend_conn *c, const struct page_key *k)
{
	return 0; /* one server */
}

static struct backend_conn *remote_conn_open(struct backend *be)
{
	struct backend_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->be = be;
	c->x = be->xp->create(&be->t);
	if (!c->x) {
		free(c);
		return NULL;
	}
	return c;
}

static void remote_conn_close(struct backend_conn *c)
{
	c->be->xp->destroy(c->x);
	free(c);
}

static int64_t ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 +
	       (t->tv_nsec - now.tv_nsec) / 1000000;
}

/* Connected, or -errno without trying again before the backoff ends. */
static int conn_ready(struct backend_conn *c)
{
	struct backend *be = c->be;
	int ret;

	/* A connection made before a newer one saw another server
	 * instance is stale (its server is gone): its instance must not
	 * decide anything about the maps. */
	if (be->xp->connected(c->x) &&
	    c->instance != atomic_load(&be->instance))
		be->xp->disconnect(c->x);
	if (be->xp->connected(c->x))
		return 0;
	if (c->backoff_ms && ms_until(&c->retry_at) > 0)
		return -ECONNREFUSED;
	ret = be->xp->connect(c->x, 0, &c->instance);
	if (ret == 0) {
		c->backoff_ms = 0;
		atomic_store(&be->instance, c->instance);
		if (atomic_exchange(&be->down_logged, 0))
			log_warn("remote: memserver %s:%u reachable again",
				 be->t.host, be->t.port);
		if (c->ever)
			atomic_fetch_add(&be->reconnects, 1);
		c->ever = 1;
		return 0;
	}
	atomic_fetch_add(&be->conn_errors, 1);
	if (!atomic_exchange(&be->down_logged, 1))
		log_err("remote: %s", be->xp->error(c->x));
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	clock_gettime(CLOCK_MONOTONIC, &c->retry_at);
	c->retry_at.tv_nsec += (long)c->backoff_ms * 1000000;
	c->retry_at.tv_sec += c->retry_at.tv_nsec / 1000000000;
	c->retry_at.tv_nsec %= 1000000000;
	return ret == -EACCES ? -EACCES : -ECONNREFUSED;
}

static void conn_failed(struct backend_conn *c, int err)
{
	struct backend *be = c->be;

	atomic_fetch_add(&be->conn_errors, 1);
	if (!atomic_exchange(&be->down_logged, 1))
		log_err("remote: %s", be->xp->error(c->x));
	(void)err;
}

/*
 * The map's slots belong to the instance it names. A server instance we
 * have not seen before has none of them: forget them all (their pages
 * are lost, and reads say so) before using the map with it.
 */
static int map_adopt(struct backend *be, struct backend_region *br,
		     uint64_t instance)
{
	int ret = 0;

	if (atomic_load(&br->hdr->instance) == instance)
		return 0;
	pthread_mutex_lock(&br->lock);
	if (instance != atomic_load(&be->instance))
		ret = -ESTALE; /* a newer connection saw another server */
	else if (atomic_load(&br->hdr->instance) != instance) {
		for (uint64_t i = 0; i < br->npages; i++)
			atomic_store(&br->slots[i], MP_SLOT_NONE);
		atomic_store(&br->hdr->instance, instance);
	}
	pthread_mutex_unlock(&br->lock);
	return ret;
}

/*
 * The map names another instance than our connection's: the pages are
 * lost if our connection is to the current server, or we are the stale
 * one (-EIO: retry, reconnecting).
 */
static int map_mismatch(struct backend_conn *c, struct backend_region *br)
{
	struct backend *be = c->be;
	int stale;

	pthread_mutex_lock(&br->lock);
	stale = c->instance != atomic_load(&be->instance);
	pthread_mutex_unlock(&br->lock);
	if (stale) {
		be->xp->disconnect(c->x);
		return -EIO;
	}
	return -ENOENT;
}

static void remote_multi_get(struct backend_conn *c, struct backend_region *br,
			     const struct page_key *keys, void *const *bufs,
			     unsigned n, int *res)
{
	struct backend *be = c->be;
	int ret = conn_ready(c);

	for (unsigned i = 0; i < n; i += MP_MAX_BATCH) {
		unsigned m = n - i < MP_MAX_BATCH ? n - i : MP_MAX_BATCH, k = 0;
		int inst = 0;
		if (!ret && atomic_load(&br->hdr->instance) != c->instance)
			inst = map_mismatch(c, br);
		for (unsigned j = 0; j < m; j++) {
			uint64_t pg = keys[i + j].pgoff;
			uint32_t s = pg < br->npages
					     ? atomic_load(&br->slots[pg])
					     : MP_SLOT_NONE;
			if (ret) {
				res[i + j] = ret;
			} else if (inst == -EIO) {
				res[i + j] = -EIO;
			} else if (inst || s == MP_SLOT_NONE) {
				res[i + j] = -ENOENT;
				atomic_fetch_add(&be->lost, 1);
			} else {
				c->slots[k] = s;
				c->gbufs[k] = bufs[i + j];
				c->idx[k++] = i + j;
			}
		}
		if (!k)
			continue;
		int r = be->xp->read(c->x, c->slots, c->gbufs, k, c->res);
		if (r)
			conn_failed(c, r);
		for (unsigned j = 0; j < k; j++) {
			int v = r ? -EIO : c->res[j];
			/* A slot the server does not know for us: lost. */
			if (v == -EPERM || v == -ERANGE)
				v = -ENOENT;
			if (v == -ENOENT)
				atomic_fetch_add(&be->lost, 1);
			else if (v == -EBADMSG)
				atomic_fetch_add(&be->bad, 1);
			else if (!v)
				atomic_fetch_add(&be->gets, 1);
			res[c->idx[j]] = v;
		}
		if (r)
			ret = -EIO;
	}
}

static void log_full(struct backend *be, unsigned n)
{
	if (!atomic_exchange(&be->full_logged, 1))
		log_warn("remote: memserver %s:%u is full: %u page(s) could "
			 "not be stored and stay resident (counted in "
			 "remote_full)",
			 be->t.host, be->t.port, n);
}

/* One batch of at most MP_MAX_BATCH pages starting at keys[0]. */
static void put_batch(struct backend_conn *c, struct backend_region *br,
		      const struct page_key *keys, const void *const *bufs,
		      unsigned m, int *res)
{
	struct backend *be = c->be;
	unsigned need = 0, got = 0, k = 0, nofit = 0;
	int r;

	for (unsigned j = 0; j < m; j++) {
		uint64_t pg = keys[j].pgoff;
		res[j] = pg < br->npages ? 0 : -EINVAL;
		if (!res[j] && atomic_load(&br->slots[pg]) == MP_SLOT_NONE)
			need++;
	}
	if (need) {
		r = be->xp->alloc(c->x, need, c->fresh, &got);
		if (r) {
			conn_failed(c, r);
			for (unsigned j = 0; j < m; j++)
				res[j] = res[j] ? res[j] : -EIO;
			return;
		}
	}
	for (unsigned j = 0, f = 0; j < m; j++) {
		uint64_t pg = keys[j].pgoff;
		if (res[j])
			continue;
		uint32_t s = atomic_load(&br->slots[pg]);
		if (s == MP_SLOT_NONE) {
			if (f == got) {
				res[j] = -ENOSPC;
				nofit++;
				continue;
			}
			/* Recorded before the write: a monitor that dies
			 * now still knows the slot is ours. */
			s = c->fresh[f++];
			atomic_store(&br->slots[pg], s);
		}
		c->slots[k] = s;
		c->pbufs[k] = bufs[j];
		c->idx[k++] = j;
	}
	if (nofit) {
		atomic_fetch_add(&be->full, nofit);
		log_full(be, nofit);
	} else if (need) {
		atomic_store(&be->full_logged, 0);
	}
	if (!k)
		return;
	r = be->xp->write(c->x, c->slots, c->pbufs, k, c->res);
	if (r)
		conn_failed(c, r);
	for (unsigned j = 0; j < k; j++) {
		res[c->idx[j]] = r ? -EIO : c->res[j];
		if (!res[c->idx[j]])
			atomic_fetch_add(&be->puts, 1);
	}
}

static void remote_multi_put(struct backend_conn *c, struct backend_region *br,
			     const struct page_key *keys,
			     const void *const *bufs, unsigned n, int *res)
{
	int ret = conn_ready(c);

	if (ret) {
		for (unsigned i = 0; i < n; i++)
			res[i] = ret;
		return;
	}
	ret = map_adopt(c->be, br, c->instance);
	if (ret) {
		c->be->xp->disconnect(c->x);
		for (unsigned i = 0; i < n; i++)
			res[i] = -EIO;
		return;
	}
	for (unsigned i = 0; i < n; i += MP_MAX_BATCH) {
		unsigned m = n - i < MP_MAX_BATCH ? n - i : MP_MAX_BATCH;
		if (!c->be->xp->connected(c->x)) {
			for (unsigned j = 0; j < m; j++)
				res[i + j] = -EIO;
			continue;
		}
		put_batch(c, br, keys + i, bufs + i, m, res + i);
	}
}

static void remote_del(struct backend_conn *c, struct backend_region *br,
		       const struct page_key *keys, unsigned n)
{
	struct backend *be = c->be;
	int ok = conn_ready(c) == 0 &&
		 atomic_load(&br->hdr->instance) == c->instance;
	unsigned k = 0;
	int res;

	for (unsigned i = 0; i <= n; i++) {
		if (i < n) {
			uint64_t pg = keys[i].pgoff;
			if (pg >= br->npages)
				continue;
			uint32_t s = atomic_exchange(&br->slots[pg],
						     MP_SLOT_NONE);
			if (s != MP_SLOT_NONE)
				c->slots[k++] = s;
		}
		if (k && (k == MP_MAX_BATCH || i == n)) {
			if (ok && be->xp->free(c->x, c->slots, k, &res) == 0 &&
			    res) {
				/* One bad slot refuses the batch: retry
				 * them one by one. */
				for (unsigned j = 0; j < k; j++)
					be->xp->free(c->x, &c->slots[j], 1,
						     &res);
			}
			atomic_fetch_add(&be->dels, k);
			k = 0;
		}
	}
}

static void remote_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	char text[MP_STATS_MAX + 1];
	uint64_t inst;

	emit(arg, "remote_server", "%s://%s:%u", be->xp->scheme, be->t.host,
	     be->t.port);
	emit(arg, "remote_client_id", "%s", be->t.id);
	emit(arg, "remote_gets", "%" PRIu64, atomic_load(&be->gets));
	emit(arg, "remote_puts", "%" PRIu64, atomic_load(&be->puts));
	emit(arg, "remote_frees", "%" PRIu64, atomic_load(&be->dels));
	emit(arg, "remote_full", "%" PRIu64, atomic_load(&be->full));
	emit(arg, "remote_lost", "%" PRIu64, atomic_load(&be->lost));
	emit(arg, "remote_checksum_errors", "%" PRIu64, atomic_load(&be->bad));
	emit(arg, "remote_conn_errors", "%" PRIu64,
	     atomic_load(&be->conn_errors));
	emit(arg, "remote_reconnects", "%" PRIu64,
	     atomic_load(&be->reconnects));
	/* The server's own counters, as memserver:<name>. */
	pthread_mutex_lock(&be->admin_lock);
	int ret = be->xp->connected(be->admin)
			  ? 0
			  : be->xp->connect(be->admin, 0, &inst);
	if (!ret)
		ret = be->xp->stats(be->admin, text, sizeof(text));
	pthread_mutex_unlock(&be->admin_lock);
	emit(arg, "remote_server_up", "%d", ret == 0);
	if (ret)
		return;
	for (char *save = NULL, *l = strtok_r(text, "\r\n", &save); l;
	     l = strtok_r(NULL, "\r\n", &save)) {
		char name[64], value[128];
		if (sscanf(l, "STAT %63s %127s", name, value) == 2) {
			char full[80];
			snprintf(full, sizeof(full), "memserver:%s", name);
			emit(arg, full, "%s", value);
		}
	}
}

/* Option parsing: a malformed locator or an unusable secret file is
 * refused before start-up (nothing is contacted). */
static int remote_check(const char *loc, char *err, size_t errlen)
{
	struct backend *be;
	int ret;

	if (!loc) {
		snprintf(err, errlen, "the remote backend needs "
			 "--locator=tcp://HOST:PORT;secret-file=PATH");
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	ret = locator_parse(loc, be, err, errlen);
	free(be);
	return ret;
}

const struct backend_ops remote_backend = {
	.name = "remote",
	.description = "a memserver's DRAM over tcp:// or rdma://",
	.drops_by_region = 0,
	.open = remote_open,
	.check = remote_check,
	.close = remote_close,
	.region_open = remote_region_open,
	.region_close = remote_region_close,
	.place = remote_place,
	.conn_open = remote_conn_open,
	.conn_close = remote_conn_close,
	.multi_get = remote_multi_get,
	.multi_put = remote_multi_put,
	.del = remote_del,
	.stats = remote_stats,
};
