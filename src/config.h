/*
 * config.h — every tunable of the map in one place, each with its reason.
 * Numbers marked "measured" come from `make bench` runs recorded in
 * docs/BENCHMARKS.md; the others follow from the arithmetic in their comment.
 */
#ifndef SM_CONFIG_H
#define SM_CONFIG_H

/* Slots in one 64-byte bucket: 8 bytes of meta word, 8 spare, 3 x (key, value).
 * Three is what fits beside the meta word when a lookup must touch only one
 * cache line (docs/DESIGN.md, "Why three slots"). */
#define SM_SLOTS 3

/* Smallest table, in buckets. Four buckets keep even a tiny map's probe chains
 * from wrapping onto their own home bucket in the common case. */
#define SM_MIN_BUCKETS 4u

/* Grow (or rehash) when used slots (live + tombstones) exceed 3/4 of the slots.
 * With three slots per bucket and overflow bits that end a probe early, a hit
 * at 75% occupancy reads 1.39 buckets on average and 83% of keys sit in their
 * home bucket (bench/probe_lengths.c; docs/BENCHMARKS.md, "Probe lengths"). */
#define SM_GROW_NUM 3u
#define SM_GROW_DEN 4u

/* Shrink when live entries fall below 1/4 of the slots (the rule). */
#define SM_SHRINK_NUM 1u
#define SM_SHRINK_DEN 4u

/* Load a new table is sized for. A grow of a table full of live entries
 * (75%) doubles it (37.5% afterwards); a shrink lands at 60%, well between
 * the shrink (25%) and grow (75%) thresholds so neither fires right away.
 * Sizes are not powers of two: the home bucket is found by a multiply-shift
 * ("fastrange"), so a shrunk table is sized to its contents, not to the next
 * power of two (which would leave it up to 2x too large). */
#define SM_GROW_TARGET_PERMILLE 375u
#define SM_SHRINK_TARGET_PERMILLE 600u

/* A shrink divides the bucket count by at most this much per resize, so the
 * new table has room for every insert that can arrive while the old one is
 * being migrated (docs/DESIGN.md, "Room during migration"). */
#define SM_MAX_SHRINK_FACTOR 8u

/* Old buckets each writer migrates per call while a resize is in progress.
 * 32 homes (2 KiB; their chains hold at most 3 x (32 + longest probe)
 * entries, migrate.c "Work bound") bound the extra work of one put to a
 * few microseconds, and make migration finish after nbuckets/32 writes, fast
 * enough that the new table never fills first (DESIGN.md, "Room during
 * migration"). */
#define SM_MIGRATE_CHUNK 32u

/* While a migration runs, new inserts into the next table stop (the writer
 * waits for the migration to finish) once used slots plus the entries still
 * to be copied reach 9/10 of its slots. The count includes two entries of
 * room per thread record (I9), so in a next table of fewer than about four
 * slots per record the stop can trigger at once, and the insert then finishes
 * that small migration itself. In larger tables, with every writer advancing
 * the migration, it never triggers ("Room during migration"); it matters when
 * a migrating thread is preempted for long while others keep inserting: the
 * copies must always find a free slot, or the migration could never end. */
#define SM_NEXT_ROOM_NUM 9u
#define SM_NEXT_ROOM_DEN 10u

/* Striped counters: stripes per map (entries) and per table (used slots).
 * Sixteen 64-byte stripes cover far more threads than this machine has cores
 * while summing them stays cheap (1 KiB). */
#define SM_STRIPES 16u

/* Below this many slots a table checks its occupancy on every insert; above,
 * on every SM_CHECK_EVERY-th write to the map by a thread stripe, or when a
 * probe read more than two buckets. If every write were an insert, each
 * stripe would add at most SM_CHECK_EVERY - 1 entries unchecked, an overshoot
 * under SM_STRIPES * SM_CHECK_EVERY slots, under 2% of any table checked this
 * lazily. The cadence counts every write, though, and a write that falls on
 * it but adds no entry (a replace, a delete) checks nothing, so by the
 * cadence alone a stripe's inserts could go unchecked without bound. What
 * keeps the overshoot small then is the probe trigger: past the threshold
 * chains lengthen, and more and more inserts read a third bucket. The hard
 * limit is the table's end: an insert that finds no slot forces a resize
 * (map.c). */
#define SM_CHECK_ALWAYS_BELOW_SLOTS 65536u
#define SM_CHECK_EVERY 64u

/* Tables of at least this many bytes are mmap'd (lazily zeroed by the kernel,
 * so allocating them costs no pass over the memory). Tables of at least a
 * huge page also ask for transparent huge pages (alloc.c says why, with the
 * measurement). */
#define SM_MMAP_MIN_BYTES (256u * 1024u)
#define SM_HUGE_PAGE_BYTES (2u * 1024u * 1024u)

/* The largest block the allocator asks for: 2^56 bytes, the most any 64-bit
 * address space offers (5-level paging). A larger request fails as ENOMEM at
 * once; without the cap, a size near SIZE_MAX wrapped when rounded up to pages
 * plus the huge-page alignment, and a tiny mapping came back as a huge table
 * (found by review: sm_reserve of about 2^58 entries crashed). */
#define SM_MAX_BLOCK_BYTES ((size_t)1 << 56)

/* Homes one iteration step visits inside one epoch section (iter.c). A step
 * per home paid the epoch entry, the root load and a call for about two
 * entries; sixteen homes (1 KiB of buckets, ~36 entries at 75%) spread that
 * over many while a step stays well under a microsecond, so it holds back
 * reclamation no longer than one write does. */
#define SM_ITER_STEP_HOMES 16u

/* Writers try to free a map's retired tables and values every this many
 * writes to that map by one thread stripe (counted per map: a per-thread
 * count let a thread that alternated between maps reclaim only one of them)
 * while any wait (a cheap check of one counter otherwise). */
#define SM_RECLAIM_EVERY 256u

/* The most retired values and key copies one bounded reclaim releases (T3):
 * twice what SM_RECLAIM_EVERY writes of a stripe can add, limbo.c says why. */
#define SM_LIMBO_RELEASE_MAX (4u * SM_RECLAIM_EVERY)

#endif
