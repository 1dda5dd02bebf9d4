/*
 * debug.c — smi_check_invariants: the invariants of map.c, recounted from
 * scratch on a quiescent map. Tests call it after every step they can afford;
 * it fails loudly with the first broken invariant's id.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map_internal.h"
#include "testing.h"

typedef struct checker {
    sm_map *m;
    char *why;
    size_t why_len;
    uint64_t *keys;
    size_t nkeys;
} checker;

static int fail(checker *c, const char *fmt, ...)
{
    if (c->why && c->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->why_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* String keys are equal by content, not by the address of their copies. */
static int cmp_skey(const void *a, const void *b)
{
    const smi_skey *x = skey_of(*(const uint64_t *)a), *y = skey_of(*(const uint64_t *)b);
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->bytes, y->bytes, x->len);
}

static int found_by_get(sm_map *m, uint64_t key_word)
{
    if (!m->string_keys)
        return sm_get(m, key_word, NULL) == SM_OK;
    const smi_skey *k = skey_of(key_word);
    return sm_get_str(m, k->bytes, k->len, NULL) == SM_OK;
}

/* Check one table. `old` is the table being migrated out of (NULL when t is
 * that table or no migration runs): a key of t counts only where I6 says it
 * lives. */
static int check_table(checker *c, sm_table *t, sm_table *old, int migrating)
{
    uint64_t used = 0;
    for (uint64_t bi = 0; bi < t->nbuckets; bi++) {
        sm_bucket *bk = &t->buckets[bi];
        uint64_t meta = u64_load_relaxed(&bk->meta);
        if (meta & META_LOCK)
            return fail(c, "bucket %llu is still locked", (unsigned long long)bi);
        if ((meta & META_FROZEN) && !migrating)
            return fail(c, "I6: bucket %llu frozen with no migration", (unsigned long long)bi);
        if (meta >> 24 & ~(uint64_t)7 & 0xffu)
            return fail(c, "meta word of bucket %llu has unknown bits", (unsigned long long)bi);
        for (unsigned i = 0; i < SM_SLOTS; i++) {
            unsigned tag = meta_tag(meta, i);
            if (tag == TAG_EMPTY)
                continue;
            used++;
            if (tag == TAG_TOMB)
                continue;
            uint64_t k = u64_load_relaxed(&bk->slot[i].key);
            uint64_t h = smi_slot_hash(c->m, k);
            if (tag != tag_of_hash(h))
                return fail(c, "slot tag does not match key %llu", (unsigned long long)k);
            uint64_t home = home_of_hash(t, h);
            for (uint64_t x = home; x != bi; x = next_bucket(t, x)) {
                if (!(u64_load_relaxed(&t->buckets[x].meta) & META_OVERFLOW))
                    return fail(c, "I2: key %llu beyond bucket %llu without OVERFLOW",
                                (unsigned long long)k, (unsigned long long)x);
            }
            int counts;
            if (old) {
                uint64_t ohome = home_of_hash(old, h);
                counts = 1;
                if (!(u64_load_relaxed(&old->buckets[ohome].meta) & META_FROZEN))
                    return fail(c, "I6: key %llu in next table but home not frozen",
                                (unsigned long long)k);
            } else {
                counts = !(u64_load_relaxed(&t->buckets[home].meta) & META_FROZEN);
            }
            if (counts)
                c->keys[c->nkeys++] = k;
        }
    }
    if (used != smi_table_used(t))
        return fail(c, "used-slot stripes say %llu, table holds %llu",
                    (unsigned long long)smi_table_used(t), (unsigned long long)used);
    return 0;
}

int smi_check_invariants(sm_map *m, char *why, size_t why_len)
{
    checker c = {m, why, why_len, NULL, 0};
    if (!m)
        return fail(&c, "NULL map");
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    sm_table *nt = atomic_load_explicit(&t->next, memory_order_acquire);
    uint64_t cap = t->nbuckets * SM_SLOTS + (nt ? nt->nbuckets * SM_SLOTS : 0);
    c.keys = malloc((cap ? cap : 1) * sizeof *c.keys);
    if (!c.keys)
        return fail(&c, "out of memory in checker");
    int rc = check_table(&c, t, NULL, nt != NULL);
    if (rc == 0 && nt) {
        if (atomic_load_explicit(&nt->next, memory_order_acquire))
            rc = fail(&c, "I7: the next table has a next");
        else
            rc = check_table(&c, nt, t, 1);
    }
    if (rc == 0 && !nt && flag_load_relaxed(&m->resizing))
        rc = fail(&c, "I7: resize gate closed with no migration");
    if (rc == 0) {
        int (*cmp)(const void *, const void *) = m->string_keys ? cmp_skey : cmp_u64;
        qsort(c.keys, c.nkeys, sizeof *c.keys, cmp);
        for (size_t i = 1; i < c.nkeys && rc == 0; i++)
            if (cmp(&c.keys[i], &c.keys[i - 1]) == 0)
                rc = fail(&c, "I1: key %llu present twice", (unsigned long long)c.keys[i]);
    }
    if (rc == 0 && (int64_t)c.nkeys != smi_live_sum(m))
        rc = fail(&c, "entry count %lld but %zu keys present", (long long)smi_live_sum(m), c.nkeys);
    for (size_t i = 0; rc == 0 && i < c.nkeys; i++) {
        if (!found_by_get(m, c.keys[i]))
            rc = fail(&c, "key %llu present but sm_get misses it", (unsigned long long)c.keys[i]);
    }
    free(c.keys);
    return rc;
}

int smi_weaken_string_hash(sm_map *m, uint64_t mask)
{
    if (!m || !m->string_keys || smi_live_sum(m) != 0)
        return -1;
    m->str_hash_mask = mask;
    return 0;
}
