/*
 * steady.c — the lab engine "steady": the steadymap library itself, called
 * exactly as an application calls it (include/steadymap.h), with no lock
 * around it: the library takes care of its own concurrency.
 *
 * String-key scenarios use a map made with SM_STRING_KEYS and the *_str
 * calls. Iteration uses sm_iter (never blocks, never blocked); resize events come
 * from the library's own sm_options.on_resize observer, forwarded to the
 * harness's hook. Threads need no attach: the library creates per-thread
 * state on a thread's first call (T1 in steadymap.h).
 */
#include <stdlib.h>

#include "engine.h"
#include "steadymap.h"

typedef struct steady {
    sm_map *map;
    /* Set by set_event_hook before the worker threads start (the harness's
     * order), read by whichever writer resizes. */
    lab_event_fn hook;
    void *hook_ctx;
} steady;

static void forward_resize(const sm_resize_event *ev, void *ctx)
{
    const steady *s = ctx;
    if (s->hook)
        s->hook(ev->kind == SM_RESIZE_START ? LAB_EVENT_RESIZE_START : LAB_EVENT_RESIZE_FINISH,
                ev->old_buckets, ev->new_buckets, s->hook_ctx);
}

static void *create_with(uint64_t capacity_hint, uint32_t flags)
{
    steady *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    sm_options opts = SM_OPTIONS_INIT;
    opts.capacity = capacity_hint;
    opts.flags = flags;
    opts.on_resize = forward_resize;
    opts.on_resize_ctx = s;
    s->map = sm_new(&opts);
    if (!s->map) {
        free(s);
        return NULL;
    }
    return s;
}

static void *steady_create(uint64_t capacity_hint)
{
    return create_with(capacity_hint, 0);
}

static void *steady_create_str(uint64_t capacity_hint)
{
    return create_with(capacity_hint, SM_STRING_KEYS);
}

static void steady_destroy(void *map)
{
    steady *s = map;
    sm_destroy(s->map);
    free(s);
}

static int steady_get(void *map, uint64_t key, uint64_t *value)
{
    int rc = sm_get(((steady *)map)->map, key, value);
    return rc == SM_OK ? 1 : rc == SM_NOT_FOUND ? 0 : -1;
}

static int steady_put(void *map, uint64_t key, uint64_t value)
{
    return sm_put(((steady *)map)->map, key, value, NULL) < 0 ? -1 : 0;
}

static int steady_del(void *map, uint64_t key)
{
    int rc = sm_delete(((steady *)map)->map, key, NULL);
    return rc == SM_OK ? 1 : rc == SM_NOT_FOUND ? 0 : -1;
}

static int steady_get_str(void *map, const void *key, size_t len, uint64_t *value)
{
    int rc = sm_get_str(((steady *)map)->map, key, len, value);
    return rc == SM_OK ? 1 : rc == SM_NOT_FOUND ? 0 : -1;
}

static int steady_put_str(void *map, const void *key, size_t len, uint64_t value)
{
    return sm_put_str(((steady *)map)->map, key, len, value, NULL) < 0 ? -1 : 0;
}

static int steady_del_str(void *map, const void *key, size_t len)
{
    int rc = sm_delete_str(((steady *)map)->map, key, len, NULL);
    return rc == SM_OK ? 1 : rc == SM_NOT_FOUND ? 0 : -1;
}

static long steady_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    sm_iter *it = sm_iter_new(((steady *)map)->map);
    if (!it)
        return -1;
    long n = 0;
    uint64_t k, v;
    int rc;
    while ((rc = sm_iter_next(it, &k, &v)) == SM_OK) {
        n++;
        if (visit(k, v, ctx))
            break;
    }
    sm_iter_free(it);
    return rc < 0 ? -1 : n;
}

static uint64_t steady_size(void *map)
{
    return sm_size(((steady *)map)->map);
}

static uint64_t steady_bytes(void *map)
{
    sm_stats_info st = { .size = sizeof st };
    return sm_stats(((steady *)map)->map, &st) == SM_OK ? st.bytes_held : 0;
}

static void steady_set_event_hook(void *map, lab_event_fn fn, void *ctx)
{
    steady *s = map;
    s->hook_ctx = ctx;
    s->hook = fn;
}

const lab_engine lab_engine_steady = {
    .name = "steady",
    .description = "steadymap: reads never lock or wait, incremental grow and shrink",
    .create = steady_create,
    .destroy = steady_destroy,
    .thread_attach = NULL,
    .thread_detach = NULL,
    .get = steady_get,
    .put = steady_put,
    .del = steady_del,
    .iterate = steady_iterate,
    .size = steady_size,
    .bytes = steady_bytes,
    .set_event_hook = steady_set_event_hook,
    .create_str = steady_create_str,
    .get_str = steady_get_str,
    .put_str = steady_put_str,
    .del_str = steady_del_str,
};
