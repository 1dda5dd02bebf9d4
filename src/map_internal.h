/*
 * map_internal.h — the map object and the functions the core files share.
 * One concept per file: map.c (operations), migrate.c (resize protocol),
 * table.c (buckets, locks, placement), epoch.c (reclamation), stats.c,
 * debug.c (invariant checker), alloc.c.
 */
#ifndef SM_MAP_INTERNAL_H
#define SM_MAP_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "atomics.h"
#include "epoch.h"
#include "hash.h"
#include "steadymap.h"
#include "strkey.h"
#include "table.h"

typedef struct sm_limbo_stripe sm_limbo_stripe;

/* One thread stripe of a map's counters, alone on its cache line. */
typedef struct sm_map_stripe {
    _Alignas(64) atomic_i64 live;   /* entries added minus removed */
    /* Writes to this map by the stripe's threads: the cadence of occupancy
     * checks and reclaims. Per map, not per thread: a thread's own count
     * once chose the map, so one that alternated between two maps ran every
     * reclaim on the same one and the other's retired values were never
     * freed (found by review). */
    atomic_u64 writes;
} sm_map_stripe;

struct sm_map {
    /* Read by every operation; written once per resize. */
    _Alignas(64) sm_table *_Atomic root;
    sm_hash_key hash_key;
    int string_keys;                    /* SM_STRING_KEYS: slots hold key copies */
    int huge_pages;                     /* tables ask for THP (no SM_NO_HUGE_PAGES) */
    void (*on_resize)(const sm_resize_event *event, void *ctx);
    void *on_resize_ctx;
    void (*free_value)(uint64_t value, void *ctx);
    void *free_value_ctx;
    sm_limbo_stripe *limbo;             /* SM_STRIPES stripes, iff free_value or
                                           string keys */

    /* Resize bookkeeping: written a few times per resize. */
    _Alignas(64) _Atomic int resizing;  /* gate: one resize at a time (I7) */
    _Atomic int preparing;              /* the gate's holder is sizing the next
                                           table and has not published it: no
                                           entry may be added to the root (I9) */
    atomic_u64 grows;
    atomic_u64 shrinks;
    atomic_u64 rehashes;
    atomic_u64 bytes_held;              /* all tables, retired ones included */
    atomic_u64 retired_count;
    atomic_u64 retired_bytes;
    atomic_u64 retired_values;
    atomic_u64 retired_keys;
    atomic_u64 migrations_started;      /* resizes begun / finished, and the */
    atomic_u64 migrations_finished;     /* retire epoch of the table the last */
    atomic_u64 last_retire_epoch;       /* finished one left (limbo.c) */

    pthread_mutex_t garbage_lock;       /* guards garbage; never taken by readers */
    sm_table *garbage;                  /* unlinked tables awaiting their epoch,
                                           oldest first */
    sm_table **garbage_tail;            /* &the last one's retired_next, or
                                           &garbage when there is none */

    /* String keys only: the XXH3 secret, read by every operation's hash, and
     * the bits of the hash kept (all, except in tests that force collisions:
     * smi_weaken_string_hash in testing.h). */
    _Alignas(64) unsigned char secret[SM_SECRET_BYTES];
    uint64_t str_hash_mask;

    sm_map_stripe stripe[SM_STRIPES];   /* entries and writes, striped by thread */
};

/* Results of the table-level helpers (never returned to users). */
enum {
    PLACE_DONE = 0,
    PLACE_RETRY = 1,  /* a neighbour bucket was busy: release locks and retry */
    PLACE_FULL = 2    /* no free slot anywhere in the table */
};

enum {
    RESIZE_STARTED = 0,
    RESIZE_BUSY = 1,     /* another resize runs or the table is no longer root */
    RESIZE_NOT_NEEDED = 2
};

/* table.c: bucket locks and placement. */
uint64_t smi_lock_home(sm_bucket *bk, int *frozen);
int smi_trylock(sm_bucket *bk, uint64_t *held);
void smi_backoff(unsigned *spins);
int smi_place(sm_table *t, uint64_t home, uint64_t *home_held, uint64_t h, uint64_t key,
              uint64_t value, int *used_empty, uint64_t *probes);

/* migrate.c: the resize protocol. */
int smi_resize_start(sm_map *m, sm_table *t, uint64_t want_buckets);
void smi_migrate_help(sm_map *m, sm_thread *self);
void smi_migrate_home(sm_map *m, sm_thread *self, sm_table *t, sm_table *nt, uint64_t b,
                      uint64_t held);
void smi_migrate_finish_all(sm_map *m, sm_thread *self);
int smi_next_has_room(const sm_table *nt);
void smi_reclaim_maybe(sm_map *m, sm_thread *self);

/* map.c: the lock-free lookup of a key with hash h, starting in table t;
 * the caller is inside an epoch section. */
int smi_lookup(sm_table *t, uint64_t h, uint64_t key, uint64_t *value);
int smi_lookup_str(sm_table *t, uint64_t h, const void *key, size_t len, uint64_t *value);

/*
 * The common case of a uint64 lookup, a key in its home bucket or a miss
 * there with no overflow, in as few instructions as possible: out-of-cache
 * lookups overlap only as far as the CPU's reorder window reaches, so a short
 * hot path lets more of them be in flight at once. Returns SM_OK,
 * SM_NOT_FOUND, or -1 for anything else (a frozen home, a chain, a changed
 * bucket), which smi_lookup then handles. Same orderings as smi_lookup.
 */
static inline int smi_lookup_home(sm_table *t, uint64_t h, uint64_t key, uint64_t *value)
{
    uint64_t b = home_of_hash(t, h);
    sm_bucket *bk = &t->buckets[b];
    /* A sixth of the keys at 75% occupancy live past their home, more than
     * half of those in the next bucket, and a miss in a home with OVERFLOW
     * goes there too: asking for its line now overlaps that second miss with
     * the first (docs/BENCHMARKS.md, "Next-bucket prefetch"). */
    __builtin_prefetch(&t->buckets[next_bucket(t, b)]);
    /* Acquire: as in smi_lookup (S1). */
    uint64_t meta = u64_load_acquire(&bk->meta);
    if (meta & META_FROZEN)
        return -1;
    uint32_t match = meta_match(meta, (unsigned)tag_of_hash(h));
    int read_slot = match != 0;
    for (; match; match &= match - 1) {
        unsigned i = (unsigned)__builtin_ctz(match) / 8;
        /* Acquire: S1, and S2 for the re-read of meta. */
        if (u64_load_acquire(&bk->slot[i].key) == key) {
            uint64_t v = u64_load_acquire(&bk->slot[i].value);
            if (!meta_same(u64_load_relaxed(&bk->meta), meta))
                return -1;
            if (value)
                *value = v;
            return SM_OK;
        }
    }
    /* A miss in a home without OVERFLOW is final once the home is seen
     * unchanged (I2, I5). */
    if (!(meta & META_OVERFLOW) && (!read_slot || meta_same(u64_load_relaxed(&bk->meta), meta)))
        return SM_NOT_FOUND;
    return -1;
}

/* map.c: buckets a table needs so that n entries stay under the grow threshold. */
uint64_t smi_buckets_to_hold(uint64_t entries);

/* The hash of a string key in map m. */
static inline uint64_t smi_hash_str(const sm_map *m, const void *key, size_t len)
{
    return smi_hash_bytes(m->secret, key, len) & m->str_hash_mask;
}

/* The hash of the key a slot's key word stands for. A string key's hash is
 * stored in its copy, read here under the caller's epoch. */
static inline uint64_t smi_slot_hash(const sm_map *m, uint64_t key_word)
{
    return m->string_keys ? skey_of(key_word)->hash : hash_u64(&m->hash_key, key_word);
}

/* limbo.c: values waiting for free_value, key copies waiting to be freed. */
typedef enum smi_limbo_kind { LIMBO_VALUE, LIMBO_KEY } smi_limbo_kind;
sm_limbo_stripe *smi_limbo_new(void);
int smi_limbo_reserve(sm_map *m, const sm_thread *self, unsigned n);
void smi_limbo_cancel(sm_map *m, const sm_thread *self, unsigned n);
void smi_limbo_commit(sm_map *m, const sm_thread *self, smi_limbo_kind kind, uint64_t word);
/* Release items tagged <= min_active: all of them (all != 0) or a bounded
 * number (T3; limbo.c says how many). free_value runs with no lock held. */
size_t smi_limbo_reclaim(sm_map *m, uint64_t min_active, int all);
void smi_limbo_destroy(sm_map *m);

/* events.c: the resize observer and USDT probes. */
void smi_notify_resize(sm_map *m, sm_resize_kind kind, uint64_t old_buckets, uint64_t new_buckets);

/* stats.c: striped counters. */
int64_t smi_live_sum(const sm_map *m);
void smi_live_add(sm_map *m, const sm_thread *self, int64_t d);
/* Count a write to m in this thread's stripe: self->write_nth. */
void smi_count_write(sm_map *m, sm_thread *self);
void smi_used_add(sm_table *t, const sm_thread *self, int64_t d);

#endif
