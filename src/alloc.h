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

/* The same for a table. With huge_pages a large one starts on a 2 MiB
 * boundary and asks the kernel for transparent huge pages (alloc.c says why);
 * without, it is marked so that the kernel never backs it with them. */
void *smi_alloc_table(size_t bytes, int huge_pages);
void smi_free(void *p, size_t bytes);

/*
 * Small unaligned blocks made per entry (string key copies), not zeroed.
 * They take part in failure injection and byte counting only once a test has
 * called one of the testing.h hooks (*counted says whether this block was
 * counted; pass it back to smi_free_small): a production process pays no
 * shared counter per insert.
 */
void *smi_alloc_small(size_t bytes, int *counted);
void smi_free_small(void *p, size_t bytes, int counted);

/* Fault in every page of a block now (for callers that asked to pay up front:
 * sm_reserve, sm_new with a capacity), so later writes take no page fault.
 * Returns 0, or -1 when the kernel had no memory for the pages (the block
 * stays allocated; the caller frees it and reports SM_ENOMEM). */
int smi_prefault(void *p, size_t bytes);

#endif
