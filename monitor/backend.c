/* The table of backends compiled into this monitor. */
#include "config.h"
#include "backend.h"

#include <stdio.h>
#include <string.h>

extern const struct backend_ops local_backend;
extern const struct backend_ops chain_backend;
extern const struct backend_ops remote_backend;
#ifdef HAVE_MEMCACHED
extern const struct backend_ops memcached_backend;
#endif
#ifdef HAVE_NVME
extern const struct backend_ops nvme_backend;
#endif

static const struct backend_ops *const backends[] = {
	&local_backend,
#ifdef HAVE_MEMCACHED
	&memcached_backend,
#endif
#ifdef HAVE_NVME
	&nvme_backend,
#endif
	&remote_backend,
	&chain_backend, /* built by --mem-path from the others */
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
	static char names[256];

	if (!names[0])
		for (unsigned i = 0; i < NBACKENDS; i++)
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s%s",
				 i ? ", " : "", backends[i]->name);
	return names;
}
