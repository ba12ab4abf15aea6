/* Thin wrappers over the uffd ioctls the monitor issues. */
#include "config.h"
#include "uffd.h"
#include "uffd_compat.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

int uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len,
	      int write_protect)
{
	struct uffdio_copy c = {
		.dst = dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = write_protect ? UFFDIO_COPY_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_COPY, &c) < 0 ? -errno : 0;
}

int uffd_copy_done(int uffd, uint64_t dst, const void *src, uint64_t len,
		   int write_protect, uint64_t *done)
{
	struct uffdio_copy c = {
		.dst = dst,
		.src = (uintptr_t)src,
		.len = len,
		.mode = write_protect ? UFFDIO_COPY_MODE_WP : 0,
	};
	int ret = ioctl(uffd, UFFDIO_COPY, &c) < 0 ? -errno : 0;

	*done = ret == 0 ? len : c.copy > 0 ? (uint64_t)c.copy : 0;
	return ret;
}

int uffd_zeropage(int uffd, uint64_t dst, uint64_t len)
{
	struct uffdio_zeropage z = { .range = { .start = dst, .len = len } };

	return ioctl(uffd, UFFDIO_ZEROPAGE, &z) < 0 ? -errno : 0;
}

int uffd_wp(int uffd, uint64_t start, uint64_t len, int protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	for (;;) {
		if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
			return 0;
		if (errno != EAGAIN || protect)
			return -errno;
		/* Un-protecting must not give up: the mm is changing. */
		usleep(50);
	}
}

int uffd_wake(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}

int uffd_poison(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_writeprotect unwp = {
		.range = { .start = start, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
	};
	struct uffdio_poison p = { .range = { .start = start, .len = len } };

	/* An evicted page keeps a uffd-wp PTE marker, and POISON refuses to
	 * overwrite any PTE, markers included (EEXIST). Clearing the marker
	 * of a non-present page without waking anyone is safe. */
	ioctl(uffd, UFFDIO_WRITEPROTECT, &unwp);
	if (ioctl(uffd, UFFDIO_POISON, &p) == 0)
		return 0;
	int ret = -errno;
	/* Already poisoned (or filled): make sure the faulter retries. */
	if (ret == -EEXIST)
		uffd_wake(uffd, start, len);
	return ret;
}
