/*
 * clock.h — the lab's timestamp source.
 *
 * Every latency the lab reports is the difference of two lab_ticks() readings
 * converted to nanoseconds. On x86-64 with an invariant TSC the ticks are TSC
 * cycles (a read costs ~10 ns instead of clock_gettime's ~20-40 ns, which
 * matters when the operation measured takes 20 ns); the cycle rate is
 * calibrated against CLOCK_MONOTONIC over two 25 ms windows, and if the two
 * windows disagree by more than 0.1 % — a TSC that is not constant, or a VM
 * that migrates it — the lab falls back to clock_gettime. Elsewhere the ticks
 * are CLOCK_MONOTONIC nanoseconds.
 *
 * The overhead of one timestamp pair is measured at start-up and REPORTED next
 * to every result, never subtracted: subtracting a median overhead from single
 * samples produces values that no operation actually took (even negative
 * ones), and the report would then disagree with its own .hgrm files.
 */
#ifndef LAB_CLOCK_H
#define LAB_CLOCK_H

#include <stdint.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

typedef struct lab_clock_info {
    int uses_tsc;              /* 1 = TSC ticks, 0 = CLOCK_MONOTONIC ns */
    double ticks_per_ns;       /* 1.0 for the clock_gettime fallback */
    double window_disagreement;/* relative difference of the two calibrations */
    double overhead_ns;        /* median cost of a back-to-back timestamp pair */
    double overhead_min_ns;    /* smallest such cost seen */
    double wake_late_ns;       /* 90th percentile lateness of a 50 us sleep */
    char source[160];          /* one line for the report */
} lab_clock_info;

/* Calibrates the clock; call once, before any thread uses lab_ticks(). */
void lab_clock_init(void);

/* The calibration and overhead figures, valid after lab_clock_init(). */
const lab_clock_info *lab_clock(void);

/* Read once per run by the inline functions below; set by lab_clock_init(). */
extern int lab_clock_tsc;
extern uint64_t lab_clock_mult; /* ns = ticks * mult >> 32 */

/* CLOCK_MONOTONIC in nanoseconds: the fallback ticks. */
uint64_t lab_monotonic_ns(void);

static inline uint64_t lab_ticks(void)
{
#if defined(__x86_64__)
    if (lab_clock_tsc) {
        /* The fences keep the measured operation from being reordered
         * around the timestamp (rdtsc alone is not ordered). */
        _mm_lfence();
        uint64_t t = __rdtsc();
        _mm_lfence();
        return t;
    }
#endif
    return lab_monotonic_ns();
}

static inline uint64_t lab_ticks_to_ns(uint64_t ticks)
{
    /* 128-bit product: a 64-bit one overflows after a few seconds of TSC. */
    return (uint64_t)(((unsigned __int128)ticks * lab_clock_mult) >> 32);
}

uint64_t lab_ns_to_ticks(uint64_t ns);

/* Returns once lab_ticks() >= target. With spin set it sleeps only while
 * target is further away than the measured wake-up lateness and spins the
 * rest, so a late wake-up does not delay the caller — at the price of a
 * busy CPU, which is only fair when every thread has a core of its own.
 * Without spin it sleeps until target, as an idle server thread would. */
void lab_wait_until(uint64_t target, int spin);

#endif
