/*
 * report.c — what steadymap-bench prints, and the same as a JSON file stamped
 * with the commit, compiler, CPU, date and options (STYLE.md: "The lab is not
 * the test suite").
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef SM_BENCH_SOURCE_DIR
#define SM_BENCH_SOURCE_DIR "."
#endif
#ifndef SM_BENCH_BUILD_TYPE
#define SM_BENCH_BUILD_TYPE "by hand"
#endif
#ifndef SM_BENCH_C_FLAGS
#define SM_BENCH_C_FLAGS ""
#endif

enum item_kind { ITEM_SECTION, ITEM_NOTE, ITEM_VALUE, ITEM_CHECK };

typedef struct item {
    enum item_kind kind;
    char *name;   /* section id, value or check name */
    char *text;   /* section title, note, label or how the limit was formed */
    char *unit;
    double value; /* value, or a check's measured number */
    double limit;
    int met;
} item;

static item *items;
static size_t n_items, cap_items;
/* Atomic: the growth section's threads may both report. */
static _Atomic uint64_t wrong_count;
static unsigned checks_passed, checks_missed;

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

static item *push(enum item_kind kind)
{
    if (n_items == cap_items) {
        cap_items = cap_items ? cap_items * 2 : 64;
        items = realloc(items, cap_items * sizeof *items);
        if (!items) {
            perror("steadymap-bench");
            exit(2);
        }
    }
    item *it = &items[n_items++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    return it;
}

void report_section(const char *id, const char *title)
{
    item *it = push(ITEM_SECTION);
    it->name = dup_or_empty(id);
    it->text = dup_or_empty(title);
    printf("\n== %s ==\n", title);
    fflush(stdout);
}

void report_note(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    item *it = push(ITEM_NOTE);
    it->text = dup_or_empty(buf);
    printf("  %s\n", buf);
    fflush(stdout);
}

void report_record(const char *name, double value, const char *unit)
{
    item *it = push(ITEM_VALUE);
    it->name = dup_or_empty(name);
    it->text = dup_or_empty(name);
    it->unit = dup_or_empty(unit);
    it->value = value;
}

void report_value(const char *name, double value, const char *unit,
                  const char *label)
{
    item *it = push(ITEM_VALUE);
    it->name = dup_or_empty(name);
    it->text = dup_or_empty(label);
    it->unit = dup_or_empty(unit);
    it->value = value;
    printf("  %-58s %12.2f %s\n", label, value, unit);
    fflush(stdout);
}

void report_labeled(const char *group, const char *label, const char *id,
                    double value, const char *unit, const char *what)
{
    char name[128], text[192];
    snprintf(name, sizeof name, "%s.%s.%s", group, label, id);
    snprintf(text, sizeof text, "%s: %s", label, what);
    report_value(name, value, unit, text);
}

void report_check(const char *name, double measured, double limit,
                  const char *unit, const char *how)
{
    item *it = push(ITEM_CHECK);
    it->name = dup_or_empty(name);
    it->text = dup_or_empty(how);
    it->unit = dup_or_empty(unit);
    it->value = measured;
    it->limit = limit;
    it->met = measured <= limit;
    if (it->met)
        checks_passed++;
    else
        checks_missed++;
    printf("  %s  %-42s %9.3f %-2s (target <= %.3f %s: %3.0f%% of it)  %s\n",
           it->met ? "PASS" : "MISS", name, measured, unit, limit, unit,
           limit > 0 ? 100.0 * measured / limit : 0.0, how);
    fflush(stdout);
}

void report_wrong(const char *fmt, ...)
{
    if (++wrong_count > 10)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("steadymap-bench: WRONG RESULT: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint64_t report_wrong_count(void) { return wrong_count; }

/* ---- the stamp -------------------------------------------------------------- */

static struct {
    time_t start;     /* names the result file as well as dating it */
    char commit[64];
    int dirty;
    char date[32];
    char cpu[128];
    char kernel[256];
    char thp[64];
    char thp_defrag[64];
    char clocksource[32];
    char loadavg[64];
    long cpus;
} stamp;

/* First line of a command's output, without the newline ("" on failure). */
static void command_line(const char *cmd, char *out, size_t len)
{
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (!fgets(out, (int)len, p))
        out[0] = '\0';
    while (fgetc(p) != EOF)
        ;
    pclose(p);
    out[strcspn(out, "\n")] = '\0';
}

static void file_line(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

static void gather_stamp(void)
{
    char dirty[8];
    command_line("git -C '" SM_BENCH_SOURCE_DIR "' rev-parse --verify --quiet HEAD 2>/dev/null",
                 stamp.commit, sizeof stamp.commit);
    if (!stamp.commit[0])
        strcpy(stamp.commit, "unknown");
    /* Tracked files only: a results folder or build tree is not a change. */
    command_line("git -C '" SM_BENCH_SOURCE_DIR
                 "' status --porcelain --untracked-files=no 2>/dev/null",
                 dirty, sizeof dirty);
    stamp.dirty = dirty[0] != '\0';

    stamp.start = time(NULL);
    strftime(stamp.date, sizeof stamp.date, "%Y-%m-%dT%H:%M:%SZ",
             gmtime(&stamp.start));

    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    strcpy(stamp.cpu, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c += 2;
                c[strcspn(c, "\n")] = '\0';
                snprintf(stamp.cpu, sizeof stamp.cpu, "%s", c);
            }
            break;
        }
    }
    if (f)
        fclose(f);

    struct utsname u;
    if (uname(&u) == 0)
        snprintf(stamp.kernel, sizeof stamp.kernel, "%s %s %s", u.sysname,
                 u.release, u.machine);
    file_line("/sys/kernel/mm/transparent_hugepage/enabled", stamp.thp,
              sizeof stamp.thp);
    file_line("/sys/kernel/mm/transparent_hugepage/defrag", stamp.thp_defrag,
              sizeof stamp.thp_defrag);
    file_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
              stamp.clocksource, sizeof stamp.clocksource);
    file_line("/proc/loadavg", stamp.loadavg, sizeof stamp.loadavg);
    stamp.cpus = sysconf(_SC_NPROCESSORS_ONLN);
}

static const char *compiler(void)
{
#if defined(__clang__)
    return "clang " __VERSION__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

void report_print_stamp(void)
{
    gather_stamp();
    printf("steadymap-bench (steadymap %s)\n", SM_VERSION_STRING);
    printf("  commit      %s%s\n", stamp.commit, stamp.dirty ? " (tree modified)" : "");
    printf("  date        %s\n", stamp.date);
    printf("  compiler    %s; build %s; flags %s\n", compiler(),
           SM_BENCH_BUILD_TYPE, SM_BENCH_C_FLAGS);
    printf("  cpu         %s, %ld online\n", stamp.cpu, stamp.cpus);
    printf("  kernel      %s; THP %s; defrag %s; clock %s\n", stamp.kernel,
           stamp.thp, stamp.thp_defrag, stamp.clocksource);
    printf("  load avg    %s (other work on the machine skews every number)\n",
           stamp.loadavg);
#ifndef __OPTIMIZE__
    printf("  WARNING     built without optimisation: numbers mean little\n");
#endif
    fflush(stdout);
}

void report_print_summary(void)
{
    printf("\n== summary ==\n  targets met %u, missed %u; wrong results from "
           "the map: %llu\n",
           checks_passed, checks_missed, (unsigned long long)wrong_count);
    fflush(stdout);
}

void report_default_path(char *buf, size_t len, const char *dir)
{
    char when[32];
    strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", gmtime(&stamp.start));
    snprintf(buf, len, "%s/steadymap-bench-%s-%.12s%s.json", dir, when,
             stamp.commit, stamp.dirty ? "-modified" : "");
}

/* ---- JSON ----------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* JSON has no NaN or infinity; a number that is not finite is written null. */
static void json_number(FILE *f, double v)
{
    if (v != v || v > 1e308 || v < -1e308)
        fputs("null", f);
    else
        fprintf(f, "%.6g", v);
}

static void json_kv_string(FILE *f, const char *k, const char *v, int comma)
{
    fprintf(f, "    ");
    json_string(f, k);
    fputs(": ", f);
    json_string(f, v);
    fputs(comma ? ",\n" : "\n", f);
}

static void json_kv_u64(FILE *f, const char *k, uint64_t v, int comma)
{
    fprintf(f, "    ");
    json_string(f, k);
    fprintf(f, ": %llu%s\n", (unsigned long long)v, comma ? "," : "");
}

static void make_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0777);
            *p = '/';
        }
    }
}

int report_write_file(const char *path, const bench_options *o, int argc,
                      char **argv)
{
    make_dirs(path);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    char cmd[1024] = "";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
        if (i + 1 < argc)
            strcat(cmd, " ");
    }
    fputs("{\n  \"program\": \"steadymap-bench\",\n  \"stamp\": {\n", f);
    json_kv_string(f, "library_version", SM_VERSION_STRING, 1);
    json_kv_string(f, "commit", stamp.commit, 1);
    fprintf(f, "    \"tree_modified\": %s,\n", stamp.dirty ? "true" : "false");
    json_kv_string(f, "date", stamp.date, 1);
    json_kv_string(f, "compiler", compiler(), 1);
    json_kv_string(f, "build_type", SM_BENCH_BUILD_TYPE, 1);
    json_kv_string(f, "c_flags", SM_BENCH_C_FLAGS, 1);
    json_kv_string(f, "cpu", stamp.cpu, 1);
    json_kv_u64(f, "cpus_online", (uint64_t)stamp.cpus, 1);
    json_kv_string(f, "kernel", stamp.kernel, 1);
    json_kv_string(f, "thp_enabled", stamp.thp, 1);
    json_kv_string(f, "thp_defrag", stamp.thp_defrag, 1);
    json_kv_string(f, "clocksource", stamp.clocksource, 1);
    json_kv_string(f, "loadavg_at_start", stamp.loadavg, 0);
    fputs("  },\n  \"options\": {\n", f);
    json_kv_string(f, "command", cmd, 1);
    json_kv_u64(f, "big_keys", o->big_keys, 1);
    json_kv_u64(f, "small_keys", o->small_keys, 1);
    json_kv_u64(f, "growth_keys", o->growth_keys, 1);
    json_kv_u64(f, "memory_keys", o->memory_keys, 1);
    json_kv_u64(f, "memory_keep", o->memory_keep, 1);
    json_kv_u64(f, "ops", o->ops, 1);
    json_kv_u64(f, "seed", o->seed, 1);
    json_kv_u64(f, "quick", (uint64_t)o->quick, 1);
    json_kv_u64(f, "smoke", (uint64_t)o->smoke, 0);
    fputs("  },\n  \"sections\": [", f);

    int open = 0, first_in_section = 1;
    for (size_t i = 0; i < n_items; i++) {
        const item *it = &items[i];
        if (it->kind == ITEM_SECTION) {
            fputs(open ? "\n    ]},\n" : "\n", f);
            fputs("    {\"id\": ", f);
            json_string(f, it->name);
            fputs(", \"title\": ", f);
            json_string(f, it->text);
            fputs(", \"items\": [", f);
            open = 1;
            first_in_section = 1;
            continue;
        }
        if (!open)
            continue;
        fputs(first_in_section ? "\n      " : ",\n      ", f);
        first_in_section = 0;
        switch (it->kind) {
        case ITEM_NOTE:
            fputs("{\"note\": ", f);
            json_string(f, it->text);
            fputs("}", f);
            break;
        case ITEM_VALUE:
            fputs("{\"value\": ", f);
            json_string(f, it->name);
            fputs(", \"number\": ", f);
            json_number(f, it->value);
            fputs(", \"unit\": ", f);
            json_string(f, it->unit);
            fputs(", \"label\": ", f);
            json_string(f, it->text);
            fputs("}", f);
            break;
        case ITEM_CHECK:
            fputs("{\"check\": ", f);
            json_string(f, it->name);
            fputs(", \"measured\": ", f);
            json_number(f, it->value);
            fputs(", \"limit\": ", f);
            json_number(f, it->limit);
            fputs(", \"unit\": ", f);
            json_string(f, it->unit);
            fputs(", \"ratio\": ", f);
            json_number(f, it->limit > 0 ? it->value / it->limit : 0.0);
            fprintf(f, ", \"met\": %s, \"how\": ", it->met ? "true" : "false");
            json_string(f, it->text);
            fputs("}", f);
            break;
        case ITEM_SECTION:
            break;
        }
    }
    fputs(open ? "\n    ]}\n  ],\n" : "],\n", f);
    fprintf(f, "  \"targets_met\": %u,\n  \"targets_missed\": %u,\n"
               "  \"wrong_results\": %llu\n}\n",
            checks_passed, checks_missed, (unsigned long long)wrong_count);
    return fclose(f) == 0 ? 0 : -1;
}
