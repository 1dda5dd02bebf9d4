/*
 * run.h — one measured run: one scenario, one engine, one load model.
 *
 * Load models
 *   closed loop: each thread issues its next operation as soon as the last
 *     one returns, and latency is the operation's own duration. A stall
 *     delays only the operation it hits; the operations that would have
 *     arrived meanwhile are simply never issued, so the tail is
 *     under-reported ("coordinated omission").
 *   open loop: each thread has a schedule — operation i is due at
 *     start + i / rate — and latency is measured from that intended start
 *     (as wrk2 does). After a stall the thread is behind schedule and every
 *     operation that queued behind the stall carries its share of it. When
 *     the thread is early it waits for the due time: it sleeps and spins the
 *     last stretch when every thread has a core to itself, and only sleeps
 *     when threads outnumber cores (spinning threads would then starve each
 *     other). How late the harness woke is recorded as pacing lateness; it
 *     is the floor of open-loop latency on that machine.
 *     Exception: growth's writers are a bulk load and always run closed
 *     loop; the open loop paces growth's readers.
 *
 * Every worker keeps its own histogram and its own 10 ms timeline windows
 * (no sharing on the measured path); they are merged after the threads end.
 * The calling thread samples the process RSS every 10 ms while the workers
 * run and draws the progress line.
 */
#ifndef LAB_RUN_H
#define LAB_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "harness/histogram.h"
#include "scenarios/scenario.h"

typedef enum lab_load_model {
    LAB_CLOSED_LOOP = 0,
    LAB_OPEN_LOOP = 1
} lab_load_model;

const char *lab_load_model_name(lab_load_model m);

/* What the command line asked for; zero fields keep the scenario's value. */
typedef struct lab_settings {
    unsigned threads;
    unsigned duration_ms;
    uint64_t keys;
    double rate;            /* open loop: ops/s per thread */
    uint64_t seed;
    int quick;              /* durations / 5 and keys / 4, for smoke runs */
    int progress;           /* draw the progress line on stderr */
    const char *self_exe;   /* to start fresh-process scenarios; NULL = in-process */
} lab_settings;

#define LAB_TIMELINE_WINDOW_NS 10000000u

typedef struct lab_event_record {
    uint64_t t_ns;          /* since the start of the measured run */
    uint32_t kind;          /* lab_event_kind */
    uint32_t reserved0;
    uint64_t old_buckets, new_buckets;
} lab_event_record;

typedef struct lab_rss_sample {
    uint64_t t_ns;
    uint64_t rss_bytes;
} lab_rss_sample;

typedef struct lab_result {
    char scenario[40];
    char engine[40];
    lab_load_model model;
    int skipped;                /* 1 = not run; skip_reason says why */
    char skip_reason[120];

    unsigned threads;           /* measured threads (not the iterator) */
    uint64_t keys;
    unsigned duration_ms;
    double rate_per_thread;     /* open loop: the schedule's rate */
    double seconds;             /* first intended start to last completion */
    uint64_t ops;
    uint64_t err_value;         /* a get or a visit returned a wrong value */
    uint64_t err_missing;       /* a key that must be present was absent */
    uint64_t err_engine;        /* the engine returned < 0 */
    uint64_t not_issued;        /* open loop: scheduled ops never issued */
    int hit_cap;                /* the run was stopped at its time cap */
    uint64_t preemptions;       /* involuntary context switches of the
                                   measured threads: the scheduler took the
                                   CPU away this often mid-run */
    uint64_t stall_max_ns;      /* closed loop, in-process engines: the longest
                                   time a measured thread spent between two of
                                   its operations, in the harness's own loop
                                   (no engine code): a stall of the machine
                                   that any operation could have drawn. 0 = not
                                   measured */
    uint64_t iterations;        /* range: full passes of the iterator */
    double iteration_mean_ns;
    uint64_t pacing_late_p99_ns;/* open loop: harness wake-up lateness */
    int spin_pacing;            /* open loop: 1 = spin to each start, 0 = sleep */
    uint64_t engine_bytes;      /* engine->bytes() after the run, 0 = n/a */
    unsigned runs;              /* growth: fills of a fresh map added up here
                                   (lab_run); 1 elsewhere */

    lab_hist hist;              /* every measured operation */
    lab_hist get_hist;          /* the gets among them */
    lab_window *windows;        /* merged timeline, nwindows x 10 ms */
    size_t nwindows;
    lab_event_record *events;
    size_t nevents;
    lab_rss_sample *rss;
    size_t nrss;
} lab_result;

/* The effective parameters of a scenario under these settings. */
unsigned lab_effective_threads(const lab_scenario *sc, const lab_settings *s);
unsigned lab_effective_duration_ms(const lab_scenario *sc, const lab_settings *s);
uint64_t lab_effective_keys(const lab_scenario *sc, const lab_settings *s);
double lab_effective_rate(const lab_scenario *sc, const lab_settings *s);

/*
 * How a run's parameters follow from the scenario, the model and the
 * settings: shared with lab/external/, which hands them to a peer program,
 * so that an out-of-process run uses exactly the values an in-process one
 * would.
 */
unsigned lab_run_writers(const lab_scenario *sc, unsigned threads); /* GROWTH; else 0 */
uint64_t lab_run_cap_ms(const lab_scenario *sc, lab_load_model model, unsigned duration_ms);
uint64_t lab_run_salt(uint64_t seed);                       /* key i = lab_key_of(i, salt) */
uint64_t lab_worker_seed(uint64_t seed, unsigned worker);   /* worker i's lab_rng_seed */
int lab_spin_pacing(unsigned nworkers);                     /* open loop: spin or sleep */

/* A result with the scenario's effective parameters filled in and nothing
 * measured yet; NULL when out of memory. */
lab_result *lab_result_new(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                           const lab_settings *s);
void lab_result_skip(lab_result *r, const char *why);

/* The progress line on stderr (frac in [0, 1]; final ends the line). */
void lab_progress(const char *scenario, const char *engine, lab_load_model model, double frac,
                  int final);

/*
 * Runs the scenario. Never returns NULL except when out of memory; an engine
 * that cannot run the scenario (no iterate for range, create() failed) gives
 * a result with .skipped set. Scenarios with .fresh_process run in a child
 * started from settings->self_exe when it is set. Out-of-process engines
 * (e->out_of_process) are run by their peer program (lab/external/).
 * Growth, which ends when its last key is in, is filled again on fresh maps
 * until its runs add up to the scenario's duration; the result is their sum
 * (.runs says how many).
 */
lab_result *lab_run(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                    const lab_settings *s);
void lab_result_free(lab_result *r);

/* How lab_run adds one growth run to the sum: counts and histograms added,
 * the run's timeline (windows, events, RSS samples) placed after everything
 * res's holds. 0, or -1 when out of memory (res unchanged in meaning). */
int lab_result_append(lab_result *res, const lab_result *more);

/* Write or read exactly n bytes (retrying short transfers and EINTR), as
 * fresh-process children hand results back. Return 0, or -1. */
int lab_write_all(int fd, const void *p, size_t n);
int lab_read_all(int fd, void *p, size_t n);

/* Waits for child pid to end, at most limit_ms of wall time (0: only reaps a
 * child that has already ended): a peer library that hangs must not hang
 * the whole comparison. Returns 0 when it ended by itself, 1 when the limit
 * passed and it was killed (SIGKILL, then reaped), with its wait status in
 * *status either way; -1 when pid is no child of this process. */
int lab_wait_child(pid_t pid, uint64_t limit_ms, int *status);

/* The child's half of a fresh-process run: run in this process and write the
 * result to fd. Returns 0 or -1. */
int lab_run_child(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                  const lab_settings *s, int fd);

#endif
