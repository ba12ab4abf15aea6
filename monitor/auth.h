/* Who may register regions and run privileged control commands. */
#ifndef FLUIDMEM_AUTH_H
#define FLUIDMEM_AUTH_H

#include <sys/types.h>

#include "settings.h"

struct peer {
	pid_t pid;	/* 0 when unknown (TCP) */
	uid_t uid;	/* (uid_t)-1 when unknown */
	gid_t gid;
	int allowed;	/* root or member of --group */
};

/* Credentials of a UNIX-socket peer (SO_PEERCRED, SO_PEERGROUPS). */
int auth_unix_peer(const struct settings *s, int fd, struct peer *p);
/* Owner of a loopback TCP peer, from /proc/net/tcp; others unknown. */
int auth_tcp_peer(const struct settings *s, int fd, struct peer *p);

#endif
