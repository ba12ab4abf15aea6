/*
 * fault_latency: page faults served by a real monitor, timed one access
 * at a time by T client threads over R regions, in phases:
 *   zero          first touch (write) of every page: zero fill
 *   evict         `evict` of all those dirty pages: eviction throughput
 *   fetch         read every page back: fetch only, the cache has room
 *   steady_write  cache shrunk to 1/4: every write fault fetches a page
 *                 and forces an eviction that writes one back
 *   steady_read   the same with reads: victims are clean, so the stat
 *                 evict_writes must not move (clean pages never rewritten)
 */
#include "config.h"
#include "bench.h"
#include "fluidmem.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An access faster than this did not fault (steady phases only). */
#define FAULT_MIN_NS 1500

enum phase { PH_ZERO, PH_FETCH, PH_WRITE, PH_READ };

struct fl_thread {
	pthread_t tid;
	volatile char *base; /* first page of this thread's slice */
	size_t pages;
	enum phase phase;
	int timed;
	size_t hits;
	struct bench_lat lat;
};

struct fl {
	const char *ctl, *prefix;
	size_t pages, ps;
	unsigned threads, regions;
	struct fl_thread *t;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: fault_latency --socket=PATH --ctl=PATH [OPTION]...\n"
"Time page faults through a running monitor (zero fill, eviction, fetch,\n"
"steady state with eviction). The monitor's cache must hold --pages.\n"
"\n"
"  --socket=PATH   monitor registration socket (required)\n"
"  --ctl=PATH      monitor UNIX control socket (required)\n"
"  --pages=N       pages in all, split over threads (default 16384)\n"
"  --threads=N     client threads (default 1)\n"
"  --regions=N     regions; threads must be a multiple (default 1)\n"
"  --prefix=NAME   result name prefix (default fault)\n"
"  -h, --help      show this help\n"
"Prints RESULT lines: latency percentiles in microseconds, faults/s,\n"
"eviction MB/s and the clean-rewrite count.\n");
}

static void *fl_thread_main(void *arg)
{
	struct fl_thread *t = arg;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	t->hits = 0;
	for (size_t i = 0; i < t->pages; i++) {
		volatile char *p = t->base + i * ps;
		uint64_t t0 = bench_now_ns(), d;

		if (t->phase == PH_ZERO || t->phase == PH_WRITE)
			*p = (char)i;
		else
			(void)*p;
		d = bench_now_ns() - t0;
		if (!t->timed)
			continue;
		if (t->phase >= PH_WRITE && d < FAULT_MIN_NS)
			t->hits++;
		else
			bench_lat_add(&t->lat, d);
	}
	return NULL;
}

/* Run one pass of @phase on every thread; returns wall nanoseconds. */
static uint64_t fl_pass(struct fl *f, enum phase phase, int timed)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < f->threads; i++) {
		f->t[i].phase = phase;
		f->t[i].timed = timed;
		f->t[i].lat.n = 0;
		if (pthread_create(&f->t[i].tid, NULL, fl_thread_main,
				   &f->t[i])) {
			fprintf(stderr, "fault_latency: pthread_create\n");
			exit(1);
		}
	}
	for (unsigned i = 0; i < f->threads; i++)
		pthread_join(f->t[i].tid, NULL);
	return bench_now_ns() - t0;
}

static void fl_report(struct fl *f, const char *phase, uint64_t wall)
{
	struct bench_lat all;
	size_t hits = 0;
	char name[160];

	if (bench_lat_init(&all, f->pages))
		exit(1);
	for (unsigned i = 0; i < f->threads; i++) {
		bench_lat_merge(&all, &f->t[i].lat);
		hits += f->t[i].hits;
	}
	snprintf(name, sizeof(name), "%s.%s", f->prefix, phase);
	bench_lat_report(name, &all);
	snprintf(name, sizeof(name), "%s.%s.faults_per_s", f->prefix, phase);
	bench_value(name, all.n / (wall / 1e9), "faults/s");
	if (hits) {
		snprintf(name, sizeof(name), "%s.%s.hits", f->prefix, phase);
		bench_value(name, (double)hits, "accesses");
	}
	bench_lat_free(&all);
}

static uint64_t fl_stat(struct fl *f, const char *name)
{
	uint64_t v;
	int ret = bench_ctl_stat(f->ctl, name, &v);

	if (ret) {
		fprintf(stderr, "fault_latency: stat %s: %s\n", name,
			strerror(-ret));
		exit(1);
	}
	return v;
}

static void fl_ctl(struct fl *f, const char *verb, size_t arg)
{
	char cmd[64], reply[256];
	int ret;

	snprintf(cmd, sizeof(cmd), "%s %zu", verb, arg);
	ret = bench_ctl(f->ctl, cmd, reply, sizeof(reply));
	if (ret) {
		fprintf(stderr, "fault_latency: '%s': %s %s\n", cmd,
			strerror(-ret), reply);
		exit(1);
	}
}

/* Poll until stat @name reaches (ge) or drops to (!ge) @v; 0 or -ETIMEDOUT. */
static int fl_wait_stat(struct fl *f, const char *name, uint64_t v, int ge)
{
	uint64_t end = bench_now_ns() + 60 * 1000000000ull;

	while (bench_now_ns() < end) {
		uint64_t s = fl_stat(f, name);

		if (ge ? s >= v : s <= v)
			return 0;
		usleep(200);
	}
	fprintf(stderr, "fault_latency: timed out waiting for %s\n", name);
	return -ETIMEDOUT;
}

static void fl_evict_phase(struct fl *f)
{
	uint64_t wr0 = fl_stat(f, "evict_writes");
	uint64_t t0 = bench_now_ns(), wall, wr;
	char name[160];

	/* Everything resident, including what background eviction left. */
	fl_ctl(f, "evict", fl_stat(f, "cache_used") + 1);
	if (fl_wait_stat(f, "cache_used", 0, 0))
		exit(1);
	wall = bench_now_ns() - t0;
	wr = fl_stat(f, "evict_writes") - wr0;
	snprintf(name, sizeof(name), "%s.evict.MB_per_s", f->prefix);
	bench_value(name, wr * f->ps / (wall / 1e9) / 1e6, "MB/s");
	snprintf(name, sizeof(name), "%s.evict.pages_written", f->prefix);
	bench_value(name, (double)wr, "pages");
}

static void fl_steady(struct fl *f)
{
	uint64_t cap = fl_stat(f, "cache_size"), w0, w1, wall;
	size_t small = f->pages / 4;
	char name[160];

	fl_ctl(f, "resize", small);
	if (fl_wait_stat(f, "cache_used", small, 0))
		exit(1);
	fl_pass(f, PH_WRITE, 0);
	wall = fl_pass(f, PH_WRITE, 1);
	fl_report(f, "steady_write", wall);
	fl_pass(f, PH_READ, 0);
	w0 = fl_stat(f, "evict_writes");
	wall = fl_pass(f, PH_READ, 1);
	w1 = fl_stat(f, "evict_writes");
	fl_report(f, "steady_read", wall);
	snprintf(name, sizeof(name), "%s.steady_read.clean_rewrites",
		 f->prefix);
	bench_value(name, (double)(w1 - w0), "pages");
	fl_ctl(f, "resize", cap);
}

int main(int argc, char **argv)
{
	struct fl f = { .prefix = "fault", .pages = 16384, .threads = 1,
			.regions = 1 };
	struct fm_region_opts o = { .name = "fault_latency" };
	struct fm_region **r;
	uint64_t wall;
	int c;

	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "pages", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "regions", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket_path = optarg;
			break;
		case 'c':
			f.ctl = optarg;
			break;
		case 'p':
			f.pages = bench_arg_u64("--pages", optarg, 64, 1 << 24);
			break;
		case 't':
			f.threads = bench_arg_u64("--threads", optarg, 1, 64);
			break;
		case 'r':
			f.regions = bench_arg_u64("--regions", optarg, 1, 64);
			break;
		case 'P':
			f.prefix = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!o.socket_path || !f.ctl || optind != argc ||
	    f.threads % f.regions || f.pages % f.threads) {
		fprintf(stderr, "fault_latency: --socket and --ctl are "
				"required; threads must be a multiple of "
				"regions and divide pages\n");
		usage(stderr);
		return 2;
	}
	f.ps = (size_t)sysconf(_SC_PAGESIZE);
	if (fl_stat(&f, "cache_size") < f.pages) {
		fprintf(stderr, "fault_latency: the monitor's cache must hold "
				"--pages=%zu\n", f.pages);
		return 2;
	}
	r = calloc(f.regions, sizeof(*r));
	f.t = calloc(f.threads, sizeof(*f.t));
	if (!r || !f.t)
		return 1;
	size_t per_region = f.pages / f.regions * f.ps;
	size_t per_thread = f.pages / f.threads;
	unsigned tpr = f.threads / f.regions;
	for (unsigned i = 0; i < f.regions; i++) {
		if (fm_region_create(per_region, &o, &r[i])) {
			fprintf(stderr, "fault_latency: %s\n", fm_last_error());
			return 1;
		}
	}
	for (unsigned i = 0; i < f.threads; i++) {
		char *b = fm_region_addr(r[i / tpr]);

		f.t[i].base = b + (i % tpr) * per_thread * f.ps;
		f.t[i].pages = per_thread;
		if (bench_lat_init(&f.t[i].lat, per_thread))
			return 1;
	}

	wall = fl_pass(&f, PH_ZERO, 1);
	fl_report(&f, "zero", wall);
	fl_evict_phase(&f);
	wall = fl_pass(&f, PH_FETCH, 1);
	fl_report(&f, "fetch", wall);
	fl_steady(&f);

	for (unsigned i = 0; i < f.regions; i++)
		fm_region_destroy(r[i]);
	for (unsigned i = 0; i < f.threads; i++)
		bench_lat_free(&f.t[i].lat);
	free(f.t);
	free(r);
	return 0;
}
