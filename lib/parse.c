/* Strict number parsing: no signs, no trailing junk, range-checked. */
#include "config.h"
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_digits(const char *s, char **end, uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	uint64_t v;
	int ret = parse_digits(s, &end, &v);

	if (ret)
		return ret;
	if (*end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	uint64_t v;
	unsigned shift = 0;
	int ret = parse_digits(s, &end, &v);

	if (ret)
		return ret;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (shift && end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
	    strcmp(end + 1, "B") != 0)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	v <<= shift;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_host_port(const char *s, char *host, unsigned hostlen,
		    uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *p = colon ? colon + 1 : s;
	uint64_t v;
	int ret = parse_u64(p, 0, 65535, &v);

	if (ret)
		return ret;
	if (colon) {
		size_t n = (size_t)(colon - s);
		if (n == 0 || n >= hostlen)
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
	} else {
		if (hostlen < 10)
			return -EINVAL;
		strcpy(host, "127.0.0.1");
	}
	*port = (uint16_t)v;
	return 0;
}

int parse_cpu_list(const char *s, uint64_t *mask, unsigned ncpus)
{
	memset(mask, 0, (ncpus + 63) / 64 * sizeof(*mask));
	if (!*s)
		return -EINVAL;
	for (;;) {
		char *end;
		uint64_t lo, hi;
		int ret = parse_digits(s, &end, &lo);

		if (ret)
			return ret;
		hi = lo;
		if (*end == '-') {
			ret = parse_digits(end + 1, &end, &hi);
			if (ret)
				return ret;
			if (hi < lo)
				return -EINVAL;
		}
		if (hi >= ncpus)
			return -ERANGE;
		for (uint64_t c = lo; c <= hi; c++)
			mask[c / 64] |= UINT64_C(1) << (c % 64);
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}
