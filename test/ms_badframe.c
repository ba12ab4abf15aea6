/*
 * ms_badframe: send malformed, oversized, out-of-range and lying frames
 * to a real memserver. Each must get an error reply or a disconnect, and
 * must change nothing: pages written before still read back intact.
 *   ms_badframe HOST PORT SECRET_FILE          all cases (TAP)
 *   ms_badframe -l                              list cases
 *   ms_badframe -f NAME HOST PORT SECRET_FILE   one case
 */
#include "config.h"
#include "crc32c.h"
#include "memclient.h"
#include "memproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *host;
static uint16_t port;
static struct mp_key key;
static uint8_t page_a[MP_PAGE_SIZE], page_b[MP_PAGE_SIZE];

static int connect_as(struct memclient *c, const char *id)
{
	memclient_init(c, host, port, &key, id, 3000);
	if (memclient_alloc_buffers(c))
		return -ENOMEM;
	return memclient_connect(c);
}

/* A raw connection that has read the challenge but sent no HELLO. */
static int raw_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	uint8_t chal[sizeof(struct mp_hdr) + sizeof(struct mp_challenge)];
	struct timeval tv = { 3, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    recv(fd, chal, sizeof(chal), MSG_WAITALL) != sizeof(chal)) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* After a reply with @status, the server must close the connection. */
static int expect_reply_then_close(int fd, int32_t status)
{
	struct mp_hdr h;
	char b;

	if (recv(fd, &h, sizeof(h), MSG_WAITALL) != sizeof(h))
		return -1;
	mp_hdr_from_le(&h);
	if (h.magic != MP_MAGIC || h.status != status) {
		fprintf(stderr, "# got status %d, wanted %d\n", h.status,
			status);
		return -1;
	}
	return recv(fd, &b, 1, 0) == 0 ? 0 : -1;
}

static int raw_case(uint8_t op, uint32_t len, uint32_t count, int32_t status,
		    int authed, int mangle)
{
	struct memclient c;
	struct mp_hdr h;
	int fd, ret;

	if (authed) {
		if (connect_as(&c, "badframe-raw"))
			return -1;
		fd = c.fd;
	} else {
		fd = raw_connect();
		if (fd < 0)
			return -1;
	}
	mp_hdr_init(&h, op, len);
	h.count = count;
	if (mangle == 1)
		h.magic = 0xdeadbeef;
	if (mangle == 2)
		h.version = 99;
	if (mangle == 3)
		h.flags = 1;
	mp_hdr_to_le(&h);
	ret = send(fd, &h, sizeof(h), MSG_NOSIGNAL) == sizeof(h) ? 0 : -1;
	if (!ret)
		ret = expect_reply_then_close(fd, status);
	close(fd);
	if (authed) {
		c.fd = -1;
		memclient_free_buffers(&c);
	}
	return ret;
}

static int c_bad_magic(void)
{
	return raw_case(MP_STATS, 0, 0, MP_EPROTO, 1, 1);
}

static int c_bad_version(void)
{
	return raw_case(MP_STATS, 0, 0, MP_EPROTO, 1, 2);
}

static int c_bad_flags(void)
{
	return raw_case(MP_STATS, 0, 0, MP_EPROTO, 1, 3);
}

static int c_unknown_op(void)
{
	return raw_case(99, 0, 0, MP_EPROTO, 1, 0);
}

static int c_oversized(void)
{
	return raw_case(MP_STATS, 1 << 30, 0, MP_EPROTO, 1, 0);
}

static int c_write_short_len(void)
{
	return raw_case(MP_WRITE, 100, 0, MP_EPROTO, 1, 0);
}

static int c_alloc_zero(void)
{
	return raw_case(MP_ALLOC, 0, 0, MP_EPROTO, 1, 0);
}

static int c_alloc_huge(void)
{
	return raw_case(MP_ALLOC, 0, 1000000, MP_EPROTO, 1, 0);
}

static int c_before_hello(void)
{
	return raw_case(MP_ALLOC, 0, 1, MP_EACCES, 0, 0);
}

static int c_garbage(void)
{
	uint8_t junk[4096];
	int fd = raw_connect(), ret;

	if (fd < 0)
		return -1;
	memset(junk, 'G', sizeof(junk));
	ret = send(fd, junk, sizeof(junk), MSG_NOSIGNAL) > 0 ? 0 : -1;
	if (!ret)
		ret = expect_reply_then_close(fd, MP_EPROTO);
	close(fd);
	return ret;
}

static int c_wrong_secret(void)
{
	struct memclient c;
	struct mp_key good = key;
	int ret;

	mp_key_from_bytes(&key, "not the secret at all", 21);
	ret = connect_as(&c, "badframe-wrong") == -EACCES &&
			      strstr(c.err, "wrong secret")
		      ? 0
		      : -1;
	key = good;
	memclient_free_buffers(&c);
	return ret;
}

/* A slot of ours holding page_a, through client @c. */
static int own_slot(struct memclient *c, const char *id, uint32_t *slot)
{
	unsigned got;
	int res = -1;
	const void *p[1] = { page_a };

	if (connect_as(c, id) || memclient_alloc(c, 1, slot, &got) ||
	    got != 1 || memclient_write(c, slot, p, 1, &res) || res)
		return -1;
	return 0;
}

static int still_a(struct memclient *c, uint32_t slot)
{
	uint8_t buf[MP_PAGE_SIZE];
	void *p[1] = { buf };
	int res = -1;

	if (memclient_read(c, &slot, p, 1, &res) || res)
		return -1;
	return memcmp(buf, page_a, MP_PAGE_SIZE) ? -1 : 0;
}

static int expect_res(struct memclient *c, uint8_t op, uint32_t slot,
		      int want)
{
	int res = 0, ret;
	const void *pw[1] = { page_b };
	uint8_t buf[MP_PAGE_SIZE];
	void *pr[1] = { buf };

	if (op == MP_WRITE)
		ret = memclient_write(c, &slot, pw, 1, &res);
	else if (op == MP_READ)
		ret = memclient_read(c, &slot, pr, 1, &res);
	else
		ret = memclient_free(c, &slot, 1, &res);
	if (ret || res != want) {
		fprintf(stderr, "# %s slot %u: ret %d res %d, wanted %d\n",
			mp_op_name(op), slot, ret, res, want);
		return -1;
	}
	return 0;
}

static int c_slot_out_of_range(void)
{
	struct memclient c;
	uint32_t s;
	int ret = own_slot(&c, "badframe-range", &s);

	if (!ret)
		ret = expect_res(&c, MP_WRITE, 0x7fffffff, -ERANGE) ||
		      expect_res(&c, MP_READ, MP_SLOT_NONE, -ERANGE) ||
		      expect_res(&c, MP_FREE, c.nslots, -ERANGE) ||
		      still_a(&c, s);
	memclient_free(&c, &s, 1, &(int){ 0 });
	memclient_close(&c);
	memclient_free_buffers(&c);
	return ret ? -1 : 0;
}

static int c_foreign_slot(void)
{
	struct memclient a, b;
	uint32_t s, t;
	int ret = own_slot(&a, "badframe-owner", &s);

	if (!ret)
		ret = own_slot(&b, "badframe-thief", &t);
	if (!ret)
		ret = expect_res(&b, MP_WRITE, s, -EPERM) ||
		      expect_res(&b, MP_READ, s, -EPERM) ||
		      expect_res(&b, MP_FREE, s, -EPERM) || still_a(&a, s);
	memclient_free(&a, &s, 1, &(int){ 0 });
	memclient_free(&b, &t, 1, &(int){ 0 });
	memclient_close(&a);
	memclient_close(&b);
	memclient_free_buffers(&a);
	memclient_free_buffers(&b);
	return ret ? -1 : 0;
}

static int c_bad_crc(void)
{
	struct memclient c;
	struct mp_hdr h;
	uint32_t s;
	int ret = own_slot(&c, "badframe-crc", &s);

	if (ret)
		return -1;
	mp_hdr_init(&h, MP_WRITE, MP_PAGE_SIZE);
	h.slot = s;
	h.crc = crc32c(0, page_b, MP_PAGE_SIZE) ^ 1;
	mp_hdr_to_le(&h);
	ret = memclient_send_raw(&c, &h, sizeof(h)) ||
	      memclient_send_raw(&c, page_b, MP_PAGE_SIZE) ||
	      memclient_recv_reply(&c, &h, NULL, 0) ||
	      h.status != MP_EBADMSG || still_a(&c, s);
	memclient_free(&c, &s, 1, &(int){ 0 });
	memclient_close(&c);
	memclient_free_buffers(&c);
	return ret ? -1 : 0;
}

static int c_unwritten_and_double_free(void)
{
	struct memclient c;
	uint32_t s[2];
	unsigned got;
	int ret = connect_as(&c, "badframe-fresh"), res = 0;

	if (ret || memclient_alloc(&c, 1, s, &got) || got != 1)
		return -1;
	ret = expect_res(&c, MP_READ, s[0], -ENOENT);
	s[1] = s[0];
	/* The same slot twice: refused as a whole, nothing freed. */
	if (!ret && (memclient_free(&c, s, 2, &res) || res != -EINVAL))
		ret = -1;
	if (!ret)
		ret = expect_res(&c, MP_FREE, s[0], 0) ||
		      expect_res(&c, MP_FREE, s[0], -EPERM);
	memclient_close(&c);
	memclient_free_buffers(&c);
	return ret ? -1 : 0;
}

/* Half a WRITE, then the connection dies: the slot keeps page_a. */
static int c_truncated_write(void)
{
	struct memclient c;
	struct mp_hdr h;
	uint32_t s;
	int ret = own_slot(&c, "badframe-trunc", &s);

	if (ret)
		return -1;
	mp_hdr_init(&h, MP_WRITE, MP_PAGE_SIZE);
	h.slot = s;
	h.crc = crc32c(0, page_b, MP_PAGE_SIZE);
	mp_hdr_to_le(&h);
	memclient_send_raw(&c, &h, sizeof(h));
	memclient_send_raw(&c, page_b, MP_PAGE_SIZE / 2);
	memclient_close(&c);
	usleep(100000);
	ret = connect_as(&c, "badframe-trunc") || still_a(&c, s);
	memclient_free(&c, &s, 1, &(int){ 0 });
	memclient_close(&c);
	memclient_free_buffers(&c);
	return ret ? -1 : 0;
}

static int c_still_serving(void)
{
	struct memclient c;
	char text[MP_STATS_MAX];
	int ret = connect_as(&c, "badframe-last") ||
		  memclient_stats(&c, text, sizeof(text)) ||
		  !strstr(text, "STAT proto_errors");

	memclient_close(&c);
	memclient_free_buffers(&c);
	return ret ? -1 : 0;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{ "garbage", c_garbage },
	{ "before_hello", c_before_hello },
	{ "wrong_secret", c_wrong_secret },
	{ "bad_magic", c_bad_magic },
	{ "bad_version", c_bad_version },
	{ "bad_flags", c_bad_flags },
	{ "unknown_op", c_unknown_op },
	{ "oversized", c_oversized },
	{ "write_short_len", c_write_short_len },
	{ "alloc_zero", c_alloc_zero },
	{ "alloc_huge", c_alloc_huge },
	{ "slot_out_of_range", c_slot_out_of_range },
	{ "foreign_slot", c_foreign_slot },
	{ "bad_crc", c_bad_crc },
	{ "unwritten_and_double_free", c_unwritten_and_double_free },
	{ "truncated_write", c_truncated_write },
	{ "still_serving", c_still_serving },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(int argc, char **argv)
{
	const char *only = NULL;
	char err[512];
	int failed = 0, n = 0;

	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (unsigned i = 0; i < NCASES; i++)
			puts(cases[i].name);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "-f") == 0) {
		only = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: ms_badframe [-l | -f NAME] HOST PORT "
				"SECRET_FILE\n");
		return 99;
	}
	host = argv[1];
	port = (uint16_t)atoi(argv[2]);
	if (mp_key_load(argv[3], &key, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 99;
	}
	memset(page_a, 0xa5, sizeof(page_a));
	memset(page_b, 0x5b, sizeof(page_b));
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
