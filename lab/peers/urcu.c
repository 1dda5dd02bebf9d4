/*
 * urcu.c — the lab engine "urcu": liburcu's lock-free resizable hash table
 * (rculfhash), an RCU-protected split-ordered list; LTTng and other Linux
 * tools use it where a C program would use steadymap.
 *
 * Flavour. urcu-memb: read-side sections are a thread-local nesting count
 * plus a compiler barrier, and the writer side makes up the missing memory
 * barrier with the membarrier() system call (liburcu falls back to a real
 * barrier on each read-side section where the kernel lacks it). It is the
 * flavour <urcu.h> selects by default, and the only one that
 * needs nothing from the application besides registration: QSBR would be
 * faster for readers but needs every thread to announce quiescent states
 * from its own loop, which the harness's workers, being generic, never do,
 * and a QSBR reader that stops announcing would stall every grace period.
 *
 * Registration. RCU readers must be registered threads, and registration is
 * per thread, not per map. thread_attach/thread_detach register and
 * unregister the calling thread, counting nested attaches (one thread may be
 * attached to two maps) so that only the outermost pair touches liburcu.
 * create() needs no registration (cds_lfht_new says so); destroy(), size()
 * and iterate() may run on a thread the harness did not attach (its main
 * thread, after the workers are done), so they register that thread for
 * their own duration when it is not registered already.
 *
 * Entries. One node per key, allocated by put and holding the key and the
 * value next to the list links: a put that replaces swaps in a whole new node
 * with cds_lfht_add_replace (lookups see exactly one of the two nodes), and
 * the node it displaced, like the one a delete unlinks, is freed by call_rcu
 * after a grace period, on liburcu's call_rcu worker thread. Values are
 * therefore never written in place, so a reader can never see a torn one.
 *
 * Hash. rculfhash takes a hash from the caller; the split-ordered list
 * indexes buckets by the hash's low bits, so keys go through a full 64-bit
 * finaliser (MurmurHash3's fmix64 constants) rather than being used raw.
 *
 * Resizing. CDS_LFHT_AUTO_RESIZE grows the bucket index when chains get long
 * and, with CDS_LFHT_ACCOUNTING (split per-CPU counters), shrinks it when the
 * table empties. The resize runs on liburcu's own worker thread, never in a
 * caller's put, so no operation the lab times pays for it; what the lab sees
 * is the lookups walking longer chains until the worker catches up. The
 * capacity hint sets the initial bucket count.
 *
 * Iteration walks the list under one read-side section (it never blocks
 * writers or readers; a concurrent resize keeps the list intact). size()
 * counts the nodes by walking them too: the split counters are only exact at
 * rest, while the walk is exact whenever nothing writes, which is when the
 * tests ask. liburcu does not report the bytes it holds, so bytes is NULL.
 *
 * ThreadSanitizer. liburcu is not instrumented, so TSan sees neither the
 * barrier that publishes a node nor the grace period that precedes its
 * free, and would report every node read by a thread other than its writer.
 * Under TSan the engine states those two guarantees to it, and nothing
 * more: a node's writer releases the node before cds_lfht_add_replace and
 * each reader acquires it before touching its fields (add_replace issues a
 * full barrier before its commit, and lookups and traversals act as
 * rcu_dereference); every read-side section releases one shared sync word on
 * leaving and every free acquires it first (call_rcu runs the free only
 * after every section that could see the node has ended). What remains are
 * accesses inside liburcu itself, which tests/lab_engines/tsan.supp
 * suppresses with called_from_lib for liburcu's libraries only.
 *
 * String keys. create_str makes the same kind of table, whose nodes hold a
 * copy of the key (its length and bytes, allocated with the node in one
 * block) beside the value, replaced and freed exactly like the u64 nodes.
 * rculfhash takes the hash from the caller: string keys are hashed with
 * XXH3-64 (XXH3_64bits, unseeded, from the xxhash the library itself
 * requires for its own string keys, compiled in header-only here as there),
 * fast on short and long keys alike
 * and with all 64 bits well mixed, which the split-ordered list needs since
 * it indexes buckets by the low bits and orders nodes by the bit-reversed
 * hash. The match function compares the lengths first, then the bytes with
 * memcmp(); rculfhash calls it only for nodes whose full hash is equal.
 * destroy, size and the registration are shared with u64 tables (engine.h
 * uses the same destroy and size for both kinds): the nodes of both start
 * with the same header, which is all those need.
 *
 * _LGPL_SOURCE is not defined: the read-side lock and unlock are then calls
 * into liburcu-memb instead of inlined code, which keeps the lab's binary
 * free of inlined LGPL code at a cost of two calls per get, small next to
 * cds_lfht_lookup, which is always a call into liburcu-cds anyway.
 */
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "engine.h"

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#ifdef UNDER_TSAN
#include <sanitizer/tsan_interface.h>
/* The one sync word of every read-side section and free (see the header). */
static char grace_period;
#define tsan_publish(e) __tsan_release(e)
#define tsan_subscribe(e) __tsan_acquire(e)
#define tsan_section_end() __tsan_release(&grace_period)
#define tsan_before_free() __tsan_acquire(&grace_period)
#else
#define tsan_publish(e) ((void)0)
#define tsan_subscribe(e) ((void)0)
#define tsan_section_end() ((void)0)
#define tsan_before_free() ((void)0)
#endif

/* What every node starts with, whatever its key: the list links and the
 * call_rcu hook, so that destroy and the frees work on either kind. */
typedef struct node_head {
    struct cds_lfht_node node;
    struct rcu_head rcu;
} node_head;

typedef struct entry {
    node_head h;
    uint64_t key;
    uint64_t value;
} entry;

typedef struct str_entry {
    node_head h;
    uint64_t value;
    size_t len;
    unsigned char key[];
} str_entry;

/* A string key being looked up, for match_str. */
typedef struct str_key {
    const void *bytes;
    size_t len;
} str_key;

/* Registrations of this thread that attach took (see the header). */
static _Thread_local unsigned attached;

static unsigned long hash_of(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdu;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53u;
    key ^= key >> 33;
    return (unsigned long)key;
}

static unsigned long hash_str(const void *key, size_t len)
{
    return (unsigned long)XXH3_64bits(key, len);
}

static int match(struct cds_lfht_node *node, const void *key)
{
    entry *e = caa_container_of(node, entry, h.node);
    tsan_subscribe(e);
    return e->key == *(const uint64_t *)key;
}

static int match_str(struct cds_lfht_node *node, const void *key)
{
    const str_key *k = key;
    str_entry *e = caa_container_of(node, str_entry, h.node);
    tsan_subscribe(e);
    /* memcmp's arguments must not be NULL even for 0 bytes, and an empty
     * key's may be. */
    return e->len == k->len && (k->len == 0 || memcmp(e->key, k->bytes, k->len) == 0);
}

static void free_entry(struct rcu_head *head)
{
    tsan_before_free();
    free(caa_container_of(head, node_head, rcu));
}

static void retire(struct cds_lfht_node *node)
{
    urcu_memb_call_rcu(&caa_container_of(node, node_head, node)->rcu, free_entry);
}

/* Every read-side section ends here, so that under TSan it releases. */
static void read_unlock(void)
{
    tsan_section_end();
    urcu_memb_read_unlock();
}

static void urcu_attach(void *map)
{
    (void)map;
    if (attached++ == 0)
        urcu_memb_register_thread();
}

static void urcu_detach(void *map)
{
    (void)map;
    if (--attached == 0)
        urcu_memb_unregister_thread();
}

/* For calls the harness may make on a thread it did not attach. Returns
 * whether the caller must unregister again with leave_unattached. */
static int enter_unattached(void)
{
    if (attached)
        return 0;
    urcu_memb_register_thread();
    return 1;
}

static void leave_unattached(int registered_here)
{
    if (registered_here)
        urcu_memb_unregister_thread();
}

static void *urcu_create(uint64_t capacity_hint)
{
    /* A power of two, as cds_lfht_new requires; the cap only keeps an
     * absurd hint from overflowing the shift. */
    unsigned long buckets = 1;
    while (buckets < capacity_hint && buckets < (1ul << 40))
        buckets <<= 1;
    return cds_lfht_new_flavor(buckets, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
                               &urcu_memb_flavor, NULL);
}

/* cds_lfht_destroy refuses a table that still holds nodes, so they are
 * unlinked first; their frees go through call_rcu like any delete's, because
 * a resize still in flight on liburcu's worker may be walking them, and the
 * barrier at the end waits for those frees so that nothing is left pending
 * once destroy returns. */
static void urcu_destroy(void *map)
{
    struct cds_lfht *ht = map;
    int registered_here = enter_unattached();
    struct cds_lfht_iter iter;
    node_head *e;
    urcu_memb_read_lock();
    cds_lfht_for_each_entry(ht, &iter, e, node) {
        tsan_subscribe(e);
        if (cds_lfht_del(ht, &e->node) == 0)
            retire(&e->node);
    }
    read_unlock();
    cds_lfht_destroy(ht, NULL);
    urcu_memb_barrier();
    leave_unattached(registered_here);
}

static int urcu_get(void *map, uint64_t key, uint64_t *value)
{
    struct cds_lfht_iter iter;
    urcu_memb_read_lock();
    cds_lfht_lookup(map, hash_of(key), match, &key, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node)
        *value = caa_container_of(node, entry, h.node)->value;
    read_unlock();
    return node != NULL;
}

static int urcu_put(void *map, uint64_t key, uint64_t value)
{
    entry *e = malloc(sizeof *e);
    if (!e)
        return -1;
    cds_lfht_node_init(&e->h.node);
    e->key = key;
    e->value = value;
    tsan_publish(e);
    urcu_memb_read_lock();
    struct cds_lfht_node *old = cds_lfht_add_replace(map, hash_of(key), match, &key, &e->h.node);
    read_unlock();
    if (old)
        retire(old);
    return 0;
}

/* A delete that loses the race to unlink the node to another delete of the
 * same key finds it absent, as if it had come second. */
static int urcu_del(void *map, uint64_t key)
{
    struct cds_lfht_iter iter;
    int removed = 0;
    urcu_memb_read_lock();
    cds_lfht_lookup(map, hash_of(key), match, &key, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node && cds_lfht_del(map, node) == 0) {
        retire(node);
        removed = 1;
    }
    read_unlock();
    return removed;
}

/* ---- string keys ---------------------------------------------------------- */

static int urcu_get_str(void *map, const void *key, size_t len, uint64_t *value)
{
    str_key k = { key, len };
    struct cds_lfht_iter iter;
    urcu_memb_read_lock();
    cds_lfht_lookup(map, hash_str(key, len), match_str, &k, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node)
        *value = caa_container_of(node, str_entry, h.node)->value;
    read_unlock();
    return node != NULL;
}

static int urcu_put_str(void *map, const void *key, size_t len, uint64_t value)
{
    if (len > SIZE_MAX - sizeof(str_entry))
        return -1;
    str_entry *e = malloc(sizeof *e + len);
    if (!e)
        return -1;
    cds_lfht_node_init(&e->h.node);
    e->value = value;
    e->len = len;
    if (len)
        memcpy(e->key, key, len);
    str_key k = { e->key, len };
    tsan_publish(e);
    urcu_memb_read_lock();
    struct cds_lfht_node *old =
        cds_lfht_add_replace(map, hash_str(e->key, len), match_str, &k, &e->h.node);
    read_unlock();
    if (old)
        retire(old);
    return 0;
}

static int urcu_del_str(void *map, const void *key, size_t len)
{
    str_key k = { key, len };
    struct cds_lfht_iter iter;
    int removed = 0;
    urcu_memb_read_lock();
    cds_lfht_lookup(map, hash_str(key, len), match_str, &k, &iter);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&iter);
    if (node && cds_lfht_del(map, node) == 0) {
        retire(node);
        removed = 1;
    }
    read_unlock();
    return removed;
}

static long urcu_iterate(void *map, lab_visit_fn visit, void *ctx)
{
    int registered_here = enter_unattached();
    struct cds_lfht_iter iter;
    entry *e;
    long n = 0;
    urcu_memb_read_lock();
    cds_lfht_for_each_entry((struct cds_lfht *)map, &iter, e, h.node) {
        tsan_subscribe(e);
        n++;
        if (visit(e->key, e->value, ctx))
            break;
    }
    read_unlock();
    leave_unattached(registered_here);
    return n;
}

static uint64_t urcu_size(void *map)
{
    int registered_here = enter_unattached();
    long before, after;
    unsigned long count;
    urcu_memb_read_lock();
    cds_lfht_count_nodes(map, &before, &count, &after);
    read_unlock();
    leave_unattached(registered_here);
    return count;
}

const lab_engine lab_peer_urcu = {
    .name = "urcu",
    .description = "liburcu rculfhash (urcu-memb): RCU lock-free reads, resize on a worker thread",
    .create = urcu_create,
    .destroy = urcu_destroy,
    .thread_attach = urcu_attach,
    .thread_detach = urcu_detach,
    .get = urcu_get,
    .put = urcu_put,
    .del = urcu_del,
    .iterate = urcu_iterate,
    .size = urcu_size,
    .bytes = NULL,
    .set_event_hook = NULL,
    .create_str = urcu_create,
    .get_str = urcu_get_str,
    .put_str = urcu_put_str,
    .del_str = urcu_del_str,
};
