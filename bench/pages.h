/*
 * pages.h — memory the benchmark's references live in: the physical buffers
 * (physical.c) and Boost's table (flat_reference.cpp), placed the way the
 * library places a large table (src/alloc.c), so that a ratio compares like
 * with like. C and C++.
 */
#ifndef SM_BENCH_PAGES_H
#define SM_BENCH_PAGES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_HUGE_PAGE ((size_t)2 << 20)

/* bytes rounded up to whole 2 MiB pages: what bench_pages_map maps. */
size_t bench_pages_bytes(size_t bytes);

/* bench_pages_bytes(bytes), mapped at a 2 MiB boundary and
 * lazily zeroed; huge asks for transparent huge pages (MADV_HUGEPAGE),
 * otherwise they are refused (MADV_NOHUGEPAGE, so that 4 KiB pages are
 * measured also where THP is "always"). NULL when mmap fails. */
void *bench_pages_map(size_t bytes, int huge);
/* Unmaps what bench_pages_map(bytes, ...) returned (NULL: nothing). */
void bench_pages_unmap(void *p, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
