/*
 * engine.h — the one small interface every map the lab measures sits behind.
 *
 * An engine is a table of function pointers. The harness owns the threads:
 * it calls create() once, then thread_attach() on every worker thread before
 * its first operation and thread_detach() after its last, then destroy().
 * get/put/del/iterate may be called from all attached threads concurrently;
 * an engine that cannot do that safely must lock internally, because that is
 * exactly what the lab measures.
 */
#ifndef LAB_ENGINE_H
#define LAB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* Resize events an engine may report, so the timeline can mark them. */
typedef enum lab_event_kind {
    LAB_EVENT_RESIZE_START = 1,
    LAB_EVENT_RESIZE_FINISH = 2
} lab_event_kind;

/* Called by an engine from whichever thread starts or finishes a resize. */
typedef void (*lab_event_fn)(lab_event_kind kind, uint64_t old_buckets,
                             uint64_t new_buckets, void *ctx);

/* Called by iterate() once per entry; return nonzero to stop early. */
typedef int (*lab_visit_fn)(uint64_t key, uint64_t value, void *ctx);

typedef struct lab_engine {
    const char *name;         /* short, lowercase: "steady", "gomap", ... */
    const char *description;  /* one line for `steadymap-lab list` */

    /* capacity_hint: entries expected (0 = start small, grow as needed).
     * Returns NULL on failure. */
    void *(*create)(uint64_t capacity_hint);
    void (*destroy)(void *map);

    /* Optional (may be NULL): per-thread set-up and tear-down. */
    void (*thread_attach)(void *map);
    void (*thread_detach)(void *map);

    /* 1 = found (*value set), 0 = absent, < 0 = engine error. */
    int (*get)(void *map, uint64_t key, uint64_t *value);
    /* Insert or replace. 0 = done, < 0 = engine error (e.g. out of memory). */
    int (*put)(void *map, uint64_t key, uint64_t value);
    /* 1 = removed, 0 = absent, < 0 = engine error. */
    int (*del)(void *map, uint64_t key);

    /* Optional: visit every entry. Returns entries visited, or < 0 on error.
     * NULL = the engine cannot iterate (the range scenario says so). */
    long (*iterate)(void *map, lab_visit_fn visit, void *ctx);

    /* Optional: entries currently held, and bytes of memory held. */
    uint64_t (*size)(void *map);
    uint64_t (*bytes)(void *map);

    /* Optional: ask the engine to report resize events to fn. */
    void (*set_event_hook)(void *map, lab_event_fn fn, void *ctx);

    /* 1 = the map lives in another runtime's process (lab/external/): the
     * function pointers above are NULL and lab_run hands the whole measured
     * run to that process. */
    int out_of_process;

    /* 1 = the map is not thread-safe at all (a single-threaded baseline):
     * lab_run skips it in every scenario that runs more than one thread. */
    int single_thread_only;

    /* 1 = not a map but a reading of the machine (engines/floor.c): it
     * answers every get "present" without storing anything, so lab_run
     * runs it only where every get hits a pre-filled, pre-sized key space,
     * and the tests of map behaviour leave it out. */
    int reading_only;

    /*
     * Optional: byte-string keys, for scenarios with .key_bytes set (NULL =
     * the engine has no string keys; those scenarios say n/a). A map made by
     * create_str is used only through the *_str calls below plus destroy,
     * thread_attach/detach, size and bytes. The key is copied by the engine
     * if it keeps it: the harness reuses its buffer. Return codes as above.
     */
    void *(*create_str)(uint64_t capacity_hint);
    int (*get_str)(void *map, const void *key, size_t len, uint64_t *value);
    int (*put_str)(void *map, const void *key, size_t len, uint64_t value);
    int (*del_str)(void *map, const void *key, size_t len);
} lab_engine;

/* Every engine compiled in; the registry lives in engines/registry.c. */
const lab_engine *lab_engine_find(const char *name);
const lab_engine *const *lab_engines_all(size_t *count);

#endif
