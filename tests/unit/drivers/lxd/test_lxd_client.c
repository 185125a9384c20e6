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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/lxd/lxd_client.h"

static char sock_path[108];
static char tmpdir[64];
static pid_t server_pid;

/* ------------------------------------------------------------------ the fake */

static int waits; /* GET .../op1/wait calls so far (the child's own count) */

static void reply(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n", status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        _exit(3);
}

#define SYNC(meta) "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200," \
                   "\"operation\":\"\",\"error_code\":0,\"error\":\"\",\"metadata\":" meta "}"
#define ASYNC(op) "{\"type\":\"async\",\"status\":\"Operation created\",\"status_code\":100," \
                  "\"operation\":\"" op "\",\"error_code\":0,\"error\":\"\",\"metadata\":{}}"
#define ERROR(code, msg) "{\"type\":\"error\",\"status\":\"\",\"status_code\":0," \
                         "\"operation\":\"\",\"error_code\":" #code ",\"error\":\"" msg "\"," \
                         "\"metadata\":null}"
#define OP(code, meta, err) SYNC("{\"id\":\"x\",\"description\":\"Creating instance\"," \
                                 "\"status_code\":" #code ",\"metadata\":" meta ",\"err\":\"" \
                                 err "\"}")

static void route(int fd, const char *method, const char *path, const char *body, size_t blen,
                  const char *ctype)
{
    if (strcmp(method, "GET") == 0 && strcmp(path, "/1.0") == 0)
        reply(fd, 200, SYNC("{\"api_version\":\"1.0\",\"auth\":\"trusted\"}"));
    else if (strcmp(path, "/1.0/instances/ghost") == 0)
        reply(fd, 404, ERROR(404, "Instance not found"));
    else if (strcmp(path, "/1.0/forbidden") == 0)
        reply(fd, 403, ERROR(403, "not authorized"));
    else if (strcmp(path, "/1.0/html") == 0)
        reply(fd, 502, "<html>bad gateway</html>");
    else if (strcmp(path, "/1.0/weird") == 0)
        reply(fd, 200, "{\"type\":\"other\",\"metadata\":{}}");
    else if (strcmp(path, "/1.0/cut") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"type\":";
        if (write(fd, h, strlen(h)) < 0)
            _exit(3);
        _exit(0); /* the connection ends mid-body */
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/1.0/instances") == 0) {
        /* the body must be the JSON the client was given */
        if (body && strstr(body, "\"name\":\"c1\""))
            reply(fd, 202, ASYNC("/1.0/operations/op1"));
        else if (body && strstr(body, "\"name\":\"bad\""))
            reply(fd, 202, ASYNC("/1.0/operations/op2"));
        else if (body && strstr(body, "\"name\":\"slow\""))
            reply(fd, 202, ASYNC("/1.0/operations/op3"));
        else
            reply(fd, 400, ERROR(400, "No name provided"));
    } else if (strncmp(path, "/1.0/operations/op1/wait?timeout=", 33) == 0) {
        if (waits++ == 0)
            reply(fd, 200, OP(103, "{\"create_instance_from_image_unpack_progress\":"
                              "\"Unpack: 50% (1MB/s)\"}", ""));
        else
            reply(fd, 200, OP(200, "{\"create_instance_from_image_unpack_progress\":"
                              "\"Unpack: 100% (2MB/s)\"}", ""));
    } else if (strncmp(path, "/1.0/operations/op2/wait", 24) == 0) {
        reply(fd, 200, OP(400, "null", "Failed creating instance: disk quota exceeded"));
    } else if (strncmp(path, "/1.0/operations/op3/wait", 24) == 0) {
        usleep(200 * 1000);
        reply(fd, 200, OP(103, "{}", ""));
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
            reply(fd, 202, ASYNC("/1.0/operations/op4"));
        else
            reply(fd, 400, ERROR(400, "Invalid multipart image"));
    } else if (strncmp(path, "/1.0/operations/op4/wait", 24) == 0) {
        reply(fd, 200, OP(200, "{\"fingerprint\":\"0123abcd\",\"size\":\"10\"}", ""));
    } else {
        reply(fd, 404, ERROR(404, "not found"));
    }
}

/* Reads requests from one connection until it ends (keep-alive). */
static void serve_conn(int fd)
{
    char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
            if (n <= 0)
                return;
            have += (size_t)n;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        buf[hlen - 2] = '\0';
        char method[16], path[512];
        if (sscanf(buf, "%15s %511s", method, path) != 2)
            return;
        size_t clen = 0;
        char ctype[256] = "";
        for (char *l = strstr(buf, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
            if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
                clen = strtoul(l + 17, NULL, 10);
            if (strncasecmp(l + 2, "Content-Type:", 13) == 0)
                sscanf(l + 15, "%255[^\r]", ctype);
            if (strncasecmp(l + 2, "Expect: 100-continue", 20) == 0 &&
                write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
                return;
        }
        char *body = clen ? malloc(clen + 1) : NULL;
        size_t got = have - hlen < clen ? have - hlen : clen;
        if (body)
            memcpy(body, buf + hlen, got);
        while (body && got < clen) {
            ssize_t n = read(fd, body + got, clen - got);
            if (n <= 0)
                return;
            got += (size_t)n;
        }
        if (body) {
            body[clen] = '\0';
            /* multipart bodies carry NULs in general: make strstr see it all */
            for (size_t i = 0; i < clen; i++)
                if (body[i] == '\0')
                    body[i] = ' ';
        }
        size_t used = hlen + (have - hlen < clen ? have - hlen : clen);
        memmove(buf, buf + used, have - used);
        have -= used;
        route(fd, method, path, body, clen, ctype[0] ? ctype : NULL);
        free(body);
    }
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mb-lxd-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(sock_path, sizeof sock_path, "%s/unix.socket", tmpdir);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, sock_path);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 16), 0);
    server_pid = fork();
    if (server_pid == 0) {
        for (;;) {
            int fd = accept(s, NULL, NULL);
            if (fd < 0)
                _exit(1);
            pid_t p = fork(); /* a connection each, so a cut one ends only itself */
            if (p == 0) {
                close(s);
                serve_conn(fd);
                _exit(0);
            }
            close(fd);
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
        }
    }
    close(s);
    return 0;
}

static int teardown(void **state)
{
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    unlink(sock_path);
    char f[128];
    snprintf(f, sizeof f, "%s/meta", tmpdir);
    unlink(f);
    snprintf(f, sizeof f, "%s/rootfs", tmpdir);
    unlink(f);
    rmdir(tmpdir);
    return 0;
}

static struct mb_lxd *client(void)
{
    struct mb_lxd_conf conf = {.socket = sock_path, .timeout = 5};
    mb_error *err = NULL;
    struct mb_lxd *c = mb_lxd_open(&conf, &err);
    assert_null(err);
    assert_non_null(c);
    return c;
}

/* ------------------------------------------------------------------ tests */

static void test_sync_and_keepalive(void **state)
{
    struct mb_lxd *c = client();
    for (int i = 0; i < 3; i++) { /* the same connection serves them all */
        mb_error *err = NULL;
        json_t *m = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &err);
        assert_null(err);
        assert_string_equal(json_string_value(json_object_get(m, "auth")), "trusted");
        json_decref(m);
    }
    assert_non_null(strstr(mb_lxd_where(c), sock_path));
    mb_lxd_free(c);
}

static void expect_error(struct mb_lxd *c, const char *method, const char *path,
                         enum mb_error_code code, const char *words)
{
    mb_error *err = NULL;
    json_t *m = mb_lxd_request(c, method, path, NULL, NULL, &err);
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
    json_t *m = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &err);
    assert_non_null(m);
    json_decref(m);
    mb_lxd_free(c);
}

static void test_unreachable(void **state)
{
    struct mb_lxd_conf conf = {.socket = "/nonexistent/lxd/unix.socket", .timeout = 2};
    mb_error *err = NULL;
    struct mb_lxd *c = mb_lxd_open(&conf, &err);
    assert_non_null(c);
    json_t *m = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, &err);
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
    json_t *body = json_pack("{s:s, s:{s:s}}", "name", "c1", "source", "type", "image");
    struct seen seen = {0};
    mb_error *err = NULL;
    json_t *m = mb_lxd_call(c, "POST", "/1.0/instances", body, 10, on_progress, &seen, &err);
    assert_null(err);
    assert_non_null(m);
    /* each progress text once, in order */
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.text[0], "Unpack: 50% (1MB/s)");
    json_decref(m);
    json_decref(body);
    mb_lxd_free(c);
}

static void test_operation_fails(void **state)
{
    struct mb_lxd *c = client();
    json_t *body = json_pack("{s:s}", "name", "bad");
    mb_error *err = NULL;
    assert_null(mb_lxd_call(c, "POST", "/1.0/instances", body, 10, NULL, NULL, &err));
    assert_int_equal(err->code, MB_ERR_FAILED);
    assert_non_null(strstr(err->message, "Creating instance failed: Failed creating instance: "
                                         "disk quota exceeded"));
    mb_error_free(err);
    err = NULL;
    /* a refused request (no operation at all) */
    json_decref(body);
    body = json_pack("{s:s}", "nom", "x");
    assert_null(mb_lxd_call(c, "POST", "/1.0/instances", body, 10, NULL, NULL, &err));
    assert_non_null(strstr(err->message, "No name provided"));
    mb_error_free(err);
    json_decref(body);
    mb_lxd_free(c);
}

static void test_operation_timeout(void **state)
{
    struct mb_lxd *c = client();
    json_t *body = json_pack("{s:s}", "name", "slow");
    mb_error *err = NULL;
    assert_null(mb_lxd_call(c, "POST", "/1.0/instances", body, 0.5, NULL, NULL, &err));
    assert_int_equal(err->code, MB_ERR_TIMEOUT);
    assert_non_null(strstr(err->message, "Creating instance did not finish within 0 s") ||
                    strstr(err->message, "Creating instance did not finish within 1 s"));
    mb_error_free(err);
    json_decref(body);
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
    snprintf(path, len, "%s/%s", tmpdir, name);
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
    char *fp = mb_lxd_upload_image(c, meta, rootfs, false, 10, on_progress, &seen, &err);
    assert_null(err);
    assert_string_equal(fp, "0123abcd");
    free(fp);
    assert_true(seen.n >= 1);
    assert_string_equal(seen.text[seen.n - 1 < 3 ? seen.n - 1 : 3], "Uploading image: 100%");
    /* a VM's disk goes as rootfs.img, which this fake refuses */
    assert_null(mb_lxd_upload_image(c, meta, rootfs, true, 10, NULL, NULL, &err));
    assert_non_null(strstr(err->message, "Invalid multipart image"));
    mb_error_free(err);
    err = NULL;
    /* a missing file: nothing is sent */
    assert_null(mb_lxd_upload_image(c, meta, "/nonexistent/rootfs", false, 10, NULL, NULL,
                                    &err));
    assert_non_null(err);
    mb_error_free(err);
    mb_lxd_free(c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_and_keepalive),
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
