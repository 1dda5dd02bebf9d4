/*
 * limbo.c — values and key copies that left the map, waiting until no reader
 * can hold them.
 *
 * Maps with a free_value callback or string keys have a limbo. A writer that
 * displaces a value (replace, delete) or removes a string key tags the item
 * with a fresh epoch (smi_epoch_advance) after the store that unlinked it,
 * and appends it to the limbo stripe of its thread. The reclaimer frees an
 * item (free_value for values, the allocator for key copies) once every
 * active thread entered after that tag: by E1/E2 (epoch.c) such a thread
 * cannot have read the unlinked item, since the unlinking store
 * happens-before its entry.
 *
 * Key copies wait longer. A migration leaves the slots it copied live in the
 * old table (only their homes are FROZEN), so a key deleted from the next
 * table still has its pointer in a live-looking slot of the old one, where a
 * reader probing another home, the migration, or an iterator may compare or
 * hash it. Such a copy may be freed only after the old table is retired and
 * its readers have left: a key item committed while a migration is running
 * (started > finished) waits until that many migrations have finished, then
 * takes the later of its own epoch and the old table's retire epoch.
 *
 * Appending must not fail after the map changed, so a writer reserves its
 * limbo slots before the operation (SM_ENOMEM then, with nothing changed) and
 * commits or cancels the reservations afterwards. Stripes (one mutex each,
 * chosen by thread) keep writers from contending on one lock.
 *
 * Reclaiming is bounded per call (T3 in steadymap.h): a write that reclaims
 * examines at most LIMBO_SCAN_MAX items and releases at most
 * SM_LIMBO_RELEASE_MAX, however many a guard (sm_pin) held back; and it calls
 * free_value and frees key copies only after it has released every lock, so
 * a slow free_value delays the write that runs it and no other. Under a
 * stripe's mutex the reclaimer only detaches eligible items, at most
 * LIMBO_BATCH at a time into its own stack, which bounds how long any writer
 * waits for that mutex. (Before, one call freed every eligible item of every
 * stripe under the stripe's mutex and the map's garbage lock: after a long
 * guard one sm_put made 399,616 free_value calls, and with a 1 ms free_value
 * another thread's sm_put blocked for a second. Found by review.)
 */
#include <pthread.h>

#include "alloc.h"
#include "map_internal.h"

typedef struct limbo_item {
    uint64_t word;           /* a value, or a key copy (strkey.h) */
    uint64_t epoch;
    uint64_t wait_finished;  /* key copies: migrations that must finish first; 0 = none */
    smi_limbo_kind kind;
} limbo_item;

/*
 * A stripe's items live in fixed blocks on a list, not in one array: growing
 * an array copied the whole backlog under the mutex (a write that doubled it
 * behind a guard took 127 ms for 262,144 items), while a block is one
 * allocation of the same size however long the list (T3). Position p is
 * item p % LIMBO_BLOCK_ITEMS of the (p / LIMBO_BLOCK_ITEMS)-th block;
 * positions [0, count) hold committed items, in no particular order, and
 * [count, count + reserved) are promised to reservations, so every block
 * holding such a position stays on the list. 256 items are 8 KiB.
 */
#define LIMBO_BLOCK_ITEMS 256u

typedef struct limbo_block {
    struct limbo_block *prev;
    struct limbo_block *next;
    limbo_item items[LIMBO_BLOCK_ITEMS];
} limbo_block;

struct sm_limbo_stripe {
    _Alignas(64) pthread_mutex_t lock;
    limbo_block *head;          /* positions 0 .. LIMBO_BLOCK_ITEMS - 1, or NULL */
    limbo_block *last;          /* the list's last block */
    limbo_block *end;           /* the block of position count - 1; NULL if count == 0 */
    size_t count;
    size_t reserved;
    size_t blocks;              /* on the list: room for blocks * LIMBO_BLOCK_ITEMS */
    size_t cursor;              /* where the next bounded scan starts ... */
    limbo_block *cursor_block;  /* ... and its block; valid while 0 < cursor < count */
    _Atomic unsigned first;     /* stripe 0 only: where the next reclaim starts */
};

sm_limbo_stripe *smi_limbo_new(void)
{
    sm_limbo_stripe *s = smi_alloc_zeroed(SM_STRIPES * sizeof *s);
    if (!s)
        return NULL;
    for (unsigned i = 0; i < SM_STRIPES; i++) {
        if (pthread_mutex_init(&s[i].lock, NULL) != 0) {
            while (i-- > 0)
                pthread_mutex_destroy(&s[i].lock);
            smi_free(s, SM_STRIPES * sizeof *s);
            return NULL;
        }
    }
    return s;
}

static sm_limbo_stripe *stripe_of(sm_map *m, const sm_thread *self)
{
    return &m->limbo[self->stripe % SM_STRIPES];
}

int smi_limbo_reserve(sm_map *m, const sm_thread *self, unsigned n)
{
    sm_limbo_stripe *s = stripe_of(m, self);
    pthread_mutex_lock(&s->lock);
    size_t need = s->count + s->reserved + n;
    /* n is at most 2 (map.c), so this adds at most one block. */
    while (need > s->blocks * LIMBO_BLOCK_ITEMS) {
        limbo_block *b = smi_alloc_zeroed(sizeof *b);
        if (!b) {
            pthread_mutex_unlock(&s->lock);
            return SM_ENOMEM;
        }
        b->prev = s->last;
        if (s->last)
            s->last->next = b;
        else
            s->head = b;
        s->last = b;
        s->blocks++;
    }
    s->reserved += n;
    pthread_mutex_unlock(&s->lock);
    return SM_OK;
}

void smi_limbo_cancel(sm_map *m, const sm_thread *self, unsigned n)
{
    if (n == 0)
        return;
    sm_limbo_stripe *s = stripe_of(m, self);
    pthread_mutex_lock(&s->lock);
    s->reserved -= n;
    pthread_mutex_unlock(&s->lock);
}

static atomic_u64 *counter_of(sm_map *m, smi_limbo_kind kind)
{
    return kind == LIMBO_VALUE ? &m->retired_values : &m->retired_keys;
}

void smi_limbo_commit(sm_map *m, const sm_thread *self, smi_limbo_kind kind, uint64_t word)
{
    uint64_t wait = 0;
    if (kind == LIMBO_KEY) {
        /* Acquire pairs with finish()'s release (migrate.c); finished is read
         * first so that started >= finished. A migration that could have
         * copied this key began before we found it, so started counts it. */
        uint64_t finished = u64_load_acquire(&m->migrations_finished);
        uint64_t started = u64_load_relaxed(&m->migrations_started);
        wait = started > finished ? started : 0;
    }
    /* The tag is taken after the unlinking store (E1 in epoch.c). */
    uint64_t epoch = smi_epoch_advance();
    sm_limbo_stripe *s = stripe_of(m, self);
    pthread_mutex_lock(&s->lock);
    s->reserved--;
    /* Position count: reserved, so its block is on the list. */
    limbo_block *b = s->count % LIMBO_BLOCK_ITEMS ? s->end : s->count ? s->end->next : s->head;
    limbo_item *it = &b->items[s->count % LIMBO_BLOCK_ITEMS];
    it->word = word;
    it->epoch = epoch;
    it->wait_finished = wait;
    it->kind = kind;
    s->end = b;
    s->count++;
    pthread_mutex_unlock(&s->lock);
    u64_fetch_add_relaxed(counter_of(m, kind), 1);
}

static void release_item(sm_map *m, smi_limbo_kind kind, uint64_t word)
{
    if (kind == LIMBO_VALUE)
        m->free_value(word, m->free_value_ctx);
    else
        smi_skey_free(word);
    u64_fetch_sub_relaxed(counter_of(m, kind), 1);
}

/* A key copy that waited for a migration takes the retire epoch of the table
 * that migration left, once it has finished. */
static void settle_wait(limbo_item *it, uint64_t finished, uint64_t retire_epoch)
{
    if (!it->wait_finished || finished < it->wait_finished)
        return;
    it->wait_finished = 0;
    if (retire_epoch > it->epoch)
        it->epoch = retire_epoch;
}

/*
 * Bounds of one reclaim (T3). Each write retires at most two items (a value
 * and a string key copy), and every SM_RECLAIM_EVERY writes to a map by one
 * thread stripe reclaim that map (migrate.c; counted per map, stats.c), so
 * between two of its reclaims a stripe adds at most 2 * SM_RECLAIM_EVERY
 * items. A reclaim may release twice that (SM_LIMBO_RELEASE_MAX, config.h):
 * summed over threads, reclamation outpaces what writes add by a factor of
 * two whenever the items are eligible, so an eligible backlog (left by a
 * guard, say) shrinks by up to 2 * SM_RECLAIM_EVERY per reclaim (that many,
 * as long as the items a reclaim examines are eligible) and cannot outgrow
 * reclamation. It is not freed by the first write after sm_unpin any more,
 * but over the next few hundred writes per thousand items; sm_destroy frees
 * whatever is left.
 *
 * Items of a stripe are not in epoch order, so a scan cannot stop at the
 * first item still held: threads that share a stripe (thread stripe mod
 * SM_STRIPES) take their tags before they take its mutex and append in
 * either order; a key copy that waits for a migration (wait_finished) later
 * takes the retire epoch of the table that migration left, which is larger
 * than the tags of items appended after it; and detach_eligible() moves the
 * last item into the hole each detached one leaves. Instead each call
 * examines at most LIMBO_SCAN_MAX items, from where the previous call stopped
 * in each stripe (cursor) and starting at the stripe after the one the
 * previous call started at (first), so every item is examined again within a
 * bounded number of calls. That is safe: an eligible item left unexamined only
 * waits for a later call (it stays counted in retired_values/retired_keys
 * and is freed at the latest by sm_destroy), and no item is released without
 * being examined. The scan budget is twice the release budget, so items a
 * guard still holds (examined and kept) cannot keep a call from releasing
 * eligible ones when there are as many of them.
 */
#define LIMBO_SCAN_MAX (2u * SM_LIMBO_RELEASE_MAX)
/* Items one hold of a stripe's mutex may detach, and examine: a writer that
 * wants the mutex meanwhile waits for at most this much work (256 items
 * looked at, about a microsecond). 64 detached items are 1 KiB of the
 * reclaimer's stack. */
#define LIMBO_BATCH 64u
#define LIMBO_EXAMINE_PER_HOLD (4u * LIMBO_BATCH)

typedef struct detached_item {
    uint64_t word;
    smi_limbo_kind kind;
} detached_item;

static void release_detached(sm_map *m, const detached_item *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        release_item(m, d[i].kind, d[i].word);
}

/* Blocks one hold of a stripe's mutex may take off the end of its list when
 * a backlog has drained (freed after the unlock). One spare block stays, so
 * that a stripe at the edge of a block does not free and allocate one on
 * alternate writes. A hold releases at most LIMBO_BATCH items, a quarter of
 * a block, and may trim four blocks: memory is returned faster than the
 * backlog drains. */
#define LIMBO_TRIM_PER_HOLD 4u

/* Under s->lock: move the last committed item into *it and drop the last
 * position (count only shrinks here: reserved positions stay promised). */
static void take_last_into(sm_limbo_stripe *s, limbo_item *it)
{
    *it = s->end->items[(s->count - 1) % LIMBO_BLOCK_ITEMS];
    s->count--;
    if (s->count % LIMBO_BLOCK_ITEMS == 0)
        s->end = s->end->prev;  /* NULL when count reaches 0 */
}

/* Under s->lock: unlink spare blocks past every used position onto *spare
 * (freed by the caller after the unlock). Only blocks wholly past
 * count + reserved go, so no committed item, reservation or cursor (which
 * is below count) is in one. */
static void trim_spare_blocks(sm_limbo_stripe *s, limbo_block **spare)
{
    size_t used = s->count + s->reserved;
    size_t needed = (used + LIMBO_BLOCK_ITEMS - 1) / LIMBO_BLOCK_ITEMS;
    for (unsigned k = 0; k < LIMBO_TRIM_PER_HOLD && s->blocks > needed + 1; k++) {
        limbo_block *b = s->last;
        s->last = b->prev;
        s->last->next = NULL;  /* needed + 1 >= 1 blocks stay: prev exists */
        s->blocks--;
        b->next = *spare;
        *spare = b;
    }
}

/*
 * One hold of s->lock: from the stripe's cursor (or position 0 if restart),
 * examine at most `examine` items and detach the eligible ones into out (at
 * most `room`), filling each hole with the stripe's last item, examined
 * next. Returns the number detached; *examined says how many were looked
 * at, *at_end whether the scan reached the stripe's last item.
 */
static size_t detach_eligible(sm_limbo_stripe *s, int restart, size_t examine, uint64_t min_active,
                              uint64_t finished, uint64_t retire_epoch, detached_item *out,
                              size_t room, size_t *examined, int *at_end, limbo_block **spare)
{
    size_t pos = 0;
    limbo_block *b = s->head;
    /* Position 0 is always the head's (a cursor of 0 may predate it). */
    if (!restart && s->cursor > 0 && s->cursor < s->count) {
        pos = s->cursor;
        b = s->cursor_block;
    }
    size_t n = 0;
    size_t looked = 0;
    while (pos < s->count && looked < examine && n < room) {
        limbo_item *it = &b->items[pos % LIMBO_BLOCK_ITEMS];
        looked++;
        settle_wait(it, finished, retire_epoch);
        if (!it->wait_finished && it->epoch <= min_active) {
            out[n].word = it->word;
            out[n].kind = it->kind;
            n++;
            take_last_into(s, it);
        } else if (++pos % LIMBO_BLOCK_ITEMS == 0) {
            b = b->next;
        }
    }
    *at_end = pos >= s->count;
    if (*at_end) {
        s->cursor = 0;
        s->cursor_block = NULL;
    } else {
        s->cursor = pos;
        s->cursor_block = b;
    }
    trim_spare_blocks(s, spare);
    *examined = looked;
    return n;
}

static void free_blocks(limbo_block *b)
{
    while (b) {
        limbo_block *next = b->next;
        smi_free(b, sizeof *b);
        b = next;
    }
}

size_t smi_limbo_reclaim(sm_map *m, uint64_t min_active, int all)
{
    size_t released = 0;
    size_t scan_left = all ? SIZE_MAX : LIMBO_SCAN_MAX;
    size_t release_left = all ? SIZE_MAX : SM_LIMBO_RELEASE_MAX;
    detached_item batch[LIMBO_BATCH];
    /* Acquire pairs with finish()'s release: the retire epoch read next is at
     * least that of the table the count's last migration retired (a later
     * one is larger, which only delays the free). */
    uint64_t finished = u64_load_acquire(&m->migrations_finished);
    uint64_t retire_epoch = u64_load_relaxed(&m->last_retire_epoch);
    /* Relaxed: only spreads the starting point, orders nothing. */
    unsigned first = atomic_fetch_add_explicit(&m->limbo[0].first, 1, memory_order_relaxed);
    for (unsigned i = 0; i < SM_STRIPES && scan_left > 0 && release_left > 0; i++) {
        sm_limbo_stripe *s = &m->limbo[(first + i) % SM_STRIPES];
        /* A full reclaim (smi_reclaim) starts each stripe at its first item;
         * a bounded one goes on where the last one stopped. */
        int restart = all;
        for (;;) {
            /* A blocking lock: writers hold it for O(1) (reserve, commit,
             * cancel), and we hold it for at most LIMBO_EXAMINE_PER_HOLD
             * items. The mutex orders the committer's item stores before
             * our reads of them. */
            pthread_mutex_lock(&s->lock);
            size_t examine = scan_left < LIMBO_EXAMINE_PER_HOLD ? scan_left : LIMBO_EXAMINE_PER_HOLD;
            size_t room = release_left < LIMBO_BATCH ? release_left : LIMBO_BATCH;
            size_t examined;
            int at_end;
            limbo_block *spare = NULL;
            size_t n = detach_eligible(s, restart, examine, min_active, finished, retire_epoch,
                                       batch, room, &examined, &at_end, &spare);
            pthread_mutex_unlock(&s->lock);
            restart = 0;
            /* Every lock is released: free_value may take as long as it
             * likes, no writer waits for it. */
            release_detached(m, batch, n);
            free_blocks(spare);
            released += n;
            release_left -= n;
            if (!all)
                scan_left -= examined;
            if (at_end || scan_left == 0 || release_left == 0)
                break;
        }
    }
    return released;
}

void smi_limbo_destroy(sm_map *m)
{
    for (unsigned i = 0; i < SM_STRIPES; i++) {
        sm_limbo_stripe *s = &m->limbo[i];
        limbo_block *b = s->head;
        for (size_t p = 0; p < s->count; p++) {
            const limbo_item *it = &b->items[p % LIMBO_BLOCK_ITEMS];
            release_item(m, it->kind, it->word);
            if ((p + 1) % LIMBO_BLOCK_ITEMS == 0)
                b = b->next;
        }
        free_blocks(s->head);
        pthread_mutex_destroy(&s->lock);
    }
    smi_free(m->limbo, SM_STRIPES * sizeof *m->limbo);
    m->limbo = NULL;
}
