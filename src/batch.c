/*
 * batch.c — sm_get_many: many lookups with their cache misses overlapped.
 *
 * A lookup in a table far larger than the caches costs one memory round trip
 * (~100-300 ns here), mostly waiting. The CPU can have many misses in flight,
 * but a loop of lookups rarely lets it: each lookup's branches depend on its
 * own load. So we prefetch ahead: each key's home line is requested
 * IN_FLIGHT lookups before it is needed (independent loads, issued back to back), and
 * by the time the lookup runs the line has arrived or is arriving.
 *
 * String keys add a second dependent miss: the key's copy, which a hit must
 * compare. So they take three stages: hash and prefetch the homes; then read
 * each home's meta word and prefetch the copy behind the first slot whose
 * tag matches (a hint only: the lookup validates everything it uses); then
 * the lookups.
 *
 * Each lookup is the ordinary validated lookup of map.c (same guarantees,
 * same linearization point per key); only the prefetches are added. The
 * whole batch runs in one epoch section.
 */
#include "map_internal.h"

#include <stdint.h>

/* Misses in flight, about what one core's fill buffers sustain (10-16 on
 * current x86). uint64 keys use it as a rolling pipeline: key i + IN_FLIGHT
 * is hashed and its home line prefetched while key i is looked up, so there
 * is no stage boundary where the core waits for a whole group's first line.
 * String keys go in groups of this many through their three stages. */
#define IN_FLIGHT 16

/* Hand out one lookup's answer; returns 1 for a hit. */
static inline size_t answer(size_t i, int rc, uint64_t v, uint64_t *values, uint8_t *found)
{
    int hit = rc == SM_OK;
    if (values && hit)
        values[i] = v;
    if (found)
        found[i] = (uint8_t)hit;
    return (size_t)hit;
}

static int hits_status(size_t hits)
{
    return hits > (size_t)INT32_MAX ? INT32_MAX : (int)hits;
}

int sm_get_many(sm_map *m, const uint64_t *keys, size_t n, uint64_t *values, uint8_t *found)
{
    if (!m || m->string_keys || (!keys && n))
        return SM_EINVAL;
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    /* Acquire pairs with the root switch (I8). */
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    uint64_t hashes[IN_FLIGHT];
    size_t hits = 0;
    size_t lead = n < IN_FLIGHT ? n : IN_FLIGHT;
    for (size_t i = 0; i < lead; i++) {
        hashes[i] = hash_u64(&m->hash_key, keys[i]);
        __builtin_prefetch(&t->buckets[home_of_hash(t, hashes[i])], 0, 3);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t h = hashes[i % IN_FLIGHT];
        if (i + IN_FLIGHT < n) {
            uint64_t ha = hash_u64(&m->hash_key, keys[i + IN_FLIGHT]);
            hashes[i % IN_FLIGHT] = ha;
            __builtin_prefetch(&t->buckets[home_of_hash(t, ha)], 0, 3);
        }
        uint64_t v = 0;
        int rc = smi_lookup_home(t, h, keys[i], &v);
        if (rc < 0)
            rc = smi_lookup(t, h, keys[i], &v);
        hits += answer(i, rc, v, values, found);
    }
    smi_epoch_exit(self);
    return hits_status(hits);
}

/* Prefetch the key copy behind the first home slot whose tag matches h. The
 * slot may change under us; a wrong guess costs one useless prefetch. */
static void prefetch_candidate(sm_table *t, uint64_t h)
{
    sm_bucket *bk = &t->buckets[home_of_hash(t, h)];
    /* Relaxed: only a hint, nothing read here is trusted. */
    uint32_t match = meta_match(u64_load_relaxed(&bk->meta), (unsigned)tag_of_hash(h));
    if (!match)
        return;
    uint64_t k = u64_load_relaxed(&bk->slot[__builtin_ctz(match) / 8].key);
    if (k)
        __builtin_prefetch((const void *)(uintptr_t)k, 0, 3);
}

int sm_get_many_str(sm_map *m, const void *const *keys, const size_t *lens, size_t n,
                    uint64_t *values, uint8_t *found)
{
    if (!m || !m->string_keys || ((!keys || !lens) && n))
        return SM_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((!keys[i] && lens[i]) || lens[i] > SM_STR_KEY_MAX)
            return SM_EINVAL;
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    /* Acquire pairs with the root switch (I8). */
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    uint64_t hashes[IN_FLIGHT];
    size_t hits = 0;
    for (size_t base = 0; base < n; base += IN_FLIGHT) {
        size_t g = n - base < IN_FLIGHT ? n - base : IN_FLIGHT;
        for (size_t i = 0; i < g; i++) {
            hashes[i] = smi_hash_str(m, keys[base + i], lens[base + i]);
            __builtin_prefetch(&t->buckets[home_of_hash(t, hashes[i])], 0, 3);
        }
        for (size_t i = 0; i < g; i++)
            prefetch_candidate(t, hashes[i]);
        for (size_t i = 0; i < g; i++) {
            uint64_t v = 0;
            int rc = smi_lookup_str(t, hashes[i], keys[base + i], lens[base + i], &v);
            hits += answer(base + i, rc, v, values, found);
        }
    }
    smi_epoch_exit(self);
    return hits_status(hits);
}
