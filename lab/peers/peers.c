/*
 * peers.c — the packaged C/C++ concurrent maps the lab compares steadymap
 * with, each compiled only when its Debian package was found at build time.
 */
#include <stddef.h>

#include "engine.h"

const lab_engine *const lab_peer_engines[] = {
    NULL,
};
