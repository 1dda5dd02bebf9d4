/*
 * steadymap.h — a concurrent hash map whose reads never wait.
 *
 * This header is the contract. It includes only standard headers and exposes
 * one opaque type, one status enum, an options struct and a stats struct that
 * both carry their own size (so fields can be appended without breaking the
 * ABI), and the functions below, each with its own contract block.
 *
 * Values are uint64_t. Keys are uint64_t, or byte strings when the map is
 * created with SM_STRING_KEYS (one kind per map, see "String keys" below).
 * Every key is allowed, 0 and UINT64_MAX and the empty string included: the
 * map keeps no sentinel visible to users. A value can hold a pointer cast to
 * uint64_t; the map never dereferences it.
 *
 * ---------------------------------------------------------------------------
 * Thread-safety, for every function unless its block says otherwise
 * ---------------------------------------------------------------------------
 * T1. Any thread may call any function except sm_destroy() on the same map at
 *     any time, concurrently, without registering first. Per-thread state is
 *     created on a thread's first call and handed back for reuse by a later
 *     thread when the thread exits (its few bytes are never freed). It needs
 *     memory and, process wide, one pthread key (made by the first call of
 *     any thread). When either cannot be had (no memory, or the process has
 *     used up its PTHREAD_KEYS_MAX keys), the first call returns SM_ENOMEM
 *     and changes nothing; the thread's next call tries again.
 * T2. Readers (sm_get, sm_size, sm_stats) are lock-free: they take no lock,
 *     perform no atomic read-modify-write and store nothing to memory that
 *     another thread writes. They never wait for a writer, also not while the
 *     table grows or shrinks. A reader may retry its probe when a writer
 *     changed the very bucket it read; it never waits for one to finish.
 * T3. Writers (sm_put, sm_insert, sm_replace, sm_cas, sm_delete, sm_reserve)
 *     lock single buckets, never the map. Each writer also migrates a bounded
 *     number of buckets of a table being resized (see docs/DESIGN.md: the work
 *     one call does is bounded by a constant independent of the map's size).
 *     Exceptions: sm_reserve and sm_clear do work proportional to the map by
 *     design; and a write that finds the resize unable to progress — the next
 *     table nearly full while a thread that claimed part of the migration is
 *     not running, or a table full — finishes the migration itself and waits
 *     for the chunks other threads claimed (DESIGN.md, "A stalled migrator").
 *     The next table counts two entries of room per thread the process ever
 *     ran at once, so in a small map of a process that once ran many threads
 *     an insert may find that room short and finish the migration itself:
 *     work bounded by that small table, not by a constant.
 *     An insert also waits while another writer sizes a new table and, for a
 *     resize that is not an sm_reserve, allocates it (microseconds, unless
 *     that writer is preempted; I9 in DESIGN.md).
 *     Readers are never among them.
 * T4. Every successful operation is linearizable: it appears to take effect at
 *     one instant between its call and its return.
 *
 * Memory ordering a caller can rely on
 * M1. A call that observes a value (sm_get returning it, sm_put/sm_replace/
 *     sm_delete/sm_cas reporting it as old/actual, sm_insert reporting it as
 *     existing) happens after the call that stored that value: everything the
 *     storing thread wrote before storing it is visible to the observer
 *     (release/acquire). This holds on success and on the informative
 *     non-error results (SM_EXISTS, SM_MISMATCH).
 * M2. A call that returns an error (rc < 0) left the map's entries as they
 *     were and gives no ordering guarantee. It may have done internal work
 *     first (a write or sm_reserve may help finish a resize in progress),
 *     which no reader can tell from outside. The one exception is sm_clear,
 *     whose block says what an interrupted clear leaves.
 *
 * Ownership
 * O1. The map owns its memory; values are opaque 64-bit words. sm_destroy()
 *     frees everything the map allocated and nothing else.
 * O2. String keys are copied into the map; the caller keeps its buffer and
 *     may reuse it as soon as the call returns. The map frees its copy when
 *     the key leaves the map, once no reader can still be comparing with it.
 * O3. What leaves the map (an old table after a resize, a value with
 *     free_value set, a string key's copy) is freed later, by a writer, once
 *     no thread can still be reading it. On Linux, proving that takes
 *     membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) when the kernel offered it
 *     at the library's first call. If that call fails later (the kernel may
 *     return ENOMEM; a seccomp filter installed after the first call may deny
 *     it), nothing is freed until a later try succeeds; if it never does,
 *     retired memory is never freed: memory grows, as sm_stats shows in
 *     retired_tables, retired_bytes, retired_values and retired_keys. The map
 *     keeps working, and nothing is freed early. A seccomp policy should allow
 *     membarrier.
 *
 * Bad input
 * B1. No function aborts or crashes on a NULL map or a NULL required pointer:
 *     it returns SM_EINVAL (or the documented neutral value). Out-pointers
 *     marked "may be NULL" are simply not written when NULL.
 * B2. A uint64_t-key function called on a string-keyed map, or a *_str
 *     function on a uint64_t-keyed map, returns SM_EINVAL and changes nothing
 *     (sm_iter_new succeeds for both kinds; the wrong sm_iter_next* returns
 *     SM_EINVAL).
 */
#ifndef STEADYMAP_H
#define STEADYMAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, as numbers and as a string. */
#define SM_VERSION_MAJOR 0
#define SM_VERSION_MINOR 1
#define SM_VERSION_PATCH 0
#define SM_VERSION_STRING "0.1.0"

/*
 * Status codes. rc < 0 always means failure and that the call changed nothing
 * (sm_clear excepted, see M2); rc >= 0 is a result, and SM_OK means
 * "done / found".
 */
typedef enum sm_status {
    SM_OK = 0,         /* done; for lookups: found */
    SM_NOT_FOUND = 1,  /* the key is absent (get, replace, cas, delete, compute);
                          sm_iter_next: the walk is over */
    SM_EXISTS = 2,     /* sm_insert, sm_get_or_insert: the key is present */
    SM_REPLACED = 3,   /* sm_put: the key was present, its value replaced */
    SM_MISMATCH = 4,   /* sm_cas: present, but its value differs from expected */
    SM_ENOMEM = -1,    /* memory could not be allocated; entries unchanged (M2) */
    SM_EINVAL = -2     /* bad argument (NULL map/pointer, bad options) */
} sm_status;

/* An opaque concurrent map. */
typedef struct sm_map sm_map;

/* sm_options.flags; an unknown bit is SM_EINVAL. */
/* Keys are byte strings (the *_str functions), not uint64_t. */
#define SM_STRING_KEYS 1u
/* Keep the map's tables off transparent huge pages: every table of 256 KiB or
 * more (those are mmap'd; smaller ones come from malloc), including those
 * that sm_reserve and later resizes create, is marked MADV_NOHUGEPAGE. By
 * default a table of 2 MiB or more asks for huge pages (MADV_HUGEPAGE), which
 * spares an out-of-cache lookup a page walk; but when the kernel's THP defrag
 * setting is "madvise" (its default) and free memory is fragmented, the write
 * that first touches a huge page of a growing table may compact memory first.
 * Use this flag where that stall matters more than lookup speed. */
#define SM_NO_HUGE_PAGES 2u
#define SM_FLAGS_KNOWN (SM_STRING_KEYS | SM_NO_HUGE_PAGES)

/* The longest string key accepted (1 GiB); longer is SM_EINVAL. */
#define SM_STR_KEY_MAX ((size_t)1 << 30)

/* What a resize observer is told (sm_options.on_resize). */
typedef enum sm_resize_kind {
    SM_RESIZE_START = 1,   /* a new table was allocated; migration begins */
    SM_RESIZE_FINISH = 2   /* every entry moved; the old table is retired */
} sm_resize_kind;

typedef struct sm_resize_event {
    sm_resize_kind kind;
    uint64_t old_buckets;  /* 64-byte buckets of the table being left */
    uint64_t new_buckets;  /* ... of the table being filled */
} sm_resize_event;

/*
 * Options for sm_new(). Initialise with SM_OPTIONS_INIT (or set .size to
 * sizeof(sm_options) and zero the rest): .size is the sizeof(sm_options) of
 * the header the caller was built with, and a field past it is read as zero,
 * so a program built against an older header keeps working.
 */
typedef struct sm_options {
    size_t size;           /* sizeof(sm_options), as the caller knows it */
    uint64_t capacity;     /* entries to hold without growing (slots, as
                              sm_reserve counts them); 0 = small.
                              The table is faulted in by sm_new, so later
                              puts take no page faults (time ~ capacity).
                              Under a memory limit (cgroup) Linux may end the
                              process with its OOM killer while doing so,
                              before sm_new could return NULL. */
    uint64_t seed;         /* hash seed; 0 = a random seed for this map */
    uint32_t flags;        /* SM_FLAGS_*; must be a subset of SM_FLAGS_KNOWN */
    /*
     * Optional resize observer (NULL = none; costs nothing then). Called on
     * the writer thread that starts or finishes a resize, outside any bucket
     * lock. It should be short; it may call sm_get/sm_put/... on this map but
     * not sm_reserve or sm_destroy. The same events are also USDT probes
     * steadymap:resize_start and steadymap:resize_finish (args: map, old
     * buckets, new buckets) where <sys/sdt.h> was available at build time.
     */
    void (*on_resize)(const sm_resize_event *event, void *ctx);
    void *on_resize_ctx;
    /*
     * Optional (NULL = none): called once for every value that leaves the
     * map — replaced (put, replace, cas, compute), deleted (delete, compute,
     * clear) or still present at sm_destroy — but only after every thread
     * that could have read it has left the library or called sm_unpin
     * (R1 below). It runs on some writer thread, or in sm_destroy, and must
     * not call into this map. Several writer threads may run it at the same
     * time (each on different values), so it must be thread-safe. It runs
     * with no lock of the map held, so a
     * slow free_value delays only the write that runs it, never another
     * thread's calls. One write hands at most 1024 values to it (T3): a
     * backlog that a guard held back is freed over the writes that follow
     * its sm_unpin, not by one of them. Values that only move during a
     * resize are not "leaving". With free_value set, each replace or delete
     * also costs a full fence and one atomic increment of a process-wide
     * epoch counter, and sm_put, sm_replace, sm_cas, sm_delete and sm_compute
     * may return SM_ENOMEM on any call (not only a thread's first): they
     * reserve room to remember the value they displace before changing
     * anything, and that reservation may need memory. Nothing changed then.
     */
    void (*free_value)(uint64_t value, void *ctx);
    void *free_value_ctx;
} sm_options;

#define SM_OPTIONS_INIT { sizeof(sm_options), 0, 0, 0, NULL, NULL, NULL, NULL }

/*
 * sm_new — create a map.
 * opts:    NULL for defaults, or options with sizeof(size_t) <= .size <=
 *          4096. Fields beyond .size are taken as zero (a caller built
 *          against an older, shorter header); a .size larger than this
 *          header's struct (a newer caller) is accepted and the fields this
 *          library does not know are ignored.
 * Returns: the map, or NULL with errno = EINVAL (.size out of range or
 *          unknown flags) or errno = ENOMEM. Thread-safe with every other call.
 * Owner:   the caller, who frees it with sm_destroy().
 */
sm_map *sm_new(const sm_options *opts);

/*
 * sm_destroy — free the map and every table it still holds.
 * Must not run concurrently with any other call on the same map, and no
 * thread may use the map afterwards. NULL is a no-op. It calls free_value for
 * every value still held at once, whatever guards (sm_pin) other threads
 * hold: release the guards that protect this map's values first.
 */
void sm_destroy(sm_map *m);

/*
 * sm_get — look a key up.
 * value:   may be NULL; on SM_OK receives the value.
 * Returns: SM_OK (found), SM_NOT_FOUND, SM_EINVAL (m NULL), or SM_ENOMEM when
 *          this is the thread's first call and its per-thread state could
 *          not be created (T1).
 * Lock-free (T2); ordering M1.
 */
int sm_get(sm_map *m, uint64_t key, uint64_t *value);

/*
 * sm_put — insert the key, or replace its value.
 * old:     may be NULL; on SM_REPLACED receives the previous value.
 * Returns: SM_OK (inserted), SM_REPLACED, SM_EINVAL, or SM_ENOMEM: the
 *          thread's first call could not create its state (T1), the map
 *          had to grow and could not allocate, or (free_value set) there was
 *          no room to set the replaced value aside. Nothing changed: the key
 *          was not inserted, every earlier entry is intact, the call may be
 *          retried.
 */
int sm_put(sm_map *m, uint64_t key, uint64_t value, uint64_t *old);

/*
 * sm_insert — insert the key only if it is absent.
 * existing: may be NULL; on SM_EXISTS receives the present value.
 * Returns:  SM_OK (inserted), SM_EXISTS (nothing changed), SM_EINVAL,
 *           SM_ENOMEM (as sm_put).
 */
int sm_insert(sm_map *m, uint64_t key, uint64_t value, uint64_t *existing);

/*
 * sm_replace — replace the value only if the key is present.
 * old:     may be NULL; on SM_OK receives the previous value.
 * Returns: SM_OK (replaced), SM_NOT_FOUND (nothing changed), SM_EINVAL,
 *          SM_ENOMEM (first call of a thread, or with free_value set; nothing
 *          changed).
 */
int sm_replace(sm_map *m, uint64_t key, uint64_t value, uint64_t *old);

/*
 * sm_cas — set the key's value to desired if it currently equals expected.
 * actual:  may be NULL; on SM_OK or SM_MISMATCH receives the value the key had.
 * Returns: SM_OK (swapped), SM_MISMATCH (present with another value; nothing
 *          changed), SM_NOT_FOUND, SM_EINVAL, SM_ENOMEM (first call of a
 *          thread, or with free_value set; nothing changed).
 */
int sm_cas(sm_map *m, uint64_t key, uint64_t expected, uint64_t desired,
           uint64_t *actual);

/*
 * sm_delete — remove the key.
 * old:     may be NULL; on SM_OK receives the removed value.
 * Returns: SM_OK (removed), SM_NOT_FOUND, SM_EINVAL, SM_ENOMEM (first call of
 *          a thread, or with free_value set; nothing changed). A delete never
 *          fails for lack of memory otherwise: a shrink it cannot allocate for
 *          is retried by a later writer.
 */
int sm_delete(sm_map *m, uint64_t key, uint64_t *old);

/*
 * sm_get_or_insert — return the key's value, inserting `value` first if the
 * key is absent. When the key is present this is a lock-free read (unlike
 * Java's computeIfAbsent, which locks even then).
 * actual:  may be NULL; receives the value now in the map (the present one,
 *          or `value` if this call inserted it).
 * Returns: SM_OK (inserted), SM_EXISTS (was present), SM_EINVAL, SM_ENOMEM
 *          (as sm_put; nothing changed).
 */
int sm_get_or_insert(sm_map *m, uint64_t key, uint64_t value, uint64_t *actual);

/* What an sm_compute function decides. */
typedef enum sm_compute_action {
    SM_COMPUTE_KEEP = 0,    /* change nothing */
    SM_COMPUTE_SET = 1,     /* store *value (insert if absent) */
    SM_COMPUTE_DELETE = 2   /* remove the key if present */
} sm_compute_action;

/*
 * fn(key, present, value, ctx): present is 1 if the key is in the map, and
 * then *value holds its current value; otherwise *value is 0. fn sets *value
 * when it returns SM_COMPUTE_SET.
 */
typedef sm_compute_action (*sm_compute_fn)(uint64_t key, int present, uint64_t *value,
                                           void *ctx);

/*
 * sm_compute — create, update or delete one entry atomically with respect to
 * every other writer of that key; readers stay lock-free and see the entry
 * before or after, never in between.
 * fn runs while the key's bucket is locked: it must be short and must not
 * call into this map (a write of its own key, or of any key whose probe
 * passes that bucket, waits for the lock fn's caller holds: a deadlock the
 * library does not detect). Like AtomicLong.updateAndGet, fn may be called more
 * than once when the operation has to be retried (a neighbour bucket was
 * busy, or a resize moved the key); only the last call's decision is applied,
 * so fn must depend only on its arguments.
 * result:  may be NULL; receives the value after the call (if present).
 * Returns: SM_OK (the key is present afterwards), SM_NOT_FOUND (absent
 *          afterwards), SM_EINVAL (m or fn NULL), SM_ENOMEM (as sm_put: the
 *          thread's first call, a grow that could not allocate, or with
 *          free_value set no room to set a replaced or removed value aside;
 *          nothing changed).
 */
int sm_compute(sm_map *m, uint64_t key, sm_compute_fn fn, void *ctx, uint64_t *result);

/*
 * sm_clear — remove every entry. Not atomic: it walks the map and deletes
 * what it finds, so entries inserted concurrently may survive, and readers
 * see the entries disappear one by one. The map shrinks as it empties.
 * Returns: the number of entries this call removed (capped at INT32_MAX),
 *          SM_EINVAL, or SM_ENOMEM (the walk could not allocate; the entries
 *          removed so far stay removed, the call may be repeated).
 */
int sm_clear(sm_map *m);

/*
 * Read guards, for maps with a free_value callback.
 *
 * R1. A value obtained from the map (by sm_get, sm_get_many, an iterator, or
 *     as an old/existing/actual value) may be used by the calling thread until
 *     that call returns — and, if the thread holds a guard (sm_pin) when it
 *     obtains the value, until the matching sm_unpin. free_value is not called
 *     for it before then.
 * R2. Guards nest (each sm_pin needs one sm_unpin) and are per thread; they
 *     are not tied to one map. A thread that never pins pays nothing extra.
 * R3. While a thread holds a guard, no value retired after it pinned and no
 *     table retired after it pinned is freed, in any map: memory grows. Hold
 *     guards for the span of a request, not forever. A guard never blocks
 *     anyone, and other threads never wait for it. What it held back is
 *     freed after sm_unpin by later writes to the map, a bounded number per
 *     write (see free_value), or by sm_destroy.
 * R4. A thread that exits holding a guard keeps it: a thread-exit destructor
 *     (pthread key) that runs after the library's own may still use values
 *     obtained under it and then call sm_unpin, which returns SM_OK. If no
 *     destructor releases the guard, it is never released: the thread counts
 *     as stopped forever inside the library (R3: what was retired after it
 *     pinned is never freed; guards_active keeps counting it).
 * sm_pin returns SM_OK, or SM_ENOMEM on a thread's first call if its state
 * cannot be created (T1). sm_unpin without a matching sm_pin returns SM_EINVAL.
 */
int sm_pin(void);
int sm_unpin(void);

/*
 * sm_size — number of entries.
 * Exact when no writer runs. While writers run it is an estimate: it adds up
 * striped counters one after another without stopping anyone, so a write
 * that completes during the call may be counted on one stripe and its
 * opposite on another not at all. The error grows with the writes that
 * complete while the call runs, and a call preempted half-way can report a
 * count the map never had, 0 for a map that was never empty included: do
 * not use it to decide whether a map being written is empty. Returns 0 for a
 * NULL map. Lock-free.
 */
size_t sm_size(sm_map *m);

/*
 * sm_reserve — make room so that n entries fit without any further growth.
 * Like sm_clear, it may do work proportional to the map by design (T3): it
 * finishes a resize in progress and migrates the map into a table of the
 * needed size, faulted in up front so later puts take no page faults, before
 * it returns. It never shrinks the map; a later shrink
 * triggered by deletes may undo the reservation. "n entries fit" counts
 * slots: a delete leaves a tombstone that occupies its slot until an insert
 * reuses it or a resize drops it, so a map that churns (deletes and inserts
 * other keys) while holding close to n entries may still grow. sm_reserve(m, 0) only
 * completes a resize in progress, e.g. to give an old table back right after
 * a burst of deletes instead of during the next writes.
 * Returns: SM_OK, SM_EINVAL (m NULL), SM_ENOMEM (nothing changed). As for
 * sm_options.capacity, a memory limit may be enforced by the OOM killer while
 * the new table is faulted in, instead of by SM_ENOMEM.
 */
int sm_reserve(sm_map *m, uint64_t n);

/* A snapshot of the map's shape, from sm_stats(). */
typedef struct sm_stats_info {
    size_t size;                /* sizeof(sm_stats_info), set by the caller */
    uint64_t entries;           /* as sm_size(): an estimate while writers run */
    uint64_t capacity;          /* entries the root table holds before it grows */
    uint64_t slots;             /* slots in the root table (during a resize: the
                                   table being left, so entries may exceed it) */
    uint64_t bytes_held;        /* tables, including old ones not yet freed */
    uint64_t grows;             /* resizes to a larger table, since sm_new */
    uint64_t shrinks;           /* resizes to a smaller table */
    uint64_t rehashes;          /* same-size resizes that clean tombstones */
    uint32_t migrating;         /* 1 while a resize is in progress */
    uint32_t reserved0;
    uint64_t buckets_total;     /* buckets in the table being migrated (0 if none) */
    uint64_t buckets_migrated;  /* ... of which already moved */
    uint64_t longest_probe;     /* most buckets one insert probed in the current table */
    uint64_t retired_tables;    /* old tables waiting for readers to leave */
    uint64_t retired_bytes;     /* bytes of those tables (part of bytes_held) */
    uint64_t retired_values;    /* values waiting for free_value (R1) */
    uint64_t tombstones;        /* deleted slots not yet reused, current table */
    uint64_t guards_active;     /* threads holding sm_pin, process wide */
    uint64_t retired_keys;      /* string keys removed, waiting for readers to leave */
} sm_stats_info;

/*
 * sm_stats — fill *st with a snapshot (fields read without stopping writers,
 * so they may be mutually slightly inconsistent while writers run).
 * st->size must be set by the caller; fields past it are not written, and on
 * return it holds the bytes written (at most this library's sizeof).
 * bytes_held counts the tables and the map's own small header.
 * Returns: SM_OK, SM_EINVAL (m or st NULL, st->size too small for .entries),
 *          or SM_ENOMEM on a thread's first call when its per-thread state
 *          cannot be created (T1, as every other call). Lock-free.
 */
int sm_stats(sm_map *m, sm_stats_info *st);

/*
 * sm_get_many — look up n keys at once, overlapping their memory accesses.
 * Each lookup has exactly sm_get's semantics and ordering (M1); the batch as
 * a whole is not atomic. Out-of-cache, a batch costs a fraction of n sm_get
 * calls (docs/BENCHMARKS.md).
 * keys:    n keys (may be NULL only if n == 0).
 * values:  may be NULL; else n slots, values[i] written when keys[i] is found
 *          (untouched otherwise).
 * found:   may be NULL; else n bytes, found[i] = 1 if found, 0 if not.
 * Returns: the number of keys found (capped at INT32_MAX), SM_EINVAL, or
 *          SM_ENOMEM (first call of a thread only). Lock-free.
 */
int sm_get_many(sm_map *m, const uint64_t *keys, size_t n, uint64_t *values, uint8_t *found);

/*
 * Iteration that never blocks and is never blocked.
 *
 * sm_iter_new starts a walk over the map; sm_iter_next returns one entry per
 * call; sm_iter_free ends it. Other threads may read and write the map, and
 * the map may grow or shrink, during the walk. Guarantees:
 *   G1 a key present for the whole walk, and not deleted or re-inserted during
 *      it, is returned exactly once;
 *   G2 no key is returned twice;
 *   G3 a returned value was the key's value at some moment during the walk;
 *   G4 keys inserted or deleted during the walk may or may not be returned.
 * Entries come in no particular order (hash order of a secret hash).
 * The iterator holds no lock and no reference to a table between calls, so a
 * slow or abandoned walk holds back neither writers nor memory reclamation.
 * One iterator must be used by one thread at a time; any number of iterators
 * may walk the same map concurrently. The map must outlive its iterators.
 */
typedef struct sm_iter sm_iter;

/* Returns a new iterator, or NULL (m NULL, or out of memory). */
sm_iter *sm_iter_new(sm_map *m);

/*
 * key, value: may be NULL; on SM_OK receive the next entry.
 * Returns: SM_OK, SM_NOT_FOUND (the walk is over), SM_EINVAL (it NULL), or
 *          SM_ENOMEM (the walk did not advance; the call may be repeated).
 * On a map with free_value, each value is read again when this call returns
 * it (one lookup per entry; a key deleted since is skipped), so R1 holds for
 * it as for sm_get: a guard held around this call protects it.
 */
int sm_iter_next(sm_iter *it, uint64_t *key, uint64_t *value);

/* Frees the iterator. NULL is a no-op. */
void sm_iter_free(sm_iter *it);

/*
 * String keys (maps created with SM_STRING_KEYS in sm_options.flags)
 *
 * A key is `len` bytes at `key` (any bytes, not NUL-terminated; key may be
 * NULL when len is 0), 0 <= len <= SM_STR_KEY_MAX. Each function below has
 * the semantics, return codes, thread-safety and ordering of its uint64_t
 * twin above, plus:
 *   - SM_EINVAL for a key NULL with len > 0, len > SM_STR_KEY_MAX, or a map
 *     without SM_STRING_KEYS (B2);
 *   - functions that may insert (put, insert, get_or_insert, compute) copy
 *     the key (O2) and return SM_ENOMEM when that copy cannot be allocated;
 *     functions that may remove a key (delete, compute, clear) reserve room
 *     to retire its copy and may return SM_ENOMEM before changing anything.
 * Reads stay lock-free (T2): a lookup compares keys only in slots whose 8-bit
 * fingerprint matches and whose stored 64-bit hash equals the key's, so a
 * miss usually compares no bytes and a hit compares them once. The hash is
 * XXH3 keyed with a per-map 192-byte secret (docs/DESIGN.md, "String keys").
 */
int sm_get_str(sm_map *m, const void *key, size_t len, uint64_t *value);
int sm_put_str(sm_map *m, const void *key, size_t len, uint64_t value, uint64_t *old);
int sm_insert_str(sm_map *m, const void *key, size_t len, uint64_t value, uint64_t *existing);
int sm_replace_str(sm_map *m, const void *key, size_t len, uint64_t value, uint64_t *old);
int sm_cas_str(sm_map *m, const void *key, size_t len, uint64_t expected, uint64_t desired,
               uint64_t *actual);
int sm_delete_str(sm_map *m, const void *key, size_t len, uint64_t *old);
int sm_get_or_insert_str(sm_map *m, const void *key, size_t len, uint64_t value,
                         uint64_t *actual);

/* As sm_compute_fn; key points to len bytes valid during the call. */
typedef sm_compute_action (*sm_compute_str_fn)(const void *key, size_t len, int present,
                                               uint64_t *value, void *ctx);
int sm_compute_str(sm_map *m, const void *key, size_t len, sm_compute_str_fn fn, void *ctx,
                   uint64_t *result);

/*
 * sm_get_many_str — as sm_get_many, for n keys keys[i] of lens[i] bytes.
 * keys and lens may be NULL only if n == 0; keys[i] may be NULL if lens[i] is 0.
 */
int sm_get_many_str(sm_map *m, const void *const *keys, const size_t *lens, size_t n,
                    uint64_t *values, uint8_t *found);

/*
 * sm_iter_next_str — the next entry of a walk over a string-keyed map, with
 * the guarantees G1-G4.
 * key, len: may be NULL; on SM_OK *key points to a copy of the key's *len
 *          bytes owned by the iterator, valid until the next call on it or
 *          sm_iter_free.
 * value:   may be NULL.
 * Returns: as sm_iter_next; SM_EINVAL also when the map has uint64_t keys.
 */
int sm_iter_next_str(sm_iter *it, const void **key, size_t *len, uint64_t *value);

/* A static English description of a status code ("unknown status" otherwise). */
const char *sm_status_str(int status);

#ifdef __cplusplus
}
#endif

#endif /* STEADYMAP_H */
