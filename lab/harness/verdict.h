/*
 * verdict.h — the acceptance checks of the comparison, computed from the
 * numbers a `compare` run measured and never from anything written down in
 * advance.
 *
 *   (a) tails: in growth, range and oversub, under each load model, steady's
 *       gets have the lowest p99.9 and the lowest max of all concurrent
 *       engines;
 *   (b) throughput: in mixed (closed loop) steady does at least 1.5x the
 *       operations per second of the best concurrent peer; the line also
 *       gives the floor engine's ops/s in the same run - one cache-line load
 *       per operation and no map, an estimate of the most any map can do in
 *       this lab - so a factor above floor / best peer reads as out of this
 *       machine's reach rather than as steady's shortfall (it stays a MISS);
 *       a floor that a map outran is called noise, not a ceiling;
 *   (c) single-thread lookups: steady's micro mean at 1M and at 64M keys
 *       is at most 1.25x boost_flat's (a single-threaded flat map, the
 *       fastest plain table there is: the price of being concurrent);
 *   (d) memory: steady's bytes per entry (RSS) at the largest measured size
 *       is at most the median concurrent peer's, and after 90 % of the
 *       entries are deleted it keeps at most half of what the map had taken.
 *
 * A check that lacks its inputs (an engine not compiled in, a scenario not
 * run, steady's run or measurement skipped or failed, steady's run without
 * gets for (a)) is NOT CHECKED, with the reason, rather than passed or
 * missed; (d) never falls back to a smaller size. A peer that ran but could
 * not be measured (skipped, failed, no gets for (a)) is named, with their
 * count, in the line of each comparison it is missing from.
 * (a) reads the gets' own histogram (lab_result.get_hist), as the target is
 * worded: growth's bulk-loading writer and the 10 % puts of range and
 * oversub are in the tables' all-operations columns, not in (a). Until
 * 2026-11-26 (a) read the all-operations histogram, which put steady's
 * migration steps - a writer's cost by design - into a claim about readers.
 */
#ifndef LAB_VERDICT_H
#define LAB_VERDICT_H

#include <stddef.h>
#include <stdio.h>

#include "engine.h"
#include "harness/memory.h"
#include "harness/run.h"

/* The name compare gives micro's second, large run (64M keys). */
#define LAB_MICRO_LARGE "micro-64M"

/* The engine (c) measures steady against, and how much slower steady may be. */
#define LAB_FLAT_BASELINE "boost_flat"
#define LAB_FLAT_FACTOR 1.25
#define LAB_THROUGHPUT_FACTOR 1.5
/* The instrument's floor reading (engines/floor.c): compare runs it on mixed,
 * and (b) weighs the 1.5x against it; never a peer. */
#define LAB_FLOOR_ENGINE "floor"
/* (d): at most this fraction of the map's memory may stay after deleting 90 %. */
#define LAB_RETAINED_MAX 0.5

typedef enum lab_check_status {
    LAB_CHECK_PASS,
    LAB_CHECK_MISS,
    LAB_CHECK_NOT_CHECKED
} lab_check_status;

#define LAB_VERDICT_CHECKS 4

typedef struct lab_check {
    char id;                    /* 'a' ... 'd' */
    const char *claim;          /* the acceptance criterion in one line */
    lab_check_status status;
    char detail[3072];          /* the numbers behind the status, one line each */
} lab_check;

/* 1 = the engine is not thread-safe and only runs one-thread scenarios. */
typedef int (*lab_single_threaded_fn)(const char *engine);

typedef struct lab_verdict_input {
    const lab_result *const *results;
    size_t nresults;
    const lab_memory_result *memory;    /* any sizes; (d) uses the largest */
    size_t nmemory;
    lab_single_threaded_fn single_threaded;
} lab_verdict_input;

/* Resident bytes the map took per entry: (RSS full - RSS before) / keys. */
double lab_memory_per_entry(const lab_memory_result *m);
/* Of the resident memory the map took, the fraction it still holds after
 * 90 % of the entries were deleted: ~0.1 plus slack for a map that shrinks,
 * 1 for one that never does. */
double lab_memory_kept(const lab_memory_result *m);

/* Fills the four checks from the input. */
void lab_verdict(const lab_verdict_input *in, lab_check out[LAB_VERDICT_CHECKS]);

const char *lab_check_status_name(lab_check_status s);

/* The checks as markdown (a list with the numbers under each). */
void lab_verdict_write(const lab_check checks[LAB_VERDICT_CHECKS], FILE *out);

/* Whether an engine of the registry is single-threaded only (its
 * single_thread_only field), by name so that it is a lab_single_threaded_fn.
 * Unknown names are concurrent. */
int lab_single_threaded(const char *engine);

#endif
