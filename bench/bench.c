/* Helpers shared by the benchmark programs (see bench.h). */
#include "config.h"
#include "bench.h"
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_lat_init(struct bench_lat *l, size_t cap)
{
	l->n = 0;
	l->cap = cap;
	l->ns = calloc(cap ? cap : 1, sizeof(*l->ns));
	return l->ns ? 0 : -ENOMEM;
}

void bench_lat_free(struct bench_lat *l)
{
	free(l->ns);
	l->ns = NULL;
	l->n = l->cap = 0;
}

void bench_lat_merge(struct bench_lat *dst, const struct bench_lat *src)
{
	for (size_t i = 0; i < src->n; i++)
		bench_lat_add(dst, src->ns[i]);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(const struct bench_lat *l, unsigned per_mille)
{
	size_t i = l->n * per_mille / 1000;

	if (i >= l->n)
		i = l->n - 1;
	return l->ns[i] / 1e3;
}

void bench_lat_report(const char *name, struct bench_lat *l)
{
	double sum = 0;

	if (!l->n) {
		printf("RESULT name=%s n=0\n", name);
		return;
	}
	qsort(l->ns, l->n, sizeof(*l->ns), cmp_u64);
	for (size_t i = 0; i < l->n; i++)
		sum += l->ns[i];
	printf("RESULT name=%s n=%zu p50_us=%.2f p99_us=%.2f p999_us=%.2f "
	       "mean_us=%.2f\n",
	       name, l->n, pct_us(l, 500), pct_us(l, 990), pct_us(l, 999),
	       sum / l->n / 1e3);
	fflush(stdout);
}

void bench_value(const char *name, double v, const char *unit)
{
	printf("RESULT name=%s value=%.3f unit=%s\n", name, v, unit);
	fflush(stdout);
}

int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int bench_ctl(const char *path, const char *cmd, char *buf, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t got = 0;
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    dprintf(fd, "%s\r\n", cmd) < 0) {
		ret = -errno;
		goto out_close;
	}
	/* A reply ends with END, OK ... or ERROR ... on its last line. */
	for (;;) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_close;
		}
		got += (size_t)n;
		buf[got] = '\0';
		if (n == 0 || got == len - 1)
			break;
		if (strstr(buf, "END\r\n") || !strncmp(buf, "OK", 2) ||
		    !strncmp(buf, "ERROR", 5)) {
			if (buf[got - 1] == '\n')
				break;
		}
	}
	if (!strncmp(buf, "ERROR", 5))
		ret = -EINVAL;
out_close:
	close(fd);
	return ret;
}

int bench_ctl_stat(const char *path, const char *name, uint64_t *out)
{
	static __thread char buf[1 << 16];
	char key[128];
	char *p;
	int ret;

	ret = bench_ctl(path, "stats", buf, sizeof(buf));
	if (ret)
		return ret;
	snprintf(key, sizeof(key), "STAT %s ", name);
	p = strstr(buf, key);
	if (!p)
		return -ENOENT;
	*out = strtoull(p + strlen(key), NULL, 10);
	return 0;
}

uint64_t bench_arg_u64(const char *opt, const char *s, uint64_t min,
		       uint64_t max)
{
	uint64_t v;

	if (parse_size(s, min, max, &v)) {
		fprintf(stderr, "invalid %s '%s' (%" PRIu64 "-%" PRIu64 ")\n",
			opt, s, min, max);
		exit(2);
	}
	return v;
}
