/* SFTP over an mb_ssh session (non-blocking, like the rest): file copies both
 * ways with large pipelined reads and writes, small files from and to memory,
 * stat, mkdir and readdir. Recursive copies are built on these in Lua. */
#include "ssh/ssh.h"
#include "ssh/ssh_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libssh2 turns one big write into many 30000-byte SFTP requests in flight;
 * a few MB keeps a local link busy without holding much memory. */
#define PUT_BUFFER (4u << 20)
#define GET_BUFFER (2u << 20)

static const char *sftp_status_name(unsigned long e)
{
    static const char *const names[] = {
        "ok", "end of file", "no such file", "permission denied", "failure",
        "bad message", "no connection", "connection lost", "operation unsupported",
        "invalid handle", "no such path", "file already exists", "write protected",
        "no media", "no space left on the file system", "quota exceeded",
        "unknown principal", "lock conflict", "directory not empty", "not a directory",
        "invalid file name", "link loop",
    };
    return e < sizeof names / sizeof names[0] ? names[e] : "error";
}

static void sftp_fail(mb_ssh *s, const char *what, const char *path, mb_error **err)
{
    char buf[600];
    if (!s->lost && libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_SFTP_PROTOCOL
        && s->sftp) {
        unsigned long e = libssh2_sftp_last_error(s->sftp);
        enum mb_error_code code = e == LIBSSH2_FX_NO_SUCH_FILE || e == LIBSSH2_FX_NO_SUCH_PATH
                                      ? MB_ERR_NOT_FOUND
                                  : e == LIBSSH2_FX_FILE_ALREADY_EXISTS ? MB_ERR_EXISTS
                                                                        : MB_ERR_IO;
        mb_error_set(err, code, "ssh: cannot %s %s on %s: %s", what, path, s->desc,
                     sftp_status_name(e));
        return;
    }
    snprintf(buf, sizeof buf, "%s %.500s", what, path);
    mb_ssh_fail(s, MB_ERR_FAILED, buf, err);
}

static bool sftp_ready(mb_ssh *s, mb_error **err)
{
    if (!mb_ssh_check_alive(s, err))
        return false;
    while (s->sftp == NULL) {
        s->sftp = libssh2_sftp_init(s->session);
        if (s->sftp != NULL)
            break;
        if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN) {
            mb_ssh_fail(s, MB_ERR_FAILED, "start SFTP (is the sftp subsystem enabled?)", err);
            return false;
        }
        if (!mb_ssh_wait(s, -1, "the SFTP subsystem", err))
            return false;
    }
    return true;
}

static LIBSSH2_SFTP_HANDLE *sftp_open(mb_ssh *s, const char *path, unsigned long flags,
                                      long mode, int type, const char *what, mb_error **err)
{
    if (!sftp_ready(s, err))
        return NULL;
    for (;;) {
        LIBSSH2_SFTP_HANDLE *h =
            libssh2_sftp_open_ex(s->sftp, path, (unsigned)strlen(path), flags, mode, type);
        if (h != NULL)
            return h;
        if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN) {
            sftp_fail(s, what, path, err);
            return NULL;
        }
        if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
            return NULL;
    }
}

static bool sftp_close(mb_ssh *s, LIBSSH2_SFTP_HANDLE *h, const char *path, mb_error **err)
{
    int rc;
    if (h == NULL)
        return true;
    while ((rc = libssh2_sftp_close_handle(h)) == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
            return false;
    if (rc != 0) {
        sftp_fail(s, "close", path, err);
        return false;
    }
    return true;
}

static void from_attrs(const LIBSSH2_SFTP_ATTRIBUTES *a, struct mb_ssh_stat *st)
{
    memset(st, 0, sizeof *st);
    unsigned long m = a->permissions;
    const char *type = "other";
    if (a->flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) {
        type = LIBSSH2_SFTP_S_ISREG(m)    ? "file"
               : LIBSSH2_SFTP_S_ISDIR(m)  ? "directory"
               : LIBSSH2_SFTP_S_ISLNK(m)  ? "link"
               : LIBSSH2_SFTP_S_ISSOCK(m) ? "socket"
               : LIBSSH2_SFTP_S_ISFIFO(m) ? "fifo"
                                          : "other";
        st->mode = (unsigned)(m & 07777);
    }
    snprintf(st->type, sizeof st->type, "%s", type);
    if (a->flags & LIBSSH2_SFTP_ATTR_SIZE)
        st->size = a->filesize;
    if (a->flags & LIBSSH2_SFTP_ATTR_UIDGID) {
        st->uid = (unsigned)a->uid;
        st->gid = (unsigned)a->gid;
    }
    if (a->flags & LIBSSH2_SFTP_ATTR_ACMODTIME) {
        st->mtime = (int64_t)a->mtime;
        st->atime = (int64_t)a->atime;
    }
}

/* Writes fd's contents (or data/len when fd < 0) to remote, then sets its
 * mode and, with times, its atime/mtime. */
static bool upload(mb_ssh *s, int fd, const char *data, size_t len, const char *remote,
                   unsigned mode, const struct stat *times, mb_error **err)
{
    bool ok = false;
    char *buf = NULL;
    LIBSSH2_SFTP_HANDLE *h = sftp_open(
        s, remote, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC, (long)mode,
        LIBSSH2_SFTP_OPENFILE, "create", err);
    if (h == NULL)
        return false;
    size_t have = 0, sent = 0, cap = PUT_BUFFER;
    bool eof = fd < 0;
    const char *base = data;
    if (fd >= 0) {
        buf = malloc(cap);
        if (buf == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "out of memory");
            goto cleanup;
        }
        base = buf;
    }
    for (;;) {
        /* top the buffer up; libssh2 only needs the unacknowledged bytes to
         * stay at the front of what we pass next time */
        if (!eof && have - sent < cap / 2) {
            memmove(buf, buf + sent, have - sent);
            have -= sent;
            sent = 0;
            while (!eof && have < cap) {
                ssize_t r = read(fd, buf + have, cap - have);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0) {
                    mb_error_set_errno(err, errno, "ssh: cannot read the local file for %s",
                                       remote);
                    goto cleanup;
                }
                if (r == 0)
                    eof = true;
                have += (size_t)r;
            }
        }
        if (fd < 0) /* from memory: as much in flight as from a file */
            have = len - sent > cap ? sent + cap : len;
        if (sent == have)
            break;
        ssize_t n = libssh2_sftp_write(h, base + sent, have - sent);
        if (n == LIBSSH2_ERROR_EAGAIN) {
            if (!mb_ssh_wait(s, -1, "SFTP write acknowledgements", err))
                goto cleanup;
            continue;
        }
        if (n < 0) {
            sftp_fail(s, "write", remote, err);
            goto cleanup;
        }
        sent += (size_t)n;
    }
    LIBSSH2_SFTP_ATTRIBUTES attrs;
    memset(&attrs, 0, sizeof attrs);
    attrs.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS;
    attrs.permissions = mode & 07777;
    if (times) {
        attrs.flags |= LIBSSH2_SFTP_ATTR_ACMODTIME;
        attrs.atime = (unsigned long)times->st_atim.tv_sec;
        attrs.mtime = (unsigned long)times->st_mtim.tv_sec;
    }
    int rc;
    while ((rc = libssh2_sftp_fsetstat(h, &attrs)) == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
            goto cleanup;
    if (rc != 0) {
        sftp_fail(s, "set the mode/times of", remote, err);
        goto cleanup;
    }
    ok = true;

cleanup:
    free(buf);
    if (!sftp_close(s, h, remote, ok ? err : NULL))
        ok = false;
    return ok;
}

bool mb_ssh_put(mb_ssh *s, const char *local_path, const char *remote_path, int mode,
                unsigned flags, mb_error **err)
{
    int fd = open(local_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        mb_error_set_errno(err, errno, "ssh: cannot read %s", local_path);
        if (fd >= 0)
            close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        mb_error_set(err, MB_ERR_USAGE, "ssh: %s is not a regular file", local_path);
        close(fd);
        return false;
    }
    unsigned m = mode >= 0                      ? (unsigned)mode
                 : (flags & MB_SSH_PRESERVE) ? (unsigned)(st.st_mode & 07777)
                                             : 0644;
    bool ok = upload(s, fd, NULL, 0, remote_path, m, (flags & MB_SSH_PRESERVE) ? &st : NULL,
                     err);
    close(fd);
    return ok;
}

bool mb_ssh_put_data(mb_ssh *s, const void *data, size_t len, const char *remote_path,
                     int mode, unsigned flags, mb_error **err)
{
    return upload(s, -1, data, len, remote_path, mode >= 0 ? (unsigned)mode : 0644, NULL, err);
}

/* Reads the open remote file h to fd or, when fd < 0, into out. */
static bool download(mb_ssh *s, LIBSSH2_SFTP_HANDLE *h, const char *remote, int fd,
                     struct mb_strbuf *out, mb_error **err)
{
    char *buf = malloc(GET_BUFFER);
    bool ok = false;
    if (buf == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "out of memory");
        return false;
    }
    for (;;) {
        ssize_t n = libssh2_sftp_read(h, buf, GET_BUFFER);
        if (n == LIBSSH2_ERROR_EAGAIN) {
            if (!mb_ssh_wait(s, -1, "SFTP data", err))
                goto cleanup;
            continue;
        }
        if (n < 0) {
            sftp_fail(s, "read", remote, err);
            goto cleanup;
        }
        if (n == 0)
            break;
        if (fd >= 0) {
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(fd, buf + off, (size_t)(n - off));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0) {
                    mb_error_set_errno(err, errno, "ssh: cannot write the copy of %s", remote);
                    goto cleanup;
                }
                off += w;
            }
        } else if (!mb_strbuf_addn(out, buf, (size_t)n)) {
            mb_error_set(err, MB_ERR_FAILED, "out of memory reading %s", remote);
            goto cleanup;
        }
    }
    ok = true;

cleanup:
    free(buf);
    return ok;
}

static bool fstat_remote(mb_ssh *s, LIBSSH2_SFTP_HANDLE *h, const char *path,
                         LIBSSH2_SFTP_ATTRIBUTES *attrs, mb_error **err)
{
    int rc;
    while ((rc = libssh2_sftp_fstat(h, attrs)) == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
            return false;
    if (rc != 0) {
        sftp_fail(s, "stat", path, err);
        return false;
    }
    return true;
}

bool mb_ssh_get(mb_ssh *s, const char *remote_path, const char *local_path, unsigned flags,
                mb_error **err)
{
    static unsigned counter;
    bool ok = false;
    int fd = -1;
    char tmp[4096] = "";
    LIBSSH2_SFTP_ATTRIBUTES attrs;
    LIBSSH2_SFTP_HANDLE *h =
        sftp_open(s, remote_path, LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE, "open", err);
    if (h == NULL)
        return false;
    if (!fstat_remote(s, h, remote_path, &attrs, err))
        goto cleanup;
    if ((attrs.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)
        && !LIBSSH2_SFTP_S_ISREG(attrs.permissions)) {
        mb_error_set(err, MB_ERR_USAGE, "ssh: %s on %s is not a regular file", remote_path,
                     s->desc);
        goto cleanup;
    }
    char *d = strdup(local_path), *b = strdup(local_path);
    int n = d && b ? snprintf(tmp, sizeof tmp, "%s/.%s.part.%d.%u", dirname(d), basename(b),
                              (int)getpid(), counter++)
                   : -1;
    free(d);
    free(b);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        mb_error_set(err, MB_ERR_USAGE, "ssh: path too long: %s", local_path);
        tmp[0] = '\0';
        goto cleanup;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); /* umask applies */
    if (fd < 0) {
        mb_error_set_errno(err, errno, "ssh: cannot write %s", local_path);
        tmp[0] = '\0';
        goto cleanup;
    }
    if (!download(s, h, remote_path, fd, NULL, err))
        goto cleanup;
    if (flags & MB_SSH_PRESERVE) {
        if (attrs.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)
            fchmod(fd, (mode_t)(attrs.permissions & 07777));
        if (attrs.flags & LIBSSH2_SFTP_ATTR_ACMODTIME) {
            struct timespec ts[2] = {{(time_t)attrs.atime, 0}, {(time_t)attrs.mtime, 0}};
            futimens(fd, ts);
        }
    }
    if (close(fd) != 0) {
        fd = -1;
        mb_error_set_errno(err, errno, "ssh: cannot write %s", local_path);
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, local_path) != 0) {
        mb_error_set_errno(err, errno, "ssh: cannot write %s", local_path);
        goto cleanup;
    }
    tmp[0] = '\0';
    ok = true;

cleanup:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    if (!sftp_close(s, h, remote_path, ok ? err : NULL))
        ok = false;
    return ok;
}

bool mb_ssh_get_data(mb_ssh *s, const char *remote_path, struct mb_strbuf *out,
                     unsigned flags, mb_error **err)
{
    LIBSSH2_SFTP_HANDLE *h =
        sftp_open(s, remote_path, LIBSSH2_FXF_READ, 0, LIBSSH2_SFTP_OPENFILE, "open", err);
    if (h == NULL)
        return false;
    bool ok = download(s, h, remote_path, -1, out, err);
    if (!sftp_close(s, h, remote_path, ok ? err : NULL))
        ok = false;
    return ok;
}

bool mb_ssh_stat(mb_ssh *s, const char *remote_path, struct mb_ssh_stat *st, mb_error **err)
{
    LIBSSH2_SFTP_ATTRIBUTES attrs;
    int rc;
    if (!sftp_ready(s, err))
        return false;
    while ((rc = libssh2_sftp_stat_ex(s->sftp, remote_path, (unsigned)strlen(remote_path),
                                      LIBSSH2_SFTP_STAT, &attrs))
           == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
            return false;
    if (rc != 0) {
        sftp_fail(s, "stat", remote_path, err);
        return false;
    }
    from_attrs(&attrs, st);
    return true;
}

bool mb_ssh_mkdir(mb_ssh *s, const char *remote_path, int mode, mb_error **err)
{
    int rc;
    if (!sftp_ready(s, err))
        return false;
    while ((rc = libssh2_sftp_mkdir_ex(s->sftp, remote_path, (unsigned)strlen(remote_path),
                                       mode >= 0 ? mode : 0755))
           == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
            return false;
    if (rc != 0) {
        /* SFTP v3 says only "failure" for a directory that exists */
        bool failure = libssh2_session_last_errno(s->session) == LIBSSH2_ERROR_SFTP_PROTOCOL
                       && libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_FAILURE;
        struct mb_ssh_stat st;
        if (failure && mb_ssh_stat(s, remote_path, &st, NULL))
            mb_error_set(err, MB_ERR_EXISTS, "ssh: cannot create the directory %s on %s: "
                         "a %s of that name exists", remote_path, s->desc, st.type);
        else
            sftp_fail(s, "create the directory", remote_path, err);
        return false;
    }
    return true;
}

void mb_ssh_dirents_free(struct mb_ssh_dirent *d, size_t n)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(d[i].name);
    free(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct mb_ssh_dirent *)a)->name,
                  ((const struct mb_ssh_dirent *)b)->name);
}

struct mb_ssh_dirent *mb_ssh_readdir(mb_ssh *s, const char *remote_path, size_t *n,
                                     mb_error **err)
{
    struct mb_ssh_dirent *list = NULL;
    size_t cap = 0;
    bool ok = false;
    *n = 0;
    LIBSSH2_SFTP_HANDLE *h =
        sftp_open(s, remote_path, 0, 0, LIBSSH2_SFTP_OPENDIR, "list the directory", err);
    if (h == NULL)
        return NULL;
    for (;;) {
        char name[4096];
        LIBSSH2_SFTP_ATTRIBUTES attrs;
        int rc = libssh2_sftp_readdir_ex(h, name, sizeof name, NULL, 0, &attrs);
        if (rc == LIBSSH2_ERROR_EAGAIN) {
            if (!mb_ssh_wait(s, -1, "an SFTP reply", err))
                goto cleanup;
            continue;
        }
        if (rc < 0) {
            sftp_fail(s, "list the directory", remote_path, err);
            goto cleanup;
        }
        if (rc == 0)
            break;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            struct mb_ssh_dirent *p = realloc(list, ncap * sizeof *p);
            if (p == NULL) {
                mb_error_set(err, MB_ERR_FAILED, "out of memory");
                goto cleanup;
            }
            list = p;
            cap = ncap;
        }
        list[*n].name = strndup(name, (size_t)rc);
        if (list[*n].name == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "out of memory");
            goto cleanup;
        }
        from_attrs(&attrs, &list[*n].st);
        (*n)++;
    }
    if (*n > 1)
        qsort(list, *n, sizeof *list, by_name);
    ok = true;

cleanup:
    if (!sftp_close(s, h, remote_path, ok ? err : NULL))
        ok = false;
    if (!ok) {
        mb_ssh_dirents_free(list, *n);
        list = NULL;
        *n = 0;
    }
    return list;
}
