/*
 * clear_stress.c — what sm_clear removes while other threads write
 * (steadymap.h, sm_clear: not atomic, it walks the map and deletes what it
 * finds; entries inserted concurrently may survive; it returns how many
 * entries this call removed), with uint64 keys and with string keys.
 *
 * Threads. WRITERS owners, each the only thread that writes its own range of
 * keys (put, insert, delete, and gets of its own keys), alternating rounds
 * that mostly insert with rounds that mostly delete; READERS threads that
 * look up any key; one clearer that calls sm_clear again and again. The
 * writers start once the readers and the clearer run, and those run until
 * the last writer has finished. The work is a number of writes, extended
 * (boundedly) until the clears, reads and resizes below happened meanwhile.
 *
 * What a value says: the write that stored it (its per-key sequence number)
 * and a checksum of key + sequence, so a value never written for that key,
 * torn or foreign, is caught wherever it is read.
 *
 * Records. Per key the owner publishes `begun` before each write call and
 * `done` after it returns, both as (sequence, leaves-the-key-present) words;
 * an insert that found the key (SM_EXISTS) stored nothing, so it leaves
 * `done` as it was. Every load and store of them is seq_cst, which orders
 * them with each other; the map's own release/acquire (M1) orders them with
 * the map's contents, as each check below says.
 *
 * Checks, none of which a correct map can fail:
 *  - Owners: a clear may have removed any of their keys, so a key they last
 *    stored holds that value or is absent; a key they know to be absent (last
 *    deleted, or seen missing since) stays absent: nothing but the owner puts
 *    it back. Every returned old/existing value is the last one stored.
 *  - Clearer: before each clear it loads `done` of every key; after the clear
 *    returns it looks every key up, then loads `begun`. A value whose write
 *    had completed when the clear began must be gone: it was the key's value
 *    then or already replaced; if the key kept it through the walk, it was
 *    present and neither deleted nor re-inserted throughout, so the walk
 *    found it (G1) and the clear deleted it; if anything deleted or replaced
 *    it, nothing can store it again. A later value must come from a write
 *    begun before the lookup returned (the lookup seeing it orders the
 *    write's `begun` store before the load, M1).
 *  - Readers: `done` before the lookup, `begun` after it (as in harness.h):
 *    a value is not older than the write completed before the lookup began,
 *    nor newer than the last write begun before it returned. And no
 *    resurrection: per key a reader never sees a value older than one it
 *    saw before, and after a miss it never sees a value whose write had
 *    completed before that miss began, or the value it saw before the miss.
 *  - Quiescent, at the end: each entry counted once. Every entry left is one
 *    some insert created, and each other such entry was removed exactly once,
 *    by its owner's successful delete or by a clear; so the clears' returns
 *    plus the owners' successful deletes equal the successful inserts minus
 *    the entries left. The entries left (by lookups of every key, against the
 *    owners' records) equal sm_size and a final walk; a last clear, with no
 *    one else running, returns exactly that number and leaves sm_size 0.
 *  - Not vacuous: the readers read, the clears ran and removed entries,
 *    keys present before a clear were seen gone after it, and the table grew
 *    and shrank while the threads ran.
 *
 * SM_TEST_SEED repeats the choices and the map's hash seed, not the thread
 * interleaving.
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
#include "hash.h"
#include "steadymap.h"
#include "testing.h"

#define WRITERS 3u
#define READERS 2u
/* Sanitizers slow every call 5-50x: fewer keys and writes, still many
 * clears and resizes. */
#define KEYS_PER_WRITER (8192u / SM_TEST_SCALE)
#define WRITES_PER_WRITER (200000u / SM_TEST_SCALE)
/* The writers go on past WRITES_PER_WRITER, up to MAX_WRITES, until the
 * others made the progress below while they wrote (see enough_progress). */
#define MAX_WRITES (20u * WRITES_PER_WRITER)
#define MIN_CLEARS 8u     /* clears that removed entries (as run.clears counts) */
#define MIN_READS 4096u   /* readers' lookups */
#define PUBLISH_EVERY 256u  /* a reader's lookups between updates of `reads` */
#define TOTAL_KEYS (WRITERS * KEYS_PER_WRITER)
#define MAX_REPORTS 20

/* The begun/done words: sequence << 1 | present. */
#define WORD(seq, present) ((uint64_t)(seq) << 1 | (uint64_t)(present))
#define WORD_SEQ(w) ((w) >> 1)
#define WORD_PRESENT(w) ((bool)((w) & 1))

typedef struct run {
    sm_map *map;
    uint64_t seed;
    _Atomic uint64_t begun[TOTAL_KEYS];
    _Atomic uint64_t done[TOTAL_KEYS];
    sm_stats_info start;           /* before any thread ran */
    atomic_uint started;           /* readers and clearer running */
    atomic_uint writers_finished;
    /* Clears that removed entries, after which keys present before were
     * gone (progress only). */
    atomic_uint_fast64_t clears;
    atomic_uint_fast64_t reads;    /* readers' lookups, roughly (progress only) */
    atomic_uint_fast64_t failures;
    pthread_mutex_t report_lock;
} run;

static void report(run *r, const char *fmt, ...)
{
    /* Relaxed: a count, read after the joins. */
    if (atomic_fetch_add_explicit(&r->failures, 1, memory_order_relaxed) >= MAX_REPORTS)
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->report_lock);
    fprintf(stderr, "clear_stress (%s keys, seed 0x%016" PRIx64 "): ",
            string_keys_in_use() ? "string" : "uint64", r->seed);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&r->report_lock);
    va_end(ap);
}

/* Key number -> key: a bijection spread over 64 bits; key 0 is one of them. */
static uint64_t key_of(uint64_t id)
{
    return mix64(id);
}

static uint64_t value_of(uint64_t key, uint64_t seq)
{
    return seq << 32 | (uint32_t)(mix64(key ^ mix64(seq)) >> 32);
}

/* True when v is a value some write could have stored for key; *seq says which. */
static bool decode(uint64_t key, uint64_t v, uint64_t *seq)
{
    *seq = v >> 32;
    return *seq != 0 && v == value_of(key, *seq);
}

/* The writes for the key kind in use (support.h does the reads). */
enum write_kind { W_PUT, W_INSERT, W_DELETE };

static int map_write(sm_map *m, enum write_kind kind, uint64_t key, uint64_t v, uint64_t *out)
{
    if (!string_keys_in_use()) {
        return kind == W_PUT      ? sm_put(m, key, v, out)
               : kind == W_INSERT ? sm_insert(m, key, v, out)
                                  : sm_delete(m, key, out);
    }
    unsigned char s[KEY_STRING_MAX];
    size_t len = key_string(key, s);
    return kind == W_PUT      ? sm_put_str(m, s, len, v, out)
           : kind == W_INSERT ? sm_insert_str(m, s, len, v, out)
                              : sm_delete_str(m, s, len, out);
}

/* Relaxed: it only tells the loops when to stop; their results are read
 * after pthread_join, which orders them. */
static bool writers_running(run *r)
{
    return atomic_load_explicit(&r->writers_finished, memory_order_relaxed) < WRITERS;
}

/*
 * Whether the writes so far were checked by enough of the others' work: the
 * clears ran and removed entries, the readers read, and the table grew and
 * shrank. On a loaded machine the scheduler may hold one thread back for
 * most of a run (a run once had every clear either before the first write
 * or after the last), so a fixed amount of writing is not enough. Relaxed
 * loads: the counters only pace the writers; results are read after joins.
 */
static bool enough_progress(run *r)
{
    if (atomic_load_explicit(&r->clears, memory_order_relaxed) < MIN_CLEARS ||
        atomic_load_explicit(&r->reads, memory_order_relaxed) < MIN_READS)
        return false;
    sm_stats_info now = stats_of(r->map);
    return now.grows > r->start.grows && now.shrinks > r->start.shrinks;
}

/* ------------------------------------------------------------------------ */
/* Owners                                                                    */

/* What an owner's records say its key holds, for failure lines. */
static const char *holds(bool gone, uint64_t held, char *buf, size_t len)
{
    if (gone)
        snprintf(buf, len, "nothing (deleted, or seen cleared, since its last store)");
    else
        snprintf(buf, len, "%#" PRIx64 " (its last store) or nothing (cleared)", held);
    return buf;
}

typedef struct writer {
    run *r;
    unsigned id;
    pthread_t thread;
    struct rng rng;
    uint64_t seq[KEYS_PER_WRITER];   /* of the key's latest write begun */
    uint64_t last[KEYS_PER_WRITER];  /* the key's `done` word */
    bool gone[KEYS_PER_WRITER];      /* known absent: only the owner adds it back */
    uint64_t inserted;               /* put or insert returned SM_OK */
    uint64_t deleted;                /* delete returned SM_OK */
    uint64_t saw_cleared;            /* found absent a key it had stored */
} writer;

/* A get of an owned key: its last stored value, or absent if a clear took it. */
static void owner_get(writer *w, uint64_t j, uint64_t key, uint64_t held)
{
    uint64_t v = 0;
    char want[96];
    int rc = map_get(w->r->map, key, &v);
    if (rc == SM_OK && (w->gone[j] || v != held)) {
        report(w->r, "writer %u: get(key %#" PRIx64 ") returned %#" PRIx64 "; the key holds %s",
               w->id, key, v, holds(w->gone[j], held, want, sizeof want));
    } else if (rc == SM_NOT_FOUND && !w->gone[j]) {
        w->gone[j] = true;
        w->saw_cleared++;
    } else if (rc != SM_OK && rc != SM_NOT_FOUND) {
        report(w->r, "writer %u: get(key %#" PRIx64 ") returned %s", w->id, key,
               sm_status_str(rc));
    }
}

static void owner_op(writer *w, uint64_t j, bool growing)
{
    run *r = w->r;
    uint64_t id = (uint64_t)w->id * KEYS_PER_WRITER + j;
    uint64_t key = key_of(id);
    /* What the key holds unless a clear removed it. */
    uint64_t held = w->gone[j] ? 0 : value_of(key, WORD_SEQ(w->last[j]));
    unsigned p = (unsigned)rng_below(&w->rng, 100);
    unsigned puts = growing ? 40 : 10, inserts = growing ? 25 : 10, deletes = growing ? 15 : 60;
    if (p >= puts + inserts + deletes) {
        owner_get(w, j, key, held);
        return;
    }
    enum write_kind kind = p < puts ? W_PUT : p < puts + inserts ? W_INSERT : W_DELETE;
    uint64_t seq = ++w->seq[j];
    uint64_t word = WORD(seq, kind != W_DELETE);
    /* seq_cst: before the call, so whoever sees this write's effect in the
     * map (M1) also sees this store (the clearer's and readers' loads). */
    atomic_store_explicit(&r->begun[id], word, memory_order_seq_cst);
    uint64_t out = 0;
    int rc = map_write(r->map, kind, key, value_of(key, seq), &out);
    /* SM_OK from put/insert: inserted, whether or not a clear had taken the
     * key; SM_REPLACED/SM_EXISTS: the key held exactly `held`. */
    bool ok;
    switch (kind) {
    case W_PUT:
        ok = rc == SM_OK || (rc == SM_REPLACED && !w->gone[j] && out == held);
        break;
    case W_INSERT:
        ok = rc == SM_OK || (rc == SM_EXISTS && !w->gone[j] && out == held);
        break;
    default:
        ok = rc == SM_NOT_FOUND || (rc == SM_OK && !w->gone[j] && out == held);
        break;
    }
    if (!ok) {
        char want[96];
        report(r, "writer %u: %s(key %#" PRIx64 ") returned %s with %#" PRIx64 "; the key "
               "holds %s", w->id, kind == W_PUT ? "put" : kind == W_INSERT ? "insert" : "delete",
               key, sm_status_str(rc), out, holds(w->gone[j], held, want, sizeof want));
    }
    if (rc < 0 || (kind == W_INSERT && rc == SM_EXISTS))
        return;  /* nothing stored: `done` stays */
    /* Absent although the owner had stored it: a clear took it. */
    w->saw_cleared += !w->gone[j] && rc == (kind == W_DELETE ? SM_NOT_FOUND : SM_OK);
    if (kind == W_DELETE) {
        w->deleted += rc == SM_OK;
        w->gone[j] = true;
    } else {
        w->inserted += rc == SM_OK;
        w->gone[j] = false;
    }
    w->last[j] = word;
    /* seq_cst: after the call returned; whoever loads it then sees the
     * write's effect (it happens before the load). */
    atomic_store_explicit(&r->done[id], word, memory_order_seq_cst);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    run *r = w->r;
    /* Relaxed: a start gate, so that every write runs beside the readers
     * and the clearer; no data passes through it. */
    while (atomic_load_explicit(&r->started, memory_order_relaxed) < READERS + 1)
        sched_yield();
    for (uint64_t n = 0; n < MAX_WRITES; n++) {
        if (n >= WRITES_PER_WRITER && n % KEYS_PER_WRITER == 0 && enough_progress(r))
            break;
        /* Rounds of one write per key, on average: mostly inserting, then
         * mostly deleting, so the table grows and shrinks besides clears. */
        bool growing = n / KEYS_PER_WRITER % 2 == 0;
        owner_op(w, rng_below(&w->rng, KEYS_PER_WRITER), growing);
    }
    /* Relaxed: see writers_running. */
    atomic_fetch_add_explicit(&r->writers_finished, 1, memory_order_relaxed);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Readers                                                                   */

typedef struct reader {
    run *r;
    unsigned id;
    pthread_t thread;
    struct rng rng;
    uint64_t *seen;   /* [key number]: newest sequence this reader saw, 0: none */
    uint64_t *floor;  /* [key number]: least sequence it may still see (misses) */
    uint64_t reads;
    uint64_t found;
} reader;

static void reader_check(reader *rd, uint64_t id, uint64_t key, uint64_t v, uint64_t before,
                         uint64_t after)
{
    uint64_t seq;
    if (!decode(key, v, &seq)) {
        report(rd->r, "reader %u: get(key %#" PRIx64 ") returned %#" PRIx64
               ", never written for this key", rd->id, key, v);
        return;
    }
    /* A delete's sequence names no value: equal to it is out of bounds too. */
    bool too_old = seq < WORD_SEQ(before) || (seq == WORD_SEQ(before) && !WORD_PRESENT(before));
    bool too_new = seq > WORD_SEQ(after) || (seq == WORD_SEQ(after) && !WORD_PRESENT(after));
    if (too_old || too_new)
        report(rd->r, "reader %u: get(key %#" PRIx64 ") returned seq %" PRIu64 "; writes "
               "completed before it reached seq %" PRIu64 "%s, writes begun before it "
               "returned seq %" PRIu64, rd->id, key, seq, WORD_SEQ(before),
               WORD_PRESENT(before) ? "" : " (a delete)", WORD_SEQ(after));
    if (seq < rd->seen[id] || seq < rd->floor[id])
        report(rd->r, "reader %u: get(key %#" PRIx64 ") returned seq %" PRIu64 " after this "
               "thread had seen seq %" PRIu64 " and, after a miss, no older than %" PRIu64
               " can come back", rd->id, key, seq, rd->seen[id], rd->floor[id]);
    rd->seen[id] = seq > rd->seen[id] ? seq : rd->seen[id];
}

static void *reader_main(void *arg)
{
    reader *rd = arg;
    run *r = rd->r;
    /* Relaxed: see writer_main. */
    atomic_fetch_add_explicit(&r->started, 1, memory_order_relaxed);
    while (writers_running(r)) {
        uint64_t id = rng_below(&rd->rng, TOTAL_KEYS), key = key_of(id), v = 0;
        /* seq_cst loads, `done` before the call and `begun` after it: a
         * write whose `done` store this sees returned before the lookup
         * began; a write whose effect the lookup sees stored `begun` before
         * it (M1), so the load after the lookup sees that or a newer one. */
        uint64_t before = atomic_load_explicit(&r->done[id], memory_order_seq_cst);
        int rc = map_get(r->map, key, &v);
        uint64_t after = atomic_load_explicit(&r->begun[id], memory_order_seq_cst);
        /* Relaxed: progress only (enough_progress). */
        if (++rd->reads % PUBLISH_EVERY == 0)
            atomic_fetch_add_explicit(&r->reads, PUBLISH_EVERY, memory_order_relaxed);
        if (rc == SM_OK) {
            rd->found++;
            reader_check(rd, id, key, v, before, after);
        } else if (rc == SM_NOT_FOUND) {
            /* Absent at one instant of this call: the value seen before and
             * every value written by a write completed before the call are
             * gone for good (each value is stored once). */
            uint64_t least = WORD_SEQ(before) > rd->seen[id] ? WORD_SEQ(before) : rd->seen[id];
            if (least + 1 > rd->floor[id])
                rd->floor[id] = least + 1;
        } else {
            report(r, "reader %u: get(key %#" PRIx64 ") returned %s", rd->id, key,
                   sm_status_str(rc));
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The clearer                                                               */

typedef struct clearer {
    run *r;
    pthread_t thread;
    uint64_t *before;         /* [key number]: `done` when the clear began */
    uint64_t clears;
    uint64_t removed;         /* the sum of sm_clear's returns */
    uint64_t present_before;  /* keys whose last completed write left them present */
    uint64_t gone_after;      /* ... and that were absent after the clear */
} clearer;

/* After one clear: no value whose write completed before it began is left. */
static void check_after_clear(clearer *c, uint64_t id)
{
    run *r = c->r;
    uint64_t key = key_of(id), v = 0, seq;
    int rc = map_get(r->map, key, &v);
    /* seq_cst, after the lookup: as in reader_main. */
    uint64_t after = atomic_load_explicit(&r->begun[id], memory_order_seq_cst);
    uint64_t before = c->before[id];
    if (rc == SM_NOT_FOUND) {
        c->gone_after += WORD_PRESENT(before);
        return;
    }
    if (rc != SM_OK) {
        report(r, "clearer: get(key %#" PRIx64 ") after a clear returned %s", key,
               sm_status_str(rc));
    } else if (!decode(key, v, &seq)) {
        report(r, "clearer: get(key %#" PRIx64 ") after a clear returned %#" PRIx64
               ", never written for this key", key, v);
    } else if (seq <= WORD_SEQ(before)) {
        report(r, "clearer: key %#" PRIx64 " still holds seq %" PRIu64 " after clear %" PRIu64
               " returned, but writes up to seq %" PRIu64 " (%s) had completed before it "
               "began: the clear left a value that was there throughout", key, seq,
               c->clears, WORD_SEQ(before), WORD_PRESENT(before) ? "a store" : "a delete");
    } else if (seq > WORD_SEQ(after) || (seq == WORD_SEQ(after) && !WORD_PRESENT(after))) {
        report(r, "clearer: get(key %#" PRIx64 ") after a clear returned seq %" PRIu64
               ", but writes begun before it returned reach seq %" PRIu64, key, seq,
               WORD_SEQ(after));
    }
}

static void *clearer_main(void *arg)
{
    clearer *c = arg;
    run *r = c->r;
    /* Relaxed: see writer_main. */
    atomic_fetch_add_explicit(&r->started, 1, memory_order_relaxed);
    while (writers_running(r)) {
        /* seq_cst: a `done` this sees was stored after its write returned,
         * so that write happens before the clear below begins. */
        for (uint64_t id = 0; id < TOTAL_KEYS; id++)
            c->before[id] = atomic_load_explicit(&r->done[id], memory_order_seq_cst);
        int rc = sm_clear(r->map);
        if (rc < 0) {
            /* The entries it removed are unknown, so the final count would
             * fail with a misleading reason: stop here. */
            report(r, "clearer: sm_clear returned %s", sm_status_str(rc));
            return NULL;
        }
        c->clears++;
        c->removed += (uint64_t)rc;
        uint64_t gone = c->gone_after;
        for (uint64_t id = 0; id < TOTAL_KEYS; id++) {
            c->present_before += WORD_PRESENT(c->before[id]);
            check_after_clear(c, id);
        }
        /* Relaxed: progress only (enough_progress). */
        if (rc > 0 && c->gone_after > gone)
            atomic_fetch_add_explicit(&r->clears, 1, memory_order_relaxed);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */

/* With no thread running: every key against its owner's record; returns the
 * entries left. */
static uint64_t quiescent_entries(run *r, const writer *writers)
{
    uint64_t left = 0;
    for (unsigned t = 0; t < WRITERS; t++) {
        const writer *w = &writers[t];
        for (uint64_t j = 0; j < KEYS_PER_WRITER; j++) {
            uint64_t key = key_of((uint64_t)t * KEYS_PER_WRITER + j), v = 0;
            uint64_t held = value_of(key, WORD_SEQ(w->last[j]));
            int rc = map_get(r->map, key, &v);
            char want[96];
            if (rc == SM_OK && !w->gone[j] && v == held)
                left++;
            else if (rc != SM_NOT_FOUND)
                report(r, "quiescent: get(key %#" PRIx64 ") returned %s with %#" PRIx64
                       "; the key holds %s", key, sm_status_str(rc), v,
                       holds(w->gone[j], held, want, sizeof want));
        }
    }
    return left;
}

/* The entries a walk of the quiescent map returns, each checked by a get. */
static uint64_t walked_entries(run *r)
{
    sm_iter *it = sm_iter_new(r->map);
    assert_non_null(it);
    uint64_t n = 0, key, v, seq, again;
    int rc;
    while ((rc = map_iter_next(it, &key, &v)) == SM_OK) {
        n++;
        if (!decode(key, v, &seq) || map_get(r->map, key, &again) != SM_OK || again != v)
            report(r, "quiescent: the walk returned key %#" PRIx64 " with %#" PRIx64
                   ", which a get does not confirm", key, v);
    }
    if (rc != SM_NOT_FOUND)
        report(r, "quiescent: sm_iter_next returned %s", sm_status_str(rc));
    sm_iter_free(it);
    return n;
}

static void clear_while_writing(bool strings, const char *name)
{
    static run r;
    static writer writers[WRITERS];
    static reader readers[READERS];
    static clearer c;
    memset(&r, 0, sizeof r);
    use_string_keys(strings);
    r.seed = test_seed(name);
    pthread_mutex_init(&r.report_lock, NULL);
    struct rng rng = { r.seed };
    r.map = new_seeded_map(rng_next(&rng) | 1);
    r.start = stats_of(r.map);

    c = (clearer){ .r = &r, .before = calloc(TOTAL_KEYS, sizeof(uint64_t)) };
    assert_non_null(c.before);
    assert_int_equal(pthread_create(&c.thread, NULL, clearer_main, &c), 0);
    for (unsigned t = 0; t < READERS; t++) {
        readers[t] = (reader){ .r = &r, .id = t, .rng = { rng_next(&rng) },
                               .seen = calloc(TOTAL_KEYS, sizeof(uint64_t)),
                               .floor = calloc(TOTAL_KEYS, sizeof(uint64_t)) };
        assert_true(readers[t].seen && readers[t].floor);
        assert_int_equal(pthread_create(&readers[t].thread, NULL, reader_main, &readers[t]), 0);
    }
    for (unsigned t = 0; t < WRITERS; t++) {
        writers[t] = (writer){ .r = &r, .id = t, .rng = { rng_next(&rng) } };
        memset(writers[t].gone, true, sizeof writers[t].gone);  /* never written */
        assert_int_equal(pthread_create(&writers[t].thread, NULL, writer_main, &writers[t]), 0);
    }

    uint64_t inserted = 0, deleted = 0, saw_cleared = 0, reads = 0, found = 0;
    for (unsigned t = 0; t < WRITERS; t++) {
        assert_int_equal(pthread_join(writers[t].thread, NULL), 0);
        inserted += writers[t].inserted;
        deleted += writers[t].deleted;
        saw_cleared += writers[t].saw_cleared;
    }
    for (unsigned t = 0; t < READERS; t++) {
        assert_int_equal(pthread_join(readers[t].thread, NULL), 0);
        reads += readers[t].reads;
        found += readers[t].found;
        free(readers[t].seen);
        free(readers[t].floor);
    }
    assert_int_equal(pthread_join(c.thread, NULL), 0);
    free(c.before);
    const sm_stats_info end = stats_of(r.map);

    uint64_t left = quiescent_entries(&r, writers);
    uint64_t size = sm_size(r.map), walked = walked_entries(&r);
    printf("%s: %" PRIu64 " inserts, %" PRIu64 " owner deletes, %" PRIu64 " clears removed "
           "%" PRIu64 ", %" PRIu64 " left (size %" PRIu64 ", walk %" PRIu64 "); owners found "
           "%" PRIu64 " of their keys cleared; after clears %" PRIu64 " of %" PRIu64 " keys "
           "present before were gone; readers %" PRIu64 " reads, %" PRIu64 " found; grows %"
           PRIu64 ", shrinks %" PRIu64 "\n", name, inserted, deleted, c.clears, c.removed, left,
           size, walked, saw_cleared, c.gone_after, c.present_before, reads, found,
           end.grows - r.start.grows, end.shrinks - r.start.shrinks);
    fflush(stdout);

    if (c.removed + deleted + left != inserted)
        report(&r, "quiescent: clears removed %" PRIu64 " and owners deleted %" PRIu64
               ", %" PRIu64 " entries are left, but %" PRIu64 " were inserted: each must "
               "leave exactly once", c.removed, deleted, left, inserted);
    if (size != left || walked != left)
        report(&r, "quiescent: sm_size %" PRIu64 " and a walk %" PRIu64 ", but %" PRIu64
               " keys are found", size, walked, left);
    char why[256] = "";
    if (smi_check_invariants(r.map, why, sizeof why) != 0)
        report(&r, "quiescent: smi_check_invariants: %s", why);
    /* Alone, a clear removes exactly what is there, and all of it. */
    int rc = sm_clear(r.map);
    if (rc < 0 || (uint64_t)rc != left || sm_size(r.map) != 0)
        report(&r, "quiescent: sm_clear returned %d with %" PRIu64 " entries, sm_size is then "
               "%zu", rc, left, sm_size(r.map));
    if (reads == 0 || c.clears == 0 || c.removed == 0 || c.gone_after == 0)
        report(&r, "vacuous: %" PRIu64 " reads, %" PRIu64 " clears removing %" PRIu64
               ", %" PRIu64 " keys seen gone after a clear", reads, c.clears, c.removed,
               c.gone_after);
    if (end.grows == r.start.grows || end.shrinks == r.start.shrinks)
        report(&r, "vacuous: the table did not both grow and shrink while the threads ran");

    /* Relaxed: every thread that counted has been joined. */
    uint64_t failures = atomic_load_explicit(&r.failures, memory_order_relaxed);
    sm_destroy(r.map);
    pthread_mutex_destroy(&r.report_lock);
    use_string_keys(false);
    if (failures != 0)
        fail_msg("%" PRIu64 " failures (the first are printed above); reproduce the choices "
                 "with SM_TEST_SEED=0x%016" PRIx64, failures, r.seed);
}

static void clear_while_writing_uint64_keys(void **state)
{
    (void)state;
    clear_while_writing(false, "clear_while_writing_uint64_keys");
}

static void clear_while_writing_string_keys(void **state)
{
    (void)state;
    clear_while_writing(true, "clear_while_writing_string_keys");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clear_while_writing_uint64_keys),
        cmocka_unit_test(clear_while_writing_string_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
