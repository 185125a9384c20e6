/* Unit tests for engine/core/unixsock.c: listen and connect by path, paths
 * longer than sun_path, a stale socket replaced, the errors callers turn
 * into their own messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/unixsock.h"

static char dir[512];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-test-unixsock-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    return mb_fs_rmtree(dir, NULL) ? 0 : -1;
}

/* One byte each way through a listening socket and a client of it. */
static void roundtrip(int lfd, const char *path)
{
    mb_error *err = NULL;
    int c = mb_unix_connect(path, &err);
    assert_null(err);
    assert_true(c >= 0);
    int a = accept(lfd, NULL, NULL);
    assert_true(a >= 0);
    assert_int_equal(write(c, "x", 1), 1);
    char b = 0;
    assert_int_equal(read(a, &b, 1), 1);
    assert_int_equal(b, 'x');
    close(a);
    close(c);
}

static void test_listen_connect(void **state)
{
    char path[600];
    snprintf(path, sizeof path, "%s/agent.sock", dir);
    mb_error *err = NULL;
    int l = mb_unix_listen(path, 4, &err);
    assert_null(err);
    assert_true(l >= 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0077, 0); /* the owner's only */
    roundtrip(l, path);
    close(l);
    /* the socket file a dead server left is replaced */
    l = mb_unix_listen(path, 4, &err);
    assert_null(err);
    assert_true(l >= 0);
    roundtrip(l, path);
    close(l);
}

/* Deeper than the 108 bytes of sun_path: reached through the directory. */
static void test_long_path(void **state)
{
    char deep[1100];
    snprintf(deep, sizeof deep, "%s/%s/%s", dir,
             "a-rather-long-home-directory-name-for-moonbase-instances",
             "data-instances-qemu-an-instance-with-a-long-name");
    assert_true(mb_fs_mkdirs(deep, 0755, NULL));
    char path[1200];
    snprintf(path, sizeof path, "%s/qmp.sock", deep);
    assert_true(strlen(path) > 108);
    mb_error *err = NULL;
    int l = mb_unix_listen(path, 4, &err);
    assert_null(err);
    assert_true(l >= 0);
    roundtrip(l, path);
    close(l);
}

static void test_errors(void **state)
{
    char path[600];
    snprintf(path, sizeof path, "%s/nobody.sock", dir);
    mb_error *err = NULL;
    assert_int_equal(mb_unix_connect(path, &err), -1);
    assert_int_equal(errno, ENOENT); /* left for callers' own messages */
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    assert_non_null(strstr(err->message, path));
    mb_error_free(err);
    /* a socket file nobody listens on any more */
    int l = mb_unix_listen(path, 4, NULL);
    assert_true(l >= 0);
    close(l);
    err = NULL;
    assert_int_equal(mb_unix_connect(path, &err), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    mb_error_free(err);
    /* no directory to listen in */
    snprintf(path, sizeof path, "%s/missing/agent.sock", dir);
    err = NULL;
    assert_int_equal(mb_unix_listen(path, 4, &err), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(err);
    assert_non_null(strstr(err->message, "cannot listen on"));
    mb_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listen_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
