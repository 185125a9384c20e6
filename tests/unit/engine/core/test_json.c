/* Unit tests for engine/core/json.c: the JSON calls of the LXD driver and of
 * the external drivers' protocol, over json-c. What a hostile LXD or driver
 * could send is refused whole; accessors never convert one type into
 * another; the object builder fails on a missing value and still takes
 * every value it was given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static void test_strict_documents(void **state)
{
    static const char *const bad[] = {
        "",                      /* nothing */
        "{\"a\": 1} x",          /* something after the document */
        "{\"a\": 1}{}",          /* two documents */
        "{\"a\": 1,}",           /* a trailing comma */
        "[1, 2,]",
        "{\"a\": /* c */ 1}",    /* a comment */
        "{\"a\": \"\xff\xfe\"}", /* not UTF-8 */
        "{\"a\": tru}",
        "{\"a\": 01}",         /* a leading zero */
        "\"a string\"",           /* not an object or an array */
        "12",
        "null",
        "{\"a\": [1, 2}",
        "{\"a\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mbj_t *v = mbj_loads(bad[i]);
        if (v != NULL)
            fail_msg("accepted: %s", bad[i]);
    }
    mbj_t *v = mbj_loads(" {\"a\": [1, -2.5e3, true, null, \"\\u00e9\\n\"]}\r\n ");
    assert_non_null(v);
    mbj_t *a = mbj_object_get(v, "a");
    assert_int_equal(mbj_array_size(a), 5);
    assert_int_equal(mbj_integer_value(mbj_array_get(a, 0)), 1);
    assert_true(mbj_number_value(mbj_array_get(a, 1)) == -2500.0);
    assert_true(mbj_is_true(mbj_array_get(a, 2)));
    assert_null(mbj_array_get(a, 3)); /* null */
    assert_string_equal(mbj_string_value(mbj_array_get(a, 4)), "\xc3\xa9\n");
    assert_null(mbj_array_get(a, 5));
    mbj_decref(v);
    /* bytes with a length: no NUL needed, none read past */
    const char buf[] = "[1]garbage";
    v = mbj_loadb(buf, 3);
    assert_non_null(v);
    mbj_decref(v);
    assert_null(mbj_loadb(buf, 4));
    assert_null(mbj_loads(NULL));
    /* a key given twice: json-c cannot refuse it, the last value counts */
    v = mbj_loads("{\"a\": 1, \"a\": 2}");
    assert_int_equal(mbj_object_size(v), 1);
    assert_int_equal(mbj_integer_value(mbj_object_get(v, "a")), 2);
    mbj_decref(v);
}

static void test_depth(void **state)
{
    /* an external driver's answer nests a Lua value of depth 32 in its
     * envelope: that is read; a document a thousand deep is not */
    char doc[2100];
    for (int depth = 40; depth <= 1000; depth += 960) {
        memset(doc, '[', (size_t)depth);
        memset(doc + depth, ']', (size_t)depth);
        doc[2 * depth] = '\0';
        mbj_t *v = mbj_loads(doc);
        if (depth == 40)
            assert_non_null(v);
        else
            assert_null(v);
        mbj_decref(v);
    }
}

static void test_no_conversions(void **state)
{
    mbj_t *v = mbj_loads("{\"n\": 12, \"s\": \"12\", \"t\": true, \"o\": {}, "
                         "\"nul\": \"a\\u0000b\", \"z\": null}");
    assert_non_null(v);
    assert_null(mbj_string_value(mbj_object_get(v, "n"))); /* json-c would say "12" */
    assert_int_equal(mbj_integer_value(mbj_object_get(v, "s")), 0);
    assert_int_equal(mbj_integer_value(mbj_object_get(v, "t")), 0);
    assert_false(mbj_is_true(mbj_object_get(v, "n")));
    assert_null(mbj_string_value(mbj_object_get(v, "o")));
    assert_int_equal(mbj_array_size(mbj_object_get(v, "o")), 0);
    assert_null(mbj_array_get(mbj_object_get(v, "o"), 0));
    assert_int_equal(mbj_object_size(mbj_object_get(v, "n")), 0);
    assert_null(mbj_object_get(mbj_object_get(v, "n"), "x"));
    /* a NUL inside: not a C string, but its bytes are there whole */
    mbj_t *nul = mbj_object_get(v, "nul");
    assert_null(mbj_string_value(nul));
    assert_false(mbj_is_string(nul)); /* not one moonbase can use as a string */
    assert_true(mbj_is_bytes(nul));
    assert_true(mbj_is_string(mbj_object_get(v, "s")));
    assert_int_equal(mbj_string_length(nul), 3);
    assert_memory_equal(mbj_string_data(nul), "a\0b", 3);
    /* a null value and an absent key read the same; has tells them apart */
    assert_null(mbj_object_get(v, "z"));
    assert_true(mbj_object_has(v, "z"));
    assert_false(mbj_object_has(v, "absent"));
    assert_int_equal(mbj_object_del(v, "absent"), -1);
    assert_int_equal(mbj_object_del(v, "z"), 0);
    assert_false(mbj_object_has(v, "z"));
    /* NULL everywhere */
    assert_null(mbj_object_get(NULL, "a"));
    assert_null(mbj_string_value(NULL));
    assert_int_equal(mbj_array_size(NULL), 0);
    mbj_decref(v);
}

static void test_foreach(void **state)
{
    mbj_t *v = mbj_loads("{\"b\": 1, \"a\": [\"x\", null, \"y\"], \"c\": 3}");
    const char *k;
    mbj_t *x;
    char order[8] = "";
    mbj_object_foreach(v, k, x) strcat(order, k);
    assert_string_equal(order, "bac"); /* as they came */
    size_t i, seen = 0;
    mbj_array_foreach(mbj_object_get(v, "a"), i, x) seen += x ? 1 : 10; /* nulls too */
    assert_int_equal(seen, 12);
    mbj_array_foreach(mbj_object_get(v, "b"), i, x) fail(); /* not an array */
    mbj_object_foreach(mbj_object_get(v, "a"), k, x) fail(); /* not an object */
    mbj_decref(v);
}

static void test_pack(void **state)
{
    mbj_t *kept = mbj_string("kept");
    mbj_t *o = mbj_pack("{s:s, s:i, s:I, s:b, s:o, s:O, s:{s:s*, s:s}, s:s*, s:O?}", "s", "v",
                        "i", -3, "I", (mbj_int_t)1 << 40, "b", 7, "o", mbj_integer(5), "O",
                        kept, "in", "gone", NULL, "x", "y", "skip", NULL, "nul", NULL);
    assert_non_null(o);
    char *text = mbj_dumps(o, MBJ_COMPACT);
    assert_string_equal(text, "{\"s\":\"v\",\"i\":-3,\"I\":1099511627776,\"b\":true,\"o\":5,"
                              "\"O\":\"kept\",\"in\":{\"x\":\"y\"},\"nul\":null}");
    free(text);
    mbj_decref(o);
    assert_string_equal(mbj_string_value(kept), "kept"); /* still the caller's */
    /* a missing value fails the whole; every o is taken all the same (no
     * leak under the sanitizers) */
    assert_null(mbj_pack("{s:o, s:s, s:o}", "a", mbj_true(), "b", NULL, "c", mbj_array()));
    assert_null(mbj_pack("{s:o}", "a", NULL));
    assert_null(mbj_pack("{s:O}", "a", NULL));
    assert_null(mbj_pack("{s:s}", NULL, "v"));
    assert_null(mbj_pack("{s:x}", "a", 1)); /* a format it does not know */
    assert_null(mbj_pack("{s:s*}", "a", "\xff")); /* not UTF-8: fails, not left out */
    assert_null(mbj_pack("{s:", "a"));      /* cut short */
    mbj_decref(kept);
}

static void test_building(void **state)
{
    mbj_t *o = mbj_object();
    assert_int_equal(mbj_object_set_new(o, "a", mbj_string("x/y")), 0);
    assert_int_equal(mbj_object_set_new(o, "b", NULL), -1);
    assert_int_equal(mbj_object_set_new(NULL, "c", mbj_true()), -1); /* taken, freed */
    assert_int_equal(mbj_object_set_null(o, "n"), 0);
    mbj_t *a = mbj_array();
    assert_int_equal(mbj_array_append_new(a, mbj_stringn("p\0q", 3)), 0);
    assert_int_equal(mbj_array_append_new(a, NULL), -1);
    assert_int_equal(mbj_array_append_new(o, mbj_true()), -1); /* not an array */
    assert_int_equal(mbj_object_set_new(o, "arr", a), 0);
    /* what is not UTF-8 never enters a tree, so every dump is JSON */
    assert_null(mbj_string("caf\xe9"));
    assert_null(mbj_string("\xc0\xaf"));         /* an overlong '/' */
    assert_null(mbj_string("\xed\xa0\x80"));     /* a surrogate */
    assert_null(mbj_string("\xf4\x90\x80\x80")); /* past U+10FFFF */
    assert_null(mbj_stringn("ab\xe2\x82", 4));    /* cut short */
    assert_non_null(a = mbj_string("\xe2\x82\xac \xf0\x9f\x8c\x99"));
    mbj_decref(a);
    assert_int_equal(mbj_object_set_new(o, "k\xff", mbj_true()), -1);
    assert_int_equal(mbj_object_set_null(o, "k\xff"), -1);
    a = mbj_object_get(o, "arr");
    mbj_t *copy = mbj_deep_copy(o);
    assert_true(mbj_equal(o, copy));
    mbj_object_set_new(copy, "a", mbj_string("other"));
    assert_false(mbj_equal(o, copy));
    char *text = mbj_dumps(o, MBJ_COMPACT);
    assert_string_equal(text, "{\"a\":\"x/y\",\"n\":null,\"arr\":[\"p\\u0000q\"]}");
    mbj_t *back = mbj_loads(text);
    assert_true(mbj_equal(o, back));
    free(text);
    mbj_decref(back);
    mbj_decref(copy);
    mbj_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_documents),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_no_conversions),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_pack),
        cmocka_unit_test(test_building),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
