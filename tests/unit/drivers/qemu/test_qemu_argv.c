/* Golden-file tests for drivers/qemu/qemu_argv.c: fixed instance specs in,
 * the exact QEMU argv out, compared with tests/golden/qemu/<case>.args (one
 * argument per line). MB_UPDATE_GOLDEN=1 rewrites the files instead; review
 * the diff before committing it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/qemu/qemu_argv.h"
#include "golden.h"

#define DIR1 "/var/lib/moonbase/instances/qemu/vm1"

static const struct mb_qemu_host tcg = {"qemu-system-x86_64", "tcg", "max", NULL};
static const struct mb_qemu_host kvm = {"/usr/bin/qemu-system-x86_64", "kvm", "host", NULL};

static char *join_lines(char **argv)
{
    size_t n = 1;
    for (char **a = argv; *a; a++)
        n += strlen(*a) + 1;
    char *s = malloc(n), *p = s;
    for (char **a = argv; *a; a++)
        p += sprintf(p, "%s\n", *a);
    *p = '\0';
    return s;
}

/* What every case starts from: the seed, restrict=on. */
#define SEED1 DIR1 "/cidata.iso"

static void check_golden_opts(const char *name, const struct mb_instance *inst,
                              const struct mb_qemu_host *host, const struct mb_qemu_opts *o)
{
    mb_error *err = NULL;
    char **argv = mb_qemu_argv(inst, host, o, &err);
    if (argv == NULL)
        fail_msg("%s: %s", name, err->message);
    char *got = join_lines(argv);
    char file[256], what[300];
    snprintf(file, sizeof file, "%s.args", name);
    snprintf(what, sizeof what, "argv of case %s", name);
    mb_golden_check("qemu", file, what, got);
    free(got);
    mb_strv_free(argv);
}

static void check_golden(const char *name, const struct mb_instance *inst,
                         const struct mb_qemu_host *host, const char *incoming)
{
    struct mb_qemu_opts o = {SEED1, incoming, NULL, true};
    check_golden_opts(name, inst, host, &o);
}

static const struct mb_nic user_nic = {.attach = MB_NIC_USER, .mac = "52:54:00:12:34:56",
                                       .host_port = 50022};

/* The instance every case starts from: user networking with the SSH forward. */
static struct mb_instance base(void)
{
    return (struct mb_instance){
        .name = "vm1",
        .dir = DIR1,
        .image = {.path = "/var/cache/moonbase/images/abc/disk.qcow2"},
        .cpus = 2,
        .memory = 1024ull << 20,
        .disk_size = 5ull << 30,
        .nics = &user_nic,
        .n_nics = 1,
    };
}

static void test_plain(void **state)
{
    struct mb_instance i = base();
    check_golden("plain", &i, &tcg, NULL);
}

static void test_kernel_boot(void **state)
{
    struct mb_instance i = base();
    i.image.kernel = "/var/cache/moonbase/images/abc/vmlinuz";
    i.image.initrd = "/var/cache/moonbase/images/abc/initrd.img";
    i.image.cmdline = "root=/dev/vda console=ttyS0 quiet";
    i.memory = 256ull << 20;
    i.cpus = 1;
    check_golden("kernel", &i, &kvm, NULL);
}

static void test_tap_networks(void **state)
{
    static const struct mb_nic nics[] = {
        {"moonbase0", "52:54:00:12:34:56", "192.168.77.10/24", MB_NIC_TAP, "mbtap0", 0},
        {"backend", "52:54:00:00:01:01", "10.20.0.5", MB_NIC_TAP, "mbtap1", 0},
        {"storage", "52:54:00:00:02:01", NULL, MB_NIC_TAP, "mbtap2", 0},
    };
    struct mb_instance i = base();
    i.nics = nics;
    i.n_nics = 3;
    check_golden("tap-networks", &i, &tcg, NULL);
}

static void test_mounts(void **state)
{
    static const struct mb_mount_spec mounts[] = {
        {"/home/ada/src", "src", false, false, NULL},
        {"/srv/data, with a comma", "data", true, false, NULL},
        {"/root/shared", "rootshare", false, true, NULL},
    };
    struct mb_instance i = base();
    i.mounts = mounts;
    i.n_mounts = 3;
    check_golden("mounts", &i, &tcg, NULL);
}

static void test_resume(void **state)
{
    struct mb_instance i = base();
    check_golden("resume", &i, &tcg, DIR1 "/suspend.state");
}

/* A restored snapshot with memory: -loadvm TAG; never both kinds of resume. */
static void test_loadvm(void **state)
{
    struct mb_instance i = base();
    struct mb_qemu_opts o = {SEED1, NULL, "mb-20261203-1f2e3d4c", true};
    check_golden_opts("loadvm", &i, &tcg, &o);
    o.incoming = DIR1 "/suspend.state";
    mb_error *err = NULL;
    assert_null(mb_qemu_argv(&i, &tcg, &o, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

/* Every device has its address; more than one PCI bus holds is refused. */
static void test_pci_slots(void **state)
{
    static const struct mb_nic nics[] = {
        {"moonbase0", "52:54:00:12:34:56", NULL, MB_NIC_TAP, "mbtap0", 0},
        {"backend", "52:54:00:00:01:01", NULL, MB_NIC_TAP, "mbtap1", 0},
    };
    static const struct mb_mount_spec mounts[] = {{"/srv/a", "a", false, false, NULL}};
    struct mb_instance i = base();
    i.nics = nics;
    i.n_nics = 2;
    i.mounts = mounts;
    i.n_mounts = 1;
    struct mb_qemu_slots s;
    assert_true(mb_qemu_pci_slots(&i, true, &s, NULL));
    assert_int_equal(s.rng, 1);
    assert_int_equal(s.disk, 2);
    assert_int_equal(s.seed, 3);
    assert_int_equal(s.nic, 4);
    assert_int_equal(s.mounts_first, 6);
    assert_true(mb_qemu_pci_slots(&i, false, &s, NULL));
    assert_int_equal(s.seed, 0);
    assert_int_equal(s.nic, 3);
    i.n_nics = 0; /* no NIC given: QEMU's user networking still takes one slot */
    assert_true(mb_qemu_pci_slots(&i, true, &s, NULL));
    assert_int_equal(s.mounts_first, 5);

    static struct mb_mount_spec many[40];
    for (size_t k = 0; k < 40; k++)
        many[k] = (struct mb_mount_spec){"/srv/a", "a", false, false, NULL};
    i = base();
    i.mounts = many;
    i.n_mounts = 26; /* slots 5..30: the last that fits */
    assert_true(mb_qemu_pci_slots(&i, true, &s, NULL));
    i.n_mounts = 27;
    mb_error *err = NULL;
    assert_false(mb_qemu_pci_slots(&i, true, &s, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "too many"));
    mb_error_free(err);
}

/* A socket path over sun_path's 108 bytes goes relative to QEMU's cwd; a
 * quote in a path survives the shell of exec:. */
static void test_long_dir(void **state)
{
    struct mb_instance i = base();
    i.dir = "/home/someone-with-a-long-name/.local/share/moonbase/instances/qemu/"
            "an-instance-with-a-rather-long-name-it's";
    static const struct mb_nic no_mac = {.attach = MB_NIC_USER, .host_port = 50022};
    i.nics = &no_mac;
    struct mb_qemu_opts o = {NULL,
                             "/home/someone-with-a-long-name/.local/share/moonbase/instances/"
                             "qemu/an-instance-with-a-rather-long-name-it's/suspend.state",
                             NULL, false};
    check_golden_opts("long-dir", &i, &tcg, &o);
}

static void test_extra_net_without_tap(void **state)
{
    static const struct mb_nic nics[] = {
        {.attach = MB_NIC_USER, .mac = "52:54:00:12:34:56", .host_port = 50022},
        {"backend", "52:54:00:00:01:01", NULL, MB_NIC_TAP, NULL, 0},
    };
    struct mb_instance i = base();
    i.nics = nics;
    i.n_nics = 2;
    mb_error *err = NULL;
    assert_null(mb_qemu_argv(&i, &tcg, NULL, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "backend"));
    mb_error_free(err);
}

static void test_disk_drive_marker(void **state)
{
    struct mb_instance i = base();
    i.dir = "/a,b";
    char *d = mb_qemu_disk_drive(&i);
    assert_string_equal(d, "file=/a,,b/disk.qcow2,if=none,id=disk0,format=qcow2,discard=unmap");
    free(d);
    char *q = mb_qemu_shell_quote("it's");
    assert_string_equal(q, "'it'\\''s'");
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_kernel_boot),
        cmocka_unit_test(test_tap_networks),
        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_loadvm),
        cmocka_unit_test(test_pci_slots),
        cmocka_unit_test(test_long_dir),
        cmocka_unit_test(test_extra_net_without_tap),
        cmocka_unit_test(test_disk_drive_marker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
