/*
 * string_stress.c — stress.c's discipline applied to byte-string keys
 * (SM_STRING_KEYS): many threads, mixed operations, a table that grows from
 * empty to hundreds of thousands of keys and shrinks back, several times,
 * with the same keys deleted and inserted again all along; every result
 * checked.
 *
 * Why a separate test. A string key lives in the map as a pointer to a copy
 * the map owns. A delete retires that copy through the limbo (limbo.c), but
 * while a migration runs the old table still holds a live-looking slot with
 * the same pointer, which lookups, iterators and the migration itself keep
 * dereferencing (to compare bytes or read the stored hash). Freeing the copy
 * too early is a use-after-free that no uint64 test can reach; ASan sees it
 * only if deletes really happen while a table is being left. So this test
 * makes them happen: an sm_options.on_resize observer counts resize starts,
 * and each owner that sees a new one deletes and re-inserts a burst of its
 * keys at once, and counts the deleting calls that ran entirely between a
 * resize's start and finish notifications (the run fails if there were none).
 *
 * Calls: get_str, put_str, insert_str, replace_str, cas_str (right and wrong
 * expected value), delete_str, get_or_insert_str, compute_str (set, delete,
 * keep), get_many_str, and walks with sm_iter_next_str.
 *
 * Keys (key_of). Key number n becomes bytes chosen to trip a careless
 * implementation: the empty key, keys made only of NUL bytes, keys with NULs
 * inside, keys sharing long prefixes, keys that differ only in their last
 * byte or only in their length, lengths from 0 to ~230 bytes covering every
 * length class XXH3 treats apart (0, 1-3, 4-8, 9-16, 17-128, 129-240), a
 * few 4 KiB keys and a few 64 KiB keys.
 *
 * Who may write what, and what a value says: as stress.c. Each phase gives
 * every key range one owner thread, the only one that writes its keys, so it
 * knows each key's exact state and checks every return code and out-value.
 * A value encodes (key number, writer, per-key sequence, checksum), so a
 * value read anywhere names the one key it was written for: a value found
 * under the wrong key, or a key copy whose bytes changed, is caught.
 * Foreign readers bound what a lookup may return by the owner's `done` word
 * loaded before the call and its `begun` word loaded after (T4); the
 * records, these checks, the phases and the quiescent check are harness.h's,
 * shared with stress.c.
 *
 * The iterator thread walks the map over and over while the owners work.
 * Each returned key must be a key of the key space whose bytes and length
 * equal those of the key its value names (so the iterator's copy is intact),
 * no key may come twice in one walk (G2), the value must lie between the
 * owner's records taken before and after (G3), and a key present and not
 * written at all from the walk's start to its end must have been returned
 * (G1).
 *
 * Phases (each followed by a quiescent check: every key against its owner's
 * record, a full walk that must return exactly the present keys with their
 * values, sm_size, smi_check_invariants):
 *   grow/shrink x MIXED_CYCLES  every thread owns a range and reads others'
 *   split grow/shrink           half the threads only read
 * At the end every resize is finished and reclaimed: no key copy may still
 * wait in the limbo, and LeakSanitizer (ASan builds) sees what sm_destroy
 * left behind.
 *
 * Work is fixed by operation counts, not time. Usage: string_stress
 * [threads]; the default comes from STRESS_THREADS. SM_TEST_SEED=n repeats a
 * run's choices (not its thread interleaving).
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "steadymap.h"
#include "testing.h"

/* Sanitizers slow every call (and string calls allocate and compare); the
 * sizes shrink so a sanitized run stays bounded and still crosses many
 * resizes. ThreadSanitizer costs 10-20x here, AddressSanitizer 2-3x: as ASan
 * is what sees a key copy freed too early, its runs keep a larger table
 * (GCC names the sanitizer; another compiler gets the smaller size). */
#if defined(SM_SANITIZED) && defined(__SANITIZE_ADDRESS__)
#define TOTAL_KEYS 120000u
#define MIXED_CYCLES 3
#elif defined(SM_SANITIZED)
#define TOTAL_KEYS 40000u
#define MIXED_CYCLES 2
#else
#define TOTAL_KEYS 400000u
#define MIXED_CYCLES 3
#endif

#define BURST 16u         /* keys deleted and re-inserted when a resize starts */

/* Key bytes: the longest key is a 64 KiB filler plus prefix, number, tail. */
#define HUGE_FILLER 65536u
#define LONG_FILLER 4096u
#define KEY_BUF (HUGE_FILLER + 64u)

/*
 * Values: bits 63..42 key number, 41..37 writer thread, 36..16 the key's own
 * write sequence, 15..0 checksum of the three. 22 bits of key number allow
 * 4M keys; 21 bits of sequence allow 2M writes of one key (a hot key sees
 * a few thousand in a run).
 */
#define ID_BITS 22
#define SEQ_BITS 21
#define ID_MAX ((UINT64_C(1) << ID_BITS) - 1)
#define SEQ_MAX ((UINT64_C(1) << SEQ_BITS) - 1)
_Static_assert(TOTAL_KEYS - 1 <= ID_MAX, "every key number must fit a value's key field");
_Static_assert(TOTAL_KEYS / 8 < (1u << 24), "key_of writes a group number in 3 bytes");

/* Per worker, indexed by its id: what only this program keeps. */
static struct {
    uint64_t seen_starts;           /* resize starts already answered by a burst */
    unsigned char *kbuf;            /* the key of the current owner call */
    unsigned char *fbuf[BATCH];     /* keys of the current foreign read */
    uint64_t bursts;
    uint64_t deletes_mid_resize;
} local[MAX_THREADS];

/* Told by the map's on_resize observer. */
static atomic_uint_fast64_t resize_starts, resize_finishes;

/* Group 0: the tiny keys, all of length <= 3. */
static const struct {
    const char *bytes;
    size_t len;
} tiny[8] = {
    { "", 0 }, { "\0", 1 }, { "\0\0", 2 }, { "\0\0\0", 3 },
    { "a", 1 }, { "b", 1 }, { "ab", 2 }, { "ac", 2 },
};

/* Shared prefixes; their first bytes differ, so none is a prefix of another. */
static const struct {
    const char *bytes;
    size_t len;
} prefixes[6] = {
    { "k", 1 },
    { "\0", 1 },
    { "user:", 5 },
    { "/srv/data/shard/0001/objects/", 29 },
    { "\xff\xfe", 2 },
    { "\x01\x00\x01\x00\x01\x00\x01\x00", 8 },
};

/* Filler length of group m: mostly 3..92 bytes, one group in 16 100..199
 * (XXH3 hashes 129..240 bytes its own way), now and then 4 KiB, and in two
 * groups of a large run 64 KiB (group 5 is a hot key of range 0). */
static size_t filler_len(uint64_t m)
{
    if (m % 32768 == 5)
        return HUGE_FILLER;
    if (m % 2048 == 1025)
        return LONG_FILLER;
    if (m % 16 == 3)
        return 100 + (size_t)(mix64(m) % 100);
    return 3 + (size_t)(mix64(m) % 90);
}

/*
 * Key number n -> its bytes in buf (KEY_BUF bytes); returns the length.
 * Groups of eight: n = 8m + c. Group 0 is the tiny keys (length <= 3). Any
 * other key is prefix(m % 6) + m as 3 big-endian bytes (so the c = 0 keys of
 * groups m and m + 6 mostly differ only in their last byte), then a tail:
 *   c: 0 ""   1 "\0"   2 "\0\0"   3 "A"   4 "B"
 *      5 filler+"A"   6 filler+"B"   7 filler      (filler >= 3 bytes)
 * Injective: other keys are >= 4 bytes long; the first byte names the prefix,
 * the next three name m; within a group the tails have lengths 0, 1, 2, 1, 1,
 * L + 1, L + 1, L with L >= 3, and equal lengths differ in the last byte.
 */
static size_t key_of(uint64_t n, unsigned char *buf)
{
    uint64_t m = n / 8;
    unsigned c = (unsigned)(n % 8);
    if (m == 0) {
        memcpy(buf, tiny[c].bytes, tiny[c].len);
        return tiny[c].len;
    }
    size_t len = prefixes[m % 6].len;
    memcpy(buf, prefixes[m % 6].bytes, len);
    buf[len++] = (unsigned char)(m >> 16);
    buf[len++] = (unsigned char)(m >> 8);
    buf[len++] = (unsigned char)m;
    switch (c) {
    case 0:
        break;
    case 1:
        buf[len++] = 0;
        break;
    case 2:
        buf[len++] = 0;
        buf[len++] = 0;
        break;
    case 3:
    case 4:
        buf[len++] = c == 3 ? 'A' : 'B';
        break;
    default: {
        size_t fl = filler_len(m);
        if (fl >= LONG_FILLER) {
            /* Long keys of a group share all but their last byte. */
            memset(buf + len, 'L', fl);
        } else {
            /* Short fillers carry NUL bytes now and then. */
            uint64_t x = mix64(m);
            for (size_t j = 0; j < fl; j++)
                buf[len + j] = (unsigned char)((x >> (j % 8 * 8)) + j / 8);
        }
        len += fl;
        if (c != 7)
            buf[len++] = c == 5 ? 'A' : 'B';
        break;
    }
    }
    return len;
}

static uint16_t checksum(uint64_t id, unsigned tid, uint64_t seq)
{
    return (uint16_t)(mix64(id << 27 ^ seq << 5 ^ tid ^ 0x5157a7u) >> 48);
}

static uint64_t encode(uint64_t id, unsigned tid, uint64_t seq)
{
    return id << 42 | (uint64_t)tid << 37 | seq << 16 | checksum(id, tid, seq);
}

/* True when v is a value some thread could have written for some key; *id
 * names that key. */
static bool decode(uint64_t v, uint64_t *id, unsigned *tid, uint64_t *seq)
{
    *id = v >> 42;
    *tid = (unsigned)(v >> 37 & 31);
    *seq = v >> 16 & SEQ_MAX;
    return (uint16_t)v == checksum(*id, *tid, *seq) && *tid < n_threads && *id < total_keys &&
           *seq > 0;
}

/* Says what a value is, for failure lines. */
static const char *describe(uint64_t v, char *buf, size_t len)
{
    uint64_t id, seq;
    unsigned tid;
    if (decode(v, &id, &tid, &seq))
        snprintf(buf, len, "%#" PRIx64 " (key %" PRIu64 ", thread %u, seq %" PRIu64 ")", v, id,
                 tid, seq);
    else
        snprintf(buf, len, "%#" PRIx64 " (never written: torn or garbage)", v);
    return buf;
}

/* The harness asks about values of one key; here a value names its key. */
static bool decode_for(uint64_t id, uint64_t v, unsigned *tid, uint64_t *seq)
{
    uint64_t vid;
    return decode(v, &vid, tid, seq) && vid == id;
}

static const char *describe_for(uint64_t id, uint64_t v, char *buf, size_t len)
{
    (void)id;
    return describe(v, buf, len);
}

static const char *key_name(uint64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRIu64, id);
    return buf;
}

typedef enum op_kind {
    OP_GET,
    OP_PUT,
    OP_INSERT,
    OP_REPLACE,
    OP_CAS,
    OP_CAS_WRONG,   /* cas with an expected value the key does not hold */
    OP_DELETE,
    OP_GET_OR_INSERT,
    OP_COMPUTE_SET,
    OP_COMPUTE_DELETE,
    OP_COMPUTE_KEEP,
    OP_KINDS
} op_kind;

static const char *const op_names[OP_KINDS] = {
    "get_str", "put_str", "insert_str", "replace_str", "cas_str", "cas_str(wrong expected)",
    "delete_str", "get_or_insert_str", "compute_str(set)", "compute_str(delete)",
    "compute_str(keep)",
};

/* What an owner's sm_compute_str does, and what it must be shown. */
typedef struct compute_plan {
    sm_compute_action action;
    uint64_t value;
    const unsigned char *key;
    size_t len;
    int present;
    uint64_t current;
    bool shown_wrong;  /* the function saw another key or state */
} compute_plan;

static sm_compute_action compute_fn(const void *key, size_t len, int present, uint64_t *value,
                                    void *ctx)
{
    compute_plan *plan = ctx;
    /* The owner is the only writer of this key: every call (a retry too)
     * must see exactly the state the owner knows. */
    if (len != plan->len || (len && memcmp(key, plan->key, len) != 0) ||
        present != plan->present || (present && *value != plan->current))
        plan->shown_wrong = true;
    if (plan->action == SM_COMPUTE_SET)
        *value = plan->value;
    return plan->action;
}

static void on_resize(const sm_resize_event *ev, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(ev->kind == SM_RESIZE_START ? &resize_starts : &resize_finishes, 1);
}

/* True while a resize the observer announced has not been announced finished. */
static bool resize_running(void)
{
    uint64_t f = atomic_load(&resize_finishes);
    return atomic_load(&resize_starts) > f;
}

static bool key_present(op_kind kind, bool present)
{
    switch (kind) {
    case OP_PUT:
    case OP_INSERT:
    case OP_GET_OR_INSERT:
    case OP_COMPUTE_SET:
        return true;
    case OP_DELETE:
    case OP_COMPUTE_DELETE:
        return false;
    default:
        return present;
    }
}

/*
 * One call by the owner on its key number id, checked exactly against what
 * the owner knows the key holds.
 */
static void owner_op(worker *w, uint64_t id, op_kind kind)
{
    unsigned char *key = local[w->id].kbuf;
    size_t len = key_of(id, key);
    uint64_t now = own_done(id);
    bool present = WORD_PRESENT(now);
    uint64_t cur = present ? encode(id, WORD_TID(now), WORD_SEQ(now)) : 0;
    bool after = key_present(kind, present);
    /* A call changes the key unless it only looked, or found nothing to do. */
    bool changes = kind == OP_PUT || kind == OP_COMPUTE_SET || after != present ||
                   (present && (kind == OP_REPLACE || kind == OP_CAS));

    uint64_t seq = WORD_SEQ(now) + 1;
    if (seq > SEQ_MAX) {
        fprintf(stderr, "string_stress: key %" PRIu64 " ran out of sequence numbers\n", id);
        exit(2);
    }
    uint64_t word = WORD(seq, w->id, after);
    uint64_t nv = encode(id, w->id, seq);
    if (changes)
        publish_begun(id, word);
    bool deleting = present && !after;
    uint64_t starts = 0;
    if (deleting && resize_running())
        starts = atomic_load(&resize_starts);

    /* An out-pointer may be NULL (B1); pass one now and then. */
    uint64_t out = 0;
    uint64_t *outp = below(w, 8) == 0 ? NULL : &out;
    int rc, want;
    uint64_t expect_out = cur;
    bool out_expected = present;
    compute_plan plan = { SM_COMPUTE_KEEP, nv, key, len, present, cur, false };
    switch (kind) {
    case OP_GET:
        rc = sm_get_str(map, key, len, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_PUT:
        rc = sm_put_str(map, key, len, nv, outp);
        want = present ? SM_REPLACED : SM_OK;
        break;
    case OP_INSERT:
        rc = sm_insert_str(map, key, len, nv, outp);
        want = present ? SM_EXISTS : SM_OK;
        break;
    case OP_REPLACE:
        rc = sm_replace_str(map, key, len, nv, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_CAS:
        rc = sm_cas_str(map, key, len, cur, nv, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_CAS_WRONG:
        rc = sm_cas_str(map, key, len, cur ^ 1, nv, outp);
        want = present ? SM_MISMATCH : SM_NOT_FOUND;
        break;
    case OP_DELETE:
        rc = sm_delete_str(map, key, len, outp);
        want = present ? SM_OK : SM_NOT_FOUND;
        break;
    case OP_GET_OR_INSERT:
        rc = sm_get_or_insert_str(map, key, len, nv, outp);
        want = present ? SM_EXISTS : SM_OK;
        /* It reports the value now in the map, which it may have inserted. */
        expect_out = present ? cur : nv;
        out_expected = true;
        break;
    default:
        plan.action = kind == OP_COMPUTE_SET      ? SM_COMPUTE_SET
                      : kind == OP_COMPUTE_DELETE ? SM_COMPUTE_DELETE
                                                  : SM_COMPUTE_KEEP;
        rc = sm_compute_str(map, key, len, compute_fn, &plan, outp);
        want = after ? SM_OK : SM_NOT_FOUND;
        expect_out = kind == OP_COMPUTE_SET ? nv : cur;
        out_expected = after;
        break;
    }
    w->ops++;
    if (starts && atomic_load(&resize_finishes) < starts)
        local[w->id].deletes_mid_resize++;
    if (rc != want) {
        fail("thread %u %s(key %" PRIu64 ", %zu bytes) returned %d (%s), expected %d: the key "
             "is %s", w->id, op_names[kind], id, len, rc, sm_status_str(rc), want,
             present ? "present" : "absent");
    } else if (out_expected && outp && out != expect_out) {
        char got[96], exp[96];
        fail("thread %u %s(key %" PRIu64 ") reported %s, expected %s", w->id, op_names[kind], id,
             describe(out, got, sizeof got), describe(expect_out, exp, sizeof exp));
    }
    if (plan.shown_wrong)
        fail("thread %u %s(key %" PRIu64 "): the compute function was shown another key or "
             "state than the key's (present %d, value %#" PRIx64 ")", w->id, op_names[kind], id,
             present, cur);
    /* O2: the map must hold its own copy; wreck ours before anyone looks. */
    memset(key, 0xa5, len);
    if (changes)
        publish_done(id, word);
}

/*
 * A read of other owners' keys: mostly one sm_get_str, sometimes one
 * sm_get_many_str of BATCH distinct keys, each lookup checked over the
 * batch's call.
 */
static void random_foreign_read(worker *w)
{
    if (w->n_foreign == 0)
        return;
    unsigned char *const *fbuf = local[w->id].fbuf;
    if (below(w, 4) != 0) {
        uint64_t id = pick_foreign(w);
        size_t len = key_of(id, fbuf[0]);
        uint64_t before = load_done(id), v = 0;
        int rc = sm_get_str(map, fbuf[0], len, &v);
        uint64_t after = load_begun(id);
        w->ops++;
        check_foreign(w, id, rc, v, before, after, "get_str");
        return;
    }
    uint64_t id[BATCH], before[BATCH], value[BATCH];
    const void *keys[BATCH];
    size_t lens[BATCH];
    pick_foreign_batch(w, id);
    for (unsigned j = 0; j < BATCH; j++) {
        lens[j] = key_of(id[j], fbuf[j]);
        keys[j] = fbuf[j];
        before[j] = load_done(id[j]);
        value[j] = 0;
    }
    uint8_t found[BATCH] = { 0 };
    int rc = sm_get_many_str(map, keys, lens, BATCH, value, found);
    w->ops++;
    check_batch(w, id, before, rc, value, found, "get_many_str");
}

/*
 * A resize just started: delete and re-insert BURST owned keys at once, so
 * key copies are retired while the old table still points at them. Growing,
 * the keys just inserted; shrinking, the keys about to be deleted.
 */
static void burst(worker *w, uint64_t j, uint64_t total, bool growing)
{
    static const op_kind removers[] = { OP_DELETE, OP_COMPUTE_DELETE };
    static const op_kind inserters[] = { OP_PUT, OP_INSERT, OP_GET_OR_INSERT, OP_COMPUTE_SET };
    local[w->id].bursts++;
    for (uint64_t b = 1; b <= BURST; b++) {
        if (growing ? b > j : j + b >= total)
            break;
        uint64_t id = owned_key(w, growing ? j - b : j + b);
        owner_op(w, id, removers[below(w, 2)]);
        owner_op(w, id, inserters[below(w, 4)]);
    }
}

/*
 * One step of a grow (shrink) phase: insert (delete) owned key j, then maybe
 * one random op on an owned key, then maybe one read of another owner's key,
 * and a burst when a resize started since the last step. Random ops in the
 * grow phase touch keys already visited, those in the shrink phase keys not
 * yet visited, and both touch hot keys, so the table ends near empty after
 * a shrink.
 */
static void step(worker *w, uint64_t j, uint64_t total, bool growing)
{
    if (growing)
        owner_op(w, owned_key(w, j), below(w, 2) ? OP_PUT : OP_INSERT);
    else
        owner_op(w, owned_key(w, j), below(w, 4) ? OP_DELETE : OP_COMPUTE_DELETE);

    if (below(w, 2)) {
        uint64_t target;
        if (below(w, 4) == 0)
            target = below(w, (uint64_t)w->n_owned * HOT_KEYS);
        else if (growing)
            target = below(w, j + 1);
        else
            target = j + below(w, total - j);
        owner_op(w, owned_key(w, target), (op_kind)below(w, OP_KINDS));
    }
    if (below(w, 2))
        random_foreign_read(w);

    uint64_t starts = atomic_load(&resize_starts);
    if (starts != local[w->id].seen_starts) {
        local[w->id].seen_starts = starts;
        if (resize_running())
            burst(w, j, total, growing);
    }
}

/* The iterator thread's state: per key, the done word when the walk began
 * and the number of the last walk that returned it. */
static uint64_t *walk_start;
static uint32_t *walk_stamp;
static uint32_t walk_no;
static unsigned char *walk_kbuf;
static uint64_t walks, walk_entries;

/*
 * One complete walk. With `quiescent`, nothing runs alongside: the walk must
 * return exactly the present keys with their current values. Otherwise it is
 * checked against G1-G3 as described at the top.
 */
static void walk(bool quiescent)
{
    const char *who = quiescent ? "quiescent walk" : "walk";
    walk_no++;
    for (uint64_t id = 0; id < total_keys; id++)
        walk_start[id] = load_done(id);
    sm_iter *it = sm_iter_new(map);
    if (!it) {
        fail("%s: sm_iter_new returned NULL", who);
        return;
    }
    const void *key;
    size_t len;
    uint64_t v, returned = 0;
    int rc;
    while ((rc = sm_iter_next_str(it, &key, &len, &v)) == SM_OK) {
        returned++;
        uint64_t id, seq;
        unsigned tid;
        char got[96];
        if (!decode(v, &id, &tid, &seq)) {
            fail("%s: returned a %zu-byte key with value %s", who, len,
                 describe(v, got, sizeof got));
            continue;
        }
        size_t want_len = key_of(id, walk_kbuf);
        if (len != want_len || (len && memcmp(key, walk_kbuf, len) != 0)) {
            size_t at = 0;
            while (at < len && at < want_len && ((const unsigned char *)key)[at] == walk_kbuf[at])
                at++;
            fail("%s: value %s belongs to key %" PRIu64 " (%zu bytes), but the key returned "
                 "with it has %zu bytes, differing from byte %zu", who,
                 describe(v, got, sizeof got), id, want_len, len, at);
            continue;
        }
        if (walk_stamp[id] == walk_no) {
            fail("%s: key %" PRIu64 " returned twice (G2)", who, id);
            continue;
        }
        walk_stamp[id] = walk_no;
        check_value(n_threads, id, v, walk_start[id], load_begun(id), who, &seq);
    }
    sm_iter_free(it);
    if (rc != SM_NOT_FOUND)
        fail("%s: sm_iter_next_str returned %d (%s)", who, rc, sm_status_str(rc));
    uint64_t expected = 0;
    for (uint64_t id = 0; id < total_keys; id++) {
        if (!WORD_PRESENT(walk_start[id]))
            continue;
        expected++;
        if (walk_stamp[id] == walk_no || load_begun(id) != walk_start[id])
            continue;
        fail("%s: key %" PRIu64 " was present and untouched for the whole walk (seq %" PRIu64
             "), but not returned (G1)", who, id, WORD_SEQ(walk_start[id]));
    }
    if (quiescent && returned != expected)
        fail("%s: returned %" PRIu64 " keys, the owners' records hold %" PRIu64, who, returned,
             expected);
    walks++;
    walk_entries += returned;
}

/* The iterator thread's part of a phase: walk until the workers are done. */
static void watch(void)
{
    do
        walk(false);
    while (!workers_finished());
}

static int lookup(uint64_t id, uint64_t *v)
{
    size_t len = key_of(id, walk_kbuf);
    return sm_get_str(map, walk_kbuf, len, v);
}

/* After the keys' check: a full walk, which must return exactly them. */
static uint64_t verify_walk(void)
{
    walk(true);
    return 0;
}

static void report(const char *name, double seconds, const sm_stats_info *st)
{
    static uint64_t mid_reported;
    uint64_t mid = 0;
    for (unsigned t = 0; t < n_threads; t++)
        mid += local[t].deletes_mid_resize;
    printf("  %-13s %6.2f s  %7" PRIu64 " entries, %8" PRIu64 " slots, grows %3" PRIu64
           ", shrinks %3" PRIu64 ", deletes mid-resize %6" PRIu64 ", keys in limbo %" PRIu64
           "\n", name, seconds, st->entries, st->slots, st->grows, st->shrinks,
           mid - mid_reported, st->retired_keys);
    mid_reported = mid;
}

static const stress_program program = {
    .name = "string_stress",
    .key_name = key_name,
    .decode = decode_for,
    .encode = encode,
    .describe = describe_for,
    .lookup = lookup,
    .lookup_name = "get_str",
    .step = step,
    .foreign_read = random_foreign_read,
    .watch = watch,
    .verify = verify_walk,
    .report = report,
};

int main(int argc, char **argv)
{
    harness_init(argc, argv, TOTAL_KEYS, &program);
    printf("string_stress: %u threads and an iterator, %" PRIu64 " string keys, seed %" PRIu64
           " (SM_TEST_SEED=%" PRIu64 " repeats it)\n", n_threads, total_keys, seed, seed);
    fflush(stdout);

    sm_options opts = SM_OPTIONS_INIT;
    opts.flags = SM_STRING_KEYS;
    opts.seed = seed;
    opts.on_resize = on_resize;
    map = sm_new(&opts);
    if (!map) {
        perror("sm_new");
        return 1;
    }
    for (unsigned t = 0; t < n_threads; t++) {
        local[t].kbuf = must_calloc(1, KEY_BUF);
        for (unsigned j = 0; j < BATCH; j++)
            local[t].fbuf[j] = must_calloc(1, KEY_BUF);
    }
    walk_start = must_calloc(total_keys, sizeof *walk_start);
    walk_stamp = must_calloc(total_keys, sizeof *walk_stamp);
    walk_kbuf = must_calloc(1, KEY_BUF);

    harness_start();
    run_grow_shrink_phases(MIXED_CYCLES);
    harness_stop();

    uint64_t bursts = 0, mid = 0;
    for (unsigned t = 0; t < n_threads; t++) {
        bursts += local[t].bursts;
        mid += local[t].deletes_mid_resize;
    }
    printf("; %" PRIu64 " bursts, %" PRIu64 " deletes between a resize's start and finish; %"
           PRIu64 " walks returned %" PRIu64 " entries\n", bursts, mid, walks, walk_entries);
    if (mid == 0)
        fail("no key was deleted while a resize ran: the limbo's migration wait went untested");

    /* With every thread gone, finishing the last resize lets every retired
     * key copy go: none may be left waiting. */
    if (sm_reserve(map, 0) != SM_OK)
        fail("sm_reserve(0) failed");
    smi_reclaim(map);
    sm_stats_info st = stats();
    if (st.retired_keys != 0 || st.retired_tables != 0)
        fail("after the last resize and a reclaim with no thread inside, %" PRIu64
             " key copies and %" PRIu64 " tables still wait", st.retired_keys,
             st.retired_tables);

    for (unsigned t = 0; t < n_threads; t++) {
        free(local[t].kbuf);
        for (unsigned j = 0; j < BATCH; j++)
            free(local[t].fbuf[j]);
    }
    free(walk_start);
    free(walk_stamp);
    free(walk_kbuf);
    return harness_finish();
}
