/*
 * fm_nvme: the nvme backend driven directly on real files in DIR (no
 * monitor): several instances in one process, unaligned buffers, a full
 * file, reopening after a close that skipped region_close, one file
 * opened twice. TAP output; usage: fm_nvme DIR [-l | -f NAME].
 */
#include "config.h"
#include "backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct backend_ops nvme_backend;
static const struct backend_ops *ops = &nvme_backend;
static const char *dir;
static size_t ps;

struct stat_pick {
	const char *name;
	long long v;
};

static void pick(void *arg, const char *name, const char *fmt, ...)
{
	struct stat_pick *p = arg;
	char buf[64];
	va_list ap;

	if (strcmp(name, p->name))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->v = atoll(buf);
}

static long long stat_of(struct backend *be, const char *name)
{
	struct stat_pick p = {name, -1};

	ops->stats(be, pick, &p);
	return p.v;
}

static struct backend *open_be(const char *file, const char *opts)
{
	char loc[512], state[512], err[256] = "";
	struct backend_params p = {
	    .page_size = (uint32_t)ps, .locator = loc, .state_dir = state};
	struct backend *be;

	snprintf(loc, sizeof(loc), "%s/%s%s", dir, file, opts);
	snprintf(state, sizeof(state), "%s/state", dir);
	if (ops->open(&p, &be, err, sizeof(err))) {
		printf("# open %s: %s\n", loc, err);
		return NULL;
	}
	return be;
}

static void fill(char *b, uint64_t tag, uint64_t pg)
{
	for (size_t i = 0; i < ps; i += 8) {
		uint64_t v = tag * 1000003 + pg * 7919 + i;
		memcpy(b + i, &v, 8);
	}
}

/* Put pages 0..n-1 of region @id (content tagged @tag) from buffers
 * @skew bytes off alignment; returns how many were stored. */
static int put_pages(struct backend_conn *c, struct backend_region *br,
		     uint64_t id, unsigned n, uint64_t tag, size_t skew,
		     int *res)
{
	char *mem = aligned_alloc(4096, (ps + 4096) * n);
	struct page_key keys[64];
	const void *bufs[64];
	int ok = 0;

	for (unsigned i = 0; i < n; i++) {
		char *b = mem + i * (ps + 4096) + skew;
		fill(b, tag, i);
		bufs[i] = b;
		keys[i] = (struct page_key){id, i, 0};
	}
	ops->multi_put(c, br, keys, bufs, n, res);
	for (unsigned i = 0; i < n; i++)
		ok += res[i] == 0;
	free(mem);
	return ok;
}

/* Pages 0..n-1 read back equal their tagged content (or res says not). */
static int check_pages(struct backend_conn *c, struct backend_region *br,
		       uint64_t id, unsigned n, uint64_t tag, size_t skew,
		       int *res)
{
	char *mem = aligned_alloc(4096, (ps + 4096) * n);
	char *want = malloc(ps);
	struct page_key keys[64];
	void *bufs[64];
	int ok = 0;

	for (unsigned i = 0; i < n; i++) {
		bufs[i] = mem + i * (ps + 4096) + skew;
		memset(bufs[i], 0xee, ps);
		keys[i] = (struct page_key){id, i, 0};
	}
	ops->multi_get(c, br, keys, bufs, n, res);
	for (unsigned i = 0; i < n; i++) {
		fill(want, tag, i);
		if (res[i] == 0 && memcmp(bufs[i], want, ps) == 0)
			ok++;
		else if (res[i] == 0)
			res[i] = -EILSEQ; /* wrong data handed out */
	}
	free(want);
	free(mem);
	return ok;
}

static int t_instances(void)
{
	struct backend *a = open_be("a.data", ";size=1M");
	struct backend *b = open_be("b.data", ";size=1M;io=sync");
	struct backend_region *ra, *rb;
	struct backend_conn *ca, *cb;
	int res[64], ok = a && b;

	if (!ok)
		goto out;
	ok &= ops->region_open(a, 7, 64, 1, &ra) == 0;
	ok &= ops->region_open(b, 7, 64, 1, &rb) == 0;
	ca = ops->conn_open(a);
	cb = ops->conn_open(b);
	/* Same region id and pages, different bytes in each instance. */
	ok &= put_pages(ca, ra, 7, 64, 1, 0, res) == 64;
	ok &= put_pages(cb, rb, 7, 64, 2, 0, res) == 64;
	ok &= check_pages(ca, ra, 7, 64, 1, 0, res) == 64;
	ok &= check_pages(cb, rb, 7, 64, 2, 0, res) == 64;
	ok &= stat_of(a, "nvme_used_slots") == 64 &&
	      stat_of(b, "nvme_used_slots") == 64;
	ok &= stat_of(a, "nvme_uring_conns") == 1 &&
	      stat_of(b, "nvme_sync_conns") == 1;
	ops->conn_close(ca);
	ops->conn_close(cb);
	ops->region_close(a, ra, 1);
	ops->region_close(b, rb, 1);
	ok &= stat_of(a, "nvme_used_slots") == 0;
out:
	ops->close(a);
	ops->close(b);
	return ok;
}

static int t_unaligned(void)
{
	struct backend *be = open_be("u.data", ";size=1M");
	struct backend_region *br;
	struct backend_conn *c;
	int res[64], ok = be != NULL;

	if (!ok)
		return 0;
	ok &= ops->region_open(be, 9, 64, 1, &br) == 0;
	c = ops->conn_open(be);
	ok &= put_pages(c, br, 9, 40, 3, 24, res) == 40;
	ok &= check_pages(c, br, 9, 40, 3, 8, res) == 40;
	ok &= check_pages(c, br, 9, 40, 3, 0, res) == 40;
	/* A page never written is not there. */
	struct page_key k = {9, 50, 0};
	void *buf = aligned_alloc(4096, ps);
	ops->multi_get(c, br, &k, &buf, 1, res);
	ok &= res[0] == -ENOENT;
	free(buf);
	ops->conn_close(c);
	ops->region_close(be, br, 1);
	ops->close(be);
	return ok;
}

static int t_full(void)
{
	char opts[64];
	struct backend *be;
	struct backend_region *br;
	struct backend_conn *c;
	int res[64], ok;

	snprintf(opts, sizeof(opts), ";size=%zu", 8 * ps);
	be = open_be("f.data", opts);
	if (!be)
		return 0;
	ok = ops->region_open(be, 11, 16, 1, &br) == 0;
	c = ops->conn_open(be);
	ok &= put_pages(c, br, 11, 10, 4, 0, res) == 8;
	ok &= res[8] == -ENOSPC && res[9] == -ENOSPC;
	ok &= stat_of(be, "nvme_full") == 2;
	/* Pages that have a slot are rewritten in place when full. */
	ok &= put_pages(c, br, 11, 8, 5, 0, res) == 8;
	ok &= stat_of(be, "nvme_inplace_writes") == 8;
	ok &= check_pages(c, br, 11, 8, 5, 0, res) == 8;
	/* A delete makes room. */
	struct page_key k = {11, 3, 0};
	ops->del(c, br, &k, 1);
	ok &= stat_of(be, "nvme_used_slots") == 7;
	ops->conn_close(c);
	ops->region_close(be, br, 1);
	ops->close(be);
	return ok;
}

static int t_reopen(void)
{
	struct backend *be = open_be("r.data", ";size=1M");
	struct backend_region *br;
	struct backend_conn *c;
	int res[64], ok = be != NULL;

	if (!ok)
		return 0;
	ok &= ops->region_open(be, 13, 64, 1, &br) == 0;
	c = ops->conn_open(be);
	ok &= put_pages(c, br, 13, 32, 6, 0, res) == 32;
	ok &= put_pages(c, br, 13, 16, 7, 0, res) == 16; /* rewrites */
	ops->conn_close(c);
	/* As if the monitor died: no region_close. */
	ops->close(be);
	be = open_be("r.data", "");
	if (!be)
		return 0;
	ok &= stat_of(be, "nvme_used_slots") == 32;
	ok &= stat_of(be, "nvme_capacity_slots") ==
	      (long long)(1 << 20) / (long long)ps;
	ok &= ops->region_open(be, 13, 64, 0, &br) == 0;
	c = ops->conn_open(be);
	ok &= check_pages(c, br, 13, 16, 7, 0, res) == 16;
	struct page_key keys[16];
	void *bufs[16];
	char *mem = aligned_alloc(4096, 16 * ps), *want = malloc(ps);
	for (unsigned i = 0; i < 16; i++) {
		keys[i] = (struct page_key){13, 16 + i, 0};
		bufs[i] = mem + i * ps;
	}
	ops->multi_get(c, br, keys, bufs, 16, res);
	for (unsigned i = 0; i < 16; i++) {
		fill(want, 6, 16 + i);
		ok &= res[i] == 0 && memcmp(bufs[i], want, ps) == 0;
	}
	free(mem);
	free(want);
	ops->conn_close(c);
	ops->region_close(be, br, 1);
	ok &= stat_of(be, "nvme_used_slots") == 0;
	ops->close(be);
	return ok;
}

static int t_twice(void)
{
	struct backend *a = open_be("t.data", ";size=1M");
	struct backend *b = open_be("t.data", ";size=1M");
	int ok = a && !b;

	ops->close(a);
	ops->close(b);
	return ok;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
    {"instances", t_instances}, {"unaligned", t_unaligned}, {"full", t_full},
    {"reopen", t_reopen},	{"twice", t_twice},
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

int main(int argc, char **argv)
{
	const char *only = argc == 4 && !strcmp(argv[2], "-f") ? argv[3] : NULL;
	int failed = 0, k = 0, n = 0;

	if (argc == 3 && !strcmp(argv[2], "-l")) {
		for (unsigned i = 0; i < NTESTS; i++)
			puts(tests[i].name);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: fm_nvme DIR [-l | -f NAME]\n");
		return 99;
	}
	dir = argv[1];
	ps = (size_t)sysconf(_SC_PAGESIZE);
	for (unsigned i = 0; i < NTESTS; i++)
		n += !only || !strcmp(only, tests[i].name);
	printf("1..%d\n", n);
	for (unsigned i = 0; i < NTESTS; i++) {
		if (only && strcmp(only, tests[i].name))
			continue;
		int ok = tests[i].fn();
		printf("%s %d - %s\n", ok ? "ok" : "not ok", ++k,
		       tests[i].name);
		failed += !ok;
	}
	return failed ? 1 : 0;
}
