/*
 * peer_cxx.hh — what the C++ peers share: the C engine interface seen from
 * C++, and the one rule every C++ adapter keeps, that no exception crosses
 * into the C harness.
 *
 * A C++ map reports running out of memory (and libcuckoo an impossible
 * resize) by throwing. The harness is C and cannot unwind, so every entry
 * point an adapter hands it runs its body through guarded(), which turns any
 * exception into the interface's engine error, -1. The adapters build their
 * lab_engine tables with constexpr functions rather than C's designated
 * initialisers, which C++17 lacks; the tables are still constant-initialised,
 * so they exist before any code of the lab runs.
 */
#ifndef LAB_PEER_CXX_HH
#define LAB_PEER_CXX_HH

#include <pthread.h>

extern "C" {
#include "engine.h"
}

namespace lab_peer {

template <class Body>
int guarded(Body body) noexcept
{
    try {
        return body();
    } catch (...) {
        return -1;
    }
}

/* glibc's default rwlock prefers readers and can starve a writer for as long
 * as reads keep coming, which the lab's read-heavy mixes do; the engines that
 * put a map behind a rwlock use the writer-preferring kind, as sync.RWMutex
 * and the lab's own rwlock engines do, so that the lab measures the map and
 * not the lock's starvation policy. Returns 0 or -1. */
inline int rwlock_init(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    if (pthread_rwlockattr_init(&attr) != 0)
        return -1;
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

} // namespace lab_peer

#endif
