/*
 * iterate.c — walking a map while writers change it.
 *
 * A metrics thread sums every value again and again (an "export" or a
 * snapshot), while writers keep adding and removing other entries, so the
 * table grows and shrinks under the walk. The iterator takes no lock and
 * holds no table between calls: the writers never wait for it, and it never
 * waits for them. What it guarantees (steadymap.h, G1-G4): every entry
 * present for the whole walk is seen exactly once, no entry twice.
 *
 * Here 1000 "account" entries stay present with a known value each, so every
 * walk must find all of them and their total; the churn entries come and go.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <steadymap.h>

enum { ACCOUNTS = 1000, CHURN_BASE = 1000000, CHURN = 50000, ROUNDS = 6 };

static sm_map *map;
static atomic_int writing = 1;

static void *churn(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        for (uint64_t k = 0; k < CHURN; k++)
            sm_put(map, CHURN_BASE + k, k, NULL);
        for (uint64_t k = 0; k < CHURN; k++)
            sm_delete(map, CHURN_BASE + k, NULL);
    }
    atomic_store(&writing, 0);
    return NULL;
}

int main(void)
{
    map = sm_new(NULL);
    if (!map) {
        perror("sm_new");
        return EXIT_FAILURE;
    }
    uint64_t expected_total = 0;
    for (uint64_t k = 0; k < ACCOUNTS; k++) {
        sm_put(map, k, k * 10, NULL);
        expected_total += k * 10;
    }
    pthread_t writer;
    if (pthread_create(&writer, NULL, churn, NULL) != 0) {
        fprintf(stderr, "iterate: pthread_create failed\n");
        return EXIT_FAILURE;
    }
    int walks = 0, failures = 0;
    while (atomic_load(&writing) || walks == 0) {
        sm_iter *it = sm_iter_new(map);
        if (!it) {
            fprintf(stderr, "iterate: out of memory\n");
            return EXIT_FAILURE;
        }
        uint64_t key, value, total = 0, accounts = 0;
        int rc;
        while ((rc = sm_iter_next(it, &key, &value)) == SM_OK) {
            if (key < ACCOUNTS) {
                accounts++;
                total += value;
            }
        }
        sm_iter_free(it);
        if (rc != SM_NOT_FOUND || accounts != ACCOUNTS || total != expected_total) {
            fprintf(stderr, "iterate: walk %d saw %" PRIu64 " accounts, total %" PRIu64
                            " (%s)\n", walks, accounts, total, sm_status_str(rc));
            failures++;
        }
        walks++;
    }
    pthread_join(writer, NULL);
    sm_stats_info st = {.size = sizeof st};
    sm_stats(map, &st);
    sm_destroy(map);
    if (failures) {
        fprintf(stderr, "iterate: %d of %d walks were wrong\n", failures, walks);
        return EXIT_FAILURE;
    }
    printf("iterate: %d walks each saw all %d accounts exactly once while the map "
           "grew %" PRIu64 " and shrank %" PRIu64 " times\n",
           walks, ACCOUNTS, st.grows, st.shrinks);
    return EXIT_SUCCESS;
}
