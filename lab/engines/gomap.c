/*
 * gomap.c — Go's classic map (runtime/map.go, go1.19 to go1.23) in C, and
 * the lab engine "gomap": one such map behind a reader-writer lock, the way
 * Go services share a map[uint64]uint64 with a sync.RWMutex.
 *
 * What is modelled, in Go's own terms (hmap, bmap, hashGrow, evacuate):
 *
 *  - hmap holds count, B (2^B buckets), noverflow, the seed hash0, buckets,
 *    oldbuckets and nevacuate. A bucket (bmap) holds 8 tophash bytes, then
 *    8 keys, then 8 values, then an overflow pointer: 144 bytes for 8-byte
 *    keys and values.
 *  - tophash is the hash's top byte, raised by minTopHash (5) when smaller,
 *    so that 0..4 can mark slot states: emptyRest (0: this slot and all
 *    after it in the chain are empty), emptyOne (1), evacuatedX (2),
 *    evacuatedY (3) and evacuatedEmpty (4). A bucket is evacuated when its
 *    first tophash is one of 2..4.
 *  - Load factor 6.5: a write that would make count exceed 6.5 * 2^B (and 8)
 *    starts a grow. map.go picks 6.5 from its measured table (about 21 %
 *    overflow buckets, 10.8 bytes per entry).
 *  - hashGrow allocates the whole new, zeroed bucket array at once, moves
 *    buckets to oldbuckets and returns; nothing is copied yet. This is the
 *    latency step the lab shows: one unlucky writer pays for allocating and
 *    zeroing 2^(B+1) * 144 bytes while holding the map (and its lock).
 *  - Evacuation is incremental (growWork): every write or delete during a
 *    grow first evacuates the old bucket its key maps to, then the one at
 *    nevacuate. advanceEvacuationMark moves nevacuate past already
 *    evacuated buckets (at most 1024 per call) and ends the grow when it
 *    reaches the old bucket count.
 *  - A doubling grow splits each old bucket into X (same index) and Y
 *    (index + old count) by the hash bit the new B adds. A same-size grow,
 *    started when there are about as many overflow buckets as buckets
 *    (tooManyOverflowBuckets), rewrites every chain compactly in place of
 *    the old array. A Go map never shrinks.
 *  - Lookups during a grow read the old bucket if it is not evacuated yet.
 *  - Deletes mark the slot emptyOne, then turn a trailing run of emptyOne
 *    into emptyRest so that later lookups stop early; when the map becomes
 *    empty the seed is re-drawn.
 *  - Overflow buckets: an array of 2^B buckets with B >= 4 comes with
 *    2^(B-4) spare overflow buckets after it (makeBucketArray); more are
 *    allocated one by one. noverflow is exact below B = 16 and sampled above
 *    (incrnoverflow), so that it fits Go's uint16.
 *
 * Where this differs from Go, and why:
 *  - Hash: gomap_hash, a seeded mixer, instead of the runtime's memhash64
 *    (AES-based where available). Both spread keys uniformly, which is all
 *    the bucket statistics depend on.
 *  - Iteration starts at bucket 0, slot 0; Go randomises both. The engine
 *    holds the map's read lock for the whole walk, so Go's handling of
 *    writes during iteration (the iterator/oldIterator flags) is not needed.
 *  - Zeroing: hashGrow's new array is malloc'd and memset here. Go's
 *    mallocgc also hands out zeroed memory, clearing reused heap spans as it
 *    allocates; calloc would instead get fresh pages from mmap and spread the
 *    cost over page faults during evacuation, hiding the step Go has.
 *  - Freeing: Go's garbage collector frees the old array and its overflow
 *    buckets off the writer's path. Here a background thread (the
 *    "reclaimer" below) frees them, so the writer that finishes a grow does
 *    not pay for a large munmap that a Go writer never pays for.
 *  - Out of memory aborts, as the Go runtime throws.
 *  - There is no concurrent-write detection (hashWriting): the engines lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread types under -std=c11 */
#endif

#include "gomap.h"
#include "rwmutex.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    BUCKET_BITS = 3,
    BUCKET_SLOTS = 1 << BUCKET_BITS,
    /* Load factor 13/2 = 6.5 entries per bucket, kept as a fraction. */
    LOAD_NUM = 13,
    LOAD_DEN = 2
};

/* The slot states below MIN_TOPHASH (see the top of this file). */
enum {
    EMPTY_REST = 0,
    EMPTY_ONE = 1,
    EVACUATED_X = 2,
    EVACUATED_Y = 3,
    EVACUATED_EMPTY = 4,
    MIN_TOPHASH = 5
};

struct bucket {
    uint8_t tophash[BUCKET_SLOTS];
    uint64_t keys[BUCKET_SLOTS];
    uint64_t values[BUCKET_SLOTS];
    struct bucket *overflow;
};

static_assert(sizeof(struct bucket) == 144,
              "Go's bmap for 8-byte keys and values is 8 + 64 + 64 + 8 bytes");

/* The overflow buckets allocated one by one for one bucket array
 * (Go keeps them in hmap.extra.overflow / oldoverflow). */
struct overflow_list {
    struct bucket **v;
    size_t n, cap;
};

struct gomap {
    uint64_t count;
    unsigned B;
    int same_size;              /* Go's sameSizeGrow flag */
    uint64_t noverflow;         /* approximate overflow buckets (uint16 in Go) */
    uint64_t hash0;
    struct bucket *buckets;
    struct bucket *oldbuckets;
    uint64_t nevacuate;

    /* hmap.extra */
    struct overflow_list overflow, oldoverflow;
    struct bucket *next_overflow, *end_overflow;  /* unused spares */

    uint64_t rng;               /* Go uses fastrand; a per-map stream here */
    uint64_t bytes;
    size_t array_bytes, old_array_bytes;  /* of buckets, oldbuckets */
    uint64_t grows, same_size_grows;
    lab_event_fn hook;
    void *hook_ctx;
};

void *go_alloc(const char *who, size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "%s: out of memory (the Go runtime throws here too)\n", who);
        abort();
    }
    return p;
}

static void *xmalloc(size_t n)
{
    return go_alloc("gomap", n);
}

uint64_t gomap_hash(uint64_t key, uint64_t seed)
{
    /* xor the seed, then a multiply-xorshift finaliser: a bijection for
     * each seed, with every output bit depending on every input bit. */
    uint64_t x = key ^ seed;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93u;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93u;
    x ^= x >> 32;
    return x;
}

static uint64_t splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t gomap_seed(void)
{
    static _Atomic uint64_t next = 1;
    uint64_t s = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
    return splitmix(&s);
}

/* ---- the reclaimer: frees retired bucket arrays off the writer's path ---- */

/* Written over the first bucket of a retired array (always >= 144 bytes). */
struct retired_array {
    struct retired_array *next;
    struct overflow_list overflow;
};

static pthread_mutex_t reclaim_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reclaim_cond = PTHREAD_COND_INITIALIZER;
static struct retired_array *reclaim_queue;
static pthread_once_t reclaim_once = PTHREAD_ONCE_INIT;
static int reclaim_running;

static void free_array(struct retired_array *r)
{
    for (size_t i = 0; i < r->overflow.n; i++)
        free(r->overflow.v[i]);
    free(r->overflow.v);
    free(r);
}

static void *reclaimer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&reclaim_lock);
    for (;;) {
        while (!reclaim_queue)
            pthread_cond_wait(&reclaim_cond, &reclaim_lock);
        struct retired_array *r = reclaim_queue;
        reclaim_queue = NULL;
        pthread_mutex_unlock(&reclaim_lock);
        while (r) {
            struct retired_array *next = r->next;
            free_array(r);
            r = next;
        }
        pthread_mutex_lock(&reclaim_lock);
    }
    return NULL;
}

static void start_reclaimer(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, reclaimer, NULL) == 0) {
        pthread_detach(t);
        reclaim_running = 1;
    }
}

/* Hands an array and its overflow buckets to the reclaimer (or frees them
 * right here if no thread could be started). */
static void retire_array(struct bucket *array, struct overflow_list *ovf)
{
    if (!array)
        return;
    struct retired_array *r = (struct retired_array *)(void *)array;
    r->overflow = *ovf;
    memset(ovf, 0, sizeof *ovf);
    pthread_once(&reclaim_once, start_reclaimer);
    if (!reclaim_running) {
        free_array(r);
        return;
    }
    pthread_mutex_lock(&reclaim_lock);
    r->next = reclaim_queue;
    reclaim_queue = r;
    pthread_cond_signal(&reclaim_cond);
    pthread_mutex_unlock(&reclaim_lock);
}

/* ---- hmap helpers ---- */

static uint64_t bucket_shift(unsigned b) { return (uint64_t)1 << b; }
static uint64_t bucket_mask(unsigned b) { return bucket_shift(b) - 1; }

static uint8_t tophash(uint64_t hash)
{
    uint8_t top = (uint8_t)(hash >> 56);
    return top < MIN_TOPHASH ? (uint8_t)(top + MIN_TOPHASH) : top;
}

static int is_empty(uint8_t top) { return top <= EMPTY_ONE; }

static int evacuated(const struct bucket *b)
{
    uint8_t h = b->tophash[0];
    return h > EMPTY_ONE && h < MIN_TOPHASH;
}

static int over_load_factor(uint64_t count, unsigned b)
{
    return count > BUCKET_SLOTS && count > LOAD_NUM * (bucket_shift(b) / LOAD_DEN);
}

/* Go: "too many" is about as many overflow buckets as buckets, with the
 * comparison capped at 2^15 because noverflow is a uint16. */
static int too_many_overflow(uint64_t noverflow, unsigned b)
{
    if (b > 15)
        b = 15;
    return noverflow >= bucket_shift(b);
}

static int growing(const gomap *m) { return m->oldbuckets != NULL; }

static uint64_t old_bucket_count(const gomap *m)
{
    return m->same_size ? bucket_shift(m->B) : bucket_shift(m->B - 1);
}

/* makeBucketArray: 2^b buckets, plus 2^(b-4) spare overflow buckets when
 * b >= 4 (Go's estimate of how many the array will need), all zeroed now. */
static struct bucket *make_bucket_array(gomap *m, unsigned b)
{
    uint64_t n = bucket_shift(b);
    uint64_t spare = b >= 4 ? bucket_shift(b - 4) : 0;
    size_t size = (size_t)(n + spare) * sizeof(struct bucket);
    struct bucket *a = xmalloc(size);
    memset(a, 0, size);
    m->bytes += size;
    m->array_bytes = size;
    m->next_overflow = spare ? a + n : NULL;
    m->end_overflow = spare ? a + n + spare : NULL;
    return a;
}

static void add_overflow(gomap *m, struct bucket *ovf)
{
    struct overflow_list *l = &m->overflow;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct bucket **v = go_alloc("gomap", cap * sizeof *v);
        if (l->n)
            memcpy(v, l->v, l->n * sizeof *v);
        free(l->v);
        m->bytes += (cap - l->cap) * sizeof *v;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ovf;
}

static uint64_t list_bytes(const struct overflow_list *l)
{
    return l->n * sizeof(struct bucket) + l->cap * sizeof(struct bucket *);
}

/* incrnoverflow: exact while the count can reach 2^B within a uint16,
 * otherwise counted with probability 1 / 2^(B-15). */
static void incr_noverflow(gomap *m)
{
    if (m->B < 16) {
        m->noverflow++;
        return;
    }
    uint64_t mask = bucket_shift(m->B - 15) - 1;
    if ((splitmix(&m->rng) & mask) == 0)
        m->noverflow++;
}

/* newoverflow: a spare from the array if one is left, else a new one. */
static struct bucket *new_overflow(gomap *m, struct bucket *b)
{
    struct bucket *ovf;
    if (m->next_overflow) {
        ovf = m->next_overflow++;
        if (m->next_overflow == m->end_overflow)
            m->next_overflow = m->end_overflow = NULL;
    } else {
        ovf = xmalloc(sizeof *ovf);
        memset(ovf, 0, sizeof *ovf);
        add_overflow(m, ovf);
        m->bytes += sizeof *ovf;
    }
    incr_noverflow(m);
    b->overflow = ovf;
    return ovf;
}

static void emit(const gomap *m, lab_event_kind kind, uint64_t old_n, uint64_t new_n)
{
    if (m->hook)
        m->hook(kind, old_n, new_n, m->hook_ctx);
}

/* hashGrow: double unless the trigger was overflow buckets alone. */
static void hash_grow(gomap *m)
{
    unsigned bigger = 1;
    if (!over_load_factor(m->count + 1, m->B)) {
        bigger = 0;
        m->same_size = 1;
        m->same_size_grows++;
    } else {
        m->grows++;
    }
    uint64_t old_n = bucket_shift(m->B);
    m->oldbuckets = m->buckets;
    m->oldoverflow = m->overflow;
    m->old_array_bytes = m->array_bytes;
    memset(&m->overflow, 0, sizeof m->overflow);
    m->buckets = make_bucket_array(m, m->B + bigger);
    m->B += bigger;
    m->nevacuate = 0;
    m->noverflow = 0;
    emit(m, LAB_EVENT_RESIZE_START, old_n, bucket_shift(m->B));
}

static void advance_evacuation_mark(gomap *m, uint64_t newbit)
{
    m->nevacuate++;
    /* Bounded so one write never scans the whole old array. */
    uint64_t stop = m->nevacuate + 1024;
    if (stop > newbit)
        stop = newbit;
    while (m->nevacuate != stop && evacuated(&m->oldbuckets[m->nevacuate]))
        m->nevacuate++;
    if (m->nevacuate == newbit) {
        m->bytes -= m->old_array_bytes + list_bytes(&m->oldoverflow);
        retire_array(m->oldbuckets, &m->oldoverflow);
        m->oldbuckets = NULL;
        m->same_size = 0;
        emit(m, LAB_EVENT_RESIZE_FINISH, newbit, bucket_shift(m->B));
    }
}

struct evac_dst {
    struct bucket *b;
    int i;
};

/* evacuate: move one old bucket chain into X (and Y when doubling), leaving
 * evacuated marks behind so lookups and iteration skip the old copy. */
static void evacuate(gomap *m, uint64_t oldbucket)
{
    struct bucket *b = &m->oldbuckets[oldbucket];
    uint64_t newbit = old_bucket_count(m);
    if (!evacuated(b)) {
        struct evac_dst xy[2] = { { &m->buckets[oldbucket], 0 }, { NULL, 0 } };
        if (!m->same_size)
            xy[1].b = &m->buckets[oldbucket + newbit];
        for (; b; b = b->overflow) {
            for (int i = 0; i < BUCKET_SLOTS; i++) {
                uint8_t top = b->tophash[i];
                if (is_empty(top)) {
                    b->tophash[i] = EVACUATED_EMPTY;
                    continue;
                }
                int use_y = 0;
                if (!m->same_size)
                    use_y = (gomap_hash(b->keys[i], m->hash0) & newbit) != 0;
                b->tophash[i] = (uint8_t)(EVACUATED_X + use_y);
                struct evac_dst *d = &xy[use_y];
                if (d->i == BUCKET_SLOTS) {
                    d->b = new_overflow(m, d->b);
                    d->i = 0;
                }
                d->b->tophash[d->i] = top;
                d->b->keys[d->i] = b->keys[i];
                d->b->values[d->i] = b->values[i];
                d->i++;
            }
        }
    }
    if (oldbucket == m->nevacuate)
        advance_evacuation_mark(m, newbit);
}

/* growWork: the bucket this write is about to use, plus one more so the
 * grow ends even if writes keep hitting evacuated buckets. */
static void grow_work(gomap *m, uint64_t bucket)
{
    evacuate(m, bucket & (old_bucket_count(m) - 1));
    if (growing(m))
        evacuate(m, m->nevacuate);
}

/* ---- the map's operations ---- */

gomap *gomap_new(uint64_t hint, uint64_t seed)
{
    gomap *m = xmalloc(sizeof *m);
    memset(m, 0, sizeof *m);
    m->hash0 = seed;
    m->rng = seed ^ 0x5851f42d4c957f2du;
    m->bytes = sizeof *m;
    unsigned b = 0;
    while (over_load_factor(hint, b))
        b++;
    m->B = b;
    if (b != 0)
        m->buckets = make_bucket_array(m, b);
    return m;
}

void gomap_free(gomap *m)
{
    if (!m)
        return;
    retire_array(m->oldbuckets, &m->oldoverflow);
    retire_array(m->buckets, &m->overflow);
    free(m);
}

int gomap_get(const gomap *m, uint64_t key, uint64_t *value)
{
    if (m->count == 0)
        return 0;
    uint64_t hash = gomap_hash(key, m->hash0);
    uint64_t mask = bucket_mask(m->B);
    const struct bucket *b = &m->buckets[hash & mask];
    if (m->oldbuckets) {
        if (!m->same_size)
            mask >>= 1;
        const struct bucket *oldb = &m->oldbuckets[hash & mask];
        if (!evacuated(oldb))
            b = oldb;
    }
    uint8_t top = tophash(hash);
    for (; b; b = b->overflow) {
        for (int i = 0; i < BUCKET_SLOTS; i++) {
            if (b->tophash[i] != top) {
                if (b->tophash[i] == EMPTY_REST)
                    return 0;
                continue;
            }
            if (b->keys[i] == key) {
                *value = b->values[i];
                return 1;
            }
        }
    }
    return 0;
}

int gomap_put(gomap *m, uint64_t key, uint64_t value)
{
    uint64_t hash = gomap_hash(key, m->hash0);
    if (!m->buckets)
        m->buckets = make_bucket_array(m, 0);
    for (;;) {
        uint64_t bucket = hash & bucket_mask(m->B);
        if (growing(m))
            grow_work(m, bucket);
        struct bucket *b = &m->buckets[bucket];
        uint8_t top = tophash(hash);
        struct bucket *insb = NULL;
        int insi = 0;
        for (;;) {
            int rest_empty = 0;
            for (int i = 0; i < BUCKET_SLOTS; i++) {
                if (b->tophash[i] != top) {
                    if (is_empty(b->tophash[i]) && !insb) {
                        insb = b;
                        insi = i;
                    }
                    if (b->tophash[i] == EMPTY_REST) {
                        rest_empty = 1;
                        break;
                    }
                    continue;
                }
                if (b->keys[i] != key)
                    continue;
                b->values[i] = value;
                return 0;
            }
            if (rest_empty || !b->overflow)
                break;
            b = b->overflow;
        }
        /* Not present. Start a grow if this insert would overload the map
         * or overflow buckets have piled up, then redo the search: the
         * table the key belongs in has changed. */
        if (!growing(m) && (over_load_factor(m->count + 1, m->B) ||
                            too_many_overflow(m->noverflow, m->B))) {
            hash_grow(m);
            continue;
        }
        if (!insb) {
            insb = new_overflow(m, b);
            insi = 0;
        }
        insb->tophash[insi] = top;
        insb->keys[insi] = key;
        insb->values[insi] = value;
        m->count++;
        return 1;
    }
}

int gomap_del(gomap *m, uint64_t key)
{
    if (m->count == 0)
        return 0;
    uint64_t hash = gomap_hash(key, m->hash0);
    uint64_t bucket = hash & bucket_mask(m->B);
    if (growing(m))
        grow_work(m, bucket);
    struct bucket *orig = &m->buckets[bucket];
    uint8_t top = tophash(hash);
    for (struct bucket *b = orig; b; b = b->overflow) {
        for (int i = 0; i < BUCKET_SLOTS; i++) {
            if (b->tophash[i] != top) {
                if (b->tophash[i] == EMPTY_REST)
                    return 0;
                continue;
            }
            if (b->keys[i] != key)
                continue;
            b->values[i] = 0;
            b->tophash[i] = EMPTY_ONE;
            /* If everything after this slot is empty, walk backwards turning
             * the run of emptyOne that ends here into emptyRest. */
            int rest_follows = i == BUCKET_SLOTS - 1
                                   ? !b->overflow || b->overflow->tophash[0] == EMPTY_REST
                                   : b->tophash[i + 1] == EMPTY_REST;
            while (rest_follows) {
                b->tophash[i] = EMPTY_REST;
                if (i == 0) {
                    if (b == orig)
                        break;
                    struct bucket *c = b;
                    for (b = orig; b->overflow != c; b = b->overflow)
                        ;
                    i = BUCKET_SLOTS - 1;
                } else {
                    i--;
                }
                rest_follows = b->tophash[i] == EMPTY_ONE;
            }
            m->count--;
            /* Go re-draws the seed of an emptied map so that an attacker
             * cannot keep replaying colliding keys against it. */
            if (m->count == 0)
                m->hash0 = splitmix(&m->rng);
            return 1;
        }
    }
    return 0;
}

uint64_t gomap_len(const gomap *m) { return m->count; }

uint64_t gomap_bytes(const gomap *m) { return m->bytes; }

/* Visits the live slots of one chain; with filter set, only keys that hash
 * to new bucket `want` (the part of an unevacuated old bucket that belongs
 * to the new bucket being walked). Returns -1 when visit asked to stop. */
static long walk_chain(const gomap *m, const struct bucket *b, int filter, uint64_t want,
                       lab_visit_fn visit, void *ctx, long *visited)
{
    for (; b; b = b->overflow) {
        for (int i = 0; i < BUCKET_SLOTS; i++) {
            uint8_t top = b->tophash[i];
            if (top < MIN_TOPHASH)
                continue;
            if (filter && (gomap_hash(b->keys[i], m->hash0) & bucket_mask(m->B)) != want)
                continue;
            ++*visited;
            if (visit(b->keys[i], b->values[i], ctx))
                return -1;
        }
    }
    return 0;
}

long gomap_iterate(const gomap *m, lab_visit_fn visit, void *ctx, int *stopped)
{
    long visited = 0;
    *stopped = 0;
    if (!m->buckets)
        return 0;
    /* Like mapiternext: walk the new array; where the matching old bucket
     * is not evacuated yet, read that instead, taking only the keys that
     * will land in the new bucket being walked. */
    for (uint64_t i = 0; i < bucket_shift(m->B); i++) {
        const struct bucket *b = &m->buckets[i];
        int filter = 0;
        if (m->oldbuckets) {
            const struct bucket *oldb = &m->oldbuckets[i & (old_bucket_count(m) - 1)];
            if (!evacuated(oldb)) {
                b = oldb;
                filter = !m->same_size;
            }
        }
        if (walk_chain(m, b, filter, i, visit, ctx, &visited) < 0) {
            *stopped = 1;
            break;
        }
    }
    return visited;
}

void gomap_set_event_hook(gomap *m, lab_event_fn fn, void *ctx)
{
    m->hook = fn;
    m->hook_ctx = ctx;
}

void gomap_debug(const gomap *m, gomap_debug_info *out)
{
    out->B = m->B;
    out->growing = growing(m);
    out->same_size = m->same_size;
    out->oldbuckets = m->oldbuckets;
    out->nevacuate = m->nevacuate;
    out->noldbuckets = growing(m) ? old_bucket_count(m) : 0;
    out->noverflow = m->noverflow;
    out->grows = m->grows;
    out->same_size_grows = m->same_size_grows;
    out->seed = m->hash0;
}

/* ---- the engine: one map, one sync.RWMutex (rwmutex.c) ---- */

struct locked_map {
    pthread_rwlock_t lock;
    gomap *m;
};

static void *gomap_create(uint64_t capacity_hint)
{
    struct locked_map *lm = malloc(sizeof *lm);
    if (!lm)
        return NULL;
    if (go_rwmutex_init(&lm->lock) != 0) {
        free(lm);
        return NULL;
    }
    lm->m = gomap_new(capacity_hint, gomap_seed());
    return lm;
}

static void gomap_destroy(void *map)
{
    struct locked_map *lm = map;
    gomap_free(lm->m);
    pthread_rwlock_destroy(&lm->lock);
    free(lm);
}

static int gomap_engine_get(void *map, uint64_t key, uint64_t *value)
{
    struct locked_map *lm = map;
    pthread_rwlock_rdlock(&lm->lock);
    int found = gomap_get(lm->m, key, value);
    pthread_rwlock_unlock(&lm->lock);
    return found;
}

static int gomap_engine_put(void *map, uint64_t key, uint64_t value)
{
    struct locked_map *lm = map;
    pthread_rwlock_wrlock(&lm->lock);
    gomap_put(lm->m, key, value);
    pthread_rwlock_unlock(&lm->lock);
    return 0;
}

static int gomap_engine_del(void *map, uint64_t key)
{
    struct locked_map *lm = map;
    pthread_rwlock_wrlock(&lm->lock);
    int removed = gomap_del(lm->m, key);
    pthread_rwlock_unlock(&lm->lock);
    return removed;
}

/* `mu.RLock(); for k, v := range m { ... }; mu.RUnlock()`: the read lock is
 * held for the whole walk, so writers (and, behind a waiting writer, all
 * readers) wait for it to end. */
static long gomap_engine_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    struct locked_map *lm = map;
    int stopped;
    pthread_rwlock_rdlock(&lm->lock);
    long n = gomap_iterate(lm->m, visit, ctx, &stopped);
    pthread_rwlock_unlock(&lm->lock);
    return n;
}

static uint64_t gomap_engine_size(void *map)
{
    struct locked_map *lm = map;
    pthread_rwlock_rdlock(&lm->lock);
    uint64_t n = gomap_len(lm->m);
    pthread_rwlock_unlock(&lm->lock);
    return n;
}

static uint64_t gomap_engine_bytes(void *map)
{
    struct locked_map *lm = map;
    pthread_rwlock_rdlock(&lm->lock);
    uint64_t n = gomap_bytes(lm->m) + sizeof *lm;
    pthread_rwlock_unlock(&lm->lock);
    return n;
}

static void gomap_engine_set_event_hook(void *map, lab_event_fn fn, void *ctx)
{
    struct locked_map *lm = map;
    pthread_rwlock_wrlock(&lm->lock);
    gomap_set_event_hook(lm->m, fn, ctx);
    pthread_rwlock_unlock(&lm->lock);
}

const lab_engine lab_engine_gomap = {
    .name = "gomap",
    .description = "Go's classic map (go1.19-1.23 runtime/map.go) behind one sync.RWMutex",
    .create = gomap_create,
    .destroy = gomap_destroy,
    .thread_attach = NULL,
    .thread_detach = NULL,
    .get = gomap_engine_get,
    .put = gomap_engine_put,
    .del = gomap_engine_del,
    .iterate = gomap_engine_iterate,
    .size = gomap_engine_size,
    .bytes = gomap_engine_bytes,
    .set_event_hook = gomap_engine_set_event_hook,
};
