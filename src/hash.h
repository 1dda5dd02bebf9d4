/*
 * hash.h — the keyed hash of uint64 keys.
 *
 * Two rounds of a 64x64->128 multiply folded by xor ("mum"), each keyed with
 * a different 64-bit secret drawn at random per map. Without the secrets an
 * attacker cannot predict which keys share a home bucket: every output bit
 * depends on every key bit through a multiply by an unknown odd constant.
 * This is not a cryptographic PRF (docs/DESIGN.md, "Hashing", says what it
 * resists and what it does not); it costs about 2 ns, where SipHash-1-3 on
 * 8 bytes costs several times that on the read path of every lookup.
 */
#ifndef SM_HASH_H
#define SM_HASH_H

#include <stdint.h>

typedef struct sm_hash_key {
    uint64_t k0;
    uint64_t k1;
} sm_hash_key;

static inline uint64_t mum_fold(uint64_t a, uint64_t b)
{
    unsigned __int128 p = (unsigned __int128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

static inline uint64_t hash_u64(const sm_hash_key *hk, uint64_t key)
{
    /* "| 1" keeps the multiplier odd: an even one would zero low bits. */
    uint64_t h = mum_fold(key ^ hk->k0, hk->k1 | 1u);
    return mum_fold(h ^ hk->k1, 0x9e3779b97f4a7c15u ^ hk->k0);
}

/* splitmix64's finaliser: a bijection on 64-bit words (mix64(0) == 0) whose
 * every output bit depends on every input bit. Unkeyed: for seeds and for
 * the tests' key and value encodings, never for a map's hash. */
static inline uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* One step of splitmix64: a full-period stream whose outputs spread even a
 * seed like 1 over all 64 bits. Expands seeds into secrets (here and in
 * strkey.c). */
static inline uint64_t splitmix64(uint64_t *state)
{
    return mix64(*state += 0x9e3779b97f4a7c15u);
}

/* Expand a user seed (or random bits) into the two secrets. */
static inline sm_hash_key hash_key_from_seed(uint64_t seed)
{
    sm_hash_key hk;
    hk.k0 = splitmix64(&seed);
    hk.k1 = splitmix64(&seed);
    return hk;
}

#endif
