/* The libvirt driver's disk and mount operations. A stopped instance's disk
 * is the QEMU driver's business too (the same overlay), so snapshots, clones
 * and growth go through qemu-img once libvirt holds nothing of it (no running
 * domain, no managed save); a running disk grows through
 * virDomainBlockResize. Native (9p) mounts are in the domain XML, taken at
 * the next start. */
#include "drivers/libvirt/libvirt_storage.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_remote.h"
#include "drivers/qemu/qemu_argv.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"

#include <stdio.h>
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

bool mb_libvirt_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *s,
                              unsigned flags, mb_error **err)
{
    return disk_idle(i, "snapshot", err) && mb_qemu_snapshot_take(c, i, s, flags, err);
}

bool mb_libvirt_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *s,
                                 unsigned flags, mb_error **err)
{
    return disk_idle(i, "restore", err) && mb_qemu_snapshot_restore(c, i, s, flags, err);
}

bool mb_libvirt_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *s,
                                unsigned flags, mb_error **err)
{
    return disk_idle(i, "snapshot delete", err) && mb_qemu_snapshot_delete(c, i, s, flags, err);
}

char **mb_libvirt_snapshot_list(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                                mb_error **err)
{
    return mb_qemu_snapshot_list(c, i, flags, err);
}

bool mb_libvirt_clone(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                      unsigned flags, mb_error **err)
{
    return disk_idle(i, "clone", err) && mb_qemu_clone(c, i, t, flags, err);
}

bool mb_libvirt_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                            unsigned flags, mb_error **err)
{
    struct mb_libvirt_dom d;
    if (mb_libvirt_remote_refuse(i, "resize", err) || !mb_libvirt_dom_open(i, &d, err))
        return false;
    if (!mb_libvirt_dom_active(d.dom)) {
        mb_libvirt_dom_close(&d);
        return disk_idle(i, "resize", err) && mb_qemu_resize_disk(c, i, bytes, flags, err);
    }
    /* running: QEMU grows its open image (through libvirt), the guest sees it */
    char disk[MB_LIBVIRT_PATHLEN];
    struct mb_qemu_img_info info;
    bool ok = false;
    if (mb_qemu_disk_path(disk, sizeof disk, i) && mb_qemu_img_info(disk, true, &info, err)) {
        uint64_t have = info.virtual_size;
        mb_qemu_img_info_clear(&info);
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
                             const struct mb_mount_spec *m,
                            unsigned flags, mb_error **err)
{
    return mount_change(i, "adding", err);
}

bool mb_libvirt_umount_native(struct mb_conn *c, const struct mb_instance *i,
                              const struct mb_mount_spec *m,
                             unsigned flags, mb_error **err)
{
    return mount_change(i, "removing", err);
}
