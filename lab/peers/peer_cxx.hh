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
 *
 * String keys. Every C++ peer stores std::string keys, what a C++ program
 * keeps in its maps, and looks them up through a std::string_view over the
 * harness's bytes wherever the library has heterogeneous lookup (all three
 * do): building a std::string for each get would charge every lookup of a
 * key longer than libstdc++'s 15-byte inline buffer a malloc and a free that
 * belong to the string class, not to the map. std_string_hash is that
 * lookup's hash for the maps whose default is std::hash<std::string>: the
 * standard requires std::hash<std::string_view> to give the same value for
 * the same characters, so the map hashes exactly as with its default, and
 * only accepts a view besides a string.
 */
#ifndef LAB_PEER_CXX_HH
#define LAB_PEER_CXX_HH

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

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

/*
 * A map made by create or by create_str: engine.h shares destroy and size
 * between the two kinds, so every C++ adapter's maps derive from map_base,
 * and those two calls, neither of them on a hot path, dispatch through it.
 * The harness holds the map as the void * that opaque() makes and as<>()
 * turns back, both through map_base, so the casts stay exact whatever the
 * derived layout.
 */
struct map_base {
    virtual ~map_base() = default;
    virtual uint64_t size() = 0;
};

inline void *opaque(map_base *map) { return map; }

template <class Map>
Map *as(void *map)
{
    return static_cast<Map *>(static_cast<map_base *>(map));
}

inline void destroy(void *map) { delete static_cast<map_base *>(map); }

inline uint64_t size(void *map) { return static_cast<map_base *>(map)->size(); }

/* The harness's key as a view; it may hold any byte, NUL included. */
inline std::string_view key_view(const void *key, std::size_t len)
{
    return std::string_view(static_cast<const char *>(key), len);
}

struct std_string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept
    {
        return std::hash<std::string_view>{}(s);
    }
};

} // namespace lab_peer

#endif
