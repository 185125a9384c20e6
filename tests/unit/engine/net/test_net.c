/* Unit tests for engine/net/net.c and engine/net/net_service.c without privileges:
 * the CapEff parser, the exact dnsmasq.conf and nftables ruleset moonbase
 * writes, input validation, mb_net_run, and the link/address/route dumps
 * (read-only, of this process's network namespace); as root, a neighbour
 * hint on a bridge in a network namespace of the test's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"

static void test_capeff(void **state)
{
    assert_int_equal(mb_net_capeff_has("CapInh:\t0\nCapEff:\t0000000000001000\n", 12), 1);
    assert_int_equal(mb_net_capeff_has("CapEff:\t000001ffffffffff\n", 12), 1);
    assert_int_equal(mb_net_capeff_has("CapEff:\t0000000000000000\n", 12), 0);
    assert_int_equal(mb_net_capeff_has("Name:\tx\n", 12), -1);
    assert_int_equal(mb_net_capeff_has(NULL, 12), -1);
    assert_int_equal(mb_net_capeff_has("CapEff:\tzz\n", 12), -1);
}

static void test_dnsmasq_conf(void **state)
{
    struct mb_dnsmasq d = {.name = "moonbase0", .dir = "/d/networks/moonbase0",
                           .bridge = "moonbase0", .address = "10.77.0.1", .prefix = 24,
                           .domain = "moonbase", .user = "root"};
    char *conf = mb_net_dnsmasq_conf(&d);
    assert_non_null(conf);
    assert_string_equal(conf,
        "# moonbase network \"moonbase0\": written by moonbase, do not edit\n"
        "interface=moonbase0\nexcept-interface=lo\nbind-interfaces\n"
        "listen-address=10.77.0.1\n"
        "domain=moonbase\nlocal=/moonbase/\ndomain-needed\nbogus-priv\nno-hosts\n"
        "addn-hosts=/d/networks/moonbase0/hosts\n"
        "dhcp-range=10.77.0.0,static,255.255.255.0,12h\n"
        "dhcp-hostsfile=/d/networks/moonbase0/dhcp-hosts\n"
        "dhcp-option=option:router,10.77.0.1\n"
        "dhcp-option=option:dns-server,10.77.0.1\n"
        "dhcp-option=option:domain-search,moonbase\n"
        "dhcp-authoritative\ndhcp-leasefile=/d/networks/moonbase0/leases\n"
        "pid-file=/d/networks/moonbase0/dnsmasq.pid\n"
        "log-facility=/d/networks/moonbase0/dnsmasq.log\n"
        "user=root\n");
    free(conf);
    d.prefix = 20;
    d.address = "172.20.5.1";
    conf = mb_net_dnsmasq_conf(&d);
    assert_non_null(strstr(conf, "dhcp-range=172.20.0.0,static,255.255.240.0,12h\n"));
    free(conf);
    /* what would break the file's syntax or point elsewhere is refused */
    d.address = "10.77.0.300";
    assert_null(mb_net_dnsmasq_conf(&d));
    d.address = "10.77.0.1";
    d.bridge = "br0\nserver=1.2.3.4";
    assert_null(mb_net_dnsmasq_conf(&d));
    d.bridge = "moonbase0";
    d.prefix = 31;
    assert_null(mb_net_dnsmasq_conf(&d));
}

static void test_nat_ruleset(void **state)
{
    struct mb_net_nat nets[] = {{"moonbase0", "10.77.0.0/24"}, {"mb-backend", "10.78.0.0/24"}};
    char *r = mb_net_nat_ruleset(nets, 2);
    assert_non_null(r);
    assert_string_equal(r,
        "table ip moonbase {}\ndelete table ip moonbase\n"
        "table ip moonbase {\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        "\t\tip saddr 10.77.0.0/24 ip daddr 224.0.0.0/24 return\n"
        "\t\tip saddr 10.77.0.0/24 ip daddr 255.255.255.255 return\n"
        "\t\tip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 masquerade comment \"moonbase0\"\n"
        "\t\tip saddr 10.78.0.0/24 ip daddr 224.0.0.0/24 return\n"
        "\t\tip saddr 10.78.0.0/24 ip daddr 255.255.255.255 return\n"
        "\t\tip saddr 10.78.0.0/24 ip daddr != 10.78.0.0/24 masquerade comment \"mb-backend\"\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\toifname \"moonbase0\" ct state established,related accept\n"
        "\t\toifname \"moonbase0\" iifname != \"moonbase0\" drop\n"
        "\t\toifname \"mb-backend\" ct state established,related accept\n"
        "\t\toifname \"mb-backend\" iifname != \"mb-backend\" drop\n"
        "\t}\n}\n");
    free(r);
    struct mb_net_nat bad[] = {{"br\"0", "10.0.0.0/24"}};
    assert_null(mb_net_nat_ruleset(bad, 1));
}

static void test_bad_names(void **state)
{
    mb_error *err = NULL;
    assert_false(mb_net_bridge_create("this-name-is-too-long", NULL, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "invalid bridge name"));
    mb_error_free(err);
    err = NULL;
    assert_false(mb_net_tap_create("a/b", 0, NULL, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;
    assert_false(mb_net_addr_add("lo", "1.2.3", 24, &err));
    assert_non_null(strstr(err->message, "invalid IPv4 address \"1.2.3\""));
    mb_error_free(err);
    err = NULL;
    assert_false(mb_net_link_set_up("mb-no-such-if", true, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
    err = NULL;
    /* deleting what is not there is fine */
    assert_true(mb_net_link_delete("mb-no-such-if", &err));
    assert_null(err);
}

static void test_run(void **state)
{
    mb_error *err = NULL;
    char *out = NULL, *errout = NULL;
    char *argv[] = {"sh", "-c", "cat; echo oops >&2; exit 3", NULL};
    assert_int_equal(mb_net_run(argv, "hello\n", &out, &errout, &err), 3);
    assert_string_equal(out, "hello\n");
    assert_string_equal(errout, "oops\n");
    free(out);
    free(errout);
    char *missing[] = {"mb-no-such-program", NULL};
    assert_int_equal(mb_net_run(missing, NULL, NULL, NULL, &err), -1);
    assert_non_null(strstr(err->message, "cannot run mb-no-such-program"));
    assert_non_null(strstr(err->message, "is it installed?"));
    mb_error_free(err);
}

static void test_dumps(void **state)
{
    mb_error *err = NULL;
    size_t n = 0;
    struct mb_net_link *links = mb_net_links(&n, &err);
    assert_non_null(links);
    bool lo = false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(links[i].name, "lo") == 0)
            lo = links[i].index > 0;
    assert_true(lo);
    free(links);
    struct mb_net_addr *addrs = mb_net_addrs(&n, &err);
    assert_non_null(addrs);
    free(addrs);
    struct mb_net_route *routes = mb_net_routes(&n, &err);
    assert_non_null(routes);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(routes[i].table, 255); /* never the local table */
    free(routes);
    assert_null(err);
    struct mb_net_link l;
    assert_true(mb_net_link_get("lo", &l, &err));
    assert_false(mb_net_link_get("mb-no-such-if", &l, &err));
    assert_null(err);
}

/* In a child, in a network namespace of its own (root only): the hint shows
 * in the kernel's neighbour table as STALE with its MAC; bad input and a
 * missing bridge are errors that name it. */
static int neigh_child(void)
{
    mb_error *err = NULL;
    if (!mb_net_bridge_create("mbt0", NULL, &err) || !mb_net_link_set_up("mbt0", true, &err)
        || !mb_net_addr_add("mbt0", "10.99.7.1", 24, &err))
        return 10;
    if (!mb_net_neigh_hint("mbt0", "10.99.7.2", "52:54:00:aa:bb:0c", &err))
        return 11;
    FILE *p = popen("ip -4 neigh show dev mbt0 2>&1", "r");
    char line[256] = "";
    if (p == NULL || fgets(line, sizeof line, p) == NULL)
        return 12;
    pclose(p);
    if (strstr(line, "10.99.7.2 lladdr 52:54:00:aa:bb:0c") == NULL || strstr(line, "STALE") == NULL)
        return 13;
    if (mb_net_neigh_hint("mbt0", "10.99.7.3", "52:54:00:aa:bb", &err) || err == NULL
        || err->code != MB_ERR_USAGE || strstr(err->message, "invalid MAC") == NULL)
        return 14;
    mb_error_free(err);
    err = NULL;
    if (mb_net_neigh_hint("mb-no-such-if", "10.99.7.3", "52:54:00:aa:bb:0d", &err)
        || err == NULL || err->code != MB_ERR_NOT_FOUND)
        return 15;
    mb_error_free(err);
    return 0;
}

static void test_neigh_hint(void **state)
{
    (void)state;
    if (geteuid() != 0 || system("command -v ip >/dev/null 2>&1") != 0)
        skip(); /* needs root (a namespace of its own) and iproute2 */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(unshare(CLONE_NEWNET) != 0 ? 9 : neigh_child());
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 9)
        skip(); /* no network namespaces here */
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capeff),     cmocka_unit_test(test_dnsmasq_conf),
        cmocka_unit_test(test_nat_ruleset), cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_run),        cmocka_unit_test(test_dumps),
        cmocka_unit_test(test_neigh_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
