/* The SFTP v3 wire format for the server (sftp_server.c): the reply buffer
 * and writer, the request reader, attributes, and uid/gid maps. */
#include "sftp/sftp_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ replies */

void sftp_put(struct out *o, const void *p, size_t n)
{
    if (o->oom || !mb_strbuf_reserve(o->b, n)) {
        o->oom = true;
        return;
    }
    memcpy((unsigned char *)o->b->s + o->b->n, p, n);
    o->b->n += n;
}

void sftp_put_u8(struct out *o, uint8_t v) { sftp_put(o, &v, 1); }

void sftp_put_u32(struct out *o, uint32_t v)
{
    unsigned char c[4] = {v >> 24, v >> 16, v >> 8, v};
    sftp_put(o, c, 4);
}

void sftp_put_u64(struct out *o, uint64_t v)
{
    sftp_put_u32(o, (uint32_t)(v >> 32));
    sftp_put_u32(o, (uint32_t)v);
}

void sftp_put_str(struct out *o, const void *s, size_t n)
{
    sftp_put_u32(o, (uint32_t)n);
    sftp_put(o, s, n);
}

void sftp_put_cstr(struct out *o, const char *s) { sftp_put_str(o, s, strlen(s)); }

void sftp_begin(struct out *o, struct mb_strbuf *b, uint8_t type, uint32_t id, bool has_id)
{
    o->b = b;
    o->start = b->n;
    o->oom = false;
    sftp_put_u32(o, 0); /* length, filled in by end_reply */
    sftp_put_u8(o, type);
    if (has_id)
        sftp_put_u32(o, id);
}

bool sftp_end_reply(struct out *o, mb_error **err)
{
    if (o->oom) {
        o->b->n = o->start;
        mb_error_set(err, MB_ERR_FAILED, "sftp server: out of memory");
        return false;
    }
    uint32_t n = (uint32_t)(o->b->n - o->start - 4);
    unsigned char *p = (unsigned char *)o->b->s + o->start;
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
    return true;
}

/* ------------------------------------------------------------ requests */


uint32_t sftp_get_u32(struct msg *m)
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

uint64_t sftp_get_u64(struct msg *m)
{
    uint64_t hi = sftp_get_u32(m);
    return hi << 32 | sftp_get_u32(m);
}

const unsigned char *sftp_get_str(struct msg *m, uint32_t *len)
{
    uint32_t n = sftp_get_u32(m);
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
bool sftp_get_path(struct msg *m, char *buf, size_t size)
{
    uint32_t n;
    const unsigned char *s = sftp_get_str(m, &n);
    if (s == NULL || n >= size || memchr(s, '\0', n) != NULL) {
        m->bad = true;
        return false;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}


void sftp_get_attrs(struct msg *m, struct attrs *a)
{
    memset(a, 0, sizeof *a);
    a->flags = sftp_get_u32(m);
    if (a->flags & ATTR_SIZE)
        a->size = sftp_get_u64(m);
    if (a->flags & ATTR_UIDGID) {
        a->uid = sftp_get_u32(m);
        a->gid = sftp_get_u32(m);
    }
    if (a->flags & ATTR_PERMISSIONS)
        a->perm = sftp_get_u32(m);
    if (a->flags & ATTR_ACMODTIME) {
        a->atime = sftp_get_u32(m);
        a->mtime = sftp_get_u32(m);
    }
    if (a->flags & ATTR_EXTENDED) {
        uint32_t n = sftp_get_u32(m), len;
        for (uint32_t i = 0; i < n && !m->bad; i++) {
            sftp_get_str(m, &len);
            sftp_get_str(m, &len);
        }
    }
}
