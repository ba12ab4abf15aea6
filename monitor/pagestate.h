/*
 * One byte of monitor state per tracked page. The byte lives in the
 * region's state file so a restarted monitor can tell evicted pages from
 * never-touched ones. Transitions happen under the region lock; the
 * "busy" states mark a page whose owner is doing slow work without the
 * lock (an ioctl or backend I/O) and will wake the page's waiters.
 */
#ifndef FLUIDMEM_PAGESTATE_H
#define FLUIDMEM_PAGESTATE_H

#include <stdint.h>

enum page_state {
	PS_NEW = 0,	  /* never touched or discarded: reads as zeros */
	PS_RESIDENT = 1,  /* in the client's memfd */
	PS_EVICTED = 2,	  /* only in the backend */
	PS_LOST = 3,	  /* backend lost it: accesses get SIGBUS */
	PS_INSTALLING = 4, /* busy: being zero-filled or fetched */
	PS_EVICTING = 5,   /* busy: WP -> copy -> punch in progress */
	PS_UNPROTECTING = 6, /* busy: first write to a clean page */
};

#define PS_STATE_MASK 0x07
#define PS_REF 0x08	/* clock reference bit: reuse was observed */
#define PS_DIRTY 0x10	/* resident copy differs from the backend's */
#define PS_STORED 0x20	/* the backend holds a copy of this page */
#define PS_DISCARD 0x40 /* client discarded it while it was busy */
#define PS_WAITERS 0x80 /* a fault was deferred: wake when not busy */

static inline enum page_state ps_state(uint8_t b)
{
	return (enum page_state)(b & PS_STATE_MASK);
}

static inline uint8_t ps_set_state(uint8_t b, enum page_state s)
{
	return (uint8_t)((b & ~PS_STATE_MASK) | s);
}

static inline int ps_busy(uint8_t b)
{
	return ps_state(b) >= PS_INSTALLING;
}

#endif
