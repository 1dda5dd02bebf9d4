/*
 * checker_selftest.c — proves the linearizability checker can fail.
 *
 * A checker that accepts everything would make tests/linearizability/ pass
 * whatever the map does, so this file feeds it hand-built histories whose
 * verdict is known: linearizable ones it must accept (including ones that
 * need backtracking), and broken ones it must reject — a read of a value
 * written only after the read returned, a stale read after a completed
 * overwrite, two successful inserts without a delete between, and so on.
 * Then it generates random histories that are linearizable by construction
 * (every op is given a linearization point inside its interval) and must all
 * be accepted, and breaks each one in a way that makes it certainly
 * non-linearizable, which must be rejected. Those breaks only forge values;
 * so last, small random histories go to lin_check and to a brute-force
 * search of every order, which must agree — among them many that some order
 * explains but none that real time allows, the ordering violations a map's
 * race produces.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "steadymap.h"

static int passed, failed;

static lin_op op(lin_kind kind, uint64_t value, uint64_t expected, int rc,
                 uint64_t out, uint64_t call, uint64_t ret, int thread)
{
    return (lin_op){ kind, value, expected, rc, out, call, ret, thread };
}

/* Shorthands for the ops the cases use; each takes its interval last. */
#define GET(rc, out, c, r, t) op(LIN_GET, 0, 0, rc, out, c, r, t)
#define PUT(v, rc, old, c, r, t) op(LIN_PUT, v, 0, rc, old, c, r, t)
#define INS(v, rc, ex, c, r, t) op(LIN_INSERT, v, 0, rc, ex, c, r, t)
#define REP(v, rc, old, c, r, t) op(LIN_REPLACE, v, 0, rc, old, c, r, t)
#define CAS(e, d, rc, act, c, r, t) op(LIN_CAS, d, e, rc, act, c, r, t)
#define DEL(rc, old, c, r, t) op(LIN_DELETE, 0, 0, rc, old, c, r, t)
#define GOI(v, rc, act, c, r, t) op(LIN_GET_OR_INSERT, v, 0, rc, act, c, r, t)
#define CMP(v, rc, res, c, r, t) op(LIN_COMPUTE, v, 0, rc, res, c, r, t)

static const lin_state ABSENT = { 0, 0 };

/* A function, not a compound literal, so it can sit in a macro argument. */
static lin_state holding(uint64_t value)
{
    return (lin_state){ 1, value };
}

static void expect(const char *name, const lin_op *ops, size_t n,
                   lin_state init, lin_verdict want)
{
    char why[512];
    lin_verdict got = lin_check(ops, n, init, why, sizeof why);
    if (got == want) {
        passed++;
        return;
    }
    failed++;
    fprintf(stderr, "FAIL %s: expected verdict %d, got %d (%s)\n", name,
            (int)want, (int)got, why);
    for (size_t i = 0; i < n; i++) {
        char line[200];
        lin_format_op(&ops[i], line, sizeof line);
        fprintf(stderr, "    %s\n", line);
    }
}

#define EXPECT(name, init, want, ...)                                        \
    do {                                                                     \
        const lin_op h[] = { __VA_ARGS__ };                                  \
        expect(name, h, sizeof h / sizeof h[0], init, want);                 \
    } while (0)

static void linearizable_cases(void)
{
    expect("empty history", NULL, 0, ABSENT, LIN_OK);
    EXPECT("one get of an absent key", ABSENT, LIN_OK, GET(SM_NOT_FOUND, 0, 1, 2, 0));
    EXPECT("sequential put get delete get", ABSENT, LIN_OK,
           PUT(10, SM_OK, 0, 1, 2, 0), GET(SM_OK, 10, 3, 4, 1),
           DEL(SM_OK, 10, 5, 6, 0), GET(SM_NOT_FOUND, 0, 7, 8, 1));
    EXPECT("every op kind in sequence", ABSENT, LIN_OK,
           INS(1, SM_OK, 0, 1, 2, 0), INS(2, SM_EXISTS, 1, 3, 4, 0),
           PUT(3, SM_REPLACED, 1, 5, 6, 0), REP(4, SM_OK, 3, 7, 8, 0),
           CAS(9, 5, SM_MISMATCH, 4, 9, 10, 0), CAS(4, 5, SM_OK, 4, 11, 12, 0),
           DEL(SM_OK, 5, 13, 14, 0), REP(6, SM_NOT_FOUND, 0, 15, 16, 0),
           CAS(5, 6, SM_NOT_FOUND, 0, 17, 18, 0), DEL(SM_NOT_FOUND, 0, 19, 20, 0));
    EXPECT("initial state present", holding(7), LIN_OK,
           GET(SM_OK, 7, 1, 2, 0), CAS(7, 8, SM_OK, 7, 3, 4, 0));
    EXPECT("get overlapping a put sees the new value", ABSENT, LIN_OK,
           PUT(5, SM_OK, 0, 1, 4, 0), GET(SM_OK, 5, 2, 3, 1));
    EXPECT("get overlapping a put sees the old state", ABSENT, LIN_OK,
           PUT(5, SM_OK, 0, 1, 4, 0), GET(SM_NOT_FOUND, 0, 2, 3, 1));
    EXPECT("concurrent inserts: one wins, one sees it", ABSENT, LIN_OK,
           INS(1, SM_EXISTS, 2, 1, 4, 0), INS(2, SM_OK, 0, 2, 3, 1));
    /* B's cas returns before A's, yet must be ordered after it. */
    EXPECT("needs the later-returning op first", holding(0), LIN_OK,
           CAS(0, 1, SM_OK, 0, 1, 6, 0), CAS(1, 2, SM_OK, 1, 2, 3, 1),
           GET(SM_OK, 2, 4, 5, 1));
    /* Trying A's put first (its call is first) leads to a dead end that the
     * search has to back out of: the get must see 2 then 1. */
    EXPECT("backtracking", ABSENT, LIN_OK,
           PUT(1, SM_REPLACED, 2, 1, 10, 0), PUT(2, SM_OK, 0, 2, 9, 1),
           GET(SM_OK, 2, 3, 4, 2), GET(SM_OK, 1, 5, 6, 2));
    EXPECT("get_or_insert inserts, then finds", ABSENT, LIN_OK,
           GOI(5, SM_OK, 5, 1, 2, 0), GOI(7, SM_EXISTS, 5, 3, 4, 1));
    /* lin_compute_rule: absent inserts; 5 % 3 == 2 is replaced, 4 % 3 == 1
     * kept, 6 % 3 == 0 deleted. */
    EXPECT("compute inserts, replaces, keeps, deletes", ABSENT, LIN_OK,
           CMP(5, SM_OK, 5, 1, 2, 0), CMP(4, SM_OK, 4, 3, 4, 0),
           CMP(3, SM_OK, 4, 5, 6, 1), PUT(6, SM_REPLACED, 4, 7, 8, 0),
           CMP(3, SM_NOT_FOUND, 0, 9, 10, 1), CMP(9, SM_OK, 9, 11, 12, 0));
    EXPECT("an error result changed nothing", holding(3), LIN_OK,
           PUT(4, SM_ENOMEM, 0, 1, 2, 0), GET(SM_OK, 3, 3, 4, 1));

    /* Sixty-four sequential increments: the mask's top bit is used. */
    lin_op h[LIN_MAX_OPS];
    for (int i = 0; i < LIN_MAX_OPS; i++)
        h[i] = CAS((uint64_t)i, (uint64_t)i + 1, SM_OK, (uint64_t)i,
                   2 * (uint64_t)i + 1, 2 * (uint64_t)i + 2, i % 3);
    expect("64 ops", h, LIN_MAX_OPS, holding(0), LIN_OK);
}

static void violation_cases(void)
{
    EXPECT("read of a value written after the read returned", ABSENT,
           LIN_VIOLATION, GET(SM_OK, 5, 1, 2, 1), PUT(5, SM_OK, 0, 3, 4, 0));
    EXPECT("stale read after a completed overwrite", ABSENT, LIN_VIOLATION,
           PUT(1, SM_OK, 0, 1, 2, 0), PUT(2, SM_REPLACED, 1, 3, 4, 0),
           GET(SM_OK, 1, 5, 6, 1));
    EXPECT("two successful inserts, no delete", ABSENT, LIN_VIOLATION,
           INS(1, SM_OK, 0, 1, 2, 0), INS(2, SM_OK, 0, 3, 4, 1));
    EXPECT("two concurrent successful inserts", ABSENT, LIN_VIOLATION,
           INS(1, SM_OK, 0, 1, 4, 0), INS(2, SM_OK, 0, 2, 3, 1));
    EXPECT("lost update: two cas from the same value succeed", holding(0),
           LIN_VIOLATION, CAS(0, 1, SM_OK, 0, 1, 4, 0),
           CAS(0, 2, SM_OK, 0, 2, 3, 1));
    EXPECT("absent after a completed put", ABSENT, LIN_VIOLATION,
           PUT(1, SM_OK, 0, 1, 2, 0), GET(SM_NOT_FOUND, 0, 3, 4, 1));
    EXPECT("found after a completed delete", holding(1), LIN_VIOLATION,
           DEL(SM_OK, 1, 1, 2, 0), GET(SM_OK, 1, 3, 4, 1));
    EXPECT("delete reports a wrong old value", holding(1), LIN_VIOLATION,
           DEL(SM_OK, 2, 1, 2, 0));
    EXPECT("put says inserted though present", holding(1), LIN_VIOLATION,
           PUT(2, SM_OK, 0, 1, 2, 0));
    EXPECT("cas mismatch reporting the expected value", holding(1),
           LIN_VIOLATION, CAS(1, 2, SM_MISMATCH, 1, 1, 2, 0));
    EXPECT("replace succeeding on an absent key", ABSENT, LIN_VIOLATION,
           REP(1, SM_OK, 0, 1, 2, 0));
    EXPECT("insert exists reporting a torn value", holding(0x1111),
           LIN_VIOLATION, INS(2, SM_EXISTS, 0x1100, 1, 2, 0));
    /* Only one write of each value, yet one reader sees 1, 2, 1: all ops
     * overlap the writes, so only the full search can rule every order out. */
    EXPECT("reader sees 1, 2, 1", ABSENT, LIN_VIOLATION,
           PUT(1, SM_OK, 0, 1, 10, 0), PUT(2, SM_REPLACED, 1, 2, 9, 1),
           GET(SM_OK, 1, 3, 4, 2), GET(SM_OK, 2, 5, 6, 2),
           GET(SM_OK, 1, 7, 8, 2));
    EXPECT("get_or_insert inserts over a present key", holding(1), LIN_VIOLATION,
           GOI(2, SM_OK, 2, 1, 2, 0));
    EXPECT("get_or_insert reports another value than it inserted", ABSENT,
           LIN_VIOLATION, GOI(2, SM_OK, 3, 1, 2, 0));
    EXPECT("compute keeps, yet reports the new value", holding(4), LIN_VIOLATION,
           CMP(8, SM_OK, 8, 1, 2, 0));
    EXPECT("compute should have deleted", holding(3), LIN_VIOLATION,
           CMP(8, SM_OK, 8, 1, 2, 0));
    EXPECT("compute lost its insert", ABSENT, LIN_VIOLATION,
           CMP(8, SM_OK, 8, 1, 2, 0), GET(SM_NOT_FOUND, 0, 3, 4, 1));
    EXPECT("wrong status for the op", ABSENT, LIN_VIOLATION,
           GET(SM_EXISTS, 0, 1, 2, 0));

    lin_op h[LIN_MAX_OPS + 1];
    for (int i = 0; i <= LIN_MAX_OPS; i++)
        h[i] = GET(SM_NOT_FOUND, 0, 2 * (uint64_t)i + 1, 2 * (uint64_t)i + 2, 0);
    expect("65 ops are refused, not passed", h, LIN_MAX_OPS + 1, ABSENT,
           LIN_BAD_HISTORY);
    h[0] = GET(SM_NOT_FOUND, 0, 5, 5, 0);
    expect("ret not after call is refused", h, 1, ABSENT, LIN_BAD_HISTORY);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const int all_results[] = { SM_OK, SM_NOT_FOUND, SM_EXISTS, SM_REPLACED, SM_MISMATCH };

/* Give o the result its kind has from state s, and return the state after
 * it: lin_apply with each candidate result finds the one that fits. */
static lin_state give_fitting_result(lin_state s, lin_op *o)
{
    lin_state next;
    for (size_t r = 0; r < 10; r++) {
        o->rc = all_results[r / 2];
        /* The out-value is the old value or, for get_or_insert and compute,
         * possibly the new one. */
        o->out = r % 2 ? o->value : s.present ? s.value : 0;
        if (lin_apply(&s, o, &next))
            return next;
    }
    fprintf(stderr, "generator: no result fits op kind %d\n", (int)o->kind);
    exit(2);
}

/*
 * A random history of up to LIN_MAX_OPS ops by `threads` threads, each op
 * taking effect (on the model state) at an instant strictly between its call
 * and its return, so it is linearizable by construction. Values written are
 * small numbers, never NEVER_WRITTEN.
 */
#define NEVER_WRITTEN UINT64_C(0xdeadbeefcafe)

static size_t random_history(uint64_t *rng, int threads, lin_op *h,
                             lin_state *init)
{
    enum { IDLE, CALLED, APPLIED };
    int phase[8] = { 0 }, cur[8];
    lin_state s = { (int)(rng_next(rng) & 1), 100 };
    *init = s;
    uint64_t t = 1, next_value = 1;
    size_t n = 0, started = 0;
    for (;;) {
        int th = (int)(rng_next(rng) % (uint64_t)threads);
        if (phase[th] == IDLE) {
            if (started == LIN_MAX_OPS) {
                bool busy = false;
                for (int i = 0; i < threads; i++)
                    busy |= phase[i] != IDLE;
                if (!busy)
                    return n;
                continue;
            }
            lin_op *o = &h[started];
            *o = (lin_op){ (lin_kind)(rng_next(rng) % (LIN_COMPUTE + 1)), next_value++,
                           0, 0, 0, t++, 0, th };
            /* Aim cas at a value the key may well hold. */
            o->expected = rng_next(rng) % 2 ? s.value : o->value - 1;
            cur[th] = (int)started++;
            phase[th] = CALLED;
        } else if (phase[th] == CALLED) {
            s = give_fitting_result(s, &h[cur[th]]);
            t++;
            phase[th] = APPLIED;
        } else {
            h[cur[th]].ret = t++;
            phase[th] = IDLE;
            n++;
        }
    }
}

static void random_cases(uint64_t seed)
{
    uint64_t rng = seed;
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 2000; round++) {
        lin_op h[LIN_MAX_OPS];
        lin_state init;
        int threads = 2 + round % 3;
        size_t n = random_history(&rng, threads, h, &init);
        char name[96];
        snprintf(name, sizeof name, "random linearizable history %d (seed %" PRIu64 ")",
                 round, seed);
        int before = failed;
        expect(name, h, n, init, LIN_OK);
        accepted += failed == before;

        /* Make one observing op report a value nobody ever wrote. */
        size_t victim = n;
        for (size_t i = 0; i < n && victim == n; i++) {
            size_t j = (i + (size_t)round) % n;
            bool observes = (h[j].kind == LIN_GET && h[j].rc == SM_OK) ||
                            h[j].rc == SM_REPLACED || h[j].rc == SM_EXISTS ||
                            h[j].rc == SM_MISMATCH ||
                            (h[j].rc == SM_OK && h[j].kind != LIN_PUT &&
                             h[j].kind != LIN_INSERT);
            if (observes)
                victim = j;
        }
        if (victim == n)
            continue;
        h[victim].out = NEVER_WRITTEN;
        snprintf(name, sizeof name, "random history %d with a forged value", round);
        before = failed;
        expect(name, h, n, init, LIN_VIOLATION);
        rejected += failed == before;
    }
    printf("random histories: %d accepted as built, %d rejected once forged\n",
           accepted, rejected);
}

/*
 * Whether some order of h[0..n) that keeps real time (an op that returned
 * before another was called comes first) gives every op its recorded result
 * from s; with real_time false, whether any order does. Every such order is
 * tried: slow, but plainly right, which is what lin_check is held to.
 */
static bool brute_force(const lin_op *h, size_t n, lin_state s, unsigned placed,
                        bool real_time)
{
    if (placed == (1u << n) - 1)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (placed >> i & 1)
            continue;
        bool first = true;
        for (size_t j = 0; j < n && real_time; j++)
            first &= (placed >> j & 1) || j == i || h[j].ret > h[i].call;
        lin_state next;
        if (first && lin_apply(&s, &h[i], &next) &&
            brute_force(h, n, next, placed | 1u << i, real_time))
            return true;
    }
    return false;
}

/*
 * A random history of 1 to BRUTE_OPS ops: random intervals (a shuffle of the
 * call and return events, so any pattern of overlap), kinds, and values
 * from {1, 2, 3}, so that values repeat and reads are ambiguous. Results come
 * from running the ops one after another in some order: an order of random
 * instants inside the intervals (linearizable), or any order at all (often
 * only that), and now and then one result is then changed.
 */
#define BRUTE_OPS 7

static size_t brute_history(uint64_t *rng, lin_op *h, lin_state *init)
{
    size_t n = 1 + (size_t)(rng_next(rng) % BRUTE_OPS);
    int events[2 * BRUTE_OPS], seen[BRUTE_OPS] = { 0 };
    for (size_t i = 0; i < 2 * n; i++)
        events[i] = (int)(i / 2);
    for (size_t i = 2 * n - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(rng) % (i + 1));
        int t = events[i];
        events[i] = events[j];
        events[j] = t;
    }
    for (size_t i = 0; i < 2 * n; i++) {
        lin_op *o = &h[events[i]];
        if (seen[events[i]]++) {
            o->ret = i + 1;
        } else {
            *o = (lin_op){ (lin_kind)(rng_next(rng) % (LIN_COMPUTE + 1)),
                           1 + rng_next(rng) % 3, 1 + rng_next(rng) % 3, 0, 0,
                           i + 1, 0, events[i] };
        }
    }

    size_t order[BRUTE_OPS];
    uint64_t point[BRUTE_OPS];
    bool inside = rng_next(rng) % 2;
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        point[i] = inside ? h[i].call + rng_next(rng) % (h[i].ret - h[i].call)
                          : rng_next(rng);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && point[order[j]] < point[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }

    bool present = rng_next(rng) % 2;
    lin_state s = { present, present ? 1 + rng_next(rng) % 3 : 0 };
    *init = s;
    for (size_t k = 0; k < n; k++)
        s = give_fitting_result(s, &h[order[k]]);
    if (rng_next(rng) % 4 == 0) {
        lin_op *o = &h[rng_next(rng) % n];
        o->out = rng_next(rng) % 4;
        if (rng_next(rng) % 2)
            o->rc = all_results[rng_next(rng) % 5];
    }
    return n;
}

static void brute_force_cases(uint64_t seed)
{
    uint64_t rng = seed ^ 0xb7u;
    int agreed = 0, linearizable = 0, violations = 0, ordering = 0;
    for (int round = 0; round < 5000; round++) {
        lin_op h[BRUTE_OPS];
        lin_state init;
        size_t n = brute_history(&rng, h, &init);
        bool want = brute_force(h, n, init, 0, true);
        char name[128];
        snprintf(name, sizeof name, "random history %d against brute force (seed %" PRIu64 ")",
                 round, seed);
        int before = failed;
        expect(name, h, n, init, want ? LIN_OK : LIN_VIOLATION);
        agreed += failed == before;
        linearizable += want;
        violations += !want;
        ordering += !want && brute_force(h, n, init, 0, false);
    }
    printf("brute force: lin_check agreed on %d histories: %d linearizable, %d not, "
           "%d of those only by real-time order\n", agreed, linearizable, violations,
           ordering);
    /* The comparison shows something only when each verdict is common. */
    if (linearizable < 1000 || violations < 1000 || ordering < 500) {
        failed++;
        fprintf(stderr, "FAIL brute force: too few histories of some kind "
                "(%d linearizable, %d not, %d only by order)\n",
                linearizable, violations, ordering);
    }
}

int main(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t seed = (uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 20 ^ (uint64_t)getpid();
    const char *env = getenv("SM_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 0);
    printf("checker self-test: seed %" PRIu64 " (set SM_TEST_SEED to change)\n", seed);
    linearizable_cases();
    violation_cases();
    random_cases(seed);
    brute_force_cases(seed);
    printf("checker self-test: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
