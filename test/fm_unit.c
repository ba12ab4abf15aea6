/*
 * fm_unit: unit tests for the shared helpers that need no monitor
 * (strict number parsing, CRC32C, the nvme slot allocator). TAP output; -l lists, -f runs one.
 */
#include "config.h"
#include "crc32c.h"
#include "nvme_slots.h"
#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int t_parse_u64(void)
{
	uint64_t v;

	return parse_u64("42", 0, 100, &v) == 0 && v == 42 &&
	       parse_u64("", 0, 100, &v) == -EINVAL &&
	       parse_u64("-1", 0, 100, &v) == -EINVAL &&
	       parse_u64("+1", 0, 100, &v) == -EINVAL &&
	       parse_u64("12abc", 0, 100, &v) == -EINVAL &&
	       parse_u64(" 1", 0, 100, &v) == -EINVAL &&
	       parse_u64("101", 0, 100, &v) == -ERANGE &&
	       parse_u64("0", 1, 100, &v) == -ERANGE &&
	       parse_u64("99999999999999999999999", 0, UINT64_MAX, &v) ==
		       -ERANGE;
}

static int t_parse_size(void)
{
	uint64_t v;

	return parse_size("4K", 0, UINT64_MAX, &v) == 0 && v == 4096 &&
	       parse_size("2MiB", 0, UINT64_MAX, &v) == 0 && v == 2 << 20 &&
	       parse_size("1G", 0, UINT64_MAX, &v) == 0 && v == 1 << 30 &&
	       parse_size("3X", 0, UINT64_MAX, &v) == -EINVAL &&
	       parse_size("1Kx", 0, UINT64_MAX, &v) == -EINVAL &&
	       parse_size("99999999999T", 0, UINT64_MAX, &v) == -ERANGE;
}

static int t_cpu_list(void)
{
	uint64_t m[2];

	return parse_cpu_list("0", m, 128) == 0 && m[0] == 1 && m[1] == 0 &&
	       parse_cpu_list("1-3,64,127", m, 128) == 0 && m[0] == 0xe &&
	       m[1] == (1 | UINT64_C(1) << 63) &&
	       parse_cpu_list("5-5", m, 128) == 0 && m[0] == 0x20 &&
	       parse_cpu_list("128", m, 128) == -ERANGE &&
	       parse_cpu_list("3-1", m, 128) == -EINVAL &&
	       parse_cpu_list("1,", m, 128) == -EINVAL &&
	       parse_cpu_list(",1", m, 128) == -EINVAL &&
	       parse_cpu_list("1-", m, 128) == -EINVAL &&
	       parse_cpu_list("-1", m, 128) == -EINVAL &&
	       parse_cpu_list("", m, 128) == -EINVAL &&
	       parse_cpu_list("1 2", m, 128) == -EINVAL;
}

static int t_host_port(void)
{
	char host[64];
	uint16_t port;

	return parse_host_port("127.0.0.1:5001", host, sizeof(host), &port) ==
		       0 &&
	       strcmp(host, "127.0.0.1") == 0 && port == 5001 &&
	       parse_host_port("6000", host, sizeof(host), &port) == 0 &&
	       port == 6000 && strcmp(host, "127.0.0.1") == 0 &&
	       parse_host_port("h:70000", host, sizeof(host), &port) != 0 &&
	       parse_host_port(":80", host, sizeof(host), &port) != 0 &&
	       parse_host_port("h:", host, sizeof(host), &port) != 0;
}

static int t_crc32c(void)
{
	static char page[4096];

	/* The standard check value, and a change in one bit is seen. */
	if (crc32c(0, "123456789", 9) != 0xe3069283U)
		return 0;
	uint32_t a = crc32c(0, page, sizeof(page));
	page[1234] ^= 1;
	uint32_t b = crc32c(0, page, sizeof(page));
	page[1234] ^= 1;
	return a != b && crc32c(0, page, sizeof(page)) == a;
}

/* One bit at a time, straight from the definition: the reference. */
static uint32_t crc_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & -(crc & 1));
	}
	return ~crc;
}

/* The fast (multi-lane) path agrees with the definition at every length
 * around its lane boundaries, from any starting value, and in pieces. */
static int t_crc32c_lanes(void)
{
	static unsigned char buf[3 * 4096 + 8];
	static const size_t lens[] = { 0, 1, 7, 8, 9, 4079, 4080, 4081,
				       4095, 4096, 4097, 8160, 8161, 3 * 4096 };
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (uint32_t seed = 0; seed < 3; seed++) {
			uint32_t s = seed * 0x12345679U;
			if (crc32c(s, buf + seed, lens[i]) !=
			    crc_bitwise(s, buf + seed, lens[i]))
				return 0;
		}
		size_t h = lens[i] / 3;
		if (crc32c(crc32c(0, buf, h), buf + h, lens[i] - h) !=
		    crc32c(0, buf, lens[i]))
			return 0;
	}
	return 1;
}

/* Slots 0..n-1 handed out once each, then full; freed ones come back
 * first; double and out-of-range frees are refused. */
static int t_nvme_slots(void)
{
	enum { N = 200 };
	struct nvme_slots s;
	uint32_t got[N + 1], again[2];
	uint64_t keep[N / 64 + 1] = { 0 };
	static char seen[N];
	int ok = 1;

	if (nvme_slots_init(&s, N))
		return 0;
	ok &= nvme_slots_used(&s) == N; /* nothing free before a reset */
	nvme_slots_reset(&s, keep);
	ok &= nvme_slots_used(&s) == 0;
	ok &= nvme_slots_alloc(&s, got, N + 1) == N;
	for (unsigned i = 0; i < N && ok; i++) {
		ok &= got[i] < N && !seen[got[i]];
		seen[got[i] % N] = 1;
	}
	ok &= got[0] == 0 && nvme_slots_used(&s) == N;
	ok &= nvme_slots_alloc(&s, again, 1) == 0; /* full */
	uint32_t back[2] = { 17, 150 };
	nvme_slots_free(&s, back, 2);
	ok &= nvme_slots_used(&s) == N - 2;
	nvme_slots_free(&s, back, 1); /* double free */
	uint32_t bad = N;
	nvme_slots_free(&s, &bad, 1); /* out of range */
	ok &= s.bad_frees == 2 && nvme_slots_used(&s) == N - 2;
	ok &= nvme_slots_alloc(&s, again, 2) == 2 &&
	      ((again[0] == 150 && again[1] == 17) ||
	       (again[0] == 17 && again[1] == 150));
	/* A rebuild keeps exactly the marked slots. */
	keep[0] = 1 | 1 << 5;
	keep[N / 64] = UINT64_C(1) << (N % 64 - 1);
	nvme_slots_reset(&s, keep);
	ok &= nvme_slots_used(&s) == 3;
	ok &= nvme_slots_alloc(&s, got, N) == N - 3;
	for (unsigned i = 0; i < N - 3; i++)
		ok &= got[i] != 0 && got[i] != 5 && got[i] != N - 1;
	nvme_slots_fini(&s);
	return ok;
}

static const struct {
	const char *name;
	int (*fn)(void);
} tests[] = {
	{ "parse_u64", t_parse_u64 },
	{ "parse_size", t_parse_size },
	{ "cpu_list", t_cpu_list },
	{ "parse_host_port", t_host_port },
	{ "crc32c", t_crc32c },
	{ "crc32c_lanes", t_crc32c_lanes },
	{ "nvme_slots", t_nvme_slots },
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

int main(int argc, char **argv)
{
	const char *only = argc == 3 && !strcmp(argv[1], "-f") ? argv[2] : NULL;
	int failed = 0, k = 0, n = 0;

	if (argc == 2 && !strcmp(argv[1], "-l")) {
		for (unsigned i = 0; i < NTESTS; i++)
			puts(tests[i].name);
		return 0;
	}
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
