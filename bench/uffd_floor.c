/*
 * uffd_floor: the raw userfaultfd round trip with nothing else in it, in
 * the configuration the monitor uses: a client process backs memory with
 * a memfd mapped MAP_SHARED, registers it MISSING with a userfaultfd and
 * passes both over SCM_RIGHTS to a handler process, which answers each
 * fault with UFFDIO_ZEROPAGE or UFFDIO_COPY. The client times each access.
 */
#include "config.h"
#include "bench.h"
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MODE_ZERO, MODE_COPY };
enum { WAIT_POLL, WAIT_SPIN };

struct floor_opts {
	size_t pages;
	int mode, wait;
	int wp; /* register as libfluidmem does: MISSING + WP, its features */
	int client_cpu, handler_cpu;
	const char *name;
};

static void usage(FILE *f)
{
	fprintf(f,
"Usage: uffd_floor [OPTION]...\n"
"Time raw userfaultfd fault round trips: client + handler processes, memfd\n"
"MAP_SHARED, fds passed over SCM_RIGHTS, one fault per page.\n"
"\n"
"  --pages=N          pages touched, one fault each (default 8192)\n"
"  --mode=zero|copy   resolve with UFFDIO_ZEROPAGE (write faults) or\n"
"                     UFFDIO_COPY (read faults) (default zero)\n"
"  --handler=poll|spin  handler sleeps in poll() or busy-polls read()\n"
"                     (default poll)\n"
"  --pin=none|same|cross  no pinning, both on CPU 0, or client on CPU 0\n"
"                     and handler on CPU 1 (default none)\n"
"  --wp               register the range MISSING + WP with the features\n"
"                     libfluidmem asks for, as the monitor's clients do\n"
"  --name=NAME        result name (default uffd.MODE.HANDLER)\n"
"  -h, --help         show this help\n"
"Prints: RESULT name=NAME n=.. p50_us=.. p99_us=.. p999_us=.. mean_us=..\n");
}

static int handle_one(int uffd, int mode, const void *src, long ps)
{
	struct uffd_msg msg;
	ssize_t n = read(uffd, &msg, sizeof(msg));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(msg) || msg.event != UFFD_EVENT_PAGEFAULT)
		return -EPROTO;
	unsigned long addr = msg.arg.pagefault.address & ~(ps - 1);
	if (mode == MODE_ZERO) {
		struct uffdio_zeropage z = { .range = { addr, ps } };

		if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST)
			return -errno;
	} else {
		struct uffdio_copy c = { .dst = addr, .src = (unsigned long)src,
					 .len = ps };

		if (ioctl(uffd, UFFDIO_COPY, &c) && errno != EEXIST)
			return -errno;
	}
	return 1;
}

/* Serve faults until the client closes the socket. */
static int handler(int sock, const struct floor_opts *o)
{
	long ps = sysconf(_SC_PAGESIZE);
	int fds[2], trunc, ret = 0;
	unsigned nfds = 0, idle = 0;
	char hdr[8], *src;
	struct pollfd pw = { sock, POLLIN, 0 };

	/* sock_recv_fds() does not block. */
	if (poll(&pw, 1, 10000) != 1 ||
	    sock_recv_fds(sock, hdr, sizeof(hdr), fds, 2, &nfds, &trunc) <= 0 ||
	    nfds != 2) {
		fprintf(stderr, "uffd_floor: no descriptors from the client\n");
		return -EPROTO;
	}
	src = aligned_alloc((size_t)ps, (size_t)ps);
	memset(src, 0x5a, (size_t)ps);
	bench_pin(o->handler_cpu);
	if (write(sock, "g", 1) != 1)
		return -errno;
	for (;;) {
		if (o->wait == WAIT_POLL) {
			struct pollfd p[2] = { { fds[0], POLLIN, 0 },
					       { sock, POLLIN, 0 } };

			if (poll(p, 2, -1) < 0 && errno != EINTR)
				return -errno;
			if (p[1].revents)
				break;
			if (!p[0].revents)
				continue;
		} else if (++idle == 4096) {
			char c;

			idle = 0;
			if (recv(sock, &c, 1, MSG_DONTWAIT) == 0)
				break;
		}
		ret = handle_one(fds[0], o->mode, src, ps);
		if (ret < 0) {
			fprintf(stderr, "uffd_floor: handler: %s\n",
				strerror(-ret));
			return ret;
		}
	}
	free(src);
	return 0;
}

static int client(int sock, const struct floor_opts *o)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t size = o->pages * (size_t)ps;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct bench_lat lat;
	int memfd, uffd, fds[2];
	volatile char *m;
	char go, name[128];

	memfd = memfd_create("uffd_floor", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)size))
		return -errno;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (m == MAP_FAILED)
		return -errno;
	if (o->wp) {
		api.features = UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
			       UFFD_FEATURE_EVENT_REMOVE |
			       UFFD_FEATURE_EVENT_UNMAP |
			       UFFD_FEATURE_THREAD_ID;
		reg.mode |= UFFDIO_REGISTER_MODE_WP;
	}
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		return -errno;
	reg.range.start = (unsigned long)m;
	reg.range.len = size;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	fds[0] = uffd;
	fds[1] = memfd;
	if (sock_send_fds(sock, "floor", 6, fds, 2) < 0 ||
	    read(sock, &go, 1) != 1)
		return -EPROTO;
	if (bench_lat_init(&lat, o->pages))
		return -ENOMEM;
	bench_pin(o->client_cpu);
	for (size_t i = 0; i < o->pages; i++) {
		uint64_t t0 = bench_now_ns();

		if (o->mode == MODE_ZERO)
			m[i * (size_t)ps] = 1;
		else if (m[i * (size_t)ps] != 0x5a)
			return -EIO;
		bench_lat_add(&lat, bench_now_ns() - t0);
	}
	if (o->name)
		snprintf(name, sizeof(name), "%s", o->name);
	else
		snprintf(name, sizeof(name), "uffd.%s.%s",
			 o->mode == MODE_ZERO ? "zero" : "copy",
			 o->wait == WAIT_POLL ? "poll" : "spin");
	bench_lat_report(name, &lat);
	bench_lat_free(&lat);
	return 0;
}

int main(int argc, char **argv)
{
	struct floor_opts o = { .pages = 8192, .client_cpu = -1,
				.handler_cpu = -1 };
	int sv[2], c, ret, status;
	pid_t pid;

	static const struct option opts[] = {
		{ "pages", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "handler", required_argument, NULL, 'w' },
		{ "pin", required_argument, NULL, 'P' },
		{ "name", required_argument, NULL, 'n' },
		{ "wp", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pages = bench_arg_u64("--pages", optarg, 1, 1 << 22);
			break;
		case 'm':
			if (!strcmp(optarg, "zero"))
				o.mode = MODE_ZERO;
			else if (!strcmp(optarg, "copy"))
				o.mode = MODE_COPY;
			else
				goto bad;
			break;
		case 'w':
			if (!strcmp(optarg, "poll"))
				o.wait = WAIT_POLL;
			else if (!strcmp(optarg, "spin"))
				o.wait = WAIT_SPIN;
			else
				goto bad;
			break;
		case 'P':
			if (!strcmp(optarg, "same")) {
				o.client_cpu = o.handler_cpu = 0;
			} else if (!strcmp(optarg, "cross")) {
				o.client_cpu = 0;
				o.handler_cpu = 1;
			} else if (strcmp(optarg, "none")) {
				goto bad;
			}
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'W':
			o.wp = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		goto bad;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		perror("uffd_floor: socketpair");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("uffd_floor: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		ret = client(sv[1], &o);
		if (ret)
			fprintf(stderr, "uffd_floor: client: %s\n",
				strerror(-ret));
		_exit(ret ? 1 : 0);
	}
	close(sv[1]);
	ret = handler(sv[0], &o);
	if (ret)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		ret = ret ? ret : -ECHILD;
	return ret ? 1 : 0;
bad:
	fprintf(stderr, "uffd_floor: invalid option or argument\n");
	usage(stderr);
	return 2;
}
