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
 */
#include <cstdint>

#include <oneapi/tbb/concurrent_hash_map.h>

#include "peer_cxx.hh"

namespace {

using table = tbb::concurrent_hash_map<uint64_t, uint64_t>;

table *of(void *map) { return static_cast<table *>(map); }

void *create(uint64_t capacity_hint)
{
    try {
        return new table(static_cast<table::size_type>(capacity_hint));
    } catch (...) {
        return nullptr;
    }
}

void destroy(void *map) { delete of(map); }

int get(void *map, uint64_t key, uint64_t *value)
{
    return lab_peer::guarded([&] {
        table::const_accessor found;
        if (!of(map)->find(found, key))
            return 0;
        *value = found->second;
        return 1;
    });
}

int put(void *map, uint64_t key, uint64_t value)
{
    return lab_peer::guarded([&] {
        table::accessor slot;
        of(map)->insert(slot, key);
        slot->second = value;
        return 0;
    });
}

int del(void *map, uint64_t key)
{
    return lab_peer::guarded([&] { return of(map)->erase(key) ? 1 : 0; });
}

uint64_t size(void *map) { return of(map)->size(); }

constexpr lab_engine make_engine()
{
    lab_engine e{};
    e.name = "tbb_chm";
    e.description = "oneTBB concurrent_hash_map: bucket and element locks, incremental growth";
    e.create = create;
    e.destroy = destroy;
    e.get = get;
    e.put = put;
    e.del = del;
    e.size = size;
    return e;
}

} // namespace

extern "C" const lab_engine lab_peer_tbb_chm = make_engine();
