/* The QEMU driver: one qemu-system-x86_64 process per running instance,
 * started directly (no -daemonize) so the caller — the instance agent — is
 * its parent and sees it exit. The truth is the process: <dir>/qemu.pid names
 * it, /proc/<pid>/cmdline proves it is this instance's QEMU (its overlay disk
 * is on the command line), and QMP on <dir>/qmp.sock says what it is doing.
 * A suspended instance has no process, only <dir>/suspend.state (the
 * migration stream), which the next start resumes from. Disk and mount
 * operations are in qemu_storage.c. */
#include "driver/driver.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/process.h"
#include "drivers/qemu/qemu_argv.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"
#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qemu_proc.h"
#include "drivers/qemu/qmp.h"
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_QMP_TIMEOUT 10.0 /* QEMU answers QMP within this after exec */

/* ---------------------------------------------------------------- host */

static enum mb_probe_result q_probe(struct mb_conn *c, char **reason, unsigned flags,
                                    mb_error **err)
{
    char *qemu = mb_qemu_which(MB_QEMU_BIN), *img = mb_qemu_which("qemu-img");
    enum mb_probe_result r = MB_PROBE_OK;
    char msg[256];
    if (qemu == NULL || img == NULL) {
        snprintf(msg, sizeof msg, "%s not found on PATH (install qemu-system-x86 and "
                 "qemu-utils)", qemu == NULL ? MB_QEMU_BIN : "qemu-img");
        r = MB_PROBE_DECLINED;
    } else {
        struct mb_qemu_host h;
        mb_qemu_host_facts(c, &h);
        snprintf(msg, sizeof msg, "QEMU with %s", h.why);
    }
    if (reason)
        *reason = strdup(msg);
    free(qemu);
    free(img);
    return r;
}

static char **q_host_info(struct mb_conn *c, unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    char line[512], *qemu = mb_qemu_which(MB_QEMU_BIN), *img = mb_qemu_which("qemu-img");
    struct mb_qemu_host h;
    mb_qemu_host_facts(c, &h);
    mb_strv_push(&v, "driver=qemu");
    snprintf(line, sizeof line, "qemu=%s", qemu ? qemu : "(not installed)");
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "qemu-img=%s", img ? img : "(not installed)");
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "accel=%s", h.accel);
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "cpu=%s", h.cpu);
    mb_strv_push(&v, line);
    char *out = NULL, *argv[] = {MB_QEMU_BIN, "--version", NULL};
    if (qemu && mb_process_capture(argv, &out, NULL)) {
        out[strcspn(out, "\n")] = '\0';
        snprintf(line, sizeof line, "version=%s", out);
        mb_strv_push(&v, line);
    }
    free(out);
    free(qemu);
    free(img);
    return v;
}

/* Host bridges a tap can be added to. */
static char **q_networks(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return mb_net_host_bridges(err);
}

/* ---------------------------------------------------------------- lifecycle */

static bool q_create(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
    if (!mb_qemu_disk_path(disk, sizeof disk, i) || i->image.path == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs a base image and a disk "
                     "path", i->name);
        return false;
    }
    return mb_qemu_write_seed(i, err) && mb_qemu_img_overlay(i->image.path, disk, i->disk_size,
                                                              err);
}

/* The last lines QEMU and the guest wrote, for an error message. */
static char *startup_logs(const struct mb_instance *i)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, "qemu.log");
    char *qlog = mb_fs_tail(p, 2048, 8);
    mb_qemu_file(p, i, "serial.log");
    char *slog = mb_fs_tail(p, 2048, 8);
    size_t n = strlen(qlog) + strlen(slog) + 128;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s%s", *qlog ? "\n--- QEMU stderr ---\n" : "", qlog,
                 *slog ? "\n--- console ---\n" : "", slog);
    free(qlog);
    free(slog);
    return s;
}

/* Waits until the new QEMU answers QMP and runs the guest. */
static bool wait_running(const struct mb_instance *i, pid_t pid, bool resuming,
                         mb_error **err)
{
    double start = mb_clock_now();
    /* loading a saved state takes time in proportion to the guest's memory */
    double limit = resuming ? 60 + (double)(i->memory >> 20) / 50 : START_QMP_TIMEOUT;
    struct mb_qmp *q = NULL;
    char *status = NULL;
    bool ok = false;
    for (;;) {
        int ws;
        if (mb_qemu_pid_gone(pid, &ws)) {
            char *logs = startup_logs(i);
            char how[64] = "";
            if (ws != -1)
                snprintf(how, sizeof how, " (%s %d)", WIFEXITED(ws) ? "exit status" : "signal",
                         WIFEXITED(ws) ? WEXITSTATUS(ws) : WTERMSIG(ws));
            mb_error_set(err, MB_ERR_FAILED, "start: QEMU of \"%s\" exited at startup%s%s%s%s",
                         i->name, how, resuming ? " while loading its saved state (try: "
                         "moonbase stop --force to discard it)" : "", logs ? logs : "",
                         "\n(full log: qemu.log in the instance directory)");
            free(logs);
            goto cleanup;
        }
        double elapsed = mb_clock_now() - start;
        if (elapsed > limit || (q == NULL && elapsed > START_QMP_TIMEOUT)) {
            char *logs = startup_logs(i);
            mb_error_set(err, MB_ERR_TIMEOUT, "start: QEMU of \"%s\" did not %s within %.0f s "
                         "(status: %s)%s", i->name, q ? "start the guest" : "answer on QMP",
                         q ? limit : START_QMP_TIMEOUT, status ? status : "none",
                         logs ? logs : "");
            free(logs);
            goto cleanup;
        }
        if (q == NULL && (q = mb_qemu_qmp_open(i, 1, NULL)) == NULL) {
            mb_clock_sleep(0.05);
            continue;
        }
        free(status);
        mb_error *qerr = NULL;
        status = mb_qemu_qmp_status(q, &qerr);
        if (status == NULL) {
            mb_error_free(qerr);
            mb_qmp_free(q); /* QEMU may be exiting: look again */
            q = NULL;
            continue;
        }
        if (strcmp(status, "running") == 0) {
            ok = true;
            goto cleanup;
        }
        /* a loaded state keeps the run state it was saved in: suspend stops
         * the guest before saving, so it comes back paused */
        if (resuming && strcmp(status, "paused") == 0) {
            if (!mb_qemu_qmp_do(q, "cont", NULL, NULL, err))
                goto cleanup;
            continue;
        }
        if (mb_qemu_map_status(status) != MB_STATE_STARTING) {
            mb_error_set(err, MB_ERR_FAILED, "start: QEMU of \"%s\" is %s instead of running "
                         "(see qemu.log in the instance directory)", i->name, status);
            goto cleanup;
        }
        mb_clock_sleep(0.1);
    }
cleanup:
    free(status);
    mb_qmp_free(q);
    return ok;
}

static bool q_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                    mb_error **err)
{
    char disk[MB_QEMU_PATHLEN], state[MB_QEMU_PATHLEN], pidfile[MB_QEMU_PATHLEN];
    char log[MB_QEMU_PATHLEN];
    char **argv = NULL;
    pid_t pid = mb_qemu_live_pid(i);
    bool ok = false;
    if (pid > 0) {
        mb_error_set(err, MB_ERR_STATE, "start: instance \"%s\" is already running (QEMU pid "
                     "%d)", i->name, (int)pid);
        return false;
    }
    if (!mb_qemu_disk_path(disk, sizeof disk, i) || access(disk, F_OK) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "start: instance \"%s\" has no disk %s (try: "
                     "moonbase delete --purge %s, then launch it again)", i->name, disk,
                     i->name);
        return false;
    }
    mb_qemu_file(state, i, "suspend.state");
    mb_qemu_file(pidfile, i, "qemu.pid");
    mb_qemu_file(log, i, "qemu.log");
    char snap[MB_SNAPSHOT_TAG_MAX + 1];
    const char *incoming = NULL, *loadvm = NULL;
    if (access(state, F_OK) == 0)
        incoming = state;
    else if (mb_qemu_pending_resume(i, snap))
        loadvm = snap; /* a restored snapshot with memory */
    bool resuming = incoming || loadvm;
    struct mb_qemu_host h;
    mb_qemu_host_facts(c, &h);
    char seed[MB_QEMU_PATHLEN];
    mb_qemu_file(seed, i, MB_QEMU_SEED);
    struct mb_qemu_opts o = {access(seed, F_OK) == 0 ? seed : NULL, incoming,
                             loadvm, mb_conn_config_bool(c, "restrict-user-network")};
    if ((argv = mb_qemu_argv(i, &h, &o, err)) == NULL)
        return false;
    mb_log_argv(MB_LOG_STEPS, "qemu: running", argv);
    mb_qemu_remove_runtime(i);
    if ((pid = mb_qemu_spawn(argv, i->dir, log, err)) < 0)
        goto cleanup;
    char num[32];
    int len = snprintf(num, sizeof num, "%d\n", (int)pid);
    if (!mb_fs_write_atomic(pidfile, num, (size_t)len, 0644, err)
        || !wait_running(i, pid, resuming, err)) {
        kill(pid, SIGKILL);
        mb_qemu_wait_gone(pid, 5);
        mb_qemu_remove_runtime(i);
        goto cleanup;
    }
    if (incoming)
        unlink(state); /* the guest runs on; the old state must never load again */
    if (loadvm)
        mb_qemu_remove_file(i, MB_QEMU_RESUME_FILE);
    ok = true;
cleanup:
    mb_strv_free(argv);
    return ok;
}

static bool q_shutdown(struct mb_conn *c, const struct mb_instance *i, double timeout,
                       unsigned flags, mb_error **err)
{
    pid_t pid = mb_qemu_live_pid(i);
    if (pid == 0) {
        if (mb_qemu_has_saved_state(i)) {
            if (!(flags & MB_FORCE)) {
                mb_error_set(err, MB_ERR_STATE, "stop: instance \"%s\" is suspended (try: "
                             "moonbase start %s, or stop --force to discard its saved state)",
                             i->name, i->name);
                return false;
            }
            mb_qemu_remove_file(i, "suspend.state");
            mb_qemu_remove_file(i, MB_QEMU_RESUME_FILE);
        }
        mb_qemu_remove_runtime(i);
        return true;
    }
    if (!(flags & MB_FORCE)) {
        /* ACPI power button: the guest shuts down and QEMU exits */
        struct mb_qmp *q = mb_qemu_qmp_open(i, 5, NULL);
        bool asked = q && mb_qemu_qmp_do(q, "system_powerdown", NULL, NULL, NULL);
        mb_qmp_free(q);
        if (asked && mb_qemu_wait_gone(pid, timeout)) {
            mb_qemu_remove_runtime(i);
            return true;
        }
    }
    return mb_qemu_force_stop(i, pid, err);
}

/* MB_PAUSE: the guest's CPUs stop, QEMU and its memory stay (QMP stop). */
static bool pause_guest(const struct mb_instance *i, mb_error **err)
{
    struct mb_qmp *q = mb_qemu_qmp_open(i, 10, err);
    bool ok = q && mb_qemu_qmp_do(q, "stop", NULL, NULL, err);
    mb_qmp_free(q);
    return ok;
}

static bool q_suspend(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    char tmp[MB_QEMU_PATHLEN], state[MB_QEMU_PATHLEN];
    char *quoted = NULL, *uri = NULL, *args = NULL, *r = NULL, *st = NULL;
    struct mb_qmp *q = NULL;
    bool ok = false, stopped = false;
    pid_t pid = mb_qemu_live_pid(i);
    if (pid == 0) {
        mb_error_set(err, MB_ERR_STATE, "suspend: instance \"%s\" is not running", i->name);
        return false;
    }
    if (flags & MB_PAUSE)
        return pause_guest(i, err);
    mb_qemu_file(tmp, i, "suspend.state.tmp");
    mb_qemu_file(state, i, "suspend.state");
    unlink(tmp);
    if ((q = mb_qemu_qmp_open(i, 10, err)) == NULL || !mb_qemu_qmp_do(q, "stop", NULL, NULL, err))
        goto cleanup;
    stopped = true;
    /* the default 32 MiB/s cap would make saving a big guest slow for nothing */
    if (!mb_qemu_qmp_do(q, "migrate-set-parameters", "{\"max-bandwidth\": 10737418240}",
                        NULL, err))
        goto cleanup;
    quoted = mb_qemu_shell_quote(tmp);
    size_t n = (quoted ? strlen(quoted) : 0) + 16;
    if (quoted == NULL || (uri = malloc(n)) == NULL)
        goto oom;
    snprintf(uri, n, "exec:cat > %s", quoted);
    char *juri = mb_json_quote(uri);
    if (juri == NULL || (args = malloc(strlen(juri) + 16)) == NULL) {
        free(juri);
        goto oom;
    }
    sprintf(args, "{\"uri\": %s}", juri);
    free(juri);
    if (!mb_qemu_qmp_do(q, "migrate", args, NULL, err))
        goto cleanup;
    double deadline = mb_clock_now() + 120 + (double)(i->memory >> 20) / 20;
    for (;;) {
        free(r);
        free(st);
        st = NULL;
        if (!mb_qemu_qmp_do(q, "query-migrate", NULL, &r, err))
            goto cleanup;
        st = mb_qemu_reply_string(r, "status");
        if (st && strcmp(st, "completed") == 0)
            break;
        if (st && (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)) {
            char *desc = mb_qemu_reply_string(r, "error-desc");
            mb_error_set(err, MB_ERR_FAILED, "suspend: saving the state of \"%s\" to %s %s%s%s "
                         "(is the disk full?)", i->name, tmp, st, desc ? ": " : "",
                         desc ? desc : "");
            free(desc);
            goto cleanup;
        }
        if (mb_clock_now() > deadline) {
            mb_qemu_qmp_do(q, "migrate_cancel", NULL, NULL, NULL);
            mb_error_set(err, MB_ERR_TIMEOUT, "suspend: saving the state of \"%s\" did not "
                         "finish in time (status %s)", i->name, st ? st : "unknown");
            goto cleanup;
        }
        mb_clock_sleep(0.1);
    }
    /* "completed" can show before QEMU has closed the pipe: the file is whole
     * only once `cat` has drained it and exited */
    for (double d = mb_clock_now() + 30; mb_qemu_children(pid) > 0; mb_clock_sleep(0.05))
        if (mb_clock_now() > d) {
            mb_error_set(err, MB_ERR_TIMEOUT, "suspend: the writer of %s did not finish", tmp);
            goto cleanup;
        }
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0 || rename(tmp, state) != 0) {
        mb_error_set_errno(err, errno, "suspend: cannot keep the saved state %s", state);
        if (fd >= 0)
            close(fd);
        goto cleanup;
    }
    close(fd);
    if ((fd = open(i->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(fd);
        close(fd);
    }
    mb_qmp_free(q);
    q = NULL;
    /* the state is safe on disk: from here on the guest only has to go */
    ok = mb_qemu_force_stop(i, pid, err);
    goto cleanup;
oom:
    mb_error_set(err, MB_ERR_FAILED, "suspend: out of memory");
cleanup:
    if (!ok && q != NULL && stopped)
        mb_qemu_qmp_do(q, "cont", NULL, NULL, NULL); /* keep the guest running as it was */
    if (!ok)
        unlink(tmp);
    mb_qmp_free(q);
    free(quoted);
    free(uri);
    free(args);
    free(r);
    free(st);
    return ok;
}

static bool q_resume(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    pid_t pid = mb_qemu_live_pid(i);
    if (pid > 0) {
        /* paused in memory (a QMP stop): continue it */
        struct mb_qmp *q = mb_qemu_qmp_open(i, 10, err);
        char *st = q ? mb_qemu_qmp_status(q, err) : NULL;
        bool ok = st && (strcmp(st, "running") == 0
                         || (mb_qemu_map_status(st) == MB_STATE_SUSPENDED
                             && mb_qemu_qmp_do(q, "cont", NULL, NULL, err)));
        if (st && !ok && (err == NULL || *err == NULL))
            mb_error_set(err, MB_ERR_STATE, "resume: QEMU of \"%s\" is %s", i->name, st);
        free(st);
        mb_qmp_free(q);
        return ok;
    }
    if (!mb_qemu_has_saved_state(i)) {
        mb_error_set(err, MB_ERR_STATE, "resume: instance \"%s\" is not suspended (try: "
                     "moonbase start %s)", i->name, i->name);
        return false;
    }
    return q_start(c, i, flags, err);
}

static enum mb_state q_state(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                             mb_error **err)
{
    pid_t pid = mb_qemu_live_pid(i);
    if (pid > 0) {
        struct mb_qmp *q = mb_qemu_qmp_open(i, 3, NULL);
        char *st = q ? mb_qemu_qmp_status(q, NULL) : NULL;
        mb_qmp_free(q);
        /* alive but not answering yet: QEMU is still coming up */
        enum mb_state s = st ? mb_qemu_map_status(st) : MB_STATE_STARTING;
        free(st);
        return s;
    }
    if (mb_qemu_has_saved_state(i))
        return MB_STATE_SUSPENDED;
    char disk[MB_QEMU_PATHLEN];
    if (mb_qemu_disk_path(disk, sizeof disk, i) && access(disk, F_OK) == 0)
        return MB_STATE_STOPPED;
    return MB_STATE_ABSENT;
}

static bool q_destroy(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    pid_t pid = mb_qemu_live_pid(i);
    if (pid > 0 && !mb_qemu_force_stop(i, pid, err))
        return false;
    mb_qemu_remove_runtime(i);
    mb_qemu_remove_file(i, "suspend.state");
    mb_qemu_remove_file(i, "suspend.state.tmp");
    mb_qemu_remove_file(i, MB_QEMU_RESUME_FILE);
    if (!(flags & MB_KEEP_DISKS)) {
        char disk[MB_QEMU_PATHLEN];
        if (mb_qemu_disk_path(disk, sizeof disk, i) && unlink(disk) != 0 && errno != ENOENT) {
            mb_error_set_errno(err, errno, "destroy: cannot remove the disk %s", disk);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- addresses */

bool mb_qemu_primary_ipv4(const struct mb_instance *i, char *buf, size_t n)
{
    const struct mb_nic *p = i->n_nics > 0 ? &i->nics[0] : NULL;
    if (p == NULL || p->attach == MB_NIC_USER || p->ipv4 == NULL || *p->ipv4 == '\0')
        return false;
    snprintf(buf, n, "%.*s", (int)strcspn(p->ipv4, "/"), p->ipv4);
    return true;
}

bool mb_qemu_ssh_address(struct mb_conn *c, const struct mb_instance *i,
                         struct mb_address *addr, unsigned flags, mb_error **err)
{
    const struct mb_nic *p = i->n_nics > 0 ? &i->nics[0] : NULL;
    if (p && p->attach != MB_NIC_USER && mb_qemu_primary_ipv4(i, addr->host, sizeof addr->host)) {
        addr->port = 22;
        return true;
    }
    if (p && p->attach == MB_NIC_USER && p->host_port > 0) {
        snprintf(addr->host, sizeof addr->host, "127.0.0.1");
        addr->port = p->host_port;
        return true;
    }
    mb_error_set(err, MB_ERR_NOT_FOUND, "ssh: instance \"%s\" has no SSH address (%s)", i->name,
                 p && p->attach != MB_NIC_USER ? "its bridge NIC has no static ipv4"
                                                : "no SSH forward");
    return false;
}

/* User networking: the guest has no address the host can reach (empty). */
static char **q_ipv4(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    return mb_instance_static_ipv4(i);
}

static char *q_console_log(struct mb_conn *c, const struct mb_instance *i, size_t max,
                           unsigned flags, mb_error **err)
{
    char p[MB_QEMU_PATHLEN];
    mb_qemu_file(p, i, "serial.log");
    return mb_fs_tail(p, max, 0);
}

/* The QEMU process's own figures: its CPU time is the guest's vCPUs (and
 * QEMU's emulation work, which under TCG is the same thing), its resident
 * memory what the guest costs this host. */
static bool q_usage(struct mb_conn *c, const struct mb_instance *i, struct mb_usage *u,
                    unsigned flags, mb_error **err)
{
    pid_t pid = mb_qemu_live_pid(i);
    if (pid <= 0) {
        mb_error_set(err, MB_ERR_STATE, "usage: instance \"%s\" is not running", i->name);
        return false;
    }
    return mb_qemu_pid_usage(pid, &u->cpu_ns, &u->memory_bytes, err);
}

/* The QEMU process the instance agent watches (its child: it started it). */
static pid_t q_pid(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                   mb_error **err)
{
    return mb_qemu_live_pid(i);
}

static const char *const markers[] = {"qemu.pid", "suspend.state", NULL};

static const char *const accels[] = {"auto", "kvm", "tcg", NULL};

const struct mb_setting mb_qemu_settings[] = {
    {"local.qemu.accel", "accel", MB_SETTING_ENUM, "auto", accels,
     "how QEMU runs guests: auto (KVM when this host's /dev/kvm runs a test guest at KVM's "
     "speed, else TCG emulation), kvm or tcg", 0},
    {"local.qemu.restrict-user-network", "restrict-user-network", MB_SETTING_BOOL, "false",
     NULL, "QEMU user networking (the fallback without a moonbase network): keep guests from "
     "reaching anything but the host's forwards (restrict=on); the test suite sets it", 0},
    {0},
};

const struct mb_driver mb_driver_qemu = {
    .name = "qemu",
    .scope = "qemu",
    .markers = markers,
    .disk_file = MB_QEMU_DISK,
    .settings = mb_qemu_settings,
    .probe = q_probe,
    .host_info = q_host_info,
    .networks = q_networks,
    .create = q_create,
    .start = q_start,
    .shutdown = q_shutdown,
    .suspend = q_suspend,
    .resume = q_resume,
    .state = q_state,
    .destroy = q_destroy,
    .pid = q_pid,
    .ssh_address = mb_qemu_ssh_address,
    .ipv4 = q_ipv4,
    .console_log = q_console_log,
    .usage = q_usage,
    .snapshot_take = mb_qemu_snapshot_take,
    .snapshot_restore = mb_qemu_snapshot_restore,
    .snapshot_delete = mb_qemu_snapshot_delete,
    .snapshot_list = mb_qemu_snapshot_list,
    .clone = mb_qemu_clone,
    .rename = mb_qemu_rename,
    .resize_disk = mb_qemu_resize_disk,
    .mount_native = mb_qemu_mount_native,
    .umount_native = mb_qemu_umount_native,
};
