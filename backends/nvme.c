/*
 * nvme backend: pages in page-sized slots of one file or block device,
 * read and written with O_DIRECT through one io_uring per connection
 * (pread/pwrite where io_uring is unavailable). Two kinds of metadata, in
 * files mmap'd MAP_SHARED so they survive the monitor's death: a slot
 * table (owner and CRC32C of each slot) and one slot map per region
 * (slot + 1 of each page, 0 = none). Nothing is fsync'd: a monitor crash
 * loses nothing that was written, a host crash is not covered (see the
 * "NVMe tier" section of doc/design.md).
 */
#include "config.h"
#include "backend.h"
#include "crc32c.h"
#include "fsutil.h"
#include "log.h"
#include "nvme_slots.h"
#include "parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define NVME_MAGIC "FMNVME01"
#define NVME_VERSION 1
#define NVME_HDR_LEN 4096
#define NVME_DEPTH 64	/* pages per io_uring batch */
#define NVME_ALIGN 4096 /* O_DIRECT buffer and offset alignment */
#define NVME_MAX_SLOTS (UINT32_MAX - 1)
#define NVME_PENDING 1	   /* io result not in yet */
#define NVME_LOCK_TRIES 60 /* 50 ms apart */

/* First page of the slot table file. */
struct nvme_hdr {
	char magic[8];
	uint32_t version;
	uint32_t page_size;
	uint64_t nslots;
	uint64_t dev; /* the data file: st_dev and st_ino, or st_rdev */
	uint64_t ino;
};

/* Who a slot's bytes belong to, and their checksum. */
struct nvme_slot {
	uint64_t region_id;
	uint64_t pgoff;
	uint32_t crc;
	uint32_t used;
};

struct backend {
	char path[256];
	char meta[512]; /* metadata directory */
	int fd;
	int metafd;
	int direct;  /* data file opened O_DIRECT */
	int created; /* by this open: removed if the open fails */
	int uring;   /* io=uring asked for */
	uint32_t page_size;
	uint32_t nslots;
	struct nvme_hdr *hdr;
	struct nvme_slot *slots;
	size_t table_len;
	struct nvme_slots alloc;
	_Atomic int full_logged;
	_Atomic int uring_warned;
	_Atomic uint64_t reads, writes, deletes, read_errors, write_errors,
	    checksum_errors, full, inplace_writes, uring_conns, sync_conns;
};

struct backend_region {
	uint64_t id;
	uint64_t npages;
	_Atomic uint32_t *map;
	size_t map_len;
};

struct backend_conn {
	struct backend *be;
	struct io_uring ring;
	int ring_ok;
	char *bounce; /* NVME_DEPTH aligned pages */
	unsigned idx[NVME_DEPTH];
	uint32_t slot[NVME_DEPTH];
	uint32_t crc[NVME_DEPTH];
	uint32_t dead[NVME_DEPTH];
	uint8_t inplace[NVME_DEPTH];
	void *iobuf[NVME_DEPTH];
	struct iovec iov[NVME_DEPTH];
	int ior[NVME_DEPTH];
};

static int nvme_aligned(const void *p)
{
	return ((uintptr_t)p & (NVME_ALIGN - 1)) == 0;
}

/* "PATH[;size=SIZE][;io=uring|sync][;meta=DIR]" */
static int nvme_parse(struct backend *be, const char *loc, uint64_t *size,
		      char *meta, size_t metalen, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;

	if (!loc || !*loc) {
		snprintf(err, errlen,
			 "nvme needs --locator=PATH[;size=SIZE][;io=uring|sync]"
			 "[;meta=DIR]");
		return -EINVAL;
	}
	if (strlen(loc) >= sizeof(buf)) {
		snprintf(err, errlen, "locator too long");
		return -ENAMETOOLONG;
	}
	strcpy(buf, loc);
	tok = strtok_r(buf, ";", &save);
	if (!tok || *loc == ';' || *tok == '-' ||
	    strlen(tok) >= sizeof(be->path)) {
		snprintf(err, errlen, "bad nvme path in locator \"%s\"", loc);
		return -EINVAL;
	}
	strcpy(be->path, tok);
	*size = 0;
	be->uring = 1;
	while ((tok = strtok_r(NULL, ";", &save))) {
		if (strncmp(tok, "size=", 5) == 0) {
			if (parse_size(tok + 5, 1, UINT64_MAX, size) == 0)
				continue;
		} else if (strcmp(tok, "io=uring") == 0) {
			be->uring = 1;
			continue;
		} else if (strcmp(tok, "io=sync") == 0) {
			be->uring = 0;
			continue;
		} else if (strncmp(tok, "meta=", 5) == 0 && tok[5] &&
			   strlen(tok + 5) < metalen) {
			strcpy(meta, tok + 5);
			continue;
		}
		snprintf(err, errlen,
			 "bad nvme locator option \"%s\" (size=SIZE, "
			 "io=uring|sync, meta=DIR)",
			 tok);
		return -EINVAL;
	}
	return 0;
}

/* Open (create, extend) the data file; sets be->fd and the slot count. */
static int nvme_open_data(struct backend *be, uint64_t size, struct stat *st,
			  char *err, size_t errlen)
{
	int flags = O_RDWR | O_CLOEXEC;
	uint64_t have;
	int ret;

	be->fd = open(be->path, flags | O_DIRECT);
	if (be->fd < 0 && errno == ENOENT && size) {
		/* Created only when its size is known. */
		be->fd =
		    open(be->path, flags | O_DIRECT | O_CREAT | O_EXCL, 0600);
		be->created = be->fd >= 0;
	}
	be->direct = be->fd >= 0;
	if (be->fd < 0 && errno == EINVAL) {
		be->fd = open(be->path, flags | (size ? O_CREAT : 0), 0600);
		be->created = 0; /* not known: keep it on failure */
	}
	if (be->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s%s", be->path,
			 strerror(-ret),
			 ret == -ENOENT ? " (give ;size=SIZE to create it)"
					: "");
		return ret;
	}
	if (!be->direct)
		log_warn("nvme %s: no O_DIRECT on this file system; pages go "
			 "through the page cache",
			 be->path);
	/* A killed monitor's io_uring lets go of the file a little after
	 * the process is gone: wait for it a moment. */
	for (int i = 0; i < NVME_LOCK_TRIES; i++) {
		ret = flock(be->fd, LOCK_EX | LOCK_NB) < 0 ? -errno : 0;
		if (ret != -EWOULDBLOCK)
			break;
		usleep(50000);
	}
	if (ret) {
		snprintf(err, errlen, "%s: %s", be->path,
			 ret == -EWOULDBLOCK ? "in use by another nvme backend"
					     : strerror(-ret));
		return ret;
	}
	if (fstat(be->fd, st) < 0)
		return -errno;
	if (S_ISBLK(st->st_mode)) {
		if (ioctl(be->fd, BLKGETSIZE64, &have) < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: BLKGETSIZE64: %s", be->path,
				 strerror(-ret));
			return ret;
		}
		if (size > have) {
			snprintf(err, errlen,
				 "%s: size=%" PRIu64
				 " but the device has %" PRIu64 " bytes",
				 be->path, size, have);
			return -ENOSPC;
		}
		if (!size)
			size = have;
	} else if (S_ISREG(st->st_mode)) {
		have = (uint64_t)st->st_size;
		if (!size)
			size = have;
		if (size > have) {
			/* Blocks reserved now: the file system cannot run out
			 * under a put later, and first writes are cheaper. */
			ret = fallocate(be->fd, 0, (off_t)have,
					(off_t)(size - have));
			if (ret < 0 && errno == EOPNOTSUPP)
				ret = ftruncate(be->fd, (off_t)size);
			if (ret < 0) {
				ret = -errno;
				snprintf(err, errlen,
					 "cannot extend %s to %" PRIu64
					 " bytes: %s",
					 be->path, size, strerror(-ret));
				return ret;
			}
		}
	} else {
		snprintf(err, errlen, "%s is not a file or block device",
			 be->path);
		return -EINVAL;
	}
	if (size / be->page_size == 0) {
		snprintf(err, errlen,
			 "%s is empty: give its size (locator ;size=SIZE)",
			 be->path);
		return -EINVAL;
	}
	if (size / be->page_size > NVME_MAX_SLOTS) {
		snprintf(err, errlen, "%s: too big, use ;size= below %" PRIu64,
			 be->path, (uint64_t)NVME_MAX_SLOTS * be->page_size);
		return -EFBIG;
	}
	be->nslots = (uint32_t)(size / be->page_size);
	return 0;
}

static int nvme_is_map(const char *name, uint64_t *id)
{
	char tail[8];

	return sscanf(name, "%16" SCNx64 "%7s", id, tail) == 2 &&
	       strlen(name) == 20 && strcmp(tail, ".map") == 0;
}

/* Remove every region map: they point into a layout that is gone. */
static void nvme_drop_maps(struct backend *be)
{
	DIR *d = fdopendir(dup(be->metafd));
	struct dirent *de;
	uint64_t id;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (nvme_is_map(de->d_name, &id))
			unlinkat(be->metafd, de->d_name, 0);
	closedir(d);
}

/* Map the slot table; a table for another file or layout is reset. */
static int nvme_open_table(struct backend *be, const struct stat *st)
{
	uint64_t dev = S_ISBLK(st->st_mode) ? st->st_rdev : st->st_dev;
	uint64_t ino = S_ISBLK(st->st_mode) ? 0 : st->st_ino;
	int fd, ret = 0;

	fd = openat(be->metafd, "slots", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	be->table_len = NVME_HDR_LEN + (size_t)be->nslots * sizeof(*be->slots);
	struct stat ts;
	if (fstat(fd, &ts) < 0 || ((uint64_t)ts.st_size < be->table_len &&
				   ftruncate(fd, (off_t)be->table_len) < 0)) {
		ret = -errno;
		goto out;
	}
	be->hdr = mmap(NULL, be->table_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (be->hdr == MAP_FAILED) {
		ret = -errno;
		be->hdr = NULL;
		goto out;
	}
	be->slots = (struct nvme_slot *)((char *)be->hdr + NVME_HDR_LEN);
	struct nvme_hdr *h = be->hdr;
	int fresh = memcmp(h->magic, NVME_MAGIC, 8) != 0;
	if (!fresh &&
	    (h->version != NVME_VERSION || h->page_size != be->page_size ||
	     h->dev != dev || h->ino != ino || h->nslots > be->nslots)) {
		log_warn("nvme %s: metadata in %s is for another file or "
			 "layout; starting empty (pages stored there are lost)",
			 be->path, be->meta);
		fresh = 1;
	}
	if (fresh) {
		nvme_drop_maps(be);
		memset(h, 0, sizeof(*h));
		h->version = NVME_VERSION;
		h->page_size = be->page_size;
		h->dev = dev;
		h->ino = ino;
		memcpy(h->magic, NVME_MAGIC, 8);
	}
	h->nslots = be->nslots; /* a grown file keeps its pages */
out:
	close(fd);
	return ret;
}

/*
 * Rebuild the free list: a slot is in use iff a region map points to it.
 * A write that completed but whose map was not switched yet, and an old
 * copy whose map already moved on, are both free again.
 */
static int nvme_rebuild(struct backend *be, uint64_t *nused)
{
	uint64_t *used = calloc((size_t)be->nslots / 64 + 1, sizeof(*used));
	DIR *d = fdopendir(dup(be->metafd));
	struct dirent *de;
	uint64_t id, dropped = 0;

	*nused = 0;
	if (!used || !d) {
		free(used);
		if (d)
			closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		if (!nvme_is_map(de->d_name, &id))
			continue;
		int fd = openat(be->metafd, de->d_name, O_RDWR | O_CLOEXEC);
		struct stat st;
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && st.st_size > 0 &&
		    st.st_size % sizeof(uint32_t) == 0) {
			uint32_t *map =
			    mmap(NULL, (size_t)st.st_size,
				 PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			size_t n = (size_t)st.st_size / sizeof(uint32_t);
			for (size_t i = 0; map != MAP_FAILED && i < n; i++) {
				uint32_t s = map[i] - 1;
				if (!map[i])
					continue;
				if (s >= be->nslots ||
				    (used[s / 64] >> (s % 64)) & 1) {
					/* Out of range or shared: gone. */
					map[i] = 0;
					dropped++;
					continue;
				}
				used[s / 64] |= UINT64_C(1) << (s % 64);
				(*nused)++;
			}
			if (map != MAP_FAILED)
				munmap(map, (size_t)st.st_size);
		}
		close(fd);
	}
	closedir(d);
	if (dropped)
		log_warn("nvme %s: %" PRIu64 " bad slot references dropped; "
			 "those pages are lost",
			 be->path, dropped);
	nvme_slots_reset(&be->alloc, used);
	free(used);
	return 0;
}

static void nvme_close(struct backend *be)
{
	if (!be)
		return;
	if (be->hdr)
		munmap(be->hdr, be->table_len);
	if (be->alloc.stack)
		nvme_slots_fini(&be->alloc);
	if (be->metafd >= 0)
		close(be->metafd);
	if (be->fd >= 0)
		close(be->fd);
	free(be);
}

static int nvme_open(const struct backend_params *p, struct backend **out,
		     char *err, size_t errlen)
{
	struct backend *be = calloc(1, sizeof(*be));
	char real[PATH_MAX], meta[256] = "", *base;
	uint64_t size, nused;
	struct stat st;
	int ret;

	if (!be)
		return -ENOMEM;
	be->fd = be->metafd = -1;
	be->page_size = p->page_size;
	ret =
	    nvme_parse(be, p->locator, &size, meta, sizeof(meta), err, errlen);
	if (ret)
		goto fail;
	if (p->page_size % NVME_ALIGN) {
		snprintf(err, errlen, "page size %u is not a multiple of %u",
			 p->page_size, NVME_ALIGN);
		ret = -EINVAL;
		goto fail;
	}
	ret = nvme_open_data(be, size, &st, err, errlen);
	if (ret)
		goto fail;
	/* Metadata: <meta or state-dir>/nvme-<name>-<hash of real path>. */
	if (!realpath(be->path, real)) {
		ret = -errno;
		goto fail;
	}
	base = strrchr(real, '/') + 1;
	snprintf(be->meta, sizeof(be->meta), "%s/nvme-%.64s-%08x",
		 meta[0] ? meta : p->state_dir, base,
		 crc32c(0, real, strlen(real)));
	ret = fs_mkdir_p(be->meta);
	if (ret == 0) {
		be->metafd = open(be->meta, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (be->metafd < 0)
			ret = -errno;
	}
	if (ret == 0)
		ret = nvme_open_table(be, &st);
	if (ret) {
		snprintf(err, errlen, "metadata in %s: %s", be->meta,
			 strerror(-ret));
		goto fail;
	}
	ret = nvme_slots_init(&be->alloc, be->nslots);
	if (ret == 0)
		ret = nvme_rebuild(be, &nused);
	if (ret)
		goto fail;
	log_info("nvme %s: %u slots of %u bytes, %" PRIu64
		 " in use, metadata in %s",
		 be->path, be->nslots, be->page_size, nused, be->meta);
	*out = be;
	return 0;
fail:
	if (be->created)
		unlink(be->path);
	nvme_close(be);
	return ret;
}

static void map_name(char *buf, size_t len, uint64_t id)
{
	snprintf(buf, len, "%016" PRIx64 ".map", id);
}

/* Give back the slots of pages whose map entries were just cleared. */
static void nvme_release(struct backend *be, uint32_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] < be->nslots)
			be->slots[v[i]].used = 0;
	nvme_slots_free(&be->alloc, v, n);
	if (n && atomic_load_explicit(&be->full_logged, memory_order_relaxed))
		atomic_store(&be->full_logged, 0);
}

/* Free every slot @map points to and clear it. */
static void nvme_free_map(struct backend *be, _Atomic uint32_t *map,
			  uint64_t npages)
{
	uint32_t batch[256];
	unsigned n = 0;

	for (uint64_t i = 0; i < npages; i++) {
		uint32_t v = atomic_exchange(&map[i], 0);
		if (!v)
			continue;
		batch[n++] = v - 1;
		if (n == 256) {
			nvme_release(be, batch, n);
			n = 0;
		}
	}
	nvme_release(be, batch, n);
}

static int nvme_region_open(struct backend *be, uint64_t id, uint64_t npages,
			    int create, struct backend_region **out)
{
	struct backend_region *br = calloc(1, sizeof(*br));
	char name[32];
	struct stat st;
	int fd, ret;

	if (!br)
		return -ENOMEM;
	br->id = id;
	br->npages = npages;
	br->map_len = npages * sizeof(uint32_t);
	map_name(name, sizeof(name), id);
	fd = openat(be->metafd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (create && st.st_size > 0 && st.st_size % sizeof(uint32_t) == 0) {
		/* A stale map under a reused id: its slots go back. */
		void *old = mmap(NULL, (size_t)st.st_size,
				 PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (old != MAP_FAILED) {
			nvme_free_map(be, old,
				      (uint64_t)st.st_size / sizeof(uint32_t));
			munmap(old, (size_t)st.st_size);
		}
	}
	if (create || st.st_size == 0) {
		if (ftruncate(fd, 0) < 0 ||
		    ftruncate(fd, (off_t)br->map_len) < 0) {
			ret = -errno;
			goto out_close;
		}
	} else if (st.st_size != (off_t)br->map_len) {
		ret = -EUCLEAN;
		goto out_close;
	}
	br->map =
	    mmap(NULL, br->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (br->map == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	close(fd);
	*out = br;
	return 0;
out_close:
	if (fd >= 0)
		close(fd);
	free(br);
	return ret;
}

static void nvme_region_close(struct backend *be, struct backend_region *br,
			      int destroy)
{
	char name[32];

	if (destroy) {
		nvme_free_map(be, br->map, br->npages);
		map_name(name, sizeof(name), br->id);
		unlinkat(be->metafd, name, 0);
	}
	munmap((void *)br->map, br->map_len);
	free(br);
}

static uint8_t nvme_place(struct backend_conn *c, const struct page_key *k)
{
	return 0; /* one store */
}

static struct backend_conn *nvme_conn_open(struct backend *be)
{
	struct backend_conn *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return NULL;
	c->be = be;
	if (posix_memalign((void **)&c->bounce, NVME_ALIGN,
			   (size_t)NVME_DEPTH * be->page_size)) {
		free(c);
		return NULL;
	}
	if (be->uring) {
		ret = io_uring_queue_init(NVME_DEPTH, &c->ring, 0);
		c->ring_ok = ret == 0;
		if (ret && !atomic_exchange(&be->uring_warned, 1))
			log_warn("nvme %s: io_uring unavailable (%s); using "
				 "pread/pwrite",
				 be->path, strerror(-ret));
	}
	atomic_fetch_add(c->ring_ok ? &be->uring_conns : &be->sync_conns, 1);
	return c;
}

static void nvme_conn_close(struct backend_conn *c)
{
	if (c->ring_ok)
		io_uring_queue_exit(&c->ring);
	free(c->bounce);
	free(c);
}

static off_t slot_off(struct backend *be, uint32_t s)
{
	return (off_t)s * be->page_size;
}

static int io_result(ssize_t r, size_t len)
{
	return r == (ssize_t)len ? 0 : r < 0 ? (int)r : -EIO;
}

/* End of the run of consecutive slots from @k: one vectored request. */
static unsigned run_end(const struct backend_conn *c, unsigned k, unsigned n)
{
	unsigned e = k + 1;

	while (e < n && c->slot[e] == c->slot[e - 1] + 1)
		e++;
	return e;
}

static void run_done(struct backend_conn *c, unsigned k, unsigned e, int r)
{
	while (k < e)
		c->ior[k++] = r;
}

/* I/O for c->iobuf/c->slot[0..n) not done yet; results in c->ior. */
static void nvme_io_sync(struct backend_conn *c, int write, unsigned n)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;

	for (unsigned k = 0, e; k < n; k = e) {
		e = run_end(c, k, n);
		if (c->ior[k] != NVME_PENDING)
			continue;
		off_t off = slot_off(be, c->slot[k]);
		ssize_t r = write
				? pwritev(be->fd, &c->iov[k], (int)(e - k), off)
				: preadv(be->fd, &c->iov[k], (int)(e - k), off);
		run_done(c, k, e, io_result(r < 0 ? -errno : r, (e - k) * ps));
	}
}

/*
 * One batch: runs of consecutive slots become one request each, all
 * submitted at once, then every completion is reaped.
 */
static void nvme_io(struct backend_conn *c, int write, unsigned n)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;
	unsigned submitted = 0, nreq = 0;
	int ret = 0;

	for (unsigned k = 0; k < n; k++) {
		c->ior[k] = NVME_PENDING;
		c->iov[k].iov_base = c->iobuf[k];
		c->iov[k].iov_len = ps;
	}
	if (!c->ring_ok) {
		nvme_io_sync(c, write, n);
		return;
	}
	for (unsigned k = 0, e; k < n; k = e) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&c->ring);
		off_t off = slot_off(be, c->slot[k]);
		e = run_end(c, k, n);
		if (!sqe)
			break; /* cannot happen: the ring holds a batch */
		if (write)
			io_uring_prep_writev(sqe, be->fd, &c->iov[k], e - k,
					     off);
		else
			io_uring_prep_readv(sqe, be->fd, &c->iov[k], e - k,
					    off);
		io_uring_sqe_set_data(sqe, (void *)(uintptr_t)k);
		nreq++;
	}
	while (submitted < nreq) {
		/* Submit and wait in one system call. */
		ret = io_uring_submit_and_wait(&c->ring, nreq - submitted);
		if (ret == -EINTR || ret == -EAGAIN)
			continue;
		if (ret <= 0)
			break;
		submitted += (unsigned)ret;
	}
	for (unsigned done = 0; done < submitted; done++) {
		struct io_uring_cqe *cqe;
		do
			ret = io_uring_wait_cqe(&c->ring, &cqe);
		while (ret == -EINTR);
		if (ret < 0)
			break;
		unsigned k = (unsigned)(uintptr_t)io_uring_cqe_get_data(cqe);
		if (k < n) {
			unsigned e = run_end(c, k, n);
			run_done(c, k, e, io_result(cqe->res, (e - k) * ps));
		}
		io_uring_cqe_seen(&c->ring, cqe);
	}
	if (submitted < nreq || ret < 0) {
		/* The ring is wedged: this connection goes synchronous. */
		log_warn("nvme %s: io_uring failed (%s); connection falls back "
			 "to pread/pwrite",
			 be->path, strerror(ret < 0 ? -ret : EIO));
		io_uring_queue_exit(&c->ring);
		c->ring_ok = 0;
		atomic_fetch_sub(&be->uring_conns, 1);
		atomic_fetch_add(&be->sync_conns, 1);
	}
	nvme_io_sync(c, write, n); /* whatever the ring did not do */
}

/* New slots in ascending order: consecutive pages land in runs. */
static void sort_slots(uint32_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uint32_t x = v[i];
		unsigned j = i;
		while (j && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

static void nvme_multi_get(struct backend_conn *c, struct backend_region *br,
			   const struct page_key *keys, void *const *bufs,
			   unsigned n, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;

	for (unsigned i = 0; i < n;) {
		unsigned j = 0;
		for (; i < n && j < NVME_DEPTH; i++) {
			uint64_t pg = keys[i].pgoff;
			uint32_t v =
			    pg < br->npages
				? atomic_load_explicit(&br->map[pg],
						       memory_order_acquire)
				: 0;
			if (!v) {
				res[i] = -ENOENT;
				continue;
			}
			if (v - 1 >= be->nslots) {
				res[i] = -EBADMSG;
				continue;
			}
			c->idx[j] = i;
			c->slot[j] = v - 1;
			c->iobuf[j] = be->direct && !nvme_aligned(bufs[i])
					  ? c->bounce + (size_t)j * ps
					  : bufs[i];
			j++;
		}
		nvme_io(c, 0, j);
		for (unsigned k = 0; k < j; k++) {
			unsigned x = c->idx[k];
			const struct nvme_slot *e = &be->slots[c->slot[k]];
			if (c->ior[k]) {
				res[x] = c->ior[k];
				atomic_fetch_add(&be->read_errors, 1);
				continue;
			}
			if (c->iobuf[k] != bufs[x])
				memcpy(bufs[x], c->iobuf[k], ps);
			/* Never hand out bytes that are not this page's. */
			if (!e->used || e->region_id != br->id ||
			    e->pgoff != keys[x].pgoff ||
			    crc32c(0, bufs[x], ps) != e->crc) {
				res[x] = -EBADMSG;
				atomic_fetch_add(&be->checksum_errors, 1);
				continue;
			}
			res[x] = 0;
			atomic_fetch_add_explicit(&be->reads, 1,
						  memory_order_relaxed);
		}
	}
}

/*
 * No free slot for pages idx[got..j): a page that already has a slot is
 * overwritten in place (a crash mid-write then fails its checksum rather
 * than keeping the old copy); the others get -ENOSPC and stay resident,
 * or go a tier further down. Returns how many were given a slot, moved
 * to idx[got..].
 */
static unsigned nvme_full(struct backend_conn *c, struct backend_region *br,
			  const struct page_key *keys, int *res, unsigned got,
			  unsigned j)
{
	struct backend *be = c->be;
	unsigned n = got;

	for (unsigned k = got; k < j; k++) {
		unsigned x = c->idx[k];
		uint32_t v = atomic_load(&br->map[keys[x].pgoff]);
		if (v && v - 1 < be->nslots) {
			c->idx[n] = x;
			c->slot[n] = v - 1;
			c->inplace[n++] = 1;
			continue;
		}
		res[x] = -ENOSPC;
		atomic_fetch_add(&be->full, 1);
	}
	if (n < j && !atomic_exchange(&be->full_logged, 1))
		log_warn("nvme %s: all %u slots in use; pages that do not fit "
			 "stay in memory",
			 be->path, be->nslots);
	return n - got;
}

static void nvme_multi_put(struct backend_conn *c, struct backend_region *br,
			   const struct page_key *keys, const void *const *bufs,
			   unsigned n, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;

	for (unsigned i = 0; i < n;) {
		unsigned j = 0, got, ndead = 0;
		for (; i < n && j < NVME_DEPTH; i++) {
			if (keys[i].pgoff >= br->npages) {
				res[i] = -EINVAL;
				continue;
			}
			c->idx[j++] = i;
		}
		got = nvme_slots_alloc(&be->alloc, c->slot, j);
		sort_slots(c->slot, got);
		for (unsigned k = 0; k < j; k++)
			c->inplace[k] = 0;
		if (got < j)
			j = got + nvme_full(c, br, keys, res, got, j);
		for (unsigned k = 0; k < j; k++) {
			const void *b = bufs[c->idx[k]];
			c->crc[k] = crc32c(0, b, ps);
			if (c->inplace[k]) /* torn until rewritten: refuse */
				be->slots[c->slot[k]].used = 0;
			if (be->direct && !nvme_aligned(b)) {
				c->iobuf[k] = c->bounce + (size_t)k * ps;
				memcpy(c->iobuf[k], b, ps);
			} else {
				c->iobuf[k] = (void *)b;
			}
		}
		nvme_io(c, 1, j);
		for (unsigned k = 0; k < j; k++) {
			unsigned x = c->idx[k];
			uint64_t pg = keys[x].pgoff;
			struct nvme_slot *e = &be->slots[c->slot[k]];
			if (c->ior[k]) {
				res[x] = c->ior[k];
				/* An in-place copy stays unusable (used=0). */
				if (!c->inplace[k])
					c->dead[ndead++] = c->slot[k];
				atomic_fetch_add(&be->write_errors, 1);
				continue;
			}
			if (c->inplace[k]) {
				e->crc = c->crc[k];
				e->used = 1;
				res[x] = 0;
				atomic_fetch_add(&be->inplace_writes, 1);
				continue;
			}
			/* Owner first, then the map: the old copy stays
			 * valid until the new one is complete. */
			e->region_id = br->id;
			e->pgoff = pg;
			e->crc = c->crc[k];
			e->used = 1;
			uint32_t old = atomic_exchange_explicit(
			    &br->map[pg], c->slot[k] + 1, memory_order_acq_rel);
			if (old)
				c->dead[ndead++] = old - 1;
			res[x] = 0;
			atomic_fetch_add_explicit(&be->writes, 1,
						  memory_order_relaxed);
		}
		nvme_release(be, c->dead, ndead);
	}
}

static void nvme_del(struct backend_conn *c, struct backend_region *br,
		     const struct page_key *keys, unsigned n)
{
	struct backend *be = c->be;
	unsigned ndead = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t pg = keys[i].pgoff;
		uint32_t v =
		    pg < br->npages ? atomic_exchange(&br->map[pg], 0) : 0;
		if (v)
			c->dead[ndead++] = v - 1;
		if (ndead == NVME_DEPTH) {
			nvme_release(be, c->dead, ndead);
			ndead = 0;
		}
	}
	nvme_release(be, c->dead, ndead);
	atomic_fetch_add_explicit(&be->deletes, n, memory_order_relaxed);
}

static void nvme_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	emit(arg, "nvme_path", "%s", be->path);
	emit(arg, "nvme_direct", "%d", be->direct);
	emit(arg, "nvme_io", "%s",
	     atomic_load(&be->uring_conns) ? "io_uring" : "sync");
	emit(arg, "nvme_uring_conns", "%" PRIu64,
	     atomic_load(&be->uring_conns));
	emit(arg, "nvme_sync_conns", "%" PRIu64, atomic_load(&be->sync_conns));
	emit(arg, "nvme_capacity_slots", "%u", be->nslots);
	emit(arg, "nvme_used_slots", "%u", nvme_slots_used(&be->alloc));
	emit(arg, "nvme_reads", "%" PRIu64, atomic_load(&be->reads));
	emit(arg, "nvme_writes", "%" PRIu64, atomic_load(&be->writes));
	emit(arg, "nvme_deletes", "%" PRIu64, atomic_load(&be->deletes));
	emit(arg, "nvme_read_errors", "%" PRIu64,
	     atomic_load(&be->read_errors));
	emit(arg, "nvme_write_errors", "%" PRIu64,
	     atomic_load(&be->write_errors));
	emit(arg, "nvme_checksum_errors", "%" PRIu64,
	     atomic_load(&be->checksum_errors));
	emit(arg, "nvme_full", "%" PRIu64, atomic_load(&be->full));
	emit(arg, "nvme_inplace_writes", "%" PRIu64,
	     atomic_load(&be->inplace_writes));
}

/* Option parsing: a malformed locator is refused before start-up. */
static int nvme_check(const char *loc, char *err, size_t errlen)
{
	struct backend *be = calloc(1, sizeof(*be));
	char meta[sizeof(be->meta)];
	uint64_t size;
	int ret;

	if (!be)
		return -ENOMEM;
	ret = nvme_parse(be, loc, &size, meta, sizeof(meta), err, errlen);
	free(be);
	return ret;
}

const struct backend_ops nvme_backend = {
    .name = "nvme",
    .description = "page slots in a file or block device, O_DIRECT + "
		   "io_uring (--locator=PATH[;size=SIZE])",
    .drops_by_region = 1,
    .open = nvme_open,
    .check = nvme_check,
    .close = nvme_close,
    .region_open = nvme_region_open,
    .region_close = nvme_region_close,
    .place = nvme_place,
    .conn_open = nvme_conn_open,
    .conn_close = nvme_conn_close,
    .multi_get = nvme_multi_get,
    .multi_put = nvme_multi_put,
    .del = nvme_del,
    .stats = nvme_stats,
};
