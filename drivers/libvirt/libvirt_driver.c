/* The libvirt driver: instances as libvirt domains, through the C API only
 * (never virsh). libvirtd owns the QEMU process; the truth is
 * virDomainGetState. A domain is defined from the instance spec at every
 * start (so cpus, memory and mounts changed while stopped apply), stays
 * defined while it runs or is suspended (managed save), and is undefined
 * when it stops or is destroyed: a stopped instance belongs to no driver,
 * which is what lets the QEMU driver start it next (shared scope "qemu").
 * The overlay disk, the seed and serial.log are the same files the QEMU
 * driver uses, lent to libvirt's storage pool while a libvirtd whose QEMU
 * runs as another user holds the instance (libvirt_lend.c); the domain XML
 * is in libvirt_xml.c, disk and mount operations in libvirt_storage.c. */
#include "driver/driver.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_lend.h"
#include "drivers/libvirt/libvirt_net.h"
#include "drivers/libvirt/libvirt_remote.h"
#include "drivers/libvirt/libvirt_storage.h"
#include "drivers/libvirt/libvirt_xml.h"
#include "core/clock.h"
#include "core/fs.h"
#include "core/kvm.h"
#include "core/log.h"
#include "drivers/qemu/qemu_argv.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"
#include "drivers/qemu/qemu_proc.h"

#include <libvirt/virterror.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PATHLEN MB_LIBVIRT_PATHLEN

/* ---------------------------------------------------------------- host */

/* "kvm" when the connection's capabilities offer it for x86_64 and, on this
 * host, its KVM runs a guest at KVM's speed (core/kvm.h: libvirt offers any
 * /dev/kvm, a nested one that crawls too); else "qemu". */
static const char *domain_type(const struct mb_conn *conn, virConnectPtr c, const char *uri)
{
    char *caps = virConnectGetCapabilities(c);
    bool kvm = caps && strstr(caps, "<domain type='kvm'");
    free(caps);
    if (kvm && !mb_libvirt_uri_is_remote(uri))
        kvm = mb_kvm_check_host() == MB_KVM_USABLE;
    return kvm ? "kvm" : "qemu";
}

/* A host whose libvirt offers KVM where QEMU cannot use it (nested without
 * the CPU features QEMU sets: "failed to set MSR ..."): this host's own KVM
 * is probed before (domain_type), another host's cannot be. When QEMU under
 * KVM died at its start with KVM's words, the domain is defined again under
 * TCG and started once more. */
static bool kvm_fallback(struct mb_libvirt_dom *d, const struct mb_instance *i,
                         struct mb_libvirt_host *h)
{
    const char *msg = virGetLastErrorMessage();
    if (strcmp(h->domain_type, "kvm") != 0 || msg == NULL || strcasestr(msg, "kvm") == NULL
        || mb_libvirt_dom_saved(d->dom)) /* a saved state is KVM's: it resumes there or not */
        return false;
    mb_log(MB_LOG_STEPS, "libvirt: QEMU failed under KVM there (%s): starting \"%s\" under TCG",
           msg, i->name);
    h->domain_type = "qemu";
    char *xml = mb_libvirt_domain_xml(i, h, NULL);
    /* (the new definition has a UUID of its own: the old one goes first) */
    virDomainPtr again = xml && virDomainUndefine(d->dom) == 0
                             ? virDomainDefineXML(d->conn, xml) : NULL;
    free(xml);
    if (again == NULL)
        return false;
    virDomainFree(d->dom);
    d->dom = again;
    return virDomainCreate(d->dom) == 0;
}

static enum mb_probe_result lv_probe(struct mb_conn *conn, char **reason, unsigned flags,
                                     mb_error **err)
{
    const char *uri = mb_libvirt_default_uri(conn);
    mb_error *cerr = NULL;
    char msg[1024];
    enum mb_probe_result r = MB_PROBE_OK;
    virConnectPtr c = mb_libvirt_connect(uri, &cerr);
    if (c == NULL) {
        snprintf(msg, sizeof msg, "%s", cerr->message);
        r = MB_PROBE_DECLINED;
    } else {
        const char *type = virConnectGetType(c);
        unsigned long ver = 0;
        virConnectGetLibVersion(c, &ver);
        if (type == NULL || strcmp(type, "QEMU") != 0) {
            snprintf(msg, sizeof msg, "%s is a %s hypervisor, not QEMU (pick a qemu:// URI: "
                     "moonbase set local.libvirt.uri=qemu:///system)", uri, type ? type : "?");
            r = MB_PROBE_DECLINED;
        } else {
            bool kvm = strcmp(domain_type(conn, c, uri), "kvm") == 0;
            snprintf(msg, sizeof msg, "libvirt %lu.%lu.%lu at %s, %s", ver / 1000000,
                     ver / 1000 % 1000, ver % 1000, uri,
                     kvm ? "KVM" : "TCG (no KVM on that host: guests are emulated, several "
                                   "times slower)");
        }
    }
    mb_error_free(cerr);
    if (reason)
        *reason = strdup(msg);
    return r;
}

static char **lv_host_info(struct mb_conn *conn, unsigned flags, mb_error **err)
{
    const char *uri = mb_libvirt_default_uri(conn);
    char line[1024];
    char **v = mb_strv_new();
    mb_strv_push(&v, "driver=libvirt");
    snprintf(line, sizeof line, "uri=%s", uri);
    mb_strv_push(&v, line);
    mb_error *cerr = NULL;
    virConnectPtr c = mb_libvirt_connect(uri, &cerr);
    if (c == NULL) {
        snprintf(line, sizeof line, "error=%s", cerr->message);
        mb_strv_push(&v, line);
        mb_error_free(cerr);
        return v;
    }
    unsigned long lib = 0, hv = 0;
    virConnectGetLibVersion(c, &lib);
    virConnectGetVersion(c, &hv);
    snprintf(line, sizeof line, "libvirt=%lu.%lu.%lu", lib / 1000000, lib / 1000 % 1000,
             lib % 1000);
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "qemu=%lu.%lu.%lu", hv / 1000000, hv / 1000 % 1000, hv % 1000);
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "domain_type=%s", domain_type(conn, c, uri));
    mb_strv_push(&v, line);
    char *host = virConnectGetHostname(c);
    if (host) {
        snprintf(line, sizeof line, "host=%s", host);
        mb_strv_push(&v, line);
        free(host);
    }
    return v;
}

/* libvirt networks an instance can join. */
static char **lv_networks(struct mb_conn *conn, unsigned flags, mb_error **err)
{
    virConnectPtr c = mb_libvirt_connect(mb_libvirt_default_uri(conn), err);
    if (c == NULL)
        return NULL;
    virNetworkPtr *nets = NULL;
    int n = virConnectListAllNetworks(c, &nets, 0);
    if (n < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: listing networks");
        return NULL;
    }
    char **v = mb_strv_new();
    for (int k = 0; k < n; k++) {
        const char *name = virNetworkGetName(nets[k]);
        if (name)
            mb_strv_push(&v, name);
        virNetworkFree(nets[k]);
    }
    free(nets);
    return v;
}

/* Undefines a domain that is not running (with its managed save, if any),
 * takes back the files lent to the pool (a copied disk is thrown away when
 * discard) and removes the driver's files. */
static bool dom_undefine(const struct mb_instance *i, struct mb_libvirt_dom *d, bool discard,
                         mb_error **err)
{
    if (d->dom && virDomainUndefineFlags(d->dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0
        && mb_libvirt_last_code() != VIR_ERR_NO_DOMAIN) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: undefining the domain");
        return false;
    }
    if (!mb_libvirt_take_back(d->conn, i, discard, err))
        return false; /* the trace stays: the disk is not home yet */
    mb_libvirt_remove_runtime(i);
    return true;
}

/* Records the running domain's QEMU pid for the instance agent (local URIs). */
static void write_pid(const struct mb_instance *i, const char *uri)
{
    char p[PATHLEN], name[MB_LIBVIRT_NAMELEN], num[32];
    mb_libvirt_file(p, i, "libvirt.pid");
    if (mb_libvirt_uri_is_remote(uri)) {
        unlink(p);
        return;
    }
    mb_libvirt_domain_name(name, sizeof name, i);
    pid_t pid = mb_libvirt_find_pid(name);
    if (pid <= 0) {
        unlink(p);
        return;
    }
    int len = snprintf(num, sizeof num, "%d\n", (int)pid);
    mb_fs_write_atomic(p, num, (size_t)len, 0644, NULL);
}

/* The console's last lines, for an error message. */
static char *console_tail(const struct mb_instance *i)
{
    char p[PATHLEN];
    mb_libvirt_file(p, i, "serial.log");
    char *t = mb_fs_tail(p, 2048, 8);
    if (t && *t) {
        size_t n = strlen(t) + 32;
        char *s = malloc(n);
        if (s)
            snprintf(s, n, "\n--- console ---\n%s", t);
        free(t);
        return s;
    }
    free(t);
    return NULL;
}

/* Whether the QEMU driver holds the instance (its process, or its saved
 * state): then libvirt must not start it. */
static bool held_by_qemu_driver(const struct mb_instance *i, const char *op, mb_error **err)
{
    pid_t pid = mb_qemu_live_pid(i);
    if (pid > 0 || mb_qemu_has_file(i, "suspend.state")) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is %s under the qemu driver (try: "
                     "moonbase set local.driver=qemu, then moonbase stop %s)", op, i->name,
                     pid > 0 ? "running" : "suspended", i->name);
        return true;
    }
    return false;
}

/* ---------------------------------------------------------------- lifecycle */

static bool lv_create(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    char disk[PATHLEN], buf[PATHLEN];
    /* placed on another host by the caller (inst->host), or by the setting */
    const char *uri = mb_libvirt_remote_uri(i, buf);
    if (uri == NULL && mb_libvirt_uri_is_remote(mb_libvirt_default_uri(conn)))
        uri = mb_libvirt_default_uri(conn);
    if (uri != NULL) {
        virConnectPtr c = mb_libvirt_connect(uri, err);
        return c != NULL && mb_libvirt_remote_create(c, i, err);
    }
    if (!mb_qemu_disk_path(disk, sizeof disk, i) || i->image.path == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs a base image and a disk "
                     "path", i->name);
        return false;
    }
    return mb_qemu_write_seed(i, err) && mb_qemu_img_overlay(i->image.path, disk, i->disk_size,
                                                              err);
}

static bool lv_start(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    struct mb_libvirt_dom d;
    char disk[PATHLEN];
    char *xml = NULL;
    bool ok = false, defined_here = false, lent_here = false;
    struct mb_libvirt_lent *lent = NULL; /* 20 KiB: not on the stack */
    if (held_by_qemu_driver(i, "start", err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    if (mb_libvirt_dom_active(d.dom)) {
        mb_error_set(err, MB_ERR_STATE, "start: instance \"%s\" is already running (libvirt "
                     "domain %s)", i->name, virDomainGetName(d.dom));
        goto cleanup;
    }
    bool remote = mb_libvirt_uri_is_remote(d.uri);
    char pending[MB_SNAPSHOT_TAG_MAX + 1];
    bool resume_snapshot = !remote && !mb_libvirt_dom_saved(d.dom)
                           && mb_qemu_pending_resume(i, pending);
    struct mb_libvirt_remote_files rf;
    struct mb_instance ri = *i; /* on a remote host or lent: the files libvirt has */
    char seed[PATHLEN];
    mb_libvirt_file(seed, i, MB_QEMU_SEED);
    struct mb_libvirt_host h = {domain_type(conn, d.conn, d.uri), NULL, NULL, NULL,
                                access(seed, F_OK) == 0 ? seed : NULL,
                                mb_conn_config_bool(conn, "restrict-user-network"), NULL,
                                NULL};
    if (remote && !mb_libvirt_remote_paths(d.conn, i, &rf, err))
        goto cleanup;
    if (remote) {
        h.disk = rf.disk;
        h.seed = rf.seed;
        h.serial = rf.serial;
        ri.image.kernel = rf.kernel[0] ? rf.kernel : NULL;
        ri.image.initrd = rf.initrd[0] ? rf.initrd : NULL;
        i = &ri;
    } else if (!mb_qemu_disk_path(disk, sizeof disk, i) || access(disk, F_OK) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "start: instance \"%s\" has no disk %s (try: "
                     "moonbase delete --purge %s, then launch it again)", i->name, disk,
                     i->name);
        goto cleanup;
    }
    if (!mb_libvirt_dom_saved(d.dom)) {
        /* a saved state needs the devices it was saved with: only a fresh
         * start takes the spec as it is now */
        /* a domain left defined by a QEMU that died (killed from outside,
         * crashed) has another UUID: libvirt would refuse the new one */
        if (d.dom && !dom_undefine(i, &d, false, err))
            goto cleanup;
        mb_libvirt_dom_close(&d);
        if (!remote && mb_libvirt_must_lend(d.conn)) {
            if ((lent = malloc(sizeof *lent)) == NULL) {
                mb_error_set(err, MB_ERR_FAILED, "start: out of memory");
                goto cleanup;
            }
            if (!mb_libvirt_lend(d.conn, i, lent, err))
                goto cleanup;
            lent_here = true;
            h.disk = lent->disk;
            h.seed = lent->seed[0] ? lent->seed : NULL;
            h.backing = lent->backing[0] ? lent->backing : NULL;
            h.backing_format = lent->backing_format;
            ri.image.kernel = lent->kernel[0] ? lent->kernel : NULL;
            ri.image.initrd = lent->initrd[0] ? lent->initrd : NULL;
            i = &ri;
        }
        if ((xml = mb_libvirt_domain_xml(i, &h, err)) == NULL)
            goto fail;
        mb_log_text(MB_LOG_MORE, "libvirt: defining the domain", xml);
        if ((d.dom = virDomainDefineXML(d.conn, xml)) == NULL) {
            mb_libvirt_error(err, MB_ERR_FAILED, "start: libvirt refused the domain");
            goto fail; /* what was lent comes home */
        }
        defined_here = true;
    }
    if (!mb_libvirt_write_trace(i, d.uri, err))
        goto fail;
    if (resume_snapshot) {
        /* a restored snapshot with memory: libvirt starts QEMU from it */
        if (!mb_libvirt_snapshot_resume(&d, i, pending, err))
            goto fail;
    } else if (virDomainCreate(d.dom) < 0 && !kvm_fallback(&d, i, &h)) {
        char what[256], *tail = console_tail(i);
        snprintf(what, sizeof what, "start: libvirt could not start \"%s\"", i->name);
        mb_error *e = NULL;
        mb_libvirt_error(&e, MB_ERR_FAILED, what);
        mb_error_set(err, MB_ERR_FAILED, "%s%s", e->message, tail ? tail : "");
        mb_error_free(e);
        free(tail);
        goto fail;
    }
    write_pid(i, d.uri);
    ok = true;
    goto cleanup;
fail:
    if (defined_here || lent_here)
        dom_undefine(i, &d, true, NULL); /* the guest never ran: nothing to copy back */
cleanup:
    free(xml);
    free(lent);
    mb_libvirt_dom_close(&d);
    return ok;
}

static bool lv_shutdown(struct mb_conn *conn, const struct mb_instance *i, double timeout,
                        unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    bool ok = false;
    if (!mb_libvirt_dom_open(i, &d, err))
        return false;
    if (!mb_libvirt_dom_active(d.dom)) {
        char tag[MB_SNAPSHOT_TAG_MAX + 1];
        bool pending = mb_qemu_pending_resume(i, tag);
        if ((mb_libvirt_dom_saved(d.dom) || pending) && !(flags & MB_FORCE)) {
            mb_error_set(err, MB_ERR_STATE, "stop: instance \"%s\" is suspended (try: moonbase "
                         "start %s, or stop --force to discard its saved state)", i->name,
                         i->name);
            goto cleanup;
        }
        if (pending)
            mb_qemu_remove_file(i, MB_QEMU_RESUME_FILE);
        ok = dom_undefine(i, &d, false, err);
        goto cleanup;
    }
    if (!(flags & MB_FORCE)
        && virDomainShutdownFlags(d.dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == 0) {
        double deadline = mb_clock_now() + timeout;
        while (mb_libvirt_dom_active(d.dom) && mb_clock_now() < deadline)
            mb_clock_sleep(0.2);
    }
    if (mb_libvirt_dom_active(d.dom) && virDomainDestroy(d.dom) < 0 && mb_libvirt_dom_active(d.dom)) {
        mb_libvirt_error(err, MB_ERR_FAILED, "stop: libvirt could not power off the domain");
        goto cleanup;
    }
    ok = dom_undefine(i, &d, false, err);
cleanup:
    mb_libvirt_dom_close(&d);
    return ok;
}

static bool lv_suspend(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    struct mb_libvirt_dom d;
    bool ok = false;
    if (!mb_libvirt_dom_open(i, &d, err))
        return false;
    if (!mb_libvirt_dom_active(d.dom)) {
        mb_error_set(err, MB_ERR_STATE, "suspend: instance \"%s\" is not running", i->name);
    } else if (flags & MB_PAUSE) {
        /* the guest's CPUs stop; QEMU and its memory stay */
        ok = mb_libvirt_dom_state(d.dom) == VIR_DOMAIN_PAUSED || virDomainSuspend(d.dom) == 0;
        if (!ok)
            mb_libvirt_error(err, MB_ERR_FAILED, "suspend: libvirt could not pause the domain");
    } else if (virDomainManagedSave(d.dom, 0) < 0) {
        const char *msg = virGetLastErrorMessage();
        if (msg && strstr(msg, "VirtFS"))
            /* QEMU cannot save a guest while a 9p share is mounted in it */
            mb_error_set(err, MB_ERR_STATE, "suspend: instance \"%s\" has a native (9p) mount "
                         "in use, and QEMU cannot save a guest with one (try: moonbase umount, "
                         "or moonbase stop %s): %s", i->name, i->name, msg);
        else
            mb_libvirt_error(err, MB_ERR_FAILED, "suspend: libvirt could not save the domain "
                             "(is the disk holding /var/lib/libvirt full?)");
    } else {
        char p[PATHLEN];
        mb_libvirt_file(p, i, "libvirt.pid");
        unlink(p);
        ok = true;
    }
    mb_libvirt_dom_close(&d);
    return ok;
}

static bool lv_resume(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    struct mb_libvirt_dom d;
    if (!mb_libvirt_dom_open(i, &d, err))
        return false;
    bool ok = false;
    if (mb_libvirt_dom_active(d.dom)) {
        /* paused in memory: continue it */
        ok = mb_libvirt_dom_state(d.dom) == VIR_DOMAIN_RUNNING || virDomainResume(d.dom) == 0;
        if (!ok)
            mb_libvirt_error(err, MB_ERR_FAILED, "resume: libvirt could not resume the domain");
        mb_libvirt_dom_close(&d);
        return ok;
    }
    char tag[MB_SNAPSHOT_TAG_MAX + 1];
    bool saved = mb_libvirt_dom_saved(d.dom) || mb_qemu_pending_resume(i, tag);
    mb_libvirt_dom_close(&d);
    if (!saved) {
        mb_error_set(err, MB_ERR_STATE, "resume: instance \"%s\" is not suspended (try: "
                     "moonbase start %s)", i->name, i->name);
        return false;
    }
    /* restores the managed save, or the pending snapshot */
    return lv_start(conn, i, flags, err);
}

static pid_t pid_file_pid(const struct mb_instance *i)
{
    char p[PATHLEN];
    mb_libvirt_file(p, i, "libvirt.pid");
    char *s = mb_fs_read(p, NULL, NULL);
    pid_t pid = s ? (pid_t)atol(s) : 0;
    free(s);
    return pid;
}

/* The QEMU named in libvirt.pid still runs (libvirtd leaves its domains
 * running when it exits, so they outlive an unreachable libvirtd). */
static bool pid_file_alive(const struct mb_instance *i)
{
    char name[MB_LIBVIRT_NAMELEN];
    pid_t pid = pid_file_pid(i);
    mb_libvirt_domain_name(name, sizeof name, i);
    return pid > 0 && mb_libvirt_pid_is(pid, name);
}

static enum mb_state lv_state(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                              mb_error **err)
{
    struct mb_libvirt_dom d;
    mb_error *cerr = NULL;
    if (!mb_libvirt_dom_open(i, &d, &cerr)) {
        if (pid_file_alive(i)) {
            mb_error_free(cerr);
            return MB_STATE_RUNNING;
        }
        if (err && *err == NULL)
            *err = cerr;
        else
            mb_error_free(cerr);
        return MB_STATE_UNKNOWN;
    }
    enum mb_state s = MB_STATE_UNKNOWN;
    if (d.dom == NULL) {
        /* not defined: a trace left behind is stale, lent files come home */
        if (!mb_libvirt_take_back(d.conn, i, false, err))
            return MB_STATE_UNKNOWN;
        mb_libvirt_remove_runtime(i);
        char disk[PATHLEN];
        if (mb_libvirt_uri_is_remote(d.uri))
            return mb_libvirt_remote_exists(d.conn, i) ? MB_STATE_STOPPED : MB_STATE_ABSENT;
        if (!mb_qemu_disk_path(disk, sizeof disk, i) || access(disk, F_OK) != 0)
            return MB_STATE_ABSENT;
        char tag[MB_SNAPSHOT_TAG_MAX + 1];
        return mb_qemu_pending_resume(i, tag) ? MB_STATE_SUSPENDED : MB_STATE_STOPPED;
    }
    switch (mb_libvirt_dom_state(d.dom)) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_SHUTDOWN: /* shutting down: still running */
        s = MB_STATE_RUNNING;
        break;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
        s = MB_STATE_SUSPENDED;
        break;
    case VIR_DOMAIN_NOSTATE:
        s = MB_STATE_STARTING;
        break;
    case VIR_DOMAIN_SHUTOFF:
    case VIR_DOMAIN_CRASHED: {
        char tag[MB_SNAPSHOT_TAG_MAX + 1];
        s = mb_libvirt_dom_saved(d.dom) || mb_qemu_pending_resume(i, tag) ? MB_STATE_SUSPENDED
                                                                        : MB_STATE_STOPPED;
        /* powered off from inside: the domain is still defined and its files
         * lent. Asked by the scope's other driver (MB_STATE_OWN), which is
         * about to use the disk: libvirt lets go of it now */
        if (s == MB_STATE_STOPPED && (flags & MB_STATE_OWN) && mb_libvirt_is_lent(i)
            && !dom_undefine(i, &d, false, err))
            s = MB_STATE_UNKNOWN;
        break;
    }
    default:
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: reading the domain's state");
    }
    mb_libvirt_dom_close(&d);
    return s;
}

static bool lv_destroy(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    struct mb_libvirt_dom d;
    if (!mb_libvirt_dom_open(i, &d, err))
        return false;
    bool ok = true;
    if (mb_libvirt_dom_active(d.dom) && virDomainDestroy(d.dom) < 0 && mb_libvirt_dom_active(d.dom)) {
        mb_libvirt_error(err, MB_ERR_FAILED, "destroy: libvirt could not power off the domain");
        ok = false;
    }
    ok = ok && dom_undefine(i, &d, !(flags & MB_KEEP_DISKS), err);
    mb_libvirt_dom_close(&d);
    if (ok)
        mb_qemu_remove_file(i, MB_QEMU_RESUME_FILE);
    if (ok && !(flags & MB_KEEP_DISKS) && mb_libvirt_uri_is_remote(d.uri))
        return mb_libvirt_remote_delete(d.conn, i, err);
    if (ok && !(flags & MB_KEEP_DISKS)) {
        char disk[PATHLEN];
        if (mb_qemu_disk_path(disk, sizeof disk, i) && unlink(disk) != 0 && errno != ENOENT) {
            mb_error_set_errno(err, errno, "destroy: cannot remove the disk %s", disk);
            return false;
        }
    }
    return ok;
}

/* ---------------------------------------------------------------- addresses */

/* The primary NIC's static address, then what libvirt's DHCP leases say for
 * NICs on libvirt networks. */
static char **lv_ipv4(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    char **v = mb_instance_static_ipv4(i);
    bool on_libvirt_net = false;
    for (size_t k = 1; k < i->n_nics; k++)
        if (i->nics[k].attach == MB_NIC_NETWORK)
            on_libvirt_net = true;
    struct mb_libvirt_dom d;
    if (!on_libvirt_net || !mb_libvirt_dom_open(i, &d, NULL))
        return v;
    virDomainInterfacePtr *ifs = NULL;
    int n = mb_libvirt_dom_active(d.dom) ? virDomainInterfaceAddresses(d.dom, &ifs,
                                    VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, 0) : 0;
    for (int k = 0; k < n; k++) {
        for (unsigned j = 0; j < ifs[k]->naddrs; j++)
            if (ifs[k]->addrs[j].type == VIR_IP_ADDR_TYPE_IPV4 && ifs[k]->addrs[j].addr
                && !mb_strv_contains(v, ifs[k]->addrs[j].addr))
                mb_strv_push(&v, ifs[k]->addrs[j].addr);
        virDomainInterfaceFree(ifs[k]);
    }
    free(ifs);
    mb_libvirt_dom_close(&d);
    return v;
}

static char *lv_console_log(struct mb_conn *conn, const struct mb_instance *i, size_t max,
                            unsigned flags, mb_error **err)
{
    char p[PATHLEN];
    mb_libvirt_instance_uri(i, p);
    if (mb_libvirt_uri_is_remote(p)) { /* QEMU writes it in the host's pool */
        virConnectPtr c = mb_libvirt_connect(p, err);
        return c ? mb_libvirt_remote_console(c, i, max, err) : NULL;
    }
    mb_libvirt_file(p, i, "serial.log");
    return mb_fs_tail(p, max, 0);
}

/* libvirt's own figures for the domain: its CPU time (virDomainGetInfo) and
 * the resident memory of its QEMU process (the memory statistics' "rss"). */
static bool lv_usage(struct mb_conn *conn, const struct mb_instance *i, struct mb_usage *u,
                     unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    if (!mb_libvirt_dom_open(i, &d, err))
        return false;
    bool ok = false;
    virDomainInfo info;
    if (!mb_libvirt_dom_active(d.dom)) {
        mb_error_set(err, MB_ERR_STATE, "usage: instance \"%s\" is not running", i->name);
    } else if (virDomainGetInfo(d.dom, &info) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "usage: libvirt could not read the domain's figures");
    } else {
        u->cpu_ns = info.cpuTime;
        virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
        int n = virDomainMemoryStats(d.dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
        for (int k = 0; k < n; k++)
            if (stats[k].tag == VIR_DOMAIN_MEMORY_STAT_RSS)
                u->memory_bytes = stats[k].val * 1024; /* KiB */
        ok = true;
    }
    mb_libvirt_dom_close(&d);
    return ok;
}

/* ---------------------------------------------------------------- SSH, the process */

/* The guest's SSH as the QEMU driver finds it, through the host for an
 * instance on another one. */
static bool lv_ssh_address(struct mb_conn *conn, const struct mb_instance *i,
                           struct mb_address *addr, unsigned flags, mb_error **err)
{
    char uri[PATHLEN];
    if (!mb_qemu_ssh_address(conn, i, addr, flags, err))
        return false;
    mb_libvirt_instance_uri(i, uri);
    return !mb_libvirt_uri_is_remote(uri)
           || mb_libvirt_proxy_command(uri, addr->proxy, sizeof addr->proxy, err);
}

/* The domain's QEMU on this host (libvirt.pid), 0 on another host. */
static pid_t lv_pid(struct mb_conn *conn, const struct mb_instance *i, unsigned flags,
                    mb_error **err)
{
    return pid_file_alive(i) ? pid_file_pid(i) : 0;
}

/* ---------------------------------------------------------------- networks */

/* moonbase's networks are libvirt networks on a remote host (the engine's
 * bridges exist only here), and locally with networking=libvirt; an instance
 * on another host than the configured one has user networking there. */
static enum mb_net_backend lv_net_backend(struct mb_conn *conn, const char *host,
                                          unsigned flags, mb_error **err)
{
    const char *uri = mb_libvirt_default_uri(conn);
    if (host != NULL && strcmp(host, uri) != 0)
        return MB_NET_USER;
    const char *mode = mb_conn_config(conn, "networking");
    if (mb_libvirt_uri_is_remote(uri) || (mode && strcmp(mode, "libvirt") == 0))
        return MB_NET_DRIVER;
    return MB_NET_ENGINE;
}

static virConnectPtr net_conn(struct mb_conn *conn, const char *host, mb_error **err)
{
    return mb_libvirt_connect(host ? host : mb_libvirt_default_uri(conn), err);
}

static bool lv_network_ensure(struct mb_conn *conn, const char *host,
                              const struct mb_net_spec *n, unsigned flags, mb_error **err)
{
    virConnectPtr c = net_conn(conn, host, err);
    return c != NULL && mb_libvirt_net_ensure(c, n, err);
}

static int lv_network_remove(struct mb_conn *conn, const char *host, const char *name,
                             unsigned flags, mb_error **err)
{
    virConnectPtr c = net_conn(conn, host, err);
    return c ? mb_libvirt_net_remove(c, name, err) : -1;
}

static struct mb_net_info *lv_network_list(struct mb_conn *conn, const char *host, size_t *n,
                                           unsigned flags, mb_error **err)
{
    virConnectPtr c = net_conn(conn, host, err);
    return c ? mb_libvirt_net_list(c, n, err) : NULL;
}

static const char *const markers[] = {"libvirt.domain", NULL};
static const char *const networking[] = {"engine", "libvirt", NULL};

/* the schemes of libvirt's QEMU URIs */
static const char *const uri_schemes[] = {"qemu", "qemu+ssh", "qemu+libssh", "qemu+libssh2",
                                          "qemu+tls", "qemu+tcp", "qemu+unix", "qemu+ext",
                                          NULL};

static const struct mb_setting settings[] = {
    {"local.libvirt.uri", "uri", MB_SETTING_STRING, MB_LIBVIRT_DEFAULT_URI, uri_schemes,
     "the libvirt connection the libvirt driver uses (qemu:///system, "
     "qemu+ssh://user@host/system, ...)", MB_SETTING_HOST},
    {"local.libvirt.networking", "networking", MB_SETTING_ENUM, "engine", networking,
     "the networks of libvirt-driver instances on a local libvirtd: engine (moonbase's own "
     "bridges, shared with QEMU-driver instances) or libvirt (networks moonbase defines in "
     "libvirt, as on remote hosts, which always use them)", 0},
    {"local.qemu.restrict-user-network", "restrict-user-network", MB_SETTING_BOOL, "false",
     NULL, "QEMU user networking (the fallback without a moonbase network): keep guests from "
     "reaching anything but the host's forwards (restrict=on); the test suite sets it", 0},
    {0},
};

/* libvirt's version as "MAJOR.MINOR.MICRO" in buf, for `moonbase version`
 * (engine/lua/lua_util.c fetches it with mb_plugin_sym). */
bool mb_libvirt_library_version(char *buf, size_t size);
bool mb_libvirt_library_version(char *buf, size_t size)
{
    unsigned long v = 0;
    if (virGetVersion(&v, NULL, NULL) != 0)
        return false;
    snprintf(buf, size, "%d.%d.%d", (int)(v / 1000000 % 1000), (int)(v / 1000 % 1000),
             (int)(v % 1000));
    return true;
}

/* Exported from the libvirt plugin; drivers/registry.c names it,
 * engine/driver/driver.c fetches it with mb_plugin_sym. */
const struct mb_driver mb_driver_libvirt = {
    .name = "libvirt",
    .scope = "qemu",
    .markers = markers,
    .disk_file = MB_QEMU_DISK,
    .settings = settings,
    .probe = lv_probe,
    .host_info = lv_host_info,
    .networks = lv_networks,
    .net_backend = lv_net_backend,
    .network_ensure = lv_network_ensure,
    .network_remove = lv_network_remove,
    .network_list = lv_network_list,
    .create = lv_create,
    .start = lv_start,
    .shutdown = lv_shutdown,
    .suspend = lv_suspend,
    .resume = lv_resume,
    .state = lv_state,
    .destroy = lv_destroy,
    .pid = lv_pid,
    .ssh_address = lv_ssh_address,
    .ipv4 = lv_ipv4,
    .console_log = lv_console_log,
    .usage = lv_usage,
    .snapshot_take = mb_libvirt_snapshot_take,
    .snapshot_restore = mb_libvirt_snapshot_restore,
    .snapshot_delete = mb_libvirt_snapshot_delete,
    .snapshot_list = mb_libvirt_snapshot_list,
    .clone = mb_libvirt_clone,
    .rename = mb_libvirt_rename,
    .resize_disk = mb_libvirt_resize_disk,
    .mount_native = mb_libvirt_mount_native,
    .umount_native = mb_libvirt_umount_native,
};
