/*
 * ms_unit: memserver logic that needs no network or RDMA device - the
 * SipHash-2-4 MAC (the paper's test vectors), header validation, status
 * mapping, the slot pool (capacity, ownership, grace, reset) and the
 * allow-list. TAP output; -l lists cases, -f NAME runs one.
 */
#include "config.h"
#include "crc32c.h"
#include "memproto.h"
#include "../server/memserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			printf("# %s:%d: %s\n", __FILE__, __LINE__, #c);       \
			return -1;                                             \
		}                                                              \
	} while (0)

static int t_siphash_vectors(void)
{
	uint8_t key[16], msg[64];
	uint64_t k0 = 0, k1 = 0;

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (int i = 7; i >= 0; i--) {
		k0 = (k0 << 8) | key[i];
		k1 = (k1 << 8) | key[8 + i];
	}
	/* Aumasson and Bernstein, SipHash, appendix A and the reference
	 * implementation's vectors. */
	CHECK(siphash24(k0, k1, msg, 15) == UINT64_C(0xa129ca6149be45e5));
	CHECK(siphash24(k0, k1, msg, 0) == UINT64_C(0x726fdb47dd0e0e31));
	CHECK(siphash24(k0, k1, msg, 1) == UINT64_C(0x74f839c593dc67fd));
	CHECK(siphash24(k0, k1, msg, 63) == UINT64_C(0x958a324ceb064572));
	return 0;
}

static int t_mac(void)
{
	struct mp_key a, b;
	uint8_t sn[MP_NONCE_LEN] = { 1 }, cn[MP_NONCE_LEN] = { 2 };
	char id[MP_ID_LEN] = "client";

	mp_key_from_bytes(&a, "0123456789abcdef", 16);
	mp_key_from_bytes(&b, "0123456789abcdeg", 16);
	uint64_t m = mp_mac(&a, 'C', sn, cn, id);
	CHECK(m == mp_mac(&a, 'C', sn, cn, id));
	CHECK(m != mp_mac(&b, 'C', sn, cn, id)); /* other secret */
	CHECK(m != mp_mac(&a, 'S', sn, cn, id)); /* other direction */
	sn[5] ^= 1;
	CHECK(m != mp_mac(&a, 'C', sn, cn, id)); /* other nonce */
	sn[5] ^= 1;
	id[0] = 'C';
	CHECK(m != mp_mac(&a, 'C', sn, cn, id)); /* other identity */
	return 0;
}

static int t_key_file(void)
{
	char path[] = "/tmp/ms_unit.XXXXXX", err[256];
	struct mp_key k1, k2;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "short\n", 6) == 6);
	CHECK(mp_key_load(path, &k1, err, sizeof(err)) == -EINVAL);
	CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	CHECK(write(fd, "a-long-enough-secret\n", 21) == 21);
	CHECK(mp_key_load(path, &k1, err, sizeof(err)) == 0);
	mp_key_from_bytes(&k2, "a-long-enough-secret", 20);
	CHECK(k1.k0 == k2.k0 && k1.k1 == k2.k1); /* newline stripped */
	fchmod(fd, 0644);
	CHECK(mp_key_load(path, &k1, err, sizeof(err)) == -EPERM);
	CHECK(strstr(err, "chmod 600"));
	close(fd);
	unlink(path);
	CHECK(mp_key_load(path, &k1, err, sizeof(err)) == -ENOENT);
	return 0;
}

static int t_header_checks(void)
{
	struct mp_hdr h;
	const char *why;

	mp_hdr_init(&h, MP_WRITE, MP_PAGE_SIZE);
	CHECK(mp_hdr_check(&h, 0, 0, &why) == 0);
	h.len = MP_PAGE_SIZE - 1;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	mp_hdr_init(&h, MP_ALLOC, 0);
	h.count = 0;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	h.count = MP_MAX_BATCH + 1;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	h.count = MP_MAX_BATCH;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == 0);
	h.magic ^= 1;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	mp_hdr_init(&h, MP_STATS, 0);
	h.version = 2;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	mp_hdr_init(&h, MP_STATS, 0);
	h.status = MP_ENOSPC; /* status in a request */
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	mp_hdr_init(&h, MP_CHALLENGE, 0); /* clients never send it */
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	mp_hdr_init(&h, 42, 0);
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	mp_hdr_init(&h, MP_HELLO, sizeof(struct mp_hello));
	h.flags = MP_HELLO_RESET;
	CHECK(mp_hdr_check(&h, 0, 0, &why) == 0);
	mp_hdr_init(&h, MP_STATS, 0);
	h.flags = MP_HELLO_RESET; /* only HELLO takes it */
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	/* Replies: the right op, a known status, exact lengths. */
	mp_hdr_init(&h, MP_READ | MP_REPLY, MP_PAGE_SIZE);
	CHECK(mp_hdr_check(&h, 1, MP_READ, &why) == 0);
	CHECK(mp_hdr_check(&h, 1, MP_WRITE, &why) == MP_EPROTO);
	CHECK(mp_hdr_check(&h, 0, 0, &why) == MP_EPROTO);
	h.status = MP_ENOENT;
	CHECK(mp_hdr_check(&h, 1, MP_READ, &why) == MP_EPROTO); /* len */
	h.len = 0;
	CHECK(mp_hdr_check(&h, 1, MP_READ, &why) == 0);
	h.status = -100;
	CHECK(mp_hdr_check(&h, 1, MP_READ, &why) == MP_EPROTO);
	mp_hdr_init(&h, MP_ALLOC | MP_REPLY, 8);
	h.count = 2;
	h.status = MP_ENOSPC; /* partial allocation keeps its slots */
	CHECK(mp_hdr_check(&h, 1, MP_ALLOC, &why) == 0);
	mp_hdr_init(&h, MP_STATS | MP_REPLY, MP_STATS_MAX + 1);
	CHECK(mp_hdr_check(&h, 1, MP_STATS, &why) == MP_EPROTO);
	return 0;
}

static int t_byte_order(void)
{
	struct mp_hdr h;
	uint8_t raw[sizeof(h)];

	mp_hdr_init(&h, MP_READ, 0);
	h.slot = 0x01020304;
	h.status = MP_EBADMSG;
	mp_hdr_to_le(&h);
	memcpy(raw, &h, sizeof(h));
	CHECK(raw[0] == 'F' && raw[1] == 'M' && raw[2] == 'M' && raw[3] == 'S');
	CHECK(raw[4] == MP_VERSION && raw[5] == 0 && raw[6] == MP_READ);
	CHECK(raw[16] == 4 && raw[19] == 1); /* slot, little endian */
	mp_hdr_from_le(&h);
	CHECK(h.slot == 0x01020304 && h.status == MP_EBADMSG);
	return 0;
}

static int t_status_map(void)
{
	int errs[] = { EPROTO, EACCES, ENOSPC, ERANGE, EPERM,
		       ENOENT, EBADMSG, EBUSY, EINVAL };

	for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		CHECK(mp_status_errno(mp_errno_status(-errs[i])) == -errs[i]);
	CHECK(mp_errno_status(0) == MP_OK);
	CHECK(mp_errno_status(-EXDEV) == MP_EPROTO);
	CHECK(mp_status_errno(-77) == -EPROTO);
	return 0;
}

static int t_pool_capacity(void)
{
	struct pool p;
	uint32_t s[8], owned, freed, crc;
	uint8_t page[MP_PAGE_SIZE], back[MP_PAGE_SIZE];
	char id[MP_ID_LEN] = "a";

	CHECK(pool_init(&p, 4 * MP_PAGE_SIZE) == 0);
	int a = pool_client_attach(&p, id, 0, &owned, &freed);
	CHECK(a >= 0 && owned == 0);
	CHECK(pool_alloc(&p, a, s, 3) == 3);
	CHECK(pool_alloc(&p, a, s + 3, 3) == 1); /* full: fewer, never steals */
	CHECK(pool_alloc(&p, a, s + 4, 1) == 0);
	memset(page, 7, sizeof(page));
	uint32_t good = crc32c(0, page, MP_PAGE_SIZE);
	CHECK(pool_read(&p, a, s[0], &crc, back) == -ENOENT); /* unwritten */
	CHECK(pool_write(&p, a, s[0], good ^ 1, page) == -EBADMSG);
	CHECK(pool_read(&p, a, s[0], &crc, back) == -ENOENT); /* unchanged */
	CHECK(pool_write(&p, a, s[0], good, page) == 0);
	CHECK(pool_read(&p, a, s[0], &crc, back) == 0 && crc == good &&
	      memcmp(page, back, MP_PAGE_SIZE) == 0);
	CHECK(pool_write(&p, a, 4, good, page) == -ERANGE);
	uint32_t dup[2] = { s[1], s[1] };
	CHECK(pool_free(&p, a, dup, 2) == -EINVAL);
	CHECK(pool_free(&p, a, s + 1, 1) == 0);
	CHECK(pool_free(&p, a, s + 1, 1) == -EPERM); /* already free */
	CHECK(pool_alloc(&p, a, s + 1, 1) == 1);
	pool_destroy(&p);
	return 0;
}

static int t_pool_owners_and_grace(void)
{
	struct pool p;
	uint32_t s[2], owned, freed, crc, used;
	unsigned clients, conn;
	uint8_t page[MP_PAGE_SIZE] = { 1 };
	char ida[MP_ID_LEN] = "a", idb[MP_ID_LEN] = "b";

	CHECK(pool_init(&p, 8 * MP_PAGE_SIZE) == 0);
	int a = pool_client_attach(&p, ida, 0, &owned, &freed);
	int b = pool_client_attach(&p, idb, 0, &owned, &freed);
	CHECK(a >= 0 && b >= 0 && a != b);
	CHECK(pool_alloc(&p, a, s, 1) == 1 && pool_alloc(&p, b, s + 1, 1) == 1);
	uint32_t c = crc32c(0, page, MP_PAGE_SIZE);
	CHECK(pool_write(&p, a, s[0], c, page) == 0);
	CHECK(pool_write(&p, b, s[0], c, page) == -EPERM);
	CHECK(pool_read(&p, b, s[0], &crc, page) == -EPERM);
	CHECK(pool_free(&p, b, s, 1) == -EPERM);
	/* a leaves: its slot stays for the grace period, and comes back. */
	pool_client_detach(&p, a);
	CHECK(pool_expire(&p, time(NULL), 300) == 0);
	CHECK(pool_client_attach(&p, ida, 0, &owned, &freed) == a &&
	      owned == 1);
	CHECK(pool_read(&p, a, s[0], &crc, page) == 0);
	/* A reset while connected is refused; after leaving it frees. */
	CHECK(pool_client_attach(&p, ida, 1, &owned, &freed) == -EAGAIN);
	pool_client_detach(&p, a);
	CHECK(pool_client_attach(&p, ida, 1, &owned, &freed) == a &&
	      freed == 1 && owned == 0);
	pool_client_detach(&p, a);
	/* b leaves and its grace ends: its slot is freed. */
	pool_client_detach(&p, b);
	CHECK(pool_expire(&p, time(NULL) + 10, 5) == 1);
	pool_usage(&p, &used, &clients, &conn);
	CHECK(used == 0 && clients == 0 && conn == 0);
	pool_destroy(&p);
	return 0;
}

static int t_allow_list(void)
{
	struct allow_net nets[4];
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	unsigned n = 0;
	char err[128];

	CHECK(allow_parse("10.1.0.0/16,192.0.2.7,2001:db8::/32", nets, 4, &n,
			  err, sizeof(err)) == 0 && n == 3);
	inet_pton(AF_INET, "10.1.200.3", &in.sin_addr);
	CHECK(allow_check(nets, n, (struct sockaddr *)&in));
	inet_pton(AF_INET, "10.2.0.1", &in.sin_addr);
	CHECK(!allow_check(nets, n, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
	CHECK(allow_check(nets, n, (struct sockaddr *)&in));
	inet_pton(AF_INET, "192.0.2.8", &in.sin_addr);
	CHECK(!allow_check(nets, n, (struct sockaddr *)&in));
	inet_pton(AF_INET6, "2001:db8:1::1", &in6.sin6_addr);
	CHECK(allow_check(nets, n, (struct sockaddr *)&in6));
	inet_pton(AF_INET6, "::ffff:10.1.0.1", &in6.sin6_addr); /* mapped */
	CHECK(allow_check(nets, n, (struct sockaddr *)&in6));
	CHECK(allow_check(nets, 0, (struct sockaddr *)&in)); /* no list */
	n = 0;
	CHECK(allow_parse("10.0.0.0/33", nets, 4, &n, err, 128) == -EINVAL);
	n = 0;
	CHECK(allow_parse("nonsense", nets, 4, &n, err, 128) == -EINVAL);
	n = 0;
	CHECK(allow_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", nets, 4,
			  &n, err, 128) == -E2BIG);
	n = 0;
	CHECK(allow_parse(",", nets, 4, &n, err, 128) == -EINVAL);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "siphash_vectors", t_siphash_vectors },
	{ "mac", t_mac },
	{ "key_file", t_key_file },
	{ "header_checks", t_header_checks },
	{ "byte_order", t_byte_order },
	{ "status_map", t_status_map },
	{ "pool_capacity", t_pool_capacity },
	{ "pool_owners_and_grace", t_pool_owners_and_grace },
	{ "allow_list", t_allow_list },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(int argc, char **argv)
{
	const char *only = NULL;
	int failed = 0, n = 0;

	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (unsigned i = 0; i < NCASES; i++)
			puts(cases[i].name);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "-f") == 0)
		only = argv[2];
	for (unsigned i = 0; i < NCASES; i++)
		if (!only || strcmp(only, cases[i].name) == 0)
			n++;
	printf("1..%d\n", n);
	n = 0;
	for (unsigned i = 0; i < NCASES; i++) {
		if (only && strcmp(only, cases[i].name) != 0)
			continue;
		int ok = cases[i].fn() == 0;
		printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n,
		       cases[i].name);
		failed += !ok;
	}
	return failed ? 1 : 0;
}
