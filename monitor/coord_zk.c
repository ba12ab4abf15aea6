/*
 * Coordination through ZooKeeper (doc/cluster.md):
 *   /fluidmem                      persistent, data = this cluster's salt
 *   /fluidmem/ids/id-<seq>         ephemeral sequential, gone at once: its
 *                                  czxid, salted, is a region id
 *   /fluidmem/monitors/<host>-<pid>  ephemeral, summary refreshed every 5 s
 *   /fluidmem/regions/<id>         ephemeral, while a monitor serves it
 *   /fluidmem/gc/<id>              persistent while the region's pages may
 *                                  exist; its owner touches it every 5 s.
 *                                  Untouched for --zk-gc-grace with no
 *                                  regions/<id>: any monitor deletes the
 *                                  pages (holding gc-lock/<id>), then it
 *   /fluidmem/gc-lock/<id>         ephemeral: one collector at a time
 *   /fluidmem/servers/memcached/<host:port>  the memcached pool
 * ZooKeeper's threads only raise flags; all calls are made from the main
 * loop, and only while connected, so an unreachable ZooKeeper never
 * blocks it. Faults never need ZooKeeper.
 */
#include "config.h"
#include "coord.h"
#include "hash.h"
#include "log.h"
#include "region.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#define ROOT "/fluidmem"
#define SERVERS ROOT "/servers/memcached"
#define SESSION_TIMEOUT_MS 6000
#define REFRESH_S 5

struct coord {
	zhandle_t *zh;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	_Atomic int connected;
	_Atomic int expired;
	_Atomic int servers_changed;
	int registered;		/* our nodes exist in this session */
	uint64_t salt;
	time_t last_refresh;
	char self[256];		/* /fluidmem/monitors/<host>-<pid> */
	char host[128];
};

/* Runs on ZooKeeper's thread: only flags and a condition variable. */
static void zk_watch(zhandle_t *zh, int type, int state, const char *path,
		     void *ctx)
{
	struct coord *c = ctx;

	if (type == ZOO_SESSION_EVENT) {
		pthread_mutex_lock(&c->lock);
		if (state == ZOO_CONNECTED_STATE) {
			atomic_store(&c->connected, 1);
		} else if (state == ZOO_EXPIRED_SESSION_STATE) {
			atomic_store(&c->connected, 0);
			atomic_store(&c->expired, 1);
		} else {
			atomic_store(&c->connected, 0);
		}
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	} else if (type == ZOO_CHILD_EVENT) {
		atomic_store(&c->servers_changed, 1);
	}
}

static void servers_watch(zhandle_t *zh, int type, int state,
			  const char *path, void *ctx)
{
	struct coord *c = ctx;

	if (type == ZOO_CHILD_EVENT || type == ZOO_SESSION_EVENT)
		atomic_store(&c->servers_changed, 1);
}

static struct coord *coord_of(struct monitor *m)
{
	return m->coord;
}

static int zk_connect(struct monitor *m, struct coord *c)
{
	c->zh = zookeeper_init(m->set.zookeeper, zk_watch, SESSION_TIMEOUT_MS,
			       NULL, c, 0);
	return c->zh ? 0 : -errno;
}

/* Create @path (persistent) if missing. */
static int ensure(zhandle_t *zh, const char *path, const char *data)
{
	int rc = zoo_create(zh, path, data, data ? (int)strlen(data) : -1,
			    &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);

	return rc == ZOK || rc == ZNODEEXISTS ? ZOK : rc;
}

/* The salt makes ids of a re-created ensemble differ from older ones. */
static int load_salt(struct coord *c)
{
	char buf[32], fresh[32];
	uint64_t r = 0;
	int len = sizeof(buf) - 1, rc;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
	snprintf(fresh, sizeof(fresh), "%016" PRIx64, r);
	rc = ensure(c->zh, ROOT, fresh);
	if (rc != ZOK)
		return rc;
	rc = zoo_get(c->zh, ROOT, 0, buf, &len, NULL);
	if (rc != ZOK)
		return rc;
	buf[len > 0 ? len : 0] = '\0';
	if (sscanf(buf, "%16" SCNx64, &c->salt) != 1) {
		/* Someone else's /fluidmem: salt from its creation instead. */
		c->salt = 0x5a17;
	}
	return ZOK;
}

static void summary(struct monitor *m, char *buf, size_t len)
{
	snprintf(buf, len,
		 "host=%s pid=%d ctl=%s:%u cache_size=%" PRIu64
		 " cache_used=%" PRIu64 " regions=%u faults=%" PRIu64
		 " evictions=%" PRIu64 " updated=%ld",
		 coord_of(m)->host, (int)getpid(), m->set.ctl_host,
		 m->set.ctl_tcp ? m->set.ctl_port : 0,
		 atomic_load(&m->cache.capacity), atomic_load(&m->cache.used),
		 region_count(m), atomic_load(&m->stats.faults),
		 atomic_load(&m->stats.evictions), (long)time(NULL));
}

static void region_node(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, ROOT "/regions/%016" PRIx64, id);
}

/* The record that lets other monitors collect the region's pages if it
 * is orphaned; creating or re-writing it refreshes its mtime. */
static void gc_touch(struct coord *c, struct region *r)
{
	char path[128], data[64];
	int rc;

	snprintf(path, sizeof(path), ROOT "/gc/%016" PRIx64, r->id);
	snprintf(data, sizeof(data), "pages=%" PRIu64, r->npages);
	rc = zoo_set(c->zh, path, data, (int)strlen(data), -1);
	if (rc == ZNONODE)
		rc = zoo_create(c->zh, path, data, (int)strlen(data),
				&ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	if (rc != ZOK && rc != ZNODEEXISTS)
		log_warn("zookeeper: gc record of %016" PRIx64 ": %s", r->id,
			 zerror(rc));
}

static void gc_touch_region(struct monitor *m, struct region *r, void *arg)
{
	gc_touch(arg, r);
}

/* Regions whose monitor died and never came back: delete their pages. */
static void gc_collect(struct monitor *m, struct coord *c)
{
	struct String_vector kids = { 0 };
	long now_ms = (long)time(NULL) * 1000;

	if (zoo_get_children(c->zh, ROOT "/gc", 0, &kids) != ZOK)
		return;
	for (int i = 0; i < kids.count; i++) {
		char path[160], lock[160], data[64];
		int len = sizeof(data) - 1;
		struct Stat st;
		uint64_t id, pages;

		if (sscanf(kids.data[i], "%16" SCNx64, &id) != 1)
			continue;
		snprintf(path, sizeof(path), ROOT "/regions/%s", kids.data[i]);
		if (zoo_exists(c->zh, path, 0, NULL) != ZNONODE)
			continue; /* served, or ZooKeeper trouble: leave it */
		snprintf(path, sizeof(path), ROOT "/gc/%s", kids.data[i]);
		if (zoo_get(c->zh, path, 0, data, &len, &st) != ZOK)
			continue;
		data[len > 0 ? len : 0] = '\0';
		if (now_ms - (long)st.mtime < (long)m->set.zk_gc_grace_s * 1000 ||
		    sscanf(data, "pages=%" SCNu64, &pages) != 1)
			continue;
		snprintf(lock, sizeof(lock), ROOT "/gc-lock/%s", kids.data[i]);
		if (zoo_create(c->zh, lock, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
			       ZOO_EPHEMERAL, NULL, 0) != ZOK)
			continue; /* another monitor is on it */
		log_info("zookeeper: region %016" PRIx64 " (%" PRIu64
			 " pages) was orphaned by a dead monitor; deleting its "
			 "pages",
			 id, pages);
		if (region_collect_remote(m, id, pages) == 0)
			zoo_delete(c->zh, path, st.version);
		zoo_delete(c->zh, lock, -1);
	}
	deallocate_String_vector(&kids);
}

static void region_publish(struct monitor *m, struct region *r, void *arg)
{
	struct coord *c = arg;
	char path[128], data[512];

	region_node(r->id, path, sizeof(path));
	snprintf(data, sizeof(data), "monitor=%s pid=%d name=%s pages=%" PRIu64,
		 c->self, (int)r->pid, r->name, r->npages);
	int rc = zoo_create(c->zh, path, data, (int)strlen(data),
			    &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	if (rc == ZNODEEXISTS) {
		/* Left by our previous session (or monitor): take it over. */
		zoo_delete(c->zh, path, -1);
		rc = zoo_create(c->zh, path, data, (int)strlen(data),
				&ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	}
	if (rc != ZOK)
		log_warn("zookeeper: cannot publish region %016" PRIx64 ": %s",
			 r->id, zerror(rc));
	gc_touch(c, r);
}

/* Base nodes, our membership record and every region we serve. */
static int zk_register(struct monitor *m, struct coord *c)
{
	char data[512];
	int rc;

	static const char *const dirs[] = {
		ROOT "/ids",	ROOT "/monitors", ROOT "/regions", ROOT "/gc",
		ROOT "/gc-lock", ROOT "/servers", SERVERS,
	};

	rc = load_salt(c);
	for (unsigned i = 0; rc == ZOK && i < sizeof(dirs) / sizeof(dirs[0]);
	     i++)
		rc = ensure(c->zh, dirs[i], NULL);
	if (rc != ZOK)
		return rc;
	summary(m, data, sizeof(data));
	rc = zoo_create(c->zh, c->self, data, (int)strlen(data),
			&ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	if (rc == ZNODEEXISTS) {
		zoo_delete(c->zh, c->self, -1);
		rc = zoo_create(c->zh, c->self, data, (int)strlen(data),
				&ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	}
	if (rc != ZOK)
		return rc;
	region_foreach(m, region_publish, c);
	c->registered = 1;
	c->last_refresh = time(NULL);
	atomic_store(&c->servers_changed, 1);
	log_info("zookeeper: registered as %s", c->self);
	return ZOK;
}

/* Follow the memcached pool: the backend adds and retires servers. */
static void follow_servers(struct monitor *m, struct coord *c)
{
	struct String_vector kids = { 0 };
	int rc;

	atomic_store(&c->servers_changed, 0);
	rc = zoo_wget_children(c->zh, SERVERS, servers_watch, c, &kids);
	if (rc != ZOK) {
		log_warn("zookeeper: cannot list %s: %s", SERVERS, zerror(rc));
		return;
	}
	if (m->be_ops->set_servers) {
		int ret = m->be_ops->set_servers(m->be,
						 (const char *const *)kids.data,
						 (unsigned)kids.count);
		if (ret)
			log_warn("zookeeper: server pool update: %s",
				 strerror(-ret));
	}
	deallocate_String_vector(&kids);
}

int coord_start(struct monitor *m)
{
	struct coord *c;
	struct timespec deadline;
	int ret;

	if (!m->set.zookeeper[0])
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (gethostname(c->host, sizeof(c->host)) < 0)
		strcpy(c->host, "unknown");
	c->host[sizeof(c->host) - 1] = '\0';
	snprintf(c->self, sizeof(c->self), ROOT "/monitors/%s-%d", c->host,
		 (int)getpid());
	zoo_set_debug_level(log_threshold >= LOG_DEBUG ? ZOO_LOG_LEVEL_INFO
						       : ZOO_LOG_LEVEL_ERROR);
	m->coord = c;
	ret = zk_connect(m, c);
	if (ret) {
		log_err("zookeeper %s: %s", m->set.zookeeper, strerror(-ret));
		return ret;
	}
	/* Unreachable at start: a clear error after the timeout. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += m->set.zk_timeout_s;
	pthread_mutex_lock(&c->lock);
	while (!atomic_load(&c->connected) &&
	       pthread_cond_timedwait(&c->cond, &c->lock, &deadline) == 0)
		;
	pthread_mutex_unlock(&c->lock);
	if (!atomic_load(&c->connected)) {
		log_err("zookeeper: cannot reach %s within %u s",
			m->set.zookeeper, m->set.zk_timeout_s);
		return -ETIMEDOUT;
	}
	int rc = zk_register(m, c);
	if (rc != ZOK) {
		log_err("zookeeper: cannot register under %s: %s", ROOT,
			zerror(rc));
		return -EIO;
	}
	follow_servers(m, c);
	return 0;
}

void coord_stop(struct monitor *m)
{
	struct coord *c = coord_of(m);

	if (!c)
		return;
	if (c->zh)
		zookeeper_close(c->zh); /* ephemeral nodes go with it */
	free(c);
	m->coord = NULL;
}

void coord_tick(struct monitor *m)
{
	struct coord *c = coord_of(m);
	char data[512];

	if (!c)
		return;
	if (atomic_exchange(&c->expired, 0)) {
		/* The session and our ephemeral nodes are gone: start over. */
		log_warn("zookeeper: session expired; reconnecting");
		zookeeper_close(c->zh);
		c->registered = 0;
		if (zk_connect(m, c))
			log_err("zookeeper: reconnect: %s", strerror(errno));
		return;
	}
	if (!atomic_load(&c->connected))
		return;
	if (!c->registered) {
		if (zk_register(m, c) != ZOK)
			return;
	}
	if (atomic_load(&c->servers_changed))
		follow_servers(m, c);
	if (time(NULL) - c->last_refresh >= REFRESH_S) {
		summary(m, data, sizeof(data));
		int rc = zoo_set(c->zh, c->self, data, (int)strlen(data), -1);
		if (rc == ZNONODE)
			c->registered = 0;
		region_foreach(m, gc_touch_region, c);
		gc_collect(m, c);
		c->last_refresh = time(NULL);
	}
}

int coord_region_id(struct monitor *m, uint64_t *id, char *err,
		    size_t errlen)
{
	struct coord *c = coord_of(m);
	char path[128];
	struct Stat st;
	int rc;

	if (!c)
		return 1; /* no --zookeeper: the caller picks a random id */
	if (!atomic_load(&c->connected) || !c->registered) {
		snprintf(err, errlen, "ZooKeeper is unreachable: no cluster-"
				      "unique region id can be allocated now");
		return -EAGAIN;
	}
	rc = zoo_create2(c->zh, ROOT "/ids/id-", NULL, -1,
			 &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL, path,
			 sizeof(path), &st);
	if (rc != ZOK) {
		snprintf(err, errlen, "ZooKeeper id allocation: %s",
			 zerror(rc));
		return -EAGAIN;
	}
	zoo_delete(c->zh, path, -1);
	/* A czxid is never reused by an ensemble; mixing with the salt is a
	 * bijection, so ids stay unique and differ across ensembles. */
	*id = hash_mix64((uint64_t)st.czxid ^ c->salt);
	if (*id == 0)
		*id = 1;
	return 0;
}

void coord_region_up(struct monitor *m, struct region *r)
{
	struct coord *c = coord_of(m);

	if (c && atomic_load(&c->connected) && c->registered)
		region_publish(m, r, c);
	/* Otherwise the next registration publishes every live region. */
}

void coord_region_down(struct monitor *m, uint64_t id, int destroyed)
{
	struct coord *c = coord_of(m);
	char path[128];

	if (!c || !atomic_load(&c->connected))
		return;
	region_node(id, path, sizeof(path));
	zoo_delete(c->zh, path, -1);
	if (destroyed) {
		/* Its pages are being deleted here: nothing left to collect. */
		snprintf(path, sizeof(path), ROOT "/gc/%016" PRIx64, id);
		zoo_delete(c->zh, path, -1);
	}
}

static void list_children(struct coord *c, const char *dir, const char *kind,
			  void (*emit)(void *, const char *), void *arg)
{
	struct String_vector kids = { 0 };
	char path[512], data[512], line[1200];

	if (zoo_get_children(c->zh, dir, 0, &kids) != ZOK)
		return;
	for (int i = 0; i < kids.count; i++) {
		int len = sizeof(data) - 1;
		snprintf(path, sizeof(path), "%s/%s", dir, kids.data[i]);
		if (zoo_get(c->zh, path, 0, data, &len, NULL) != ZOK)
			len = 0;
		data[len > 0 ? len : 0] = '\0';
		snprintf(line, sizeof(line), "%s %s%s%s", kind, kids.data[i],
			 data[0] ? " " : "", data);
		emit(arg, line);
	}
	deallocate_String_vector(&kids);
}

void coord_cluster(struct monitor *m, void (*emit)(void *arg, const char *line),
		   void *arg)
{
	struct coord *c = coord_of(m);

	if (!c) {
		emit(arg, "ERROR this monitor runs without --zookeeper");
		return;
	}
	if (!atomic_load(&c->connected)) {
		emit(arg, "ERROR ZooKeeper is unreachable right now");
		return;
	}
	list_children(c, ROOT "/monitors", "MONITOR", emit, arg);
	list_children(c, SERVERS, "SERVER memcached", emit, arg);
	emit(arg, "END");
}
