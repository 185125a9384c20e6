/* One SFTP server's state (private to the server's files): its shared
 * folder, id maps and open handles, and what every operation needs from it:
 * paths resolved inside the folder (sftp_path.h), status replies, attributes
 * and handles (sftp_session.c). */
#ifndef MB_SFTP_SESSION_H
#define MB_SFTP_SESSION_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sftp/sftp_idmap.h"
#include "sftp/sftp_path.h"
#include "sftp/sftp_wire.h"

#define MAX_HANDLES 1024

#define E_OUTSIDE MB_SFTP_E_OUTSIDE

struct handle {
    int fd; /* -1: free */
    DIR *dir;
    uint32_t gen;
};

typedef struct mb_sftp_server mb_sftp_server;

struct mb_sftp_server {
    struct mb_sftp_root r;
    char root_path[PATH_MAX];
    size_t root_len;
    dev_t root_dev;
    ino_t root_ino;
    bool readonly, initialized;
    struct mb_sftp_idmap uid_map[MB_SFTP_MAX_MAP], gid_map[MB_SFTP_MAX_MAP];
    size_t n_uid_map, n_gid_map;
    struct handle h[MAX_HANDLES];
    uint32_t gen;
};

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

#endif
