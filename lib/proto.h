/*
 * Wire formats shared by the monitor, the client library and ui: the
 * registration messages on the UNIX lease socket and the control protocol
 * version. Integers are host-endian: both ends are on the same host.
 */
#ifndef FLUIDMEM_PROTO_H
#define FLUIDMEM_PROTO_H

#include <stdint.h>

#define FM_PROTO_MAGIC 0x464d454dU /* "FMEM" */
#define FM_PROTO_VERSION 1
#define FM_CTL_PROTO_VERSION 1

#define FM_DEFAULT_RUN_DIR "/run/fluidmem"
#define FM_DEFAULT_SOCKET FM_DEFAULT_RUN_DIR "/monitor.sock"
#define FM_DEFAULT_CTL_SOCKET FM_DEFAULT_RUN_DIR "/ctl.sock"
#define FM_DEFAULT_CTL_PORT 5001
#define FM_NAME_MAX 64

enum fm_msg_type {
	FM_MSG_REGISTER = 1,	/* client -> monitor, carries uffd + memfd */
	FM_MSG_RELEASE = 2,	/* client -> monitor: region is going away */
	FM_MSG_REPLY = 3,	/* monitor -> client */
};

/* Common header: every message starts with it. */
struct fm_msg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t length; /* whole message, header included */
	uint32_t reserved;
};

/* FM_MSG_REGISTER. SCM_RIGHTS carries exactly two fds: uffd, then memfd. */
struct fm_msg_register {
	struct fm_msg_hdr hdr;
	uint64_t base;		/* client virtual address of the region */
	uint64_t size;		/* bytes, multiple of page_size */
	uint64_t memfd_offset;	/* offset of base within the memfd */
	uint64_t uffd_features;	/* what the uffd's creator enabled */
	uint64_t region_id;	/* 0: new region; else re-register it */
	uint32_t page_size;
	int32_t client_pid;	/* informational; SO_PEERCRED is trusted */
	char name[FM_NAME_MAX];	/* NUL-terminated */
};

/* FM_MSG_RELEASE: the region on this connection is being destroyed. */
struct fm_msg_release {
	struct fm_msg_hdr hdr;
	uint64_t region_id;
};

/* FM_MSG_REPLY */
struct fm_msg_reply {
	struct fm_msg_hdr hdr;
	int32_t status; /* 0 or -errno */
	uint32_t reserved;
	uint64_t region_id;
	char message[128]; /* NUL-terminated reason when status != 0 */
};

/* Largest message a peer may send; anything bigger is rejected. */
#define FM_MSG_MAX 512

#endif
