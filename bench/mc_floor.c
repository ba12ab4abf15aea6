/*
 * mc_floor: raw libmemcached latency for 4 KiB values over TCP loopback,
 * with the behaviours the memcached backend uses: set, get, and a
 * 16-key multi-get (reported per key).
 */
#include "config.h"
#include "bench.h"

#include <getopt.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MC_VALUE 4096
#define MC_BATCH 16

static void usage(FILE *f)
{
	fprintf(f,
"Usage: mc_floor --server=HOST:PORT [--ops=N] [--prefix=NAME]\n"
"Time libmemcached 4 KiB set, get and 16-key multi-get on one connection.\n"
"\n"
"  --server=HOST:PORT  memcached to use (required)\n"
"  --ops=N             operations per kind (default 20000)\n"
"  --prefix=NAME       result name prefix (default mc)\n"
"  -h, --help          show this help\n");
}

static void key_of(char *k, size_t len, size_t i)
{
	snprintf(k, len, "fmbench:%zx", i);
}

int main(int argc, char **argv)
{
	const char *server = NULL, *prefix = "mc";
	size_t ops = 20000, keys = 4096;
	struct bench_lat lat;
	memcached_return_t rc;
	memcached_st *mc;
	char cfg[300], name[128], key[64];
	char *val;
	int c;

	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'o' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'o':
			ops = bench_arg_u64("--ops", optarg, MC_BATCH, 1 << 24);
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!server || optind != argc || strlen(server) > 256) {
		usage(stderr);
		return 2;
	}
	snprintf(cfg, sizeof(cfg), "--SERVER=%s", server);
	mc = memcached(cfg, strlen(cfg));
	if (!mc) {
		fprintf(stderr, "mc_floor: bad server '%s'\n", server);
		return 2;
	}
	memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	val = malloc(MC_VALUE);
	if (!val || bench_lat_init(&lat, ops))
		return 1;
	memset(val, 0xa5, MC_VALUE);

	for (size_t i = 0; i < ops; i++) {
		uint64_t t0;

		key_of(key, sizeof(key), i % keys);
		t0 = bench_now_ns();
		rc = memcached_set(mc, key, strlen(key), val, MC_VALUE, 0, 0);
		bench_lat_add(&lat, bench_now_ns() - t0);
		if (rc != MEMCACHED_SUCCESS) {
			fprintf(stderr, "mc_floor: set: %s\n",
				memcached_strerror(mc, rc));
			return 1;
		}
	}
	snprintf(name, sizeof(name), "%s.set", prefix);
	bench_lat_report(name, &lat);

	lat.n = 0;
	for (size_t i = 0; i < ops; i++) {
		size_t vlen;
		uint32_t flags;
		uint64_t t0;
		char *v;

		key_of(key, sizeof(key), (i * 2654435761u) % keys);
		t0 = bench_now_ns();
		v = memcached_get(mc, key, strlen(key), &vlen, &flags, &rc);
		bench_lat_add(&lat, bench_now_ns() - t0);
		if (!v || vlen != MC_VALUE) {
			fprintf(stderr, "mc_floor: get: %s\n",
				memcached_strerror(mc, rc));
			return 1;
		}
		free(v);
	}
	snprintf(name, sizeof(name), "%s.get", prefix);
	bench_lat_report(name, &lat);

	/* Multi-get: one sample per batch, divided by the batch size. */
	lat.n = 0;
	for (size_t b = 0; b < ops / MC_BATCH; b++) {
		char kb[MC_BATCH][64];
		const char *kp[MC_BATCH];
		size_t kl[MC_BATCH], got = 0;
		memcached_result_st res, *r;
		uint64_t t0;

		for (int j = 0; j < MC_BATCH; j++) {
			key_of(kb[j], sizeof(kb[j]),
			       (b * MC_BATCH + (size_t)j) % keys);
			kp[j] = kb[j];
			kl[j] = strlen(kb[j]);
		}
		memcached_result_create(mc, &res);
		t0 = bench_now_ns();
		rc = memcached_mget(mc, kp, kl, MC_BATCH);
		while (rc == MEMCACHED_SUCCESS &&
		       (r = memcached_fetch_result(mc, &res, &rc)))
			got += memcached_result_length(r) == MC_VALUE;
		bench_lat_add(&lat, (bench_now_ns() - t0) / MC_BATCH);
		memcached_result_free(&res);
		if (got != MC_BATCH) {
			fprintf(stderr, "mc_floor: mget returned %zu of %d\n",
				got, MC_BATCH);
			return 1;
		}
	}
	snprintf(name, sizeof(name), "%s.mget16_per_key", prefix);
	bench_lat_report(name, &lat);

	for (size_t i = 0; i < keys && i < ops; i++) {
		key_of(key, sizeof(key), i);
		memcached_delete(mc, key, strlen(key), 0);
	}
	bench_lat_free(&lat);
	free(val);
	memcached_free(mc);
	return 0;
}
