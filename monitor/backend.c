/* The table of backends compiled into this monitor. */
#include "config.h"
#include "backend.h"

#include <string.h>

extern const struct backend_ops local_backend;
extern const struct backend_ops remote_backend;
#ifdef HAVE_MEMCACHED
extern const struct backend_ops memcached_backend;
#endif

static const struct backend_ops *const backends[] = {
	&local_backend,
#ifdef HAVE_MEMCACHED
	&memcached_backend,
#endif
	&remote_backend,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct backend_ops *backend_find(const char *name)
{
	for (unsigned i = 0; i < NBACKENDS; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const char *backend_names(void)
{
#ifdef HAVE_MEMCACHED
	return "local, memcached, remote";
#else
	return "local, remote";
#endif
}
