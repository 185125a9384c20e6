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
#include "drivers/qemu/qemu_argv.h"
#include "golden.h"

#define DIR1 "/var/lib/moonbase/instances/qemu/vm1"

#define SEED1 DIR1 "/cidata.iso"

static const struct mb_libvirt_host tcg = {"qemu", NULL, NULL, NULL, SEED1, true, NULL, NULL};
static const struct mb_libvirt_host kvm = {"kvm", "/usr/bin/qemu-system-x86_64", NULL, NULL,
                                           SEED1, false, NULL, NULL};
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
        {"/home/ada/src", "src", false, false, NULL},
        {"/srv/data, with <odd> & 'quoted' chars", "data", true, false, NULL},
        {"/root/shared", "rootshare", false, true, NULL},
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
        "/var/lib/libvirt/images/moonbase/mb-vm1-5d1e0a4b-cidata.iso", true, NULL, NULL};
    struct mb_instance i = base();
    check_golden("remote", &i, &remote);
}

/* Lent to the local pool (libvirt_lend.c: QEMU runs as libvirt-qemu): the
 * overlay, seed, kernel and initrd are pool volumes, the base image is given
 * as the overlay's backing store, the console stays in the instance dir. */
static void test_lent(void **state)
{
    static const struct mb_libvirt_host lent = {
        "qemu", NULL, NULL, "/var/lib/libvirt/images/moonbase/mb-vm1-1f2e3d4c.qcow2",
        "/var/lib/libvirt/images/moonbase/mb-vm1-1f2e3d4c-cidata.iso", true,
        "/var/lib/libvirt/images/moonbase/mb-image-0123456789abcdef-disk.qcow2", "qcow2"};
    struct mb_instance i = base();
    i.image.kernel = "/var/lib/libvirt/images/moonbase/mb-image-0123456789abcdef-vmlinuz";
    i.image.cmdline = "root=/dev/vda rw console=ttyS0";
    check_golden("lent", &i, &lent);
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

/* "0x%x" after `key` in s (key included), or -1. */
static int hex_after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p ? (int)strtol(p + strlen(key), NULL, 16) : -1;
}

/* Each device's PCI slot in QEMU's argv, as "kind=slot" words in argv order:
 * rng, disk, seed, nic, net1.., fs0.. */
static void qemu_slots(const struct mb_instance *i, char *out, size_t n)
{
    struct mb_qemu_opts o = {SEED1, NULL, NULL, true};
    char **argv = mb_qemu_argv(i, &(struct mb_qemu_host){"qemu-system-x86_64", "tcg", "max", NULL},
                               &o, NULL);
    assert_non_null(argv);
    out[0] = '\0';
    for (char **a = argv; *a; a++) {
        if (strcmp(*a, "-device") != 0 || a[1] == NULL)
            continue;
        const char *d = a[1];
        char kind[32] = "";
        if (strncmp(d, "virtio-rng-pci", 14) == 0)
            snprintf(kind, sizeof kind, "rng");
        else if (strstr(d, "drive=disk0"))
            snprintf(kind, sizeof kind, "disk");
        else if (strstr(d, "drive=seed0"))
            snprintf(kind, sizeof kind, "seed");
        else if (strstr(d, "netdev=net"))
            snprintf(kind, sizeof kind, "net%d", hex_after(d, "netdev=net"));
        else if (strstr(d, "fsdev=fs"))
            snprintf(kind, sizeof kind, "fs%d", hex_after(d, "fsdev=fs"));
        snprintf(out + strlen(out), n - strlen(out), "%s=%d ", kind, hex_after(d, "addr="));
    }
    mb_strv_free(argv);
}

/* The same from the domain XML: <address> of each device element, the
 * user-networking NIC's from its JSON. */
static void libvirt_slots(const struct mb_instance *i, char *out, size_t n)
{
    char *xml = mb_libvirt_domain_xml(i, &tcg, NULL);
    assert_non_null(xml);
    char rng[32] = "", disks[64] = "", nics[128] = "", fss[128] = "";
    /* the user-networking NIC is not an <interface>: the others count from 1 */
    int net = i->n_nics && i->nics[0].attach != MB_NIC_USER ? 0 : 1, fs = 0;
    for (const char *p = xml; (p = strchr(p, '<')) != NULL; p++) {
        const char *end = NULL, *slot = NULL;
        char *buf = NULL;
        size_t len = 0;
        if (strncmp(p, "<disk ", 6) == 0 || strncmp(p, "<interface ", 11) == 0
            || strncmp(p, "<filesystem ", 12) == 0 || strncmp(p, "<rng ", 5) == 0) {
            const char *tag = strncmp(p, "<disk", 5) == 0 ? "</disk>"
                              : strncmp(p, "<interface", 10) == 0 ? "</interface>"
                              : strncmp(p, "<rng", 4) == 0 ? "</rng>" : "</filesystem>";
            end = strstr(p, tag);
            len = (size_t)(end - p);
            buf = strndup(p, len);
            slot = strstr(buf, "slot='");
            int sl = slot ? (int)strtol(slot + 6, NULL, 16) : -1;
            if (strncmp(p, "<rng", 4) == 0)
                snprintf(rng, sizeof rng, "rng=%d ", sl);
            else if (strncmp(p, "<disk", 5) == 0)
                snprintf(disks + strlen(disks), sizeof disks - strlen(disks), "%s=%d ",
                         strstr(buf, "dev='vda'") ? "disk" : "seed", sl);
            else if (strncmp(p, "<interface", 10) == 0)
                snprintf(nics + strlen(nics), sizeof nics - strlen(nics), "net%d=%d ",
                         net++, sl);
            else
                snprintf(fss + strlen(fss), sizeof fss - strlen(fss), "fs%d=%d ", fs++, sl);
            free(buf);
        }
    }
    const char *user = strstr(xml, "mbnet0&quot;,&quot;bus&quot;:&quot;pcie.0&quot;,&quot;addr");
    char unic[32] = "";
    if (user)
        snprintf(unic, sizeof unic, "net0=%d ", hex_after(user, "addr&quot;:&quot;"));
    snprintf(out, n, "%s%s%s%s%s", rng, disks, unic, nics, fss);
    free(xml);
}

/* A guest's memory saved under one driver loads under the other only when
 * every device sits at the same PCI address: both drivers place them alike. */
static void test_same_pci_slots_as_qemu(void **state)
{
    static const struct mb_mount_spec mounts[] = {{"/home/ada/src", "src", false, false, NULL},
                                                  {"/srv/data", "data", true, true, NULL}};
    static const struct mb_nic nics[] = {
        {"moonbase0", "52:54:00:12:34:56", "10.77.0.10/24", MB_NIC_TAP, "mbtap0", 0},
        {"backend", "52:54:00:00:01:01", "10.20.0.5", MB_NIC_TAP, "mbtap1", 0},
        {"storage", "52:54:00:00:02:01", NULL, MB_NIC_TAP, "mbtap2", 0},
    };
    struct mb_instance cases[3] = {base(), base(), base()};
    cases[1].mounts = mounts;
    cases[1].n_mounts = 2;
    cases[2].nics = nics;
    cases[2].n_nics = 3;
    cases[2].mounts = mounts;
    cases[2].n_mounts = 1;
    for (size_t k = 0; k < 3; k++) {
        char q[512], l[512];
        qemu_slots(&cases[k], q, sizeof q);
        libvirt_slots(&cases[k], l, sizeof l);
        if (strcmp(q, l) != 0)
            fail_msg("case %zu: QEMU argv has %s, libvirt XML %s", k, q, l);
        assert_non_null(strstr(q, "rng=1 disk=2 seed=3 net0=4"));
    }
}

/* The snapshot XML: what a running domain's snapshot asks for (memory, the
 * overlay, not the read-only seed), and a redefinition with its domain. */
static void test_snapshot_xml(void **state)
{
    char *x = mb_libvirt_snapshot_xml("mb-1", true, 0, NULL, NULL);
    mb_golden_check("libvirt", "snapshot.xml", "snapshot XML", x);
    free(x);
    x = mb_libvirt_snapshot_xml("mb-<&>", false, 1796318440, "<domain type='qemu'/>\n", NULL);
    mb_golden_check("libvirt", "snapshot-redefine.xml", "snapshot XML to redefine", x);
    free(x);
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
        cmocka_unit_test(test_lent),
        cmocka_unit_test(test_kernel_boot),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_same_pci_slots_as_qemu),
        cmocka_unit_test(test_snapshot_xml),
        cmocka_unit_test(test_domain_name),
        cmocka_unit_test(test_uri_is_remote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
