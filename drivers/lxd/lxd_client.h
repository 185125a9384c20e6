/* A client of LXD's REST API (https://documentation.ubuntu.com/lxd/en/stable-5.0/rest-api/)
 * over libcurl: LXD's unix socket, or HTTPS to a remote LXD with a TLS client
 * certificate and the server's certificate pinned. Every response is LXD's
 * envelope ({"type": "sync"|"async"|"error", "metadata", "operation", ...});
 * long operations (create, start, image upload) are followed through their
 * operation objects with progress. JSON is core/json.h's. */
#ifndef MB_LXD_CLIENT_H
#define MB_LXD_CLIENT_H

#include "core/json.h"
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

struct mb_lxd_conf {
    const char *socket;      /* LXD's unix socket, when url is NULL */
    const char *url;         /* https://HOST[:PORT] of a remote LXD, or NULL */
    const char *client_cert; /* url: moonbase's client certificate and key (PEM files) */
    const char *client_key;
    const char *server_cert; /* url: the server's certificate (PEM file), pinned; NULL
                                only while trusting (mb_lxd_trust) */
    double timeout;          /* seconds per request; 0 = 30 */
};

struct mb_lxd;

/* A connection (nothing is sent yet). */
struct mb_lxd *mb_lxd_open(const struct mb_lxd_conf *conf, mb_error **err);
void mb_lxd_free(struct mb_lxd *c);
/* "the LXD at unix:PATH" / "the LXD at https://...", for messages. */
const char *mb_lxd_where(const struct mb_lxd *c);
/* "unix:PATH" or the URL. */
const char *mb_lxd_address(const struct mb_lxd *c);
/* Reached through a unix socket (this host's LXD). */
bool mb_lxd_is_local(const struct mb_lxd *c);

/* One request. body: a JSON value to send (not stolen), or NULL. Returns the
 * envelope's metadata (a new reference; an empty object when it has none); for an
 * asynchronous answer *operation gets the operation's path (caller frees; pass
 * NULL when none is expected). An error envelope or HTTP status becomes err:
 * MB_ERR_NOT_FOUND (404), MB_ERR_AUTH (403), MB_ERR_EXISTS (409), else
 * MB_ERR_FAILED, with LXD's own words; no answer at all is MB_ERR_UNREACHABLE. */
mbj_t *mb_lxd_request(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
                      char **operation, mb_error **err);

/* The instance called name as LXD's listing of every instance has it
 * (recursion=1: config, devices, status; no live state), borrowed from one
 * listing kept for two seconds, or until a request of this connection
 * changes something. NULL with MB_ERR_NOT_FOUND when it is not listed. */
mbj_t *mb_lxd_listed(struct mb_lxd *c, const char *name, mb_error **err);

/* Asks for that listing now, without waiting, when none is kept: LXD works on
 * it while the caller reads its own records, and mb_lxd_listed reads the
 * answer (another request first reads it and keeps it). Only on this host's
 * socket; a remote LXD is asked when mb_lxd_listed needs it. */
void mb_lxd_list_ahead(struct mb_lxd *c);

/* What a long operation reports while it runs ("Unpack: 40% (12MB/s)"). */
typedef void (*mb_lxd_progress_fn)(const char *text, void *ud);

/* Follows an operation until it ends or timeout seconds pass (then
 * MB_ERR_TIMEOUT), calling progress with each new progress text. Returns the
 * operation's metadata (a new reference) when it succeeded; a failed or
 * cancelled operation is MB_ERR_FAILED with LXD's "err". */
mbj_t *mb_lxd_wait(struct mb_lxd *c, const char *operation, double timeout,
                   mb_lxd_progress_fn progress, void *ud, mb_error **err);

/* A request whose answer may be an operation: waits for it (timeout,
 * progress as mb_lxd_wait). Returns the sync metadata or the operation's. */
mbj_t *mb_lxd_call(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
                   double timeout, mb_lxd_progress_fn progress, void *ud, mb_error **err);

/* mb_lxd_call for what only succeeds or fails: body (taken; NULL, when a
 * POST, PUT or PATCH's body could not be made, is an error) and the answer
 * dropped. */
bool mb_lxd_do(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
               double timeout, mb_lxd_progress_fn progress, void *ud, mb_error **err);

/* A GET whose body is not JSON (an instance's console log): the bytes, NUL
 * terminated, at most max bytes from the end; *len their number. */
char *mb_lxd_get_raw(struct mb_lxd *c, const char *path, size_t max, size_t *len,
                     mb_error **err);

/* Uploads a split image (LXD's metadata tarball and the rootfs: squashfs,
 * tarball, or a VM's disk when vm) as one multipart POST /1.0/images, then
 * follows the import. fingerprint (or NULL): what LXD must find the pair to
 * be, else it refuses. Returns the image's fingerprint (caller frees). */
char *mb_lxd_upload_image(struct mb_lxd *c, const char *metadata, const char *rootfs, bool vm,
                          const char *fingerprint, double timeout, mb_lxd_progress_fn progress,
                          void *ud, mb_error **err);

/* The server's certificate as the TLS handshake with conf->url shows it,
 * without trusting it: its PEM text (caller frees) and its SHA-256 over DER in
 * hex (fingerprint, 65 bytes), which is how LXD names certificates. */
char *mb_lxd_server_cert(const struct mb_lxd_conf *conf, char fingerprint[65],
                         mb_error **err);

#endif
