/*
 * stats.c — striped counters and the sm_size / sm_stats snapshots.
 *
 * The entry count is split over SM_STRIPES cache lines, each thread adding to
 * the stripe its record was given, so writers on different cores never
 * contend on one counter line (a single shared counter would be the hottest
 * line of the map). Reading sums the stripes with relaxed loads: without
 * concurrent writers that is exact, with them it is a recent value.
 */
#include <stddef.h>
#include <string.h>

#include "map_internal.h"

int64_t smi_live_sum(const sm_map *m)
{
    int64_t sum = 0;
    for (unsigned i = 0; i < SM_STRIPES; i++)
        sum += i64_load_relaxed(&m->stripe[i].live);
    return sum;
}

void smi_live_add(sm_map *m, const sm_thread *self, int64_t d)
{
    i64_add_relaxed(&m->stripe[self->stripe % SM_STRIPES].live, d);
}

void smi_count_write(sm_map *m, sm_thread *self)
{
    /* An RMW, so threads sharing a stripe each get their own number and
     * every multiple of a cadence falls to exactly one write. Relaxed: only
     * the count matters, it orders nothing. */
    self->write_nth =
        u64_fetch_add_relaxed(&m->stripe[self->stripe % SM_STRIPES].writes, 1) + 1;
}

void smi_used_add(sm_table *t, const sm_thread *self, int64_t d)
{
    i64_add_relaxed(&t->used[self->stripe % SM_STRIPES].n, d);
}

size_t sm_size(sm_map *m)
{
    if (!m)
        return 0;
    int64_t n = smi_live_sum(m);
    return n < 0 ? 0 : (size_t)n;
}

int sm_stats(sm_map *m, sm_stats_info *st)
{
    if (!m || !st || st->size < offsetof(sm_stats_info, entries) + sizeof st->entries)
        return SM_EINVAL;
    sm_stats_info s = {0};
    s.size = st->size < sizeof s ? st->size : sizeof s;
    s.entries = sm_size(m);
    /* Reading the root's header without an epoch section would race with its
     * reclamation, so take one: it stores only to this thread's own record. */
    sm_thread *self = smi_epoch_enter();
    if (!self)
        return SM_ENOMEM;
    /* Acquire pairs with the root switch (I8). */
    sm_table *t = atomic_load_explicit(&m->root, memory_order_acquire);
    s.slots = t->nbuckets * SM_SLOTS;
    s.capacity = s.slots * SM_GROW_NUM / SM_GROW_DEN;
    s.longest_probe = u64_load_relaxed(&t->longest_probe);
    /* Used slots that hold no entry: exact when quiescent and not migrating. */
    uint64_t used = smi_table_used(t);
    s.tombstones = used > s.entries ? used - s.entries : 0;
    sm_table *nt = atomic_load_explicit(&t->next, memory_order_acquire);
    if (nt) {
        s.migrating = 1;
        s.buckets_total = t->nbuckets;
        s.buckets_migrated = u64_load_relaxed(&t->migrated);
    }
    smi_epoch_exit(self);
    s.bytes_held = u64_load_relaxed(&m->bytes_held) + sizeof *m;
    s.grows = u64_load_relaxed(&m->grows);
    s.shrinks = u64_load_relaxed(&m->shrinks);
    s.rehashes = u64_load_relaxed(&m->rehashes);
    s.retired_tables = u64_load_relaxed(&m->retired_count);
    s.retired_bytes = u64_load_relaxed(&m->retired_bytes);
    s.retired_values = u64_load_relaxed(&m->retired_values);
    s.retired_keys = u64_load_relaxed(&m->retired_keys);
    s.guards_active = smi_epoch_pinned_threads();
    memcpy(st, &s, s.size);
    return SM_OK;
}
