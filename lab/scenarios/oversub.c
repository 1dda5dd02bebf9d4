#include "scenarios/scenario.h"

/* More runnable threads than cores, as in a server with a thread pool per
 * subsystem. The scheduler preempts threads mid-operation; one preempted
 * while it holds a lock blocks every thread that needs that lock for the
 * rest of its time slice (milliseconds), although nothing is wrong. */
const lab_scenario lab_scenario_oversub = {
    .name = "oversub",
    .description = "4 threads per core, 90% get / 10% put on a pre-filled map",
    .reproduces = "the preempted lock holder: a thread descheduled inside a critical section stalls all others for a time slice",
    .workload = LAB_WORKLOAD_MIXED,
    .threads_per_core = 4,
    .mix = { .get = 90, .put = 10, .del = 0 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 19,
    .presized = 1,
    .duration_ms = 1500,
    .open_rate = 10000,
};
