#define _GNU_SOURCE
#include "harness/run.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "external/external.h"
#include "harness/clock.h"
#include "harness/keys.h"
#include "harness/memory.h"

extern char **environ;

/* Events are rare (a few per doubling); more than this means an engine
 * reports something else, and the timeline would be unreadable anyway. */
#define EVENT_CAPACITY 4096
/* After its last scheduled start an open-loop run gets this much extra time
 * (or its own duration, if longer) to work off a backlog. */
#define OPEN_LOOP_GRACE_MS 1000u

const char *lab_load_model_name(lab_load_model m)
{
    return m == LAB_OPEN_LOOP ? "open" : "closed";
}

static unsigned online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

unsigned lab_effective_threads(const lab_scenario *sc, const lab_settings *s)
{
    if (s->threads && !sc->fixed_threads)
        return s->threads;
    if (sc->threads)
        return sc->threads;
    unsigned t = sc->threads_per_core * online_cores();
    /* growth needs a writer and at least one reader */
    if (sc->workload == LAB_WORKLOAD_GROWTH && t < sc->writers + 1)
        t = sc->writers + 1;
    return t;
}

unsigned lab_effective_duration_ms(const lab_scenario *sc, const lab_settings *s)
{
    if (s->duration_ms)
        return s->duration_ms;
    return s->quick ? sc->duration_ms / 5 : sc->duration_ms;
}

uint64_t lab_effective_keys(const lab_scenario *sc, const lab_settings *s)
{
    if (s->keys)
        return s->keys;
    return s->quick ? sc->keys / 4 : sc->keys;
}

double lab_effective_rate(const lab_scenario *sc, const lab_settings *s)
{
    return s->rate > 0 ? s->rate : sc->open_rate;
}

unsigned lab_run_writers(const lab_scenario *sc, unsigned threads)
{
    if (sc->workload != LAB_WORKLOAD_GROWTH)
        return 0;
    unsigned writers = sc->writers;
    if (writers >= threads)
        writers = threads - 1 ? threads - 1 : 1;
    return writers;
}

uint64_t lab_run_cap_ms(const lab_scenario *sc, lab_load_model model, unsigned duration_ms)
{
    /* Growth runs until its last key is in, however long a slow engine
     * takes, up to ten times the nominal duration. */
    uint64_t d = duration_ms;
    if (sc->workload == LAB_WORKLOAD_GROWTH)
        return d * 10 + 5000;
    if (model == LAB_OPEN_LOOP)
        return d + (d > OPEN_LOOP_GRACE_MS ? d : OPEN_LOOP_GRACE_MS);
    return d + 1000;
}

uint64_t lab_run_salt(uint64_t seed)
{
    return lab_mix(seed ^ 0x6a09e667f3bcc909u);
}

uint64_t lab_worker_seed(uint64_t seed, unsigned worker)
{
    return seed * 0x100000001b3u + worker;
}

int lab_spin_pacing(unsigned nworkers)
{
    /* Spinning threads that outnumber the cores would starve each other
     * and the harness would measure its own waiting; then they sleep. */
    return nworkers <= online_cores();
}

enum role { ROLE_MIXED, ROLE_WRITER, ROLE_READER, ROLE_CHURN, ROLE_ITERATOR };
enum op_kind { OP_GET, OP_PUT, OP_DEL };

typedef struct op {
    enum op_kind kind;
    uint64_t key;
    int must_exist;   /* a get/del that finds nothing is an error */
} op;

typedef struct run run;

typedef struct worker {
    run *r;
    unsigned id;
    enum role role;
    pthread_t thread;
    lab_rng rng;
    /* Gets and writes apart: the tail a reader sees is what a target about
     * reads judges, and a writer's share of a migration must not hide in
     * it or be blamed on it. Two histograms cost nothing per operation. */
    lab_hist get_hist, write_hist;
    lab_hist late;             /* open loop: how late the harness woke */
    lab_window *windows;
    size_t window_index, windows_used;
    uint64_t window_end;
    uint64_t last_end;
    uint64_t err_value, err_missing, err_engine, not_issued;
    uint64_t preempted;        /* involuntary context switches while measuring */
    uint64_t stall_max;        /* closed loop: longest gap between two of its
                                  operations, in ticks (harness code only) */
    int hit_cap;
    /* WRITER: next stride index; CHURN: live window [lo, hi) */
    uint64_t next, lo, hi;
    /* ITERATOR */
    uint64_t passes, pass_ns_total;
    /* WRITER: keys inserted so far, read by readers (release/acquire:
     * a reader that sees n knows the first n puts returned) */
    _Alignas(64) _Atomic uint64_t inserted;
} worker;

struct run {
    const lab_scenario *sc;
    const lab_engine *e;
    void *map;
    lab_load_model model;
    unsigned threads, writers;
    uint64_t keys, salt;
    double rate;
    int spin_pacing;           /* open loop: spin the last stretch to a start */
    lab_zipf zipf;
    size_t window_capacity;
    uint64_t t0, end_ticks, cap_ticks, window_ticks;
    pthread_barrier_t start;
    _Atomic unsigned writers_running;
    _Atomic uint64_t writers_end;  /* growth: when the last writer returned */
    _Atomic unsigned measured_running;
    worker *w;                 /* threads measured workers, then the iterator */
    pthread_mutex_t event_lock;
    lab_event_record *events;
    size_t nevents;
    uint64_t event_ticks[EVENT_CAPACITY];
};

/* ---- one operation -------------------------------------------------------- */

static int next_op(worker *w, op *o)
{
    run *r = w->r;
    const lab_scenario *sc = r->sc;
    switch (w->role) {
    case ROLE_MIXED: {
        uint64_t idx = sc->key_distribution == LAB_KEYS_ZIPF ? lab_zipf_next(&r->zipf, &w->rng)
                                                             : lab_rng_below(&w->rng, r->keys);
        unsigned pick = (unsigned)lab_rng_below(&w->rng, 100);
        o->kind = pick < sc->mix.get ? OP_GET : pick < sc->mix.get + sc->mix.put ? OP_PUT : OP_DEL;
        o->key = lab_key_of(idx, r->salt);
        /* every key of the space was pre-filled and nothing deletes */
        o->must_exist = sc->mix.del == 0;
        return 1;
    }
    case ROLE_WRITER: {
        uint64_t idx = w->id + w->next * r->writers;
        if (idx >= r->keys)
            return 0;
        o->kind = OP_PUT;
        o->key = lab_key_of(idx, r->salt);
        o->must_exist = 0;
        return 1;
    }
    case ROLE_READER: {
        unsigned wr = (unsigned)lab_rng_below(&w->rng, r->writers);
        uint64_t n = atomic_load_explicit(&r->w[wr].inserted, memory_order_acquire);
        o->kind = OP_GET;
        if (n == 0) {
            o->key = lab_key_of(lab_rng_below(&w->rng, r->keys), r->salt);
            o->must_exist = 0;
        } else {
            o->key = lab_key_of(wr + lab_rng_below(&w->rng, n) * r->writers, r->salt);
            o->must_exist = 1;
        }
        return 1;
    }
    case ROLE_CHURN: {
        uint64_t live = r->keys / r->threads;
        unsigned pick = (unsigned)lab_rng_below(&w->rng, 100);
        if (w->hi == w->lo) {
            o->kind = OP_PUT; /* nothing live to read or delete yet */
            o->key = lab_key_of(w->id + w->hi++ * r->threads, r->salt);
        } else if (pick < sc->mix.get) {
            o->kind = OP_GET;
            o->key = lab_key_of(w->id + (w->lo + lab_rng_below(&w->rng, w->hi - w->lo)) * r->threads,
                                r->salt);
        } else if (w->hi - w->lo <= live) {
            o->kind = OP_PUT;
            o->key = lab_key_of(w->id + w->hi++ * r->threads, r->salt);
        } else {
            o->kind = OP_DEL;
            o->key = lab_key_of(w->id + w->lo++ * r->threads, r->salt);
        }
        /* only this thread inserts or deletes its own keys */
        o->must_exist = o->kind != OP_PUT;
        return 1;
    }
    case ROLE_ITERATOR:
        break;
    }
    return 0;
}

static void record(worker *w, enum op_kind kind, uint64_t start, uint64_t end)
{
    run *r = w->r;
    uint64_t ns = lab_ticks_to_ns(end - start);
    lab_hist_record(kind == OP_GET ? &w->get_hist : &w->write_hist, ns);
    if (end >= w->window_end) {
        size_t idx = end > r->t0 ? (size_t)((end - r->t0) / r->window_ticks) : 0;
        if (idx >= r->window_capacity)
            idx = r->window_capacity - 1;
        w->window_index = idx;
        w->window_end = r->t0 + (idx + 1) * r->window_ticks;
        if (idx + 1 > w->windows_used)
            w->windows_used = idx + 1;
    }
    lab_window_record(&w->windows[w->window_index], ns);
    w->last_end = end;
}

static void check(worker *w, const op *o, int rc, uint64_t value)
{
    if (rc < 0) {
        w->err_engine++;
        return;
    }
    switch (o->kind) {
    case OP_GET:
        if (rc == 0 && o->must_exist)
            w->err_missing++;
        else if (rc > 0 && value != lab_value_of(o->key))
            w->err_value++;
        break;
    case OP_DEL:
        if (rc == 0 && o->must_exist)
            w->err_missing++;
        break;
    case OP_PUT:
        break;
    }
}

static void after_put(worker *w)
{
    if (w->role == ROLE_WRITER) {
        w->next++;
        atomic_store_explicit(&w->inserted, w->next, memory_order_release);
    }
}

/* The longest string key a scenario may ask for (lab_key_string's buffer). */
#define LAB_KEY_BYTES_MAX 256

/* One engine call on key k, through the engine's string interface when the
 * scenario has string keys. Building the string is part of the measured
 * operation: the same few ns for every engine. */
static int call_get(const run *r, uint64_t k, uint64_t *value)
{
    if (!r->sc->key_bytes)
        return r->e->get(r->map, k, value);
    char key[LAB_KEY_BYTES_MAX];
    lab_key_string(k, key, r->sc->key_bytes);
    return r->e->get_str(r->map, key, r->sc->key_bytes, value);
}

static int call_put(const run *r, uint64_t k, uint64_t value)
{
    if (!r->sc->key_bytes)
        return r->e->put(r->map, k, value);
    char key[LAB_KEY_BYTES_MAX];
    lab_key_string(k, key, r->sc->key_bytes);
    return r->e->put_str(r->map, key, r->sc->key_bytes, value);
}

static int call_del(const run *r, uint64_t k)
{
    if (!r->sc->key_bytes)
        return r->e->del(r->map, k);
    char key[LAB_KEY_BYTES_MAX];
    lab_key_string(k, key, r->sc->key_bytes);
    return r->e->del_str(r->map, key, r->sc->key_bytes);
}

static int execute(worker *w, const op *o, uint64_t start)
{
    run *r = w->r;
    uint64_t value = 0;
    int rc;
    switch (o->kind) {
    case OP_GET:
        rc = call_get(r, o->key, &value);
        break;
    case OP_PUT:
        rc = call_put(r, o->key, lab_value_of(o->key));
        break;
    default:
        rc = call_del(r, o->key);
        break;
    }
    uint64_t end = lab_ticks();
    record(w, o->kind, start, end);
    check(w, o, rc, value);
    if (o->kind == OP_PUT && rc >= 0)
        after_put(w);
    return rc;
}

/* ---- the two load models -------------------------------------------------- */

/* Readers of growth run until the last writer is done; everyone else until
 * the scenario's time is up. */
static int others_done(const worker *w)
{
    return w->role == ROLE_READER &&
           atomic_load_explicit(&w->r->writers_running, memory_order_relaxed) == 0;
}

/* An open-loop reader of growth also issues every get that was due before the
 * writers finished: one that fell behind (preempted, or stalled by the map)
 * would otherwise drop the backlog its stall built, and the gets that waited
 * longest would never be counted (coordinated omission at the end of a fill). */
static int reader_done_at(const worker *w, uint64_t intended)
{
    /* Acquire pairs with the writers' release decrement: writers_end is the
     * last writer's, stored before it. */
    if (w->role != ROLE_READER ||
        atomic_load_explicit(&w->r->writers_running, memory_order_acquire) != 0)
        return 0;
    return intended >= atomic_load_explicit(&w->r->writers_end, memory_order_relaxed);
}

static void closed_loop(worker *w)
{
    run *r = w->r;
    int timed = w->role != ROLE_WRITER && w->role != ROLE_READER;
    op o;
    for (uint64_t i = 0;; i++) {
        if ((i & 15) == 0) {
            uint64_t now = lab_ticks();
            if (now >= r->cap_ticks) {
                w->hit_cap = 1;
                break;
            }
            if ((timed && now >= r->end_ticks) || others_done(w))
                break;
        }
        if (!next_op(w, &o))
            break;
        uint64_t start = lab_ticks();
        if (w->last_end && start > w->last_end && start - w->last_end > w->stall_max)
            w->stall_max = start - w->last_end;
        execute(w, &o, start);
    }
}

static void open_loop(worker *w, double rate)
{
    run *r = w->r;
    int timed = w->role != ROLE_WRITER && w->role != ROLE_READER;
    double interval = (double)lab_ns_to_ticks(1000000000u) / rate;
    /* Threads start spread over one interval, not all at once. */
    uint64_t phase = r->t0 + (uint64_t)(interval * w->id / (r->threads ? r->threads : 1));
    op o;
    for (uint64_t i = 0;; i++) {
        uint64_t intended = phase + (uint64_t)(interval * (double)i);
        if ((timed && intended >= r->end_ticks) || reader_done_at(w, intended))
            break;
        uint64_t now = lab_ticks();
        if (now >= r->cap_ticks) {
            w->hit_cap = 1;
            if (timed)
                w->not_issued = (uint64_t)((double)(r->end_ticks - intended) / interval) + 1;
            break;
        }
        if (!next_op(w, &o))
            break;
        if (now < intended) {
            lab_wait_until(intended, r->spin_pacing);
            lab_hist_record(&w->late, lab_ticks_to_ns(lab_ticks() - intended));
        }
        execute(w, &o, intended);
    }
}

/* One pass of the iterator: which of the pre-filled keys it has seen. */
typedef struct pass_check {
    uint64_t *seen_bits;  /* bit i: key index i was visited */
    uint64_t keys, salt;
    uint64_t distinct;    /* pre-filled keys visited at least once */
    uint64_t wrong;       /* wrong values, and keys never put */
} pass_check;

static int visit(uint64_t key, uint64_t value, void *ctx)
{
    pass_check *pc = ctx;
    uint64_t i = lab_index_of(key, pc->salt);
    if (i >= pc->keys || value != lab_value_of(key)) {
        pc->wrong++;
        return 0;
    }
    uint64_t bit = (uint64_t)1 << (i % 64);
    if (!(pc->seen_bits[i / 64] & bit)) {
        pc->seen_bits[i / 64] |= bit;
        pc->distinct++;
    }
    return 0;
}

static void iterate_loop(worker *w)
{
    run *r = w->r;
    size_t words = (size_t)((r->keys + 63) / 64);
    pass_check pc = { .seen_bits = calloc(words ? words : 1, sizeof(uint64_t)),
                      .keys = r->keys, .salt = r->salt };
    if (!pc.seen_bits) {
        w->err_engine++;  /* the lab's own buffer: the run is not valid */
        return;
    }
    while (atomic_load_explicit(&r->measured_running, memory_order_relaxed) > 0) {
        memset(pc.seen_bits, 0, words * sizeof(uint64_t));
        pc.distinct = pc.wrong = 0;
        uint64_t a = lab_ticks();
        long n = r->e->iterate(r->map, visit, &pc);
        uint64_t b = lab_ticks();
        w->passes++;
        w->pass_ns_total += lab_ticks_to_ns(b - a);
        w->err_value += pc.wrong;
        if (n < 0)
            w->err_engine++;
        /* Every key was pre-filled and none is deleted: a full pass must
         * visit each of them; counting entries alone would let a key seen
         * twice hide one skipped. */
        else if (pc.distinct < r->keys)
            w->err_missing++;
    }
    free(pc.seen_bits);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    if (r->e->thread_attach)
        r->e->thread_attach(r->map);
    pthread_barrier_wait(&r->start);
    /* Everyone starts at t0, so no operation completes before the timeline
     * begins. */
    lab_wait_until(r->t0, 1);
    struct rusage before, after;
    int have_usage = getrusage(RUSAGE_THREAD, &before) == 0;
    if (w->role == ROLE_ITERATOR) {
        iterate_loop(w);
    } else {
        /* Growth's writers are a bulk load: they insert as fast as the map
         * lets them under both models, and the open loop paces the readers,
         * whose requests are what a stall hurts. */
        if (r->model == LAB_OPEN_LOOP && w->role != ROLE_WRITER)
            open_loop(w, r->rate);
        else
            closed_loop(w);
        if (w->role == ROLE_WRITER) {
            /* The latest writer's end: relaxed, as the release decrement
             * below publishes it to the readers. */
            uint64_t end = lab_ticks();
            uint64_t seen = atomic_load_explicit(&r->writers_end, memory_order_relaxed);
            while (seen < end && !atomic_compare_exchange_weak_explicit(
                                     &r->writers_end, &seen, end, memory_order_relaxed,
                                     memory_order_relaxed))
                ;
            atomic_fetch_sub_explicit(&r->writers_running, 1, memory_order_release);
        }
        if (have_usage && getrusage(RUSAGE_THREAD, &after) == 0)
            w->preempted = (uint64_t)(after.ru_nivcsw - before.ru_nivcsw);
        atomic_fetch_sub(&r->measured_running, 1);
    }
    if (r->e->thread_detach)
        r->e->thread_detach(r->map);
    return NULL;
}

/* ---- set-up, sampling, merging -------------------------------------------- */

static void on_event(lab_event_kind kind, uint64_t old_buckets, uint64_t new_buckets, void *ctx)
{
    run *r = ctx;
    uint64_t now = lab_ticks();
    pthread_mutex_lock(&r->event_lock);
    if (r->nevents < EVENT_CAPACITY) {
        r->event_ticks[r->nevents] = now;
        r->events[r->nevents].kind = (uint32_t)kind;
        r->events[r->nevents].old_buckets = old_buckets;
        r->events[r->nevents].new_buckets = new_buckets;
        r->nevents++;
    }
    pthread_mutex_unlock(&r->event_lock);
}

static int prefill(run *r)
{
    const lab_engine *e = r->e;
    if (e->thread_attach)
        e->thread_attach(r->map);
    int rc = 0;
    if (r->sc->workload == LAB_WORKLOAD_MIXED) {
        for (uint64_t i = 0; i < r->keys && rc >= 0; i++) {
            uint64_t k = lab_key_of(i, r->salt);
            rc = call_put(r, k, lab_value_of(k));
        }
    } else if (r->sc->workload == LAB_WORKLOAD_CHURN) {
        uint64_t live = r->keys / r->threads;
        for (unsigned t = 0; t < r->threads; t++) {
            for (uint64_t j = 0; j < live && rc >= 0; j++) {
                uint64_t k = lab_key_of(t + j * r->threads, r->salt);
                rc = call_put(r, k, lab_value_of(k));
            }
            r->w[t].lo = 0;
            r->w[t].hi = live;
        }
    }
    if (e->thread_detach)
        e->thread_detach(r->map);
    return rc < 0 ? -1 : 0;
}

void lab_progress(const char *scenario, const char *engine, lab_load_model model, double frac,
                  int final)
{
    /* A log file gets one line per run, a terminal a line redrawn in place. */
    static int tty = -1;
    if (tty < 0)
        tty = isatty(STDERR_FILENO);
    if (!tty && !final)
        return;
    if (frac > 1)
        frac = 1;
    fprintf(stderr, "%s  %-20s %-10s %-6s %3.0f%%%s", tty ? "\r" : "", scenario, engine,
            lab_load_model_name(model), final ? 100.0 : frac * 100, final ? "\n" : "");
    fflush(stderr);
}

static void progress_line(const run *r, lab_load_model model, uint64_t now, int final)
{
    double frac;
    if (r->sc->workload == LAB_WORKLOAD_GROWTH) {
        uint64_t in = 0;
        for (unsigned i = 0; i < r->writers; i++)
            in += atomic_load_explicit(&r->w[i].inserted, memory_order_relaxed);
        frac = (double)in / (double)r->keys;
    } else {
        frac = now > r->t0 ? (double)(now - r->t0) / (double)(r->end_ticks - r->t0) : 0;
    }
    lab_progress(r->sc->name, r->e->name, model, frac, final);
}

void lab_result_skip(lab_result *res, const char *why)
{
    res->skipped = 1;
    snprintf(res->skip_reason, sizeof res->skip_reason, "%s", why);
}

lab_result *lab_result_new(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                           const lab_settings *s)
{
    lab_result *res = calloc(1, sizeof *res);
    if (!res)
        return NULL;
    snprintf(res->scenario, sizeof res->scenario, "%s", sc->name);
    snprintf(res->engine, sizeof res->engine, "%s", e->name);
    res->model = model;
    res->threads = lab_effective_threads(sc, s);
    res->keys = lab_effective_keys(sc, s);
    res->duration_ms = lab_effective_duration_ms(sc, s);
    res->rate_per_thread = model == LAB_OPEN_LOOP ? lab_effective_rate(sc, s) : 0;
    res->runs = 1;
    lab_hist_init(&res->hist);
    lab_hist_init(&res->get_hist);
    return res;
}

static void merge_into(lab_result *res, run *r, unsigned nworkers, size_t nrss)
{
    size_t used = 0;
    lab_hist late;
    lab_hist_init(&late);
    uint64_t last_end = r->t0;
    for (unsigned i = 0; i < nworkers; i++) {
        worker *w = &r->w[i];
        res->err_value += w->err_value;
        res->err_missing += w->err_missing;
        res->err_engine += w->err_engine;
        res->hit_cap |= w->hit_cap;
        if (w->role == ROLE_ITERATOR) {
            res->iterations += w->passes;
            if (w->passes)
                res->iteration_mean_ns = (double)w->pass_ns_total / (double)w->passes;
            continue;
        }
        res->not_issued += w->not_issued;
        res->preemptions += w->preempted;
        if (lab_ticks_to_ns(w->stall_max) > res->stall_max_ns)
            res->stall_max_ns = lab_ticks_to_ns(w->stall_max);
        lab_hist_merge(&res->hist, &w->get_hist);
        lab_hist_merge(&res->hist, &w->write_hist);
        lab_hist_merge(&res->get_hist, &w->get_hist);
        lab_hist_merge(&late, &w->late);
        if (w->windows_used > used)
            used = w->windows_used;
        if (w->last_end > last_end)
            last_end = w->last_end;
    }
    res->ops = res->hist.count;
    res->seconds = (double)lab_ticks_to_ns(last_end - r->t0) / 1e9;
    res->pacing_late_p99_ns = lab_hist_percentile(&late, 99);
    res->windows = calloc(used ? used : 1, sizeof *res->windows);
    if (res->windows) {
        res->nwindows = used;
        for (unsigned i = 0; i < nworkers; i++)
            if (r->w[i].role != ROLE_ITERATOR)
                for (size_t j = 0; j < r->w[i].windows_used; j++)
                    lab_window_merge(&res->windows[j], &r->w[i].windows[j]);
    }
    size_t n = 0;
    for (size_t i = 0; i < r->nevents; i++) {
        if (r->event_ticks[i] < r->t0)
            continue;
        r->events[n] = r->events[i];
        r->events[n].t_ns = lab_ticks_to_ns(r->event_ticks[i] - r->t0);
        n++;
    }
    res->events = r->events;
    res->nevents = n;
    r->events = NULL;
    res->nrss = nrss;
}

static lab_result *run_here(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                            const lab_settings *s)
{
    lab_result *res = lab_result_new(sc, e, model, s);
    if (!res)
        return NULL;
    if (sc->iterator && !e->iterate) {
        lab_result_skip(res, "n/a: engine cannot iterate");
        return res;
    }
    if (e->reading_only && (sc->workload != LAB_WORKLOAD_MIXED || !sc->presized ||
                            sc->mix.del || sc->iterator || sc->key_bytes)) {
        lab_result_skip(res, "n/a: a reading, not a map: only where every get hits a pre-filled key");
        return res;
    }
    if (e->single_thread_only && (res->threads > 1 || sc->iterator)) {
        lab_result_skip(res, "n/a: engine is single-threaded only");
        return res;
    }
    if (sc->key_bytes && (!e->create_str || sc->iterator || sc->key_bytes < 16 ||
                          sc->key_bytes > LAB_KEY_BYTES_MAX)) {
        lab_result_skip(res, e->create_str ? "n/a: the lab cannot run this string-key scenario"
                                           : "n/a: engine has no string keys");
        return res;
    }
    run *r = calloc(1, sizeof *r);
    if (!r) {
        free(res);
        return NULL;
    }
    r->sc = sc;
    r->e = e;
    r->model = model;
    r->threads = res->threads;
    r->writers = lab_run_writers(sc, r->threads);
    r->keys = res->keys;
    r->salt = lab_run_salt(s->seed);
    r->rate = res->rate_per_thread;
    if (sc->key_distribution == LAB_KEYS_ZIPF)
        lab_zipf_init(&r->zipf, r->keys, sc->zipf_theta);
    uint64_t duration_ms = res->duration_ms;
    uint64_t cap_ms = lab_run_cap_ms(sc, model, res->duration_ms);
    r->window_capacity = (size_t)(cap_ms * 1000000u / LAB_TIMELINE_WINDOW_NS) + 2;
    r->window_ticks = lab_ns_to_ticks(LAB_TIMELINE_WINDOW_NS);
    r->events = calloc(EVENT_CAPACITY, sizeof *r->events);
    unsigned nworkers = r->threads + (sc->iterator ? 1 : 0);
    r->spin_pacing = lab_spin_pacing(nworkers);
    res->spin_pacing = r->spin_pacing;
    size_t workers_size = ((sizeof(worker) * nworkers + 63) / 64) * 64;
    r->w = aligned_alloc(64, workers_size);
    if (r->w)
        memset(r->w, 0, workers_size);
    size_t nrss_cap = r->window_capacity + 16;
    res->rss = calloc(nrss_cap, sizeof *res->rss);
    int ok = r->events && r->w && res->rss;
    for (unsigned i = 0; ok && i < nworkers; i++) {
        worker *w = &r->w[i];
        w->r = r;
        w->id = i;
        w->role = i >= r->threads ? ROLE_ITERATOR
                  : sc->workload == LAB_WORKLOAD_GROWTH ? (i < r->writers ? ROLE_WRITER : ROLE_READER)
                  : sc->workload == LAB_WORKLOAD_CHURN ? ROLE_CHURN
                                                        : ROLE_MIXED;
        lab_rng_seed(&w->rng, lab_worker_seed(s->seed, i));
        lab_hist_init(&w->get_hist);
        lab_hist_init(&w->write_hist);
        lab_hist_init(&w->late);
        /* Allocated and touched before the run, so the measured threads
         * never page-fault on their own bookkeeping. */
        w->windows = calloc(r->window_capacity, sizeof *w->windows);
        if (!w->windows)
            ok = 0;
        else
            memset(w->windows, 0, r->window_capacity * sizeof *w->windows);
    }
    pthread_mutex_init(&r->event_lock, NULL);
    if (!ok)
        lab_result_skip(res, "n/a: out of memory for the lab's own buffers");
    if (ok) {
        uint64_t hint = sc->presized ? r->keys : 0;
        r->map = sc->key_bytes ? e->create_str(hint) : e->create(hint);
        if (!r->map) {
            lab_result_skip(res, "n/a: engine create() failed");
            ok = 0;
        } else if (prefill(r) != 0) {
            res->err_engine++;
            lab_result_skip(res, "n/a: pre-fill failed (engine error)");
            ok = 0;
        }
    }
    size_t nrss = 0;
    if (ok) {
        if (e->set_event_hook)
            e->set_event_hook(r->map, on_event, r);
        pthread_barrier_init(&r->start, NULL, nworkers + 1);
        atomic_store(&r->writers_running, r->writers);
        atomic_store(&r->measured_running, r->threads);
        unsigned started = 0;
        for (; started < nworkers; started++)
            if (pthread_create(&r->w[started].thread, NULL, worker_main, &r->w[started]) != 0)
                break;
        if (started < nworkers) {
            /* Cannot happen with the lab's thread counts; do not leave the
             * started ones waiting at the barrier forever. */
            fprintf(stderr, "steadymap-lab: cannot start %u threads\n", nworkers);
            abort();
        }
        /* The start is set a little ahead, so the first intended starts are
         * not already late when the threads leave the barrier. */
        r->t0 = lab_ticks() + lab_ns_to_ticks(1000000);
        r->end_ticks = r->t0 + lab_ns_to_ticks(duration_ms * 1000000u);
        r->cap_ticks = r->t0 + lab_ns_to_ticks(cap_ms * 1000000u);
        pthread_barrier_wait(&r->start);
        uint64_t next_progress = 0;
        while (atomic_load(&r->measured_running) > 0) {
            uint64_t now = lab_ticks();
            if (now >= r->t0 && nrss < nrss_cap) {
                res->rss[nrss].t_ns = lab_ticks_to_ns(now - r->t0);
                res->rss[nrss].rss_bytes = lab_rss_bytes();
                nrss++;
            }
            if (s->progress && now >= next_progress) {
                progress_line(r, model, now, 0);
                next_progress = now + lab_ns_to_ticks(250000000u);
            }
            struct timespec ts = { 0, LAB_TIMELINE_WINDOW_NS };
            nanosleep(&ts, NULL);
        }
        for (unsigned i = 0; i < nworkers; i++)
            pthread_join(r->w[i].thread, NULL);
        if (s->progress)
            progress_line(r, model, 0, 1);
        if (e->set_event_hook)
            e->set_event_hook(r->map, NULL, NULL);
        pthread_barrier_destroy(&r->start);
        merge_into(res, r, nworkers, nrss);
        if (e->bytes)
            res->engine_bytes = e->bytes(r->map);
    }
    if (r->map)
        e->destroy(r->map);
    pthread_mutex_destroy(&r->event_lock);
    for (unsigned i = 0; r->w && i < nworkers; i++)
        free(r->w[i].windows);
    free(r->w);
    free(r->events);
    free(r);
    return res;
}

/* ---- fresh-process runs --------------------------------------------------- */

int lab_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int lab_read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t k = read(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int lab_wait_child(pid_t pid, uint64_t limit_ms, int *status)
{
    /* Polled rather than timed by a signal: the lab installs no handlers, and
     * a child's result is read only after it has ended, so up to 10 ms of
     * polling delay costs nothing measured. */
    const struct timespec poll_step = { 0, 10 * 1000 * 1000 };
    uint64_t deadline = lab_monotonic_ns() + limit_ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (lab_monotonic_ns() >= deadline)
            break;
        nanosleep(&poll_step, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    return 1;
}

int lab_run_child(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                  const lab_settings *s, int fd)
{
    lab_result *res = run_here(sc, e, model, s);
    if (!res)
        return -1;
    int rc = lab_write_all(fd, res, sizeof *res);
    if (rc == 0 && res->nwindows)
        rc = lab_write_all(fd, res->windows, res->nwindows * sizeof *res->windows);
    if (rc == 0 && res->nevents)
        rc = lab_write_all(fd, res->events, res->nevents * sizeof *res->events);
    if (rc == 0 && res->nrss)
        rc = lab_write_all(fd, res->rss, res->nrss * sizeof *res->rss);
    lab_result_free(res);
    return rc;
}

static lab_result *read_child_result(int fd)
{
    lab_result *res = calloc(1, sizeof *res);
    if (!res || lab_read_all(fd, res, sizeof *res) != 0) {
        free(res);
        return NULL;
    }
    res->windows = calloc(res->nwindows + 1, sizeof *res->windows);
    res->events = calloc(res->nevents + 1, sizeof *res->events);
    res->rss = calloc(res->nrss + 1, sizeof *res->rss);
    if (!res->windows || !res->events || !res->rss ||
        (res->nwindows && lab_read_all(fd, res->windows, res->nwindows * sizeof *res->windows)) ||
        (res->nevents && lab_read_all(fd, res->events, res->nevents * sizeof *res->events)) ||
        (res->nrss && lab_read_all(fd, res->rss, res->nrss * sizeof *res->rss))) {
        lab_result_free(res);
        return NULL;
    }
    return res;
}

/* Starts `self_exe run-child ...` with the same settings and reads its
 * result from an anonymous file it inherits: a newly exec'd process has no
 * heap, so every page the map touches is a first touch, as in production. */
static lab_result *run_fresh(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                             const lab_settings *s)
{
    int fd = memfd_create("steadymap-lab-result", 0);
    if (fd < 0)
        return NULL;
    char a_sc[80], a_en[80], a_lm[40], a_th[40], a_du[40], a_ke[48], a_ra[48], a_se[48], a_fd[32];
    snprintf(a_sc, sizeof a_sc, "--scenarios=%s", sc->name);
    snprintf(a_en, sizeof a_en, "--engines=%s", e->name);
    snprintf(a_lm, sizeof a_lm, "--load-model=%s", lab_load_model_name(model));
    snprintf(a_th, sizeof a_th, "--threads=%u", s->threads);
    snprintf(a_du, sizeof a_du, "--duration-ms=%u", lab_effective_duration_ms(sc, s));
    snprintf(a_ke, sizeof a_ke, "--keys=%llu", (unsigned long long)lab_effective_keys(sc, s));
    snprintf(a_ra, sizeof a_ra, "--rate=%.0f", lab_effective_rate(sc, s));
    snprintf(a_se, sizeof a_se, "--seed=%llu", (unsigned long long)s->seed);
    snprintf(a_fd, sizeof a_fd, "--result-fd=%d", fd);
    char *argv[] = { (char *)s->self_exe, "run-child", a_sc, a_en, a_lm, a_th, a_du,
                     a_ke, a_ra, a_se, a_fd, s->progress ? "--progress" : NULL, NULL };
    pid_t pid;
    lab_result *res = NULL;
    int killed = 0;
    if (posix_spawn(&pid, s->self_exe, NULL, NULL, argv, environ) == 0) {
        int status = 0;
        /* The run's own time cap, plus a minute for the child to start, make
         * its keys and write its result. */
        uint64_t limit_ms = lab_run_cap_ms(sc, model, lab_effective_duration_ms(sc, s)) + 60000;
        int waited = lab_wait_child(pid, limit_ms, &status);
        killed = waited == 1;
        if (waited == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
            lseek(fd, 0, SEEK_SET) == 0)
            res = read_child_result(fd);
    }
    close(fd);
    if (!res) {
        res = lab_result_new(sc, e, model, s);
        if (res)
            lab_result_skip(res, killed ? "n/a: the fresh-process child failed to finish "
                                          "within its time cap plus a minute: killed"
                                        : "n/a: the fresh-process child failed");
    }
    return res;
}

static lab_result *run_once(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                           const lab_settings *s)
{
    if (e->out_of_process) {
        if (sc->key_bytes) {
            /* The peer programs speak uint64 keys only. */
            lab_result *res = lab_result_new(sc, e, model, s);
            if (res)
                lab_result_skip(res, "n/a: out-of-process peers have no string keys");
            return res;
        }
        return lab_external_run(sc, e, model, s);
    }
    if (sc->fresh_process && s->self_exe)
        return run_fresh(sc, e, model, s);
    return run_here(sc, e, model, s);
}

/* Appends a later run of the same scenario to res and returns 0, or returns
 * -1 and leaves res as it was when out of memory. Counts and histograms add
 * up; the later run's timeline, events and RSS samples follow res's on the
 * time axis, so the windows still count every operation once. */
/* Where the next run's timeline starts in res's: on the window grid, after
 * everything res holds. That is usually its last window's end, but an event
 * or RSS sample can come after the last window (the sampler's last look, past
 * the last operation): starting there would put the next run's samples
 * before it (found when a loaded machine made that happen). */
static size_t windows_before_next(const lab_result *res)
{
    uint64_t end_ns = (uint64_t)res->nwindows * LAB_TIMELINE_WINDOW_NS;
    for (size_t i = 0; i < res->nevents; i++)
        if (res->events[i].t_ns >= end_ns)
            end_ns = res->events[i].t_ns + 1;
    for (size_t i = 0; i < res->nrss; i++)
        if (res->rss[i].t_ns >= end_ns)
            end_ns = res->rss[i].t_ns + 1;
    return (size_t)((end_ns + LAB_TIMELINE_WINDOW_NS - 1) / LAB_TIMELINE_WINDOW_NS);
}

int lab_result_append(lab_result *res, const lab_result *more)
{
    size_t start = windows_before_next(res);
    size_t nw = start + more->nwindows, ne = res->nevents + more->nevents,
           nr = res->nrss + more->nrss;
    lab_window *w = realloc(res->windows, (nw ? nw : 1) * sizeof *w);
    if (!w)
        return -1;
    res->windows = w;
    lab_event_record *ev = realloc(res->events, (ne ? ne : 1) * sizeof *ev);
    if (!ev)
        return -1;
    res->events = ev;
    lab_rss_sample *rss = realloc(res->rss, (nr ? nr : 1) * sizeof *rss);
    if (!rss)
        return -1;
    res->rss = rss;
    const uint64_t shift_ns = (uint64_t)start * LAB_TIMELINE_WINDOW_NS;
    memset(w + res->nwindows, 0, (start - res->nwindows) * sizeof *w);
    memcpy(w + start, more->windows, more->nwindows * sizeof *w);
    for (size_t i = 0; i < more->nevents; i++) {
        ev[res->nevents + i] = more->events[i];
        ev[res->nevents + i].t_ns += shift_ns;
    }
    for (size_t i = 0; i < more->nrss; i++) {
        rss[res->nrss + i] = more->rss[i];
        rss[res->nrss + i].t_ns += shift_ns;
    }
    res->nwindows = nw;
    res->nevents = ne;
    res->nrss = nr;

    if (res->iterations + more->iterations)
        res->iteration_mean_ns = (res->iteration_mean_ns * (double)res->iterations +
                                  more->iteration_mean_ns * (double)more->iterations) /
                                 (double)(res->iterations + more->iterations);
    res->iterations += more->iterations;
    res->seconds += more->seconds;
    res->ops += more->ops;
    res->err_value += more->err_value;
    res->err_missing += more->err_missing;
    res->err_engine += more->err_engine;
    res->not_issued += more->not_issued;
    res->hit_cap |= more->hit_cap;
    res->preemptions += more->preemptions;
    if (more->stall_max_ns > res->stall_max_ns)
        res->stall_max_ns = more->stall_max_ns;
    /* Percentiles do not add up; the worse run's speaks for both. */
    if (more->pacing_late_p99_ns > res->pacing_late_p99_ns)
        res->pacing_late_p99_ns = more->pacing_late_p99_ns;
    res->engine_bytes = more->engine_bytes;
    lab_hist_merge(&res->hist, &more->hist);
    lab_hist_merge(&res->get_hist, &more->get_hist);
    res->runs += more->runs;
    return 0;
}

/* Growth ends when its writer has put the last key, not when its time is up:
 * about 0.1 s on this machine at 256 Ki keys, in which an open-loop reader
 * issues some 5 000 gets, so one run's p99.9 is its fifth-slowest get — one
 * or two operations, not a distribution. Growth is therefore run again, each
 * time on a fresh map and with the next seed, until the runs add up to the
 * scenario's duration, and the result is their sum. Every engine gets the
 * same seeds; a failed run fails the whole result. */
#define GROWTH_MAX_RUNS 32

lab_result *lab_run(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                    const lab_settings *s)
{
    lab_result *res = run_once(sc, e, model, s);
    if (!res || res->skipped || sc->workload != LAB_WORKLOAD_GROWTH)
        return res;
    lab_settings next = *s;
    while (res->runs < GROWTH_MAX_RUNS && !res->hit_cap &&
           res->seconds * 1000.0 < (double)res->duration_ms) {
        next.seed = s->seed + res->runs;
        lab_result *more = run_once(sc, e, model, &next);
        if (!more)
            break;
        if (more->skipped) {
            char why[sizeof res->skip_reason];
            snprintf(why, sizeof why, "fill %u: %.90s", res->runs + 1, more->skip_reason);
            lab_result_skip(res, why);
            lab_result_free(more);
            break;
        }
        int appended = lab_result_append(res, more);
        lab_result_free(more);
        if (appended != 0)
            break;
    }
    return res;
}

void lab_result_free(lab_result *r)
{
    if (!r)
        return;
    free(r->windows);
    free(r->events);
    free(r->rss);
    free(r);
}
