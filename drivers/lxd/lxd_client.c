/* LXD's REST API: requests with LXD's response envelope, operations followed
 * to their end with progress, and the image upload. How the bytes travel is
 * lxd_wire.h's: this host's LXD through the built-in HTTP client on its unix
 * socket (lxd_http.c), a remote one over HTTPS through the plugin's libcurl
 * (drivers/lxd/tls/lxd_curl.c), loaded only then. Connections are kept alive
 * between requests. */
#include "drivers/lxd/lxd_client.h"
#include "drivers/lxd/lxd_wire.h"
#include "core/clock.h"
#include "core/plugin.h"
#include "core/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT 30.0

struct mb_lxd {
    struct mb_lxd_wire w;
    struct mb_lxd_http http;   /* w.socket: the built-in client's connection */
    struct mb_lxd_curl *curl;  /* otherwise (and for uploads): the plugin's handle */
    mbj_t *listing;   /* GET /1.0/instances?recursion=1, kept for mb_lxd_listed */
    double listing_at; /* when it was asked */
    double ahead_at;   /* when the listing was asked ahead (http.ahead) */
};

/* How long a listing answers for the instances in it */
#define LISTING_FOR 2.0
#define LISTING_PATH "/1.0/instances?recursion=1"

const struct mb_lxd_tls_ops *mb_lxd_tls(mb_error **err)
{
    return mb_plugin_sym("mb_lxd_tls_table", err);
}

/* ------------------------------------------------------------------ set-up */

struct mb_lxd *mb_lxd_open(const struct mb_lxd_conf *conf, mb_error **err)
{
    struct mb_lxd *c = calloc(1, sizeof *c);
    if (c == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return NULL;
    }
    c->http.fd = -1;
    c->w.timeout = conf->timeout > 0 ? conf->timeout : DEFAULT_TIMEOUT;
    struct mb_strbuf where = {0};
    if (conf->url && conf->url[0]) {
        if (strncmp(conf->url, "https://", 8) != 0) {
            mb_error_set(err, MB_ERR_USAGE, "lxd: a remote LXD is reached over https:// "
                         "(got \"%s\")", conf->url);
            goto fail;
        }
        size_t n = strlen(conf->url);
        while (n > 8 && conf->url[n - 1] == '/')
            n--;
        c->w.base = strndup(conf->url, n);
        mb_strbuf_addf(&where, "the LXD at %.*s", (int)n, conf->url);
        if (conf->server_cert) {
            const struct mb_lxd_tls_ops *t = mb_lxd_tls(err);
            if (t == NULL || (c->w.pin = t->pin(conf->server_cert, err)) == NULL)
                goto fail;
        }
        c->w.cert = conf->client_cert ? strdup(conf->client_cert) : NULL;
        c->w.key = conf->client_key ? strdup(conf->client_key) : NULL;
    } else {
        if (conf->socket == NULL || conf->socket[0] == '\0') {
            mb_error_set(err, MB_ERR_USAGE, "lxd: neither a socket nor a URL to reach LXD");
            goto fail;
        }
        c->w.socket = strdup(conf->socket);
        c->w.base = strdup("http://lxd");
        mb_strbuf_addf(&where, "the LXD at unix:%s", conf->socket);
    }
    c->w.where = mb_strbuf_finish(&where);
    if (c->w.base == NULL || c->w.where == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        goto fail;
    }
    return c;
fail:
    mb_strbuf_free(&where);
    mb_lxd_free(c);
    return NULL;
}

void mb_lxd_free(struct mb_lxd *c)
{
    if (c == NULL)
        return;
    mb_lxd_http_close(&c->http);
    if (c->curl) {
        const struct mb_lxd_tls_ops *t = mb_lxd_tls(NULL);
        if (t)
            t->free(c->curl);
    }
    free(c->w.socket);
    free(c->w.base);
    free(c->w.where);
    free(c->w.pin);
    free(c->w.cert);
    free(c->w.key);
    mbj_decref(c->listing);
    free(c);
}

const char *mb_lxd_where(const struct mb_lxd *c)
{
    return c->w.where;
}

const char *mb_lxd_address(const struct mb_lxd *c)
{
    return c->w.where + strlen("the LXD at ");
}

const struct mb_lxd_wire *mb_lxd_wire_of(const struct mb_lxd *c)
{
    return &c->w;
}

bool mb_lxd_is_local(const struct mb_lxd *c)
{
    return c->w.socket != NULL;
}

/* The plugin's curl handle of this connection, made on first use. */
static struct mb_lxd_curl *curl_of(struct mb_lxd *c, const struct mb_lxd_tls_ops **t,
                                   mb_error **err)
{
    *t = mb_lxd_tls(err);
    if (*t == NULL)
        return NULL;
    if (c->curl == NULL)
        c->curl = (*t)->open(err);
    return c->curl;
}

static bool listing_now(struct mb_lxd *c, mb_error **err);

/* One request and its whole answer, on the connection's transport. */
static bool exchange(struct mb_lxd *c, const char *method, const char *path,
                     const char *payload, double timeout, struct mb_lxd_reply *out,
                     mb_error **err)
{
    if (c->http.ahead && strcmp(path, LISTING_PATH) != 0)
        listing_now(c, NULL); /* the listing asked ahead is answered first: keep it */
    if (c->w.socket)
        return mb_lxd_http_exchange(&c->http, &c->w, method, path, payload, timeout, out, err);
    const struct mb_lxd_tls_ops *t;
    struct mb_lxd_curl *h = curl_of(c, &t, err);
    return h && t->exchange(h, &c->w, method, path, payload, timeout, out, err);
}

/* ------------------------------------------------------------------ requests */

static enum mb_error_code code_of_status(long status)
{
    switch (status) {
    case 404: return MB_ERR_NOT_FOUND;
    case 403: return MB_ERR_AUTH;
    case 409: return MB_ERR_EXISTS;
    default: return MB_ERR_FAILED;
    }
}

/* Sends the request and parses the envelope. */
static mbj_t *request(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
                      double timeout, char **operation, mb_error **err)
{
    mbj_t *env = NULL, *meta = NULL;
    char *payload = NULL;
    struct mb_lxd_reply in = {0};
    if (body) {
        payload = mbj_dumps(body, MBJ_COMPACT);
        if (payload == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "lxd: cannot encode the request for %s", path);
            goto cleanup;
        }
    }
    bool answered = exchange(c, method, path, payload, timeout, &in, err);
    if (strcmp(method, "GET") != 0) { /* a change of ours: what was listed may be past */
        mbj_decref(c->listing);
        c->listing = NULL;
    }
    if (!answered)
        goto cleanup;
    long status = in.status;
    char *text = in.body;
    in.body = NULL;
    env = mbj_loads(text);
    if (env == NULL || !mbj_is_object(env)) {
        /* not LXD's envelope: say what came back */
        char first[120] = "";
        if (text)
            snprintf(first, sizeof first, "%.100s", text);
        for (char *p = first; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        mb_error_set(err, status >= 400 ? code_of_status(status) : MB_ERR_FAILED,
                     "%s: %s %s answered HTTP %ld, not LXD's JSON (%s)", c->w.where, method,
                     path, status, first[0] ? first : "empty body");
        free(text);
        goto cleanup;
    }
    free(text);
    const char *type = mbj_string_value(mbj_object_get(env, "type"));
    if (type == NULL || strcmp(type, "error") == 0 || status >= 400) {
        const char *msg = mbj_string_value(mbj_object_get(env, "error"));
        mbj_int_t code = mbj_integer_value(mbj_object_get(env, "error_code"));
        if (code == 0)
            code = status;
        mb_error_set(err, code_of_status((long)code), "%s: %s", c->w.where,
                     msg && msg[0] ? msg : "error without a message");
        goto cleanup;
    }
    if (strcmp(type, "async") == 0) {
        const char *op = mbj_string_value(mbj_object_get(env, "operation"));
        if (op == NULL || op[0] != '/') {
            mb_error_set(err, MB_ERR_FAILED, "%s: %s %s started an operation without a path",
                         c->w.where, method, path);
            goto cleanup;
        }
        if (operation && (*operation = strdup(op)) == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
            goto cleanup;
        }
    } else if (strcmp(type, "sync") != 0) {
        mb_error_set(err, MB_ERR_FAILED, "%s: unknown response type \"%s\"", c->w.where, type);
        goto cleanup;
    }
    meta = mbj_object_get(env, "metadata");
    meta = meta ? mbj_incref(meta) : mbj_object(); /* none: an empty one */
cleanup:
    free(in.body);
    free(payload);
    mbj_decref(env);
    return meta;
}

mbj_t *mb_lxd_request(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
                      char **operation, mb_error **err)
{
    return request(c, method, path, body, c->w.timeout, operation, err);
}

static bool listing_fresh(const struct mb_lxd *c)
{
    return c->listing != NULL && mb_clock_now() - c->listing_at <= LISTING_FOR;
}

/* Every instance, asked now (or read: the answer to a listing asked ahead). */
static bool listing_now(struct mb_lxd *c, mb_error **err)
{
    double asked = c->http.ahead ? c->ahead_at : mb_clock_now();
    mbj_decref(c->listing);
    c->listing = request(c, "GET", LISTING_PATH, NULL, c->w.timeout, NULL, err);
    c->listing_at = asked;
    return c->listing != NULL;
}

void mb_lxd_list_ahead(struct mb_lxd *c)
{
    if (c->w.socket && !listing_fresh(c) && c->http.ahead == NULL &&
        mb_lxd_http_ahead(&c->http, &c->w, LISTING_PATH, c->w.timeout))
        c->ahead_at = mb_clock_now();
}

mbj_t *mb_lxd_listed(struct mb_lxd *c, const char *name, mb_error **err)
{
    if (!listing_fresh(c)) {
        if (!listing_now(c, err))
            return NULL;
        /* one asked ahead too long ago (by a process that lives on): again */
        if (!listing_fresh(c) && !listing_now(c, err))
            return NULL;
    }
    size_t k;
    mbj_t *inst;
    mbj_array_foreach(c->listing, k, inst) {
        const char *n = mbj_string_value(mbj_object_get(inst, "name"));
        if (n && strcmp(n, name) == 0)
            return inst;
    }
    mb_error_set(err, MB_ERR_NOT_FOUND, "%s has no instance \"%s\"", c->w.where, name);
    return NULL;
}

/* The newest progress text of an operation: its metadata's "..._progress"
 * string (LXD names them by stage: download_progress, fs_progress,
 * create_instance_from_image_unpack_progress, ...). */
static const char *progress_text(mbj_t *op)
{
    mbj_t *meta = mbj_object_get(op, "metadata");
    const char *key;
    mbj_t *v;
    const char *best = NULL, *best_key = NULL;
    mbj_object_foreach(meta, key, v) {
        size_t n = strlen(key);
        if (n > 9 && strcmp(key + n - 9, "_progress") == 0 && mbj_is_string(v) &&
            (best_key == NULL || strcmp(key, best_key) < 0)) {
            best = mbj_string_value(v);
            best_key = key;
        }
    }
    return best;
}

mbj_t *mb_lxd_wait(struct mb_lxd *c, const char *operation, double timeout,
                   mb_lxd_progress_fn progress, void *ud, mb_error **err)
{
    double deadline = mb_clock_now() + timeout;
    char *last = NULL;
    mbj_t *result = NULL;
    size_t plen = strlen(operation) + 32;
    char *path = malloc(plen);
    if (path == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return NULL;
    }
    for (;;) {
        double left = deadline - mb_clock_now();
        /* a second per wait, so progress shows while it runs */
        int step = left > 0 ? 1 : 0;
        snprintf(path, plen, "%s/wait?timeout=%d", operation, step);
        mbj_t *op = request(c, "GET", path, NULL, c->w.timeout + step, NULL, err);
        if (op == NULL)
            break;
        mbj_int_t code = mbj_integer_value(mbj_object_get(op, "status_code"));
        const char *what = mbj_string_value(mbj_object_get(op, "description"));
        if (what == NULL)
            what = "operation";
        if (code == 200) {
            mbj_t *m = mbj_object_get(op, "metadata");
            result = m ? mbj_incref(m) : mbj_object();
            mbj_decref(op);
            break;
        }
        if (code == 400 || code == 401) {
            const char *why = mbj_string_value(mbj_object_get(op, "err"));
            mb_error_set(err, MB_ERR_FAILED, "%s: %s %s: %s", c->w.where, what,
                         code == 401 ? "was cancelled" : "failed",
                         why && why[0] ? why : "no reason given");
            mbj_decref(op);
            break;
        }
        const char *text = progress_text(op);
        if (progress && text && (last == NULL || strcmp(last, text) != 0)) {
            free(last);
            last = strdup(text);
            progress(text, ud);
        }
        if (mb_clock_now() >= deadline) {
            mb_error_set(err, MB_ERR_TIMEOUT, "%s: %s did not finish within %.0f s", c->w.where,
                         what, timeout);
            mbj_decref(op);
            break;
        }
        mbj_decref(op);
    }
    free(last);
    free(path);
    return result;
}

mbj_t *mb_lxd_call(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
                   double timeout, mb_lxd_progress_fn progress, void *ud, mb_error **err)
{
    char *op = NULL;
    mbj_t *meta = request(c, method, path, body, c->w.timeout, &op, err);
    if (meta == NULL || op == NULL)
        return meta;
    mbj_decref(meta);
    meta = mb_lxd_wait(c, op, timeout, progress, ud, err);
    free(op);
    return meta;
}

bool mb_lxd_do(struct mb_lxd *c, const char *method, const char *path, mbj_t *body,
               double timeout, mb_lxd_progress_fn progress, void *ud, mb_error **err)
{
    if (body == NULL && strcmp(method, "DELETE") != 0) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: cannot make the body of %s %s", method, path);
        return false;
    }
    mbj_t *r = mb_lxd_call(c, method, path, body, timeout, progress, ud, err);
    mbj_decref(body);
    mbj_decref(r);
    return r != NULL;
}

char *mb_lxd_get_raw(struct mb_lxd *c, const char *path, size_t max, size_t *len,
                     mb_error **err)
{
    struct mb_lxd_reply in = {0};
    if (!exchange(c, "GET", path, NULL, c->w.timeout, &in, err))
        return NULL;
    char *text = in.body;
    if (in.status >= 400) {
        /* an error envelope */
        mbj_t *env = mbj_loads(text);
        const char *msg = mbj_string_value(mbj_object_get(env, "error"));
        mb_error_set(err, code_of_status(in.status), "%s: GET %s: %s", c->w.where, path,
                     msg ? msg : "HTTP error");
        mbj_decref(env);
        free(text);
        return NULL;
    }
    size_t n = strlen(text);
    if (n > max) {
        memmove(text, text + n - max, max + 1);
        n = max;
    }
    if (len)
        *len = n;
    return text;
}

/* ------------------------------------------------------------------ images */

char *mb_lxd_upload_image(struct mb_lxd *c, const char *metadata, const char *rootfs, bool vm,
                          const char *fingerprint, double timeout, mb_lxd_progress_fn progress,
                          void *ud, mb_error **err)
{
    mbj_decref(c->listing);
    c->listing = NULL;
    const struct mb_lxd_tls_ops *t;
    struct mb_lxd_curl *h = curl_of(c, &t, err);
    char *op = h ? t->upload(h, &c->w, metadata, rootfs, vm, fingerprint, timeout, progress,
                             ud, err) : NULL;
    if (op == NULL)
        return NULL;
    mbj_t *result = mb_lxd_wait(c, op, timeout, progress, ud, err);
    free(op);
    if (result == NULL)
        return NULL;
    const char *fp = mbj_string_value(mbj_object_get(result, "fingerprint"));
    char *got = fp ? strdup(fp) : NULL;
    if (fp == NULL)
        mb_error_set(err, MB_ERR_FAILED, "%s: the image import did not say its fingerprint",
                     c->w.where);
    mbj_decref(result);
    return got;
}
