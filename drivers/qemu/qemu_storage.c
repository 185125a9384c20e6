/* The QEMU driver's disk and mount operations: internal snapshots, clones
 * and growth of the overlay with qemu-img while QEMU is gone (growth of a
 * running disk through QMP block_resize), and native (9p) mounts, which live
 * on QEMU's command line and so change only across a restart. */
#include "core/fs.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Disk operations need QEMU gone; with `no_saved_state` also no saved state
 * (whose RAM belongs to the disk as it is). */
static bool disk_idle(const struct mb_instance *i, const char *op, bool no_saved_state,
                      char *disk, mb_error **err)
{
    if (mb_qemu_live_pid(i) > 0) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is running (try: moonbase stop "
                     "%s)", op, i->name, i->name);
        return false;
    }
    if (no_saved_state && mb_qemu_has_file(i, "suspend.state")) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is suspended (try: moonbase "
                     "start %s, then stop it)", op, i->name, i->name);
        return false;
    }
    if (!mb_qemu_disk_path(disk, MB_QEMU_PATHLEN, i) || access(disk, F_OK) != 0) {
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
    char disk[MB_QEMU_PATHLEN];
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

bool mb_qemu_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                           unsigned flags, mb_error **err)
{
    return snapshot_op(i, snap, 'c', "snapshot", err);
}

bool mb_qemu_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                              unsigned flags, mb_error **err)
{
    return snapshot_op(i, snap, 'a', "restore", err);
}

bool mb_qemu_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                             unsigned flags, mb_error **err)
{
    return snapshot_op(i, snap, 'd', "snapshot delete", err);
}

char **mb_qemu_snapshot_list(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                             mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
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
    char tmp[MB_QEMU_PATHLEN + 8];
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
bool mb_qemu_clone(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                   unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN], tdisk[MB_QEMU_PATHLEN];
    if (!disk_idle(i, "clone", true, disk, err))
        return false;
    if (!mb_qemu_disk_path(tdisk, sizeof tdisk, t) || access(tdisk, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "clone: the disk %s of \"%s\" already exists", tdisk,
                     t->name);
        return false;
    }
    return mb_fs_mkdirs(t->dir, 0700, err) && copy_file(disk, tdisk, err);
}

bool mb_qemu_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                         unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
    pid_t pid = mb_qemu_live_pid(i);
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
    struct mb_qmp *q = mb_qemu_qmp_open(i, 10, err);
    bool ok = q && mb_qemu_qmp_do(q, "block_resize", args, NULL, err);
    mb_qmp_free(q);
    return ok;
}

/* -------------------------------------------------------------- mounts */

/* 9p shares are on QEMU's command line: a stopped instance gets them (they are
 * in inst->mounts) at its next start; a running one needs a restart. */
static bool mount_change(const struct mb_instance *i, const char *verb, mb_error **err)
{
    if (mb_qemu_live_pid(i) > 0) {
        mb_error_set(err, MB_ERR_STATE, "%s a native mount %s a running QEMU instance needs a "
                     "restart (try: --restart)", verb, strcmp(verb, "adding") == 0 ? "to"
                     : "from");
        return false;
    }
    if (mb_qemu_has_file(i, "suspend.state")) {
        mb_error_set(err, MB_ERR_STATE, "%s a native mount: instance \"%s\" is suspended and "
                     "its saved state has the old devices (try: moonbase start %s, then "
                     "--restart)", verb, i->name, i->name);
        return false;
    }
    return true;
}

bool mb_qemu_mount_native(struct mb_conn *c, const struct mb_instance *i,
                          const struct mb_mount_spec *m,
                          unsigned flags, mb_error **err)
{
    return mount_change(i, "adding", err);
}

bool mb_qemu_umount_native(struct mb_conn *c, const struct mb_instance *i,
                           const struct mb_mount_spec *m,
                           unsigned flags, mb_error **err)
{
    return mount_change(i, "removing", err);
}
