/*
 * map_ops.c — sections 2 and 3: single-thread sm_get and sm_put on a map
 * built from empty with default options, as most programs will use it.
 *
 * Every key k_i of a map stores k_(i+1) as its value (k_n is k_0 again). The
 * keys are random, so walking them in index order touches the table at random
 * places while the key array itself streams; and the latency chain can take
 * its next key straight from the value a get returned, so each lookup waits
 * for the previous one and nothing else (an index would cost a second random
 * load into the key array per step). Every get is checked against the array.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_flat.h"
#include "testing.h"

/* Keys per sm_get_many call: four of the library's groups of 16 (DESIGN.md,
 * "Batched lookups"), a batch a caller with a list of keys would pass. */
#define GET_MANY_BATCH 64

/*
 * Moves whatever resize the last inserts started to its end, so the gets
 * measure the table at rest: sm_reserve(m, 0) only completes a resize in
 * progress (its contract), and retired tables are freed so bytes_held counts
 * one table.
 */
static int settle(sm_map *m)
{
    sm_stats_info st;
    bench_stats(m, &st);
    if (st.migrating && sm_reserve(m, 0) != SM_OK)
        report_note("sm_reserve failed while settling the map");
    smi_reclaim(m);
    return st.migrating != 0;
}

int map_build(built_map *b, const char *label, uint64_t n, uint64_t seed)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    b->seed = seed;
    progress("%s: generating %llu keys", label, (unsigned long long)n);
    b->keys = bench_keys_new(seed, n);
    b->map = sm_new(NULL);
    if (!b->map) {
        report_note("%s: sm_new failed", label);
        map_free(b);
        return -1;
    }
    progress("%s: inserting %llu keys into a default map", label,
             (unsigned long long)n);
    uint64_t huge0 = bench_anon_huge_bytes();
    /* A compare, not a division, per put: the loop's time is a result. */
    uint64_t step = n / 4 > 1 ? n / 4 : 1, next_progress = step;
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t i = 0; i < n; i++) {
        int rc = sm_put(b->map, b->keys[i], b->keys[i + 1], NULL);
        if (rc != SM_OK) {
            if (rc < 0) {
                report_note("%s: sm_put failed at key %llu: %s", label,
                            (unsigned long long)i, sm_status_str(rc));
                map_free(b);
                return -1;
            }
            report_wrong("%s: sm_put of fresh key %llu returned %s", label,
                         (unsigned long long)i, sm_status_str(rc));
        }
        if (i + 1 == next_progress) {
            next_progress += step;
            if (n >= (1u << 22))
                progress("%s: %llu of %llu inserted", label,
                         (unsigned long long)(i + 1), (unsigned long long)n);
        }
    }
    uint64_t t1 = bench_cpu_ns();
    b->build_ns_per_put = (double)(t1 - t0) / (double)n;
    b->was_migrating = settle(b->map);
    uint64_t huge1 = bench_anon_huge_bytes();
    b->huge_bytes = huge1 > huge0 ? huge1 - huge0 : 0;

    sm_stats_info st;
    bench_stats(b->map, &st);
    if (st.entries != n)
        report_wrong("%s: sm_stats counts %llu entries after %llu inserts",
                     label, (unsigned long long)st.entries,
                     (unsigned long long)n);
    b->bytes_held = st.bytes_held;
    b->bytes_per_entry = (double)st.bytes_held / (double)n;
    return 0;
}

void map_free(built_map *b)
{
    sm_destroy(b->map);
    free(b->keys);
    memset(b, 0, sizeof *b);
}

void map_report_shape(const built_map *b, const char *label)
{
    sm_stats_info st;
    bench_stats(b->map, &st);
    report_note("%s: %llu random keys put into sm_new(NULL) one by one; %s",
                label, (unsigned long long)b->n,
                b->was_migrating ? "a resize was running at the end: finished "
                                   "with sm_reserve(m, 0), then smi_reclaim"
                                 : "no resize was running at the end");
    report_note("%s: table %llu slots, capacity %llu, load %.2f, %llu grows, "
                "migrating %u, retired tables %llu",
                label, (unsigned long long)st.slots,
                (unsigned long long)st.capacity,
                st.slots ? (double)st.entries / (double)st.slots : 0.0,
                (unsigned long long)st.grows, st.migrating,
                (unsigned long long)st.retired_tables);
    report_labeled("map", label, "bytes_per_entry", b->bytes_per_entry,
                   "B", "bytes per entry (bytes_held / entries)");
    report_labeled("map", label, "bytes_held", (double)b->bytes_held / 1048576.0,
                   "MiB", "bytes_held");
    report_labeled("map", label, "huge_page_share",
                   b->bytes_held ? 100.0 * (double)b->huge_bytes / (double)b->bytes_held
                                 : 0.0,
                   "%", "share of bytes_held on 2 MiB pages");
}

/* Untimed gets before each round, as physical.c's warm_steps and for the
 * same reason: a table that fits in the cache is measured warm. */
static uint64_t warm_steps(const built_map *b)
{
    return b->n < b->per_round / 4 ? b->n : b->per_round / 4;
}

static void warm(const built_map *b)
{
    uint64_t v, steps = warm_steps(b);
    for (uint64_t i = 0; i < steps; i++)
        if (sm_get(b->map, b->keys[i], &v) != SM_OK || v != b->keys[i + 1])
            report_wrong("warm-up get of present key %llu of %llu",
                         (unsigned long long)i, (unsigned long long)b->n);
}

/*
 * The table reference: the same keys in boost::unordered_flat_map, a table
 * with no concurrency control at all, read by the throughput loop's twin.
 * Built in get_prepare rather than with the map, so that only one size's
 * copy is alive at a time. Without Boost these do nothing and b->flat stays
 * NULL.
 */
#ifdef SM_BENCH_HAVE_FLAT
static void flat_build(built_map *b)
{
    progress("map with %llu keys: the same keys into boost::unordered_flat_map",
             (unsigned long long)b->n);
    b->flat = bench_flat_new(b->keys, b->n);
    if (!b->flat) {
        report_note("boost::unordered_flat_map of %llu keys: out of memory; "
                    "table reference skipped", (unsigned long long)b->n);
        return;
    }
    if (bench_flat_size(b->flat) != b->n)
        report_wrong("boost::unordered_flat_map holds %llu of %llu distinct keys",
                     (unsigned long long)bench_flat_size(b->flat),
                     (unsigned long long)b->n);
    b->flat_bytes_per_entry = (double)bench_flat_bytes(b->flat) / (double)b->n;
}

/* As warm(), over Boost's table; its answers are checked in the timed loops. */
static void flat_warm(const built_map *b)
{
    uint64_t v, steps = warm_steps(b);
    for (uint64_t i = 0; i < steps; i++)
        bench_flat_get(b->flat, b->keys[i], &v);
}

/* One round of the throughput loop and one of the latency chain, as
 * get_round runs them for the map. The loops are get_round's, written out
 * again rather than shared through a function pointer: an indirect call
 * would add to every get of both tables what neither pays in a program. */
static void flat_round(built_map *b)
{
    const uint64_t *k = b->keys;
    uint64_t n = b->n, per = b->per_round, i = b->flat_i, v;
    if (!b->flat)
        return;
    flat_warm(b);
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1)
        if (!bench_flat_get(b->flat, k[i], &v) || v != k[i + 1])
            report_wrong("boost::unordered_flat_map get of present key %llu of %llu",
                         (unsigned long long)i, (unsigned long long)n);
    b->flat_ns = bench_best(b->flat_ns, t0, bench_cpu_ns(), per);
    b->flat_i = i;

    uint64_t key = b->flat_chain_key;
    i = b->flat_chain_i;
    flat_warm(b);
    t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1) {
        if (!bench_flat_get(b->flat, key, &v) || v != k[i + 1]) {
            report_wrong("boost::unordered_flat_map chained get of key %llu of %llu",
                         (unsigned long long)i, (unsigned long long)n);
            v = k[i + 1];
        }
        key = v;
    }
    b->flat_chain_ns = bench_best(b->flat_chain_ns, t0, bench_cpu_ns(), per);
    b->flat_chain_key = key;
    b->flat_chain_i = i;
}

static void flat_free(built_map *b)
{
    bench_flat_free(b->flat);
    b->flat = NULL;
}
#else
static void flat_build(built_map *b) { (void)b; }
static void flat_round(built_map *b) { (void)b; }
static void flat_free(built_map *b) { (void)b; }
#endif

void get_prepare(built_map *b, uint64_t ops)
{
    b->per_round = ops / BENCH_ROUNDS ? ops / BENCH_ROUNDS : 1;
    b->next_i = 0;
    b->chain_i = 0;
    b->chain_key = b->keys[0];
    b->many_i = 0;
    b->bare_i = b->n / 2;   /* away from the throughput loop's lines */
    b->flat_i = b->n / 4;
    b->flat_chain_i = 3 * (b->n / 4);
    b->flat_chain_key = b->keys[b->flat_chain_i];
    b->throughput_ns = b->chain_ns = b->many_ns = b->bare_ns = 1e300;
    b->flat_ns = b->flat_chain_ns = 1e300;
    flat_build(b);
    progress("map with %llu keys: get throughput and latency chain, %d rounds "
             "of %llu gets each", (unsigned long long)b->n, BENCH_ROUNDS,
             (unsigned long long)b->per_round);
}

void get_round(void *arg)
{
    built_map *b = arg;
    sm_map *m = b->map;
    const uint64_t *k = b->keys;
    uint64_t n = b->n, per = b->per_round, v;

    uint64_t i = b->next_i;
    warm(b);
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1) {
        int rc = sm_get(m, k[i], &v);
        if (rc != SM_OK || v != k[i + 1])
            report_wrong("get of present key %llu of %llu: %s, value %s",
                         (unsigned long long)i, (unsigned long long)n,
                         sm_status_str(rc), rc == SM_OK ? "wrong" : "-");
    }
    b->throughput_ns = bench_best(b->throughput_ns, t0, bench_cpu_ns(), per);
    b->next_i = i;

    /* The same loop without the read side's argument checks and epoch
     * section: how much of the throughput loop's time they cost. */
    i = b->bare_i;
    warm(b);
    t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1) {
        int rc = smi_get_unsynchronised(m, k[i], &v);
        if (rc != SM_OK || v != k[i + 1])
            report_wrong("unsynchronised get of present key %llu of %llu: %s",
                         (unsigned long long)i, (unsigned long long)n, sm_status_str(rc));
    }
    b->bare_ns = bench_best(b->bare_ns, t0, bench_cpu_ns(), per);
    b->bare_i = i;
    flat_round(b);

    uint64_t key = b->chain_key;
    i = b->chain_i;
    warm(b);
    t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1) {
        int rc = sm_get(m, key, &v);
        if (rc != SM_OK || v != k[i + 1]) {
            report_wrong("chained get of key %llu of %llu: %s, value %s",
                         (unsigned long long)i, (unsigned long long)n,
                         sm_status_str(rc), rc == SM_OK ? "wrong" : "-");
            v = k[i + 1];   /* resynchronise: one error, one report */
        }
        key = v;
    }
    b->chain_ns = bench_best(b->chain_ns, t0, bench_cpu_ns(), per);
    b->chain_key = key;
    b->chain_i = i;

    /* sm_get_many over the same stream, GET_MANY_BATCH consecutive keys a
     * call (a batch never wraps past the end of the keys). */
    uint64_t batch = n < GET_MANY_BATCH ? n : GET_MANY_BATCH, done = 0;
    uint64_t values[GET_MANY_BATCH];
    uint8_t found[GET_MANY_BATCH];
    i = b->many_i;
    warm(b);
    t0 = bench_cpu_ns();
    for (; done < per; done += batch) {
        if (i + batch > n)
            i = 0;
        int rc = sm_get_many(m, &k[i], batch, values, found);
        if (rc != (int)batch)
            report_wrong("sm_get_many of %llu present keys from %llu: %s",
                         (unsigned long long)batch, (unsigned long long)i,
                         rc < 0 ? sm_status_str(rc) : "some not found");
        for (uint64_t j = 0; j < batch; j++)
            if (!found[j] || values[j] != k[i + j + 1])
                report_wrong("sm_get_many: key %llu of %llu: %s",
                             (unsigned long long)(i + j), (unsigned long long)n,
                             found[j] ? "wrong value" : "not found");
        i += batch;
    }
    b->many_ns = bench_best(b->many_ns, t0, bench_cpu_ns(), done);
    b->many_i = i;
}

void get_finish(built_map *b)
{
    uint64_t v, ops = b->per_round;
    /* Absent keys: the stream continues past n, so none was inserted. */
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t j = 0; j < ops; j++) {
        int rc = sm_get(b->map, bench_key(b->seed, b->n + j), &v);
        if (rc != SM_NOT_FOUND)
            report_wrong("get of absent key %llu: %s",
                         (unsigned long long)(b->n + j), sm_status_str(rc));
    }
    b->absent_ns = (double)(bench_cpu_ns() - t0) / (double)ops;
    flat_free(b);
}

void section_get_report(const built_map *b, const char *label,
                        const physical_result *ref)
{
    char name[96], how[160];
    report_labeled("get", label, "throughput", b->throughput_ns,
                   "ns/op", "get present key, independent (throughput)");
    report_labeled("get", label, "unsynchronised_throughput", b->bare_ns, "ns/op",
                   "the same loop without argument checks and epoch section");
    report_labeled("get", label, "latency_chain", b->chain_ns,
                   "ns/op", "get present key, chained (latency)");
    report_labeled("get", label, "absent_throughput", b->absent_ns,
                   "ns/op", "get absent key, independent (throughput)");
    char what[80];
    snprintf(what, sizeof what, "sm_get_many, %d present keys a call", GET_MANY_BATCH);
    report_labeled("get", label, "get_many_throughput", b->many_ns, "ns/key", what);
    report_labeled("get", label, "get_many_over_get", b->many_ns / b->throughput_ns,
                   "x", "sm_get_many / sm_get throughput (no target)");
    int flat = b->flat_ns < 1e300;
    if (flat) {
        report_labeled("get", label, "boost_flat_throughput", b->flat_ns, "ns/op",
                       "the throughput loop over boost::unordered_flat_map");
        report_labeled("get", label, "boost_flat_latency_chain", b->flat_chain_ns, "ns/op",
                       "the latency chain over boost::unordered_flat_map");
        report_labeled("get", label, "boost_flat_bytes_per_entry",
                       b->flat_bytes_per_entry, "B",
                       "boost::unordered_flat_map's table (2 MiB pages) / entries");
        report_labeled("get", label, "throughput_over_boost_flat",
                       b->throughput_ns / b->flat_ns, "x",
                       "sm_get / boost::unordered_flat_map throughput (no target)");
    } else {
#ifdef SM_BENCH_HAVE_FLAT
        report_note("%s: no boost::unordered_flat_map reference (its table could not "
                    "be allocated)", label);
#else
        report_note("%s: no boost::unordered_flat_map reference (built only where "
                    "Boost 1.81 is installed: `make peers`)", label);
#endif
    }

    if (!ref || ref->dependent_ns <= 0) {
        report_note("%s: no physical reference measured (section physical "
                    "not run); ratios skipped", label);
        return;
    }
    snprintf(name, sizeof name, "get.%s.chain_over_dependent_load", label);
    snprintf(how, sizeof how, "chain %.1f ns / dependent load %.1f ns on %.1f MiB",
             b->chain_ns, ref->dependent_ns, (double)ref->bytes / 1048576.0);
    report_check(name, b->chain_ns / ref->dependent_ns, 1.3, "x", how);
    snprintf(name, sizeof name, "get.%s.throughput_over_independent_load", label);
    snprintf(how, sizeof how, "throughput %.1f ns / independent load %.1f ns",
             b->throughput_ns, ref->independent_ns);
    report_check(name, b->throughput_ns / ref->independent_ns, 2.5, "x", how);
    report_labeled("get", label, "unsynchronised_over_independent_load",
                   b->bare_ns / ref->independent_ns, "x",
                   "the lookup alone, no reclamation / independent load (no target)");
    report_labeled("get", label, "hashed_load_over_independent_load",
                   ref->hashed_ns / ref->independent_ns, "x",
                   "hash + one home-line load, no compare / independent load (no target)");
    report_labeled("get", label, "get_many_over_independent_load",
                   b->many_ns / ref->independent_ns, "x",
                   "sm_get_many / independent load (no target)");
    if (flat) {
        report_labeled("get", label, "boost_flat_over_independent_load",
                       b->flat_ns / ref->independent_ns, "x",
                       "boost::unordered_flat_map throughput / independent load (no target)");
        report_labeled("get", label, "boost_flat_chain_over_dependent_load",
                       b->flat_chain_ns / ref->dependent_ns, "x",
                       "boost::unordered_flat_map chain / dependent load (no target)");
    }
}

void section_put(built_map *b, const char *label, uint64_t ops)
{
    sm_map *m = b->map;
    const uint64_t *k = b->keys;
    uint64_t n = b->n;

    report_labeled("put", label, "fresh_growing", b->build_ns_per_put,
                   "ns/op", "put fresh key, map grown from empty");

    progress("%s: put replacing existing keys, %llu puts", label,
             (unsigned long long)ops);
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t j = 0, i = 0; j < ops; j++, i = i + 1 == n ? 0 : i + 1) {
        uint64_t old;
        /* The same value again keeps the chain of section 2 intact. */
        int rc = sm_put(m, k[i], k[i + 1], &old);
        if (rc != SM_REPLACED || old != k[i + 1])
            report_wrong("%s: put over key %llu: %s, old value %s", label,
                         (unsigned long long)i, sm_status_str(rc),
                         rc == SM_REPLACED ? "wrong" : "-");
    }
    double replace = (double)(bench_cpu_ns() - t0) / (double)ops;
    report_labeled("put", label, "replace", replace,
                   "ns/op", "put over existing key (replace)");

    /* A pre-sized map needs a second table as large as the first: done for
     * maps up to 16M keys only, to keep the full run's memory and time low. */
    if (n > (16u << 20))
        return;
    sm_map *r = sm_new(NULL);
    if (!r || sm_reserve(r, n) != SM_OK) {
        report_note("%s: cannot create a reserved map", label);
        sm_destroy(r);
        return;
    }
    t0 = bench_cpu_ns();
    for (uint64_t i = 0; i < n; i++) {
        int rc = sm_put(r, k[i], i, NULL);
        if (rc != SM_OK)
            report_wrong("%s: put of fresh key %llu into reserved map: %s",
                         label, (unsigned long long)i, sm_status_str(rc));
    }
    double reserved = (double)(bench_cpu_ns() - t0) / (double)n;
    sm_destroy(r);
    report_labeled("put", label, "fresh_reserved", reserved,
                   "ns/op", "put fresh key, map reserved for all first");
}
