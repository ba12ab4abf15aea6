/*
 * Region table, registration checks, the per-region state file that lets
 * a restarted monitor resume a region, and reaping of dead regions.
 */
#include "config.h"
#include "region.h"
#include "coord.h"
#include "evict.h"
#include "fault.h"
#include "log.h"
#include "pagestate.h"
#include "uffd_compat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define STATE_MAGIC 0x464d5354U /* "FMST" */
#define STATE_VERSION 2
#define STATE_HDR_SIZE 4096
#define MAX_REGION_BYTES (UINT64_C(1) << 44) /* 16 TiB */

/*
 * Header of <run_dir>/regions/<id>.state. Then one state byte per page,
 * then one byte per page naming the backend server of its stored copy.
 */
struct state_hdr {
	uint32_t magic;
	uint32_t version;
	uint64_t id;
	uint64_t size;
	uint64_t memfd_dev;
	uint64_t memfd_ino;
	uint64_t memfd_offset;
	uint32_t page_size;
	uint32_t reserved;
	char name[FM_NAME_MAX];
};

struct orphan {
	uint64_t id;
	struct orphan *next;
};

struct region_slot {
	struct region *r;
	uint32_t gen;
};

struct region_table {
	pthread_mutex_t lock;	/* slots, refs to 0, reap list, orphans */
	struct region_slot *slots;
	unsigned nslots;
	unsigned live;
	struct region *reap_list;
	struct orphan *orphans;
};

int region_table_create(struct monitor *m)
{
	struct region_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->nslots = m->set.max_regions;
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	m->regions = t;
	return 0;
}

void region_table_destroy(struct monitor *m)
{
	struct region_table *t = m->regions;

	if (!t)
		return;
	while (t->orphans) {
		struct orphan *o = t->orphans;
		t->orphans = o->next;
		free(o);
	}
	free(t->slots);
	free(t);
	m->regions = NULL;
}

struct region *region_get(struct monitor *m, uint64_t key)
{
	struct region_table *t = m->regions;
	uint32_t slot = (uint32_t)key, gen = (uint32_t)(key >> 32);
	struct region *r = NULL;

	if (slot >= t->nslots)
		return NULL;
	pthread_mutex_lock(&t->lock);
	if (t->slots[slot].r && t->slots[slot].gen == gen) {
		r = t->slots[slot].r;
		atomic_fetch_add(&r->refs, 1);
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

struct region *region_get_next(struct monitor *m, uint32_t *cursor)
{
	struct region_table *t = m->regions;
	struct region *r = NULL;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 1; i <= t->nslots; i++) {
		unsigned s = (*cursor + i) % t->nslots;
		if (t->slots[s].r) {
			r = t->slots[s].r;
			atomic_fetch_add(&r->refs, 1);
			*cursor = s;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

void region_put(struct monitor *m, struct region *r)
{
	struct region_table *t = m->regions;

	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	/* Last reference: backend cleanup is slow, so the evictor does it. */
	pthread_mutex_lock(&t->lock);
	r->reap_next = t->reap_list;
	t->reap_list = r;
	pthread_mutex_unlock(&t->lock);
	evict_kick(m);
}

unsigned region_count(struct monitor *m)
{
	pthread_mutex_lock(&m->regions->lock);
	unsigned n = m->regions->live;
	pthread_mutex_unlock(&m->regions->lock);
	return n;
}

void region_foreach(struct monitor *m,
		    void (*fn)(struct monitor *, struct region *, void *),
		    void *arg)
{
	struct region_table *t = m->regions;

	for (unsigned s = 0; s < t->nslots; s++) {
		struct region *r = NULL;
		pthread_mutex_lock(&t->lock);
		if (t->slots[s].r) {
			r = t->slots[s].r;
			atomic_fetch_add(&r->refs, 1);
		}
		pthread_mutex_unlock(&t->lock);
		if (r) {
			fn(m, r, arg);
			region_put(m, r);
		}
	}
}

int region_punch(struct monitor *m, struct region *r, uint64_t pgoff,
		 uint64_t n)
{
	off_t off = (off_t)(r->memfd_offset + (pgoff << m->page_shift));

	if (fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
		      (off_t)(n << m->page_shift)) < 0)
		return -errno;
	return 0;
}

static void state_path(struct monitor *m, uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/regions/%016" PRIx64 ".state", m->set.run_dir,
		 id);
}

/* Map a state file; create=1 makes a new one (which must not exist). */
static int state_map(struct monitor *m, struct region *r, int create)
{
	char path[512];
	size_t len = STATE_HDR_SIZE + ((2 * r->npages + 4095) & ~(size_t)4095);
	int fd, ret;

	state_path(m, r->id, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0),
		  0600);
	if (fd < 0)
		return -errno;
	if (create && ftruncate(fd, (off_t)len) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	if (!create) {
		struct stat st;
		if (fstat(fd, &st) < 0 || (size_t)st.st_size != len) {
			ret = -EUCLEAN;
			goto out_close;
		}
	}
	r->state_map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			    0);
	if (r->state_map == MAP_FAILED) {
		ret = -errno;
		r->state_map = NULL;
		goto out_unlink;
	}
	close(fd);
	r->state_map_len = len;
	r->pages = (uint8_t *)r->state_map + STATE_HDR_SIZE;
	r->loc = r->pages + r->npages;
	return 0;
out_unlink:
	if (create)
		unlink(path);
out_close:
	close(fd);
	return ret;
}

static void state_unlink(struct monitor *m, uint64_t id)
{
	char path[512];

	state_path(m, id, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("unlink %s: %s", path, strerror(errno));
}

/* Read a state file's header without keeping it. */
static int state_read_hdr(struct monitor *m, uint64_t id,
			  struct state_hdr *h)
{
	char path[512];
	int fd, ret = 0;

	state_path(m, id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) ||
	    h->magic != STATE_MAGIC || h->version != STATE_VERSION ||
	    h->id != id || h->page_size != m->page_size)
		ret = -EUCLEAN;
	close(fd);
	return ret;
}

static struct region *region_new(void)
{
	struct region *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->uffd = r->memfd = -1;
	r->lease.fd = r->pidfd.fd = -1;
	pthread_mutex_init(&r->lock, NULL);
	atomic_store(&r->refs, 1);
	return r;
}

static void region_free(struct monitor *m, struct region *r)
{
	/* Its pages leave the budget only now: no thread can add more. */
	atomic_fetch_sub(&m->cache.used, atomic_load(&r->resident));
	if (r->br)
		m->be_ops->region_close(m->be, r->br, r->destroy);
	if (r->state_map)
		munmap(r->state_map, r->state_map_len);
	if (r->destroy && !r->blind)
		state_unlink(m, r->id);
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->memfd >= 0)
		close(r->memfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static int is_userfaultfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

#define REQUIRED_FEATURES                                                      \
	(UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_EVENT_REMOVE)

/* Everything about a registration that can be checked before acting. */
static int check_request(struct monitor *m, const struct fm_msg_register *q,
			 int uffd, int memfd, struct stat *mst, char *err,
			 size_t errlen)
{
	struct statfs sfs;

	if (q->page_size != m->page_size) {
		snprintf(err, errlen, "page size %u, monitor uses %u",
			 q->page_size, m->page_size);
		return -EINVAL;
	}
	if (q->size == 0 || q->size % m->page_size || q->base % m->page_size ||
	    q->memfd_offset % m->page_size || q->size > MAX_REGION_BYTES ||
	    q->base + q->size < q->base) {
		snprintf(err, errlen,
			 "bad geometry (base, size and offset must be page "
			 "multiples, size at most 16 TiB)");
		return -EINVAL;
	}
	if (memchr(q->name, '\0', sizeof(q->name)) == NULL) {
		snprintf(err, errlen, "name is not NUL-terminated");
		return -EINVAL;
	}
	if ((q->uffd_features & REQUIRED_FEATURES) != REQUIRED_FEATURES) {
		snprintf(err, errlen,
			 "uffd lacks WP_HUGETLBFS_SHMEM/EVENT_REMOVE features");
		return -EINVAL;
	}
	if (!is_userfaultfd(uffd)) {
		snprintf(err, errlen, "first descriptor is not a userfaultfd");
		return -EBADF;
	}
	if (fstat(memfd, mst) < 0 || !S_ISREG(mst->st_mode) ||
	    fstatfs(memfd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) {
		snprintf(err, errlen,
			 "second descriptor is not a memfd/shmem file");
		return -EBADF;
	}
	if ((uint64_t)mst->st_size < q->memfd_offset + q->size) {
		snprintf(err, errlen, "memfd is smaller than the region");
		return -EINVAL;
	}
	return 0;
}

/*
 * A restarted monitor rebuilds page states: what the memfd holds is
 * resident; holes keep the recorded state, resolving interrupted work.
 */
static uint64_t region_recover(struct monitor *m, struct region *r)
{
	uint64_t resident = 0;
	off_t start = (off_t)r->memfd_offset;
	off_t end = start + (off_t)r->size;
	off_t pos = start;
	unsigned sh = m->page_shift;

	for (uint64_t i = 0; i < r->npages; i++) {
		uint8_t b = r->pages[i];
		uint8_t keep = b & PS_STORED;
		switch (ps_state(b)) {
		case PS_EVICTED:
		case PS_LOST:
			r->pages[i] = b & (PS_STATE_MASK | PS_STORED);
			break;
		case PS_INSTALLING:
			/* The fetch or zero-fill never finished. */
			r->pages[i] = keep ? (PS_EVICTED | PS_STORED) : PS_NEW;
			break;
		case PS_EVICTING:
			/* Written (if dirty) before any punch. */
			r->pages[i] = (b & (PS_DIRTY | PS_STORED))
					      ? (PS_EVICTED | PS_STORED)
					      : PS_NEW;
			break;
		default:
			r->pages[i] = PS_NEW | keep;
			break;
		}
	}
	/* Every data extent in the memfd is resident (and maybe dirty). */
	while (pos < end) {
		off_t d = lseek(r->memfd, pos, SEEK_DATA);
		if (d < 0 || d >= end)
			break;
		off_t h = lseek(r->memfd, d, SEEK_HOLE);
		if (h < 0 || h > end)
			h = end;
		for (uint64_t i = (uint64_t)(d - start) >> sh;
		     i < (uint64_t)(h - start + (1 << sh) - 1) >> sh; i++) {
			r->pages[i] = PS_RESIDENT | PS_DIRTY |
				      (r->pages[i] & PS_STORED);
			resident++;
		}
		pos = h;
	}
	return resident;
}

static int table_insert(struct monitor *m, struct region *r)
{
	struct region_table *t = m->regions;
	int ret = -ENOSPC;

	pthread_mutex_lock(&t->lock);
	for (unsigned s = 0; s < t->nslots; s++) {
		if (t->slots[s].r && t->slots[s].r->id == r->id) {
			ret = -EBUSY;
			break;
		}
	}
	for (unsigned s = 0; ret == -ENOSPC && s < t->nslots; s++) {
		if (!t->slots[s].r) {
			t->slots[s].r = r;
			t->slots[s].gen++;
			r->slot = s;
			r->gen = t->slots[s].gen;
			t->live++;
			ret = 0;
		}
	}
	if (ret == 0) {
		for (struct orphan **o = &t->orphans; *o; o = &(*o)->next) {
			if ((*o)->id == r->id) {
				struct orphan *dead = *o;
				*o = dead->next;
				free(dead);
				break;
			}
		}
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

static int region_is_live(struct monitor *m, uint64_t id)
{
	struct region_table *t = m->regions;
	int live = 0;

	pthread_mutex_lock(&t->lock);
	for (unsigned s = 0; s < t->nslots && !live; s++)
		live = t->slots[s].r && t->slots[s].r->id == id;
	pthread_mutex_unlock(&t->lock);
	return live;
}

static uint64_t region_id_new(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = 0;
	return id;
}

int region_attach(struct monitor *m, const struct fm_msg_register *q,
		  int uffd, int memfd, pid_t pid, uid_t uid,
		  struct region **out, char *err, size_t errlen)
{
	int reattach = q->region_id != 0;
	struct state_hdr *h;
	struct stat mst;
	struct region *r;
	uint64_t resident = 0;
	int ret;

	ret = check_request(m, q, uffd, memfd, &mst, err, errlen);
	if (ret)
		return ret;
	r = region_new();
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->base = q->base;
	r->size = q->size;
	r->npages = q->size >> m->page_shift;
	r->memfd_offset = q->memfd_offset;
	r->features = q->uffd_features;
	r->pid = pid;
	r->uid = uid;
	r->registered = time(NULL);
	/* Names end up in logs and STAT lines: printable, no spaces. */
	for (size_t i = 0; i < sizeof(r->name) && q->name[i]; i++)
		r->name[i] = q->name[i] > ' ' && q->name[i] < 127 ? q->name[i]
								   : '_';
	if (reattach) {
		r->id = q->region_id;
	} else {
		ret = coord_region_id(m, &r->id, err, errlen);
		if (ret < 0)
			goto out_free;
		if (ret > 0)
			r->id = region_id_new();
	}

	/* Never touch a region that is being served: its clean pages
	 * rely on staying write-protected. */
	if (reattach && region_is_live(m, r->id)) {
		snprintf(err, errlen, "region %016" PRIx64
			 " is already attached", r->id);
		ret = -EBUSY;
		goto out_free;
	}
	ret = state_map(m, r, !reattach);
	if (ret) {
		snprintf(err, errlen,
			 reattach ? "region %016" PRIx64
				    " is unknown to this monitor: %s"
				  : "cannot create state file for %016" PRIx64
				    ": %s",
			 r->id, strerror(-ret));
		goto out_free;
	}
	h = r->state_map;
	if (reattach) {
		if (h->magic != STATE_MAGIC || h->version != STATE_VERSION ||
		    h->id != r->id || h->size != r->size ||
		    h->page_size != m->page_size ||
		    h->memfd_dev != (uint64_t)mst.st_dev ||
		    h->memfd_ino != (uint64_t)mst.st_ino ||
		    h->memfd_offset != r->memfd_offset) {
			snprintf(err, errlen,
				 "region %016" PRIx64
				 " does not match its recorded memfd/size",
				 r->id);
			ret = -EPERM;
			munmap(r->state_map, r->state_map_len);
			r->state_map = NULL;
			goto out_free;
		}
		resident = region_recover(m, r);
	} else {
		h->magic = STATE_MAGIC;
		h->version = STATE_VERSION;
		h->id = r->id;
		h->size = r->size;
		h->page_size = m->page_size;
		h->memfd_dev = (uint64_t)mst.st_dev;
		h->memfd_ino = (uint64_t)mst.st_ino;
		h->memfd_offset = r->memfd_offset;
		memcpy(h->name, r->name, sizeof(h->name));
	}
	/* The range must be registered for WP on this uffd: un-protecting
	 * it proves that, and clears WP left by an interrupted eviction. */
	struct uffdio_writeprotect wp = {
		.range = { .start = r->base, .len = r->size },
		.mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
	};
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) < 0) {
		ret = -errno;
		snprintf(err, errlen,
			 "range is not registered MISSING|WP on that uffd: %s",
			 strerror(-ret));
		goto out_unmap;
	}

	ret = m->be_ops->region_open(m->be, r->id, r->npages, !reattach,
				     &r->br);
	if (ret) {
		snprintf(err, errlen, "backend cannot open region: %s",
			 strerror(-ret));
		goto out_unmap;
	}
	r->uffd = uffd;
	r->memfd = memfd;
	atomic_store(&r->resident, resident);
	ret = table_insert(m, r);
	if (ret) {
		snprintf(err, errlen,
			 ret == -EBUSY ? "region is already attached"
				       : "too many regions (--max-regions)");
		r->uffd = r->memfd = -1;
		goto out_close_br;
	}
	atomic_fetch_add(&m->cache.used, resident);
	ret = fault_add_region(m, r);
	if (ret) {
		snprintf(err, errlen, "cannot watch uffd: %s", strerror(-ret));
		region_unpublish(m, r, 0);
		/* The caller still owns the fds. */
		r->uffd = r->memfd = -1;
		r->destroy = !reattach;
		region_put(m, r);
		return ret;
	}
	coord_region_up(m, r);
	if (reattach) {
		/* Faults the dead monitor read are never delivered again. */
		struct uffdio_range all = { .start = r->base, .len = r->size };
		ioctl(uffd, UFFDIO_WAKE, &all);
		if (resident > atomic_load(&m->cache.capacity))
			evict_kick(m);
	}
	*out = r;
	return 0;
out_close_br:
	m->be_ops->region_close(m->be, r->br, !reattach);
	r->br = NULL;
out_unmap:
	munmap(r->state_map, r->state_map_len);
	r->state_map = NULL;
	if (!reattach)
		state_unlink(m, r->id);
out_free:
	pthread_mutex_destroy(&r->lock);
	free(r);
	return ret;
}

void region_unpublish(struct monitor *m, struct region *r, int destroy)
{
	struct region_table *t = m->regions;
	int was_live = 0;

	pthread_mutex_lock(&t->lock);
	if (t->slots[r->slot].r == r) {
		t->slots[r->slot].r = NULL;
		t->live--;
		was_live = 1;
	}
	pthread_mutex_unlock(&t->lock);
	if (!was_live)
		return;
	atomic_store(&r->dead, 1);
	r->destroy = destroy;
	fault_remove_region(m, r);
	coord_region_down(m, r->id, destroy);
	region_put(m, r); /* the table's reference */
}

int region_reap_pending(struct monitor *m)
{
	pthread_mutex_lock(&m->regions->lock);
	int pending = m->regions->reap_list != NULL;
	pthread_mutex_unlock(&m->regions->lock);
	return pending;
}

/* Delete every page the backend may hold for a dying region. */
static void region_delete_remote(struct monitor *m, struct region *r,
				 struct backend_conn *conn)
{
	struct page_key keys[64];
	unsigned n = 0;
	uint64_t deleted = 0;

	if (!r->br || m->be_ops->drops_by_region)
		goto out;
	for (uint64_t i = 0; i < r->npages; i++) {
		if (!r->blind && !(r->pages[i] & PS_STORED))
			continue;
		keys[n].region_id = r->id;
		keys[n].pgoff = i;
		keys[n].server = r->blind ? BACKEND_NO_SERVER : r->loc[i];
		if (++n == 64) {
			m->be_ops->del(conn, r->br, keys, n);
			deleted += n;
			n = 0;
		}
	}
	if (n)
		m->be_ops->del(conn, r->br, keys, n);
	deleted += n;
out:
	STAT_ADD(&m->stats, remote_deletes, deleted);
}

void region_reap(struct monitor *m, struct backend_conn *conn)
{
	struct region_table *t = m->regions;

	for (;;) {
		pthread_mutex_lock(&t->lock);
		struct region *r = t->reap_list;
		if (r)
			t->reap_list = r->reap_next;
		pthread_mutex_unlock(&t->lock);
		if (!r)
			return;
		if (r->destroy) {
			region_delete_remote(m, r, conn);
			log_info("region %016" PRIx64 " (%s, pid %d) dropped",
				 r->id, r->name, (int)r->pid);
		}
		region_free(m, r);
	}
}

int region_collect_remote(struct monitor *m, uint64_t id, uint64_t npages)
{
	struct region *r = region_new();
	int ret;

	if (!r)
		return -ENOMEM;
	r->id = id;
	r->npages = npages;
	r->blind = 1;
	r->destroy = 1;
	snprintf(r->name, sizeof(r->name), "collected");
	ret = m->be_ops->region_open(m->be, id, npages, 0, &r->br);
	if (ret) {
		region_free(m, r);
		return ret;
	}
	region_put(m, r); /* the evictor deletes its pages */
	return 0;
}

int region_orphans_scan(struct monitor *m)
{
	char dir[512];
	struct dirent *de;
	DIR *d;
	unsigned n = 0;

	snprintf(dir, sizeof(dir), "%s/regions", m->set.run_dir);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t id;
		char tail[16];
		if (sscanf(de->d_name, "%16" SCNx64 "%15s", &id, tail) != 2 ||
		    strcmp(tail, ".state") != 0)
			continue;
		struct orphan *o = malloc(sizeof(*o));
		if (!o)
			break;
		o->id = id;
		o->next = m->regions->orphans;
		m->regions->orphans = o;
		n++;
	}
	closedir(d);
	if (n)
		log_info("%u region(s) from a previous monitor wait %us for "
			 "their clients",
			 n, m->set.orphan_grace_s);
	return (int)n;
}

/* Regions nobody came back for: delete their data (in the background). */
unsigned region_orphans_collect(struct monitor *m)
{
	struct region_table *t = m->regions;
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	struct orphan *list = t->orphans;
	t->orphans = NULL;
	pthread_mutex_unlock(&t->lock);
	while (list) {
		struct orphan *o = list;
		struct state_hdr h;
		struct region *r;
		list = o->next;
		if (state_read_hdr(m, o->id, &h) == 0 && (r = region_new())) {
			r->id = o->id;
			r->size = h.size;
			r->npages = h.size >> m->page_shift;
			memcpy(r->name, h.name, sizeof(r->name));
			r->name[sizeof(r->name) - 1] = '\0';
			r->destroy = 1;
			if (state_map(m, r, 0) == 0 &&
			    m->be_ops->region_open(m->be, r->id, r->npages, 0,
						   &r->br) == 0) {
				log_info("collecting region %016" PRIx64
					 " (%s): its client never returned",
					 r->id, r->name);
				region_put(m, r);
				n++;
			} else {
				log_warn("region %016" PRIx64
					 ": unreadable state, removing it",
					 o->id);
				region_free(m, r);
			}
		} else {
			log_warn("region %016" PRIx64
				 ": bad state file, removing it",
				 o->id);
			state_unlink(m, o->id);
		}
		free(o);
	}
	return n;
}
