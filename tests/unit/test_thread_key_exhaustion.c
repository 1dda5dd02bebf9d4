/*
 * test_thread_key_exhaustion.c — the library's pthread key cannot be created
 * when the process has used up its keys: a thread's first call fails with
 * SM_ENOMEM, nothing else's key is touched, and a call after keys were freed
 * registers normally.
 *
 * The result of pthread_key_create used to be ignored (found by review): the
 * key variable stayed 0, another library's key, and each thread's record was
 * stored under it, so that library's destructor received our record at
 * thread exit. The key is made once per process, so the test needs a process
 * in which the library has not been called yet: its own executable.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "epoch.h"
#include "steadymap.h"
#include "testing.h"

/* Far above any real limit (glibc and musl: PTHREAD_KEYS_MAX = 1024); a
 * system that still has keys after this many is not tested. */
#define KEYS_CAP 65536

static pthread_key_t *keys;
static size_t nkeys;
static void *_Atomic foreign_got;    /* what a foreign destructor received */

/* Stands for another library's destructor: its keys are never set here, so
 * it must never be called. */
static void foreign_destructor(void *value)
{
    atomic_store(&foreign_got, value);
}

struct first_calls {
    sm_map *m;
    int get_rc, put_rc, get_after_put_rc, record_state;
    uint64_t got;
};

static void *first_calls(void *arg)
{
    struct first_calls *c = arg;
    c->get_rc = sm_get(c->m, 1, &c->got);
    c->put_rc = sm_put(c->m, 1, 10, NULL);
    c->get_after_put_rc = sm_get(c->m, 1, &c->got);
    c->record_state = smi_thread_record_state();
    return NULL;
}

static void run_thread(struct first_calls *c)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, first_calls, c), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void no_thread_key_is_enomem_then_retried(void **state)
{
    (void)state;
    keys = calloc(KEYS_CAP, sizeof *keys);
    assert_non_null(keys);
    int err = 0;
    while (nkeys < KEYS_CAP && (err = pthread_key_create(&keys[nkeys], foreign_destructor)) == 0)
        nkeys++;
    if (err != EAGAIN) {
        print_message("could not exhaust the process's pthread keys "
                      "(%zu created, last error %d): skipped\n", nkeys, err);
        for (size_t i = 0; i < nkeys; i++)
            pthread_key_delete(keys[i]);
        skip();
    }
    sm_map *m = sm_new(NULL);
    assert_non_null(m);

    /* No key left: a thread's first calls fail and change nothing. */
    uint64_t v = 0;
    assert_int_equal(sm_get(m, 1, &v), SM_ENOMEM);
    struct first_calls c = {.m = m};
    run_thread(&c);
    assert_int_equal(c.get_rc, SM_ENOMEM);
    assert_int_equal(c.put_rc, SM_ENOMEM);
    assert_int_equal(c.get_after_put_rc, SM_ENOMEM);
    assert_int_equal(c.record_state, -1);
    assert_null(atomic_load(&foreign_got));
    assert_int_equal(sm_size(m), 0);

    for (size_t i = 0; i < nkeys; i++)
        assert_int_equal(pthread_key_delete(keys[i]), 0);
    nkeys = 0;

    /* Keys available again: the next first call creates the key and works. */
    struct first_calls d = {.m = m};
    run_thread(&d);
    assert_int_equal(d.get_rc, SM_NOT_FOUND);
    assert_int_equal(d.put_rc, SM_OK);
    assert_int_equal(d.get_after_put_rc, SM_OK);
    assert_int_equal(d.got, 10);
    assert_int_equal(d.record_state, 1);
    /* The key's destructor handed that thread's record back at its exit:
     * the next thread reuses it instead of making a second one. */
    struct first_calls e = {.m = m};
    run_thread(&e);
    assert_int_equal(e.get_rc, SM_OK);
    assert_int_equal(e.record_state, 1);
    assert_int_equal(smi_epoch_records(), 1);
    assert_null(atomic_load(&foreign_got));
    /* And a thread whose first call failed gets its state on a later one. */
    assert_int_equal(sm_get(m, 1, &v), SM_OK);
    assert_int_equal(v, 10);
    assert_int_equal(smi_thread_record_state(), 1);
    sm_destroy(m);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_thread_key_is_enomem_then_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
