/*
 * free_value_no_lock.c — free_value runs with no lock of the map held, so a
 * slow callback on one thread never holds up another thread's writes (T3).
 *
 * Thread B retires values into its limbo stripe while the main thread holds
 * a guard. The main thread releases the guard and writes fresh keys until
 * one of its writes reclaims and calls free_value for one of B's values.
 * That call does not return until B has, meanwhile, replaced a value (which
 * reserves and commits in B's limbo stripe) and grown the map through
 * several resizes (each retires a table onto the map's garbage list) and
 * reclaimed itself. Before the fix the reclaimer called free_value holding
 * the stripe's mutex and the map's garbage lock, so B blocked on them and the
 * two threads waited for each other: the alarm turns that deadlock into a
 * failure. Nothing here depends on timing.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "steadymap.h"

#define ALARM_SECONDS 60u
#define B_RETIRED 100u       /* values B retires under the main thread's guard */
#define B_INSERTS 20000u     /* fresh keys B inserts: several grows */

static sm_map *map;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int b_retired;        /* B's values are in its limbo */
static int main_unpinned;    /* the guard is gone: B's values may be freed */
static int in_free_value;    /* a reclaim is inside the held free_value call */
static int b_done;           /* B's writes all returned */
static atomic_int hold_next = 0;  /* 1: the next free_value call waits for b_done */
static atomic_uint_fast64_t freed;

static void wait_for(int *flag)
{
    pthread_mutex_lock(&mu);
    while (!*flag)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

static void raise_flag(int *flag)
{
    pthread_mutex_lock(&mu);
    *flag = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void slow_free_value(uint64_t value, void *ctx)
{
    (void)value;
    (void)ctx;
    atomic_fetch_add(&freed, 1);
    if (atomic_exchange(&hold_next, 0)) {
        raise_flag(&in_free_value);
        wait_for(&b_done);  /* without the fix, B waits for our locks: deadlock */
    }
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] =
        "free_value_no_lock: deadlock: a writer waited for a lock held across free_value\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "free_value_no_lock: %s\n", what);
        exit(1);
    }
}

static void *writer_b(void *arg)
{
    (void)arg;
    /* Values of B's own stripe; the main thread's guard keeps them. */
    for (uint64_t i = 0; i < B_RETIRED; i++) {
        int rc = sm_put(map, 1000000 + (i % 4), 1000000 + i, NULL);
        check(rc == SM_OK || rc == SM_REPLACED, "B's put failed");
    }
    raise_flag(&b_retired);
    wait_for(&main_unpinned);
    wait_for(&in_free_value);
    /* The main thread is inside free_value now. A replace on a key nobody
     * else touches: reserve and commit in B's limbo stripe. */
    check(sm_put(map, 2000000, 1, NULL) == SM_OK, "B's insert failed");
    check(sm_put(map, 2000000, 2, NULL) == SM_REPLACED, "B's replace failed");
    /* Resizes: each finish retires a table (garbage lock) and reclaims. */
    sm_stats_info before = { .size = sizeof before };
    check(sm_stats(map, &before) == SM_OK, "sm_stats failed");
    for (uint64_t i = 0; i < B_INSERTS; i++)
        check(sm_put(map, 3000000 + i, i + 1, NULL) == SM_OK, "B's growing insert failed");
    /* Replaces after the growth: B's own reclaims, which free_value too. */
    for (uint64_t i = 0; i < 1024; i++)
        check(sm_put(map, 3000000 + i, B_INSERTS + i + 1, NULL) == SM_REPLACED,
              "B's replace after growth failed");
    sm_stats_info after = { .size = sizeof after };
    check(sm_stats(map, &after) == SM_OK, "sm_stats failed");
    check(after.grows > before.grows, "B's inserts did not grow the map");
    raise_flag(&b_done);
    return NULL;
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(ALARM_SECONDS);

    sm_options o = SM_OPTIONS_INIT;
    o.free_value = slow_free_value;
    map = sm_new(&o);
    check(map != NULL, "sm_new failed");

    check(sm_pin() == SM_OK, "sm_pin failed");
    pthread_t b;
    check(pthread_create(&b, NULL, writer_b, NULL) == 0, "pthread_create failed");
    wait_for(&b_retired);
    check(sm_unpin() == SM_OK, "sm_unpin failed");
    /* Only B's values wait: the main thread inserts fresh keys, which
     * retire nothing, until one of its writes reclaims. */
    atomic_store(&hold_next, 1);
    raise_flag(&main_unpinned);
    uint64_t k = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        int held = in_free_value;
        pthread_mutex_unlock(&mu);
        if (held)
            break;
        check(sm_put(map, k, k + 1, NULL) == SM_OK, "main's insert failed");
        k++;
        check(k < 1000000, "no write of the main thread reclaimed");
    }
    check(pthread_join(b, NULL) == 0, "pthread_join failed");
    alarm(0);

    /* Each value stored left the map (and was freed once it could be) or
     * was still present at sm_destroy, which frees both kinds. */
    uint64_t want = B_RETIRED + 2 + B_INSERTS + 1024 + k;  /* values stored, all distinct per key */
    sm_destroy(map);
    if (atomic_load(&freed) != want) {
        fprintf(stderr, "free_value_no_lock: %" PRIu64 " values freed, %" PRIu64 " stored\n",
                (uint64_t)atomic_load(&freed), want);
        return 1;
    }
    return 0;
}
