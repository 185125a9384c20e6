/* Resolving request paths inside the shared folder (see sftp_path.h). */
#include "sftp/sftp_path.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define E_OUTSIDE MB_SFTP_E_OUTSIDE
#define MAX_SYMLINKS 40
#define MAX_DEPTH 256

/* Follows one symlink found at (dirfd, name) during a walk: its target goes
 * in front of what is left of the path. */
static bool expand_link(int dirfd, const char *name, char *rest, size_t size, int *links)
{
    char target[PATH_MAX];
    if (++*links > MAX_SYMLINKS) {
        errno = ELOOP;
        return false;
    }
    ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    if (target[0] == '/') {
        errno = E_OUTSIDE;
        return false;
    }
    size_t tl = (size_t)n, rl = strlen(rest);
    if (tl + 1 + rl + 1 > size) {
        errno = ENAMETOOLONG;
        return false;
    }
    memmove(rest + tl + (rl ? 1 : 0), rest, rl + 1);
    memcpy(rest, target, tl);
    if (rl)
        rest[tl] = '/';
    return true;
}

/* The fallback for kernels without openat2: one component at a time, every
 * step opened with O_NOFOLLOW, symlinks expanded here, ".." popped from our
 * own stack of directories (never above the root). */
static int walk(struct mb_sftp_root *r, const char *path, int flags, mode_t mode, bool follow)
{
    char rest[2 * PATH_MAX];
    int stack[MAX_DEPTH];
    int depth = 0, links = 0, result = -1, saved = 0;
    if (strlen(path) >= sizeof rest) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(rest, path);
    stack[0] = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
    if (stack[0] < 0)
        return -1;
    for (;;) {
        char *p = rest;
        while (*p == '/')
            p++;
        if (*p == '\0') { /* the path names the directory we are in */
            result = openat(stack[depth], ".", (flags & ~O_CREAT) | O_CLOEXEC);
            break;
        }
        char comp[NAME_MAX + 1];
        size_t n = strcspn(p, "/");
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        p += n;
        bool slash = *p == '/';
        while (*p == '/')
            p++;
        bool last = *p == '\0';
        memmove(rest, p, strlen(p) + 1);
        if (strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            if (depth == 0) {
                errno = E_OUTSIDE;
                break;
            }
            close(stack[depth--]);
            continue;
        }
        int top = stack[depth];
        if (!last) {
            int fd = openat(top, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) != 0) {
                if (fd >= 0)
                    close(fd);
                break;
            }
            if (S_ISLNK(st.st_mode)) {
                close(fd);
                if (!expand_link(top, comp, rest, sizeof rest, &links))
                    break;
                continue;
            }
            if (!S_ISDIR(st.st_mode) || depth + 1 >= MAX_DEPTH) {
                close(fd);
                errno = S_ISDIR(st.st_mode) ? ENAMETOOLONG : ENOTDIR;
                break;
            }
            stack[++depth] = fd;
            continue;
        }
        struct stat st;
        if (fstatat(top, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISLNK(st.st_mode) && (follow || slash)) {
                if (!expand_link(top, comp, rest, sizeof rest, &links))
                    break;
                continue;
            }
        } else if (errno != ENOENT) {
            break;
        }
        int f = flags | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0);
        result = (flags & O_CREAT) ? openat(top, comp, f, mode) : openat(top, comp, f);
        break;
    }
    saved = errno;
    for (int i = 0; i <= depth; i++)
        close(stack[i]);
    errno = saved;
    return result;
}

int mb_sftp_path_open(struct mb_sftp_root *r, const char *path, int flags, mode_t mode,
                      bool follow)
{
    if (path[0] == '/') {
        errno = E_OUTSIDE;
        return -1;
    }
    if (path[0] == '\0')
        path = ".";
    if (!follow)
        flags |= O_NOFOLLOW;
    if (!r->walk) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        for (int i = 0; i < 16; i++) {
            long fd = syscall(SYS_openat2, r->fd, path, &how, sizeof how);
            if (fd >= 0)
                return (int)fd;
            if (errno == ENOSYS) {
                r->walk = true;
                break;
            }
            if (errno != EAGAIN && errno != EINTR)
                return -1; /* EXDEV (= E_OUTSIDE) when it would escape */
        }
        if (!r->walk)
            return -1;
    }
    return walk(r, path, flags & ~O_NOFOLLOW, mode, follow);
}

int mb_sftp_path_parent(struct mb_sftp_root *r, const char *path, char *buf, size_t size,
                        const char **name)
{
    if (path[0] == '/') {
        errno = E_OUTSIDE;
        return -1;
    }
    size_t n = strlen(path);
    if (n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    const char *parent = ".";
    if (slash != NULL) {
        *slash = '\0';
        parent = buf;
        *name = slash + 1;
    } else {
        *name = buf;
    }
    if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
        errno = EINVAL;
        return -1;
    }
    return mb_sftp_path_open(r, parent, O_PATH | O_DIRECTORY, 0, true);
}

bool mb_sftp_path_normalize(const char *path, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* nothing */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (len == 0)
                return false;
            char *slash = strrchr(out, '/');
            len = slash ? (size_t)(slash - out) : 0;
            out[len] = '\0';
        } else {
            if (len + (len ? 1 : 0) + n + 1 > size)
                return false;
            if (len)
                out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
            out[len] = '\0';
        }
        p += n;
    }
    if (len == 0)
        snprintf(out, size, ".");
    return true;
}
