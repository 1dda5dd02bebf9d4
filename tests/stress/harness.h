/*
 * harness.h — the machinery stress.c and string_stress.c share, so the
 * discipline both rest on is written, and fixed, once: key ranges with one
 * owner thread each, the owners' begun/done records, the checks a read of
 * another owner's key must pass against them, the phases (grow, shrink,
 * contention) separated by barriers, and the quiescent check of the whole
 * map after each phase. A program brings its key space (how key number n
 * becomes a key, how a value names its key) and its work as a
 * stress_program, and its own per-worker state indexed by worker id.
 *
 * Key numbers. Range r holds the numbers r * keys_per_range to
 * (r + 1) * keys_per_range - 1, total_keys in all; a key is named by its
 * number everywhere here.
 *
 * Records. Per key the owner publishes two words: `begun`, stored before a
 * write call, and `done`, stored after it returns (each the write's
 * sequence, its thread and whether it leaves the key present), and, before
 * a write that deletes the key, that write's sequence as `delete_begun`. A
 * thread reading another owner's key loads done, calls the map, loads begun;
 * linearizability (T4) then bounds what the call may return: nothing older
 * than the write completed before it started, nothing newer than the write
 * begun before it returned, and not "absent" when done says present and no
 * delete had begun by the time it returned (puts and replaces overlapping
 * the call never make a key absent). Readers also remember the newest
 * sequence they saw on each range's first HOT_KEYS keys and fail on any
 * older one seen later.
 */
#ifndef SM_STRESS_HARNESS_H
#define SM_STRESS_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "steadymap.h"

#define MAX_THREADS 31    /* a value holds the thread id in 5 bits */
#define HOT_KEYS 64u      /* per range: written often, watched by readers */
#define BATCH 4           /* keys per get_many call */

/* The begun/done words: sequence << 6 | thread << 1 | present. */
#define WORD(seq, tid, present) ((uint64_t)(seq) << 6 | (uint64_t)(tid) << 1 | (uint64_t)(present))
#define WORD_SEQ(w) ((w) >> 6)
#define WORD_TID(w) ((unsigned)((w) >> 1 & 31))
#define WORD_PRESENT(w) ((bool)((w) & 1))

typedef enum role { OWNER, READER } role;

typedef struct worker {
    unsigned id;
    pthread_t thread;
    uint64_t rng;
    role role;
    unsigned owned[MAX_THREADS];    /* ranges this worker writes this phase */
    unsigned n_owned;
    unsigned foreign[MAX_THREADS];  /* ranges it may only read */
    unsigned n_foreign;
    uint64_t reads;                 /* foreign reads to do, for a READER */
    uint64_t *hot_seen;             /* [range * HOT_KEYS + i]: newest seq seen */
    /* Counts, so the summary shows the checks had something to check. */
    uint64_t ops;
    uint64_t foreign_found;
    uint64_t foreign_absent;
    uint64_t hot_advanced;  /* hot-key reads that saw a newer write than before */
} worker;

typedef struct stress_program {
    const char *name;  /* opens the final line */

    /* The key space. key_name says how failure lines name a key;
     * decode is true when v is a value written for key `id` (and says by
     * whom, with which sequence); describe says what a value is. */
    const char *(*key_name)(uint64_t id, char *buf, size_t len);
    bool (*decode)(uint64_t id, uint64_t v, unsigned *tid, uint64_t *seq);
    uint64_t (*encode)(uint64_t id, unsigned tid, uint64_t seq);
    const char *(*describe)(uint64_t id, uint64_t v, char *buf, size_t len);
    /* A plain lookup, for the quiescent check, and its name in failures. */
    int (*lookup)(uint64_t id, uint64_t *v);
    const char *lookup_name;

    /* A grow or shrink phase: each owner calls step for j = 0 ..
     * total - 1 over its owned keys (see owned_key); each READER calls
     * foreign_read `reads` times. */
    void (*step)(worker *w, uint64_t j, uint64_t total, bool growing);
    void (*foreign_read)(worker *w);
    /* A worker's part of a PHASE_CONTENTION; NULL if the program has none. */
    void (*contention)(worker *w);
    /* When set, one more thread runs it in every phase, alongside the
     * workers; it should return once workers_finished(). */
    void (*watch)(void);
    /* The program's own quiescent checks; returns how many entries they
     * account for beyond the owners' keys (sm_size must match the sum). */
    uint64_t (*verify)(void);
    /* Prints the line that reports a finished phase. */
    void (*report)(const char *name, double seconds, const sm_stats_info *st);
} stress_program;

typedef enum phase_kind { PHASE_GROW, PHASE_SHRINK, PHASE_CONTENTION } phase_kind;

extern sm_map *map;
extern unsigned n_threads;
extern uint64_t keys_per_range;
extern uint64_t total_keys;
extern uint64_t seed;

/* Counts a failure and prints the first few, with the phase and the seed. */
void fail(const char *fmt, ...);

/* Uniform in [0, n) from the worker's own stream. */
uint64_t below(worker *w, uint64_t n);
/* calloc, or exit(1). */
void *must_calloc(size_t n, size_t size);

static inline uint64_t key_number(unsigned r, uint64_t i)
{
    return (uint64_t)r * keys_per_range + i;
}

/* Worker-local index j over all its owned keys -> key number. */
uint64_t owned_key(const worker *w, uint64_t j);
/* A key of another owner: half the time one of a range's hot keys. */
uint64_t pick_foreign(worker *w);
/* BATCH distinct such keys, so the hot-key order check stays meaningful
 * within one get_many call (which is not atomic as a whole). */
void pick_foreign_batch(worker *w, uint64_t id[BATCH]);

/* The owner's own record of its key: no other thread writes it. */
uint64_t own_done(uint64_t id);
/* The owner's stores around a write call that changes the key. */
void publish_begun(uint64_t id, uint64_t word);
void publish_done(uint64_t id, uint64_t word);
/* A reader's loads: done before its call, begun after it. */
uint64_t load_done(uint64_t id);
uint64_t load_begun(uint64_t id);

/*
 * Check a value v seen for key `id` by thread `self` (in a lookup or a walk)
 * against the done word loaded before the call and the begun word loaded
 * after. False when v was never written for this key; otherwise *seq is its
 * sequence, even when the check failed.
 */
bool check_value(unsigned self, uint64_t id, uint64_t v, uint64_t before, uint64_t after,
                 const char *call, uint64_t *seq);
/* A lookup of another owner's key returned (rc, v): checked as above, and
 * hot keys in the order this worker saw them. */
void check_foreign(worker *w, uint64_t id, int rc, uint64_t v, uint64_t before, uint64_t after,
                   const char *call);
/* A get_many over pick_foreign_batch's keys returned rc, values and flags. */
void check_batch(worker *w, const uint64_t id[BATCH], const uint64_t before[BATCH], int rc,
                 const uint64_t value[BATCH], const uint8_t found[BATCH], const char *call);

/*
 * The run, in the order a main calls it. harness_init reads the thread
 * count (argv[1], default STRESS_THREADS) and the seed, and sizes the key
 * space; exits 2 on a bad count. The program then creates `map`;
 * harness_start starts the threads.
 */
void harness_init(int argc, char **argv, uint64_t keys, const stress_program *program);
void harness_start(void);

/*
 * Give out the ranges: with `readers` == 0 each worker owns its own range;
 * otherwise the last `readers` workers own nothing and the others share all
 * ranges round-robin. The map is quiescent, so ownership may move.
 */
void assign(unsigned readers);
/* Run one phase on all threads, then check the quiescent map. */
void run_phase(phase_kind kind, const char *name);
/* `cycles` grow/shrink pairs with every worker an owner, then one pair with
 * half the workers only reading. */
void run_grow_shrink_phases(int cycles);
/* True once every worker has finished the current phase. */
bool workers_finished(void);
sm_stats_info stats(void);

/* Ends the threads and starts the summary line with the workers' counts;
 * the program ends that line with its own. */
void harness_stop(void);
/* Destroys the map, frees, prints the verdict; returns main's status. */
int harness_finish(void);

#endif
