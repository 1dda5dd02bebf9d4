#define _GNU_SOURCE
#include "harness/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

int lab_clock_tsc;
uint64_t lab_clock_mult = (uint64_t)1 << 32;

static lab_clock_info info = { .ticks_per_ns = 1.0 };
static uint64_t sleep_margin_ticks;

uint64_t lab_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#if defined(__x86_64__)
/* The kernel sets these flags only when the TSC ticks at a constant rate
 * through frequency changes and idle states; without them cycles are not
 * time. */
static int tsc_is_invariant(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    /* the first CPU's flags line speaks for all of them */
    char line[8192];
    int constant = 0, nonstop = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            constant = strstr(line, " constant_tsc") != NULL;
            nonstop = strstr(line, " nonstop_tsc") != NULL;
            break;
        }
    }
    fclose(f);
    return constant && nonstop;
}

static double calibrate_window(uint64_t window_ns)
{
    uint64_t n0 = lab_monotonic_ns(), t0 = __rdtsc();
    sleep_ns(window_ns);
    uint64_t n1 = lab_monotonic_ns(), t1 = __rdtsc();
    return (double)(t1 - t0) / (double)(n1 - n0);
}
#endif

static void measure_overhead(void)
{
    enum { rounds = 101, pairs = 1000 };
    double per_pair[rounds];
    for (int r = 0; r < rounds; r++) {
        uint64_t sum = 0;
        for (int i = 0; i < pairs; i++) {
            uint64_t a = lab_ticks();
            uint64_t b = lab_ticks();
            sum += b - a;
        }
        per_pair[r] = (double)lab_ticks_to_ns(sum) / pairs;
    }
    qsort(per_pair, rounds, sizeof per_pair[0], cmp_double);
    info.overhead_min_ns = per_pair[0];
    info.overhead_ns = per_pair[rounds / 2];
}

/* A sleeping open-loop thread must wake before its next intended start;
 * the lateness of a short sleep on this machine tells how early. */
static void measure_wake_lateness(void)
{
    enum { samples = 100 };
    double late[samples];
    for (int i = 0; i < samples; i++) {
        uint64_t a = lab_monotonic_ns();
        sleep_ns(50000);
        late[i] = (double)(lab_monotonic_ns() - a) - 50000.0;
    }
    qsort(late, samples, sizeof late[0], cmp_double);
    info.wake_late_ns = late[samples * 9 / 10];
    double margin = info.wake_late_ns + 10000.0;
    if (margin > 500000.0)
        margin = 500000.0;
    sleep_margin_ticks = lab_ns_to_ticks((uint64_t)margin);
}

void lab_clock_init(void)
{
    /* Sleeps in this thread (and threads it creates inherit this) wake at
     * the requested time rather than up to 50 us later. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    lab_clock_tsc = 0;
    lab_clock_mult = (uint64_t)1 << 32;
    info.uses_tsc = 0;
    info.ticks_per_ns = 1.0;
#if defined(__x86_64__)
    if (tsc_is_invariant()) {
        double a = calibrate_window(25000000), b = calibrate_window(25000000);
        double rate = (a + b) / 2;
        info.window_disagreement = a > b ? (a - b) / rate : (b - a) / rate;
        if (info.window_disagreement < 0.001 && rate > 0.1) {
            lab_clock_tsc = 1;
            info.uses_tsc = 1;
            info.ticks_per_ns = rate;
            lab_clock_mult = (uint64_t)((double)((uint64_t)1 << 32) / rate);
        }
    }
#endif
    measure_overhead();
    measure_wake_lateness();
    if (info.uses_tsc)
        snprintf(info.source, sizeof info.source,
                 "TSC at %.4f GHz (calibrated against CLOCK_MONOTONIC, two 25 ms windows agree to %.4f%%)",
                 info.ticks_per_ns, info.window_disagreement * 100);
    else
        snprintf(info.source, sizeof info.source,
                 "clock_gettime(CLOCK_MONOTONIC) (no invariant TSC, or its calibration windows disagreed by %.4f%%)",
                 info.window_disagreement * 100);
}

const lab_clock_info *lab_clock(void)
{
    return &info;
}

uint64_t lab_ns_to_ticks(uint64_t ns)
{
    return (uint64_t)((double)ns * info.ticks_per_ns);
}

void lab_wait_until(uint64_t target, int spin)
{
    uint64_t now = lab_ticks();
    uint64_t margin = spin ? sleep_margin_ticks : 0;
    if (target > now + margin)
        sleep_ns(lab_ticks_to_ns(target - now - margin));
    while (lab_ticks() < target) {
#if defined(__x86_64__)
        _mm_pause();
#endif
    }
}
