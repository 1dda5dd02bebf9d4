#include "scenarios/scenario.h"

/* The common case of a read-mostly cache with two request threads and no
 * resize, no iterator and no oversubscription in the way: what is left is
 * the raw cost of reads racing a few writers. Its closed-loop ops/s is the
 * throughput the comparison judges. */
const lab_scenario lab_scenario_mixed = {
    .name = "mixed",
    .description = "2 threads, 90% get / 10% put on 1M pre-filled keys",
    .reproduces = "nothing in particular: the throughput of plain read-mostly traffic, to weigh the tail scenarios against",
    .workload = LAB_WORKLOAD_MIXED,
    .threads = 2,
    .mix = { .get = 90, .put = 10, .del = 0 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1000000,
    .presized = 1,
    .duration_ms = 1500,
    .open_rate = 50000,
};
