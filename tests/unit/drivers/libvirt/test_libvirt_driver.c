/* The libvirt driver's lifecycle and the shared scope qemu <-> libvirt,
 * against libvirt's built-in test:///default connection (no libvirtd, no
 * QEMU): start defines and creates the domain, state follows
 * virDomainGetState, suspend is a managed save that start restores, stop
 * undefines; and the dispatcher reports "elsewhere" when the scope's other
 * driver holds the instance (a live QEMU of the QEMU driver, faked by a
 * process carrying its -drive argument; a running libvirt domain). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libvirt/libvirt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/driver.h"
#include "core/fs.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_xml.h"
#include "drivers/qemu/qemu_argv.h"

struct fixture {
    char dir[256], disk[300], seed[300];
    struct mb_nic nic;
    struct mb_instance inst;
    struct mb_conn *lv, *qemu;
};

static const char *const config[] = {"uri=test:///default", "restrict-user-network=true", NULL};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    snprintf(f.dir, sizeof f.dir, "/tmp/mb-test-libvirt-XXXXXX");
    if (mkdtemp(f.dir) == NULL)
        return -1;
    snprintf(f.disk, sizeof f.disk, "%s/disk.qcow2", f.dir);
    snprintf(f.seed, sizeof f.seed, "%s/cidata.iso", f.dir);
    mb_fs_write_atomic(f.disk, "x", 1, 0644, NULL);
    mb_fs_write_atomic(f.seed, "x", 1, 0644, NULL);
    f.nic = (struct mb_nic){.attach = MB_NIC_USER, .mac = "52:54:00:12:34:56",
                            .host_port = 50022};
    f.inst = (struct mb_instance){
        .name = "vm1", .dir = f.dir, .image = {.path = f.disk},
        .cpus = 1, .memory = 256ull << 20, .nics = &f.nic, .n_nics = 1,
    };
    mb_error *err = NULL;
    f.lv = mb_driver_open(mb_driver_find("libvirt", &err), config, 0, &err);
    f.qemu = mb_driver_open(mb_driver_find("qemu", &err), NULL, 0, &err);
    if (f.lv == NULL || f.qemu == NULL)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mb_driver_destroy(f->lv, &f->inst, MB_KEEP_DISKS, NULL);
    mb_driver_close(f->lv);
    mb_driver_close(f->qemu);
    mb_fs_rmtree(f->dir, NULL);
    return 0;
}

static enum mb_state state_of(struct mb_conn *d, const struct mb_instance *i)
{
    mb_error *err = NULL;
    enum mb_state s = mb_driver_state(d, i, NULL, 0, &err);
    if (err)
        fail_msg("state: %s", err->message);
    return s;
}

static void must(bool ok, mb_error *err)
{
    if (!ok)
        fail_msg("%s", err ? err->message : "failed without a message");
}

static void test_identity(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(f->lv->driver->name, "libvirt");
    assert_string_equal(f->lv->driver->scope, "qemu");
    assert_true(mb_driver_has_capability(f->lv->driver, "suspend"));
    assert_true(mb_driver_has_capability(f->lv->driver, "native_mounts"));
    char *reason = NULL;
    mb_error *err = NULL;
    assert_int_equal(mb_driver_probe(f->lv, &reason, 0, &err), MB_PROBE_DECLINED);
    assert_non_null(strstr(reason, "not QEMU")); /* test:/// is the Test hypervisor */
    free(reason);
}

static void test_unreachable(void **state)
{
    struct fixture *f = *state;
    const char *const gone[] = {"uri=qemu:///system?socket=/nonexistent/libvirt-sock", NULL};
    char *reason = NULL;
    mb_error *err = NULL;
    struct mb_conn *c = mb_driver_open(f->lv->driver, gone, 0, &err);
    assert_non_null(c);
    assert_int_equal(mb_driver_probe(c, &reason, 0, &err), MB_PROBE_DECLINED);
    assert_non_null(strstr(reason, "libvirtd -d"));
    assert_non_null(strstr(reason, "systemctl start libvirtd"));
    free(reason);
    mb_driver_close(c);
    /* a configuration name the driver does not have is refused */
    const char *const bad[] = {"url=x", NULL};
    assert_null(mb_driver_open(f->lv->driver, bad, 0, &err));
    assert_int_equal(err->code, MB_ERR_USAGE);
    mb_error_free(err);
}

static void test_lifecycle(void **state)
{
    struct fixture *f = *state;
    mb_error *err = NULL;
    char p[512];
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_STOPPED);
    must(mb_driver_start(f->lv, &f->inst, 0, &err), err);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_RUNNING);
    snprintf(p, sizeof p, "%s/libvirt.domain", f->dir);
    char *trace = mb_fs_read(p, NULL, NULL);
    assert_non_null(trace);
    assert_non_null(strstr(trace, "test:///default\nmb-vm1-"));
    free(trace);
    assert_false(mb_driver_start(f->lv, &f->inst, 0, &err));
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    err = NULL;

    must(mb_driver_suspend(f->lv, &f->inst, 0, &err), err);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_SUSPENDED);
    assert_false(mb_driver_shutdown(f->lv, &f->inst, 1, 0, &err)); /* suspended: refused */
    assert_int_equal(err->code, MB_ERR_STATE);
    mb_error_free(err);
    err = NULL;
    must(mb_driver_resume(f->lv, &f->inst, 0, &err), err);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_RUNNING);

    must(mb_driver_shutdown(f->lv, &f->inst, 5, 0, &err), err);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_STOPPED);
    assert_false(mb_fs_read(p, NULL, NULL) != NULL); /* undefined: no trace */

    /* stopped: disk operations are allowed, and the mount change is taken */
    struct mb_mount_spec m = {"/srv", "srv", false, false, NULL};
    must(mb_driver_mount_native(f->lv, &f->inst, &m, 0, &err), err);
    must(mb_driver_start(f->lv, &f->inst, 0, &err), err);
    assert_false(mb_driver_mount_native(f->lv, &f->inst, &m, 0, &err));
    mb_error_free(err);
    err = NULL;
    must(mb_driver_shutdown(f->lv, &f->inst, 0, MB_FORCE, &err), err);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_STOPPED);
}

/* The QEMU driver sees a domain libvirt runs as "elsewhere", not stopped. */
static void test_scope_libvirt_holds(void **state)
{
    struct fixture *f = *state;
    mb_error *err = NULL;
    assert_int_equal(state_of(f->qemu, &f->inst), MB_STATE_STOPPED);
    must(mb_driver_start(f->lv, &f->inst, 0, &err), err);
    assert_int_equal(state_of(f->qemu, &f->inst), MB_STATE_ELSEWHERE);
    assert_int_equal(mb_driver_state(f->qemu, &f->inst, NULL, MB_STATE_OWN, NULL),
                     MB_STATE_STOPPED);
    must(mb_driver_suspend(f->lv, &f->inst, 0, &err), err);
    assert_int_equal(state_of(f->qemu, &f->inst), MB_STATE_ELSEWHERE);
    must(mb_driver_shutdown(f->lv, &f->inst, 0, MB_FORCE, &err), err);
    assert_int_equal(state_of(f->qemu, &f->inst), MB_STATE_STOPPED);
}

/* libvirt sees the QEMU driver's live QEMU (qemu.pid naming a process with
 * the instance's -drive argument) as "elsewhere", and refuses to start it. */
static void test_scope_qemu_holds(void **state)
{
    struct fixture *f = *state;
    char *drive = mb_qemu_disk_drive(&f->inst);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("sh", "sh", "-c", "sleep 30", drive, (char *)NULL);
        _exit(127);
    }
    free(drive);
    usleep(200000);
    char p[512], num[32];
    snprintf(p, sizeof p, "%s/qemu.pid", f->dir);
    int len = snprintf(num, sizeof num, "%d\n", (int)pid);
    mb_fs_write_atomic(p, num, (size_t)len, 0644, NULL);

    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_ELSEWHERE);
    const char *owner = NULL;
    assert_int_equal(mb_driver_state(f->lv, &f->inst, &owner, 0, NULL), MB_STATE_ELSEWHERE);
    assert_string_equal(owner, "qemu");
    mb_error *err = NULL;
    assert_false(mb_driver_start(f->lv, &f->inst, 0, &err));
    assert_int_equal(err->code, MB_ERR_STATE);
    assert_non_null(strstr(err->message, "under the qemu driver"));
    mb_error_free(err);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_STOPPED);
    unlink(p);
}

/* libvirtd gone, its QEMU still running: the instance is still running (under
 * libvirt, for the QEMU driver too), not stopped. */
static void test_libvirtd_gone(void **state)
{
    struct fixture *f = *state;
    const char *uri = "qemu:///system?socket=/nonexistent/libvirt-sock";
    char name[MB_LIBVIRT_NAMELEN], arg[200], p[512], num[32];
    mb_libvirt_domain_name(name, sizeof name, &f->inst);
    snprintf(arg, sizeof arg, "guest=%s,debug-threads=on", name);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("sh", "qemu-system-x86_64", "-c", "sleep 30", arg, (char *)NULL);
        _exit(127);
    }
    usleep(200000);
    assert_true(mb_libvirt_pid_is(pid, name));
    snprintf(p, sizeof p, "%s/libvirt.pid", f->dir);
    int len = snprintf(num, sizeof num, "%d\n", (int)pid);
    mb_fs_write_atomic(p, num, (size_t)len, 0644, NULL);
    assert_true(mb_libvirt_write_trace(&f->inst, uri, NULL));

    assert_int_equal(mb_driver_state(f->lv, &f->inst, NULL, 0, NULL), MB_STATE_RUNNING);
    assert_int_equal(state_of(f->qemu, &f->inst), MB_STATE_ELSEWHERE);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    mb_error *err = NULL;
    assert_int_equal(mb_driver_state(f->lv, &f->inst, NULL, 0, &err), MB_STATE_UNKNOWN);
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    mb_error_free(err);
    assert_int_equal(state_of(f->qemu, &f->inst), MB_STATE_STOPPED);
    mb_libvirt_remove_runtime(&f->inst);
}

static void test_destroy(void **state)
{
    struct fixture *f = *state;
    mb_error *err = NULL;
    must(mb_driver_start(f->lv, &f->inst, 0, &err), err);
    must(mb_driver_destroy(f->lv, &f->inst, 0, &err), err);
    assert_int_equal(state_of(f->lv, &f->inst), MB_STATE_ABSENT); /* disk removed too */
    bool missing = false;
    virConnectPtr c = mb_libvirt_connect("test:///default", NULL);
    assert_non_null(c);
    assert_null(mb_libvirt_lookup(c, &f->inst, &missing, NULL));
    assert_true(missing);
    mb_fs_write_atomic(f->disk, "x", 1, 0644, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_scope_libvirt_holds),
        cmocka_unit_test(test_scope_qemu_holds),
        cmocka_unit_test(test_libvirtd_gone),
        cmocka_unit_test(test_destroy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
