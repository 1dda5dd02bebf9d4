/*
 * sharded.c — the lab engine "sharded": 32 Go maps, each behind its own
 * sync.RWMutex, a key's shard chosen by its hash.
 *
 * This is the usual fix Go services reach for when one locked map contends
 * (orcaman/concurrent-map, the most used one, also has 32 shards). It cuts
 * lock contention 32 ways but keeps every other property of gomap.c: each
 * shard still grows by allocating its whole doubled bucket array at once, so
 * the stall gets 32 times smaller per shard but happens 32 times as often,
 * and a range still holds each shard's read lock while walking that shard.
 *
 * The shard is the top 5 bits of a hash with the engine's own seed; each
 * shard's map hashes again with its own seed, so the bits that pick the
 * shard do not bias the buckets or tophash bytes inside it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlock_t under -std=c11 */
#endif

#include <stdalign.h>
#include <stdlib.h>

#include "gomap.h"
#include "rwmutex.h"

enum {
    SHARD_BITS = 5,
    SHARDS = 1 << SHARD_BITS
};

/* One cache line per shard at least, so that locking one shard does not
 * invalidate its neighbour's lock word in another core's cache. */
struct shard {
    alignas(64) pthread_rwlock_t lock;
    gomap *m;
};

struct sharded {
    struct shard shards[SHARDS];
    uint64_t seed;
};

static struct shard *shard_of(struct sharded *s, uint64_t key)
{
    return &s->shards[gomap_hash(key, s->seed) >> (64 - SHARD_BITS)];
}

static void sharded_destroy(void *map)
{
    struct sharded *s = map;
    for (int i = 0; i < SHARDS; i++) {
        gomap_free(s->shards[i].m);
        pthread_rwlock_destroy(&s->shards[i].lock);
    }
    free(s);
}

static void *sharded_create(uint64_t capacity_hint)
{
    struct sharded *s = aligned_alloc(alignof(struct sharded), sizeof *s);
    if (!s)
        return NULL;
    s->seed = gomap_seed();
    uint64_t per_shard = capacity_hint / SHARDS + (capacity_hint % SHARDS != 0);
    for (int i = 0; i < SHARDS; i++) {
        if (go_rwmutex_init(&s->shards[i].lock) != 0) {
            while (i-- > 0) {
                gomap_free(s->shards[i].m);
                pthread_rwlock_destroy(&s->shards[i].lock);
            }
            free(s);
            return NULL;
        }
        s->shards[i].m = gomap_new(per_shard, gomap_seed());
    }
    return s;
}

static int sharded_get(void *map, uint64_t key, uint64_t *value)
{
    struct shard *sh = shard_of(map, key);
    pthread_rwlock_rdlock(&sh->lock);
    int found = gomap_get(sh->m, key, value);
    pthread_rwlock_unlock(&sh->lock);
    return found;
}

static int sharded_put(void *map, uint64_t key, uint64_t value)
{
    struct shard *sh = shard_of(map, key);
    pthread_rwlock_wrlock(&sh->lock);
    gomap_put(sh->m, key, value);
    pthread_rwlock_unlock(&sh->lock);
    return 0;
}

static int sharded_del(void *map, uint64_t key)
{
    struct shard *sh = shard_of(map, key);
    pthread_rwlock_wrlock(&sh->lock);
    int removed = gomap_del(sh->m, key);
    pthread_rwlock_unlock(&sh->lock);
    return removed;
}

/* Shard by shard, each under its read lock for that shard's whole walk (as
 * concurrent-map's iterators do while they copy a shard out): entries of
 * different shards are seen at different moments, so this is no snapshot. */
static long sharded_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    struct sharded *s = map;
    long total = 0;
    for (int i = 0; i < SHARDS; i++) {
        int stopped;
        pthread_rwlock_rdlock(&s->shards[i].lock);
        total += gomap_iterate(s->shards[i].m, visit, ctx, &stopped);
        pthread_rwlock_unlock(&s->shards[i].lock);
        if (stopped)
            break;
    }
    return total;
}

static uint64_t sharded_sum(struct sharded *s, uint64_t (*field)(const gomap *))
{
    uint64_t total = 0;
    for (int i = 0; i < SHARDS; i++) {
        pthread_rwlock_rdlock(&s->shards[i].lock);
        total += field(s->shards[i].m);
        pthread_rwlock_unlock(&s->shards[i].lock);
    }
    return total;
}

static uint64_t sharded_size(void *map) { return sharded_sum(map, gomap_len); }

static uint64_t sharded_bytes(void *map)
{
    return sharded_sum(map, gomap_bytes) + sizeof(struct sharded);
}

static void sharded_set_event_hook(void *map, lab_event_fn fn, void *ctx)
{
    struct sharded *s = map;
    for (int i = 0; i < SHARDS; i++) {
        pthread_rwlock_wrlock(&s->shards[i].lock);
        gomap_set_event_hook(s->shards[i].m, fn, ctx);
        pthread_rwlock_unlock(&s->shards[i].lock);
    }
}

const lab_engine lab_engine_sharded = {
    .name = "sharded",
    .description = "32 Go maps, each behind its own sync.RWMutex (concurrent-map style)",
    .create = sharded_create,
    .destroy = sharded_destroy,
    .thread_attach = NULL,
    .thread_detach = NULL,
    .get = sharded_get,
    .put = sharded_put,
    .del = sharded_del,
    .iterate = sharded_iterate,
    .size = sharded_size,
    .bytes = sharded_bytes,
    .set_event_hook = sharded_set_event_hook,
};
