/*
 * epoch.h — epoch-based reclamation shared by every map in the process.
 * The design and its proof sketch are in epoch.c and docs/DESIGN.md.
 */
#ifndef SM_EPOCH_H
#define SM_EPOCH_H

#include <stdint.h>

#include "atomics.h"

/* One per thread that ever called the library; recycled after thread exit. */
typedef struct sm_thread {
    _Alignas(64) atomic_u64 epoch; /* 0 = outside the library, else entry epoch */
    _Atomic int in_use;            /* 0 = free for a new thread to claim */
    uint32_t stripe;               /* which counter stripe this thread bumps */
    uint32_t depth;                /* nesting of enter/exit; owner-only */
    uint32_t ops;                  /* write operations so far; owner-only */
    uint32_t reclaim_due;          /* this thread retired a table; owner-only */
    struct sm_thread *next;        /* registry link, immutable once published */
} sm_thread;

/* Enter a critical section: tables seen from here on stay allocated until the
 * matching exit. Returns NULL only when the thread's first call cannot
 * allocate its record. Nests. */
sm_thread *smi_epoch_enter(void);
void smi_epoch_exit(sm_thread *self);

/* Advance the global epoch after unlinking an object; the returned value tags
 * it. The object may be freed once smi_epoch_min_active() >= the tag. */
uint64_t smi_epoch_advance(void);

/* The smallest epoch any thread is inside, or UINT64_MAX when none is.
 * Issues the process-wide barrier that pairs with smi_epoch_enter(). */
uint64_t smi_epoch_min_active(void);

#endif
