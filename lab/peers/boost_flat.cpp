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
 *
 * String keys. Each engine also makes maps of std::string keys, with the
 * same locking. Boost 1.81's flat map has heterogeneous find, contains and
 * erase (not insert_or_assign) when both the hash and the equality are
 * transparent, so the string maps use string_hash below, which is
 * boost::hash<std::string_view> (Boost's default string hash: the bytes
 * folded in four at a time with hash_combine; for the same characters it
 * gives exactly boost::hash<std::string>'s value, and Boost marks both
 * avalanching, so the map uses it unmixed as it would the default), and
 * std::equal_to<>. Gets and dels then look the harness's bytes up through a
 * std::string_view without making a string. A put looks the key up the same
 * way and assigns the value in place when it is there; only a key that is
 * new is copied, into the std::string the map keeps (heap memory past
 * libstdc++'s 15 inline bytes), at the cost of a second probe for the
 * insert. The sharded engine hashes a string key twice, once to pick the
 * shard (that hash, mixed as above) and once inside the shard's map, since
 * Boost 1.81 cannot be handed a precomputed hash.
 *
 * destroy and size are shared by a map's two kinds (engine.h), so every map
 * here derives from lab_peer::map_base and those two dispatch through it.
 */
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include "peer_cxx.hh"

namespace {

struct string_hash {
    using is_transparent = void;
    using is_avalanching = void;
    std::size_t operator()(std::string_view s) const noexcept
    {
        return boost::hash<std::string_view>()(s);
    }
};

using u64_flat = boost::unordered_flat_map<uint64_t, uint64_t>;
using str_flat = boost::unordered_flat_map<std::string, uint64_t, string_hash, std::equal_to<>>;

/* A pthread rwlock owned like any C++ member, so that a map whose
 * construction fails half-way releases exactly what it made. */
class rwlock {
public:
    rwlock()
    {
        if (lab_peer::rwlock_init(&lock_) != 0)
            throw std::bad_alloc();
    }
    ~rwlock() { pthread_rwlock_destroy(&lock_); }
    rwlock(const rwlock &) = delete;
    rwlock &operator=(const rwlock &) = delete;
    pthread_rwlock_t *get() { return &lock_; }

private:
    pthread_rwlock_t lock_;
};

struct read_lock {
    rwlock &lock;
    explicit read_lock(rwlock &l) : lock(l) { pthread_rwlock_rdlock(lock.get()); }
    ~read_lock() { pthread_rwlock_unlock(lock.get()); }
    read_lock(const read_lock &) = delete;
    read_lock &operator=(const read_lock &) = delete;
};

struct write_lock {
    rwlock &lock;
    explicit write_lock(rwlock &l) : lock(l) { pthread_rwlock_wrlock(lock.get()); }
    ~write_lock() { pthread_rwlock_unlock(lock.get()); }
    write_lock(const write_lock &) = delete;
    write_lock &operator=(const write_lock &) = delete;
};

/* What all three engines do to one map, the caller holding whatever lock;
 * K is uint64_t for the u64 maps and std::string_view for the string ones. */
template <class Map, class K>
int map_get(const Map &m, const K &key, uint64_t *value)
{
    auto it = m.find(key);
    if (it == m.end())
        return 0;
    *value = it->second;
    return 1;
}

void map_put(u64_flat &m, uint64_t key, uint64_t value)
{
    m.insert_or_assign(key, value);
}

/* Copies the key only when it is new (see the header). */
void map_put(str_flat &m, std::string_view key, uint64_t value)
{
    auto it = m.find(key);
    if (it != m.end())
        it->second = value;
    else
        m.emplace(std::string(key), value);
}

/* Counts every visited entry, so the caller can add up shards; *stopped
 * tells it that visit asked to stop. */
long map_iterate(const u64_flat &m, lab_visit_fn visit, void *ctx, int *stopped)
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

template <class Map>
struct bare final : lab_peer::map_base {
    Map m;
    explicit bare(uint64_t capacity_hint) { m.reserve(static_cast<typename Map::size_type>(capacity_hint)); }
    uint64_t size() override { return m.size(); }

    template <class K> int get(const K &key, uint64_t *value) { return map_get(m, key, value); }
    template <class K> int put(const K &key, uint64_t value)
    {
        return lab_peer::guarded([&] {
            map_put(m, key, value);
            return 0;
        });
    }
    template <class K> int del(const K &key) { return m.erase(key) ? 1 : 0; }
    long iterate(lab_visit_fn visit, void *ctx)
    {
        int stopped;
        return map_iterate(m, visit, ctx, &stopped);
    }
};

/* ---- boost_flat_rw: one rwlock ------------------------------------------ */

template <class Map>
struct locked final : lab_peer::map_base {
    rwlock lock;
    Map m;
    explicit locked(uint64_t capacity_hint) { m.reserve(static_cast<typename Map::size_type>(capacity_hint)); }
    uint64_t size() override
    {
        read_lock guard(lock);
        return m.size();
    }

    template <class K> int get(const K &key, uint64_t *value)
    {
        read_lock guard(lock);
        return map_get(m, key, value);
    }
    template <class K> int put(const K &key, uint64_t value)
    {
        return lab_peer::guarded([&] {
            write_lock guard(lock);
            map_put(m, key, value);
            return 0;
        });
    }
    template <class K> int del(const K &key)
    {
        write_lock guard(lock);
        return m.erase(key) ? 1 : 0;
    }
    long iterate(lab_visit_fn visit, void *ctx)
    {
        read_lock guard(lock);
        int stopped;
        return map_iterate(m, visit, ctx, &stopped);
    }
};

/* ---- boost_flat_shard64: 64 rwlocked maps --------------------------------- */

constexpr int SHARD_BITS = 6;
constexpr int SHARDS = 1 << SHARD_BITS;

uint64_t shard_hash(uint64_t key) { return key; }
uint64_t shard_hash(std::string_view key) { return string_hash()(key); }

template <class Map>
struct alignas(64) shard {
    rwlock lock;
    Map m;
};

template <class Map>
struct sharded final : lab_peer::map_base {
    shard<Map> shards[SHARDS];

    explicit sharded(uint64_t capacity_hint)
    {
        for (shard<Map> &one : shards)
            one.m.reserve(static_cast<typename Map::size_type>(capacity_hint / SHARDS +
                                                              (capacity_hint % SHARDS != 0)));
    }

    uint64_t size() override
    {
        uint64_t total = 0;
        for (shard<Map> &s : shards) {
            read_lock guard(s.lock);
            total += s.m.size();
        }
        return total;
    }

    template <class K> shard<Map> &shard_of(const K &key)
    {
        uint64_t h = shard_hash(key);
        h ^= h >> 31;
        h *= 0x7fb5d329728ea185u;
        h ^= h >> 27;
        h *= 0x81dadef4bc2dd44du;
        return shards[h >> (64 - SHARD_BITS)];
    }

    template <class K> int get(const K &key, uint64_t *value)
    {
        shard<Map> &s = shard_of(key);
        read_lock guard(s.lock);
        return map_get(s.m, key, value);
    }
    template <class K> int put(const K &key, uint64_t value)
    {
        return lab_peer::guarded([&] {
            shard<Map> &s = shard_of(key);
            write_lock guard(s.lock);
            map_put(s.m, key, value);
            return 0;
        });
    }
    template <class K> int del(const K &key)
    {
        shard<Map> &s = shard_of(key);
        write_lock guard(s.lock);
        return s.m.erase(key) ? 1 : 0;
    }
    long iterate(lab_visit_fn visit, void *ctx)
    {
        long total = 0;
        for (shard<Map> &s : shards) {
            int stopped;
            read_lock guard(s.lock);
            total += map_iterate(s.m, visit, ctx, &stopped);
            if (stopped)
                break;
        }
        return total;
    }
};

/* ---- the C entry points, one set per engine ------------------------------- */

template <template <class> class Engine, class Map>
void *create(uint64_t capacity_hint)
{
    try {
        return lab_peer::opaque(new Engine<Map>(capacity_hint));
    } catch (...) {
        return nullptr;
    }
}

template <template <class> class Engine>
int get(void *map, uint64_t key, uint64_t *value)
{
    return lab_peer::as<Engine<u64_flat>>(map)->get(key, value);
}

template <template <class> class Engine>
int put(void *map, uint64_t key, uint64_t value)
{
    return lab_peer::as<Engine<u64_flat>>(map)->put(key, value);
}

template <template <class> class Engine>
int del(void *map, uint64_t key)
{
    return lab_peer::as<Engine<u64_flat>>(map)->del(key);
}

template <template <class> class Engine>
long iterate(void *map, lab_visit_fn visit, void *ctx)
{
    return lab_peer::as<Engine<u64_flat>>(map)->iterate(visit, ctx);
}

template <template <class> class Engine>
int get_str(void *map, const void *key, size_t len, uint64_t *value)
{
    return lab_peer::as<Engine<str_flat>>(map)->get(lab_peer::key_view(key, len), value);
}

template <template <class> class Engine>
int put_str(void *map, const void *key, size_t len, uint64_t value)
{
    return lab_peer::as<Engine<str_flat>>(map)->put(lab_peer::key_view(key, len), value);
}

template <template <class> class Engine>
int del_str(void *map, const void *key, size_t len)
{
    return lab_peer::as<Engine<str_flat>>(map)->del(lab_peer::key_view(key, len));
}

template <template <class> class Engine>
constexpr lab_engine make_engine(const char *name, const char *description)
{
    lab_engine e{};
    e.name = name;
    e.description = description;
    e.create = create<Engine, u64_flat>;
    e.destroy = lab_peer::destroy;
    e.get = get<Engine>;
    e.put = put<Engine>;
    e.del = del<Engine>;
    e.iterate = iterate<Engine>;
    e.size = lab_peer::size;
    e.create_str = create<Engine, str_flat>;
    e.get_str = get_str<Engine>;
    e.put_str = put_str<Engine>;
    e.del_str = del_str<Engine>;
    return e;
}

constexpr lab_engine make_bare()
{
    lab_engine e = make_engine<bare>(
        "boost_flat", "boost::unordered_flat_map with no lock: NOT thread-safe, single-threaded scenarios only");
    e.single_thread_only = 1;
    return e;
}

} // namespace

extern "C" const lab_engine lab_peer_boost_flat = make_bare();
extern "C" const lab_engine lab_peer_boost_flat_rw =
    make_engine<locked>("boost_flat_rw", "boost::unordered_flat_map behind one pthread rwlock");
extern "C" const lab_engine lab_peer_boost_flat_shard64 = make_engine<sharded>(
    "boost_flat_shard64", "64 boost::unordered_flat_maps, each behind its own pthread rwlock");
