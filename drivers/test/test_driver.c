/* The test driver: instances as files only, no processes. It implements every
 * slot and enforces the state machine, so the CLI and recipes can be tested in
 * milliseconds. Its truth is <dir>/test-driver.state.
 * Test hooks (environment): MOONBASE_TEST_DELAY_MS=N sleeps N ms in create,
 * start and shutdown (to observe parallelism); MOONBASE_TEST_FAIL=op[:name],...
 * makes that operation fail (for all instances, or the named one). */
#include "driver/driver.h"
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void path_of(char *buf, size_t n, const struct mb_instance *i, const char *file)
{
    snprintf(buf, n, "%s/%s", i->dir, file);
}

static void delay(void)
{
    const char *ms = getenv("MOONBASE_TEST_DELAY_MS");
    long v = ms ? strtol(ms, NULL, 10) : 0;
    if (v > 0) {
        struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* MOONBASE_TEST_FAIL="start,create:web1" */
static bool injected_failure(const char *op, const struct mb_instance *i, mb_error **err)
{
    const char *spec = getenv("MOONBASE_TEST_FAIL");
    if (spec == NULL)
        return false;
    char *copy = strdup(spec), *save = NULL;
    bool hit = false;
    for (char *tok = strtok_r(copy, ",", &save); tok && !hit; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':');
        if (colon)
            *colon = '\0';
        hit = strcmp(tok, op) == 0 && (colon == NULL || (i && strcmp(colon + 1, i->name) == 0));
    }
    free(copy);
    if (hit)
        mb_error_set(err, MB_ERR_FAILED, "test driver: %s of \"%s\" failed (injected by "
                     "MOONBASE_TEST_FAIL)", op, i ? i->name : "");
    return hit;
}

static void log_line(const struct mb_instance *i, const char *what)
{
    char p[4096];
    path_of(p, sizeof p, i, "serial.log");
    FILE *f = fopen(p, "a");
    if (f) {
        fprintf(f, "[test driver] %s %s\n", i->name, what);
        fclose(f);
    }
}

static enum mb_state read_state(const struct mb_instance *i)
{
    char p[4096];
    path_of(p, sizeof p, i, "test-driver.state");
    char *s = mb_fs_read(p, NULL, NULL);
    if (s == NULL)
        return MB_STATE_ABSENT;
    enum mb_state st = MB_STATE_UNKNOWN;
    if (strncmp(s, "stopped", 7) == 0)
        st = MB_STATE_STOPPED;
    else if (strncmp(s, "running", 7) == 0)
        st = MB_STATE_RUNNING;
    else if (strncmp(s, "suspended", 9) == 0)
        st = MB_STATE_SUSPENDED;
    free(s);
    return st;
}

static bool write_state(const struct mb_instance *i, enum mb_state st, mb_error **err)
{
    char p[4096];
    path_of(p, sizeof p, i, "test-driver.state");
    const char *name = mb_state_name(st);
    if (!mb_fs_write_atomic(p, name, strlen(name), 0644, err))
        return false;
    log_line(i, name);
    return true;
}

/* The state machine: `op` needs the instance in state `want`. */
static bool expect(const struct mb_instance *i, enum mb_state want, const char *op,
                   mb_error **err)
{
    enum mb_state st = read_state(i);
    if (st == want)
        return true;
    if (st == MB_STATE_ABSENT)
        mb_error_set(err, MB_ERR_NOT_FOUND, "test driver: %s: no instance \"%s\"", op, i->name);
    else
        mb_error_set(err, MB_ERR_STATE, "test driver: cannot %s \"%s\": it is %s, not %s", op,
                     i->name, mb_state_name(st), mb_state_name(want));
    return false;
}

static void disk_path(char *buf, size_t n, const struct mb_instance *i)
{
    if (i->disk)
        snprintf(buf, n, "%s", i->disk);
    else
        path_of(buf, n, i, "disk.img");
}

static enum mb_probe_result t_probe(char **reason, unsigned flags, mb_error **err)
{
    return MB_PROBE_OK;
}

static char **t_host_info(unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    mb_strv_push(&v, "driver=test");
    mb_strv_push(&v, "hypervisor=none (instances are files)");
    return v;
}

static char **t_networks(unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    mb_strv_push(&v, "test0");
    return v;
}

static bool t_create(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    delay();
    if (injected_failure("create", i, err))
        return false;
    if (read_state(i) != MB_STATE_ABSENT) {
        mb_error_set(err, MB_ERR_EXISTS, "test driver: instance \"%s\" already exists", i->name);
        return false;
    }
    char p[4096];
    disk_path(p, sizeof p, i);
    FILE *f = fopen(p, "a");
    if (f == NULL || truncate(p, (off_t)i->disk_size) != 0) {
        if (f)
            fclose(f);
        mb_error_set_errno(err, errno, "test driver: cannot create disk %s", p);
        return false;
    }
    fclose(f);
    return write_state(i, MB_STATE_STOPPED, err);
}

static bool t_start(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    delay();
    if (injected_failure("start", i, err) || !expect(i, MB_STATE_STOPPED, "start", err))
        return false;
    char p[4096], now[64];
    path_of(p, sizeof p, i, "test-driver.boot");
    snprintf(now, sizeof now, "%ld", (long)time(NULL));
    return mb_fs_write_atomic(p, now, strlen(now), 0644, err)
           && write_state(i, MB_STATE_RUNNING, err);
}

static bool t_shutdown(const struct mb_instance *i, double timeout, unsigned flags,
                       mb_error **err)
{
    delay();
    if (injected_failure("shutdown", i, err))
        return false;
    enum mb_state st = read_state(i);
    if (!(st == MB_STATE_RUNNING || (st == MB_STATE_SUSPENDED && (flags & MB_FORCE)))
        && !expect(i, MB_STATE_RUNNING, "stop", err))
        return false;
    return write_state(i, MB_STATE_STOPPED, err);
}

static bool t_suspend(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    if (injected_failure("suspend", i, err) || !expect(i, MB_STATE_RUNNING, "suspend", err))
        return false;
    return write_state(i, MB_STATE_SUSPENDED, err);
}

static bool t_resume(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    if (injected_failure("resume", i, err) || !expect(i, MB_STATE_SUSPENDED, "resume", err))
        return false;
    return write_state(i, MB_STATE_RUNNING, err);
}

static enum mb_state t_state(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    return read_state(i);
}

static bool t_destroy(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    if (injected_failure("destroy", i, err))
        return false;
    char p[4096];
    path_of(p, sizeof p, i, "test-driver.state");
    unlink(p);
    if (!(flags & MB_KEEP_DISKS)) {
        disk_path(p, sizeof p, i);
        unlink(p);
    }
    return true;
}

static bool t_ssh_address(const struct mb_instance *i, struct mb_address *addr,
                          unsigned flags, mb_error **err)
{
    if (!expect(i, MB_STATE_RUNNING, "reach", err))
        return false;
    snprintf(addr->host, sizeof addr->host, "127.0.0.1");
    addr->port = i->ssh_port ? i->ssh_port : 22;
    return true;
}

/* A documentation address (TEST-NET-1, RFC 5737): shown, never contacted. */
static char **t_ipv4(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char **v = mb_strv_new();
    if (read_state(i) != MB_STATE_RUNNING)
        return v;
    unsigned h = 5381;
    for (const char *p = i->name; *p; p++)
        h = h * 33 + (unsigned char)*p;
    char a[32];
    snprintf(a, sizeof a, "192.0.2.%u", 1 + h % 254);
    mb_strv_push(&v, a);
    return v;
}

static char *t_console_log(const struct mb_instance *i, size_t max, unsigned flags,
                           mb_error **err)
{
    char p[4096];
    path_of(p, sizeof p, i, "serial.log");
    size_t len;
    char *s = mb_fs_read(p, &len, NULL);
    if (s == NULL)
        return strdup("");
    if (len > max) {
        memmove(s, s + len - max, max + 1);
    }
    return s;
}

static void snapshot_path(char *buf, size_t n, const struct mb_instance *i, const char *snap)
{
    snprintf(buf, n, "%s/snapshots/%s", i->dir, snap);
}

static bool t_snapshot_take(const struct mb_instance *i, const char *snap, unsigned flags,
                            mb_error **err)
{
    char p[4096];
    path_of(p, sizeof p, i, "snapshots");
    if (!mb_fs_mkdirs(p, 0755, err))
        return false;
    snapshot_path(p, sizeof p, i, snap);
    if (access(p, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "snapshot \"%s\" of \"%s\" already exists", snap,
                     i->name);
        return false;
    }
    const char *st = mb_state_name(read_state(i));
    return mb_fs_write_atomic(p, st, strlen(st), 0644, err);
}

static bool t_snapshot_restore(const struct mb_instance *i, const char *snap, unsigned flags,
                               mb_error **err)
{
    char p[4096];
    snapshot_path(p, sizeof p, i, snap);
    if (access(p, F_OK) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\"", snap, i->name);
        return false;
    }
    return expect(i, MB_STATE_STOPPED, "restore", err);
}

static bool t_snapshot_delete(const struct mb_instance *i, const char *snap, unsigned flags,
                              mb_error **err)
{
    char p[4096];
    snapshot_path(p, sizeof p, i, snap);
    if (unlink(p) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\"", snap, i->name);
        return false;
    }
    return true;
}

static char **t_snapshot_list(const struct mb_instance *i, unsigned flags, mb_error **err)
{
    char p[4096];
    path_of(p, sizeof p, i, "snapshots");
    char **v = mb_strv_new();
    DIR *d = opendir(p);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            mb_strv_push(&v, de->d_name);
    if (d)
        closedir(d);
    return v;
}

static bool t_clone(const struct mb_instance *i, const struct mb_instance *t, unsigned flags,
                    mb_error **err)
{
    if (!expect(i, MB_STATE_STOPPED, "clone", err))
        return false;
    return t_create(t, flags, err);
}

static bool t_resize_disk(const struct mb_instance *i, uint64_t bytes, unsigned flags,
                          mb_error **err)
{
    char p[4096];
    disk_path(p, sizeof p, i);
    struct stat st;
    if (stat(p, &st) != 0) {
        mb_error_set_errno(err, errno, "test driver: cannot resize %s", p);
        return false;
    }
    if ((uint64_t)st.st_size > bytes) {
        mb_error_set(err, MB_ERR_USAGE, "disk of \"%s\" can only grow", i->name);
        return false;
    }
    if (truncate(p, (off_t)bytes) != 0) {
        mb_error_set_errno(err, errno, "test driver: cannot resize %s", p);
        return false;
    }
    return true;
}

static bool t_mount_native(const struct mb_instance *i, const struct mb_mount_spec *m,
                           unsigned flags, mb_error **err)
{
    char line[4200];
    snprintf(line, sizeof line, "mount %s %s", m->tag, m->source);
    log_line(i, line);
    return true;
}

static bool t_umount_native(const struct mb_instance *i, const struct mb_mount_spec *m,
                            unsigned flags, mb_error **err)
{
    char line[4200];
    snprintf(line, sizeof line, "umount %s", m->tag);
    log_line(i, line);
    return true;
}

static const char *const capabilities[] = {
    "native_mounts", "extra_networks", "snapshots", "clone", "suspend", "resize_disk", NULL,
};

const struct mb_driver mb_driver_test = {
    .name = "test",
    .scope = "test",
    .capabilities = capabilities,
    .probe = t_probe,
    .host_info = t_host_info,
    .networks = t_networks,
    .create = t_create,
    .start = t_start,
    .shutdown = t_shutdown,
    .suspend = t_suspend,
    .resume = t_resume,
    .state = t_state,
    .destroy = t_destroy,
    .ssh_address = t_ssh_address,
    .ipv4 = t_ipv4,
    .console_log = t_console_log,
    .snapshot_take = t_snapshot_take,
    .snapshot_restore = t_snapshot_restore,
    .snapshot_delete = t_snapshot_delete,
    .snapshot_list = t_snapshot_list,
    .clone = t_clone,
    .resize_disk = t_resize_disk,
    .mount_native = t_mount_native,
    .umount_native = t_umount_native,
};
