/*
 * Control endpoint for `ui`: memcached-style text lines over a UNIX
 * socket and loopback TCP (FluidMem's 127.0.0.1:5001). See
 * doc/protocol.md.
 */
#ifndef FLUIDMEM_CTL_H
#define FLUIDMEM_CTL_H

#include "monitor.h"
#include "region.h"

int ctl_init(struct monitor *m);
void ctl_fini(struct monitor *m);
void ctl_accept(struct monitor *m, struct watch *listen);
void ctl_input(struct monitor *m, struct watch *w);
/* Set by the `stop` command; the main loop polls it. */
int ctl_stop_requested(struct monitor *m);

#endif
