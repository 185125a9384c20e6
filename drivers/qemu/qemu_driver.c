/* The QEMU driver: one qemu-system-x86_64 process per running instance,
 * started directly (no -daemonize) so the caller — the instance agent — is
 * its parent and sees it exit. The truth is the process: <dir>/qemu.pid names
 * it, /proc/<pid>/cmdline proves it is this instance's QEMU (its overlay disk
 * is on the command line), and QMP on <dir>/qmp.sock says what it is doing.
 * A suspended instance has no process, only <dir>/suspend.state (the
 * migration stream), which the next start resumes from. */
#include "driver.h"
#include "fs.h"
#include "qemu_argv.h"
#include "qemu_img.h"
#include "qemu_json.h"
#include "qemu_proc.h"
#include "qmp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define QEMU_BIN "qemu-system-x86_64"
#define START_QMP_TIMEOUT 10.0 /* QEMU answers QMP within this after exec */
#define PATHLEN 4096

/* The host facts of the command line. */
static void host_facts(struct mb_qemu_host *h)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    bool kvm = fd >= 0;
    if (fd >= 0)
        close(fd);
    h->binary = QEMU_BIN;
    h->accel = kvm ? "kvm" : "tcg";
    h->cpu = kvm ? "host" : "max";
}

static void file_of(char *buf, const struct mb_instance *i, const char *name)
{
    if (!mb_qemu_path(buf, PATHLEN, i, name))
        buf[0] = '\0'; /* an unusable path: every access to it fails */
}

/* The pid of this instance's live QEMU, or 0. */
static pid_t live_pid(const struct mb_instance *i)
{
    char p[PATHLEN];
    file_of(p, i, "qemu.pid");
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
    return ours ? (pid_t)pid : 0;
}

static bool exists_in(const struct mb_instance *i, const char *name)
{
    char p[PATHLEN];
    file_of(p, i, name);
    return access(p, F_OK) == 0;
}

static void remove_in(const struct mb_instance *i, const char *name)
{
    char p[PATHLEN];
    file_of(p, i, name);
    unlink(p);
}

/* What a QEMU that is gone leaves behind. */
static void remove_runtime_files(const struct mb_instance *i)
{
    remove_in(i, "qemu.pid");
    remove_in(i, "qmp.sock");
}

static struct mb_qmp *qmp_open(const struct mb_instance *i, double timeout, mb_error **err)
{
    char p[PATHLEN];
    file_of(p, i, "qmp.sock");
    return mb_qmp_connect(p, timeout, err);
}

/* Runs one QMP command; the reply is dropped unless ret is given. */
static bool qmp_do(struct mb_qmp *q, const char *cmd, const char *args, char **ret,
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
static char *reply_string(const char *json, const char *key)
{
    return mb_json_string(mb_json_get(json, key));
}

static char *qmp_status(struct mb_qmp *q, mb_error **err)
{
    char *r = NULL, *s = NULL;
    if (qmp_do(q, "query-status", NULL, &r, err))
        s = reply_string(r, "status");
    free(r);
    return s;
}

static enum mb_state map_status(const char *s)
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

/* Ends pid: QMP quit, then SIGKILL; reaps it if it is our child. */
static bool force_stop(const struct mb_instance *i, pid_t pid, mb_error **err)
{
    struct mb_qmp *q = qmp_open(i, 2, NULL);
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
    remove_runtime_files(i);
    return true;
}

/* ---------------------------------------------------------------- host */

static enum mb_probe_result q_probe(char **reason, unsigned flags, mb_error **err)
{
    char *qemu = mb_qemu_which(QEMU_BIN), *img = mb_qemu_which("qemu-img");
    enum mb_probe_result r = MB_PROBE_OK;
    char msg[256];
    if (qemu == NULL || img == NULL) {
        snprintf(msg, sizeof msg, "%s not found on PATH (install qemu-system-x86 and "
                 "qemu-utils)", qemu == NULL ? QEMU_BIN : "qemu-img");
        r = MB_PROBE_DECLINED;
    } else {
        struct mb_qemu_host h;
        host_facts(&h);
        snprintf(msg, sizeof msg, strcmp(h.accel, "kvm") == 0 ? "QEMU with KVM"
                 : "QEMU with TCG (no usable /dev/kvm: guests are emulated, several times "
                   "slower)");
    }
    if (reason)
        *reason = strdup(msg);
    free(qemu);
    free(img);
    return r;
}

static char **q_host_info(unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    char line[512], *qemu = mb_qemu_which(QEMU_BIN), *img = mb_qemu_which("qemu-img");
    struct mb_qemu_host h;
    host_facts(&h);
    mb_strv_push(&v, "driver=qemu");
    snprintf(line, sizeof line, "qemu=%s", qemu ? qemu : "(not installed)");
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "qemu-img=%s", img ? img : "(not installed)");
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "accel=%s", h.accel);
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "cpu=%s", h.cpu);
    mb_strv_push(&v, line);
    char *out = NULL, *argv[] = {QEMU_BIN, "--version", NULL};
    if (qemu && mb_qemu_run(argv, &out, NULL)) {
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
static char **q_networks(unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    DIR *d = opendir("/sys/class/net");
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char p[PATHLEN];
        snprintf(p, sizeof p, "/sys/class/net/%s/bridge", de->d_name);
        if (de->d_name[0] != '.' && access(p, F_OK) == 0)
            mb_strv_push(&v, de->d_name);
    }
    if (d)
        closedir(d);
    return v;
}

/* ---------------------------------------------------------------- lifecycle */

static bool q_create(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char disk[PATHLEN];
    if (!mb_qemu_disk_path(disk, sizeof disk, i) || i->image == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs a base image and a disk "
                     "path", i->name);
        return false;
    }
    return mb_qemu_img_overlay(i->image, disk, i->disk_size, err);
}

/* The last lines QEMU and the guest wrote, for an error message. */
static char *startup_logs(const struct mb_instance *i)
{
    char p[PATHLEN];
    file_of(p, i, "qemu.log");
    char *qlog = mb_qemu_tail(p, 2048, 8);
    file_of(p, i, "serial.log");
    char *slog = mb_qemu_tail(p, 2048, 8);
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
    double start = mb_qemu_now();
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
        double elapsed = mb_qemu_now() - start;
        if (elapsed > limit || (q == NULL && elapsed > START_QMP_TIMEOUT)) {
            char *logs = startup_logs(i);
            mb_error_set(err, MB_ERR_TIMEOUT, "start: QEMU of \"%s\" did not %s within %.0f s "
                         "(status: %s)%s", i->name, q ? "start the guest" : "answer on QMP",
                         q ? limit : START_QMP_TIMEOUT, status ? status : "none",
                         logs ? logs : "");
            free(logs);
            goto cleanup;
        }
        if (q == NULL && (q = qmp_open(i, 1, NULL)) == NULL) {
            mb_qemu_sleep(0.05);
            continue;
        }
        free(status);
        mb_error *qerr = NULL;
        status = qmp_status(q, &qerr);
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
            if (!qmp_do(q, "cont", NULL, NULL, err))
                goto cleanup;
            continue;
        }
        if (map_status(status) != MB_STATE_STARTING) {
            mb_error_set(err, MB_ERR_FAILED, "start: QEMU of \"%s\" is %s instead of running "
                         "(see qemu.log in the instance directory)", i->name, status);
            goto cleanup;
        }
        mb_qemu_sleep(0.1);
    }
cleanup:
    free(status);
    mb_qmp_free(q);
    return ok;
}

static bool q_start(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char disk[PATHLEN], state[PATHLEN], pidfile[PATHLEN], log[PATHLEN];
    char **argv = NULL;
    pid_t pid = live_pid(i);
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
    file_of(state, i, "suspend.state");
    file_of(pidfile, i, "qemu.pid");
    file_of(log, i, "qemu.log");
    bool resuming = access(state, F_OK) == 0;
    struct mb_qemu_host h;
    host_facts(&h);
    if ((argv = mb_qemu_argv(i, &h, resuming ? state : NULL, err)) == NULL)
        return false;
    remove_runtime_files(i);
    if ((pid = mb_qemu_spawn(argv, i->dir, log, err)) < 0)
        goto cleanup;
    char num[32];
    int len = snprintf(num, sizeof num, "%d\n", (int)pid);
    if (!mb_fs_write_atomic(pidfile, num, (size_t)len, 0644, err)
        || !wait_running(i, pid, resuming, err)) {
        kill(pid, SIGKILL);
        mb_qemu_wait_gone(pid, 5);
        remove_runtime_files(i);
        goto cleanup;
    }
    if (resuming)
        unlink(state); /* the guest runs on; the old state must never load again */
    ok = true;
cleanup:
    mb_strv_free(argv);
    return ok;
}

static bool q_shutdown(const struct mb_instance *i, double timeout, unsigned flags,
                       mb_error **err)
{
    pid_t pid = live_pid(i);
    if (pid == 0) {
        if (exists_in(i, "suspend.state")) {
            if (!(flags & MB_FORCE)) {
                mb_error_set(err, MB_ERR_STATE, "stop: instance \"%s\" is suspended (try: "
                             "moonbase start %s, or stop --force to discard its saved state)",
                             i->name, i->name);
                return false;
            }
            remove_in(i, "suspend.state");
        }
        remove_runtime_files(i);
        return true;
    }
    if (!(flags & MB_FORCE)) {
        /* ACPI power button: the guest shuts down and QEMU exits */
        struct mb_qmp *q = qmp_open(i, 5, NULL);
        bool asked = q && qmp_do(q, "system_powerdown", NULL, NULL, NULL);
        mb_qmp_free(q);
        if (asked && mb_qemu_wait_gone(pid, timeout)) {
            remove_runtime_files(i);
            return true;
        }
    }
    return force_stop(i, pid, err);
}

static bool q_suspend(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char tmp[PATHLEN], state[PATHLEN];
    char *quoted = NULL, *uri = NULL, *args = NULL, *r = NULL, *st = NULL;
    struct mb_qmp *q = NULL;
    bool ok = false, stopped = false;
    pid_t pid = live_pid(i);
    if (pid == 0) {
        mb_error_set(err, MB_ERR_STATE, "suspend: instance \"%s\" is not running", i->name);
        return false;
    }
    file_of(tmp, i, "suspend.state.tmp");
    file_of(state, i, "suspend.state");
    unlink(tmp);
    if ((q = qmp_open(i, 10, err)) == NULL || !qmp_do(q, "stop", NULL, NULL, err))
        goto cleanup;
    stopped = true;
    /* the default 32 MiB/s cap would make saving a big guest slow for nothing */
    if (!qmp_do(q, "migrate-set-parameters", "{\"max-bandwidth\": 10737418240}", NULL, err))
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
    if (!qmp_do(q, "migrate", args, NULL, err))
        goto cleanup;
    double deadline = mb_qemu_now() + 120 + (double)(i->memory >> 20) / 20;
    for (;;) {
        free(r);
        free(st);
        st = NULL;
        if (!qmp_do(q, "query-migrate", NULL, &r, err))
            goto cleanup;
        st = reply_string(r, "status");
        if (st && strcmp(st, "completed") == 0)
            break;
        if (st && (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0)) {
            char *desc = reply_string(r, "error-desc");
            mb_error_set(err, MB_ERR_FAILED, "suspend: saving the state of \"%s\" to %s %s%s%s "
                         "(is the disk full?)", i->name, tmp, st, desc ? ": " : "",
                         desc ? desc : "");
            free(desc);
            goto cleanup;
        }
        if (mb_qemu_now() > deadline) {
            qmp_do(q, "migrate_cancel", NULL, NULL, NULL);
            mb_error_set(err, MB_ERR_TIMEOUT, "suspend: saving the state of \"%s\" did not "
                         "finish in time (status %s)", i->name, st ? st : "unknown");
            goto cleanup;
        }
        mb_qemu_sleep(0.1);
    }
    /* "completed" can show before QEMU has closed the pipe: the file is whole
     * only once `cat` has drained it and exited */
    for (double d = mb_qemu_now() + 30; mb_qemu_children(pid) > 0; mb_qemu_sleep(0.05))
        if (mb_qemu_now() > d) {
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
    ok = force_stop(i, pid, err);
    goto cleanup;
oom:
    mb_error_set(err, MB_ERR_FAILED, "suspend: out of memory");
cleanup:
    if (!ok && q != NULL && stopped)
        qmp_do(q, "cont", NULL, NULL, NULL); /* keep the guest running as it was */
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

static bool q_resume(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    pid_t pid = live_pid(i);
    if (pid > 0) {
        /* paused in memory (a QMP stop): continue it */
        struct mb_qmp *q = qmp_open(i, 10, err);
        char *st = q ? qmp_status(q, err) : NULL;
        bool ok = st && (strcmp(st, "running") == 0
                         || (map_status(st) == MB_STATE_SUSPENDED
                             && qmp_do(q, "cont", NULL, NULL, err)));
        if (st && !ok && (err == NULL || *err == NULL))
            mb_error_set(err, MB_ERR_STATE, "resume: QEMU of \"%s\" is %s", i->name, st);
        free(st);
        mb_qmp_free(q);
        return ok;
    }
    if (!exists_in(i, "suspend.state")) {
        mb_error_set(err, MB_ERR_STATE, "resume: instance \"%s\" is not suspended (try: "
                     "moonbase start %s)", i->name, i->name);
        return false;
    }
    return q_start(i, flags, err);
}

static enum mb_state q_state(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    pid_t pid = live_pid(i);
    if (pid > 0) {
        struct mb_qmp *q = qmp_open(i, 3, NULL);
        char *st = q ? qmp_status(q, NULL) : NULL;
        mb_qmp_free(q);
        /* alive but not answering yet: QEMU is still coming up */
        enum mb_state s = st ? map_status(st) : MB_STATE_STARTING;
        free(st);
        return s;
    }
    if (exists_in(i, "suspend.state"))
        return MB_STATE_SUSPENDED;
    char disk[PATHLEN];
    if (mb_qemu_disk_path(disk, sizeof disk, i) && access(disk, F_OK) == 0)
        return MB_STATE_STOPPED;
    return MB_STATE_ABSENT;
}

static bool q_destroy(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    pid_t pid = live_pid(i);
    if (pid > 0 && !force_stop(i, pid, err))
        return false;
    remove_runtime_files(i);
    remove_in(i, "suspend.state");
    remove_in(i, "suspend.state.tmp");
    if (!(flags & MB_KEEP_DISKS)) {
        char disk[PATHLEN];
        if (mb_qemu_disk_path(disk, sizeof disk, i) && unlink(disk) != 0 && errno != ENOENT) {
            mb_error_set_errno(err, errno, "destroy: cannot remove the disk %s", disk);
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- addresses */

/* The primary NIC's static address, without a /prefix. */
static bool primary_ipv4(const struct mb_instance *i, char *buf, size_t n)
{
    if (i->ipv4 == NULL || *i->ipv4 == '\0')
        return false;
    snprintf(buf, n, "%.*s", (int)strcspn(i->ipv4, "/"), i->ipv4);
    return true;
}

static bool q_ssh_address(const struct mb_instance *i, struct mb_address *addr,
                          unsigned flags, mb_error **err)
{
    if (i->tap && primary_ipv4(i, addr->host, sizeof addr->host)) {
        addr->port = 22;
        return true;
    }
    if (i->tap == NULL && i->ssh_port > 0) {
        snprintf(addr->host, sizeof addr->host, "127.0.0.1");
        addr->port = i->ssh_port;
        return true;
    }
    mb_error_set(err, MB_ERR_NOT_FOUND, "ssh: instance \"%s\" has no SSH address (%s)", i->name,
                 i->tap ? "its bridge NIC has no static ipv4" : "no ssh_port forward");
    return false;
}

/* User networking: the guest has no address the host can reach (empty). */
static char **q_ipv4(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    char a[64];
    if (v && primary_ipv4(i, a, sizeof a))
        mb_strv_push(&v, a);
    return v;
}

static char *q_console_log(const struct mb_instance *i, size_t max, unsigned flags,
                           mb_error **err)
{
    char p[PATHLEN];
    file_of(p, i, "serial.log");
    return mb_qemu_tail(p, max, 0);
}

/* ---------------------------------------------------------------- storage */

/* Disk operations need QEMU gone; with `no_saved_state` also no saved state
 * (whose RAM belongs to the disk as it is). */
static bool disk_idle(const struct mb_instance *i, const char *op, bool no_saved_state,
                      char *disk, mb_error **err)
{
    if (live_pid(i) > 0) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is running (try: moonbase stop "
                     "%s)", op, i->name, i->name);
        return false;
    }
    if (no_saved_state && exists_in(i, "suspend.state")) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is suspended (try: moonbase "
                     "start %s, then stop it)", op, i->name, i->name);
        return false;
    }
    if (!mb_qemu_disk_path(disk, PATHLEN, i) || access(disk, F_OK) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "%s: instance \"%s\" has no disk", op, i->name);
        return false;
    }
    return true;
}

static bool has_snapshot(const char *disk, const char *snap, bool *found, mb_error **err)
{
    struct mb_qemu_img_info info;
    if (!mb_qemu_img_info(disk, false, &info, err))
        return false;
    *found = false;
    for (char **s = info.snapshots; s && *s; s++)
        *found = *found || strcmp(*s, snap) == 0;
    mb_qemu_img_info_clear(&info);
    return true;
}

static bool snapshot_op(const struct mb_instance *i, const char *snap, char op,
                        const char *what, mb_error **err)
{
    char disk[PATHLEN];
    bool found;
    if (!disk_idle(i, what, op == 'a', disk, err) || !has_snapshot(disk, snap, &found, err))
        return false;
    if (op == 'c' && found) {
        mb_error_set(err, MB_ERR_EXISTS, "snapshot \"%s\" of \"%s\" already exists", snap,
                     i->name);
        return false;
    }
    if (op != 'c' && !found) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\" (try: moonbase "
                     "snapshot list %s)", snap, i->name, i->name);
        return false;
    }
    return mb_qemu_img_snapshot(disk, op, snap, err);
}

static bool q_snapshot_take(const struct mb_instance *i, const char *snap, unsigned flags,
                            mb_error **err)
{
    return snapshot_op(i, snap, 'c', "snapshot", err);
}

static bool q_snapshot_restore(const struct mb_instance *i, const char *snap, unsigned flags,
                               mb_error **err)
{
    return snapshot_op(i, snap, 'a', "restore", err);
}

static bool q_snapshot_delete(const struct mb_instance *i, const char *snap, unsigned flags,
                              mb_error **err)
{
    return snapshot_op(i, snap, 'd', "snapshot delete", err);
}

static char **q_snapshot_list(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char disk[PATHLEN];
    struct mb_qemu_img_info info;
    if (!disk_idle(i, "snapshot list", false, disk, err)
        || !mb_qemu_img_info(disk, false, &info, err))
        return NULL;
    char **v = info.snapshots;
    info.snapshots = NULL;
    mb_qemu_img_info_clear(&info);
    return v;
}

/* A byte copy of src at dst (through dst.tmp, fsync, rename). */
static bool copy_file(const char *src, const char *dst, mb_error **err)
{
    char tmp[PATHLEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
    bool ok = false;
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0) {
        mb_error_set_errno(err, errno, "clone: cannot read %s", src);
        goto cleanup;
    }
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        mb_error_set_errno(err, errno, "clone: cannot create %s", tmp);
        goto cleanup;
    }
    for (off_t left = st.st_size; left > 0;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mb_error_set_errno(err, n < 0 ? errno : EIO, "clone: cannot copy %s to %s", src,
                               tmp);
            goto cleanup;
        }
        left -= n;
    }
    if (fsync(out) != 0 || rename(tmp, dst) != 0) {
        mb_error_set_errno(err, errno, "clone: cannot write %s", dst);
        goto cleanup;
    }
    ok = true;
cleanup:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (!ok)
        unlink(tmp);
    return ok;
}

/* The target's disk is a copy of the source overlay: same backing file. */
static bool q_clone(const struct mb_instance *i, const struct mb_instance *t, unsigned flags,
                    mb_error **err)
{
    char disk[PATHLEN], tdisk[PATHLEN];
    if (!disk_idle(i, "clone", true, disk, err))
        return false;
    if (!mb_qemu_disk_path(tdisk, sizeof tdisk, t) || access(tdisk, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "clone: the disk %s of \"%s\" already exists", tdisk,
                     t->name);
        return false;
    }
    return mb_fs_mkdirs(t->dir, 0700, err) && copy_file(disk, tdisk, err);
}

static bool q_resize_disk(const struct mb_instance *i, uint64_t bytes, unsigned flags,
                          mb_error **err)
{
    char disk[PATHLEN];
    pid_t pid = live_pid(i);
    if (pid == 0)
        return disk_idle(i, "resize", true, disk, err) && mb_qemu_img_grow(disk, bytes, err);
    /* running: QEMU grows its open image, and the guest sees the new size */
    struct mb_qemu_img_info info;
    if (!mb_qemu_disk_path(disk, sizeof disk, i) || !mb_qemu_img_info(disk, true, &info, err))
        return false;
    uint64_t have = info.virtual_size;
    mb_qemu_img_info_clear(&info);
    if (bytes < have) {
        mb_error_set(err, MB_ERR_USAGE, "resize: the disk of \"%s\" can only grow (it has %llu "
                     "bytes)", i->name, (unsigned long long)have);
        return false;
    }
    if (bytes == have)
        return true;
    char args[96];
    snprintf(args, sizeof args, "{\"device\": \"disk0\", \"size\": %llu}",
             (unsigned long long)bytes);
    struct mb_qmp *q = qmp_open(i, 10, err);
    bool ok = q && qmp_do(q, "block_resize", args, NULL, err);
    mb_qmp_free(q);
    return ok;
}

/* ---------------------------------------------------------------- mounts */

/* 9p shares are on QEMU's command line: a stopped instance gets them (they are
 * in inst->mounts) at its next start; a running one needs a restart. */
static bool mount_change(const struct mb_instance *i, const char *verb, mb_error **err)
{
    if (live_pid(i) > 0) {
        mb_error_set(err, MB_ERR_STATE, "%s a native mount %s a running QEMU instance needs a "
                     "restart (try: --restart)", verb, strcmp(verb, "adding") == 0 ? "to"
                     : "from");
        return false;
    }
    if (exists_in(i, "suspend.state")) {
        mb_error_set(err, MB_ERR_STATE, "%s a native mount: instance \"%s\" is suspended and "
                     "its saved state has the old devices (try: moonbase start %s, then "
                     "--restart)", verb, i->name, i->name);
        return false;
    }
    return true;
}

static bool q_mount_native(const struct mb_instance *i, const struct mb_mount_spec *m,
                           unsigned flags, mb_error **err)
{
    return mount_change(i, "adding", err);
}

static bool q_umount_native(const struct mb_instance *i, const struct mb_mount_spec *m,
                            unsigned flags, mb_error **err)
{
    return mount_change(i, "removing", err);
}

static const char *const capabilities[] = {
    "native_mounts", "extra_networks", "snapshots", "clone", "suspend", "resize_disk", NULL,
};

const struct mb_driver mb_driver_qemu = {
    .name = "qemu",
    .scope = "qemu",
    .capabilities = capabilities,
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
    .ssh_address = q_ssh_address,
    .ipv4 = q_ipv4,
    .console_log = q_console_log,
    .snapshot_take = q_snapshot_take,
    .snapshot_restore = q_snapshot_restore,
    .snapshot_delete = q_snapshot_delete,
    .snapshot_list = q_snapshot_list,
    .clone = q_clone,
    .resize_disk = q_resize_disk,
    .mount_native = q_mount_native,
    .umount_native = q_umount_native,
};
