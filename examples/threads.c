/*
 * threads.c — writers and readers on one map at the same time.
 *
 * Each writer owns a range of keys: it inserts all of them (the map grows
 * while readers read), then deletes the odd ones (the map shrinks). It
 * publishes its progress with release stores, so a reader that has seen the
 * progress knows exactly which keys must be present and which must be gone,
 * without any timing assumption: readers check that while the map resizes.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <steadymap.h>

enum { WRITERS = 3, READERS = 2 };

#ifdef SM_SANITIZED
enum { KEYS_PER_WRITER = 5000 };
#else
enum { KEYS_PER_WRITER = 50000 };
#endif

static sm_map *map;
static _Atomic uint64_t inserted[WRITERS]; /* keys [0, n) of writer w are in */
static _Atomic uint64_t deleted[WRITERS];  /* odd keys below n are gone */
static atomic_int writers_done;
static atomic_int failures;

static uint64_t key_of(unsigned w, uint64_t i) { return (uint64_t)w << 32 | i; }
static uint64_t value_of(uint64_t key) { return key * 0x9E3779B97F4A7C15u + 1; }

/* Reports the first few failures; one is enough to fail, more would flood. */
static void fail(const char *what, uint64_t key, int rc)
{
    if (atomic_fetch_add(&failures, 1) < 10)
        fprintf(stderr, "threads: %s, key %#" PRIx64 ": %s\n", what, key,
                sm_status_str(rc));
}

static void *writer(void *arg)
{
    unsigned w = (unsigned)(uintptr_t)arg;
    for (uint64_t i = 0; i < KEYS_PER_WRITER; i++) {
        int rc = sm_insert(map, key_of(w, i), value_of(key_of(w, i)), NULL);
        if (rc != SM_OK)
            fail("insert", key_of(w, i), rc);
        atomic_store_explicit(&inserted[w], i + 1, memory_order_release);
    }
    for (uint64_t i = 1; i < KEYS_PER_WRITER; i += 2) {
        int rc = sm_delete(map, key_of(w, i), NULL);
        if (rc != SM_OK)
            fail("delete", key_of(w, i), rc);
        atomic_store_explicit(&deleted[w], i + 1, memory_order_release);
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t rnd = 0x2545F4914F6CDD1Du ^ (uintptr_t)arg, checked = 0;
    while (atomic_load(&writers_done) < WRITERS || checked == 0) {
        rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
        unsigned w = (unsigned)(rnd % WRITERS);
        /* deleted <= inserted at every moment, so read deleted first. */
        uint64_t gone = atomic_load_explicit(&deleted[w], memory_order_acquire);
        uint64_t in = atomic_load_explicit(&inserted[w], memory_order_acquire);
        if (in == 0)
            continue;
        uint64_t i = (rnd >> 32) % in, value = 0, key = key_of(w, i);
        int rc = sm_get(map, key, &value);
        if (i % 2 == 0 || i >= gone) {
            if (i % 2 == 0 && rc != SM_OK)
                fail("an inserted key is missing", key, rc);
            if (rc == SM_OK && value != value_of(key))
                fail("wrong value", key, rc);
        } else if (rc != SM_NOT_FOUND) {
            fail("a deleted key is still there", key, rc);
        }
        checked++;
    }
    return NULL;
}

int main(void)
{
    map = sm_new(NULL);
    if (map == NULL) {
        perror("sm_new");
        return EXIT_FAILURE;
    }
    pthread_t t[WRITERS + READERS];
    for (unsigned i = 0; i < WRITERS + READERS; i++) {
        void *(*fn)(void *) = i < WRITERS ? writer : reader;
        if (pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "threads: pthread_create failed\n");
            return EXIT_FAILURE;
        }
    }
    for (unsigned i = 0; i < WRITERS + READERS; i++)
        pthread_join(t[i], NULL);

    size_t expected = WRITERS * (size_t)((KEYS_PER_WRITER + 1) / 2);
    if (sm_size(map) != expected) {
        fprintf(stderr, "threads: size %zu, expected %zu\n", sm_size(map),
                expected);
        atomic_fetch_add(&failures, 1);
    }
    sm_destroy(map);
    if (atomic_load(&failures) != 0) {
        fprintf(stderr, "threads: %d failures\n", atomic_load(&failures));
        return EXIT_FAILURE;
    }
    printf("threads: %d writers and %d readers agreed on every key\n",
           WRITERS, READERS);
    return EXIT_SUCCESS;
}
