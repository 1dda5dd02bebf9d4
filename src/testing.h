/*
 * testing.h — hooks for steadymap's own tests. Not installed, not part of the
 * public contract; tests include it with -I src and link the built library.
 */
#ifndef SM_TESTING_H
#define SM_TESTING_H

#include <stddef.h>
#include <stdint.h>

#include "steadymap.h"

/*
 * Check every structural invariant of the map (docs/DESIGN.md I1..In): each
 * live key is found from its home bucket, no key is present twice, the live
 * count equals sm_size(), occupancy counters match, and no bucket is locked.
 * The map must be quiescent (no concurrent call). Returns 0 when all hold,
 * otherwise -1 with a one-line reason written to why (if why_len > 0).
 */
int smi_check_invariants(sm_map *m, char *why, size_t why_len);

/*
 * Make the n-th allocation from now fail (n = 1: the very next one), process
 * wide, for every allocation the library makes (tables, maps, per-thread
 * records, string key copies). n = 0 turns failure injection off. Counts
 * allocations of all threads. String key copies are counted (here and in
 * smi_bytes_live) only once a test has called one of these three hooks, so
 * a test calls one before it creates its maps.
 */
void smi_fail_allocation_at(uint64_t n);

/* Allocations the library made so far, process wide (for scripting N). */
uint64_t smi_allocations(void);

/* Bytes the library currently holds from the allocator, process wide. */
uint64_t smi_bytes_live(void);

/*
 * Run the deferred frees that are safe now: tables no reader can still be in,
 * values (free_value) no reader can still hold and removed string keys' copies
 * no reader can still compare with. Returns how many were freed. Safe to call concurrently with anything but
 * sm_destroy, from a thread outside sm_pin.
 */
size_t smi_reclaim(sm_map *m);

/*
 * Keep only the hash bits in mask for the string keys of m, so that distinct
 * keys share full hashes and every comparison past the hash is exercised. Call
 * on a new, empty string-keyed map before any other call on it. Returns 0, or
 * -1 when m is NULL, not string-keyed or not empty.
 */
int smi_weaken_string_hash(sm_map *m, uint64_t mask);

/*
 * sm_get of a uint64 map without its argument checks and without its epoch
 * section: the same lookup, minus what makes it safe beside writers. Only for
 * a map no other thread calls meanwhile; the benchmark compares the two to
 * show what the read side's reclamation costs (docs/BENCHMARKS.md).
 */
int smi_get_unsynchronised(sm_map *m, uint64_t key, uint64_t *value);

/*
 * The calling thread's epoch record: 1 = it has one and holds it, 0 = it
 * still points at one it has released (which another thread may claim: a
 * bug), -1 = it has none.
 */
int smi_thread_record_state(void);

#ifdef SM_TEST_HOOKS
/*
 * Only in the library built with SM_TEST_HOOKS (tests/unit): called, when set,
 * by a write that found its key, right after it changed the slot and before
 * it unlocks the key's home, on the writing thread. A test uses it to act as a
 * second thread would in that window.
 */
extern void (*smi_hook_after_apply)(void);
/* Called before migrating old home b of a table of nbuckets, its lock held. */
extern void (*smi_hook_migrate_home)(uint64_t b, uint64_t nbuckets);
/* Called by the resizing writer after sizing the next table, before it
 * publishes it. */
extern void (*smi_hook_before_publish)(void);
/* Called when a writer has spun for another thread long enough to yield its
 * CPU instead (smi_backoff): the one place the library waits for a thread. */
extern void (*smi_hook_backoff_yield)(void);
#endif

#endif
