/* basic.c — one map, one key: insert, replace, look up, delete. */
#include <stdio.h>
#include <stdlib.h>

#include <steadymap.h>

/* Stops at the first result that is not what the contract promises. */
static void expect(int holds, int rc, const char *what)
{
    if (!holds) {
        fprintf(stderr, "basic: %s failed (%s)\n", what, sm_status_str(rc));
        exit(EXIT_FAILURE);
    }
}

int main(void)
{
    sm_map *m = sm_new(NULL); /* NULL: default options, random hash seed */
    if (m == NULL) {
        perror("sm_new");
        return EXIT_FAILURE;
    }
    uint64_t old = 0, value = 0;

    int rc = sm_put(m, 42, 1000, NULL);
    expect(rc == SM_OK, rc, "inserting 42");
    rc = sm_put(m, 42, 1001, &old);
    expect(rc == SM_REPLACED && old == 1000, rc, "replacing 42");
    rc = sm_get(m, 42, &value);
    expect(rc == SM_OK && value == 1001, rc, "looking 42 up");
    expect(sm_size(m) == 1, SM_OK, "counting one entry");
    rc = sm_delete(m, 42, &old);
    expect(rc == SM_OK && old == 1001, rc, "deleting 42");
    rc = sm_get(m, 42, NULL);
    expect(rc == SM_NOT_FOUND, rc, "looking the deleted key up");

    sm_destroy(m);
    puts("basic: every result as documented");
    return EXIT_SUCCESS;
}
