/* Stand-in for builds without RDMA (configure --disable-rdma or no libs). */
#include "config.h"
#include "memserver.h"

#include <errno.h>
#include <stdio.h>

const int rdma_available = 0;

int rdma_serve(struct srv *s, char *err, size_t errlen)
{
	snprintf(err, errlen, "this memserver was built without RDMA");
	return -EOPNOTSUPP;
}
