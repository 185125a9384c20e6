/* Paths inside a shared folder, for the SFTP server (sftp_server.c): every
 * path a request names is opened through these, which keep it inside the
 * folder. The kernel resolves with openat2(RESOLVE_BENEATH) where it exists
 * (Linux >= 5.6); elsewhere (or with walk set) the path is walked one
 * component at a time with O_NOFOLLOW, symlinks expanded here and ".."
 * popped from our own stack of directories, never above the root. Never
 * realpath(): a rename racing a request cannot lead it outside. */
#ifndef MB_SFTP_PATH_H
#define MB_SFTP_PATH_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The errno for "this path leaves the shared folder" (what openat2 says). */
#define MB_SFTP_E_OUTSIDE EXDEV

struct mb_sftp_root {
    int fd;    /* the folder, O_PATH | O_DIRECTORY */
    bool walk; /* no openat2 here (found out, or asked for) */
};

/* Opens path, relative to the root ("" is "."), with open(2) flags: the fd,
 * or -1 with errno (MB_SFTP_E_OUTSIDE for an absolute path, ".." above the
 * root, or a symlink on the way, or at the end when follow is set, that
 * points outside). */
int mb_sftp_path_open(struct mb_sftp_root *r, const char *path, int flags, mode_t mode,
                      bool follow);

/* For operations on a name itself (lstat, remove, rename, symlink...):
 * opens the parent directory (O_PATH) and points *name at the last
 * component, copied into buf. A path whose last component is "." or ".."
 * (or the root) has no name of its own: -1 with EINVAL. */
int mb_sftp_path_parent(struct mb_sftp_root *r, const char *path, char *buf, size_t size,
                        const char **name);

/* path relative to the root with "." and ".." folded into out ("." for the
 * root); false when it climbs out or does not fit. For names that do not
 * exist (yet). */
bool mb_sftp_path_normalize(const char *path, char *out, size_t size);

#endif
