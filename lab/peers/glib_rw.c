/*
 * glib_rw.c — the lab engine "glib_rw": GLib's GHashTable behind one GRWLock,
 * which is what a typical C program (a GNOME service, a daemon already
 * linking GLib) does when several threads share a map.
 *
 * Locking. Lookups, size and iteration take the read lock, so they run in
 * parallel with each other and wait for writers; put and del take the write
 * lock. GHashTable's lookup and GHashTableIter only read the table, which is
 * what makes sharing the read side safe. GRWLock is GLib's own type (on Linux
 * a wrapper over pthread_rwlock_t), used as GLib programs use it.
 *
 * Keys and values. Both are stored in the table's pointer slots themselves,
 * GUINT_TO_POINTER style, so an entry costs no allocation: on LP64, which
 * CMake requires for this engine, a gpointer holds all 64 bits. This is the
 * idiom GLib programs use for integer keys that fit a pointer, and the one
 * that is fair to GHashTable: the documented alternative for 64-bit keys,
 * g_int64_hash and g_int64_equal over pointers to allocated gint64s, would
 * charge every put a malloc and every lookup a pointer chase that belong to
 * the key's boxing, not to the table. It also lets GLib 2.74 keep keys and
 * values in its compact 32-bit arrays while they fit. g_direct_hash would
 * hash only the low 32 bits of the pointer, so the hash function folds the
 * high half in first; equality is g_direct_equal. Key 0 is the NULL pointer,
 * which GHashTable stores like any other key, and value 0 is told apart
 * from a missing key by g_hash_table_lookup_extended.
 *
 * Limits. GHashTable cannot be pre-sized, so the capacity hint is ignored
 * (the table grows from 8 slots, rehashing everything at each doubling, all
 * under the write lock). It does not report its memory, so bytes is NULL.
 */
#include <glib.h>

#include "engine.h"

G_STATIC_ASSERT(sizeof(gpointer) >= sizeof(uint64_t));

typedef struct glib_rw {
    GRWLock lock;
    GHashTable *table;
} glib_rw;

static gpointer to_pointer(uint64_t x)
{
    return (gpointer)(guintptr)x;
}

static uint64_t from_pointer(gconstpointer p)
{
    return (uint64_t)(guintptr)p;
}

static guint hash_key(gconstpointer p)
{
    uint64_t k = from_pointer(p);
    return (guint)(k ^ (k >> 32));
}

static void *glib_create(uint64_t capacity_hint)
{
    (void)capacity_hint;
    glib_rw *g = g_try_new0(glib_rw, 1);
    if (!g)
        return NULL;
    g_rw_lock_init(&g->lock);
    g->table = g_hash_table_new(hash_key, g_direct_equal);
    return g;
}

static void glib_destroy(void *map)
{
    glib_rw *g = map;
    g_hash_table_destroy(g->table);
    g_rw_lock_clear(&g->lock);
    g_free(g);
}

static int glib_get(void *map, uint64_t key, uint64_t *value)
{
    glib_rw *g = map;
    gpointer found_value;
    g_rw_lock_reader_lock(&g->lock);
    gboolean found = g_hash_table_lookup_extended(g->table, to_pointer(key), NULL, &found_value);
    g_rw_lock_reader_unlock(&g->lock);
    if (found)
        *value = from_pointer(found_value);
    return found ? 1 : 0;
}

/* GLib aborts when it cannot allocate, so a put cannot report failure. */
static int glib_put(void *map, uint64_t key, uint64_t value)
{
    glib_rw *g = map;
    g_rw_lock_writer_lock(&g->lock);
    g_hash_table_insert(g->table, to_pointer(key), to_pointer(value));
    g_rw_lock_writer_unlock(&g->lock);
    return 0;
}

static int glib_del(void *map, uint64_t key)
{
    glib_rw *g = map;
    g_rw_lock_writer_lock(&g->lock);
    gboolean removed = g_hash_table_remove(g->table, to_pointer(key));
    g_rw_lock_writer_unlock(&g->lock);
    return removed ? 1 : 0;
}

/* Under the read lock for the whole walk: writers wait until it ends. */
static long glib_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    glib_rw *g = map;
    GHashTableIter it;
    gpointer k, v;
    long n = 0;
    g_rw_lock_reader_lock(&g->lock);
    g_hash_table_iter_init(&it, g->table);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        n++;
        if (visit(from_pointer(k), from_pointer(v), ctx))
            break;
    }
    g_rw_lock_reader_unlock(&g->lock);
    return n;
}

static uint64_t glib_size(void *map)
{
    glib_rw *g = map;
    g_rw_lock_reader_lock(&g->lock);
    guint n = g_hash_table_size(g->table);
    g_rw_lock_reader_unlock(&g->lock);
    return n;
}

const lab_engine lab_peer_glib_rw = {
    .name = "glib_rw",
    .description = "GLib GHashTable behind one GRWLock: what a typical C program does",
    .create = glib_create,
    .destroy = glib_destroy,
    .thread_attach = NULL,
    .thread_detach = NULL,
    .get = glib_get,
    .put = glib_put,
    .del = glib_del,
    .iterate = glib_iterate,
    .size = glib_size,
    .bytes = NULL,
    .set_event_hook = NULL,
};
