/* The address allow-list: CIDR networks (IPv4 or IPv6) a client may use. */
#include "config.h"
#include "memserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static int net_parse(const char *s, struct allow_net *n)
{
	char buf[64];
	char *slash;
	uint64_t prefix;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1)
		n->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, n->addr) == 1)
		n->family = AF_INET6;
	else
		return -EINVAL;
	prefix = n->family == AF_INET ? 32 : 128;
	if (slash && parse_u64(slash + 1, 0, prefix, &prefix))
		return -EINVAL;
	n->prefix = (unsigned)prefix;
	return 0;
}

int allow_parse(const char *list, struct allow_net *out, unsigned max,
		unsigned *n, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *tok;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n >= max) {
			snprintf(err, errlen, "at most %u networks", max);
			free(copy);
			return -E2BIG;
		}
		if (net_parse(tok, &out[*n])) {
			snprintf(err, errlen,
				 "'%s' is not an address or CIDR network",
				 tok);
			free(copy);
			return -EINVAL;
		}
		(*n)++;
	}
	free(copy);
	if (*n == 0) {
		snprintf(err, errlen, "empty list");
		return -EINVAL;
	}
	return 0;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes))
		return 0;
	if (!rest)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

int allow_check(const struct allow_net *nets, unsigned n,
		const struct sockaddr *sa)
{
	const uint8_t *a;
	uint8_t v4[4];
	int family = sa->sa_family;

	if (n == 0)
		return 1;
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		a = (const uint8_t *)&in->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(v4, &a6->s6_addr[12], 4);
			a = v4;
			family = AF_INET;
		} else {
			a = a6->s6_addr;
		}
	} else {
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		if (nets[i].family == family &&
		    prefix_match(a, nets[i].addr, nets[i].prefix))
			return 1;
	return 0;
}
