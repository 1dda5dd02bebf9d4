/*
 * registry.c — every engine compiled into the lab, in the order `list` shows
 * them: the library first, then the Go designs it is compared with, then the
 * instrument's own validation engine.
 */
#include <string.h>

#include "engine.h"

extern const lab_engine lab_engine_steady;
extern const lab_engine lab_engine_gomap;
extern const lab_engine lab_engine_sharded;
extern const lab_engine lab_engine_syncmap;
extern const lab_engine lab_engine_stall;

static const lab_engine *const engines[] = {
    &lab_engine_steady,
    &lab_engine_gomap,
    &lab_engine_sharded,
    &lab_engine_syncmap,
    &lab_engine_stall,
};

const lab_engine *const *lab_engines_all(size_t *count)
{
    if (count)
        *count = sizeof engines / sizeof engines[0];
    return engines;
}

const lab_engine *lab_engine_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        if (strcmp(engines[i]->name, name) == 0)
            return engines[i];
    return NULL;
}
