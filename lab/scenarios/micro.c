#include "scenarios/scenario.h"

/* The baseline every other scenario is divided by: what one lookup costs
 * when nothing gets in its way. */
const lab_scenario lab_scenario_micro = {
    .name = "micro",
    .description = "1 thread, pre-sized and pre-filled map, 100% get hits: the cost of a lookup when nothing interferes",
    .reproduces = "nothing: it is the baseline (its mean is the denominator of every tail amplification)",
    .workload = LAB_WORKLOAD_MIXED,
    .threads = 1,
    .fixed_threads = 1,
    .mix = { .get = 100, .put = 0, .del = 0 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 19,
    .presized = 1,
    .duration_ms = 1500,
    .open_rate = 200000,
};
