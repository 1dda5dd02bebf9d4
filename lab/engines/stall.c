/*
 * stall.c — the lab engine "stall", for validating the instrument, not for
 * comparison: a correct map that stalls on purpose, so a test can check that
 * the lab sees exactly the stalls that are there.
 *
 * Every 1000th operation (get, put, del or iterate), counted over all
 * threads, busy-waits 1 ms on CLOCK_MONOTONIC before doing its work. It spins
 * rather than sleeps so the thread stays on the CPU, as a real stall
 * (zeroing memory, copying a map) would. The spin happens before the map is
 * touched and outside its lock, so only the unlucky operation is slow: a run
 * of N operations holds N / 1000 stalls of at least 1 ms, and a correct
 * instrument puts the 99.9th percentile near 1 ms.
 * The map itself is the gomap engine (gomap.c), called through its table.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime under -std=c11 */
#endif

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "gomap.h"

enum {
    STALL_EVERY = 1000,
    STALL_NS = 1000000
};

struct stall_map {
    void *inner;            /* a lab_engine_gomap map */
    _Atomic uint64_t ops;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Counts this operation, spins if it is a 1000th one, and returns the
 * gomap engine's map to do the work on. */
static void *after_stall(void *map)
{
    struct stall_map *s = map;
    uint64_t n = atomic_fetch_add_explicit(&s->ops, 1, memory_order_relaxed) + 1;
    if (n % STALL_EVERY == 0) {
        uint64_t end = now_ns() + STALL_NS;
        while (now_ns() < end)
            ;
    }
    return s->inner;
}

static void *stall_create(uint64_t capacity_hint)
{
    struct stall_map *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->inner = lab_engine_gomap.create(capacity_hint);
    if (!s->inner) {
        free(s);
        return NULL;
    }
    atomic_init(&s->ops, 0);
    return s;
}

static void stall_destroy(void *map)
{
    struct stall_map *s = map;
    lab_engine_gomap.destroy(s->inner);
    free(s);
}

static int stall_get(void *map, uint64_t key, uint64_t *value)
{
    return lab_engine_gomap.get(after_stall(map), key, value);
}

static int stall_put(void *map, uint64_t key, uint64_t value)
{
    return lab_engine_gomap.put(after_stall(map), key, value);
}

static int stall_del(void *map, uint64_t key)
{
    return lab_engine_gomap.del(after_stall(map), key);
}

static long stall_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    return lab_engine_gomap.iterate(after_stall(map), visit, ctx);
}

static uint64_t stall_size(void *map)
{
    struct stall_map *s = map;
    return lab_engine_gomap.size(s->inner);
}

static uint64_t stall_bytes(void *map)
{
    struct stall_map *s = map;
    return lab_engine_gomap.bytes(s->inner) + sizeof *s;
}

const lab_engine lab_engine_stall = {
    .name = "stall",
    .description = "instrument validation only: a correct map that spins 1 ms on every 1000th op",
    .create = stall_create,
    .destroy = stall_destroy,
    .thread_attach = NULL,
    .thread_detach = NULL,
    .get = stall_get,
    .put = stall_put,
    .del = stall_del,
    .iterate = stall_iterate,
    .size = stall_size,
    .bytes = stall_bytes,
    .set_event_hook = NULL,
};
