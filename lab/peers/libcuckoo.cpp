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
 * Pre-sizing: the capacity hint goes to the constructor, which reserves that
 * many elements. Without a hint the engine asks for 0 elements, the smallest
 * table libcuckoo makes; its own default would pre-allocate 2^18 slots,
 * which would hide the growth the lab exists to watch.
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
 * ThreadSanitizer finds, now and then, a data race inside libcuckoo itself:
 * a grown lock array is appended to a std::list that other threads read
 * without synchronisation. tests/lab_engines/tsan.supp says why it is
 * harmless on x86-64 and suppresses it for libcuckoo's header only.
 */
#include <cstdint>
#include <new>

#include <libcuckoo/cuckoohash_map.hh>

#include "peer_cxx.hh"

namespace {

using table = libcuckoo::cuckoohash_map<uint64_t, uint64_t>;

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
    return lab_peer::guarded([&] { return of(map)->find(key, *value) ? 1 : 0; });
}

int put(void *map, uint64_t key, uint64_t value)
{
    return lab_peer::guarded([&] {
        of(map)->insert_or_assign(key, value);
        return 0;
    });
}

int del(void *map, uint64_t key)
{
    return lab_peer::guarded([&] { return of(map)->erase(key) ? 1 : 0; });
}

long iterate(void *map, lab_visit_fn visit, void *ctx)
{
    long n = 0;
    int rc = lab_peer::guarded([&] {
        auto locked = of(map)->lock_table();
        for (const auto &kv : locked) {
            n++;
            if (visit(kv.first, kv.second, ctx))
                break;
        }
        return 0;
    });
    return rc < 0 ? -1 : n;
}

uint64_t size(void *map) { return of(map)->size(); }

constexpr lab_engine make_engine()
{
    lab_engine e{};
    e.name = "libcuckoo";
    e.description = "libcuckoo cuckoohash_map: bucket spinlocks, grows under all locks";
    e.create = create;
    e.destroy = destroy;
    e.get = get;
    e.put = put;
    e.del = del;
    e.iterate = iterate;
    e.size = size;
    return e;
}

} // namespace

extern "C" const lab_engine lab_peer_libcuckoo = make_engine();
