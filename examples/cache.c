/*
 * cache.c — a multi-threaded cache of heap objects keyed by strings.
 *
 * The map holds pointers to sessions, keyed by "session:<n>". Writers keep
 * replacing sessions with fresh objects and expiring (deleting) some; readers
 * look sessions up and read them. The map owns the objects: its free_value
 * callback frees a session once it has left the map AND no reader can still
 * be using it. A reader that uses a pointer after its sm_get_str returned
 * holds a guard (sm_pin/sm_unpin) around the use, the way a request handler
 * would pin for the span of one request.
 *
 * free_value poisons a session before freeing it, so a reader that saw a
 * poisoned session would prove an early free; the example counts those (it
 * must be 0) and checks that every session created was freed by the end.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <steadymap.h>

enum { WRITERS = 2, READERS = 2, SESSIONS = 2000 };

#ifdef SM_SANITIZED
enum { ROUNDS = 20000 };
#else
enum { ROUNDS = 200000 };
#endif

#define LIVE_MAGIC 0x5e55104e11fe5e55u
#define DEAD_MAGIC 0xdeadbeefdeadbeefu

typedef struct session {
    uint64_t magic;
    uint64_t id;        /* the n of its key */
    uint64_t version;
    char user[24];
} session;

static sm_map *cache;
static atomic_ulong created, freed, early_frees, wrong_session, lookups_hit;

static size_t key_of(uint64_t id, char buf[32])
{
    return (size_t)snprintf(buf, 32, "session:%" PRIu64, id);
}

/* Called by the map once no thread can still hold s (R1). */
static void free_session(uint64_t value, void *ctx)
{
    (void)ctx;
    session *s = (session *)(uintptr_t)value;
    s->magic = DEAD_MAGIC;
    free(s);
    atomic_fetch_add(&freed, 1);
}

static session *new_session(uint64_t id, uint64_t version)
{
    session *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->magic = LIVE_MAGIC;
    s->id = id;
    s->version = version;
    snprintf(s->user, sizeof s->user, "user-%" PRIu64, id % 97);
    atomic_fetch_add(&created, 1);
    return s;
}

static void *writer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15u + 1;
    for (uint64_t round = 1; round <= ROUNDS; round++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t id = seed % SESSIONS;
        char key[32];
        size_t len = key_of(id, key);
        if (seed % 8 == 0) {
            /* Expire: the session leaves; the map frees it when safe. */
            sm_delete_str(cache, key, len, NULL);
            continue;
        }
        session *s = new_session(id, round);
        if (!s || sm_put_str(cache, key, len, (uint64_t)(uintptr_t)s, NULL) < 0) {
            /* Not in the map, so not the map's to free. */
            if (s) {
                free(s);
                atomic_fetch_add(&freed, 1);
            }
        }
    }
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0xD1B54A32D192ED03u + 7;
    for (uint64_t round = 0; round < ROUNDS; round++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint64_t id = seed % SESSIONS;
        char key[32];
        size_t len = key_of(id, key);
        uint64_t v;
        /* The guard keeps the session alive after sm_get_str returns. */
        if (sm_pin() != SM_OK)
            continue;
        if (sm_get_str(cache, key, len, &v) == SM_OK) {
            const session *s = (const session *)(uintptr_t)v;
            atomic_fetch_add_explicit(&lookups_hit, 1, memory_order_relaxed);
            if (s->magic != LIVE_MAGIC)
                atomic_fetch_add(&early_frees, 1);
            else if (s->id != id || strncmp(s->user, "user-", 5) != 0)
                atomic_fetch_add(&wrong_session, 1);
        }
        sm_unpin();
    }
    return NULL;
}

int main(void)
{
    sm_options opts = SM_OPTIONS_INIT;
    opts.flags = SM_STRING_KEYS;
    opts.free_value = free_session;
    cache = sm_new(&opts);
    if (!cache) {
        perror("sm_new");
        return 1;
    }
    pthread_t t[WRITERS + READERS];
    for (uintptr_t i = 0; i < WRITERS + READERS; i++)
        pthread_create(&t[i], NULL, i < WRITERS ? writer : reader, (void *)(i + 1));
    for (int i = 0; i < WRITERS + READERS; i++)
        pthread_join(t[i], NULL);

    sm_stats_info st = { .size = sizeof st };
    sm_stats(cache, &st);
    printf("cache: %" PRIu64 " sessions cached, %lu created, %lu freed so far, "
           "%" PRIu64 " waiting for readers to move on, %lu reader hits\n",
           st.entries, atomic_load(&created), atomic_load(&freed), st.retired_values,
           atomic_load(&lookups_hit));
    sm_destroy(cache);

    unsigned long c = atomic_load(&created), f = atomic_load(&freed);
    printf("cache: after sm_destroy %lu of %lu sessions freed; early frees seen %lu, "
           "wrong sessions seen %lu\n", f, c, atomic_load(&early_frees),
           atomic_load(&wrong_session));
    return c == f && atomic_load(&early_frees) == 0 && atomic_load(&wrong_session) == 0 ? 0 : 1;
}
