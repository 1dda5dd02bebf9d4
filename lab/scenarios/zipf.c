#include "scenarios/scenario.h"

/* Real key popularity is skewed: a few keys get most requests. With theta
 * 0.99 (YCSB's default) the hottest key alone takes several percent of all
 * operations, so writers to it contend on one bucket, one shard, one lock. */
const lab_scenario lab_scenario_zipf = {
    .name = "zipf",
    .description = "90% get / 10% put with Zipf-distributed keys (theta 0.99): hot keys, hot buckets, hot shards",
    .reproduces = "hot-key contention: every writer of a popular key serialises on the same bucket or shard lock",
    .workload = LAB_WORKLOAD_MIXED,
    .threads_per_core = 1,
    .mix = { .get = 90, .put = 10, .del = 0 },
    .key_distribution = LAB_KEYS_ZIPF,
    .zipf_theta = 0.99,
    .keys = 1u << 20,
    .presized = 1,
    .duration_ms = 1500,
    .open_rate = 20000,
};
