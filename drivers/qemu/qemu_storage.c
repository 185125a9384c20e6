/* The QEMU driver's disk and mount operations: internal qcow2 snapshots of
 * the overlay (qemu-img while QEMU is gone; QMP snapshot-save/-delete jobs
 * while it runs, with the guest's memory in the snapshot), clones and growth
 * of the overlay (growth of a running disk through QMP block_resize), and
 * native (9p) mounts, which live on QEMU's command line and so change only
 * across a restart. */
#include "core/clock.h"
#include "core/fs.h"
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_instance.h"
#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qemu_proc.h"

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
    if (no_saved_state && mb_qemu_has_saved_state(i)) {
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" is suspended (try: moonbase "
                     "start %s, then stop it; or stop --force to discard its saved state)", op,
                     i->name, i->name);
        return false;
    }
    if (!mb_qemu_disk_path(disk, MB_QEMU_PATHLEN, i) || access(disk, F_OK) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "%s: instance \"%s\" has no disk", op, i->name);
        return false;
    }
    return true;
}

struct mb_snapshot *mb_qemu_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                          unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
    struct mb_qemu_img_info info;
    if (!mb_qemu_disk_path(disk, sizeof disk, i) || access(disk, F_OK) != 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "snapshot list: instance \"%s\" has no disk",
                     i->name);
        return NULL;
    }
    /* -U: a running QEMU holds the image's lock; its snapshot table only
     * changes in a snapshot job, which the caller's instance lock excludes */
    if (!mb_qemu_img_info(disk, true, &info, err))
        return NULL;
    struct mb_snapshot *v = info.snapshots;
    info.snapshots = NULL;
    mb_qemu_img_info_clear(&info);
    return v;
}

bool mb_qemu_snapshot_find(const struct mb_instance *i, const char *tag, struct mb_snapshot *out,
                           mb_error **err)
{
    struct mb_snapshot *v = mb_qemu_snapshot_list(NULL, i, 0, err);
    if (v == NULL)
        return false;
    bool found = false;
    for (struct mb_snapshot *s = v; s->name && !found; s++)
        if (strcmp(s->name, tag) == 0) {
            *out = *s;
            out->name = strdup(s->name);
            found = out->name != NULL;
        }
    mb_snapshots_free(v);
    if (!found)
        mb_error_set(err, MB_ERR_NOT_FOUND, "no snapshot \"%s\" of \"%s\"", tag, i->name);
    return found;
}

static bool snapshot_exists(const struct mb_instance *i, const char *tag, bool *found,
                            mb_error **err)
{
    struct mb_snapshot s;
    mb_error *e = NULL;
    *found = mb_qemu_snapshot_find(i, tag, &s, &e);
    if (*found)
        free(s.name);
    bool ok = *found || e->code == MB_ERR_NOT_FOUND;
    if (!ok)
        mb_error_set(err, e->code, "%s", e->message);
    mb_error_free(e);
    return ok;
}

/* Runs a QMP snapshot job (snapshot-save / snapshot-delete) on the overlay
 * and waits for it. QEMU finishes a job whose client went away; a concluded
 * job of ours left by a killed client is dismissed first. */
static bool qmp_snapshot_job(const struct mb_instance *i, const char *cmd, const char *tag,
                             const char *op, mb_error **err)
{
    struct mb_qmp *q = NULL;
    char *node = NULL, *args = NULL, *r = NULL, *status = NULL, *jerr = NULL;
    char id[MB_SNAPSHOT_TAG_MAX + 32];
    bool ok = false;
    snprintf(id, sizeof id, "mb-%s-%s", cmd, tag);
    if ((q = mb_qemu_qmp_open(i, 10, err)) == NULL || (node = mb_qemu_disk_node(q, err)) == NULL)
        goto cleanup;
    if (mb_qemu_qmp_do(q, "query-jobs", NULL, &r, NULL))
        for (const char *j = mb_json_first(r); j; j = mb_json_next(j)) {
            char *jid = mb_json_string(mb_json_get(j, "id"));
            char *st = mb_json_string(mb_json_get(j, "status"));
            if (jid && st && strncmp(jid, "mb-", 3) == 0 && strcmp(st, "concluded") == 0) {
                char a[200];
                snprintf(a, sizeof a, "{\"id\": \"%s\"}", jid);
                mb_qemu_qmp_do(q, "job-dismiss", a, NULL, NULL);
            }
            free(jid);
            free(st);
        }
    free(r);
    r = NULL;
    char *qnode = mb_json_quote(node), *qtag = mb_json_quote(tag);
    size_t n = (qnode ? strlen(qnode) * 2 : 0) + (qtag ? strlen(qtag) : 0) + sizeof id + 96;
    if (qnode && qtag && (args = malloc(n)) != NULL) {
        if (strcmp(cmd, "snapshot-save") == 0)
            snprintf(args, n, "{\"job-id\": \"%s\", \"tag\": %s, \"vmstate\": %s, "
                     "\"devices\": [%s]}", id, qtag, qnode, qnode);
        else
            snprintf(args, n, "{\"job-id\": \"%s\", \"tag\": %s, \"devices\": [%s]}", id, qtag,
                     qnode);
    }
    free(qnode);
    free(qtag);
    if (args == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "%s: out of memory", op);
        goto cleanup;
    }
    if (!mb_qemu_qmp_do(q, cmd, args, NULL, err))
        goto cleanup;
    /* writing the memory takes time in proportion to the guest's */
    double deadline = mb_clock_now() + 120 + (double)(i->memory >> 20) / 20;
    for (;;) {
        if (!mb_qemu_qmp_do(q, "query-jobs", NULL, &r, err))
            goto cleanup;
        const char *job = NULL;
        for (const char *j = mb_json_first(r); j && job == NULL; j = mb_json_next(j)) {
            char *jid = mb_json_string(mb_json_get(j, "id"));
            if (jid && strcmp(jid, id) == 0)
                job = j;
            free(jid);
        }
        status = job ? mb_json_string(mb_json_get(job, "status")) : NULL;
        if (job == NULL || (status && strcmp(status, "concluded") == 0)) {
            jerr = job ? mb_json_string(mb_json_get(job, "error")) : NULL;
            break;
        }
        if (mb_clock_now() > deadline) {
            mb_error_set(err, MB_ERR_TIMEOUT, "%s: QEMU's %s job for \"%s\" did not finish in "
                         "time (status %s)", op, cmd, i->name, status ? status : "unknown");
            goto cleanup;
        }
        free(r);
        free(status);
        r = status = NULL;
        mb_clock_sleep(0.05);
    }
    char a[sizeof id + 16];
    snprintf(a, sizeof a, "{\"id\": \"%s\"}", id);
    mb_qemu_qmp_do(q, "job-dismiss", a, NULL, NULL);
    if (jerr && strstr(jerr, "VirtFS"))
        /* a migration blocker: QEMU cannot save a guest with 9p in use */
        mb_error_set(err, MB_ERR_STATE, "%s: instance \"%s\" has a native (9p) mount in use, "
                     "and QEMU cannot save the memory of a guest with one (try: moonbase "
                     "umount, or moonbase stop %s for a snapshot of the disk): %s", op,
                     i->name, i->name, jerr);
    else if (jerr)
        mb_error_set(err, MB_ERR_FAILED, "%s: QEMU's %s of \"%s\" failed: %s", op, cmd, i->name,
                     jerr);
    else
        ok = true;
cleanup:
    mb_qmp_free(q);
    free(node);
    free(args);
    free(r);
    free(status);
    free(jerr);
    return ok;
}

bool mb_qemu_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                           unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
    bool found;
    if (!snapshot_exists(i, snap, &found, err))
        return false;
    if (found) {
        mb_error_set(err, MB_ERR_EXISTS, "snapshot \"%s\" of \"%s\" already exists", snap,
                     i->name);
        return false;
    }
    if (mb_qemu_live_pid(i) > 0)
        return qmp_snapshot_job(i, "snapshot-save", snap, "snapshot", err);
    return disk_idle(i, "snapshot", true, disk, err) && mb_qemu_img_snapshot(disk, 'c', snap, err);
}

bool mb_qemu_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                              unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
    struct mb_snapshot s;
    if (!disk_idle(i, "restore", true, disk, err) || !mb_qemu_snapshot_find(i, snap, &s, err))
        return false;
    free(s.name);
    if (!mb_qemu_img_snapshot(disk, 'a', snap, err))
        return false;
    /* the disk is the snapshot's now; with its memory, the next start runs on
     * from where it was taken (QEMU -loadvm, or libvirt's revert) */
    return !s.memory || mb_qemu_set_pending_resume(i, snap, err);
}

bool mb_qemu_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *snap,
                             unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN], pending[MB_SNAPSHOT_TAG_MAX + 1];
    struct mb_snapshot s;
    if (mb_qemu_pending_resume(i, pending) && strcmp(pending, snap) == 0) {
        mb_error_set(err, MB_ERR_STATE, "snapshot delete: \"%s\" resumes from snapshot \"%s\" "
                     "at its next start (try: moonbase start %s first, or moonbase stop "
                     "--force %s to discard that)", i->name, snap, i->name, i->name);
        return false;
    }
    if (!mb_qemu_snapshot_find(i, snap, &s, err))
        return false;
    free(s.name);
    if (mb_qemu_live_pid(i) > 0)
        return qmp_snapshot_job(i, "snapshot-delete", snap, "snapshot delete", err);
    return disk_idle(i, "snapshot delete", false, disk, err)
           && mb_qemu_img_snapshot(disk, 'd', snap, err);
}

/* The target's disk: the source overlay's current data on the same base;
 * and its own cloud-init seed (a new instance-id: a new identity). */
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
    return mb_fs_mkdirs(t->dir, 0700, err) && mb_qemu_write_seed(t, err)
           && mb_qemu_img_copy_overlay(disk, tdisk, err);
}

/* Everything of a stopped instance is in its directory, which the caller
 * moves; a saved state names the old paths, so it must not be there. */
bool mb_qemu_rename(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                    unsigned flags, mb_error **err)
{
    char disk[MB_QEMU_PATHLEN];
    return disk_idle(i, "rename", true, disk, err);
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
    if (mb_qemu_has_saved_state(i)) {
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
