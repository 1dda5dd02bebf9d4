/*
 * fuzz_ops.c — libFuzzer target: bytes decode into a sequence of map
 * operations, each checked against a reference model after every step.
 *
 * Every operation of the public API for uint64 keys is reachable: put,
 * insert, replace, cas, delete, get, get_many, get_or_insert, compute,
 * clear, reserve, a full iteration, sm_size, sm_stats. Keys come from a small
 * space (so hits, deletes of present keys and re-inserts are frequent) with
 * the edge keys 0 and UINT64_MAX in it; tiny initial tables make grows,
 * shrinks and rehashes happen within a few hundred operations. Every so often
 * the structural invariants are recounted (smi_check_invariants).
 *
 * Built two ways (tests/fuzz/CMakeLists.txt): with clang's -fsanitize=fuzzer
 * as a real fuzzer, and with any compiler as a replayer (replay_main.c) that
 * runs the checked-in corpus, so `make test` exercises the corpus everywhere.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steadymap.h"
#include "testing.h"

#define KEY_SPACE 96

typedef struct model {
    uint8_t present[KEY_SPACE];
    uint64_t value[KEY_SPACE];
} model;

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t next_byte(reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t next_value(reader *r)
{
    /* Small values mostly, so cas "expected" often matches; sometimes wide. */
    uint8_t b = next_byte(r);
    if (b < 200)
        return b;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | next_byte(r);
    return v;
}

static uint64_t key_of(unsigned index)
{
    if (index == 0)
        return 0;
    if (index == 1)
        return UINT64_MAX;
    return (uint64_t)index * 0x9e3779b97f4a7c15u;
}

static unsigned index_of(uint64_t key)
{
    for (unsigned i = 0; i < KEY_SPACE; i++)
        if (key_of(i) == key)
            return i;
    return KEY_SPACE;
}

static size_t model_size(const model *md)
{
    size_t n = 0;
    for (unsigned i = 0; i < KEY_SPACE; i++)
        n += md->present[i];
    return n;
}

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "fuzz_ops: check failed at step %zu: %s\n", step, #cond); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

typedef struct compute_ctx {
    uint8_t action;
    uint64_t set_to;
} compute_ctx;

static sm_compute_action compute_fn(uint64_t key, int present, uint64_t *value, void *ctx)
{
    (void)key;
    const compute_ctx *c = ctx;
    switch (c->action % 3) {
    case 0:
        return SM_COMPUTE_KEEP;
    case 1:
        *value = present ? *value + c->set_to : c->set_to;
        return SM_COMPUTE_SET;
    default:
        return SM_COMPUTE_DELETE;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = {data, size};
    sm_options o = SM_OPTIONS_INIT;
    o.seed = (uint64_t)next_byte(&r) + 1;  /* fixed seeds: reproducible layouts */
    sm_map *m = sm_new(&o);
    if (!m)
        return 0;
    model md;
    memset(&md, 0, sizeof md);
    char why[256];
    size_t step = 0;
    while (r.n > 0) {
        step++;
        uint8_t op = next_byte(&r);
        unsigned ki = next_byte(&r) % KEY_SPACE;
        uint64_t k = key_of(ki);
        uint64_t v = next_value(&r);
        uint64_t out = 0xabababab;
        int rc;
        switch (op % 14) {
        case 0:
        case 1:
            rc = sm_put(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_REPLACED : SM_OK));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            md.present[ki] = 1;
            md.value[ki] = v;
            break;
        case 2:
            rc = sm_insert(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_EXISTS : SM_OK));
            if (md.present[ki]) {
                CHECK(out == md.value[ki]);
            } else {
                md.present[ki] = 1;
                md.value[ki] = v;
            }
            break;
        case 3:
            rc = sm_replace(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki]) {
                CHECK(out == md.value[ki]);
                md.value[ki] = v;
            }
            break;
        case 4: {
            uint64_t expected = (next_byte(&r) & 1) && md.present[ki] ? md.value[ki] : v;
            rc = sm_cas(m, k, expected, v + 1, &out);
            if (!md.present[ki]) {
                CHECK(rc == SM_NOT_FOUND);
            } else if (md.value[ki] == expected) {
                CHECK(rc == SM_OK && out == expected);
                md.value[ki] = v + 1;
            } else {
                CHECK(rc == SM_MISMATCH && out == md.value[ki]);
            }
            break;
        }
        case 5:
        case 6:
            rc = sm_delete(m, k, &out);
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            md.present[ki] = 0;
            break;
        case 7:
            rc = sm_get(m, k, &out);
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            break;
        case 8: {
            uint64_t keys[24], vals[24];
            uint8_t found[24];
            unsigned n = next_byte(&r) % 24;
            for (unsigned i = 0; i < n; i++)
                keys[i] = key_of(next_byte(&r) % KEY_SPACE);
            rc = sm_get_many(m, keys, n, vals, found);
            int hits = 0;
            for (unsigned i = 0; i < n; i++) {
                unsigned j = index_of(keys[i]);
                CHECK(found[i] == md.present[j]);
                if (found[i])
                    CHECK(vals[i] == md.value[j]);
                hits += found[i];
            }
            CHECK(rc == hits);
            break;
        }
        case 9:
            rc = sm_get_or_insert(m, k, v, &out);
            CHECK(rc == (md.present[ki] ? SM_EXISTS : SM_OK));
            if (!md.present[ki]) {
                md.present[ki] = 1;
                md.value[ki] = v;
            }
            CHECK(out == md.value[ki]);
            break;
        case 10: {
            compute_ctx c = {next_byte(&r), v};
            rc = sm_compute(m, k, compute_fn, &c, &out);
            switch (c.action % 3) {
            case 1:
                md.value[ki] = md.present[ki] ? md.value[ki] + v : v;
                md.present[ki] = 1;
                break;
            case 2:
                md.present[ki] = 0;
                break;
            default:
                break;
            }
            CHECK(rc == (md.present[ki] ? SM_OK : SM_NOT_FOUND));
            if (md.present[ki])
                CHECK(out == md.value[ki]);
            break;
        }
        case 11: {
            uint8_t seen[KEY_SPACE] = {0};
            sm_iter *it = sm_iter_new(m);
            CHECK(it != NULL);
            uint64_t ik, iv;
            while ((rc = sm_iter_next(it, &ik, &iv)) == SM_OK) {
                unsigned j = index_of(ik);
                CHECK(j < KEY_SPACE && md.present[j] && !seen[j] && iv == md.value[j]);
                seen[j] = 1;
            }
            CHECK(rc == SM_NOT_FOUND);
            sm_iter_free(it);
            for (unsigned j = 0; j < KEY_SPACE; j++)
                CHECK(seen[j] == md.present[j]);
            break;
        }
        case 12:
            if (v % 16 == 0) {
                rc = sm_clear(m);
                CHECK(rc == (int)model_size(&md));
                memset(&md, 0, sizeof md);
            } else {
                CHECK(sm_reserve(m, v % 512) == SM_OK);
            }
            break;
        default: {
            CHECK(sm_size(m) == model_size(&md));
            sm_stats_info st = {.size = sizeof st};
            CHECK(sm_stats(m, &st) == SM_OK && st.entries == model_size(&md));
            break;
        }
        }
        if (step % 16 == 0 && smi_check_invariants(m, why, sizeof why) != 0) {
            fprintf(stderr, "fuzz_ops: invariant broken at step %zu: %s\n", step, why);
            abort();
        }
    }
    if (smi_check_invariants(m, why, sizeof why) != 0) {
        fprintf(stderr, "fuzz_ops: invariant broken at the end: %s\n", why);
        abort();
    }
    sm_destroy(m);
    return 0;
}
