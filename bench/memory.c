/*
 * memory.c — section 5: does a map give memory back when it empties? Insert
 * N keys, delete all but K, keep writing until the incremental shrink is done,
 * reclaim, and compare bytes and RSS with a map that only ever held K.
 *
 * Each map lives in a forked child, so the RSS each one shows is its own and
 * not what earlier sections left in this process's heap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "testing.h"

typedef struct mem_result {
    int ok;
    uint64_t wrong;
    uint64_t rss_before, rss_peak, rss_end, rss_destroyed;
    uint64_t held_peak, held_end, live_end;
    uint64_t slots_peak, slots_end;
    uint64_t grows, shrinks, churn_ops, reclaimed, migrating_end;
    uint64_t retired_before_reclaim, retired_after_reclaim;
} mem_result;

static void insert_all(sm_map *m, const uint64_t *keys, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        int rc = sm_put(m, keys[i], i, NULL);
        if (rc != SM_OK)
            report_wrong("memory: put of fresh key %llu: %s",
                         (unsigned long long)i, sm_status_str(rc));
    }
}

/*
 * Puts and deletes a fresh key, so the entry count stays at K while writers
 * keep running: writers are what moves a resize along (T3). Stops once a round
 * ends with no resize in progress and the table no smaller than the round
 * before, or after n pairs.
 */
static uint64_t churn_until_settled(sm_map *m, uint64_t seed, uint64_t first,
                                    uint64_t n)
{
    const uint64_t round = 1u << 14;
    uint64_t done = 0, last_slots = UINT64_MAX;
    sm_stats_info st;
    while (done < n) {
        for (uint64_t j = 0; j < round; j++) {
            uint64_t k = bench_key(seed, first + done + j);
            if (sm_put(m, k, 0, NULL) != SM_OK || sm_delete(m, k, NULL) != SM_OK)
                report_wrong("memory: churn put/delete of a fresh key failed");
        }
        done += round;
        bench_stats(m, &st);
        if (!st.migrating && st.slots >= last_slots)
            break;
        last_slots = st.slots;
    }
    return done;
}

static void shrink_child(uint64_t n, uint64_t keep, uint64_t seed, mem_result *r)
{
    uint64_t *keys = bench_keys_new(seed, n);
    sm_stats_info st;
    r->rss_before = bench_rss_bytes();
    sm_map *m = sm_new(NULL);
    if (!m)
        return;
    progress("memory: inserting %llu keys", (unsigned long long)n);
    insert_all(m, keys, n);
    bench_stats(m, &st);
    r->held_peak = st.bytes_held;
    r->slots_peak = st.slots;
    r->rss_peak = bench_rss_bytes();

    progress("memory: deleting all but %llu", (unsigned long long)keep);
    for (uint64_t i = keep; i < n; i++) {
        uint64_t old;
        int rc = sm_delete(m, keys[i], &old);
        if (rc != SM_OK || old != i)
            report_wrong("memory: delete of key %llu: %s", (unsigned long long)i,
                         sm_status_str(rc));
    }
    r->churn_ops = churn_until_settled(m, seed, n, n);
    bench_stats(m, &st);
    r->retired_before_reclaim = st.retired_tables;
    r->reclaimed = smi_reclaim(m);
    bench_stats(m, &st);
    r->retired_after_reclaim = st.retired_tables;
    r->held_end = st.bytes_held;
    r->slots_end = st.slots;
    r->grows = st.grows;
    r->shrinks = st.shrinks;
    r->migrating_end = st.migrating;
    r->live_end = smi_bytes_live();
    r->rss_end = bench_rss_bytes();

    progress("memory: checking all %llu keys", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        int rc = sm_get(m, keys[i], &v);
        if (i < keep ? (rc != SM_OK || v != i) : rc != SM_NOT_FOUND)
            report_wrong("memory: get of %s key %llu after shrinking: %s",
                         i < keep ? "kept" : "deleted", (unsigned long long)i,
                         sm_status_str(rc));
    }
    sm_destroy(m);
    r->rss_destroyed = bench_rss_bytes();
    free(keys);
    r->ok = 1;
}

static void fresh_child(uint64_t keep, uint64_t seed, mem_result *r)
{
    uint64_t *keys = bench_keys_new(seed, keep);
    sm_stats_info st;
    r->rss_before = bench_rss_bytes();
    sm_map *m = sm_new(NULL);
    if (!m)
        return;
    insert_all(m, keys, keep);
    bench_stats(m, &st);
    /* Settled as the shrunk map is: no resize half done, nothing retired. */
    if (st.migrating && sm_reserve(m, 0) != SM_OK)
        return;
    r->reclaimed = smi_reclaim(m);
    bench_stats(m, &st);
    r->held_peak = r->held_end = st.bytes_held;
    r->slots_peak = r->slots_end = st.slots;
    r->grows = st.grows;
    r->live_end = smi_bytes_live();
    r->rss_peak = r->rss_end = bench_rss_bytes();
    sm_destroy(m);
    r->rss_destroyed = bench_rss_bytes();
    free(keys);
    r->ok = 1;
}

/* Runs one child; returns 0 when it reported a result. */
static int in_child(int shrink, const bench_options *o, mem_result *r)
{
    int fd[2];
    memset(r, 0, sizeof *r);
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        mem_result c;
        memset(&c, 0, sizeof c);
        if (shrink)
            shrink_child(o->memory_keys, o->memory_keep, o->seed ^ 0x6d656dull, &c);
        else
            fresh_child(o->memory_keep, o->seed ^ 0x6d656dull, &c);
        c.wrong = report_wrong_count();
        ssize_t w = write(fd[1], &c, sizeof c);
        _exit(w == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], r, sizeof *r);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != (ssize_t)sizeof *r || !r->ok)
        return -1;
    if (r->wrong)
        report_wrong("memory: %llu wrong results in the child (printed above)",
                     (unsigned long long)r->wrong);
    return 0;
}

static double mib(uint64_t b) { return (double)b / 1048576.0; }

void section_memory(const bench_options *o)
{
    char sn[24], sk[24], how[192];
    bench_size_label(sn, sizeof sn, o->memory_keys);
    bench_size_label(sk, sizeof sk, o->memory_keep);
    report_section("memory", "5. memory: shrink after deletes vs a map that only held K");
    report_note("child 1: put %s keys into sm_new(NULL), delete all but %s, put+delete "
                "fresh keys until no resize runs, smi_reclaim()", sn, sk);
    report_note("child 2: put %s keys into sm_new(NULL), finish any resize, smi_reclaim()",
                sk);
    report_note("RSS = resident set of the child (statm) after the map is built, "
                "minus before; each map in its own forked process");

    mem_result a, b;
    if (in_child(1, o, &a) != 0 || in_child(0, o, &b) != 0) {
        report_note("a child failed to report (out of memory, or crashed)");
        report_wrong("memory: child process failed");
        return;
    }
    report_note("shrunk map: slots %llu -> %llu, %llu grows, %llu shrinks, "
                "%llu churn put+delete pairs, migrating at end %llu",
                (unsigned long long)a.slots_peak, (unsigned long long)a.slots_end,
                (unsigned long long)a.grows, (unsigned long long)a.shrinks,
                (unsigned long long)a.churn_ops, (unsigned long long)a.migrating_end);
    report_note("shrunk map: retired tables %llu before smi_reclaim, %llu after "
                "(%llu freed)",
                (unsigned long long)a.retired_before_reclaim,
                (unsigned long long)a.retired_after_reclaim,
                (unsigned long long)a.reclaimed);
    report_note("fresh map: %llu slots, %llu grows", (unsigned long long)b.slots_end,
                (unsigned long long)b.grows);

    double a_rss = mib(a.rss_end > a.rss_before ? a.rss_end - a.rss_before : 0);
    double b_rss = mib(b.rss_end > b.rss_before ? b.rss_end - b.rss_before : 0);
    report_value("memory.shrunk.bytes_held_peak", mib(a.held_peak), "MiB",
                 "shrunk map: bytes_held at its peak");
    report_value("memory.shrunk.rss_peak", mib(a.rss_peak - a.rss_before), "MiB",
                 "shrunk map: RSS at its peak");
    report_value("memory.shrunk.bytes_held", mib(a.held_end), "MiB",
                 "shrunk map: bytes_held after shrinking");
    report_value("memory.shrunk.bytes_live", mib(a.live_end), "MiB",
                 "shrunk map: smi_bytes_live after shrinking");
    report_value("memory.shrunk.rss", a_rss, "MiB", "shrunk map: RSS after shrinking");
    report_value("memory.shrunk.rss_after_destroy",
                 mib(a.rss_destroyed > a.rss_before ? a.rss_destroyed - a.rss_before : 0),
                 "MiB", "shrunk map: RSS left after sm_destroy");
    report_value("memory.fresh.bytes_held", mib(b.held_end), "MiB",
                 "fresh map: bytes_held");
    report_value("memory.fresh.rss", b_rss, "MiB", "fresh map: RSS");

    snprintf(how, sizeof how, "bytes_held %.1f MiB / fresh %.1f MiB",
             mib(a.held_end), mib(b.held_end));
    report_check("memory.bytes_held_ratio",
                 b.held_end ? (double)a.held_end / (double)b.held_end : 0.0, 2.0,
                 "x", how);
    snprintf(how, sizeof how, "RSS %.1f MiB / fresh %.1f MiB", a_rss, b_rss);
    report_check("memory.rss_ratio", b_rss > 0 ? a_rss / b_rss : 0.0, 2.0, "x", how);
}
