/*
 * Fault handler threads: they share one epoll set over every region's
 * uffd and resolve missing and write-protect faults and uffd events.
 */
#ifndef FLUIDMEM_FAULT_H
#define FLUIDMEM_FAULT_H

#include "monitor.h"

struct region;

int fault_start(struct monitor *m);
void fault_stop(struct monitor *m);
int fault_add_region(struct monitor *m, struct region *r);
void fault_remove_region(struct monitor *m, struct region *r);

#endif
