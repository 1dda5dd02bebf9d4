/*
 * ck_ht.c — the lab engine "ck_ht": Concurrency Kit's open-addressing hash
 * table in direct mode (64-bit keys and values stored inline in 32-byte
 * slots), used the way its contract allows: one writer, any readers.
 *
 * Writers. ck_ht is single-producer/multi-consumer (SPMC): the *_spmc
 * writes are safe against concurrent ck_ht_get_spmc calls but not against
 * each other. The engine therefore serialises put and del with one pthread
 * mutex, which is what any multi-writer program using ck_ht must add; the
 * lab measures that lock too. Readers take no lock.
 *
 * Reclamation. A put that grows the table publishes a new slot array and
 * hands the old one to the allocator's free with defer = true, meaning a
 * reader may still be probing it. ck_ht leaves the safe moment to the
 * caller, so the engine plugs ck_epoch, Concurrency Kit's own epoch-based
 * reclamation, into the allocator: every get runs inside an epoch section
 * (ck_epoch_begin/end, two stores and a fence), a deferred free becomes a
 * ck_epoch_call on the writer's record, and the writer runs ck_epoch_poll
 * after a write whenever its record holds pending frees, so the old array
 * goes once every reader has left it. Each attached thread owns one epoch
 * record per map: thread_attach takes one (recycled from a thread that
 * detached, or newly registered) and thread_detach waits for a grace period
 * with ck_epoch_barrier, which also frees whatever that thread deferred,
 * before giving it back. ck_malloc's callbacks take no context argument, so
 * the writer leaves its map and record in thread-local variables for them.
 *
 * Reserved keys. Direct mode uses key 0 for an empty slot and UINTPTR_MAX
 * for a tombstone, so those two keys cannot live in the table. The engine
 * keeps them in two side slots guarded by the writer mutex, readers of those
 * two keys included. No remapping can make room for them (the key space is
 * full), and the lab's keys are mixes of an index, so a run hits either key
 * with a chance of about one in 2^63 per key: the side slots cost nothing
 * measurable, but keep the engine correct for the tests that use both keys
 * on purpose.
 *
 * Pre-sizing, iteration, size and bytes. The capacity hint goes to ck_ht_init.
 * ck_ht_next is not documented as safe against a concurrent writer, so
 * iterate holds the writer mutex for the walk: writers wait, readers do not.
 * size is ck_ht_count under the same mutex. bytes is exact: every allocation
 * goes through the engine's ck_malloc, which counts it until it is really
 * freed (a retired array counts until its grace period ends).
 *
 * Hash and flags. Keys are hashed with ck_ht_hash_direct, ck_ht's own
 * default (MurmurHash64A over the key), with a fixed seed. The table is made
 * without CK_HT_WORKLOAD_DELETE: the lab's mixes are mostly reads, and the
 * flag buys bounded delete latency with about 13% more memory.
 *
 * String keys. create_str makes a table in CK_HT_MODE_BYTESTRING, ck_ht's
 * own mode for byte-string keys, with the same writer mutex, epoch records
 * and counting allocator. In that mode a slot holds a pointer to the key,
 * its length (ck_ht's limit: 65535 bytes, so a longer key is never stored:
 * put says -1, get and del say absent), the key's full 64-bit hash and the
 * value; ck_ht never copies a key, so the engine does, into a block from the
 * same allocator, which thus counts it in bytes. A probe skips slots whose
 * length or stored hash differ and only then memcmp()s through the pointer,
 * so a reader reads a key block that a writer may be retiring: a deleted
 * key's block is freed like a replaced array, through ck_epoch_call and a
 * grace period. A put first looks the key up (under the mutex, so nothing
 * can change in between) and, when it is there, calls ck_ht_set_spmc with
 * the stored key's own pointer, so that replacing a value copies and frees
 * nothing; only a new key is copied. The hash is ck_ht_hash, ck_ht's
 * default (MurmurHash64A over the bytes, same seed). A slot's key is a
 * block's address, never 0 or UINTPTR_MAX, so string tables need no side
 * slots; an empty key has a block of its own too, and is looked up through
 * a static byte, because a NULL key pointer would read as an empty slot.
 *
 * ThreadSanitizer. libck is not instrumented, so its probes are invisible
 * to TSan, except for that one memcmp(), which TSan intercepts: it would
 * see a reader compare key bytes that another thread wrote (published by
 * ck_ht's store fence, which it cannot see) or freed (after a grace period
 * it cannot see either). Under TSan a string get therefore runs ck_ht's
 * probe with the thread's accesses ignored, which makes the intercepted
 * memcmp() as invisible as the rest of the library. Writers' probes need no
 * such thing (the mutex orders them after every write they compare
 * against), and the engine's own code, copying keys in included, stays
 * checked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* aligned_alloc and pthread under -std=c11 */
#endif

#include <assert.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <ck_epoch.h>
#include <ck_ht.h>
#include <ck_malloc.h>
#include <ck_md.h>
#include <ck_stack.h>

#include "engine.h"

static_assert(sizeof(uintptr_t) == sizeof(uint64_t),
              "direct mode stores a key in a uintptr_t; CMake builds ck_ht on 64-bit only");

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#ifdef UNDER_TSAN
/* TSan's own annotations (no header declares them): while a thread is
 * between the two, TSan neither records nor checks its memory accesses. */
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define tsan_ignore_begin() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define tsan_ignore_end() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define tsan_ignore_begin() ((void)0)
#define tsan_ignore_end() ((void)0)
#endif

enum { MIN_CAPACITY = 8 };
static const uint64_t HASH_SEED = 0x2545f4914f6cdd1du;

typedef struct ckht {
    ck_ht_t ht;
    bool strings; /* made by create_str: every slot's key is a block to free */
    ck_epoch_t epoch;
    pthread_mutex_t write_lock;
    /* Keys 0 and UINT64_MAX (see the header), under write_lock. */
    struct {
        int present;
        uint64_t value;
    } reserved[2];
    _Atomic uint64_t bytes;
} ckht;

/* One attached thread's epoch record for one map. A thread attached to
 * several maps at once has one binding each; the newest comes first. */
typedef struct binding {
    ckht *map;
    ck_epoch_record_t *record;
    unsigned depth;
    struct binding *next;
} binding;

static _Thread_local binding *bindings;

/* The map (and the writer's record) whose ck_ht call runs on this thread,
 * for the allocator callbacks below. */
static _Thread_local ckht *allocating_for;
static _Thread_local ck_epoch_record_t *retiring_into;

/* Every block ck_ht allocates starts with this header: the epoch entry a
 * deferred free is queued with, and what to uncount when it is freed. */
typedef struct block {
    ck_epoch_entry_t retire;
    ckht *owner;
    size_t size;
} block;

#define BLOCK_HEADER \
    ((sizeof(block) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

static void *block_alloc(size_t size)
{
    block *b = malloc(BLOCK_HEADER + size);
    if (!b)
        return NULL;
    b->owner = allocating_for;
    b->size = size;
    atomic_fetch_add_explicit(&b->owner->bytes, size, memory_order_relaxed);
    return (unsigned char *)b + BLOCK_HEADER;
}

static void block_release(ck_epoch_entry_t *entry)
{
    block *b = (block *)entry;
    atomic_fetch_sub_explicit(&b->owner->bytes, b->size, memory_order_relaxed);
    free(b);
}

/* defer: a reader may still be inside the block (an array a grow replaced). */
static void block_free(void *p, size_t size, bool defer)
{
    (void)size;
    if (!p)
        return;
    block *b = (block *)((unsigned char *)p - BLOCK_HEADER);
    if (defer)
        ck_epoch_call(retiring_into, &b->retire, block_release);
    else
        block_release(&b->retire);
}

static struct ck_malloc allocator = {
    .malloc = block_alloc,
    .realloc = NULL,
    .free = block_free,
};

static binding *binding_of(const ckht *m)
{
    for (binding *b = bindings; b; b = b->next)
        if (b->map == m)
            return b;
    return NULL;
}

static int reserved_index(uint64_t key)
{
    return key == 0 ? 0 : key == UINT64_MAX ? 1 : -1;
}

static void *create_mode(uint64_t capacity_hint, unsigned mode)
{
    ckht *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->strings = mode == CK_HT_MODE_BYTESTRING;
    atomic_init(&m->bytes, 0);
    ck_epoch_init(&m->epoch);
    if (pthread_mutex_init(&m->write_lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    allocating_for = m;
    bool ok = ck_ht_init(&m->ht, mode, NULL, &allocator,
                         capacity_hint > MIN_CAPACITY ? capacity_hint : MIN_CAPACITY, HASH_SEED);
    allocating_for = NULL;
    if (!ok) {
        pthread_mutex_destroy(&m->write_lock);
        free(m);
        return NULL;
    }
    return m;
}

static void *ckht_create(uint64_t capacity_hint)
{
    return create_mode(capacity_hint, CK_HT_MODE_DIRECT);
}

static void *ckht_create_str(uint64_t capacity_hint)
{
    return create_mode(capacity_hint, CK_HT_MODE_BYTESTRING);
}

/* Every thread has detached (the harness's order), so no reader is left:
 * whatever records still hold is freed at once, and the records with it. */
static void ckht_destroy(void *map)
{
    ckht *m = map;
    ck_stack_entry_t *cursor, *next;
    CK_STACK_FOREACH_SAFE(&m->epoch.records, cursor, next) {
        ck_epoch_record_t *record = (ck_epoch_record_t *)cursor;
        ck_epoch_reclaim(record);
        free(record);
    }
    if (m->strings) {
        ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
        ck_ht_entry_t *entry;
        while (ck_ht_next(&m->ht, &it, &entry))
            block_free(ck_ht_entry_key(entry), ck_ht_entry_key_length(entry), false);
    }
    allocating_for = m;
    ck_ht_destroy(&m->ht);
    allocating_for = NULL;
    pthread_mutex_destroy(&m->write_lock);
    free(m);
}

/* A thread that fails to get a record stays unattached, and its operations
 * then report an engine error. */
static void ckht_attach(void *map)
{
    ckht *m = map;
    binding *b = binding_of(m);
    if (b) {
        b->depth++;
        return;
    }
    b = malloc(sizeof *b);
    if (!b)
        return;
    ck_epoch_record_t *record = ck_epoch_recycle(&m->epoch, NULL);
    if (!record) {
        record = aligned_alloc(CK_MD_CACHELINE, sizeof *record);
        if (!record) {
            free(b);
            return;
        }
        ck_epoch_register(&m->epoch, record, NULL);
    }
    *b = (binding){ m, record, 1, bindings };
    bindings = b;
}

static void ckht_detach(void *map)
{
    binding *b = binding_of(map);
    if (!b || --b->depth > 0)
        return;
    ck_epoch_barrier(b->record);
    ck_epoch_unregister(b->record);
    binding **link = &bindings;
    while (*link != b)
        link = &(*link)->next;
    *link = b->next;
    free(b);
}

static int ckht_get(void *map, uint64_t key, uint64_t *value)
{
    ckht *m = map;
    int r = reserved_index(key);
    if (r >= 0) {
        pthread_mutex_lock(&m->write_lock);
        int found = m->reserved[r].present;
        if (found)
            *value = m->reserved[r].value;
        pthread_mutex_unlock(&m->write_lock);
        return found;
    }
    binding *b = binding_of(m);
    if (!b)
        return -1;
    ck_ht_hash_t h;
    ck_ht_entry_t entry;
    ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
    ck_ht_entry_key_set_direct(&entry, (uintptr_t)key);
    ck_epoch_begin(b->record, NULL);
    bool found = ck_ht_get_spmc(&m->ht, h, &entry);
    ck_epoch_end(b->record, NULL);
    if (found)
        *value = ck_ht_entry_value_direct(&entry);
    return found;
}

/* Called with write_lock held, around every ck_ht write. */
static void begin_write(ckht *m, ck_epoch_record_t *record)
{
    allocating_for = m;
    retiring_into = record;
}

static void end_write(ck_epoch_record_t *record)
{
    if (record->n_pending > 0)
        ck_epoch_poll(record);
    allocating_for = NULL;
    retiring_into = NULL;
}

static int ckht_put(void *map, uint64_t key, uint64_t value)
{
    ckht *m = map;
    binding *b = binding_of(m);
    if (!b)
        return -1;
    int r = reserved_index(key);
    pthread_mutex_lock(&m->write_lock);
    bool ok = true;
    if (r >= 0) {
        m->reserved[r].present = 1;
        m->reserved[r].value = value;
    } else {
        ck_ht_hash_t h;
        ck_ht_entry_t entry;
        ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
        ck_ht_entry_set_direct(&entry, h, (uintptr_t)key, (uintptr_t)value);
        begin_write(m, b->record);
        ok = ck_ht_set_spmc(&m->ht, h, &entry);
        end_write(b->record);
    }
    pthread_mutex_unlock(&m->write_lock);
    return ok ? 0 : -1;
}

static int ckht_del(void *map, uint64_t key)
{
    ckht *m = map;
    binding *b = binding_of(m);
    if (!b)
        return -1;
    int r = reserved_index(key);
    pthread_mutex_lock(&m->write_lock);
    int removed;
    if (r >= 0) {
        removed = m->reserved[r].present;
        m->reserved[r].present = 0;
    } else {
        ck_ht_hash_t h;
        ck_ht_entry_t entry;
        ck_ht_hash_direct(&h, &m->ht, (uintptr_t)key);
        ck_ht_entry_key_set_direct(&entry, (uintptr_t)key);
        begin_write(m, b->record);
        removed = ck_ht_remove_spmc(&m->ht, h, &entry);
        end_write(b->record);
    }
    pthread_mutex_unlock(&m->write_lock);
    return removed;
}

/* ---- string keys ---------------------------------------------------------- */

/* ck_ht treats a NULL key pointer as an empty slot, and the interface allows
 * one with len 0: such a key is looked up through this byte instead. */
static const unsigned char no_bytes[1];

static const void *key_or_empty(const void *key, size_t len)
{
    return len == 0 ? no_bytes : key;
}

static int ckht_get_str(void *map, const void *key, size_t len, uint64_t *value)
{
    ckht *m = map;
    binding *b = binding_of(m);
    if (!b)
        return -1;
    if (len > CK_HT_KEY_LENGTH)
        return 0;
    key = key_or_empty(key, len);
    ck_ht_hash_t h;
    ck_ht_entry_t entry;
    ck_ht_hash(&h, &m->ht, key, (uint16_t)len);
    ck_ht_entry_key_set(&entry, key, (uint16_t)len);
    ck_epoch_begin(b->record, NULL);
    tsan_ignore_begin();
    bool found = ck_ht_get_spmc(&m->ht, h, &entry);
    tsan_ignore_end();
    ck_epoch_end(b->record, NULL);
    if (found)
        *value = (uint64_t)(uintptr_t)ck_ht_entry_value(&entry);
    return found;
}

static int ckht_put_str(void *map, const void *key, size_t len, uint64_t value)
{
    ckht *m = map;
    binding *b = binding_of(m);
    if (!b || len > CK_HT_KEY_LENGTH)
        return -1;
    key = key_or_empty(key, len);
    ck_ht_hash_t h;
    ck_ht_entry_t entry;
    ck_ht_hash(&h, &m->ht, key, (uint16_t)len);
    ck_ht_entry_key_set(&entry, key, (uint16_t)len);
    pthread_mutex_lock(&m->write_lock);
    begin_write(m, b->record);
    /* Under the mutex the table only changes here, so a key found stays
     * put until the set below. */
    bool found = ck_ht_get_spmc(&m->ht, h, &entry);
    void *stored = found ? ck_ht_entry_key(&entry) : block_alloc(len);
    bool ok = stored != NULL;
    if (ok) {
        if (!found)
            memcpy(stored, key, len);
        ck_ht_entry_set(&entry, h, stored, (uint16_t)len, (void *)(uintptr_t)value);
        ok = ck_ht_set_spmc(&m->ht, h, &entry);
        /* Never published: no reader can have seen it. */
        if (!ok && !found)
            block_free(stored, len, false);
    }
    end_write(b->record);
    pthread_mutex_unlock(&m->write_lock);
    return ok ? 0 : -1;
}

static int ckht_del_str(void *map, const void *key, size_t len)
{
    ckht *m = map;
    binding *b = binding_of(m);
    if (!b)
        return -1;
    if (len > CK_HT_KEY_LENGTH)
        return 0;
    key = key_or_empty(key, len);
    ck_ht_hash_t h;
    ck_ht_entry_t entry;
    ck_ht_hash(&h, &m->ht, key, (uint16_t)len);
    ck_ht_entry_key_set(&entry, key, (uint16_t)len);
    pthread_mutex_lock(&m->write_lock);
    begin_write(m, b->record);
    bool removed = ck_ht_remove_spmc(&m->ht, h, &entry);
    /* Readers may still be comparing against it: freed after a grace
     * period, like a replaced array. */
    if (removed)
        block_free(ck_ht_entry_key(&entry), len, true);
    end_write(b->record);
    pthread_mutex_unlock(&m->write_lock);
    return removed;
}

static long ckht_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    ckht *m = map;
    long n = 0;
    int stopped = 0;
    pthread_mutex_lock(&m->write_lock);
    for (int r = 0; r < 2 && !stopped; r++) {
        if (m->reserved[r].present) {
            n++;
            stopped = visit(r == 0 ? 0 : UINT64_MAX, m->reserved[r].value, ctx);
        }
    }
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *entry;
    while (!stopped && ck_ht_next(&m->ht, &it, &entry)) {
        n++;
        stopped = visit(ck_ht_entry_key_direct(entry), ck_ht_entry_value_direct(entry), ctx);
    }
    pthread_mutex_unlock(&m->write_lock);
    return n;
}

static uint64_t ckht_size(void *map)
{
    ckht *m = map;
    pthread_mutex_lock(&m->write_lock);
    uint64_t n = ck_ht_count(&m->ht) + (uint64_t)m->reserved[0].present + (uint64_t)m->reserved[1].present;
    pthread_mutex_unlock(&m->write_lock);
    return n;
}

static uint64_t ckht_bytes(void *map)
{
    ckht *m = map;
    return atomic_load_explicit(&m->bytes, memory_order_relaxed) + sizeof *m;
}

const lab_engine lab_peer_ck_ht = {
    .name = "ck_ht",
    .description = "Concurrency Kit ck_ht (direct mode): lock-free reads, writers under one mutex, ck_epoch",
    .create = ckht_create,
    .destroy = ckht_destroy,
    .thread_attach = ckht_attach,
    .thread_detach = ckht_detach,
    .get = ckht_get,
    .put = ckht_put,
    .del = ckht_del,
    .iterate = ckht_iterate,
    .size = ckht_size,
    .bytes = ckht_bytes,
    .set_event_hook = NULL,
    .create_str = ckht_create_str,
    .get_str = ckht_get_str,
    .put_str = ckht_put_str,
    .del_str = ckht_del_str,
};
