/*
 * keys.h — keys, the values they must map to, and the random streams.
 *
 * Key i is mix(i + salt): mix is a bijection on 64-bit words (splitmix64's
 * finaliser), so distinct indices give distinct keys spread over the whole
 * key space, and the same --seed gives the same keys. The value stored for a
 * key is always value_of(key), a second bijective mix: a put that overwrites
 * stores the same value again, so EVERY get that finds a key can be checked,
 * and a torn, stale-from-another-key or invented value is caught.
 */
#ifndef LAB_KEYS_H
#define LAB_KEYS_H

#include <math.h>
#include <stdint.h>

static inline uint64_t lab_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x;
}

static inline uint64_t lab_key_of(uint64_t index, uint64_t salt)
{
    return lab_mix(index + salt);
}

/* lab_mix backwards (each step of it is a bijection): the range scenario's
 * iterator check turns a key it is handed into the index it was made from. */
static inline uint64_t lab_unmix(uint64_t x)
{
    x ^= (x >> 31) ^ (x >> 62);
    x *= 0x319642b2d24d8ec3u;  /* the inverse of 0x94d049bb133111eb mod 2^64 */
    x ^= (x >> 27) ^ (x >> 54);
    x *= 0x96de1b173f119089u;  /* the inverse of 0xbf58476d1ce4e5b9 mod 2^64 */
    x ^= (x >> 30) ^ (x >> 60);
    return x;
}

static inline uint64_t lab_index_of(uint64_t key, uint64_t salt)
{
    return lab_unmix(key) - salt;
}

static inline uint64_t lab_value_of(uint64_t key)
{
    return lab_mix(key ^ 0x5851f42d4c957f2du);
}

/*
 * The string form of key k, for scenarios with string keys: `len` bytes
 * (len >= 16), a URL-like prefix shared by every key and then k as 16 hex
 * digits, the shape of real cache keys (long common prefix, distinct tail).
 * Injective for a given len, so distinct keys stay distinct.
 */
static inline void lab_key_string(uint64_t k, char *out, unsigned len)
{
    static const char prefix[] = "https://cache.example/tenant/0042/object/"
                                 "0000000000000000000000000000000000000000000000000000000000000000";
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i + 16 < len; i++)
        out[i] = i < sizeof prefix - 1 ? prefix[i] : '0';
    for (unsigned d = 0; d < 16; d++)
        out[len - 1 - d] = hex[(k >> (4 * d)) & 15];
}

/* xoshiro256**: fast, and good enough that op mixes and key picks are not
 * correlated. */
typedef struct lab_rng {
    uint64_t s[4];
} lab_rng;

static inline void lab_rng_seed(lab_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15u;
        r->s[i] = lab_mix(seed);
    }
}

static inline uint64_t lab_rng_next(lab_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n) without a division (Lemire's multiply-shift). */
static inline uint64_t lab_rng_below(lab_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)lab_rng_next(r) * n) >> 64);
}

static inline double lab_rng_unit(lab_rng *r)
{
    return (double)(lab_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Zipf over ranks 0..n-1, Gray et al.'s method as in YCSB's
 * ZipfianGenerator: O(n) set-up (zeta), O(1) per draw. */
typedef struct lab_zipf {
    uint64_t n;
    double theta, alpha, zetan, eta, half_pow_theta;
} lab_zipf;

static inline void lab_zipf_init(lab_zipf *z, uint64_t n, double theta)
{
    double zetan = 0.0;
    for (uint64_t i = 1; i <= n; i++)
        zetan += 1.0 / pow((double)i, theta);
    double zeta2 = 1.0 + pow(0.5, theta);
    z->n = n;
    z->theta = theta;
    z->alpha = 1.0 / (1.0 - theta);
    z->zetan = zetan;
    z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
    z->half_pow_theta = pow(0.5, theta);
}

static inline uint64_t lab_zipf_next(const lab_zipf *z, lab_rng *r)
{
    double u = lab_rng_unit(r);
    double uz = u * z->zetan;
    if (uz < 1.0)
        return 0;
    if (uz < 1.0 + z->half_pow_theta)
        return 1;
    uint64_t rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
    return rank < z->n ? rank : z->n - 1;
}

#endif
