/* The example driver: the smallest real driver, to copy from and to prove
 * that adding one is a folder under drivers/ plus one line in
 * drivers/drivers.def (tests/drivers/example/check.sh does exactly that).
 * Its instances are directories: <dir>/example.state says stopped or
 * running, <dir>/disk.img is a sparse file of the disk's size. It has no
 * guest to run commands in (no exec, no ssh_address: the dispatcher refuses
 * them), and its networks are simulated, so nothing on the host changes.
 * One setting, local.example.greeting, goes into the console log at start. */
#include "driver/driver.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool file_of(char *buf, size_t n, const struct mb_instance *i, const char *name)
{
    int len = snprintf(buf, n, "%s/%s", i->dir, name);
    return len > 0 && (size_t)len < n;
}

static enum mb_state ex_state(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                              mb_error **err)
{
    char p[4096], *s = file_of(p, sizeof p, i, "example.state") ? mb_fs_read(p, NULL, NULL) : NULL;
    enum mb_state st = s == NULL ? MB_STATE_ABSENT
                       : strncmp(s, "running", 7) == 0 ? MB_STATE_RUNNING : MB_STATE_STOPPED;
    free(s);
    return st;
}

static bool set_state(const struct mb_instance *i, const char *st, mb_error **err)
{
    char p[4096];
    if (!file_of(p, sizeof p, i, "example.state")) {
        mb_error_set(err, MB_ERR_USAGE, "example: the path of \"%s\" is too long", i->name);
        return false;
    }
    return mb_fs_write_atomic(p, st, strlen(st), 0644, err);
}

static enum mb_probe_result ex_probe(struct mb_conn *c, char **reason, unsigned flags,
                                     mb_error **err)
{
    *reason = strdup("instances are directories");
    return MB_PROBE_OK;
}

static enum mb_net_backend ex_net_backend(struct mb_conn *c, const char *host, unsigned flags,
                                          mb_error **err)
{
    return MB_NET_SIMULATED;
}

static bool ex_create(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    char p[4096];
    if (ex_state(c, i, 0, NULL) != MB_STATE_ABSENT) {
        mb_error_set(err, MB_ERR_EXISTS, "example: \"%s\" exists already", i->name);
        return false;
    }
    int fd = file_of(p, sizeof p, i, "disk.img") ? open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)
                                                  : -1;
    if (fd < 0 || ftruncate(fd, (off_t)i->disk_size) != 0) {
        mb_error_set_errno(err, errno, "example: cannot make the disk of \"%s\"", i->name);
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);
    return set_state(i, "stopped", err);
}

static bool ex_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    if (ex_state(c, i, 0, NULL) != MB_STATE_STOPPED) {
        mb_error_set(err, MB_ERR_STATE, "example: \"%s\" is not stopped", i->name);
        return false;
    }
    char p[4096], line[512];
    int n = snprintf(line, sizeof line, "%s: %s\n", i->name, mb_conn_config(c, "greeting"));
    FILE *f = file_of(p, sizeof p, i, "console.log") ? fopen(p, "a") : NULL;
    if (f) {
        fwrite(line, 1, n > 0 ? (size_t)n : 0, f);
        fclose(f);
    }
    return set_state(i, "running", err);
}

static bool ex_shutdown(struct mb_conn *c, const struct mb_instance *i, double timeout,
                        unsigned flags, mb_error **err)
{
    if (ex_state(c, i, 0, NULL) != MB_STATE_RUNNING) {
        mb_error_set(err, MB_ERR_STATE, "example: \"%s\" is not running", i->name);
        return false;
    }
    return set_state(i, "stopped", err);
}

static bool ex_destroy(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    char p[4096];
    if (file_of(p, sizeof p, i, "example.state"))
        unlink(p);
    if (!(flags & MB_KEEP_DISKS) && file_of(p, sizeof p, i, "disk.img"))
        unlink(p);
    return true;
}

/* The NICs' addresses on moonbase's (simulated) networks. */
static char **ex_ipv4(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    char **v = mb_strv_new();
    for (size_t k = 0; v && k < i->n_nics; k++)
        if (i->nics[k].ipv4)
            mb_strv_push(&v, i->nics[k].ipv4);
    return v;
}

static char *ex_console_log(struct mb_conn *c, const struct mb_instance *i, size_t max,
                            unsigned flags, mb_error **err)
{
    char p[4096];
    size_t len = 0;
    char *s = file_of(p, sizeof p, i, "console.log") ? mb_fs_read(p, &len, NULL) : NULL;
    if (s && len > max)
        memmove(s, s + len - max, max + 1);
    return s ? s : strdup("");
}

static const struct mb_setting settings[] = {
    {"local.example.greeting", "greeting", MB_SETTING_STRING, "hello", NULL,
     "what the example driver writes to an instance's console at start", 0},
    {NULL},
};

const struct mb_driver mb_driver_example = {
    .name = "example",
    .scope = "example",
    .disk_file = "disk.img",
    .settings = settings,
    .probe = ex_probe,
    .net_backend = ex_net_backend,
    .create = ex_create,
    .start = ex_start,
    .shutdown = ex_shutdown,
    .state = ex_state,
    .destroy = ex_destroy,
    .ipv4 = ex_ipv4,
    .console_log = ex_console_log,
};
