/*
 * flat_reference.cpp — section 2's table reference: the same keys in a
 * boost::unordered_flat_map (Boost 1.81, Debian libboost1.81-dev), which
 * issue 2 quotes "for scale" as the best single-threaded table here. It does
 * nothing for concurrency, so its throughput loop shows what a lookup of a
 * good open-addressing table costs on this CPU, beside the bare independent
 * load the target is stated against. Built only when CMake finds Boost and a
 * C++ compiler.
 *
 * Its table lives on 2 MiB pages asked for with MADV_HUGEPAGE, as the map's
 * and the physical buffers do: with std::allocator's 4 KiB pages (THP is
 * "madvise" here) a 64M-key table would measure the page walks, not the
 * table. Every function is extern "C". Only allocation can throw here
 * (std::bad_alloc), and only bench_flat_new allocates; it catches everything,
 * so no C++ exception crosses into the C program.
 */
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <utility>

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include "bench_flat.h"
#include "pages.h"

namespace {

/* The bench's table pages (pages.h), as the map's and the physical buffers'
 * are; counts the bytes it holds into *held, the table's footprint. */
template <class T> struct huge_page_allocator {
    using value_type = T;
    std::size_t *held;
    explicit huge_page_allocator(std::size_t *counter) : held(counter) {}
    template <class U>
    huge_page_allocator(const huge_page_allocator<U> &other) : held(other.held) {}

    T *allocate(std::size_t n)
    {
        void *p = bench_pages_map(n * sizeof(T), 1);
        if (!p)
            throw std::bad_alloc();
        *held += bench_pages_bytes(n * sizeof(T));
        return static_cast<T *>(p);
    }
    void deallocate(T *p, std::size_t n)
    {
        bench_pages_unmap(p, n * sizeof(T));
        *held -= bench_pages_bytes(n * sizeof(T));
    }
};
template <class T, class U>
bool operator==(const huge_page_allocator<T> &a, const huge_page_allocator<U> &b)
{
    return a.held == b.held;
}
template <class T, class U>
bool operator!=(const huge_page_allocator<T> &a, const huge_page_allocator<U> &b)
{
    return !(a == b);
}

using table = boost::unordered_flat_map<
    std::uint64_t, std::uint64_t, boost::hash<std::uint64_t>, std::equal_to<std::uint64_t>,
    huge_page_allocator<std::pair<const std::uint64_t, std::uint64_t>>>;

}  // namespace

struct bench_flat {
    std::size_t held = 0;   /* declared first: the map's allocator points here */
    table map{0, table::hasher(), table::key_equal(), table::allocator_type(&held)};
};

extern "C" bench_flat *bench_flat_new(const uint64_t *keys, uint64_t n)
{
    try {
        auto *f = new bench_flat;
        try {
            f->map.reserve(n);
            for (uint64_t i = 0; i < n; i++)
                f->map.emplace(keys[i], keys[i + 1]);
        } catch (...) {
            delete f;
            return nullptr;
        }
        return f;
    } catch (...) {
        return nullptr;
    }
}

extern "C" uint64_t bench_flat_size(const bench_flat *f)
{
    return f->map.size();
}

extern "C" uint64_t bench_flat_bytes(const bench_flat *f)
{
    return f->held;
}

extern "C" __attribute__((noinline)) int bench_flat_get(const bench_flat *f, uint64_t key,
                                                        uint64_t *value)
{
    auto it = f->map.find(key);
    if (it == f->map.end())
        return 0;
    *value = it->second;
    return 1;
}

extern "C" void bench_flat_free(bench_flat *f)
{
    delete f;
}
