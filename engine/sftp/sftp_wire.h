/* The SFTP v3 wire format, for the server's files (private): the protocol's
 * numbers, the reply writer and the request reader (sftp_wire.c). */
#ifndef MB_SFTP_WIRE_H
#define MB_SFTP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"

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

/* Writers never fail alone: a reply is checked once, in end_reply. */
struct out {
    struct mb_strbuf *b;
    size_t start;
    bool oom;
};

struct msg {
    const unsigned char *p;
    size_t left;
    bool bad;
};

struct attrs {
    uint32_t flags;
    uint64_t size;
    uint32_t uid, gid, perm, atime, mtime;
};

/* Replies are written with these; a reply is checked once, in
 * sftp_end_reply. Requests are read with sftp_get_*, which set m->bad. */
void sftp_put(struct out *o, const void *p, size_t n);
void sftp_put_u8(struct out *o, uint8_t v);
void sftp_put_u32(struct out *o, uint32_t v);
void sftp_put_u64(struct out *o, uint64_t v);
void sftp_put_str(struct out *o, const void *s, size_t n);
void sftp_put_cstr(struct out *o, const char *s);
void sftp_begin(struct out *o, struct mb_strbuf *b, uint8_t type, uint32_t id, bool has_id);
bool sftp_end_reply(struct out *o, mb_error **err);
uint32_t sftp_get_u32(struct msg *m);
uint64_t sftp_get_u64(struct msg *m);
const unsigned char *sftp_get_str(struct msg *m, uint32_t *len);
bool sftp_get_path(struct msg *m, char *buf, size_t size);
void sftp_get_attrs(struct msg *m, struct attrs *a);

#endif
