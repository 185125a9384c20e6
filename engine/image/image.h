/* Image transfers: libcurl downloads that resume a <dest>.part file with HTTP
 * Range, hash it with SHA-256 while it arrives, verify size and digest, and
 * rename it into place only when it is right. Also small GETs for manifests
 * and the SHA-256 of a local file. */
#ifndef MB_IMAGE_H
#define MB_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MB_SHA256_HEX 65 /* 64 hex digits and a NUL */

enum mb_progress_mode {
    MB_PROGRESS_NONE,
    MB_PROGRESS_BAR,   /* one redrawn line with bytes, rate and ETA (a terminal) */
    MB_PROGRESS_LINES, /* one line per 10 % (a log) */
};

enum mb_fetch_flags {
    MB_FETCH_NO_RESUME = 1 << 0, /* discard an existing <dest>.part */
    MB_FETCH_NO_FSYNC = 1 << 1,  /* skip the fsync before the rename */
};

struct mb_fetch_spec {
    const char *url;         /* http://, https:// or file:// */
    const char *dest;        /* final path; the transfer writes <dest>.part */
    const char *sha256;      /* expected digest, hex; NULL: not checked */
    int64_t size;            /* expected bytes; < 0: not checked */
    enum mb_progress_mode progress;
    const char *label;       /* shown in front of the progress; NULL: the file name */
    long connect_timeout;    /* seconds, 1..10; 0: 10 */
    long stall_timeout;      /* seconds without data before giving up; 0: 30 */
    int64_t rate_limit;      /* bytes per second at most; 0: no limit */
};

struct mb_fetch_result {
    char sha256[MB_SHA256_HEX];
    uint64_t size;
    uint64_t resumed_from;   /* bytes kept from an earlier <dest>.part */
    uint64_t transferred;    /* bytes received in this call */
    double seconds;          /* wall time of the transfer */
};

/* Downloads spec->url to spec->dest. On a digest or size mismatch the partial
 * file is deleted; on an interrupted transfer it is kept for the next call to
 * resume. Fails with MB_ERR_UNREACHABLE (no connection), MB_ERR_FAILED (HTTP
 * error, stalled transfer, size or digest mismatch),
 * MB_ERR_NOT_FOUND (HTTP 404, missing file://), MB_ERR_STATE (another process
 * is writing the same file) or MB_ERR_IO (local disk). */
bool mb_image_fetch(const struct mb_fetch_spec *spec, struct mb_fetch_result *res,
                    unsigned flags, mb_error **err);

/* GETs url into memory (at most max bytes; 0: 64 MiB). *len gets the size;
 * the buffer is NUL-terminated; caller frees. */
char *mb_image_http_get(const char *url, long connect_timeout, size_t max, size_t *len,
                        mb_error **err);

/* SHA-256 of a file, as lowercase hex. */
bool mb_image_sha256_file(const char *path, char out[MB_SHA256_HEX], mb_error **err);

#endif
