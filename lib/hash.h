/* Small, fast 64-bit hashes for placement and id mixing (not crypto). */
#ifndef FLUIDMEM_HASH_H
#define FLUIDMEM_HASH_H

#include <stdint.h>

/* A bijective 64-bit finalizer: distinct inputs stay distinct. */
static inline uint64_t hash_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* FNV-1a of a string, finalized. */
static inline uint64_t hash_str(const char *s)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	while (*s)
		h = (h ^ (unsigned char)*s++) * UINT64_C(0x100000001b3);
	return hash_mix64(h);
}

#endif
