/* The libvirt driver's disk and mount operations. A stopped instance's disk
 * is the QEMU driver's business too (the same overlay), so its snapshots,
 * clones and growth go through qemu-img once libvirt holds nothing of it (no
 * running domain, no managed save); a running domain's snapshots go through
 * libvirt's snapshot API and its disk grows through virDomainBlockResize.
 * Native (9p) mounts are in the domain XML, taken at the next start. */
#include "drivers/libvirt/libvirt_storage.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_lend.h"
#include "drivers/libvirt/libvirt_remote.h"
#include "drivers/libvirt/libvirt_xml.h"
#include <libvirt/virterror.h>
#include "drivers/qemu/qemu_argv.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Disk operations with qemu-img need the domain gone (not running, no
 * managed save, whose RAM belongs to the disk as it is). */
static bool disk_idle(const struct mb_instance *i, const char *op, mb_error **err)
{
    struct mb_libvirt_dom d;
    if (mb_libvirt_remote_refuse(i, op, err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    bool active = mb_libvirt_dom_active(d.dom), saved = mb_libvirt_dom_saved(d.dom);
    mb_libvirt_dom_close(&d);
    if (active || saved) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is %s (try: moonbase %s %s)", op,
                     i->name, active ? "running" : "suspended", active ? "stop" : "start",
                     i->name);
        return false;
    }
    return true;
}

/* The instance's snapshots: while a domain holds a copy of its disk lent to
 * the pool, that copy's (the instance's own disk comes up to date at stop),
 * else the instance's disk's. */
static struct mb_snapshot *snapshots_of(struct mb_libvirt_dom *d, const struct mb_instance *i,
                                        mb_error **err)
{
    if (d->dom && mb_libvirt_lent_copy(i))
        return mb_libvirt_lent_snapshots(d->conn, i, err);
    return mb_qemu_snapshot_list(NULL, i, 0, err);
}

/* Snapshot `tag` of the instance (see snapshots_of) into out (its name
 * strdup'ed), or false with err. */
static bool snapshot_find(struct mb_libvirt_dom *d, const struct mb_instance *i, const char *tag,
                          struct mb_snapshot *out, mb_error **err)
{
    struct mb_snapshot *v = snapshots_of(d, i, err);
    bool found = false;
    for (struct mb_snapshot *s = v; s && s->name && !found; s++)
        if (strcmp(s->name, tag) == 0) {
            *out = *s;
            found = (out->name = strdup(s->name)) != NULL;
        }
    if (v && !found)
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\"", tag, i->name);
    mb_snapshots_free(v);
    return found;
}

/* Snapshots of a running domain go through libvirt's snapshot API, with the
 * guest's memory (libvirt 9.0 runs QEMU's savevm). libvirt keeps no
 * metadata of them (VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA): the domain is
 * undefined at every stop, the QEMU driver must see the same snapshots, and
 * the overlay's internal snapshots plus moonbase's records are the truth.
 * What needs libvirt to know a snapshot (deleting it while the domain runs,
 * resuming from it at start) redefines it for that one call. */
static bool redefine(struct mb_libvirt_dom *d, const struct mb_instance *i, const char *tag,
                     virDomainSnapshotPtr *snap, mb_error **err)
{
    struct mb_snapshot s;
    char *dom_xml = NULL, *xml = NULL;
    bool ok = false;
    if (!snapshot_find(d, i, tag, &s, err))
        return false;
    free(s.name);
    if ((dom_xml = virDomainGetXMLDesc(d->dom, VIR_DOMAIN_XML_INACTIVE)) == NULL) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: reading the domain's XML");
        goto cleanup;
    }
    /* the <domain> goes inside the snapshot's: drop its XML declaration, if any */
    const char *body = strstr(dom_xml, "<domain");
    if ((xml = mb_libvirt_snapshot_xml(tag, mb_qemu_has_file(i, MB_QEMU_SEED), s.created,
                                       body ? body : dom_xml, err)) == NULL)
        goto cleanup;
    if ((*snap = virDomainSnapshotCreateXML(d->dom, xml, VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE))
        == NULL) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: redefining the snapshot");
        goto cleanup;
    }
    ok = true;
cleanup:
    free(dom_xml);
    free(xml);
    return ok;
}

bool mb_libvirt_snapshot_resume(struct mb_libvirt_dom *d, const struct mb_instance *i,
                                const char *tag, mb_error **err)
{
    virDomainSnapshotPtr snap = NULL;
    if (!redefine(d, i, tag, &snap, err))
        return false;
    bool ok = virDomainRevertToSnapshot(snap, VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING) == 0;
    if (!ok)
        mb_libvirt_error(err, MB_ERR_FAILED, "start: libvirt could not resume the snapshot");
    virDomainSnapshotDelete(snap, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY);
    virDomainSnapshotFree(snap);
    if (ok)
        mb_qemu_remove_file(i, MB_QEMU_RESUME_FILE);
    return ok;
}

/* A failed snapshot of a running guest, explained. */
static void snapshot_error(const struct mb_instance *i, const char *op, mb_error **err)
{
    const char *msg = virGetLastErrorMessage();
    if (msg && strstr(msg, "VirtFS"))
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" has a native (9p) mount in use, "
                     "and QEMU cannot save the memory of a guest with one (try: moonbase "
                     "umount, or moonbase stop %s for a snapshot of the disk): %s", op, i->name,
                     i->name, msg);
    else
        mb_libvirt_error(err, MB_ERR_FAILED, op);
}

bool mb_libvirt_snapshot_take(struct mb_conn *c, const struct mb_instance *i,
                              const char *s, unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    struct mb_snapshot have;
    if (mb_libvirt_remote_refuse(i, "snapshot", err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    if (!mb_libvirt_dom_active(d.dom)) {
        mb_libvirt_dom_close(&d);
        return disk_idle(i, "snapshot", err) && mb_qemu_snapshot_take(c, i, s, flags, err);
    }
    bool ok = false;
    char *xml = NULL;
    mb_error *e = NULL;
    if (snapshot_find(&d, i, s, &have, &e)) {
        free(have.name);
        mb_error_set(err, MB_ERR_EXISTS, "snapshot \"%s\" of \"%s\" already exists", s,
                     i->name);
    } else if ((xml = mb_libvirt_snapshot_xml(s, mb_qemu_has_file(i, MB_QEMU_SEED), 0, NULL,
                                              err)) != NULL) {
        virDomainSnapshotPtr snap =
            virDomainSnapshotCreateXML(d.dom, xml, VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA);
        if (snap == NULL)
            snapshot_error(i, "snapshot: libvirt could not take the snapshot", err);
        else
            virDomainSnapshotFree(snap);
        ok = snap != NULL;
    }
    mb_error_free(e);
    free(xml);
    mb_libvirt_dom_close(&d);
    return ok;
}

bool mb_libvirt_snapshot_restore(struct mb_conn *c, const struct mb_instance *i,
                                 const char *s, unsigned flags, mb_error **err)
{
    if (mb_libvirt_remote_refuse(i, "restore", err))
        return false;
    return disk_idle(i, "restore", err) && mb_qemu_snapshot_restore(c, i, s, flags, err);
}

bool mb_libvirt_snapshot_delete(struct mb_conn *c, const struct mb_instance *i,
                                const char *s, unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    if (mb_libvirt_remote_refuse(i, "snapshot delete", err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    if (!mb_libvirt_dom_active(d.dom)) {
        mb_libvirt_dom_close(&d);
        return mb_qemu_snapshot_delete(c, i, s, flags, err);
    }
    virDomainSnapshotPtr snap = NULL;
    bool ok = redefine(&d, i, s, &snap, err);
    if (ok && virDomainSnapshotDelete(snap, 0) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "snapshot delete: libvirt could not delete it");
        virDomainSnapshotDelete(snap, VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY);
        ok = false;
    }
    if (snap)
        virDomainSnapshotFree(snap);
    mb_libvirt_dom_close(&d);
    return ok;
}

struct mb_snapshot *mb_libvirt_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                             unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    if (mb_libvirt_remote_refuse(i, "snapshot list", err))
        return NULL;
    if (!mb_libvirt_lent_copy(i)) /* no libvirtd needed: the disk at home is the truth */
        return mb_qemu_snapshot_list(c, i, flags, err);
    if (!mb_libvirt_dom_open(i, &d, err))
        return NULL;
    struct mb_snapshot *v = snapshots_of(&d, i, err);
    mb_libvirt_dom_close(&d);
    return v;
}

bool mb_libvirt_clone(struct mb_conn *c, const struct mb_instance *i,
                      const struct mb_instance *t, unsigned flags, mb_error **err)
{
    if (mb_libvirt_remote_refuse(i, "clone", err))
        return false;
    return disk_idle(i, "clone", err) && mb_qemu_clone(c, i, t, flags, err);
}

/* A stopped instance has no domain (defined at start, undefined at stop):
 * nothing of it is in libvirt to rename. */
bool mb_libvirt_rename(struct mb_conn *c, const struct mb_instance *i,
                       const struct mb_instance *t, unsigned flags, mb_error **err)
{
    if (mb_libvirt_remote_refuse(i, "rename", err))
        return false;
    return disk_idle(i, "rename", err) && mb_qemu_rename(c, i, t, flags, err);
}

bool mb_libvirt_resize_disk(struct mb_conn *c, const struct mb_instance *i,
                            uint64_t bytes, unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    if (mb_libvirt_remote_refuse(i, "resize", err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    if (!mb_libvirt_dom_active(d.dom)) {
        mb_libvirt_dom_close(&d);
        return disk_idle(i, "resize", err) && mb_qemu_resize_disk(c, i, bytes, flags, err);
    }
    /* running: QEMU grows its open image (through libvirt), the guest sees it;
     * libvirt says its size (the file may be a copy lent to the pool) */
    virDomainBlockInfo info;
    bool ok = false;
    if (virDomainGetBlockInfo(d.dom, "vda", &info, 0) < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "resize: libvirt could not read the disk's size");
    } else {
        uint64_t have = info.capacity;
        if (bytes < have)
            mb_error_set(err, MB_ERR_USAGE, "resize: the disk of \"%s\" can only grow (it has "
                         "%llu bytes)", i->name, (unsigned long long)have);
        else if (bytes == have)
            ok = true;
        else if (virDomainBlockResize(d.dom, "vda", bytes, VIR_DOMAIN_BLOCK_RESIZE_BYTES) < 0)
            mb_libvirt_error(err, MB_ERR_FAILED, "resize: libvirt could not grow the disk");
        else
            ok = true;
    }
    mb_libvirt_dom_close(&d);
    return ok;
}

/* 9p shares are in the domain XML, which is taken at the next start. */
static bool mount_change(const struct mb_instance *i, const char *verb, mb_error **err)
{
    struct mb_libvirt_dom d;
    /* a 9p share is a folder of this machine: a remote QEMU cannot have it */
    if (mb_libvirt_remote_refuse(i, "a native mount", err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    bool active = mb_libvirt_dom_active(d.dom), saved = mb_libvirt_dom_saved(d.dom);
    mb_libvirt_dom_close(&d);
    if (active) {
        mb_error_set(err, MB_ERR_STATE, "%s a native mount %s a running libvirt instance needs "
                     "a restart (try: --restart)", verb,
                     strcmp(verb, "adding") == 0 ? "to" : "from");
        return false;
    }
    if (saved) {
        mb_error_set(err, MB_ERR_STATE, "%s a native mount: instance \"%s\" is suspended and "
                     "its saved state has the old devices (try: moonbase start %s, then "
                     "--restart)", verb, i->name, i->name);
        return false;
    }
    return true;
}

bool mb_libvirt_mount_native(struct mb_conn *c, const struct mb_instance *i,
                             const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return mount_change(i, "adding", err);
}

bool mb_libvirt_umount_native(struct mb_conn *c, const struct mb_instance *i,
                              const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return mount_change(i, "removing", err);
}
