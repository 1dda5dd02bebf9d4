/*
 * map.c — steadymap's operations: a hash map whose reads never wait.
 *
 * Terminology
 * -----------
 *   table      an array of buckets plus a small header (table.h). A map has a
 *              root table and, while it resizes, a next table.
 *   bucket     64 bytes, one cache line: a meta word, 8 spare bytes, and
 *              three slots of (key, value).
 *   meta word  per-bucket: a tag byte per slot, LOCK, FROZEN and OVERFLOW
 *              bits and a 32-bit version (layout in table.h).
 *   tag        0 empty, 1 tombstone, 2..255 live with 8 hash bits, so a probe
 *              skips most non-matching slots without reading their keys.
 *   home       the bucket a key hashes to: home = (hash * nbuckets) >> 64.
 *   chain      the buckets from a key's home up to the first one without
 *              OVERFLOW; a key lives somewhere in its home's chain.
 *   migration  moving every key from the root table to the next one, in
 *              chunks of buckets, done by writers as they pass (migrate.c).
 *
 * Layout
 * ------
 *          sm_map                     sm_table (root)              sm_table (next)
 *   +------------------+     +---------------------------+     +----------------+
 *   | root ----------------> | nbuckets, buckets, next ------> | ...            |
 *   | hash key         |     | claim, migrated (own line) |     +----------------+
 *   | stripe[16]: live |     | used[16] stripes           |
 *   |   and writes     |     |                           |
 *   +------------------+     +---------------------------+
 *                            | bucket 0 | bucket 1 | ...  |  (64-byte aligned)
 *                            +---------------------------+
 *   bucket: | meta 8 | spare 8 | k0 v0 | k1 v1 | k2 v2 |  = 64 bytes
 *
 * Invariants (cited in the code as I1..I9)
 * ----------
 *   I1  Within one table a key occupies at most one live slot, and only a
 *       writer holding the lock of the key's home bucket creates, deletes or
 *       changes the value of that slot. The key word of a live slot never
 *       changes while the slot is live.
 *   I2  A live key is in its home's chain: every bucket from its home up to,
 *       not including, the bucket holding it has OVERFLOW set.
 *   I3  OVERFLOW and FROZEN bits are never cleared within a table.
 *   I4  A slot's key and value words change only while its tag is empty or a
 *       tombstone in the published meta word, or (value only) by a single
 *       atomic store while live; a slot is reused only after the delete that
 *       freed it bumped the bucket's version.
 *   I5  Every unlock that changes which keys a bucket holds bumps its
 *       version, and every insert or delete of a key bumps its home bucket's
 *       version when it unlocks the home. So a reader that sees the same home
 *       meta word before and after its probe saw no insert or delete of its
 *       key complete in between (the version is 32 bits: a reader would have
 *       to sleep through 2^32 changes of one bucket to be fooled).
 *   I6  A key is in the next table only if its home in the root table is
 *       FROZEN; once a home is FROZEN, every operation on its keys uses the
 *       next table. FROZEN is set, in the same store that releases the home
 *       lock, only after all of that home's keys were copied.
 *   I7  At most one resize runs per map (the `resizing` gate); the next table
 *       never has a next of its own before it becomes root.
 *   I8  The root switches to the next table only after every bucket of the
 *       old one is FROZEN; the old one is then retired and freed by epochs.
 *   I9  While the resize gate's holder sizes a next table (`preparing`), no
 *       writer adds an entry to the root: the table is sized from the counts
 *       read then, and the copies into it, plus the writers' inserts that
 *       its room check admits (migrate.c), must always fit. A writer that
 *       read the flag just before it rose may still add one entry, and
 *       writers may pass the room check together, so the shrink size and
 *       the room check allow two entries per thread.
 *
 * Operations
 * ----------
 *   get      Load root. Read the home's meta word (acquire); if FROZEN, go to
 *            the next table. Otherwise scan the chain: for each bucket, the
 *            slots whose tag matches, key then value (acquire loads). A hit is
 *            returned after re-reading that bucket's meta word and finding it
 *            unchanged but for LOCK; a miss after re-reading the home's. Any
 *            change means a writer completed something in between: start the
 *            probe again. Readers take no lock, do no RMW, store nothing.
 *   writes   Help migrate one chunk if a resize runs. Lock the key's home
 *            (spin; no other lock held). If FROZEN, move on to the next table;
 *            if a resize runs, first migrate this home bucket (as Go
 *            evacuates the bucket about to be written) and then work in the
 *            next table. Search the chain under the home lock (I1 makes this
 *            exact). Replace a value with one atomic store; delete by turning
 *            the tag into a tombstone; insert with smi_place (table.c).
 *   resize   Triggered by an insert when used slots pass 3/4, by a delete
 *            when live entries fall under 1/4, or by sm_reserve. See
 *            migrate.c for the protocol and the per-operation work bound.
 *
 * Ordering guarantees
 * -------------------
 *   S1  A writer's slot stores are release; the meta store that publishes a
 *       slot is release; readers load meta, keys and values with acquire. So
 *       a get that returns a value sees what the putting thread wrote before
 *       its put (M1 in the header), also when the value was copied by a
 *       migration (the copy loads acquire and stores release).
 *   S2  Seqlock validation without a write-side "odd" state: a reader only
 *       accepts data read between two equal meta words, and a writer changes
 *       a meta word (its lock CAS reads the version the freeing delete set)
 *       before it writes a reused slot with release stores (I4). A reader
 *       that reads such a store therefore sees the changed version on its
 *       re-read. Writers never leave a bucket in a state readers must wait
 *       out; the LOCK bit is masked off by readers.
 *   S3  Linearization points: a successful insert or delete at the release
 *       store of the meta word that publishes the tag change; a replace or
 *       cas at its value store; a get at its last validating meta load.
 *
 * Progress
 * --------
 *   get is lock-free: it retries only when a writer completed a change to the
 *   very buckets it read. Writers are blocking per bucket (spin then yield):
 *   a writer preempted while it holds a bucket lock delays the writers of
 *   that bucket only. Two waits can hold up every inserter of the map, as the
 *   header's T3 says: while the resize gate's holder sizes and allocates a
 *   new table, inserts into the root back off until it is published (I9);
 *   and when the next table lacks room for the copies still to come because
 *   a migrating thread is not running, inserts into it wait for that
 *   migration to finish. A writer preempted in either place delays them all;
 *   readers never wait.
 *
 * Limitations
 * -----------
 *   A reader starved by a writer that changes its home bucket without pause
 *   retries without bound (lock-free, not wait-free). Memory of retired
 *   tables is held while any thread stays inside an operation (epoch.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "alloc.h"
#include "map_internal.h"
#include "testing.h"

typedef enum op_kind { OP_PUT, OP_INSERT, OP_REPLACE, OP_CAS, OP_DELETE, OP_COMPUTE } op_kind;

#ifdef SM_TEST_HOOKS
void (*smi_hook_after_apply)(void);
void (*smi_hook_migrate_home)(uint64_t b, uint64_t nbuckets);
void (*smi_hook_before_publish)(void);
void (*smi_hook_backoff_yield)(void);
#endif

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s && s != 0)
        return s;
    /* Without getrandom, mix time and an address: not secret, but distinct. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&s;
}

static uint64_t buckets_for(uint64_t entries, unsigned permille)
{
    /* slots = entries / load; buckets = slots / 3, rounded up. */
    unsigned __int128 slots = ((unsigned __int128)entries * 1000 + permille - 1) / permille;
    unsigned __int128 b = (slots + SM_SLOTS - 1) / SM_SLOTS;
    if (b > UINT64_MAX / 2)
        return UINT64_MAX / 2;
    return b < SM_MIN_BUCKETS ? SM_MIN_BUCKETS : (uint64_t)b;
}

uint64_t smi_buckets_to_hold(uint64_t entries)
{
    /* Room for one more than `entries` under the grow threshold, because the
     * threshold test counts the insert about to happen (used + 1 > limit). */
    uint64_t want = entries == UINT64_MAX ? entries : entries + 1;
    return buckets_for(want, 1000u * SM_GROW_NUM / SM_GROW_DEN);
}

sm_map *sm_new(const sm_options *opts)
{
    sm_options o = SM_OPTIONS_INIT;
    if (opts) {
        if (opts->size < sizeof(size_t) || opts->size > 4096) {
            errno = EINVAL;
            return NULL;
        }
        size_t n = opts->size < sizeof o ? opts->size : sizeof o;
        memcpy(&o, opts, n);
        o.size = sizeof o;
        if (o.flags & ~SM_FLAGS_KNOWN) {
            errno = EINVAL;
            return NULL;
        }
    }
    sm_map *m = smi_alloc_zeroed(sizeof *m);
    if (!m) {
        errno = ENOMEM;
        return NULL;
    }
    uint64_t nb = o.capacity ? smi_buckets_to_hold(o.capacity) : SM_MIN_BUCKETS;
    const int huge_pages = !(o.flags & SM_NO_HUGE_PAGES);
    sm_table *t = smi_table_new(nb, o.capacity != 0, huge_pages);
    if (!t) {
        smi_free(m, sizeof *m);
        errno = ENOMEM;
        return NULL;
    }
    if (pthread_mutex_init(&m->garbage_lock, NULL) != 0) {
        smi_table_free(t);
        smi_free(m, sizeof *m);
        errno = ENOMEM;
        return NULL;
    }
    m->garbage_tail = &m->garbage;
    m->hash_key = hash_key_from_seed(o.seed ? o.seed : random_seed());
    m->string_keys = (o.flags & SM_STRING_KEYS) != 0;
    m->huge_pages = huge_pages;
    if (m->string_keys)
        smi_secret_init(m->secret, o.seed);
    m->str_hash_mask = UINT64_MAX;
    m->on_resize = o.on_resize;
    m->on_resize_ctx = o.on_resize_ctx;
    m->free_value = o.free_value;
    m->free_value_ctx = o.free_value_ctx;
    if ((m->free_value || m->string_keys) && !(m->limbo = smi_limbo_new())) {
        pthread_mutex_destroy(&m->garbage_lock);
        smi_table_free(t);
        smi_free(m, sizeof *m);
        errno = ENOMEM;
        return NULL;
    }
    u64_store_relaxed(&m->bytes_held, t->bytes);
    /* Nothing else can see m yet; the caller publishes it to other threads
     * with its own synchronisation. */
    atomic_init(&m->root, t);
    return m;
}

/* Release what the entries still in the map own: their values to free_value
 * and their key copies to the allocator. Only the live slots of t whose home
 * is authoritative there (I6) count, or all live slots of a next table. */
static void release_present(sm_map *m, sm_table *t, int all)
{
    for (uint64_t b = 0; b < t->nbuckets; b++) {
        sm_bucket *bk = &t->buckets[b];
        uint64_t meta = u64_load_relaxed(&bk->meta);
        for (unsigned i = 0; i < SM_SLOTS; i++) {
            if (meta_tag(meta, i) < 2)
                continue;
            uint64_t k = u64_load_relaxed(&bk->slot[i].key);
            uint64_t home_meta = u64_load_relaxed(&t->buckets[home_of_hash(t, smi_slot_hash(m, k))].meta);
            if (!all && (home_meta & META_FROZEN))
                continue;
            if (m->free_value)
                m->free_value(u64_load_relaxed(&bk->slot[i].value), m->free_value_ctx);
            if (m->string_keys)
                smi_skey_free(k);
        }
    }
}

void sm_destroy(sm_map *m)
{
    if (!m)
        return;
    if (m->limbo) {
        sm_table *root = atomic_load_explicit(&m->root, memory_order_acquire);
        sm_table *nt = atomic_load_explicit(&root->next, memory_order_acquire);
        /* The root first: its frozen homes' stale slots are hashed through
         * key copies that the next table still owns. */
        release_present(m, root, 0);
        if (nt)
            release_present(m, nt, 1);
        smi_limbo_destroy(m);
    }
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    while (t) {
        sm_table *nt = atomic_load_explicit(&t->next, memory_order_relaxed);
        smi_table_free(t);
        t = nt;
    }
    for (sm_table *g = m->garbage; g;) {
        sm_table *nx = g->retired_next;
        smi_table_free(g);
        g = nx;
    }
    pthread_mutex_destroy(&m->garbage_lock);
    smi_free(m, sizeof *m);
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                     */

/*
 * The full lookup, for both key kinds: `str` is a compile-time constant in
 * each caller below, so each gets its own specialised copy. A uint64 key is
 * compared as a word; a string key through its copy (strkey.h), whose stored
 * hash is compared before any byte.
 */
static inline __attribute__((always_inline)) int lookup_in(sm_table *t, uint64_t h, uint64_t key,
                                                          const void *kb, size_t kl, int str,
                                                          uint64_t *value)
{
    const unsigned tag = (unsigned)tag_of_hash(h);
    for (;;) {
        uint64_t b = home_of_hash(t, h);
        sm_bucket *home = &t->buckets[b];
        __builtin_prefetch(&t->buckets[next_bucket(t, b)]);  /* as in smi_lookup_home */
        /* Acquire pairs with the release unlock of the home's last writer:
         * its tags, keys and values are visible (S1). */
        uint64_t first = u64_load_acquire(&home->meta);
        if (first & META_FROZEN) {
            /* I6: this home's keys are in the next table; acquire pairs
             * with the release publication of `next` in smi_resize_start. */
            t = atomic_load_explicit(&t->next, memory_order_acquire);
            continue;
        }
        uint64_t c = b;
        uint64_t meta = first;
        int retry = 0;
        for (uint64_t probe = 0; probe < t->nbuckets; probe++, c = next_bucket(t, c)) {
            sm_bucket *bk = &t->buckets[c];
            if (probe > 0)
                meta = u64_load_acquire(&bk->meta);
            uint32_t match = meta_match(meta, tag);
            int read_slot = match != 0;
            for (; match; match &= match - 1) {
                unsigned i = (unsigned)__builtin_ctz(match) / 8;
                /* Acquire loads keep the re-read of meta below after them
                 * (S2) and carry the writer's release (S1), which for a
                 * string key includes the bytes of its copy. */
                uint64_t k = u64_load_acquire(&bk->slot[i].key);
                if (str ? !skey_equals(k, h, kb, kl) : k != key)
                    continue;
                uint64_t v = u64_load_acquire(&bk->slot[i].value);
                if (!meta_same(u64_load_relaxed(&bk->meta), meta)) {
                    retry = 1;
                    break;
                }
                if (value)
                    *value = v;
                return SM_OK;
            }
            if (retry)
                break;
            /* A key read under a tag that has since been reused may have
             * been torn from another key: only an unchanged meta word proves
             * the mismatch real (S2). */
            if (read_slot && !meta_same(u64_load_relaxed(&bk->meta), meta)) {
                retry = 1;
                break;
            }
            if (!(meta & META_OVERFLOW))
                break;
        }
        if (retry)
            continue;
        /* I5: an unchanged home proves no insert or delete of this key
         * completed during the probe, so "absent" held at some instant. */
        if (meta_same(u64_load_relaxed(&home->meta), first))
            return SM_NOT_FOUND;
    }
}

__attribute__((noinline)) int smi_lookup(sm_table *t, uint64_t h, uint64_t key, uint64_t *value)
{
    return lookup_in(t, h, key, NULL, 0, 0, value);
}

__attribute__((noinline)) int smi_lookup_str(sm_table *t, uint64_t h, const void *key, size_t len,
                                              uint64_t *value)
{
    return lookup_in(t, h, 0, key, len, 1, value);
}

/* The lookup of sm_get, inside the caller's epoch section: the common case
 * inline (smi_lookup_home), everything else in smi_lookup. */
static inline int get_u64(sm_map *m, uint64_t key, uint64_t *value)
{
    uint64_t h = hash_u64(&m->hash_key, key);
    /* Acquire pairs with the release root switch in migrate.c (I8). */
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    int rc = smi_lookup_home(t, h, key, value);
    if (rc < 0)
        rc = smi_lookup(t, h, key, value);
    return rc;
}

int sm_get(sm_map *m, uint64_t key, uint64_t *value)
{
    if (!m || m->string_keys)
        return SM_EINVAL;
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    int rc = get_u64(m, key, value);
    smi_epoch_exit(self);
    return rc;
}

int smi_get_unsynchronised(sm_map *m, uint64_t key, uint64_t *value)
{
    return get_u64(m, key, value);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                    */

/* One write, for either key kind. */
typedef struct op_args {
    op_kind kind;
    uint64_t key;         /* uint64 maps: the key. String maps: the key's copy
                             once made (strkey.h), else 0 */
    const void *kbytes;   /* string maps: the caller's key */
    size_t klen;
    uint64_t value;       /* put/insert/replace value, cas desired */
    uint64_t expected;    /* cas */
    uint64_t *out;        /* old / existing / actual / compute result */
    sm_compute_fn fn;     /* compute, uint64 keys */
    sm_compute_str_fn sfn;/* compute, string keys */
    void *ctx;
} op_args;

static inline int key_matches(const sm_map *m, uint64_t word, uint64_t h, const op_args *a)
{
    return m->string_keys ? skey_equals(word, h, a->kbytes, a->klen) : word == a->key;
}

static sm_compute_action call_compute(const op_args *a, int present, uint64_t *value)
{
    return a->sfn ? a->sfn(a->kbytes, a->klen, present, value, a->ctx)
                  : a->fn(a->key, present, value, a->ctx);
}

typedef struct found_slot {
    uint64_t bucket;
    unsigned slot;
} found_slot;

/*
 * Search the chain of home b for key while holding the home lock. Exact
 * by I1: no other thread can add, remove or move this key meanwhile.
 * Returns 1 and the position if present.
 */
static int find_locked(const sm_map *m, const sm_table *t, uint64_t b, uint64_t held, uint64_t h,
                       const op_args *a, found_slot *at, uint64_t *chain_len)
{
    const unsigned tag = (unsigned)tag_of_hash(h);
    uint64_t c = b;
    uint64_t meta = held;
    for (uint64_t probe = 0; probe < t->nbuckets; probe++, c = next_bucket(t, c)) {
        sm_bucket *bk = &t->buckets[c];
        if (probe > 0)
            meta = u64_load_acquire(&bk->meta);
        for (uint32_t match = meta_match(meta, tag); match; match &= match - 1) {
            unsigned i = (unsigned)__builtin_ctz(match) / 8;
            if (key_matches(m, u64_load_acquire(&bk->slot[i].key), h, a)) {
                at->bucket = c;
                at->slot = i;
                *chain_len = probe + 1;
                return 1;
            }
        }
        if (!(meta & META_OVERFLOW)) {
            *chain_len = probe + 1;
            return 0;
        }
    }
    *chain_len = t->nbuckets;
    return 0;
}

static int occupancy_check_due(const sm_table *t, const sm_thread *self, uint64_t chain_len)
{
    return t->nbuckets * SM_SLOTS < SM_CHECK_ALWAYS_BELOW_SLOTS ||
           (self->write_nth % SM_CHECK_EVERY) == 0 || chain_len > 2;
}

static int over_grow_threshold(const sm_table *t)
{
    uint64_t slots = t->nbuckets * SM_SLOTS;
    return (smi_table_used(t) + 1) * SM_GROW_DEN > slots * SM_GROW_NUM;
}

static int under_shrink_threshold(const sm_map *m, const sm_table *t)
{
    int64_t live = smi_live_sum(m);
    uint64_t slots = t->nbuckets * SM_SLOTS;
    return t->nbuckets > SM_MIN_BUCKETS &&
           (uint64_t)(live < 0 ? 0 : live) * SM_SHRINK_DEN < slots * SM_SHRINK_NUM;
}

static void unlock_home(sm_bucket *bk, uint64_t held, int changed)
{
    uint64_t nm = (held & ~META_LOCK) + (changed ? META_VERSION_ONE : 0);
    /* Release: everything done under the lock is visible to the next holder
     * and to readers that load this meta word with acquire (S1, I5). */
    u64_store_release(&bk->meta, nm);
}

/* Turn the found slot into a tombstone. Returns 0 if a neighbour lock was
 * busy (the caller retries the whole operation). */
static int tombstone(sm_table *t, uint64_t b, uint64_t *held, const found_slot *at)
{
    if (at->bucket == b) {
        *held = meta_with_tag(*held, at->slot, TAG_TOMB);
        return 1;
    }
    sm_bucket *bk = &t->buckets[at->bucket];
    uint64_t nh;
    if (!smi_trylock(bk, &nh))
        return 0;
    nh = meta_with_tag(nh, at->slot, TAG_TOMB) + META_VERSION_ONE;
    /* Release publishes the tombstone (I4: the version bump precedes any
     * reuse of the slot, which must first lock this bucket). */
    u64_store_release(&bk->meta, nh & ~META_LOCK);
    return 1;
}

/* apply_found's "a neighbour bucket was busy" result, distinct from statuses. */
#define RC_RETRY 100

/* A value leaves the map when it is replaced by a different value or its
 * key is deleted; *displaced reports it for free_value (limbo.c). */
static int apply_found(sm_table *t, uint64_t b, uint64_t *held, const found_slot *at,
                       const op_args *a, int *changed, int *displaced, uint64_t *gone)
{
    atomic_u64 *vp = &t->buckets[at->bucket].slot[at->slot].value;
    /* Relaxed is enough: the value was stored under this home lock (or by the
     * migration that held it), and our lock acquire synchronised with it. */
    uint64_t cur = u64_load_relaxed(vp);
    switch (a->kind) {
    case OP_PUT:
    case OP_REPLACE:
        /* Release: readers that load the new value see the writer's prior
         * writes (S1); the linearization point of the replace (S3). */
        u64_store_release(vp, a->value);
        *displaced = cur != a->value;
        *gone = cur;
        if (a->out)
            *a->out = cur;
        return a->kind == OP_PUT ? SM_REPLACED : SM_OK;
    case OP_INSERT:
        if (a->out)
            *a->out = cur;
        return SM_EXISTS;
    case OP_CAS:
        if (a->out)
            *a->out = cur;
        if (cur != a->expected)
            return SM_MISMATCH;
        u64_store_release(vp, a->value);  /* as for OP_REPLACE */
        *displaced = cur != a->value;
        *gone = cur;
        return SM_OK;
    case OP_DELETE:
        if (!tombstone(t, b, held, at))
            return RC_RETRY;
        if (a->out)
            *a->out = cur;
        *changed = 1;
        *displaced = 1;
        *gone = cur;
        return SM_OK;
    case OP_COMPUTE: {
        uint64_t nv = cur;
        sm_compute_action act = call_compute(a, 1, &nv);
        if (act == SM_COMPUTE_DELETE) {
            if (!tombstone(t, b, held, at))
                return RC_RETRY;
            *changed = 1;
            *displaced = 1;
            *gone = cur;
            return SM_NOT_FOUND;
        }
        if (act == SM_COMPUTE_SET) {
            u64_store_release(vp, nv);  /* as for OP_REPLACE */
            *displaced = cur != nv;
            *gone = cur;
        } else {
            nv = cur;
        }
        if (a->out)
            *a->out = nv;
        return SM_OK;
    }
    }
    return SM_EINVAL;
}

static void maybe_shrink(sm_map *m, sm_table *t, sm_thread *self)
{
    if (occupancy_check_due(t, self, 0) && under_shrink_threshold(m, t))
        smi_resize_start(m, t, 0);  /* a failed shrink is retried by a later delete */
}

/* Limbo slots a write may need: one for the value it may displace (with
 * free_value), one for the string key it may remove. */
static unsigned limbo_slots_needed(const sm_map *m, op_kind kind)
{
    return (unsigned)(m->free_value && kind != OP_INSERT) +
           (unsigned)(m->string_keys && (kind == OP_DELETE || kind == OP_COMPUTE));
}

static int write_op(sm_map *m, op_args *a)
{
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    unsigned reserved = limbo_slots_needed(m, a->kind);
    if (reserved && smi_limbo_reserve(m, self, reserved) != SM_OK) {
        smi_epoch_exit(self);
        return SM_ENOMEM;
    }
    smi_count_write(m, self);
    smi_migrate_help(m, self);
    int displaced = 0;
    uint64_t gone = 0;
    uint64_t removed_key = 0;  /* string maps: the copy of a key this call removed */
    int key_placed = 0;        /* string maps: a->key now belongs to the map */

    const uint64_t h = m->string_keys ? smi_hash_str(m, a->kbytes, a->klen)
                                      : hash_u64(&m->hash_key, a->key);
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);  /* as in sm_get */
    unsigned spins = 0;
    int allow_resize = 1;
    int rc;
    for (;;) {
        uint64_t b = home_of_hash(t, h);
        sm_bucket *bk = &t->buckets[b];
        /* As in smi_lookup_home: the next bucket is the usual second line
         * of a chain. A read prefetch: asking for the line exclusive would
         * take it from the readers of that bucket, which is another home. */
        __builtin_prefetch(&t->buckets[next_bucket(t, b)]);
        int frozen;
        uint64_t held = smi_lock_home(bk, &frozen);
        if (frozen) {
            t = atomic_load_explicit(&t->next, memory_order_acquire);  /* I6 */
            continue;
        }
        /* Acquire pairs with the release publication of next. */
        sm_table *nt = atomic_load_explicit(&t->next, memory_order_acquire);
        if (nt) {
            /* Keeps I6: move this home first, then work where it now lives. */
            smi_migrate_home(m, self, t, nt, b, held);
            t = nt;
            continue;
        }
        found_slot at;
        uint64_t chain_len;
        int changed = 0;
        if (find_locked(m, t, b, held, h, a, &at, &chain_len)) {
            /* The key word is read while the slot is live: a delete outside
             * the home unlocks the slot's bucket at once, and another writer
             * may reuse the slot for its own key before apply_found returns.
             * Relaxed: the word was stored under this home lock (I1). */
            const uint64_t slot_key =
                m->string_keys ? u64_load_relaxed(&t->buckets[at.bucket].slot[at.slot].key) : 0;
            rc = apply_found(t, b, &held, &at, a, &changed, &displaced, &gone);
#ifdef SM_TEST_HOOKS
            if (smi_hook_after_apply)
                smi_hook_after_apply();
#endif
            if (changed && m->string_keys)
                removed_key = slot_key;
            unlock_home(bk, held, changed);
            if (rc == RC_RETRY) {
                smi_backoff(&spins);
                continue;
            }
            if (changed) {
                smi_live_add(m, self, -1);
                maybe_shrink(m, t, self);
            }
            break;
        }
        uint64_t new_value = a->value;
        if (a->kind == OP_COMPUTE) {
            uint64_t nv = 0;
            if (call_compute(a, 0, &nv) != SM_COMPUTE_SET) {
                unlock_home(bk, held, 0);
                rc = SM_NOT_FOUND;
                break;
            }
            new_value = nv;
        } else if (a->kind != OP_PUT && a->kind != OP_INSERT) {
            unlock_home(bk, held, 0);
            rc = SM_NOT_FOUND;
            break;
        }
        if (m->string_keys && !a->key) {
            /* Copy the key outside any lock, then redo the search: the key
             * may have arrived meanwhile. */
            unlock_home(bk, held, 0);
            a->key = smi_skey_new(h, a->kbytes, a->klen);
            if (!a->key) {
                rc = SM_ENOMEM;
                break;
            }
            continue;
        }
        sm_table *root = atomic_load_explicit(&m->root, memory_order_acquire);
        if (root != t && atomic_load_explicit(&root->next, memory_order_acquire) == t &&
            !smi_next_has_room(t)) {
            /* The migration into t is stalled (a migrating thread is not
             * running) and t must keep room for its copies: wait for it. */
            unlock_home(bk, held, 0);
            smi_migrate_finish_all(m, self);
            t = atomic_load_explicit(&m->root, memory_order_acquire);
            continue;
        }
        /* I9: a resize of t is being sized from the entries t holds; adding
         * one now could overfill its new table. Seq_cst pairs with the
         * store and fence that raised the flag (migrate.c). Wait for the
         * table to be published, then this home moves first (I6). A flag
         * seen down may have been lowered just after next was published
         * (release, so next is visible now): look again before adding. */
        if (root == t && (atomic_load_explicit(&m->preparing, memory_order_seq_cst) ||
                          atomic_load_explicit(&t->next, memory_order_acquire))) {
            unlock_home(bk, held, 0);
            smi_backoff(&spins);
            continue;
        }
        if (allow_resize && occupancy_check_due(t, self, chain_len) && over_grow_threshold(t)) {
            unlock_home(bk, held, 0);
            int r = smi_resize_start(m, t, 0);
            if (r == SM_ENOMEM) {
                rc = SM_ENOMEM;
                break;
            }
            if (r == RESIZE_STARTED)
                continue;  /* now t->next is set: migrate this home, go on there */
            /* Busy or not needed: the threshold is soft, so insert here if a
             * slot is free. The bucket may have changed while unlocked: redo
             * the operation, without asking for a resize again. */
            allow_resize = 0;
            continue;
        }
        int used_empty = 0;
        uint64_t probes = 0;
        int p = smi_place(t, b, &held, h, a->key, new_value, &used_empty, &probes);
        if (p == PLACE_DONE) {
            key_placed = 1;
            unlock_home(bk, held, 1);
            smi_live_add(m, self, 1);
            if (used_empty)
                smi_used_add(t, self, 1);
            u64_max_relaxed(&t->longest_probe, probes);
            if (a->kind == OP_COMPUTE && a->out)
                *a->out = new_value;
            rc = SM_OK;
            break;
        }
        unlock_home(bk, held, 0);
        if (p == PLACE_RETRY) {
            smi_backoff(&spins);
            continue;
        }
        /* PLACE_FULL: only reachable if inserts outran the occupancy check;
         * force a resize (or finish the one running) and try again. */
        int r = smi_resize_start(m, t, 0);
        if (r == SM_ENOMEM) {
            rc = SM_ENOMEM;
            break;
        }
        if (r != RESIZE_STARTED) {
            /* Another writer holds the resize gate: let it run. */
            smi_migrate_finish_all(m, self);
            smi_backoff(&spins);
        }
        t = atomic_load_explicit(&m->root, memory_order_acquire);
    }
    if (m->free_value && displaced) {
        smi_limbo_commit(m, self, LIMBO_VALUE, gone);
        reserved--;
    }
    if (removed_key) {
        smi_limbo_commit(m, self, LIMBO_KEY, removed_key);
        reserved--;
    }
    smi_limbo_cancel(m, self, reserved);
    if (m->string_keys && a->key && !key_placed)
        smi_skey_free(a->key);  /* never published: no reader can hold it */
    smi_epoch_exit(self);
    smi_reclaim_maybe(m, self);
    return rc;
}

/* The uint64 entry points: B2 (kind mismatch) and B1 checked here. */
static int u64_op(sm_map *m, op_args *a)
{
    if (!m || m->string_keys)
        return SM_EINVAL;
    return write_op(m, a);
}

int sm_put(sm_map *m, uint64_t key, uint64_t value, uint64_t *old)
{
    op_args a = {.kind = OP_PUT, .key = key, .value = value, .out = old};
    return u64_op(m, &a);
}

int sm_insert(sm_map *m, uint64_t key, uint64_t value, uint64_t *existing)
{
    op_args a = {.kind = OP_INSERT, .key = key, .value = value, .out = existing};
    return u64_op(m, &a);
}

int sm_replace(sm_map *m, uint64_t key, uint64_t value, uint64_t *old)
{
    op_args a = {.kind = OP_REPLACE, .key = key, .value = value, .out = old};
    return u64_op(m, &a);
}

int sm_cas(sm_map *m, uint64_t key, uint64_t expected, uint64_t desired, uint64_t *actual)
{
    op_args a = {.kind = OP_CAS, .key = key, .value = desired, .expected = expected, .out = actual};
    return u64_op(m, &a);
}

int sm_delete(sm_map *m, uint64_t key, uint64_t *old)
{
    op_args a = {.kind = OP_DELETE, .key = key, .out = old};
    return u64_op(m, &a);
}

int sm_compute(sm_map *m, uint64_t key, sm_compute_fn fn, void *ctx, uint64_t *result)
{
    if (!fn)
        return SM_EINVAL;
    op_args a = {.kind = OP_COMPUTE, .key = key, .out = result, .fn = fn, .ctx = ctx};
    return u64_op(m, &a);
}

/*
 * Both kinds' get_or_insert, on arguments the caller validated: a lock-free
 * read first, and an insert (a->kind OP_INSERT) only when the key is absent.
 */
static int get_or_insert(sm_map *m, op_args *a)
{
    uint64_t v;
    int rc = m->string_keys ? sm_get_str(m, a->kbytes, a->klen, &v) : sm_get(m, a->key, &v);
    if (rc == SM_OK) {
        if (a->out)
            *a->out = v;
        return SM_EXISTS;
    }
    if (rc < 0)
        return rc;
    uint64_t *actual = a->out;
    a->out = &v;
    rc = write_op(m, a);
    if (actual && rc >= 0)
        *actual = rc == SM_OK ? a->value : v;
    return rc;
}

int sm_get_or_insert(sm_map *m, uint64_t key, uint64_t value, uint64_t *actual)
{
    if (!m || m->string_keys)
        return SM_EINVAL;
    op_args a = {.kind = OP_INSERT, .key = key, .value = value, .out = actual};
    return get_or_insert(m, &a);
}

/* ------------------------------------------------------------------------ */
/* String keys: the same operations through the key's copy (strkey.h).       */

static int valid_str(const sm_map *m, const void *key, size_t len)
{
    return m && m->string_keys && (key || len == 0) && len <= SM_STR_KEY_MAX;
}

static int str_op(sm_map *m, op_args *a)
{
    if (!valid_str(m, a->kbytes, a->klen))
        return SM_EINVAL;
    return write_op(m, a);
}

int sm_get_str(sm_map *m, const void *key, size_t len, uint64_t *value)
{
    if (!valid_str(m, key, len))
        return SM_EINVAL;
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    uint64_t h = smi_hash_str(m, key, len);
    /* Acquire pairs with the root switch in migrate.c (I8). */
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    int rc = smi_lookup_str(t, h, key, len, value);
    smi_epoch_exit(self);
    return rc;
}

int sm_put_str(sm_map *m, const void *key, size_t len, uint64_t value, uint64_t *old)
{
    op_args a = {.kind = OP_PUT, .kbytes = key, .klen = len, .value = value, .out = old};
    return str_op(m, &a);
}

int sm_insert_str(sm_map *m, const void *key, size_t len, uint64_t value, uint64_t *existing)
{
    op_args a = {.kind = OP_INSERT, .kbytes = key, .klen = len, .value = value, .out = existing};
    return str_op(m, &a);
}

int sm_replace_str(sm_map *m, const void *key, size_t len, uint64_t value, uint64_t *old)
{
    op_args a = {.kind = OP_REPLACE, .kbytes = key, .klen = len, .value = value, .out = old};
    return str_op(m, &a);
}

int sm_cas_str(sm_map *m, const void *key, size_t len, uint64_t expected, uint64_t desired,
               uint64_t *actual)
{
    op_args a = {.kind = OP_CAS, .kbytes = key, .klen = len, .value = desired,
                 .expected = expected, .out = actual};
    return str_op(m, &a);
}

int sm_delete_str(sm_map *m, const void *key, size_t len, uint64_t *old)
{
    op_args a = {.kind = OP_DELETE, .kbytes = key, .klen = len, .out = old};
    return str_op(m, &a);
}

int sm_compute_str(sm_map *m, const void *key, size_t len, sm_compute_str_fn fn, void *ctx,
                   uint64_t *result)
{
    if (!fn)
        return SM_EINVAL;
    op_args a = {.kind = OP_COMPUTE, .kbytes = key, .klen = len, .out = result, .sfn = fn,
                 .ctx = ctx};
    return str_op(m, &a);
}

int sm_get_or_insert_str(sm_map *m, const void *key, size_t len, uint64_t value,
                         uint64_t *actual)
{
    if (!valid_str(m, key, len))
        return SM_EINVAL;
    op_args a = {.kind = OP_INSERT, .kbytes = key, .klen = len, .value = value, .out = actual};
    return get_or_insert(m, &a);
}

/* Walks the map and deletes what it finds, with the kind's own calls. */
int sm_clear(sm_map *m)
{
    if (!m)
        return SM_EINVAL;
    sm_iter *it = sm_iter_new(m);
    if (!it)
        return SM_ENOMEM;
    uint64_t removed = 0;
    int rc;
    if (m->string_keys) {
        const void *key;
        size_t len;
        while ((rc = sm_iter_next_str(it, &key, &len, NULL)) == SM_OK) {
            int d = sm_delete_str(m, key, len, NULL);
            if (d < 0) {
                rc = d;
                break;
            }
            removed += d == SM_OK;
        }
    } else {
        uint64_t key;
        while ((rc = sm_iter_next(it, &key, NULL)) == SM_OK) {
            /* With free_value a delete can fail (SM_ENOMEM): say so. */
            int d = sm_delete(m, key, NULL);
            if (d < 0) {
                rc = d;
                break;
            }
            removed += d == SM_OK;
        }
    }
    sm_iter_free(it);
    if (rc < 0)
        return rc;
    return removed > INT32_MAX ? INT32_MAX : (int)removed;
}

int sm_reserve(sm_map *m, uint64_t n)
{
    if (!m)
        return SM_EINVAL;
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    uint64_t want = smi_buckets_to_hold(n);
    int rc = SM_OK;
    unsigned spins = 0;
    for (;;) {
        smi_migrate_finish_all(m, self);
        sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
        if (t->nbuckets >= want)
            break;
        int r = smi_resize_start(m, t, want);
        if (r == SM_ENOMEM) {
            rc = SM_ENOMEM;
            break;
        }
        /* Another writer holds the resize gate and may not have published
         * its table yet, so there is nothing to help with: back off. */
        if (r == RESIZE_BUSY)
            smi_backoff(&spins);
    }
    smi_epoch_exit(self);
    smi_reclaim_maybe(m, self);
    return rc;
}

int sm_pin(void)
{
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    atomic_fetch_add_explicit(&self->pins, 1, memory_order_relaxed);
    return SM_OK;
}

int sm_unpin(void)
{
    sm_thread *self = smi_self_record;
    if (!self || atomic_load_explicit(&self->pins, memory_order_relaxed) == 0)
        return SM_EINVAL;
    atomic_fetch_sub_explicit(&self->pins, 1, memory_order_relaxed);
    smi_epoch_exit(self);
    return SM_OK;
}

const char *sm_status_str(int status)
{
    switch (status) {
    case SM_OK: return "ok";
    case SM_NOT_FOUND: return "not found";
    case SM_EXISTS: return "key exists";
    case SM_REPLACED: return "value replaced";
    case SM_MISMATCH: return "value differs from expected";
    case SM_ENOMEM: return "out of memory";
    case SM_EINVAL: return "invalid argument";
    default: return "unknown status";
    }
}
