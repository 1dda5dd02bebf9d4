/*
 * engines_concurrent.c — every engine under four threads at once. Each
 * thread owns a disjoint key range, so it knows exactly what its own gets
 * must return; it also reads the other threads' keys and walks the map,
 * where any value it sees must carry the tag of the key it belongs to (a
 * torn or misplaced value would not). At the end the map must hold exactly
 * what the threads left in it.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine.h"
#include "engine_test.h"

enum { THREADS = 4 };

/* The upper 48 bits of a value identify its key; the low 16 are a version. */
static uint64_t tag_of(uint64_t key)
{
    uint64_t s = key;
    return et_next(&s) & ~(uint64_t)0xffff;
}

static int value_fits_key(uint64_t key, uint64_t value)
{
    return (value & ~(uint64_t)0xffff) == tag_of(key);
}

struct shared {
    const lab_engine *e;
    void *map;
    uint64_t per_thread;    /* keys per thread */
    uint64_t total;         /* key indexes in all */
    uint64_t steps;
    uint64_t seed;
    atomic_int failures;
};

struct worker {
    struct shared *sh;
    int id;
    uint8_t *present;
    uint64_t *value;
};

static int walk_visit(uint64_t key, uint64_t value, void *arg)
{
    struct shared *sh = arg;
    if (et_index(key, sh->total) >= sh->total || !value_fits_key(key, value))
        atomic_fetch_add(&sh->failures, 1);
    return 0;
}

static void record_failure(struct shared *sh)
{
    atomic_fetch_add(&sh->failures, 1);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    const lab_engine *e = sh->e;
    uint64_t rng = sh->seed * 31 + (uint64_t)w->id;
    uint64_t base = (uint64_t)w->id * sh->per_thread;
    if (e->thread_attach)
        e->thread_attach(sh->map);
    for (uint64_t step = 0; step < sh->steps; step++) {
        uint64_t r = et_next(&rng);
        uint64_t j = et_next(&rng) % sh->per_thread;
        uint64_t key = et_key(base + j, sh->total);
        uint64_t v = 0;
        unsigned op = (unsigned)(r % 100);
        if (op < 45) {
            v = tag_of(key) | (step & 0xffff);
            if (e->put(sh->map, key, v) != 0)
                record_failure(sh);
            w->present[j] = 1;
            w->value[j] = v;
        } else if (op < 60) {
            if (e->del(sh->map, key) != w->present[j])
                record_failure(sh);
            w->present[j] = 0;
        } else if (op < 85) {
            int rc = e->get(sh->map, key, &v);
            if (rc != w->present[j] || (rc == 1 && v != w->value[j]))
                record_failure(sh);
        } else {
            uint64_t other = et_key(et_next(&rng) % sh->total, sh->total);
            int rc = e->get(sh->map, other, &v);
            if (rc < 0 || (rc == 1 && !value_fits_key(other, v)))
                record_failure(sh);
        }
        if (w->id == 0 && e->iterate && step % 4000 == 3999 && e->iterate(sh->map, walk_visit, sh) < 0)
            record_failure(sh);
    }
    if (e->thread_detach)
        e->thread_detach(sh->map);
    return NULL;
}

static void run_engine(const lab_engine *e, uint64_t seed)
{
    struct shared sh = {
        .e = e,
        .per_thread = ET_SCALE(20000, 3000),
        .steps = ET_SCALE(150000, 20000),
        .seed = seed,
    };
    sh.total = sh.per_thread * THREADS;
    atomic_init(&sh.failures, 0);
    sh.map = e->create(0);
    assert_non_null(sh.map);

    struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ &sh, i, calloc(sh.per_thread, 1),
                                calloc(sh.per_thread, sizeof(uint64_t)) };
        assert_non_null(w[i].present);
        assert_non_null(w[i].value);
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&sh.failures), 0);

    if (e->thread_attach)
        e->thread_attach(sh.map);
    uint64_t live = 0;
    for (int i = 0; i < THREADS; i++) {
        for (uint64_t j = 0; j < sh.per_thread; j++) {
            uint64_t v = 0;
            uint64_t key = et_key((uint64_t)i * sh.per_thread + j, sh.total);
            assert_int_equal(e->get(sh.map, key, &v), w[i].present[j]);
            if (w[i].present[j])
                assert_true(v == w[i].value[j]);
            live += w[i].present[j];
        }
        free(w[i].present);
        free(w[i].value);
    }
    if (e->size)
        assert_int_equal(e->size(sh.map), live);
    if (e->iterate)
        assert_int_equal(e->iterate(sh.map, walk_visit, &sh), (long)live);
    assert_int_equal(atomic_load(&sh.failures), 0);
    if (e->thread_detach)
        e->thread_detach(sh.map);
    e->destroy(sh.map);
}

static void test_every_engine_under_four_threads(void **state)
{
    (void)state;
    uint64_t seed = et_seed("engines_concurrent");
    size_t count, tested = 0;
    const lab_engine *const *all = lab_engines_all(&count);
    for (size_t k = 0; k < count; k++) {
        /* A single-threaded baseline has no concurrency to test. */
        if (!et_wanted(all[k]->name) || all[k]->out_of_process || all[k]->single_thread_only ||
            all[k]->reading_only)
            continue;
        printf("engine %s\n", all[k]->name);
        fflush(stdout);
        run_engine(all[k], seed + k);
        tested++;
    }
    /* An ET_ENGINE that names no engine must not pass as a test of it. */
    assert_true(tested > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_engine_under_four_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
