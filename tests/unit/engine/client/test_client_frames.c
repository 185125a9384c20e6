/* The CLI's decoders of what the daemon sends (engine/client): frames in an
 * HTTP body and WebSocket frames. Well-formed input is decoded whole whatever
 * the chunking; random and truncated input never crashes them, and a length
 * beyond the limit is refused. (The daemon's side is libwebsockets'.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "client/client.h"

static size_t frame(unsigned char *out, int ch, const char *payload)
{
    size_t n = strlen(payload);
    out[0] = (unsigned char)ch;
    out[1] = (unsigned char)(n >> 24);
    out[2] = (unsigned char)(n >> 16);
    out[3] = (unsigned char)(n >> 8);
    out[4] = (unsigned char)n;
    memcpy(out + 5, payload, n);
    return n + 5;
}

static void test_frames_any_chunking(void **state)
{
    (void)state;
    unsigned char stream[256];
    size_t len = frame(stream, 3, "200\n{\"result\":[1],\"n\":1}");
    for (size_t chunk = 1; chunk <= len; chunk++) {
        struct mb_client_framer f;
        struct mb_strbuf result = {0};
        mb_client_framer_init(&f, &result);
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            assert_int_not_equal((size_t)-1, mb_client_frames_feed(&f, (char *)stream + off, n));
        }
        assert_non_null(result.s);
        assert_string_equal("200\n{\"result\":[1],\"n\":1}", result.s);
        free(result.s);
        mb_client_framer_free(&f);
    }
}

static void test_ws_messages_and_limits(void **state)
{
    (void)state;
    /* an unmasked binary frame: channel 3 + text */
    const char *text = "\x03" "0\n{}";
    unsigned char fr[64] = {0x82, (unsigned char)strlen(text)};
    memcpy(fr + 2, text, strlen(text));
    struct mb_client_ws ws;
    memset(&ws, 0, sizeof ws);
    struct mb_strbuf result = {0};
    bool done = false;
    struct mb_client_sink sink = {&result, &done};
    assert_int_equal(2 + (long)strlen(text), mb_client_ws_feed(&ws, &sink, fr,
                                                                 2 + strlen(text)));
    assert_true(done);
    assert_string_equal("0\n{}", result.s);
    free(result.s);
    mb_client_ws_free(&ws);
    /* a masked frame from a "server", and a 2^63 length: refused */
    unsigned char masked[] = {0x82, 0x81, 1, 2, 3, 4, 5};
    memset(&ws, 0, sizeof ws);
    assert_int_equal(-1, mb_client_ws_feed(&ws, &sink, masked, sizeof masked));
    unsigned char huge[] = {0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    memset(&ws, 0, sizeof ws);
    assert_int_equal(-1, mb_client_ws_feed(&ws, &sink, huge, sizeof huge));
}

static void test_random_input(void **state)
{
    (void)state;
    /* stdout/stderr frames of random input go to fds 1 and 2: to /dev/null */
    int null = open("/dev/null", O_WRONLY);
    int saved1 = dup(1), saved2 = dup(2);
    dup2(null, 1);
    dup2(null, 2);
    srand(12345);
    unsigned char buf[4096];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rand();
        struct mb_client_ws ws;
        memset(&ws, 0, sizeof ws);
        struct mb_strbuf result = {0};
        bool done = false;
        struct mb_client_sink sink = {&result, &done};
        long used = mb_client_ws_feed(&ws, &sink, buf, n);
        assert_true(used >= -1 && used <= (long)n);
        free(result.s);
        mb_client_ws_free(&ws);
        struct mb_client_framer f;
        struct mb_strbuf r2 = {0};
        mb_client_framer_init(&f, &r2);
        size_t u = mb_client_frames_feed(&f, (char *)buf, n);
        assert_true(u == (size_t)-1 || u <= n);
        free(r2.s);
        mb_client_framer_free(&f);
    }
    dup2(saved1, 1);
    dup2(saved2, 2);
    close(null);
    close(saved1);
    close(saved2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_any_chunking),
        cmocka_unit_test(test_ws_messages_and_limits),
        cmocka_unit_test(test_random_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
