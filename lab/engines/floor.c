/*
 * floor.c — the lab engine "floor", an instrument reading, not a map: what
 * one operation costs in this lab when it does the least any hash map must
 * do, so a throughput target can be weighed against this machine's limit
 * measured in the same run.
 *
 * Any map's lookup of a random present key has to read the cache line that
 * holds the key, and a write has to read it and store into it; in a table
 * larger than the caches that is one miss. The floor does exactly that and
 * nothing else: the table is the densest one possible — keys x 16 bytes, the
 * keys and values alone, no empty slots, no metadata — on huge pages and
 * touched before the run, and a key's line is found by one multiply. A get
 * loads the line's first word (kept live, so the load completes before the
 * harness's closing timestamp) and answers the value the lab's scenarios
 * store for that key; a put or delete loads the word and stores into it.
 *
 * It therefore answers every get "found, with the right value" without
 * storing anything: it is meaningful only in scenarios whose gets all hit a
 * pre-filled, pre-sized key space (micro, mixed), and create() refuses a map
 * that is not pre-sized. It runs only when named (main.c), and compare runs
 * it on mixed alone, for the throughput check.
 *
 * Its gets and puts race on purpose (relaxed atomics, no locks): a floor
 * with synchronisation would no longer be a floor.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "engine.h"
#include "harness/keys.h"

#define HUGE_PAGE_BYTES (2u << 20)

struct floor_map {
    _Atomic uint64_t (*slots)[2];  /* key word, value word */
    uint64_t nslots;
    size_t bytes;
};

static void *floor_create(uint64_t capacity_hint)
{
    if (capacity_hint == 0)
        return NULL;
    struct floor_map *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->nslots = capacity_hint;
    f->bytes = (capacity_hint * 16 + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    /* Over-map by one huge page and trim, so the table starts on a 2 MiB
     * boundary and all of it can be backed by huge pages. */
    size_t mapped = f->bytes + HUGE_PAGE_BYTES;
    char *raw = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        free(f);
        return NULL;
    }
    uintptr_t start = ((uintptr_t)raw + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    size_t head = start - (uintptr_t)raw;
    if (head)
        munmap(raw, head);
    if (HUGE_PAGE_BYTES - head)
        munmap((char *)start + f->bytes, HUGE_PAGE_BYTES - head);
    void *p = (void *)start;
#ifdef MADV_HUGEPAGE
    madvise(p, f->bytes, MADV_HUGEPAGE);
#endif
    /* Every page touched now, so no measured operation page-faults. */
    for (size_t off = 0; off < f->bytes; off += 4096)
        ((volatile char *)p)[off] = 1;
    f->slots = p;
    return f;
}

static void floor_destroy(void *map)
{
    struct floor_map *f = map;
    munmap((void *)f->slots, f->bytes);
    free(f);
}

/* The key's slot: a multiply-high range reduction of the (already random)
 * key, the cheapest spread there is. */
static _Atomic uint64_t *slot_of(const struct floor_map *f, uint64_t key)
{
    uint64_t i = (uint64_t)(((unsigned __int128)key * f->nslots) >> 64);
    return f->slots[i];
}

/* Makes the load's result an input of an (empty) instruction, so the load
 * cannot be dropped and must finish before the harness's lfence-fenced
 * closing timestamp. */
static void keep(uint64_t word)
{
    __asm__ volatile("" : : "r"(word));
}

static int floor_get(void *map, uint64_t key, uint64_t *value)
{
    keep(atomic_load_explicit(slot_of(map, key), memory_order_relaxed));
    *value = lab_value_of(key);
    return 1;
}

static int floor_put(void *map, uint64_t key, uint64_t value)
{
    _Atomic uint64_t *s = slot_of(map, key);
    keep(atomic_load_explicit(s, memory_order_relaxed));
    atomic_store_explicit(&s[1], value, memory_order_relaxed);
    return 0;
}

static int floor_del(void *map, uint64_t key)
{
    return floor_put(map, key, 0) == 0;
}

static uint64_t floor_bytes(void *map)
{
    return ((struct floor_map *)map)->bytes;
}

const lab_engine lab_engine_floor = {
    .name = "floor",
    .description = "instrument reading only: one cache-line load per get (and a store per put) in a "
                   "keys x 16-byte table, no map",
    .create = floor_create,
    .destroy = floor_destroy,
    .get = floor_get,
    .put = floor_put,
    .del = floor_del,
    .bytes = floor_bytes,
    .reading_only = 1,
};
