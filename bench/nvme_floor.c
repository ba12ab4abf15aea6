/*
 * nvme_floor: what the device under the nvme backend does without a
 * monitor: O_DIRECT page reads one at a time (the floor of a fetch), and
 * 64-page io_uring write batches of scattered and of consecutive pages
 * (the floors of eviction).
 */
#include "config.h"
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NF_BATCH 64

static void usage(FILE *f)
{
	fprintf(f,
"Usage: nvme_floor --file=PATH [--pages=N] [--prefix=NAME]\n"
"Time O_DIRECT 4 KiB reads and 64-page io_uring write batches on a file\n"
"(created, then removed).\n"
"\n"
"  --file=PATH     scratch file, on the file system to measure (required)\n"
"  --pages=N       file size in pages, a multiple of 64 (default 16384)\n"
"  --prefix=NAME   result name prefix (default nvme)\n"
"  -h, --help      show this help\n");
}

/* Write every page once in batches; @stride 1: consecutive pages. */
static double write_mbs(struct io_uring *ring, int fd, char *buf, size_t ps,
			size_t pages, size_t stride)
{
	uint64_t t0 = bench_now_ns();
	size_t done = 0;

	for (size_t b = 0; b < pages / NF_BATCH; b++) {
		for (unsigned k = 0; k < NF_BATCH; k++) {
			size_t i = b * NF_BATCH + k;
			size_t pg = stride == 1 ? i : (i * stride) % pages;
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			if (stride == 1 && k) {
				io_uring_prep_nop(sqe);
				continue;
			}
			io_uring_prep_write(sqe, fd, buf + (size_t)k * ps,
					    (unsigned)(stride == 1 ? NF_BATCH * ps
								   : ps),
					    (off_t)(pg * ps));
		}
		io_uring_submit_and_wait(ring, NF_BATCH);
		for (unsigned k = 0; k < NF_BATCH; k++) {
			struct io_uring_cqe *cqe;
			if (io_uring_wait_cqe(ring, &cqe))
				return -1;
			if (cqe->res < 0)
				return -1;
			io_uring_cqe_seen(ring, cqe);
		}
		done += NF_BATCH;
	}
	return (double)done * ps / 1e6 /
	       ((double)(bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *prefix = "nvme";
	size_t pages = 16384, ps = (size_t)sysconf(_SC_PAGESIZE);
	struct bench_lat lat;
	struct io_uring ring;
	char name[160], *buf;
	int c, fd, ret;

	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "pages", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'n':
			pages = bench_arg_u64("--pages", optarg, NF_BATCH,
					      1 << 24);
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!file || optind != argc || pages % NF_BATCH) {
		usage(stderr);
		return 2;
	}
	fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "nvme_floor: %s: %s\n", file, strerror(errno));
		return 1;
	}
	unlink(file);
	ret = io_uring_queue_init(NF_BATCH, &ring, 0);
	if (ret || posix_memalign((void **)&buf, 4096, NF_BATCH * ps) ||
	    ftruncate(fd, (off_t)(pages * ps)) || bench_lat_init(&lat, pages)) {
		fprintf(stderr, "nvme_floor: set-up failed: %s\n",
			strerror(ret ? -ret : errno));
		return 1;
	}
	memset(buf, 0x5a, NF_BATCH * ps);
	/* Scattered pages (a stride coprime with the size): slots after
	 * churn; then consecutive ones, coalesced into one request. */
	double scattered = write_mbs(&ring, fd, buf, ps, pages, 4099);
	double consecutive = write_mbs(&ring, fd, buf, ps, pages, 1);
	for (size_t i = 0; i < pages; i++) {
		size_t pg = (i * 4099) % pages;
		uint64_t t0 = bench_now_ns();
		if (pread(fd, buf, ps, (off_t)(pg * ps)) != (ssize_t)ps) {
			fprintf(stderr, "nvme_floor: read: %s\n",
				strerror(errno));
			return 1;
		}
		bench_lat_add(&lat, bench_now_ns() - t0);
	}
	snprintf(name, sizeof(name), "%s.read", prefix);
	bench_lat_report(name, &lat);
	snprintf(name, sizeof(name), "%s.write_batch.MB_per_s", prefix);
	bench_value(name, scattered, "MB/s");
	snprintf(name, sizeof(name), "%s.write_run.MB_per_s", prefix);
	bench_value(name, consecutive, "MB/s");
	bench_lat_free(&lat);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
