/* The SFTP v3 server's operations (see sftp_server.c): one function per
 * request type. Every path goes through sftp_resolve() or
 * sftp_resolve_parent(), which keep it inside the shared folder. */
#include "sftp/sftp_ops.h"
#include "sftp/sftp_idmap.h"
#include "sftp/sftp_session.h"
#include "sftp/sftp_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define READDIR_BATCH 100 /* entries per READDIR reply */
/* the mode bits a guest may set on host files: never setuid, setgid or
 * sticky (a guest root could otherwise plant a setuid-root program) */
#define GUEST_MODE_BITS 0777

/* ------------------------------------------------------------ operations */

/* Whether a guest may make `guest` the owner (or group) of a host file now
 * owned by `current`: only to an id of the mount's map, or to what it is
 * already (-1 leaves it as it is). Anything else, root above all, is refused:
 * the guest must not give host files away. */
static bool owner_allowed(const struct mb_sftp_idmap *map, size_t n, uint32_t guest,
                          uint32_t current)
{
    if (guest == UINT32_MAX || sftp_unmap_id(map, n, guest) == current)
        return true;
    for (size_t i = 0; i < n; i++)
        if (map[i].guest == guest)
            return true;
    return false;
}

/* Applies attrs to the file behind fd: an open file, or (path_fd) an O_PATH
 * descriptor reached through its /proc/self/fd link, which names exactly
 * that inode and cannot be redirected by a rename. Modes lose their setuid,
 * setgid and sticky bits; an ownership change outside the id maps is
 * refused before anything is applied. 0 or an errno. */
static int apply_attrs(mb_sftp_server *s, int fd, bool path_fd, const struct attrs *a)
{
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (a->flags & ATTR_UIDGID) {
        struct stat st;
        if (fstat(fd, &st) != 0)
            return errno;
        if (!owner_allowed(s->uid_map, s->n_uid_map, a->uid, st.st_uid)
            || !owner_allowed(s->gid_map, s->n_gid_map, a->gid, st.st_gid))
            return EPERM;
    }
    if (a->flags & ATTR_SIZE) {
        int r = path_fd ? truncate(proc, (off_t)a->size) : ftruncate(fd, (off_t)a->size);
        if (r != 0)
            return errno;
    }
    if (a->flags & ATTR_UIDGID) {
        uid_t u = sftp_unmap_id(s->uid_map, s->n_uid_map, a->uid);
        gid_t g = sftp_unmap_id(s->gid_map, s->n_gid_map, a->gid);
        if (fchownat(fd, "", u, g, AT_EMPTY_PATH) != 0)
            return errno;
    }
    if (a->flags & ATTR_PERMISSIONS) {
        mode_t mode = a->perm & GUEST_MODE_BITS;
        int r = path_fd ? chmod(proc, mode) : fchmod(fd, mode);
        if (r != 0)
            return errno;
    }
    if (a->flags & ATTR_ACMODTIME) {
        struct timespec ts[2] = {{.tv_sec = a->atime}, {.tv_sec = a->mtime}};
        int r = path_fd ? utimensat(AT_FDCWD, proc, ts, 0) : futimens(fd, ts);
        if (r != 0)
            return errno;
    }
    return 0;
}

void sftp_op_open(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX];
    struct attrs a;
    sftp_get_path(m, path, sizeof path);
    uint32_t pf = sftp_get_u32(m);
    sftp_get_attrs(m, &a);
    if (m->bad)
        return;
    if (s->readonly && (pf & (FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC))) {
        sftp_reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int flags = (pf & FXF_READ) && (pf & FXF_WRITE) ? O_RDWR : (pf & FXF_WRITE) ? O_WRONLY
                                                                                : O_RDONLY;
    if (pf & FXF_APPEND)
        flags |= O_APPEND;
    if (pf & FXF_TRUNC)
        flags |= O_TRUNC;
    flags |= O_NOCTTY | O_NONBLOCK; /* a FIFO must not block the server */
    mode_t mode = (a.flags & ATTR_PERMISSIONS) ? (a.perm & GUEST_MODE_BITS) : 0666;
    int fd = -1;
    bool created = false;
    if (pf & FXF_CREAT) {
        /* create exclusively first, so a new file gets exactly the mode asked for
         * (our umask does not apply to the guest's files) */
        for (int i = 0; i < 4 && fd < 0; i++) {
            fd = sftp_resolve(s, path, flags | O_CREAT | O_EXCL, mode, false);
            if (fd >= 0) {
                created = true;
                break;
            }
            if (errno != EEXIST || (pf & FXF_EXCL))
                break;
            fd = sftp_resolve(s, path, flags, 0, true);
            if (fd < 0 && errno != ENOENT)
                break;
        }
    } else {
        fd = sftp_resolve(s, path, flags, 0, true);
    }
    if (fd < 0) {
        sftp_reply_errno(o->b, id, errno, true, o);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        sftp_reply_status(o->b, id, FX_FAILURE, "not a regular file", o);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (created && (a.flags & ATTR_PERMISSIONS))
        fchmod(fd, mode);
    /* what the kernel does for writers without CAP_FSETID, which the agent
     * (root) has: a file the guest may change is no longer setuid/setgid */
    if (!created && (flags & O_ACCMODE) != O_RDONLY && (st.st_mode & (S_ISUID | S_ISGID)))
        fchmod(fd, st.st_mode & GUEST_MODE_BITS);
    int h = sftp_handle_new(s, fd, NULL);
    if (h < 0) {
        close(fd);
        sftp_reply_status(o->b, id, FX_FAILURE, "too many open files", o);
        return;
    }
    sftp_begin(o, o->b, FXP_HANDLE, id, true);
    sftp_put_handle(s, o, h);
}

void sftp_op_read(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = sftp_get_handle(s, m, false);
    uint64_t off = sftp_get_u64(m);
    uint32_t len = sftp_get_u32(m);
    if (m->bad)
        return;
    if (h == NULL) {
        sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    if (len > MAX_READ)
        len = MAX_READ;
    sftp_begin(o, o->b, FXP_DATA, id, true);
    sftp_put_u32(o, 0);
    if (o->oom || !mb_strbuf_reserve(o->b, len)) {
        o->oom = true;
        return;
    }
    ssize_t r;
    do
        r = pread(h->fd, (unsigned char *)o->b->s + o->b->n, len, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        int e = errno;
        o->b->n = o->start;
        if (r == 0)
            sftp_reply_status(o->b, id, FX_EOF, "end of file", o);
        else
            sftp_reply_errno(o->b, id, e, false, o);
        return;
    }
    unsigned char *n = (unsigned char *)o->b->s + o->b->n - 4;
    n[0] = (unsigned char)(r >> 24), n[1] = (unsigned char)(r >> 16);
    n[2] = (unsigned char)(r >> 8), n[3] = (unsigned char)r;
    o->b->n += (size_t)r;
}

void sftp_op_write(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = sftp_get_handle(s, m, false);
    uint64_t off = sftp_get_u64(m);
    uint32_t len;
    const unsigned char *data = sftp_get_str(m, &len);
    if (m->bad)
        return;
    if (h == NULL) {
        sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    if (s->readonly) {
        sftp_reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    while (len > 0) {
        ssize_t w = pwrite(h->fd, data, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sftp_reply_errno(o->b, id, w < 0 ? errno : ENOSPC, false, o);
            return;
        }
        data += w;
        off += (uint64_t)w;
        len -= (uint32_t)w;
    }
    sftp_reply_status(o->b, id, FX_OK, "", o);
}

static void reply_attrs(mb_sftp_server *s, uint32_t id, const struct stat *st, struct out *o)
{
    sftp_begin(o, o->b, FXP_ATTRS, id, true);
    sftp_put_attrs(s, o, st);
}

/* STAT follows a final symlink, LSTAT does not. */
void sftp_op_stat(mb_sftp_server *s, struct msg *m, uint32_t id, bool follow, struct out *o)
{
    char path[PATH_MAX], buf[PATH_MAX];
    const char *name;
    struct stat st;
    sftp_get_path(m, path, sizeof path);
    if (m->bad)
        return;
    if (m->left >= 4)
        sftp_get_u32(m); /* v4+ clients add the attribute flags they want */
    int fd;
    if (!follow && (fd = sftp_resolve_parent(s, path, buf, sizeof buf, &name)) >= 0) {
        int r = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW);
        int e = errno;
        close(fd);
        if (r != 0) {
            sftp_reply_errno(o->b, id, e, true, o);
            return;
        }
    } else {
        if (!follow && errno != EINVAL) {
            sftp_reply_errno(o->b, id, errno, true, o);
            return;
        }
        fd = sftp_resolve(s, path, O_PATH, 0, true);
        if (fd < 0 || fstat(fd, &st) != 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            sftp_reply_errno(o->b, id, e, true, o);
            return;
        }
        close(fd);
    }
    reply_attrs(s, id, &st, o);
}

void sftp_op_fstat(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = sftp_get_handle(s, m, false);
    if (m->bad)
        return;
    struct stat st;
    if (h == NULL) {
        sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
    } else if (fstat(h->fd, &st) != 0) {
        sftp_reply_errno(o->b, id, errno, false, o);
    } else {
        reply_attrs(s, id, &st, o);
    }
}

void sftp_op_setstat(mb_sftp_server *s, struct msg *m, uint32_t id, bool by_handle,
                     struct out *o)
{
    char path[PATH_MAX];
    struct handle *h = NULL;
    struct attrs a;
    if (by_handle)
        h = sftp_get_handle(s, m, false);
    else
        sftp_get_path(m, path, sizeof path);
    sftp_get_attrs(m, &a);
    if (m->bad)
        return;
    if (s->readonly) {
        sftp_reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int e;
    if (by_handle) {
        if (h == NULL) {
            sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
            return;
        }
        e = apply_attrs(s, h->fd, false, &a);
    } else {
        int fd = sftp_resolve(s, path, O_PATH, 0, true);
        if (fd < 0) {
            sftp_reply_errno(o->b, id, errno, true, o);
            return;
        }
        e = apply_attrs(s, fd, true, &a);
        close(fd);
    }
    if (e)
        sftp_reply_errno(o->b, id, e, false, o);
    else
        sftp_reply_status(o->b, id, FX_OK, "", o);
}

void sftp_op_opendir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX];
    sftp_get_path(m, path, sizeof path);
    if (m->bad)
        return;
    int fd = sftp_resolve(s, path, O_RDONLY | O_DIRECTORY, 0, true);
    if (fd < 0) {
        sftp_reply_errno(o->b, id, errno, true, o);
        return;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        sftp_reply_errno(o->b, id, e, false, o);
        return;
    }
    int h = sftp_handle_new(s, fd, d);
    if (h < 0) {
        closedir(d);
        sftp_reply_status(o->b, id, FX_FAILURE, "too many open files", o);
        return;
    }
    sftp_begin(o, o->b, FXP_HANDLE, id, true);
    sftp_put_handle(s, o, h);
}

void sftp_op_readdir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = sftp_get_handle(s, m, true);
    if (m->bad)
        return;
    if (h == NULL) {
        sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    sftp_begin(o, o->b, FXP_NAME, id, true);
    size_t count_at = o->b->n;
    sftp_put_u32(o, 0);
    uint32_t count = 0;
    struct stat self;
    bool have_self = fstat(h->fd, &self) == 0;
    while (count < READDIR_BATCH && !o->oom) {
        errno = 0;
        struct dirent *de = readdir(h->dir);
        if (de == NULL)
            break;
        struct stat st;
        if (strcmp(de->d_name, "..") == 0 && have_self && sftp_is_root(s, &self)) {
            st = self; /* nothing about the folder above the share */
        } else if (fstatat(h->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            continue; /* gone meanwhile */
        }
        char ln[NAME_MAX + 128];
        sftp_longname(s, ln, sizeof ln, &st, de->d_name);
        sftp_put_cstr(o, de->d_name);
        sftp_put_cstr(o, ln);
        sftp_put_attrs(s, o, &st);
        count++;
    }
    if (count == 0 && !o->oom) {
        int e = errno;
        o->b->n = o->start;
        if (e)
            sftp_reply_errno(o->b, id, e, false, o);
        else
            sftp_reply_status(o->b, id, FX_EOF, "end of directory", o);
        return;
    }
    if (!o->oom) {
        unsigned char *c = (unsigned char *)o->b->s + count_at;
        c[0] = (unsigned char)(count >> 24), c[1] = (unsigned char)(count >> 16);
        c[2] = (unsigned char)(count >> 8), c[3] = (unsigned char)count;
    }
}

void sftp_op_close(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    uint32_t n;
    const unsigned char *c = sftp_get_str(m, &n);
    if (m->bad)
        return;
    struct msg again = {c - 4, n + 4, false};
    struct handle *h = sftp_get_handle(s, &again, false);
    if (h == NULL) {
        again = (struct msg){c - 4, n + 4, false};
        h = sftp_get_handle(s, &again, true);
    }
    if (h == NULL) {
        sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    sftp_handle_close(h);
    sftp_reply_status(o->b, id, FX_OK, "", o);
}

/* REMOVE, RMDIR, MKDIR: on a name in its parent directory */
void sftp_op_name(mb_sftp_server *s, struct msg *m, uint32_t id, int type, struct out *o)
{
    char path[PATH_MAX], buf[PATH_MAX];
    const char *name;
    struct attrs a = {0};
    sftp_get_path(m, path, sizeof path);
    if (type == FXP_MKDIR)
        sftp_get_attrs(m, &a);
    if (m->bad)
        return;
    if (s->readonly) {
        sftp_reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int dfd = sftp_resolve_parent(s, path, buf, sizeof buf, &name);
    if (dfd < 0) {
        sftp_reply_errno(o->b, id, errno, true, o);
        return;
    }
    int r;
    if (type == FXP_MKDIR) {
        mode_t mode = (a.flags & ATTR_PERMISSIONS) ? (a.perm & GUEST_MODE_BITS) : 0777;
        r = mkdirat(dfd, name, mode);
        if (r == 0 && (a.flags & ATTR_PERMISSIONS)) {
            /* the exact mode, on the directory we made (not on whatever a
             * racing rename put at that name) */
            int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                fchmod(fd, mode);
                close(fd);
            }
        }
    } else {
        r = unlinkat(dfd, name, type == FXP_RMDIR ? AT_REMOVEDIR : 0);
    }
    int e = errno;
    close(dfd);
    if (r != 0)
        sftp_reply_errno(o->b, id, e, false, o);
    else
        sftp_reply_status(o->b, id, FX_OK, "", o);
}

/* RENAME (no replace, as OpenSSH does), posix-rename, hardlink, SYMLINK */

void sftp_op_two(mb_sftp_server *s, struct msg *m, uint32_t id, enum two what, struct out *o)
{
    char from[PATH_MAX], to[PATH_MAX], b1[PATH_MAX], b2[PATH_MAX];
    const char *n1, *n2;
    sftp_get_path(m, from, sizeof from);
    sftp_get_path(m, to, sizeof to);
    if (m->bad)
        return;
    if (s->readonly) {
        sftp_reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int d1 = -1, d2 = -1, r = -1, e = 0;
    /* SYMLINK: OpenSSH's order, the target first; the target is only text */
    if (what != TWO_SYMLINK && (d1 = sftp_resolve_parent(s, from, b1, sizeof b1, &n1)) < 0) {
        sftp_reply_errno(o->b, id, errno, true, o);
        return;
    }
    if ((d2 = sftp_resolve_parent(s, to, b2, sizeof b2, &n2)) < 0) {
        e = errno;
        if (d1 >= 0)
            close(d1);
        sftp_reply_errno(o->b, id, e, true, o);
        return;
    }
    switch (what) {
    case TWO_SYMLINK:
        r = symlinkat(from, d2, n2);
        break;
    case TWO_LINK:
        r = linkat(d1, n1, d2, n2, 0);
        break;
    case TWO_POSIX_RENAME:
        r = renameat(d1, n1, d2, n2);
        break;
    case TWO_RENAME:
        r = (int)syscall(SYS_renameat2, d1, n1, d2, n2, 1 /* RENAME_NOREPLACE */);
        if (r != 0 && errno == EINVAL) {
            struct stat st;
            if (fstatat(d2, n2, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                errno = EEXIST;
            } else {
                r = renameat(d1, n1, d2, n2);
            }
        }
        break;
    }
    e = errno;
    if (d1 >= 0)
        close(d1);
    close(d2);
    if (r != 0)
        sftp_reply_errno(o->b, id, e, false, o);
    else
        sftp_reply_status(o->b, id, FX_OK, "", o);
}

static void reply_name(struct out *o, uint32_t id, const char *name)
{
    sftp_begin(o, o->b, FXP_NAME, id, true);
    sftp_put_u32(o, 1);
    sftp_put_cstr(o, name);
    sftp_put_cstr(o, name);
    sftp_put_u32(o, 0); /* no attributes */
}

void sftp_op_readlink(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX], buf[PATH_MAX], target[PATH_MAX];
    const char *name;
    sftp_get_path(m, path, sizeof path);
    if (m->bad)
        return;
    int dfd = sftp_resolve_parent(s, path, buf, sizeof buf, &name);
    if (dfd < 0) {
        sftp_reply_errno(o->b, id, errno, true, o);
        return;
    }
    ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
    int e = errno;
    close(dfd);
    if (n < 0) {
        sftp_reply_errno(o->b, id, e, false, o);
        return;
    }
    target[n] = '\0';
    reply_name(o, id, target);
}

void sftp_op_realpath(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX], abs[PATH_MAX], rel[PATH_MAX];
    sftp_get_path(m, path, sizeof path);
    if (m->bad)
        return;
    int fd = sftp_resolve(s, path, O_PATH, 0, true);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && path[0] != '/' && mb_sftp_path_normalize(path, rel, sizeof rel)) {
            reply_name(o, id, rel);
            return;
        }
        sftp_reply_errno(o->b, id, e == ENOENT ? E_OUTSIDE : e, true, o);
        return;
    }
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, abs, sizeof abs - 1);
    close(fd);
    if (n < 0) {
        sftp_reply_errno(o->b, id, errno, false, o);
        return;
    }
    abs[n] = '\0';
    const char *r = ".";
    if (s->root_len == 1 && abs[0] == '/' && abs[1])
        r = abs + 1;
    else if (strncmp(abs, s->root_path, s->root_len) == 0 && abs[s->root_len] == '/')
        r = abs + s->root_len + 1;
    reply_name(o, id, r);
}

static void put_statvfs(struct out *o, mb_sftp_server *s, const struct statvfs *v)
{
    sftp_put_u64(o, v->f_bsize);
    sftp_put_u64(o, v->f_frsize);
    sftp_put_u64(o, v->f_blocks);
    sftp_put_u64(o, v->f_bfree);
    sftp_put_u64(o, v->f_bavail);
    sftp_put_u64(o, v->f_files);
    sftp_put_u64(o, v->f_ffree);
    sftp_put_u64(o, v->f_favail);
    sftp_put_u64(o, v->f_fsid);
    uint64_t flag = 0;
    if ((v->f_flag & ST_RDONLY) || s->readonly)
        flag |= 1; /* SSH2_FXE_STATVFS_ST_RDONLY */
    if (v->f_flag & ST_NOSUID)
        flag |= 2;
    sftp_put_u64(o, flag);
    sftp_put_u64(o, v->f_namemax);
}

void sftp_op_extended(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    uint32_t n;
    const unsigned char *name = sftp_get_str(m, &n);
    if (m->bad)
        return;
#define IS(x) (n == sizeof(x) - 1 && memcmp(name, x, n) == 0)
    if (IS("posix-rename@openssh.com")) {
        sftp_op_two(s, m, id, TWO_POSIX_RENAME, o);
    } else if (IS("hardlink@openssh.com")) {
        sftp_op_two(s, m, id, TWO_LINK, o);
    } else if (IS("statvfs@openssh.com") || IS("fstatvfs@openssh.com")) {
        struct statvfs v;
        int fd = -1, r;
        bool opened = false;
        if (IS("statvfs@openssh.com")) {
            char path[PATH_MAX];
            if (!sftp_get_path(m, path, sizeof path))
                return;
            fd = sftp_resolve(s, path, O_PATH, 0, true);
            if (fd < 0) {
                sftp_reply_errno(o->b, id, errno, true, o);
                return;
            }
            opened = true;
        } else {
            struct handle *h = sftp_get_handle(s, m, false);
            if (m->bad)
                return;
            if (h == NULL) {
                sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
                return;
            }
            fd = h->fd;
        }
        r = fstatvfs(fd, &v);
        int e = errno;
        if (opened)
            close(fd);
        if (r != 0) {
            sftp_reply_errno(o->b, id, e, false, o);
            return;
        }
        sftp_begin(o, o->b, FXP_EXTENDED_REPLY, id, true);
        put_statvfs(o, s, &v);
    } else if (IS("fsync@openssh.com")) {
        struct handle *h = sftp_get_handle(s, m, false);
        if (m->bad)
            return;
        if (h == NULL)
            sftp_reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        else if (fsync(h->fd) != 0)
            sftp_reply_errno(o->b, id, errno, false, o);
        else
            sftp_reply_status(o->b, id, FX_OK, "", o);
    } else if (IS("limits@openssh.com")) {
        sftp_begin(o, o->b, FXP_EXTENDED_REPLY, id, true);
        sftp_put_u64(o, MAX_PACKET);
        sftp_put_u64(o, MAX_READ);
        sftp_put_u64(o, MAX_PACKET - 1024);
        sftp_put_u64(o, MAX_HANDLES);
    } else {
        sftp_reply_status(o->b, id, FX_OP_UNSUPPORTED, "unsupported extension", o);
    }
#undef IS
}
