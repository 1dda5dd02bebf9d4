/*
 * runner.c — runs an out-of-process engine: starts its peer program with the
 * run's effective parameters on the command line and turns the text it
 * prints into the lab_result (or lab_memory_result) an in-process run would
 * have produced, so the report handles both alike. PROTOCOL.md in this
 * folder is the format; this file is the lab's half of it.
 *
 * Every parameter the peer needs is computed here with run.c's own helpers
 * (threads, writers, time cap, spin pacing) or keys.h (the Zipf constants),
 * never recomputed by the peer, so the two sides cannot drift apart.
 * Parsing is strict: a result that is truncated, has an unknown line or
 * bucket counts that do not add up is rejected and the run reported n/a,
 * rather than half a result reported as a measurement.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "external/external.h"
#include "harness/clock.h"
#include "harness/keys.h"
#include "harness/memory.h"

extern char **environ;

#define MAX_ARGS 48

/* Reads fd to its end, or until deadline_ns (lab_monotonic_ns) passes. On
 * running out of memory it keeps draining the pipe (a peer blocked on a full
 * pipe would never exit) and returns NULL. */
static char *read_to_end(int fd, uint64_t deadline_ns)
{
    size_t cap = 1u << 16, len = 0;
    char *buf = malloc(cap);
    char sink[4096];
    for (;;) {
        if (buf && cap - len < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
            } else {
                buf = bigger;
                cap *= 2;
            }
        }
        uint64_t t = lab_monotonic_ns();
        if (t >= deadline_ns)
            break;
        uint64_t wait_ms = (deadline_ns - t) / 1000000u + 1;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int ready = poll(&pfd, 1, wait_ms > 60000 ? 60000 : (int)wait_ms);
        if (ready < 0 && errno != EINTR)
            break;
        if (ready <= 0)
            continue;
        ssize_t k = buf ? read(fd, buf + len, cap - len - 1) : read(fd, sink, sizeof sink);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        if (buf)
            len += (size_t)k;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

int lab_external_exec(const lab_engine *e, const char *const *args, uint64_t limit_ms,
                      char **out)
{
    *out = NULL;
    const char *const *cmd = lab_external_command(e);
    if (!cmd)
        return -1;
    const char *argv[MAX_ARGS];
    size_t n = 0;
    for (size_t i = 0; cmd[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = cmd[i];
    for (size_t i = 0; args[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        /* dup2 clears close-on-exec on the copy: the peer's stdout is the
         * pipe, and both original ends close at exec. */
        rc = posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
        if (rc == 0)
            rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
        posix_spawn_file_actions_destroy(&fa);
    }
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    uint64_t deadline = lab_monotonic_ns() + limit_ms * 1000000u;
    *out = read_to_end(fds[0], deadline);
    close(fds[0]);
    /* Whatever ended the reading (the end of the output, the deadline, an
     * error), the peer gets only what is left of its limit to exit. */
    uint64_t now = lab_monotonic_ns();
    int status = 0;
    int waited = lab_wait_child(pid, now < deadline ? (deadline - now) / 1000000u : 0, &status);
    if (waited == 1)
        return LAB_EXTERNAL_KILLED;
    if (waited < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- parsing -------------------------------------------------------------- */

static int number(char **p, uint64_t *v)
{
    while (**p == ' ')
        (*p)++;
    if (!isdigit((unsigned char)**p))
        return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(*p, &end, 10);
    if (errno)
        return -1;
    *p = end;
    *v = x;
    return 0;
}

static int real(char **p, double *v)
{
    char *end;
    *v = strtod(*p, &end);
    if (end == *p)
        return -1;
    *p = end;
    return 0;
}

static int at_end(const char *p)
{
    while (*p == ' ')
        p++;
    return *p == '\0';
}

/* "idx:count" pairs to the end of the line into counts (32- or 64-bit
 * cells); returns their total, or -1 on a bad pair or index. */
static int pairs(char **p, void *counts, size_t ncounts, int wide, uint64_t *total)
{
    *total = 0;
    while (!at_end(*p)) {
        uint64_t idx, c;
        if (number(p, &idx) != 0 || **p != ':' || idx >= ncounts)
            return -1;
        (*p)++;
        if (number(p, &c) != 0)
            return -1;
        if (wide)
            ((uint64_t *)counts)[idx] += c;
        else
            ((uint32_t *)counts)[idx] += (uint32_t)c;
        *total += c;
    }
    return 0;
}

static int hist_line(char *p, lab_hist *h)
{
    uint64_t total;
    if (number(&p, &h->count) || number(&p, &h->sum) || number(&p, &h->min) ||
        number(&p, &h->max) || number(&p, &h->clamped) ||
        pairs(&p, h->counts, LAB_HIST_BUCKETS, 1, &total))
        return -1;
    return total == h->count ? 0 : -1;
}

static int window_line(char *p, lab_result *res, size_t *cap)
{
    uint64_t idx, count, max, total;
    if (number(&p, &idx) || idx != res->nwindows || number(&p, &count) || number(&p, &max))
        return -1;
    if (res->nwindows == *cap) {
        size_t bigger = *cap ? *cap * 2 : 256;
        lab_window *w = realloc(res->windows, bigger * sizeof *w);
        if (!w)
            return -1;
        res->windows = w;
        *cap = bigger;
    }
    lab_window *w = &res->windows[res->nwindows];
    memset(w, 0, sizeof *w);
    w->count = (uint32_t)count;
    w->max = max;
    if (pairs(&p, w->hist, LAB_WINDOW_BUCKETS, 0, &total) || total != count)
        return -1;
    res->nwindows++;
    return 0;
}

static int rss_line(char *p, lab_result *res, size_t *cap)
{
    if (res->nrss == *cap) {
        size_t bigger = *cap ? *cap * 2 : 256;
        lab_rss_sample *r = realloc(res->rss, bigger * sizeof *r);
        if (!r)
            return -1;
        res->rss = r;
        *cap = bigger;
    }
    lab_rss_sample *r = &res->rss[res->nrss];
    if (number(&p, &r->t_ns) || number(&p, &r->rss_bytes) || !at_end(p))
        return -1;
    res->nrss++;
    return 0;
}

/* Cuts the next line off *text; NULL at the end. */
static char *next_line(char **text)
{
    char *line = *text;
    if (!line || !*line)
        return NULL;
    char *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *text = nl + 1;
    } else {
        *text = NULL;
    }
    return line;
}

/* 1 if line starts with the word word; *rest then points after it. */
static int keyword(char *line, const char *word, char **rest)
{
    size_t n = strlen(word);
    if (strncmp(line, word, n) != 0 || (line[n] != ' ' && line[n] != '\0'))
        return 0;
    *rest = line + n;
    return 1;
}

static int gets_within(const lab_hist *gets, const lab_hist *all)
{
    if (gets->count > all->count || gets->sum > all->sum ||
        (gets->count && (gets->max > all->max || gets->min < all->min)))
        return 0;
    for (size_t i = 0; i < LAB_HIST_BUCKETS; i++)
        if (gets->counts[i] > all->counts[i])
            return 0;
    return 1;
}

static int parse_result(char *text, lab_result *res)
{
    char *line = next_line(&text), *p;
    uint64_t version;
    if (!line || !keyword(line, "steadymap-peer-result", &p) || number(&p, &version) ||
        version != 2 || !at_end(p))
        return -1;
    size_t wcap = 0, rcap = 0;
    lab_hist late;
    lab_hist_init(&late);
    int ok = 1, end = 0, have_all = 0, have_gets = 0;
    while (ok && !end && (line = next_line(&text))) {
        uint64_t capped = 0;
        if (keyword(line, "seconds", &p))
            ok = real(&p, &res->seconds) == 0 && at_end(p);
        else if (keyword(line, "errors", &p))
            ok = !number(&p, &res->err_value) && !number(&p, &res->err_missing) &&
                 !number(&p, &res->err_engine) && at_end(p);
        else if (keyword(line, "not_issued", &p))
            ok = !number(&p, &res->not_issued) && at_end(p);
        else if (keyword(line, "hit_cap", &p)) {
            ok = !number(&p, &capped) && capped <= 1 && at_end(p);
            res->hit_cap = (int)capped;
        }
        else if (keyword(line, "preemptions", &p))
            ok = !number(&p, &res->preemptions) && at_end(p);
        else if (keyword(line, "iterations", &p))
            ok = !number(&p, &res->iterations) && !real(&p, &res->iteration_mean_ns) && at_end(p);
        else if (keyword(line, "hist", &p))
            ok = !have_all++ && hist_line(p, &res->hist) == 0;
        else if (keyword(line, "gethist", &p))
            ok = !have_gets++ && hist_line(p, &res->get_hist) == 0;
        else if (keyword(line, "late", &p))
            ok = hist_line(p, &late) == 0;
        else if (keyword(line, "window", &p))
            ok = window_line(p, res, &wcap) == 0;
        else if (keyword(line, "rss", &p))
            ok = rss_line(p, res, &rcap) == 0;
        else if (keyword(line, "end", &p))
            end = at_end(p);
        else
            ok = 0;
    }
    /* Each histogram exactly once, and the gets a part of every operation
     * bucket by bucket: anything else is a broken peer. */
    if (!ok || !end || !have_all || !have_gets || !gets_within(&res->get_hist, &res->hist))
        return -1;
    res->ops = res->hist.count;
    res->pacing_late_p99_ns = lab_hist_percentile(&late, 99);
    return 0;
}

/* ---- runs ----------------------------------------------------------------- */

static const char *workload_name(lab_workload w)
{
    return w == LAB_WORKLOAD_GROWTH ? "growth" : w == LAB_WORKLOAD_CHURN ? "churn" : "mixed";
}

lab_result *lab_external_run(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                             const lab_settings *s)
{
    lab_result *res = lab_result_new(sc, e, model, s);
    if (!res)
        return NULL;
    unsigned nworkers = res->threads + (sc->iterator ? 1 : 0);
    res->spin_pacing = lab_spin_pacing(nworkers);

    char a[16][96], zipf[256];
    snprintf(a[0], sizeof a[0], "--engine=%s", e->name);
    snprintf(a[1], sizeof a[1], "--workload=%s", workload_name(sc->workload));
    snprintf(a[2], sizeof a[2], "--model=%s", lab_load_model_name(model));
    snprintf(a[3], sizeof a[3], "--threads=%u", res->threads);
    snprintf(a[4], sizeof a[4], "--writers=%u", lab_run_writers(sc, res->threads));
    snprintf(a[5], sizeof a[5], "--keys=%llu", (unsigned long long)res->keys);
    snprintf(a[6], sizeof a[6], "--seed=%llu", (unsigned long long)s->seed);
    snprintf(a[7], sizeof a[7], "--duration-ms=%u", res->duration_ms);
    snprintf(a[8], sizeof a[8], "--cap-ms=%llu",
             (unsigned long long)lab_run_cap_ms(sc, model, res->duration_ms));
    snprintf(a[9], sizeof a[9], "--rate=%.17g", lab_effective_rate(sc, s));
    snprintf(a[10], sizeof a[10], "--mix=%u,%u,%u", sc->mix.get, sc->mix.put, sc->mix.del);
    snprintf(a[11], sizeof a[11], "--presized=%d", sc->presized ? 1 : 0);
    snprintf(a[12], sizeof a[12], "--iterator=%d", sc->iterator ? 1 : 0);
    snprintf(a[13], sizeof a[13], "--spin=%d", res->spin_pacing);
    snprintf(a[14], sizeof a[14], "--fresh=%d", sc->fresh_process ? 1 : 0);
    const char *args[20] = { "run" };
    size_t n = 1;
    for (size_t i = 0; i < 15; i++)
        args[n++] = a[i];
    if (sc->key_distribution == LAB_KEYS_ZIPF) {
        /* The constants as C computed them, exactly (%a): see keys.go. */
        lab_zipf z;
        lab_zipf_init(&z, res->keys, sc->zipf_theta);
        snprintf(zipf, sizeof zipf, "--zipf=%llu,%a,%a,%a,%a,%a", (unsigned long long)z.n, z.theta,
                 z.alpha, z.zetan, z.eta, z.half_pow_theta);
        args[n++] = zipf;
    }
    args[n] = NULL;

    if (s->progress)
        lab_progress(sc->name, e->name, model, 0, 0);
    char *out;
    /* The run's time cap, plus a minute for the runtime to start, warm up
     * (Java) and print its histograms. */
    uint64_t limit_ms = lab_run_cap_ms(sc, model, res->duration_ms) + 60000;
    int rc = lab_external_exec(e, args, limit_ms, &out);
    if (s->progress)
        lab_progress(sc->name, e->name, model, 1, 1);
    char why[120];
    if (rc == 0 && out && parse_result(out, res) == 0) {
        free(out);
        return res;
    }
    if (rc == LAB_EXTERNAL_KILLED)
        snprintf(why, sizeof why, "n/a: the %s peer program failed to finish within its time "
                 "cap plus a minute: killed", e->name);
    else if (rc != 0)
        snprintf(why, sizeof why, "n/a: the %s peer program %s (status %d)", e->name,
                 out ? "failed" : "could not be started", rc);
    else
        snprintf(why, sizeof why, "n/a: the %s peer program's result is malformed", e->name);
    free(out);
    /* Whatever the parser filled in is not a measurement. */
    lab_result_free(res);
    res = lab_result_new(sc, e, model, s);
    if (res)
        lab_result_skip(res, why);
    return res;
}

static int parse_memory(char *text, lab_memory_result *m)
{
    char *line = next_line(&text), *p;
    uint64_t version;
    if (!line || !keyword(line, "steadymap-peer-memory", &p) || number(&p, &version) ||
        version != 1 || !at_end(p))
        return -1;
    int ok = 1, end = 0;
    while (ok && !end && (line = next_line(&text))) {
        if (keyword(line, "rss_base", &p))
            ok = !number(&p, &m->rss_base) && at_end(p);
        else if (keyword(line, "rss_full", &p))
            ok = !number(&p, &m->rss_full) && at_end(p);
        else if (keyword(line, "rss_after_delete", &p))
            ok = !number(&p, &m->rss_after_delete) && at_end(p);
        else if (keyword(line, "note", &p))
            snprintf(m->note, sizeof m->note, "%s", *p ? p + 1 : p);
        else if (keyword(line, "end", &p))
            end = at_end(p);
        else
            ok = 0;
    }
    return ok && end && m->rss_full ? 0 : -1;
}

int lab_external_memory(const lab_engine *e, uint64_t keys, const lab_settings *s,
                        lab_memory_result *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->engine, sizeof out->engine, "%s", e->name);
    out->keys = keys;
    char a_engine[64], a_keys[48], a_seed[48];
    snprintf(a_engine, sizeof a_engine, "--engine=%s", e->name);
    snprintf(a_keys, sizeof a_keys, "--keys=%llu", (unsigned long long)keys);
    snprintf(a_seed, sizeof a_seed, "--seed=%llu", (unsigned long long)s->seed);
    const char *args[] = { "memory", a_engine, a_keys, a_seed, NULL };
    char *text;
    int rc = lab_external_exec(e, args, lab_memory_limit_ms(keys), &text);
    if (rc == 0 && text && parse_memory(text, out) == 0) {
        free(text);
        return 0;
    }
    free(text);
    lab_memory_result failed = { .skipped = 1, .keys = keys };
    snprintf(failed.engine, sizeof failed.engine, "%s", e->name);
    if (rc == LAB_EXTERNAL_KILLED)
        snprintf(failed.note, sizeof failed.note,
                 "the %s peer program failed to finish in time: killed", e->name);
    else
        snprintf(failed.note, sizeof failed.note, "the %s peer program %s (status %d)", e->name,
                 rc == 0 ? "printed a malformed result" : "failed", rc);
    *out = failed;
    return -1;
}
