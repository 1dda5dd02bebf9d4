/*
 * growth.c — section 4: one writer inserts N keys while one reader gets keys
 * the writer has already inserted, each operation timed on its own. Run on a
 * map grown from empty and on one sm_reserve()d for N first; the difference is
 * what growing costs the reader (it should cost nothing: reads never wait).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* A get slower than this counts as the reader having been blocked. */
#define BLOCKED_NS 50000.0

/* An operation slower than this is held against its thread's wait for a CPU. */
#define SLOW_NS 1000000.0

/* Operations between two readings of a thread's wait for a CPU: ~0.3 ms of
 * gets (~0.6 ms of puts), so a reading costs ~1% and the window around a slow
 * operation stays short. */
#define WAIT_READ_EVERY 1024u

static uint64_t preemptions(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? (uint64_t)ru.ru_nivcsw : 0;
}

/*
 * The kernel's run delay of the calling thread: nanoseconds it has spent
 * runnable but waiting for a CPU (second field of /proc/thread-self/schedstat).
 * Returns -1 if it cannot be read.
 */
static int read_wait_ns(int fd, uint64_t *ns)
{
    char buf[128];
    ssize_t len = pread(fd, buf, sizeof buf - 1, 0);
    if (len <= 0)
        return -1;
    buf[len] = '\0';
    unsigned long long run, wait;
    if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
        return -1;
    *ns = wait;
    return 0;
}

/* Where a thread last read its run delay: the value and the TSC then. */
typedef struct wait_mark {
    int fd;
    uint64_t wait_ns;
    uint64_t tick;
} wait_mark;

static int wait_mark_take(wait_mark *w)
{
    uint64_t tick = bench_ticks();
    if (read_wait_ns(w->fd, &w->wait_ns) != 0)
        return -1;
    w->tick = tick;
    return 0;
}

/*
 * Ticks of [t0, t1) the calling thread spent waiting for a CPU, at least: the
 * run delay added since the last mark, less the part of the window outside
 * the operation (which may hold all of the rest). Moves the mark to now.
 */
static uint64_t waited_inside(wait_mark *w, uint64_t t0, uint64_t t1)
{
    wait_mark before = *w;
    if (wait_mark_take(w) != 0)
        return 0;
    double waited = (double)(w->wait_ns - before.wait_ns) * bench_ticks_per_ns();
    double outside = (double)(w->tick - before.tick) - (double)(t1 - t0);
    double inside = waited - outside;
    if (inside <= 0)
        return 0;
    return inside >= (double)(t1 - t0) ? t1 - t0 : (uint64_t)inside;
}

/*
 * One thread's operations slower than SLOW_NS, held against the time it spent
 * waiting for a CPU (runnable, not running) inside them, from the kernel's
 * per-thread run delay. The delay is read every WAIT_READ_EVERY operations
 * and right after each slow one, so the window a slow operation is judged in
 * is short.
 */
typedef struct slow_ops {
    wait_mark mark;
    int waits_known;             /* /proc/thread-self/schedstat was readable */
    unsigned since_mark;
    uint64_t count;              /* operations slower than SLOW_NS */
    uint64_t waiting;            /* of those, waited for >= 90% of their time */
    uint64_t max_on_cpu;         /* slowest operation with its wait taken out, ticks */
    uint64_t slowest_waited;     /* wait inside the slowest operation, ticks */
} slow_ops;

/* Before the start barrier: opening the file is not the run's work. */
static void slow_ops_open(slow_ops *so)
{
    so->mark.fd = open("/proc/thread-self/schedstat", O_RDONLY);
}

static void slow_ops_start(slow_ops *so)
{
    so->waits_known = so->mark.fd >= 0 && wait_mark_take(&so->mark) == 0;
}

/* One operation over [t0, t1); slowest is the thread's slowest so far, this
 * one included. */
static void slow_ops_add(slow_ops *so, uint64_t t0, uint64_t t1, uint64_t slow_limit,
                         uint64_t slowest)
{
    uint64_t d = t1 - t0, waited = 0;
    if (d > slow_limit) {
        so->count++;
        if (so->waits_known) {
            waited = waited_inside(&so->mark, t0, t1);
            if (waited >= d - d / 10)
                so->waiting++;
            so->since_mark = 0;
        }
    } else if (so->waits_known && ++so->since_mark == WAIT_READ_EVERY) {
        wait_mark_take(&so->mark);
        so->since_mark = 0;
    }
    if (d - waited > so->max_on_cpu)
        so->max_on_cpu = d - waited;
    if (d == slowest)
        so->slowest_waited = waited;
}

static void slow_ops_close(slow_ops *so)
{
    if (so->mark.fd >= 0)
        close(so->mark.fd);
}

typedef struct growth_run {
    const char *label;     /* "16M-growing", ... */
    uint64_t n;
    int presized;

    sm_map *map;
    const uint64_t *keys;
    pthread_barrier_t start;
    _Atomic int done;
    /* Written by the writer after every put: alone on its cache line, so the
     * reader's other fields do not move between cores with it. */
    _Alignas(64) _Atomic uint64_t published;  /* keys[0..published) are in */
    char pad[64 - sizeof(uint64_t)];

    bench_hist *puts, *gets;     /* in ticks */
    uint64_t blocked_ticks;      /* sum of gets slower than BLOCKED_NS */
    uint64_t blocked_gets;
    uint64_t writer_ns, reader_ns;
    /* Involuntary context switches of each thread during the run: a
     * preempted operation is slow for reasons outside the map. */
    uint64_t writer_preempted, reader_preempted;
    uint64_t reserve_ns;
    uint64_t grows;
    /* Each thread's slow operations against its wait for a CPU, updated by
     * every operation: the writer's on a cache line of its own, so the two
     * threads do not pass a line back and forth. */
    slow_ops slow_gets;
    _Alignas(64) slow_ops slow_puts;
    /* The control: the reader's own loop between two gets runs no map code,
     * so its stalls are the machine's. */
    _Alignas(64) uint64_t slow_gaps;  /* gaps between gets longer than SLOW_NS */
    uint64_t max_gap;            /* ticks */
} growth_run;

/* Both threads' first call, on the still empty map (the barrier comes next). */
static void first_get(growth_run *r)
{
    uint64_t v;
    int rc = sm_get(r->map, r->keys[0], &v);
    if (rc != SM_NOT_FOUND)
        report_wrong("growth %s: get on the empty map: %s", r->label,
                     sm_status_str(rc));
}

static void *writer(void *arg)
{
    growth_run *r = arg;
    uint64_t slow_limit = (uint64_t)(SLOW_NS * bench_ticks_per_ns());
    /* The first call of a thread allocates its record: keep it untimed. */
    first_get(r);
    slow_ops_open(&r->slow_puts);
    pthread_barrier_wait(&r->start);
    slow_ops_start(&r->slow_puts);
    uint64_t t_begin = bench_now_ns(), pre = preemptions();
    for (uint64_t i = 0; i < r->n; i++) {
        uint64_t t0 = bench_ticks();
        int rc = sm_put(r->map, r->keys[i], i, NULL);
        uint64_t t1 = bench_ticks_end();
        bench_hist_add(r->puts, t1 - t0);
        slow_ops_add(&r->slow_puts, t0, t1, slow_limit, r->puts->max);
        if (rc != SM_OK) {
            report_wrong("growth %s: put of fresh key %llu: %s", r->label,
                         (unsigned long long)i, sm_status_str(rc));
            if (rc < 0)
                break;
        }
        /* Release: the reader that sees i + 1 also sees the put (M1). */
        atomic_store_explicit(&r->published, i + 1, memory_order_release);
    }
    r->writer_ns = bench_now_ns() - t_begin;
    r->writer_preempted = preemptions() - pre;
    slow_ops_close(&r->slow_puts);
    atomic_store_explicit(&r->done, 1, memory_order_release);
    return NULL;
}

static void *reader(void *arg)
{
    growth_run *r = arg;
    uint64_t v, s = 0x2545f4914f6cdd1dull;
    uint64_t blocked_limit = (uint64_t)(BLOCKED_NS * bench_ticks_per_ns());
    uint64_t slow_limit = (uint64_t)(SLOW_NS * bench_ticks_per_ns());
    first_get(r);
    slow_ops_open(&r->slow_gets);
    pthread_barrier_wait(&r->start);
    slow_ops_start(&r->slow_gets);
    uint64_t t_begin = bench_now_ns(), pre = preemptions(), prev_t1 = bench_ticks();
    while (!atomic_load_explicit(&r->done, memory_order_acquire)) {
        uint64_t p = atomic_load_explicit(&r->published, memory_order_acquire);
        if (p == 0) {
            prev_t1 = bench_ticks();   /* waiting for the first put is no stall */
            continue;
        }
        uint64_t i = bench_below(bench_xorshift(&s), p);
        uint64_t key = r->keys[i];
        uint64_t t0 = bench_ticks();
        int rc = sm_get(r->map, key, &v);
        uint64_t t1 = bench_ticks_end(), d = t1 - t0;
        bench_hist_add(r->gets, d);
        uint64_t gap = t0 - prev_t1;
        prev_t1 = t1;
        if (gap > slow_limit)
            r->slow_gaps++;
        if (gap > r->max_gap)
            r->max_gap = gap;
        if (d > blocked_limit) {
            r->blocked_ticks += d;
            r->blocked_gets++;
        }
        slow_ops_add(&r->slow_gets, t0, t1, slow_limit, r->gets->max);
        if (rc != SM_OK || v != i)
            report_wrong("growth %s: get of inserted key %llu: %s, value %s",
                         r->label, (unsigned long long)i, sm_status_str(rc),
                         rc == SM_OK ? "wrong" : "-");
    }
    r->reader_ns = bench_now_ns() - t_begin;
    r->reader_preempted = preemptions() - pre;
    slow_ops_close(&r->slow_gets);
    return NULL;
}

static int growth_run_once(growth_run *r, const uint64_t *keys)
{
    r->keys = keys;
    r->puts = calloc(1, sizeof *r->puts);
    r->gets = calloc(1, sizeof *r->gets);
    r->map = sm_new(NULL);
    if (!r->puts || !r->gets || !r->map) {
        report_note("%s: cannot allocate", r->label);
        sm_destroy(r->map);
        return -1;
    }
    if (r->presized) {
        uint64_t t0 = bench_now_ns();
        if (sm_reserve(r->map, r->n) != SM_OK) {
            report_note("%s: sm_reserve(%llu) failed", r->label,
                        (unsigned long long)r->n);
            sm_destroy(r->map);
            return -1;
        }
        r->reserve_ns = bench_now_ns() - t0;
    }
    progress("growth %s: one writer, one reader", r->label);
    pthread_t tw, tr;
    pthread_barrier_init(&r->start, NULL, 2);
    if (pthread_create(&tr, NULL, reader, r) != 0 ||
        pthread_create(&tw, NULL, writer, r) != 0) {
        fprintf(stderr, "steadymap-bench: cannot start the growth threads\n");
        exit(2);
    }
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    pthread_barrier_destroy(&r->start);

    sm_stats_info st;
    bench_stats(r->map, &st);
    r->grows = st.grows;
    sm_destroy(r->map);
    r->map = NULL;
    return 0;
}

static double ticks_to_ns(uint64_t t) { return (double)t / bench_ticks_per_ns(); }

static void record_run(const growth_run *r)
{
    static const double qs[] = { 0.5, 0.99, 0.999, 0.9999, 1.0 };
    static const char *qn[] = { "p50", "p99", "p99.9", "p99.99", "max" };
    char name[128];
    const bench_hist *hs[2] = { r->gets, r->puts };
    const char *ops[2] = { "get", "put" };

    for (int h = 0; h < 2; h++) {
        printf("  %-14s %-4s", r->label, ops[h]);
        for (int q = 0; q < 5; q++) {
            double ns = ticks_to_ns(bench_hist_quantile(hs[h], qs[q]));
            snprintf(name, sizeof name, "growth.%s.%s.%s_ns", r->label, ops[h], qn[q]);
            report_record(name, ns, "ns");
            printf(" %11.0f", ns);
        }
        double per_op = hs[h]->count ? ticks_to_ns(hs[h]->sum) / (double)hs[h]->count : 0;
        snprintf(name, sizeof name, "growth.%s.%s.mean_ns", r->label, ops[h]);
        report_record(name, per_op, "ns");
        snprintf(name, sizeof name, "growth.%s.%s.count", r->label, ops[h]);
        report_record(name, (double)hs[h]->count, "ops");
        printf(" %10.0f %11llu\n", per_op, (unsigned long long)hs[h]->count);
    }
    snprintf(name, sizeof name, "growth.%s.get.blocked_ms", r->label);
    report_record(name, ticks_to_ns(r->blocked_ticks) / 1e6, "ms");
    snprintf(name, sizeof name, "growth.%s.get.blocked_count", r->label);
    report_record(name, (double)r->blocked_gets, "gets");
    snprintf(name, sizeof name, "growth.%s.writer_seconds", r->label);
    report_record(name, (double)r->writer_ns / 1e9, "s");
    snprintf(name, sizeof name, "growth.%s.writer_preempted", r->label);
    report_record(name, (double)r->writer_preempted, "switches");
    snprintf(name, sizeof name, "growth.%s.reader_preempted", r->label);
    report_record(name, (double)r->reader_preempted, "switches");
    const slow_ops *slow[2] = { &r->slow_gets, &r->slow_puts };
    const char *plural[2] = { "gets", "puts" };
    for (int h = 0; h < 2; h++) {
        if (slow[h]->waits_known) {
            snprintf(name, sizeof name, "growth.%s.%s.max_waiting_for_cpu_ms", r->label, ops[h]);
            report_record(name, ticks_to_ns(slow[h]->slowest_waited) / 1e6, "ms");
            snprintf(name, sizeof name, "growth.%s.%s.max_on_cpu_ns", r->label, ops[h]);
            report_record(name, ticks_to_ns(slow[h]->max_on_cpu), "ns");
            snprintf(name, sizeof name, "growth.%s.%s.slow_waiting_count", r->label, ops[h]);
            report_record(name, (double)slow[h]->waiting, plural[h]);
        }
        snprintf(name, sizeof name, "growth.%s.%s.slow_count", r->label, ops[h]);
        report_record(name, (double)slow[h]->count, plural[h]);
    }
    snprintf(name, sizeof name, "growth.%s.reader_gap.slow_count", r->label);
    report_record(name, (double)r->slow_gaps, "gaps");
    snprintf(name, sizeof name, "growth.%s.reader_gap.max_ms", r->label);
    report_record(name, ticks_to_ns(r->max_gap) / 1e6, "ms");
    snprintf(name, sizeof name, "growth.%s.reserve_ms", r->label);
    report_record(name, (double)r->reserve_ns / 1e6, "ms");
    snprintf(name, sizeof name, "growth.%s.grows", r->label);
    report_record(name, (double)r->grows, "resizes");
}

static void print_slow_ops(const char *label, const slow_ops *so, const bench_hist *h,
                           const char *op, const char *thread)
{
    if (!so->waits_known) {
        printf("  %-14s %s's wait for a CPU unknown (no /proc/thread-self/schedstat)\n",
               label, thread);
        return;
    }
    printf("  %-14s slowest %s %.3f ms, >= %.3f ms of it waiting for a CPU; "
           "%llu %ss > %.0f ms, %llu of them waiting >= 90%%; slowest %s "
           "with its wait taken out %.1f us\n",
           label, op, ticks_to_ns(h->max) / 1e6, ticks_to_ns(so->slowest_waited) / 1e6,
           (unsigned long long)so->count, op, SLOW_NS / 1e6,
           (unsigned long long)so->waiting, op, ticks_to_ns(so->max_on_cpu) / 1e3);
}

static void free_run(growth_run *r)
{
    free(r->puts);
    free(r->gets);
}

void section_growth(const bench_options *o)
{
    uint64_t big = o->growth_keys, small = o->growth_keys / 4;
    char labels[4][48], sb[24], ss[24];
    bench_size_label(sb, sizeof sb, big);
    bench_size_label(ss, sizeof ss, small);
    snprintf(labels[0], sizeof labels[0], "%s-growing", ss);
    snprintf(labels[1], sizeof labels[1], "%s-presized", ss);
    snprintf(labels[2], sizeof labels[2], "%s-growing", sb);
    snprintf(labels[3], sizeof labels[3], "%s-presized", sb);
    growth_run runs[4];
    memset(runs, 0, sizeof runs);
    for (int i = 0; i < 4; i++) {
        runs[i].label = labels[i];
        runs[i].n = i < 2 ? small : big;
        runs[i].presized = i % 2;
    }

    report_section("growth", "4. growth: 1 writer inserts N keys, 1 reader gets inserted keys");
    report_note("map from sm_new(NULL) (growing) or sm_new(NULL) + sm_reserve(N) "
                "(presized, reserve untimed); each op timed with the TSC");
    report_note("blocked time = sum of get latencies above %.0f us; both threads "
                "unpinned on a %ld-CPU machine", BLOCKED_NS / 1000.0,
                sysconf(_SC_NPROCESSORS_ONLN));
    progress("growth: generating %llu keys", (unsigned long long)big);
    uint64_t *keys = bench_keys_new(o->seed ^ 0x67726f77ull, big);
    for (int i = 0; i < 4; i++)
        if (growth_run_once(&runs[i], keys) != 0) {
            for (int j = 0; j <= i; j++)
                free_run(&runs[j]);
            free(keys);
            return;
        }
    free(keys);

    printf("  %-14s %-4s %11s %11s %11s %11s %11s %10s %11s\n", "run (ns)", "op",
           "p50", "p99", "p99.9", "p99.99", "max", "mean", "ops");
    for (int i = 0; i < 4; i++)
        record_run(&runs[i]);
    for (int i = 0; i < 4; i++)
        printf("  %-14s reader blocked %.3f ms in %llu gets > 50 us; preempted: "
               "reader %llu, writer %llu times; writer %.2f s; %llu grows%s\n",
               runs[i].label, ticks_to_ns(runs[i].blocked_ticks) / 1e6,
               (unsigned long long)runs[i].blocked_gets,
               (unsigned long long)runs[i].reader_preempted,
               (unsigned long long)runs[i].writer_preempted,
               (double)runs[i].writer_ns / 1e9,
               (unsigned long long)runs[i].grows,
               runs[i].presized ? " (the reserve's included)" : "");
    for (int i = 0; i < 4; i++)
        print_slow_ops(runs[i].label, &runs[i].slow_gets, runs[i].gets, "get", "reader");
    for (int i = 0; i < 4; i++)
        print_slow_ops(runs[i].label, &runs[i].slow_puts, runs[i].puts, "put", "writer");
    for (int i = 0; i < 4; i++) {
        double in_gets = ticks_to_ns(runs[i].gets->sum) / (double)runs[i].reader_ns;
        printf("  %-14s control: the reader's loop outside its gets (%.0f%% of its "
               "time) stalled > %.0f ms %llu times, longest %.3f ms; gets (%.0f%%) "
               "%llu times\n",
               runs[i].label, 100.0 * (1.0 - in_gets), SLOW_NS / 1e6,
               (unsigned long long)runs[i].slow_gaps,
               ticks_to_ns(runs[i].max_gap) / 1e6, 100.0 * in_gets,
               (unsigned long long)runs[i].slow_gets.count);
    }
    for (int i = 1; i < 4; i += 2)
        printf("  %-14s sm_reserve(%llu) took %.1f ms before the threads started\n",
               runs[i].label, (unsigned long long)runs[i].n,
               (double)runs[i].reserve_ns / 1e6);

    char how[192];
    double blocked_grow = ticks_to_ns(runs[2].blocked_ticks) / 1e6;
    double blocked_pre = ticks_to_ns(runs[3].blocked_ticks) / 1e6;
    snprintf(how, sizeof how, "%s blocked <= 2 x %s blocked (%.3f ms) + 20 ms",
             runs[2].label, runs[3].label, blocked_pre);
    report_check("growth.blocked_time", blocked_grow, 2.0 * blocked_pre + 20.0,
                 "ms", how);

    uint64_t max_get = 0;
    for (int i = 0; i < 4; i++)
        if (runs[i].gets->max > max_get)
            max_get = runs[i].gets->max;
    report_check("growth.max_get", ticks_to_ns(max_get) / 1e6, 10.0, "ms",
                 "the slowest get of all four runs stays under 10 ms");
    uint64_t max_on_cpu = 0;
    int waits_known = 1;
    for (int i = 0; i < 4; i++) {
        waits_known &= runs[i].slow_gets.waits_known;
        if (runs[i].slow_gets.max_on_cpu > max_on_cpu)
            max_on_cpu = runs[i].slow_gets.max_on_cpu;
    }
    if (waits_known)
        report_note("slowest get of all four runs with the reader's wait for a CPU "
                    "taken out: %.1f us (no target; the wait is a lower bound from "
                    "the kernel's run delay, read around every get > %.0f ms)",
                    ticks_to_ns(max_on_cpu) / 1e3, SLOW_NS / 1e6);

    double put_big = ticks_to_ns(runs[2].puts->max) / 1e6;
    double put_small = ticks_to_ns(runs[0].puts->max) / 1e6;
    snprintf(how, sizeof how, "max put %s <= 4 x max put %s (%.3f ms) + 1 ms",
             runs[2].label, runs[0].label, put_small);
    report_check("growth.max_put_scaling", put_big, 4.0 * put_small + 1.0, "ms",
                 how);
    if (runs[0].slow_puts.waits_known && runs[2].slow_puts.waits_known)
        report_note("max put with the writer's wait for a CPU taken out: %s %.1f us, "
                    "%s %.1f us (no target; the wait is a lower bound, as for gets)",
                    runs[2].label, ticks_to_ns(runs[2].slow_puts.max_on_cpu) / 1e3,
                    runs[0].label, ticks_to_ns(runs[0].slow_puts.max_on_cpu) / 1e3);
    for (int i = 0; i < 4; i++)
        free_run(&runs[i]);
}
