/*
 * strings.c — section 6: string keys (SM_STRING_KEYS), single thread.
 *
 * Two key lengths that bracket common uses — 16 bytes (an id, a short
 * token) and 64 bytes (a URL path, a composite cache key) — each in a map
 * small enough for the caches (16K keys) and one far larger (--string-keys,
 * 4M by default: with its key copies ~300-500 MiB). Keys share a long prefix,
 * as real keys do, so the hash and the one byte comparison of a hit both
 * read the whole key.
 *
 * Per configuration: put of fresh keys into a map grown from empty, get of
 * present keys, get of absent keys, put over present keys, and
 * sm_get_many_str in batches of STRING_BATCH. Loops are timed with the
 * thread's CPU time, best of BENCH_ROUNDS for the gets (as section 2). Every
 * answer is checked. There are no targets: the numbers are for the reader,
 * next to section 2's uint64 ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define STRING_BATCH 32
#define IN_CACHE_KEYS (16u << 10)

typedef struct key_set {
    size_t len;            /* every key has this length */
    uint64_t n;
    unsigned char *bytes;  /* n keys, len bytes each, back to back */
} key_set;

static const char prefix[] = "https://service.example/users/by-id/0000000000000000000000000";

/* Key i of a stream: the prefix, cut so that 16 hex digits of bench_key end
 * the key. */
static void make_key(unsigned char *out, size_t len, uint64_t seed, uint64_t i)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, prefix, len - 16);
    uint64_t k = bench_key(seed, i);
    for (int d = 0; d < 16; d++)
        out[len - 1 - (size_t)d] = (unsigned char)hex[(k >> (4 * d)) & 15];
}

static int key_set_init(key_set *ks, size_t len, uint64_t n, uint64_t seed, uint64_t first)
{
    ks->len = len;
    ks->n = n;
    ks->bytes = malloc(n * len);
    if (!ks->bytes)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        make_key(ks->bytes + i * len, len, seed, first + i);
    return 0;
}

static const unsigned char *key_at(const key_set *ks, uint64_t i)
{
    return ks->bytes + i * ks->len;
}

static void measure(const bench_options *o, size_t len, uint64_t n)
{
    char label[32], size[16];
    bench_size_label(size, sizeof size, n);
    snprintf(label, sizeof label, "%zuB_%s", len, size);
    key_set present, absent;
    uint64_t nabsent = n < (1u << 20) ? n : (1u << 20);
    if (key_set_init(&present, len, n, o->seed, 0) != 0 ||
        key_set_init(&absent, len, nabsent, o->seed, n) != 0) {
        report_note("%s: out of memory for the keys", label);
        free(present.bytes);
        return;
    }
    sm_options opts = SM_OPTIONS_INIT;
    opts.flags = SM_STRING_KEYS;
    sm_map *m = sm_new(&opts);
    if (!m) {
        report_note("%s: sm_new failed", label);
        free(present.bytes);
        free(absent.bytes);
        return;
    }
    progress("strings %s: put %llu fresh keys", label, (unsigned long long)n);
    uint64_t t0 = bench_cpu_ns();
    for (uint64_t i = 0; i < n; i++) {
        int rc = sm_put_str(m, key_at(&present, i), len, i, NULL);
        if (rc != SM_OK)
            report_wrong("strings %s: put of fresh key %llu: %s", label,
                         (unsigned long long)i, sm_status_str(rc));
    }
    double put_fresh = (double)(bench_cpu_ns() - t0) / (double)n;

    uint64_t per = o->ops / 4 > n ? o->ops / 4 : n;
    double get = 1e300, miss = 1e300, many = 1e300;
    progress("strings %s: gets, %d rounds of %llu", label, BENCH_ROUNDS,
             (unsigned long long)per);
    const void *ptrs[STRING_BATCH];
    size_t lens[STRING_BATCH];
    uint64_t values[STRING_BATCH];
    uint8_t found[STRING_BATCH];
    for (int j = 0; j < STRING_BATCH; j++)
        lens[j] = len;
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        uint64_t v, i = 0;
        t0 = bench_cpu_ns();
        for (uint64_t j = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1) {
            if (sm_get_str(m, key_at(&present, i), len, &v) != SM_OK || v != i)
                report_wrong("strings %s: get of present key %llu", label,
                             (unsigned long long)i);
        }
        get = bench_best(get, t0, bench_cpu_ns(), per);

        i = 0;
        t0 = bench_cpu_ns();
        for (uint64_t j = 0; j < per; j++, i = i + 1 == nabsent ? 0 : i + 1) {
            if (sm_get_str(m, key_at(&absent, i), len, &v) != SM_NOT_FOUND)
                report_wrong("strings %s: get of absent key %llu", label,
                             (unsigned long long)i);
        }
        miss = bench_best(miss, t0, bench_cpu_ns(), per);

        uint64_t batch = n < STRING_BATCH ? n : STRING_BATCH, done = 0;
        i = 0;
        t0 = bench_cpu_ns();
        for (; done < per; done += batch) {
            if (i + batch > n)
                i = 0;
            for (uint64_t j = 0; j < batch; j++)
                ptrs[j] = key_at(&present, i + j);
            int rc = sm_get_many_str(m, ptrs, lens, batch, values, found);
            if (rc != (int)batch)
                report_wrong("strings %s: sm_get_many_str from key %llu: %s", label,
                             (unsigned long long)i, rc < 0 ? sm_status_str(rc) : "misses");
            for (uint64_t j = 0; j < batch; j++)
                if (!found[j] || values[j] != i + j)
                    report_wrong("strings %s: sm_get_many_str key %llu", label,
                                 (unsigned long long)(i + j));
            i += batch;
        }
        many = bench_best(many, t0, bench_cpu_ns(), done);
    }

    progress("strings %s: put over present keys", label);
    t0 = bench_cpu_ns();
    for (uint64_t j = 0, i = 0; j < per; j++, i = i + 1 == n ? 0 : i + 1) {
        uint64_t old;
        if (sm_put_str(m, key_at(&present, i), len, i, &old) != SM_REPLACED || old != i)
            report_wrong("strings %s: put over key %llu", label, (unsigned long long)i);
    }
    double put_replace = (double)(bench_cpu_ns() - t0) / (double)per;

    sm_stats_info st = { .size = sizeof st };
    bench_stats(m, &st);
    report_labeled("strings", label, "put_fresh", put_fresh, "ns/op",
                   "put fresh key, map grown from empty");
    report_labeled("strings", label, "get", get, "ns/op", "get present key");
    report_labeled("strings", label, "get_absent", miss, "ns/op", "get absent key");
    report_labeled("strings", label, "get_many", many, "ns/key", "sm_get_many_str, 32 a call");
    report_labeled("strings", label, "put_replace", put_replace, "ns/op",
                   "put over present key");
    report_labeled("strings", label, "table_bytes_per_entry",
                   (double)st.bytes_held / (double)n, "B",
                   "table bytes per entry (key copies not included)");
    sm_destroy(m);
    free(present.bytes);
    free(absent.bytes);
}

void section_strings(const bench_options *o)
{
    report_section("strings", "6. string keys (SM_STRING_KEYS), single thread");
    uint64_t small = o->smoke ? 1024 : IN_CACHE_KEYS;
    static const size_t lengths[] = { 16, 64 };
    for (size_t l = 0; l < 2; l++) {
        measure(o, lengths[l], small);
        measure(o, lengths[l], o->string_keys);
    }
}
