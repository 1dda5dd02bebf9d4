/*
 * boost_flat.cpp — three lab engines over boost::unordered_flat_map, Boost's
 * open-addressing table (15-slot groups with SIMD-matched metadata, the
 * design of abseil's and folly's Swiss tables), which is not thread-safe at
 * all. It is here as the speed a map can reach when it does nothing for
 * concurrency, and as the two ways C++ programs usually share one:
 *
 *   boost_flat          the bare map with no lock: NOT thread-safe. Marked
 *                       single_thread_only, so the lab skips it in any
 *                       scenario that runs more than one thread: it is the
 *                       single-threaded baseline, never a concurrent peer.
 *   boost_flat_rw       one pthread_rwlock_t around the map: gets, size and
 *                       iteration share the read side, puts and dels take
 *                       the write side.
 *   boost_flat_shard64  64 maps, each under its own rwlock, a key's shard
 *                       chosen by the top 6 bits of a 64-bit mix of the key;
 *                       each shard starts on its own cache line so that one
 *                       shard's lock traffic does not invalidate its
 *                       neighbour's. The mix differs from the one Boost
 *                       applies inside each map, so the bits that pick the
 *                       shard do not bias the slots within it.
 *
 * The rwlocks are glibc's writer-preferring kind (lab_peer::rwlock_init says
 * why). A growing map rehashes everything at once inside the put that
 * crossed the load factor (0.875), under the write lock: one long stall for
 * the whole map, or for one shard in 64. The capacity hint goes to reserve()
 * (split evenly over the shards). Iteration walks under the read lock (per
 * shard for the sharded engine, so it is no snapshot). Boost does not report
 * its memory, so bytes is NULL. Hash: boost::hash<uint64_t>, the default,
 * which the map post-mixes itself because it is not marked avalanching.
 * std::bad_alloc from a growing put becomes -1 through guarded(), the lock
 * released by its guard.
 */
#include <cstdint>

#include <boost/unordered/unordered_flat_map.hpp>

#include "peer_cxx.hh"

namespace {

using flat = boost::unordered_flat_map<uint64_t, uint64_t>;

struct read_lock {
    pthread_rwlock_t *lock;
    explicit read_lock(pthread_rwlock_t *l) : lock(l) { pthread_rwlock_rdlock(lock); }
    ~read_lock() { pthread_rwlock_unlock(lock); }
    read_lock(const read_lock &) = delete;
    read_lock &operator=(const read_lock &) = delete;
};

struct write_lock {
    pthread_rwlock_t *lock;
    explicit write_lock(pthread_rwlock_t *l) : lock(l) { pthread_rwlock_wrlock(lock); }
    ~write_lock() { pthread_rwlock_unlock(lock); }
    write_lock(const write_lock &) = delete;
    write_lock &operator=(const write_lock &) = delete;
};

/* What all three engines do to one map, the caller holding whatever lock. */
int map_get(const flat &m, uint64_t key, uint64_t *value)
{
    auto it = m.find(key);
    if (it == m.end())
        return 0;
    *value = it->second;
    return 1;
}

/* Counts every visited entry, so the caller can add up shards; *stopped
 * tells it that visit asked to stop. */
long map_iterate(const flat &m, lab_visit_fn visit, void *ctx, int *stopped)
{
    long n = 0;
    *stopped = 0;
    for (const auto &kv : m) {
        n++;
        if (visit(kv.first, kv.second, ctx)) {
            *stopped = 1;
            break;
        }
    }
    return n;
}

/* ---- boost_flat: no lock ------------------------------------------------ */

flat *bare(void *map) { return static_cast<flat *>(map); }

void *bare_create(uint64_t capacity_hint)
{
    try {
        auto *m = new flat();
        m->reserve(static_cast<flat::size_type>(capacity_hint));
        return m;
    } catch (...) {
        return nullptr;
    }
}

void bare_destroy(void *map) { delete bare(map); }

int bare_get(void *map, uint64_t key, uint64_t *value) { return map_get(*bare(map), key, value); }

int bare_put(void *map, uint64_t key, uint64_t value)
{
    return lab_peer::guarded([&] {
        bare(map)->insert_or_assign(key, value);
        return 0;
    });
}

int bare_del(void *map, uint64_t key) { return bare(map)->erase(key) ? 1 : 0; }

long bare_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    int stopped;
    return map_iterate(*bare(map), visit, ctx, &stopped);
}

uint64_t bare_size(void *map) { return bare(map)->size(); }

/* ---- boost_flat_rw: one rwlock ------------------------------------------ */

struct locked {
    pthread_rwlock_t lock;
    flat m;
};

locked *rw(void *map) { return static_cast<locked *>(map); }

void *rw_create(uint64_t capacity_hint)
{
    locked *l = nullptr;
    try {
        l = new locked();
        l->m.reserve(static_cast<flat::size_type>(capacity_hint));
    } catch (...) {
        delete l;
        return nullptr;
    }
    if (lab_peer::rwlock_init(&l->lock) != 0) {
        delete l;
        return nullptr;
    }
    return l;
}

void rw_destroy(void *map)
{
    pthread_rwlock_destroy(&rw(map)->lock);
    delete rw(map);
}

int rw_get(void *map, uint64_t key, uint64_t *value)
{
    read_lock guard(&rw(map)->lock);
    return map_get(rw(map)->m, key, value);
}

int rw_put(void *map, uint64_t key, uint64_t value)
{
    return lab_peer::guarded([&] {
        write_lock guard(&rw(map)->lock);
        rw(map)->m.insert_or_assign(key, value);
        return 0;
    });
}

int rw_del(void *map, uint64_t key)
{
    write_lock guard(&rw(map)->lock);
    return rw(map)->m.erase(key) ? 1 : 0;
}

long rw_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    read_lock guard(&rw(map)->lock);
    int stopped;
    return map_iterate(rw(map)->m, visit, ctx, &stopped);
}

uint64_t rw_size(void *map)
{
    read_lock guard(&rw(map)->lock);
    return rw(map)->m.size();
}

/* ---- boost_flat_shard64: 64 rwlocked maps --------------------------------- */

constexpr int SHARD_BITS = 6;
constexpr int SHARDS = 1 << SHARD_BITS;

struct alignas(64) shard {
    pthread_rwlock_t lock;
    flat m;
};

struct sharded {
    shard shards[SHARDS];
};

sharded *sh(void *map) { return static_cast<sharded *>(map); }

shard &shard_of(void *map, uint64_t key)
{
    key ^= key >> 31;
    key *= 0x7fb5d329728ea185u;
    key ^= key >> 27;
    key *= 0x81dadef4bc2dd44du;
    return sh(map)->shards[key >> (64 - SHARD_BITS)];
}

void sharded_destroy(void *map)
{
    for (shard &s : sh(map)->shards)
        pthread_rwlock_destroy(&s.lock);
    delete sh(map);
}

void *sharded_create(uint64_t capacity_hint)
{
    sharded *s = nullptr;
    try {
        s = new sharded();
        for (shard &one : s->shards)
            one.m.reserve(static_cast<flat::size_type>(capacity_hint / SHARDS +
                                                       (capacity_hint % SHARDS != 0)));
    } catch (...) {
        delete s;
        return nullptr;
    }
    for (int i = 0; i < SHARDS; i++) {
        if (lab_peer::rwlock_init(&s->shards[i].lock) != 0) {
            while (i-- > 0)
                pthread_rwlock_destroy(&s->shards[i].lock);
            delete s;
            return nullptr;
        }
    }
    return s;
}

int sharded_get(void *map, uint64_t key, uint64_t *value)
{
    shard &s = shard_of(map, key);
    read_lock guard(&s.lock);
    return map_get(s.m, key, value);
}

int sharded_put(void *map, uint64_t key, uint64_t value)
{
    return lab_peer::guarded([&] {
        shard &s = shard_of(map, key);
        write_lock guard(&s.lock);
        s.m.insert_or_assign(key, value);
        return 0;
    });
}

int sharded_del(void *map, uint64_t key)
{
    shard &s = shard_of(map, key);
    write_lock guard(&s.lock);
    return s.m.erase(key) ? 1 : 0;
}

long sharded_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    long total = 0;
    for (shard &s : sh(map)->shards) {
        int stopped;
        read_lock guard(&s.lock);
        total += map_iterate(s.m, visit, ctx, &stopped);
        if (stopped)
            break;
    }
    return total;
}

uint64_t sharded_size(void *map)
{
    uint64_t total = 0;
    for (shard &s : sh(map)->shards) {
        read_lock guard(&s.lock);
        total += s.m.size();
    }
    return total;
}

constexpr lab_engine make_bare()
{
    lab_engine e{};
    e.name = "boost_flat";
    e.description = "boost::unordered_flat_map with no lock: NOT thread-safe, single-threaded scenarios only";
    e.create = bare_create;
    e.destroy = bare_destroy;
    e.get = bare_get;
    e.put = bare_put;
    e.del = bare_del;
    e.iterate = bare_iterate;
    e.size = bare_size;
    e.single_thread_only = 1;
    return e;
}

constexpr lab_engine make_rw()
{
    lab_engine e{};
    e.name = "boost_flat_rw";
    e.description = "boost::unordered_flat_map behind one pthread rwlock";
    e.create = rw_create;
    e.destroy = rw_destroy;
    e.get = rw_get;
    e.put = rw_put;
    e.del = rw_del;
    e.iterate = rw_iterate;
    e.size = rw_size;
    return e;
}

constexpr lab_engine make_sharded()
{
    lab_engine e{};
    e.name = "boost_flat_shard64";
    e.description = "64 boost::unordered_flat_maps, each behind its own pthread rwlock";
    e.create = sharded_create;
    e.destroy = sharded_destroy;
    e.get = sharded_get;
    e.put = sharded_put;
    e.del = sharded_del;
    e.iterate = sharded_iterate;
    e.size = sharded_size;
    return e;
}

} // namespace

extern "C" const lab_engine lab_peer_boost_flat = make_bare();
extern "C" const lab_engine lab_peer_boost_flat_rw = make_rw();
extern "C" const lab_engine lab_peer_boost_flat_shard64 = make_sharded();
