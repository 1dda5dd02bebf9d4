/*
 * epoch.c — when an unlinked table may be freed.
 *
 * Readers must never wait and never write a cache line another thread
 * writes, yet a retired table may only be freed once no reader can still be
 * inside it. Classic epoch-based reclamation gives both:
 *
 *   reader                              unlinker, then reclaimer
 *   ------                              ------------------------
 *   e = global (acquire)                unlink table: root = new (release)
 *   my.epoch = e        (own line)      fence U            (seq_cst)
 *   barrier R                           G = ++global       (seq_cst RMW)
 *   t = root (acquire) ... use t        ... later, maybe another thread:
 *   my.epoch = 0        (release)       s = global (acquire), s >= G
 *                                       barrier W
 *                                       for each thread: x = its epoch
 *                                       free when every x == 0 or x >= G
 *
 * E1. A reader whose epoch the reclaimer reads as 0 or >= G cannot reach the
 *     unlinked table: barriers R and W order "store my.epoch; load root"
 *     against "store root; load my.epoch" (the store-buffering pattern), so
 *     either the reclaimer sees the reader's epoch, or the reader's load of
 *     root sees the new table. And e >= G means the reader loaded global after
 *     the increment, which the unlink happens-before.
 *     In C11 terms, with R and W seq_cst fences: U is sequenced before the
 *     increment, which the reclaimer's acquire load of s reads from (all
 *     writes of global are RMWs, one release sequence), and that load is
 *     sequenced before W; so U happens-before W and precedes it in the
 *     single total order S of seq_cst operations. If U precedes R in S, the
 *     reader's load of root (after R) sees the unlinking store (before U) or
 *     a later one: the rule for two seq_cst fences (C11 7.17.3). Otherwise
 *     R precedes U and so W, and by the same rule the reclaimer's load of
 *     my.epoch (after W) sees the reader's store (before R) or a later one.
 *     That rule needs the unlinking store sequenced before a seq_cst fence
 *     in the unlinker: the seq_cst fetch_add alone is not enough on paper
 *     (the store is not seq_cst, and an RMW is not a fence), although every
 *     processor we run on makes a locked RMW a full barrier. Hence fence U.
 *     With membarrier, R is a compiler fence and W makes every running
 *     thread execute a full barrier: the same case split holds at the
 *     hardware level (as in liburcu), which C11 cannot express.
 * E2. A reader that read the old table still has my.epoch = e < G until its
 *     exit store, whose release makes all its reads happen-before the free.
 * E3. Only objects tagged before the scan began (G <= the global epoch read
 *     before barrier W) may be freed by that scan. Otherwise an object
 *     unlinked while the scan runs, by a writer that does not hold the lock
 *     the reclaimer holds (limbo items are appended under their own stripe
 *     locks), could be freed on the strength of a scan that found no thread
 *     inside, although a reader entered after the scan and reached it before
 *     the unlink. (Found while reading the protocol after ThreadSanitizer
 *     reported a key copy freed after sm_get_many_str had compared it, with
 *     no happens-before between the two. The report is also explained by the
 *     relaxed epoch store at entry that epoch.h now makes a release; both
 *     are fixed, and the report has not come back.)
 *
 * Barrier R is a full fence (atomic_thread_fence seq_cst) unless the kernel
 * offers membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): then R is only a
 * compiler fence and W is the membarrier call, which runs a full fence on
 * every CPU currently running a thread of this process. Reclaims are rare
 * next to reads: one after each resize, then one every SM_RECLAIM_EVERY-th
 * write to a map by a thread stripe while anything retired waits, which with
 * free_value or string keys is as long as replaces or deletes keep retiring
 * items (migrate.c, smi_reclaim_maybe). The cost moves to that side, as in
 * liburcu's "memb" flavour. Under ThreadSanitizer the fence path is used, so
 * the tool checks the portable protocol. If the membarrier call fails
 * (-ENOMEM from the kernel, or EPERM from a seccomp filter installed after
 * registration), that scan frees nothing and the next one tries again; while
 * it keeps failing, retired memory is only held, never freed too early.
 *
 * Thread records are per process, never freed, recycled when a thread exits
 * (pthread key destructor), so their number is bounded by the most threads
 * ever alive at once, plus the threads that exited inside a section that no
 * destructor left (below: their records are never recycled). A thread that
 * stops forever inside an operation keeps
 * its epoch: tables retired after it entered are never freed (the map keeps
 * working; only that garbage is held). sm_stats reports it as retired_tables.
 * A thread that exits inside a section (holding an sm_pin guard) keeps its
 * record until a later key destructor of that thread leaves the section;
 * if none does, it is such a thread.
 */
#include "epoch.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#include "alloc.h"
#include "testing.h"

/* Starts at 1, so every tag (an incremented value) is at least 2 and
 * SMI_EPOCH_FREE_NOTHING (0) frees nothing. */
atomic_u64 smi_global_epoch = 1;
#if defined(__SANITIZE_THREAD__)
atomic_u64 smi_tsan_fence_word;
#endif
static void *_Atomic registry_head;
_Atomic int smi_use_membarrier;
static _Atomic uint32_t next_stripe;
static atomic_u64 records_made;
/* The key whose destructor hands a thread's record back. Made on the first
 * registration that can make it, not in init_once: pthread_key_create fails
 * when the process has used up its keys, and a later registration must be
 * able to try again. Until it is made, thread_key holds no key of ours (0
 * may be another library's key) and must not be used. */
static pthread_key_t thread_key;
static _Atomic int thread_key_made;
static pthread_mutex_t thread_key_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
_Thread_local sm_thread *smi_self_record __attribute__((tls_model("initial-exec")));

static void release_record(void *arg)
{
    sm_thread *rec = arg;
    if (rec->depth > 0) {
        /* The thread exits still inside a section: it holds an sm_pin guard
         * (or left an operation through a callback that never returned). A
         * destructor of a later key may still use values obtained under that
         * guard (R1) and call sm_unpin, so the record, its epoch and its
         * pins stay as they are. Setting the key again makes the C library
         * run this destructor again in its next round, after the later
         * destructors. If nobody leaves the section before the rounds run
         * out (PTHREAD_DESTRUCTOR_ITERATIONS), the record is never handed
         * back: the thread keeps its epoch, like a thread stopped forever
         * inside the library. (Found by review: the guard used to be dropped
         * here, so the value could be freed under the later destructor and
         * its sm_unpin returned SM_EINVAL.) If the key cannot be set (no
         * memory for its slot), the guard is kept all the same. */
        pthread_setspecific(thread_key, rec);
        return;
    }
    /* Depth 0: the last exit stored epoch 0 and every sm_unpin has run
     * (pins only counts sections), so the record is clean for its next
     * owner. Forget the record before giving it away: a destructor that runs after
     * this one (a key created after ours) may still call into the library,
     * and must register afresh rather than share the record with the thread
     * that claims it next. Registering again re-arms this destructor. */
    smi_self_record = NULL;
    /* Pairs with the acquire CAS in claim_record: the next owner starts from
     * a record this thread no longer touches. */
    flag_store_release(&rec->in_use, 0);
}

int smi_thread_record_state(void)
{
    sm_thread *r = smi_self_record;
    return r ? flag_load_relaxed(&r->in_use) != 0 : -1;
}

/* Decides once, before any thread enters or any scan runs, how barrier R and
 * W are made; the decision never changes (see smi_epoch_min_active). */
static void init_process(void)
{
#if defined(__linux__) && defined(SYS_membarrier) && !defined(__SANITIZE_THREAD__)
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        flag_store_relaxed(&smi_use_membarrier, 1);
#endif
}

static sm_thread *claim_record(void)
{
    for (sm_thread *r = ptr_load_acquire(&registry_head); r; r = r->next) {
        if (flag_load_relaxed(&r->in_use) == 0 && flag_cas_acquire(&r->in_use, 0, 1))
            return r;
    }
    sm_thread *r = smi_alloc_zeroed(sizeof *r);
    if (!r)
        return NULL;
    u64_fetch_add_relaxed(&records_made, 1);
    r->in_use = 1;
    r->stripe = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed);
    void *head = ptr_load_relaxed(&registry_head);
    do {
        r->next = head;
        /* Release publishes the initialised record to registry walkers. */
    } while (!ptr_cas_strong_release(&registry_head, &head, r));
    return r;
}

/* 0 once thread_key is ours, -1 (nothing changed, try again later) when no
 * key could be made. (Found by review: the result of pthread_key_create was
 * ignored, thread_key stayed 0, and each record was stored under, and handed
 * at thread exit to the destructor of, whichever library owned key 0.) */
static int make_thread_key(void)
{
    /* Acquire pairs with the release store below: whoever sees the flag set
     * also sees the key value written before it. */
    if (flag_load_acquire(&thread_key_made))
        return 0;
    pthread_mutex_lock(&thread_key_lock);
    /* Relaxed: the flag is only set under this mutex, which orders it. */
    int made = flag_load_relaxed(&thread_key_made);
    pthread_key_t key;
    /* Into a local: POSIX does not say what a failed call leaves in it. */
    if (!made && pthread_key_create(&key, release_record) == 0) {
        thread_key = key;
        /* Release: publishes thread_key to the acquire load above. */
        flag_store_release(&thread_key_made, 1);
        made = 1;
    }
    pthread_mutex_unlock(&thread_key_lock);
    return made ? 0 : -1;
}

sm_thread *smi_epoch_register(void)
{
    pthread_once(&init_once, init_process);
    /* Before a record is claimed, so that a failure leaves none behind. */
    if (make_thread_key() != 0)
        return NULL;
    sm_thread *r = claim_record();
    if (!r)
        return NULL;
    if (pthread_setspecific(thread_key, r) != 0) {
        flag_store_release(&r->in_use, 0);
        return NULL;
    }
    smi_self_record = r;
    return r;
}

uint64_t smi_epoch_advance(void)
{
    /* Fence U of E1: the unlinking store, made by the caller before this
     * call, is sequenced before a seq_cst fence, which the C11 rule for two
     * seq_cst fences needs (the fetch_add below is not a fence). On x86 it
     * costs an mfence next to a locked RMW; callers retire rarely (a table
     * per resize, a value or key copy per replace or delete). */
    fence_seq_cst();
    /* seq_cst: part of S, after U; its readers (acquire loads of global) are
     * ordered after the unlink and after U (E1, E3). */
    return u64_fetch_add_seq_cst(&smi_global_epoch, 1) + 1;
}

uint64_t smi_epoch_min_active(void)
{
    pthread_once(&init_once, init_process);
    /* E3: read before the scan. An object tagged after this load was
     * unlinked after the scan began, so a thread the scan saw as outside
     * (epoch 0) may since have entered and reached it; the result is capped
     * here so that such an object waits for the next scan. Acquire pairs
     * with the seq_cst increments that produced the tags. */
    uint64_t scan_start = u64_load_acquire(&smi_global_epoch);
#if defined(__linux__) && defined(SYS_membarrier)
    /* Relaxed: the flag is written once, inside init_once, which the
     * pthread_once above orders before this load. */
    if (flag_load_relaxed(&smi_use_membarrier)) {
        /* Readers have only a compiler fence for barrier R: this call is the
         * only barrier E1 has. If it fails (the kernel may return -ENOMEM; a
         * seccomp filter installed after registration may return EPERM), no
         * thread's epoch read below is proven current, so this scan frees
         * nothing: no tag is <= SMI_EPOCH_FREE_NOTHING. The next scan calls
         * it again. Readers cannot be switched to fences instead: a section
         * entered before the switch had no fence, and nothing could tell
         * when the last such section ended. (Found by review: the result
         * was ignored.) */
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
            return SMI_EPOCH_FREE_NOTHING;
    } else
#endif
        fence_seq_cst();
    uint64_t min = UINT64_MAX;
    for (sm_thread *r = ptr_load_acquire(&registry_head); r; r = r->next) {
        /* Acquire pairs with the release in smi_epoch_exit (E2). */
        uint64_t e = u64_load_acquire(&r->epoch);
        if (e != 0 && e < min)
            min = e;
    }
    return min < scan_start ? min : scan_start;
}

uint64_t smi_epoch_records(void)
{
    return u64_load_relaxed(&records_made);
}

uint64_t smi_epoch_pinned_threads(void)
{
    uint64_t n = 0;
    for (sm_thread *r = ptr_load_acquire(&registry_head); r; r = r->next)
        n += atomic_load_explicit(&r->pins, memory_order_relaxed) != 0;
    return n;
}
