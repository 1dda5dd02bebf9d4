/*
 * free_value_stress.c — free_value is never called while a reader can still
 * hold the value (steadymap.h R1-R3), under writers that replace and delete
 * without pause while the table grows and shrinks.
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
 * use after free). At the end: every object made was handed to free_value
 * exactly once (after sm_destroy), none twice.
 *
 * That it can fail was checked by removing every sm_pin/sm_unpin from a
 * copy: three runs out of three reported 136-188 objects seen freed while
 * held. (Not registered as an expected-failure test: detection without pins
 * depends on scheduling, and a flaky test is worse than none.)
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

static sm_map *map;
static object *pool;          /* every object of the run; freed at the end */
static atomic_long made, freed, bad, freed_twice;
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

static void *writer(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
    for (long i = 0; i < WRITES; i++) {
        uint64_t r = xorshift(&s);
        uint64_t key = r % KEYS;
        /* Phases of mostly puts and of deletes only make the table grow and
         * shrink; both displace values into the limbo. */
        int deleting = (i / (WRITES / 6)) % 2 == 1;
        if (deleting || r % 4 == 0) {
            sm_delete(map, key, NULL);
        } else {
            uint64_t v = new_object(key);
            if (sm_put(map, key, v, NULL) < 0) {
                fprintf(stderr, "free_value_stress: sm_put failed\n");
                exit(1);
            }
        }
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1du + 7;
    uint64_t held_key[16], held_value[16];
    while (atomic_load(&writers_left) > 0) {
        if (sm_pin() != SM_OK) {
            fprintf(stderr, "free_value_stress: sm_pin failed\n");
            exit(1);
        }
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
        sm_get_many(map, keys, 32, values, found);
        for (int j = 0; j < 32; j++)
            if (found[j])
                check(values[j], keys[j]);
        /* Still pinned: everything obtained above must still be alive,
         * however many replaces and deletes happened meanwhile; give the
         * writers time to displace some of it first. */
        for (int j = 0; j < 4; j++)
            sched_yield();
        for (int j = 0; j < held; j++)
            check(held_value[j], held_key[j]);
        sm_unpin();
    }
    /* A walk while writers are gone is exact; one during writes is checked
     * by the loop above's objects. */
    return NULL;
}

static void *walker(void *arg)
{
    (void)arg;
    while (atomic_load(&writers_left) > 0) {
        sm_pin();
        sm_iter *it = sm_iter_new(map);
        uint64_t k, v;
        while (it && sm_iter_next(it, &k, &v) == SM_OK)
            check(v, k);
        sm_iter_free(it);
        sm_unpin();
    }
    return NULL;
}

/* A walk whose caller pins only around each call: a value handed out must
 * be protected by the pin of the call that returns it (R1), although the
 * iterator collected it during an earlier call. */
static void *stepwise_walker(void *arg)
{
    (void)arg;
    while (atomic_load(&writers_left) > 0) {
        sm_iter *it = sm_iter_new(map);
        for (;;) {
            sm_pin();
            uint64_t k, v;
            int rc = it ? sm_iter_next(it, &k, &v) : SM_NOT_FOUND;
            if (rc == SM_OK) {
                sched_yield();
                check(v, k);
            }
            sm_unpin();
            if (rc != SM_OK)
                break;
            sched_yield();
        }
        sm_iter_free(it);
    }
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
    printf("free_value_stress: %ld objects made, %ld freed while running, %zu present at the "
           "end, %" PRIu64 " grows, %" PRIu64 " shrinks\n",
           atomic_load(&made), before_destroy, present, st.grows, st.shrinks);
    if (atomic_load(&bad) || atomic_load(&freed_twice)) {
        fprintf(stderr, "free_value_stress: %ld objects seen freed while held, %ld freed twice\n",
                atomic_load(&bad), atomic_load(&freed_twice));
        rc = 1;
    }
    if (atomic_load(&freed) != atomic_load(&made)) {
        fprintf(stderr, "free_value_stress: %ld made but %ld freed\n", atomic_load(&made),
                atomic_load(&freed));
        rc = 1;
    }
    if (st.grows == 0 || st.shrinks == 0 || before_destroy == 0) {
        fprintf(stderr, "free_value_stress: the run did not grow, shrink and free: vacuous\n");
        rc = 1;
    }
    free(pool);
    if (rc == 0)
        printf("free_value_stress: passed\n");
    return rc;
}
