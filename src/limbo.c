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
 * chosen by thread) keep writers from contending on one lock; the reclaimer
 * only trylocks them.
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

struct sm_limbo_stripe {
    _Alignas(64) pthread_mutex_t lock;
    limbo_item *items;
    size_t count;
    size_t reserved;
    size_t capacity;
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
    if (need > s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 64;
        limbo_item *items = smi_alloc_zeroed(cap * sizeof *items);
        if (!items) {
            pthread_mutex_unlock(&s->lock);
            return SM_ENOMEM;
        }
        for (size_t i = 0; i < s->count; i++)
            items[i] = s->items[i];
        smi_free(s->items, s->capacity * sizeof *items);
        s->items = items;
        s->capacity = cap;
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
    s->items[s->count].word = word;
    s->items[s->count].epoch = epoch;
    s->items[s->count].wait_finished = wait;
    s->items[s->count].kind = kind;
    s->count++;
    pthread_mutex_unlock(&s->lock);
    u64_fetch_add_relaxed(counter_of(m, kind), 1);
}

static void release_item(sm_map *m, const limbo_item *it)
{
    if (it->kind == LIMBO_VALUE)
        m->free_value(it->word, m->free_value_ctx);
    else
        smi_skey_free(it->word);
    u64_fetch_sub_relaxed(counter_of(m, it->kind), 1);
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

size_t smi_limbo_reclaim(sm_map *m, uint64_t min_active)
{
    size_t freed = 0;
    /* Acquire pairs with finish()'s release: the retire epoch read next is at
     * least that of the table the count's last migration retired (a later
     * one is larger, which only delays the free). */
    uint64_t finished = u64_load_acquire(&m->migrations_finished);
    uint64_t retire_epoch = u64_load_relaxed(&m->last_retire_epoch);
    for (unsigned i = 0; i < SM_STRIPES; i++) {
        sm_limbo_stripe *s = &m->limbo[i];
        if (pthread_mutex_trylock(&s->lock) != 0)
            continue;
        size_t keep = 0;
        for (size_t j = 0; j < s->count; j++) {
            settle_wait(&s->items[j], finished, retire_epoch);
            if (!s->items[j].wait_finished && s->items[j].epoch <= min_active) {
                release_item(m, &s->items[j]);
                freed++;
            } else {
                s->items[keep++] = s->items[j];
            }
        }
        s->count = keep;
        pthread_mutex_unlock(&s->lock);
    }
    return freed;
}

void smi_limbo_destroy(sm_map *m)
{
    for (unsigned i = 0; i < SM_STRIPES; i++) {
        sm_limbo_stripe *s = &m->limbo[i];
        for (size_t j = 0; j < s->count; j++)
            release_item(m, &s->items[j]);
        smi_free(s->items, s->capacity * sizeof *s->items);
        pthread_mutex_destroy(&s->lock);
    }
    smi_free(m->limbo, SM_STRIPES * sizeof *m->limbo);
    m->limbo = NULL;
}
