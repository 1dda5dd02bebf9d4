/*
 * epoch.h — epoch-based reclamation shared by every map in the process.
 * The design and its proof sketch are in epoch.c and docs/DESIGN.md.
 */
#ifndef SM_EPOCH_H
#define SM_EPOCH_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

/* One per thread that ever called the library; recycled after thread exit. */
typedef struct sm_thread {
    _Alignas(64) atomic_u64 epoch; /* 0 = outside the library, else entry epoch */
    _Atomic int in_use;            /* 0 = free for a new thread to claim */
    uint32_t stripe;               /* which counter stripe this thread bumps */
    uint32_t depth;                /* nesting of enter/exit; owner-only */
    uint32_t reclaim_due;          /* this thread retired a table; owner-only */
    uint64_t write_nth;            /* the current write's number in its map's
                                      count for this stripe (stats.c); owner-only */
    _Atomic uint32_t pins;         /* sm_pin depth; read by sm_stats */
    struct sm_thread *next;        /* registry link, immutable once published */
} sm_thread;

/* The calling thread's record (NULL before its first call). initial-exec:
 * a static TLS offset, so the read path pays no __tls_get_addr call even in
 * the shared library. */
extern _Thread_local sm_thread *smi_self_record __attribute__((tls_model("initial-exec")));
extern atomic_u64 smi_global_epoch;
extern _Atomic int smi_use_membarrier;

sm_thread *smi_epoch_register(void);

/* Enter a critical section: tables seen from here on stay allocated until the
 * matching exit. Returns NULL only when the thread's first call cannot
 * allocate its record. Nests. Inline: it is on every read. */
static inline sm_thread *smi_epoch_enter(void)
{
    sm_thread *r = smi_self_record;
    if (__builtin_expect(r == NULL, 0)) {
        r = smi_epoch_register();
        if (!r)
            return NULL;
    }
    if (r->depth++ == 0) {
        /* Acquire pairs with the seq_cst increment in smi_epoch_advance: a
         * reader that sees G also sees the unlink that preceded it (E1). */
        uint64_t e = u64_load_acquire(&smi_global_epoch);
        /* Release (a plain store on x86): a reclaimer that reads this new
         * epoch must also know that this thread's previous section ended, so
         * the reads made in it happen-before what the reclaimer frees next.
         * The exit's release store says so only while it is the latest
         * value; a later relaxed store would break that chain for tools that
         * do not model release sequences (ThreadSanitizer reported exactly
         * that on a key copy). */
        u64_store_release(&r->epoch, e);
        if (flag_load_relaxed(&smi_use_membarrier))
            fence_compiler_only();  /* barrier R; W is membarrier() */
        else
            fence_seq_cst();        /* barrier R: store epoch before load root */
    }
    return r;
}

static inline void smi_epoch_exit(sm_thread *r)
{
    if (--r->depth == 0) {
        /* Release: every read of a table inside the section happens-before a
         * reclaimer that reads 0 here and frees it (E2). */
        u64_store_release(&r->epoch, 0);
    }
}

/* Advance the global epoch after unlinking an object; the returned value tags
 * it. The object may be freed once smi_epoch_min_active() >= the tag. The
 * unlinking store must be sequenced before the call (same thread): the call
 * begins with the seq_cst fence that E1 needs after it. */
uint64_t smi_epoch_advance(void);

/* Thread records ever made, process wide: at least the number of threads
 * inside the library at any one moment (records are reused, never freed). */
uint64_t smi_epoch_records(void);

/* Threads that hold an sm_pin guard now, process wide. */
uint64_t smi_epoch_pinned_threads(void);

/* No tag is <= this: tags come from smi_epoch_advance, which returns at least
 * 2 (the global epoch starts at 1). */
#define SMI_EPOCH_FREE_NOTHING 0

/* The smallest epoch any thread is inside, capped at the global epoch when
 * the scan began (E3 in epoch.c): objects tagged <= the result may be freed.
 * Issues the process-wide barrier that pairs with smi_epoch_enter(); when that
 * barrier (membarrier) fails, returns SMI_EPOCH_FREE_NOTHING, so that the
 * caller frees nothing this time. */
uint64_t smi_epoch_min_active(void);

#endif
