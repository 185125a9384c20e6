/* Unit tests for engine/image/image.c: SHA-256 of files, verified downloads over
 * file:// and over HTTP from a tiny server forked on 127.0.0.1 (an ephemeral
 * port), resume with Range, a server that ignores Range, a stalled server, a
 * size or digest mismatch, and an unreachable address (127.0.0.1 port 1). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fs.h"
#include "image/image.h"

#define BODY_SIZE (3u << 20)

static char dir[64];
static unsigned char *body;
static char body_sha[MB_SHA256_HEX];

enum serve_mode { SERVE_RANGE, SERVE_IGNORE_RANGE, SERVE_STALL_HALF, SERVE_404 };

struct server {
    pid_t pid;
    int port;
    char log[128]; /* one line per request: the Range header, or "-" */
};

static void hex_digest(const unsigned char *data, size_t len, char out[MB_SHA256_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void serve_one(int c, enum serve_mode mode, const char *log)
{
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1) {
        ssize_t r = recv(c, req + len, sizeof req - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[len] = '\0';
    unsigned long long from = 0;
    const char *range = strcasestr(req, "\r\nRange: bytes=");
    bool has_range = range && sscanf(range, "\r\nRange: bytes=%llu-", &from) == 1;
    FILE *f = fopen(log, "a");
    if (f) {
        if (has_range)
            fprintf(f, "bytes=%llu-\n", from);
        else
            fprintf(f, "-\n");
        fclose(f);
    }
    char head[256];
    if (mode == SERVE_404) {
        snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n");
        send_all(c, head, strlen(head));
        return;
    }
    if (has_range && mode == SERVE_RANGE && from < BODY_SIZE) {
        snprintf(head, sizeof head, "HTTP/1.1 206 Partial Content\r\nContent-Length: %llu\r\n"
                 "Content-Range: bytes %llu-%u/%u\r\nConnection: close\r\n\r\n",
                 BODY_SIZE - from, from, BODY_SIZE - 1, BODY_SIZE);
        send_all(c, head, strlen(head));
        send_all(c, body + from, BODY_SIZE - from);
        return;
    }
    snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
             "Connection: close\r\n\r\n", BODY_SIZE);
    send_all(c, head, strlen(head));
    if (mode == SERVE_STALL_HALF) {
        send_all(c, body, BODY_SIZE / 2);
        sleep(10); /* the client gives up first (stall_timeout) and the test kills us */
        return;
    }
    send_all(c, body, BODY_SIZE);
}

static void server_start(struct server *s, enum serve_mode mode)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t alen = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    snprintf(s->log, sizeof s->log, "%s/server.log", dir);
    unlink(s->log);
    s->pid = fork();
    if (s->pid == 0) {
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0)
                _exit(0);
            serve_one(c, mode, s->log);
            close(c);
        }
    }
    close(fd);
}

static void server_stop(struct server *s)
{
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
}

static char *slurp(const char *path)
{
    char *s = mb_fs_read(path, NULL, NULL);
    return s ? s : strdup("");
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-image-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    mb_fs_rmtree(dir, NULL);
    return 0;
}

static void path_in(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

static void test_sha256_file(void **state)
{
    char path[256], hex[MB_SHA256_HEX];
    path_in(path, sizeof path, "abc");
    assert_true(mb_fs_write_atomic(path, "abc", 3, 0644, NULL));
    assert_true(mb_image_sha256_file(path, hex, NULL));
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    mb_error *err = NULL;
    path_in(path, sizeof path, "missing");
    assert_false(mb_image_sha256_file(path, hex, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
}

static void test_fetch_file_url_verifies(void **state)
{
    char src[256], dest[256], url[300], part[300];
    path_in(src, sizeof src, "src.img");
    path_in(dest, sizeof dest, "dest.img");
    snprintf(url, sizeof url, "file://%s", src);
    snprintf(part, sizeof part, "%s.part", dest);
    assert_true(mb_fs_write_atomic(src, body, BODY_SIZE, 0644, NULL));

    struct mb_fetch_spec spec = {.url = url, .dest = dest, .sha256 = body_sha,
                                 .size = BODY_SIZE};
    struct mb_fetch_result res;
    mb_error *err = NULL;
    assert_true(mb_image_fetch(&spec, &res, 0, &err));
    assert_string_equal(res.sha256, body_sha);
    assert_int_equal(res.size, BODY_SIZE);
    struct stat st;
    assert_int_equal(stat(dest, &st), 0);
    assert_int_equal(st.st_size, BODY_SIZE);
    assert_int_not_equal(stat(part, &st), 0); /* renamed into place */

    /* a wrong digest: nothing at dest, no .part left */
    unlink(dest);
    spec.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_int_equal(err->code, MB_ERR_FAILED);
    assert_non_null(strstr(err->message, "checksum mismatch"));
    assert_null(strchr(err->message, '\n'));
    mb_error_free(err);
    err = NULL;
    assert_int_not_equal(stat(dest, &st), 0);
    assert_int_not_equal(stat(part, &st), 0);

    /* a wrong size */
    spec.sha256 = NULL;
    spec.size = 1000;
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_non_null(strstr(err->message, "larger than"));
    mb_error_free(err);
    err = NULL;
    assert_int_not_equal(stat(part, &st), 0);

    /* a bad digest string is a usage error */
    spec.sha256 = "xyz";
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    err = NULL;

    /* a missing source */
    snprintf(url, sizeof url, "file://%s/nope.img", dir);
    spec.sha256 = NULL;
    spec.size = -1;
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
    assert_int_not_equal(stat(part, &st), 0);
}

/* Leaves the first n bytes of the body in <dest>.part, as a killed download would. */
static void leave_part(const char *dest, size_t n)
{
    char part[300];
    snprintf(part, sizeof part, "%s.part", dest);
    assert_true(mb_fs_write_atomic(part, body, n, 0644, NULL));
}

static void test_http_resume_with_range(void **state)
{
    struct server s;
    server_start(&s, SERVE_RANGE);
    char dest[256], url[128];
    path_in(dest, sizeof dest, "resumed.img");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/img", s.port);
    leave_part(dest, 1000000);
    struct mb_fetch_spec spec = {.url = url, .dest = dest, .sha256 = body_sha,
                                 .size = BODY_SIZE};
    struct mb_fetch_result res;
    mb_error *err = NULL;
    bool ok = mb_image_fetch(&spec, &res, 0, &err);
    server_stop(&s);
    assert_true(ok);
    assert_int_equal(res.resumed_from, 1000000);
    assert_int_equal(res.transferred, BODY_SIZE - 1000000);
    assert_string_equal(res.sha256, body_sha);
    char *log = slurp(s.log);
    assert_string_equal(log, "bytes=1000000-\n");
    free(log);
}

static void test_http_server_ignores_range(void **state)
{
    struct server s;
    server_start(&s, SERVE_IGNORE_RANGE);
    char dest[256], url[128];
    path_in(dest, sizeof dest, "restarted.img");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/img", s.port);
    leave_part(dest, 5000);
    struct mb_fetch_spec spec = {.url = url, .dest = dest, .sha256 = body_sha,
                                 .size = BODY_SIZE};
    struct mb_fetch_result res;
    bool ok = mb_image_fetch(&spec, &res, 0, NULL);
    server_stop(&s);
    assert_true(ok);
    assert_int_equal(res.resumed_from, 0);
    assert_int_equal(res.transferred, BODY_SIZE);
    assert_string_equal(res.sha256, body_sha);
}

static void test_http_stall_keeps_part(void **state)
{
    struct server s;
    server_start(&s, SERVE_STALL_HALF);
    char dest[256], url[128], part[300];
    path_in(dest, sizeof dest, "stalled.img");
    snprintf(part, sizeof part, "%s.part", dest);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/img", s.port);
    struct mb_fetch_spec spec = {.url = url, .dest = dest, .size = BODY_SIZE,
                                 .stall_timeout = 1};
    struct mb_fetch_result res;
    mb_error *err = NULL;
    bool ok = mb_image_fetch(&spec, &res, 0, &err);
    server_stop(&s);
    assert_false(ok);
    assert_non_null(strstr(err->message, "stalled"));
    mb_error_free(err);
    struct stat st;
    assert_int_equal(stat(part, &st), 0);
    assert_int_equal(st.st_size, BODY_SIZE / 2); /* kept, to resume */
}

static void test_http_errors(void **state)
{
    struct server s;
    server_start(&s, SERVE_404);
    char dest[256], url[128], part[300];
    path_in(dest, sizeof dest, "missing.img");
    snprintf(part, sizeof part, "%s.part", dest);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/nope.img", s.port);
    struct mb_fetch_spec spec = {.url = url, .dest = dest, .size = -1};
    struct mb_fetch_result res;
    mb_error *err = NULL;
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    assert_non_null(strstr(err->message, "HTTP 404"));
    mb_error_free(err);
    err = NULL;
    struct stat st;
    assert_int_not_equal(stat(part, &st), 0); /* nothing left behind */
    size_t len;
    assert_null(mb_image_http_get(url, 0, 0, &len, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
    err = NULL;
    server_stop(&s);

    /* nothing listens on port 1 */
    assert_null(mb_image_http_get("http://127.0.0.1:1/streams/v1/index.json", 0, 0, &len,
                                  &err));
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    assert_non_null(strstr(err->message, "remote unreachable: http://127.0.0.1:1/"));
    mb_error_free(err);
    err = NULL;
    spec.url = "http://127.0.0.1:1/x.img";
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    mb_error_free(err);
    err = NULL;
    spec.url = "ftp://127.0.0.1:1/x.img";
    assert_false(mb_image_fetch(&spec, &res, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

static void test_http_get_body_and_limit(void **state)
{
    struct server s;
    server_start(&s, SERVE_RANGE);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/manifest", s.port);
    size_t len = 0;
    mb_error *err = NULL;
    char *got = mb_image_http_get(url, 0, 0, &len, &err);
    assert_non_null(got);
    assert_int_equal(len, BODY_SIZE);
    assert_memory_equal(got, body, BODY_SIZE);
    free(got);
    assert_null(mb_image_http_get(url, 0, 1024, &len, &err));
    assert_non_null(strstr(err->message, "larger than 1024 bytes"));
    mb_error_free(err);
    server_stop(&s);
}

int main(void)
{
    body = malloc(BODY_SIZE);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < BODY_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        body[i] = (unsigned char)x;
    }
    hex_digest(body, BODY_SIZE, body_sha);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sha256_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_file_url_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_resume_with_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server_ignores_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_stall_keeps_part, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_get_body_and_limit, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(body);
    return rc;
}
