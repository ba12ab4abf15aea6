/*
 * local backend: the embedded default, no server needed. Each region's
 * pages go to a sparse file <local-dir>/<id>.pages at offset pgoff *
 * page_size, with a checksum file <id>.sums (one 64-bit word per page:
 * a present bit and the page's CRC32C). Both live in the kernel's page
 * cache and on disk, so they survive a monitor crash or restart; they do
 * not survive a host crash, and neither do the clients they serve.
 */
#include "config.h"
#include "backend.h"
#include "crc32c.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SUM_PRESENT (UINT64_C(1) << 63)

struct backend {
	char dir[256];
	int dirfd;
	uint32_t page_size;
	_Atomic uint64_t gets, puts, dels, bytes_read, bytes_written;
};

struct backend_region {
	uint64_t id;
	uint64_t npages;
	int fd;
	_Atomic uint64_t *sums;
	size_t sums_len;
};

struct backend_conn {
	struct backend *be;
};

static int local_check(const char *locator, char *err, size_t errlen)
{
	if (!locator)
		return 0;
	snprintf(err, errlen, "the local backend takes no locator (it "
		 "writes under --local-dir)");
	return -EINVAL;
}

static int local_open(const struct backend_params *p, struct backend **out,
		      char *err, size_t errlen)
{
	struct backend *be;
	int ret;

	if (p->locator) {
		snprintf(err, errlen, "the local backend takes no locator");
		return -EINVAL;
	}
	if (strlen(p->local_dir) >= sizeof(be->dir)) {
		snprintf(err, errlen, "--local-dir path too long");
		return -ENAMETOOLONG;
	}
	be = calloc(1, sizeof(*be));
	if (!be)
		return -ENOMEM;
	strcpy(be->dir, p->local_dir);
	be->page_size = p->page_size;
	ret = fs_mkdir_p(be->dir);
	if (ret == 0) {
		be->dirfd = open(be->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (be->dirfd < 0)
			ret = -errno;
	}
	if (ret) {
		snprintf(err, errlen, "cannot use %s: %s", be->dir,
			 strerror(-ret));
		free(be);
		return ret;
	}
	*out = be;
	return 0;
}

static void local_close(struct backend *be)
{
	if (!be)
		return;
	close(be->dirfd);
	free(be);
}

static void file_name(char *buf, size_t len, uint64_t id, const char *ext)
{
	snprintf(buf, len, "%016" PRIx64 ".%s", id, ext);
}

static int local_region_open(struct backend *be, uint64_t id, uint64_t npages,
			     int create, struct backend_region **out)
{
	struct backend_region *br = calloc(1, sizeof(*br));
	int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
	char name[64];
	int sfd = -1, ret;

	if (!br)
		return -ENOMEM;
	br->id = id;
	br->npages = npages;
	br->sums_len = npages * sizeof(uint64_t);
	file_name(name, sizeof(name), id, "pages");
	br->fd = openat(be->dirfd, name, flags, 0600);
	if (br->fd < 0) {
		ret = -errno;
		goto out_free;
	}
	file_name(name, sizeof(name), id, "sums");
	sfd = openat(be->dirfd, name, flags, 0600);
	if (sfd < 0 || (create && ftruncate(sfd, (off_t)br->sums_len) < 0)) {
		ret = -errno;
		goto out_close;
	}
	struct stat st;
	if (fstat(sfd, &st) < 0 || (uint64_t)st.st_size != br->sums_len) {
		ret = -EUCLEAN;
		goto out_close;
	}
	br->sums = mmap(NULL, br->sums_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			sfd, 0);
	if (br->sums == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	close(sfd);
	*out = br;
	return 0;
out_close:
	if (sfd >= 0)
		close(sfd);
	close(br->fd);
out_free:
	free(br);
	return ret;
}

static void local_region_close(struct backend *be, struct backend_region *br,
			       int destroy)
{
	char name[64];

	munmap((void *)br->sums, br->sums_len);
	close(br->fd);
	if (destroy) {
		file_name(name, sizeof(name), br->id, "pages");
		unlinkat(be->dirfd, name, 0);
		file_name(name, sizeof(name), br->id, "sums");
		unlinkat(be->dirfd, name, 0);
	}
	free(br);
}

static uint8_t local_place(struct backend_conn *c, const struct page_key *k)
{
	return 0; /* one store */
}

static struct backend_conn *local_conn_open(struct backend *be)
{
	struct backend_conn *c = calloc(1, sizeof(*c));

	if (c)
		c->be = be;
	return c;
}

static void local_conn_close(struct backend_conn *c)
{
	free(c);
}

static void local_multi_get(struct backend_conn *c, struct backend_region *br,
			    const struct page_key *keys, void *const *bufs,
			    unsigned n, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;

	for (unsigned i = 0; i < n; i++) {
		uint64_t pg = keys[i].pgoff;
		uint64_t sum = pg < br->npages ? atomic_load(&br->sums[pg]) : 0;
		if (!(sum & SUM_PRESENT)) {
			res[i] = -ENOENT;
			continue;
		}
		if (pread(br->fd, bufs[i], ps, (off_t)(pg * ps)) != (ssize_t)ps) {
			res[i] = -EIO;
			continue;
		}
		res[i] = crc32c(0, bufs[i], ps) == (uint32_t)sum ? 0 : -EBADMSG;
		atomic_fetch_add_explicit(&be->gets, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&be->bytes_read, ps,
					  memory_order_relaxed);
	}
}

static void local_multi_put(struct backend_conn *c, struct backend_region *br,
			    const struct page_key *keys,
			    const void *const *bufs, unsigned n, int *res)
{
	struct backend *be = c->be;
	size_t ps = be->page_size;

	for (unsigned i = 0; i < n;) {
		/* Consecutive pages go down in one pwritev. */
		struct iovec iov[64];
		unsigned k = 0;
		while (i + k < n && k < 64 &&
		       (k == 0 || keys[i + k].pgoff == keys[i].pgoff + k)) {
			iov[k].iov_base = (void *)bufs[i + k];
			iov[k].iov_len = ps;
			k++;
		}
		uint64_t pg = keys[i].pgoff;
		int ret = 0;
		if (pg + k > br->npages)
			ret = -EINVAL;
		else if (pwritev(br->fd, iov, (int)k, (off_t)(pg * ps)) !=
			 (ssize_t)(k * ps))
			ret = -EIO;
		for (unsigned j = 0; j < k; j++) {
			res[i + j] = ret;
			if (ret == 0)
				atomic_store(&br->sums[pg + j],
					     SUM_PRESENT |
						     crc32c(0, bufs[i + j], ps));
		}
		if (ret == 0) {
			atomic_fetch_add_explicit(&be->puts, k,
						  memory_order_relaxed);
			atomic_fetch_add_explicit(&be->bytes_written, k * ps,
						  memory_order_relaxed);
		}
		i += k;
	}
}

static void local_del(struct backend_conn *c, struct backend_region *br,
		      const struct page_key *keys, unsigned n)
{
	size_t ps = c->be->page_size;

	for (unsigned i = 0; i < n; i++) {
		uint64_t pg = keys[i].pgoff;
		if (pg >= br->npages)
			continue;
		atomic_store(&br->sums[pg], 0);
		fallocate(br->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)(pg * ps), (off_t)ps);
	}
	atomic_fetch_add_explicit(&c->be->dels, n, memory_order_relaxed);
}

static void local_stats(struct backend *be, stats_emit_fn emit, void *arg)
{
	emit(arg, "local_dir", "%s", be->dir);
	emit(arg, "local_gets", "%" PRIu64, atomic_load(&be->gets));
	emit(arg, "local_puts", "%" PRIu64, atomic_load(&be->puts));
	emit(arg, "local_deletes", "%" PRIu64, atomic_load(&be->dels));
	emit(arg, "local_bytes_read", "%" PRIu64, atomic_load(&be->bytes_read));
	emit(arg, "local_bytes_written", "%" PRIu64,
	     atomic_load(&be->bytes_written));
}

const struct backend_ops local_backend = {
	.name = "local",
	.description = "sparse page files under --local-dir (no server)",
	.drops_by_region = 1,
	.open = local_open,
	.check = local_check,
	.close = local_close,
	.region_open = local_region_open,
	.region_close = local_region_close,
	.place = local_place,
	.conn_open = local_conn_open,
	.conn_close = local_conn_close,
	.multi_get = local_multi_get,
	.multi_put = local_multi_put,
	.del = local_del,
	.stats = local_stats,
};
