/*
 * syncmap.c — the lab engine "syncmap": Go's sync.Map as it was before
 * go1.24 (sync/map.go; go1.24 replaced it with a concurrent trie).
 *
 * The design, in sync/map.go's terms:
 *
 *  - read: an atomically published, immutable readOnly{m, amended}. m maps
 *    each key to an *entry. Loads and stores of keys already in read take no
 *    lock: they work on the entry.
 *  - entry.p: an atomic pointer to the value. nil means deleted (the key
 *    stays in read, and a later store can revive it without the lock);
 *    expunged, a sentinel, means deleted and left out of the dirty map.
 *  - dirty: a plain map under mu holding every non-expunged key of read plus
 *    the keys stored since; amended says such new keys exist.
 *  - misses: loads that found nothing in read and had to lock. Once misses
 *    reach len(dirty) — as much lock traffic as copying dirty would cost —
 *    dirty is published as the new read (O(1)) and dropped (missLocked).
 *  - The next store of a new key finds no dirty map and rebuilds it
 *    (dirtyLocked): it allocates a map sized for read and copies every
 *    entry of read into it, marking nil entries expunged on the way
 *    (tryExpungeLocked) — O(n) work under mu, while every store of a new
 *    key and every load that misses read waits. That copy is the stall the
 *    lab reproduces: a workload that keeps adding keys pays it again after
 *    every promotion.
 *  - Range promotes dirty first when amended, then walks read without mu.
 *
 * Both maps are the gomap.c model of a Go map, as sync.Map's are Go maps:
 * a rebuilt dirty map is allocated at its final size (make with a hint) and
 * a dirty map that keeps growing pays gomap's grow steps under mu.
 *
 * Values: every Store allocates a box for the value and publishes it by
 * swapping the entry's pointer, as Go's Store (Swap since go1.20) keeps the
 * address of its `any` argument, which escapes to the heap on every call.
 * The extra indirection and allocation per store are part of what is
 * measured; storing the word inline would need a wider atomic or a lock.
 *
 * Where this differs from Go, and why:
 *  - Keys are uint64 in the gomap model, not `any`; Go would box them too.
 *  - Out of memory aborts, as the Go runtime throws.
 *  - Memory reclamation. Go's garbage collector frees a replaced read map,
 *    a dropped entry or an overwritten value once no goroutine can reach it.
 *    C has no collector, and a reader may still be inside any of them, so
 *    this engine uses epoch-based reclamation (Fraser's scheme, with the
 *    fences crossbeam-epoch uses):
 *      - each operation "pins": it announces the global epoch in its thread's
 *        record, then a seq_cst fence; it unpins with a release store;
 *      - whatever an operation unlinks (a replaced box, a replaced readOnly
 *        with the map it owned, an entry dropped from dirty or expunged out
 *        of read) goes into the thread's bag; a full bag (BAG_SIZE items) is
 *        sealed with the global epoch read after a seq_cst fence;
 *      - the epoch advances when every pinned thread is pinned at the
 *        current epoch, and a bag sealed at epoch e is freed once the epoch
 *        reaches e + 2: no operation that could have seen its items is
 *        still running.
 *    Cost, stated honestly: each operation does one seq_cst fence (an
 *    mfence-class instruction, tens of cycles) that a Go load does not; Go
 *    pays instead with GC write barriers and background marking. Memory held
 *    beyond the live data: per thread, up to BAG_SIZE retired items plus
 *    what was retired during the last two epochs — typically one or two old
 *    read maps, each as large as the map (a retired read map is sealed at
 *    once, and the epoch advances on the next seal). A thread pinned for
 *    long (a Range over a large map) stops the epoch, and everything retired
 *    meanwhile waits, as Go's GC cannot free what a running Range can reach.
 *    Records of detached threads keep their retired items until a thread
 *    takes the record over or the map is destroyed.
 *  - Threads register on attach (or on their first call); a per-thread
 *    cache makes the lookup one comparison.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread types under -std=c11 */
#endif

#include "syncmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gomap.h"

enum {
    /* Items a thread retires before it seals them and tries to advance the
     * epoch: amortises the fence and the scan of thread records. */
    BAG_SIZE = 64
};

enum retired_kind {
    RETIRED_BOX,
    RETIRED_ENTRY,
    RETIRED_READ_ONLY,          /* the map it points to lives on */
    RETIRED_READ_ONLY_AND_MAP   /* nothing else refers to its map any more */
};

/* First member of everything that can be retired. */
struct retired {
    struct retired *next;
    enum retired_kind kind;
};

struct box {
    struct retired r;
    uint64_t value;
};

struct entry {
    struct retired r;   /* r.next also links entries expunged this cycle */
    _Atomic(struct box *) p;
};

struct read_only {
    struct retired r;
    gomap *m;           /* key -> (uintptr_t)struct entry *; immutable */
    int amended;
};

/* Marks an entry deleted and absent from dirty (Go's `expunged`). */
static struct box expunged_box;
#define EXPUNGED (&expunged_box)

struct thread_rec {
    _Atomic uint64_t state;     /* epoch << 1 | 1 while pinned, 0 otherwise */
    struct thread_rec *next;    /* immutable once the record is published */
    pthread_t owner;            /* owner and in_use: under reg_lock */
    int in_use;
    /* The rest belongs to the owning thread. */
    struct retired *bag, *bag_tail;
    unsigned bag_n;
    struct retired *limbo[3];   /* sealed bags, by epoch % 3 */
    uint64_t limbo_epoch[3];
    _Atomic int64_t bytes;      /* allocated minus freed by this record's
                                 * threads; written by the owner only */
};

struct syncmap {
    _Atomic(struct read_only *) read;
    pthread_mutex_t mu;
    gomap *dirty;                       /* under mu, NULL when not amended */
    uint64_t misses;                    /* under mu */
    struct retired *expunged_pending;   /* under mu: entries expunged this
                                         * cycle, linked through entry.r */
    uint64_t promotions, dirty_rebuilds;/* under mu */

    _Atomic uint64_t epoch;
    _Atomic(struct thread_rec *) recs;  /* push-only list */
    pthread_mutex_t reg_lock;
    uint64_t id;
    uint64_t base_bytes;
};

/* The record this thread last used, and for which map. Maps are told apart
 * by id, not address, since a new map may reuse a destroyed one's address. */
static _Thread_local struct {
    uint64_t map_id;
    struct thread_rec *rec;
} cached;

static void *xmalloc(size_t n)
{
    return go_alloc("syncmap", n);
}

static void account(struct thread_rec *rec, int64_t delta)
{
    int64_t b = atomic_load_explicit(&rec->bytes, memory_order_relaxed);
    atomic_store_explicit(&rec->bytes, b + delta, memory_order_relaxed);
}

/* ---- thread records ---- */

static struct thread_rec *attach(struct syncmap *m)
{
    pthread_t self = pthread_self();
    struct thread_rec *rec, *free_rec = NULL;
    pthread_mutex_lock(&m->reg_lock);
    for (rec = atomic_load_explicit(&m->recs, memory_order_relaxed); rec; rec = rec->next) {
        if (rec->in_use && pthread_equal(rec->owner, self))
            break;
        if (!rec->in_use && !free_rec)
            free_rec = rec;
    }
    if (!rec && free_rec)
        rec = free_rec;
    if (!rec) {
        rec = xmalloc(sizeof *rec);
        memset(rec, 0, sizeof *rec);
        atomic_init(&rec->state, 0);
        atomic_init(&rec->bytes, 0);
        rec->next = atomic_load_explicit(&m->recs, memory_order_relaxed);
        /* Pairs with the acquire loads that walk the list (advance, bytes). */
        atomic_store_explicit(&m->recs, rec, memory_order_release);
    }
    rec->owner = self;
    rec->in_use = 1;
    pthread_mutex_unlock(&m->reg_lock);
    cached.map_id = m->id;
    cached.rec = rec;
    return rec;
}

static struct thread_rec *thread_rec_of(struct syncmap *m)
{
    return cached.map_id == m->id ? cached.rec : attach(m);
}

/* ---- epochs ---- */

/* A full (store-load) fence. ThreadSanitizer does not model fences, so in
 * that build a seq_cst read-modify-write of one shared word stands in: such
 * RMWs are totally ordered and each synchronises with the one before, which
 * orders the same stores before the same loads (src/atomics.h does the
 * same for the library). */
#if defined(__SANITIZE_THREAD__)
static _Atomic uint64_t tsan_fence_word;
static void full_fence(void)
{
    atomic_fetch_add_explicit(&tsan_fence_word, 0, memory_order_seq_cst);
}
#else
static void full_fence(void)
{
    atomic_thread_fence(memory_order_seq_cst);
}
#endif

static void pin(struct syncmap *m, struct thread_rec *rec)
{
    uint64_t e = atomic_load_explicit(&m->epoch, memory_order_relaxed);
    atomic_store_explicit(&rec->state, e << 1 | 1, memory_order_relaxed);
    /* Orders the announcement before every pointer this operation loads;
     * pairs with the fence in try_advance, so either the advancing thread
     * sees us pinned or we see what it saw unlinked. */
    full_fence();
}

static void unpin(struct thread_rec *rec)
{
    /* Release: our reads of shared objects finish before an advancing
     * thread (its acquire load in try_advance) sees us gone and frees them. */
    atomic_store_explicit(&rec->state, 0, memory_order_release);
}

static void free_retired(struct thread_rec *rec, struct retired *r)
{
    while (r) {
        struct retired *next = r->next;
        switch (r->kind) {
        case RETIRED_BOX:
            account(rec, -(int64_t)sizeof(struct box));
            break;
        case RETIRED_ENTRY:
            account(rec, -(int64_t)sizeof(struct entry));
            break;
        case RETIRED_READ_ONLY_AND_MAP: {
            struct read_only *ro = (struct read_only *)r;
            account(rec, -(int64_t)(gomap_bytes(ro->m) + sizeof *ro));
            gomap_free(ro->m);
            break;
        }
        case RETIRED_READ_ONLY:
            account(rec, -(int64_t)sizeof(struct read_only));
            break;
        }
        free(r);
        r = next;
    }
}

/* Returns the epoch after the attempt. */
static uint64_t try_advance(struct syncmap *m)
{
    uint64_t e = atomic_load_explicit(&m->epoch, memory_order_relaxed);
    full_fence();  /* pairs with pin's */
    struct thread_rec *r = atomic_load_explicit(&m->recs, memory_order_acquire);
    for (; r; r = r->next) {
        /* Acquire pairs with unpin's release. */
        uint64_t s = atomic_load_explicit(&r->state, memory_order_acquire);
        if ((s & 1) && (s >> 1) != e)
            return e;
    }
    if (atomic_compare_exchange_strong(&m->epoch, &e, e + 1))
        return e + 1;
    return e;
}

static void seal_bag(struct syncmap *m, struct thread_rec *rec)
{
    /* The seal epoch is read after the items were unlinked: anyone who can
     * still reach one is pinned at this epoch or earlier. */
    full_fence();
    uint64_t e = atomic_load_explicit(&m->epoch, memory_order_relaxed);
    unsigned slot = (unsigned)(e % 3);
    if (rec->limbo[slot] && rec->limbo_epoch[slot] != e) {
        /* Sealed at e - 3 or earlier: long safe. */
        free_retired(rec, rec->limbo[slot]);
        rec->limbo[slot] = NULL;
    }
    rec->bag_tail->next = rec->limbo[slot];
    rec->limbo[slot] = rec->bag;
    rec->limbo_epoch[slot] = e;
    rec->bag = rec->bag_tail = NULL;
    rec->bag_n = 0;

    uint64_t now = try_advance(m);
    for (unsigned i = 0; i < 3; i++) {
        if (rec->limbo[i] && rec->limbo_epoch[i] + 2 <= now) {
            free_retired(rec, rec->limbo[i]);
            rec->limbo[i] = NULL;
        }
    }
}

static void retire(struct syncmap *m, struct thread_rec *rec, struct retired *r,
                   enum retired_kind kind)
{
    r->kind = kind;
    r->next = NULL;
    if (rec->bag_tail)
        rec->bag_tail->next = r;
    else
        rec->bag = r;
    rec->bag_tail = r;
    /* A read map is as large as the whole map: seal it at once rather than
     * let it wait in the bag for BAG_SIZE small items. */
    if (++rec->bag_n >= BAG_SIZE || kind == RETIRED_READ_ONLY_AND_MAP)
        seal_bag(m, rec);
}

/* ---- entries ---- */

static struct box *new_box(struct thread_rec *rec, uint64_t value)
{
    struct box *b = xmalloc(sizeof *b);
    b->value = value;
    account(rec, sizeof *b);
    return b;
}

static struct entry *new_entry(struct thread_rec *rec, struct box *b)
{
    struct entry *e = xmalloc(sizeof *e);
    atomic_init(&e->p, b);
    account(rec, sizeof *e);
    return e;
}

static struct entry *lookup(const gomap *m, uint64_t key)
{
    uint64_t v;
    return gomap_get(m, key, &v) ? (struct entry *)(uintptr_t)v : NULL;
}

/* trySwap: replace the value unless the entry is expunged (then the caller
 * must lock, because the key has to go back into dirty first). */
static int try_swap(struct entry *e, struct box *b, struct box **old)
{
    struct box *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    for (;;) {
        if (p == EXPUNGED)
            return 0;
        /* Release publishes b->value to loads that acquire e->p. */
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, b, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            *old = p;
            return 1;
        }
    }
}

static int load_entry(struct entry *e, uint64_t *value)
{
    /* Acquire pairs with the release of try_swap / the exchange in put. */
    struct box *p = atomic_load_explicit(&e->p, memory_order_acquire);
    if (!p || p == EXPUNGED)
        return 0;
    *value = p->value;
    return 1;
}

/* entry.delete: returns the removed box, or NULL if already deleted. */
static struct box *delete_entry(struct entry *e)
{
    struct box *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    for (;;) {
        if (!p || p == EXPUNGED)
            return NULL;
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, NULL, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return p;
    }
}

/* ---- under mu ---- */

static struct read_only *read_locked(struct syncmap *m)
{
    /* Only mu holders store read, so relaxed suffices under mu. */
    return atomic_load_explicit(&m->read, memory_order_relaxed);
}

static void publish(struct syncmap *m, struct thread_rec *rec, gomap *map, int amended,
                    enum retired_kind old_kind)
{
    struct read_only *old = read_locked(m);
    struct read_only *ro = xmalloc(sizeof *ro);
    ro->m = map;
    ro->amended = amended;
    account(rec, sizeof *ro);
    /* Release: the map's contents and ro's fields before the pointer; pairs
     * with the acquire load at the start of every operation. */
    atomic_store_explicit(&m->read, ro, memory_order_release);
    retire(m, rec, &old->r, old_kind);
}

static void dirty_put(struct syncmap *m, struct thread_rec *rec, uint64_t key, struct entry *e)
{
    uint64_t before = gomap_bytes(m->dirty);
    gomap_put(m->dirty, key, (uint64_t)(uintptr_t)e);
    account(rec, (int64_t)(gomap_bytes(m->dirty) - before));
}

/* Dirty becomes read; read's old map and the entries expunged from it are
 * reachable from nowhere new, so they are retired. */
static void promote_locked(struct syncmap *m, struct thread_rec *rec)
{
    publish(m, rec, m->dirty, 0, RETIRED_READ_ONLY_AND_MAP);
    struct retired *r = m->expunged_pending;
    while (r) {
        struct retired *next = r->next;
        struct entry *e = (struct entry *)r;
        /* An entry revived since (unexpunged) is in dirty, now read. */
        if (atomic_load_explicit(&e->p, memory_order_relaxed) == EXPUNGED)
            retire(m, rec, r, RETIRED_ENTRY);
        r = next;
    }
    m->expunged_pending = NULL;
    m->dirty = NULL;
    m->misses = 0;
    m->promotions++;
}

static void miss_locked(struct syncmap *m, struct thread_rec *rec)
{
    m->misses++;
    if (m->misses < gomap_len(m->dirty))
        return;
    promote_locked(m, rec);
}

/* tryExpungeLocked: a deleted (nil) entry becomes expunged and is left out
 * of the new dirty map. An entry of read is never already expunged here:
 * read was dirty when published, and nothing expunges an entry of dirty. */
static int try_expunge_locked(struct entry *e)
{
    struct box *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    while (!p) {
        if (atomic_compare_exchange_weak_explicit(&e->p, &p, EXPUNGED, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 1;
    }
    return p == EXPUNGED;
}

static int copy_into_dirty(uint64_t key, uint64_t value, void *arg)
{
    struct syncmap *m = arg;
    struct entry *e = (struct entry *)(uintptr_t)value;
    if (try_expunge_locked(e)) {
        e->r.next = m->expunged_pending;
        m->expunged_pending = &e->r;
    } else {
        gomap_put(m->dirty, key, value);
    }
    return 0;
}

/* dirtyLocked: the O(n) copy. */
static void dirty_locked(struct syncmap *m, struct thread_rec *rec)
{
    if (m->dirty)
        return;
    const gomap *read = read_locked(m)->m;
    m->dirty = gomap_new(gomap_len(read), gomap_seed());
    int stopped;
    gomap_iterate(read, copy_into_dirty, m, &stopped);
    account(rec, (int64_t)gomap_bytes(m->dirty));
    m->dirty_rebuilds++;
}

/* ---- the engine ---- */

static uint64_t next_map_id(void)
{
    static _Atomic uint64_t next = 1;
    return atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
}

/* sync.Map has no capacity hint, so neither has this engine. */
static void *syncmap_create(uint64_t capacity_hint)
{
    (void)capacity_hint;
    struct syncmap *m = xmalloc(sizeof *m);
    memset(m, 0, sizeof *m);
    struct read_only *ro = xmalloc(sizeof *ro);
    ro->m = gomap_new(0, gomap_seed());
    ro->amended = 0;
    atomic_init(&m->read, ro);
    atomic_init(&m->epoch, 0);
    atomic_init(&m->recs, NULL);
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->reg_lock, NULL);
    m->id = next_map_id();
    m->base_bytes = sizeof *m + sizeof *ro + gomap_bytes(ro->m);
    return m;
}

static int free_entry_visit(uint64_t key, uint64_t value, void *arg)
{
    (void)key;
    (void)arg;
    struct entry *e = (struct entry *)(uintptr_t)value;
    struct box *p = atomic_load_explicit(&e->p, memory_order_relaxed);
    if (p != EXPUNGED)
        free(p);
    free(e);
    return 0;
}

static void syncmap_destroy(void *map)
{
    struct syncmap *m = map;
    struct read_only *ro = atomic_load_explicit(&m->read, memory_order_relaxed);
    int stopped;
    /* Every live entry is in dirty when there is one (read's others are on
     * the expunged list), else in read. */
    if (m->dirty) {
        gomap_iterate(m->dirty, free_entry_visit, NULL, &stopped);
        for (struct retired *r = m->expunged_pending, *next; r; r = next) {
            next = r->next;
            struct entry *e = (struct entry *)r;
            if (atomic_load_explicit(&e->p, memory_order_relaxed) == EXPUNGED)
                free(e);
        }
        gomap_free(m->dirty);
    } else {
        gomap_iterate(ro->m, free_entry_visit, NULL, &stopped);
    }
    gomap_free(ro->m);
    free(ro);
    struct thread_rec *rec = atomic_load_explicit(&m->recs, memory_order_relaxed);
    while (rec) {
        struct thread_rec *next = rec->next;
        free_retired(rec, rec->bag);
        for (unsigned i = 0; i < 3; i++)
            free_retired(rec, rec->limbo[i]);
        free(rec);
        rec = next;
    }
    if (cached.map_id == m->id)
        cached.map_id = 0;
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->reg_lock);
    free(m);
}

static void syncmap_thread_attach(void *map)
{
    thread_rec_of(map);
}

static void syncmap_thread_detach(void *map)
{
    struct syncmap *m = map;
    if (cached.map_id != m->id)
        return;
    pthread_mutex_lock(&m->reg_lock);
    cached.rec->in_use = 0;
    pthread_mutex_unlock(&m->reg_lock);
    cached.map_id = 0;
}

/* Load */
static int syncmap_get(void *map, uint64_t key, uint64_t *value)
{
    struct syncmap *m = map;
    struct thread_rec *rec = thread_rec_of(m);
    pin(m, rec);
    /* Acquire pairs with publish(). */
    struct read_only *ro = atomic_load_explicit(&m->read, memory_order_acquire);
    struct entry *e = lookup(ro->m, key);
    if (!e && ro->amended) {
        pthread_mutex_lock(&m->mu);
        /* Re-check: a promotion may have happened while we waited. */
        ro = read_locked(m);
        e = lookup(ro->m, key);
        if (!e && ro->amended) {
            e = lookup(m->dirty, key);
            miss_locked(m, rec);
        }
        pthread_mutex_unlock(&m->mu);
    }
    int found = e ? load_entry(e, value) : 0;
    unpin(rec);
    return found;
}

/* Store (Swap, whose result Store ignores) */
static int syncmap_put(void *map, uint64_t key, uint64_t value)
{
    struct syncmap *m = map;
    struct thread_rec *rec = thread_rec_of(m);
    pin(m, rec);
    struct box *b = new_box(rec, value);
    struct box *old = NULL;
    struct read_only *ro = atomic_load_explicit(&m->read, memory_order_acquire);
    struct entry *e = lookup(ro->m, key);
    if (!e || !try_swap(e, b, &old)) {
        pthread_mutex_lock(&m->mu);
        ro = read_locked(m);
        if ((e = lookup(ro->m, key))) {
            /* unexpungeLocked: an expunged key must be in dirty before it
             * holds a value again, or the next promotion would lose it. */
            struct box *exp = EXPUNGED;
            if (atomic_compare_exchange_strong_explicit(&e->p, &exp, NULL,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed))
                dirty_put(m, rec, key, e);
            old = atomic_exchange_explicit(&e->p, b, memory_order_acq_rel);
        } else if (m->dirty && (e = lookup(m->dirty, key))) {
            old = atomic_exchange_explicit(&e->p, b, memory_order_acq_rel);
        } else {
            if (!ro->amended) {
                /* First new key since the last promotion. */
                dirty_locked(m, rec);
                publish(m, rec, ro->m, 1, RETIRED_READ_ONLY);
            }
            dirty_put(m, rec, key, new_entry(rec, b));
        }
        pthread_mutex_unlock(&m->mu);
    }
    if (old)
        retire(m, rec, &old->r, RETIRED_BOX);
    unpin(rec);
    return 0;
}

/* LoadAndDelete (Delete is the same) */
static int syncmap_del(void *map, uint64_t key)
{
    struct syncmap *m = map;
    struct thread_rec *rec = thread_rec_of(m);
    pin(m, rec);
    struct read_only *ro = atomic_load_explicit(&m->read, memory_order_acquire);
    struct entry *e = lookup(ro->m, key);
    struct entry *dropped = NULL;
    if (!e && ro->amended) {
        pthread_mutex_lock(&m->mu);
        ro = read_locked(m);
        e = lookup(ro->m, key);
        if (!e && ro->amended) {
            e = lookup(m->dirty, key);
            if (e) {
                /* Only in dirty, so no read map holds it: nothing can reach
                 * it once it leaves dirty and our pin ends. */
                uint64_t before = gomap_bytes(m->dirty);
                gomap_del(m->dirty, key);
                account(rec, (int64_t)(gomap_bytes(m->dirty) - before));
                dropped = e;
            }
            miss_locked(m, rec);
        }
        pthread_mutex_unlock(&m->mu);
    }
    struct box *old = e ? delete_entry(e) : NULL;
    if (old)
        retire(m, rec, &old->r, RETIRED_BOX);
    if (dropped)
        retire(m, rec, &dropped->r, RETIRED_ENTRY);
    unpin(rec);
    return old != NULL;
}

struct range_ctx {
    lab_visit_fn visit;
    void *ctx;
    long visited;
};

static int range_visit(uint64_t key, uint64_t value, void *arg)
{
    struct range_ctx *c = arg;
    uint64_t v;
    if (!load_entry((struct entry *)(uintptr_t)value, &v))
        return 0;
    c->visited++;
    return c->visit(key, v, c->ctx);
}

/* Range: promote an amended dirty map so the walk sees every key, then walk
 * the read map without mu; values are read entry by entry, so this is no
 * snapshot (as in Go). */
static long syncmap_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    struct syncmap *m = map;
    struct thread_rec *rec = thread_rec_of(m);
    pin(m, rec);
    struct read_only *ro = atomic_load_explicit(&m->read, memory_order_acquire);
    if (ro->amended) {
        pthread_mutex_lock(&m->mu);
        ro = read_locked(m);
        if (ro->amended) {
            promote_locked(m, rec);
            ro = read_locked(m);
        }
        pthread_mutex_unlock(&m->mu);
    }
    struct range_ctx c = { visit, ctx, 0 };
    int stopped;
    gomap_iterate(ro->m, range_visit, &c, &stopped);
    unpin(rec);
    return c.visited;
}

static uint64_t syncmap_bytes(void *map)
{
    struct syncmap *m = map;
    int64_t total = (int64_t)m->base_bytes;
    struct thread_rec *r = atomic_load_explicit(&m->recs, memory_order_acquire);
    for (; r; r = r->next)
        total += atomic_load_explicit(&r->bytes, memory_order_relaxed) + (int64_t)sizeof *r;
    return total > 0 ? (uint64_t)total : 0;
}

void syncmap_debug(void *map, syncmap_debug_info *out)
{
    struct syncmap *m = map;
    pthread_mutex_lock(&m->mu);
    struct read_only *ro = read_locked(m);
    out->promotions = m->promotions;
    out->dirty_rebuilds = m->dirty_rebuilds;
    out->read_len = gomap_len(ro->m);
    out->dirty_len = m->dirty ? gomap_len(m->dirty) : 0;
    out->has_dirty = m->dirty != NULL;
    out->amended = ro->amended;
    out->misses = m->misses;
    pthread_mutex_unlock(&m->mu);
}

const lab_engine lab_engine_syncmap = {
    .name = "syncmap",
    .description = "Go's sync.Map before go1.24: read map, dirty map under a mutex, O(n) rebuild",
    .create = syncmap_create,
    .destroy = syncmap_destroy,
    .thread_attach = syncmap_thread_attach,
    .thread_detach = syncmap_thread_detach,
    .get = syncmap_get,
    .put = syncmap_put,
    .del = syncmap_del,
    .iterate = syncmap_iterate,
    /* sync.Map has no Len; counting would take a Range. */
    .size = NULL,
    .bytes = syncmap_bytes,
    .set_event_hook = NULL,
};
