/* The run-time facts of one instance's QEMU: its files in the instance
 * directory, whether its process is alive and really ours, its QMP socket. */
#include "drivers/qemu/qemu_instance.h"
#include "core/fs.h"
#include "core/kvm.h"
#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qemu_proc.h"
#include "drivers/qemu/qemu_argv.h"
#include "iso/iso.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mb_qemu_host_facts(const struct mb_conn *c, struct mb_qemu_host *h)
{
    const char *want = c ? mb_conn_config(c, "accel") : NULL;
    bool kvm;
    if (want && strcmp(want, "kvm") == 0) {
        kvm = true;
        h->why = "KVM, as local.qemu.accel says";
    } else if (want && strcmp(want, "tcg") == 0) {
        kvm = false;
        h->why = "TCG, as local.qemu.accel says: guests are emulated, several times slower";
    } else {
        enum mb_kvm_verdict v = mb_kvm_check_host();
        kvm = v == MB_KVM_USABLE;
        h->why = kvm ? "KVM"
             : v == MB_KVM_ABSENT ? "TCG (no usable /dev/kvm: guests are emulated, several times "
                                    "slower)"
             : v == MB_KVM_SLOW ? "TCG: this host's /dev/kvm runs guests slower than emulation "
                                  "(nested KVM without hardware help; local.qemu.accel=kvm "
                                  "forces it)"
                                : "TCG: this host's /dev/kvm does not run a guest "
                                  "(local.qemu.accel=kvm forces it)";
    }
    h->binary = MB_QEMU_BIN;
    h->accel = kvm ? "kvm" : "tcg";
    h->cpu = kvm ? "host" : "max";
}

void mb_qemu_file(char *buf, const struct mb_instance *i, const char *name)
{
    if (!mb_qemu_path(buf, MB_QEMU_PATHLEN, i, name))
        buf[0] = '\0'; /* an unusable path: every access to it fails */
}

/* The pid of this instance's live QEMU, or 0. */
pid_t mb_qemu_live_pid(const struct mb_instance *i)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, "qemu.pid");
    FILE *f = fopen(p, "r");
    long pid = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    char *marker = mb_qemu_disk_drive(i);
    bool ours = marker && pid > 0 && mb_qemu_pid_matches((pid_t)pid, marker);
    free(marker);
    if (!ours && pid > 0)
        mb_qemu_reap_zombie((pid_t)pid, "qemu-system"); /* comm is cut to 15 chars */
    return ours ? (pid_t)pid : 0;
}

bool mb_qemu_has_file(const struct mb_instance *i, const char *name)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, name);
    return access(p, F_OK) == 0;
}

void mb_qemu_remove_file(const struct mb_instance *i, const char *name)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, name);
    unlink(p);
}

/* What a QEMU that is gone leaves behind. */
void mb_qemu_remove_runtime(const struct mb_instance *i)
{
    mb_qemu_remove_file(i, "qemu.pid");
    mb_qemu_remove_file(i, "qmp.sock");
}

struct mb_qmp *mb_qemu_qmp_open(const struct mb_instance *i, double timeout, mb_error **err)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, "qmp.sock");
    return mb_qmp_connect(p, timeout, err);
}

/* Runs one QMP command; the reply is dropped unless ret is given. */
bool mb_qemu_qmp_do(struct mb_qmp *q, const char *cmd, const char *args, char **ret,
                    mb_error **err)
{
    char *r = mb_qmp_execute(q, cmd, args, 10, err);
    if (r == NULL)
        return false;
    if (ret)
        *ret = r;
    else
        free(r);
    return true;
}

/* A top-level string member of a QMP reply, such as query-status's status. */
char *mb_qemu_reply_string(const char *json, const char *key)
{
    return mb_json_string(mb_json_get(json, key));
}

char *mb_qemu_qmp_status(struct mb_qmp *q, mb_error **err)
{
    char *r = NULL, *s = NULL;
    if (mb_qemu_qmp_do(q, "query-status", NULL, &r, err))
        s = mb_qemu_reply_string(r, "status");
    free(r);
    return s;
}

enum mb_state mb_qemu_map_status(const char *s)
{
    static const struct { const char *status; enum mb_state st; } map[] = {
        {"running", MB_STATE_RUNNING},
        {"inmigrate", MB_STATE_STARTING},    {"prelaunch", MB_STATE_STARTING},
        {"restore-vm", MB_STATE_STARTING},
        {"paused", MB_STATE_SUSPENDED},      {"suspended", MB_STATE_SUSPENDED},
        {"postmigrate", MB_STATE_SUSPENDED}, {"finish-migrate", MB_STATE_SUSPENDED},
        {"save-vm", MB_STATE_SUSPENDED},
        {"shutdown", MB_STATE_STOPPED},
    };
    for (size_t k = 0; s && k < sizeof map / sizeof map[0]; k++)
        if (strcmp(s, map[k].status) == 0)
            return map[k].st;
    return MB_STATE_UNKNOWN; /* internal-error, io-error, guest-panicked, ... */
}

bool mb_qemu_pending_resume(const struct mb_instance *i, char *tag)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, MB_QEMU_RESUME_FILE);
    char *s = mb_fs_read(p, NULL, NULL);
    if (s == NULL)
        return false;
    size_t n = strcspn(s, "\n");
    bool ok = n > 0 && n <= MB_SNAPSHOT_TAG_MAX;
    if (ok)
        snprintf(tag, MB_SNAPSHOT_TAG_MAX + 1, "%.*s", (int)n, s);
    free(s);
    return ok;
}

bool mb_qemu_set_pending_resume(const struct mb_instance *i, const char *tag, mb_error **err)
{
    char p[MB_QEMU_PATHLEN], line[MB_SNAPSHOT_TAG_MAX + 2];
    mb_qemu_file(p, i, MB_QEMU_RESUME_FILE);
    int n = snprintf(line, sizeof line, "%s\n", tag);
    return mb_fs_write_atomic(p, line, (size_t)n, 0644, err);
}

bool mb_qemu_has_saved_state(const struct mb_instance *i)
{
    char tag[MB_SNAPSHOT_TAG_MAX + 1];
    return mb_qemu_has_file(i, "suspend.state") || mb_qemu_pending_resume(i, tag);
}

char *mb_qemu_disk_node(struct mb_qmp *q, mb_error **err)
{
    char *r = NULL, *node = NULL;
    if (!mb_qemu_qmp_do(q, "query-block", NULL, &r, err))
        return NULL;
    for (const char *d = mb_json_first(r); d && node == NULL; d = mb_json_next(d)) {
        char *dev = mb_json_string(mb_json_get(d, "device"));
        if (dev && strcmp(dev, "disk0") == 0)
            node = mb_json_string(mb_json_get(mb_json_get(d, "inserted"), "node-name"));
        free(dev);
    }
    if (node == NULL)
        mb_error_set(err, MB_ERR_FAILED, "qemu: the running QEMU has no disk \"disk0\"");
    free(r);
    return node;
}

/* Ends pid: QMP quit, then SIGKILL; reaps it if it is our child. */
bool mb_qemu_force_stop(const struct mb_instance *i, pid_t pid, mb_error **err)
{
    struct mb_qmp *q = mb_qemu_qmp_open(i, 2, NULL);
    if (q) {
        char *r = mb_qmp_execute(q, "quit", NULL, 2, NULL);
        free(r);
        mb_qmp_free(q);
    }
    if (!mb_qemu_wait_gone(pid, 5)) {
        kill(pid, SIGKILL);
        if (!mb_qemu_wait_gone(pid, 5)) {
            mb_error_set(err, MB_ERR_FAILED, "qemu: QEMU of \"%s\" (pid %d) survives SIGKILL "
                         "(is it stuck in the kernel? see ps -o stat %d)", i->name, (int)pid,
                         (int)pid);
            return false;
        }
    }
    mb_qemu_remove_runtime(i);
    return true;
}

bool mb_qemu_write_seed(const struct mb_instance *i, mb_error **err)
{
    const struct mb_cloud_init *ci = &i->cloud_init;
    if (ci->meta_data == NULL && ci->user_data == NULL && ci->network_config == NULL)
        return true;
    struct mb_iso_file files[3];
    size_t n = 0;
    const char *names[] = {"meta-data", "user-data", "network-config"};
    const char *docs[] = {ci->meta_data ? ci->meta_data : "", ci->user_data ? ci->user_data : "",
                          ci->network_config};
    for (size_t k = 0; k < 3; k++)
        if (docs[k] != NULL)
            files[n++] = (struct mb_iso_file){names[k], docs[k], strlen(docs[k])};
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, MB_QEMU_SEED);
    return mb_iso_write(p, "cidata", files, n, err);
}
