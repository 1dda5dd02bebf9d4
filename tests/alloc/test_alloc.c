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
 * The workload runs on a uint64_t-keyed map, with and without a free_value
 * callback, and on a string-keyed map (SM_STRING_KEYS), whose keys run from
 * empty to a few KiB. On the string map every insert also allocates the key's
 * copy and every delete or compute may reserve room to retire one, so nearly
 * every step of its workload has an allocation of its own to lose; the
 * copies are in the byte count because this test calls the testing.h hooks.
 * Both kinds go through sm_compute (sm_compute_str) setting, keeping and
 * deleting.
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
 * The same for the string map. Its workload makes about one allocation per
 * key, and the sweep reruns it once per allocation, so the run time grows with
 * the square of this: fewer keys, still several grows and shrinks.
 */
#define STR_KEYS (1000u / SM_TEST_SCALE)

/* Room for the longest string key (str_key_of). */
#define STR_KEY_BUF 4096

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
    bool string_keys;        /* SM_STRING_KEYS; the reference then holds key indexes */
    uint64_t freed;          /* values it was handed */
    sm_map *m;
    struct ref ref;
    uint64_t calls_ok;       /* calls that did not answer SM_ENOMEM */
    bool new_failed;
    unsigned enomem;         /* calls that answered SM_ENOMEM */
    unsigned enomem_grow;    /* ... of them calls that may insert, past the thread's first call */
    unsigned enomem_reserve; /* ... of them sm_reserve past the thread's first call */
    unsigned enomem_clear;   /* ... of them sm_clear */
    unsigned enomem_remove;  /* ... of them deletes and non-inserting computes of a
                                string map past the thread's first call */
    unsigned char key[STR_KEY_BUF]; /* the string key of the current call */
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
 * The string key of index i, written to buf; returns its length. Index 0 is
 * the empty key. Others are i in decimal, a '.', then padding of 0..40 bytes
 * (any byte value, NUL included) or, for every 89th index, of 1000 to 3700
 * bytes. The digits before the '.' make each key unique, while many keys
 * share a prefix and a length.
 */
static size_t str_key_of(uint64_t i, unsigned char *buf)
{
    if (i == 0) {
        return 0;
    }
    size_t len = (size_t)snprintf((char *)buf, STR_KEY_BUF, "%" PRIu64 ".", i);
    size_t pad = i % 89 == 0 ? 1000 + (size_t)(i % 7) * 450 : (size_t)(i % 41);
    for (size_t j = 0; j < pad; j++) {
        buf[len + j] = (unsigned char)(i * 31 + j * 7);
    }
    return len + pad;
}

/* The compute function of apply_str_op: checks the key it is shown against a
 * fresh copy, then decides as told (compute_decide, support.h). */
static sm_compute_action str_compute_as_told(const void *key, size_t len, int present,
                                             uint64_t *value, void *arg)
{
    struct compute_call *c = arg;
    unsigned char want[STR_KEY_BUF];
    size_t want_len = str_key_of(c->op->key, want);
    c->wrong_key |= len != want_len || (len > 0 && memcmp(key, want, len) != 0);
    return compute_decide(c, present, value);
}

/*
 * apply_op (tests/model/support.h) for a string-keyed map: op->key is the
 * index of a str_key_of key, and the reference holds that index. Same
 * contract: the map's status is returned, a difference sets *differs and
 * why, and SM_ENOMEM leaves the reference alone for the caller to judge.
 */
static int apply_str_op(struct run *r, const struct op *op, bool *differs, char *why,
                        size_t why_len)
{
    size_t len = str_key_of(op->key, r->key);
    /* The empty key as NULL, which steadymap.h allows. */
    const void *key = len > 0 ? r->key : NULL;
    uint64_t had = 0;
    bool present = ref_get(&r->ref, op->key, &had);
    struct outcome want = expected_outcome(op, present, had);
    uint64_t out = 0;
    int rc;
    struct compute_call call = { op, 0, -1, 0, false };
    switch (op->kind) {
    case OP_PUT:
        rc = sm_put_str(r->m, key, len, op->value, &out);
        break;
    case OP_INSERT:
        rc = sm_insert_str(r->m, key, len, op->value, &out);
        break;
    case OP_REPLACE:
        rc = sm_replace_str(r->m, key, len, op->value, &out);
        break;
    case OP_CAS:
        rc = sm_cas_str(r->m, key, len, op->expected, op->value, &out);
        break;
    case OP_DELETE:
        rc = sm_delete_str(r->m, key, len, &out);
        break;
    case OP_GET_OR_INSERT:
        rc = sm_get_or_insert_str(r->m, key, len, op->value, &out);
        break;
    case OP_COMPUTE:
        rc = sm_compute_str(r->m, key, len, str_compute_as_told, &call, &out);
        break;
    case OP_GET:
    default:
        rc = sm_get_str(r->m, key, len, &out);
        break;
    }
    /* O2: the caller may reuse its buffer once the call returns; the map
     * must have kept a copy. */
    memset(r->key, 0xa5, len);
    char key_text[48];
    snprintf(key_text, sizeof key_text, "key %" PRIu64 ", %zu bytes", op->key, len);
    return judge_op(&r->ref, op, present, had, &want, rc, out, &call, key_text, differs, why,
                    why_len);
}

/* same_contents (support.h) for either key kind. */
static bool contents_match(struct run *r, char *why, size_t why_len)
{
    if (!r->string_keys) {
        return same_contents(r->m, &r->ref, why, why_len);
    }
    size_t size = sm_size(r->m);
    if (size != r->ref.count) {
        snprintf(why, why_len, "sm_size() is %zu, the reference holds %" PRIu64, size, r->ref.count);
        return false;
    }
    for (uint64_t pos = 0; pos < r->ref.count; pos++) {
        size_t len = str_key_of(r->ref.keys[pos], r->key);
        uint64_t got = 0;
        int rc = sm_get_str(r->m, r->key, len, &got);
        if (rc != SM_OK || got != r->ref.values[pos]) {
            snprintf(why, why_len,
                     "key %" PRIu64 " (%zu bytes) should hold 0x%" PRIx64 ", sm_get_str gave %s, 0x%" PRIx64,
                     r->ref.keys[pos], len, r->ref.values[pos], sm_status_str(rc), got);
            return false;
        }
    }
    return true;
}

/*
 * One call answered SM_ENOMEM: was it allowed to, and did it really change
 * nothing? Past the thread's first call only a call that may need a new table
 * can lack memory, or, on a map with free_value, a call that may displace a
 * value (it reserves room to remember it first), or, on a string map, a call
 * that may insert (the key's copy) or remove a key (room to retire its copy).
 */
static void judge_enomem(struct run *r, const char *what, bool may_allocate)
{
    r->enomem++;
    if (r->enomem > 1) {
        report(r, what, "a second call answered SM_ENOMEM, but only one allocation failed");
        return;
    }
    if (r->calls_ok > 0 && !may_allocate) {
        report(r, what, "SM_ENOMEM although this is not the thread's first call");
        return;
    }
    char why[256];
    if (!contents_match(r, why, sizeof why)) {
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

/* The calls that reserve room to retire a string key's copy ("String keys"
 * in steadymap.h): the ones that may remove a key. */
static bool may_remove_key(const struct op *op)
{
    return op->kind == OP_DELETE || op->kind == OP_COMPUTE;
}

/* op.key is an index: the uint64_t map gets key_of it, the string map str_key_of. */
static int apply(struct run *r, const struct op *op, bool *differs, char *why, size_t why_len)
{
    if (r->string_keys) {
        return apply_str_op(r, op, differs, why, why_len);
    }
    struct op mapped = *op;
    mapped.key = key_of(op->key);
    return apply_op(r->m, &r->ref, &mapped, differs, why, why_len);
}

static void run_op(struct run *r, struct op op)
{
    const char *name = op_names[op.kind];
    bool differs = false;
    char why[256];
    int rc = apply(r, &op, &differs, why, sizeof why);
    if (rc == SM_ENOMEM) {
        judge_enomem(r, name, may_grow(&op) || (r->free_values && may_displace(&op)) ||
                                  (r->string_keys && may_remove_key(&op)));
        if (r->calls_ok > 0 && may_grow(&op)) {
            r->enomem_grow++;
        } else if (r->calls_ok > 0 && r->string_keys && may_remove_key(&op)) {
            r->enomem_remove++;
        }
        /* "The call may be retried": the one failing allocation is spent. */
        rc = apply(r, &op, &differs, why, sizeof why);
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
 * clear the rest, reserve again and refill a little. Keys are indexes (apply).
 */
static void workload(struct run *r)
{
    static const enum op_kind inserts[4] = { OP_PUT, OP_INSERT, OP_GET_OR_INSERT, OP_COMPUTE };
    const uint64_t keys = r->string_keys ? STR_KEYS : KEYS;
    for (uint64_t i = 0; i < keys / 2; i++) {
        run_op(r, (struct op){ .kind = inserts[i % 4], .key = i, .value = i,
                               .action = SM_COMPUTE_SET });
        if (i % 7 == 0) {
            run_op(r, (struct op){ .kind = OP_INSERT, .key = i / 2, .value = ~i });
        }
    }
    for (uint64_t i = 0; i < keys / 2; i += 3) {
        run_op(r, (struct op){ .kind = OP_REPLACE, .key = i, .value = i + 1 });
        run_op(r, (struct op){ .kind = OP_CAS, .key = i, .value = i + 2, .expected = i + 1 });
        run_op(r, (struct op){ .kind = OP_CAS, .key = i, .value = i + 3, .expected = i + 1 });
        run_op(r, (struct op){ .kind = OP_COMPUTE, .key = i, .action = SM_COMPUTE_KEEP });
        run_op(r, (struct op){ .kind = OP_GET, .key = i });
    }
    reserve(r, keys);
    for (uint64_t i = keys / 2; i < keys; i++) {
        run_op(r, (struct op){ .kind = OP_INSERT, .key = i, .value = i });
    }
    for (uint64_t i = keys / 32; i < keys; i++) {
        run_op(r, (struct op){ .kind = i % 2 ? OP_DELETE : OP_COMPUTE, .key = i,
                               .action = SM_COMPUTE_DELETE });
        run_op(r, (struct op){ .kind = OP_DELETE, .key = i });
    }
    clear(r);
    reserve(r, keys / 4);
    for (uint64_t i = keys; i < keys + keys / 8; i++) {
        run_op(r, (struct op){ .kind = OP_PUT, .key = i, .value = i });
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
    opts.flags = r->string_keys ? SM_STRING_KEYS : 0;
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
    if (!contents_match(r, why, sizeof why)) {
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

static void sweep(bool string_keys, bool free_values)
{
    /* The first run may set up process-wide state (thread records) once. */
    struct run warm = { .free_values = free_values, .string_keys = string_keys };
    run_in_thread(&warm);
    if (failed(&warm)) {
        fail_msg("clean run: %s", warm.error);
    }

    struct run clean = { .free_values = free_values, .string_keys = string_keys };
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
    unsigned remove_failures = 0;
    for (uint64_t n = 1; n <= total; n++) {
        struct run r = { .fail_at = n, .free_values = free_values, .string_keys = string_keys };
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
        remove_failures += r.enomem_remove;
    }
    printf("of %" PRIu64 " failing allocations: %u failed an insert, %u a delete or compute "
           "that could remove a string key, %u sm_reserve, %u sm_clear, %u were absorbed "
           "(a shrink left for later)\n",
           total, grow_failures, remove_failures, reserve_failures, clear_failures, silent);
    /* The test proves nothing unless failures reached tables being grown. */
    assert_true(grow_failures > 0);
    assert_true(reserve_failures > 0);
}

static void every_failing_allocation_changes_nothing(void **state)
{
    (void)state;
    sweep(false, false);
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
    sweep(false, true);
}

/*
 * The same on a string-keyed map: key copies that an insert could not make,
 * or that a delete could not reserve room to retire, must leave the map as it
 * was, and every copy must be freed by the time sm_destroy returns. Then with
 * free_value as well, where a delete reserves room for the value and the key
 * at once.
 */
static void with_string_keys(void **state)
{
    (void)state;
    sweep(true, false);
    sweep(true, true);
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
        cmocka_unit_test(with_string_keys),
        cmocka_unit_test(failed_shrink_is_retried_by_a_later_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
