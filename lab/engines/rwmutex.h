/*
 * rwmutex.h — a pthread reader-writer lock that behaves like Go's
 * sync.RWMutex, for the engines that model Go code guarding maps with one.
 * Needs the POSIX thread types: include it after defining _GNU_SOURCE.
 */
#ifndef LAB_RWMUTEX_H
#define LAB_RWMUTEX_H

#include <pthread.h>

/*
 * Initialise lock so that once a writer waits, new readers queue behind it,
 * as with sync.RWMutex (glibc's default prefers readers and can starve a
 * writer forever). Returns 0, or -1 if the lock could not be initialised.
 */
int go_rwmutex_init(pthread_rwlock_t *lock);

#endif
