/*
 * monitor: start-up, the control-plane event loop (registrations, leases,
 * ui connections, signals, a 1 s timer) and an orderly shutdown that
 * leaves every region resumable by the next monitor.
 */
#include "config.h"
#include "monitor.h"
#include "conf.h"
#include "coord.h"
#include "ctl.h"
#include "evict.h"
#include "fault.h"
#include "log.h"
#include "reg.h"
#include "region.h"
#include "zcache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* mkdir -p with @mode for the directories it creates. */
static int mkdirs(const char *path, mode_t mode)
{
	char buf[512];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int dirname_of(const char *path, char *out, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return -1;
	if ((size_t)(slash - path) >= len)
		return -1;
	memcpy(out, path, (size_t)(slash - path));
	out[slash - path] = '\0';
	return 0;
}

/* One monitor per run directory: its state files are not shareable. */
static int take_run_dir(struct monitor *m)
{
	char path[512], dir[512];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/regions", m->set.run_dir);
	ret = mkdirs(path, 0700);
	if (ret) {
		log_err("cannot create %s: %s", path, strerror(-ret));
		return ret;
	}
	if (dirname_of(m->set.socket_path, dir, sizeof(dir)) == 0 &&
	    (ret = mkdirs(dir, 0755))) {
		log_err("cannot create %s: %s", dir, strerror(-ret));
		return ret;
	}
	snprintf(path, sizeof(path), "%s/monitor.lock", m->set.run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		log_err("%s: %s", path,
			ret == -EWOULDBLOCK
				? "another monitor is using this run directory"
				: strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd; /* held for the process lifetime */
}

static int open_backend(struct monitor *m)
{
	struct backend_params p = {
		.page_size = m->page_size,
		.locator = m->set.locator[0] ? m->set.locator : NULL,
		.local_dir = m->set.local_dir,
		.state_dir = m->set.run_dir,
	};
	char err[256] = "";
	int ret;

	m->be_ops = backend_find(m->set.backend);
	ret = m->be_ops->open(&p, &m->be, err, sizeof(err));
	if (ret) {
		log_err("backend %s: %s", m->be_ops->name,
			err[0] ? err : strerror(-ret));
		return ret;
	}
	if (!m->set.zcache_bytes)
		return 0;
	ret = zcache_wrap(m->be_ops, m->be, m->page_size, m->set.zcache_bytes,
			  &m->be_ops, &m->be, err, sizeof(err));
	if (ret) {
		log_err("--compressed-cache: %s", err[0] ? err : strerror(-ret));
		m->be_ops->close(m->be);
	}
	return ret;
}

/* Each region holds four descriptors (uffd, memfd, lease, pidfd). */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int signals_fd(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Block before any thread starts so only the loop sees them. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int timer_fd(void)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd >= 0)
		timerfd_settime(fd, 0, &its, NULL);
	return fd;
}

static void on_timer(struct monitor *m, int fd, uint64_t *prev_faults,
		     unsigned *ticks)
{
	uint64_t expirations, faults;

	if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	faults = atomic_load(&m->stats.faults);
	atomic_store(&m->fault_rate,
		     faults >= *prev_faults ? (faults - *prev_faults) / expirations
					    : 0);
	*prev_faults = faults;
	reg_sweep(m);
	coord_tick(m);
	/* Regions of a previous monitor whose clients never came back. */
	if (*ticks <= m->set.orphan_grace_s) {
		*ticks += (unsigned)expirations;
		if (*ticks > m->set.orphan_grace_s &&
		    region_orphans_collect(m))
			evict_kick(m);
	}
}

static int run_loop(struct monitor *m, struct conf *conf, int sigfd,
		    int tfd)
{
	struct watch wsig = { .type = WATCH_STOP, .fd = sigfd };
	struct watch wtimer = { .type = WATCH_TIMER, .fd = tfd };
	uint64_t prev_faults = 0;
	unsigned ticks = 0;

	if (loop_watch(m, &wsig) || loop_watch(m, &wtimer))
		return -errno;
	while (!ctl_stop_requested(m)) {
		struct epoll_event evs[16];
		int n = epoll_wait(m->loop_epfd, evs, 16, -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			switch (w->type) {
			case WATCH_STOP: {
				struct signalfd_siginfo si;
				if (read(sigfd, &si, sizeof(si)) ==
					    sizeof(si) &&
				    si.ssi_signo == SIGHUP) {
					conf_reload(m, conf);
					break;
				}
				log_info("signal received, stopping");
				return 0;
			}
			case WATCH_TIMER:
				on_timer(m, tfd, &prev_faults, &ticks);
				break;
			case WATCH_REG_LISTEN:
				reg_accept(m);
				break;
			case WATCH_REG_PENDING:
				reg_pending_input(m, w);
				break;
			case WATCH_LEASE:
				reg_lease_input(m, w->obj);
				/* The watch may be gone: restart the batch. */
				i = n;
				break;
			case WATCH_PIDFD:
				reg_pidfd_ready(m, w->obj);
				i = n;
				break;
			case WATCH_CTL_LISTEN:
				ctl_accept(m, w);
				break;
			case WATCH_CTL_CONN:
				ctl_input(m, w);
				/* A command may have dropped regions. */
				i = n;
				break;
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct monitor mon;
	struct monitor *m = &mon;
	struct conf *conf;
	int lockfd, sigfd, tfd, ret, status = 1;

	memset(m, 0, sizeof(*m));
	log_set_prefix("monitor");
	log_detect_journal();
	ret = conf_parse(&m->set, argc, argv, &conf);
	if (ret)
		return ret > 0 ? 0 : 2;
	log_threshold = m->set.log_level;
	conf_log(&m->set);
	m->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	m->page_shift = (unsigned)__builtin_ctz(m->page_size);
	m->started = time(NULL);
	stats_reset(&m->stats);

	raise_fd_limit();
	sigfd = signals_fd();
	tfd = timer_fd();
	m->loop_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sigfd < 0 || tfd < 0 || m->loop_epfd < 0) {
		log_err("event loop setup: %s", strerror(errno));
		goto out_conf;
	}
	lockfd = take_run_dir(m);
	if (lockfd < 0)
		goto out_conf;
	if (open_backend(m)) {
		close(lockfd);
		goto out_conf;
	}
	if (region_table_create(m))
		goto out_backend;
	region_orphans_scan(m);
	if ((ret = evict_start(m)) || (ret = fault_start(m))) {
		log_err("cannot start threads: %s", strerror(-ret));
		goto out_threads;
	}
	/* Before registrations: region ids may come from the cluster. */
	if (coord_start(m))
		goto out_threads;
	if (reg_init(m) || ctl_init(m))
		goto out_listeners;

	log_info("ready: backend %s, cache %" PRIu64 " pages, socket %s, "
		 "control %s%s%s:%u",
		 m->be_ops->name, m->set.cache_size, m->set.socket_path,
		 m->set.ctl_socket ? m->set.ctl_socket : "",
		 m->set.ctl_socket ? " and " : "",
		 m->set.ctl_tcp ? m->set.ctl_host : "(no tcp)",
		 m->set.ctl_tcp ? m->set.ctl_port : 0);
	ret = run_loop(m, conf, sigfd, tfd);
	status = ret ? 1 : 0;
	if (ret)
		log_err("event loop: %s", strerror(-ret));

out_listeners:
	atomic_store(&m->stopping, 1);
	ctl_fini(m);
	/* Leave every region resumable: state files and pages stay. */
	reg_detach_all(m);
	reg_fini(m);
out_threads:
	atomic_store(&m->stopping, 1);
	coord_stop(m);
	fault_stop(m);
	evict_stop(m);
	region_table_destroy(m);
out_backend:
	m->be_ops->close(m->be);
	close(lockfd);
	log_info("stopped");
out_conf:
	conf_free(conf);
	return status;
}
