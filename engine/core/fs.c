/* Atomic writes, directory helpers and flock()-based locks for the state store. */
#include "core/fs.h"
#include "core/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void (*mb_fs_before_rename_hook)(const char *tmp_path);

static bool fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return false;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

bool mb_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                        mb_error **err)
{
    static unsigned counter;
    bool ok = false;
    char tmp[4096];
    char *copy = strdup(path);
    char *copy2 = strdup(path);
    int fd = -1;
    if (copy == NULL || copy2 == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto cleanup;
    }
    int n = snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%d.%u", dirname(copy), basename(copy2),
                     (int)getpid(), counter++);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        mb_error_set(err, MB_ERR_IO, "path too long: %s", path);
        goto cleanup;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "cannot write %s", path);
        goto cleanup;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            mb_error_set_errno(err, errno, "cannot write %s", path);
            goto cleanup;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        mb_error_set_errno(err, errno, "cannot write %s", path);
        goto cleanup;
    }
    close(fd);
    fd = -1;
    if (mb_fs_before_rename_hook)
        mb_fs_before_rename_hook(tmp);
    if (rename(tmp, path) != 0) {
        mb_error_set_errno(err, errno, "cannot write %s", path);
        goto cleanup;
    }
    fsync_dir_of(path);
    ok = true;
cleanup:
    if (fd >= 0)
        close(fd);
    if (!ok && copy && copy2)
        unlink(tmp);
    free(copy);
    free(copy2);
    return ok;
}

char *mb_fs_read(const char *path, size_t *len, mb_error **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "cannot read %s", path);
        return NULL;
    }
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (used + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + used, cap - used - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            mb_error_set_errno(err, errno, "cannot read %s", path);
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    if (buf == NULL) {
        mb_error_set(err, MB_ERR_IO, "cannot read %s", path);
        return NULL;
    }
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}

bool mb_fs_mkdirs(const char *path, mode_t mode, mb_error **err)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        mb_error_set(err, MB_ERR_USAGE, "bad directory path \"%s\"", path);
        return false;
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST) {
                mb_error_set_errno(err, errno, "cannot create directory %s", buf);
                return false;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        mb_error_set(err, MB_ERR_IO, "cannot create directory %s: not a directory", path);
        return false;
    }
    return true;
}

bool mb_fs_rmtree(const char *path, mb_error **err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return true;
        mb_error_set_errno(err, errno, "cannot remove %s", path);
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d == NULL) {
            mb_error_set_errno(err, errno, "cannot remove %s", path);
            return false;
        }
        struct dirent *de;
        bool ok = true;
        while (ok && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, de->d_name);
            ok = mb_fs_rmtree(child, err);
        }
        closedir(d);
        if (!ok)
            return false;
        if (rmdir(path) != 0 && errno != ENOENT) {
            mb_error_set_errno(err, errno, "cannot remove %s", path);
            return false;
        }
        return true;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        mb_error_set_errno(err, errno, "cannot remove %s", path);
        return false;
    }
    return true;
}

int mb_lock_acquire(const char *path, unsigned flags, double timeout, mb_error **err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "cannot open lock %s", path);
        return -1;
    }
    int op = (flags & MB_LOCK_SHARED) ? LOCK_SH : LOCK_EX;
    if (timeout < 0 && !(flags & MB_LOCK_NOWAIT)) {
        while (flock(fd, op) != 0) {
            if (errno != EINTR) {
                mb_error_set_errno(err, errno, "cannot lock %s", path);
                close(fd);
                return -1;
            }
        }
        return fd;
    }
    double start = mb_clock_now();
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            mb_error_set_errno(err, errno, "cannot lock %s", path);
            break;
        }
        double waited = mb_clock_now() - start;
        if ((flags & MB_LOCK_NOWAIT) || waited >= timeout) {
            mb_error_set(err, MB_ERR_STATE, "busy: %s is locked by another moonbase process",
                         path);
            break;
        }
        mb_clock_sleep(0.01);
    }
    close(fd);
    return -1;
}

void mb_lock_release(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

char *mb_fs_tail(const char *path, size_t max_bytes, int max_lines)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return strdup("");
    }
    off_t start = st.st_size > (off_t)max_bytes ? st.st_size - (off_t)max_bytes : 0;
    size_t want = (size_t)(st.st_size - start);
    char *buf = malloc(want + 1);
    ssize_t n = buf ? pread(fd, buf, want, start) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return strdup("");
    }
    buf[n] = '\0';
    char *p = buf + n;
    if (max_lines > 0) {
        int lines = 0;
        if (p > buf && p[-1] == '\n')
            p--;
        while (p > buf && !(p[-1] == '\n' && ++lines >= max_lines))
            p--;
    } else {
        p = buf;
    }
    memmove(buf, p, strlen(p) + 1);
    return buf;
}

const char *mb_fs_unsafe_file(const char *path, bool need_exec, char *why, size_t n)
{
    struct stat st, ds;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, n, "not a regular file");
        return why;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(why, n, "owned by another user (uid %u)", (unsigned)st.st_uid);
        return why;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, n, "writable by other users (try: chmod go-w %.400s)", path);
        return why;
    }
    if (stat(dir[0] ? dir : "/", &ds) == 0 && (ds.st_mode & S_IWOTH)) {
        snprintf(why, n, "in a world-writable directory (%.400s)", dir);
        return why;
    }
    if (need_exec && access(path, X_OK) != 0) {
        snprintf(why, n, "not executable (try: chmod +x %.400s)", path);
        return why;
    }
    return NULL;
}

/* The writer's pid in ".NAME.tmp.PID.N" (mb_fs_write_atomic's temporary
 * files), or 0 for any other name. */
static pid_t tmp_writer(const char *n)
{
    if (n[0] != '.')
        return 0;
    const char *t = strstr(n + 1, ".tmp.");
    const char *last = NULL;
    for (; t; t = strstr(t + 1, ".tmp."))
        last = t;
    if (last == NULL || last - n < 2) /* "." and a name before ".tmp." */
        return 0;
    const char *p = last + 5;
    long pid = 0;
    const char *q = p;
    while (*q >= '0' && *q <= '9' && q - p < 10)
        pid = pid * 10 + (*q++ - '0');
    if (q == p || *q != '.' || q[1] == '\0')
        return 0;
    for (const char *r = q + 1; *r; r++)
        if (*r < '0' || *r > '9')
            return 0;
    return (pid_t)pid;
}

void mb_fs_sweep_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    pid_t me = getpid();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        pid_t pid = tmp_writer(de->d_name);
        if (pid > 0 && pid != me && kill(pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}
