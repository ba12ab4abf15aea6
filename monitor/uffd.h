/* Thin wrappers over the uffd ioctls the monitor issues: 0 or -errno. */
#ifndef FLUIDMEM_UFFD_H
#define FLUIDMEM_UFFD_H

#include <stdint.h>

int uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len,
	      int write_protect);
/* The same; *done gets the bytes copied, also on failure. */
int uffd_copy_done(int uffd, uint64_t dst, const void *src, uint64_t len,
		   int write_protect, uint64_t *done);
int uffd_zeropage(int uffd, uint64_t dst, uint64_t len);
/* Un-protecting retries while the client's mm is changing. */
int uffd_wp(int uffd, uint64_t start, uint64_t len, int protect);
int uffd_wake(int uffd, uint64_t start, uint64_t len);
int uffd_poison(int uffd, uint64_t start, uint64_t len);

#endif
