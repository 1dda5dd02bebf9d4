/*
 * syncmap.h — a look inside the syncmap engine (syncmap.c), for its tests.
 */
#ifndef LAB_SYNCMAP_H
#define LAB_SYNCMAP_H

#include <stdint.h>

typedef struct syncmap_debug_info {
    uint64_t promotions;      /* dirty maps published as the read map */
    uint64_t dirty_rebuilds;  /* O(n) copies of read into a new dirty map */
    uint64_t read_len;        /* keys in the read map (deleted ones included) */
    uint64_t dirty_len;       /* keys in the dirty map; 0 when there is none */
    int has_dirty;            /* a dirty map exists */
    int amended;              /* the dirty map holds keys the read map lacks */
    uint64_t misses;          /* read-map misses since the last promotion */
} syncmap_debug_info;

/* Takes the map's mutex; map must come from lab_engine_syncmap.create. */
void syncmap_debug(void *map, syncmap_debug_info *out);

#endif
