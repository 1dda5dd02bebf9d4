/*
 * strkey.c — hashing and copying byte-string keys (layout in strkey.h).
 *
 * Hash choice: XXH3-64 (Debian's libxxhash-dev, used header-only through
 * XXH_INLINE_ALL, so the library gains no run-time dependency) keyed with a
 * per-map 192-byte secret rather than XXH3's 64-bit seed. With the seed
 * variant the secret is a public constant and only the seed is hidden; a
 * published analysis (xxHash issue #1127, 2026) shows fixed 32-byte message
 * pairs that collide for about 2^-10.5 of all seeds, which is a usable
 * flooding lever. With a uniformly random secret the same analysis gives
 * about 2^-27 per pair, and an attacker who cannot observe hashes or timing
 * has no way to test candidates. It is still not a cryptographic PRF:
 * docs/DESIGN.md ("String keys") says what that means for hostile keys.
 * A user-supplied seed makes the secret reproducible, and then as secret as
 * the seed is.
 */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "strkey.h"

#include <assert.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "hash.h"

static_assert(SM_SECRET_BYTES >= XXH3_SECRET_SIZE_MIN, "XXH3 needs a longer secret");

static void fill_from_seed(unsigned char *secret, uint64_t seed)
{
    for (size_t i = 0; i < SM_SECRET_BYTES; i += 8) {
        uint64_t w = splitmix64(&seed);
        memcpy(secret + i, &w, 8);
    }
}

void smi_secret_init(unsigned char secret[SM_SECRET_BYTES], uint64_t seed)
{
    if (seed) {
        fill_from_seed(secret, seed);
        return;
    }
    if (getrandom(secret, SM_SECRET_BYTES, GRND_NONBLOCK) == SM_SECRET_BYTES)
        return;
    /* Without getrandom: distinct per map and run, though not secret. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fill_from_seed(secret, ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
                               (uint64_t)(uintptr_t)secret);
}

uint64_t smi_hash_bytes(const unsigned char secret[SM_SECRET_BYTES], const void *key, size_t len)
{
    return XXH3_64bits_withSecret(key, len, secret, SM_SECRET_BYTES);
}

uint64_t smi_skey_new(uint64_t h, const void *key, size_t len)
{
    int counted;
    smi_skey *k = smi_alloc_small(sizeof *k + len, &counted);
    if (!k)
        return 0;
    k->hash = h;
    k->len = (uint32_t)len;
    k->counted = (uint32_t)counted;
    if (len)
        memcpy(k->bytes, key, len);
    return (uint64_t)(uintptr_t)k;
}

void smi_skey_free(uint64_t word)
{
    smi_skey *k = (smi_skey *)(uintptr_t)word;
    if (k)
        smi_free_small(k, sizeof *k + k->len, (int)k->counted);
}
