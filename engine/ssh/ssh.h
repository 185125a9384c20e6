/* The SSH layer (libssh2 + OpenSSL libcrypto): ed25519 keys in OpenSSH format,
 * sessions that verify the server's host key against an exact expected key,
 * channels pumped to file descriptors or memory with poll() in non-blocking
 * mode, interactive PTY shells, direct-tcpip forwards and SFTP transfers. */
#ifndef MB_SSH_H
#define MB_SSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"
#include "core/strbuf.h"

/* ---- probing ---- */

/* Connects to host:port and reads until the server's first line starts with
 * "SSH-" (true), the connection ends (MB_ERR_UNREACHABLE) or timeout_ms
 * passes (MB_ERR_TIMEOUT). Cheap to repeat while a guest boots: behind QEMU's
 * user networking a connection is accepted at once and then stays silent
 * until the guest answers, so only a short wait for the banner tells.
 * *how says which: "refused" (nothing listens), "closed" (accepted, then
 * closed: a guest that answers, without an SSH server yet), "silent", or
 * "unconnected": the TCP handshake did not finish within connect_ms (a guest
 * whose address is not up yet drops the first SYN, and the kernel would send
 * the next one only a second later: a new probe sends it at once).
 * again_ms > 0: a connection silent that long is joined by a new one (its SYN
 * reaches a guest that has just come up at once), while the earlier ones stay
 * open, up to four of them: an SSH server slow to answer (a guest under load
 * forking one per connection) answers one of them, where closing each for the
 * next would have it start again for every probe.
 * No libssh2: plain TCP connections, each read until its first four bytes. */
bool mb_ssh_probe(const char *host, int port, int timeout_ms, int connect_ms, int again_ms,
                  const char **how, mb_error **err);

/* ---- keys ---- */

/* A new ed25519 key pair: *private_pem gets the unencrypted OpenSSH private
 * key ("-----BEGIN OPENSSH PRIVATE KEY-----..."), *public_line the
 * "ssh-ed25519 AAAA... comment" line (no newline). Caller frees both. */
bool mb_ssh_keypair(const char *comment, char **private_pem, char **public_line,
                    mb_error **err);
/* Writes a new key pair: the private key at path (mode 0600) and the public
 * line at path.pub (0644), each atomically. Refuses (MB_ERR_EXISTS) to replace
 * an existing private key. Returns the public line; caller frees. */
char *mb_ssh_keygen(const char *path, const char *comment, mb_error **err);
/* "SHA256:<base64 without padding>" of a public key line, as ssh-keygen -l
 * prints it. Caller frees. */
char *mb_ssh_fingerprint(const char *public_line, mb_error **err);
/* Decodes "type base64 [comment]" into the key blob (which must start with
 * the same type name). Caller frees. */
unsigned char *mb_ssh_pubkey_decode(const char *public_line, size_t *len, mb_error **err);

/* ---- sessions ---- */

typedef struct mb_ssh mb_ssh;

struct mb_ssh_connect_opts {
    const char *host;     /* name or address */
    int port;             /* 0: 22 */
    const char *user;
    const char *key_path; /* private key file, or */
    const char *key_data; /* the private key text itself */
    const char *host_key; /* the one public key line the server must present */
    double timeout;       /* seconds for connect + handshake + auth, and for
                           * each later protocol wait; <= 0: 30 */
    const char *proxy;    /* NULL, or a shell command whose stdin and stdout reach the
                           * server, like OpenSSH's ProxyCommand (e.g. `ssh -W
                           * 127.0.0.1:2222 gateway`): run with /bin/sh -c instead of
                           * a TCP connection; host and port then name it in messages */
};

/* Connects, checks the host key (MB_ERR_HOSTKEY on mismatch, with a loud
 * message), authenticates (MB_ERR_AUTH). A refused, unreachable or at once
 * closed port fails with MB_ERR_UNREACHABLE, a silent one with MB_ERR_TIMEOUT:
 * both cheap to retry while a guest boots. */
mb_ssh *mb_ssh_connect(const struct mb_ssh_connect_opts *o, unsigned flags, mb_error **err);
/* Disconnects and frees; accepts NULL. */
void mb_ssh_close(mb_ssh *s);
/* "user@host:port", for messages. */
const char *mb_ssh_describe(const mb_ssh *s);
/* False once a call found the connection broken (every later call then fails
 * with MB_ERR_UNREACHABLE at once): time to connect again. */
bool mb_ssh_alive(const mb_ssh *s);

/* One remote command, its streams pumped until the remote side ends it. */
struct mb_ssh_exec {
    const char *command;         /* NULL: the user's login shell */
    int in_fd;                   /* read and sent as stdin; EOF -> channel EOF; */
    const char *in_data;         /*   or, when in_fd < 0, this (NULL: EOF at once) */
    size_t in_len;
    int out_fd, err_fd;          /* where stdout / stderr go; -1: out_buf/err_buf, */
    struct mb_strbuf *out_buf;  /*   or discarded when those are NULL too */
    struct mb_strbuf *err_buf;
    const char *const *env;      /* NULL-terminated "NAME=value" list, or NULL */
    bool pty;                    /* request a PTY (stderr then merges into stdout) */
    const char *term;            /* with pty; NULL: "xterm-256color" */
    int cols, rows;              /* with pty; 0: the local terminal's, else 80x24 */
    int resize_fd;               /* with pty: "winch COLS ROWS\n" lines read from this fd
                                  * resize the remote PTY (the agent's client socket);
                                  * -1, or 0 as in a zeroed struct: none */
};

enum mb_ssh_exec_flags {
    /* With pty: a local terminal on in_fd goes into raw mode (always restored),
     * and SIGWINCH copies the local size to the remote PTY. */
    MB_SSH_EXEC_INTERACTIVE = 1 << 0,
};

/* Runs x on a new channel; returns the remote exit status (a signal n gives
 * 128+n), or -1 with *err set. Local fds are used as they are (blocking or
 * not); SIGPIPE is held back while it runs, a closed output ends the command. */
int mb_ssh_exec(mb_ssh *s, const struct mb_ssh_exec *x, unsigned flags, mb_error **err);
/* An interactive login shell on fds 0/1: PTY, raw mode, SIGWINCH. */
int mb_ssh_shell(mb_ssh *s, const char *term, int cols, int rows, unsigned flags,
                 mb_error **err);
/* Opens a direct-tcpip channel to host:port as seen from the server and pumps
 * it to fd (a connected socket) both ways; each side's EOF is passed on
 * (channel EOF / shutdown(SHUT_WR)) and it returns when both have ended. */
bool mb_ssh_forward_tcp(mb_ssh *s, const char *host, int port, int fd, unsigned flags,
                        mb_error **err);

/* ---- SFTP ---- */

struct mb_ssh_stat {
    char type[12];      /* "file", "directory", "link", "socket", "fifo", "other" */
    uint64_t size;
    unsigned mode;      /* permission bits (07777) */
    unsigned uid, gid;
    int64_t mtime, atime;
};

struct mb_ssh_dirent {
    char *name;
    struct mb_ssh_stat st;
};

enum mb_ssh_copy_flags {
    MB_SSH_PRESERVE = 1 << 0, /* copy the mode and the mtime/atime */
};

/* Copies a local file to remote_path (created or truncated). mode < 0: the
 * local file's mode with MB_SSH_PRESERVE, else 0644. */
bool mb_ssh_put(mb_ssh *s, const char *local_path, const char *remote_path, int mode,
                unsigned flags, mb_error **err);
/* Copies a remote file to local_path (written to a temporary file, renamed). */
bool mb_ssh_get(mb_ssh *s, const char *remote_path, const char *local_path, unsigned flags,
                mb_error **err);
bool mb_ssh_put_data(mb_ssh *s, const void *data, size_t len, const char *remote_path,
                     int mode, unsigned flags, mb_error **err);
/* Appends the remote file's contents to out. */
bool mb_ssh_get_data(mb_ssh *s, const char *remote_path, struct mb_strbuf *out,
                     unsigned flags, mb_error **err);
/* Follows symlinks. */
bool mb_ssh_stat(mb_ssh *s, const char *remote_path, struct mb_ssh_stat *st, mb_error **err);
bool mb_ssh_mkdir(mb_ssh *s, const char *remote_path, int mode, mb_error **err);
/* Entries without "." and "..", sorted by name; *n gets their count. Free
 * with mb_ssh_dirents_free. Returns NULL with *n == 0 for an empty directory
 * only when err stays NULL. */
struct mb_ssh_dirent *mb_ssh_readdir(mb_ssh *s, const char *remote_path, size_t *n,
                                     mb_error **err);
void mb_ssh_dirents_free(struct mb_ssh_dirent *d, size_t n);

#endif
