/* Helpers shared by the benchmark programs: clocks, latency samples, the
 * monitor's control socket, and the RESULT lines bench/run.sh collects. */
#ifndef FLUIDMEM_BENCH_H
#define FLUIDMEM_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

/* A growable-free array of latency samples in nanoseconds. */
struct bench_lat {
	uint64_t *ns;
	size_t n, cap;
};

int bench_lat_init(struct bench_lat *l, size_t cap);
void bench_lat_free(struct bench_lat *l);
static inline void bench_lat_add(struct bench_lat *l, uint64_t ns)
{
	if (l->n < l->cap)
		l->ns[l->n++] = ns;
}
/* Append @src's samples to @dst (which must have room). */
void bench_lat_merge(struct bench_lat *dst, const struct bench_lat *src);
/*
 * Print "RESULT name=NAME n=N p50_us=.. p99_us=.. p999_us=.. mean_us=.."
 * (sorts the samples).
 */
void bench_lat_report(const char *name, struct bench_lat *l);
/* Print "RESULT name=NAME value=V unit=UNIT". */
void bench_value(const char *name, double v, const char *unit);

/* Pin the calling thread to @cpu (-1: leave alone). 0 or -errno. */
int bench_pin(int cpu);

/*
 * Control socket of a monitor (UNIX path): send one command, collect the
 * reply in buf (NUL-terminated). Returns 0 or -errno.
 */
int bench_ctl(const char *path, const char *cmd, char *buf, size_t len);
/* One numeric stat from `stats`; 0 or -errno (-ENOENT: no such stat). */
int bench_ctl_stat(const char *path, const char *name, uint64_t *out);

/* Strict unsigned parse of an option; exits with status 2 on error. */
uint64_t bench_arg_u64(const char *opt, const char *s, uint64_t min,
		       uint64_t max);

#endif
