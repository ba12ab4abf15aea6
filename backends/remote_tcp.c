/* The remote backend's TCP transport: a thin wrapper of lib/memclient. */
#include "config.h"
#include "remote.h"
#include "memclient.h"

#include <stdlib.h>

static void *rtcp_create(const struct remote_target *t)
{
	struct memclient *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	memclient_init(c, t->host, t->port, &t->key, t->id, t->timeout_ms);
	if (memclient_alloc_buffers(c)) {
		free(c);
		return NULL;
	}
	return c;
}

static void rtcp_destroy(void *x)
{
	memclient_close(x);
	memclient_free_buffers(x);
	free(x);
}

static int rtcp_connect(void *x, int reset, uint64_t *instance)
{
	struct memclient *c = x;
	int ret;

	c->reset = reset;
	ret = memclient_connect(c);

	if (!ret)
		*instance = c->instance;
	return ret;
}

static void rtcp_disconnect(void *x)
{
	memclient_close(x);
}

static int rtcp_connected(void *x)
{
	return ((struct memclient *)x)->fd >= 0;
}

static const char *rtcp_error(void *x)
{
	return ((struct memclient *)x)->err;
}

static int rtcp_alloc(void *x, unsigned n, uint32_t *slots, unsigned *got)
{
	return memclient_alloc(x, n, slots, got);
}

static int rtcp_write(void *x, const uint32_t *slots, const void *const *pages,
		      unsigned n, int *res)
{
	return memclient_write(x, slots, pages, n, res);
}

static int rtcp_read(void *x, const uint32_t *slots, void *const *pages,
		     unsigned n, int *res)
{
	return memclient_read(x, slots, pages, n, res);
}

static int rtcp_free(void *x, const uint32_t *slots, unsigned n, int *res)
{
	return memclient_free(x, slots, n, res);
}

static int rtcp_stats(void *x, char *buf, size_t len)
{
	return memclient_stats(x, buf, len);
}

const struct remote_xport remote_tcp_xport = {
	.scheme = "tcp",
	.create = rtcp_create,
	.destroy = rtcp_destroy,
	.connect = rtcp_connect,
	.disconnect = rtcp_disconnect,
	.connected = rtcp_connected,
	.error = rtcp_error,
	.alloc = rtcp_alloc,
	.write = rtcp_write,
	.read = rtcp_read,
	.free = rtcp_free,
	.stats = rtcp_stats,
};
