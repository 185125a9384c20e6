/* qemu-img for the QEMU driver: overlays on a base image, growing a disk,
 * internal snapshots, and reading an image's facts (`info --output=json`). */
#ifndef MB_QEMU_IMG_H
#define MB_QEMU_IMG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct mb_qemu_img_info {
    uint64_t virtual_size;
    char format[32];
    struct mb_snapshot *snapshots; /* internal snapshots (free: mb_snapshots_free) */
    uint64_t allocated;            /* bytes the file takes on disk ("actual-size") */
};

/* force_share reads an image another QEMU has open (a base image in use). */
bool mb_qemu_img_info(const char *path, bool force_share, struct mb_qemu_img_info *info,
                      mb_error **err);
void mb_qemu_img_info_clear(struct mb_qemu_img_info *info);

/* A qcow2 overlay at disk on base (never a copy), grown to size when that is
 * larger than the base's virtual size. Removes a half-made overlay. */
bool mb_qemu_img_overlay(const char *base, const char *disk, uint64_t size, mb_error **err);
/* Grows disk to size bytes; shrinking is refused (MB_ERR_USAGE). */
bool mb_qemu_img_grow(const char *disk, uint64_t size, mb_error **err);
/* `qemu-img snapshot -c|-a|-d name disk` (op: 'c' create, 'a' apply, 'd' delete). */
bool mb_qemu_img_snapshot(const char *disk, char op, const char *name, mb_error **err);
/* A new qcow2 overlay at dst with src's current data (not its internal
 * snapshots) on src's backing file: only what src wrote is copied. Removes a
 * half-made dst. */
bool mb_qemu_img_copy_overlay(const char *src, const char *dst, mb_error **err);
/* A qcow2 file's backing file (as a path: a relative one joined to the
 * file's folder) and its format ("qcow2" when the header does not say), read
 * from the header itself: what `qemu-img info` says as full-backing-filename
 * and backing-filename-format, without starting qemu-img. False (err set)
 * when path is not a readable qcow2 with a backing file. Caller frees both. */
bool mb_qemu_qcow2_backing(const char *path, char **backing, char **format, mb_error **err);

#endif
