/*
 * fm_worker: a real client of the monitor for tests and the quick start.
 * It creates an elastic region through libfluidmem and checks that every
 * byte it wrote comes back:
 *   integrity  threads own slices; each round verifies the previous
 *              round's full-page pattern, then writes a new one, in a
 *              shuffled order or (--order seq|rev) in address order,
 *              ascending or descending, every --stride-th page at a time
 *   race       threads hammer counters in shared pages; a counter that
 *              is not what its thread last wrote is a lost write
 *   hold       write patterns, wait for "verify" on stdin, verify them,
 *              counting pages that raise SIGBUS (lost pages)
 *   discard    write, MADV_REMOVE some pages, check they read as zeros
 * Patterns are incompressible; --compressible keeps the page's first
 * 512 bytes so and repeats one page- and round-specific word after them.
 * Prints one summary line; exit 0 when no data was wrong.
 */
#include "config.h"
#include "fluidmem.h"
#include "hash.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_INTEGRITY, MODE_RACE, MODE_HOLD, MODE_DISCARD };

static struct {
	enum mode mode;
	uint64_t pages;
	unsigned threads;
	unsigned rounds;
	int seq;	/* integrity: 1 ascending, -1 descending, 0 shuffled */
	unsigned stride; /* integrity, in order: every stride-th page first */
	int compressible; /* patterns LZ4 shrinks (all but 512 bytes) */
	uint64_t iters;
	double seconds;
	const char *socket;
	const char *name;
	uint8_t *base;
	size_t ps;
	_Atomic uint64_t accesses;
	_Atomic uint64_t mismatches;
	_Atomic uint64_t sigbus;
	_Atomic int stop;
} w = { .mode = MODE_INTEGRITY, .pages = 1024, .threads = 4, .rounds = 4,
	.iters = 1000000, .stride = 1 };

static uint64_t rng_next(uint64_t *s)
{
	*s += UINT64_C(0x9e3779b97f4a7c15);
	return hash_mix64(*s);
}

static void page_fill(uint64_t pg, uint64_t round)
{
	uint64_t *p = (uint64_t *)(w.base + pg * w.ps);
	uint64_t seed = hash_mix64(pg * 0x100000001b3ULL ^ (round << 40) ^ 0x5eed);

	for (size_t i = 0; i < w.ps / 8; i++)
		p[i] = w.compressible && i >= 64 ? seed
						 : seed + i * 0x9e3779b97f4a7c15ULL;
}

/* 1 if the page holds round's pattern. */
static int page_check(uint64_t pg, uint64_t round)
{
	const uint64_t *p = (const uint64_t *)(w.base + pg * w.ps);
	uint64_t seed = hash_mix64(pg * 0x100000001b3ULL ^ (round << 40) ^ 0x5eed);

	for (size_t i = 0; i < w.ps / 8; i++)
		if (p[i] != (w.compressible && i >= 64
				     ? seed
				     : seed + i * 0x9e3779b97f4a7c15ULL))
			return 0;
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void shuffle(uint64_t *v, uint64_t n, uint64_t *rng)
{
	for (uint64_t i = n; i > 1; i--) {
		uint64_t j = rng_next(rng) % i;
		uint64_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

static void *integrity_thread(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	uint64_t first = w.pages * t / w.threads;
	uint64_t n = w.pages * (t + 1) / w.threads - first;
	uint64_t *order = malloc(n * sizeof(*order));
	uint64_t rng = t + 1;
	double end = w.seconds > 0 ? now_s() + w.seconds : 0;

	/* In order: pages first, first+stride, ..., then first+1, ... */
	uint64_t o = 0;
	for (uint64_t j = 0; j < w.stride && j < n; j++)
		for (uint64_t i = j; i < n; i += w.stride)
			order[o++] = first + i;
	if (w.seq < 0)
		for (uint64_t i = 0; i < n / 2; i++) {
			uint64_t tmp = order[i];
			order[i] = order[n - 1 - i];
			order[n - 1 - i] = tmp;
		}
	uint64_t r;
	for (r = 0; r < w.rounds || (end && now_s() < end); r++) {
		if (!w.seq)
			shuffle(order, n, &rng);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t pg = order[i];
			if (r > 0 && !page_check(pg, r - 1)) {
				atomic_fetch_add(&w.mismatches, 1);
				if (atomic_load(&w.mismatches) <= 5)
					fprintf(stderr,
						"fm_worker: page %" PRIu64
						" wrong after round %" PRIu64
						"\n",
						pg, r - 1);
			}
			page_fill(pg, r);
		}
		atomic_fetch_add(&w.accesses, 2 * n);
	}
	if (!w.seq)
		shuffle(order, n, &rng);
	for (uint64_t i = 0; i < n; i++)
		if (!page_check(order[i], r - 1))
			atomic_fetch_add(&w.mismatches, 1);
	atomic_fetch_add(&w.accesses, n);
	free(order);
	return NULL;
}

/* Thread t owns the 8-byte counter at offset t*slot in every page. */
static void *race_thread(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	size_t slot = w.ps / w.threads / 8 * 8;
	uint64_t *expect = calloc(w.pages, sizeof(*expect));
	uint64_t rng = hash_mix64(t + 77), lost = 0, i;
	double end = w.seconds > 0 ? now_s() + w.seconds : 0;

	for (i = 0; i < w.iters || (end && now_s() < end); i++) {
		uint64_t pg = rng_next(&rng) % w.pages;
		volatile uint64_t *c =
			(volatile uint64_t *)(w.base + pg * w.ps + t * slot);
		uint64_t v = *c;
		if (v != expect[pg]) {
			lost++;
			expect[pg] = v;
		}
		*c = ++expect[pg];
	}
	atomic_fetch_add(&w.accesses, i);
	atomic_fetch_add(&w.mismatches, lost);
	free(expect);
	return NULL;
}

static sigjmp_buf bus_jmp;
static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

static void run_hold(void)
{
	char line[64];
	struct sigaction sa = { .sa_handler = on_sigbus };

	for (uint64_t pg = 0; pg < w.pages; pg++)
		page_fill(pg, 7);
	printf("written\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return;
	sigaction(SIGBUS, &sa, NULL);
	for (volatile uint64_t pg = 0; pg < w.pages; pg++) {
		if (sigsetjmp(bus_jmp, 1)) {
			atomic_fetch_add(&w.sigbus, 1);
			continue;
		}
		if (!page_check(pg, 7))
			atomic_fetch_add(&w.mismatches, 1);
		atomic_fetch_add(&w.accesses, 1);
	}
}

static void run_discard(void)
{
	/* Write everything, drop every other 8-page block, check zeros. */
	for (uint64_t pg = 0; pg < w.pages; pg++)
		page_fill(pg, 3);
	for (uint64_t pg = 0; pg < w.pages; pg += 16)
		if (madvise(w.base + pg * w.ps, 8 * w.ps, MADV_REMOVE) < 0)
			perror("madvise");
	for (uint64_t pg = 0; pg < w.pages; pg++) {
		int dropped = (pg % 16) < 8;
		int ok = 1;
		if (dropped) {
			for (size_t i = 0; i < w.ps; i++)
				if (w.base[pg * w.ps + i]) {
					ok = 0;
					break;
				}
		} else {
			ok = page_check(pg, 3);
		}
		if (!ok)
			atomic_fetch_add(&w.mismatches, 1);
		atomic_fetch_add(&w.accesses, 1);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fm_worker [--mode integrity|race|hold|discard] "
		"[--pages N] [--threads N]\n"
		"                 [--rounds N] [--iters N] [--seconds S] "
		"[--socket PATH] [--name NAME]\n"
		"                 [--order random|seq|rev] [--stride N] "
		"[--compressible]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "pages", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "iters", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "name", required_argument, NULL, 'n' },
		{ "order", required_argument, NULL, 'o' },
		{ "stride", required_argument, NULL, 'd' },
		{ "compressible", no_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	struct fm_region_opts ro = { 0 };
	struct fm_region *r;
	pthread_t th[64];
	int c, ret;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "integrity"))
				w.mode = MODE_INTEGRITY;
			else if (!strcmp(optarg, "race"))
				w.mode = MODE_RACE;
			else if (!strcmp(optarg, "hold"))
				w.mode = MODE_HOLD;
			else if (!strcmp(optarg, "discard"))
				w.mode = MODE_DISCARD;
			else
				usage();
			break;
		case 'p':
			w.pages = strtoull(optarg, NULL, 0);
			break;
		case 't':
			w.threads = (unsigned)atoi(optarg);
			break;
		case 'r':
			w.rounds = (unsigned)atoi(optarg);
			break;
		case 'i':
			w.iters = strtoull(optarg, NULL, 0);
			break;
		case 's':
			w.seconds = atof(optarg);
			break;
		case 'S':
			w.socket = optarg;
			break;
		case 'n':
			w.name = optarg;
			break;
		case 'd':
			w.stride = (unsigned)atoi(optarg);
			if (w.stride < 1 || w.stride > 1024)
				usage();
			break;
		case 'z':
			w.compressible = 1;
			break;
		case 'o':
			if (!strcmp(optarg, "seq"))
				w.seq = 1;
			else if (!strcmp(optarg, "rev"))
				w.seq = -1;
			else if (!strcmp(optarg, "random"))
				w.seq = 0;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (!w.pages || !w.threads || w.threads > 64 || !w.rounds)
		usage();
	w.ps = (size_t)sysconf(_SC_PAGESIZE);
	ro.socket_path = w.socket;
	ro.name = w.name;
	ret = fm_region_create(w.pages * w.ps, &ro, &r);
	if (ret) {
		fprintf(stderr, "fm_worker: %s\n", fm_last_error());
		return 2;
	}
	w.base = fm_region_addr(r);
	printf("region=%016" PRIx64 " pid=%d\n", fm_region_id(r), (int)getpid());
	fflush(stdout);
	double t0 = now_s();
	switch (w.mode) {
	case MODE_INTEGRITY:
	case MODE_RACE:
		for (unsigned t = 0; t < w.threads; t++)
			pthread_create(&th[t], NULL,
				       w.mode == MODE_RACE ? race_thread
							   : integrity_thread,
				       (void *)(uintptr_t)t);
		for (unsigned t = 0; t < w.threads; t++)
			pthread_join(th[t], NULL);
		break;
	case MODE_HOLD:
		run_hold();
		break;
	case MODE_DISCARD:
		run_discard();
		break;
	}
	double dt = now_s() - t0;
	printf("accesses=%" PRIu64 " mismatches=%" PRIu64 " sigbus=%" PRIu64
	       " seconds=%.2f\n",
	       atomic_load(&w.accesses), atomic_load(&w.mismatches),
	       atomic_load(&w.sigbus), dt);
	fflush(stdout);
	ret = fm_region_destroy(r);
	if (ret)
		fprintf(stderr, "fm_worker: destroy: %s\n", fm_last_error());
	return atomic_load(&w.mismatches) ? 1 : 0;
}
