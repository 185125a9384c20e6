/* Golden files for drivers/lxd/lxd_json.c: an instance spec in, the exact
 * JSON moonbase POSTs to LXD out (tests/golden/lxd/NAME.json;
 * MB_UPDATE_GOLDEN=1 rewrites them). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "drivers/lxd/lxd_json.h"
#include "golden.h"

static void check(const struct mb_lxd_spec *s, const char *file)
{
    mb_error *err = NULL;
    mbj_t *j = mb_lxd_instance_json(s, &err);
    assert_null(err);
    assert_non_null(j);
    char *text = mbj_dumps(j, MBJ_PRETTY);
    size_t n = strlen(text);
    text = realloc(text, n + 2);
    strcpy(text + n, "\n");
    mb_golden_check("lxd", file, file, text);
    free(text);
    mbj_decref(j);
}

static const struct mb_lxd_nic primary = {"moonbase0", NULL, NULL, "52:54:00:ab:cd:01"};

static void test_plain(void **state)
{
    struct mb_lxd_spec s = {
        .name = "web", .fingerprint = "5f6cecc1f11602ac0970dd1496125543eff36264dafd4cfa0dc0c57ff8eeb5d4",
        .pool = "default", .cpus = 2, .memory = (uint64_t)1 << 30, .disk = (uint64_t)5 << 30,
        .user_data = "#cloud-config\nusers:\n- default\n",
        .network_config = "version: 2\nethernets: {}\n",
        .owner = "host1:/root/.local/share/moonbase/drivers/lxd", .fuse = true,
        .nics = &primary, .n_nics = 1,
    };
    check(&s, "plain.json");
}

static void test_networks_and_shares(void **state)
{
    struct mb_lxd_nic nics[] = {primary, {"mb-backend", NULL, NULL, "52:54:00:ab:cd:02"},
                                 {"br0", NULL, NULL, NULL}, {NULL, "mbv1234abcd", "10.9.0.7", NULL}};
    struct mb_lxd_share shares[] = {
        {"moonbase0", "/home/me/src", "/home/moonbase/src", false},
        {"moonbase1", "/srv/www", "/srv/www", true},
    };
    char *idmap = mb_lxd_idmap(1000, 1000, 1001, 1001);
    struct mb_lxd_spec s = {
        .name = "dev", .fingerprint = "0123", .pool = "fast", .cpus = 1,
        .memory = (uint64_t)384 << 20, .disk = 123456789, .idmap = idmap,
        .nics = nics, .n_nics = 4, .shares = shares, .n_shares = 2,
    };
    check(&s, "shares.json");
    free(idmap);
}

static void test_vm(void **state)
{
    struct mb_lxd_spec s = {
        .name = "vm1", .vm = true, .fingerprint = "abcd", .pool = "default", .cpus = 4,
        .memory = (uint64_t)4 << 30, .disk = (uint64_t)20 << 30,
        .user_data = "#cloud-config\n{}\n", .idmap = "uid 1 2\ngid 1 2",
        .nics = &primary, .n_nics = 1,
    };
    check(&s, "vm.json"); /* no raw.idmap for a VM; cloud-init from a config drive */
}

/* A clone: LXD's copy of the source (not its snapshots, no type: the
 * source's), the clone's own NICs, cloud-init and mark replacing the source's */
static void test_copy(void **state)
{
    struct mb_lxd_nic nic = {"moonbase0", NULL, NULL, "52:54:00:ab:cd:09"};
    struct mb_lxd_spec s = {
        .name = "web-clone1", .copy_of = "web", .pool = "default", .cpus = 2,
        .memory = (uint64_t)1 << 30, .disk = (uint64_t)5 << 30,
        .user_data = "#cloud-config\nhostname: web-clone1\n",
        .network_config = "version: 2\nethernets: {}\n",
        .owner = "host1:/root/.local/share/moonbase/drivers/lxd", .fuse = true,
        .nics = &nic, .n_nics = 1,
    };
    check(&s, "copy.json");
}

static void test_sizes(void **state)
{
    char b[32];
    mb_lxd_size((uint64_t)3 << 30, b);
    assert_string_equal(b, "3GiB");
    mb_lxd_size((uint64_t)1536 << 20, b);
    assert_string_equal(b, "1536MiB");
    mb_lxd_size(1000, b);
    assert_string_equal(b, "1000B");
    mb_lxd_size(0, b);
    assert_string_equal(b, "0B");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_networks_and_shares),
        cmocka_unit_test(test_vm),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
