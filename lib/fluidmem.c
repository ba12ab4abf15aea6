/*
 * libfluidmem: create elastic regions, hand them to the monitor, keep the
 * lease alive and re-register after a monitor restart.
 */
#include "config.h"
#include "fluidmem.h"
#include "proto.h"
#include "sock.h"
#include "uffd_compat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FM_EXPORT __attribute__((visibility("default")))
#define RECONNECT_INTERVAL_MS 100
#define DEFAULT_TIMEOUT_MS 5000

/* What the race-free eviction scheme needs from the uffd's creator. */
#define FM_UFFD_FEATURES                                                       \
	(UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_EVENT_REMOVE |         \
	 UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_THREAD_ID |                   \
	 UFFD_FEATURE_POISON)

struct fm_region {
	struct fm_region *next;	/* on the watcher's list */
	void *addr;
	size_t size;
	int owns_mapping;	/* created by fm_region_create */
	int memfd;		/* our own descriptor for it */
	uint64_t memfd_offset;
	int uffd;
	uint64_t features;
	uint64_t id;
	int lease;		/* -1 while disconnected */
	int lost_logged;
	int refusal_logged;
	char socket_path[108];
	char name[FM_NAME_MAX];
};

/* One watcher thread per process follows every region's lease. */
static struct {
	pthread_mutex_t lock;
	pthread_t thread;
	int started;
	int epfd;
	struct fm_region *regions;
} watcher = { .lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1 };

static __thread char last_error[256];

static void set_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

FM_EXPORT const char *fm_last_error(void)
{
	return last_error;
}

static int quiet(void)
{
	const char *v = getenv("FLUIDMEM_QUIET");

	return v && *v && strcmp(v, "0") != 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static int uffd_open(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0 || errno != EPERM)
		return fd < 0 ? -errno : fd;
	/* Unprivileged: /dev/userfaultfd grants full uffds by file mode. */
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -EPERM;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	int ret = fd < 0 ? -errno : fd;
	close(dev);
	return ret;
}

/* Create the uffd with the features the monitor's scheme relies on. */
static int region_uffd_setup(struct fm_region *r)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = FM_UFFD_FEATURES };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)r->addr, .len = r->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP,
	};
	int ret;

	r->uffd = uffd_open();
	if (r->uffd < 0) {
		ret = r->uffd;
		set_error("userfaultfd: %s%s", strerror(-ret),
			  ret == -EPERM ? " (needs root, access to "
					  "/dev/userfaultfd, or "
					  "vm.unprivileged_userfaultfd=1)"
					: "");
		return ret;
	}
	if (ioctl(r->uffd, UFFDIO_API, &api) < 0) {
		/* Kernels before 6.6 lack POISON: lost pages then kill. */
		close(r->uffd);
		r->uffd = uffd_open();
		api.api = UFFD_API;
		api.features = FM_UFFD_FEATURES & ~UFFD_FEATURE_POISON;
		if (r->uffd < 0 || ioctl(r->uffd, UFFDIO_API, &api) < 0) {
			ret = -errno;
			set_error("UFFDIO_API: %s (kernel lacks shmem "
				  "write-protect, Linux >= 5.19 needed)",
				  strerror(-ret));
			return ret;
		}
	}
	r->features = api.features;
	if (ioctl(r->uffd, UFFDIO_REGISTER, &reg) < 0) {
		ret = -errno;
		set_error("UFFDIO_REGISTER: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* Connect and send REGISTER; on success r->lease and r->id are set. */
static int region_register(struct fm_region *r, int timeout_ms)
{
	struct fm_msg_register m = { 0 };
	struct fm_msg_reply rep;
	int fds[2] = { r->uffd, r->memfd };
	unsigned nfds;
	int trunc, sock, ret;
	ssize_t n;

	sock = sock_connect_seqpacket(r->socket_path);
	if (sock < 0) {
		set_error("connect %s: %s", r->socket_path, strerror(-sock));
		return sock;
	}
	m.hdr.magic = FM_PROTO_MAGIC;
	m.hdr.version = FM_PROTO_VERSION;
	m.hdr.type = FM_MSG_REGISTER;
	m.hdr.length = sizeof(m);
	m.base = (uintptr_t)r->addr;
	m.size = r->size;
	m.memfd_offset = r->memfd_offset;
	m.uffd_features = r->features;
	m.region_id = r->id;
	m.page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	m.client_pid = getpid();
	memcpy(m.name, r->name, sizeof(m.name));
	n = sock_send_fds(sock, &m, sizeof(m), fds, 2);
	if (n < 0) {
		ret = (int)n;
		set_error("send registration: %s", strerror(-ret));
		goto out_close;
	}
	ret = wait_readable(sock, timeout_ms);
	if (ret) {
		set_error("monitor did not answer: %s", strerror(-ret));
		goto out_close;
	}
	n = sock_recv_fds(sock, &rep, sizeof(rep), NULL, 0, &nfds, &trunc);
	if (n != (ssize_t)sizeof(rep) || trunc ||
	    rep.hdr.magic != FM_PROTO_MAGIC || rep.hdr.type != FM_MSG_REPLY) {
		ret = n < 0 ? (int)n : -EPROTO;
		set_error("bad reply from monitor: %s", strerror(-ret));
		goto out_close;
	}
	if (rep.status != 0) {
		ret = rep.status < 0 ? rep.status : -EPROTO;
		rep.message[sizeof(rep.message) - 1] = '\0';
		set_error("monitor refused region: %s", rep.message);
		goto out_close;
	}
	r->id = rep.region_id;
	r->lease = sock;
	return 0;
out_close:
	close(sock);
	return ret;
}

/* Lease lost: keep trying until a monitor takes the region back. */
static void region_reconnect(struct fm_region *r)
{
	if (!r->lost_logged && !quiet())
		fprintf(stderr,
			"libfluidmem: lost monitor for region %016llx (%s); "
			"reconnecting\n",
			(unsigned long long)r->id, r->name);
	r->lost_logged = 1;
	int ret = region_register(r, DEFAULT_TIMEOUT_MS);
	if (ret && ret != -ENOENT && ret != -ECONNREFUSED &&
	    !r->refusal_logged && !quiet()) {
		/* A monitor answered but will not take the region back:
		 * accesses to its evicted pages wait until one does. */
		fprintf(stderr, "libfluidmem: region %016llx: %s\n",
			(unsigned long long)r->id, last_error);
		r->refusal_logged = 1;
	}
	if (ret == 0) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.ptr = r };
		epoll_ctl(watcher.epfd, EPOLL_CTL_ADD, r->lease, &ev);
		r->lost_logged = r->refusal_logged = 0;
		if (!quiet())
			fprintf(stderr,
				"libfluidmem: region %016llx re-registered\n",
				(unsigned long long)r->id);
	}
}

static void *watcher_main(void *arg)
{
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(watcher.epfd, evs, 16,
				   RECONNECT_INTERVAL_MS);

		pthread_mutex_lock(&watcher.lock);
		for (int i = 0; i < n; i++) {
			struct fm_region *r = evs[i].data.ptr;
			char junk[64];
			/* The monitor never talks first: input means EOF. */
			if (r->lease < 0)
				continue;
			if (recv(r->lease, junk, sizeof(junk), MSG_DONTWAIT) ==
				    -1 &&
			    errno == EAGAIN)
				continue;
			epoll_ctl(watcher.epfd, EPOLL_CTL_DEL, r->lease, NULL);
			close(r->lease);
			r->lease = -1;
		}
		for (struct fm_region *r = watcher.regions; r; r = r->next)
			if (r->lease < 0)
				region_reconnect(r);
		pthread_mutex_unlock(&watcher.lock);
	}
	return arg;
}

/* A forked child must not hold leases or uffds it cannot serve. */
static void watcher_atfork_child(void)
{
	for (struct fm_region *r = watcher.regions; r; r = r->next) {
		if (r->lease >= 0)
			close(r->lease);
		r->lease = -1;
	}
	watcher.regions = NULL;
	watcher.started = 0;
	if (watcher.epfd >= 0)
		close(watcher.epfd);
	watcher.epfd = -1;
	pthread_mutex_init(&watcher.lock, NULL);
}

/* Called with watcher.lock held. */
static int watcher_start(void)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int ret;

	if (watcher.started)
		return 0;
	watcher.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (watcher.epfd < 0)
		return -errno;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&watcher.thread, &attr, watcher_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (ret) {
		close(watcher.epfd);
		watcher.epfd = -1;
		return ret;
	}
	watcher.started = 1;
	return 0;
}

static void region_free(struct fm_region *r)
{
	if (r->lease >= 0)
		close(r->lease);
	if (r->uffd >= 0) {
		struct uffdio_range range = { .start = (uintptr_t)r->addr,
					      .len = r->size };
		ioctl(r->uffd, UFFDIO_UNREGISTER, &range);
	}
	/* Unmap before closing the uffd: evicted pages must never be
	 * readable as zeros through a mapping without its handler. */
	if (r->owns_mapping && r->addr && r->addr != MAP_FAILED)
		munmap(r->addr, r->size);
	if (r->uffd >= 0)
		close(r->uffd);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r);
}

static void opts_apply(struct fm_region *r, const struct fm_region_opts *o,
		       int *timeout_ms)
{
	const char *path = o && o->socket_path ? o->socket_path : NULL;

	if (!path)
		path = getenv("FLUIDMEM_SOCKET");
	if (!path || !*path)
		path = FM_DEFAULT_SOCKET;
	snprintf(r->socket_path, sizeof(r->socket_path), "%s", path);
	if (o && o->name)
		snprintf(r->name, sizeof(r->name), "%s", o->name);
	else
		snprintf(r->name, sizeof(r->name), "pid%d", (int)getpid());
	*timeout_ms = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms
						     : DEFAULT_TIMEOUT_MS;
}

static int region_attach(struct fm_region *r, int timeout_ms)
{
	int ret;

	ret = region_uffd_setup(r);
	if (ret)
		return ret;
	/* A shared mapping inherited by a child would bypass the handler. */
	if (madvise(r->addr, r->size, MADV_DONTFORK) < 0) {
		ret = -errno;
		set_error("madvise(MADV_DONTFORK): %s", strerror(-ret));
		return ret;
	}
	/* Retry until the deadline: the monitor may be starting up. */
	long deadline = now_ms() + timeout_ms;
	for (;;) {
		ret = region_register(r, timeout_ms);
		if (ret == 0 || (ret != -ENOENT && ret != -ECONNREFUSED) ||
		    now_ms() >= deadline)
			break;
		usleep(RECONNECT_INTERVAL_MS * 1000);
	}
	if (ret)
		return ret;
	pthread_mutex_lock(&watcher.lock);
	ret = watcher_start();
	if (ret == 0) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.ptr = r };
		if (epoll_ctl(watcher.epfd, EPOLL_CTL_ADD, r->lease, &ev) < 0)
			ret = -errno;
	}
	if (ret == 0) {
		r->next = watcher.regions;
		watcher.regions = r;
	} else {
		set_error("lease watcher: %s", strerror(-ret));
	}
	pthread_mutex_unlock(&watcher.lock);
	return ret;
}

static struct fm_region *region_alloc(void)
{
	struct fm_region *r = calloc(1, sizeof(*r));

	if (!r) {
		set_error("out of memory");
		return NULL;
	}
	r->memfd = r->uffd = r->lease = -1;
	return r;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, watcher_atfork_child);
}

FM_EXPORT int fm_region_create(size_t size, const struct fm_region_opts *opts,
			       struct fm_region **out)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct fm_region *r;
	int timeout_ms, ret;

	pthread_once(&atfork_once, atfork_register);
	if (size == 0) {
		set_error("region size must be positive");
		return -EINVAL;
	}
	r = region_alloc();
	if (!r)
		return -ENOMEM;
	opts_apply(r, opts, &timeout_ms);
	r->size = (size + pg - 1) & ~(pg - 1);
	r->owns_mapping = 1;
	r->memfd = memfd_create(r->name, MFD_CLOEXEC);
	if (r->memfd < 0 || ftruncate(r->memfd, (off_t)r->size) < 0) {
		ret = -errno;
		set_error("memfd of %zu bytes: %s", r->size, strerror(-ret));
		goto out_free;
	}
	r->addr = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       r->memfd, 0);
	if (r->addr == MAP_FAILED) {
		ret = -errno;
		set_error("mmap of %zu bytes: %s", r->size, strerror(-ret));
		goto out_free;
	}
	ret = region_attach(r, timeout_ms);
	if (ret)
		goto out_free;
	*out = r;
	return 0;
out_free:
	region_free(r);
	return ret;
}

FM_EXPORT int fm_region_adopt(void *addr, size_t size, int memfd,
			      uint64_t memfd_offset,
			      const struct fm_region_opts *opts,
			      struct fm_region **out)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct fm_region *r;
	int timeout_ms, ret;

	pthread_once(&atfork_once, atfork_register);
	if (!addr || size == 0 || size % pg || (uintptr_t)addr % pg ||
	    memfd_offset % pg) {
		set_error("adopt: address, size and offset must be non-zero "
			  "multiples of the page size");
		return -EINVAL;
	}
	r = region_alloc();
	if (!r)
		return -ENOMEM;
	opts_apply(r, opts, &timeout_ms);
	r->addr = addr;
	r->size = size;
	r->memfd_offset = memfd_offset;
	r->memfd = fcntl(memfd, F_DUPFD_CLOEXEC, 0);
	if (r->memfd < 0) {
		ret = -errno;
		set_error("dup memfd: %s", strerror(-ret));
		goto out_free;
	}
	ret = region_attach(r, timeout_ms);
	if (ret)
		goto out_free;
	*out = r;
	return 0;
out_free:
	region_free(r);
	return ret;
}

FM_EXPORT void *fm_region_addr(const struct fm_region *r)
{
	return r->addr;
}

FM_EXPORT size_t fm_region_size(const struct fm_region *r)
{
	return r->size;
}

FM_EXPORT uint64_t fm_region_id(const struct fm_region *r)
{
	return r->id;
}

FM_EXPORT int fm_region_connected(const struct fm_region *r)
{
	pthread_mutex_lock(&watcher.lock);
	int up = r->lease >= 0;
	pthread_mutex_unlock(&watcher.lock);
	return up;
}

/* Tell the monitor the region is going away and wait for its answer. */
static int region_release(struct fm_region *r)
{
	struct fm_msg_release m = { 0 };
	struct fm_msg_reply rep;
	unsigned nfds;
	int trunc, ret;
	ssize_t n;

	m.hdr.magic = FM_PROTO_MAGIC;
	m.hdr.version = FM_PROTO_VERSION;
	m.hdr.type = FM_MSG_RELEASE;
	m.hdr.length = sizeof(m);
	m.region_id = r->id;
	n = sock_send_fds(r->lease, &m, sizeof(m), NULL, 0);
	if (n < 0)
		return (int)n;
	ret = wait_readable(r->lease, DEFAULT_TIMEOUT_MS);
	if (ret)
		return ret;
	n = sock_recv_fds(r->lease, &rep, sizeof(rep), NULL, 0, &nfds, &trunc);
	if (n != (ssize_t)sizeof(rep) || rep.hdr.type != FM_MSG_REPLY)
		return n < 0 ? (int)n : -EPROTO;
	return rep.status;
}

FM_EXPORT int fm_region_destroy(struct fm_region *r)
{
	int ret = -ENOTCONN;

	if (!r)
		return 0;
	pthread_mutex_lock(&watcher.lock);
	for (struct fm_region **pp = &watcher.regions; *pp;
	     pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (r->lease >= 0) {
		epoll_ctl(watcher.epfd, EPOLL_CTL_DEL, r->lease, NULL);
		ret = region_release(r);
	}
	pthread_mutex_unlock(&watcher.lock);
	if (ret)
		set_error("release region %016llx: %s", (unsigned long long)r->id,
			  strerror(-ret));
	region_free(r);
	return ret;
}
