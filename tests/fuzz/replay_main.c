/*
 * replay_main.c — run the fuzz target without libFuzzer: every file of the
 * corpus directories given on the command line, then --random N inputs from
 * a seeded generator (seed printed, SM_TEST_SEED overrides), so any compiler
 * and every sanitizer build exercise the same checks as the fuzzer does.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 1;
}

static size_t run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        exit(1);
    }
    size_t n = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n += run_file(path);
    }
    closedir(d);
    return n;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    size_t files = 0, randoms = 0;
    uint64_t seed = getenv("SM_TEST_SEED") ? strtoull(getenv("SM_TEST_SEED"), NULL, 0)
                                           : (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--random") == 0 && i + 1 < argc) {
            randoms = strtoull(argv[++i], NULL, 0);
        } else {
            files += run_dir(argv[i]);
        }
    }
    printf("replay: seed %llu (set SM_TEST_SEED to repeat)\n", (unsigned long long)seed);
    uint8_t buf[4096];
    uint64_t s = seed;
    for (size_t i = 0; i < randoms; i++) {
        size_t n = 64 + splitmix(&s) % (sizeof buf - 64);
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)splitmix(&s);
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("replay: %zu corpus files and %zu random inputs, 0 failures\n", files, randoms);
    return files == 0 ? 1 : 0;
}
