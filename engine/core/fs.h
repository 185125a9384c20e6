/* The state store's file primitives: atomic writes, directories, locks. */
#ifndef MB_FS_H
#define MB_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory. A reader sees the old file
 * or the new one, never a mix; a crash leaves the old file intact. */
bool mb_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        mb_error **err);
/* Called (when set) after the temporary file is written and before the rename;
 * tests use it to simulate a crash at the worst moment. */
extern void (*mb_fs_before_rename_hook)(const char *tmp_path);

/* Reads a whole file; *len gets its size. Caller frees. */
char *mb_fs_read(const char *path, size_t *len, mb_error **err);
/* mkdir -p */
bool mb_fs_mkdirs(const char *path, mode_t mode, mb_error **err);
/* rm -rf, not following symlinks */
bool mb_fs_rmtree(const char *path, mb_error **err);

enum mb_lock_flags {
    MB_LOCK_SHARED = 1 << 0,
    MB_LOCK_NOWAIT = 1 << 1,
};
/* flock() on path (created if missing). timeout < 0 waits forever; with
 * MB_LOCK_NOWAIT or when timeout runs out, fails with MB_ERR_STATE ("busy").
 * Returns the fd to pass to mb_lock_release, or -1. */
int mb_lock_acquire(const char *path, unsigned flags, double timeout, mb_error **err);
void mb_lock_release(int fd);

/* The last max_lines lines (all of them: 0) of the last max_bytes of a text
 * file, such as a console log; "" when it is missing or unreadable, NULL
 * only when memory is short. Caller frees. */
char *mb_fs_tail(const char *path, size_t max_bytes, int max_lines);

/* Removes from dir the temporary files of mb_fs_write_atomic whose writer
 * is gone (killed between creating the file and renaming it), never those
 * of a live process. */
void mb_fs_sweep_tmp(const char *dir);

/* Why a file moonbase would run (a driver, a user's command) may not be used, or
 * NULL: it must be a regular file owned by root or by us, writable by nobody
 * else, in a directory nobody else can write to, and executable when
 * need_exec. The reason, with its fix, is written to why (n bytes). */
const char *mb_fs_unsafe_file(const char *path, bool need_exec, char *why, size_t n);

#endif
