/*
 * memserver wire protocol: header checks, byte order, status codes, and
 * the shared-secret challenge-response (SipHash-2-4, written from
 * Aumasson and Bernstein's paper).
 */
#include "config.h"
#include "memproto.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(sizeof(struct mp_hdr) == 32, "header is 32 bytes");
_Static_assert(sizeof(struct mp_challenge) == 32, "challenge size");
_Static_assert(sizeof(struct mp_hello) == 88, "hello size");
_Static_assert(sizeof(struct mp_welcome) == 48, "welcome size");

void mp_u32s_le(uint32_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		v[i] = htole32(v[i]);
}

void mp_hdr_to_le(struct mp_hdr *h)
{
	h->magic = htole32(h->magic);
	h->version = htole16(h->version);
	h->status = (int32_t)htole32((uint32_t)h->status);
	h->count = htole32(h->count);
	h->slot = htole32(h->slot);
	h->crc = htole32(h->crc);
	h->len = htole32(h->len);
	h->tag = htole32(h->tag);
}

void mp_hdr_from_le(struct mp_hdr *h)
{
	h->magic = le32toh(h->magic);
	h->version = le16toh(h->version);
	h->status = (int32_t)le32toh((uint32_t)h->status);
	h->count = le32toh(h->count);
	h->slot = le32toh(h->slot);
	h->crc = le32toh(h->crc);
	h->len = le32toh(h->len);
	h->tag = le32toh(h->tag);
}

void mp_hdr_init(struct mp_hdr *h, uint8_t op, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->magic = MP_MAGIC;
	h->version = MP_VERSION;
	h->op = op;
	h->len = len;
}

long mp_payload_len(uint8_t op, int reply, uint32_t count)
{
	switch (op) {
	case MP_CHALLENGE:
		return reply ? (long)sizeof(struct mp_challenge) : -1;
	case MP_HELLO:
		return reply ? (long)sizeof(struct mp_welcome)
			     : (long)sizeof(struct mp_hello);
	case MP_ALLOC:
		return reply ? (long)count * 4 : 0;
	case MP_WRITE:
		return reply ? 0 : MP_PAGE_SIZE;
	case MP_READ:
		return reply ? MP_PAGE_SIZE : 0;
	case MP_FREE:
		return reply ? 0 : (long)count * 4;
	case MP_STATS:
		return reply ? -1 : 0;
	}
	return -1;
}

int mp_hdr_check(const struct mp_hdr *h, int reply, uint8_t want_op,
		 const char **why)
{
	uint8_t op = h->op & (uint8_t)~MP_REPLY;
	long want;

	if (h->magic != MP_MAGIC) {
		*why = "bad magic";
		return MP_EPROTO;
	}
	if (h->version != MP_VERSION) {
		*why = "unsupported protocol version";
		return MP_EPROTO;
	}
	if (h->flags && !(h->op == MP_HELLO && h->flags == MP_HELLO_RESET)) {
		*why = "unknown flags";
		return MP_EPROTO;
	}
	if (!!(h->op & MP_REPLY) != !!reply || op < MP_CHALLENGE ||
	    op > MP_STATS || (!reply && op == MP_CHALLENGE)) {
		*why = "unexpected op";
		return MP_EPROTO;
	}
	if (reply && op != want_op) {
		*why = "reply to another request";
		return MP_EPROTO;
	}
	if ((op == MP_ALLOC || op == MP_FREE) &&
	    (h->count > MP_MAX_BATCH || (!reply && h->count == 0))) {
		*why = "slot count out of range";
		return MP_EPROTO;
	}
	if (!reply && h->status) {
		*why = "status set in a request";
		return MP_EPROTO;
	}
	if (reply && h->status < MP_STATUS_MIN) {
		*why = "unknown status";
		return MP_EPROTO;
	}
	want = mp_payload_len(op, reply, h->count);
	/* Error replies carry no payload. */
	if (reply && h->status && !(op == MP_ALLOC && h->status == MP_ENOSPC))
		want = 0;
	if (want < 0) {
		if (h->len > MP_STATS_MAX) {
			*why = "payload too long";
			return MP_EPROTO;
		}
	} else if (h->len != (uint32_t)want) {
		*why = "payload length does not match the op";
		return MP_EPROTO;
	}
	return 0;
}

static const struct {
	int32_t status;
	int err;
} status_map[] = {
	{ MP_OK, 0 },	      { MP_EPROTO, EPROTO }, { MP_EACCES, EACCES },
	{ MP_ENOSPC, ENOSPC }, { MP_ERANGE, ERANGE }, { MP_EPERM, EPERM },
	{ MP_ENOENT, ENOENT }, { MP_EBADMSG, EBADMSG }, { MP_EBUSY, EBUSY },
	{ MP_EINVAL, EINVAL },
};

int mp_status_errno(int32_t status)
{
	for (unsigned i = 0; i < sizeof(status_map) / sizeof(status_map[0]);
	     i++)
		if (status_map[i].status == status)
			return -status_map[i].err;
	return -EPROTO;
}

int32_t mp_errno_status(int err)
{
	if (err < 0)
		err = -err;
	for (unsigned i = 0; i < sizeof(status_map) / sizeof(status_map[0]);
	     i++)
		if (status_map[i].err == err)
			return status_map[i].status;
	return MP_EPROTO;
}

const char *mp_op_name(uint8_t op)
{
	static const char *const names[] = { "?",     "CHALLENGE", "HELLO",
					     "ALLOC", "WRITE",	   "READ",
					     "FREE",  "STATS" };
	op &= (uint8_t)~MP_REPLY;
	return op <= MP_STATS ? names[op] : "?";
}

/* SipHash-2-4: 2 compression rounds per 8-byte word, 4 at the end. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = ROTL(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = ROTL(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = ROTL(v2, 32);                                             \
	} while (0)

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	uint64_t v1 = k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	uint64_t v3 = k1 ^ UINT64_C(0x7465646279746573);
	uint64_t b = (uint64_t)len << 56, m;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load_le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The 128-bit key: two SipHashes of the secret under fixed keys. */
void mp_key_from_bytes(struct mp_key *key, const void *secret, size_t len)
{
	key->k0 = siphash24(UINT64_C(0x666c7569646d656d), 0, secret, len);
	key->k1 = siphash24(UINT64_C(0x6d656d7365727665), 1, secret, len);
}

int mp_key_load(const char *path, struct mp_key *key, char *err,
		size_t errlen)
{
	char buf[4097];
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "secret file %s: %s", path,
			 strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "secret file %s: not a regular file",
			 path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 0077) {
		snprintf(err, errlen,
			 "secret file %s: readable by others (chmod 600 it)",
			 path);
		close(fd);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n < 16 || n > 4096) {
		snprintf(err, errlen,
			 "secret file %s: the secret must be 16 to 4096 bytes",
			 path);
		return -EINVAL;
	}
	mp_key_from_bytes(key, buf, (size_t)n);
	memset(buf, 0, sizeof(buf));
	return 0;
}

uint64_t mp_mac(const struct mp_key *key, char dir,
		const uint8_t snonce[MP_NONCE_LEN],
		const uint8_t cnonce[MP_NONCE_LEN], const char id[MP_ID_LEN])
{
	uint8_t msg[8 + 2 * MP_NONCE_LEN + MP_ID_LEN];

	memcpy(msg, "FMMSauth", 7);
	msg[7] = (uint8_t)dir;
	memcpy(msg + 8, snonce, MP_NONCE_LEN);
	memcpy(msg + 8 + MP_NONCE_LEN, cnonce, MP_NONCE_LEN);
	memcpy(msg + 8 + 2 * MP_NONCE_LEN, id, MP_ID_LEN);
	return siphash24(key->k0, key->k1, msg, sizeof(msg));
}

int mp_random(void *buf, size_t len)
{
	ssize_t n = getrandom(buf, len, 0);

	return n == (ssize_t)len ? 0 : -EIO;
}
