/* Unit tests for engine/core/fs.c: atomic writes survive a crash before the
 * rename; locks exclude each other across processes; tails of logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fs.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-test-fs-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    return mb_fs_rmtree(dir, NULL) ? 0 : -1;
}

static void crash_now(const char *tmp)
{
    _exit(77); /* as if the machine died between write and rename */
}

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
            n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_atomic_write_roundtrip(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.json", dir);
    mb_error *err = NULL;
    assert_true(mb_fs_write_atomic(path, "{\"v\":1}", 7, 0600, &err));
    assert_true(mb_fs_write_atomic(path, "{\"v\":2}", 7, 0600, &err));
    size_t len;
    char *s = mb_fs_read(path, &len, &err);
    assert_non_null(s);
    assert_string_equal(s, "{\"v\":2}");
    assert_int_equal(len, 7);
    free(s);
    assert_int_equal(count_entries(dir), 1); /* no temporary left behind */
}

static void test_crash_before_rename_keeps_old_file(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/b.json", dir);
    assert_true(mb_fs_write_atomic(path, "old", 3, 0644, NULL));
    pid_t pid = fork();
    if (pid == 0) {
        mb_fs_before_rename_hook = crash_now;
        mb_fs_write_atomic(path, "new-and-longer", 14, 0644, NULL);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 77); /* it really crashed mid-write */
    char *s = mb_fs_read(path, NULL, NULL);
    assert_string_equal(s, "old");
    free(s);
}

static void test_write_into_missing_dir_fails_cleanly(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/missing/c.json", dir);
    mb_error *err = NULL;
    assert_false(mb_fs_write_atomic(path, "x", 1, 0644, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
}

static void test_lock_contention(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/lock", dir);
    mb_error *err = NULL;
    int fd = mb_lock_acquire(path, 0, -1, &err);
    assert_true(fd >= 0);
    /* another process cannot take it without waiting ... */
    pid_t pid = fork();
    if (pid == 0) {
        mb_error *e = NULL;
        int f = mb_lock_acquire(path, MB_LOCK_NOWAIT, 0, &e);
        _exit(f < 0 && e && e->code == MB_ERR_STATE ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    /* ... and a bounded wait times out */
    pid = fork();
    if (pid == 0) {
        mb_error *e = NULL;
        int f = mb_lock_acquire(path, 0, 0.2, &e);
        _exit(f < 0 && e && strstr(e->message, "busy") ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    /* shared locks do not exclude each other, but do exclude the writer */
    mb_lock_release(fd);
    int s1 = mb_lock_acquire(path, MB_LOCK_SHARED, -1, &err);
    int s2 = mb_lock_acquire(path, MB_LOCK_SHARED | MB_LOCK_NOWAIT, 0, &err);
    assert_true(s1 >= 0 && s2 >= 0);
    pid = fork();
    if (pid == 0)
        _exit(mb_lock_acquire(path, MB_LOCK_NOWAIT, 0, NULL) < 0 ? 0 : 1);
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    mb_lock_release(s1);
    mb_lock_release(s2);
    /* released: a waiter gets it */
    pid = fork();
    if (pid == 0)
        _exit(mb_lock_acquire(path, 0, 1.0, NULL) >= 0 ? 0 : 1);
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_mkdirs_and_rmtree(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/x/y/z", dir);
    mb_error *err = NULL;
    assert_true(mb_fs_mkdirs(path, 0755, &err));
    assert_true(mb_fs_mkdirs(path, 0755, &err)); /* idempotent */
    snprintf(path, sizeof path, "%s/x", dir);
    assert_true(mb_fs_rmtree(path, &err));
    assert_int_equal(access(path, F_OK), -1);
    assert_true(mb_fs_rmtree(path, &err)); /* missing is fine */
}

static void touch(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
}

static bool present(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* What a killed writer left is removed; a live writer's file, and anything
 * that only looks like one, stays (mb_fs_sweep_tmp). */
static void test_sweep_tmp(void **state)
{
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0); /* gone, and not reused this soon */
    char gone[128], live[128], mine[128];
    snprintf(gone, sizeof gone, ".instance.json.tmp.%d.2", (int)dead);
    snprintf(live, sizeof live, ".instance.json.tmp.1.2"); /* init never exits */
    snprintf(mine, sizeof mine, ".settings.json.tmp.%d.1", (int)getpid());
    const char *keep[] = {live, mine, "instance.json", ".tmp.99999999.1",
                          ".x.tmp.99999999.1a", ".x.tmp.99999999", "x.tmp.99999999.1"};
    touch(gone);
    for (size_t k = 0; k < sizeof keep / sizeof *keep; k++)
        touch(keep[k]);
    mb_fs_sweep_tmp(dir);
    assert_false(present(gone));
    for (size_t k = 0; k < sizeof keep / sizeof *keep; k++)
        assert_true(present(keep[k]));
    mb_fs_sweep_tmp("/nonexistent/dir"); /* nothing to do, no crash */
}

/* The end of a console log, for error messages (mb_fs_tail). */
static void test_tail(void **state)
{
    char path[300];
    snprintf(path, sizeof path, "%s/serial.log", dir);
    FILE *f = fopen(path, "w");
    for (int k = 1; k <= 10; k++)
        fprintf(f, "line %d\n", k);
    fclose(f);
    char *t = mb_fs_tail(path, 4096, 3);
    assert_string_equal(t, "line 8\nline 9\nline 10\n");
    free(t);
    t = mb_fs_tail(path, 9, 0);
    assert_string_equal(t, "\nline 10\n");
    free(t);
    t = mb_fs_tail(path, 4096, 0);
    assert_int_equal(strlen(t), 71);
    free(t);
    t = mb_fs_tail("/nonexistent/serial.log", 100, 3);
    assert_string_equal(t, "");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_write_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_before_rename_keeps_old_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_into_missing_dir_fails_cleanly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lock_contention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs_and_rmtree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_tmp, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
