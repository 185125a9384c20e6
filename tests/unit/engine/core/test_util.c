/* Unit tests for engine/core/util.c: sizes, durations and instance names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/util.h"

static void size_ok(const char *s, uint64_t want)
{
    mb_error *err = NULL;
    uint64_t got = 0;
    assert_true(mb_size_parse(s, &got, &err));
    assert_null(err);
    assert_int_equal(got, want);
}

static void size_bad(const char *s, const char *needle)
{
    mb_error *err = NULL;
    uint64_t got = 42;
    assert_false(mb_size_parse(s, &got, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, needle));
    assert_int_equal(got, 42);
    mb_error_free(err);
}

static void test_sizes(void **state)
{
    size_ok("1024", 1024);
    size_ok("0", 0);
    size_ok("512M", 512ull << 20);
    size_ok("512m", 512ull << 20);
    size_ok("5G", 5ull << 30);
    size_ok("5GB", 5ull << 30);
    size_ok("1.5GiB", 3ull << 29);
    size_ok("10k", 10240);
    size_ok("2T", 2ull << 40);
    size_ok("100b", 100);
    size_bad("", "invalid size");
    size_bad("-1G", "invalid size");
    size_bad("G", "invalid size");
    size_bad("5Q", "unknown unit \"Q\"");
    size_bad("5 G", "invalid size");
    size_bad("1.5", "whole number");
    size_bad("0x10", "invalid size");
    size_bad("inf", "invalid size");
    size_bad("99999999999T", "too large");
    /* Lua integers are signed: 2^63 and up would turn negative */
    size_bad("9223372036854775807", "too large");
    size_bad("9223372036854775808", "too large");
    size_bad("8388608T", "too large");
    size_ok("8388607T", 8388607ull << 40);
    mb_error *err = NULL;
    uint64_t v;
    assert_false(mb_size_parse(NULL, &v, &err));
    mb_error_free(err);
}

static void test_durations(void **state)
{
    double s;
    mb_error *err = NULL;
    assert_true(mb_duration_parse("30", &s, &err));
    assert_true(s == 30);
    assert_true(mb_duration_parse("1.5m", &s, &err));
    assert_true(s == 90);
    assert_true(mb_duration_parse("2h", &s, &err));
    assert_true(s == 7200);
    assert_true(mb_duration_parse("14d", &s, &err));
    assert_true(s == 14 * 86400);
    assert_true(mb_duration_parse("250ms", &s, &err));
    assert_true(s == 0.25);
    assert_null(err);
    assert_false(mb_duration_parse("5y", &s, &err));
    assert_non_null(strstr(err->message, "unknown unit \"y\""));
    mb_error_free(err);
    err = NULL;
    assert_false(mb_duration_parse("soon", &s, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

static void name_ok(const char *n)
{
    mb_error *err = NULL;
    assert_true(mb_name_valid(n, &err));
    assert_null(err);
}

static void name_bad(const char *n, const char *needle)
{
    mb_error *err = NULL;
    assert_false(mb_name_valid(n, &err));
    assert_non_null(err);
    assert_non_null(strstr(err->message, needle));
    mb_error_free(err);
}

static void test_names(void **state)
{
    name_ok("a");
    name_ok("web-1");
    name_ok("primary");
    name_ok("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"); /* 63 */
    name_bad("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd", "1-63");
    name_bad("", "invalid instance name");
    name_bad("1web", "starting with a letter");
    name_bad("Web", "lowercase");
    name_bad("web_1", "dashes");
    name_bad("web-", "not ending");
    name_bad("we b", "invalid");
    name_bad("../x", "invalid");
    name_bad("all", "reserved");
    name_bad("driver", "reserved");
    name_bad(NULL, "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
