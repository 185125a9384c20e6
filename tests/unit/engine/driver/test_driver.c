/* Unit tests for engine/driver/driver.c: the dispatcher validates once and turns a
 * NULL slot into the "unsupported" error; the test driver's state machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "core/fs.h"

static bool fake_start(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    return true;
}

/* A driver that implements only start. */
static const struct mb_driver sparse = {
    .name = "sparse",
    .scope = "sparse",
    .start = fake_start,
};

static const struct mb_instance inst = {.name = "a", .dir = "/nonexistent", .cpus = 1,
                                        .memory = 1 << 30};

static void expect_unsupported(mb_error *err, const char *op)
{
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_UNSUPPORTED);
    char want[128];
    snprintf(want, sizeof want, "unsupported: %s is not supported by the sparse driver", op);
    assert_non_null(strstr(err->message, want));
    mb_error_free(err);
}

static void test_null_slots_are_unsupported(void **state)
{
    mb_error *err = NULL;
    assert_true(mb_driver_start(&sparse, &inst, 0, &err));
    assert_null(err);

    assert_false(mb_driver_create(&sparse, &inst, 0, &err));
    expect_unsupported(err, "create");
    err = NULL;
    assert_false(mb_driver_suspend(&sparse, &inst, 0, &err));
    expect_unsupported(err, "suspend");
    err = NULL;
    assert_false(mb_driver_shutdown(&sparse, &inst, 10, MB_FORCE, &err));
    expect_unsupported(err, "shutdown");
    err = NULL;
    assert_int_equal(mb_driver_state(&sparse, &inst, 0, &err), MB_STATE_UNKNOWN);
    expect_unsupported(err, "state");
    err = NULL;
    assert_null(mb_driver_snapshot_list(&sparse, &inst, 0, &err));
    expect_unsupported(err, "snapshot list");
    err = NULL;
    assert_null(mb_driver_networks(&sparse, 0, &err));
    expect_unsupported(err, "networks");
    err = NULL;
    struct mb_mount_spec m = {"/srv", "t0", false, false};
    assert_false(mb_driver_mount_native(&sparse, &inst, &m, 0, &err));
    assert_non_null(strstr(err->message, "try: --type classic"));
    expect_unsupported(err, "mount_native");
}

static void test_arguments_validated_once(void **state)
{
    mb_error *err = NULL;
    struct mb_instance noname = {.dir = "/x"};
    assert_false(mb_driver_start(&sparse, &noname, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_start(NULL, &inst, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    const struct mb_driver *t = mb_driver_find("test", &err);
    struct mb_instance zero = {.name = "a", .dir = "/x", .cpus = 0, .memory = 1};
    assert_false(mb_driver_create(t, &zero, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_snapshot_take(t, &inst, "../x", 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

static void test_find(void **state)
{
    mb_error *err = NULL;
    const struct mb_driver *t = mb_driver_find("test", &err);
    assert_non_null(t);
    assert_string_equal(t->scope, "test");
    assert_true(mb_driver_has_capability(t, "snapshots"));
    assert_false(mb_driver_has_capability(t, "teleport"));
    assert_null(mb_driver_find("vmware", &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

static void test_test_driver_state_machine(void **state)
{
    char dir[] = "/tmp/mb-test-driver-XXXXXX";
    assert_non_null(mkdtemp(dir));
    mb_error *err = NULL;
    const struct mb_driver *t = mb_driver_find("test", &err);
    struct mb_instance i = {.name = "vm", .dir = dir, .cpus = 1, .memory = 1 << 30,
                            .disk_size = 1 << 20};
    assert_int_equal(mb_driver_state(t, &i, 0, &err), MB_STATE_ABSENT);
    assert_true(mb_driver_create(t, &i, 0, &err));
    assert_int_equal(mb_driver_state(t, &i, 0, &err), MB_STATE_STOPPED);
    assert_false(mb_driver_shutdown(t, &i, 1, 0, &err)); /* cannot stop a stopped one */
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_suspend(t, &i, 0, &err)); /* suspend needs running */
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    err = NULL;
    assert_true(mb_driver_start(t, &i, 0, &err));
    assert_false(mb_driver_start(t, &i, 0, &err));
    mb_error_free(err);
    err = NULL;
    assert_true(mb_driver_suspend(t, &i, 0, &err));
    assert_int_equal(mb_driver_state(t, &i, 0, &err), MB_STATE_SUSPENDED);
    assert_true(mb_driver_resume(t, &i, 0, &err));
    assert_true(mb_driver_shutdown(t, &i, 1, 0, &err));
    assert_true(mb_driver_destroy(t, &i, 0, &err));
    assert_int_equal(mb_driver_state(t, &i, 0, &err), MB_STATE_ABSENT);
    assert_null(err);
    mb_fs_rmtree(dir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_slots_are_unsupported),
        cmocka_unit_test(test_arguments_validated_once),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_test_driver_state_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
