/*
 * external.c — peers that run in another runtime's process (Go, Java).
 */
#include <stddef.h>

#include "engine.h"

const lab_engine *const lab_external_engines[] = {
    NULL,
};
