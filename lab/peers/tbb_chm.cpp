/*
 * tbb_chm.cpp — the lab engine "tbb_chm": oneTBB's concurrent_hash_map, the
 * chained table Intel's threading library has offered since its first
 * release and the one C++ codebases built on TBB reach for.
 *
 * Concurrency is the library's own, through accessors: a get holds a
 * const_accessor (the bucket's reader-writer spin lock, then the element's
 * read lock) while it copies the value out; a put inserts with an accessor,
 * which creates the element if absent and holds its write lock while the
 * value is stored, so a put replaces in place; a del is erase(key). Readers
 * therefore write to shared lock words. No thread registration is needed.
 *
 * Growth is incremental by design: when the element count passes the bucket
 * count, the inserting thread allocates one new segment that doubles the
 * buckets and marks them unsplit, and each new bucket is split from its
 * parent by whichever operation first reaches it. The capacity hint goes to
 * the constructor, which pre-allocates that many buckets.
 *
 * Hash: tbb_hash_compare<uint64_t>, the default, which hashes with std::hash
 * (the identity in libstdc++); buckets are chosen by low bits, and the lab's
 * keys are already well mixed. Memory comes from tbb_allocator, which uses
 * TBB's scalable allocator (libtbbmalloc, which Debian's libtbb-dev brings
 * in through libtbb12) when it is installed, as in any TBB program.
 *
 * What it cannot do: TBB documents iteration as unsafe while other threads
 * insert or erase, so iterate is NULL and the range scenario reports n/a
 * rather than put a lock around a table designed to need none. size() is
 * the library's element count. TBB does not report its memory: bytes is
 * NULL. Exceptions (std::bad_alloc from a put) become -1 through guarded().
 *
 * String keys. The same engine makes concurrent_hash_map<std::string,
 * uint64_t> maps. oneTBB 2021.8 has heterogeneous lookup (find, insert and
 * erase taking any key type) when the HashCompare is transparent, which the
 * default tbb_hash_compare<std::string> is not; string_compare below is that
 * default made transparent: it hashes with std::hash<std::string_view>, the
 * same values as the default's std::hash<std::string> (peer_cxx.hh), and
 * compares with ==. Gets and dels therefore look the harness's bytes up as
 * a std::string_view, and a put's insert(accessor, view) builds the
 * std::string the node keeps only when it creates the node. Each element is
 * a separately allocated node holding the std::string (its bytes past 15 in
 * one more heap block) and the value; a lookup walks the bucket's chain and
 * compares through each candidate's string.
 *
 * destroy and size are shared by a map's two kinds (engine.h), so both maps
 * derive from lab_peer::map_base and those two dispatch through it.
 */
#include <cstdint>
#include <string>
#include <string_view>

#include <oneapi/tbb/concurrent_hash_map.h>

#include "peer_cxx.hh"

namespace {

struct string_compare {
    using is_transparent = void;
    std::size_t hash(std::string_view s) const { return lab_peer::std_string_hash()(s); }
    bool equal(std::string_view a, std::string_view b) const { return a == b; }
};

template <class Table>
struct holder final : lab_peer::map_base {
    using table = Table;
    Table t;
    explicit holder(uint64_t capacity_hint) : t(static_cast<typename Table::size_type>(capacity_hint)) {}
    uint64_t size() override { return t.size(); }
};

using u64_map = holder<tbb::concurrent_hash_map<uint64_t, uint64_t>>;
using str_map = holder<tbb::concurrent_hash_map<std::string, uint64_t, string_compare>>;

template <class Map>
void *create(uint64_t capacity_hint)
{
    try {
        return lab_peer::opaque(new Map(capacity_hint));
    } catch (...) {
        return nullptr;
    }
}

/* The operations, for either map: K is uint64_t or std::string_view. */
template <class Map, class K>
int find(void *map, const K &key, uint64_t *value)
{
    return lab_peer::guarded([&] {
        typename Map::table::const_accessor found;
        if (!lab_peer::as<Map>(map)->t.find(found, key))
            return 0;
        *value = found->second;
        return 1;
    });
}

template <class Map, class K>
int assign(void *map, const K &key, uint64_t value)
{
    return lab_peer::guarded([&] {
        typename Map::table::accessor slot;
        lab_peer::as<Map>(map)->t.insert(slot, key);
        slot->second = value;
        return 0;
    });
}

template <class Map, class K>
int erase(void *map, const K &key)
{
    return lab_peer::guarded([&] { return lab_peer::as<Map>(map)->t.erase(key) ? 1 : 0; });
}

int get(void *map, uint64_t key, uint64_t *value) { return find<u64_map>(map, key, value); }
int put(void *map, uint64_t key, uint64_t value) { return assign<u64_map>(map, key, value); }
int del(void *map, uint64_t key) { return erase<u64_map>(map, key); }

int get_str(void *map, const void *key, size_t len, uint64_t *value)
{
    return find<str_map>(map, lab_peer::key_view(key, len), value);
}

int put_str(void *map, const void *key, size_t len, uint64_t value)
{
    return assign<str_map>(map, lab_peer::key_view(key, len), value);
}

int del_str(void *map, const void *key, size_t len)
{
    return erase<str_map>(map, lab_peer::key_view(key, len));
}

constexpr lab_engine make_engine()
{
    lab_engine e{};
    e.name = "tbb_chm";
    e.description = "oneTBB concurrent_hash_map: bucket and element locks, incremental growth";
    e.create = create<u64_map>;
    e.destroy = lab_peer::destroy;
    e.get = get;
    e.put = put;
    e.del = del;
    e.size = lab_peer::size;
    e.create_str = create<str_map>;
    e.get_str = get_str;
    e.put_str = put_str;
    e.del_str = del_str;
    return e;
}

} // namespace

extern "C" const lab_engine lab_peer_tbb_chm = make_engine();
