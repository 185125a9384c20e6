/* The SFTP v3 server behind classic mounts (see sftp_server.h): one request
 * at a time, replies batched until the input runs dry, file data read
 * straight into the reply buffer. Every path goes through resolve() or
 * resolve_parent(), which keep it inside the shared folder (sftp_path.c). */
#include "sftp_server.h"
#include "sftp_path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum {
    FXP_INIT = 1, FXP_VERSION = 2, FXP_OPEN = 3, FXP_CLOSE = 4, FXP_READ = 5, FXP_WRITE = 6,
    FXP_LSTAT = 7, FXP_FSTAT = 8, FXP_SETSTAT = 9, FXP_FSETSTAT = 10, FXP_OPENDIR = 11,
    FXP_READDIR = 12, FXP_REMOVE = 13, FXP_MKDIR = 14, FXP_RMDIR = 15, FXP_REALPATH = 16,
    FXP_STAT = 17, FXP_RENAME = 18, FXP_READLINK = 19, FXP_SYMLINK = 20,
    FXP_STATUS = 101, FXP_HANDLE = 102, FXP_DATA = 103, FXP_NAME = 104, FXP_ATTRS = 105,
    FXP_EXTENDED = 200, FXP_EXTENDED_REPLY = 201,
};
enum {
    FX_OK = 0, FX_EOF = 1, FX_NO_SUCH_FILE = 2, FX_PERMISSION_DENIED = 3, FX_FAILURE = 4,
    FX_BAD_MESSAGE = 5, FX_OP_UNSUPPORTED = 8,
};
enum { ATTR_SIZE = 1, ATTR_UIDGID = 2, ATTR_PERMISSIONS = 4, ATTR_ACMODTIME = 8 };
#define ATTR_EXTENDED 0x80000000u
enum { FXF_READ = 1, FXF_WRITE = 2, FXF_APPEND = 4, FXF_CREAT = 8, FXF_TRUNC = 0x10,
       FXF_EXCL = 0x20 };

#define MAX_PACKET (1024 * 1024 + 1024) /* the largest request taken */
#define MAX_READ (256 * 1024)           /* the most one READ returns */
#define MAX_HANDLES 1024
#define READDIR_BATCH 100

#define E_OUTSIDE MB_SFTP_E_OUTSIDE

struct handle {
    int fd; /* -1: free */
    DIR *dir;
    uint32_t gen;
};

struct mb_sftp_server {
    struct mb_sftp_root r;
    char root_path[PATH_MAX];
    size_t root_len;
    dev_t root_dev;
    ino_t root_ino;
    bool readonly, initialized;
    struct mb_sftp_server_opts o;
    struct handle h[MAX_HANDLES];
    uint32_t gen;
};

/* ------------------------------------------------------------ buffers */

void mb_sftp_buf_free(struct mb_sftp_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static bool reserve(struct mb_sftp_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + n)
        cap *= 2;
    unsigned char *d = realloc(b->data, cap);
    if (d == NULL)
        return false;
    b->data = d;
    b->cap = cap;
    return true;
}

/* Writers never fail alone: a reply is checked once, in end_reply. */
struct out {
    struct mb_sftp_buf *b;
    size_t start;
    bool oom;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->oom || !reserve(o->b, n)) {
        o->oom = true;
        return;
    }
    memcpy(o->b->data + o->b->len, p, n);
    o->b->len += n;
}

static void put_u8(struct out *o, uint8_t v) { put(o, &v, 1); }

static void put_u32(struct out *o, uint32_t v)
{
    unsigned char c[4] = {v >> 24, v >> 16, v >> 8, v};
    put(o, c, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
    put_u32(o, (uint32_t)(v >> 32));
    put_u32(o, (uint32_t)v);
}

static void put_str(struct out *o, const void *s, size_t n)
{
    put_u32(o, (uint32_t)n);
    put(o, s, n);
}

static void put_cstr(struct out *o, const char *s) { put_str(o, s, strlen(s)); }

static void begin(struct out *o, struct mb_sftp_buf *b, uint8_t type, uint32_t id, bool has_id)
{
    o->b = b;
    o->start = b->len;
    o->oom = false;
    put_u32(o, 0); /* length, filled in by end_reply */
    put_u8(o, type);
    if (has_id)
        put_u32(o, id);
}

static bool end_reply(struct out *o, mb_error **err)
{
    if (o->oom) {
        o->b->len = o->start;
        mb_error_set(err, MB_ERR_FAILED, "sftp server: out of memory");
        return false;
    }
    uint32_t n = (uint32_t)(o->b->len - o->start - 4);
    unsigned char *p = o->b->data + o->start;
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
    return true;
}

/* ------------------------------------------------------------ requests */

struct msg {
    const unsigned char *p;
    size_t left;
    bool bad;
};

static uint32_t get_u32(struct msg *m)
{
    if (m->left < 4) {
        m->bad = true;
        return 0;
    }
    uint32_t v = (uint32_t)m->p[0] << 24 | (uint32_t)m->p[1] << 16 | (uint32_t)m->p[2] << 8
                 | m->p[3];
    m->p += 4;
    m->left -= 4;
    return v;
}

static uint64_t get_u64(struct msg *m)
{
    uint64_t hi = get_u32(m);
    return hi << 32 | get_u32(m);
}

static const unsigned char *get_str(struct msg *m, uint32_t *len)
{
    uint32_t n = get_u32(m);
    if (m->bad || n > m->left) {
        m->bad = true;
        *len = 0;
        return NULL;
    }
    const unsigned char *s = m->p;
    m->p += n;
    m->left -= n;
    *len = n;
    return s;
}

/* A path argument, NUL-terminated in buf; false for a malformed one. */
static bool get_path(struct msg *m, char *buf, size_t size)
{
    uint32_t n;
    const unsigned char *s = get_str(m, &n);
    if (s == NULL || n >= size || memchr(s, '\0', n) != NULL) {
        m->bad = true;
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

struct attrs {
    uint32_t flags;
    uint64_t size;
    uint32_t uid, gid, perm, atime, mtime;
};

static void get_attrs(struct msg *m, struct attrs *a)
{
    memset(a, 0, sizeof *a);
    a->flags = get_u32(m);
    if (a->flags & ATTR_SIZE)
        a->size = get_u64(m);
    if (a->flags & ATTR_UIDGID) {
        a->uid = get_u32(m);
        a->gid = get_u32(m);
    }
    if (a->flags & ATTR_PERMISSIONS)
        a->perm = get_u32(m);
    if (a->flags & ATTR_ACMODTIME) {
        a->atime = get_u32(m);
        a->mtime = get_u32(m);
    }
    if (a->flags & ATTR_EXTENDED) {
        uint32_t n = get_u32(m), len;
        for (uint32_t i = 0; i < n && !m->bad; i++) {
            get_str(m, &len);
            get_str(m, &len);
        }
    }
}

/* ------------------------------------------------------------ ids */

static uint32_t map_id(const struct mb_sftp_idmap *map, size_t n, uint32_t host)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].host == host)
            return map[i].guest;
    return host;
}

static uint32_t unmap_id(const struct mb_sftp_idmap *map, size_t n, uint32_t guest)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].guest == guest)
            return map[i].host;
    return guest;
}

bool mb_sftp_parse_idmap(const char *s, struct mb_sftp_idmap *map, size_t *n, mb_error **err)
{
    *n = 0;
    const char *p = s ? s : "";
    while (*p) {
        char *end;
        errno = 0;
        unsigned long h = strtoul(p, &end, 10);
        if (end == p || *end != ':' || errno || h > UINT32_MAX)
            goto bad;
        p = end + 1;
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || errno || g > UINT32_MAX)
            goto bad;
        if (*n >= MB_SFTP_MAX_MAP) {
            mb_error_set(err, MB_ERR_USAGE, "sftp server: at most %d id mappings",
                         MB_SFTP_MAX_MAP);
            return false;
        }
        map[*n].host = (uint32_t)h;
        map[*n].guest = (uint32_t)g;
        (*n)++;
        p = *end ? end + 1 : end;
    }
    return true;
bad:
    mb_error_set(err, MB_ERR_USAGE, "sftp server: bad id map \"%s\" (expected HOST:GUEST,...)",
                 s);
    return false;
}

/* ------------------------------------------------------------ resolving */

static int resolve(mb_sftp_server *s, const char *path, int flags, mode_t mode, bool follow)
{
    return mb_sftp_path_open(&s->r, path, flags, mode, follow);
}

static int resolve_parent(mb_sftp_server *s, const char *path, char *buf, size_t size,
                          const char **name)
{
    return mb_sftp_path_parent(&s->r, path, buf, size, name);
}

static bool is_root(mb_sftp_server *s, const struct stat *st)
{
    return st->st_dev == s->root_dev && st->st_ino == s->root_ino;
}

/* ------------------------------------------------------------ replies */

static void reply_status(struct mb_sftp_buf *b, uint32_t id, uint32_t code, const char *msg,
                         struct out *o)
{
    begin(o, b, FXP_STATUS, id, true);
    put_u32(o, code);
    put_cstr(o, msg);
    put_cstr(o, "");
}

/* errno as a status; outside = the error came from resolving a path */
static void reply_errno(struct mb_sftp_buf *b, uint32_t id, int e, bool outside,
                        struct out *o)
{
    uint32_t code;
    const char *msg = strerror(e);
    if (e == E_OUTSIDE && outside) {
        code = FX_PERMISSION_DENIED;
        msg = "outside the shared folder";
    } else {
        switch (e) {
        case ENOENT: case ENOTDIR: case EBADF: case ELOOP: code = FX_NO_SUCH_FILE; break;
        case EPERM: case EACCES: case EFAULT: case EROFS: code = FX_PERMISSION_DENIED; break;
        case ENAMETOOLONG: case EINVAL: code = FX_BAD_MESSAGE; break;
        case ENOSYS: code = FX_OP_UNSUPPORTED; break;
        default: code = FX_FAILURE;
        }
    }
    reply_status(b, id, code, msg, o);
}

static void put_attrs(mb_sftp_server *s, struct out *o, const struct stat *st)
{
    put_u32(o, ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME);
    put_u64(o, (uint64_t)st->st_size);
    put_u32(o, map_id(s->o.uid_map, s->o.n_uid_map, st->st_uid));
    put_u32(o, map_id(s->o.gid_map, s->o.n_gid_map, st->st_gid));
    put_u32(o, st->st_mode);
    put_u32(o, (uint32_t)st->st_atime);
    put_u32(o, (uint32_t)st->st_mtime);
}

/* "drwxr-xr-x    2 1000     1000         4096 Jan  2 12:00 name", as ls -l */
static void longname(mb_sftp_server *s, char *out, size_t size, const struct stat *st,
                     const char *name)
{
    char m[11] = "?---------";
    mode_t mode = st->st_mode;
    m[0] = S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : S_ISREG(mode) ? '-' : S_ISCHR(mode) ? 'c'
           : S_ISBLK(mode) ? 'b' : S_ISFIFO(mode) ? 'p' : S_ISSOCK(mode) ? 's' : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        if (mode & (0400 >> i))
            m[1 + i] = rwx[i];
    if (mode & S_ISUID)
        m[3] = (mode & S_IXUSR) ? 's' : 'S';
    if (mode & S_ISGID)
        m[6] = (mode & S_IXGRP) ? 's' : 'S';
    if (mode & S_ISVTX)
        m[9] = (mode & S_IXOTH) ? 't' : 'T';
    char when[32];
    struct tm tm;
    time_t t = st->st_mtime, now = time(NULL);
    localtime_r(&t, &tm);
    strftime(when, sizeof when, (now - t < 182 * 86400 && t <= now) ? "%b %e %H:%M" : "%b %e  %Y",
             &tm);
    snprintf(out, size, "%s %4lu %-8u %-8u %8llu %s %s", m, (unsigned long)st->st_nlink,
             map_id(s->o.uid_map, s->o.n_uid_map, st->st_uid),
             map_id(s->o.gid_map, s->o.n_gid_map, st->st_gid), (unsigned long long)st->st_size,
             when, name);
}

/* ------------------------------------------------------------ handles */

static int handle_new(mb_sftp_server *s, int fd, DIR *dir)
{
    for (int i = 0; i < MAX_HANDLES; i++)
        if (s->h[i].fd < 0) {
            s->h[i].fd = fd;
            s->h[i].dir = dir;
            s->h[i].gen = ++s->gen;
            return i;
        }
    return -1;
}

static void put_handle(mb_sftp_server *s, struct out *o, int i)
{
    unsigned char c[8] = {i >> 24, i >> 16, i >> 8, i,
                          s->h[i].gen >> 24, s->h[i].gen >> 16, s->h[i].gen >> 8, s->h[i].gen};
    put_str(o, c, 8);
}

/* The handle named in the request, or NULL. */
static struct handle *get_handle(mb_sftp_server *s, struct msg *m, bool want_dir)
{
    uint32_t n;
    const unsigned char *c = get_str(m, &n);
    if (c == NULL || n != 8)
        return NULL;
    uint32_t i = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
    uint32_t gen = (uint32_t)c[4] << 24 | (uint32_t)c[5] << 16 | (uint32_t)c[6] << 8 | c[7];
    if (i >= MAX_HANDLES || s->h[i].fd < 0 || s->h[i].gen != gen
        || (s->h[i].dir != NULL) != want_dir)
        return NULL;
    return &s->h[i];
}

static void handle_close(struct handle *h)
{
    if (h->dir)
        closedir(h->dir); /* closes fd too */
    else if (h->fd >= 0)
        close(h->fd);
    h->dir = NULL;
    h->fd = -1;
}

/* ------------------------------------------------------------ operations */

/* Applies attrs to the file behind fd: an open file, or (path_fd) an O_PATH
 * descriptor reached through its /proc/self/fd link, which names exactly
 * that inode and cannot be redirected by a rename. 0 or an errno. */
static int apply_attrs(mb_sftp_server *s, int fd, bool path_fd, const struct attrs *a)
{
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (a->flags & ATTR_SIZE) {
        int r = path_fd ? truncate(proc, (off_t)a->size) : ftruncate(fd, (off_t)a->size);
        if (r != 0)
            return errno;
    }
    if (a->flags & ATTR_UIDGID) {
        uid_t u = unmap_id(s->o.uid_map, s->o.n_uid_map, a->uid);
        gid_t g = unmap_id(s->o.gid_map, s->o.n_gid_map, a->gid);
        if (fchownat(fd, "", u, g, AT_EMPTY_PATH) != 0)
            return errno;
    }
    if (a->flags & ATTR_PERMISSIONS) {
        int r = path_fd ? chmod(proc, a->perm & 07777) : fchmod(fd, a->perm & 07777);
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

static void op_open(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX];
    struct attrs a;
    get_path(m, path, sizeof path);
    uint32_t pf = get_u32(m);
    get_attrs(m, &a);
    if (m->bad)
        return;
    if (s->readonly && (pf & (FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC))) {
        reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int flags = (pf & FXF_READ) && (pf & FXF_WRITE) ? O_RDWR : (pf & FXF_WRITE) ? O_WRONLY
                                                                                : O_RDONLY;
    if (pf & FXF_APPEND)
        flags |= O_APPEND;
    if (pf & FXF_TRUNC)
        flags |= O_TRUNC;
    flags |= O_NOCTTY | O_NONBLOCK; /* a FIFO must not block the server */
    mode_t mode = (a.flags & ATTR_PERMISSIONS) ? (a.perm & 07777) : 0666;
    int fd = -1;
    bool created = false;
    if (pf & FXF_CREAT) {
        /* create exclusively first, so a new file gets exactly the mode asked for
         * (our umask does not apply to the guest's files) */
        for (int i = 0; i < 4 && fd < 0; i++) {
            fd = resolve(s, path, flags | O_CREAT | O_EXCL, mode, false);
            if (fd >= 0) {
                created = true;
                break;
            }
            if (errno != EEXIST || (pf & FXF_EXCL))
                break;
            fd = resolve(s, path, flags, 0, true);
            if (fd < 0 && errno != ENOENT)
                break;
        }
    } else {
        fd = resolve(s, path, flags, 0, true);
    }
    if (fd < 0) {
        reply_errno(o->b, id, errno, true, o);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        reply_status(o->b, id, FX_FAILURE, "not a regular file", o);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (created && (a.flags & ATTR_PERMISSIONS))
        fchmod(fd, mode);
    int h = handle_new(s, fd, NULL);
    if (h < 0) {
        close(fd);
        reply_status(o->b, id, FX_FAILURE, "too many open files", o);
        return;
    }
    begin(o, o->b, FXP_HANDLE, id, true);
    put_handle(s, o, h);
}

static void op_read(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = get_handle(s, m, false);
    uint64_t off = get_u64(m);
    uint32_t len = get_u32(m);
    if (m->bad)
        return;
    if (h == NULL) {
        reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    if (len > MAX_READ)
        len = MAX_READ;
    begin(o, o->b, FXP_DATA, id, true);
    put_u32(o, 0);
    if (o->oom || !reserve(o->b, len)) {
        o->oom = true;
        return;
    }
    ssize_t r;
    do
        r = pread(h->fd, o->b->data + o->b->len, len, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        int e = errno;
        o->b->len = o->start;
        if (r == 0)
            reply_status(o->b, id, FX_EOF, "end of file", o);
        else
            reply_errno(o->b, id, e, false, o);
        return;
    }
    unsigned char *n = o->b->data + o->b->len - 4;
    n[0] = (unsigned char)(r >> 24), n[1] = (unsigned char)(r >> 16);
    n[2] = (unsigned char)(r >> 8), n[3] = (unsigned char)r;
    o->b->len += (size_t)r;
}

static void op_write(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = get_handle(s, m, false);
    uint64_t off = get_u64(m);
    uint32_t len;
    const unsigned char *data = get_str(m, &len);
    if (m->bad)
        return;
    if (h == NULL) {
        reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    if (s->readonly) {
        reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    while (len > 0) {
        ssize_t w = pwrite(h->fd, data, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            reply_errno(o->b, id, w < 0 ? errno : ENOSPC, false, o);
            return;
        }
        data += w;
        off += (uint64_t)w;
        len -= (uint32_t)w;
    }
    reply_status(o->b, id, FX_OK, "", o);
}

static void reply_attrs(mb_sftp_server *s, uint32_t id, const struct stat *st, struct out *o)
{
    begin(o, o->b, FXP_ATTRS, id, true);
    put_attrs(s, o, st);
}

/* STAT follows a final symlink, LSTAT does not. */
static void op_stat(mb_sftp_server *s, struct msg *m, uint32_t id, bool follow, struct out *o)
{
    char path[PATH_MAX], buf[PATH_MAX];
    const char *name;
    struct stat st;
    get_path(m, path, sizeof path);
    if (m->bad)
        return;
    if (m->left >= 4)
        get_u32(m); /* v4+ clients add the attribute flags they want */
    int fd;
    if (!follow && (fd = resolve_parent(s, path, buf, sizeof buf, &name)) >= 0) {
        int r = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW);
        int e = errno;
        close(fd);
        if (r != 0) {
            reply_errno(o->b, id, e, true, o);
            return;
        }
    } else {
        if (!follow && errno != EINVAL) {
            reply_errno(o->b, id, errno, true, o);
            return;
        }
        fd = resolve(s, path, O_PATH, 0, true);
        if (fd < 0 || fstat(fd, &st) != 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            reply_errno(o->b, id, e, true, o);
            return;
        }
        close(fd);
    }
    reply_attrs(s, id, &st, o);
}

static void op_fstat(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = get_handle(s, m, false);
    if (m->bad)
        return;
    struct stat st;
    if (h == NULL) {
        reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
    } else if (fstat(h->fd, &st) != 0) {
        reply_errno(o->b, id, errno, false, o);
    } else {
        reply_attrs(s, id, &st, o);
    }
}

static void op_setstat(mb_sftp_server *s, struct msg *m, uint32_t id, bool by_handle,
                       struct out *o)
{
    char path[PATH_MAX];
    struct handle *h = NULL;
    struct attrs a;
    if (by_handle)
        h = get_handle(s, m, false);
    else
        get_path(m, path, sizeof path);
    get_attrs(m, &a);
    if (m->bad)
        return;
    if (s->readonly) {
        reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int e;
    if (by_handle) {
        if (h == NULL) {
            reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
            return;
        }
        e = apply_attrs(s, h->fd, false, &a);
    } else {
        int fd = resolve(s, path, O_PATH, 0, true);
        if (fd < 0) {
            reply_errno(o->b, id, errno, true, o);
            return;
        }
        e = apply_attrs(s, fd, true, &a);
        close(fd);
    }
    if (e)
        reply_errno(o->b, id, e, false, o);
    else
        reply_status(o->b, id, FX_OK, "", o);
}

static void op_opendir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX];
    get_path(m, path, sizeof path);
    if (m->bad)
        return;
    int fd = resolve(s, path, O_RDONLY | O_DIRECTORY, 0, true);
    if (fd < 0) {
        reply_errno(o->b, id, errno, true, o);
        return;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        reply_errno(o->b, id, e, false, o);
        return;
    }
    int h = handle_new(s, fd, d);
    if (h < 0) {
        closedir(d);
        reply_status(o->b, id, FX_FAILURE, "too many open files", o);
        return;
    }
    begin(o, o->b, FXP_HANDLE, id, true);
    put_handle(s, o, h);
}

static void op_readdir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    struct handle *h = get_handle(s, m, true);
    if (m->bad)
        return;
    if (h == NULL) {
        reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    begin(o, o->b, FXP_NAME, id, true);
    size_t count_at = o->b->len;
    put_u32(o, 0);
    uint32_t count = 0;
    struct stat self;
    bool have_self = fstat(h->fd, &self) == 0;
    while (count < READDIR_BATCH && !o->oom) {
        errno = 0;
        struct dirent *de = readdir(h->dir);
        if (de == NULL)
            break;
        struct stat st;
        if (strcmp(de->d_name, "..") == 0 && have_self && is_root(s, &self)) {
            st = self; /* nothing about the folder above the share */
        } else if (fstatat(h->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            continue; /* gone meanwhile */
        }
        char ln[NAME_MAX + 128];
        longname(s, ln, sizeof ln, &st, de->d_name);
        put_cstr(o, de->d_name);
        put_cstr(o, ln);
        put_attrs(s, o, &st);
        count++;
    }
    if (count == 0 && !o->oom) {
        int e = errno;
        o->b->len = o->start;
        if (e)
            reply_errno(o->b, id, e, false, o);
        else
            reply_status(o->b, id, FX_EOF, "end of directory", o);
        return;
    }
    if (!o->oom) {
        unsigned char *c = o->b->data + count_at;
        c[0] = (unsigned char)(count >> 24), c[1] = (unsigned char)(count >> 16);
        c[2] = (unsigned char)(count >> 8), c[3] = (unsigned char)count;
    }
}

static void op_close(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    uint32_t n;
    const unsigned char *c = get_str(m, &n);
    if (m->bad)
        return;
    struct msg again = {c - 4, n + 4, false};
    struct handle *h = get_handle(s, &again, false);
    if (h == NULL) {
        again = (struct msg){c - 4, n + 4, false};
        h = get_handle(s, &again, true);
    }
    if (h == NULL) {
        reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        return;
    }
    handle_close(h);
    reply_status(o->b, id, FX_OK, "", o);
}

/* REMOVE, RMDIR, MKDIR: on a name in its parent directory */
static void op_name(mb_sftp_server *s, struct msg *m, uint32_t id, int type, struct out *o)
{
    char path[PATH_MAX], buf[PATH_MAX];
    const char *name;
    struct attrs a = {0};
    get_path(m, path, sizeof path);
    if (type == FXP_MKDIR)
        get_attrs(m, &a);
    if (m->bad)
        return;
    if (s->readonly) {
        reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int dfd = resolve_parent(s, path, buf, sizeof buf, &name);
    if (dfd < 0) {
        reply_errno(o->b, id, errno, true, o);
        return;
    }
    int r;
    if (type == FXP_MKDIR) {
        mode_t mode = (a.flags & ATTR_PERMISSIONS) ? (a.perm & 07777) : 0777;
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
        reply_errno(o->b, id, e, false, o);
    else
        reply_status(o->b, id, FX_OK, "", o);
}

/* RENAME (no replace, as OpenSSH does), posix-rename, hardlink, SYMLINK */
enum two { TWO_RENAME, TWO_POSIX_RENAME, TWO_LINK, TWO_SYMLINK };

static void op_two(mb_sftp_server *s, struct msg *m, uint32_t id, enum two what, struct out *o)
{
    char from[PATH_MAX], to[PATH_MAX], b1[PATH_MAX], b2[PATH_MAX];
    const char *n1, *n2;
    get_path(m, from, sizeof from);
    get_path(m, to, sizeof to);
    if (m->bad)
        return;
    if (s->readonly) {
        reply_status(o->b, id, FX_PERMISSION_DENIED, "read-only share", o);
        return;
    }
    int d1 = -1, d2 = -1, r = -1, e = 0;
    /* SYMLINK: OpenSSH's order, the target first; the target is only text */
    if (what != TWO_SYMLINK && (d1 = resolve_parent(s, from, b1, sizeof b1, &n1)) < 0) {
        reply_errno(o->b, id, errno, true, o);
        return;
    }
    if ((d2 = resolve_parent(s, to, b2, sizeof b2, &n2)) < 0) {
        e = errno;
        if (d1 >= 0)
            close(d1);
        reply_errno(o->b, id, e, true, o);
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
        reply_errno(o->b, id, e, false, o);
    else
        reply_status(o->b, id, FX_OK, "", o);
}

static void reply_name(struct out *o, uint32_t id, const char *name)
{
    begin(o, o->b, FXP_NAME, id, true);
    put_u32(o, 1);
    put_cstr(o, name);
    put_cstr(o, name);
    put_u32(o, 0); /* no attributes */
}

static void op_readlink(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX], buf[PATH_MAX], target[PATH_MAX];
    const char *name;
    get_path(m, path, sizeof path);
    if (m->bad)
        return;
    int dfd = resolve_parent(s, path, buf, sizeof buf, &name);
    if (dfd < 0) {
        reply_errno(o->b, id, errno, true, o);
        return;
    }
    ssize_t n = readlinkat(dfd, name, target, sizeof target - 1);
    int e = errno;
    close(dfd);
    if (n < 0) {
        reply_errno(o->b, id, e, false, o);
        return;
    }
    target[n] = '\0';
    reply_name(o, id, target);
}

static void op_realpath(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    char path[PATH_MAX], abs[PATH_MAX], rel[PATH_MAX];
    get_path(m, path, sizeof path);
    if (m->bad)
        return;
    int fd = resolve(s, path, O_PATH, 0, true);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && path[0] != '/' && mb_sftp_path_normalize(path, rel, sizeof rel)) {
            reply_name(o, id, rel);
            return;
        }
        reply_errno(o->b, id, e == ENOENT ? E_OUTSIDE : e, true, o);
        return;
    }
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, abs, sizeof abs - 1);
    close(fd);
    if (n < 0) {
        reply_errno(o->b, id, errno, false, o);
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
    put_u64(o, v->f_bsize);
    put_u64(o, v->f_frsize);
    put_u64(o, v->f_blocks);
    put_u64(o, v->f_bfree);
    put_u64(o, v->f_bavail);
    put_u64(o, v->f_files);
    put_u64(o, v->f_ffree);
    put_u64(o, v->f_favail);
    put_u64(o, v->f_fsid);
    uint64_t flag = 0;
    if ((v->f_flag & ST_RDONLY) || s->readonly)
        flag |= 1; /* SSH2_FXE_STATVFS_ST_RDONLY */
    if (v->f_flag & ST_NOSUID)
        flag |= 2;
    put_u64(o, flag);
    put_u64(o, v->f_namemax);
}

static void op_extended(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o)
{
    uint32_t n;
    const unsigned char *name = get_str(m, &n);
    if (m->bad)
        return;
#define IS(x) (n == sizeof(x) - 1 && memcmp(name, x, n) == 0)
    if (IS("posix-rename@openssh.com")) {
        op_two(s, m, id, TWO_POSIX_RENAME, o);
    } else if (IS("hardlink@openssh.com")) {
        op_two(s, m, id, TWO_LINK, o);
    } else if (IS("statvfs@openssh.com") || IS("fstatvfs@openssh.com")) {
        struct statvfs v;
        int fd = -1, r;
        bool opened = false;
        if (IS("statvfs@openssh.com")) {
            char path[PATH_MAX];
            if (!get_path(m, path, sizeof path))
                return;
            fd = resolve(s, path, O_PATH, 0, true);
            if (fd < 0) {
                reply_errno(o->b, id, errno, true, o);
                return;
            }
            opened = true;
        } else {
            struct handle *h = get_handle(s, m, false);
            if (m->bad)
                return;
            if (h == NULL) {
                reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
                return;
            }
            fd = h->fd;
        }
        r = fstatvfs(fd, &v);
        int e = errno;
        if (opened)
            close(fd);
        if (r != 0) {
            reply_errno(o->b, id, e, false, o);
            return;
        }
        begin(o, o->b, FXP_EXTENDED_REPLY, id, true);
        put_statvfs(o, s, &v);
    } else if (IS("fsync@openssh.com")) {
        struct handle *h = get_handle(s, m, false);
        if (m->bad)
            return;
        if (h == NULL)
            reply_status(o->b, id, FX_FAILURE, "invalid handle", o);
        else if (fsync(h->fd) != 0)
            reply_errno(o->b, id, errno, false, o);
        else
            reply_status(o->b, id, FX_OK, "", o);
    } else if (IS("limits@openssh.com")) {
        begin(o, o->b, FXP_EXTENDED_REPLY, id, true);
        put_u64(o, MAX_PACKET);
        put_u64(o, MAX_READ);
        put_u64(o, MAX_PACKET - 1024);
        put_u64(o, MAX_HANDLES);
    } else {
        reply_status(o->b, id, FX_OP_UNSUPPORTED, "unsupported extension", o);
    }
#undef IS
}

/* ------------------------------------------------------------ the server */

mb_sftp_server *mb_sftp_server_new(const struct mb_sftp_server_opts *o, unsigned flags,
                                   mb_error **err)
{
    mb_sftp_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: out of memory");
        return NULL;
    }
    s->o = *o;
    s->o.root = NULL;
    s->readonly = o->readonly;
    s->r.walk = (flags & MB_SFTP_WALK) != 0;
    for (int i = 0; i < MAX_HANDLES; i++)
        s->h[i].fd = -1;
    s->r.fd = open(o->root ? o->root : "", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (s->r.fd < 0 || fstat(s->r.fd, &st) != 0) {
        mb_error_set_errno(err, errno, "sftp server: cannot open the shared folder %s",
                           o->root ? o->root : "(none)");
        mb_sftp_server_free(s);
        return NULL;
    }
    s->root_dev = st.st_dev;
    s->root_ino = st.st_ino;
    char proc[48];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", s->r.fd);
    ssize_t n = readlink(proc, s->root_path, sizeof s->root_path - 1);
    if (n <= 0) {
        mb_error_set_errno(err, errno, "sftp server: cannot read %s", proc);
        mb_sftp_server_free(s);
        return NULL;
    }
    s->root_path[n] = '\0';
    s->root_len = (size_t)n;
    return s;
}

void mb_sftp_server_free(mb_sftp_server *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < MAX_HANDLES; i++)
        handle_close(&s->h[i]);
    if (s->r.fd >= 0)
        close(s->r.fd);
    free(s);
}

bool mb_sftp_server_handle(mb_sftp_server *s, const unsigned char *pkt, size_t len,
                           struct mb_sftp_buf *outb, mb_error **err)
{
    struct msg m = {pkt + 1, len - 1, false};
    struct out o = {outb, outb->len, false};
    if (len < 1) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: empty packet");
        return false;
    }
    uint8_t type = pkt[0];
    if (type == FXP_INIT) {
        get_u32(&m); /* the client's version; we speak 3 */
        s->initialized = true;
        begin(&o, outb, FXP_VERSION, 0, false);
        put_u32(&o, 3);
        static const char *const ext[][2] = {
            {"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"},
            {"fstatvfs@openssh.com", "2"},     {"hardlink@openssh.com", "1"},
            {"fsync@openssh.com", "1"},        {"limits@openssh.com", "1"},
        };
        for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
            put_cstr(&o, ext[i][0]);
            put_cstr(&o, ext[i][1]);
        }
        return end_reply(&o, err);
    }
    uint32_t id = get_u32(&m);
    if (m.bad || !s->initialized) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: %s",
                     m.bad ? "short packet" : "request before INIT");
        return false;
    }
    switch (type) {
    case FXP_OPEN: op_open(s, &m, id, &o); break;
    case FXP_CLOSE: op_close(s, &m, id, &o); break;
    case FXP_READ: op_read(s, &m, id, &o); break;
    case FXP_WRITE: op_write(s, &m, id, &o); break;
    case FXP_LSTAT: op_stat(s, &m, id, false, &o); break;
    case FXP_STAT: op_stat(s, &m, id, true, &o); break;
    case FXP_FSTAT: op_fstat(s, &m, id, &o); break;
    case FXP_SETSTAT: op_setstat(s, &m, id, false, &o); break;
    case FXP_FSETSTAT: op_setstat(s, &m, id, true, &o); break;
    case FXP_OPENDIR: op_opendir(s, &m, id, &o); break;
    case FXP_READDIR: op_readdir(s, &m, id, &o); break;
    case FXP_REMOVE: case FXP_RMDIR: case FXP_MKDIR: op_name(s, &m, id, type, &o); break;
    case FXP_REALPATH: op_realpath(s, &m, id, &o); break;
    case FXP_RENAME: op_two(s, &m, id, TWO_RENAME, &o); break;
    case FXP_READLINK: op_readlink(s, &m, id, &o); break;
    case FXP_SYMLINK: op_two(s, &m, id, TWO_SYMLINK, &o); break;
    case FXP_EXTENDED: op_extended(s, &m, id, &o); break;
    default: reply_status(outb, id, FX_OP_UNSUPPORTED, "unsupported request", &o); break;
    }
    if (m.bad) { /* a malformed request gets an answer; the stream goes on */
        outb->len = o.start;
        reply_status(outb, id, FX_BAD_MESSAGE, "malformed request", &o);
    }
    return end_reply(&o, err);
}

/* The serve loop never blocks on one direction while the other could move:
 * a peer that is busy writing requests may not read replies until we take
 * its requests, so input is read whenever it comes and replies wait in
 * memory (bounded by the client's own limit on requests in flight). */
#define IN_MAX (64u << 20)
#define OUT_MAX (256u << 20)

bool mb_sftp_server_serve(mb_sftp_server *s, int in_fd, int out_fd, mb_error **err)
{
    size_t cap = 2u << 20, start = 0, end = 0, out_off = 0;
    unsigned char *in = malloc(cap);
    struct mb_sftp_buf out = {0};
    bool ok = false, eof = false;
    int in_fl = fcntl(in_fd, F_GETFL), out_fl = fcntl(out_fd, F_GETFL);
    if (in == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: out of memory");
        return false;
    }
    fcntl(in_fd, F_SETFL, in_fl | O_NONBLOCK);
    fcntl(out_fd, F_SETFL, out_fl | O_NONBLOCK);
    for (;;) {
        while (end - start >= 4) {
            const unsigned char *p = in + start;
            uint32_t len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8
                           | p[3];
            if (len == 0 || len > MAX_PACKET) {
                mb_error_set(err, MB_ERR_FAILED, "sftp server: bad packet length %u", len);
                goto cleanup;
            }
            if (end - start < 4 + (size_t)len)
                break;
            if (!mb_sftp_server_handle(s, p + 4, len, &out, err))
                goto cleanup;
            start += 4 + (size_t)len;
        }
        if (start == end) {
            start = end = 0;
        } else if (start > 0 && (end == cap || start > cap / 2)) {
            memmove(in, in + start, end - start);
            end -= start;
            start = 0;
        }
        while (out_off < out.len) {
            ssize_t w = write(out_fd, out.data + out_off, out.len - out_off);
            if (w > 0) {
                out_off += (size_t)w;
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            } else {
                mb_error_set_errno(err, errno, "sftp server: cannot send a reply");
                goto cleanup;
            }
        }
        if (out_off == out.len) {
            out.len = out_off = 0;
        } else if (out.len - out_off > OUT_MAX) {
            mb_error_set(err, MB_ERR_FAILED, "sftp server: the client does not read replies");
            goto cleanup;
        }
        if (eof) {
            if (out.len == 0) {
                ok = true;
                break;
            }
        } else {
            if (end == cap) {
                if (cap >= IN_MAX) {
                    mb_error_set(err, MB_ERR_FAILED, "sftp server: too many requests queued");
                    goto cleanup;
                }
                unsigned char *bigger = realloc(in, cap * 2);
                if (bigger == NULL) {
                    mb_error_set(err, MB_ERR_FAILED, "sftp server: out of memory");
                    goto cleanup;
                }
                in = bigger;
                cap *= 2;
            }
            ssize_t r = read(in_fd, in + end, cap - end);
            if (r > 0) {
                end += (size_t)r;
                continue;
            }
            if (r == 0) {
                eof = true;
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                mb_error_set_errno(err, errno, "sftp server: cannot read requests");
                goto cleanup;
            }
        }
        struct pollfd pf[2] = {{eof ? -1 : in_fd, POLLIN, 0}, {-1, POLLOUT, 0}};
        if (out.len > 0) {
            if (out_fd == in_fd && !eof)
                pf[0].events |= POLLOUT;
            else
                pf[1].fd = out_fd;
        }
        if (poll(pf, 2, -1) < 0 && errno != EINTR) {
            mb_error_set_errno(err, errno, "sftp server: poll failed");
            goto cleanup;
        }
    }
cleanup:
    fcntl(in_fd, F_SETFL, in_fl);
    fcntl(out_fd, F_SETFL, out_fl);
    free(in);
    mb_sftp_buf_free(&out);
    return ok;
}

bool mb_sftp_serve_fds(const struct mb_sftp_server_opts *o, int in_fd, int out_fd,
                       unsigned flags, mb_error **err)
{
    mb_sftp_server *s = mb_sftp_server_new(o, flags, err);
    if (s == NULL)
        return false;
    bool ok = mb_sftp_server_serve(s, in_fd, out_fd, err);
    mb_sftp_server_free(s);
    return ok;
}
