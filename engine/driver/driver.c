/* The driver dispatcher: one public function per operation. Each validates its
 * arguments once and turns a NULL slot into the "unsupported" error, so
 * drivers never re-validate and never report missing features themselves. */
#include "driver/driver.h"
#include "core/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct mb_driver mb_driver_qemu;
extern const struct mb_driver mb_driver_test;

const struct mb_driver *const mb_drivers[] = {
    &mb_driver_qemu,
    &mb_driver_test,
    NULL,
};

const char *mb_state_name(enum mb_state s)
{
    switch (s) {
    case MB_STATE_STOPPED: return "stopped";
    case MB_STATE_STARTING: return "starting";
    case MB_STATE_RUNNING: return "running";
    case MB_STATE_SUSPENDED: return "suspended";
    case MB_STATE_ABSENT: return "absent";
    case MB_STATE_ELSEWHERE: return "elsewhere";
    case MB_STATE_UNKNOWN: break;
    }
    return "unknown";
}

char **mb_strv_new(void)
{
    return calloc(1, sizeof(char *));
}

bool mb_strv_push(char ***v, const char *s)
{
    size_t n = 0;
    while ((*v)[n])
        n++;
    char **nv = realloc(*v, (n + 2) * sizeof(char *));
    if (nv == NULL)
        return false;
    *v = nv;
    nv[n] = strdup(s);
    nv[n + 1] = NULL;
    return nv[n] != NULL;
}

bool mb_strv_contains(char *const *v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

void mb_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

const struct mb_driver *mb_driver_find(const char *name, mb_error **err)
{
    for (const struct mb_driver *const *d = mb_drivers; *d; d++)
        if (strcmp((*d)->name, name) == 0)
            return *d;
    if (strcmp(name, "libvirt") == 0) {
        /* libvirt-using code lives in the plugin: the binary does not link it */
        return mb_plugin_sym("mb_driver_libvirt", err);
    }
    if (strcmp(name, "lxd") == 0) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "driver \"%s\" is not available in this build of "
                     "moonbase yet (try: moonbase set local.driver=test)", name);
        return NULL;
    }
    mb_error_set(err, MB_ERR_USAGE, "unknown driver \"%s\" (try: qemu, libvirt, lxd or test)",
                 name);
    return NULL;
}

bool mb_driver_has_capability(const struct mb_driver *drv, const char *cap)
{
    for (const char *const *c = drv->capabilities; c && *c; c++)
        if (strcmp(*c, cap) == 0)
            return true;
    return false;
}

/* The shared checks: a driver, an instance with a name and a directory, and a
 * slot the driver fills. */
static bool check(const struct mb_driver *d, const struct mb_instance *i, bool need_inst,
                  bool slot, const char *op, mb_error **err)
{
    if (d == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "%s: no driver", op);
        return false;
    }
    if (need_inst && (i == NULL || i->name == NULL || i->dir == NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "%s: the instance needs a name and a directory", op);
        return false;
    }
    if (!slot) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not supported by the %s driver",
                     op, d->name);
        return false;
    }
    return true;
}

#define SLOT(d, f) ((d) != NULL && (d)->f != NULL)

enum mb_probe_result mb_driver_probe(const struct mb_driver *d, char **reason, unsigned flags,
                                     mb_error **err)
{
    if (!check(d, NULL, false, SLOT(d, probe), "probe", err))
        return MB_PROBE_DECLINED;
    return d->probe(reason, flags, err);
}

char **mb_driver_host_info(const struct mb_driver *d, unsigned flags, mb_error **err)
{
    return check(d, NULL, false, SLOT(d, host_info), "host_info", err)
               ? d->host_info(flags, err) : NULL;
}

char **mb_driver_networks(const struct mb_driver *d, unsigned flags, mb_error **err)
{
    return check(d, NULL, false, SLOT(d, networks), "networks", err)
               ? d->networks(flags, err) : NULL;
}

bool mb_driver_create(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    if (!check(d, i, true, SLOT(d, create), "create", err))
        return false;
    if (i->cpus < 1 || i->memory == 0) {
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs at least 1 cpu and some "
                     "memory", i->name);
        return false;
    }
    return d->create(i, flags, err);
}

bool mb_driver_start(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    return check(d, i, true, SLOT(d, start), "start", err) && d->start(i, flags, err);
}

bool mb_driver_shutdown(const struct mb_driver *d, const struct mb_instance *i, double timeout,
                        unsigned flags, mb_error **err)
{
    return check(d, i, true, SLOT(d, shutdown), "shutdown", err)
           && d->shutdown(i, timeout < 0 ? 0 : timeout, flags, err);
}

bool mb_driver_suspend(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    return check(d, i, true, SLOT(d, suspend), "suspend", err) && d->suspend(i, flags, err);
}

bool mb_driver_resume(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    return check(d, i, true, SLOT(d, resume), "resume", err) && d->resume(i, flags, err);
}

/* Shared scope (ARCHITECTURE.md): QEMU and libvirt see the same instances,
 * and a live instance belongs to the driver that runs it. Each leaves a
 * trace in the instance directory while it holds one; a driver that sees the
 * instance stopped asks the scope's other drivers whose trace is there (so
 * the plugin is loaded only when libvirt may hold it). */
static const struct { const char *scope, *driver, *trace; } scope_traces[] = {
    {"qemu", "qemu", "qemu.pid"},
    {"qemu", "qemu", "suspend.state"},
    {"qemu", "libvirt", "libvirt.domain"},
};

static bool live_elsewhere(const struct mb_driver *d, const struct mb_instance *i,
                           unsigned flags)
{
    const char *asked = NULL;
    for (size_t k = 0; k < sizeof scope_traces / sizeof scope_traces[0]; k++) {
        const char *other = scope_traces[k].driver;
        if (d->scope == NULL || strcmp(scope_traces[k].scope, d->scope) != 0
            || strcmp(other, d->name) == 0 || (asked && strcmp(asked, other) == 0))
            continue;
        char p[4096];
        int n = snprintf(p, sizeof p, "%s/%s", i->dir, scope_traces[k].trace);
        if (n < 0 || (size_t)n >= sizeof p || access(p, F_OK) != 0)
            continue;
        asked = other;
        const struct mb_driver *o = mb_driver_find(other, NULL);
        if (o == NULL || o->state == NULL || o->scope == NULL || d->scope == NULL
            || strcmp(o->scope, d->scope) != 0)
            continue;
        enum mb_state s = o->state(i, flags | MB_STATE_OWN, NULL);
        if (s == MB_STATE_RUNNING || s == MB_STATE_STARTING || s == MB_STATE_SUSPENDED)
            return true;
    }
    return false;
}

enum mb_state mb_driver_state(const struct mb_driver *d, const struct mb_instance *i,
                              unsigned flags, mb_error **err)
{
    if (!check(d, i, true, SLOT(d, state), "state", err))
        return MB_STATE_UNKNOWN;
    enum mb_state s = d->state(i, flags, err);
    if ((s == MB_STATE_STOPPED || s == MB_STATE_ABSENT) && !(flags & MB_STATE_OWN)
        && live_elsewhere(d, i, flags))
        return MB_STATE_ELSEWHERE;
    return s;
}

bool mb_driver_destroy(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    return check(d, i, true, SLOT(d, destroy), "destroy", err) && d->destroy(i, flags, err);
}

bool mb_driver_ssh_address(const struct mb_driver *d, const struct mb_instance *i,
                           struct mb_address *addr, unsigned flags, mb_error **err)
{
    if (!check(d, i, true, SLOT(d, ssh_address), "ssh_address", err))
        return false;
    memset(addr, 0, sizeof *addr);
    return d->ssh_address(i, addr, flags, err);
}

char **mb_driver_ipv4(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    return check(d, i, true, SLOT(d, ipv4), "ipv4", err) ? d->ipv4(i, flags, err) : NULL;
}

char *mb_driver_console_log(const struct mb_driver *d, const struct mb_instance *i,
                            size_t max_bytes, unsigned flags, mb_error **err)
{
    return check(d, i, true, SLOT(d, console_log), "console_log", err)
               ? d->console_log(i, max_bytes, flags, err) : NULL;
}

static bool check_snapshot(const struct mb_driver *d, const struct mb_instance *i,
                           bool slot, const char *op, const char *snapshot,
                           mb_error **err)
{
    if (!check(d, i, true, slot, op, err))
        return false;
    if (snapshot == NULL || *snapshot == '\0' || strchr(snapshot, '/')) {
        mb_error_set(err, MB_ERR_USAGE, "%s: invalid snapshot name \"%s\"", op,
                     snapshot ? snapshot : "");
        return false;
    }
    return true;
}

bool mb_driver_snapshot_take(const struct mb_driver *d, const struct mb_instance *i,
                             const char *snapshot, unsigned flags, mb_error **err)
{
    return check_snapshot(d, i, SLOT(d, snapshot_take), "snapshot", snapshot, err)
           && d->snapshot_take(i, snapshot, flags, err);
}

bool mb_driver_snapshot_restore(const struct mb_driver *d, const struct mb_instance *i,
                                const char *snapshot, unsigned flags, mb_error **err)
{
    return check_snapshot(d, i, SLOT(d, snapshot_restore), "restore", snapshot, err)
           && d->snapshot_restore(i, snapshot, flags, err);
}

bool mb_driver_snapshot_delete(const struct mb_driver *d, const struct mb_instance *i,
                               const char *snapshot, unsigned flags, mb_error **err)
{
    return check_snapshot(d, i, SLOT(d, snapshot_delete), "snapshot delete", snapshot, err)
           && d->snapshot_delete(i, snapshot, flags, err);
}

char **mb_driver_snapshot_list(const struct mb_driver *d, const struct mb_instance *i,
                               unsigned flags, mb_error **err)
{
    return check(d, i, true, SLOT(d, snapshot_list), "snapshot list", err)
               ? d->snapshot_list(i, flags, err) : NULL;
}

bool mb_driver_clone(const struct mb_driver *d, const struct mb_instance *i,
                     const struct mb_instance *target, unsigned flags, mb_error **err)
{
    if (!check(d, i, true, SLOT(d, clone), "clone", err))
        return false;
    if (!check(d, target, true, SLOT(d, clone), "clone", err))
        return false;
    return d->clone(i, target, flags, err);
}

bool mb_driver_resize_disk(const struct mb_driver *d, const struct mb_instance *i,
                           uint64_t bytes, unsigned flags, mb_error **err)
{
    return check(d, i, true, SLOT(d, resize_disk), "resize_disk", err)
           && d->resize_disk(i, bytes, flags, err);
}

static bool check_mount(const struct mb_driver *d, const struct mb_instance *i,
                        bool slot, const char *op, const struct mb_mount_spec *m,
                        mb_error **err)
{
    if (d != NULL && !slot) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not supported by the %s "
                     "driver (try: --type classic)", op, d->name);
        return false;
    }
    if (!check(d, i, true, slot, op, err))
        return false;
    if (m == NULL || m->source == NULL || m->tag == NULL || m->source[0] != '/') {
        mb_error_set(err, MB_ERR_USAGE, "%s: a mount needs an absolute source and a tag", op);
        return false;
    }
    return true;
}

bool mb_driver_mount_native(const struct mb_driver *d, const struct mb_instance *i,
                            const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return check_mount(d, i, SLOT(d, mount_native), "mount_native", m, err)
           && d->mount_native(i, m, flags, err);
}

bool mb_driver_umount_native(const struct mb_driver *d, const struct mb_instance *i,
                             const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return check_mount(d, i, SLOT(d, umount_native), "umount_native", m, err)
           && d->umount_native(i, m, flags, err);
}
