/*
 * registry.c — every engine compiled into the lab, in the order `list` shows
 * them: the library first, then the Go designs it is compared with, then the
 * packaged C/C++ peers that were found at build time (lab/peers/), then the
 * out-of-process peers (lab/external/), and last the instrument's own
 * engines: the floor reading, and the validation engine last.
 *
 * The peer lists are NULL-terminated arrays owned by their folders, so adding
 * a peer never touches this file.
 */
#include <pthread.h>
#include <string.h>

#include "engine.h"

extern const lab_engine lab_engine_steady;
extern const lab_engine lab_engine_gomap;
extern const lab_engine lab_engine_sharded;
extern const lab_engine lab_engine_syncmap;
extern const lab_engine lab_engine_stall;
extern const lab_engine lab_engine_floor;
extern const lab_engine *const lab_peer_engines[];
extern const lab_engine *const lab_external_engines[];

#define MAX_ENGINES 64

static const lab_engine *engines[MAX_ENGINES];
static size_t engine_count;
static pthread_once_t engines_once = PTHREAD_ONCE_INIT;

static void add_list(const lab_engine *const *list)
{
    for (size_t i = 0; list[i] && engine_count < MAX_ENGINES; i++)
        engines[engine_count++] = list[i];
}

static void build_registry(void)
{
    static const lab_engine *const own[] = {
        &lab_engine_steady, &lab_engine_gomap, &lab_engine_sharded, &lab_engine_syncmap, NULL,
    };
    add_list(own);
    add_list(lab_peer_engines);
    add_list(lab_external_engines);
    engines[engine_count++] = &lab_engine_floor;
    engines[engine_count++] = &lab_engine_stall;
}

const lab_engine *const *lab_engines_all(size_t *count)
{
    pthread_once(&engines_once, build_registry);
    if (count)
        *count = engine_count;
    return engines;
}

const lab_engine *lab_engine_find(const char *name)
{
    if (!name)
        return NULL;
    size_t n;
    const lab_engine *const *all = lab_engines_all(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
