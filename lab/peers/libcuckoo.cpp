/*
 * libcuckoo.cpp — the lab engine "libcuckoo": libcuckoo's cuckoohash_map, a
 * concurrent cuckoo hash table with 4-slot buckets and fine-grained bucket
 * spinlocks, used through its public API only.
 *
 * Concurrency is the library's own: find() locks the two candidate buckets'
 * spinlocks (so readers do write shared lock words, unlike steadymap or
 * rculfhash), insert_or_assign() and erase() lock the same two. A put that
 * finds no room after its cuckoo search doubles the table under every lock,
 * in its own thread: while the table is small (fewer buckets than its 65536
 * locks) it moves every entry there and then, later it only allocates the
 * new array and marks each lock unmigrated, and whichever operation next
 * takes a lock moves that lock's buckets. The lab sees the first as one slow
 * put and the second as a spread of slower operations. No thread
 * registration is needed.
 *
 * Sizing: the constructor gets the capacity hint, but never less than
 * libcuckoo's own default (2^18 slots, what `cuckoohash_map<K, V> m;` makes).
 * Smaller tables are unsafe under concurrency in libcuckoo 0.3.1: while a
 * table has fewer buckets than its 65536 locks, a grow appends a larger lock
 * array to a std::list that readers read without synchronisation, and a
 * reader that already uses the new bucket count indexes the old, smaller
 * array. Starting from 0 elements, the lab's coldstart scenario crashed in
 * find() (SIGSEGV, core dump, about 1 run in 10 on a loaded machine); ThreadSanitizer
 * reported the race. From the default size on, the lock array is full-sized
 * from the start and never grows, and the growth scenarios (1M+ keys) still
 * see every doubling above 2^18 slots.
 *
 * Iteration takes lock_table(), libcuckoo's documented way to iterate: it
 * holds every bucket lock until the walk ends, so all readers and writers
 * wait for it. size() is the library's sum of per-lock counters, exact when
 * nothing writes. libcuckoo does not report its memory, so bytes is NULL.
 *
 * Hash: std::hash<uint64_t>, the library's default, which libstdc++ makes
 * the identity; libcuckoo indexes buckets by the hash's low bits and derives
 * the alternate bucket from a partial key mixed in, and the lab's keys are
 * already well mixed.
 *
 * Errors: insert_or_assign throws when it cannot grow (std::bad_alloc, or
 * libcuckoo's maximum-hashpower and load-factor exceptions); guarded()
 * turns them into -1.
 *
 * String keys. The same engine makes cuckoohash_map<std::string, uint64_t>
 * maps, hashed with std::hash<std::string_view>, which is the default
 * std::hash<std::string> taking a view as well (peer_cxx.hh), and compared
 * with std::equal_to<>. libcuckoo's find, erase and insert_or_assign are
 * templates over the key type they are handed, so gets and dels look the
 * harness's bytes up as a std::string_view, and a put builds the
 * std::string the table keeps only when the key is new (an existing key's
 * value is assigned in place, under the same two bucket locks). Long keys
 * cost the table twice: every slot holds a 32-byte std::string whose bytes
 * past 15 live in a separate heap block, and a lookup compares through that
 * pointer; cuckoo moves and resizes move the strings, not their bytes.
 *
 * destroy and size are shared by a map's two kinds (engine.h), so both maps
 * derive from lab_peer::map_base and those two dispatch through it.
 */
#include <cstdint>
#include <functional>
#include <new>
#include <string>

#include <libcuckoo/cuckoohash_map.hh>

#include "peer_cxx.hh"

namespace {

template <class Table>
struct holder final : lab_peer::map_base {
    Table t;
    explicit holder(uint64_t capacity_hint)
        : t(capacity_hint > libcuckoo::DEFAULT_SIZE
                ? static_cast<typename Table::size_type>(capacity_hint)
                : libcuckoo::DEFAULT_SIZE) {}
    uint64_t size() override { return t.size(); }
};

using u64_map = holder<libcuckoo::cuckoohash_map<uint64_t, uint64_t>>;
using str_map = holder<
    libcuckoo::cuckoohash_map<std::string, uint64_t, lab_peer::std_string_hash, std::equal_to<>>>;

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
    return lab_peer::guarded([&] { return lab_peer::as<Map>(map)->t.find(key, *value) ? 1 : 0; });
}

template <class Map, class K>
int assign(void *map, const K &key, uint64_t value)
{
    return lab_peer::guarded([&] {
        lab_peer::as<Map>(map)->t.insert_or_assign(key, value);
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

long iterate(void *map, lab_visit_fn visit, void *ctx)
{
    long n = 0;
    int rc = lab_peer::guarded([&] {
        auto locked = lab_peer::as<u64_map>(map)->t.lock_table();
        for (const auto &kv : locked) {
            n++;
            if (visit(kv.first, kv.second, ctx))
                break;
        }
        return 0;
    });
    return rc < 0 ? -1 : n;
}

constexpr lab_engine make_engine()
{
    lab_engine e{};
    e.name = "libcuckoo";
    e.description = "libcuckoo cuckoohash_map: bucket spinlocks, grows under all locks";
    e.create = create<u64_map>;
    e.destroy = lab_peer::destroy;
    e.get = get;
    e.put = put;
    e.del = del;
    e.iterate = iterate;
    e.size = lab_peer::size;
    e.create_str = create<str_map>;
    e.get_str = get_str;
    e.put_str = put_str;
    e.del_str = del_str;
    return e;
}

} // namespace

extern "C" const lab_engine lab_peer_libcuckoo = make_engine();
