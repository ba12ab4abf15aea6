/*
 * Wire protocol between a monitor's remote backend and memserver, shared
 * by the TCP and RDMA transports. Every message starts with a fixed
 * 32-byte little-endian header; its payload length is implied by the op
 * and checked exactly, so a peer can never make the other side read a
 * length it did not expect. See doc/memserver.md.
 */
#ifndef FLUIDMEM_MEMPROTO_H
#define FLUIDMEM_MEMPROTO_H

#include <stddef.h>
#include <stdint.h>

#define MP_MAGIC 0x534d4d46U /* "FMMS" */
#define MP_VERSION 1
#define MP_PAGE_SIZE 4096U
#define MP_ID_LEN 64	     /* client identity, NUL padded */
#define MP_NONCE_LEN 16
#define MP_MAX_BATCH 256     /* slots in one ALLOC or FREE */
#define MP_SLOT_NONE 0xffffffffU
#define MP_STATS_MAX 4096    /* STATS reply text */

enum mp_op {
	MP_CHALLENGE = 1, /* server -> client on connect */
	MP_HELLO = 2,	  /* client -> server: identity + MAC */
	MP_ALLOC = 3,	  /* count slots wanted */
	MP_WRITE = 4,	  /* slot, crc, page */
	MP_READ = 5,	  /* slot -> crc, page */
	MP_FREE = 6,	  /* count slot numbers */
	MP_STATS = 7,	  /* -> text */
	MP_REPLY = 0x80,  /* or'ed into the op of every reply */
};

struct mp_hdr {
	uint32_t magic;
	uint16_t version;
	uint8_t op;
	uint8_t flags;	/* 0 */
	int32_t status; /* replies: 0 or a negative MP_E* code */
	uint32_t count; /* ALLOC/FREE: slots; replies: slots given */
	uint32_t slot;	/* WRITE/READ */
	uint32_t crc;	/* WRITE/READ: CRC32C of the page */
	uint32_t len;	/* payload bytes that follow */
	uint32_t tag;	/* echoed in the reply */
};

/* Status codes on the wire: fixed numbers, not the host's errno. */
enum mp_status {
	MP_OK = 0,
	MP_EPROTO = -1,	  /* malformed message: connection closed */
	MP_EACCES = -2,	  /* authentication failed or address refused */
	MP_ENOSPC = -3,	  /* server full */
	MP_ERANGE = -4,	  /* slot number out of range */
	MP_EPERM = -5,	  /* slot belongs to someone else or is free */
	MP_ENOENT = -6,	  /* slot allocated but never written */
	MP_EBADMSG = -7,  /* page CRC did not match */
	MP_EBUSY = -8,	  /* too many connections or clients */
	MP_EINVAL = -9,	  /* a slot listed twice */
	MP_STATUS_MIN = -9,
};

/* CHALLENGE payload (server -> client). */
struct mp_challenge {
	uint8_t nonce[MP_NONCE_LEN];
	uint64_t instance;    /* random per server start */
	uint32_t page_size;
	uint32_t transport;   /* MP_T_* */
};

/* HELLO payload (client -> server). */
struct mp_hello {
	char id[MP_ID_LEN];
	uint8_t nonce[MP_NONCE_LEN]; /* the client's, for the server's proof */
	uint64_t mac;		     /* over both nonces and the id */
};

/* HELLO reply payload. */
struct mp_welcome {
	uint64_t instance;
	uint64_t mac;	      /* server's proof it knows the secret */
	uint32_t nslots;      /* capacity */
	uint32_t owned;	      /* slots this identity holds already */
	/* RDMA only: where the pool and the CRC array are registered. */
	uint64_t pool_addr;
	uint64_t crc_addr;
	uint32_t pool_rkey;
	uint32_t crc_rkey;
};

enum { MP_T_TCP = 1, MP_T_RDMA = 2 };

/*
 * RDMA: rdma_connect() private data. It names the client; the secret is
 * proven in the CHALLENGE/HELLO exchange that follows over SEND/RECV,
 * before the server reveals where its pool is (addr/rkey).
 */
struct mp_rdma_cm {
	uint32_t magic;
	uint16_t version;
	uint16_t reserved;
	char id[40]; /* for the server's log; HELLO carries the real one */
};
/* Largest SEND/RECV message: a header and a page-sized payload. */
#define MP_RDMA_MSG (sizeof(struct mp_hdr) + MP_STATS_MAX)

/* HELLO flag: the client kept no slot map (e.g. its run dir was wiped):
 * free every slot of this identity. Refused (MP_EBUSY) while another
 * connection of the identity is open. */
#define MP_HELLO_RESET 0x01

/* Host byte order <-> little endian (no-ops on x86). */
void mp_hdr_to_le(struct mp_hdr *h);
void mp_hdr_from_le(struct mp_hdr *h);
void mp_u32s_le(uint32_t *v, unsigned n);

void mp_hdr_init(struct mp_hdr *h, uint8_t op, uint32_t len);
/*
 * Check a received header (already in host order) for a request the
 * server accepts (@reply 0) or a reply the client expects (@reply 1 and
 * @want_op the request's op). Returns 0, or an MP_E* status with a short
 * reason in *why.
 */
int mp_hdr_check(const struct mp_hdr *h, int reply, uint8_t want_op,
		 const char **why);
/* Payload length an op must carry; -1 when it depends on count. */
long mp_payload_len(uint8_t op, int reply, uint32_t count);

int mp_status_errno(int32_t status);
int32_t mp_errno_status(int err);
const char *mp_op_name(uint8_t op);

/* Secret-file key and the MACs of the challenge-response (SipHash-2-4). */
struct mp_key {
	uint64_t k0, k1;
};
/* Read and check a secret file; message in err on failure. */
int mp_key_load(const char *path, struct mp_key *key, char *err,
		size_t errlen);
void mp_key_from_bytes(struct mp_key *key, const void *secret, size_t len);
/* @dir: 'C' for the client's answer, 'S' for the server's proof. */
uint64_t mp_mac(const struct mp_key *key, char dir,
		const uint8_t snonce[MP_NONCE_LEN],
		const uint8_t cnonce[MP_NONCE_LEN], const char id[MP_ID_LEN]);
uint64_t siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);
int mp_random(void *buf, size_t len);

#endif
