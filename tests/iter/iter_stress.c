/*
 * iter_stress.c — the iteration guarantees G1..G3 of steadymap.h while writer
 * threads grow and shrink the map again and again during every walk.
 *
 * Keys, told apart by their top byte:
 *   stable    0, UINT64_MAX and 0x01..: inserted before the threads start,
 *             never touched again. G1: each walk returns each exactly once,
 *             with its one value.
 *   changing  0x02..: also present throughout, but each is owned by one
 *             writer that keeps replacing its value with a new version
 *             (replace, put or cas, checked exactly by the owner). G1 holds
 *             for them too (a replace is neither a delete nor an insert); G3:
 *             the version returned lies between the last write that had
 *             completed before the walk began and the last one begun before
 *             it ended (the owner publishes `done` after each write returns
 *             and `begun` before each starts).
 *   churn     0x10 + writer..: each writer inserts a large batch of its own
 *             keys, then deletes them all, cycle after cycle, which drives
 *             the table through grows and shrinks. G4 lets a walk return or
 *             skip one inserted or deleted during it, with its key's value;
 *             but one absent for the whole walk has no value during it, so
 *             returning it breaks G3, and one present for the whole walk
 *             falls under G1. Both are told apart by the times of the
 *             writes (see `Times` below).
 * G2 is checked for every key: a walk keeps a seen-flag per possible key.
 * A key of no class, or of a class but out of its range, fails the test.
 *
 * Not vacuous: each walk samples sm_stats before, during (every 32 entries)
 * and after, and counts whether a grow or a shrink started during it and
 * whether it saw a migration in progress. Writers keep cycling until enough
 * walks did each (or give up after MAX_CYCLES, and the test fails), but run
 * at most PACE cycles ahead per walk; half of the walks yield the processor
 * every few entries so that they span more resizes.
 *
 * Work is bounded by operation counts (cycles, walks), never by time.
 * SM_TEST_SEED repeats a run's choices and the map's hash seed, not its
 * thread interleaving.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../model/support.h"
#include "steadymap.h"
#include "testing.h"

/* Sanitizers slow every call 5-50x: smaller sets, the same number of resizes
 * per cycle (the batch is the same multiple of the steady contents). */
#ifdef SM_SANITIZED
#define N_STABLE 512u
#define N_CHANGING 64u
#define BATCH 2048u
#define OVERLAP_TARGET 4u
#else
#define N_STABLE 4096u
#define N_CHANGING 256u
#define BATCH 16384u
#define OVERLAP_TARGET 16u
#endif

/* The build makes one test per mix of threads (CMakeLists.txt). */
#ifndef ITER_WRITERS
#define ITER_WRITERS 3
#endif
#ifndef ITER_WALKERS
#define ITER_WALKERS 1
#endif

#define MIN_CYCLES 4u         /* per writer, before it may stop */
#define PACE 2u               /* cycles a writer may run ahead per walk */
#define MAX_CYCLES 200u       /* per writer: targets unmet by then fail */
#define CHURN_RANGE (4u * BATCH)  /* churn indices a writer draws its batches from */
#define REPLACE_EVERY 16u     /* churn writes per replace of a changing key */
#define SAMPLE_EVERY 32u      /* entries between sm_stats samples in a walk */
#define SLOW_YIELD_EVERY 64u  /* entries between yields in a slow walk */
#define MAX_WRITERS 3u
#define MAX_WALKERS 2u
_Static_assert(ITER_WRITERS >= 1 && ITER_WRITERS <= MAX_WRITERS, "1 to 3 writers");
_Static_assert(ITER_WALKERS >= 1 && ITER_WALKERS <= MAX_WALKERS, "1 or 2 walkers");
#define MAX_REPORTS 20

#define STABLE_CLASS UINT64_C(0x01)
#define CHANGING_CLASS UINT64_C(0x02)
#define CHURN_CLASS UINT64_C(0x10)
#define CLASS_OF(key) ((key) >> 56)
#define INDEX_OF(key) ((key) & ((UINT64_C(1) << 56) - 1))

static uint64_t stable_key(uint64_t i)
{
    return i == 0 ? 0 : i == N_STABLE - 1 ? UINT64_MAX : STABLE_CLASS << 56 | i;
}

static uint64_t changing_key(uint64_t c)
{
    return CHANGING_CLASS << 56 | c;
}

static uint64_t churn_key(unsigned writer, uint64_t i)
{
    return (CHURN_CLASS + writer) << 56 | i;
}

/* Stable and churn keys: one value per key, never that of another key. */
static uint64_t value_for(uint64_t key)
{
    return ~key * 0xd6e8feb86659fd93u;
}

/* Changing keys: the version and a check of the key, so a value names the
 * one write that stored it. */
static uint32_t check_of(uint64_t key)
{
    return (uint32_t)(value_for(key) >> 32);
}

static uint64_t versioned(uint64_t key, uint64_t version)
{
    return version << 32 | check_of(key);
}

/* ------------------------------------------------------------------------ */
/* Times                                                                     */

/*
 * A churn key's writes are timed by a shared clock that counts ticks. A
 * writer ticks before each churn write: that tick is the time the write
 * began and the time its previous churn write returned (one tick serves both:
 * it comes after the one and before the other). A walk reads the clock when
 * it begins.
 *
 * Absent for the whole walk (returning it fails): its last delete returned
 * at a tick <= the walk's start, and the last insert begun, read after the
 * walk returned the key, began before that delete. Present for the whole
 * walk (not returning it fails, G1): its last insert returned at a tick <=
 * the walk's start, and the last delete begun, read after the walk ended,
 * began before that insert.
 *
 * Why neither check can fail a correct map (all these atomics are seq_cst):
 *  - "returned at a tick <= start": every change of the clock is a
 *    read-modify-write, so the walker's load of the clock synchronizes with
 *    that tick and every earlier one (release sequence): the write returned
 *    before the walk began.
 *  - "the last write begun": the begun time is stored before the call. If the
 *    walk read what a later write stored in the map, the map's release
 *    publication and acquire read order that store before the walker's load
 *    (happens-before), which therefore returns it or a newer time; if the
 *    walk did not, the write began after the walker's load in the single
 *    order of seq_cst operations, i.e. after the walk returned the key (or
 *    ended), which G4 allows to be missed.
 * A time stored late or not yet seen only makes a key look neither absent
 * nor present throughout, so it is checked less, never wrongly.
 */
typedef struct write_times {
    _Atomic uint64_t insert_begun;
    _Atomic uint64_t insert_done;
    _Atomic uint64_t delete_begun;
    _Atomic uint64_t delete_done;
} write_times;

/* Absent since before a walk that began at `start`: from its last delete's
 * done time and last insert's begun time (0: never inserted), read in that
 * order after the walk returned or ended. */
static bool absent_since(uint64_t start, uint64_t deleted, uint64_t begun)
{
    return begun == 0 || (begun < deleted && deleted <= start);
}

/* Present since before a walk that began at `start`: from its last insert's
 * done time and last delete's begun time, read in that order after the walk
 * ended. */
static bool present_since(uint64_t start, uint64_t inserted, uint64_t deleting)
{
    return deleting < inserted && inserted <= start;
}

/* ------------------------------------------------------------------------ */
/* Shared state                                                              */

typedef struct run {
    sm_map *map;
    unsigned n_writers;
    unsigned n_walkers;
    uint64_t seed;
    /* Per changing key, published by its owner (writer c % n_writers). */
    _Atomic uint64_t begun[N_CHANGING];
    _Atomic uint64_t done[N_CHANGING];
    _Atomic uint64_t clock;         /* ticks, see Times */
    write_times *churn_times;       /* [writer * CHURN_RANGE + index] */
    atomic_bool writers_done;
    /* Walk counts the writers' stop rule reads. */
    atomic_uint_fast64_t walks;
    atomic_uint_fast64_t walks_over_grow;
    atomic_uint_fast64_t walks_over_shrink;
    atomic_uint_fast64_t walks_seeing_migration;
    atomic_uint_fast64_t walks_seeing_new_root;
    /* Churn keys present (absent) for a whole walk, summed over walks: how
     * many the G1 (G3) checks below had to judge. */
    atomic_uint_fast64_t churn_present_throughout;
    atomic_uint_fast64_t churn_absent_throughout;
    atomic_uint_fast64_t failures;
    pthread_mutex_t report_lock;
} run;

static void report(run *r, const char *fmt, ...)
{
    if (atomic_fetch_add(&r->failures, 1) >= MAX_REPORTS) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->report_lock);
    fprintf(stderr, "iter_stress (seed 0x%016" PRIx64 "): ", r->seed);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&r->report_lock);
    va_end(ap);
}

static bool enough_walks(run *r)
{
    return atomic_load(&r->walks_over_grow) >= OVERLAP_TARGET &&
           atomic_load(&r->walks_over_shrink) >= OVERLAP_TARGET &&
           atomic_load(&r->walks_seeing_migration) >= OVERLAP_TARGET;
}

/* ------------------------------------------------------------------------ */
/* Writers                                                                   */

typedef struct writer {
    run *r;
    unsigned id;
    pthread_t thread;
    struct rng rng;
    uint64_t version[N_CHANGING];  /* of the changing keys it owns */
    uint64_t cycles;
    uint64_t ops;
    _Atomic uint64_t *last_done;   /* done time of its last churn write */
} writer;

static uint64_t tick(run *r)
{
    /* seq_cst: a release that walkers' acquire loads of the clock synchronize
     * with, and one order with the stores and loads of the times. */
    return atomic_fetch_add_explicit(&r->clock, 1, memory_order_seq_cst) + 1;
}

/* Times a churn write about to begin, and the one before it as returned. */
static void churn_write_begins(writer *w, _Atomic uint64_t *begun, _Atomic uint64_t *done)
{
    uint64_t t = tick(w->r);
    if (w->last_done) {
        /* seq_cst: read by walkers with seq_cst after the walk (see Times). */
        atomic_store_explicit(w->last_done, t, memory_order_seq_cst);
    }
    /* seq_cst, before the call: see Times. */
    atomic_store_explicit(begun, t, memory_order_seq_cst);
    w->last_done = done;
}

/* Stores the next version of one of this writer's changing keys, by one of
 * the three calls that replace a value, and checks the old one exactly. */
static void replace_one(writer *w)
{
    run *r = w->r;
    uint64_t owned = (N_CHANGING - w->id + r->n_writers - 1) / r->n_writers;
    uint64_t c = w->id + r->n_writers * rng_below(&w->rng, owned);
    uint64_t k = changing_key(c);
    uint64_t v = w->version[c];
    uint64_t want_old = versioned(k, v), now = versioned(k, v + 1), old = 0;
    atomic_store(&r->begun[c], v + 1);
    int rc, want;
    switch (rng_below(&w->rng, 3)) {
    case 0:
        rc = sm_replace(r->map, k, now, &old);
        want = SM_OK;
        break;
    case 1:
        rc = sm_put(r->map, k, now, &old);
        want = SM_REPLACED;
        break;
    default:
        rc = sm_cas(r->map, k, want_old, now, &old);
        want = SM_OK;
        break;
    }
    if (rc != want || old != want_old) {
        report(r, "writer %u: replacing changing key 0x%016" PRIx64 " (version %" PRIu64
               ") returned %s with old 0x%016" PRIx64 ", expected %s with 0x%016" PRIx64,
               w->id, k, v, sm_status_str(rc), old, sm_status_str(want), want_old);
    }
    w->version[c] = v + 1;
    atomic_store(&r->done[c], v + 1);
    w->ops++;
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    run *r = w->r;
    while (w->cycles < MAX_CYCLES && atomic_load(&r->failures) == 0 &&
           (w->cycles < MIN_CYCLES || !enough_walks(r))) {
        /* At most PACE cycles per walk: a walker starved of processor time
         * still sees resizes during its walks, instead of the writers
         * running out of cycles before it has walked enough. */
        while (w->cycles >= PACE * (atomic_load(&r->walks) + 1) &&
               atomic_load(&r->failures) == 0) {
            sched_yield();
        }
        /* A batch of 1/2..1 BATCH keys from a random place in this writer's
         * range, so successive cycles hash differently. */
        uint64_t n = BATCH / 2 + rng_below(&w->rng, BATCH / 2 + 1);
        uint64_t first = rng_below(&w->rng, CHURN_RANGE - n + 1);
        for (uint64_t i = first; i < first + n; i++) {
            uint64_t k = churn_key(w->id, i);
            write_times *t = &r->churn_times[w->id * CHURN_RANGE + i];
            churn_write_begins(w, &t->insert_begun, &t->insert_done);
            int rc = rng_percent(&w->rng, 50) ? sm_insert(r->map, k, value_for(k), NULL)
                                              : sm_put(r->map, k, value_for(k), NULL);
            if (rc != SM_OK) {
                report(r, "writer %u: inserting churn key 0x%016" PRIx64 " returned %s", w->id,
                       k, sm_status_str(rc));
            }
            if (++w->ops % REPLACE_EVERY == 0) {
                replace_one(w);
            }
        }
        for (uint64_t i = first; i < first + n; i++) {
            uint64_t k = churn_key(w->id, i), old = 0;
            write_times *t = &r->churn_times[w->id * CHURN_RANGE + i];
            churn_write_begins(w, &t->delete_begun, &t->delete_done);
            int rc = sm_delete(r->map, k, &old);
            if (rc != SM_OK || old != value_for(k)) {
                report(r, "writer %u: deleting churn key 0x%016" PRIx64 " returned %s with 0x%016"
                       PRIx64, w->id, k, sm_status_str(rc), old);
            }
            if (++w->ops % REPLACE_EVERY == 0) {
                replace_one(w);
            }
        }
        w->cycles++;
    }
    /* The last delete has returned too. seq_cst: as in churn_write_begins. */
    if (w->last_done) {
        atomic_store_explicit(w->last_done, tick(r), memory_order_seq_cst);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Walkers                                                                   */

typedef struct walker {
    run *r;
    unsigned id;
    pthread_t thread;
    struct rng rng;
    uint8_t seen_stable[N_STABLE];
    uint8_t seen_changing[N_CHANGING];
    uint8_t *seen_churn;           /* [writer * CHURN_RANGE + index] */
    uint64_t low[N_CHANGING];      /* done[] before the walk */
    uint64_t got[N_CHANGING];      /* version this walk returned */
    uint64_t start;                /* the clock when the walk began */
    uint64_t walks;
    uint64_t entries;
    uint64_t churn_entries;
} walker;

/* Checks one returned entry. Returns false when the walk should stop: a key
 * seen twice means the walk may not end. */
static bool check_entry(walker *wk, uint64_t k, uint64_t v)
{
    run *r = wk->r;
    uint64_t cls = CLASS_OF(k), idx = INDEX_OF(k);
    uint8_t *seen;
    if (k == 0 || k == UINT64_MAX || (cls == STABLE_CLASS && idx > 0 && idx < N_STABLE - 1)) {
        seen = &wk->seen_stable[k == 0 ? 0 : k == UINT64_MAX ? N_STABLE - 1 : idx];
        if (v != value_for(k)) {
            report(r, "walker %u: stable key 0x%016" PRIx64 " came with 0x%016" PRIx64
                   ", not 0x%016" PRIx64 " (G3)", wk->id, k, v, value_for(k));
        }
    } else if (cls == CHANGING_CLASS && idx < N_CHANGING) {
        /* The upper bound can only be read once the walk is over. */
        seen = &wk->seen_changing[idx];
        wk->got[idx] = v >> 32;
        if ((uint32_t)v != check_of(k) || (v >> 32) < wk->low[idx]) {
            report(r, "walker %u: changing key 0x%016" PRIx64 " came with 0x%016" PRIx64
                   "; before the walk version %" PRIu64 " had been written (G3)",
                   wk->id, k, v, wk->low[idx]);
        }
    } else if (cls >= CHURN_CLASS && cls < CHURN_CLASS + r->n_writers && idx < CHURN_RANGE) {
        size_t at = (cls - CHURN_CLASS) * CHURN_RANGE + idx;
        seen = &wk->seen_churn[at];
        wk->churn_entries++;
        if (v != value_for(k)) {
            report(r, "walker %u: churn key 0x%016" PRIx64 " came with 0x%016" PRIx64
                   ", not 0x%016" PRIx64, wk->id, k, v, value_for(k));
        }
        /* G3: absent for the whole walk so far (see Times). The delete first:
         * an insert begun after it is then seen too. seq_cst: see Times. */
        write_times *t = &r->churn_times[at];
        uint64_t deleted = atomic_load_explicit(&t->delete_done, memory_order_seq_cst);
        uint64_t begun = atomic_load_explicit(&t->insert_begun, memory_order_seq_cst);
        if (absent_since(wk->start, deleted, begun)) {
            report(r, "walker %u: churn key 0x%016" PRIx64 " returned, but it was absent since "
                   "before the walk began at tick %" PRIu64 ": last delete returned at %" PRIu64
                   ", no insert begun since (last at %" PRIu64 ") (G3)",
                   wk->id, k, wk->start, deleted, begun);
        }
    } else {
        report(r, "walker %u: key 0x%016" PRIx64 " (value 0x%016" PRIx64 ") was never inserted",
               wk->id, k, v);
        return false;
    }
    if (*seen) {
        report(r, "walker %u: key 0x%016" PRIx64 " returned twice in one walk (G2)", wk->id, k);
        return false;
    }
    *seen = 1;
    return true;
}

static void walk_once(walker *wk)
{
    run *r = wk->r;
    sm_map *m = r->map;
    memset(wk->seen_stable, 0, sizeof wk->seen_stable);
    memset(wk->seen_changing, 0, sizeof wk->seen_changing);
    memset(wk->seen_churn, 0, (size_t)r->n_writers * CHURN_RANGE);
    for (unsigned c = 0; c < N_CHANGING; c++) {
        wk->low[c] = atomic_load(&r->done[c]);
    }
    const bool slow = rng_percent(&wk->rng, 50);
    /* seq_cst (an acquire is what counts): see Times. */
    wk->start = atomic_load_explicit(&r->clock, memory_order_seq_cst);
    const sm_stats_info before = stats_of(m);
    bool saw_migration = before.migrating != 0, saw_new_root = false;
    uint64_t root_slots = before.slots;

    sm_iter *it = sm_iter_new(m);
    if (!it) {
        report(r, "walker %u: sm_iter_new returned NULL", wk->id);
        return;
    }
    uint64_t n = 0, k, v;
    int rc;
    bool abandoned = false;
    while ((rc = sm_iter_next(it, &k, &v)) == SM_OK) {
        if (!check_entry(wk, k, v)) {
            abandoned = true;
            break;
        }
        if (++n % SAMPLE_EVERY == 0) {
            sm_stats_info st = stats_of(m);
            saw_migration |= st.migrating != 0;
            saw_new_root |= st.slots != root_slots;
        }
        if (slow && n % SLOW_YIELD_EVERY == 0) {
            sched_yield();
        }
    }
    sm_iter_free(it);
    if (rc != SM_OK && rc != SM_NOT_FOUND) {
        report(r, "walker %u: sm_iter_next returned %s after %" PRIu64 " entries", wk->id,
               sm_status_str(rc), n);
    }
    const sm_stats_info after = stats_of(m);
    saw_migration |= after.migrating != 0;

    /* G1: every stable and every changing key exactly once (twice was
     * caught as it happened). An abandoned walk has already failed. */
    for (unsigned i = 0; i < N_STABLE && !abandoned; i++) {
        if (!wk->seen_stable[i]) {
            report(r, "walker %u: stable key 0x%016" PRIx64 " missing from a walk of %" PRIu64
                   " entries (G1; %" PRIu64 " grows, %" PRIu64 " shrinks during it)",
                   wk->id, stable_key(i), n, after.grows - before.grows,
                   after.shrinks - before.shrinks);
            break;
        }
    }
    for (unsigned c = 0; c < N_CHANGING && !abandoned; c++) {
        if (!wk->seen_changing[c]) {
            report(r, "walker %u: changing key 0x%016" PRIx64 " missing from a walk (G1)",
                   wk->id, changing_key(c));
            break;
        }
        /* G3: no version newer than the last write begun before the end. */
        uint64_t high = atomic_load(&r->begun[c]);
        if (wk->got[c] > high) {
            report(r, "walker %u: changing key 0x%016" PRIx64 " came with version %" PRIu64
                   ", but only %" PRIu64 " had been begun when the walk ended (G3)",
                   wk->id, changing_key(c), wk->got[c], high);
        }
    }
    /* G1 for churn keys present for the whole walk (see Times), and a count
     * of those absent for all of it, which the check in check_entry guards. */
    uint64_t present = 0, absent = 0;
    for (size_t at = 0; at < (size_t)r->n_writers * CHURN_RANGE && !abandoned; at++) {
        write_times *t = &r->churn_times[at];
        /* Each done time before the begun time it is compared with: a write
         * begun after the one loaded first is then seen. seq_cst: see Times. */
        uint64_t inserted = atomic_load_explicit(&t->insert_done, memory_order_seq_cst);
        uint64_t deleting = atomic_load_explicit(&t->delete_begun, memory_order_seq_cst);
        uint64_t deleted = atomic_load_explicit(&t->delete_done, memory_order_seq_cst);
        uint64_t begun = atomic_load_explicit(&t->insert_begun, memory_order_seq_cst);
        if (present_since(wk->start, inserted, deleting)) {
            present++;
            if (!wk->seen_churn[at]) {
                report(r, "walker %u: churn key 0x%016" PRIx64 " missing from a walk: its insert "
                       "returned at tick %" PRIu64 ", before the walk began at %" PRIu64
                       ", and no delete has begun since (G1)", wk->id,
                       churn_key((unsigned)(at / CHURN_RANGE), at % CHURN_RANGE), inserted,
                       wk->start);
                break;
            }
        } else if (!wk->seen_churn[at] && absent_since(wk->start, deleted, begun)) {
            absent++;
        }
    }
    atomic_fetch_add(&r->churn_present_throughout, present);
    atomic_fetch_add(&r->churn_absent_throughout, absent);
    wk->walks++;
    wk->entries += n;
    atomic_fetch_add(&r->walks, 1);
    if (after.grows != before.grows) {
        atomic_fetch_add(&r->walks_over_grow, 1);
    }
    if (after.shrinks != before.shrinks) {
        atomic_fetch_add(&r->walks_over_shrink, 1);
    }
    if (saw_migration) {
        atomic_fetch_add(&r->walks_seeing_migration, 1);
    }
    if (saw_new_root) {
        atomic_fetch_add(&r->walks_seeing_new_root, 1);
    }
}

static void *walker_main(void *arg)
{
    walker *wk = arg;
    run *r = wk->r;
    while (!atomic_load(&r->writers_done) && atomic_load(&r->failures) == 0) {
        walk_once(wk);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */

static void stress(unsigned n_writers, unsigned n_walkers, const char *name)
{
    static run r;
    memset(&r, 0, sizeof r);
    r.seed = test_seed(name);
    r.n_writers = n_writers;
    r.n_walkers = n_walkers;
    pthread_mutex_init(&r.report_lock, NULL);
    struct rng rng = { r.seed };
    sm_options o = SM_OPTIONS_INIT;
    o.seed = rng_next(&rng) | 1;  /* the map's hashing follows the test seed */
    r.map = sm_new(&o);
    assert_non_null(r.map);
    r.churn_times = calloc((size_t)n_writers * CHURN_RANGE, sizeof *r.churn_times);
    assert_non_null(r.churn_times);
    for (uint64_t i = 0; i < N_STABLE; i++) {
        uint64_t k = stable_key(i);
        assert_int_equal(sm_insert(r.map, k, value_for(k), NULL), SM_OK);
    }
    for (uint64_t c = 0; c < N_CHANGING; c++) {
        uint64_t k = changing_key(c);
        assert_int_equal(sm_insert(r.map, k, versioned(k, 0), NULL), SM_OK);
    }
    const sm_stats_info start = stats_of(r.map);

    static writer writers[MAX_WRITERS];
    static walker walkers[MAX_WALKERS];
    for (unsigned j = 0; j < n_walkers; j++) {
        walkers[j] = (walker){ .r = &r, .id = j, .rng = { rng_next(&rng) } };
        walkers[j].seen_churn = calloc((size_t)n_writers * CHURN_RANGE, 1);
        assert_non_null(walkers[j].seen_churn);
        assert_int_equal(pthread_create(&walkers[j].thread, NULL, walker_main, &walkers[j]), 0);
    }
    for (unsigned j = 0; j < n_writers; j++) {
        writers[j] = (writer){ .r = &r, .id = j, .rng = { rng_next(&rng) } };
        assert_int_equal(pthread_create(&writers[j].thread, NULL, writer_main, &writers[j]), 0);
    }
    uint64_t cycles = 0, ops = 0;
    for (unsigned j = 0; j < n_writers; j++) {
        assert_int_equal(pthread_join(writers[j].thread, NULL), 0);
        cycles += writers[j].cycles;
        ops += writers[j].ops;
    }
    atomic_store(&r.writers_done, true);
    uint64_t walks = 0, entries = 0, churn_entries = 0;
    for (unsigned j = 0; j < n_walkers; j++) {
        assert_int_equal(pthread_join(walkers[j].thread, NULL), 0);
        walks += walkers[j].walks;
        entries += walkers[j].entries;
        churn_entries += walkers[j].churn_entries;
        free(walkers[j].seen_churn);
    }
    const sm_stats_info end = stats_of(r.map);
    printf("%s: %u writers, %u walkers: %" PRIu64 " cycles, %" PRIu64 " writes, %" PRIu64
           " grows, %" PRIu64 " shrinks; %" PRIu64 " walks, %" PRIu64 " entries (%" PRIu64
           " churn); walks over a grow %" PRIu64 ", over a shrink %" PRIu64
           ", seeing a migration %" PRIu64 ", seeing a new root %" PRIu64
           "; churn keys present for a whole walk %" PRIu64 ", absent for one %" PRIu64 "\n",
           name, n_writers, n_walkers, cycles, ops, end.grows - start.grows,
           end.shrinks - start.shrinks, walks, entries, churn_entries,
           (uint64_t)atomic_load(&r.walks_over_grow), (uint64_t)atomic_load(&r.walks_over_shrink),
           (uint64_t)atomic_load(&r.walks_seeing_migration),
           (uint64_t)atomic_load(&r.walks_seeing_new_root),
           (uint64_t)atomic_load(&r.churn_present_throughout),
           (uint64_t)atomic_load(&r.churn_absent_throughout));
    fflush(stdout);

    uint64_t failures = atomic_load(&r.failures);
    if (failures != 0) {
        fail_msg("%" PRIu64 " failures (the first are printed above); reproduce the choices "
                 "with SM_TEST_SEED=0x%016" PRIx64, failures, r.seed);
    }
    if (!enough_walks(&r)) {
        fail_msg("after %u cycles per writer too few walks overlapped resizes to count: "
                 "the guarantees were not tested under resizing", MAX_CYCLES);
    }

    /* Quiescent: the invariants, and one last walk that must be exact. */
    char why[256] = "";
    if (smi_check_invariants(r.map, why, sizeof why) != 0) {
        fail_msg("smi_check_invariants: %s", why);
    }
    assert_int_equal(sm_size(r.map), N_STABLE + N_CHANGING);
    sm_iter *it = sm_iter_new(r.map);
    assert_non_null(it);
    uint64_t n = 0, k, v;
    int rc;
    while ((rc = sm_iter_next(it, &k, &v)) == SM_OK) {
        n++;
        if (CLASS_OF(k) == CHANGING_CLASS) {
            uint64_t c = INDEX_OF(k);
            assert_true(c < N_CHANGING);
            assert_int_equal(v, versioned(k, atomic_load(&r.done[c])));
        } else {
            assert_true(k == 0 || k == UINT64_MAX || CLASS_OF(k) == STABLE_CLASS);
            assert_int_equal(v, value_for(k));
        }
        assert_true(n <= N_STABLE + N_CHANGING);
    }
    assert_int_equal(rc, SM_NOT_FOUND);
    assert_int_equal(n, N_STABLE + N_CHANGING);
    sm_iter_free(it);
    sm_destroy(r.map);
    free(r.churn_times);
    pthread_mutex_destroy(&r.report_lock);
}

static void walks_during_grows_and_shrinks(void **state)
{
    (void)state;
    stress(ITER_WRITERS, ITER_WALKERS, "walks_during_grows_and_shrinks");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(walks_during_grows_and_shrinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
