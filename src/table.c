/*
 * table.c — buckets: allocation, the bucket lock, and placing a new key.
 *
 * The lock is one bit of the meta word. Readers ignore it (meta_same), so a
 * writer preempted while holding it delays other writers of that bucket only.
 * A home lock is taken by spinning, and only while the thread holds no other
 * lock of the same table: a migrating writer spins for a home of the next
 * table while it holds one home of the old table, never the other way round.
 * Every other bucket is taken with a bounded trylock, and on failure the
 * caller drops what it holds and starts over. So a waiting thread holds at
 * most one lock, of an older table, and no holder of a next-table lock waits
 * for one of an older table: no cycle of waiting threads, also when a probe
 * chain wraps around a small table (DESIGN.md, "Locks and deadlock
 * freedom").
 */
#include <sched.h>

#include "alloc.h"
#include "map_internal.h"
#include "testing.h"

sm_table *smi_table_new(uint64_t nbuckets, int prefault, int huge_pages)
{
    if (nbuckets < SM_MIN_BUCKETS)
        nbuckets = SM_MIN_BUCKETS;
    if (nbuckets > (SIZE_MAX - sizeof(sm_table)) / sizeof(sm_bucket))
        return NULL;
    size_t bytes = sizeof(sm_table) + (size_t)nbuckets * sizeof(sm_bucket);
    sm_table *t = smi_alloc_table(bytes, huge_pages);
    if (!t)
        return NULL;
    if (prefault && smi_prefault(t, bytes) != 0) {
        smi_free(t, bytes);
        return NULL;
    }
    /* The header is a multiple of 64 bytes, so buckets start on a line. */
    t->buckets = (sm_bucket *)(t + 1);
    t->nbuckets = nbuckets;
    t->bytes = bytes;
    return t;
}

static_assert(sizeof(sm_table) % 64 == 0, "buckets after the header must stay line aligned");

void smi_table_free(sm_table *t)
{
    smi_free(t, t->bytes);
}

uint64_t smi_table_used(const sm_table *t)
{
    int64_t sum = 0;
    for (unsigned i = 0; i < SM_STRIPES; i++)
        sum += i64_load_relaxed(&t->used[i].n);
    return sum < 0 ? 0 : (uint64_t)sum;
}

void smi_backoff(unsigned *spins)
{
    /* Spin briefly for a holder that is running; then yield, because on an
     * oversubscribed machine the holder is likely preempted and needs our CPU. */
    if (*spins < 64) {
        for (unsigned i = 0; i < (1u << (*spins / 8)); i++)
            cpu_relax();
        (*spins)++;
    } else {
#ifdef SM_TEST_HOOKS
        if (smi_hook_backoff_yield)
            smi_hook_backoff_yield();
#endif
        sched_yield();
    }
}

uint64_t smi_lock_home(sm_bucket *bk, int *frozen)
{
    unsigned spins = 0;
    for (;;) {
        /* Acquire: seeing FROZEN must also show the moved keys in the next
         * table (pairs with the release unlock that freezes a home in migrate.c). */
        uint64_t m = u64_load_acquire(&bk->meta);
        if (m & META_FROZEN) {
            *frozen = 1;
            return m;
        }
        /* Acquire on success pairs with the release unlock of the previous
         * holder: its slot writes are visible to us. */
        if (!(m & META_LOCK) && u64_cas_weak_acquire(&bk->meta, &m, m | META_LOCK)) {
            *frozen = 0;
            return m | META_LOCK;
        }
        smi_backoff(&spins);
    }
}

int smi_trylock(sm_bucket *bk, uint64_t *held)
{
    for (unsigned attempt = 0; attempt < 32; attempt++) {
        uint64_t m = u64_load_relaxed(&bk->meta);
        /* Acquire on success: as in smi_lock_home. */
        if (!(m & META_LOCK) && u64_cas_weak_acquire(&bk->meta, &m, m | META_LOCK)) {
            *held = m | META_LOCK;
            return 1;
        }
        cpu_relax();
    }
    return 0;
}

static int free_slot(uint64_t meta)
{
    for (unsigned i = 0; i < SM_SLOTS; i++) {
        unsigned tag = meta_tag(meta, i);
        if (tag == TAG_EMPTY || tag == TAG_TOMB)
            return (int)i;
    }
    return -1;
}

/*
 * Put a key that is known to be absent into the first free slot of its probe
 * chain, setting OVERFLOW on every full bucket it passes (keeps I3). The
 * caller holds the home bucket's lock (home_held is its locked meta word and
 * is updated when the home bucket itself changes); the caller's unlock then
 * bumps the home version (I5).
 */
int smi_place(sm_table *t, uint64_t home, uint64_t *home_held, uint64_t h, uint64_t key,
              uint64_t value, int *used_empty, uint64_t *probes)
{
    unsigned tag = (unsigned)tag_of_hash(h);
    uint64_t c = home;
    for (uint64_t probe = 0; probe < t->nbuckets; probe++, c = next_bucket(t, c)) {
        sm_bucket *bk = &t->buckets[c];
        uint64_t held;
        if (probe == 0)
            held = *home_held;
        else if (!smi_trylock(bk, &held))
            return PLACE_RETRY;
        int i = free_slot(held);
        if (i >= 0) {
            *used_empty = meta_tag(held, (unsigned)i) == TAG_EMPTY;
            /* Release: a reader still holding an older meta snapshot that
             * reads these words must, on re-reading meta, see at least the
             * version our lock acquisition observed, so it retries (I4). */
            u64_store_release(&bk->slot[i].key, key);
            u64_store_release(&bk->slot[i].value, value);
            uint64_t nm = meta_with_tag(held, (unsigned)i, tag) + META_VERSION_ONE;
            if (probe == 0) {
                *home_held = nm;
            } else {
                /* Release publishes the slot (pairs with readers' acquire
                 * load of meta). */
                u64_store_release(&bk->meta, nm & ~META_LOCK);
            }
            *probes = probe + 1;
            return PLACE_DONE;
        }
        if (probe == 0) {
            *home_held = held | META_OVERFLOW;
        } else {
            /* OVERFLOW only ever gets set within a table, so it needs no
             * version bump: a reader comparing meta words sees it change. */
            u64_store_release(&bk->meta, (held | META_OVERFLOW) & ~META_LOCK);
        }
    }
    return PLACE_FULL;
}
