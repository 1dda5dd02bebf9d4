#include "scenarios/scenario.h"

/* The first minute of a new process: every table page is touched for the
 * first time, so each resize also pays a page fault per 4 KiB on top of the
 * rehash. Running in a newly exec'd process keeps the allocator from
 * reusing memory an earlier scenario already faulted in. The pre-sized
 * twin shows what reserving up front buys. */
const lab_scenario lab_scenario_coldstart = {
    .name = "coldstart",
    .description = "growth from empty in a freshly started process (page faults on every new table page)",
    .reproduces = "page faults of a cold process on top of resizes: first-touch of every table page during the first requests",
    .workload = LAB_WORKLOAD_GROWTH,
    .threads_per_core = 1,
    .writers = 1,
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 18,
    .presized = 0,
    .fresh_process = 1,
    .duration_ms = 1500,
    .open_rate = 50000,
};

const lab_scenario lab_scenario_coldstart_presized = {
    .name = "coldstart-presized",
    .description = "as coldstart, but the map is created pre-sized for --keys entries (reserve up front)",
    .reproduces = "the same cold process with the resizes taken out: what remains is first-touch page faults",
    .workload = LAB_WORKLOAD_GROWTH,
    .threads_per_core = 1,
    .writers = 1,
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 18,
    .presized = 1,
    .fresh_process = 1,
    .duration_ms = 1500,
    .open_rate = 50000,
};
