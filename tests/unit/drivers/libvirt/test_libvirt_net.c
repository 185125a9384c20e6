/* drivers/libvirt/libvirt_net.c: the network XML against golden files
 * (tests/golden/libvirt/network-<case>.xml; MB_UPDATE_GOLDEN=1 rewrites them),
 * checked against libvirt's own network schema, and ensure / host sync /
 * remove / list against libvirt's in-process test:///default (no daemon). */
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
#include "drivers/libvirt/libvirt_net.h"
#include "golden.h"

static const struct mb_net_host two[] = {
    {"52:54:00:aa:00:02", "web", "10.77.0.2"},
    {"52:54:00:aa:00:03", "db", "10.77.0.3"},
};

static struct mb_net_spec base(void)
{
    return (struct mb_net_spec){
        .name = "mb-moonbase0-0a1b2c3d",
        .network = "moonbase0",
        .bridge = "mbv0a1b2c3d",
        .gateway = "10.77.0.1",
        .prefix = 24,
        .domain = "moonbase",
        .hosts = two,
        .n_hosts = 2,
    };
}

static virConnectPtr test_conn(void)
{
    mb_error *err = NULL;
    virConnectPtr c = mb_libvirt_connect("test:///default", &err);
    if (c == NULL)
        fail_msg("cannot open libvirt's test:///default: %s", err->message);
    return c;
}

static void check_golden(const char *name, const struct mb_net_spec *n)
{
    mb_error *err = NULL;
    char *got = mb_libvirt_net_xml(n, &err);
    if (got == NULL)
        fail_msg("%s: %s", name, err->message);
    char file[256], what[300];
    snprintf(file, sizeof file, "network-%s.xml", name);
    snprintf(what, sizeof what, "XML of network case %s", name);
    mb_golden_check("libvirt", file, what, got);
    /* libvirt's schema accepts it */
    virNetworkPtr net = virNetworkDefineXMLFlags(test_conn(), got, VIR_NETWORK_DEFINE_VALIDATE);
    if (net == NULL)
        fail_msg("%s: libvirt's schema refuses the XML: %s", name, virGetLastErrorMessage());
    virNetworkUndefine(net);
    virNetworkFree(net);
    free(got);
}

static void test_golden_hosts(void **state)
{
    struct mb_net_spec n = base();
    check_golden("hosts", &n);
}

/* a new named network: no hosts yet, a small subnet (the range is all of it) */
static void test_golden_empty(void **state)
{
    struct mb_net_spec n = base();
    n.name = "mb-backend-0a1b2c3d";
    n.network = "backend";
    n.bridge = "mbv12345678";
    n.gateway = "10.78.0.1";
    n.prefix = 29;
    n.hosts = NULL;
    n.n_hosts = 0;
    check_golden("empty", &n);
}

static void test_bad_spec(void **state)
{
    mb_error *err = NULL;
    struct mb_net_spec n = base();
    n.prefix = 31;
    assert_null(mb_libvirt_net_xml(&n, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

static const struct mb_net_info *find(const struct mb_net_info *v, size_t n,
                                              const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(v[k].name, name) == 0)
            return &v[k];
    return NULL;
}

/* The live network's XML holds exactly these DHCP hosts (and DNS names). */
static void assert_hosts(virConnectPtr c, const char *name, const struct mb_net_host *h,
                         size_t n, const struct mb_net_host *absent)
{
    virNetworkPtr net = virNetworkLookupByName(c, name);
    assert_non_null(net);
    char *xml = virNetworkGetXMLDesc(net, 0);
    assert_non_null(xml);
    char want[512];
    for (size_t k = 0; k < n; k++) {
        snprintf(want, sizeof want, "<host mac='%s' name='%s' ip='%s'/>", h[k].mac, h[k].name,
                 h[k].ipv4);
        if (strstr(xml, want) == NULL)
            fail_msg("no %s in\n%s", want, xml);
        snprintf(want, sizeof want, "<hostname>%s.moonbase</hostname>", h[k].name);
        if (strstr(xml, want) == NULL)
            fail_msg("no %s in\n%s", want, xml);
    }
    if (absent) {
        snprintf(want, sizeof want, "mac='%s'", absent->mac);
        if (strstr(xml, want))
            fail_msg("%s still in\n%s", want, xml);
        snprintf(want, sizeof want, "<hostname>%s.moonbase</hostname>", absent->name);
        if (strstr(xml, want))
            fail_msg("%s still in\n%s", want, xml);
    }
    free(xml);
    virNetworkFree(net);
}

static void test_ensure_sync_remove(void **state)
{
    virConnectPtr c = test_conn();
    mb_error *err = NULL;
    struct mb_net_spec n = base();
    n.n_hosts = 1;
    if (!mb_libvirt_net_ensure(c, &n, &err))
        fail_msg("ensure: %s", err->message);
    assert_hosts(c, n.name, two, 1, &two[1]);
    virNetworkPtr net = virNetworkLookupByName(c, n.name);
    assert_int_equal(virNetworkIsActive(net), 1);
    int autostart = 1;
    assert_int_equal(virNetworkGetAutostart(net, &autostart), 0);
    assert_int_equal(autostart, 0);
    virNetworkFree(net);

    /* a second host joins the running network */
    n.n_hosts = 2;
    if (!mb_libvirt_net_ensure(c, &n, &err))
        fail_msg("ensure 2: %s", err->message);
    assert_hosts(c, n.name, two, 2, NULL);

    /* the first leaves; its address goes to a new instance */
    const struct mb_net_host moved[] = {
        {"52:54:00:aa:00:03", "db", "10.77.0.3"},
        {"52:54:00:aa:00:09", "cache", "10.77.0.2"},
    };
    n.hosts = moved;
    if (!mb_libvirt_net_ensure(c, &n, &err))
        fail_msg("ensure 3: %s", err->message);
    assert_hosts(c, n.name, moved, 2, &two[0]);

    /* listed as moonbase's, by its moonbase name */
    size_t count = 0;
    struct mb_net_info *v = mb_libvirt_net_list(c, &count, &err);
    assert_non_null(v);
    const struct mb_net_info *mine = find(v, count, n.name);
    assert_non_null(mine);
    assert_string_equal(mine->network, "moonbase0");
    assert_string_equal(mine->bridge, "mbv0a1b2c3d");
    assert_true(mine->active);
    const struct mb_net_info *other = find(v, count, "default");
    assert_non_null(other); /* the test driver's own network: not moonbase's */
    assert_null(other->network);
    mb_net_info_free(v, count);

    /* another subnet: defined anew */
    n.gateway = "10.79.0.1";
    const struct mb_net_host renumbered[] = {{"52:54:00:aa:00:03", "db", "10.79.0.3"}};
    n.hosts = renumbered;
    n.n_hosts = 1;
    if (!mb_libvirt_net_ensure(c, &n, &err))
        fail_msg("ensure 4: %s", err->message);
    assert_hosts(c, n.name, renumbered, 1, &moved[1]);

    assert_int_equal(mb_libvirt_net_remove(c, n.name, &err), 1);
    assert_int_equal(mb_libvirt_net_remove(c, n.name, &err), 0);
    assert_null(virNetworkLookupByName(c, n.name));
}

/* A network of that name that moonbase did not define is left alone. */
static void test_foreign_network(void **state)
{
    virConnectPtr c = test_conn();
    mb_error *err = NULL;
    struct mb_net_spec n = base();
    n.name = "default"; /* the test driver's own */
    assert_false(mb_libvirt_net_ensure(c, &n, &err));
    assert_int_equal(err->code, MB_ERR_EXISTS);
    assert_non_null(strstr(err->message, "did not define it"));
    mb_error_free(err);
    assert_non_null(virNetworkLookupByName(c, "default"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_hosts),
        cmocka_unit_test(test_golden_empty),
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_ensure_sync_remove),
        cmocka_unit_test(test_foreign_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
