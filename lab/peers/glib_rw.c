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
 * String keys. create_str makes a second kind of table, under the same
 * lock, whose entries are blobs: one g_malloc block holding the key's length,
 * a pointer to its bytes (which follow in the same block) and the value.
 * The blob is GBytes's shape (size and data), hashed with the recurrence of
 * g_bytes_hash and g_str_hash (h = h * 33 + byte from 5381, over every
 * byte, NULs included) and compared like g_bytes_equal (length, then
 * memcmp), which is how GLib hashes binary keys; GBytes itself is not used
 * because a lookup would then box the harness's bytes in a freshly allocated
 * GBytes for every get, the cost the u64 table avoids above. A lookup passes
 * a blob on its stack pointing at the harness's bytes. The table is a set
 * (g_hash_table_add, key and value the same blob: GLib then keeps one array
 * instead of two), so a put that finds its key writes the value into the
 * blob under the write lock and allocates nothing; a new key costs one block
 * and a second probe to add it. The table owns the blobs (g_free as its key
 * destroy function), so a del and destroy free them. GHashTable keeps each
 * entry's 32-bit hash and compares it before calling the equality.
 *
 * Limits. GHashTable cannot be pre-sized, so the capacity hint is ignored
 * (the table grows from 8 slots, rehashing everything at each doubling, all
 * under the write lock). It does not report its memory, so bytes is NULL.
 */
#include <string.h>

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

/* A string key: a stored entry (bytes inside the same block) or one being
 * looked up (bytes are the harness's). */
typedef struct blob {
    guint64 value;
    gsize len;
    const guchar *bytes;
} blob;

static guint hash_blob(gconstpointer p)
{
    const blob *b = p;
    guint32 h = 5381;
    for (gsize i = 0; i < b->len; i++)
        h = h * 33 + b->bytes[i];
    return h;
}

/* memcmp's arguments must not be NULL even for 0 bytes, and a looked-up
 * empty key's may be. */
static gboolean equal_blob(gconstpointer x, gconstpointer y)
{
    const blob *a = x, *b = y;
    return a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
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

static void *glib_create_str(uint64_t capacity_hint)
{
    (void)capacity_hint;
    glib_rw *g = g_try_new0(glib_rw, 1);
    if (!g)
        return NULL;
    g_rw_lock_init(&g->lock);
    g->table = g_hash_table_new_full(hash_blob, equal_blob, g_free, NULL);
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

static int glib_get_str(void *map, const void *key, size_t len, uint64_t *value)
{
    glib_rw *g = map;
    blob probe = { 0, len, key };
    g_rw_lock_reader_lock(&g->lock);
    const blob *found = g_hash_table_lookup(g->table, &probe);
    if (found)
        *value = found->value;
    g_rw_lock_reader_unlock(&g->lock);
    return found ? 1 : 0;
}

/* GLib aborts when it cannot allocate, so a put cannot report failure. */
static int glib_put_str(void *map, const void *key, size_t len, uint64_t value)
{
    glib_rw *g = map;
    blob probe = { 0, len, key };
    g_rw_lock_writer_lock(&g->lock);
    blob *found = g_hash_table_lookup(g->table, &probe);
    if (found) {
        found->value = value;
    } else {
        blob *b = g_malloc(sizeof *b + len);
        guchar *bytes = (guchar *)(b + 1);
        if (len)
            memcpy(bytes, key, len);
        *b = (blob){ value, len, bytes };
        g_hash_table_add(g->table, b);
    }
    g_rw_lock_writer_unlock(&g->lock);
    return 0;
}

static int glib_del_str(void *map, const void *key, size_t len)
{
    glib_rw *g = map;
    blob probe = { 0, len, key };
    g_rw_lock_writer_lock(&g->lock);
    gboolean removed = g_hash_table_remove(g->table, &probe);
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
    .create_str = glib_create_str,
    .get_str = glib_get_str,
    .put_str = glib_put_str,
    .del_str = glib_del_str,
};
