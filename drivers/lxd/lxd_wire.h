/* How the LXD client (lxd_client.c, in the binary) reaches LXD: this host's
 * LXD through its unix socket with a small HTTP/1.1 client of its own
 * (lxd_http.c), and what needs libcurl or OpenSSL (HTTPS to a remote LXD, the
 * multipart image upload, certificates, trust) in the plugin
 * (drivers/lxd/tls/), reached through one table of functions. A command that
 * only talks to this host's LXD (list, info, exec's state check) never loads
 * the plugin and the ~30 libraries libcurl brings. */
#ifndef MB_LXD_WIRE_H
#define MB_LXD_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "drivers/lxd/lxd_client.h"

/* Where and how: shared by both transports. */
struct mb_lxd_wire {
    char *socket; /* LXD's unix socket, or NULL for url */
    char *base;   /* "http://lxd" (unix socket) or the URL without a trailing slash */
    char *where;  /* "the LXD at ...", for messages */
    char *pin;    /* "sha256//BASE64" of the server's public key, or NULL */
    char *cert, *key;
    double timeout;
};

/* One answer: its HTTP status and body (NUL-terminated, caller frees). */
struct mb_lxd_reply {
    long status;
    char *body;
    size_t len;
};

/* How c reaches its LXD (borrowed). */
const struct mb_lxd_wire *mb_lxd_wire_of(const struct mb_lxd *c);

/* Answers larger than this are refused. */
#define MB_LXD_MAX_BODY ((size_t)64 << 20)

/* ---- the built-in client (lxd_http.c): HTTP/1.1 over a unix socket ---- */

struct mb_lxd_http {
    int fd;            /* a kept-alive connection, or -1 */
    char *ahead;       /* the path of a GET sent ahead on fd, its answer not read yet */
    bool ahead_reused; /* fd was kept from before when it was sent */
};

/* One request (payload: JSON text or NULL) and its whole answer; the
 * connection is kept for the next one when the server allows. No answer at
 * all is MB_ERR_UNREACHABLE, a slow one MB_ERR_TIMEOUT, as the curl side
 * says them. */
bool mb_lxd_http_exchange(struct mb_lxd_http *h, const struct mb_lxd_wire *w,
                          const char *method, const char *path, const char *payload,
                          double timeout, struct mb_lxd_reply *out, mb_error **err);
void mb_lxd_http_close(struct mb_lxd_http *h);
/* Sends GET path now and leaves its answer to be read by the exchange that
 * asks for the same (one for anything else reads it first and drops it): the
 * server works on it while the caller does other things. False when it could
 * not be sent (the exchange then asks as usual). */
bool mb_lxd_http_ahead(struct mb_lxd_http *h, const struct mb_lxd_wire *w, const char *path,
                       double timeout);

/* ---- the plugin's side (drivers/lxd/tls/lxd_curl.c, lxd_trust.c) ---- */

struct mb_lxd_curl;

struct mb_lxd_tls_ops {
    /* a curl handle for w's requests (kept alive between them) */
    struct mb_lxd_curl *(*open)(mb_error **err);
    void (*free)(struct mb_lxd_curl *h);
    bool (*exchange)(struct mb_lxd_curl *h, const struct mb_lxd_wire *w, const char *method,
                     const char *path, const char *payload, double timeout,
                     struct mb_lxd_reply *out, mb_error **err);
    /* "sha256//BASE64" of the public key in a PEM certificate file */
    char *(*pin)(const char *pem_path, mb_error **err);
    /* the multipart POST /1.0/images: the operation's path (caller frees) */
    char *(*upload)(struct mb_lxd_curl *h, const struct mb_lxd_wire *w, const char *metadata,
                    const char *rootfs, bool vm, const char *fingerprint, double timeout,
                    mb_lxd_progress_fn progress, void *ud, mb_error **err);
    /* lxd_trust.h */
    struct mb_lxd_token *(*token_decode)(const char *token, mb_error **err);
    void (*token_free)(struct mb_lxd_token *t);
    bool (*client_cert)(const char *cert_path, const char *key_path, const char *name,
                        mb_error **err);
    bool (*trust)(const struct mb_lxd_conf *conf, const char *token, const char *server_cert_out,
                  char **url_out, mb_error **err);
};

/* The plugin's table (loading the plugin on first use). */
const struct mb_lxd_tls_ops *mb_lxd_tls(mb_error **err);

#endif
