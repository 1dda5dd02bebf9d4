/*
 * bench_flat.h — the C face of flat_reference.cpp: a boost::unordered_flat_map
 * holding a built map's keys, for section 2's table reference. The functions
 * exist only when CMake found Boost 1.81 and compiled flat_reference.cpp;
 * SM_BENCH_HAVE_FLAT is then defined, and callers use them only under it.
 * Single-threaded: one thread builds, reads and frees a table.
 */
#ifndef SM_BENCH_FLAT_H
#define SM_BENCH_FLAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_flat bench_flat;

/* A table mapping keys[i] to keys[i + 1] for i < n (keys[] has n + 1 words),
 * on 2 MiB pages; NULL when memory runs out. */
bench_flat *bench_flat_new(const uint64_t *keys, uint64_t n);
uint64_t bench_flat_size(const bench_flat *f);
/* Bytes of the table's memory (whole 2 MiB pages, as mapped). */
uint64_t bench_flat_bytes(const bench_flat *f);
/* 1 and *value when key is present, else 0; one call per lookup, as sm_get. */
int bench_flat_get(const bench_flat *f, uint64_t key, uint64_t *value);
void bench_flat_free(bench_flat *f);

#ifdef __cplusplus
}
#endif

#endif
