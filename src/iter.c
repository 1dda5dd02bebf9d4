/*
 * iter.c — iteration that never blocks anyone and is never blocked.
 *
 * The cursor is a position in the 64-bit hash space, not a bucket index.
 * The home of a key is (hash * nbuckets) >> 64, which is monotonic in the
 * hash for every table size: the keys whose hash lies in [lo, hi) live in
 * the chains of the homes home(lo) .. home(hi - 1) of *any* table, old,
 * next, grown or shrunk. So one step of the iteration is:
 *
 *   1. enter the epoch, load the current root;
 *   2. let b be the home of the cursor there, and hi the first hash of
 *      b + SM_ITER_STEP_HOMES (or of the table's end);
 *   3. collect the keys with hash in [cursor, hi): from each home's chain if
 *      the home is not FROZEN, else recursively from the next table over the
 *      same part of the range;
 *      each home's chain is read as a validated snapshot, exactly as a get
 *      reads it (S2, I5);
 *   4. cursor = hi; leave the epoch; hand the collected entries out.
 *
 * Guarantees (tested under forced grows and shrinks):
 *   G1  A key present during the whole iteration, and neither deleted nor
 *       re-inserted during it, is returned exactly once: its hash falls in
 *       exactly one step's range, and that step's snapshot of its home holds
 *       it wherever I6 says it lives at that moment.
 *   G2  No key is returned twice: the steps' hash ranges are disjoint.
 *   G3  A returned value was the key's value at some moment during the
 *       iteration (the moment of the snapshot).
 *   G4  A key inserted or deleted during the iteration may or may not be
 *       returned.
 *
 * A map with a free_value callback gets each value read again when
 * sm_iter_next hands it out (a lookup per entry), because values collected in
 * an earlier call are no longer protected by then (steadymap.h, R1).
 *
 * String keys are copied into the iterator's own buffer during the step, while
 * the epoch still keeps the map's copies alive; sm_iter_next_str hands out
 * pointers into that buffer.
 *
 * No epoch, lock or table pointer is held between calls to sm_iter_next: a
 * slow iterator holds back neither writers nor memory reclamation, and it
 * sees a resize that happens between two calls as if it had always been so.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "map_internal.h"

struct sm_iter {
    sm_map *map;
    unsigned __int128 cursor;  /* next hash to visit; 2^64 = done */
    uint64_t *pairs;           /* collected (key, value) pairs of one step;
                                  string keys: (offset in keybuf, value) */
    size_t npairs;
    size_t next_pair;
    size_t capacity;           /* pairs the buffer holds */
    unsigned char *keybuf;     /* string keys of one step: length, then bytes */
    size_t keybuf_used;
    size_t keybuf_cap;
};

#define HASH_END ((unsigned __int128)1 << 64)

static int reserve_pairs(sm_iter *it, size_t want)
{
    if (want <= it->capacity)
        return 1;
    size_t cap = it->capacity ? it->capacity * 2 : 64;
    while (cap < want)
        cap *= 2;
    uint64_t *p = smi_alloc_zeroed(cap * 2 * sizeof *p);
    if (!p)
        return 0;
    for (size_t i = 0; i < it->npairs * 2; i++)
        p[i] = it->pairs[i];
    smi_free(it->pairs, it->capacity * 2 * sizeof *p);
    it->pairs = p;
    it->capacity = cap;
    return 1;
}

static int reserve_keybuf(sm_iter *it, size_t more)
{
    if (it->keybuf_used + more <= it->keybuf_cap)
        return 1;
    size_t cap = it->keybuf_cap ? it->keybuf_cap * 2 : 4096;
    while (cap < it->keybuf_used + more)
        cap *= 2;
    unsigned char *p = smi_alloc_zeroed(cap);
    if (!p)
        return 0;
    if (it->keybuf_used)
        memcpy(p, it->keybuf, it->keybuf_used);
    smi_free(it->keybuf, it->keybuf_cap);
    it->keybuf = p;
    it->keybuf_cap = cap;
    return 1;
}

/* Append a copy of a string key; returns its offset, or SIZE_MAX when out
 * of memory. The map's copy is alive: we are inside the epoch section. */
static size_t save_key(sm_iter *it, uint64_t key_word)
{
    const smi_skey *k = skey_of(key_word);
    size_t len = k->len;
    if (!reserve_keybuf(it, sizeof len + len))
        return SIZE_MAX;
    size_t at = it->keybuf_used;
    memcpy(it->keybuf + at, &len, sizeof len);
    if (len)
        memcpy(it->keybuf + at + sizeof len, k->bytes, len);
    it->keybuf_used += sizeof len + len;
    return at;
}

enum { SNAP_OK, SNAP_FROZEN, SNAP_RETRY, SNAP_NOMEM };

/*
 * Append the keys of home b of table t whose hash is in [lo, hi), as one
 * validated snapshot. On SNAP_RETRY nothing was appended.
 */
static int snapshot_home(sm_iter *it, sm_table *t, uint64_t b, unsigned __int128 lo,
                         unsigned __int128 hi)
{
    sm_map *m = it->map;
    sm_bucket *home = &t->buckets[b];
    size_t mark = it->npairs;
    size_t key_mark = it->keybuf_used;
    /* Acquire: as in lookup (map.c). */
    uint64_t first = u64_load_acquire(&home->meta);
    if (first & META_FROZEN)
        return SNAP_FROZEN;
    uint64_t c = b;
    uint64_t meta = first;
    for (uint64_t probe = 0; probe < t->nbuckets; probe++, c = next_bucket(t, c)) {
        sm_bucket *bk = &t->buckets[c];
        if (probe > 0)
            meta = u64_load_acquire(&bk->meta);
        for (unsigned i = 0; i < SM_SLOTS; i++) {
            if (meta_tag(meta, i) < 2)
                continue;
            /* Acquire: S1 for the value, S2 for the re-read below. */
            uint64_t k = u64_load_acquire(&bk->slot[i].key);
            uint64_t v = u64_load_acquire(&bk->slot[i].value);
            uint64_t h = smi_slot_hash(m, k);
            if (home_of_hash(t, h) != b || h < lo || h >= hi)
                continue;
            uint64_t saved = k;
            if (!reserve_pairs(it, it->npairs + 1) ||
                (m->string_keys && (saved = save_key(it, k)) == SIZE_MAX)) {
                it->npairs = mark;
                it->keybuf_used = key_mark;
                return SNAP_NOMEM;
            }
            it->pairs[2 * it->npairs] = saved;
            it->pairs[2 * it->npairs + 1] = v;
            it->npairs++;
        }
        if (!meta_same(u64_load_relaxed(&bk->meta), meta)) {
            it->npairs = mark;
            it->keybuf_used = key_mark;
            return SNAP_RETRY;
        }
        if (!(meta & META_OVERFLOW))
            break;
    }
    /* I5: the home unchanged means no key of it came or went meanwhile. */
    if (!meta_same(u64_load_relaxed(&home->meta), first)) {
        it->npairs = mark;
        it->keybuf_used = key_mark;
        return SNAP_RETRY;
    }
    return SNAP_OK;
}

/* Collect every key with hash in [lo, hi) from table t (following FROZEN
 * homes into the next table). */
static int collect_range(sm_iter *it, sm_table *t, unsigned __int128 lo, unsigned __int128 hi)
{
    uint64_t nb = t->nbuckets;
    uint64_t first = home_of_hash(t, (uint64_t)lo);
    uint64_t last = home_of_hash(t, (uint64_t)(hi - 1));
    for (uint64_t b = first; b <= last; b++) {
        unsigned __int128 blo = first_hash_of_bucket(b, nb), bhi = first_hash_of_bucket(b + 1, nb);
        if (blo < lo)
            blo = lo;
        if (bhi > hi)
            bhi = hi;
        for (;;) {
            int r = snapshot_home(it, t, b, blo, bhi);
            if (r == SNAP_OK)
                break;
            if (r == SNAP_NOMEM)
                return SM_ENOMEM;
            if (r == SNAP_FROZEN) {
                /* I6: this home's keys are in the next table (acquire pairs
                 * with its release publication). */
                sm_table *nt = atomic_load_explicit(&t->next, memory_order_acquire);
                int rc = collect_range(it, nt, blo, bhi);
                if (rc != SM_OK)
                    return rc;
                break;
            }
        }
    }
    return SM_OK;
}

sm_iter *sm_iter_new(sm_map *m)
{
    if (!m)
        return NULL;
    sm_iter *it = smi_alloc_zeroed(sizeof *it);
    if (!it)
        return NULL;
    it->map = m;
    return it;
}

/* Make the next entry available, collecting the next step's when the last
 * one is used up. Returns SM_OK, SM_NOT_FOUND (done) or SM_ENOMEM. */
static int refill(sm_iter *it)
{
    while (it->next_pair == it->npairs) {
        if (it->cursor >= HASH_END)
            return SM_NOT_FOUND;
        sm_thread *self = smi_epoch_enter();
        if (!self)
            return SM_ENOMEM;
        /* Acquire pairs with the root switch (I8). */
        sm_table *t = atomic_load_explicit(&it->map->root, memory_order_acquire);
        uint64_t b = home_of_hash(t, (uint64_t)it->cursor);
        uint64_t end = t->nbuckets - b > SM_ITER_STEP_HOMES ? b + SM_ITER_STEP_HOMES : t->nbuckets;
        unsigned __int128 hi = first_hash_of_bucket(end, t->nbuckets);
        it->npairs = 0;
        it->next_pair = 0;
        it->keybuf_used = 0;
        int rc = collect_range(it, t, it->cursor, hi);
        smi_epoch_exit(self);
        if (rc != SM_OK) {
            it->npairs = 0;
            return rc;  /* the cursor did not move: the call may be repeated */
        }
        it->cursor = hi;
    }
    return SM_OK;
}

/*
 * With a free_value callback, a value collected during an earlier call may
 * have been replaced and handed to free_value since: R1 protects a value only
 * from the call that returns it. So each one is read again here, inside this
 * call (and the caller's guard, if any), the way a get reads it. A key
 * deleted since its step is skipped (G4); the value returned is the key's
 * value at this moment (G3).
 */

/* A string key's record in the step's buffer: its length, then its bytes. */
static const unsigned char *saved_key(const sm_iter *it, uint64_t offset, size_t *len)
{
    const unsigned char *rec = it->keybuf + offset;
    memcpy(len, rec, sizeof *len);
    return rec + sizeof *len;
}

/* The next entry to hand out, for either key kind: its key word (a uint64
 * key, or the offset of a string key's record) and its value, read again
 * on maps with free_value. Returns SM_OK, or refill's or the get's error. */
static int take_pair(sm_iter *it, uint64_t *key_word, uint64_t *value)
{
    for (;;) {
        int rc = refill(it);
        if (rc != SM_OK)
            return rc;
        uint64_t k = it->pairs[2 * it->next_pair];
        uint64_t v = it->pairs[2 * it->next_pair + 1];
        if (it->map->free_value) {
            if (it->map->string_keys) {
                size_t n;
                const unsigned char *bytes = saved_key(it, k, &n);
                rc = sm_get_str(it->map, bytes, n, &v);
            } else {
                rc = sm_get(it->map, k, &v);
            }
            if (rc < 0)
                return rc;  /* SM_ENOMEM, the walk not advanced */
            if (rc == SM_NOT_FOUND) {
                it->next_pair++;
                continue;
            }
        }
        it->next_pair++;
        *key_word = k;
        *value = v;
        return SM_OK;
    }
}

int sm_iter_next(sm_iter *it, uint64_t *key, uint64_t *value)
{
    if (!it || it->map->string_keys)
        return SM_EINVAL;
    uint64_t k, v;
    int rc = take_pair(it, &k, &v);
    if (rc != SM_OK)
        return rc;
    if (key)
        *key = k;
    if (value)
        *value = v;
    return SM_OK;
}

int sm_iter_next_str(sm_iter *it, const void **key, size_t *len, uint64_t *value)
{
    if (!it || !it->map->string_keys)
        return SM_EINVAL;
    uint64_t offset, v;
    int rc = take_pair(it, &offset, &v);
    if (rc != SM_OK)
        return rc;
    size_t n;
    const unsigned char *bytes = saved_key(it, offset, &n);
    if (key)
        *key = bytes;
    if (len)
        *len = n;
    if (value)
        *value = v;
    return SM_OK;
}

void sm_iter_free(sm_iter *it)
{
    if (!it)
        return;
    smi_free(it->pairs, it->capacity * 2 * sizeof *it->pairs);
    smi_free(it->keybuf, it->keybuf_cap);
    smi_free(it, sizeof *it);
}
