/*
 * table.h — the layout of one table and the bucket meta word.
 * The algorithm that uses it is described at the top of map.c.
 */
#ifndef SM_TABLE_H
#define SM_TABLE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#include "atomics.h"
#include "config.h"

/*
 * Meta word of a bucket (64 bits):
 *
 *   63           32 31    27 26  25  24 23    16 15     8 7      0
 *  +---------------+--------+---+---+---+--------+--------+--------+
 *  |   version     |   0    |OVF|FRZ|LCK| tag 2  | tag 1  | tag 0  |
 *  +---------------+--------+---+---+---+--------+--------+--------+
 *
 * tag i: 0 = empty (never used in this table), 1 = tombstone, 2..255 = live,
 *        holding 8 bits of the key's hash.
 * LCK:   a writer owns the bucket (readers ignore it).
 * FRZ:   the keys whose home is this bucket have moved to the next table.
 * OVF:   some key probed past this bucket; a lookup that misses here goes on.
 * version: bumped whenever a slot of the bucket changes meaning.
 */
#define META_TAG_BITS 8u
#define META_TAG_MASK 0xffu
#define META_TAGS_MASK 0xffffffu
#define META_LOCK ((uint64_t)1 << 24)
#define META_FROZEN ((uint64_t)1 << 25)
#define META_OVERFLOW ((uint64_t)1 << 26)
#define META_VERSION_ONE ((uint64_t)1 << 32)

#define TAG_EMPTY 0u
#define TAG_TOMB 1u

typedef struct sm_slot {
    atomic_u64 key;
    atomic_u64 value;
} sm_slot;

typedef struct sm_bucket {
    _Alignas(64) atomic_u64 meta;
    uint64_t spare;
    sm_slot slot[SM_SLOTS];
} sm_bucket;

static_assert(sizeof(sm_bucket) == 64,
              "a bucket must be exactly one cache line: a lookup touches one line");
static_assert(SM_SLOTS * META_TAG_BITS <= 24, "the tags must fit below the flag bits");

/* One stripe of a counter, alone on its cache line so writers on different
 * stripes never share a line. */
typedef struct sm_stripe {
    _Alignas(64) atomic_i64 n;
} sm_stripe;

typedef struct sm_table {
    /* Read-mostly line: every operation reads these. */
    _Alignas(64) uint64_t nbuckets;
    sm_bucket *buckets;
    struct sm_table *_Atomic next;   /* table being migrated into, or NULL */
    size_t bytes;                    /* of buckets + this header */

    /* Migration progress, written once per chunk. */
    _Alignas(64) atomic_u64 claim;   /* next old bucket to hand out */
    atomic_u64 migrated;             /* old buckets whose chunk is done */
    atomic_u64 longest_probe;
    uint64_t copies_expected;        /* as next table: live entries when published */
    atomic_u64 copied;               /* as next table: entries copied into it */
    uint64_t retire_epoch;           /* set when unlinked (epoch.h) */
    struct sm_table *retired_next;   /* the map's garbage list */

    sm_stripe used[SM_STRIPES];      /* slots ever used: live + tombstones */
} sm_table;

static inline uint64_t tag_of_hash(uint64_t h)
{
    uint64_t t = h & META_TAG_MASK;
    return t < 2 ? t + 2 : t;
}

/* The home bucket: a multiply-shift of the hash's high bits onto [0, n),
 * so tables need not be powers of two (config.h, targets). */
static inline uint64_t home_of_hash(const sm_table *t, uint64_t h)
{
    return (uint64_t)(((unsigned __int128)h * t->nbuckets) >> 64);
}

/* The first hash whose home in a table of nb buckets is b (b may be nb, which
 * gives 2^64): the inverse of home_of_hash, so [first_hash(b), first_hash(b+1))
 * is exactly the hash range of home b, in any table size. */
static inline unsigned __int128 first_hash_of_bucket(uint64_t b, uint64_t nb)
{
    return (((unsigned __int128)b << 64) + nb - 1) / nb;
}

static inline uint64_t next_bucket(const sm_table *t, uint64_t i)
{
    return i + 1 == t->nbuckets ? 0 : i + 1;
}

static inline unsigned meta_tag(uint64_t meta, unsigned i)
{
    return (unsigned)(meta >> (i * META_TAG_BITS)) & META_TAG_MASK;
}

static inline uint64_t meta_with_tag(uint64_t meta, unsigned i, unsigned tag)
{
    uint64_t shift = i * META_TAG_BITS;
    return (meta & ~((uint64_t)META_TAG_MASK << shift)) | ((uint64_t)tag << shift);
}

/* Bit 8*i+7 is set for every slot i whose tag equals `tag` (SWAR zero-byte
 * test over the three tag bytes). A byte above a true match can be flagged
 * falsely by the borrow; callers compare the key anyway, so that costs only a
 * key load, never a wrong answer. */
static inline uint32_t meta_match(uint64_t meta, unsigned tag)
{
    uint32_t x = (uint32_t)(meta & META_TAGS_MASK) ^ (tag * 0x010101u);
    return (x - 0x010101u) & ~x & 0x808080u;
}

/* Two meta words describe the same bucket contents if they differ at most in
 * the lock bit: readers compare this way, so taking a lock costs them nothing. */
static inline int meta_same(uint64_t a, uint64_t b)
{
    return ((a ^ b) & ~META_LOCK) == 0;
}

/* prefault: fault the whole table in now (sm_reserve, pre-sized sm_new).
 * huge_pages: ask for transparent huge pages, else refuse them (alloc.c). */
sm_table *smi_table_new(uint64_t nbuckets, int prefault, int huge_pages);
void smi_table_free(sm_table *t);
uint64_t smi_table_used(const sm_table *t);

#endif
