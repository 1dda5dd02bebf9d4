/*
 * external.h — engines whose map lives in another runtime's process (the
 * real Go map, sync.Map and a sharded map in a Go program; Java's
 * ConcurrentHashMap in a JVM). The lab cannot call into them per operation
 * without measuring the call bridge instead of the map, so the peer program
 * runs the lab's own worker loops itself and sends back a lab_result:
 * lab/external/PROTOCOL.md is the contract, go/ and java/ the peers.
 */
#ifndef LAB_EXTERNAL_H
#define LAB_EXTERNAL_H

#include <stddef.h>

#include "engine.h"
#include "harness/run.h"

/* The measured run of lab_run() for an engine with .out_of_process set:
 * the same scenario, parameters, key streams and result as in process. */
lab_result *lab_external_run(const lab_scenario *sc, const lab_engine *e, lab_load_model model,
                             const lab_settings *s);

/* The command that starts e's peer program, NULL-terminated (the mode and
 * its options follow it); NULL when e is not an out-of-process engine. */
const char *const *lab_external_command(const lab_engine *e);

/* lab_external_exec's status for a peer program killed at its limit. */
#define LAB_EXTERNAL_KILLED (-2)

/*
 * Runs e's peer program with `args` (NULL-terminated: the mode, then
 * --name=value options) and returns its exit status: -1 if it could not be
 * started or died of a signal, LAB_EXTERNAL_KILLED if it was still running
 * after limit_ms of wall time (it is then killed, so a hung runtime cannot
 * hang the comparison). *out receives its standard output, NUL-terminated,
 * for the caller to free (NULL if nothing could be read).
 */
int lab_external_exec(const lab_engine *e, const char *const *args, uint64_t limit_ms,
                      char **out);

#endif
