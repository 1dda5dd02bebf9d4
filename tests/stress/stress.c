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
 * What other threads check: each read of another owner's key, and each
 * lookup in an sm_get_many batch, against the owner's begun/done records
 * (T4) and the hot-key order, as harness.h describes.
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
 * In every phase one more thread calls sm_reserve while the others write:
 * each time the entry count has doubled since the phase began or its last
 * call, it reserves room for twice the entries, so inserts land in tables
 * that a reserve migrates into; each time it has halved, it reserves the
 * entries there are, which only finishes a shrink running under the writers
 * (a growing reserve in a shrink phase held the resize gate while the last
 * deletes ran, and nothing shrank the table after it). The checks above find
 * what such a write loses or invents (an insert into a reserve's table once
 * reported SM_OK and stored nothing).
 *
 * Work is fixed by operation counts, not time. Usage: stress [threads]; the
 * default comes from STRESS_THREADS (the build makes one test per count).
 * SM_TEST_SEED=n repeats a run's choices (not its thread interleaving).
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include "steadymap.h"

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

#define COUNTERS 8u       /* shared keys of the contention phase */

/*
 * Values: bits 63..59 writer thread, 58..32 sequence, 31..0 checksum.
 * 27 bits of sequence allow 134M writes per range; a run uses under 10M.
 */
#define SEQ_BITS 27
#define SEQ_MAX ((UINT64_C(1) << SEQ_BITS) - 1)

/* Per range: the sequence of its next write, touched by its owner only. */
static uint64_t next_seq[MAX_THREADS];

/* Per worker, indexed by its id: what it knows of the shared counters. */
static struct {
    uint64_t counter_value[COUNTERS];   /* last value this worker knows */
    uint64_t cas_ok[COUNTERS];          /* its successful increments */
    uint64_t cas_mismatch;
} local[MAX_THREADS];

static bool counters_live;

/*
 * Key number n -> key: spread over the whole 64-bit space, and both 0 and
 * UINT64_MAX are keys, because a map with a sentinel key would fail on them.
 * mix64(0) == 0 gives key 0; swapping the images of 1 and of the number that
 * mixes to UINT64_MAX keeps the mapping a bijection and makes key 1 map to
 * UINT64_MAX.
 */
static uint64_t key_of(uint64_t n)
{
    if (n == 1)
        return UINT64_MAX;
    uint64_t k = mix64(n);
    if (k == UINT64_MAX)
        return mix64(1);
    return k;
}

static const char *key_name(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%#" PRIx64, key_of(id));
    return buf;
}

static uint32_t checksum(uint64_t key, unsigned tid, uint64_t seq)
{
    return (uint32_t)(mix64(key ^ mix64(seq << 5 | tid)) >> 32);
}

static uint64_t encode(uint64_t id, unsigned tid, uint64_t seq)
{
    return (uint64_t)tid << 59 | seq << 32 | checksum(key_of(id), tid, seq);
}

/* True when v is a value some thread could have written for key number id. */
static bool decode(uint64_t id, uint64_t v, unsigned *tid, uint64_t *seq)
{
    *tid = (unsigned)(v >> 59);
    *seq = v >> 32 & SEQ_MAX;
    return (uint32_t)v == checksum(key_of(id), *tid, *seq) && *tid < n_threads;
}

/* Says what a wrong value is, for failure lines. */
static const char *describe(uint64_t id, uint64_t v, char *buf, size_t len)
{
    unsigned tid;
    uint64_t seq;
    if (decode(id, v, &tid, &seq))
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
 * One call by the owner on its key number id, checked exactly against what
 * the owner knows the key holds.
 */
static void owner_op(worker *w, uint64_t id, op_kind kind)
{
    unsigned r = (unsigned)(id / keys_per_range);
    uint64_t key = key_of(id);
    uint64_t now = own_done(id);
    bool present = WORD_PRESENT(now);
    uint64_t cur = present ? encode(id, WORD_TID(now), WORD_SEQ(now)) : 0;

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
    uint64_t seq = next_seq[r];
    if (seq > SEQ_MAX) {
        fprintf(stderr, "stress: range %u ran out of sequence numbers\n", r);
        exit(2);
    }
    uint64_t word = WORD(seq, w->id, kind != OP_DELETE && kind != OP_COMPUTE_DELETE);
    uint64_t nv = encode(id, w->id, seq);
    if (changes) {
        next_seq[r]++;
        publish_begun(id, word);
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
             w->id, op_names[kind], key, describe(id, out, got, sizeof got),
             describe(id, expect_out, exp, sizeof exp));
    }
    if (changes)
        publish_done(id, word);
}

/*
 * A read of other owners' keys: mostly one sm_get, sometimes one sm_get_many
 * of BATCH distinct keys, each of whose lookups has sm_get's semantics within
 * the batch call.
 */
static void random_foreign_read(worker *w)
{
    if (w->n_foreign == 0)
        return;
    if (below(w, 4) != 0) {
        uint64_t id = pick_foreign(w);
        uint64_t before = load_done(id), v = 0;
        int rc = sm_get(map, key_of(id), &v);
        uint64_t after = load_begun(id);
        w->ops++;
        check_foreign(w, id, rc, v, before, after, "get");
        return;
    }
    uint64_t id[BATCH], key[BATCH], before[BATCH], value[BATCH];
    pick_foreign_batch(w, id);
    for (unsigned j = 0; j < BATCH; j++) {
        key[j] = key_of(id[j]);
        before[j] = load_done(id[j]);
        value[j] = 0;
    }
    uint8_t found[BATCH] = { 0 };
    int rc = sm_get_many(map, key, BATCH, value, found);
    w->ops++;
    check_batch(w, id, before, rc, value, found, "get_many");
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
    if (growing)
        owner_op(w, owned_key(w, j), below(w, 2) ? OP_PUT : OP_INSERT);
    else
        owner_op(w, owned_key(w, j), OP_DELETE);

    if (below(w, 2)) {
        uint64_t target;
        if (below(w, 4) == 0)
            target = below(w, (uint64_t)w->n_owned * HOT_KEYS);
        else if (growing)
            target = below(w, j + 1);
        else
            target = j + below(w, total - j);
        owner_op(w, owned_key(w, target), (op_kind)below(w, OP_KINDS));
    }
    if (below(w, 2))
        random_foreign_read(w);
}

/* The counters' key numbers follow the ranges'. */
static uint64_t counter_id(unsigned c)
{
    return total_keys + c;
}

/* A counter's value, validated; its count is the value's sequence field. */
static bool counter_count(worker *w, unsigned c, uint64_t v, uint64_t *count)
{
    unsigned tid;
    char got[96];
    if (!decode(counter_id(c), v, &tid, count)) {
        fail("thread %u: counter %u holds %s", w->id, c,
             describe(counter_id(c), v, got, sizeof got));
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
        uint64_t key = key_of(counter_id(c));
        uint64_t cur = local[w->id].counter_value[c], count;
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
        uint64_t desired = encode(counter_id(c), w->id, count + 1), actual = 0, got;
        int rc = sm_cas(map, key, cur, desired, &actual);
        w->ops++;
        if (rc == SM_OK) {
            local[w->id].cas_ok[c]++;
            if (actual != cur)
                fail("thread %u: cas(counter %u) succeeded but reported actual "
                     "%#" PRIx64 ", expected %#" PRIx64, w->id, c, actual, cur);
            local[w->id].counter_value[c] = desired;
        } else if (rc == SM_MISMATCH) {
            local[w->id].cas_mismatch++;
            if (!counter_count(w, c, actual, &got))
                continue;
            /* Values with equal counts would mean two increments from the
             * same value both succeeded. */
            if (got <= count)
                fail("thread %u: cas(counter %u) expected count %" PRIu64
                     " and saw count %" PRIu64 " (%#" PRIx64 " vs %#" PRIx64 ")",
                     w->id, c, count, got, cur, actual);
            local[w->id].counter_value[c] = actual;
        } else {
            fail("thread %u: cas(counter %u) returned %d (%s)", w->id, c, rc,
                 sm_status_str(rc));
        }

        uint64_t q = a % (2 * SAWTOOTH_KEYS);
        if (q < SAWTOOTH_KEYS)
            owner_op(w, key_number(w->owned[0], q), below(w, 2) ? OP_PUT : OP_INSERT);
        else
            owner_op(w, key_number(w->owned[0], q - SAWTOOTH_KEYS), OP_DELETE);
    }
}

static uint64_t reserves;  /* sm_reserve calls, by the watcher only */

/* The watcher (see the top): sm_reserve alongside the workers. */
static void reserve_while_writing(void)
{
    uint64_t last = sm_size(map);
    while (!workers_finished()) {
        uint64_t n = sm_size(map);
        if (n >= 2 * last + 1024 || n < last / 2) {
            uint64_t want = n > last ? 2 * n : n;
            int rc = sm_reserve(map, want);
            reserves++;
            if (rc != SM_OK)
                fail("sm_reserve(%" PRIu64 ") returned %d (%s)", want, rc, sm_status_str(rc));
            last = n;
        }
        /* Polling the count, not pacing a check: no result depends on it. */
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
}

static int lookup(uint64_t id, uint64_t *v)
{
    return sm_get(map, key_of(id), v);
}

/* Once the contention phase has begun: the counters against the successful
 * increments. */
static uint64_t verify_counters(void)
{
    if (!counters_live)
        return 0;
    for (unsigned c = 0; c < COUNTERS; c++) {
        uint64_t sum = 0, v = 0, count;
        unsigned tid;
        for (unsigned t = 0; t < n_threads; t++)
            sum += local[t].cas_ok[c];
        int rc = sm_get(map, key_of(counter_id(c)), &v);
        if (rc != SM_OK || !decode(counter_id(c), v, &tid, &count) || count != sum)
            fail("quiescent: counter %u: get returned %d with %#" PRIx64
                 ", expected count %" PRIu64 " (the successful cas calls)",
                 c, rc, v, sum);
    }
    return COUNTERS;
}

static void report(const char *name, double seconds, const sm_stats_info *st)
{
    printf("  %-14s %5.2f s  %9" PRIu64 " entries, %9" PRIu64 " slots, grows %" PRIu64
           ", shrinks %" PRIu64 "\n", name, seconds, st->entries, st->slots, st->grows,
           st->shrinks);
}

static const stress_program program = {
    .name = "stress",
    .key_name = key_name,
    .decode = decode,
    .encode = encode,
    .describe = describe,
    .lookup = lookup,
    .lookup_name = "get",
    .step = step,
    .foreign_read = random_foreign_read,
    .contention = contention,
    .watch = reserve_while_writing,
    .verify = verify_counters,
    .report = report,
};

int main(int argc, char **argv)
{
    harness_init(argc, argv, TOTAL_KEYS, &program);
    printf("stress: %u threads, %" PRIu64 " keys, seed %" PRIu64
           " (SM_TEST_SEED=%" PRIu64 " repeats it)\n",
           n_threads, total_keys, seed, seed);
    fflush(stdout);

    map = sm_new(NULL);
    if (!map) {
        perror("sm_new");
        return 1;
    }
    for (unsigned r = 0; r < n_threads; r++)
        next_seq[r] = 1;
    harness_start();
    run_grow_shrink_phases(MIXED_CYCLES);

    assign(0);
    for (unsigned c = 0; c < COUNTERS; c++) {
        uint64_t v = encode(counter_id(c), 0, 0);
        if (sm_insert(map, key_of(counter_id(c)), v, NULL) != SM_OK)
            fail("could not insert counter %u", c);
        for (unsigned t = 0; t < n_threads; t++)
            local[t].counter_value[c] = v;
    }
    counters_live = true;
    run_phase(PHASE_CONTENTION, "contention");

    harness_stop();
    uint64_t mismatches = 0, cas_ok = 0;
    for (unsigned t = 0; t < n_threads; t++) {
        mismatches += local[t].cas_mismatch;
        for (unsigned c = 0; c < COUNTERS; c++)
            cas_ok += local[t].cas_ok[c];
    }
    printf("; counters: %" PRIu64 " increments, %" PRIu64 " lost races; %" PRIu64 " reserves\n",
           cas_ok, mismatches, reserves);
    return harness_finish();
}
