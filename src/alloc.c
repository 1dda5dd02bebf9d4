/*
 * alloc.c — aligned zeroed blocks, small ones from malloc and large ones
 * from mmap, with failure injection and byte accounting for the tests.
 *
 * Why mmap for large tables: calloc of a huge block either memsets it (a pass
 * over all of it inside the operation that triggered the resize: the stall
 * this library exists to avoid) or gets fresh pages from the kernel, which
 * are zeroed on first touch. mmap makes the second behaviour certain, so the
 * cost of zeroing is spread over the writes that first touch each page.
 * The size is passed back to smi_free so no header is needed.
 *
 * Why every large table asks for huge pages (MADV_HUGEPAGE): an
 * out-of-cache lookup in a big table on 4 KiB pages pays a page walk on top
 * of its one miss (64M keys, same day: a latency chain of 1.34-1.48x a
 * huge-page pointer chase on 4 KiB pages, 0.98-1.10x in six runs on huge
 * pages; how much the walk costs varies with the machine's state, run B once
 * measured 1.11x on 4 KiB pages). A table filled by incremental migration
 * takes its faults in the writers, each chunk touching the pages its keys
 * land on before readers are sent there (migrate.c); with huge pages such a
 * fault zeroes 2 MiB, a constant inside one write, and there are 512 times
 * fewer of them. Measured both ways on the same binary
 * (docs/BENCHMARKS.md, "Huge pages for grown tables"), the growing map's
 * readers did better on huge pages, not worse. Pre-sized tables (sm_reserve,
 * sm_new with a capacity) are also faulted in up front (table.c). A map
 * created with SM_NO_HUGE_PAGES marks its tables MADV_NOHUGEPAGE instead
 * (steadymap.h says when that is wanted).
 */
#include "alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "atomics.h"
#include "config.h"
#include "testing.h"

static atomic_u64 allocations;
static atomic_u64 fail_at;          /* allocation number that fails; 0 = none */
static atomic_u64 bytes_live;
/* Set once a test uses a hook below: from then on smi_alloc_small counts too. */
static atomic_u64 testing_hooks_used;

void smi_fail_allocation_at(uint64_t n)
{
    u64_store_relaxed(&testing_hooks_used, 1);
    uint64_t now = u64_load_relaxed(&allocations);
    u64_store_relaxed(&fail_at, n ? now + n : 0);
}

uint64_t smi_allocations(void)
{
    u64_store_relaxed(&testing_hooks_used, 1);
    return u64_load_relaxed(&allocations);
}

uint64_t smi_bytes_live(void)
{
    u64_store_relaxed(&testing_hooks_used, 1);
    return u64_load_relaxed(&bytes_live);
}

static int injected_failure(void)
{
    uint64_t n = u64_fetch_add_relaxed(&allocations, 1) + 1;
    return n == u64_load_relaxed(&fail_at);
}

/* What a large block asks of the kernel about transparent huge pages. */
typedef enum page_policy { PAGES_KERNEL_DEFAULT, PAGES_HUGE, PAGES_SMALL } page_policy;

static void *map_pages(size_t bytes, page_policy pages)
{
    /* Whole pages: the tail trimmed below must start on a page boundary, or
     * munmap refuses it and the rest of the over-map stays mapped for good
     * (smi_free unmaps only the table's own pages). */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (bytes + page - 1) & ~(page - 1);
    int huge = pages == PAGES_HUGE && len >= SM_HUGE_PAGE_BYTES;
    /* Over-map by one huge page and trim, so a table starts on a 2 MiB
     * boundary and the kernel can back all of it with huge pages. */
    size_t want = huge ? len + SM_HUGE_PAGE_BYTES : len;
    char *raw = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
#ifdef MADV_NOHUGEPAGE
    /* SM_NO_HUGE_PAGES: also when THP is "always" system-wide. */
    if (pages == PAGES_SMALL)
        madvise(raw, len, MADV_NOHUGEPAGE);
#endif
    if (!huge)
        return raw;
    uintptr_t start = ((uintptr_t)raw + SM_HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(SM_HUGE_PAGE_BYTES - 1);
    size_t head = start - (uintptr_t)raw;
    size_t tail = want - head - len;
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((char *)start + len, tail);
#ifdef MADV_HUGEPAGE
    madvise((void *)start, len, MADV_HUGEPAGE);
#endif
    return (void *)start;
}

static size_t rounded(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

static void *alloc_block(size_t bytes, page_policy pages)
{
    if (bytes == 0 || bytes > SM_MAX_BLOCK_BYTES || injected_failure())
        return NULL;
    size_t size = rounded(bytes);
    void *p;
    if (size >= SM_MMAP_MIN_BYTES) {
        p = map_pages(size, pages);
    } else {
        p = aligned_alloc(64, size);
        if (p)
            memset(p, 0, size);
    }
    if (p)
        u64_fetch_add_relaxed(&bytes_live, size);
    return p;
}

void *smi_alloc_zeroed(size_t bytes)
{
    return alloc_block(bytes, PAGES_KERNEL_DEFAULT);
}

void *smi_alloc_table(size_t bytes, int huge_pages)
{
    return alloc_block(bytes, huge_pages ? PAGES_HUGE : PAGES_SMALL);
}

void smi_free(void *p, size_t bytes)
{
    if (!p)
        return;
    size_t size = rounded(bytes);
    u64_fetch_sub_relaxed(&bytes_live, size);
    if (size >= SM_MMAP_MIN_BYTES)
        munmap(p, size);
    else
        free(p);
}

void *smi_alloc_small(size_t bytes, int *counted)
{
    /* Relaxed: the flag only selects bookkeeping; a test sets it before it
     * starts the threads whose allocations it counts. */
    *counted = u64_load_relaxed(&testing_hooks_used) != 0;
    if (*counted && injected_failure())
        return NULL;
    void *p = malloc(bytes);
    if (p && *counted)
        u64_fetch_add_relaxed(&bytes_live, bytes);
    return p;
}

void smi_free_small(void *p, size_t bytes, int counted)
{
    if (!p)
        return;
    if (counted)
        u64_fetch_sub_relaxed(&bytes_live, bytes);
    free(p);
}

int smi_prefault(void *p, size_t bytes)
{
    size_t size = rounded(bytes);
    /* Small blocks come from malloc and were memset above: already touched. */
    if (size < SM_MMAP_MIN_BYTES)
        return 0;
#ifdef MADV_POPULATE_WRITE
    /* One system call faults the whole range (Linux 5.14+). Should it fail
     * for want of memory (ENOMEM), touching the pages one by one would only
     * wake the OOM killer: report it instead. An older kernel (EINVAL) or an
     * interrupted call falls through to the loop. (Under a memory cgroup's
     * limit, Linux 6.18 here kills the process inside this call; see the
     * header, sm_options.capacity.) */
    if (madvise(p, size, MADV_POPULATE_WRITE) == 0)
        return 0;
    if (errno == ENOMEM)
        return -1;
#endif
    /* Otherwise touch one word per page with an atomic add of zero: a write
     * the compiler cannot drop and that changes no content (the header of
     * the table is already filled in). */
    for (size_t off = 0; off < size; off += 4096)
        atomic_fetch_add_explicit((atomic_u64 *)((char *)p + off), 0, memory_order_relaxed);
    return 0;
}
