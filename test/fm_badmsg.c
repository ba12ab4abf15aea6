/*
 * fm_badmsg: send malformed, truncated, oversized and lying registration
 * messages to a monitor; each must get an error reply (TAP output).
 *   fm_badmsg SOCKET            all cases
 *   fm_badmsg -l                list cases
 *   fm_badmsg -f NAME SOCKET    one case
 *   fm_badmsg --unauth SOCKET   a well-formed REGISTER (run it as a user
 *                               the monitor must refuse)
 */
#include "config.h"
#include "proto.h"
#include "sock.h"
#include "uffd_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *sock_path;

struct msgbuf {
	char data[FM_MSG_MAX * 2];
	size_t len;
	int fds[2];
	unsigned nfds;
};

static void hdr(struct fm_msg_hdr *h, unsigned type, size_t len)
{
	h->magic = FM_PROTO_MAGIC;
	h->version = FM_PROTO_VERSION;
	h->type = (uint16_t)type;
	h->length = (uint32_t)len;
}

/* A region the test really owns, so fds and geometry can be realistic. */
static struct {
	void *addr;
	size_t size;
	int uffd, memfd;
} reg;

static int make_region(int register_range)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
			    UFFD_FEATURE_EVENT_REMOVE,
	};
	reg.size = 16 * 4096;
	reg.memfd = memfd_create("badmsg", MFD_CLOEXEC);
	if (reg.memfd < 0 || ftruncate(reg.memfd, (off_t)reg.size) < 0)
		return -1;
	reg.addr = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED,
			reg.memfd, 0);
	reg.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (reg.addr == MAP_FAILED || reg.uffd < 0 ||
	    ioctl(reg.uffd, UFFDIO_API, &api) < 0)
		return -1;
	if (register_range) {
		struct uffdio_register r = {
			.range = { .start = (uintptr_t)reg.addr,
				   .len = reg.size },
			.mode = UFFDIO_REGISTER_MODE_MISSING |
				UFFDIO_REGISTER_MODE_WP,
		};
		if (ioctl(reg.uffd, UFFDIO_REGISTER, &r) < 0)
			return -1;
	}
	return 0;
}

static void good_register(struct msgbuf *b)
{
	struct fm_msg_register *m = (void *)b->data;

	memset(b, 0, sizeof(*b));
	hdr(&m->hdr, FM_MSG_REGISTER, sizeof(*m));
	m->base = (uintptr_t)reg.addr;
	m->size = reg.size;
	m->uffd_features =
		UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_EVENT_REMOVE;
	m->page_size = 4096;
	m->client_pid = getpid();
	strcpy(m->name, "badmsg");
	b->len = sizeof(*m);
	b->fds[0] = reg.uffd;
	b->fds[1] = reg.memfd;
	b->nfds = 2;
}

#define REGM(b) ((struct fm_msg_register *)(b)->data)

static void c_garbage(struct msgbuf *b)
{
	for (size_t i = 0; i < 100; i++)
		b->data[i] = (char)(i * 37 + 11);
	b->len = 100;
}
static void c_truncated(struct msgbuf *b)
{
	good_register(b);
	b->len = 8;
	b->nfds = 0;
}
static void c_short_register(struct msgbuf *b)
{
	good_register(b);
	b->len = sizeof(struct fm_msg_hdr) + 8;
	REGM(b)->hdr.length = (uint32_t)b->len;
}
static void c_oversized(struct msgbuf *b)
{
	good_register(b);
	b->len = FM_MSG_MAX + 100;
	REGM(b)->hdr.length = (uint32_t)b->len;
}
static void c_bad_magic(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->hdr.magic = 0xdeadbeef;
}
static void c_bad_version(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->hdr.version = 99;
}
static void c_bad_length(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->hdr.length = 17;
}
static void c_unknown_type(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->hdr.type = 42;
}
static void c_release_first(struct msgbuf *b)
{
	struct fm_msg_release *m = (void *)b->data;

	memset(b, 0, sizeof(*b));
	hdr(&m->hdr, FM_MSG_RELEASE, sizeof(*m));
	m->region_id = 1;
	b->len = sizeof(*m);
}
static void c_no_fds(struct msgbuf *b)
{
	good_register(b);
	b->nfds = 0;
}
static void c_one_fd(struct msgbuf *b)
{
	good_register(b);
	b->nfds = 1;
}
static void c_not_uffd(struct msgbuf *b)
{
	good_register(b);
	b->fds[0] = reg.memfd;
}
static void c_not_memfd(struct msgbuf *b)
{
	static int pipefd[2];

	good_register(b);
	if (!pipefd[0] && pipe(pipefd) < 0)
		pipefd[0] = 0;
	b->fds[1] = pipefd[0];
}
static void c_zero_size(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->size = 0;
}
static void c_unaligned(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->base += 12;
}
static void c_huge(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->size = UINT64_C(1) << 62;
}
static void c_wrapping(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->base = UINT64_MAX - 4095;
}
static void c_beyond_memfd(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->memfd_offset = 4096;
}
static void c_page_size(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->page_size = 65536;
}
static void c_features(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->uffd_features = 0;
}
static void c_name(struct msgbuf *b)
{
	good_register(b);
	memset(REGM(b)->name, 'x', sizeof(REGM(b)->name));
}
static void c_unregistered(struct msgbuf *b)
{
	good_register(b);
	/* Same uffd, but a range it never registered. */
	REGM(b)->base += reg.size * 1024;
}
static void c_unknown_region(struct msgbuf *b)
{
	good_register(b);
	REGM(b)->region_id = 0x1234567890abcdefULL;
}

static const struct tcase {
	const char *name;
	void (*build)(struct msgbuf *);
} cases[] = {
	{ "garbage", c_garbage },
	{ "truncated-header", c_truncated },
	{ "short-register", c_short_register },
	{ "oversized", c_oversized },
	{ "bad-magic", c_bad_magic },
	{ "bad-version", c_bad_version },
	{ "bad-length", c_bad_length },
	{ "unknown-type", c_unknown_type },
	{ "release-before-register", c_release_first },
	{ "no-fds", c_no_fds },
	{ "one-fd", c_one_fd },
	{ "not-a-uffd", c_not_uffd },
	{ "not-a-memfd", c_not_memfd },
	{ "zero-size", c_zero_size },
	{ "unaligned-base", c_unaligned },
	{ "huge-size", c_huge },
	{ "wrapping-range", c_wrapping },
	{ "beyond-memfd", c_beyond_memfd },
	{ "wrong-page-size", c_page_size },
	{ "missing-features", c_features },
	{ "unterminated-name", c_name },
	{ "unregistered-range", c_unregistered },
	{ "unknown-region-id", c_unknown_region },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Send @b; 0 when the monitor answered with an error and a reason. */
static int expect_error(struct msgbuf *b, char *why, size_t len)
{
	struct fm_msg_reply rep;
	struct pollfd p;
	unsigned nfds;
	int trunc, fd;
	ssize_t n;

	fd = sock_connect_seqpacket(sock_path);
	if (fd < 0) {
		snprintf(why, len, "connect: %s", strerror(-fd));
		return -1;
	}
	n = sock_send_fds(fd, b->data, b->len, b->fds, b->nfds);
	if (n < 0) {
		snprintf(why, len, "send: %s", strerror((int)-n));
		close(fd);
		return -1;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 5000) != 1) {
		snprintf(why, len, "no reply within 5 s");
		close(fd);
		return -1;
	}
	n = sock_recv_fds(fd, &rep, sizeof(rep), NULL, 0, &nfds, &trunc);
	close(fd);
	if (n != (ssize_t)sizeof(rep) || rep.hdr.type != FM_MSG_REPLY) {
		snprintf(why, len, "no proper reply (%zd bytes)", n);
		return -1;
	}
	rep.message[sizeof(rep.message) - 1] = '\0';
	snprintf(why, len, "status %d: %s", rep.status, rep.message);
	return rep.status < 0 && rep.message[0] ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int unauth = 0, failed = 0, planned = 0;
	char why[256];

	if (argc == 2 && strcmp(argv[1], "-l") == 0) {
		for (unsigned i = 0; i < NCASES; i++)
			puts(cases[i].name);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "-f") == 0) {
		only = argv[2];
		sock_path = argv[3];
	} else if (argc == 3 && strcmp(argv[1], "--unauth") == 0) {
		unauth = 1;
		sock_path = argv[2];
	} else if (argc == 2) {
		sock_path = argv[1];
	} else {
		fprintf(stderr, "usage: fm_badmsg [-l | -f NAME | --unauth] "
				"SOCKET\n");
		return 99;
	}
	if (unauth) {
		/* Unprivileged users cannot create a uffd: pipes stand in,
		 * the monitor must refuse before it looks at them. */
		struct msgbuf b;
		int p[2];
		if (pipe(p) < 0)
			return 99;
		memset(&b, 0, sizeof(b));
		struct fm_msg_register *m = (void *)b.data;
		hdr(&m->hdr, FM_MSG_REGISTER, sizeof(*m));
		m->size = 4096;
		m->page_size = 4096;
		b.len = sizeof(*m);
		b.fds[0] = p[0];
		b.fds[1] = p[1];
		b.nfds = 2;
		int ret = expect_error(&b, why, sizeof(why));
		printf("%s: %s\n", ret ? "not refused" : "refused", why);
		return ret ? 1 : 0;
	}
	if (make_region(1)) {
		fprintf(stderr, "fm_badmsg: cannot set up a region: %s\n",
			strerror(errno));
		return 99;
	}
	for (unsigned i = 0; i < NCASES; i++)
		if (!only || strcmp(only, cases[i].name) == 0)
			planned++;
	if (!planned) {
		fprintf(stderr, "fm_badmsg: no case named %s\n", only);
		return 99;
	}
	printf("1..%d\n", planned);
	int k = 0;
	for (unsigned i = 0; i < NCASES; i++) {
		struct msgbuf b;
		if (only && strcmp(only, cases[i].name) != 0)
			continue;
		memset(&b, 0, sizeof(b));
		cases[i].build(&b);
		int ret = expect_error(&b, why, sizeof(why));
		printf("%s %d - %s # %s\n", ret ? "not ok" : "ok", ++k,
		       cases[i].name, why);
		failed += ret != 0;
	}
	return failed ? 1 : 0;
}
