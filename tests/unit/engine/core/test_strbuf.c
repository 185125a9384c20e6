/* Unit tests for engine/core/strbuf.c: the one growing buffer, for text
 * (QEMU arguments, XML) and bytes (SSH output, SFTP replies) alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

static void test_text(void **state)
{
    struct mb_strbuf b = {0};
    assert_true(mb_strbuf_add(&b, "-name "));
    assert_true(mb_strbuf_addf(&b, "guest=%s,debug-threads=%s", "vm1", "on"));
    assert_true(mb_strbuf_addn(&b, " -m 512xyz", 7));
    assert_string_equal(b.s, "-name guest=vm1,debug-threads=on -m 512");
    assert_int_equal(b.n, strlen(b.s));
    char *s = mb_strbuf_finish(&b);
    assert_string_equal(s, "-name guest=vm1,debug-threads=on -m 512");
    free(s);
}

static void test_empty(void **state)
{
    struct mb_strbuf b = {0};
    char *s = mb_strbuf_finish(&b); /* nothing added: "" the caller frees */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    mb_strbuf_free(NULL);
    mb_strbuf_free(&b); /* a zeroed buffer */
    assert_true(mb_strbuf_addn(&b, "", 0)); /* an empty addition still makes a string */
    assert_non_null(b.s);
    assert_string_equal(b.s, "");
    mb_strbuf_free(&b);
    assert_null(b.s);
    assert_int_equal(b.n, 0);
}

static void test_bytes_and_growth(void **state)
{
    struct mb_strbuf b = {0};
    unsigned char chunk[1000];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (unsigned char)i; /* NULs included */
    for (int i = 0; i < 300; i++)
        assert_true(mb_strbuf_addn(&b, chunk, sizeof chunk));
    assert_int_equal(b.n, 300 * sizeof chunk);
    assert_true(b.cap > b.n);
    for (int i = 0; i < 300; i++)
        assert_memory_equal(b.s + i * sizeof chunk, chunk, sizeof chunk);
    assert_int_equal(b.s[b.n], '\0');
    mb_strbuf_free(&b);
}

/* A writer that reads straight into the buffer, as the SFTP server does. */
static void test_reserve_and_fill(void **state)
{
    struct mb_strbuf b = {0};
    assert_true(mb_strbuf_add(&b, "head:"));
    assert_true(mb_strbuf_reserve(&b, 4096));
    assert_true(b.cap >= b.n + 4096 + 1);
    char *before = b.s;
    memset(b.s + b.n, 'x', 4096);
    b.n += 4096;
    assert_ptr_equal(b.s, before); /* reserved room is used without moving */
    assert_true(mb_strbuf_add(&b, ":tail"));
    assert_int_equal(b.n, 5 + 4096 + 5);
    assert_memory_equal(b.s, "head:xxx", 8);
    assert_string_equal(b.s + b.n - 5, ":tail");
    mb_strbuf_free(&b);
}

/* An allocation failure is remembered: later additions do nothing and
 * finish reports it once. */
static void test_oom_sticks(void **state)
{
    struct mb_strbuf b = {0};
    assert_true(mb_strbuf_add(&b, "kept"));
    assert_false(mb_strbuf_reserve(&b, (size_t)-1 / 2)); /* cannot be had */
    assert_true(b.oom);
    assert_false(mb_strbuf_add(&b, "more"));
    assert_false(mb_strbuf_addf(&b, "%d", 42));
    assert_int_equal(b.n, 4);
    assert_null(mb_strbuf_finish(&b)); /* and the buffer is freed */
    assert_null(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bytes_and_growth),
        cmocka_unit_test(test_reserve_and_fill),
        cmocka_unit_test(test_oom_sticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
