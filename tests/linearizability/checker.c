/*
 * checker.c — Wing & Gong's linearizability search with Lowe's memoisation,
 * for the history of one steadymap key. See checker.h.
 *
 * How the search works. The call and return events of all ops are sorted by
 * time into a doubly linked list. Walking the list from its head:
 *  - at a call event, try to linearize that op now: apply it to the current
 *    state; when its recorded result matches and the (linearized set, state)
 *    pair was never seen before, push it, remove its two events from the list
 *    and restart from the head;
 *  - at a return event, the op it belongs to had to be linearized before this
 *    point and was not: undo the most recent choice (pop, put its events back)
 *    and try the next call event after the undone one.
 * The list empties when every op is placed (linearizable); the stack empties
 * on a return event when no choice is left (not linearizable). The memo makes
 * each (set, state) pair expanded once, so with t threads and n ops the work
 * is bounded by about (n/t + 1)^t states rather than n!.
 */
#include "checker.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "steadymap.h"

int lin_apply(const lin_state *s, const lin_op *op, lin_state *next)
{
    *next = *s;
    if (op->rc < 0) {
        /* M2: an error changed nothing and observed nothing. */
        return 1;
    }
    switch (op->kind) {
    case LIN_GET:
        if (s->present)
            return op->rc == SM_OK && op->out == s->value;
        return op->rc == SM_NOT_FOUND;
    case LIN_PUT:
        if (s->present) {
            if (op->rc != SM_REPLACED || op->out != s->value)
                return 0;
        } else if (op->rc != SM_OK) {
            return 0;
        }
        next->present = 1;
        next->value = op->value;
        return 1;
    case LIN_INSERT:
        if (s->present)
            return op->rc == SM_EXISTS && op->out == s->value;
        if (op->rc != SM_OK)
            return 0;
        next->present = 1;
        next->value = op->value;
        return 1;
    case LIN_REPLACE:
        if (!s->present)
            return op->rc == SM_NOT_FOUND;
        if (op->rc != SM_OK || op->out != s->value)
            return 0;
        next->value = op->value;
        return 1;
    case LIN_CAS:
        if (!s->present)
            return op->rc == SM_NOT_FOUND;
        if (op->out != s->value)
            return 0;
        if (s->value != op->expected)
            return op->rc == SM_MISMATCH;
        if (op->rc != SM_OK)
            return 0;
        next->value = op->value;
        return 1;
    case LIN_DELETE:
        if (!s->present)
            return op->rc == SM_NOT_FOUND;
        if (op->rc != SM_OK || op->out != s->value)
            return 0;
        next->present = 0;
        next->value = 0;
        return 1;
    case LIN_GET_OR_INSERT:
        if (s->present)
            return op->rc == SM_EXISTS && op->out == s->value;
        if (op->rc != SM_OK || op->out != op->value)
            return 0;
        next->present = 1;
        next->value = op->value;
        return 1;
    case LIN_COMPUTE: {
        uint64_t v = s->value;
        int action = lin_compute_rule(s->present, s->value, op->value, &v);
        if (action == SM_COMPUTE_DELETE) {
            next->present = 0;
            next->value = 0;
        } else if (action == SM_COMPUTE_SET) {
            next->present = 1;
            next->value = v;
        }
        /* rc says whether the key is present afterwards, out its value. */
        if (!next->present)
            return op->rc == SM_NOT_FOUND;
        return op->rc == SM_OK && op->out == next->value;
    }
    }
    return 0;
}

int lin_compute_rule(int present, uint64_t current, uint64_t value, uint64_t *out)
{
    if (present && current % 3 == 0)
        return SM_COMPUTE_DELETE;
    if (present && current % 3 == 1)
        return SM_COMPUTE_KEEP;
    *out = value;
    return SM_COMPUTE_SET;
}

static const char *kind_name(lin_kind k)
{
    static const char *const names[] = {
        [LIN_GET] = "get", [LIN_PUT] = "put", [LIN_INSERT] = "insert",
        [LIN_REPLACE] = "replace", [LIN_CAS] = "cas", [LIN_DELETE] = "delete",
        [LIN_GET_OR_INSERT] = "get_or_insert", [LIN_COMPUTE] = "compute",
    };
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

void lin_format_op(const lin_op *op, char *buf, size_t len)
{
    char args[64] = "";
    if (op->kind == LIN_CAS)
        snprintf(args, sizeof args, "%#" PRIx64 " -> %#" PRIx64,
                 op->expected, op->value);
    else if (op->kind != LIN_GET && op->kind != LIN_DELETE)
        snprintf(args, sizeof args, "%#" PRIx64, op->value);
    snprintf(buf, len, "[%" PRIu64 ", %" PRIu64 "] thread %d %s(%s) = %s out %#" PRIx64,
             op->call, op->ret, op->thread, kind_name(op->kind), args,
             sm_status_str(op->rc), op->out);
}

/* The memo: a set of (linearized mask, state) pairs, open addressing. */
typedef struct memo_entry {
    uint64_t mask;
    uint64_t value;
    uint8_t present;
    uint8_t used;
} memo_entry;

typedef struct memo {
    memo_entry *slots;
    size_t cap;   /* a power of two */
    size_t count;
} memo;


static memo_entry *memo_find(memo_entry *slots, size_t cap, uint64_t mask,
                             const lin_state *s)
{
    size_t i = mix64(mask ^ mix64(s->value + (uint64_t)s->present)) & (cap - 1);
    while (slots[i].used &&
           !(slots[i].mask == mask && slots[i].present == s->present &&
             slots[i].value == s->value))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* Returns 1 when the pair was new (and is now recorded), 0 when seen, -1 on
 * allocation failure. */
static int memo_add(memo *mo, uint64_t mask, const lin_state *s)
{
    if (2 * (mo->count + 1) > mo->cap) {
        size_t cap = mo->cap * 2;
        memo_entry *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < mo->cap; i++) {
            if (mo->slots[i].used) {
                lin_state old = { mo->slots[i].present, mo->slots[i].value };
                *memo_find(slots, cap, mo->slots[i].mask, &old) = mo->slots[i];
            }
        }
        free(mo->slots);
        mo->slots = slots;
        mo->cap = cap;
    }
    memo_entry *e = memo_find(mo->slots, mo->cap, mask, s);
    if (e->used)
        return 0;
    *e = (memo_entry){ mask, s->value, (uint8_t)(s->present != 0), 1 };
    mo->count++;
    return 1;
}

/* One call or return event in the time-ordered list. */
typedef struct event {
    uint64_t t;
    int op;
    int is_ret;
    int prev;
    int next;
} event;

static int by_time(const void *a, const void *b)
{
    const event *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

/* Dancing-links removal: the node keeps its own links so that restoring in
 * reverse order of removal puts it back exactly. */
static void unlink_event(event *ev, int i)
{
    ev[ev[i].prev].next = ev[i].next;
    if (ev[i].next >= 0)
        ev[ev[i].next].prev = ev[i].prev;
}

static void relink_event(event *ev, int i)
{
    ev[ev[i].prev].next = i;
    if (ev[i].next >= 0)
        ev[ev[i].next].prev = i;
}

typedef struct frame {
    int op;
    lin_state before;
} frame;

lin_verdict lin_check(const lin_op *ops, size_t n, lin_state init,
                      char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (n > LIN_MAX_OPS) {
        if (why)
            snprintf(why, why_len, "%zu ops, more than the %d a check takes",
                     n, LIN_MAX_OPS);
        return LIN_BAD_HISTORY;
    }
    for (size_t i = 0; i < n; i++) {
        if (ops[i].ret <= ops[i].call) {
            if (why)
                snprintf(why, why_len, "op %zu returns before it is called", i);
            return LIN_BAD_HISTORY;
        }
    }
    if (n == 0)
        return LIN_OK;

    /* ev[0..2n) are events in time order; ev[2n] is the list head. */
    int head = (int)(2 * n);
    event ev[2 * LIN_MAX_OPS + 1];
    int call_of[LIN_MAX_OPS], ret_of[LIN_MAX_OPS];
    for (size_t i = 0; i < n; i++) {
        ev[2 * i] = (event){ ops[i].call, (int)i, 0, 0, 0 };
        ev[2 * i + 1] = (event){ ops[i].ret, (int)i, 1, 0, 0 };
    }
    qsort(ev, 2 * n, sizeof ev[0], by_time);
    for (int i = 0; i < head; i++) {
        if (i > 0 && ev[i].t == ev[i - 1].t) {
            if (why)
                snprintf(why, why_len, "two events at instant %" PRIu64, ev[i].t);
            return LIN_BAD_HISTORY;
        }
        ev[i].prev = i == 0 ? head : i - 1;
        ev[i].next = i + 1 < head ? i + 1 : -1;
        if (ev[i].is_ret)
            ret_of[ev[i].op] = i;
        else
            call_of[ev[i].op] = i;
    }
    ev[head].next = 0;
    ev[head].prev = -1;

    memo mo = { calloc(1024, sizeof(memo_entry)), 1024, 0 };
    if (!mo.slots)
        return LIN_BAD_HISTORY;

    frame stack[LIN_MAX_OPS];
    int depth = 0, deepest = 0;
    uint64_t mask = 0, deepest_mask = 0;
    lin_state state = init;
    lin_verdict verdict = LIN_OK;
    int e = ev[head].next;

    while (ev[head].next >= 0) {
        if (e < 0) {
            /* Unreachable: the list always ends with a return event. */
            verdict = LIN_BAD_HISTORY;
            break;
        }
        if (!ev[e].is_ret) {
            int op = ev[e].op;
            lin_state next;
            int fresh = 0;
            if (lin_apply(&state, &ops[op], &next)) {
                fresh = memo_add(&mo, mask | (UINT64_C(1) << op), &next);
                if (fresh < 0) {
                    verdict = LIN_BAD_HISTORY;
                    break;
                }
            }
            if (fresh) {
                stack[depth++] = (frame){ op, state };
                state = next;
                mask |= UINT64_C(1) << op;
                if (depth > deepest) {
                    deepest = depth;
                    deepest_mask = mask;
                }
                /* Removed call then return; relinked in reverse below. */
                unlink_event(ev, e);
                unlink_event(ev, ret_of[op]);
                e = ev[head].next;
            } else {
                e = ev[e].next;
            }
        } else {
            if (depth == 0) {
                verdict = LIN_VIOLATION;
                break;
            }
            frame f = stack[--depth];
            state = f.before;
            mask &= ~(UINT64_C(1) << f.op);
            int c = call_of[f.op];
            relink_event(ev, ret_of[f.op]);
            relink_event(ev, c);
            e = ev[c].next;
        }
    }
    free(mo.slots);

    if (verdict == LIN_VIOLATION && why) {
        /* Name the earliest-called op the deepest attempt could not place. */
        int stuck = -1;
        for (size_t i = 0; i < n; i++)
            if (!(deepest_mask >> i & 1) &&
                (stuck < 0 || ops[i].call < ops[stuck].call))
                stuck = (int)i;
        char desc[160] = "";
        if (stuck >= 0)
            lin_format_op(&ops[stuck], desc, sizeof desc);
        snprintf(why, why_len,
                 "not linearizable: at most %d of %zu ops could be ordered; "
                 "then no order places %s", deepest, n, desc);
    }
    return verdict;
}
