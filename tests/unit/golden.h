/* Golden files for the unit tests (libvirt's tests/qemuxml2argvdata idea): a
 * spec in, the exact text out, compared with tests/golden/<group>/<file>.
 * MB_UPDATE_GOLDEN=1 rewrites the file instead (review the diff before
 * committing it); MB_GOLDEN_DIR=<dir> reads <dir>/<file> instead. Include
 * after <cmocka.h>. */
#ifndef MB_TEST_GOLDEN_H
#define MB_TEST_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tests/, found from this header's path (CMake compiles the tests by
 * absolute path, so __FILE__ is absolute). */
static inline void mb_golden_path(char *buf, size_t n, const char *group, const char *file)
{
    const char *env = getenv("MB_GOLDEN_DIR");
    if (env) {
        if (snprintf(buf, n, "%s/%s", env, file) >= (int)n)
            fail_msg("MB_GOLDEN_DIR too long");
        return;
    }
    char src[4096];
    snprintf(src, sizeof src, "%s", __FILE__);
    char *cut = strstr(src, "/unit/golden.h");
    assert_non_null(cut);
    *cut = '\0';
    if (snprintf(buf, n, "%s/golden/%s/%s", src, group, file) >= (int)n)
        fail_msg("golden path too long");
}

static inline char *mb_golden_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

/* Fails the test when got differs from tests/golden/<group>/<file>;
 * what says what got is ("argv of case plain"). */
static inline void mb_golden_check(const char *group, const char *file, const char *what,
                                   const char *got)
{
    char path[4096];
    mb_golden_path(path, sizeof path, group, file);
    const char *update = getenv("MB_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
        print_message("rewrote %s\n", path);
        return;
    }
    char *want = mb_golden_slurp(path);
    if (want == NULL)
        fail_msg("%s missing (run with MB_UPDATE_GOLDEN=1 to create it)", path);
    if (strcmp(got, want) != 0)
        fail_msg("%s differs from %s:\n--- got ---\n%s--- want ---\n%s", what, path, got, want);
    free(want);
}

#endif
