/* Unit tests for drivers/lxd/lxd_client.c against a fake LXD: a forked HTTP
 * server on a unix socket that answers like LXD 5.0 (its envelope, async
 * operations with progress, errors, a multipart image upload) and, to be
 * attacked, with things LXD never sends (HTML, an unknown type, a body that
 * stops, an operation that never ends). The real daemon proves the client in
 * the e2e suites. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "drivers/lxd/lxd_client.h"
#include "fake_lxd.h"

static int waits; /* GET .../op1/wait calls so far (the child's own count) */
static int listings; /* listings asked on this connection (the child's own count) */

static void route(int fd, const char *method, const char *path, const char *body, size_t blen,
                  const char *ctype)
{
    if (strcmp(method, "GET") == 0 && strcmp(path, "/1.0") == 0)
        fake_reply(fd, 200, SYNC("{\"api_version\":\"1.0\",\"auth\":\"trusted\"}"));
    else if (strcmp(path, "/1.0/instances?recursion=1") == 0) {
        char b[256];
        usleep(20 * 1000); /* LXD works on it a while */
        snprintf(b, sizeof b, SYNC("[{\"name\":\"c1\",\"status\":\"Running\",\"config\":"
                                   "{\"user.asked\":\"%d\"}}]"), ++listings);
        fake_reply(fd, 200, b);
    } else if (strcmp(path, "/1.0/count") == 0) { /* how many listings were asked before */
        char b[128];
        snprintf(b, sizeof b, SYNC("{\"auth\":\"%d\"}"), listings);
        fake_reply(fd, 200, b);
    } else if (strcmp(path, "/1.0/instances/ghost") == 0)
        fake_reply(fd, 404, ERROR(404, "Instance not found"));
    else if (strcmp(path, "/1.0/forbidden") == 0)
        fake_reply(fd, 403, ERROR(403, "not authorized"));
    else if (strcmp(path, "/1.0/html") == 0)
        fake_reply(fd, 502, "<html>bad gateway</html>");
    else if (strcmp(path, "/1.0/weird") == 0)
        fake_reply(fd, 200, "{\"type\":\"other\",\"metadata\":{}}");
    else if (strcmp(path, "/1.0/cut") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"type\":";
        if (write(fd, h, strlen(h)) < 0)
            _exit(3);
        _exit(0); /* the connection ends mid-body */
    } else if (strcmp(path, "/1.0/chunked") == 0) {
        /* Go's server sends a longer body in chunks */
        const char *parts[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                               "5\r\n{\"typ\r\n", "b\r\ne\":\"sync\",\"\r\n",
                               "1c\r\nmetadata\":{\"auth\":\"chunks\"}}\r\n", "0\r\n\r\n"};
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            if (write(fd, parts[i], strlen(parts[i])) < 0)
                _exit(3);
            usleep(2000);
        }
    } else if (strcmp(path, "/1.0/until-eof") == 0) {
        /* no length: the body ends with the connection */
        const char *h = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                        "{\"type\":\"sync\",\"metadata\":{\"auth\":\"eof\"}}";
        if (write(fd, h, strlen(h)) < 0)
            _exit(3);
        _exit(0);
    } else if (strcmp(path, "/1.0/bye") == 0) {
        /* answers as usual, then the server closes the idle connection */
        fake_reply(fd, 200, SYNC("{\"auth\":\"bye\"}"));
        _exit(0);
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/1.0/instances") == 0) {
        /* the body must be the JSON the client was given */
        if (body && strstr(body, "\"name\":\"c1\""))
            fake_reply(fd, 202, ASYNC("/1.0/operations/op1"));
        else if (body && strstr(body, "\"name\":\"bad\""))
            fake_reply(fd, 202, ASYNC("/1.0/operations/op2"));
        else if (body && strstr(body, "\"name\":\"slow\""))
            fake_reply(fd, 202, ASYNC("/1.0/operations/op3"));
        else
            fake_reply(fd, 400, ERROR(400, "No name provided"));
    } else if (strncmp(path, "/1.0/operations/op1/wait?timeout=", 33) == 0) {
        if (waits++ == 0)
            fake_reply(fd, 200, OP(103, "{\"create_instance_from_image_unpack_progress\":"
                              "\"Unpack: 50% (1MB/s)\"}", ""));
        else
            fake_reply(fd, 200, OP(200, "{\"create_instance_from_image_unpack_progress\":"
                              "\"Unpack: 100% (2MB/s)\"}", ""));
    } else if (strncmp(path, "/1.0/operations/op2/wait", 24) == 0) {
        fake_reply(fd, 200, OP(400, "null", "Failed creating instance: disk quota exceeded"));
    } else if (strncmp(path, "/1.0/operations/op3/wait", 24) == 0) {
        usleep(200 * 1000);
        fake_reply(fd, 200, OP(103, "{}", ""));
    } else if (strcmp(path, "/1.0/instances/c1/console") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Length: 17\r\n\r\nboot\nline 2\nlast\n";
        if (write(fd, h, strlen(h)) < 0)
            _exit(3);
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/1.0/images") == 0) {
        /* two parts, metadata then rootfs, with the files' bytes */
        const char *m = body ? strstr(body, "; name=\"metadata\"") : NULL;
        const char *r = body ? strstr(body, "; name=\"rootfs\"") : NULL;
        if (ctype && strstr(ctype, "multipart/form-data") && m && r && m < r &&
            strstr(m, "META-BYTES") && strstr(r, "ROOTFS-BYTES") && blen > 0)
            fake_reply(fd, 202, ASYNC("/1.0/operations/op4"));
        else
            fake_reply(fd, 400, ERROR(400, "Invalid multipart image"));
    } else if (strncmp(path, "/1.0/operations/op4/wait", 24) == 0) {
        fake_reply(fd, 200, OP(200, "{\"fingerprint\":\"0123abcd\",\"size\":\"10\"}", ""));
    } else {
        fake_reply(fd, 404, ERROR(404, "not found"));
    }
}

static int setup(void **state)
{
    fake_lxd_start(route);
    return 0;
}

static int teardown(void **state)
{
    fake_lxd_stop();
    return 0;
}

static struct mb_lxd *client(void)
{
    struct mb_lxd_conf conf = {.socket = fake_sock, .timeout = 5};
    mb_error *err = NULL;
    struct mb_lxd *c = mb_lxd_open(&conf, &err);
    assert_null(err);
    assert_non_null(c);
    return c;
}

/* ------------------------------------------------------------------ tests */

/* How many times c's connection had been asked for the listing when the
 * listing mb_lxd_listed answers from was made. */
static int asked(struct mb_lxd *c)
{
    mb_error *err = NULL;
    mbj_t *i = mb_lxd_listed(c, "c1", &err);
    if (err)
        fail_msg("listed: %s", err->message);
    const char *n = mbj_string_value(mbj_object_get(mbj_object_get(i, "config"),
                                                      "user.asked"));
    assert_non_null(n);
    return atoi(n);
}

static void test_sync_and_keepalive(void **state)
{
    struct mb_lxd *c = client();
    for (int i = 0; i < 3; i++) { /* the same connection serves them all */
        mb_error *err = NULL;
        mbj_t *m = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &err);
        assert_null(err);
        assert_string_equal(mbj_string_value(mbj_object_get(m, "auth")), "trusted");
        mbj_decref(m);
    }
    assert_non_null(strstr(mb_lxd_where(c), fake_sock));
    mb_lxd_free(c);
}

/* The built-in client reads what LXD (Go's net/http) may send: chunked
 * bodies, bodies ended by the connection's end, and a kept connection the
 * server has closed meanwhile (the request goes again on a new one). */
static void expect_auth(struct mb_lxd *c, const char *path, const char *want)
{
    mb_error *err = NULL;
    mbj_t *m = mb_lxd_request(c, "GET", path, NULL, NULL, &err);
    if (err)
        fail_msg("%s: %s", path, err->message);
    assert_string_equal(mbj_string_value(mbj_object_get(m, "auth")), want);
    mbj_decref(m);
}

static void test_http_bodies_and_closed_connections(void **state)
{
    struct mb_lxd *c = client();
    expect_auth(c, "/1.0/chunked", "chunks");
    expect_auth(c, "/1.0", "trusted");
    expect_auth(c, "/1.0/until-eof", "eof");
    expect_auth(c, "/1.0", "trusted");
    expect_auth(c, "/1.0/bye", "bye");
    expect_auth(c, "/1.0", "trusted"); /* on a new connection */
    expect_auth(c, "/1.0/bye", "bye");
    usleep(50 * 1000); /* the close has surely arrived */
    expect_auth(c, "/1.0/chunked", "chunks");
    mb_lxd_free(c);
}

/* A listing asked ahead is the one the next listed() reads, asked once
 * however often ahead is called; a request in between reads it first and
 * keeps it (one of ours that changes something drops it); a kept connection
 * the server closed meanwhile costs nothing but a new one; an answer older
 * than a listing is kept (2 s) is not used. */
static void test_list_ahead(void **state)
{
    struct mb_lxd *c = client();
    mb_lxd_list_ahead(c);
    mb_lxd_list_ahead(c);
    assert_int_equal(asked(c), 1);
    expect_auth(c, "/1.0", "trusted"); /* the same connection, nothing left to read */
    assert_int_equal(asked(c), 1);     /* kept */
    mb_lxd_list_ahead(c);              /* kept: nothing asked */
    expect_auth(c, "/1.0", "trusted");
    mb_lxd_free(c);

    c = client();
    mb_lxd_list_ahead(c);
    expect_auth(c, "/1.0/count", "1"); /* asked before, its answer read first */
    assert_int_equal(asked(c), 1);
    mb_lxd_free(c);

    c = client();
    mb_lxd_list_ahead(c);
    mb_error *err = NULL;
    mbj_t *body = mbj_pack("{s:s}", "name", "c1");
    char *op = NULL;
    mbj_decref(mb_lxd_request(c, "POST", "/1.0/instances", body, &op, &err));
    mbj_decref(body);
    assert_null(err);
    assert_string_equal(op, "/1.0/operations/op1");
    free(op);
    assert_int_equal(asked(c), 2); /* a change of ours: asked again */
    mb_lxd_free(c);

    c = client();
    expect_auth(c, "/1.0/bye", "bye");
    usleep(50 * 1000); /* the server has closed the kept connection */
    mb_lxd_list_ahead(c);
    assert_int_equal(asked(c), 1); /* on a new connection */
    mb_lxd_free(c);

    c = client(); /* a process that lives on: an answer asked too long ago */
    mb_lxd_list_ahead(c);
    usleep(2100 * 1000);
    assert_int_equal(asked(c), 2);
    mb_lxd_free(c);
}

static void expect_error(struct mb_lxd *c, const char *method, const char *path,
                         enum mb_error_code code, const char *words)
{
    mb_error *err = NULL;
    mbj_t *m = mb_lxd_request(c, method, path, NULL, NULL, &err);
    assert_null(m);
    assert_non_null(err);
    assert_int_equal(err->code, code);
    if (strstr(err->message, words) == NULL)
        fail_msg("\"%s\" not in \"%s\"", words, err->message);
    mb_error_free(err);
}

static void test_errors(void **state)
{
    struct mb_lxd *c = client();
    expect_error(c, "GET", "/1.0/instances/ghost", MB_ERR_NOT_FOUND, "Instance not found");
    expect_error(c, "GET", "/1.0/forbidden", MB_ERR_AUTH, "not authorized");
    expect_error(c, "GET", "/1.0/html", MB_ERR_FAILED, "HTTP 502, not LXD's JSON (<html>");
    expect_error(c, "GET", "/1.0/weird", MB_ERR_FAILED, "unknown response type \"other\"");
    expect_error(c, "GET", "/1.0/cut", MB_ERR_FAILED, "GET /1.0/cut failed");
    /* and the connection still works after all that */
    mb_error *err = NULL;
    mbj_t *m = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &err);
    assert_non_null(m);
    mbj_decref(m);
    mb_lxd_free(c);
}

static void test_unreachable(void **state)
{
    struct mb_lxd_conf conf = {.socket = "/nonexistent/lxd/unix.socket", .timeout = 2};
    mb_error *err = NULL;
    struct mb_lxd *c = mb_lxd_open(&conf, &err);
    assert_non_null(c);
    mbj_t *m = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &err);
    assert_null(m);
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    assert_non_null(strstr(err->message, "nothing answers on LXD's socket "
                                         "/nonexistent/lxd/unix.socket"));
    mb_error_free(err);
    mb_lxd_free(c);

    err = NULL;
    conf = (struct mb_lxd_conf){.url = "http://example.invalid:8443"};
    assert_null(mb_lxd_open(&conf, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "https://"));
    mb_error_free(err);
}

struct seen {
    int n;
    char text[4][64];
};

static void on_progress(const char *text, void *ud)
{
    struct seen *s = ud;
    if (s->n < 4)
        snprintf(s->text[s->n], sizeof s->text[0], "%s", text);
    s->n++;
}

static void test_operation_with_progress(void **state)
{
    struct mb_lxd *c = client();
    mbj_t *body = mbj_pack("{s:s, s:{s:s}}", "name", "c1", "source", "type", "image");
    struct seen seen = {0};
    mb_error *err = NULL;
    mbj_t *m = mb_lxd_call(c, "POST", "/1.0/instances", body, 10, on_progress, &seen, &err);
    assert_null(err);
    assert_non_null(m);
    /* each progress text once, in order */
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.text[0], "Unpack: 50% (1MB/s)");
    mbj_decref(m);
    mbj_decref(body);
    mb_lxd_free(c);
}

static void test_operation_fails(void **state)
{
    struct mb_lxd *c = client();
    mbj_t *body = mbj_pack("{s:s}", "name", "bad");
    mb_error *err = NULL;
    assert_null(mb_lxd_call(c, "POST", "/1.0/instances", body, 10, NULL, NULL, &err));
    assert_int_equal(err->code, MB_ERR_FAILED);
    assert_non_null(strstr(err->message, "Creating instance failed: Failed creating instance: "
                                         "disk quota exceeded"));
    mb_error_free(err);
    err = NULL;
    /* a refused request (no operation at all) */
    mbj_decref(body);
    body = mbj_pack("{s:s}", "nom", "x");
    assert_null(mb_lxd_call(c, "POST", "/1.0/instances", body, 10, NULL, NULL, &err));
    assert_non_null(strstr(err->message, "No name provided"));
    mb_error_free(err);
    mbj_decref(body);
    mb_lxd_free(c);
}

static void test_operation_timeout(void **state)
{
    struct mb_lxd *c = client();
    mbj_t *body = mbj_pack("{s:s}", "name", "slow");
    mb_error *err = NULL;
    assert_null(mb_lxd_call(c, "POST", "/1.0/instances", body, 0.5, NULL, NULL, &err));
    assert_int_equal(err->code, MB_ERR_TIMEOUT);
    assert_non_null(strstr(err->message, "Creating instance did not finish within 0 s") ||
                    strstr(err->message, "Creating instance did not finish within 1 s"));
    mb_error_free(err);
    mbj_decref(body);
    mb_lxd_free(c);
}

static void test_console_raw(void **state)
{
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    size_t len = 0;
    char *log = mb_lxd_get_raw(c, "/1.0/instances/c1/console", 1000, &len, &err);
    if (err)
        fail_msg("%s", err->message);
    assert_null(err);
    assert_string_equal(log, "boot\nline 2\nlast\n");
    assert_int_equal(len, 17);
    free(log);
    /* only the tail */
    log = mb_lxd_get_raw(c, "/1.0/instances/c1/console", 5, &len, &err);
    assert_string_equal(log, "last\n");
    free(log);
    assert_null(mb_lxd_get_raw(c, "/1.0/instances/ghost", 100, &len, &err));
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    assert_non_null(strstr(err->message, "Instance not found"));
    mb_error_free(err);
    mb_lxd_free(c);
}

static void write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", fake_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_upload_image(void **state)
{
    char meta[128], rootfs[128];
    write_file("meta", "META-BYTES", meta, sizeof meta);
    write_file("rootfs", "ROOTFS-BYTES", rootfs, sizeof rootfs);
    struct mb_lxd *c = client();
    struct seen seen = {0};
    mb_error *err = NULL;
    char *fp = mb_lxd_upload_image(c, meta, rootfs, false, NULL, 10, on_progress, &seen, &err);
    assert_null(err);
    assert_string_equal(fp, "0123abcd");
    free(fp);
    assert_true(seen.n >= 1);
    assert_string_equal(seen.text[seen.n - 1 < 3 ? seen.n - 1 : 3], "Uploading image: 100%");
    /* a VM's disk goes as rootfs.img, which this fake refuses */
    assert_null(mb_lxd_upload_image(c, meta, rootfs, true, NULL, 10, NULL, NULL, &err));
    assert_non_null(strstr(err->message, "Invalid multipart image"));
    mb_error_free(err);
    err = NULL;
    /* a missing file: nothing is sent */
    assert_null(mb_lxd_upload_image(c, meta, "/nonexistent/rootfs", false, NULL, 10, NULL,
                                    NULL, &err));
    assert_non_null(err);
    mb_error_free(err);
    mb_lxd_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_and_keepalive),
        cmocka_unit_test(test_http_bodies_and_closed_connections),
        cmocka_unit_test(test_list_ahead),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_operation_with_progress),
        cmocka_unit_test(test_operation_fails),
        cmocka_unit_test(test_operation_timeout),
        cmocka_unit_test(test_console_raw),
        cmocka_unit_test(test_upload_image),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
