/*
 * test_alloc.c — allocation failure, injected at every allocation a scripted
 * workload makes.
 *
 * A clean run of the workload counts its allocations (A). Then for N = 1..A
 * the workload runs again with the N-th allocation made to fail: sm_new must
 * return NULL with errno ENOMEM, or else every call must match the reference
 * map, and a call that answers SM_ENOMEM must have changed nothing and must
 * succeed when retried. Afterwards the invariants and the full contents are
 * checked, the map is destroyed, and the library must hold exactly the bytes
 * it held before the run.
 *
 * Each run gets a thread of its own, which has exited (releasing its
 * per-thread state, T1) by the time the byte count is compared. The workload
 * therefore reports instead of asserting: cmocka cannot jump out of another
 * thread.
 *
 * Two narrower tests: a thread's first call when its per-thread record cannot
 * be allocated, and a delete whose shrink cannot be allocated.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../model/support.h"
#include "steadymap.h"
#include "testing.h"

/* Keys inserted at most; enough to grow the default table several times. */
#define KEYS (4000u / SM_TEST_SCALE)

/*
 * A fixed hash seed keeps the runs' table layouts, and so their allocations,
 * alike. Not identical: the library samples occupancy on every k-th call of a
 * thread, counted in a per-thread record that later threads inherit, so a
 * resize may come a few calls earlier or later than in the clean run. The
 * sweep therefore checks every run on its own terms, not against the clean
 * run's sequence.
 */
#define MAP_SEED 0x5eed5eed5eedu

struct run {
    uint64_t fail_at;        /* the allocation to fail, 0 for none */
    bool free_values;        /* give the map a free_value callback */
    uint64_t freed;          /* values it was handed */
    sm_map *m;
    struct ref ref;
    uint64_t calls_ok;       /* calls that did not answer SM_ENOMEM */
    bool new_failed;
    unsigned enomem;         /* calls that answered SM_ENOMEM */
    unsigned enomem_grow;    /* ... of them calls that may insert, past the thread's first call */
    unsigned enomem_reserve; /* ... of them sm_reserve past the thread's first call */
    unsigned enomem_clear;   /* ... of them sm_clear */
    char error[512];         /* the first broken promise, empty if none */
};

static bool failed(const struct run *r)
{
    return r->error[0] != '\0';
}

static void report(struct run *r, const char *what, const char *detail)
{
    if (!failed(r)) {
        snprintf(r->error, sizeof r->error, "%s: %s", what, detail);
    }
}

static uint64_t key_of(uint64_t i)
{
    return i * 0x9e3779b97f4a7c15u;
}

/*
 * One call answered SM_ENOMEM: was it allowed to, and did it really change
 * nothing? Past the thread's first call only a call that may need a new table
 * can lack memory, or, on a map with free_value, a call that may displace a
 * value (it reserves room to remember it first).
 */
static void judge_enomem(struct run *r, const char *what, bool may_grow)
{
    r->enomem++;
    if (r->enomem > 1) {
        report(r, what, "a second call answered SM_ENOMEM, but only one allocation failed");
        return;
    }
    if (r->calls_ok > 0 && !may_grow) {
        report(r, what, "SM_ENOMEM although this is not the thread's first call");
        return;
    }
    char why[256];
    if (!same_contents(r->m, &r->ref, why, sizeof why)) {
        report(r, what, why);
    }
}

static bool may_grow(const struct op *op)
{
    return op->kind == OP_PUT || op->kind == OP_INSERT || op->kind == OP_GET_OR_INSERT ||
           (op->kind == OP_COMPUTE && op->action == SM_COMPUTE_SET);
}

/* The calls that reserve a limbo slot on a map with free_value (steadymap.h,
 * sm_options.free_value). */
static bool may_displace(const struct op *op)
{
    return op->kind == OP_PUT || op->kind == OP_REPLACE || op->kind == OP_CAS ||
           op->kind == OP_DELETE || op->kind == OP_COMPUTE;
}

static void run_op(struct run *r, struct op op)
{
    const char *name = op_names[op.kind];
    bool differs = false;
    char why[256];
    int rc = apply_op(r->m, &r->ref, &op, &differs, why, sizeof why);
    if (rc == SM_ENOMEM) {
        judge_enomem(r, name, may_grow(&op) || (r->free_values && may_displace(&op)));
        if (r->calls_ok > 0 && may_grow(&op)) {
            r->enomem_grow++;
        }
        /* "The call may be retried": the one failing allocation is spent. */
        rc = apply_op(r->m, &r->ref, &op, &differs, why, sizeof why);
        if (rc == SM_ENOMEM) {
            report(r, name, "the retry answered SM_ENOMEM too");
        }
    }
    if (differs) {
        report(r, name, why);
    }
    if (rc != SM_ENOMEM) {
        r->calls_ok++;
    }
}

/*
 * sm_clear may run out of memory part way ("the entries removed so far stay
 * removed, the call may be repeated"), and then does not say how many it had
 * removed: the repeat must empty the map, and only an uninterrupted clear
 * must count every entry.
 */
static void clear(struct run *r)
{
    int rc = sm_clear(r->m);
    bool interrupted = rc == SM_ENOMEM;
    if (interrupted) {
        r->enomem++;
        r->enomem_clear++;
        if (r->enomem > 1) {
            report(r, "clear", "a second call answered SM_ENOMEM, but only one allocation failed");
        }
        rc = sm_clear(r->m);
    }
    char why[160];
    if (rc < 0) {
        snprintf(why, sizeof why, "%s%s", interrupted ? "the repeat returned " : "",
                 sm_status_str(rc));
        report(r, "clear", why);
    } else if (sm_size(r->m) != 0) {
        report(r, "clear", "the map is not empty afterwards");
    } else if (!interrupted && (uint64_t)rc != r->ref.count) {
        snprintf(why, sizeof why, "returned %d, the map held %" PRIu64, rc, r->ref.count);
        report(r, "clear", why);
    }
    ref_clear(&r->ref);
    r->calls_ok++;
}

static void reserve(struct run *r, uint64_t n)
{
    int rc = sm_reserve(r->m, n);
    if (rc == SM_ENOMEM) {
        judge_enomem(r, "reserve", true);
        if (r->calls_ok > 0) {
            r->enomem_reserve++;
        }
        rc = sm_reserve(r->m, n);
    }
    if (rc != SM_OK) {
        report(r, "reserve", sm_status_str(rc));
        return;
    }
    r->calls_ok++;
    sm_stats_info st = { .size = sizeof st };
    if (sm_stats(r->m, &st) != SM_OK || st.capacity < n || st.migrating) {
        report(r, "reserve", "returned SM_OK but the map is not settled at that capacity");
    }
}

/*
 * The script: fill with every kind of insert (several grows), update, reserve
 * and fill into the reservation, delete nearly everything (several shrinks),
 * clear the rest, reserve again and refill a little.
 */
static void workload(struct run *r)
{
    static const enum op_kind inserts[4] = { OP_PUT, OP_INSERT, OP_GET_OR_INSERT, OP_COMPUTE };
    for (uint64_t i = 0; i < KEYS / 2; i++) {
        run_op(r, (struct op){ .kind = inserts[i % 4], .key = key_of(i), .value = i,
                               .action = SM_COMPUTE_SET });
        if (i % 7 == 0) {
            run_op(r, (struct op){ .kind = OP_INSERT, .key = key_of(i / 2), .value = ~i });
        }
    }
    for (uint64_t i = 0; i < KEYS / 2; i += 3) {
        run_op(r, (struct op){ .kind = OP_REPLACE, .key = key_of(i), .value = i + 1 });
        run_op(r, (struct op){ .kind = OP_CAS, .key = key_of(i), .value = i + 2, .expected = i + 1 });
        run_op(r, (struct op){ .kind = OP_CAS, .key = key_of(i), .value = i + 3, .expected = i + 1 });
        run_op(r, (struct op){ .kind = OP_COMPUTE, .key = key_of(i), .action = SM_COMPUTE_KEEP });
        run_op(r, (struct op){ .kind = OP_GET, .key = key_of(i) });
    }
    reserve(r, KEYS);
    for (uint64_t i = KEYS / 2; i < KEYS; i++) {
        run_op(r, (struct op){ .kind = OP_INSERT, .key = key_of(i), .value = i });
    }
    for (uint64_t i = KEYS / 32; i < KEYS; i++) {
        run_op(r, (struct op){ .kind = i % 2 ? OP_DELETE : OP_COMPUTE, .key = key_of(i),
                               .action = SM_COMPUTE_DELETE });
        run_op(r, (struct op){ .kind = OP_DELETE, .key = key_of(i) });
    }
    clear(r);
    reserve(r, KEYS / 4);
    for (uint64_t i = KEYS; i < KEYS + KEYS / 8; i++) {
        run_op(r, (struct op){ .kind = OP_PUT, .key = key_of(i), .value = i });
    }
}

static void count_free(uint64_t value, void *ctx)
{
    struct run *r = ctx;
    (void)value;
    r->freed++;
}

static void *run_thread(void *arg)
{
    struct run *r = arg;
    sm_options opts = SM_OPTIONS_INIT;
    opts.seed = MAP_SEED;
    if (r->free_values) {
        opts.free_value = count_free;
        opts.free_value_ctx = r;
    }
    smi_fail_allocation_at(r->fail_at);
    errno = 0;
    r->m = sm_new(&opts);
    if (r->m == NULL) {
        smi_fail_allocation_at(0);
        r->new_failed = true;
        if (errno != ENOMEM) {
            report(r, "sm_new", "returned NULL without errno ENOMEM");
        }
        return NULL;
    }
    ref_init(&r->ref);
    workload(r);
    /* A run shorter than the clean one leaves its failure armed: disarm it for the checks. */
    smi_fail_allocation_at(0);
    char why[256] = "";
    if (smi_check_invariants(r->m, why, sizeof why) != 0) {
        report(r, "invariants after the workload", why);
    }
    if (!same_contents(r->m, &r->ref, why, sizeof why)) {
        report(r, "contents after the workload", why);
    }
    sm_destroy(r->m);
    ref_free(&r->ref);
    return NULL;
}

/* Runs the workload on a new thread; returns the bytes it left allocated. */
static int64_t run_in_thread(struct run *r)
{
    uint64_t before = smi_bytes_live();
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, run_thread, r), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    return (int64_t)(smi_bytes_live() - before);
}

static void sweep(bool free_values)
{
    /* The first run may set up process-wide state (thread records) once. */
    struct run warm = { .free_values = free_values };
    run_in_thread(&warm);
    if (failed(&warm)) {
        fail_msg("clean run: %s", warm.error);
    }

    struct run clean = { .free_values = free_values };
    uint64_t first = smi_allocations();
    int64_t leaked = run_in_thread(&clean);
    uint64_t total = smi_allocations() - first;
    if (failed(&clean) || clean.enomem > 0 || leaked != 0) {
        fail_msg("clean run: %s, %u SM_ENOMEM, %" PRId64 " bytes left", clean.error,
                 clean.enomem, leaked);
    }
    printf("the workload makes %" PRIu64 " allocations\n", total);
    assert_true(total >= 3);

    unsigned silent = 0;
    unsigned grow_failures = 0;
    unsigned reserve_failures = 0;
    unsigned clear_failures = 0;
    for (uint64_t n = 1; n <= total; n++) {
        struct run r = { .fail_at = n, .free_values = free_values };
        leaked = run_in_thread(&r);
        if (failed(&r)) {
            fail_msg("allocation %" PRIu64 " failing: %s", n, r.error);
        }
        if (leaked != 0) {
            fail_msg("allocation %" PRIu64 " failing: %" PRId64 " bytes still held after "
                     "sm_destroy and thread exit", n, leaked);
        }
        if (n == 1 && !r.new_failed) {
            fail_msg("the first allocation is sm_new's, yet sm_new succeeded");
        }
        if (!r.new_failed && r.enomem == 0) {
            silent++;
        }
        grow_failures += r.enomem_grow;
        reserve_failures += r.enomem_reserve;
        clear_failures += r.enomem_clear;
    }
    printf("of %" PRIu64 " failing allocations: %u failed an insert, %u sm_reserve, %u sm_clear, "
           "%u were absorbed (a shrink left for later)\n",
           total, grow_failures, reserve_failures, clear_failures, silent);
    /* The test proves nothing unless failures reached tables being grown. */
    assert_true(grow_failures > 0);
    assert_true(reserve_failures > 0);
}

static void every_failing_allocation_changes_nothing(void **state)
{
    (void)state;
    sweep(false);
}

/*
 * The same with a free_value callback, which makes the map keep the values
 * that leave until no thread can hold them: more allocations, and calls that
 * displace a value may answer SM_ENOMEM past a thread's first call (they
 * reserve room for it first), but still change nothing when they do, and
 * nothing is left allocated after sm_destroy.
 */
static void with_free_value_too(void **state)
{
    (void)state;
    sweep(true);
}

/*
 * A thread's first call creates its per-thread record, and may answer
 * SM_ENOMEM for any operation when that fails. Each call gets a thread of its
 * own that stays alive until all have run, so no record is free for a later
 * thread to take over and every first call has to create one. sm_size has no
 * SM_ENOMEM to answer and must be right whether or not it needed memory;
 * sm_stats may answer SM_ENOMEM as a first call and must be right on retry.
 */
#define FIRST_SIZE N_OP_KINDS
#define FIRST_STATS (N_OP_KINDS + 1)
#define FIRST_CALLS (N_OP_KINDS + 2)

static const char *first_call_name(int which)
{
    return which == FIRST_SIZE ? "size" : which == FIRST_STATS ? "stats" : op_names[which];
}

struct first_call {
    sm_map *m;
    struct ref *ref;
    int which; /* an enum op_kind, FIRST_SIZE or FIRST_STATS */
    int rc;
    bool ok;
    char error[256];
};

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static bool released;
static bool turn_done;

static bool first_op(struct first_call *c)
{
    const struct op op = { .kind = (enum op_kind)c->which, .key = key_of(c->which % 2),
                           .value = 77, .action = SM_COMPUTE_SET };
    bool differs = false;
    smi_fail_allocation_at(1);
    c->rc = apply_op(c->m, c->ref, &op, &differs, c->error, sizeof c->error);
    smi_fail_allocation_at(0);
    if (differs || c->rc != SM_ENOMEM) {
        return !differs;
    }
    /* It changed nothing, and the retry (the record now allocates) behaves as the reference. */
    if (!same_contents(c->m, c->ref, c->error, sizeof c->error)) {
        return false;
    }
    if (apply_op(c->m, c->ref, &op, &differs, c->error, sizeof c->error) < 0) {
        snprintf(c->error, sizeof c->error, "the retry failed too");
        return false;
    }
    return !differs;
}

static bool first_read(struct first_call *c)
{
    sm_stats_info st = { .size = sizeof st };
    smi_fail_allocation_at(1);
    c->rc = c->which == FIRST_SIZE ? SM_OK : sm_stats(c->m, &st);
    smi_fail_allocation_at(0);
    if (c->rc == SM_ENOMEM && c->which == FIRST_STATS) {
        /* Allowed as a first call (steadymap.h, sm_stats); it must work on
         * the retry, once the record exists. */
        c->rc = sm_stats(c->m, &st);
    }
    size_t size = c->which == FIRST_SIZE ? sm_size(c->m) : st.entries;
    if (c->rc != SM_OK || size != c->ref->count) {
        snprintf(c->error, sizeof c->error, "returned %s and %zu entries, the reference holds %" PRIu64,
                 sm_status_str(c->rc), size, c->ref->count);
        return false;
    }
    return true;
}

static void *first_call_thread(void *arg)
{
    struct first_call *c = arg;
    c->ok = c->which < N_OP_KINDS ? first_op(c) : first_read(c);
    pthread_mutex_lock(&hold_lock);
    turn_done = true;
    pthread_cond_broadcast(&hold_cond);
    while (!released) {
        pthread_cond_wait(&hold_cond, &hold_lock);
    }
    pthread_mutex_unlock(&hold_lock);
    return NULL;
}

static void first_call_of_a_thread_without_memory(void **state)
{
    (void)state;
    sm_map *m = sm_new(NULL);
    assert_non_null(m);
    struct ref ref;
    ref_init(&ref);
    assert_int_equal(sm_put(m, key_of(1), 11, NULL), SM_OK);
    ref_set(&ref, key_of(1), 11);

    struct first_call calls[FIRST_CALLS];
    pthread_t threads[FIRST_CALLS];
    unsigned enomem = 0;
    for (int which = 0; which < FIRST_CALLS; which++) {
        calls[which] = (struct first_call){ .m = m, .ref = &ref, .which = which };
        turn_done = false;
        assert_int_equal(pthread_create(&threads[which], NULL, first_call_thread, &calls[which]), 0);
        /* One thread at a time: the injected failure is process wide. */
        pthread_mutex_lock(&hold_lock);
        while (!turn_done) {
            pthread_cond_wait(&hold_cond, &hold_lock);
        }
        pthread_mutex_unlock(&hold_lock);
        enomem += calls[which].rc == SM_ENOMEM;
    }
    pthread_mutex_lock(&hold_lock);
    released = true;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    for (int which = 0; which < FIRST_CALLS; which++) {
        assert_int_equal(pthread_join(threads[which], NULL), 0);
    }
    for (int which = 0; which < FIRST_CALLS; which++) {
        if (!calls[which].ok) {
            fail_msg("first call %s: %s", first_call_name(which), calls[which].error);
        }
    }
    printf("%u of %d first calls answered SM_ENOMEM\n", enomem, N_OP_KINDS);
    /* The documented path must exist: some first call needed memory and lacked it. */
    assert_true(enomem > 0);
    assert_invariants(m, "after the first calls");
    assert_same_contents(m, &ref, "after the first calls");
    sm_destroy(m);
    ref_free(&ref);
}

static uint64_t shrinks_of(sm_map *m)
{
    sm_stats_info st = { .size = sizeof st };
    assert_int_equal(sm_stats(m, &st), SM_OK);
    return st.shrinks;
}

/*
 * sm_delete: "a shrink it cannot allocate for is retried by a later writer".
 * Delete with the next allocation armed to fail until a delete consumes it
 * (smi_allocations() counts the failed one too): that delete wanted a smaller
 * table. It must still succeed, and a later delete must start the shrink.
 */
static void failed_shrink_is_retried_by_a_later_delete(void **state)
{
    (void)state;
    sm_map *m = new_seeded_map(MAP_SEED);
    struct ref ref;
    ref_init(&ref);
    for (uint64_t i = 0; i < KEYS; i++) {
        assert_int_equal(sm_put(m, key_of(i), i, NULL), SM_OK);
        ref_set(&ref, key_of(i), i);
    }
    /* Settle any grow in progress, so the next resize is a shrink. */
    assert_int_equal(sm_reserve(m, 0), SM_OK);
    uint64_t shrinks = shrinks_of(m);

    uint64_t i = 0;
    bool hit = false;
    while (!hit && i < KEYS) {
        uint64_t before = smi_allocations();
        smi_fail_allocation_at(1);
        int rc = sm_delete(m, key_of(i), NULL);
        smi_fail_allocation_at(0);
        if (rc != SM_OK) {
            fail_msg("delete %" PRIu64 " with an allocation failing: %s", i, sm_status_str(rc));
        }
        ref_delete(&ref, key_of(i));
        hit = smi_allocations() != before;
        i++;
    }
    if (!hit) {
        fail_msg("deleting all %u keys never allocated: no shrink was attempted", KEYS);
    }
    assert_int_equal(shrinks_of(m), shrinks);
    assert_invariants(m, "after the failed shrink");
    assert_same_contents(m, &ref, "after the failed shrink");
    uint64_t failed_at = i;

    while (shrinks_of(m) == shrinks && i < KEYS) {
        assert_int_equal(sm_delete(m, key_of(i), NULL), SM_OK);
        ref_delete(&ref, key_of(i));
        i++;
    }
    if (shrinks_of(m) == shrinks) {
        fail_msg("the shrink that failed at delete %" PRIu64 " was never retried", failed_at);
    }
    printf("shrink failed at delete %" PRIu64 ", retried %" PRIu64 " deletes later\n",
           failed_at, i - failed_at);
    assert_invariants(m, "after the retried shrink");
    assert_same_contents(m, &ref, "after the retried shrink");
    sm_destroy(m);
    ref_free(&ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_call_of_a_thread_without_memory),
        cmocka_unit_test(every_failing_allocation_changes_nothing),
        cmocka_unit_test(with_free_value_too),
        cmocka_unit_test(failed_shrink_is_retried_by_a_later_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
