/*
 * checker.h — decides whether a recorded history of operations on ONE key of
 * a steadymap is linearizable (T4 in include/steadymap.h).
 *
 * Linearizability is local: a history of many keys is linearizable exactly
 * when each key's sub-history is (Herlihy & Wing, 1990). So the recorder
 * splits its history by key and checks each part on its own, which keeps the
 * search small.
 *
 * The search is Wing & Gong's, with Lowe's memoisation of (set of ops already
 * linearized, key state) pairs ("Testing for linearizability", 2017). The set
 * is a 64-bit mask, so one call accepts at most LIN_MAX_OPS operations.
 */
#ifndef LIN_CHECKER_H
#define LIN_CHECKER_H

#include <stddef.h>
#include <stdint.h>

/* One bit per operation in the linearized-set mask. */
#define LIN_MAX_OPS 64

typedef enum lin_kind {
    LIN_GET,
    LIN_PUT,
    LIN_INSERT,
    LIN_REPLACE,
    LIN_CAS,
    LIN_DELETE,
    LIN_GET_OR_INSERT,
    LIN_COMPUTE     /* sm_compute with lin_compute_rule as its function */
} lin_kind;

/*
 * One completed call. call and ret are instants from a clock that orders
 * events in real time (the recorder uses one atomic ticket counter): op A
 * precedes op B when A.ret < B.call. Instants must all be distinct.
 */
typedef struct lin_op {
    lin_kind kind;
    uint64_t value;     /* put/insert/replace/get_or_insert/compute: the
                         * value; cas: desired */
    uint64_t expected;  /* cas only */
    int rc;             /* what the call returned */
    uint64_t out;       /* the out-value, where rc says one was written */
    uint64_t call;
    uint64_t ret;
    int thread;         /* for reports only */
} lin_op;

/* The state of one key. */
typedef struct lin_state {
    int present;
    uint64_t value;
} lin_state;

typedef enum lin_verdict {
    LIN_OK = 0,             /* a linearization exists */
    LIN_VIOLATION = 1,      /* no order of the ops explains the results */
    LIN_BAD_HISTORY = -1,   /* too many ops, ret <= call, a shared instant, no memory */
} lin_verdict;

/*
 * Check ops[0..n) (any order) starting from init. On LIN_VIOLATION, why gets
 * one line naming the deepest point the search reached. why may be NULL.
 */
lin_verdict lin_check(const lin_op *ops, size_t n, lin_state init,
                      char *why, size_t why_len);

/*
 * Apply one op to a state under the sequential specification of the header.
 * Returns 1 and sets *next when the op's recorded rc and out are what the op
 * gives from *s, else 0. Exposed so the recorder and the self-test can use
 * the very same spec the search uses.
 */
int lin_apply(const lin_state *s, const lin_op *op, lin_state *next);

/*
 * The function sm_compute runs in recorded histories, so that the spec knows
 * what a compute did: absent -> store `value`; present with v: v % 3 == 0
 * deletes, v % 3 == 1 keeps, otherwise stores `value`. Returns the
 * sm_compute_action and sets *out to the value to store.
 */
int lin_compute_rule(int present, uint64_t current, uint64_t value, uint64_t *out);

/* Describe one op on one line (no newline), for failure reports. */
void lin_format_op(const lin_op *op, char *buf, size_t len);

#endif
