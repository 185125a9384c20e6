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

static bool fake_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    return true;
}

static bool fake_mount(struct mb_conn *c, const struct mb_instance *i,
                       const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return true;
}

static const struct mb_setting fake_settings[] = {
    {"local.sparse.colour", "colour", MB_SETTING_ENUM, "blue", NULL, "a colour", 0},
    {NULL},
};

/* A driver that implements only start. */
static const struct mb_driver sparse = {
    .name = "sparse",
    .scope = "sparse",
    .settings = fake_settings,
    .start = fake_start,
};

static struct mb_conn sparse_conn = {.driver = &sparse};

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
    struct mb_conn *c = &sparse_conn;
    mb_error *err = NULL;
    assert_true(mb_driver_start(c, &inst, 0, &err));
    assert_null(err);

    assert_false(mb_driver_create(c, &inst, 0, &err));
    expect_unsupported(err, "create");
    err = NULL;
    assert_false(mb_driver_suspend(c, &inst, 0, &err));
    expect_unsupported(err, "suspend");
    err = NULL;
    assert_false(mb_driver_shutdown(c, &inst, 10, MB_FORCE, &err));
    expect_unsupported(err, "shutdown");
    err = NULL;
    assert_int_equal(mb_driver_state(c, &inst, NULL, 0, &err), MB_STATE_UNKNOWN);
    expect_unsupported(err, "state");
    err = NULL;
    assert_null(mb_driver_snapshot_list(c, &inst, 0, &err));
    expect_unsupported(err, "snapshot list");
    err = NULL;
    assert_null(mb_driver_networks(c, 0, &err));
    expect_unsupported(err, "networks");
    err = NULL;
    int status;
    struct mb_exec x = {.argv = NULL, .fds = {0, 1, 2}};
    assert_false(mb_driver_exec(c, &inst, &x, &status, 0, &err));
    expect_unsupported(err, "exec");
    err = NULL;
    struct mb_address a;
    assert_false(mb_driver_ssh_address(c, &inst, &a, 0, &err));
    expect_unsupported(err, "ssh_address");
    err = NULL;
    struct mb_instance other = {.name = "b", .dir = "/nonexistent-b"};
    assert_false(mb_driver_rename(c, &inst, &other, 0, &err));
    expect_unsupported(err, "rename");
    err = NULL;
    assert_false(mb_driver_clone(c, &inst, &other, 0, &err));
    expect_unsupported(err, "clone");
    err = NULL;
    struct mb_mount_spec m = {"/srv", "t0", false, false, NULL};
    assert_false(mb_driver_mount_native(c, &inst, &m, 0, &err));
    assert_non_null(strstr(err->message, "try: --type classic"));
    expect_unsupported(err, "mount_native");
    /* no net_backend slot: the engine's networks */
    assert_int_equal(mb_driver_net_backend(c, NULL, 0, NULL), MB_NET_ENGINE);
}

static void test_arguments_validated_once(void **state)
{
    mb_error *err = NULL;
    struct mb_instance noname = {.dir = "/x"};
    assert_false(mb_driver_start(&sparse_conn, &noname, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_start(NULL, &inst, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    struct mb_conn *t = mb_driver_open(mb_driver_find("test", &err), NULL, 0, &err);
    assert_non_null(t);
    struct mb_instance zero = {.name = "a", .dir = "/x", .cpus = 0, .memory = 1};
    assert_false(mb_driver_create(t, &zero, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    /* snapshot tags go into file names, qemu-img's argv and libvirt's XML */
    const char *bad[] = {"../x", "", "-c", ".hidden", "a b", "a'b", "<x>", "a/b",
                         "0123456789012345678901234567890123456789012345678901234567890123X"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_false(mb_driver_snapshot_take(t, &inst, bad[k], 0, &err));
        assert_int_equal(err->code, MB_ERR_USAGE);
        mb_error_free(err);
        err = NULL;
    }
    assert_false(mb_driver_rename(t, &inst, NULL, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    struct mb_instance same = inst;
    assert_false(mb_driver_clone(t, &inst, &same, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    mb_driver_close(t);
}

/* Each operation takes its own flags and no other (libvirt's virCheckFlags). */
static void test_flags_checked(void **state)
{
    mb_error *err = NULL;
    struct mb_conn *t = mb_driver_open(mb_driver_find("test", &err), NULL, 0, &err);
    assert_false(mb_driver_start(t, &inst, MB_FORCE, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "start: unknown flags 0x1"));
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_shutdown(t, &inst, 1, MB_KEEP_DISKS, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_destroy(t, &inst, MB_FORCE | MB_KEEP_DISKS, &err));
    assert_non_null(strstr(err->message, "destroy: unknown flags 0x1"));
    mb_error_free(err);
    err = NULL;
    assert_int_equal(mb_driver_state(t, &inst, NULL, MB_EXEC_TTY, &err), MB_STATE_UNKNOWN);
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    int status;
    struct mb_exec x = {.argv = NULL, .fds = {0, 1, 2}};
    assert_false(mb_driver_exec(t, &inst, &x, &status, MB_FORCE, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_snapshot_take(t, &inst, "ok", MB_FORCE, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_suspend(t, &inst, MB_KEEP_DISKS, &err)); /* MB_PAUSE only */
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    /* an unsupported slot with bad flags: the flags are the caller's mistake */
    assert_false(mb_driver_suspend(&sparse_conn, &inst, MB_FORCE, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    mb_driver_close(t);
}

static void test_find(void **state)
{
    mb_error *err = NULL;
    const struct mb_driver *t = mb_driver_find("test", &err);
    assert_non_null(t);
    assert_string_equal(t->scope, "test");
    assert_true(mb_driver_has_capability(t, "snapshots"));
    assert_true(mb_driver_has_capability(t, "exec"));
    assert_false(mb_driver_has_capability(t, "ssh"));
    assert_false(mb_driver_has_capability(t, "teleport"));
    assert_null(mb_driver_find("vmware", &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "try: qemu, libvirt, lxd or test"));
    mb_error_free(err);
    err = NULL;
    const struct mb_driver *q = mb_driver_find("qemu", &err);
    assert_true(mb_driver_has_capability(q, "ssh"));
    assert_true(mb_driver_has_capability(q, "watch"));
    assert_false(mb_driver_has_capability(q, "exec"));
    /* lxd, in the plugin (its objects are linked into this test) */
    const struct mb_driver *l = mb_driver_find("lxd", &err);
    assert_non_null(l);
    assert_string_equal(l->scope, "lxd");
    const char *want[] = {"ssh",         "watch",     "networks",    "native_mounts",
                          "suspend",     "trust",     "bridge_nics", "mounts_in_place",
                          "snapshots",   "clone",     "rename",      "resize_disk"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        assert_true(mb_driver_has_capability(l, want[k]));
    assert_false(mb_driver_has_capability(l, "exec"));
}

/* Capabilities come from the filled slots, so the two cannot disagree. */
static void test_capabilities_from_slots(void **state)
{
    const char *caps[16];
    assert_int_equal(mb_driver_capabilities(&sparse, caps, 16), 0);
    struct mb_driver half = sparse;
    half.mount_native = fake_mount;
    assert_false(mb_driver_has_capability(&half, "native_mounts")); /* no umount_native */
    const struct mb_driver *t = mb_driver_find("test", NULL);
    size_t n = mb_driver_capabilities(t, caps, 16);
    for (size_t k = 0; k < n; k++)
        assert_true(mb_driver_has_capability(t, caps[k]));
}

static void test_config(void **state)
{
    mb_error *err = NULL;
    const char *const ok[] = {"colour=red", NULL}, *const bad[] = {"size=3", NULL};
    struct mb_conn *c = mb_driver_open(&sparse, ok, 0, &err);
    assert_non_null(c);
    assert_string_equal(mb_conn_config(c, "colour"), "red");
    assert_null(mb_conn_config(c, "size"));
    mb_driver_close(c);
    c = mb_driver_open(&sparse, NULL, 0, &err);
    assert_string_equal(mb_conn_config(c, "colour"), "blue"); /* the default */
    mb_driver_close(c);
    assert_null(mb_driver_open(&sparse, bad, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "the sparse driver has no setting \"size\""));
    mb_error_free(err);
}

/* What the LXD driver added to the table, as every driver sees it. */
static void test_table_additions(void **state)
{
    mb_error *err = NULL;
    /* image_format: NULL slot is "disk"; trust: NULL slot is unsupported */
    assert_string_equal(mb_driver_image_format(&sparse_conn, 0, &err), "disk");
    char *trusted = NULL;
    assert_false(mb_driver_trust(&sparse_conn, NULL, "t0ken", &trusted, 0, &err));
    expect_unsupported(err, "trust");
    err = NULL;
    /* create takes MB_PROGRESS, start does not */
    assert_false(mb_driver_create(&sparse_conn, &inst, MB_PROGRESS | MB_FORCE, &err));
    assert_non_null(strstr(err->message, "create: unknown flags 0x1"));
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_start(&sparse_conn, &inst, MB_PROGRESS, &err));
    assert_non_null(strstr(err->message, "start: unknown flags 0x20"));
    mb_error_free(err);
    err = NULL;
    /* the identity facts are capabilities; mounts_in_place needs the slot too */
    struct mb_driver lxdish = sparse;
    lxdish.bridge_nics = true;
    lxdish.mounts_in_place = true;
    assert_true(mb_driver_has_capability(&lxdish, "bridge_nics"));
    assert_false(mb_driver_has_capability(&lxdish, "mounts_in_place"));
    lxdish.mount_native = fake_mount;
    lxdish.umount_native = fake_mount;
    assert_true(mb_driver_has_capability(&lxdish, "mounts_in_place"));
    assert_false(mb_driver_has_capability(&sparse, "bridge_nics"));
    /* a driver that mounts in place needs the target */
    struct mb_conn c = {.driver = &lxdish};
    struct mb_mount_spec m = {"/srv", "moonbase0", false, false, NULL};
    assert_false(mb_driver_mount_native(&c, &inst, &m, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "needs an absolute target"));
    mb_error_free(err);
    err = NULL;
    m.target = "/srv/data";
    assert_true(mb_driver_mount_native(&c, &inst, &m, 0, &err));
    /* every driver may be given a state directory, whatever its settings */
    const char *const cfg[] = {"state-dir=/var/lib/x", "colour=red", NULL};
    struct mb_conn *o = mb_driver_open(&sparse, cfg, 0, &err);
    assert_non_null(o);
    assert_string_equal(mb_conn_config(o, MB_CONN_STATE_DIR), "/var/lib/x");
    mb_driver_close(o);
}

static void test_test_driver_state_machine(void **state)
{
    char dir[] = "/tmp/mb-test-driver-XXXXXX";
    assert_non_null(mkdtemp(dir));
    mb_error *err = NULL;
    struct mb_conn *t = mb_driver_open(mb_driver_find("test", &err), NULL, 0, &err);
    struct mb_instance i = {.name = "vm", .dir = dir, .cpus = 1, .memory = 1 << 30,
                            .disk_size = 1 << 20};
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_ABSENT);
    if (!mb_driver_create(t, &i, 0, &err))
        fail_msg("create: %s", err->message);
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_STOPPED);
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
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_SUSPENDED);
    assert_true(mb_driver_resume(t, &i, 0, &err));
    assert_true(mb_driver_shutdown(t, &i, 1, 0, &err));
    assert_true(mb_driver_destroy(t, &i, 0, &err));
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_ABSENT);
    assert_null(err);
    mb_driver_close(t);
    mb_fs_rmtree(dir, NULL);
}

static size_t count(struct mb_snapshot *v)
{
    size_t n = 0;
    while (v && v[n].name)
        n++;
    return n;
}

/* Snapshots as real drivers keep them: a running one holds memory, and
 * restoring it leaves the instance suspended until a start resumes it; the
 * snapshot a pending resume needs cannot be deleted; pause is a suspend in
 * memory. Clone and rename need the instance stopped. */
static void test_test_driver_snapshots(void **state)
{
    char dir[] = "/tmp/mb-test-driver-XXXXXX", cdir[300], rdir[300];
    assert_non_null(mkdtemp(dir));
    snprintf(cdir, sizeof cdir, "%s-clone", dir);
    snprintf(rdir, sizeof rdir, "%s-renamed", dir);
    mb_error *err = NULL;
    struct mb_conn *t = mb_driver_open(mb_driver_find("test", &err), NULL, 0, &err);
    struct mb_instance i = {.name = "vm", .dir = dir, .cpus = 1, .memory = 1 << 30,
                            .disk_size = 1 << 20};
    struct mb_instance c = {.name = "vm2", .dir = cdir, .cpus = 1, .memory = 1 << 30};
    if (!mb_driver_create(t, &i, 0, &err))
        fail_msg("create: %s", err->message);
    assert_true(mb_driver_snapshot_take(t, &i, "cold", 0, &err));
    assert_true(mb_driver_start(t, &i, 0, &err));
    assert_true(mb_driver_snapshot_take(t, &i, "hot", 0, &err));
    assert_false(mb_driver_snapshot_take(t, &i, "hot", 0, &err));
    assert_int_equal(err->code, MB_ERR_EXISTS);
    mb_error_free(err);
    err = NULL;
    struct mb_snapshot *v = mb_driver_snapshot_list(t, &i, 0, &err);
    assert_int_equal(count(v), 2);
    for (size_t k = 0; k < 2; k++)
        assert_int_equal(v[k].memory, strcmp(v[k].name, "hot") == 0);
    mb_snapshots_free(v);

    assert_false(mb_driver_clone(t, &i, &c, 0, &err)); /* running */
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_driver_snapshot_restore(t, &i, "hot", 0, &err)); /* running */
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    err = NULL;

    assert_true(mb_driver_suspend(t, &i, MB_PAUSE, &err));
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_SUSPENDED);
    assert_true(mb_driver_snapshot_take(t, &i, "paused", 0, &err)); /* a paused group */
    assert_true(mb_driver_resume(t, &i, 0, &err));
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_RUNNING);

    assert_true(mb_driver_shutdown(t, &i, 1, MB_FORCE, &err));
    assert_true(mb_driver_snapshot_restore(t, &i, "hot", 0, &err));
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_SUSPENDED);
    assert_false(mb_driver_snapshot_delete(t, &i, "hot", 0, &err));
    assert_int_equal(err->code, MB_ERR_STATE);
    assert_non_null(strstr(err->message, "resumes from snapshot"));
    mb_error_free(err);
    err = NULL;
    assert_true(mb_driver_start(t, &i, 0, &err));
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_RUNNING);
    assert_true(mb_driver_snapshot_delete(t, &i, "hot", 0, &err));

    assert_true(mb_driver_shutdown(t, &i, 1, 0, &err));
    assert_true(mb_driver_snapshot_restore(t, &i, "cold", 0, &err));
    assert_int_equal(mb_driver_state(t, &i, NULL, 0, &err), MB_STATE_STOPPED);
    assert_false(mb_driver_snapshot_restore(t, &i, "gone", 0, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
    err = NULL;
    assert_true(mb_driver_clone(t, &i, &c, 0, &err));
    assert_int_equal(mb_driver_state(t, &c, NULL, 0, &err), MB_STATE_STOPPED);
    v = mb_driver_snapshot_list(t, &c, 0, &err);
    assert_int_equal(count(v), 0); /* a clone has none of the source's snapshots */
    mb_snapshots_free(v);
    struct mb_instance r = {.name = "vm3", .dir = rdir, .cpus = 1, .memory = 1 << 30};
    assert_true(mb_driver_rename(t, &i, &r, 0, &err));
    assert_true(mb_driver_start(t, &i, 0, &err));
    assert_false(mb_driver_rename(t, &i, &r, 0, &err)); /* running */
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    mb_driver_close(t);
    mb_fs_rmtree(dir, NULL);
    mb_fs_rmtree(cdir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_slots_are_unsupported),
        cmocka_unit_test(test_arguments_validated_once),
        cmocka_unit_test(test_flags_checked),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_capabilities_from_slots),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_table_additions),
        cmocka_unit_test(test_test_driver_state_machine),
        cmocka_unit_test(test_test_driver_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
