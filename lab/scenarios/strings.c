/*
 * strings.c — the mixed read-mostly workload of a cache keyed by strings.
 */
#include "scenarios/scenario.h"

const lab_scenario lab_scenario_strings = {
    .name = "strings",
    .description = "one thread per core, 90% get / 8% put / 2% delete on 1M "
                   "pre-filled 48-byte string keys (URL-like, long shared prefix)",
    .reproduces = "a service's cache keyed by request paths or ids: hashing and comparing "
                  "whole keys, and a key copy per entry, on top of the map's own costs",
    .workload = LAB_WORKLOAD_MIXED,
    .threads_per_core = 1,
    .mix = { 90, 8, 2 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1000000,
    .key_bytes = 48,
    .duration_ms = 3000,
    .open_rate = 200000,
};
