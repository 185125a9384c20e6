/* Golden-file tests for drivers/libvirt/libvirt_xml.c: fixed instance specs
 * in, the exact domain XML out, compared with tests/golden/libvirt/<case>.xml.
 * MB_UPDATE_GOLDEN=1 rewrites the files instead; review the diff before
 * committing it. Each XML is also checked against libvirt's own domain
 * schema (libvirt's built-in test:/// connection with
 * VIR_DOMAIN_DEFINE_VALIDATE), so no libvirtd is needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_xml.h"
#include "golden.h"

#define DIR1 "/var/lib/moonbase/instances/qemu/vm1"

#define SEED1 DIR1 "/cidata.iso"

static const struct mb_libvirt_host tcg = {"qemu", NULL, NULL, NULL, SEED1, true};
static const struct mb_libvirt_host kvm = {"kvm", "/usr/bin/qemu-system-x86_64", NULL, NULL,
                                           SEED1, false};
static const struct mb_nic user_nic = {.attach = MB_NIC_USER, .mac = "52:54:00:12:34:56",
                                       .host_port = 50022};

static void quiet(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

/* libvirt's RNG schema accepts the XML (the test driver parses any domain
 * type; the schema is the same for all). */
static void check_schema(const char *name, const char *xml)
{
    virSetErrorFunc(NULL, quiet);
    virConnectPtr c = virConnectOpen("test:///default");
    if (c == NULL)
        fail_msg("cannot open libvirt's test:///default: %s", virGetLastErrorMessage());
    /* the test driver runs only type='test' domains; the schema check is
     * what matters here */
    char *x = strdup(xml);
    char *t = strstr(x, "<domain type='");
    assert_non_null(t);
    const char *types[] = {"<domain type='qemu'", "<domain type='kvm'"};
    for (size_t k = 0; k < 2; k++) {
        char *p = strstr(x, types[k]);
        if (p) {
            size_t old = strlen(types[k]), neu = strlen("<domain type='test'");
            memmove(p + neu, p + old, strlen(p + old) + 1);
            memcpy(p, "<domain type='test'", neu);
        }
    }
    virDomainPtr d = virDomainDefineXMLFlags(c, x, VIR_DOMAIN_DEFINE_VALIDATE);
    if (d == NULL)
        fail_msg("%s: libvirt's schema refuses the XML: %s", name, virGetLastErrorMessage());
    virDomainUndefine(d);
    virDomainFree(d);
    virConnectClose(c);
    free(x);
}

static void check_golden(const char *name, const struct mb_instance *inst,
                         const struct mb_libvirt_host *host)
{
    mb_error *err = NULL;
    char *got = mb_libvirt_domain_xml(inst, host, &err);
    if (got == NULL)
        fail_msg("%s: %s", name, err->message);
    char file[256], what[300];
    snprintf(file, sizeof file, "%s.xml", name);
    snprintf(what, sizeof what, "XML of case %s", name);
    mb_golden_check("libvirt", file, what, got);
    check_schema(name, got);
    free(got);
}

/* The QEMU driver's golden base (tests/unit/drivers/qemu/test_qemu_argv.c): user
 * networking with the SSH forward and restrict=on. */
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
    check_golden("plain", &i, &tcg);
}

static void test_mounts(void **state)
{
    static const struct mb_mount_spec mounts[] = {
        {"/home/ada/src", "src", false, false},
        {"/srv/data, with <odd> & 'quoted' chars", "data", true, false},
        {"/root/shared", "rootshare", false, true},
    };
    struct mb_instance i = base();
    i.mounts = mounts;
    i.n_mounts = 3;
    check_golden("mounts", &i, &tcg);
}

/* The primary NIC on a moonbase bridge's tap, one extra network through the
 * engine's tap, one libvirt network. */
static void test_networks(void **state)
{
    static const struct mb_nic nics[] = {
        {"moonbase0", "52:54:00:12:34:56", "10.77.0.10/24", MB_NIC_TAP, "mbtap0", 0},
        {"backend", "52:54:00:00:01:01", "10.20.0.5", MB_NIC_TAP, "mbtap1", 0},
        {"default", "52:54:00:00:02:01", NULL, MB_NIC_NETWORK, "default", 0},
    };
    struct mb_instance i = base();
    i.nics = nics;
    i.n_nics = 3;
    check_golden("networks", &i, &tcg);
}

/* On a remote host (libvirt_remote.c): the overlay, the seed and the console
 * log are in that host's pool "moonbase"; the SSH forward is on its 127.0.0.1. */
static void test_remote(void **state)
{
    static const struct mb_libvirt_host remote = {
        "qemu", NULL, "/var/lib/libvirt/images/moonbase/mb-vm1-5d1e0a4b-serial.log",
        "/var/lib/libvirt/images/moonbase/mb-vm1-5d1e0a4b.qcow2",
        "/var/lib/libvirt/images/moonbase/mb-vm1-5d1e0a4b-cidata.iso", true};
    struct mb_instance i = base();
    check_golden("remote", &i, &remote);
}

/* The primary NIC on a libvirt network moonbase defines (libvirt_net.c,
 * local.libvirt.networking=libvirt): no tap, no user networking. */
static void test_libvirt_network(void **state)
{
    static const struct mb_nic nic = {"moonbase0", "52:54:00:12:34:56", "10.77.0.2/24",
                                      MB_NIC_NETWORK, "mb-moonbase0-0a1b2c3d", 0};
    struct mb_instance i = base();
    i.nics = &nic;
    check_golden("libvirt-network", &i, &tcg);
}

static void test_kernel_boot(void **state)
{
    struct mb_instance i = base();
    i.image.kernel = "/var/cache/moonbase/images/abc/vmlinuz";
    i.image.initrd = "/var/cache/moonbase/images/abc/initrd.img";
    i.image.cmdline = "root=/dev/vda console=ttyS0 quiet";
    i.memory = 256ull << 20;
    i.cpus = 1;
    check_golden("kernel", &i, &kvm);
}

static void test_bad_specs(void **state)
{
    mb_error *err = NULL;
    struct mb_instance i = base();
    i.image.initrd = "/x/initrd.img";
    assert_null(mb_libvirt_domain_xml(&i, &tcg, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    static const struct mb_nic nics[] = {
        {.attach = MB_NIC_USER, .mac = "52:54:00:12:34:56", .host_port = 50022},
        {NULL, "52:54:00:00:01:01", NULL, MB_NIC_TAP, NULL, 0},
    };
    i = base();
    i.nics = nics;
    i.n_nics = 2;
    assert_null(mb_libvirt_domain_xml(&i, &tcg, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

/* Domain names: stable for a directory, different for another home. */
static void test_domain_name(void **state)
{
    struct mb_instance a = base(), b = base();
    b.dir = "/tmp/other-home/data/instances/qemu/vm1";
    char na[MB_LIBVIRT_NAMELEN], na2[MB_LIBVIRT_NAMELEN], nb[MB_LIBVIRT_NAMELEN];
    mb_libvirt_domain_name(na, sizeof na, &a);
    mb_libvirt_domain_name(na2, sizeof na2, &a);
    mb_libvirt_domain_name(nb, sizeof nb, &b);
    assert_string_equal(na, na2);
    assert_string_not_equal(na, nb);
    assert_int_equal(strncmp(na, "mb-vm1-", 7), 0);
    assert_int_equal(strlen(na), strlen("mb-vm1-") + 8);
}

static void test_uri_is_remote(void **state)
{
    assert_false(mb_libvirt_uri_is_remote("qemu:///system"));
    assert_false(mb_libvirt_uri_is_remote("qemu:///system?socket=/tmp/x/libvirt-sock"));
    assert_false(mb_libvirt_uri_is_remote("qemu://localhost/system"));
    assert_true(mb_libvirt_uri_is_remote("qemu+ssh://root@10.99.0.2/system"));
    assert_true(mb_libvirt_uri_is_remote("qemu://otherhost/system"));
    assert_true(mb_libvirt_uri_is_remote("qemu+tcp://h/system"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_mounts),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_libvirt_network),
        cmocka_unit_test(test_remote),
        cmocka_unit_test(test_kernel_boot),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_domain_name),
        cmocka_unit_test(test_uri_is_remote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
