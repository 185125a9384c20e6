/* LXD's REST API over libcurl: requests with LXD's response envelope,
 * operations followed to their end with progress, the multipart image
 * upload, and the server certificate of an HTTPS endpoint. One curl handle
 * per connection, so requests reuse it (keep-alive). */
#include "drivers/lxd/lxd_client.h"
#include "image/image_curl.h"
#include "core/clock.h"
#include "core/strbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT 30.0
#define MAX_BODY ((size_t)64 << 20)

struct mb_lxd {
    CURL *curl;
    char *socket;
    char *base;  /* "http://lxd" (unix socket) or the URL without a trailing slash */
    char *where; /* for messages */
    char *pin;   /* "sha256//BASE64" of the server's public key, or NULL */
    char *cert, *key;
    double timeout;
    char errbuf[CURL_ERROR_SIZE];
    json_t *listing;   /* GET /1.0/instances?recursion=1, kept for mb_lxd_listed */
    double listing_at;
};

/* How long a listing answers for the instances in it */
#define LISTING_FOR 2.0

/* ------------------------------------------------------------------ set-up */

/* "sha256//BASE64" of the public key in a PEM certificate file. */
static char *pin_of(const char *pem_path, mb_error **err)
{
    char *out = NULL;
    unsigned char *der = NULL;
    X509 *x = NULL;
    FILE *f = fopen(pem_path, "r");
    if (f == NULL) {
        mb_error_set_errno(err, errno, "lxd: cannot read the server certificate %s", pem_path);
        goto cleanup;
    }
    x = PEM_read_X509(f, NULL, NULL, NULL);
    if (x == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: %s is not a PEM certificate", pem_path);
        goto cleanup;
    }
    int n = i2d_PUBKEY(X509_get0_pubkey(x), &der);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (n <= 0 || !EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL)) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: cannot read the public key of %s", pem_path);
        goto cleanup;
    }
    out = malloc(8 + 4 * ((mdlen + 2) / 3) + 1);
    if (out == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        goto cleanup;
    }
    memcpy(out, "sha256//", 8);
    EVP_EncodeBlock((unsigned char *)out + 8, md, (int)mdlen);
cleanup:
    if (f)
        fclose(f);
    X509_free(x);
    OPENSSL_free(der);
    return out;
}

struct mb_lxd *mb_lxd_open(const struct mb_lxd_conf *conf, mb_error **err)
{
    struct mb_lxd *c = calloc(1, sizeof *c);
    if (c == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return NULL;
    }
    mb_image_curl_init();
    c->timeout = conf->timeout > 0 ? conf->timeout : DEFAULT_TIMEOUT;
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
        c->base = strndup(conf->url, n);
        mb_strbuf_addf(&where, "the LXD at %s", c->base);
        if (conf->server_cert && (c->pin = pin_of(conf->server_cert, err)) == NULL)
            goto fail;
        c->cert = conf->client_cert ? strdup(conf->client_cert) : NULL;
        c->key = conf->client_key ? strdup(conf->client_key) : NULL;
    } else {
        if (conf->socket == NULL || conf->socket[0] == '\0') {
            mb_error_set(err, MB_ERR_USAGE, "lxd: neither a socket nor a URL to reach LXD");
            goto fail;
        }
        c->socket = strdup(conf->socket);
        c->base = strdup("http://lxd");
        mb_strbuf_addf(&where, "the LXD at unix:%s", conf->socket);
    }
    c->where = mb_strbuf_finish(&where);
    c->curl = curl_easy_init();
    if (c->base == NULL || c->where == NULL || c->curl == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        goto fail;
    }
    return c;
fail:
    mb_lxd_free(c);
    return NULL;
}

void mb_lxd_free(struct mb_lxd *c)
{
    if (c == NULL)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->socket);
    free(c->base);
    free(c->where);
    free(c->pin);
    free(c->cert);
    free(c->key);
    json_decref(c->listing);
    free(c);
}

const char *mb_lxd_where(const struct mb_lxd *c)
{
    return c->where;
}

const char *mb_lxd_address(const struct mb_lxd *c)
{
    return c->where + strlen("the LXD at ");
}

bool mb_lxd_is_local(const struct mb_lxd *c)
{
    return c->socket != NULL;
}

/* ------------------------------------------------------------------ transfers */

struct body {
    struct mb_strbuf buf;
    size_t max;     /* keep at most this many bytes (the last ones) */
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n;
    if (b->buf.n + len > MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    mb_strbuf_addn(&b->buf, p, len);
    return b->buf.oom ? 0 : len;
}

static void setup(struct mb_lxd *c, const char *method, const char *path, double timeout)
{
    CURL *h = c->curl;
    curl_easy_reset(h);
    char *url = malloc(strlen(c->base) + strlen(path) + 1);
    if (url) {
        strcpy(url, c->base);
        strcat(url, path);
        curl_easy_setopt(h, CURLOPT_URL, url);
        free(url); /* curl keeps its own copy */
    }
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "moonbase/" MOONBASE_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (c->socket) {
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    } else {
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
        if (c->cert)
            curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
        if (c->key)
            curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
        /* LXD's certificate is its own (no CA): the pinned key is the check */
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        if (c->pin)
            curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, c->pin);
    }
}

/* curl's failure as one line, with what to do for the usual ones. */
static void transfer_error(struct mb_lxd *c, CURLcode rc, const char *method, const char *path,
                           mb_error **err)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        if (c->socket)
            mb_error_set(err, MB_ERR_UNREACHABLE, "nothing answers on LXD's socket %s (%s)",
                         c->socket, why);
        else
            mb_error_set(err, MB_ERR_UNREACHABLE, "%s does not answer (%s)", c->where, why);
        return;
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        mb_error_set(err, MB_ERR_HOSTKEY, "%s presents another certificate than the one "
                     "moonbase trusted (%s)", c->where, why);
        return;
    case CURLE_OPERATION_TIMEDOUT:
        mb_error_set(err, MB_ERR_TIMEOUT, "%s did not answer %s %s in time (%s)", c->where,
                     method, path, why);
        return;
    default:
        mb_error_set(err, MB_ERR_FAILED, "%s: %s %s failed: %s", c->where, method, path, why);
    }
}

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
static json_t *request(struct mb_lxd *c, const char *method, const char *path, json_t *body,
                       double timeout, char **operation, mb_error **err)
{
    json_t *env = NULL, *meta = NULL;
    char *payload = NULL;
    struct curl_slist *hdrs = NULL;
    struct body in = {0};
    if (strcmp(method, "GET") != 0) { /* a change of ours: what was listed may be past */
        json_decref(c->listing);
        c->listing = NULL;
    }
    setup(c, method, path, timeout);
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (payload == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "lxd: cannot encode the request for %s", path);
            goto cleanup;
        }
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, payload);
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &in);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        if (in.too_big)
            mb_error_set(err, MB_ERR_FAILED, "%s: the answer to %s %s is larger than %zu MiB",
                         c->where, method, path, MAX_BODY >> 20);
        else
            transfer_error(c, rc, method, path, err);
        goto cleanup;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    char *text = mb_strbuf_finish(&in.buf);
    in.buf = (struct mb_strbuf){0};
    json_error_t jerr;
    env = text ? json_loads(text, 0, &jerr) : NULL;
    if (env == NULL || !json_is_object(env)) {
        /* not LXD's envelope: say what came back */
        char first[120] = "";
        if (text)
            snprintf(first, sizeof first, "%.100s", text);
        for (char *p = first; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        mb_error_set(err, status >= 400 ? code_of_status(status) : MB_ERR_FAILED,
                     "%s: %s %s answered HTTP %ld, not LXD's JSON (%s)", c->where, method,
                     path, status, first[0] ? first : "empty body");
        free(text);
        goto cleanup;
    }
    free(text);
    const char *type = json_string_value(json_object_get(env, "type"));
    if (type == NULL || strcmp(type, "error") == 0 || status >= 400) {
        const char *msg = json_string_value(json_object_get(env, "error"));
        json_int_t code = json_integer_value(json_object_get(env, "error_code"));
        if (code == 0)
            code = status;
        mb_error_set(err, code_of_status((long)code), "%s: %s", c->where,
                     msg && msg[0] ? msg : "error without a message");
        goto cleanup;
    }
    if (strcmp(type, "async") == 0) {
        const char *op = json_string_value(json_object_get(env, "operation"));
        if (op == NULL || op[0] != '/') {
            mb_error_set(err, MB_ERR_FAILED, "%s: %s %s started an operation without a path",
                         c->where, method, path);
            goto cleanup;
        }
        if (operation && (*operation = strdup(op)) == NULL) {
            mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
            goto cleanup;
        }
    } else if (strcmp(type, "sync") != 0) {
        mb_error_set(err, MB_ERR_FAILED, "%s: unknown response type \"%s\"", c->where, type);
        goto cleanup;
    }
    meta = json_object_get(env, "metadata");
    meta = meta ? json_incref(meta) : json_null();
cleanup:
    free(mb_strbuf_finish(&in.buf));
    free(payload);
    curl_slist_free_all(hdrs);
    json_decref(env);
    return meta;
}

json_t *mb_lxd_request(struct mb_lxd *c, const char *method, const char *path, json_t *body,
                       char **operation, mb_error **err)
{
    return request(c, method, path, body, c->timeout, operation, err);
}

json_t *mb_lxd_listed(struct mb_lxd *c, const char *name, mb_error **err)
{
    if (c->listing == NULL || mb_clock_now() - c->listing_at > LISTING_FOR) {
        json_decref(c->listing);
        c->listing = request(c, "GET", "/1.0/instances?recursion=1", NULL, c->timeout, NULL,
                             err);
        c->listing_at = mb_clock_now();
        if (c->listing == NULL)
            return NULL;
    }
    size_t k;
    json_t *inst;
    json_array_foreach(c->listing, k, inst) {
        const char *n = json_string_value(json_object_get(inst, "name"));
        if (n && strcmp(n, name) == 0)
            return inst;
    }
    mb_error_set(err, MB_ERR_NOT_FOUND, "%s has no instance \"%s\"", c->where, name);
    return NULL;
}

/* The newest progress text of an operation: its metadata's "..._progress"
 * string (LXD names them by stage: download_progress, fs_progress,
 * create_instance_from_image_unpack_progress, ...). */
static const char *progress_text(json_t *op)
{
    json_t *meta = json_object_get(op, "metadata");
    const char *key;
    json_t *v;
    const char *best = NULL, *best_key = NULL;
    json_object_foreach(meta, key, v) {
        size_t n = strlen(key);
        if (n > 9 && strcmp(key + n - 9, "_progress") == 0 && json_is_string(v) &&
            (best_key == NULL || strcmp(key, best_key) < 0)) {
            best = json_string_value(v);
            best_key = key;
        }
    }
    return best;
}

json_t *mb_lxd_wait(struct mb_lxd *c, const char *operation, double timeout,
                    mb_lxd_progress_fn progress, void *ud, mb_error **err)
{
    double deadline = mb_clock_now() + timeout;
    char *last = NULL;
    json_t *result = NULL;
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
        json_t *op = request(c, "GET", path, NULL, c->timeout + step, NULL, err);
        if (op == NULL)
            break;
        json_int_t code = json_integer_value(json_object_get(op, "status_code"));
        const char *what = json_string_value(json_object_get(op, "description"));
        if (what == NULL)
            what = "operation";
        if (code == 200) {
            json_t *m = json_object_get(op, "metadata");
            result = m ? json_incref(m) : json_null();
            json_decref(op);
            break;
        }
        if (code == 400 || code == 401) {
            const char *why = json_string_value(json_object_get(op, "err"));
            mb_error_set(err, MB_ERR_FAILED, "%s: %s %s: %s", c->where, what,
                         code == 401 ? "was cancelled" : "failed",
                         why && why[0] ? why : "no reason given");
            json_decref(op);
            break;
        }
        const char *text = progress_text(op);
        if (progress && text && (last == NULL || strcmp(last, text) != 0)) {
            free(last);
            last = strdup(text);
            progress(text, ud);
        }
        if (mb_clock_now() >= deadline) {
            mb_error_set(err, MB_ERR_TIMEOUT, "%s: %s did not finish within %.0f s", c->where,
                         what, timeout);
            json_decref(op);
            break;
        }
        json_decref(op);
    }
    free(last);
    free(path);
    return result;
}

json_t *mb_lxd_call(struct mb_lxd *c, const char *method, const char *path, json_t *body,
                    double timeout, mb_lxd_progress_fn progress, void *ud, mb_error **err)
{
    char *op = NULL;
    json_t *meta = request(c, method, path, body, c->timeout, &op, err);
    if (meta == NULL || op == NULL)
        return meta;
    json_decref(meta);
    meta = mb_lxd_wait(c, op, timeout, progress, ud, err);
    free(op);
    return meta;
}

char *mb_lxd_get_raw(struct mb_lxd *c, const char *path, size_t max, size_t *len,
                     mb_error **err)
{
    struct body in = {0};
    setup(c, "GET", path, c->timeout);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &in);
    CURLcode rc = curl_easy_perform(c->curl);
    char *text = NULL;
    if (rc != CURLE_OK) {
        transfer_error(c, rc, "GET", path, err);
        goto cleanup;
    }
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    text = mb_strbuf_finish(&in.buf);
    in.buf = (struct mb_strbuf){0};
    if (text == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        goto cleanup;
    }
    if (status >= 400) {
        /* an error envelope */
        json_t *env = json_loads(text, 0, NULL);
        const char *msg = json_string_value(json_object_get(env, "error"));
        mb_error_set(err, code_of_status(status), "%s: GET %s: %s", c->where, path,
                     msg ? msg : "HTTP error");
        json_decref(env);
        free(text);
        text = NULL;
        goto cleanup;
    }
    size_t n = strlen(text);
    if (n > max) {
        memmove(text, text + n - max, max + 1);
        n = max;
    }
    if (len)
        *len = n;
cleanup:
    free(mb_strbuf_finish(&in.buf));
    return text;
}

/* ------------------------------------------------------------------ images */

struct upload {
    mb_lxd_progress_fn progress;
    void *ud;
    int last; /* percent last reported */
};

static int on_upload(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow)
{
    struct upload *u = ud;
    if (u->progress == NULL || ultotal <= 0)
        return 0;
    int pct = (int)(ulnow * 100 / ultotal);
    if (pct / 10 != u->last / 10 || (pct == 100 && u->last != 100)) {
        char text[64];
        snprintf(text, sizeof text, "Uploading image: %d%%", pct);
        u->last = pct;
        u->progress(text, u->ud);
    }
    return 0;
}

char *mb_lxd_upload_image(struct mb_lxd *c, const char *metadata, const char *rootfs, bool vm,
                          const char *fingerprint, double timeout, mb_lxd_progress_fn progress,
                          void *ud, mb_error **err)
{
    char *got = NULL, *op = NULL;
    struct curl_slist *hdrs = NULL;
    json_t *env = NULL, *result = NULL;
    struct body in = {0};
    struct upload up = {progress, ud, -1};
    setup(c, "POST", "/1.0/images", timeout);
    curl_mime *mime = curl_mime_init(c->curl);
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "metadata");
    CURLcode mrc = curl_mime_filedata(part, metadata);
    part = curl_mime_addpart(mime);
    curl_mime_name(part, vm ? "rootfs.img" : "rootfs");
    if (mrc == CURLE_OK)
        mrc = curl_mime_filedata(part, rootfs);
    if (mrc != CURLE_OK) {
        mb_error_set(err, MB_ERR_IO, "lxd: cannot read the image files %s and %s", metadata,
                     rootfs);
        goto cleanup;
    }
    curl_easy_setopt(c->curl, CURLOPT_MIMEPOST, mime);
    if (fingerprint) {
        /* LXD checks what arrives against it */
        char h[128];
        snprintf(h, sizeof h, "X-LXD-fingerprint: %s", fingerprint);
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &in);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, on_upload);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, &up);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        transfer_error(c, rc, "POST", "/1.0/images", err);
        goto cleanup;
    }
    char *text = mb_strbuf_finish(&in.buf);
    in.buf = (struct mb_strbuf){0};
    env = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    const char *type = json_string_value(json_object_get(env, "type"));
    const char *path = json_string_value(json_object_get(env, "operation"));
    if (type == NULL || strcmp(type, "async") != 0 || path == NULL) {
        const char *msg = json_string_value(json_object_get(env, "error"));
        mb_error_set(err, MB_ERR_FAILED, "%s: the image upload was refused: %s", c->where,
                     msg && msg[0] ? msg : "no operation");
        goto cleanup;
    }
    op = strdup(path);
    result = op ? mb_lxd_wait(c, op, timeout, progress, ud, err) : NULL;
    if (result == NULL)
        goto cleanup;
    const char *fp = json_string_value(json_object_get(result, "fingerprint"));
    if (fp == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "%s: the image import did not say its fingerprint",
                     c->where);
        goto cleanup;
    }
    got = strdup(fp);
cleanup:
    curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    free(mb_strbuf_finish(&in.buf));
    free(op);
    json_decref(env);
    json_decref(result);
    return got;
}

/* ------------------------------------------------------------------ certificates */

char *mb_lxd_server_cert(const struct mb_lxd_conf *conf, char fingerprint[65], mb_error **err)
{
    struct mb_lxd_conf c0 = *conf;
    c0.server_cert = NULL;
    char *pem = NULL;
    struct body in = {0};
    struct mb_lxd *c = mb_lxd_open(&c0, err);
    if (c == NULL)
        return NULL;
    if (c->socket) {
        mb_error_set(err, MB_ERR_USAGE, "lxd: a unix socket has no certificate");
        goto cleanup;
    }
    setup(c, "GET", "/1.0", c->timeout);
    curl_easy_setopt(c->curl, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &in);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        transfer_error(c, rc, "GET", "/1.0", err);
        goto cleanup;
    }
    struct curl_certinfo *ci = NULL;
    curl_easy_getinfo(c->curl, CURLINFO_CERTINFO, &ci);
    for (int i = 0; ci && i < ci->num_of_certs && pem == NULL; i++) {
        if (i > 0)
            break; /* the server's own certificate comes first */
        for (struct curl_slist *s = ci->certinfo[i]; s; s = s->next)
            if (strncmp(s->data, "Cert:", 5) == 0)
                pem = strdup(s->data + 5);
    }
    if (pem == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "%s: the TLS handshake showed no certificate",
                     c->where);
        goto cleanup;
    }
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int n = x ? i2d_X509(x, &der) : -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    bool ok = n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) &&
              mdlen == 32;
    if (ok)
        mb_image_hex(md, mdlen, fingerprint);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    if (!ok) {
        mb_error_set(err, MB_ERR_FAILED, "%s: cannot read its certificate", c->where);
        free(pem);
        pem = NULL;
    }
cleanup:
    free(mb_strbuf_finish(&in.buf));
    mb_lxd_free(c);
    return pem;
}
