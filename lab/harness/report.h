/*
 * report.h — everything a set of runs writes: terminal tables, one CSV, one
 * .hgrm per engine x scenario x load model, timeline/event/RSS data, gnuplot
 * scripts rendered to SVG and PNG, and an index.html that shows it all. The
 * folder is stamped (stamp.txt, the top of index.html and the CSV's comment
 * lines) with commit, compiler, CPU, clock, options and date.
 */
#ifndef LAB_REPORT_H
#define LAB_REPORT_H

#include <stdio.h>

#include "harness/run.h"

typedef struct lab_report {
    char dir[512];
    char command_line[1024];
    char options[1024];         /* the effective settings, spelled out */
    char stamp[4096];           /* "key: value" lines */
    lab_result **results;
    size_t n, cap;
    /* Scenarios run under a name the scenario list does not know (compare's
     * micro at 64 Mi keys); the report shows them after the listed ones. */
    const lab_scenario *extra[4];
    size_t nextra;
} lab_report;

/* Creates dir (and dir/hgrm, dir/data, dir/plots) and fills the stamp;
 * options is the effective settings in one line.
 * Returns 0, or -1 with a message on stderr. */
int lab_report_open(lab_report *rep, const char *dir, int argc, char **argv,
                    const char *options);

/* The report takes ownership of res. Returns 0, or -1 when out of memory. */
int lab_report_add(lab_report *rep, lab_result *res);

/* Prints the table of one scenario under one load model (nothing if the
 * report holds no such results). */
void lab_report_print_table(const lab_report *rep, const lab_scenario *sc,
                            lab_load_model model, FILE *out);

/* Makes the report show results of a scenario outside lab_scenarios_all().
 * sc must outlive the report. Returns 0, or -1 when there is no room. */
int lab_report_add_scenario(lab_report *rep, const lab_scenario *sc);

/* The same table as markdown (engines as rows: ops/s, p50 ... max, errors,
 * notes or why the engine could not run), for docs/BENCHMARKS.md. */
void lab_report_write_markdown(const lab_report *rep, const lab_scenario *sc,
                               lab_load_model model, FILE *out);

/* "812 ns", "1.25 ms"; "1.52M", "48.0k": the tables' number formats. */
const char *lab_format_ns(char *buf, size_t n, double ns);
const char *lab_format_rate(char *buf, size_t n, double per_s);

/* Writes every file; returns the number of files that could not be written
 * or rendered (they are also listed on stderr and in index.html). */
int lab_report_finish(lab_report *rep);

void lab_report_close(lab_report *rep);

#endif
