/*
 * limbo.c — values that left the map, waiting until no reader can hold them.
 *
 * Only maps with a free_value callback have a limbo. A writer that displaces
 * a value (replace, delete) tags it with a fresh epoch (smi_epoch_advance)
 * after the store that unlinked it, and appends it to the limbo stripe of its
 * thread. The reclaimer hands a value to free_value once every active thread
 * entered after that tag: by E1/E2 (epoch.c) such a thread cannot have read
 * the unlinked value, since the unlinking store happens-before its entry.
 *
 * Appending must not fail after the map changed, so a writer reserves its
 * limbo slot before the operation (SM_ENOMEM then, with nothing changed) and
 * commits or cancels the reservation afterwards. Stripes (one mutex each,
 * chosen by thread) keep writers from contending on one lock; the reclaimer
 * only trylocks them.
 */
#include <pthread.h>

#include "alloc.h"
#include "map_internal.h"

typedef struct limbo_item {
    uint64_t value;
    uint64_t epoch;
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

int smi_limbo_reserve(sm_map *m, const sm_thread *self)
{
    sm_limbo_stripe *s = stripe_of(m, self);
    pthread_mutex_lock(&s->lock);
    size_t need = s->count + s->reserved + 1;
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
    s->reserved++;
    pthread_mutex_unlock(&s->lock);
    return SM_OK;
}

void smi_limbo_cancel(sm_map *m, const sm_thread *self)
{
    sm_limbo_stripe *s = stripe_of(m, self);
    pthread_mutex_lock(&s->lock);
    s->reserved--;
    pthread_mutex_unlock(&s->lock);
}

void smi_limbo_commit(sm_map *m, const sm_thread *self, uint64_t value)
{
    /* The tag is taken after the unlinking store (E1 in epoch.c). */
    uint64_t epoch = smi_epoch_advance();
    sm_limbo_stripe *s = stripe_of(m, self);
    pthread_mutex_lock(&s->lock);
    s->reserved--;
    s->items[s->count].value = value;
    s->items[s->count].epoch = epoch;
    s->count++;
    pthread_mutex_unlock(&s->lock);
    u64_fetch_add_relaxed(&m->retired_values, 1);
}

size_t smi_limbo_reclaim(sm_map *m, uint64_t min_active)
{
    size_t freed = 0;
    for (unsigned i = 0; i < SM_STRIPES; i++) {
        sm_limbo_stripe *s = &m->limbo[i];
        if (pthread_mutex_trylock(&s->lock) != 0)
            continue;
        size_t keep = 0;
        for (size_t j = 0; j < s->count; j++) {
            if (s->items[j].epoch <= min_active) {
                m->free_value(s->items[j].value, m->free_value_ctx);
                freed++;
            } else {
                s->items[keep++] = s->items[j];
            }
        }
        s->count = keep;
        pthread_mutex_unlock(&s->lock);
    }
    u64_fetch_sub_relaxed(&m->retired_values, freed);
    return freed;
}

void smi_limbo_destroy(sm_map *m)
{
    for (unsigned i = 0; i < SM_STRIPES; i++) {
        sm_limbo_stripe *s = &m->limbo[i];
        for (size_t j = 0; j < s->count; j++)
            m->free_value(s->items[j].value, m->free_value_ctx);
        smi_free(s->items, s->capacity * sizeof *s->items);
        pthread_mutex_destroy(&s->lock);
    }
    smi_free(m->limbo, SM_STRIPES * sizeof *m->limbo);
    m->limbo = NULL;
}
