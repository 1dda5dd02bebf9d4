#include "scenarios/scenario.h"

/* A map that starts small and is filled under load: a cache warming up
 * after a deploy. Each doubling of a classic map rehashes everything while
 * holding the lock, so readers queue behind it; the last doublings move
 * hundreds of thousands of entries at once. */
const lab_scenario lab_scenario_growth = {
    .name = "growth",
    .description = "readers and writers while the map grows from empty to --keys entries (not pre-sized)",
    .reproduces = "the resize stall: a doubling allocates and zeroes the whole new bucket array inside one write, under the lock, and every reader waits for it",
    .workload = LAB_WORKLOAD_GROWTH,
    .threads_per_core = 1,
    .writers = 1,
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 18,
    .presized = 0,
    .duration_ms = 1500,
    .open_rate = 50000,
};
