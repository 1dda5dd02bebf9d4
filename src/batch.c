/*
 * batch.c — sm_get_many: many lookups with their cache misses overlapped.
 *
 * A lookup in a table far larger than the caches costs one memory round trip
 * (~100-300 ns here), mostly waiting. The CPU can have many misses in flight,
 * but a loop of lookups rarely lets it: each lookup's branches depend on its
 * own load. So we stage the work: first hash a group of keys and prefetch
 * each home bucket's line (independent loads, issued back to back), then do
 * the lookups, by which time the lines are arriving or arrived.
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

/* Keys hashed and prefetched ahead of the lookups. 16 misses in flight is
 * about what one core's fill buffers sustain (10-16 on current x86). */
#define GROUP 16

int sm_get_many(sm_map *m, const uint64_t *keys, size_t n, uint64_t *values, uint8_t *found)
{
    if (!m || m->string_keys || (!keys && n))
        return SM_EINVAL;
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    /* Acquire pairs with the root switch (I8). */
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    uint64_t hashes[GROUP];
    size_t hits = 0;
    for (size_t base = 0; base < n; base += GROUP) {
        size_t g = n - base < GROUP ? n - base : GROUP;
        for (size_t i = 0; i < g; i++) {
            hashes[i] = hash_u64(&m->hash_key, keys[base + i]);
            __builtin_prefetch(&t->buckets[home_of_hash(t, hashes[i])], 0, 3);
        }
        for (size_t i = 0; i < g; i++) {
            uint64_t v = 0;
            int hit = smi_lookup(t, hashes[i], keys[base + i], &v) == SM_OK;
            if (values && hit)
                values[base + i] = v;
            if (found)
                found[base + i] = (uint8_t)hit;
            hits += (size_t)hit;
        }
    }
    smi_epoch_exit(self);
    return (int)(hits > (size_t)INT32_MAX ? INT32_MAX : hits);
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
    uint64_t hashes[GROUP];
    size_t hits = 0;
    for (size_t base = 0; base < n; base += GROUP) {
        size_t g = n - base < GROUP ? n - base : GROUP;
        for (size_t i = 0; i < g; i++) {
            hashes[i] = smi_hash_bytes(m->secret, keys[base + i], lens[base + i]);
            __builtin_prefetch(&t->buckets[home_of_hash(t, hashes[i])], 0, 3);
        }
        for (size_t i = 0; i < g; i++)
            prefetch_candidate(t, hashes[i]);
        for (size_t i = 0; i < g; i++) {
            uint64_t v = 0;
            int hit = smi_lookup_str(t, hashes[i], keys[base + i], lens[base + i], &v) == SM_OK;
            if (values && hit)
                values[base + i] = v;
            if (found)
                found[base + i] = (uint8_t)hit;
            hits += (size_t)hit;
        }
    }
    smi_epoch_exit(self);
    return (int)(hits > (size_t)INT32_MAX ? INT32_MAX : hits);
}
