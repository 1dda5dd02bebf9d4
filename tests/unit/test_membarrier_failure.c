/*
 * test_membarrier_failure.c — a reclaim scan whose membarrier() fails frees
 * nothing, and a later scan whose barrier succeeds frees it all.
 *
 * With membarrier registered, readers order their epoch store before their
 * loads with a compiler fence only; the reclaimer's
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) supplies the hardware fence.
 * If that call fails (the kernel's -ENOMEM, or a seccomp filter installed
 * after registration returning EPERM), the scan has no barrier and must not
 * free anything (found by review: the result used to be ignored).
 *
 * The failure is made real with a seccomp filter that returns EPERM for
 * exactly that command. Filters are per thread (without TSYNC) and inherited
 * only by threads created later, so it is installed on a helper thread: the
 * main thread's barrier still works, which lets the test show that the next
 * scan tries again. Its own executable all the same, so that no other test
 * ever shares a process with a filter.
 */
#define _GNU_SOURCE     /* syscall() */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#if defined(__linux__)
#include <linux/filter.h>
#include <linux/membarrier.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "epoch.h"
#include "steadymap.h"
#include "testing.h"

/* Under ThreadSanitizer epoch.c never uses membarrier (both sides use
 * fences, which the tool can check), so there is no barrier to fail. */
#if defined(__linux__) && defined(SYS_membarrier) && !defined(__SANITIZE_THREAD__)
#define CAN_RUN 1

#define VALUE_A 0xAu
#define VALUE_B 0xBu

static int freed_a, freed_other;

static void count_free(uint64_t value, void *ctx)
{
    (void)ctx;
    if (value == VALUE_A)
        freed_a++;
    else
        freed_other++;
}

/* What the filtered thread saw, checked by the main thread after the join
 * (cmocka's asserts must run on the thread that runs the test). */
struct filtered_run {
    sm_map *m;
    int seccomp_error;          /* errno of prctl, 0 when the filter is in */
    long barrier_rc;            /* membarrier(PRIVATE_EXPEDITED) under the filter */
    int barrier_errno;
    int put_a_rc, put_b_rc, reserve_rc;
    size_t reclaimed_first, reclaimed_again;
    int freed_a_after;
    sm_stats_info st;
    int stats_rc;
    int get_rc;
    uint64_t got;
};

/* EPERM for membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, ...), everything
 * else allowed. No architecture check: the filter only denies, so a foreign
 * syscall table could only make it deny less, and the probe call below
 * checks that it denies what it must. */
static int deny_expedited_membarrier(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
    /* An unprivileged thread may install a filter only with no_new_privs. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return errno;
    return 0;
}

static void *filtered_thread(void *arg)
{
    struct filtered_run *run = arg;
    run->seccomp_error = deny_expedited_membarrier();
    if (run->seccomp_error)
        return NULL;
    errno = 0;
    run->barrier_rc = syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    run->barrier_errno = errno;
    /* Everything that retires happens here, so that no reclaim with a
     * working barrier (a writer's own, right after it retires) runs before
     * the check. */
    run->put_a_rc = sm_put(run->m, 1, VALUE_A, NULL);
    run->put_b_rc = sm_put(run->m, 1, VALUE_B, NULL);    /* retires A */
    run->reserve_rc = sm_reserve(run->m, 4096);          /* retires a table */
    run->reclaimed_first = smi_reclaim(run->m);
    run->reclaimed_again = smi_reclaim(run->m);          /* still failing */
    run->freed_a_after = freed_a;
    run->st.size = sizeof run->st;
    run->stats_rc = sm_stats(run->m, &run->st);
    run->get_rc = sm_get(run->m, 1, &run->got);
    return NULL;
}
#else
#define CAN_RUN 0
#endif

static void failed_barrier_frees_nothing_and_next_scan_retries(void **state)
{
    (void)state;
#if !CAN_RUN
#if defined(__SANITIZE_THREAD__)
    print_message("ThreadSanitizer build: membarrier is not used (fences "
                  "instead), so it cannot fail: skipped\n");
#else
    print_message("no membarrier system call in this build: skipped\n");
#endif
    skip();
#else
    sm_options o = SM_OPTIONS_INIT;
    o.free_value = count_free;
    sm_map *m = sm_new(&o);
    assert_non_null(m);
    uint64_t v;
    /* The first call registers the process for expedited membarrier. */
    assert_int_equal(sm_get(m, 0, &v), SM_NOT_FOUND);
    if (!flag_load_relaxed(&smi_use_membarrier)) {
        print_message("membarrier(PRIVATE_EXPEDITED) is not available here: "
                      "readers use fences, nothing to test\n");
        sm_destroy(m);
        skip();
    }

    struct filtered_run run = {.m = m};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, filtered_thread, &run), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (run.seccomp_error) {
        print_message("cannot install a seccomp filter (%s): skipped\n",
                      strerror(run.seccomp_error));
        sm_destroy(m);
        skip();
    }
    /* The filter is in and does what the test needs. */
    assert_int_equal(run.barrier_rc, -1);
    assert_int_equal(run.barrier_errno, EPERM);
    assert_int_equal(run.put_a_rc, SM_OK);
    assert_int_equal(run.put_b_rc, SM_REPLACED);
    assert_int_equal(run.reserve_rc, SM_OK);

    /* No barrier, no free: both scans freed nothing, the garbage waits and
     * sm_stats shows it; the map itself kept working. */
    assert_int_equal(run.reclaimed_first, 0);
    assert_int_equal(run.reclaimed_again, 0);
    assert_int_equal(run.freed_a_after, 0);
    assert_int_equal(run.stats_rc, SM_OK);
    assert_int_equal(run.st.retired_values, 1);
    assert_true(run.st.retired_tables >= 1);
    assert_int_equal(run.get_rc, SM_OK);
    assert_int_equal(run.got, VALUE_B);

    /* This thread's barrier works: its scan tries again and frees it all. */
    assert_true(smi_reclaim(m) >= 2);
    assert_int_equal(freed_a, 1);
    sm_stats_info st = {.size = sizeof st};
    assert_int_equal(sm_stats(m, &st), SM_OK);
    assert_int_equal(st.retired_values, 0);
    assert_int_equal(st.retired_tables, 0);
    assert_int_equal(sm_get(m, 1, &v), SM_OK);
    assert_int_equal(v, VALUE_B);
    sm_destroy(m);
    assert_int_equal(freed_other, 1);   /* B, at sm_destroy */
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_barrier_frees_nothing_and_next_scan_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
