/* Unit tests for drivers/lxd/lxd_listing.c: the scan of LXD's listing keeps
 * each instance's name, status code and owner mark exactly as jansson's full
 * parse reads them (escapes, nesting, the owner key elsewhere than in
 * config), and leaves everything that is not a whole sync envelope to the
 * full parser: error envelopes, other shapes, and every truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "drivers/lxd/lxd_wire.h"
#include "drivers/lxd/lxd_json.h"

/* Shaped like LXD 5.0's answer, with what makes a scanner stumble. */
static const char *LISTING =
    "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
    "\"error_code\":0,\"error\":\"\",\"metadata\":[\n"
    " {\"architecture\":\"x86_64\",\"config\":{\"cloud-init.user-data\":\"#cloud-config\\n"
    "users:\\n  - name: \\\"moonbase\\\"\\n    ssh_keys: [\\\"a\\\\\\\\b\\\"]\\n\","
    "\"image.description\":\"tiny \\u003ctest\\u003e \\ud83d\\ude80\",\"limits.cpu\":\"1\","
    "\"user.moonbase.home\":\"/root/a\\u0026b/\\\"h\\\"\\/x\"},"
    "\"devices\":{\"eth0\":{\"hwaddr\":\"52:54:00:12:34:56\",\"name\":\"eth0\"}},"
    "\"ephemeral\":false,\"profiles\":[\"default\"],\"stateful\":false,"
    "\"description\":\"\",\"created_at\":\"2026-12-04T20:00:00.5e3Z\",\"expanded_config\":"
    "{\"user.moonbase.home\":\"not this one\"},\"name\":\"web\",\"status\":\"Running\","
    "\"status_code\":103,\"last_used_at\":\"2026-12-04T20:01:00Z\",\"location\":\"none\","
    "\"type\":\"container\",\"project\":\"default\",\"size\":-1.5e+2,\"n\":null},\n"
    " {\"status_code\":102,\"name\":\"db\",\"config\":{},\"devices\":{},\"nested\":"
    "[[[{\"a\":[1,2,{\"b\":true}]}]]]},\n"
    " {\"name\":\"other-home\",\"config\":{\"user.moonbase.home\":\"/home/u\"},"
    "\"status_code\":110}\n"
    "]}";

static const char *owner_of(json_t *inst)
{
    return json_string_value(json_object_get(json_object_get(inst, "config"),
                                             MB_LXD_OWNER_KEY));
}

static void test_matches_the_full_parse(void **state)
{
    json_t *got = mb_lxd_scan_listing(LISTING, strlen(LISTING));
    assert_non_null(got);
    json_error_t jerr;
    json_t *env = json_loads(LISTING, 0, &jerr);
    if (env == NULL)
        fail_msg("the test's listing is not JSON: %s", jerr.text);
    json_t *full = json_object_get(env, "metadata");
    assert_int_equal(json_array_size(got), json_array_size(full));
    assert_int_equal(json_array_size(got), 3);
    for (size_t i = 0; i < json_array_size(full); i++) {
        json_t *a = json_array_get(got, i), *b = json_array_get(full, i);
        assert_string_equal(json_string_value(json_object_get(a, "name")),
                            json_string_value(json_object_get(b, "name")));
        assert_int_equal(json_integer_value(json_object_get(a, "status_code")),
                         json_integer_value(json_object_get(b, "status_code")));
        const char *oa = owner_of(a), *ob = owner_of(b);
        if (ob == NULL)
            assert_null(oa);
        else
            assert_string_equal(oa, ob);
    }
    assert_string_equal(owner_of(json_array_get(got, 0)), "/root/a&b/\"h\"/x");
    json_decref(got);
    json_decref(env);
}

static void expect_left_to_the_parser(const char *text)
{
    json_t *got = mb_lxd_scan_listing(text, strlen(text));
    if (got)
        fail_msg("scanned what it must leave alone: %s", text);
}

static void test_leaves_the_rest_to_the_parser(void **state)
{
    expect_left_to_the_parser("{\"type\":\"error\",\"error\":\"not authorized\","
                              "\"error_code\":403,\"metadata\":null}");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":{\"name\":\"x\"}}");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[\"x\"]}");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[{\"status_code\":103}]}");
    expect_left_to_the_parser("{\"type\":\"sync\"}");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[]} trailing");
    expect_left_to_the_parser("<html>bad gateway</html>");
    expect_left_to_the_parser("");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[{\"name\":\"a\\ud800\"}]}");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[{\"name\":\"a\\q\"}]}");
    /* not UTF-8 (jansson refuses it; found by the fuzzer) */
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[{\"name\":\"a\xda\"}]}");
    expect_left_to_the_parser("{\"type\":\"sync\",\"metadata\":[{\"name\":\"a\",\"config\":"
                              "{\"user.moonbase.home\":\"\xff\"}}]}");
    /* every truncation of a good answer */
    size_t n = strlen(LISTING);
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    for (size_t k = 0; k < n; k++) {
        memcpy(buf, LISTING, k);
        buf[k] = '\0';
        json_t *got = mb_lxd_scan_listing(buf, k);
        if (got)
            fail_msg("scanned a truncation at %zu: %s", k, buf);
    }
    free(buf);
    /* nesting beyond any answer's is refused, not recursed into */
    char deep[600] = "{\"type\":\"sync\",\"metadata\":[{\"name\":\"x\",\"d\":";
    size_t d = strlen(deep);
    for (int i = 0; i < 200; i++)
        deep[d++] = '[';
    deep[d] = '\0';
    expect_left_to_the_parser(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_the_full_parse),
        cmocka_unit_test(test_leaves_the_rest_to_the_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
