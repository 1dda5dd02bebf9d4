/*
 * atomics.h — named-order wrappers over <stdatomic.h>.
 *
 * The order is part of the function's name, so a reader sees at the call site
 * which guarantee is asked for, and every non-relaxed call can say in a
 * comment which operation it pairs with. Nothing here adds behaviour: each
 * wrapper is exactly one C11 atomic operation.
 */
#ifndef SM_ATOMICS_H
#define SM_ATOMICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef _Atomic uint64_t atomic_u64;
typedef _Atomic int64_t atomic_i64;

static inline uint64_t u64_load_relaxed(const atomic_u64 *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline uint64_t u64_load_acquire(const atomic_u64 *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

static inline void u64_store_relaxed(atomic_u64 *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

static inline void u64_store_release(atomic_u64 *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

static inline uint64_t u64_fetch_add_relaxed(atomic_u64 *p, uint64_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

static inline uint64_t u64_fetch_add_acq_rel(atomic_u64 *p, uint64_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
}

static inline uint64_t u64_fetch_add_seq_cst(atomic_u64 *p, uint64_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_seq_cst);
}

static inline uint64_t u64_fetch_sub_relaxed(atomic_u64 *p, uint64_t v)
{
    return atomic_fetch_sub_explicit(p, v, memory_order_relaxed);
}

/* Weak CAS for lock acquisition: acquire on success, relaxed on failure. */
static inline bool u64_cas_weak_acquire(atomic_u64 *p, uint64_t *expected, uint64_t desired)
{
    return atomic_compare_exchange_weak_explicit(p, expected, desired,
                                                 memory_order_acquire, memory_order_relaxed);
}

static inline bool u64_cas_strong_acq_rel(atomic_u64 *p, uint64_t *expected, uint64_t desired)
{
    return atomic_compare_exchange_strong_explicit(p, expected, desired,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

static inline void u64_max_relaxed(atomic_u64 *p, uint64_t v)
{
    uint64_t cur = u64_load_relaxed(p);
    while (cur < v &&
           !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static inline int64_t i64_load_relaxed(const atomic_i64 *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void i64_add_relaxed(atomic_i64 *p, int64_t v)
{
    atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

static inline void *ptr_load_acquire(void *_Atomic const *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

static inline void *ptr_load_relaxed(void *_Atomic const *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void ptr_store_release(void *_Atomic *p, void *v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

static inline bool ptr_cas_strong_release(void *_Atomic *p, void **expected, void *desired)
{
    return atomic_compare_exchange_strong_explicit(p, expected, desired,
                                                   memory_order_release, memory_order_relaxed);
}

static inline bool ptr_cas_strong_acq_rel(void *_Atomic *p, void **expected, void *desired)
{
    return atomic_compare_exchange_strong_explicit(p, expected, desired,
                                                   memory_order_acq_rel, memory_order_acquire);
}

static inline bool flag_cas_acquire(_Atomic int *p, int expected, int desired)
{
    return atomic_compare_exchange_strong_explicit(p, &expected, desired,
                                                   memory_order_acquire, memory_order_relaxed);
}

static inline int flag_load_relaxed(_Atomic int *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline int flag_load_acquire(_Atomic int *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

static inline void flag_store_release(_Atomic int *p, int v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

static inline void flag_store_relaxed(_Atomic int *p, int v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

/* A full fence: the store-load ordering epoch entry needs (see epoch.c).
 * ThreadSanitizer does not model atomic_thread_fence, so under it the fence
 * is a seq_cst read-modify-write of one shared word: all such RMWs are
 * totally ordered and the later one synchronises with the earlier, which
 * gives the same store->load ordering between any two threads that use it
 * (at the price of a shared cache line, acceptable in a checking build). */
#if defined(__SANITIZE_THREAD__)
extern atomic_u64 smi_tsan_fence_word;
static inline void fence_seq_cst(void)
{
    atomic_fetch_add_explicit(&smi_tsan_fence_word, 0, memory_order_seq_cst);
}
#else
static inline void fence_seq_cst(void)
{
    atomic_thread_fence(memory_order_seq_cst);
}
#endif

/* A compiler-only fence: enough on the reader side when the reclaimer issues
 * membarrier(), which makes every running thread execute a full fence. */
static inline void fence_compiler_only(void)
{
    atomic_signal_fence(memory_order_seq_cst);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
