/*
 * migrate.c — how a table grows, shrinks or is rehashed without any single
 * operation paying for the whole table, and without readers ever waiting.
 *
 * Protocol
 * --------
 *   1. Start (smi_resize_start): a writer passes the `resizing` gate (I7),
 *      sizes the new table from the live count (config.h), allocates it with
 *      mmap — lazily zeroed, so allocating 1 GiB costs microseconds, not a
 *      pass over 1 GiB — and publishes it as root->next (release).
 *   2. Migrate: every writer first claims the next chunk of SM_MIGRATE_CHUNK
 *      old buckets (one relaxed fetch_add on `claim`) and migrates each home
 *      bucket in it; in addition, a writer whose own home bucket is not yet
 *      migrated migrates it before it writes. Migrating home b: lock b, copy
 *      every live key of b's chain whose home is b into the new table (I2
 *      says they are all in the chain), then unlock b with FROZEN set (I6).
 *      The copies in the old table stay as they are: nobody looks at them
 *      again once b is FROZEN, except readers that started before, which
 *      re-read b's meta word, see it changed, and retry in the new table.
 *   3. Finish: the writer whose fetch_add on `migrated` completes the count
 *      switches root to the new table (release), retires the old one with
 *      an epoch tag (epoch.c) and reopens the gate.
 *
 *        root ──> old [F F F F . . . . . .]   F = FROZEN home, . = not yet
 *                  │ next      claim ──^
 *                  └──> new [ keys of the F homes, and every new insert of
 *                             an F home ]
 *
 * Work bound per operation
 * ------------------------
 *   A write does its own operation plus at most one chunk (32 old buckets)
 *   plus its own home bucket: at most 33 homes, each scanning its chain. A
 *   chain is at most as long as the table's longest probe L (sm_stats.
 *   longest_probe), and the chains of 32 consecutive homes overlap, so one
 *   chunk copies at most 3 x (32 + L) entries: with L = 9 at 37.5% and 51 at
 *   the 75% ceiling for a million buckets (bench/probe_lengths.c) that is
 *   under 250 entries, whatever the table size but through L, which linear
 *   probing keeps logarithmic. On average a chunk copies 32 x 3 slots x the
 *   old table's occupancy: about 72 entries in a grow (which migrates a
 *   table at about 75%), at most 24 in a shrink. A read does no migration
 *   work at all. sm_reserve may migrate a whole table, because the caller
 *   asked for it; so may a plain write that finds the migration stalled (the
 *   next table short of room while a migrating thread is not running, or a
 *   table full: smi_migrate_finish_all from map.c), as the header's T3
 *   says.
 *
 * Room during migration
 * ---------------------
 *   Inserts of migrated homes land in the new table while migration runs.
 *   Each write advances migration by a whole chunk, so the migration of an
 *   old table of N buckets ends after at most N/32 writes, plus writes by
 *   threads that were already past their help step. A grow doubles, so the
 *   new table starts at 37.5% and cannot fill; a shrink targets 60% and
 *   divides by at most 8, so the N/32 extra entries are at most a twelfth of
 *   the new table's 3N/8 slots, of which 60% were taken: under 70% in the
 *   worst case, still below the 75% ceiling.
 */
#include "alloc.h"
#include "map_internal.h"
#include "testing.h"

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* Entries the threads may add to a next table beyond those counted when it
 * was sized: two per thread record (I9; DESIGN.md, "Room during migration").
 * Both the shrink's size and the room check count them. */
static uint64_t room_for_threads(void)
{
    return 2 * smi_epoch_records();
}

static uint64_t target_buckets(const sm_map *m, const sm_table *t, uint64_t want)
{
    if (want)
        return want > t->nbuckets ? want : 0;
    int64_t l = smi_live_sum(m);
    uint64_t live = l < 0 ? 0 : (uint64_t)l;
    uint64_t slots = t->nbuckets * SM_SLOTS;
    if (live * SM_SHRINK_DEN < slots * SM_SHRINK_NUM && t->nbuckets > SM_MIN_BUCKETS) {
        uint64_t sized = live + room_for_threads();
        uint64_t nb = ceil_div(sized * 1000, (uint64_t)SM_SHRINK_TARGET_PERMILLE * SM_SLOTS);
        uint64_t floor_nb = ceil_div(t->nbuckets, SM_MAX_SHRINK_FACTOR);
        if (nb < floor_nb)
            nb = floor_nb;
        if (nb < SM_MIN_BUCKETS)
            nb = SM_MIN_BUCKETS;
        if (nb < t->nbuckets)
            return nb;
        /* The room for the threads keeps this table from shrinking (a small
         * map in a process that once ran many threads): its deletes must
         * still be cleaned, by the same-size rehash below, or tombstones
         * would pile up until a miss read every bucket. */
    }
    if ((smi_table_used(t) + 1) * SM_GROW_DEN <= slots * SM_GROW_NUM)
        return 0;
    /* Over the ceiling: size for the live entries at the grow target. When
     * tombstones rather than entries filled the table (the live entries
     * would fit in a third more buckets), rehash at the same size instead:
     * that drops the tombstones and the OVERFLOW bits they left. */
    uint64_t nb = ceil_div((live + 1) * 1000, (uint64_t)SM_GROW_TARGET_PERMILLE * SM_SLOTS);
    return nb * 3 > t->nbuckets * 4 ? nb : t->nbuckets;
}

/* I9's flag goes up before the counts that size the next table are read.
 * A seq_cst store alone does not keep later relaxed loads after it on every
 * architecture; the fence does, against the writers' seq_cst load of the
 * flag under their home lock. */
static void raise_preparing(sm_map *m)
{
    atomic_store_explicit(&m->preparing, 1, memory_order_seq_cst);
    fence_seq_cst();
}

/* A resize that does not start: both flags down, the gate's holder last. */
static int resize_abandoned(sm_map *m, int rc)
{
    flag_store_release(&m->preparing, 0);
    flag_store_release(&m->resizing, 0);
    return rc;
}

int smi_resize_start(sm_map *m, sm_table *t, uint64_t want)
{
    if (atomic_load_explicit(&m->root, memory_order_acquire) != t ||
        atomic_load_explicit(&t->next, memory_order_acquire))
        return RESIZE_BUSY;
    /* Acquire pairs with the gate's release in finish(): the previous
     * resize's root switch is visible (I7). */
    if (!flag_cas_acquire(&m->resizing, 0, 1))
        return RESIZE_BUSY;
    if (atomic_load_explicit(&m->root, memory_order_acquire) != t)
        return resize_abandoned(m, RESIZE_BUSY);
    /* Nothing to do is the common answer of a delete's shrink check on a
     * small map: find it out before holding inserts back. */
    if (target_buckets(m, t, want) == 0)
        return resize_abandoned(m, RESIZE_NOT_NEEDED);
    /* I9: from here until next is published no writer adds an entry to t,
     * so the counts read below bound what the new table must take.
     * sm_reserve (want) raises the flag only once its table is allocated
     * and faulted in, which can take long: that table is larger than t, so
     * it holds every entry t can hold, and only the count of copies it must
     * reserve room for has to be exact. */
    if (!want)
        raise_preparing(m);
    /* Size, allocate, then size again from fresh counts: entries inserted
     * before the flag was seen may still arrive while the table is being
     * allocated, and a new table sized from a stale count could fill before
     * the migration ends. */
    sm_table *nt = NULL;
    uint64_t nb = 0;
    for (;;) {
        uint64_t fresh = target_buckets(m, t, want);
        if (nt && fresh <= nb && fresh != 0)
            break;
        if (nt) {
            smi_table_free(nt);
            nt = NULL;
        }
        nb = fresh;
        if (nb == 0)
            return resize_abandoned(m, RESIZE_NOT_NEEDED);
        nt = smi_table_new(nb, want != 0, m->huge_pages);
        if (!nt)
            return resize_abandoned(m, SM_ENOMEM);
    }
    if (want)
        raise_preparing(m);
#ifdef SM_TEST_HOOKS
    if (smi_hook_before_publish)
        smi_hook_before_publish();
#endif
    int64_t live = smi_live_sum(m);
    nt->copies_expected = live < 0 ? 0 : (uint64_t)live;
    u64_fetch_add_relaxed(&m->bytes_held, nt->bytes);
    if (nb > t->nbuckets)
        u64_fetch_add_relaxed(&m->grows, 1);
    else if (nb < t->nbuckets)
        u64_fetch_add_relaxed(&m->shrinks, 1);
    else
        u64_fetch_add_relaxed(&m->rehashes, 1);
    /* Release publishes the zeroed new table to every thread that follows
     * next (pairs with their acquire loads). */
    /* Counted before next is published: a thread that reaches nt through
     * t->next (acquire below) sees this count (limbo.c, key copies). */
    u64_fetch_add_relaxed(&m->migrations_started, 1);
    atomic_store_explicit(&t->next, nt, memory_order_release);
    /* Release: a writer that sees the flag down also sees next (I9). */
    flag_store_release(&m->preparing, 0);
    smi_notify_resize(m, SM_RESIZE_START, t->nbuckets, nb);
    return RESIZE_STARTED;
}

/* Copy one entry into the new table. The key is absent there (I6), so no
 * search is needed; only the new home's lock, to order us with writers of
 * keys that already live there. */
static void insert_fresh(sm_table *nt, sm_thread *self, uint64_t h, uint64_t key, uint64_t value)
{
    uint64_t b = home_of_hash(nt, h);
    sm_bucket *bk = &nt->buckets[b];
    unsigned spins = 0;
    for (;;) {
        int frozen;
        uint64_t held = smi_lock_home(bk, &frozen);
        /* The new table cannot be frozen before the old one is gone (I7). */
        int used_empty = 0;
        uint64_t probes = 0;
        int p = smi_place(nt, b, &held, h, key, value, &used_empty, &probes);
        /* Release: as unlock_home in map.c (S1, I5). */
        u64_store_release(&bk->meta, (held & ~META_LOCK) + (p == PLACE_DONE ? META_VERSION_ONE : 0));
        if (p == PLACE_DONE) {
            if (used_empty)
                smi_used_add(nt, self, 1);
            u64_max_relaxed(&nt->longest_probe, probes);
            return;
        }
        /* PLACE_FULL cannot happen ("Room during migration"); PLACE_RETRY
         * means a neighbour was locked: back off and try again. */
        smi_backoff(&spins);
    }
}

/* Copy home b's keys and freeze it; the caller holds b's lock and has already
 * written the next table's pages for b (touch_next_pages). */
static uint64_t migrate_home_locked(sm_map *m, sm_thread *self, sm_table *t, sm_table *nt,
                                    uint64_t b, uint64_t held)
{
#ifdef SM_TEST_HOOKS
    if (smi_hook_migrate_home)
        smi_hook_migrate_home(b, t->nbuckets);
#endif
    uint64_t copies = 0;
    uint64_t c = b;
    uint64_t meta = held;
    for (uint64_t probe = 0; probe < t->nbuckets; probe++, c = next_bucket(t, c)) {
        sm_bucket *bk = &t->buckets[c];
        if (probe > 0)
            meta = u64_load_acquire(&bk->meta);  /* as in lookup: tags then slots */
        for (unsigned i = 0; i < SM_SLOTS; i++) {
            if (meta_tag(meta, i) < 2)
                continue;
            /* Keys of other homes may change under us; ours cannot (I1), and
             * a changing slot never shows a key whose home is b (only b's
             * lock holder, us, writes such keys). */
            uint64_t k = u64_load_acquire(&bk->slot[i].key);
            uint64_t h = smi_slot_hash(m, k);
            if (home_of_hash(t, h) != b)
                continue;
            /* Acquire carries the putter's release on to our release store
             * in the new table (S1). */
            uint64_t v = u64_load_acquire(&bk->slot[i].value);
            insert_fresh(nt, self, h, k, v);
            copies++;
        }
        if (!(meta & META_OVERFLOW))
            break;
    }
    /* Release: FROZEN becomes visible only with every copy above (I6). */
    u64_store_release(&t->buckets[b].meta, ((held & ~META_LOCK) | META_FROZEN) + META_VERSION_ONE);
    return copies;
}

static void retire(sm_map *m, sm_table *t)
{
    t->retire_epoch = smi_epoch_advance();
    pthread_mutex_lock(&m->garbage_lock);
    t->retired_next = NULL;
    *m->garbage_tail = t;
    m->garbage_tail = &t->retired_next;
    pthread_mutex_unlock(&m->garbage_lock);
    u64_fetch_add_relaxed(&m->retired_bytes, t->bytes);
    u64_fetch_add_relaxed(&m->retired_count, 1);
}

static void finish(sm_map *m, sm_thread *self, sm_table *t, sm_table *nt)
{
    void *expected = t;
    /* Release: a thread that loads the new root sees every FROZEN bucket's
     * copies (I8); the acq_rel fetch_add that counted the last chunk made
     * all of them visible to us. */
    if (!ptr_cas_strong_acq_rel((void *_Atomic *)&m->root, &expected, nt))
        return;
    uint64_t old_buckets = t->nbuckets;
    retire(m, t);
    /* Release: a reclaimer that sees the new count also sees the retire
     * epoch of the table the key copies waited for (limbo.c). */
    u64_store_relaxed(&m->last_retire_epoch, t->retire_epoch);
    u64_store_release(&m->migrations_finished, u64_load_relaxed(&m->migrations_finished) + 1);
    self->reclaim_due = 1;
    /* Release pairs with the gate's acquire in smi_resize_start. */
    flag_store_release(&m->resizing, 0);
    smi_notify_resize(m, SM_RESIZE_FINISH, old_buckets, nt->nbuckets);
}

/*
 * Write-fault the pages of the next table that old homes [start, end) map to,
 * before any of them is FROZEN. Otherwise a reader sent there by a FROZEN
 * home with nothing copied yet would read-fault the kernel's shared zero page
 * into its TLB, and the writer's first write to that page later would need a
 * copy-on-write plus a TLB shootdown IPI to the reader — a stall in the reader
 * (measured: docs/BENCHMARKS.md, growth). Multiply-shift homes keep hash order,
 * so the range is contiguous. An atomic add of zero is a write that changes
 * nothing (the table is live).
 */
static void touch_next_pages(sm_table *t, sm_table *nt, uint64_t start, uint64_t end)
{
    unsigned __int128 lo = first_hash_of_bucket(start, t->nbuckets);
    unsigned __int128 hi = first_hash_of_bucket(end, t->nbuckets);
    uint64_t first = home_of_hash(nt, (uint64_t)lo);
    uint64_t last = home_of_hash(nt, (uint64_t)(hi - 1));
    const uint64_t per_page = 4096 / sizeof(sm_bucket);
    for (uint64_t b = first; b <= last; b += per_page)
        atomic_fetch_add_explicit(&nt->buckets[b].meta, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&nt->buckets[last].meta, 0, memory_order_relaxed);
}

/* Migrate one chunk of [start, end) and count it. Returns 1 if this call
 * completed the migration. */
static int migrate_chunk(sm_map *m, sm_thread *self, sm_table *t, sm_table *nt, uint64_t start)
{
    uint64_t end = start + SM_MIGRATE_CHUNK;
    if (end > t->nbuckets)
        end = t->nbuckets;
    touch_next_pages(t, nt, start, end);
    uint64_t copies = 0;
    for (uint64_t b = start; b < end; b++) {
        int frozen;
        uint64_t held = smi_lock_home(&t->buckets[b], &frozen);
        if (!frozen)
            copies += migrate_home_locked(m, self, t, nt, b, held);
    }
    /* Release: a room check that sees these copies counted also sees the
     * used slots they took (it loads `copied` with acquire, then `used`). */
    u64_fetch_add_acq_rel(&nt->copied, copies);
    /* acq_rel: our FROZEN stores happen-before the finisher's root switch,
     * and the finisher sees everybody's. */
    uint64_t done = u64_fetch_add_acq_rel(&t->migrated, end - start) + (end - start);
    if (done == t->nbuckets) {
        finish(m, self, t, nt);
        return 1;
    }
    return 0;
}

int smi_next_has_room(const sm_table *nt)
{
    /* Entries still to be copied: at most those t held when nt was
     * published, plus one per thread that had checked `preparing` before it
     * was set (I9), minus those already copied. A second entry per thread
     * covers the writers that pass this check at the same moment on the
     * same count of used slots. (Estimating the copies from the chunks not
     * yet counted assumed entries spread evenly over the homes; after
     * deletes in hash order, which is iteration order, the last chunks held
     * most of them and the copies overflowed nt.) */
    uint64_t bound = nt->copies_expected + room_for_threads();
    /* Acquire: pairs with the acq_rel adds, before `used` is read below. */
    uint64_t copied = u64_load_acquire(&nt->copied);
    uint64_t to_copy = bound > copied ? bound - copied : 0;
    uint64_t slots = nt->nbuckets * SM_SLOTS;
    return (smi_table_used(nt) + to_copy + 1) * SM_NEXT_ROOM_DEN <= slots * SM_NEXT_ROOM_NUM;
}

void smi_migrate_help(sm_map *m, sm_thread *self)
{
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    sm_table *nt = atomic_load_explicit(&t->next, memory_order_acquire);
    if (!nt)
        return;
    /* Relaxed: the claim only hands out disjoint ranges; the bucket locks
     * order the work itself. */
    uint64_t start = u64_fetch_add_relaxed(&t->claim, SM_MIGRATE_CHUNK);
    if (start < t->nbuckets)
        migrate_chunk(m, self, t, nt, start);
}

void smi_migrate_finish_all(sm_map *m, sm_thread *self)
{
    unsigned spins = 0;
    for (;;) {
        sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
        sm_table *nt = atomic_load_explicit(&t->next, memory_order_acquire);
        if (!nt)
            return;
        uint64_t start = u64_fetch_add_relaxed(&t->claim, SM_MIGRATE_CHUNK);
        if (start < t->nbuckets) {
            migrate_chunk(m, self, t, nt, start);
            continue;
        }
        /* Every chunk is claimed; others are finishing theirs. */
        smi_backoff(&spins);
    }
}

/* The garbage list is oldest first, and retire epochs rise along it (resizes
 * retire one at a time, under the resizing gate), so what may be freed is a
 * head of it: a walk frees from the front and stops at the first table still
 * in use, and at most this many per writer's call. (The list was newest
 * first once, with the walk capped from that end: a guard taken after older
 * tables were retired and held while 64 more were, kept those older, freeable
 * ones out of reach until it was released. Found by review.) */
#define RECLAIM_TABLE_WALK 64u

/*
 * Free what no reader can reach any more: retired tables, then (limbo.c)
 * values and key copies. wait_for_lock = 1 is the full reclaim (smi_reclaim):
 * it waits for the garbage lock and frees everything eligible. Otherwise, on
 * a writer (smi_reclaim_maybe), the work is bounded (T3): at most
 * RECLAIM_TABLE_WALK tables looked at and the limbo's own bounds, and no
 * lock is held while anything is freed, so that retire() on another writer
 * never waits for an munmap or a free_value. (Before, tables were freed and
 * free_value called under garbage_lock; found by review.)
 */
static size_t reclaim(sm_map *m, int wait_for_lock)
{
    if (u64_load_relaxed(&m->retired_count) == 0 && u64_load_relaxed(&m->retired_values) == 0 &&
        u64_load_relaxed(&m->retired_keys) == 0)
        return 0;
    /* Taken before the garbage lock, so that the barrier it issues is not
     * paid under it. A table retired after this scan began has a larger
     * tag than the result (E3 in epoch.c) and waits for the next one. */
    uint64_t min_active = smi_epoch_min_active();
    sm_table *dead = NULL;
    int locked = 1;
    if (wait_for_lock)
        pthread_mutex_lock(&m->garbage_lock);
    else
        locked = pthread_mutex_trylock(&m->garbage_lock) == 0;
    /* Busy: another reclaim is walking the tables; the limbo below needs
     * no garbage lock. */
    if (locked) {
        unsigned walked = 0;
        while (m->garbage && m->garbage->retire_epoch <= min_active &&
               (wait_for_lock || walked++ < RECLAIM_TABLE_WALK)) {
            sm_table *g = m->garbage;
            m->garbage = g->retired_next;  /* unlink under the lock, free below */
            g->retired_next = dead;
            dead = g;
        }
        if (!m->garbage)
            m->garbage_tail = &m->garbage;
        pthread_mutex_unlock(&m->garbage_lock);
    }
    size_t freed = 0;
    while (dead) {
        sm_table *g = dead;
        dead = g->retired_next;
        u64_fetch_sub_relaxed(&m->bytes_held, g->bytes);
        u64_fetch_sub_relaxed(&m->retired_bytes, g->bytes);
        u64_fetch_sub_relaxed(&m->retired_count, 1);
        smi_table_free(g);
        freed++;
    }
    if (m->limbo)
        freed += smi_limbo_reclaim(m, min_active, wait_for_lock);
    return freed;
}

void smi_reclaim_maybe(sm_map *m, sm_thread *self)
{
    /* Called after the operation's own epoch section, so that section never
     * blocks it (a guard the thread holds, sm_pin, still does: reclaim then
     * frees what it can and the rest waits for a later try). Right after
     * this thread retired a table, then every SM_RECLAIM_EVERY writes to this
     * map by the thread's stripe while garbage waits: each try costs a
     * membarrier() call. */
    if (!self->reclaim_due && self->write_nth % SM_RECLAIM_EVERY != 0)
        return;
    self->reclaim_due = 0;
    reclaim(m, 0);
}

size_t smi_reclaim(sm_map *m)
{
    return m ? reclaim(m, 1) : 0;
}

void smi_migrate_home(sm_map *m, sm_thread *self, sm_table *t, sm_table *nt, uint64_t b,
                      uint64_t held)
{
    touch_next_pages(t, nt, b, b + 1);
    /* Release: as in migrate_chunk. */
    u64_fetch_add_acq_rel(&nt->copied, migrate_home_locked(m, self, t, nt, b, held));
}
