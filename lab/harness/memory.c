/*
 * memory.c — bytes per entry and memory given back, measured in a process
 * that did nothing else.
 *
 * Why a fresh process: the lab's own RSS after a few scenarios is mostly
 * what the allocator kept from earlier runs, so a difference of two RSS
 * readings there says little about the map. A newly exec'd copy of the lab
 * (`steadymap-lab memory-child`, the same way run.c starts coldstart) has
 * only its start-up pages, and every page the map touches is its own. The
 * child writes one lab_memory_result into an anonymous file it inherits.
 *
 * Why RSS and not only engine->bytes(): bytes() is what an engine says it
 * holds, and only some engines can say it; the resident set is what the
 * machine pays, allocator slack and freed-but-kept pages included, and it
 * is the same ruler for every engine. Both are reported.
 *
 * After deleting 90 % of the entries nothing is trimmed on the engine's
 * behalf (no malloc_trim): what the process still holds then is what an
 * application would see.
 */
#define _GNU_SOURCE
#include "harness/memory.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/keys.h"

extern char **environ;

uint64_t lab_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, resident = 0;
    int ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
    fclose(f);
    return ok ? resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void init_result(lab_memory_result *out, const lab_engine *e, uint64_t keys)
{
    memset(out, 0, sizeof *out);
    snprintf(out->engine, sizeof out->engine, "%s", e->name);
    out->keys = keys;
}

static int skip(lab_memory_result *out, const char *why)
{
    out->skipped = 1;
    snprintf(out->note, sizeof out->note, "%s", why);
    return -1;
}

/* Every tenth key stays, so the survivors are spread over the whole table
 * (deleting a prefix of indices would be the same for a hash map, but this
 * does not depend on that). */
static int deleted_index(uint64_t i)
{
    return i % 10 != 0;
}

static int measure_here(const lab_engine *e, uint64_t keys, const lab_settings *s,
                        lab_memory_result *out)
{
    /* the same salt as run.c, so `memory` and the scenarios use the same keys */
    uint64_t salt = lab_mix(s->seed ^ 0x6a09e667f3bcc909u);
    out->rss_base = lab_rss_bytes();
    void *map = e->create(0);
    if (!map)
        return skip(out, "n/a: engine create() failed");
    if (e->thread_attach)
        e->thread_attach(map);
    int rc = 0;
    for (uint64_t i = 0; i < keys && rc >= 0; i++) {
        uint64_t k = lab_key_of(i, salt);
        rc = e->put(map, k, lab_value_of(k));
    }
    if (rc >= 0) {
        out->rss_full = lab_rss_bytes();
        out->engine_bytes_full = e->bytes ? e->bytes(map) : 0;
        for (uint64_t i = 0; i < keys && rc >= 0; i++)
            if (deleted_index(i))
                rc = e->del(map, lab_key_of(i, salt));
    }
    if (rc >= 0) {
        out->rss_after_delete = lab_rss_bytes();
        out->engine_bytes_after_delete = e->bytes ? e->bytes(map) : 0;
        snprintf(out->note, sizeof out->note, "glibc malloc, nothing trimmed after the deletes");
    }
    if (e->thread_detach)
        e->thread_detach(map);
    e->destroy(map);
    if (rc < 0)
        return skip(out, "n/a: engine error while inserting or deleting");
    return 0;
}

uint64_t lab_memory_limit_ms(uint64_t keys)
{
    return 60000 + keys / 100;
}

static int measure_in_child(const lab_engine *e, uint64_t keys, const lab_settings *s,
                            lab_memory_result *out)
{
    int fd = memfd_create("steadymap-lab-memory", 0);
    if (fd < 0)
        return skip(out, "n/a: memfd_create failed");
    char a_en[80], a_ke[48], a_se[48], a_fd[32];
    snprintf(a_en, sizeof a_en, "--engines=%s", e->name);
    snprintf(a_ke, sizeof a_ke, "--keys=%llu", (unsigned long long)keys);
    snprintf(a_se, sizeof a_se, "--seed=%llu", (unsigned long long)s->seed);
    snprintf(a_fd, sizeof a_fd, "--result-fd=%d", fd);
    char *argv[] = { (char *)s->self_exe, "memory-child", a_en, a_ke, a_se, a_fd, NULL };
    pid_t pid;
    int ok = 0, killed = 0;
    if (posix_spawn(&pid, s->self_exe, NULL, NULL, argv, environ) == 0) {
        int status = 0;
        int waited = lab_wait_child(pid, lab_memory_limit_ms(keys), &status);
        killed = waited == 1;
        /* the child exits 1 with a skipped result when the engine failed */
        ok = waited == 0 && WIFEXITED(status) && WEXITSTATUS(status) <= 1 &&
             lseek(fd, 0, SEEK_SET) == 0 && lab_read_all(fd, out, sizeof *out) == 0;
    }
    close(fd);
    if (!ok) {
        init_result(out, e, keys);
        return skip(out, killed ? "n/a: the memory-child process failed to finish in time "
                                  "(an engine hung or crawled): killed"
                                : "n/a: the memory-child process failed (out of memory?)");
    }
    return out->skipped ? -1 : 0;
}

int lab_memory_measure(const lab_engine *e, uint64_t keys, const lab_settings *s,
                       lab_memory_result *out)
{
    init_result(out, e, keys);
    if (e->out_of_process)
        return lab_external_memory(e, keys, s, out);
    if (s->self_exe)
        return measure_in_child(e, keys, s, out);
    return measure_here(e, keys, s, out);
}
