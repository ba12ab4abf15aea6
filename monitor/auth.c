/*
 * Peer authentication: SO_PEERCRED for UNIX sockets; for loopback TCP the
 * kernel's socket table tells which user owns the connecting socket.
 */
#include "config.h"
#include "auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_GROUPS 256

static int in_group_list(const gid_t *g, int n, gid_t want)
{
	for (int i = 0; i < n; i++)
		if (g[i] == want)
			return 1;
	return 0;
}

/* Supplementary groups of @uid from the group database. */
static int user_in_group(uid_t uid, gid_t want)
{
	struct passwd *pw = getpwuid(uid);
	gid_t groups[MAX_GROUPS];
	int n = MAX_GROUPS;

	if (!pw)
		return 0;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return 0;
	return in_group_list(groups, n, want);
}

int auth_unix_peer(const struct settings *s, int fd, struct peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[MAX_GROUPS];
	socklen_t glen = sizeof(groups);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->allowed = cred.uid == 0;
	if (!p->allowed && s->group) {
		p->allowed = cred.gid == s->gid;
		if (!p->allowed &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
			p->allowed = in_group_list(groups,
						   (int)(glen / sizeof(gid_t)),
						   s->gid);
	}
	return 0;
}

/* Find the socket whose local end is the peer's address in /proc. */
static int tcp_owner(const struct sockaddr_in *peer,
		     const struct sockaddr_in *self, uid_t *uid)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	int ret = -ENOENT;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return -EIO;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st, u;
		if (sscanf(line, " %*u: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %u",
			   &la, &lp, &ra, &rp, &st, &u) != 6)
			continue;
		if (la == peer->sin_addr.s_addr &&
		    lp == ntohs(peer->sin_port) &&
		    ra == self->sin_addr.s_addr &&
		    rp == ntohs(self->sin_port)) {
			*uid = u;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int auth_tcp_peer(const struct settings *s, int fd, struct peer *p)
{
	struct sockaddr_in peer, self;
	socklen_t len = sizeof(peer);

	memset(p, 0, sizeof(*p));
	p->uid = (uid_t)-1;
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		return -errno;
	len = sizeof(self);
	if (getsockname(fd, (struct sockaddr *)&self, &len) < 0)
		return -errno;
	if (peer.sin_family != AF_INET ||
	    (ntohl(peer.sin_addr.s_addr) >> 24) != 127)
		return 0; /* not loopback: never privileged */
	if (tcp_owner(&peer, &self, &p->uid))
		return 0;
	p->allowed = p->uid == 0 || (s->group && user_in_group(p->uid, s->gid));
	return 0;
}
