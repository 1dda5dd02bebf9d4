/*
 * external.c — peers that run in another runtime's process (Go, Java).
 *
 * Each is registered only when its program was built (lab/external/
 * CMakeLists.txt defines LAB_PEER_GO / LAB_PEER_JAVA with the built paths),
 * so a lab built where Go or Java is missing simply does not list them. The
 * engines have no function pointers: lab_run hands the whole run to
 * lab_external_run (runner.c), which starts the command below.
 */
#include <stddef.h>

#include "engine.h"
#include "external/external.h"

#ifdef LAB_PEER_GO
static const char *const go_command[] = { LAB_PEER_GO, NULL };

static const lab_engine go_map_rw = {
    .name = "go_map_rw",
    .description = "real Go " LAB_PEER_GO_VERSION " map[uint64]uint64 + sync.RWMutex (out of process)",
    .out_of_process = 1,
};

static const lab_engine go_syncmap = {
    .name = "go_syncmap",
    .description = "real Go " LAB_PEER_GO_VERSION " sync.Map, uint64 keys and values (out of process)",
    .out_of_process = 1,
};

static const lab_engine go_sharded = {
    .name = "go_sharded",
    .description = "real Go " LAB_PEER_GO_VERSION " 32 shards, each map[uint64]uint64 + sync.RWMutex (out of process)",
    .out_of_process = 1,
};
#endif

#ifdef LAB_PEER_JAVA
/* G1 named explicitly: Peer.java says why. */
static const char *const java_command[] = {
    LAB_PEER_JAVA, "-XX:+UseG1GC", "-cp", LAB_PEER_JAVA_CLASSES, "steadymap.peer.Peer", NULL,
};

static const lab_engine java_chm = {
    .name = "java_chm",
    .description = "real Java " LAB_PEER_JAVA_VERSION " ConcurrentHashMap<Long, Long>, G1, JIT warmed up (out of process)",
    .out_of_process = 1,
};
#endif

const lab_engine *const lab_external_engines[] = {
#ifdef LAB_PEER_GO
    &go_map_rw, &go_syncmap, &go_sharded,
#endif
#ifdef LAB_PEER_JAVA
    &java_chm,
#endif
    NULL,
};

const char *const *lab_external_command(const lab_engine *e)
{
#ifdef LAB_PEER_GO
    if (e == &go_map_rw || e == &go_syncmap || e == &go_sharded)
        return go_command;
#endif
#ifdef LAB_PEER_JAVA
    if (e == &java_chm)
        return java_command;
#endif
    (void)e;
    return NULL;
}
