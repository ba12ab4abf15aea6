/* UNIX socket helpers: messages with attached file descriptors. */
#ifndef FLUIDMEM_SOCK_H
#define FLUIDMEM_SOCK_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Send one message with @nfds descriptors (SCM_RIGHTS). */
ssize_t sock_send_fds(int sock, const void *buf, size_t len, const int *fds,
		      unsigned nfds);
/*
 * Receive one message. Descriptors land in fds[0..*nfds); any beyond
 * @maxfds are closed and *nfds is set past maxfds so callers can refuse.
 * *truncated is set when the message (or its control data) was cut.
 */
ssize_t sock_recv_fds(int sock, void *buf, size_t len, int *fds,
		      unsigned maxfds, unsigned *nfds, int *truncated);
/* Connect a SOCK_SEQPACKET socket to @path; returns fd or -errno. */
int sock_connect_seqpacket(const char *path);

/*
 * Bind and listen on a UNIX socket of @type at @path (a stale socket
 * there is replaced), then set its mode and, if gid != -1, its group.
 */
int sock_listen_unix(const char *path, int type, mode_t mode, gid_t gid);

#endif
