/* harness.c — see harness.h. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "testing.h"

#ifndef STRESS_THREADS
#define STRESS_THREADS 4
#endif

#define MAX_REPORTS 20    /* failures printed in full; all are counted */

sm_map *map;
unsigned n_threads;
uint64_t keys_per_range;
uint64_t total_keys;
uint64_t seed;

static const stress_program *prog;
static worker workers[MAX_THREADS];
static _Atomic uint64_t *begun;  /* per key: the latest write call started */
static _Atomic uint64_t *done;   /* per key: the latest write call returned */
/* per key: the sequence of the latest deleting write call started (0: none) */
static _Atomic uint64_t *delete_begun;
static pthread_barrier_t barrier;
static pthread_t watcher;
static phase_kind phase;
static bool stopping;
static const char *phase_name;
static atomic_uint_fast64_t failures;
static atomic_uint workers_done;
static struct timespec started;
static double ran;

void fail(const char *fmt, ...)
{
    if (atomic_fetch_add(&failures, 1) >= MAX_REPORTS)
        return;
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL [%s, seed %" PRIu64 "] %s\n", phase_name, seed, line);
}

uint64_t below(worker *w, uint64_t n)
{
    return splitmix64(&w->rng) % n;
}

void *must_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        perror("calloc");
        exit(1);
    }
    return p;
}

uint64_t owned_key(const worker *w, uint64_t j)
{
    return key_number(w->owned[j % w->n_owned], j / w->n_owned);
}

uint64_t pick_foreign(worker *w)
{
    unsigned r = w->foreign[below(w, w->n_foreign)];
    /* Half the reads go to hot keys, which their owner rewrites often. */
    uint64_t i = below(w, 2) ? below(w, HOT_KEYS) : below(w, keys_per_range);
    return key_number(r, i);
}

void pick_foreign_batch(worker *w, uint64_t id[BATCH])
{
    for (unsigned j = 0; j < BATCH; j++) {
        bool distinct;
        do {
            id[j] = pick_foreign(w);
            distinct = true;
            for (unsigned k = 0; k < j; k++)
                distinct &= id[k] != id[j];
        } while (!distinct);
    }
}

uint64_t own_done(uint64_t id)
{
    return atomic_load_explicit(&done[id], memory_order_relaxed);
}

void publish_begun(uint64_t id, uint64_t word)
{
    if (!WORD_PRESENT(word)) {
        /* Relaxed: the owner alone writes it; the fence orders it. */
        atomic_store_explicit(&delete_begun[id], WORD_SEQ(word), memory_order_relaxed);
        /* Release fence: the store above happens-before whatever a reader
         * sees of this delete's effect (the map's stores made after the
         * fence), through the acquire fence in check_foreign. */
        atomic_thread_fence(memory_order_release);
    }
    /* Pairs with the seq_cst load of begun after a reader's call. */
    atomic_store_explicit(&begun[id], word, memory_order_seq_cst);
}

void publish_done(uint64_t id, uint64_t word)
{
    /* Pairs with the load of done before a reader's call. */
    atomic_store_explicit(&done[id], word, memory_order_seq_cst);
}

/* Loads pair with the seq_cst stores of publish_begun and publish_done. */
uint64_t load_done(uint64_t id)
{
    return atomic_load_explicit(&done[id], memory_order_seq_cst);
}

uint64_t load_begun(uint64_t id)
{
    return atomic_load_explicit(&begun[id], memory_order_seq_cst);
}

bool check_value(unsigned self, uint64_t id, uint64_t v, uint64_t before, uint64_t after,
                 const char *call, uint64_t *seq)
{
    unsigned tid;
    char name[32], got[96];
    if (!prog->decode(id, v, &tid, seq)) {
        fail("thread %u: %s(key %s) returned %s", self, call,
             prog->key_name(id, name, sizeof name), prog->describe(id, v, got, sizeof got));
        return false;
    }
    /* A sequence that was a delete's, not a put's, is not a value either. */
    uint64_t s = *seq;
    bool too_old = s < WORD_SEQ(before) || (s == WORD_SEQ(before) && !WORD_PRESENT(before));
    bool too_new = s > WORD_SEQ(after) || (s == WORD_SEQ(after) && !WORD_PRESENT(after));
    if (too_old || too_new)
        fail("thread %u: %s(key %s) returned %s; writes completed before it reached "
             "seq %" PRIu64 "%s, writes begun before it returned seq %" PRIu64, self, call,
             prog->key_name(id, name, sizeof name), prog->describe(id, v, got, sizeof got),
             WORD_SEQ(before), WORD_PRESENT(before) ? "" : " (a delete)", WORD_SEQ(after));
    return true;
}

void check_foreign(worker *w, uint64_t id, int rc, uint64_t v, uint64_t before, uint64_t after,
                   const char *call)
{
    char name[32];
    if (rc == SM_NOT_FOUND) {
        w->foreign_absent++;
        /* A write that left the key present completed before the lookup
         * began (the seq_cst load of done saw it, so it happens-before the
         * lookup), and no delete of it had begun when the lookup returned:
         * only a delete makes a key absent, so it was present throughout,
         * whatever puts or replaces overlapped the lookup. Acquire fence:
         * if the lookup saw a delete's effect, the delete's delete_begun
         * store (before its release fence) is visible to the load below,
         * so a lookup that legitimately missed never fails here. */
        atomic_thread_fence(memory_order_acquire);
        /* Relaxed: the fence above gives the ordering. */
        uint64_t deleted = atomic_load_explicit(&delete_begun[id], memory_order_relaxed);
        if (WORD_PRESENT(before) && deleted < WORD_SEQ(before))
            fail("thread %u: %s(key %s) found nothing, but seq %" PRIu64
                 " left it present before the call and no delete began until it returned"
                 " (the latest delete: seq %" PRIu64 ")", w->id, call,
                 prog->key_name(id, name, sizeof name), WORD_SEQ(before), deleted);
        return;
    }
    if (rc != SM_OK) {
        fail("thread %u: %s(key %s) returned %d (%s)", w->id, call,
             prog->key_name(id, name, sizeof name), rc, sm_status_str(rc));
        return;
    }
    w->foreign_found++;
    uint64_t seq;
    if (!check_value(w->id, id, v, before, after, call, &seq))
        return;
    uint64_t r = id / keys_per_range, i = id % keys_per_range;
    if (i < HOT_KEYS) {
        uint64_t *seen = &w->hot_seen[r * HOT_KEYS + i];
        if (seq < *seen)
            fail("thread %u: %s(key %s) returned seq %" PRIu64
                 " after this thread had already seen seq %" PRIu64, w->id, call,
                 prog->key_name(id, name, sizeof name), seq, *seen);
        else if (seq > *seen) {
            w->hot_advanced += *seen != 0;
            *seen = seq;
        }
    }
}

void check_batch(worker *w, const uint64_t id[BATCH], const uint64_t before[BATCH], int rc,
                 const uint64_t value[BATCH], const uint8_t found[BATCH], const char *call)
{
    if (rc < 0) {
        fail("thread %u: %s returned %d (%s)", w->id, call, rc, sm_status_str(rc));
        return;
    }
    int n_found = 0;
    for (unsigned j = 0; j < BATCH; j++) {
        n_found += found[j];
        check_foreign(w, id[j], found[j] ? SM_OK : SM_NOT_FOUND, value[j], before[j],
                      load_begun(id[j]), call);
    }
    if (rc != n_found)
        fail("thread %u: %s returned %d but flagged %d keys found", w->id, call, rc, n_found);
}

static void grow_or_shrink(worker *w, bool growing)
{
    if (w->role == READER) {
        for (uint64_t n = 0; n < w->reads; n++)
            prog->foreign_read(w);
        return;
    }
    uint64_t total = (uint64_t)w->n_owned * keys_per_range;
    for (uint64_t j = 0; j < total; j++)
        prog->step(w, j, total, growing);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (;;) {
        pthread_barrier_wait(&barrier);
        if (stopping)
            return NULL;
        if (phase == PHASE_CONTENTION)
            prog->contention(w);
        else
            grow_or_shrink(w, phase == PHASE_GROW);
        atomic_fetch_add(&workers_done, 1);
        pthread_barrier_wait(&barrier);
    }
}

static void *watcher_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_barrier_wait(&barrier);
        if (stopping)
            return NULL;
        prog->watch();
        pthread_barrier_wait(&barrier);
    }
}

bool workers_finished(void)
{
    return atomic_load(&workers_done) == n_threads;
}

static uint64_t choose_seed(void)
{
    const char *env = getenv("SM_TEST_SEED");
    if (env && *env)
        return strtoull(env, NULL, 0);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return mix64((uint64_t)t.tv_sec ^ (uint64_t)t.tv_nsec << 16 ^ (uint64_t)getpid());
}

void harness_init(int argc, char **argv, uint64_t keys, const stress_program *program)
{
    prog = program;
    n_threads = argc > 1 ? (unsigned)atoi(argv[1]) : STRESS_THREADS;
    if (n_threads < 2 || n_threads > MAX_THREADS) {
        fprintf(stderr, "usage: %s [threads, 2..%d]\n", argv[0], MAX_THREADS);
        exit(2);
    }
    seed = choose_seed();
    keys_per_range = keys / n_threads;
    total_keys = keys_per_range * n_threads;
    begun = must_calloc(total_keys, sizeof *begun);
    done = must_calloc(total_keys, sizeof *done);
    delete_begun = must_calloc(total_keys, sizeof *delete_begun);
    for (unsigned t = 0; t < n_threads; t++) {
        workers[t].id = t;
        workers[t].rng = mix64(seed ^ mix64(t + 1));
        workers[t].hot_seen = must_calloc((size_t)n_threads * HOT_KEYS, sizeof(uint64_t));
    }
}

void harness_start(void)
{
    pthread_barrier_init(&barrier, NULL, n_threads + 1 + (prog->watch != NULL));
    for (unsigned t = 0; t < n_threads; t++) {
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    if (prog->watch && pthread_create(&watcher, NULL, watcher_main, NULL) != 0) {
        perror("pthread_create");
        exit(1);
    }
    clock_gettime(CLOCK_MONOTONIC, &started);
}

void assign(unsigned readers)
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

sm_stats_info stats(void)
{
    sm_stats_info st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    if (sm_stats(map, &st) != SM_OK)
        fail("sm_stats failed");
    return st;
}

/*
 * With no thread running, compare every key with its owner's record, run
 * the program's own checks, then sm_size and the map's own invariant check.
 */
static void verify(void)
{
    uint64_t expected = 0;
    for (uint64_t id = 0; id < total_keys; id++) {
        uint64_t word = load_done(id);
        uint64_t v = 0;
        int rc = prog->lookup(id, &v);
        char name[32], got[96], exp[96];
        if (WORD_PRESENT(word)) {
            expected++;
            uint64_t want = prog->encode(id, WORD_TID(word), WORD_SEQ(word));
            if (rc != SM_OK || v != want)
                fail("quiescent: key %s should hold %s, %s returned %d (%s) with %s",
                     prog->key_name(id, name, sizeof name),
                     prog->describe(id, want, exp, sizeof exp), prog->lookup_name, rc,
                     sm_status_str(rc), prog->describe(id, v, got, sizeof got));
        } else if (rc != SM_NOT_FOUND) {
            fail("quiescent: key %s was deleted (seq %" PRIu64 "), %s returned %d (%s) with %s",
                 prog->key_name(id, name, sizeof name), WORD_SEQ(word), prog->lookup_name, rc,
                 sm_status_str(rc), prog->describe(id, v, got, sizeof got));
        }
    }
    expected += prog->verify();
    size_t size = sm_size(map);
    if (size != expected)
        fail("quiescent: sm_size is %zu, the owners' records hold %" PRIu64, size, expected);
    char why[256] = "";
    if (smi_check_invariants(map, why, sizeof why) != 0)
        fail("quiescent: smi_check_invariants: %s", why);
}

void run_phase(phase_kind kind, const char *name)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sm_stats_info before = stats();
    phase = kind;
    phase_name = name;
    atomic_store(&workers_done, 0);
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    double seconds = seconds_since(&t0);
    verify();
    sm_stats_info after = stats();
    prog->report(name, seconds, &after);
    fflush(stdout);
    /* The point of the test is operating through resizes; a phase that did
     * not resize the table did not test that, which must not pass unseen. */
    if (kind == PHASE_GROW && after.grows == before.grows)
        fail("the table did not grow during this phase");
    if (kind == PHASE_SHRINK && after.shrinks == before.shrinks)
        fail("the table did not shrink during this phase");
}

void run_grow_shrink_phases(int cycles)
{
    char name[32];
    assign(0);
    for (int cycle = 1; cycle <= cycles; cycle++) {
        snprintf(name, sizeof name, "grow %d", cycle);
        run_phase(PHASE_GROW, name);
        snprintf(name, sizeof name, "shrink %d", cycle);
        run_phase(PHASE_SHRINK, name);
    }
    assign(n_threads / 2);
    run_phase(PHASE_GROW, "split grow");
    run_phase(PHASE_SHRINK, "split shrink");
}

void harness_stop(void)
{
    stopping = true;
    phase_name = "end";
    pthread_barrier_wait(&barrier);
    uint64_t ops = 0, found = 0, absent = 0, advanced = 0;
    for (unsigned t = 0; t < n_threads; t++) {
        pthread_join(workers[t].thread, NULL);
        ops += workers[t].ops;
        found += workers[t].foreign_found;
        absent += workers[t].foreign_absent;
        advanced += workers[t].hot_advanced;
    }
    if (prog->watch)
        pthread_join(watcher, NULL);
    ran = seconds_since(&started);
    printf("  %" PRIu64 " calls; reads of other owners' keys: %" PRIu64 " found, %" PRIu64
           " absent, %" PRIu64 " saw a hot key advance", ops, found, absent, advanced);
}

int harness_finish(void)
{
    sm_destroy(map);
    free(begun);
    free(done);
    free(delete_begun);
    for (unsigned t = 0; t < n_threads; t++)
        free(workers[t].hot_seen);
    pthread_barrier_destroy(&barrier);
    uint64_t failed = atomic_load(&failures);
    printf("%s %u threads: %s, %" PRIu64 " failures, %.1f s, seed %" PRIu64 "\n", prog->name,
           n_threads, failed ? "FAILED" : "passed", failed, ran, seed);
    return failed != 0;
}
