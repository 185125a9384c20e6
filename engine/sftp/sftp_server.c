/* The SFTP v3 server behind classic mounts (see sftp_server.h): opening the
 * shared folder, each request handed to its operation (sftp_ops.c), and the
 * serve loop: one request at a time, replies batched until the input runs
 * dry. The server's state and what the operations share with it are in
 * sftp_session.c, the wire format in sftp_wire.c. */
#include "sftp/sftp_server.h"
#include "sftp/sftp_ops.h"
#include "sftp/sftp_session.h"
#include "sftp/sftp_wire.h"

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

/* ------------------------------------------------------------ the server */

mb_sftp_server *mb_sftp_server_new(const struct mb_sftp_server_opts *o, unsigned flags,
                                   mb_error **err)
{
    mb_sftp_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: out of memory");
        return NULL;
    }
    memcpy(s->uid_map, o->uid_map, sizeof s->uid_map);
    memcpy(s->gid_map, o->gid_map, sizeof s->gid_map);
    s->n_uid_map = o->n_uid_map;
    s->n_gid_map = o->n_gid_map;
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
        sftp_handle_close(&s->h[i]);
    if (s->r.fd >= 0)
        close(s->r.fd);
    free(s);
}

bool mb_sftp_server_handle(mb_sftp_server *s, const unsigned char *pkt, size_t len,
                           struct mb_strbuf *outb, mb_error **err)
{
    struct msg m = {pkt + 1, len - 1, false};
    struct out o = {outb, outb->n, false};
    if (len < 1) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: empty packet");
        return false;
    }
    uint8_t type = pkt[0];
    if (type == FXP_INIT) {
        sftp_get_u32(&m); /* the client's version; we speak 3 */
        s->initialized = true;
        sftp_begin(&o, outb, FXP_VERSION, 0, false);
        sftp_put_u32(&o, 3);
        static const char *const ext[][2] = {
            {"posix-rename@openssh.com", "1"}, {"statvfs@openssh.com", "2"},
            {"fstatvfs@openssh.com", "2"},     {"hardlink@openssh.com", "1"},
            {"fsync@openssh.com", "1"},        {"limits@openssh.com", "1"},
        };
        for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
            sftp_put_cstr(&o, ext[i][0]);
            sftp_put_cstr(&o, ext[i][1]);
        }
        return sftp_end_reply(&o, err);
    }
    uint32_t id = sftp_get_u32(&m);
    if (m.bad || !s->initialized) {
        mb_error_set(err, MB_ERR_FAILED, "sftp server: %s",
                     m.bad ? "short packet" : "request before INIT");
        return false;
    }
    switch (type) {
    case FXP_OPEN: sftp_op_open(s, &m, id, &o); break;
    case FXP_CLOSE: sftp_op_close(s, &m, id, &o); break;
    case FXP_READ: sftp_op_read(s, &m, id, &o); break;
    case FXP_WRITE: sftp_op_write(s, &m, id, &o); break;
    case FXP_LSTAT: sftp_op_stat(s, &m, id, false, &o); break;
    case FXP_STAT: sftp_op_stat(s, &m, id, true, &o); break;
    case FXP_FSTAT: sftp_op_fstat(s, &m, id, &o); break;
    case FXP_SETSTAT: sftp_op_setstat(s, &m, id, false, &o); break;
    case FXP_FSETSTAT: sftp_op_setstat(s, &m, id, true, &o); break;
    case FXP_OPENDIR: sftp_op_opendir(s, &m, id, &o); break;
    case FXP_READDIR: sftp_op_readdir(s, &m, id, &o); break;
    case FXP_REMOVE: case FXP_RMDIR: case FXP_MKDIR: sftp_op_name(s, &m, id, type, &o); break;
    case FXP_REALPATH: sftp_op_realpath(s, &m, id, &o); break;
    case FXP_RENAME: sftp_op_two(s, &m, id, TWO_RENAME, &o); break;
    case FXP_READLINK: sftp_op_readlink(s, &m, id, &o); break;
    case FXP_SYMLINK: sftp_op_two(s, &m, id, TWO_SYMLINK, &o); break;
    case FXP_EXTENDED: sftp_op_extended(s, &m, id, &o); break;
    default: sftp_reply_status(outb, id, FX_OP_UNSUPPORTED, "unsupported request", &o); break;
    }
    if (m.bad) { /* a malformed request gets an answer; the stream goes on */
        outb->n = o.start;
        sftp_reply_status(outb, id, FX_BAD_MESSAGE, "malformed request", &o);
    }
    return sftp_end_reply(&o, err);
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
    struct mb_strbuf out = {0};
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
        while (out_off < out.n) {
            ssize_t w = write(out_fd, out.s + out_off, out.n - out_off);
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
        if (out_off == out.n) {
            out.n = out_off = 0;
        } else if (out.n - out_off > OUT_MAX) {
            mb_error_set(err, MB_ERR_FAILED, "sftp server: the client does not read replies");
            goto cleanup;
        }
        if (eof) {
            if (out.n == 0) {
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
        if (out.n > 0) {
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
    mb_strbuf_free(&out);
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
