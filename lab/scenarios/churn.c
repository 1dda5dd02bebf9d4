#include "scenarios/scenario.h"

/* Sessions, leases, in-flight requests: a constant number of live keys, but
 * every key is new. Tombstones pile up, tables are rebuilt in place, memory
 * of deleted entries is or is not given back: the RSS plot shows which. */
const lab_scenario lab_scenario_churn = {
    .name = "churn",
    .description = "constant size, every thread inserts new keys and deletes old ones (25% put / 25% del / 50% get); RSS over time",
    .reproduces = "tombstone build-up and same-size rehashes under constant churn, and memory that deletes never return",
    .workload = LAB_WORKLOAD_CHURN,
    .threads_per_core = 1,
    .mix = { .get = 50, .put = 25, .del = 25 },
    .key_distribution = LAB_KEYS_UNIFORM,
    .keys = 1u << 18,
    .presized = 0,
    .duration_ms = 2000,
    .open_rate = 20000,
};
