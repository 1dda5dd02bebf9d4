/*
 * stress.c — many threads, mixed operations, a table that grows from empty to
 * millions of keys and shrinks back to near empty, several times; every
 * result checked.
 *
 * Calls: get, put, insert, replace, cas (right and wrong expected value),
 * delete, get_or_insert, compute (set, delete, keep) and get_many.
 *
 * Who may write what. The key space is cut into ranges, one per thread; in
 * each phase a range has exactly one owner, the only thread that writes its
 * keys. The owner therefore knows each of its keys' exact state and checks
 * every result of every call on them (read-your-writes, exact old values,
 * exact return codes). Ownership moves only between phases, while no thread
 * runs.
 *
 * What a value says. A value is (writer thread, sequence number, checksum of
 * key + thread + sequence): a value read anywhere can be validated as one
 * written for THAT key, not a value of another key and not a torn mix of two.
 * Each range numbers its writes 1, 2, 3, ..., so a key's values carry
 * increasing sequence numbers.
 *
 * What other threads check. Per key the owner publishes two words: `begun`,
 * stored before a write call, and `done`, stored after it returns (each the
 * write's sequence, its thread and whether it leaves the key present). A
 * thread reading another owner's key loads done, calls sm_get, loads begun;
 * linearizability (T4) then bounds what the get may return: nothing older
 * than the write completed before the get started, nothing newer than the
 * write begun before it returned. Readers also remember the newest sequence
 * they saw on a few hot keys and fail on any older one seen later. A lookup
 * in an sm_get_many batch is checked the same way, over the batch's call.
 *
 * Phases (each followed by a quiescent check of the whole map against the
 * owners' records, sm_size and smi_check_invariants):
 *   grow/shrink x MIXED_CYCLES  every thread owns a range and also reads others'
 *   split grow/shrink           half the threads only read; the writers own
 *                               all ranges, so the table still reaches the full size
 *   contention                  all threads cas-increment a few shared
 *                               counters while each grows and shrinks a few
 *                               keys of its own; final counts must equal the
 *                               successful cas calls
 *
 * Work is fixed by operation counts, not time. Usage: stress [threads]; the
 * default comes from STRESS_THREADS (the build makes one test per count).
 * SM_TEST_SEED=n repeats a run's choices (not its thread interleaving).
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "steadymap.h"
#include "testing.h"

#ifndef STRESS_THREADS
#define STRESS_THREADS 4
#endif

/* Sanitizers slow every call 5-50x; the sizes shrink so a sanitized run
 * takes about as long as a plain one, and still crosses many resizes. */
#ifdef SM_SANITIZED
#define TOTAL_KEYS 100000u
#define MIXED_CYCLES 2
#define CONTENTION_ATTEMPTS 40000u
#define SAWTOOTH_KEYS 256u
#else
#define TOTAL_KEYS 2000000u
#define MIXED_CYCLES 2
#define CONTENTION_ATTEMPTS 400000u
#define SAWTOOTH_KEYS 4096u
#endif

#define MAX_THREADS 31    /* the thread id has 5 bits in a value */
#define HOT_KEYS 64u      /* per range: written often, watched by readers */
#define COUNTERS 8u       /* shared keys of the contention phase */
#define MAX_REPORTS 20    /* failures printed in full; all are counted */

/*
 * Values: bits 63..59 writer thread, 58..32 sequence, 31..0 checksum.
 * 27 bits of sequence allow 134M writes per range; a run uses under 10M.
 */
#define SEQ_BITS 27
#define SEQ_MAX ((UINT64_C(1) << SEQ_BITS) - 1)

/* The begun/done words: sequence << 6 | thread << 1 | present. */
#define WORD(seq, tid, present) ((uint64_t)(seq) << 6 | (uint64_t)(tid) << 1 | (uint64_t)(present))
#define WORD_SEQ(w) ((w) >> 6)
#define WORD_TID(w) ((unsigned)((w) >> 1 & 31))
#define WORD_PRESENT(w) ((bool)((w) & 1))

typedef struct range {
    uint64_t first;           /* number of its first key (see key_of) */
    uint64_t next_seq;        /* touched by the owner only */
    _Atomic uint64_t *begun;  /* per key: the latest write call started */
    _Atomic uint64_t *done;   /* per key: the latest write call returned */
} range;

typedef enum role { OWNER, READER } role;

typedef enum phase_kind {
    PHASE_GROW,
    PHASE_SHRINK,
    PHASE_CONTENTION,
    PHASE_EXIT
} phase_kind;

typedef struct worker {
    unsigned id;
    pthread_t thread;
    uint64_t rng;
    role role;
    unsigned owned[MAX_THREADS];    /* ranges this worker writes this phase */
    unsigned n_owned;
    unsigned foreign[MAX_THREADS];  /* ranges it may only read */
    unsigned n_foreign;
    uint64_t reads;                 /* foreign reads to do, for a READER */
    uint64_t *hot_seen;             /* [range * HOT_KEYS + i]: newest seq seen */
    uint64_t counter_value[COUNTERS];   /* last value this worker knows */
    uint64_t cas_ok[COUNTERS];          /* its successful increments */
    /* Counts, so the summary shows the checks had something to check. */
    uint64_t ops;
    uint64_t foreign_found;
    uint64_t foreign_absent;
    uint64_t hot_advanced;  /* hot-key reads that saw a newer write than before */
    uint64_t cas_mismatch;
} worker;

static sm_map *map;
static unsigned n_threads;
static uint64_t keys_per_range;
static uint64_t seed;
static range ranges[MAX_THREADS];
static worker workers[MAX_THREADS];
static pthread_barrier_t barrier;
static phase_kind phase;
static const char *phase_name;
static atomic_uint_fast64_t failures;

static void fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&failures, 1) >= MAX_REPORTS)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL [%s, seed %" PRIu64 "] %s\n", phase_name, seed, line);
}

/* A bijection on 64-bit words (the splitmix64 finaliser); mix(0) == 0. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t rnd(worker *w)
{
    return mix(w->rng += 0x9e3779b97f4a7c15ULL);
}

static uint64_t below(worker *w, uint64_t n)
{
    return rnd(w) % n;
}

/*
 * Key number n -> key: spread over the whole 64-bit space, and both 0 and
 * UINT64_MAX are keys, because a map with a sentinel key would fail on them.
 * mix(0) == 0 gives key 0; swapping the images of 1 and of the number that
 * mixes to UINT64_MAX keeps the mapping a bijection and makes key 1 map to
 * UINT64_MAX.
 */
static uint64_t key_of(uint64_t n)
{
    if (n == 1)
        return UINT64_MAX;
    uint64_t k = mix(n);
    if (k == UINT64_MAX)
        return mix(1);
    return k;
}

static uint32_t checksum(uint64_t key, unsigned tid, uint64_t seq)
{
    return (uint32_t)(mix(key ^ mix(seq << 5 | tid)) >> 32);
}

static uint64_t encode(uint64_t key, unsigned tid, uint64_t seq)
{
    return (uint64_t)tid << 59 | seq << 32 | checksum(key, tid, seq);
}

/* True when v is a value some thread could have written for this key. */
static bool decode(uint64_t key, uint64_t v, unsigned *tid, uint64_t *seq)
{
    *tid = (unsigned)(v >> 59);
    *seq = v >> 32 & SEQ_MAX;
    return (uint32_t)v == checksum(key, *tid, *seq) && *tid < n_threads;
}

/* Says what a wrong value is, for failure lines. */
static const char *describe(uint64_t key, uint64_t v, char *buf, size_t len)
{
    unsigned tid;
    uint64_t seq;
    if (decode(key, v, &tid, &seq))
        snprintf(buf, len, "%#" PRIx64 " (thread %u seq %" PRIu64 ")", v, tid, seq);
    else
        snprintf(buf, len, "%#" PRIx64 " (never written for this key: torn or foreign)", v);
    return buf;
}

typedef enum op_kind {
    OP_GET,
    OP_PUT,
    OP_INSERT,
    OP_REPLACE,
    OP_CAS,
    OP_CAS_WRONG,   /* cas with an expected value the key does not hold */
    OP_DELETE,
    OP_GET_OR_INSERT,
    OP_COMPUTE_SET,     /* sm_compute storing a new value (insert or replace) */
    OP_COMPUTE_DELETE,  /* sm_compute deleting the key if present */
    OP_COMPUTE_KEEP,    /* sm_compute changing nothing */
    OP_KINDS
} op_kind;

static const char *const op_names[OP_KINDS] = {
    "get", "put", "insert", "replace", "cas", "cas(wrong expected)", "delete",
    "get_or_insert", "compute(set)", "compute(delete)", "compute(keep)",
};

/* What an owner's sm_compute does: the action, and the value to set. */
typedef struct compute_plan {
    sm_compute_action action;
    uint64_t value;
} compute_plan;

static sm_compute_action compute_fn(uint64_t key, int present, uint64_t *value, void *ctx)
{
    (void)key;
    (void)present;
    const compute_plan *plan = ctx;
    if (plan->action == SM_COMPUTE_SET)
        *value = plan->value;
    return plan->action;
}

/*
 * One call by the owner on key i of range r, checked exactly against what
 * the owner knows the key holds.
 */
static void owner_op(worker *w, unsigned r, uint64_t i, op_kind kind)
{
    range *rg = &ranges[r];
    uint64_t key = key_of(rg->first + i);
    uint64_t now = atomic_load_explicit(&rg->done[i], memory_order_relaxed);
    bool present = WORD_PRESENT(now);
    uint64_t cur = present ? encode(key, WORD_TID(now), WORD_SEQ(now)) : 0;

    bool changes;
    switch (kind) {
    case OP_PUT:
    case OP_DELETE:
        changes = kind == OP_PUT || present;
        break;
    case OP_INSERT:
    case OP_GET_OR_INSERT:
        changes = !present;
        break;
    case OP_REPLACE:
    case OP_CAS:
    case OP_COMPUTE_DELETE:
        changes = present;
        break;
    case OP_COMPUTE_SET:
        changes = true;
        break;
    default:
        changes = false;
        break;
    }
    uint64_t seq = rg->next_seq;
    if (seq > SEQ_MAX) {
        fprintf(stderr, "stress: range %u ran out of sequence numbers\n", r);
        exit(2);
    }
    uint64_t word = WORD(seq, w->id, kind != OP_DELETE && kind != OP_COMPUTE_DELETE);
    uint64_t nv = encode(key, w->id, seq);
    if (changes) {
        rg->next_seq++;
        /* Pairs with the seq_cst load of begun after a reader's get. */
        atomic_store_explicit(&rg->begun[i], word, memory_order_seq_cst);
    }

    /* An out-pointer may be NULL (B1); pass one now and then. */
    uint64_t out = 0;
    uint64_t *outp = below(w, 8) == 0 ? NULL : &out;
    int rc, want;
    /* Most calls report the value the key held, when it held one. */
    uint64_t expect_out = cur;
    bool out_expected = present;
    switch (kind) {
    case OP_GET:
        rc = sm_get(map, key, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_PUT:
        rc = sm_put(map, key, nv, outp);
        want = present ? SM_REPLACED : SM_OK;
        break;
    case OP_INSERT:
        rc = sm_insert(map, key, nv, outp);
        want = present ? SM_EXISTS : SM_OK;
        break;
    case OP_REPLACE:
        rc = sm_replace(map, key, nv, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_CAS:
        rc = sm_cas(map, key, cur, nv, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_CAS_WRONG:
        rc = sm_cas(map, key, cur ^ 1, nv, outp);
        want = present ? SM_MISMATCH : SM_NOT_FOUND;
        break;
    case OP_DELETE:
        rc = sm_delete(map, key, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_GET_OR_INSERT:
        rc = sm_get_or_insert(map, key, nv, outp);
        want = present ? SM_EXISTS : SM_OK;
        /* It reports the value now in the map, which it may have inserted. */
        expect_out = present ? cur : nv;
        out_expected = true;
        break;
    default: {
        compute_plan plan = { kind == OP_COMPUTE_SET      ? SM_COMPUTE_SET
                              : kind == OP_COMPUTE_DELETE ? SM_COMPUTE_DELETE
                                                          : SM_COMPUTE_KEEP,
                              nv };
        rc = sm_compute(map, key, compute_fn, &plan, outp);
        /* rc and out tell the state after the call. */
        bool after = kind == OP_COMPUTE_SET || (kind == OP_COMPUTE_KEEP && present);
        want = after ? SM_OK : SM_NOT_FOUND;
        expect_out = kind == OP_COMPUTE_SET ? nv : cur;
        out_expected = after;
        break;
    }
    }
    w->ops++;
    if (rc != want) {
        fail("thread %u %s(key %#" PRIx64 ") returned %d (%s), expected %d: the key is %s",
             w->id, op_names[kind], key, rc, sm_status_str(rc), want,
             present ? "present" : "absent");
    } else if (out_expected && outp && out != expect_out) {
        char got[96], exp[96];
        fail("thread %u %s(key %#" PRIx64 ") reported %s, expected %s",
             w->id, op_names[kind], key, describe(key, out, got, sizeof got),
             describe(key, expect_out, exp, sizeof exp));
    }
    if (changes) {
        /* Pairs with the load of done before a reader's get. */
        atomic_store_explicit(&rg->done[i], word, memory_order_seq_cst);
    }
}

/*
 * Check what a lookup of key i of another owner's range r returned (rc, v)
 * against the range's done word loaded before the lookup and its begun word
 * loaded after it.
 */
static void check_foreign(worker *w, unsigned r, uint64_t i, int rc, uint64_t v,
                          uint64_t before, uint64_t after, const char *call)
{
    uint64_t key = key_of(ranges[r].first + i);
    if (rc == SM_NOT_FOUND) {
        w->foreign_absent++;
        /* A put completed before the lookup began and no write has begun
         * since: the key was present for the lookup's whole duration. (A
         * write whose effect the lookup could see has stored its begun word
         * first; on this machine's TSO memory the load after sees it.) */
        if (WORD_PRESENT(before) && after == before)
            fail("thread %u: %s(key %#" PRIx64 ") found nothing, but seq %" PRIu64
                 " put it before the call and nothing began since",
                 w->id, call, key, WORD_SEQ(before));
        return;
    }
    if (rc != SM_OK) {
        fail("thread %u: %s(key %#" PRIx64 ") returned %d (%s)", w->id, call, key, rc,
             sm_status_str(rc));
        return;
    }
    w->foreign_found++;
    unsigned tid;
    uint64_t seq;
    char got[96];
    if (!decode(key, v, &tid, &seq)) {
        fail("thread %u: %s(key %#" PRIx64 ") returned %s", w->id, call, key,
             describe(key, v, got, sizeof got));
        return;
    }
    /* A sequence that was a delete's, not a put's, is not a value either. */
    bool too_old = seq < WORD_SEQ(before) ||
                   (seq == WORD_SEQ(before) && !WORD_PRESENT(before));
    bool too_new = seq > WORD_SEQ(after) ||
                   (seq == WORD_SEQ(after) && !WORD_PRESENT(after));
    if (too_old || too_new) {
        fail("thread %u: %s(key %#" PRIx64 ") returned %s; writes completed before "
             "it reached seq %" PRIu64 "%s, writes begun before it returned seq %" PRIu64,
             w->id, call, key, describe(key, v, got, sizeof got), WORD_SEQ(before),
             WORD_PRESENT(before) ? "" : " (a delete)", WORD_SEQ(after));
    }
    if (i < HOT_KEYS) {
        uint64_t *seen = &w->hot_seen[r * HOT_KEYS + i];
        if (seq < *seen)
            fail("thread %u: %s(key %#" PRIx64 ") returned seq %" PRIu64
                 " after this thread had already seen seq %" PRIu64,
                 w->id, call, key, seq, *seen);
        else if (seq > *seen) {
            w->hot_advanced += *seen != 0;
            *seen = seq;
        }
    }
}

/* Loads pair with the seq_cst stores in owner_op. */
static uint64_t load_done(unsigned r, uint64_t i)
{
    return atomic_load_explicit(&ranges[r].done[i], memory_order_seq_cst);
}

static uint64_t load_begun(unsigned r, uint64_t i)
{
    return atomic_load_explicit(&ranges[r].begun[i], memory_order_seq_cst);
}

static void pick_foreign(worker *w, unsigned *r, uint64_t *i)
{
    *r = w->foreign[below(w, w->n_foreign)];
    /* Half the reads go to hot keys, which their owner rewrites often. */
    *i = below(w, 2) ? below(w, HOT_KEYS) : below(w, keys_per_range);
}

#define BATCH 4

/*
 * A read of other owners' keys: mostly one sm_get, sometimes one sm_get_many
 * of BATCH distinct keys, each of whose lookups has sm_get's semantics within
 * the batch call (the batch is not atomic as a whole, so distinct keys keep
 * the hot-key order check meaningful).
 */
static void random_foreign_read(worker *w)
{
    if (w->n_foreign == 0)
        return;
    unsigned r[BATCH];
    uint64_t i[BATCH], key[BATCH], before[BATCH], value[BATCH];
    if (below(w, 4) != 0) {
        pick_foreign(w, &r[0], &i[0]);
        before[0] = load_done(r[0], i[0]);
        value[0] = 0;
        int rc = sm_get(map, key_of(ranges[r[0]].first + i[0]), &value[0]);
        uint64_t after = load_begun(r[0], i[0]);
        w->ops++;
        check_foreign(w, r[0], i[0], rc, value[0], before[0], after, "get");
        return;
    }
    for (unsigned j = 0; j < BATCH; j++) {
        bool distinct;
        do {
            pick_foreign(w, &r[j], &i[j]);
            distinct = true;
            for (unsigned k = 0; k < j; k++)
                distinct &= r[k] != r[j] || i[k] != i[j];
        } while (!distinct);
        key[j] = key_of(ranges[r[j]].first + i[j]);
        before[j] = load_done(r[j], i[j]);
        value[j] = 0;
    }
    uint8_t found[BATCH] = { 0 };
    int rc = sm_get_many(map, key, BATCH, value, found);
    w->ops++;
    if (rc < 0) {
        fail("thread %u: get_many returned %d (%s)", w->id, rc, sm_status_str(rc));
        return;
    }
    int n_found = 0;
    for (unsigned j = 0; j < BATCH; j++) {
        n_found += found[j];
        check_foreign(w, r[j], i[j], found[j] ? SM_OK : SM_NOT_FOUND, value[j],
                      before[j], load_begun(r[j], i[j]), "get_many");
    }
    if (rc != n_found)
        fail("thread %u: get_many returned %d but flagged %d keys found", w->id, rc,
             n_found);
}

/* Worker-local index j over all owned keys -> (range, key index). */
static void owned_key(const worker *w, uint64_t j, unsigned *r, uint64_t *i)
{
    *r = w->owned[j % w->n_owned];
    *i = j / w->n_owned;
}

/*
 * One step of a grow (shrink) phase: insert (delete) owned key j, then maybe
 * one random op on an owned key, then maybe one read of another owner's key.
 * Random ops in the grow phase touch keys already visited, those in the
 * shrink phase keys not yet visited, and both touch hot keys, so the table
 * ends near empty after a shrink.
 */
static void step(worker *w, uint64_t j, uint64_t total, bool growing)
{
    unsigned r;
    uint64_t i;
    owned_key(w, j, &r, &i);
    if (growing)
        owner_op(w, r, i, below(w, 2) ? OP_PUT : OP_INSERT);
    else
        owner_op(w, r, i, OP_DELETE);

    if (below(w, 2)) {
        uint64_t target;
        if (below(w, 4) == 0)
            target = below(w, (uint64_t)w->n_owned * HOT_KEYS);
        else if (growing)
            target = below(w, j + 1);
        else
            target = j + below(w, total - j);
        owned_key(w, target, &r, &i);
        owner_op(w, r, i, (op_kind)below(w, OP_KINDS));
    }
    if (below(w, 2))
        random_foreign_read(w);
}

static void grow_or_shrink(worker *w, bool growing)
{
    if (w->role == READER) {
        for (uint64_t n = 0; n < w->reads; n++)
            random_foreign_read(w);
        return;
    }
    uint64_t total = (uint64_t)w->n_owned * keys_per_range;
    for (uint64_t j = 0; j < total; j++)
        step(w, j, total, growing);
}

static uint64_t counter_key(unsigned c)
{
    return key_of((uint64_t)n_threads * keys_per_range + c);
}

/* A counter's value, validated; its count is the value's sequence field. */
static bool counter_count(worker *w, unsigned c, uint64_t v, uint64_t *count)
{
    unsigned tid;
    char got[96];
    if (!decode(counter_key(c), v, &tid, count)) {
        fail("thread %u: counter %u holds %s", w->id, c,
             describe(counter_key(c), v, got, sizeof got));
        return false;
    }
    return true;
}

/*
 * All threads increment shared counters by cas while each runs a sawtooth of
 * inserts and deletes on its own first SAWTOOTH_KEYS keys, so the table keeps
 * resizing under the contended keys.
 */
static void contention(worker *w)
{
    uint64_t attempts = CONTENTION_ATTEMPTS / n_threads;
    for (uint64_t a = 0; a < attempts; a++) {
        unsigned c = (unsigned)below(w, COUNTERS);
        uint64_t key = counter_key(c);
        uint64_t cur = w->counter_value[c], count;
        if (below(w, 4) == 0) {
            uint64_t v = 0, seen;
            int rc = sm_get(map, key, &v);
            w->ops++;
            if (rc != SM_OK) {
                fail("thread %u: get(counter %u) returned %d (%s)", w->id, c, rc,
                     sm_status_str(rc));
                continue;
            }
            if (!counter_count(w, c, v, &count) || !counter_count(w, c, cur, &seen))
                continue;
            /* Counts only grow, and this thread saw cur before this get. */
            if (count < seen)
                fail("thread %u: counter %u read %" PRIu64 " after %" PRIu64,
                     w->id, c, count, seen);
            cur = v;
        }
        if (!counter_count(w, c, cur, &count))
            continue;
        uint64_t desired = encode(key, w->id, count + 1), actual = 0, got;
        int rc = sm_cas(map, key, cur, desired, &actual);
        w->ops++;
        if (rc == SM_OK) {
            w->cas_ok[c]++;
            if (actual != cur)
                fail("thread %u: cas(counter %u) succeeded but reported actual "
                     "%#" PRIx64 ", expected %#" PRIx64, w->id, c, actual, cur);
            w->counter_value[c] = desired;
        } else if (rc == SM_MISMATCH) {
            w->cas_mismatch++;
            if (!counter_count(w, c, actual, &got))
                continue;
            /* Values with equal counts would mean two increments from the
             * same value both succeeded. */
            if (got <= count)
                fail("thread %u: cas(counter %u) expected count %" PRIu64
                     " and saw count %" PRIu64 " (%#" PRIx64 " vs %#" PRIx64 ")",
                     w->id, c, count, got, cur, actual);
            w->counter_value[c] = actual;
        } else {
            fail("thread %u: cas(counter %u) returned %d (%s)", w->id, c, rc,
                 sm_status_str(rc));
        }

        uint64_t q = a % (2 * SAWTOOTH_KEYS);
        if (q < SAWTOOTH_KEYS)
            owner_op(w, w->owned[0], q, below(w, 2) ? OP_PUT : OP_INSERT);
        else
            owner_op(w, w->owned[0], q - SAWTOOTH_KEYS, OP_DELETE);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_barrier_wait(&barrier);
        if (phase == PHASE_EXIT)
            return NULL;
        if (phase == PHASE_CONTENTION)
            contention(w);
        else
            grow_or_shrink(w, phase == PHASE_GROW);
        pthread_barrier_wait(&barrier);
    }
}

/*
 * Give out the ranges: with `readers` == 0 each worker owns its own range;
 * otherwise the last `readers` workers own nothing and the others share all
 * ranges round-robin. The map is quiescent, so ownership may move.
 */
static void assign(unsigned readers)
{
    unsigned writers = n_threads - readers;
    for (unsigned t = 0; t < n_threads; t++) {
        worker *w = &workers[t];
        w->role = t < writers ? OWNER : READER;
        w->n_owned = w->n_foreign = 0;
    }
    for (unsigned r = 0; r < n_threads; r++) {
        unsigned owner = readers ? r % writers : r;
        for (unsigned t = 0; t < n_threads; t++) {
            worker *w = &workers[t];
            if (t == owner)
                w->owned[w->n_owned++] = r;
            else
                w->foreign[w->n_foreign++] = r;
        }
    }
    uint64_t writer_steps = (uint64_t)workers[0].n_owned * keys_per_range;
    /* Readers do about as many calls as a writer, so they run alongside the
     * writers for most of the phase. */
    for (unsigned t = writers; t < n_threads; t++)
        workers[t].reads = 2 * writer_steps;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static bool counters_live;

/*
 * With no thread running, compare every key with its owner's record, and the
 * counters with the successful increments; then sm_size and the map's own
 * invariant check.
 */
static void verify(void)
{
    uint64_t expected = 0;
    for (unsigned r = 0; r < n_threads; r++) {
        range *rg = &ranges[r];
        for (uint64_t i = 0; i < keys_per_range; i++) {
            uint64_t word = atomic_load(&rg->done[i]);
            uint64_t key = key_of(rg->first + i);
            uint64_t v = 0;
            int rc = sm_get(map, key, &v);
            if (WORD_PRESENT(word)) {
                expected++;
                uint64_t want = encode(key, WORD_TID(word), WORD_SEQ(word));
                if (rc != SM_OK || v != want) {
                    char got[96], exp[96];
                    fail("quiescent: key %#" PRIx64 " should hold %s, get returned %d "
                         "(%s) with %s", key, describe(key, want, exp, sizeof exp), rc,
                         sm_status_str(rc), describe(key, v, got, sizeof got));
                }
            } else if (rc != SM_NOT_FOUND) {
                char got[96];
                fail("quiescent: key %#" PRIx64 " was deleted (seq %" PRIu64
                     "), get returned %d (%s) with %s", key, WORD_SEQ(word), rc,
                     sm_status_str(rc), describe(key, v, got, sizeof got));
            }
        }
    }
    if (counters_live) {
        for (unsigned c = 0; c < COUNTERS; c++) {
            uint64_t sum = 0, v = 0, count;
            unsigned tid;
            for (unsigned t = 0; t < n_threads; t++)
                sum += workers[t].cas_ok[c];
            int rc = sm_get(map, counter_key(c), &v);
            if (rc != SM_OK || !decode(counter_key(c), v, &tid, &count) || count != sum)
                fail("quiescent: counter %u: get returned %d with %#" PRIx64
                     ", expected count %" PRIu64 " (the successful cas calls)",
                     c, rc, v, sum);
        }
        expected += COUNTERS;
    }
    size_t size = sm_size(map);
    if (size != expected)
        fail("quiescent: sm_size is %zu, the owners' records hold %" PRIu64, size, expected);
    char why[256] = "";
    if (smi_check_invariants(map, why, sizeof why) != 0)
        fail("quiescent: smi_check_invariants: %s", why);
}

static sm_stats_info stats(void)
{
    sm_stats_info st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (sm_stats(map, &st) != SM_OK)
        fail("sm_stats failed");
    return st;
}

/* Run one phase on all workers, then check the quiescent map. */
static void run_phase(phase_kind kind, const char *name)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sm_stats_info before = stats();
    phase = kind;
    phase_name = name;
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    double ran = seconds_since(&t0);
    verify();
    sm_stats_info after = stats();
    printf("  %-14s %5.2f s  %9" PRIu64 " entries, %9" PRIu64 " slots, grows %" PRIu64
           ", shrinks %" PRIu64 "\n", name, ran, after.entries, after.slots,
           after.grows, after.shrinks);
    fflush(stdout);
    /* The point of the test is operating through resizes; a phase that did
     * not resize the table did not test that, which must not pass unseen. */
    if (kind == PHASE_GROW && after.grows == before.grows)
        fail("the table did not grow during this phase");
    if (kind == PHASE_SHRINK && after.shrinks == before.shrinks)
        fail("the table did not shrink during this phase");
}

static uint64_t choose_seed(void)
{
    const char *env = getenv("SM_TEST_SEED");
    if (env && *env)
        return strtoull(env, NULL, 0);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return mix((uint64_t)t.tv_sec ^ (uint64_t)t.tv_nsec << 16 ^ (uint64_t)getpid());
}

int main(int argc, char **argv)
{
    n_threads = argc > 1 ? (unsigned)atoi(argv[1]) : STRESS_THREADS;
    if (n_threads < 2 || n_threads > MAX_THREADS) {
        fprintf(stderr, "usage: %s [threads, 2..%d]\n", argv[0], MAX_THREADS);
        return 2;
    }
    seed = choose_seed();
    keys_per_range = TOTAL_KEYS / n_threads;
    printf("stress: %u threads, %" PRIu64 " keys, seed %" PRIu64
           " (SM_TEST_SEED=%" PRIu64 " repeats it)\n",
           n_threads, keys_per_range * n_threads, seed, seed);
    fflush(stdout);

    map = sm_new(NULL);
    if (!map) {
        perror("sm_new");
        return 1;
    }
    for (unsigned r = 0; r < n_threads; r++) {
        ranges[r].first = (uint64_t)r * keys_per_range;
        ranges[r].next_seq = 1;
        ranges[r].begun = calloc(keys_per_range, sizeof *ranges[r].begun);
        ranges[r].done = calloc(keys_per_range, sizeof *ranges[r].done);
        workers[r].id = r;
        workers[r].rng = mix(seed ^ mix(r + 1));
        workers[r].hot_seen = calloc((size_t)n_threads * HOT_KEYS, sizeof(uint64_t));
        if (!ranges[r].begun || !ranges[r].done || !workers[r].hot_seen) {
            perror("calloc");
            return 1;
        }
    }
    pthread_barrier_init(&barrier, NULL, n_threads + 1);
    for (unsigned t = 0; t < n_threads; t++) {
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char name[32];
    assign(0);
    for (int cycle = 1; cycle <= MIXED_CYCLES; cycle++) {
        snprintf(name, sizeof name, "grow %d", cycle);
        run_phase(PHASE_GROW, name);
        snprintf(name, sizeof name, "shrink %d", cycle);
        run_phase(PHASE_SHRINK, name);
    }
    assign(n_threads / 2);
    run_phase(PHASE_GROW, "split grow");
    run_phase(PHASE_SHRINK, "split shrink");

    assign(0);
    for (unsigned c = 0; c < COUNTERS; c++) {
        uint64_t v = encode(counter_key(c), 0, 0);
        if (sm_insert(map, counter_key(c), v, NULL) != SM_OK)
            fail("could not insert counter %u", c);
        for (unsigned t = 0; t < n_threads; t++)
            workers[t].counter_value[c] = v;
    }
    counters_live = true;
    run_phase(PHASE_CONTENTION, "contention");

    phase = PHASE_EXIT;
    pthread_barrier_wait(&barrier);
    uint64_t ops = 0, found = 0, absent = 0, advanced = 0, mismatches = 0, cas_ok = 0;
    for (unsigned t = 0; t < n_threads; t++) {
        pthread_join(workers[t].thread, NULL);
        ops += workers[t].ops;
        found += workers[t].foreign_found;
        absent += workers[t].foreign_absent;
        advanced += workers[t].hot_advanced;
        mismatches += workers[t].cas_mismatch;
        for (unsigned c = 0; c < COUNTERS; c++)
            cas_ok += workers[t].cas_ok[c];
    }
    double ran = seconds_since(&t0);
    printf("  %" PRIu64 " calls; reads of other owners' keys: %" PRIu64 " found, %" PRIu64
           " absent, %" PRIu64 " saw a hot key advance; counters: %" PRIu64
           " increments, %" PRIu64 " lost races\n",
           ops, found, absent, advanced, cas_ok, mismatches);

    sm_destroy(map);
    for (unsigned r = 0; r < n_threads; r++) {
        free(ranges[r].begun);
        free(ranges[r].done);
        free(workers[r].hot_seen);
    }
    pthread_barrier_destroy(&barrier);

    uint64_t failed = atomic_load(&failures);
    printf("stress %u threads: %s, %" PRIu64 " failures, %.1f s, seed %" PRIu64 "\n",
           n_threads, failed ? "FAILED" : "passed", failed, ran, seed);
    return failed != 0;
}
