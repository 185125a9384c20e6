/* One SFTP server's state and what its operations share (see
 * sftp_session.h): confined paths, status replies, attributes, handles. */
#include "sftp/sftp_session.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ resolving */

int sftp_resolve(mb_sftp_server *s, const char *path, int flags, mode_t mode, bool follow)
{
    return mb_sftp_path_open(&s->r, path, flags, mode, follow);
}

int sftp_resolve_parent(mb_sftp_server *s, const char *path, char *buf, size_t size,
                        const char **name)
{
    return mb_sftp_path_parent(&s->r, path, buf, size, name);
}

bool sftp_is_root(mb_sftp_server *s, const struct stat *st)
{
    return st->st_dev == s->root_dev && st->st_ino == s->root_ino;
}

/* ------------------------------------------------------------ replies */

void sftp_reply_status(struct mb_strbuf *b, uint32_t id, uint32_t code, const char *msg,
                       struct out *o)
{
    sftp_begin(o, b, FXP_STATUS, id, true);
    sftp_put_u32(o, code);
    sftp_put_cstr(o, msg);
    sftp_put_cstr(o, "");
}

/* errno as a status; outside = the error came from resolving a path */
void sftp_reply_errno(struct mb_strbuf *b, uint32_t id, int e, bool outside,
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
    sftp_reply_status(b, id, code, msg, o);
}

void sftp_put_attrs(mb_sftp_server *s, struct out *o, const struct stat *st)
{
    sftp_put_u32(o, ATTR_SIZE | ATTR_UIDGID | ATTR_PERMISSIONS | ATTR_ACMODTIME);
    sftp_put_u64(o, (uint64_t)st->st_size);
    sftp_put_u32(o, sftp_map_id(s->uid_map, s->n_uid_map, st->st_uid));
    sftp_put_u32(o, sftp_map_id(s->gid_map, s->n_gid_map, st->st_gid));
    sftp_put_u32(o, st->st_mode);
    sftp_put_u32(o, (uint32_t)st->st_atime);
    sftp_put_u32(o, (uint32_t)st->st_mtime);
}

/* "drwxr-xr-x    2 1000     1000         4096 Jan  2 12:00 name", as ls -l */
void sftp_longname(mb_sftp_server *s, char *out, size_t size, const struct stat *st,
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
             sftp_map_id(s->uid_map, s->n_uid_map, st->st_uid),
             sftp_map_id(s->gid_map, s->n_gid_map, st->st_gid), (unsigned long long)st->st_size,
             when, name);
}

/* ------------------------------------------------------------ handles */

int sftp_handle_new(mb_sftp_server *s, int fd, DIR *dir)
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

void sftp_put_handle(mb_sftp_server *s, struct out *o, int i)
{
    unsigned char c[8] = {i >> 24, i >> 16, i >> 8, i,
                          s->h[i].gen >> 24, s->h[i].gen >> 16, s->h[i].gen >> 8, s->h[i].gen};
    sftp_put_str(o, c, 8);
}

/* The handle named in the request, or NULL. */
struct handle *sftp_get_handle(mb_sftp_server *s, struct msg *m, bool want_dir)
{
    uint32_t n;
    const unsigned char *c = sftp_get_str(m, &n);
    if (c == NULL || n != 8)
        return NULL;
    uint32_t i = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
    uint32_t gen = (uint32_t)c[4] << 24 | (uint32_t)c[5] << 16 | (uint32_t)c[6] << 8 | c[7];
    if (i >= MAX_HANDLES || s->h[i].fd < 0 || s->h[i].gen != gen
        || (s->h[i].dir != NULL) != want_dir)
        return NULL;
    return &s->h[i];
}

void sftp_handle_close(struct handle *h)
{
    if (h->dir)
        closedir(h->dir); /* closes fd too */
    else if (h->fd >= 0)
        close(h->fd);
    h->dir = NULL;
    h->fd = -1;
}
