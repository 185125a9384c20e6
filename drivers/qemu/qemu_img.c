/* qemu-img, always through fork/exec with an argv (never a shell). The base
 * image's format is read, not assumed, so a raw base works as well as qcow2. */
#include "drivers/qemu/qemu_img.h"
#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qemu_proc.h"
#include "driver/driver.h"
#include "core/process.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mb_qemu_img_info_clear(struct mb_qemu_img_info *info)
{
    if (info == NULL)
        return;
    mb_snapshots_free(info->snapshots);
    memset(info, 0, sizeof *info);
}

bool mb_qemu_img_info(const char *path, bool force_share, struct mb_qemu_img_info *info,
                      mb_error **err)
{
    memset(info, 0, sizeof *info);
    char *argv[] = {"qemu-img", "info", "--output=json", force_share ? "-U" : "--", (char *)path,
                    NULL};
    char *out = NULL;
    bool ok = false;
    if (!mb_process_capture(argv, &out, err))
        goto cleanup;
    long long size;
    char *fmt = mb_json_string(mb_json_get(out, "format"));
    if (!mb_json_int(mb_json_get(out, "virtual-size"), &size) || size < 0 || fmt == NULL) {
        free(fmt);
        mb_error_set(err, MB_ERR_FAILED, "qemu-img info %s: unexpected output (is it a disk "
                     "image?)", path);
        goto cleanup;
    }
    info->virtual_size = (uint64_t)size;
    snprintf(info->format, sizeof info->format, "%s", fmt);
    free(fmt);
    long long v;
    if (mb_json_int(mb_json_get(out, "actual-size"), &v) && v > 0)
        info->allocated = (uint64_t)v;
    const char *list = mb_json_get(out, "snapshots");
    size_t n = 0;
    for (const char *s = mb_json_first(list); s; s = mb_json_next(s))
        n++;
    if ((info->snapshots = calloc(n + 1, sizeof *info->snapshots)) == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "qemu-img info %s: out of memory", path);
        goto cleanup;
    }
    n = 0;
    for (const char *s = mb_json_first(list); s; s = mb_json_next(s)) {
        struct mb_snapshot *sn = &info->snapshots[n];
        if ((sn->name = mb_json_string(mb_json_get(s, "name"))) == NULL)
            continue;
        if (mb_json_int(mb_json_get(s, "vm-state-size"), &v) && v > 0) {
            sn->memory = true;
            sn->size = (uint64_t)v;
        }
        if (mb_json_int(mb_json_get(s, "date-sec"), &v))
            sn->created = v;
        n++;
    }
    ok = true;
cleanup:
    free(out);
    if (!ok)
        mb_qemu_img_info_clear(info);
    return ok;
}

bool mb_qemu_img_grow(const char *disk, uint64_t size, mb_error **err)
{
    struct mb_qemu_img_info info;
    if (!mb_qemu_img_info(disk, false, &info, err))
        return false;
    uint64_t have = info.virtual_size;
    mb_qemu_img_info_clear(&info);
    if (size < have) {
        mb_error_set(err, MB_ERR_USAGE, "disk %s can only grow: it is %llu bytes, asked for %llu "
                     "(pick a size of at least %lluM)", disk, (unsigned long long)have,
                     (unsigned long long)size, (unsigned long long)(have >> 20));
        return false;
    }
    if (size == have)
        return true;
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)size);
    char *argv[] = {"qemu-img", "resize", "-f", "qcow2", (char *)disk, bytes, NULL};
    return mb_process_capture(argv, NULL, err);
}

bool mb_qemu_img_overlay(const char *base, const char *disk, uint64_t size, mb_error **err)
{
    char real[PATH_MAX];
    struct mb_qemu_img_info info;
    if (realpath(base, real) == NULL) {
        mb_error_set_errno(err, errno, "qemu: base image %s", base);
        return false;
    }
    if (access(disk, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "qemu: disk %s already exists (try: moonbase delete "
                     "--purge, or another name)", disk);
        return false;
    }
    if (!mb_qemu_img_info(real, true, &info, err))
        return false;
    /* the backing file is recorded by absolute path: the overlay can be
     * opened from any working directory; a larger size is given at once (one
     * qemu-img run, not create + info + resize: it is on every launch's path) */
    char bytes[32] = "";
    if (size > info.virtual_size)
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)size);
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", info.format, "-b", real,
                    (char *)disk, bytes[0] ? bytes : NULL, NULL};
    bool ok = mb_process_capture(argv, NULL, err);
    mb_qemu_img_info_clear(&info);
    if (!ok)
        unlink(disk);
    return ok;
}

bool mb_qemu_img_snapshot(const char *disk, char op, const char *name, mb_error **err)
{
    char flag[3] = {'-', op, '\0'};
    char *argv[] = {"qemu-img", "snapshot", flag, (char *)name, (char *)disk, NULL};
    return mb_process_capture(argv, NULL, err);
}

bool mb_qemu_img_copy_overlay(const char *src, const char *dst, mb_error **err)
{
    char *out = NULL;
    bool ok = false;
    char *info_argv[] = {"qemu-img", "info", "--output=json", "--", (char *)src, NULL};
    if (access(dst, F_OK) == 0) {
        mb_error_set(err, MB_ERR_EXISTS, "qemu: disk %s already exists", dst);
        return false;
    }
    if (!mb_process_capture(info_argv, &out, err))
        return false;
    char *backing = mb_json_string(mb_json_get(out, "full-backing-filename"));
    if (backing == NULL)
        backing = mb_json_string(mb_json_get(out, "backing-filename"));
    char *bfmt = mb_json_string(mb_json_get(out, "backing-filename-format"));
    if (backing == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "qemu: %s is not an overlay (no backing file)", src);
        goto cleanup;
    }
    /* -B: the target is an overlay on the same base and only clusters the
     * source itself holds are written (its snapshots are not copied) */
    char *argv[] = {"qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2",
                    "-F", bfmt ? bfmt : "qcow2", "-B", backing, (char *)src, (char *)dst, NULL};
    if (src[0] != '/' || dst[0] != '/') {
        mb_error_set(err, MB_ERR_USAGE, "qemu: copying %s to %s needs absolute paths", src, dst);
        goto cleanup;
    }
    ok = mb_process_capture(argv, NULL, err);
    if (!ok)
        unlink(dst);
cleanup:
    free(out);
    free(backing);
    free(bfmt);
    return ok;
}
