/*
 * free_value_stress.c — free_value is never called while a reader can still
 * hold the value (steadymap.h R1-R3), under writers that displace values by
 * every call that can (put, replace, cas, compute setting and deleting,
 * delete, clear) without pause while the table grows and shrinks.
 *
 * Values are pointers to objects that carry a magic word and their key, taken
 * from a pool that is never reused during the run (a quarantine), so an
 * object handed to free_value too early stays poisoned where a reader will
 * look: detection is certain, not left to the allocator. free_value poisons
 * the magic and counts. Readers pin, look
 * keys up (sm_get, sm_get_many, an iterator pinned for its whole walk or
 * only around each sm_iter_next), and check every object they got
 * while still pinned — and check it again after more lookups, still pinned,
 * so an object freed "too early" shows as a wrong magic (or, under ASan, as a
 * use after free). At the end: every object that entered the map was handed
 * to free_value exactly once (after sm_destroy), none twice; and the run was
 * not vacuous: each kind of call displaced values while readers checked
 * theirs (the writers start only once every reader runs).
 *
 * That it can fail was checked by removing every sm_pin/sm_unpin from a
 * copy: three runs out of three reported 136-188 objects seen freed while
 * held; and by a copy that hands values displaced by sm_replace, sm_cas or
 * sm_compute to free_value at once: twenty runs out of twenty reported
 * 194-312 (five out of five, 32-178, with only one of the three). (Not
 * registered as an expected-failure test: detection depends on scheduling,
 * and a flaky test is worse than none.)
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>

#include "steadymap.h"
#include "testing.h"

#define MAGIC 0x5eedf00dcafe1234u
#define POISON 0xdeaddeaddeaddeadu

#ifdef SM_SANITIZED
enum { KEYS = 4000, WRITES = 60000, READERS = 2, WRITERS = 2 };
#else
enum { KEYS = 40000, WRITES = 600000, READERS = 2, WRITERS = 2 };
#endif

typedef struct object {
    _Atomic uint64_t magic;
    uint64_t key;
} object;

/* The calls that displace a value, each on a path of its own in the library. */
enum { BY_PUT, BY_REPLACE, BY_CAS, BY_COMPUTE_SET, BY_COMPUTE_DELETE, BY_DELETE, BY_CLEAR,
       N_BY };
static const char *const by_name[N_BY] = {
    "put", "replace", "cas", "compute (set)", "compute (delete)", "delete", "clear",
};

static sm_map *map;
static object *pool;          /* every object of the run; freed at the end */
/* refused: made for a replace or cas the map turned down, so never in it:
 * free_value owes those nothing. */
static atomic_long made, refused, freed, bad, freed_twice;
static atomic_long displaced[N_BY];
/* Checks of held objects: readers' after further lookups, and the walkers'. */
static atomic_long held_checks, walk_checks, step_checks;
static atomic_int readers_started;
static atomic_int writers_left = WRITERS;

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void free_object(uint64_t value, void *ctx)
{
    (void)ctx;
    object *o = (object *)(uintptr_t)value;
    if (atomic_exchange(&o->magic, POISON) != MAGIC)
        atomic_fetch_add(&freed_twice, 1);
    atomic_fetch_add(&freed, 1);
}

static uint64_t new_object(uint64_t key)
{
    object *o = &pool[atomic_fetch_add(&made, 1)];
    o->key = key;
    atomic_store(&o->magic, MAGIC);  /* seq_cst: published by sm_put's release */
    return (uint64_t)(uintptr_t)o;
}

static void check(uint64_t value, uint64_t key)
{
    const object *o = (const object *)(uintptr_t)value;
    if (atomic_load(&o->magic) != MAGIC || o->key != key)
        atomic_fetch_add(&bad, 1);
}

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "free_value_stress: %s failed\n", what);
        exit(1);
    }
}

/* ctx: the object to store, or 0 to delete; present is what the last call saw. */
typedef struct compute_ctx {
    uint64_t set;
    int present;
} compute_ctx;

static sm_compute_action set_or_delete(uint64_t key, int present, uint64_t *value, void *ctx)
{
    (void)key;
    compute_ctx *c = ctx;
    c->present = present;
    if (c->set == 0)
        return SM_COMPUTE_DELETE;
    *value = c->set;
    return SM_COMPUTE_SET;
}

static void *writer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t s = id * 0x9e3779b97f4a7c15u + 1;
    long by[N_BY] = { 0 };
    while (atomic_load(&readers_started) < READERS + 2)
        sched_yield();
    for (long i = 0; i < WRITES; i++) {
        uint64_t r = xorshift(&s);
        uint64_t key = r % KEYS, old, v;
        /* Phases of mostly inserting calls and of deletes only make the
         * table grow and shrink; every call here can displace a value. */
        int deleting = (i / (WRITES / 6)) % 2 == 1;
        /* Once per growing phase, one writer empties the full map. */
        if (id == 1 && !deleting && i % (WRITES / 6) == WRITES / 12) {
            int removed = sm_clear(map);
            must(removed >= 0, "sm_clear");
            by[BY_CLEAR] += removed;
            continue;
        }
        int rc;
        compute_ctx c = { 0, 0 };
        /* High bits: the key's low bits would give each key one kind of call. */
        uint64_t pick = r >> 40;
        switch (deleting ? pick % 2 * 4 : pick % 8) {
        case 0:
            rc = sm_delete(map, key, NULL);
            must(rc >= 0, "sm_delete");
            by[BY_DELETE] += rc == SM_OK;
            break;
        case 1:
            v = new_object(key);
            rc = sm_replace(map, key, v, NULL);
            must(rc >= 0, "sm_replace");
            if (rc == SM_OK)
                by[BY_REPLACE]++;
            else
                atomic_fetch_add(&refused, 1);
            break;
        case 2:
            if (sm_get(map, key, &old) != SM_OK)
                break;
            v = new_object(key);
            rc = sm_cas(map, key, old, v, NULL);
            must(rc >= 0, "sm_cas");
            if (rc == SM_OK)
                by[BY_CAS]++;
            else
                atomic_fetch_add(&refused, 1);
            break;
        case 3:
            c.set = new_object(key);
            must(sm_compute(map, key, set_or_delete, &c, NULL) >= 0, "sm_compute");
            by[BY_COMPUTE_SET] += c.present;
            break;
        case 4:
            must(sm_compute(map, key, set_or_delete, &c, NULL) >= 0, "sm_compute");
            by[BY_COMPUTE_DELETE] += c.present;
            break;
        default:
            rc = sm_put(map, key, new_object(key), NULL);
            must(rc >= 0, "sm_put");
            by[BY_PUT] += rc == SM_REPLACED;
            break;
        }
    }
    for (int k = 0; k < N_BY; k++)
        atomic_fetch_add(&displaced[k], by[k]);
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1du + 7;
    uint64_t held_key[48], held_value[48];
    long checks = 0;
    atomic_fetch_add(&readers_started, 1);
    while (atomic_load(&writers_left) > 0) {
        must(sm_pin() == SM_OK, "sm_pin");
        int held = 0;
        for (int j = 0; j < 16; j++) {
            uint64_t key = xorshift(&s) % KEYS, v;
            if (sm_get(map, key, &v) == SM_OK) {
                check(v, key);
                held_key[held] = key;
                held_value[held++] = v;
            }
        }
        uint64_t keys[32], values[32];
        uint8_t found[32];
        for (int j = 0; j < 32; j++)
            keys[j] = xorshift(&s) % KEYS;
        must(sm_get_many(map, keys, 32, values, found) >= 0, "sm_get_many");
        for (int j = 0; j < 32; j++)
            if (found[j]) {
                check(values[j], keys[j]);
                held_key[held] = keys[j];
                held_value[held++] = values[j];
            }
        /* Still pinned: everything obtained above must still be alive,
         * however many replaces and deletes happened meanwhile; give the
         * writers time to displace some of it first. */
        for (int j = 0; j < 4; j++)
            sched_yield();
        for (int j = 0; j < held; j++)
            check(held_value[j], held_key[j]);
        checks += held;
        must(sm_unpin() == SM_OK, "sm_unpin");
    }
    /* A walk while writers are gone is exact; one during writes is checked
     * by the loop above's objects. */
    atomic_fetch_add(&held_checks, checks);
    return NULL;
}

static void *walker(void *arg)
{
    (void)arg;
    long checks = 0;
    atomic_fetch_add(&readers_started, 1);
    while (atomic_load(&writers_left) > 0) {
        must(sm_pin() == SM_OK, "sm_pin");
        sm_iter *it = sm_iter_new(map);
        must(it != NULL, "sm_iter_new");
        uint64_t k, v;
        int rc;
        while ((rc = sm_iter_next(it, &k, &v)) == SM_OK) {
            check(v, k);
            checks++;
        }
        must(rc == SM_NOT_FOUND, "sm_iter_next");
        sm_iter_free(it);
        must(sm_unpin() == SM_OK, "sm_unpin");
    }
    atomic_fetch_add(&walk_checks, checks);
    return NULL;
}

/* A walk whose caller pins only around each call: a value handed out must
 * be protected by the pin of the call that returns it (R1), although the
 * iterator collected it during an earlier call. */
static void *stepwise_walker(void *arg)
{
    (void)arg;
    long checks = 0;
    atomic_fetch_add(&readers_started, 1);
    while (atomic_load(&writers_left) > 0) {
        sm_iter *it = sm_iter_new(map);
        must(it != NULL, "sm_iter_new");
        for (;;) {
            must(sm_pin() == SM_OK, "sm_pin");
            uint64_t k, v;
            int rc = sm_iter_next(it, &k, &v);
            must(rc == SM_OK || rc == SM_NOT_FOUND, "sm_iter_next");
            if (rc == SM_OK) {
                sched_yield();
                check(v, k);
                checks++;
            }
            must(sm_unpin() == SM_OK, "sm_unpin");
            if (rc != SM_OK)
                break;
            sched_yield();
        }
        sm_iter_free(it);
    }
    atomic_fetch_add(&step_checks, checks);
    return NULL;
}

int main(void)
{
    pool = calloc((size_t)WRITERS * WRITES, sizeof *pool);
    if (!pool) {
        perror("calloc");
        return 1;
    }
    sm_options o = SM_OPTIONS_INIT;
    o.free_value = free_object;
    map = sm_new(&o);
    if (!map) {
        perror("sm_new");
        return 1;
    }
    pthread_t t[WRITERS + READERS + 2];
    int n = 0;
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&t[n++], NULL, writer, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < READERS; i++)
        pthread_create(&t[n++], NULL, reader, (void *)(uintptr_t)(i + 1));
    pthread_create(&t[n++], NULL, walker, NULL);
    pthread_create(&t[n++], NULL, stepwise_walker, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);

    sm_stats_info st = {.size = sizeof st};
    sm_stats(map, &st);
    char why[256];
    int rc = 0;
    if (smi_check_invariants(map, why, sizeof why) != 0) {
        fprintf(stderr, "free_value_stress: invariants: %s\n", why);
        rc = 1;
    }
    long before_destroy = atomic_load(&freed);
    size_t present = sm_size(map);
    sm_destroy(map);
    printf("free_value_stress: %ld objects made (%ld turned down), %ld freed while running, "
           "%zu present at the end, %" PRIu64 " grows, %" PRIu64 " shrinks\n",
           atomic_load(&made), atomic_load(&refused), before_destroy, present, st.grows,
           st.shrinks);
    printf("free_value_stress: displaced by");
    for (int k = 0; k < N_BY; k++)
        printf("%s %s %ld", k ? "," : "", by_name[k], atomic_load(&displaced[k]));
    printf("; checks of held objects: %ld by readers, %ld by the walker, %ld stepwise\n",
           atomic_load(&held_checks), atomic_load(&walk_checks), atomic_load(&step_checks));
    if (atomic_load(&bad) || atomic_load(&freed_twice)) {
        fprintf(stderr, "free_value_stress: %ld objects seen freed while held, %ld freed twice\n",
                atomic_load(&bad), atomic_load(&freed_twice));
        rc = 1;
    }
    if (atomic_load(&freed) != atomic_load(&made) - atomic_load(&refused)) {
        fprintf(stderr, "free_value_stress: %ld entered the map but %ld freed\n",
                atomic_load(&made) - atomic_load(&refused), atomic_load(&freed));
        rc = 1;
    }
    if (st.grows == 0 || st.shrinks == 0 || before_destroy == 0) {
        fprintf(stderr, "free_value_stress: the run did not grow, shrink and free: vacuous\n");
        rc = 1;
    }
    for (int k = 0; k < N_BY; k++)
        if (atomic_load(&displaced[k]) == 0) {
            fprintf(stderr, "free_value_stress: no %s displaced a value: vacuous\n", by_name[k]);
            rc = 1;
        }
    if (atomic_load(&held_checks) == 0 || atomic_load(&walk_checks) == 0 ||
        atomic_load(&step_checks) == 0) {
        fprintf(stderr, "free_value_stress: a reader checked nothing: vacuous\n");
        rc = 1;
    }
    free(pool);
    if (rc == 0)
        printf("free_value_stress: passed\n");
    return rc;
}
