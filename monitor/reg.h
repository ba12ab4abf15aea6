/*
 * Registration socket and leases: clients hand over uffd + memfd; the
 * connection then stays open as the region's lease. EOF on it, or the
 * client's death (pidfd), drops the region.
 */
#ifndef FLUIDMEM_REG_H
#define FLUIDMEM_REG_H

#include "monitor.h"
#include "region.h"

int reg_init(struct monitor *m);
void reg_fini(struct monitor *m);
/* Main loop callbacks for WATCH_REG_* / WATCH_LEASE / WATCH_PIDFD. */
void reg_accept(struct monitor *m);
void reg_pending_input(struct monitor *m, struct watch *w);
void reg_lease_input(struct monitor *m, struct region *r);
void reg_pidfd_ready(struct monitor *m, struct region *r);
/* Close registrations that never sent anything. */
void reg_sweep(struct monitor *m);
/* Drop a region for good (its client is gone or was disconnected). */
void reg_drop(struct monitor *m, struct region *r);
/* Drop every region of @pid; returns how many. */
unsigned reg_drop_pid(struct monitor *m, pid_t pid);
/* Shutdown: let go of every region without deleting its data. */
void reg_detach_all(struct monitor *m);

/* Add/remove a watch in the main loop's epoll. */
int loop_watch(struct monitor *m, struct watch *w);
void loop_unwatch(struct monitor *m, struct watch *w);

#endif
