/*
 * rwmutex.c — Go's sync.RWMutex semantics on a pthread rwlock.
 *
 * sync.RWMutex (sync/rwmutex.go) makes RLock wait as soon as a Lock is
 * pending, so a writer is never starved — and so one waiting writer stalls
 * every reader that arrives after it until the readers already inside (say,
 * a long range over the map) leave. That convoy is part of what the lab
 * measures for the Go designs, and glibc's writer-preferring kind of rwlock
 * reproduces it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif

#include "rwmutex.h"

int go_rwmutex_init(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init(&attr) != 0)
        return -1;
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}
