/*
 * engine_test.h — what the lab engine tests share: a seeded generator, keys
 * that can be mapped back to their index, and sizes that shrink under a
 * sanitizer.
 */
#ifndef LAB_ENGINE_TEST_H
#define LAB_ENGINE_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef SM_SANITIZED
#define ET_SCALE(normal, sanitized) (sanitized)
#else
#define ET_SCALE(normal, sanitized) (normal)
#endif

/* Odd, so key = index * ET_MUL is a bijection on uint64 that spreads
 * consecutive indexes over all bits. Index 0 gives key 0. */
#define ET_MUL 0x9e3779b97f4a7c15u

static inline uint64_t et_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The inverse of ET_MUL modulo 2^64, by Newton's iteration. */
static inline uint64_t et_mul_inverse(void)
{
    uint64_t x = ET_MUL;
    for (int i = 0; i < 5; i++)
        x *= 2 - ET_MUL * x;
    return x;
}

/* Keys of a test with n indexes: the last index is UINT64_MAX, so both
 * extreme keys are always exercised. */
static inline uint64_t et_key(uint64_t index, uint64_t n)
{
    return index == n - 1 ? UINT64_MAX : index * ET_MUL;
}

static inline uint64_t et_index(uint64_t key, uint64_t n)
{
    return key == UINT64_MAX ? n - 1 : key * et_mul_inverse();
}

/* A seed from the environment (ET_SEED) or the clock, printed so a failing
 * run can be repeated. */
static inline uint64_t et_seed(const char *test)
{
    const char *s = getenv("ET_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL);
    printf("%s: seed %llu (repeat with ET_SEED=%llu)\n", test,
           (unsigned long long)seed, (unsigned long long)seed);
    fflush(stdout);  /* so a run that hangs still shows its seed */
    return seed;
}

/* ET_ENGINE=name runs one engine only, to repeat a failure quickly. */
static inline int et_wanted(const char *engine)
{
    const char *only = getenv("ET_ENGINE");
    return !only || strcmp(only, engine) == 0;
}

#endif
