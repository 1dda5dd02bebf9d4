/*
 * compare.h — `steadymap-lab compare` and `steadymap-lab memory`: every
 * engine through every scenario under both load models, the memory
 * measurement, and one compare.md that holds the tables, the machine, the
 * peers' package versions and the verdict (harness/verdict.h).
 *
 * It sits on top of the rest of the lab: runs come from lab_run, tables and
 * plots from the report writer, memory from lab_memory_measure. What it adds
 * is the plan (which runs, at which sizes, in what order, with a progress
 * count) and the judgement.
 */
#ifndef LAB_COMPARE_H
#define LAB_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "harness/run.h"

/* Measured time per run unless --duration-ms says otherwise (the scenarios'
 * own is 1500 ms): with ~15 engines, 290 runs, memory at 16M and micro at
 * 64M, this keeps a full compare under 25 minutes on 2 busy cores, while
 * the sparsest open-loop run (range: 2 threads x 20 000/s) still has 40
 * samples above its p99.9. Growth ends when its keys are in, not on time. */
#define LAB_COMPARE_DURATION_MS 1000u

/* Sizes the comparison measures at, as the acceptance criteria name them. */
#define LAB_COMPARE_MICRO_KEYS 1000000u
#define LAB_COMPARE_MICRO_LARGE_KEYS 64000000u
#define LAB_COMPARE_MEMORY_KEYS_SMALL 1000000u
#define LAB_COMPARE_MEMORY_KEYS_LARGE 16000000u

/* --smoke: every engine through every scenario in a few seconds. */
#define LAB_SMOKE_DURATION_MS 100u
#define LAB_SMOKE_KEYS 20000u
#define LAB_SMOKE_MEMORY_KEYS_SMALL 10000u
#define LAB_SMOKE_MEMORY_KEYS_LARGE 50000u

#define LAB_MEMORY_SIZES_MAX 8

typedef struct lab_compare_options {
    const lab_engine *const *engines;
    size_t nengines;
    int models;                 /* bit 0 closed loop, bit 1 open loop */
    int smoke;                  /* tiny sizes; fail on any error or failed run */
    const char *output;         /* folder for the report, compare.md, memory.csv */
    lab_settings s;             /* as given on the command line */
    uint64_t memory_keys[LAB_MEMORY_SIZES_MAX]; /* 0 entries: the defaults */
    size_t nmemory_keys;
} lab_compare_options;

/* Of n runs of one engine in one scenario, the one with the median ops/s
 * (a skipped run counts as the slowest); the others are freed. The kept run
 * carries the error counts of all n: a wrong value in a round that was not
 * kept must still reach the errors column, the exit status and (b). */
lab_result *lab_keep_median_run(lab_result **runs, size_t n);

/* Runs the comparison and writes everything into o->output. Returns the
 * lab's exit status: 0; 3 if an engine returned a wrong value or lost a key
 * (with --smoke also: a run or measurement that failed); 1 if a file could
 * not be written. */
int lab_compare(const lab_compare_options *o, int argc, char **argv);

/* `memory`: measures every engine at every size, prints the table and
 * writes memory.csv into o->output. Same exit statuses. */
int lab_memory_command(const lab_compare_options *o);

#endif
