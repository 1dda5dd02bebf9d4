/*
 * gomap.h — a single-threaded model of Go's classic map (runtime/map.go as
 * shipped in go1.19 to go1.23), for the lab's gomap, sharded, syncmap and
 * stall engines and for their tests.
 *
 * A gomap is not thread-safe, exactly like a Go map: callers that share one
 * serialise writers against everything (the engines use a lock). Readers
 * (gomap_get, gomap_len, gomap_iterate, gomap_debug) store nothing, so any
 * number of them may run at once on a map no writer touches — syncmap relies
 * on that for its published read-only maps, as sync.Map does.
 *
 * Out of memory is fatal (the process aborts with a message), as it is in
 * the Go runtime, which throws instead of returning an error from a map write.
 */
#ifndef LAB_GOMAP_H
#define LAB_GOMAP_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct gomap gomap;

/* A seeded 64-bit mixer standing in for Go's per-map seeded memhash64. */
uint64_t gomap_hash(uint64_t key, uint64_t seed);

/* A fresh hash seed: a fixed sequence per process, so lab runs repeat. */
uint64_t gomap_seed(void);

/* malloc for the engines that model Go: out of memory aborts with a
 * message naming who, as the Go runtime throws instead of failing a write. */
void *go_alloc(const char *who, size_t n);

/* The gomap engine, which the stall engine wraps. */
extern const lab_engine lab_engine_gomap;

/*
 * make(map[uint64]uint64, hint): picks the smallest B whose load factor holds
 * hint entries; like Go, a zero-size map allocates its first bucket on the
 * first write.
 */
gomap *gomap_new(uint64_t hint, uint64_t seed);

/* Frees the map (its bucket arrays go to the background reclaimer). NULL ok. */
void gomap_free(gomap *m);

/* 1 = found (*value set), 0 = absent. Stores nothing. */
int gomap_get(const gomap *m, uint64_t key, uint64_t *value);

/* Insert or replace; returns 1 if the key was new, 0 if it was replaced. */
int gomap_put(gomap *m, uint64_t key, uint64_t value);

/* 1 = removed, 0 = absent. */
int gomap_del(gomap *m, uint64_t key);

/* len(m). */
uint64_t gomap_len(const gomap *m);

/* Bytes of bucket arrays, overflow buckets and bookkeeping the map holds. */
uint64_t gomap_bytes(const gomap *m);

/*
 * for k, v := range m: visits every entry once; visit returning nonzero
 * stops the walk and sets *stopped to 1 (else 0). Returns entries visited.
 * Stores nothing, so it is safe under a read lock.
 */
long gomap_iterate(const gomap *m, lab_visit_fn visit, void *ctx, int *stopped);

/* Report grow start (hashGrow) and finish (last bucket evacuated) to fn. */
void gomap_set_event_hook(gomap *m, lab_event_fn fn, void *ctx);

/* The map's shape, for tests and for the lab's own checks. */
typedef struct gomap_debug_info {
    unsigned B;                 /* log2 of the bucket count */
    int growing;                /* oldbuckets != NULL */
    int same_size;              /* the current grow keeps B */
    const void *oldbuckets;     /* the array being evacuated, or NULL */
    uint64_t nevacuate;         /* old buckets below this are evacuated */
    uint64_t noldbuckets;       /* buckets in oldbuckets (0 when not growing) */
    uint64_t noverflow;         /* Go's approximate overflow bucket count */
    uint64_t grows;             /* doubling grows since gomap_new */
    uint64_t same_size_grows;   /* same-size grows since gomap_new */
    uint64_t seed;              /* the current hash0 */
} gomap_debug_info;

void gomap_debug(const gomap *m, gomap_debug_info *out);

#endif
