/*
 * scenario.h — what a scenario is: one named, readable definition per file
 * in lab/scenarios/, listed in scenarios/list.c.
 *
 * A scenario says which production stall it reproduces, how many threads do
 * what, on which keys, for how long, and how the map starts (empty or
 * pre-filled, pre-sized or not). The harness (harness/run.c) turns it into
 * threads; the scenario files hold no code.
 */
#ifndef LAB_SCENARIO_H
#define LAB_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

/* What the worker threads do. */
typedef enum lab_workload {
    /* Every thread draws operations from .mix on keys of a pre-filled key
     * space; puts overwrite present keys, so the size stays constant. */
    LAB_WORKLOAD_MIXED,
    /* .writers threads insert keys 0..keys-1 (each its own stride) into an
     * empty map; the other threads read keys already inserted, so every
     * read must hit. Ends when the last key is in. The writers are a bulk
     * load and never paced; open loop paces the readers. */
    LAB_WORKLOAD_GROWTH,
    /* Every thread owns a sliding window of keys/threads live keys: it
     * inserts at the front, deletes at the back and reads inside, so the
     * size stays constant while every key is new. */
    LAB_WORKLOAD_CHURN
} lab_workload;

typedef enum lab_key_distribution {
    LAB_KEYS_UNIFORM,
    LAB_KEYS_ZIPF      /* rank r drawn with probability ~ 1/r^theta */
} lab_key_distribution;

typedef struct lab_op_mix {
    unsigned get, put, del; /* percent; sums to 100 */
} lab_op_mix;

typedef struct lab_scenario {
    const char *name;
    const char *description;   /* one line, for `steadymap-lab list` */
    const char *reproduces;    /* the production stall, one sentence */

    lab_workload workload;
    /* Worker threads: .threads if nonzero, else .threads_per_core x online
     * cores. --threads overrides both, except for scenarios marked
     * .fixed_threads (micro is one thread by definition). */
    unsigned threads;
    unsigned threads_per_core;
    int fixed_threads;
    unsigned writers;          /* GROWTH: how many of the threads insert */
    lab_op_mix mix;            /* MIXED */
    lab_key_distribution key_distribution;
    double zipf_theta;

    uint64_t keys;             /* key space (MIXED), target size (GROWTH),
                                  live size (CHURN); --keys overrides */
    int presized;              /* create(keys) rather than create(0) */
    int iterator;              /* one more thread walks the whole map again
                                  and again (engines without iterate: n/a) */
    int fresh_process;         /* run in a newly exec'd copy of the lab */

    unsigned key_bytes;        /* 0 = uint64 keys; else every key is a byte
                                  string of this length (>= 16): key k is
                                  lab_key_string(k), see harness/keys.h */

    unsigned duration_ms;      /* measured time (GROWTH: until the last key
                                  is in; this only sizes the time cap) */
    double open_rate;          /* open loop: ops/s per thread (--rate) */
} lab_scenario;

/* Every scenario, in the order the report shows them. */
const lab_scenario *const *lab_scenarios_all(size_t *count);
const lab_scenario *lab_scenario_find(const char *name);

extern const lab_scenario lab_scenario_micro;
extern const lab_scenario lab_scenario_growth;
extern const lab_scenario lab_scenario_range;
extern const lab_scenario lab_scenario_oversub;
extern const lab_scenario lab_scenario_churn;
extern const lab_scenario lab_scenario_zipf;
extern const lab_scenario lab_scenario_mixed;
extern const lab_scenario lab_scenario_strings;
extern const lab_scenario lab_scenario_coldstart;
extern const lab_scenario lab_scenario_coldstart_presized;

#endif
