/* Unit tests for the external-driver protocol's C sides: an instance through
 * JSON and back (rpc_json.c), and a driver table served over a socket
 * (rpc_serve.c): initialize lists exactly the filled slots, a missing slot
 * is the dispatcher's "unsupported", an unknown method is -32601, a line
 * that is not JSON is -32600, and the server ends when its input does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver/rpc.h"

static void instance_round_trip(void **state)
{
    struct mb_nic nics[] = {{"moonbase0", "52:54:00:00:00:01", "10.0.0.5", MB_NIC_TAP,
                             "mbtap3", 0}};
    struct mb_mount_spec mounts[] = {{"/srv", "srv", true, true, "/srv"}};
    struct mb_instance in = {.name = "web", .dir = "/tmp/x/web", .cpus = 2,
                             .memory = 1u << 30, .disk_size = 5ull << 30,
                             .image = {.path = "/img/disk.qcow2"},
                             .cloud_init = {.user_data = "#cloud-config\n"},
                             .nics = nics, .n_nics = 1, .mounts = mounts, .n_mounts = 1};
    mbj_t *j = mb_rpc_instance_json(&in);
    struct mb_instance out;
    struct mb_nic *n = NULL;
    struct mb_mount_spec *m = NULL;
    assert_true(mb_rpc_instance_from(j, &out, &n, &m, NULL));
    assert_string_equal(out.name, "web");
    assert_string_equal(out.dir, "/tmp/x/web");
    assert_int_equal(out.cpus, 2);
    assert_true(out.memory == 1u << 30 && out.disk_size == 5ull << 30);
    assert_string_equal(out.image.path, "/img/disk.qcow2");
    assert_null(out.image.kernel);
    assert_string_equal(out.cloud_init.user_data, "#cloud-config\n");
    assert_int_equal(out.n_nics, 1);
    assert_int_equal(out.nics[0].attach, MB_NIC_TAP);
    assert_string_equal(out.nics[0].device, "mbtap3");
    assert_string_equal(out.nics[0].ipv4, "10.0.0.5");
    assert_int_equal(out.n_mounts, 1);
    assert_true(out.mounts[0].readonly && out.mounts[0].mapped);
    assert_string_equal(out.mounts[0].tag, "srv");
    assert_string_equal(out.mounts[0].target, "/srv"); /* a driver that mounts in place */
    free(n);
    free(m);
    mbj_decref(j);

    mb_error *err = NULL;
    mbj_t *bad = mbj_pack("{s:s}", "name", "web"); /* no dir */
    assert_false(mb_rpc_instance_from(bad, &out, &n, &m, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
    free(n);
    free(m);
    mbj_decref(bad);
}

static bool fake_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    mb_error_set(err, MB_ERR_STATE, "start: \"%s\" is running", i->name);
    return false;
}

static enum mb_state fake_state(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                                mb_error **err)
{
    return MB_STATE_STOPPED;
}

static const struct mb_driver fake = {
    .name = "fake",
    .scope = "fakes",
    .start = fake_start,
    .state = fake_state,
};

/* Sends the lines to a server of the fake table and returns its replies. */
static char *serve(const char *lines)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[0], lines, strlen(lines)), (ssize_t)strlen(lines));
    shutdown(sv[0], SHUT_WR);
    assert_int_equal(mb_rpc_serve(&fake, sv[1], sv[1]), 0);
    close(sv[1]);
    static char buf[8192];
    ssize_t n = read(sv[0], buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    close(sv[0]);
    return buf;
}

static mbj_t *line(const char *replies, int k)
{
    const char *p = replies;
    for (int i = 0; i < k; i++)
        p = strchr(p, '\n') + 1;
    return mbj_loadb(p, (size_t)(strchr(p, '\n') - p));
}

#define INST "{\"instance\":{\"name\":\"a\",\"dir\":\"/nonexistent/a\",\"cpus\":1,\"memory\":1}}"

static void serves_a_table(void **state)
{
    char *r = serve(
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocol\":1}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"state\",\"params\":" INST "}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"start\",\"params\":" INST "}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"suspend\",\"params\":" INST "}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"teleport\",\"params\":" INST "}\n"
        "not json\n");
    mbj_t *init = line(r, 0);
    mbj_t *res = mbj_object_get(init, "result");
    assert_int_equal(mbj_integer_value(mbj_object_get(res, "protocol")), MB_RPC_PROTOCOL);
    assert_string_equal(mbj_string_value(mbj_object_get(res, "scope")), "fakes");
    char *methods = mbj_dumps(mbj_object_get(res, "methods"), MBJ_COMPACT);
    assert_string_equal(methods, "[\"open\",\"start\",\"state\"]");
    free(methods);
    mbj_decref(init);

    mbj_t *st = line(r, 1);
    assert_string_equal(mbj_string_value(mbj_object_get(st, "result")), "stopped");
    mbj_decref(st);

    mbj_t *e = line(r, 2); /* the driver's error, with moonbase's code */
    mbj_t *err = mbj_object_get(e, "error");
    assert_string_equal(mbj_string_value(mbj_object_get(err, "message")),
                        "start: \"a\" is running");
    assert_string_equal(mbj_string_value(mbj_object_get(mbj_object_get(err, "data"), "code")),
                        "state");
    mbj_decref(e);

    e = line(r, 3); /* a NULL slot: the dispatcher's words */
    assert_string_equal(mbj_string_value(mbj_object_get(mbj_object_get(e, "error"),
                                                          "message")),
                        "unsupported: suspend is not supported by the fake driver");
    mbj_decref(e);

    e = line(r, 4);
    assert_int_equal(mbj_integer_value(mbj_object_get(mbj_object_get(e, "error"), "code")),
                     -32601);
    mbj_decref(e);

    e = line(r, 5);
    assert_int_equal(mbj_integer_value(mbj_object_get(mbj_object_get(e, "error"), "code")),
                     -32600);
    assert_true(mbj_object_has(e, "id") && mbj_object_get(e, "id") == NULL); /* null */
    mbj_decref(e);
}

/* A list of strings from a driver: a string holding a NUL (\u0000, which
 * json-c reads) is not one, and nothing crashes on it (found by fuzz_json). */
static void string_lists(void **state)
{
    mbj_t *ok = mbj_loads("[\"a\", \"b c\"]");
    char **v = mb_rpc_strv_from(ok, NULL);
    assert_non_null(v);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b c");
    assert_null(v[2]);
    mb_strv_free(v);
    mbj_decref(ok);
    static const char *const bad[] = {"[\"\\u0000),\"]", "[\"a\", 1]", "[\"a\", null]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mbj_t *j = mbj_loads(bad[i]);
        assert_non_null(j);
        mb_error *err = NULL;
        assert_null(mb_rpc_strv_from(j, &err));
        assert_non_null(err);
        assert_string_equal(err->message, "a list of strings was expected");
        mb_error_free(err);
        mbj_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(instance_round_trip),
        cmocka_unit_test(serves_a_table),
        cmocka_unit_test(string_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
