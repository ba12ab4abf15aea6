/*
 * memverify: in-guest memory verifier for the VM tests. It maps most of
 * the guest's available memory, then for each pass fills every 8-byte
 * word with a pass-specific pattern and reads it all back. Built static
 * into the test initramfs; prints one "memverify: RESULT" line.
 *
 *   memverify [-m MB] [-r RESERVE_MB] [-p PASSES]
 *     -m  megabytes to verify (default: MemAvailable - RESERVE_MB)
 *     -r  megabytes left to the kernel when -m is not given (default 48)
 *     -p  passes, each with a different pattern (default 4)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *const pattern_names[] = {
	"address", "inverted-address", "random", "checkerboard",
};
#define NPATTERNS (sizeof(pattern_names) / sizeof(pattern_names[0]))

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* The value word @i holds in pass @pass. */
static uint64_t pattern(uint64_t i, unsigned pass)
{
	uint64_t salt = (uint64_t)pass << 56;

	switch (pass % NPATTERNS) {
	case 0:
		return i ^ salt;
	case 1:
		return ~(i * 8) ^ salt;
	case 2:
		return mix(i ^ (salt | 0x5eed));
	default:
		return ((i / 512) & 1 ? UINT64_C(0x5555555555555555)
				      : UINT64_C(0xaaaaaaaaaaaaaaaa)) ^ i ^ salt;
	}
}

/* A value in kB from a "Name:   N kB" line of /proc/meminfo, or -1. */
static long meminfo_kb(const char *name)
{
	char line[256];
	long v = -1;
	size_t n = strlen(name);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Free pages in the Movable zones (hot-added memory), or -1. */
static long movable_free_pages(void)
{
	char line[256];
	long total = -1;
	int in_movable = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Node ", 5)) {
			in_movable = strstr(line, "zone  Movable") != NULL;
			continue;
		}
		long v;
		if (in_movable && sscanf(line, " pages free %ld", &v) == 1) {
			total = (total < 0 ? 0 : total) + v;
			in_movable = 0;
		}
	}
	fclose(f);
	return total;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long mb = 0, reserve = 48;
	unsigned passes = 4;
	uint64_t errors = 0;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "m:r:p:")) != -1) {
		switch (opt) {
		case 'm':
			mb = strtol(optarg, NULL, 10);
			break;
		case 'r':
			reserve = strtol(optarg, NULL, 10);
			break;
		case 'p':
			passes = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: memverify [-m MB] [-r RESERVE_MB] "
					"[-p PASSES]\n");
			return 2;
		}
	}
	if (mb <= 0)
		mb = meminfo_kb("MemAvailable") / 1024 - reserve;
	if (mb <= 0 || passes == 0) {
		printf("memverify: RESULT FAIL nothing to verify (mb=%ld)\n", mb);
		return 1;
	}

	size_t len = (size_t)mb << 20;
	uint64_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		printf("memverify: RESULT FAIL mmap of %ld MB failed\n", mb);
		return 1;
	}
	size_t words = len / 8;
	long movable_before = movable_free_pages();
	double t0 = now_s();

	printf("memverify: start mb=%ld passes=%u memfree_kb=%ld "
	       "movable_free_mb=%ld\n",
	       mb, passes, meminfo_kb("MemFree"),
	       movable_before < 0 ? -1 : movable_before / 256);
	for (unsigned p = 0; p < passes; p++) {
		uint64_t bad = 0;
		double t = now_s();

		for (size_t i = 0; i < words; i++)
			mem[i] = pattern(i, p);
		if (p == 0 && movable_before >= 0)
			printf("memverify: movable_used_mb=%ld\n",
			       (movable_before - movable_free_pages()) / 256);
		for (size_t i = 0; i < words; i++) {
			if (mem[i] != pattern(i, p)) {
				if (++bad <= 5)
					printf("memverify: pass %u word %zu: "
					       "%016" PRIx64 " != %016" PRIx64
					       "\n",
					       p + 1, i, mem[i], pattern(i, p));
			}
		}
		errors += bad;
		printf("memverify: pass %u/%u pattern=%s mb=%ld errors=%" PRIu64
		       " secs=%.1f\n",
		       p + 1, passes, pattern_names[p % NPATTERNS], mb, bad,
		       now_s() - t);
	}
	printf("memverify: RESULT %s mb=%ld passes=%u verified_mb=%ld "
	       "errors=%" PRIu64 " secs=%.1f\n",
	       errors ? "FAIL" : "OK", mb, passes, mb * passes, errors,
	       now_s() - t0);
	munmap(mem, len);
	return errors ? 1 : 0;
}
