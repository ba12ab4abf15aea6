/*
 * fault_latency: time single page faults through the monitor, one
 * thread, one page at a time.
 *   zero   first touch of each page (zero fill)
 *   fetch  after `ui evict` emptied the cache: every read is a fetch
 * Usage: fault_latency --socket PATH --ctl CTL [--pages N]
 * Prints p50/p99/p999 in microseconds for each phase.
 */
#include "config.h"
#include "fluidmem.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, size_t n)
{
	qsort(t, n, sizeof(*t), cmp);
	printf("%-6s n=%zu p50=%.1fus p99=%.1fus p999=%.1fus\n", name, n,
	       t[n / 2], t[n * 99 / 100], t[n * 999 / 1000]);
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *ctl = NULL;
	size_t pages = 4096, ps = (size_t)sysconf(_SC_PAGESIZE);
	struct fm_region_opts o = { 0 };
	struct fm_region *r;
	char cmd[512];
	int c;

	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "pages", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 's')
			sock = optarg;
		else if (c == 'c')
			ctl = optarg;
		else if (c == 'p')
			pages = strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (!ctl || !pages) {
		fprintf(stderr, "usage: fault_latency --socket S --ctl C "
				"[--pages N]\n");
		return 2;
	}
	o.socket_path = sock;
	o.name = "fault_latency";
	if (fm_region_create(pages * ps, &o, &r)) {
		fprintf(stderr, "fault_latency: %s\n", fm_last_error());
		return 1;
	}
	volatile char *m = fm_region_addr(r);
	double *t = calloc(pages, sizeof(*t));
	for (size_t i = 0; i < pages; i++) {
		double t0 = now_us();
		m[i * ps] = 1; /* write fault: zero page */
		t[i] = now_us() - t0;
	}
	report("zero", t, pages);
	/* Push everything out, then read it back page by page. */
	snprintf(cmd, sizeof(cmd), "%s/ui/ui %s evict %zu >/dev/null",
		 getenv("top_builddir") ? getenv("top_builddir") : ".", ctl,
		 pages * 2);
	if (system(cmd) != 0)
		return 1;
	sleep(2);
	for (size_t i = 0; i < pages; i++) {
		double t0 = now_us();
		(void)m[i * ps]; /* read fault: fetch */
		t[i] = now_us() - t0;
	}
	report("fetch", t, pages);
	fm_region_destroy(r);
	free(t);
	return 0;
}
