/*
 * probe_lengths.c — how far from their home bucket keys land, by occupancy.
 *
 * The evidence behind the 75% grow threshold (src/config.h, docs/DESIGN.md
 * "Layout"): for each occupancy, fill a table pre-sized so that it does not
 * resize, then walk every live slot and record its distance from its home.
 * Uses the library's internals (src/map_internal.h) to see the layout; it
 * changes nothing in the map.
 *
 *   build/bench/steadymap-probe-lengths [buckets]     (default 1048576)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "map_internal.h"

static void measure(uint64_t want_buckets, double occupancy)
{
    sm_options o = SM_OPTIONS_INIT;
    o.seed = 1;
    o.capacity = (uint64_t)((double)want_buckets * SM_SLOTS * 0.74);
    sm_map *m = sm_new(&o);
    if (!m) {
        perror("sm_new");
        exit(1);
    }
    sm_table *t = atomic_load(&m->root);
    uint64_t nb = t->nbuckets;
    uint64_t n = (uint64_t)((double)nb * SM_SLOTS * occupancy);
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        if (sm_put(m, x, i, NULL) < 0) {
            fprintf(stderr, "sm_put failed\n");
            exit(1);
        }
    }
    if (atomic_load(&m->root) != t) {
        fprintf(stderr, "the table resized; the measurement needs it not to\n");
        exit(1);
    }
    uint64_t hist[8] = {0}, overflow = 0, count = 0, longest = 0;
    double sum = 0;
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t meta = u64_load_relaxed(&t->buckets[b].meta);
        overflow += (meta & META_OVERFLOW) != 0;
        for (unsigned i = 0; i < SM_SLOTS; i++) {
            if (meta_tag(meta, i) < 2)
                continue;
            uint64_t h = hash_u64(&m->hash_key, u64_load_relaxed(&t->buckets[b].slot[i].key));
            uint64_t d = (b + nb - home_of_hash(t, h)) % nb;
            hist[d < 7 ? d : 7]++;
            longest = d + 1 > longest ? d + 1 : longest;
            sum += (double)(d + 1);
            count++;
        }
    }
    printf("%5.1f%%  %12.3f  %8" PRIu64 "  %9.1f%%  %7.1f%%  %7.1f%%  %7.1f%%\n", occupancy * 100,
           sum / (double)count, longest, 100.0 * (double)overflow / (double)nb,
           100.0 * (double)hist[0] / (double)count, 100.0 * (double)hist[1] / (double)count,
           100.0 * (double)(count - hist[0] - hist[1]) / (double)count);
    sm_destroy(m);
}

int main(int argc, char **argv)
{
    uint64_t buckets = argc > 1 ? strtoull(argv[1], NULL, 0) : 1048576;
    printf("buckets ~%" PRIu64 ", %u slots each, random keys, seed 1\n", buckets, SM_SLOTS);
    printf("occup.  buckets/hit  longest  overflowed  in home  1 away  further\n");
    const double occupancies[] = {0.375, 0.5, 0.6, 0.7, 0.75};
    for (size_t i = 0; i < sizeof occupancies / sizeof occupancies[0]; i++)
        measure(buckets, occupancies[i]);
    return 0;
}
