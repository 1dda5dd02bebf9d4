/*
 * memory.h — what a map costs in memory: bytes per entry at a given size, and
 * how much it gives back after most entries are deleted.
 *
 * Each measurement runs in a fresh process, so the resident set it reads is
 * the map's own and not what earlier runs left in the allocator.
 */
#ifndef LAB_MEMORY_H
#define LAB_MEMORY_H

#include <stdint.h>

#include "engine.h"
#include "harness/run.h"

typedef struct lab_memory_result {
    char engine[40];
    int skipped;                /* 1 = not measured; note says why */
    uint64_t keys;              /* entries inserted (keys lab_key_of(0..keys-1)) */
    uint64_t rss_base;          /* process RSS (bytes) just before create() */
    uint64_t rss_full;          /* after inserting every key */
    uint64_t rss_after_delete;  /* after deleting 90% of the keys */
    uint64_t engine_bytes_full; /* engine->bytes() at the same moments; 0 = n/a */
    uint64_t engine_bytes_after_delete;
    char note[160];             /* how the runtime was asked to give memory back, if at all */
} lab_memory_result;

/* This process's resident set now, in bytes (0 if /proc cannot tell): the
 * memory measurement's readings and run.c's 10 ms RSS timeline. */
uint64_t lab_rss_bytes(void);

/* Measures engine e at `keys` entries in a child process started from
 * s->self_exe (in this process when self_exe is NULL). Returns 0, or -1 when
 * the measurement could not be made (out->skipped and out->note say why). */
int lab_memory_measure(const lab_engine *e, uint64_t keys, const lab_settings *s,
                       lab_memory_result *out);

/*
 * Wall time a measurement at `keys` entries may take before its process is
 * killed and the row reported n/a: a minute, plus 10 µs per key (220 s at
 * 16M keys). The in-process engines took 9.6-36 s at 16M keys here
 * (docs/LAB.md); the limit exists because liburcu's rculfhash once spent 15
 * minutes in one child (docs/PEERS.md, urcu).
 */
uint64_t lab_memory_limit_ms(uint64_t keys);

/* The same measurement for an out-of-process engine, made by the peer's own
 * program (lab/external/). */
int lab_external_memory(const lab_engine *e, uint64_t keys, const lab_settings *s,
                        lab_memory_result *out);

#endif
