/*
 * strkey.h — byte-string keys: how a key is held, hashed and compared.
 *
 * A string-keyed map keeps, in a slot's 64-bit key word, a pointer to an
 * immutable key copy:
 *
 *   +-----------+---------+---------+----------------+
 *   | hash (64) | len (32)| counted | bytes[len] ... |
 *   +-----------+---------+---------+----------------+
 *
 * The full hash is stored so that migration and iteration never rehash, and
 * so that a lookup whose tag byte matched compares 64 hash bits before any
 * key byte: a miss almost never reads the key, a hit reads it once.
 *
 * Lifetime: a copy is made before a key is inserted (never under a bucket
 * lock), published by the release store of the slot's key word (table.c) and
 * never changed afterwards. It is retired through the limbo (limbo.c) when
 * its key is deleted, and freed once every thread that might still compare
 * with it has left the library: a reader holds no lock, so only the epoch
 * keeps the bytes it is comparing alive. A copy that lost a race (the key
 * turned out to be present) was never published and is freed at once.
 * Migration moves the pointer, not the bytes.
 */
#ifndef SM_STRKEY_H
#define SM_STRKEY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The XXH3 secret size xxhash itself uses by default (XXH3_SECRET_DEFAULT_SIZE). */
#define SM_SECRET_BYTES 192

typedef struct smi_skey {
    uint64_t hash;
    uint32_t len;
    uint32_t counted;        /* 1 if its bytes are in the test byte count (alloc.c) */
    unsigned char bytes[];
} smi_skey;

static inline const smi_skey *skey_of(uint64_t word)
{
    return (const smi_skey *)(uintptr_t)word;
}

/* Called only on a key word read from a live slot under the caller's epoch:
 * the copy cannot be freed before the caller leaves. */
static inline int skey_equals(uint64_t word, uint64_t h, const void *key, size_t len)
{
    const smi_skey *k = skey_of(word);
    return k->hash == h && k->len == len && (len == 0 || memcmp(k->bytes, key, len) == 0);
}

/* Fill a map's secret: from the user's seed (reproducible runs), else from
 * the kernel's random source. */
void smi_secret_init(unsigned char secret[SM_SECRET_BYTES], uint64_t seed);

/* XXH3-64 of len bytes keyed with the map's secret. */
uint64_t smi_hash_bytes(const unsigned char secret[SM_SECRET_BYTES], const void *key, size_t len);

/* A new key copy as a key word, or 0 when out of memory (real or injected). */
uint64_t smi_skey_new(uint64_t h, const void *key, size_t len);
void smi_skey_free(uint64_t word);

#endif
