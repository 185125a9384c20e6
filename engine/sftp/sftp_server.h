/* An SFTP v3 server confined to one directory: the host side of "classic"
 * mounts (sshfs -o slave in the guest speaks SFTP on its stdin/stdout, the
 * agent pumps that channel to this server). It speaks the subset sshfs and
 * OpenSSH's sftp use, with OpenSSH's extensions (posix-rename, statvfs,
 * fstatvfs, hardlink, fsync, limits).
 *
 * Confinement: paths are relative to the shared folder ("." is its root);
 * absolute paths, ".." that leaves the folder and symlinks that point outside
 * it (absolute ones included) are refused with SSH_FX_PERMISSION_DENIED.
 * Paths are resolved by the kernel with openat2(RESOLVE_BENEATH) where it
 * exists (Linux >= 5.6), else by walking one component at a time with
 * O_NOFOLLOW and expanding symlinks here; never with realpath(), so a rename
 * racing a request cannot lead it outside. Symlinks themselves are shown and
 * created as they are (the guest resolves them in its own namespace).
 * A read-only server refuses every request that would change the folder. */
#ifndef MB_SFTP_SERVER_H
#define MB_SFTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "sftp/sftp_idmap.h"

struct mb_sftp_server_opts {
    const char *root;           /* the shared folder (must be a directory) */
    bool readonly;
    struct mb_sftp_idmap uid_map[MB_SFTP_MAX_MAP];
    size_t n_uid_map;
    struct mb_sftp_idmap gid_map[MB_SFTP_MAX_MAP];
    size_t n_gid_map;
};

enum mb_sftp_server_flags {
    /* resolve paths by walking components even where openat2 exists (tests) */
    MB_SFTP_WALK = 1 << 0,
};

typedef struct mb_sftp_server mb_sftp_server;

/* Opens the root; fails when it is not a directory we can open. */
mb_sftp_server *mb_sftp_server_new(const struct mb_sftp_server_opts *o, unsigned flags,
                                   mb_error **err);
void mb_sftp_server_free(mb_sftp_server *s);

/* Handles one request: pkt is a packet without its uint32 length (type byte
 * first). The framed reply (length included) is appended to out. False, with
 * *err set, on a broken protocol (the connection should end). */
bool mb_sftp_server_handle(mb_sftp_server *s, const unsigned char *pkt, size_t len,
                           struct mb_strbuf *out, mb_error **err);

/* Serves requests read from in_fd, replies written to out_fd (they may be
 * the same socket), until in_fd reaches EOF and every reply is out (true) or
 * a protocol or I/O error (false with *err). Both fds are non-blocking while
 * it runs: requests are taken whenever they come, even while replies wait,
 * so a peer that writes before it reads (one pump thread) cannot deadlock. */
bool mb_sftp_server_serve(mb_sftp_server *s, int in_fd, int out_fd, mb_error **err);

/* new + serve + free, for callers that load the plugin by symbol. */
bool mb_sftp_serve_fds(const struct mb_sftp_server_opts *o, int in_fd, int out_fd,
                       unsigned flags, mb_error **err);

#endif
