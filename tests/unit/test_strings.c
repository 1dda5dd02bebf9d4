/*
 * test_strings.c — byte-string keys (SM_STRING_KEYS) from one thread: the
 * contract's edges rather than random sequences (the model test runs those).
 *
 *   - B2: every uint64 function on a string map, and every *_str function on
 *     a uint64 map, returns SM_EINVAL and changes nothing;
 *   - bad string arguments (NULL with a length, a length over SM_STR_KEY_MAX);
 *   - keys that differ only in length, in a NUL byte, in their last byte of
 *     64 KiB, and the empty key (given as NULL or as a pointer);
 *   - O2: the caller's buffer is copied: changing it after the call changes
 *     nothing in the map;
 *   - the iterator hands out its own copies, compute_str shows the key,
 *     get_many_str answers like get_str, clear empties the map;
 *   - removed key copies are retired and then freed (stats), and nothing the
 *     map allocated is left after sm_destroy (the library's byte count);
 *   - with the hash weakened to a few bits (a test hook), distinct keys share
 *     full hashes, so the length and byte comparisons decide alone.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../model/support.h"
#include "steadymap.h"
#include "testing.h"

#define SEED 0x57a1b9c3d5e7f901u

static sm_map *new_string_map(void)
{
    sm_options opts = SM_OPTIONS_INIT;
    opts.seed = SEED;
    opts.flags = SM_STRING_KEYS;
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    return m;
}

static sm_compute_action keep_fn(uint64_t key, int present, uint64_t *value, void *ctx)
{
    (void)key, (void)present, (void)value, (void)ctx;
    return SM_COMPUTE_KEEP;
}

static sm_compute_action keep_str_fn(const void *key, size_t len, int present, uint64_t *value,
                                     void *ctx)
{
    (void)key, (void)len, (void)present, (void)value, (void)ctx;
    return SM_COMPUTE_KEEP;
}

static void wrong_kind_is_einval_and_changes_nothing(void **state)
{
    (void)state;
    sm_map *s = new_string_map();
    sm_map *u = new_seeded_map(SEED);
    assert_int_equal(sm_put_str(s, "k", 1, 7, NULL), SM_OK);
    assert_int_equal(sm_put(u, 1, 7, NULL), SM_OK);

    uint64_t v = 0;
    uint8_t f = 0;
    const uint64_t key = 1;
    assert_int_equal(sm_get(s, 1, &v), SM_EINVAL);
    assert_int_equal(sm_put(s, 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_insert(s, 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_replace(s, 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_cas(s, 1, 7, 2, &v), SM_EINVAL);
    assert_int_equal(sm_delete(s, 1, &v), SM_EINVAL);
    assert_int_equal(sm_get_or_insert(s, 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_compute(s, 1, keep_fn, NULL, &v), SM_EINVAL);
    assert_int_equal(sm_get_many(s, &key, 1, &v, &f), SM_EINVAL);

    const void *kp = "k";
    const size_t kl = 1;
    assert_int_equal(sm_get_str(u, "k", 1, &v), SM_EINVAL);
    assert_int_equal(sm_put_str(u, "k", 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_insert_str(u, "k", 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_replace_str(u, "k", 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_cas_str(u, "k", 1, 7, 2, &v), SM_EINVAL);
    assert_int_equal(sm_delete_str(u, "k", 1, &v), SM_EINVAL);
    assert_int_equal(sm_get_or_insert_str(u, "k", 1, 2, &v), SM_EINVAL);
    assert_int_equal(sm_compute_str(u, "k", 1, keep_str_fn, NULL, &v), SM_EINVAL);
    assert_int_equal(sm_get_many_str(u, &kp, &kl, 1, &v, &f), SM_EINVAL);

    sm_iter *is = sm_iter_new(s);
    sm_iter *iu = sm_iter_new(u);
    assert_non_null(is);
    assert_non_null(iu);
    const void *bytes;
    size_t len;
    assert_int_equal(sm_iter_next(is, NULL, NULL), SM_EINVAL);
    assert_int_equal(sm_iter_next_str(iu, &bytes, &len, NULL), SM_EINVAL);
    sm_iter_free(is);
    sm_iter_free(iu);

    /* Nothing changed in either map. */
    assert_int_equal(sm_size(s), 1);
    assert_int_equal(sm_size(u), 1);
    assert_int_equal(sm_get_str(s, "k", 1, &v), SM_OK);
    assert_int_equal(v, 7);
    assert_int_equal(sm_get(u, 1, &v), SM_OK);
    assert_int_equal(v, 7);
    sm_destroy(s);
    sm_destroy(u);
}

static void bad_string_arguments_are_einval(void **state)
{
    (void)state;
    sm_map *m = new_string_map();
    uint64_t v;
    assert_int_equal(sm_put_str(m, NULL, 1, 1, NULL), SM_EINVAL);
    assert_int_equal(sm_get_str(m, NULL, 5, &v), SM_EINVAL);
    assert_int_equal(sm_put_str(m, "x", SM_STR_KEY_MAX + 1, 1, NULL), SM_EINVAL);
    assert_int_equal(sm_get_str(m, "x", SM_STR_KEY_MAX + 1, &v), SM_EINVAL);
    assert_int_equal(sm_compute_str(m, "x", 1, NULL, NULL, &v), SM_EINVAL);
    assert_int_equal(sm_put_str(NULL, "x", 1, 1, NULL), SM_EINVAL);
    const void *keys[2] = { "a", NULL };
    const size_t lens[2] = { 1, 3 };
    assert_int_equal(sm_get_many_str(m, keys, lens, 2, NULL, NULL), SM_EINVAL);
    assert_int_equal(sm_get_many_str(m, NULL, NULL, 0, NULL, NULL), 0);
    assert_int_equal(sm_size(m), 0);
    sm_destroy(m);
}

/* Keys that a careless implementation would confuse. */
static void near_identical_keys_are_distinct(void **state)
{
    (void)state;
    enum { BIG = 64 * 1024 };
    unsigned char *big1 = malloc(BIG);
    unsigned char *big2 = malloc(BIG);
    assert_non_null(big1);
    assert_non_null(big2);
    for (size_t i = 0; i < BIG; i++)
        big1[i] = big2[i] = (unsigned char)(i * 31 + 7);
    big2[BIG - 1] ^= 1;

    struct {
        const void *key;
        size_t len;
    } keys[] = {
        { "", 0 },      { "\0", 1 },   { "\0\0", 2 }, { "a", 1 },  { "a\0", 2 },
        { "ab", 2 },    { "abc", 3 },  { "abd", 3 },  { "b", 1 },  { big1, BIG },
        { big2, BIG },  { big1, BIG - 1 },
    };
    const size_t n = sizeof keys / sizeof keys[0];
    sm_map *m = new_string_map();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sm_insert_str(m, keys[i].key, keys[i].len, 100 + i, NULL), SM_OK);
    assert_int_equal(sm_size(m), n);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        assert_int_equal(sm_get_str(m, keys[i].key, keys[i].len, &v), SM_OK);
        assert_int_equal(v, 100 + i);
        assert_int_equal(sm_insert_str(m, keys[i].key, keys[i].len, 1, &v), SM_EXISTS);
        assert_int_equal(v, 100 + i);
    }
    /* The empty key is the same key whether given as NULL or as a pointer. */
    uint64_t v = 0;
    assert_int_equal(sm_get_str(m, NULL, 0, &v), SM_OK);
    assert_int_equal(v, 100);

    /* A key one byte longer or shorter than a present one is absent. */
    assert_int_equal(sm_get_str(m, "abcd", 4, NULL), SM_NOT_FOUND);
    assert_int_equal(sm_get_str(m, big1, BIG - 2, NULL), SM_NOT_FOUND);

    for (size_t i = 0; i < n; i += 2)
        assert_int_equal(sm_delete_str(m, keys[i].key, keys[i].len, &v), SM_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sm_get_str(m, keys[i].key, keys[i].len, NULL),
                         i % 2 == 0 ? SM_NOT_FOUND : SM_OK);
    assert_invariants(m, "after deleting every other key");
    sm_destroy(m);
    free(big1);
    free(big2);
}

static void every_operation_on_string_keys(void **state)
{
    (void)state;
    sm_map *m = new_string_map();
    uint64_t v = 0;
    assert_int_equal(sm_put_str(m, "alpha", 5, 1, &v), SM_OK);
    assert_int_equal(sm_put_str(m, "alpha", 5, 2, &v), SM_REPLACED);
    assert_int_equal(v, 1);
    assert_int_equal(sm_replace_str(m, "alpha", 5, 3, &v), SM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(sm_replace_str(m, "beta", 4, 3, &v), SM_NOT_FOUND);
    assert_int_equal(sm_cas_str(m, "alpha", 5, 9, 4, &v), SM_MISMATCH);
    assert_int_equal(v, 3);
    assert_int_equal(sm_cas_str(m, "alpha", 5, 3, 4, &v), SM_OK);
    assert_int_equal(sm_cas_str(m, "beta", 4, 3, 4, &v), SM_NOT_FOUND);
    assert_int_equal(sm_get_or_insert_str(m, "beta", 4, 5, &v), SM_OK);
    assert_int_equal(v, 5);
    assert_int_equal(sm_get_or_insert_str(m, "beta", 4, 6, &v), SM_EXISTS);
    assert_int_equal(v, 5);
    assert_int_equal(sm_delete_str(m, "beta", 4, &v), SM_OK);
    assert_int_equal(v, 5);
    assert_int_equal(sm_delete_str(m, "beta", 4, &v), SM_NOT_FOUND);
    assert_int_equal(sm_get_str(m, "alpha", 5, &v), SM_OK);
    assert_int_equal(v, 4);
    assert_int_equal(sm_size(m), 1);
    sm_destroy(m);
}

/* O2: the map keeps its own copy of the key. */
static void caller_buffer_is_copied(void **state)
{
    (void)state;
    sm_map *m = new_string_map();
    char buf[32];
    strcpy(buf, "user:1234");
    assert_int_equal(sm_put_str(m, buf, strlen(buf), 42, NULL), SM_OK);
    memset(buf, 'X', sizeof buf);
    uint64_t v = 0;
    assert_int_equal(sm_get_str(m, "user:1234", 9, &v), SM_OK);
    assert_int_equal(v, 42);
    assert_int_equal(sm_get_str(m, buf, 9, NULL), SM_NOT_FOUND);

    sm_iter *it = sm_iter_new(m);
    const void *key;
    size_t len;
    assert_int_equal(sm_iter_next_str(it, &key, &len, &v), SM_OK);
    assert_int_equal(len, 9);
    assert_memory_equal(key, "user:1234", 9);
    assert_ptr_not_equal(key, buf);
    assert_int_equal(sm_iter_next_str(it, &key, &len, &v), SM_NOT_FOUND);
    sm_iter_free(it);
    sm_destroy(m);
}

struct seen_key {
    char key[16];
    size_t len;
    int present;
};

static sm_compute_action double_it(const void *key, size_t len, int present, uint64_t *value,
                                   void *ctx)
{
    struct seen_key *s = ctx;
    s->len = len < sizeof s->key ? len : sizeof s->key;
    memcpy(s->key, key, s->len);
    s->present = present;
    if (!present) {
        *value = 1;
        return SM_COMPUTE_SET;
    }
    if (*value >= 4)
        return SM_COMPUTE_DELETE;
    *value *= 2;
    return SM_COMPUTE_SET;
}

static void compute_str_shows_the_key(void **state)
{
    (void)state;
    sm_map *m = new_string_map();
    struct seen_key seen = { "", 0, -1 };
    uint64_t v = 0;
    const uint64_t want[] = { 1, 2, 4 };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sm_compute_str(m, "counter", 7, double_it, &seen, &v), SM_OK);
        assert_int_equal(v, want[i]);
        assert_int_equal(seen.len, 7);
        assert_memory_equal(seen.key, "counter", 7);
        assert_int_equal(seen.present, i > 0);
    }
    assert_int_equal(sm_compute_str(m, "counter", 7, double_it, &seen, &v), SM_NOT_FOUND);
    assert_int_equal(sm_get_str(m, "counter", 7, NULL), SM_NOT_FOUND);
    sm_destroy(m);
}

static void get_many_str_answers_like_get_str(void **state)
{
    (void)state;
    enum { N = 3000 / SM_TEST_SCALE };
    sm_map *m = new_string_map();
    static unsigned char bufs[N][KEY_STRING_MAX];
    static const void *ptrs[N];
    static size_t lens[N];
    static uint64_t values[N];
    static uint8_t found[N];
    for (uint64_t i = 0; i < N; i++) {
        lens[i] = key_string(i, bufs[i]);
        ptrs[i] = bufs[i];
        if (i % 3 != 0)
            assert_int_equal(sm_put_str(m, ptrs[i], lens[i], i * 7, NULL), SM_OK);
    }
    int hits = sm_get_many_str(m, ptrs, lens, N, values, found);
    int want = 0;
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v = 0;
        int rc = sm_get_str(m, ptrs[i], lens[i], &v);
        assert_int_equal(found[i], rc == SM_OK);
        if (rc == SM_OK)
            assert_int_equal(values[i], v);
        want += rc == SM_OK;
    }
    assert_int_equal(hits, want);
    assert_int_equal(want, N - (N + 2) / 3);
    sm_destroy(m);
}

/* Grow and shrink a string map through many resizes; clear; then the key
 * copies removed are retired and freed, and destroy leaves nothing behind. */
static void copies_are_retired_and_nothing_leaks(void **state)
{
    (void)state;
    enum { N = 20000 / SM_TEST_SCALE };
    const uint64_t before = smi_bytes_live();
    sm_map *m = new_string_map();
    unsigned char k[KEY_STRING_MAX];
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(sm_put_str(m, k, key_string(i, k), i, NULL), SM_OK);
    assert_invariants(m, "grown");
    for (uint64_t i = 0; i < N; i += 2)
        assert_int_equal(sm_delete_str(m, k, key_string(i, k), NULL), SM_OK);
    assert_invariants(m, "half deleted");
    sm_stats_info st = { .size = sizeof st };
    assert_int_equal(sm_stats(m, &st), SM_OK);
    assert_true(st.shrinks + st.grows > 0);
    smi_reclaim(m);
    assert_int_equal(sm_stats(m, &st), SM_OK);
    /* No thread is inside the map and no migration runs: all freed. */
    if (!st.migrating)
        assert_int_equal(st.retired_keys, 0);

    int removed = sm_clear(m);
    assert_int_equal(removed, N / 2);
    assert_int_equal(sm_size(m), 0);
    assert_invariants(m, "cleared");
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(sm_get_str(m, k, key_string(i, k), NULL), SM_NOT_FOUND);
    /* Keys and values still in the map, or in its limbo, go with destroy. */
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(sm_put_str(m, k, key_string(i, k), i, NULL), SM_OK);
    for (uint64_t i = 0; i < 50; i++)
        assert_int_equal(sm_delete_str(m, k, key_string(i, k), NULL), SM_OK);
    sm_destroy(m);
    assert_int_equal(smi_bytes_live(), before);
}

struct freed {
    uint64_t count;
};

static void count_free(uint64_t value, void *ctx)
{
    (void)value;
    ((struct freed *)ctx)->count++;
}

static void free_value_with_string_keys(void **state)
{
    (void)state;
    struct freed f = { 0 };
    sm_options opts = SM_OPTIONS_INIT;
    opts.seed = SEED;
    opts.flags = SM_STRING_KEYS;
    opts.free_value = count_free;
    opts.free_value_ctx = &f;
    sm_map *m = sm_new(&opts);
    assert_non_null(m);
    unsigned char k[KEY_STRING_MAX];
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(sm_put_str(m, k, key_string(i, k), i, NULL), SM_OK);
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(sm_put_str(m, k, key_string(i, k), i + 5000, NULL), SM_REPLACED);
    for (uint64_t i = 100; i < 300; i++)
        assert_int_equal(sm_delete_str(m, k, key_string(i, k), NULL), SM_OK);
    smi_reclaim(m);
    assert_int_equal(f.count, 300);
    sm_destroy(m);
    assert_int_equal(f.count, 300 + 800);  /* and the 800 still present */
}

/* 12 hash bits: the top 4 choose among 16 homes' ranges, the low 8 the tag.
 * 2000 keys then share every full hash with about 500 others. */
static void colliding_hashes_are_told_apart_by_bytes(void **state)
{
    (void)state;
    enum { N = 2000 / SM_TEST_SCALE };
    sm_map *m = new_string_map();
    assert_int_equal(smi_weaken_string_hash(m, 0xf0000000000000ffu), 0);
    unsigned char k[KEY_STRING_MAX + 1];
    for (uint64_t i = 0; i < N; i++) {
        size_t len = key_string(i, k);
        assert_int_equal(sm_insert_str(m, k, len, i, NULL), SM_OK);
        /* Its one-byte-shorter and one-byte-longer neighbours are found only
         * if they are themselves keys inserted so far. */
        k[len] = 0;
        for (size_t l = len - 1; l <= len + 1; l += 2) {
            uint64_t j;
            bool inserted = string_key(k, l, &j) && j <= i;
            assert_int_equal(sm_get_str(m, k, l, NULL), inserted ? SM_OK : SM_NOT_FOUND);
        }
    }
    assert_invariants(m, "colliding keys inserted");
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v = 0;
        size_t len = key_string(i, k);
        assert_int_equal(sm_get_str(m, k, len, &v), SM_OK);
        assert_int_equal(v, i);
        /* A last byte off by one is another key, with the same length. */
        k[len - 1] ^= 0x40;
        uint64_t other;
        if (!string_key(k, len, &other))
            assert_int_equal(sm_get_str(m, k, len, NULL), SM_NOT_FOUND);
    }
    for (uint64_t i = 0; i < N; i += 2)
        assert_int_equal(sm_delete_str(m, k, key_string(i, k), NULL), SM_OK);
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(sm_get_str(m, k, key_string(i, k), NULL), i % 2 ? SM_OK : SM_NOT_FOUND);
    assert_invariants(m, "every other colliding key deleted");
    assert_int_equal(smi_weaken_string_hash(m, 0), -1);
    sm_destroy(m);
}

int main(void)
{
    /* Byte counting covers key copies only once a test hook was called. */
    (void)smi_bytes_live();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrong_kind_is_einval_and_changes_nothing),
        cmocka_unit_test(bad_string_arguments_are_einval),
        cmocka_unit_test(near_identical_keys_are_distinct),
        cmocka_unit_test(every_operation_on_string_keys),
        cmocka_unit_test(caller_buffer_is_copied),
        cmocka_unit_test(compute_str_shows_the_key),
        cmocka_unit_test(get_many_str_answers_like_get_str),
        cmocka_unit_test(copies_are_retired_and_nothing_leaks),
        cmocka_unit_test(free_value_with_string_keys),
        cmocka_unit_test(colliding_hashes_are_told_apart_by_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
