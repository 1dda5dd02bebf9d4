/*
 * alloc.h — every allocation the library makes goes through here, so that
 * tests can fail the n-th one (testing.h) and the bytes held can be counted.
 */
#ifndef SM_ALLOC_H
#define SM_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Zeroed, 64-byte aligned memory of at least `bytes`; NULL on failure (real
 * or injected). Large blocks are mmap'd and zeroed lazily by the kernel. */
void *smi_alloc_zeroed(size_t bytes);

/* The same for a table: huge_pages asks the kernel for transparent huge
 * pages (only worth it when the caller faults the table in up front, see
 * alloc.c). */
void *smi_alloc_table(size_t bytes, int huge_pages);
void smi_free(void *p, size_t bytes);

/* Fault in every page of a block now (for callers that asked to pay up front:
 * sm_reserve, sm_new with a capacity), so later writes take no page fault. */
void smi_prefault(void *p, size_t bytes);

#endif
