/*
 * workload: one access pattern over a working set, timed, on the memory
 * under test: plain anonymous memory (all local, or inside a memory
 * cgroup with swap when run.sh places it there) or a libfluidmem region.
 * The page sequence is generated before the clock starts, so every kind of
 * memory runs exactly the same accesses.
 */
#include "config.h"
#include "bench.h"
#include "fluidmem.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define WL_WRITE (1u << 31)
/* A prime larger than any page count: rank * WL_SCRAMBLE mod n is a
 * permutation, so hot zipfian pages are spread over the working set. */
#define WL_SCRAMBLE 2654435761ull

enum wl_pattern { WL_UNIFORM, WL_ZIPF, WL_SEQ };

struct wl_opts {
	int fluidmem;
	const char *socket, *name;
	enum wl_pattern pattern;
	unsigned write_pct;
	size_t ws, ops;
	double theta;
	uint64_t seed;
	int hold;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: workload --memory=anon|fluidmem [OPTION]...\n"
"Fill the working set once (init: half of each page random, half zero),\n"
"then run --ops accesses of 8 bytes, one page each, in one pattern, and\n"
"report the completion time.\n"
"\n"
"  --memory=anon|fluidmem  anonymous memory (4 KiB pages, no THP) or a\n"
"                     libfluidmem region (required)\n"
"  --socket=PATH      monitor socket for --memory=fluidmem\n"
"  --pattern=uniform|zipf|seq  page choice (default uniform)\n"
"  --theta=X          zipf skew, 0 < X < 1 (default 0.99)\n"
"  --write-pct=P      percentage of accesses that store (default 10)\n"
"  --ws=SIZE          working set, K/M/G suffixes (default 256M)\n"
"  --ops=N            timed accesses (default 200000)\n"
"  --seed=N           random seed (default 1)\n"
"  --name=NAME        result name prefix (default wl)\n"
"  --hold             after reporting, keep the memory until killed\n"
"  -h, --help         show this help\n"
"Prints RESULT lines NAME.init (s), NAME.run (s), NAME.ops_per_s,\n"
"NAME.majflt (major faults during the run).\n");
}

static uint64_t wl_rand(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double wl_unit(uint64_t *s)
{
	return (wl_rand(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* Zipfian ranks (Gray et al., "Quickly generating billion-record
 * synthetic databases"), rank 0 the most popular. */
struct wl_zipf {
	double theta, zetan, alpha, eta;
	size_t n;
};

static void wl_zipf_init(struct wl_zipf *z, size_t n, double theta)
{
	double zeta2 = 1 + pow(0.5, theta);

	z->n = n;
	z->theta = theta;
	z->zetan = 0;
	for (size_t i = 1; i <= n; i++)
		z->zetan += 1 / pow((double)i, theta);
	z->alpha = 1 / (1 - theta);
	z->eta = (1 - pow(2.0 / n, 1 - theta)) / (1 - zeta2 / z->zetan);
}

static size_t wl_zipf_next(const struct wl_zipf *z, uint64_t *s)
{
	double u = wl_unit(s), uz = u * z->zetan;
	size_t r;

	if (uz < 1)
		return 0;
	if (uz < 1 + pow(0.5, z->theta))
		return 1;
	r = (size_t)(z->n * pow(z->eta * u - z->eta + 1, z->alpha));
	return r < z->n ? r : z->n - 1;
}

static uint32_t *wl_sequence(const struct wl_opts *o, size_t npages)
{
	uint32_t *seq = malloc(o->ops * sizeof(*seq));
	uint64_t s = o->seed;
	struct wl_zipf z = { 0 };

	if (!seq)
		return NULL;
	if (o->pattern == WL_ZIPF)
		wl_zipf_init(&z, npages, o->theta);
	for (size_t i = 0; i < o->ops; i++) {
		size_t p;

		if (o->pattern == WL_UNIFORM)
			p = wl_rand(&s) % npages;
		else if (o->pattern == WL_ZIPF)
			p = wl_zipf_next(&z, &s) * WL_SCRAMBLE % npages;
		else
			p = i % npages;
		seq[i] = (uint32_t)p;
		if (wl_rand(&s) % 100 < o->write_pct)
			seq[i] |= WL_WRITE;
	}
	return seq;
}

static long wl_majflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_majflt;
}

static void wl_result(const char *name, const char *what, double v,
		      const char *unit)
{
	char n[160];

	snprintf(n, sizeof(n), "%s.%s", name, what);
	bench_value(n, v, unit);
}

int main(int argc, char **argv)
{
	struct wl_opts o = { .ws = 256u << 20, .ops = 200000, .seed = 1,
			     .write_pct = 10, .theta = 0.99, .name = "wl",
			     .fluidmem = -1 };
	struct fm_region *r = NULL;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), npages;
	volatile uint64_t sink = 0;
	uint64_t t0, t1, sum = 0;
	uint32_t *seq;
	long maj0;
	char *m;
	int c;

	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 's' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "theta", required_argument, NULL, 'z' },
		{ "write-pct", required_argument, NULL, 'w' },
		{ "ws", required_argument, NULL, 'W' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'S' },
		{ "name", required_argument, NULL, 'n' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'm':
			if (!strcmp(optarg, "anon"))
				o.fluidmem = 0;
			else if (!strcmp(optarg, "fluidmem"))
				o.fluidmem = 1;
			else
				goto bad;
			break;
		case 's':
			o.socket = optarg;
			break;
		case 'p':
			if (!strcmp(optarg, "uniform"))
				o.pattern = WL_UNIFORM;
			else if (!strcmp(optarg, "zipf"))
				o.pattern = WL_ZIPF;
			else if (!strcmp(optarg, "seq"))
				o.pattern = WL_SEQ;
			else
				goto bad;
			break;
		case 'z':
			o.theta = strtod(optarg, &end);
			if (*end || !(o.theta > 0 && o.theta < 1))
				goto bad;
			break;
		case 'w':
			o.write_pct = bench_arg_u64("--write-pct", optarg, 0,
						    100);
			break;
		case 'W':
			o.ws = bench_arg_u64("--ws", optarg, 1 << 20,
					     1ull << 40);
			break;
		case 'o':
			o.ops = bench_arg_u64("--ops", optarg, 0, 1u << 30);
			break;
		case 'S':
			o.seed = bench_arg_u64("--seed", optarg, 0, UINT64_MAX);
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'H':
			o.hold = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.fluidmem < 0 || optind != argc)
		goto bad;
	npages = o.ws / ps;
	if (npages >= WL_WRITE)
		goto bad;
	seq = wl_sequence(&o, npages);
	if (!seq) {
		fprintf(stderr, "workload: out of memory\n");
		return 1;
	}
	if (o.fluidmem) {
		struct fm_region_opts ro = { .socket_path = o.socket,
					     .name = "workload" };

		if (fm_region_create(npages * ps, &ro, &r)) {
			fprintf(stderr, "workload: %s\n", fm_last_error());
			return 1;
		}
		m = fm_region_addr(r);
	} else {
		m = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED) {
			perror("workload: mmap");
			return 1;
		}
		/* Same 4 KiB granularity as fluidmem and swap. */
		madvise(m, npages * ps, MADV_NOHUGEPAGE);
	}

	/*
	 * Half of each page random, half zero: about 2:1 compressible, so zram
	 * gets neither free compression nor incompressible pages.
	 */
	t0 = bench_now_ns();
	for (size_t p = 0; p < npages; p++) {
		uint64_t *w = (uint64_t *)(m + p * ps), s = o.seed + p;

		for (size_t k = 0; k < ps / 16; k++)
			w[k] = wl_rand(&s);
	}
	t1 = bench_now_ns();
	wl_result(o.name, "init", (t1 - t0) / 1e9, "s");

	maj0 = wl_majflt();
	t0 = bench_now_ns();
	for (size_t i = 0; i < o.ops; i++) {
		size_t p = seq[i] & ~WL_WRITE;
		volatile uint64_t *w = (volatile uint64_t *)(m + p * ps) +
				       (i * 31 & (ps / 8 - 1));

		if (seq[i] & WL_WRITE)
			*w = i;
		else
			sum += *w;
	}
	t1 = bench_now_ns();
	sink = sum;
	(void)sink;
	wl_result(o.name, "run", (t1 - t0) / 1e9, "s");
	wl_result(o.name, "ops_per_s", o.ops / ((t1 - t0) / 1e9), "ops/s");
	wl_result(o.name, "majflt", (double)(wl_majflt() - maj0), "faults");
	if (o.hold) {
		printf("HOLDING\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (r)
		fm_region_destroy(r);
	free(seq);
	return 0;
bad:
	fprintf(stderr, "workload: invalid option or argument\n");
	usage(stderr);
	return 2;
}
