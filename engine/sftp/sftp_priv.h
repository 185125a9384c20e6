/* What the SFTP server's three files share (private): the protocol's
 * numbers, the server and its handles, the reply writer and request reader
 * (sftp_wire.c), the confined paths, replies and handles (sftp_server.c), and
 * the operations (sftp_ops.c). */
#ifndef MB_SFTP_PRIV_H
#define MB_SFTP_PRIV_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sftp/sftp_path.h"
#include "sftp/sftp_server.h"

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
/* the mode bits a guest may set on host files: never setuid, setgid or
 * sticky (a guest root could otherwise plant a setuid-root program) */
#define GUEST_MODE_BITS 0777
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

enum two { TWO_RENAME, TWO_POSIX_RENAME, TWO_LINK, TWO_SYMLINK };

/* sftp_wire.c: replies are written with these; a reply is checked once, in
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
uint32_t sftp_map_id(const struct mb_sftp_idmap *map, size_t n, uint32_t host);
uint32_t sftp_unmap_id(const struct mb_sftp_idmap *map, size_t n, uint32_t guest);

/* sftp_server.c */
int sftp_resolve(mb_sftp_server *s, const char *path, int flags, mode_t mode, bool follow);
int sftp_resolve_parent(mb_sftp_server *s, const char *path, char *buf, size_t size,
                        const char **name);
bool sftp_is_root(mb_sftp_server *s, const struct stat *st);
void sftp_reply_status(struct mb_strbuf *b, uint32_t id, uint32_t code, const char *msg,
                       struct out *o);
void sftp_reply_errno(struct mb_strbuf *b, uint32_t id, int e, bool outside,
                      struct out *o);
void sftp_put_attrs(mb_sftp_server *s, struct out *o, const struct stat *st);
void sftp_longname(mb_sftp_server *s, char *out, size_t size, const struct stat *st,
                   const char *name);
int sftp_handle_new(mb_sftp_server *s, int fd, DIR *dir);
void sftp_put_handle(mb_sftp_server *s, struct out *o, int i);
struct handle *sftp_get_handle(mb_sftp_server *s, struct msg *m, bool want_dir);
void sftp_handle_close(struct handle *h);

/* sftp_ops.c: one per request type */
void sftp_op_open(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_read(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_write(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_stat(mb_sftp_server *s, struct msg *m, uint32_t id, bool follow, struct out *o);
void sftp_op_fstat(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_setstat(mb_sftp_server *s, struct msg *m, uint32_t id, bool by_handle,
                     struct out *o);
void sftp_op_opendir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_readdir(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_close(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_name(mb_sftp_server *s, struct msg *m, uint32_t id, int type, struct out *o);
void sftp_op_two(mb_sftp_server *s, struct msg *m, uint32_t id, enum two what, struct out *o);
void sftp_op_readlink(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_realpath(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);
void sftp_op_extended(mb_sftp_server *s, struct msg *m, uint32_t id, struct out *o);

#endif
