/* Unit tests for drivers/lxd/lxd_ops.c against the fake LXD (fake_lxd.h):
 * the probe's verdicts and their advice, states, addresses, images by
 * fingerprint (and an upload another client won), devices and config keys
 * removed through GET + PUT, a rename and LXD's refusal of one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/mman.h>

#include "core/kvm.h"
#include "drivers/lxd/lxd_ops.h"
#include "fake_lxd.h"

#define SERVER(auth, drivers) SYNC("{\"api_version\":\"1.0\",\"auth\":\"" auth "\"," \
    "\"environment\":{\"server_version\":\"5.0.2\",\"driver\":\"" drivers "\"}}")
#define PROFILE_WITH_POOL SYNC("{\"name\":\"default\",\"devices\":{\"root\":{\"type\":\"disk\"," \
    "\"path\":\"/\",\"pool\":\"default\"}}}")

static struct mb_lxd *client(void)
{
    struct mb_lxd_conf conf = {.socket = fake_sock, .timeout = 5};
    mb_error *err = NULL;
    struct mb_lxd *c = mb_lxd_open(&conf, &err);
    assert_non_null(c);
    return c;
}

static void expect_probe(fake_route_fn route, bool vm, enum mb_probe_result want,
                         const char *words)
{
    fake_lxd_start(route);
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    char *reason = NULL;
    enum mb_probe_result r = mb_lxd_probe(c, vm, &reason, &err);
    assert_null(err);
    assert_int_equal(r, want);
    if (strstr(reason, words) == NULL)
        fail_msg("\"%s\" not in \"%s\"", words, reason);
    free(reason);
    mb_lxd_free(c);
    fake_lxd_stop();
}

static void ready(int fd, const char *method, const char *path, const char *body, size_t n,
                  const char *ctype)
{
    if (strcmp(path, "/1.0") == 0)
        fake_reply(fd, 200, SERVER("trusted", "lxc | qemu"));
    else if (strcmp(path, "/1.0/profiles/default") == 0)
        fake_reply(fd, 200, PROFILE_WITH_POOL);
    else
        fake_reply(fd, 404, ERROR(404, "not found"));
}

static void untrusted(int fd, const char *method, const char *path, const char *body, size_t n,
                      const char *ctype)
{
    fake_reply(fd, 200, SERVER("untrusted", "lxc"));
}

static void uninitialised(int fd, const char *method, const char *path, const char *body,
                          size_t n, const char *ctype)
{
    if (strcmp(path, "/1.0") == 0)
        fake_reply(fd, 200, SERVER("trusted", "lxc"));
    else
        fake_reply(fd, 200, SYNC("{\"name\":\"default\",\"devices\":{}}"));
}

static void containers_only(int fd, const char *method, const char *path, const char *body,
                            size_t n, const char *ctype)
{
    if (strcmp(path, "/1.0") == 0)
        fake_reply(fd, 200, SERVER("trusted", "lxc"));
    else
        fake_reply(fd, 200, PROFILE_WITH_POOL);
}

static void test_probe(void **state)
{
    expect_probe(ready, false, MB_PROBE_OK, "LXD 5.0.2 at unix:");
    expect_probe(ready, false, MB_PROBE_OK, "storage pool default, containers");
    expect_probe(untrusted, false, MB_PROBE_DECLINED, "does not trust moonbase (make a token "
                 "there with lxc config trust add, then: moonbase enroll TOKEN)");
    expect_probe(uninitialised, false, MB_PROBE_DECLINED, "is not initialised: its default "
                 "profile has no root disk on a storage pool (run lxd init --auto there, or lxd init "
                 "--preseed with a storage pool)");
    enum mb_kvm_verdict kv = mb_kvm_check("/dev/kvm", NULL);
    char want[256];
    snprintf(want, sizeof want, "LXD virtual machines need KVM, and this host has %s",
             mb_kvm_describe(kv));
    if (kv != MB_KVM_USABLE)
        expect_probe(ready, true, MB_PROBE_DECLINED, want);
    else
        expect_probe(containers_only, true, MB_PROBE_DECLINED, "cannot run virtual machines");

    /* nothing at the socket: LXD not running (or not installed) */
    struct mb_lxd_conf conf = {.socket = "/nonexistent/unix.socket", .timeout = 2};
    mb_error *err = NULL;
    struct mb_lxd *c = mb_lxd_open(&conf, &err);
    char *reason = NULL;
    assert_int_equal(mb_lxd_probe(c, false, &reason, &err), MB_PROBE_DECLINED);
    assert_true(strstr(reason, "LXD is not running: nothing answers on LXD's socket "
                               "/nonexistent/unix.socket") ||
                strstr(reason, "LXD is not installed (install it: apt-get install lxd"));
    free(reason);
    mb_lxd_free(c);
}

#define STATE(code, extra) SYNC("{\"status_code\":" #code ",\"pid\":4242" extra "}")
#define NET ",\"network\":{\"lo\":{\"addresses\":[{\"family\":\"inet\",\"address\":" \
    "\"127.0.0.1\",\"scope\":\"local\"}]},\"eth1\":{\"addresses\":[{\"family\":\"inet\"," \
    "\"address\":\"10.78.0.10\",\"scope\":\"global\"}]},\"eth0\":{\"addresses\":[{\"family\":" \
    "\"inet6\",\"address\":\"fe80::1\",\"scope\":\"link\"},{\"family\":\"inet\",\"address\":" \
    "\"10.77.0.2\",\"scope\":\"global\"}]}}"

#define INST(code, owner) SYNC("{\"name\":\"x\",\"status_code\":" #code ",\"config\":" \
    "{\"user.moonbase.home\":\"" owner "\"}}")

#define LISTED(name, code, owner) "{\"name\":\"" name "\",\"status_code\":" #code \
    ",\"config\":{\"user.moonbase.home\":\"" owner "\"}}"
/* GET /1.0/instances?recursion=1 asked (counted in the fake's processes) */
static int *listings;

static void instances(int fd, const char *method, const char *path, const char *body, size_t n,
                      const char *ctype)
{
    if (strcmp(method, "GET") == 0 && strcmp(path, "/1.0/instances?recursion=1") == 0) {
        if (listings)
            __atomic_add_fetch(listings, 1, __ATOMIC_SEQ_CST);
        fake_reply(fd, 200, SYNC("[" LISTED("run", 103, "h1") "," LISTED("stop", 102, "h1") ","
                                 LISTED("frozen", 110, "h1") "]"));
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/1.0/instances/stop") == 0) {
        /* a rename: the new name in the body, then LXD's operation */
        if (body && strcmp(body, "{\"name\":\"moved\"}") == 0)
            fake_reply(fd, 202, ASYNC("/1.0/operations/put"));
        else
            fake_reply(fd, 400, ERROR(400, "unexpected rename"));
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/1.0/instances/run") == 0)
        fake_reply(fd, 202, ASYNC("/1.0/operations/busy"));
    else if (strncmp(path, "/1.0/operations/busy/wait", 25) == 0)
        fake_reply(fd, 200, OP(400, "{}", "Renaming of running instance not allowed"));
    else if (strcmp(path, "/1.0/instances/run") == 0)
        fake_reply(fd, 200, INST(103, "h1"));
    else if (strcmp(path, "/1.0/instances/stop") == 0)
        fake_reply(fd, 200, INST(102, "h1"));
    else if (strcmp(path, "/1.0/instances/frozen") == 0)
        fake_reply(fd, 200, INST(110, "h1"));
    else if (strcmp(path, "/1.0/instances/broken") == 0)
        fake_reply(fd, 200, INST(112, "h1"));
    else if (strcmp(path, "/1.0/instances/run/state") == 0)
        fake_reply(fd, 200, STATE(103, NET));
    else if (strcmp(path, "/1.0/instances/stop/state") == 0)
        fake_reply(fd, 200, STATE(102, ""));
    else if (strcmp(path, "/1.0/instances/frozen/state") == 0)
        fake_reply(fd, 200, STATE(110, ""));
    else if (strcmp(path, "/1.0/instances/broken/state") == 0)
        fake_reply(fd, 200, STATE(112, ""));
    else if (strcmp(path, "/1.0/images/have") == 0)
        fake_reply(fd, 200, SYNC("{\"fingerprint\":\"have\"}"));
    else if (strcmp(path, "/1.0/images/raced") == 0) {
        /* absent at first, there after the upload failed */
        static int asked;
        if (asked++ == 0)
            fake_reply(fd, 404, ERROR(404, "Image not found"));
        else
            fake_reply(fd, 200, SYNC("{\"fingerprint\":\"raced\"}"));
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/1.0/images") == 0)
        fake_reply(fd, 200, ERROR(409, "Image with same fingerprint already exists"));
    else if (strcmp(method, "GET") == 0 && strcmp(path, "/1.0/instances/dev") == 0)
        fake_reply(fd, 200, SYNC("{\"architecture\":\"x86_64\",\"config\":{\"raw.idmap\":"
                                 "\"uid 1 2\",\"limits.cpu\":\"1\"},\"devices\":{\"eth0\":{},"
                                 "\"moonbase0\":{\"type\":\"disk\"}},\"ephemeral\":false,"
                                 "\"profiles\":[\"default\"],\"description\":\"\"}"));
    else if (strcmp(method, "PUT") == 0 && strcmp(path, "/1.0/instances/dev") == 0) {
        /* what is put back: the device or the key gone, the rest kept */
        bool dev_gone = strstr(body, "moonbase0") == NULL && strstr(body, "\"eth0\"");
        bool key_gone = strstr(body, "raw.idmap") == NULL && strstr(body, "limits.cpu");
        if (dev_gone != key_gone && strstr(body, "\"profiles\":[\"default\"]"))
            fake_reply(fd, 202, ASYNC("/1.0/operations/put"));
        else
            fake_reply(fd, 400, ERROR(400, "unexpected PUT"));
    } else if (strncmp(path, "/1.0/operations/put/wait", 24) == 0)
        fake_reply(fd, 200, OP(200, "{}", ""));
    else
        fake_reply(fd, 404, ERROR(404, "Instance not found"));
}

static void test_states_and_addresses(void **state)
{
    fake_lxd_start(instances);
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    long pid = -1;
    assert_int_equal(mb_lxd_instance_state(c, "run", NULL, &pid, &err), MB_STATE_RUNNING);
    assert_int_equal(pid, 4242);
    assert_int_equal(mb_lxd_instance_state(c, "stop", NULL, &pid, &err), MB_STATE_STOPPED);
    assert_int_equal(pid, 0);
    assert_int_equal(mb_lxd_instance_state(c, "frozen", NULL, NULL, &err), MB_STATE_SUSPENDED);
    assert_int_equal(mb_lxd_instance_state(c, "broken", NULL, NULL, &err), MB_STATE_UNKNOWN);
    assert_int_equal(mb_lxd_instance_state(c, "ghost", NULL, &pid, &err), MB_STATE_ABSENT);
    /* another home's (or someone else's) instance of that name: not ours */
    assert_int_equal(mb_lxd_instance_state(c, "run", "h1", &pid, &err), MB_STATE_RUNNING);
    assert_int_equal(mb_lxd_instance_state(c, "run", "h2", &pid, &err), MB_STATE_ABSENT);
    assert_int_equal(pid, 0);
    assert_null(err);
    char **v = mb_lxd_instance_ipv4(c, "run", &err);
    assert_non_null(v);
    assert_string_equal(v[0], "10.77.0.2"); /* eth0 first, no link-local, no lo */
    assert_string_equal(v[1], "10.78.0.10");
    assert_null(v[2]);
    mb_strv_free(v);
    assert_true(mb_lxd_instance_delete(c, "ghost", &err)); /* already gone: fine */
    mb_lxd_free(c);
    fake_lxd_stop();
}

/* A list asks once for every instance, until something of ours changes */
static void test_listed_states(void **state)
{
    listings = mmap(NULL, sizeof *listings, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(listings != MAP_FAILED);
    *listings = 0;
    fake_lxd_start(instances);
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    assert_int_equal(mb_lxd_listed_state(c, "run", "h1", &err), MB_STATE_RUNNING);
    assert_int_equal(mb_lxd_listed_state(c, "stop", "h1", &err), MB_STATE_STOPPED);
    assert_int_equal(mb_lxd_listed_state(c, "frozen", NULL, &err), MB_STATE_SUSPENDED);
    assert_int_equal(mb_lxd_listed_state(c, "ghost", "h1", &err), MB_STATE_ABSENT);
    assert_int_equal(mb_lxd_listed_state(c, "run", "h2", &err), MB_STATE_ABSENT);
    assert_null(err);
    assert_int_equal(*listings, 1);
    /* a change made through this connection: the next answer is asked again */
    assert_true(mb_lxd_instance_delete(c, "ghost", &err));
    assert_int_equal(mb_lxd_listed_state(c, "run", "h1", &err), MB_STATE_RUNNING);
    assert_int_equal(*listings, 2);
    mb_lxd_free(c);
    fake_lxd_stop();
    munmap(listings, sizeof *listings);
    listings = NULL;
}

static void test_images(void **state)
{
    fake_lxd_start(instances);
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    /* held already: nothing is uploaded (the files do not even exist) */
    assert_true(mb_lxd_image_ensure(c, "have", "/nonexistent/m", "/nonexistent/r", false, NULL,
                                    NULL, &err));
    /* the upload fails because another client was first: done all the same */
    char meta[128], root[128];
    snprintf(meta, sizeof meta, "%s/m", fake_dir);
    snprintf(root, sizeof root, "%s/r", fake_dir);
    FILE *f = fopen(meta, "w");
    fputs("m", f);
    fclose(f);
    f = fopen(root, "w");
    fputs("r", f);
    fclose(f);
    assert_true(mb_lxd_image_ensure(c, "raced", meta, root, false, NULL, NULL, &err));
    assert_null(err);
    mb_lxd_free(c);
    fake_lxd_stop();
}

static void test_edit(void **state)
{
    fake_lxd_start(instances);
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    assert_true(mb_lxd_device_remove(c, "dev", "moonbase0", &err));
    assert_true(mb_lxd_config_set(c, "dev", "raw.idmap", NULL, &err));
    assert_null(err);
    char *v = mb_lxd_config_get(c, "dev", "limits.cpu", &err);
    assert_string_equal(v, "1");
    free(v);
    assert_null(mb_lxd_config_get(c, "dev", "limits.memory", &err));
    assert_null(err);
    mb_lxd_free(c);
    fake_lxd_stop();
}

static void test_rename(void **state)
{
    fake_lxd_start(instances);
    struct mb_lxd *c = client();
    mb_error *err = NULL;
    assert_true(mb_lxd_instance_rename(c, "stop", "moved", &err));
    assert_null(err);
    /* LXD's refusal (its operation failed) is the error, in LXD's words */
    assert_false(mb_lxd_instance_rename(c, "run", "moved", &err));
    assert_non_null(err);
    assert_non_null(strstr(err->message, "Renaming of running instance not allowed"));
    mb_error_free(err);
    mb_lxd_free(c);
    fake_lxd_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_states_and_addresses),
        cmocka_unit_test(test_listed_states),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_edit),
        cmocka_unit_test(test_rename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
