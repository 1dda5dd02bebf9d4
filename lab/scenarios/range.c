#include "scenarios/scenario.h"

/* Metrics export, snapshotting or cache eviction walks the whole map while
 * requests keep arriving. Under a read lock the walk is long and every
 * writer — and, with a writer-preferring lock, every reader behind it —
 * waits for it to end. */
const lab_scenario lab_scenario_range = {
    .name = "range",
    .description = "readers and writers (90% get / 10% put) plus one thread iterating the whole map again and again",
    .reproduces = "long iteration under a read lock: writers wait for the whole walk, readers queue behind the waiting writers",
    .workload = LAB_WORKLOAD_MIXED,
    .threads_per_core = 1,
    .mix = { .get = 90, .put = 10, .del = 0 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 19,
    .presized = 1,
    .iterator = 1,
    .duration_ms = 1500,
    .open_rate = 20000,
};
