/* Unit tests for drivers/qemu/qmp.c and qemu_json.c: the JSON reader, the
 * classification of QMP messages, and the client against a scripted peer
 * (a socketpair, or a forked fake QEMU on a unix socket) — replies with
 * events interleaved, late replies to other ids, errors, timeouts, EOF. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, " \
                 "\"major\": 7}, \"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": 1}\r\n"
#define EVENT(name) "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, " \
                    "\"event\": \"" name "\", \"data\": {\"x\": [1, {\"y\": \"}\"}]}}\r\n"

static void test_json_reader(void **state)
{
    const char *doc = " {\"a\": 1, \"b\": {\"c\": [1, 2, {\"d\": \"e\"}], \"a\": 7}, "
                      "\"s\": \"x\\\"y\\\\z\\n\\u00e9\\ud83d\\ude00\", \"n\": -12, "
                      "\"f\": 1.5e3, \"t\": true, \"z\": null, \"empty\": []} tail";
    const char *end = mb_json_skip(doc);
    assert_non_null(end);
    assert_string_equal(end, " tail");
    long long v;
    assert_true(mb_json_int(mb_json_get(doc, "a"), &v));
    assert_int_equal(v, 1); /* the top-level a, not b.a */
    assert_true(mb_json_int(mb_json_get(mb_json_get(doc, "b"), "a"), &v));
    assert_int_equal(v, 7);
    assert_true(mb_json_int(mb_json_get(doc, "n"), &v));
    assert_int_equal(v, -12);
    assert_false(mb_json_int(mb_json_get(doc, "f"), &v));
    char *s = mb_json_string(mb_json_get(doc, "s"));
    assert_string_equal(s, "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");
    free(s);
    assert_null(mb_json_get(doc, "missing"));
    assert_null(mb_json_string(mb_json_get(doc, "n")));
    assert_null(mb_json_first(mb_json_get(doc, "empty")));

    const char *arr = mb_json_get(mb_json_get(doc, "b"), "c");
    const char *e = mb_json_first(arr);
    int n = 0;
    for (; e; e = mb_json_next(e))
        n++;
    assert_int_equal(n, 3);
    char *dup = mb_json_dup(arr);
    assert_string_equal(dup, "[1, 2, {\"d\": \"e\"}]");
    free(dup);

    /* broken documents are rejected, not half-read */
    static const char *const bad[] = {
        "{\"a\": 1", "{\"a\" 1}", "{\"a\": tru}", "[1, 2,]", "\"unterminated", "{\"a\": 01x}",
        "\"bad \\q escape\"", "\"ctl \x01\"", "", "{\"a\": -}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *r = mb_json_skip(bad[k]);
        if (r != NULL && *r == '\0' && strcmp(bad[k], "{\"a\": 01x}") != 0)
            fail_msg("accepted broken JSON: %s", bad[k]);
    }
    assert_null(mb_json_get("{\"a\": 1", "a"));

    /* nesting is bounded */
    char deep[300];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 99);
    deep[299] = '\0';
    assert_null(mb_json_skip(deep));

    char *q = mb_json_quote("exec:cat > '/a \"b\"\\c'\n");
    assert_string_equal(q, "\"exec:cat > '/a \\\"b\\\"\\\\c'\\u000a\"");
    s = mb_json_string(q);
    assert_string_equal(s, "exec:cat > '/a \"b\"\\c'\n");
    free(s);
    free(q);
}

static void test_classify(void **state)
{
    long long id;
    char *p;
    assert_int_equal(mb_qmp_classify(GREETING, &id, &p), MB_QMP_GREETING);
    assert_null(p);
    assert_int_equal(mb_qmp_classify(EVENT("STOP"), &id, &p), MB_QMP_EVENT);
    assert_string_equal(p, "STOP");
    assert_int_equal(id, -1);
    free(p);
    assert_int_equal(mb_qmp_classify("{\"return\": {\"status\": \"running\", \"running\": true},"
                                     " \"id\": 42}", &id, &p), MB_QMP_RETURN);
    assert_int_equal(id, 42);
    assert_string_equal(p, "{\"status\": \"running\", \"running\": true}");
    free(p);
    assert_int_equal(mb_qmp_classify("{\"id\": 3, \"error\": {\"class\": \"GenericError\", "
                                     "\"desc\": \"no \\\"disk\\\"\"}}", &id, &p), MB_QMP_ERROR);
    assert_int_equal(id, 3);
    assert_string_equal(p, "GenericError: no \"disk\"");
    free(p);
    assert_int_equal(mb_qmp_classify("{\"return\": {}}", &id, &p), MB_QMP_RETURN);
    assert_int_equal(id, -1);
    free(p);
    assert_int_equal(mb_qmp_classify("{\"return\": {}, \"id\": \"str\"}", &id, &p),
                     MB_QMP_RETURN);
    assert_int_equal(id, -1);
    free(p);
    assert_int_equal(mb_qmp_classify("{\"return\": {", &id, &p), MB_QMP_INVALID);
    assert_null(p);
    assert_int_equal(mb_qmp_classify("[1]", &id, &p), MB_QMP_INVALID);
    assert_int_equal(mb_qmp_classify("{\"something\": 1}", &id, &p), MB_QMP_INVALID);
}

/* A client whose peer has already "said" everything in `script`. */
static struct mb_qmp *scripted(const char *script, int *peer, mb_error **err)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], script, strlen(script)), (ssize_t)strlen(script));
    *peer = sv[1];
    return mb_qmp_open_fd(sv[0], "test.sock", 2, err);
}

/* What the client sent to the peer so far. */
static char *sent(int peer)
{
    static char buf[4096];
    fcntl(peer, F_SETFL, O_NONBLOCK);
    ssize_t n = read(peer, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_events_before_return(void **state)
{
    int peer;
    mb_error *err = NULL;
    struct mb_qmp *q = scripted(EVENT("RESET") GREETING CAPS_OK EVENT("STOP")
                                "{\"return\": {\"status\": \"stale\"}, \"id\": 99}\r\n"
                                EVENT("RESUME")
                                "{\"return\": {\"status\": \"paused\"}, \"id\": 2}\r\n",
                                &peer, &err);
    assert_non_null(q);
    char *r = mb_qmp_execute(q, "query-status", NULL, 2, &err);
    assert_non_null(r);
    char *st = mb_json_string(mb_json_get(r, "status"));
    assert_string_equal(st, "paused");
    free(st);
    free(r);
    char *out = sent(peer);
    assert_non_null(strstr(out, "{\"execute\": \"qmp_capabilities\", \"id\": 1}\n"));
    assert_non_null(strstr(out, "{\"execute\": \"query-status\", \"id\": 2}\n"));
    mb_qmp_free(q);
    close(peer);
}

static void test_error_reply(void **state)
{
    int peer;
    mb_error *err = NULL;
    struct mb_qmp *q = scripted(GREETING CAPS_OK EVENT("POWERDOWN")
                                "{\"id\": 2, \"error\": {\"class\": \"DeviceNotFound\", "
                                "\"desc\": \"Device 'disk9' not found\"}}\r\n", &peer, &err);
    assert_non_null(q);
    assert_null(mb_qmp_execute(q, "block_resize", "{\"device\": \"disk9\", \"size\": 1}", 2,
                               &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_FAILED);
    assert_non_null(strstr(err->message, "block_resize"));
    assert_non_null(strstr(err->message, "DeviceNotFound: Device 'disk9' not found"));
    mb_error_free(err);
    char *out = sent(peer);
    assert_non_null(strstr(out, "\"arguments\": {\"device\": \"disk9\", \"size\": 1}, \"id\": 2"));
    mb_qmp_free(q);
    close(peer);
}

static void test_timeout_and_eof(void **state)
{
    int peer;
    mb_error *err = NULL;
    struct mb_qmp *q = scripted(GREETING CAPS_OK EVENT("STOP"), &peer, &err);
    assert_non_null(q);
    assert_null(mb_qmp_execute(q, "query-status", NULL, 0.2, &err));
    assert_int_equal(err->code, MB_ERR_TIMEOUT);
    mb_error_free(err);
    err = NULL;
    /* the late reply to id 2 must not be taken for id 3 */
    const char *late = "{\"return\": {\"status\": \"late\"}, \"id\": 2}\r\n"
                       "{\"return\": {\"status\": \"ok\"}, \"id\": 3}\r\n";
    assert_int_equal(write(peer, late, strlen(late)), (ssize_t)strlen(late));
    char *r = mb_qmp_execute(q, "query-status", NULL, 2, &err);
    assert_non_null(r);
    assert_non_null(strstr(r, "\"ok\""));
    free(r);
    close(peer);
    assert_null(mb_qmp_execute(q, "quit", NULL, 2, &err));
    assert_int_equal(err->code, MB_ERR_FAILED);
    assert_non_null(strstr(err->message, "closed"));
    mb_error_free(err);
    mb_qmp_free(q);
}

static void test_bad_greeting(void **state)
{
    int peer;
    mb_error *err = NULL;
    assert_null(scripted("{\"return\": {}, \"id\": 1}\r\n", &peer, &err));
    assert_non_null(strstr(err->message, "greeting"));
    mb_error_free(err);
    close(peer);
    err = NULL;
    assert_null(scripted(GREETING "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", "
                         "\"desc\": \"nope\"}}\r\n", &peer, &err));
    assert_non_null(strstr(err->message, "CommandNotFound"));
    mb_error_free(err);
    close(peer);
    mb_qmp_free(NULL);
}

/* A fake QEMU in a child process: QMP on a unix socket whose path is longer
 * than sun_path, answering in dribbles (a line split over writes). */
static void fake_qemu(int lfd)
{
    int c = accept(lfd, NULL, NULL);
    if (c < 0)
        _exit(1);
    const char *parts[] = {
        GREETING, "{\"return\": {}, \"i", "d\": 1}\r\n",
        EVENT("SHUTDOWN") "{\"return\": {\"status\": \"running\"}, \"id\": 2}\r\n",
    };
    char buf[512];
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (k == 1 || k == 3) /* wait for the client's command first */
            if (read(c, buf, sizeof buf) <= 0)
                _exit(1);
        usleep(20000);
        if (write(c, parts[k], strlen(parts[k])) < 0)
            _exit(1);
    }
    while (read(c, buf, sizeof buf) > 0)
        ;
    _exit(0);
}

static void test_connect_long_path(void **state)
{
    char dir[] = "/tmp/mb-qmp-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char deep[512];
    snprintf(deep, sizeof deep, "%s/%s", dir,
             "a-directory-name-that-is-long-enough-to-push-the-socket-path-over-sun-path-"
             "of-one-hundred-and-eight-bytes");
    assert_int_equal(mkdir(deep, 0700), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/qmp.sock", deep);
    assert_true(strlen(path) >= sizeof((struct sockaddr_un *)0)->sun_path);

    int dfd = open(deep, O_PATH | O_DIRECTORY);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/qmp.sock", dfd);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    close(dfd);
    pid_t pid = fork();
    if (pid == 0)
        fake_qemu(lfd);
    close(lfd);

    mb_error *err = NULL;
    struct mb_qmp *q = mb_qmp_connect(path, 5, &err);
    if (q == NULL)
        fail_msg("connect: %s", err->message);
    char *r = mb_qmp_execute(q, "query-status", NULL, 5, &err);
    assert_non_null(r);
    assert_non_null(strstr(r, "running"));
    free(r);
    mb_qmp_free(q);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    unlink(path);
    assert_null(mb_qmp_connect(path, 1, &err));
    assert_non_null(strstr(err->message, "is QEMU running?"));
    mb_error_free(err);
    rmdir(deep);
    rmdir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_reader),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_events_before_return),
        cmocka_unit_test(test_error_reply),
        cmocka_unit_test(test_timeout_and_eof),
        cmocka_unit_test(test_bad_greeting),
        cmocka_unit_test(test_connect_long_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
