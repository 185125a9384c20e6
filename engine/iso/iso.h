/* ISO9660 images for cloud-init NoCloud seeds ("cidata"), written by us rather
 * than by genisoimage or libarchive, so launching a VM needs no extra tools. */
#ifndef MB_ISO_H
#define MB_ISO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct mb_iso_file {
    const char *name; /* 1-64 characters of [A-Za-z0-9._-], not "." or ".." */
    const void *data; /* may be NULL when size is 0 */
    size_t size;      /* at most 4 GiB - 1 (no multi-extent files) */
};

/* Writes an ISO9660 image whose flat root directory holds `files`, with Rock
 * Ridge (and Joliet) so Linux and cloud-init see the names exactly as given,
 * e.g. "meta-data", "user-data", "network-config", "vendor-data". Files appear
 * read-only (0444) and the root 0555, owned by 0:0.
 *
 * volume_id (1-16 characters of [A-Za-z0-9._-]) is written unchanged into the
 * primary and the Joliet volume descriptors, as `genisoimage -V cidata` does,
 * so blkid reports LABEL=cidata.
 *
 * Every timestamp in the image is SOURCE_DATE_EPOCH when that is set (a
 * malformed value is an MB_ERR_USAGE error), else the current time; the order
 * of `files` does not matter. So the same files and SOURCE_DATE_EPOCH give
 * byte-identical images.
 *
 * Written atomically: to "<path>.tmp.<pid>", fsync, rename over path. On
 * failure path is left as it was and the temporary file is removed.
 * Errors: MB_ERR_USAGE for bad arguments, else from errno (MB_ERR_IO,
 * MB_ERR_NOT_FOUND when the directory is missing). */
bool mb_iso_write(const char *path, const char *volume_id, const struct mb_iso_file *files,
                  size_t nfiles, mb_error **err);

#endif
