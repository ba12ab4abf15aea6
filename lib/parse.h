/* Strict number parsing shared by the monitor's options and ui. */
#ifndef FLUIDMEM_PARSE_H
#define FLUIDMEM_PARSE_H

#include <stdint.h>

/* Whole-string unsigned decimal in [min, max]; 0 or -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Like parse_u64 but accepts K/M/G/T suffixes (powers of 1024). */
int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "HOST:PORT" or "PORT"; host copied into host[hostlen]. */
int parse_host_port(const char *s, char *host, unsigned hostlen,
		    uint16_t *port);
/*
 * A CPU list as in taskset -c and /proc/PID/status: "0", "0-3,6".
 * Bit i of mask[i / 64] is CPU i; CPUs at or above @ncpus are -ERANGE.
 */
int parse_cpu_list(const char *s, uint64_t *mask, unsigned ncpus);

#endif
