/* The LXD client's side that needs libcurl and OpenSSL (lxd_wire.h), in the
 * plugin: requests over HTTPS to a remote LXD with moonbase's client
 * certificate and the server's key pinned, the multipart image upload (on
 * either transport), and the server certificate a TLS handshake shows. The
 * binary reaches it through mb_lxd_tls_table. */
#include "drivers/lxd/lxd_wire.h"
#include "drivers/lxd/lxd_trust.h"
#include "image/image_curl.h"
#include "core/strbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mb_lxd_curl {
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

static struct mb_lxd_curl *curl_open(mb_error **err)
{
    mb_image_curl_init();
    struct mb_lxd_curl *h = calloc(1, sizeof *h);
    if (h)
        h->curl = curl_easy_init();
    if (h == NULL || h->curl == NULL) {
        free(h);
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return NULL;
    }
    return h;
}

static void curl_close(struct mb_lxd_curl *h)
{
    if (h == NULL)
        return;
    curl_easy_cleanup(h->curl);
    free(h);
}

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

/* ------------------------------------------------------------------ transfers */

struct body {
    struct mb_strbuf buf;
    bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t len = size * n;
    if (b->buf.n + len > MB_LXD_MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    mb_strbuf_addn(&b->buf, p, len);
    return b->buf.oom ? 0 : len;
}

static void setup(struct mb_lxd_curl *h, const struct mb_lxd_wire *w, const char *method,
                  const char *path, double timeout)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    char *url = malloc(strlen(w->base) + strlen(path) + 1);
    if (url) {
        strcpy(url, w->base);
        strcat(url, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        free(url); /* curl keeps its own copy */
    }
    h->errbuf[0] = '\0';
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "moonbase/" MOONBASE_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (w->socket) {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, w->socket);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    } else {
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        if (w->cert)
            curl_easy_setopt(c, CURLOPT_SSLCERT, w->cert);
        if (w->key)
            curl_easy_setopt(c, CURLOPT_SSLKEY, w->key);
        /* LXD's certificate is its own (no CA): the pinned key is the check */
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        if (w->pin)
            curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, w->pin);
    }
}

/* curl's failure as one line, with what to do for the usual ones. */
static void transfer_error(struct mb_lxd_curl *h, const struct mb_lxd_wire *w, CURLcode rc,
                           const char *method, const char *path, mb_error **err)
{
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        if (w->socket)
            mb_error_set(err, MB_ERR_UNREACHABLE, "nothing answers on LXD's socket %s (%s)",
                         w->socket, why);
        else
            mb_error_set(err, MB_ERR_UNREACHABLE, "%s does not answer (%s)", w->where, why);
        return;
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        mb_error_set(err, MB_ERR_HOSTKEY, "%s presents another certificate than the one "
                     "moonbase trusted (%s)", w->where, why);
        return;
    case CURLE_OPERATION_TIMEDOUT:
        mb_error_set(err, MB_ERR_TIMEOUT, "%s did not answer %s %s in time (%s)", w->where,
                     method, path, why);
        return;
    default:
        mb_error_set(err, MB_ERR_FAILED, "%s: %s %s failed: %s", w->where, method, path, why);
    }
}

static bool finish(struct mb_lxd_curl *h, const struct mb_lxd_wire *w, CURLcode rc,
                   struct body *in, const char *method, const char *path,
                   struct mb_lxd_reply *out, mb_error **err)
{
    if (rc != CURLE_OK) {
        if (in->too_big)
            mb_error_set(err, MB_ERR_FAILED, "%s: the answer to %s %s is larger than %zu MiB",
                         w->where, method, path, MB_LXD_MAX_BODY >> 20);
        else
            transfer_error(h, w, rc, method, path, err);
        mb_strbuf_free(&in->buf);
        return false;
    }
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    out->status = status;
    out->len = in->buf.n;
    out->body = mb_strbuf_finish(&in->buf);
    if (out->body == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return false;
    }
    return true;
}

static bool curl_exchange(struct mb_lxd_curl *h, const struct mb_lxd_wire *w,
                          const char *method, const char *path, const char *payload,
                          double timeout, struct mb_lxd_reply *out, mb_error **err)
{
    struct curl_slist *hdrs = NULL;
    struct body in = {0};
    setup(h, w, method, path, timeout);
    if (payload) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, payload);
    }
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &in);
    CURLcode rc = curl_easy_perform(h->curl);
    bool ok = finish(h, w, rc, &in, method, path, out, err);
    curl_slist_free_all(hdrs);
    return ok;
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

static char *curl_upload(struct mb_lxd_curl *h, const struct mb_lxd_wire *w,
                         const char *metadata, const char *rootfs, bool vm,
                         const char *fingerprint, double timeout, mb_lxd_progress_fn progress,
                         void *ud, mb_error **err)
{
    char *op = NULL;
    struct curl_slist *hdrs = NULL;
    mbj_t *env = NULL;
    struct body in = {0};
    struct mb_lxd_reply r = {0};
    struct upload up = {progress, ud, -1};
    setup(h, w, "POST", "/1.0/images", timeout);
    curl_mime *mime = curl_mime_init(h->curl);
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
    curl_easy_setopt(h->curl, CURLOPT_MIMEPOST, mime);
    if (fingerprint) {
        /* LXD checks what arrives against it */
        char hd[128];
        snprintf(hd, sizeof hd, "X-LXD-fingerprint: %s", fingerprint);
        hdrs = curl_slist_append(hdrs, hd);
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &in);
    curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_upload);
    curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, &up);
    CURLcode rc = curl_easy_perform(h->curl);
    if (!finish(h, w, rc, &in, "POST", "/1.0/images", &r, err))
        goto cleanup;
    env = mbj_loads(r.body);
    const char *type = mbj_string_value(mbj_object_get(env, "type"));
    const char *path = mbj_string_value(mbj_object_get(env, "operation"));
    if (type == NULL || strcmp(type, "async") != 0 || path == NULL) {
        const char *msg = mbj_string_value(mbj_object_get(env, "error"));
        mb_error_set(err, MB_ERR_FAILED, "%s: the image upload was refused: %s", w->where,
                     msg && msg[0] ? msg : "no operation");
        goto cleanup;
    }
    if ((op = strdup(path)) == NULL)
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
cleanup:
    curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    free(r.body);
    mbj_decref(env);
    return op;
}

/* ------------------------------------------------------------------ certificates */

char *mb_lxd_server_cert(const struct mb_lxd_conf *conf, char fingerprint[65], mb_error **err)
{
    struct mb_lxd_conf c0 = *conf;
    c0.server_cert = NULL; /* not trusted yet: nothing pinned */
    struct mb_lxd *c = mb_lxd_open(&c0, err);
    if (c == NULL)
        return NULL;
    const struct mb_lxd_wire *w = mb_lxd_wire_of(c);
    char *pem = NULL;
    struct body in = {0};
    struct mb_lxd_curl *h = NULL;
    if (w->socket) {
        mb_error_set(err, MB_ERR_USAGE, "lxd: a unix socket has no certificate");
        goto cleanup;
    }
    if ((h = curl_open(err)) == NULL)
        goto cleanup;
    setup(h, w, "GET", "/1.0", w->timeout);
    curl_easy_setopt(h->curl, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &in);
    CURLcode rc = curl_easy_perform(h->curl);
    if (rc != CURLE_OK) {
        transfer_error(h, w, rc, "GET", "/1.0", err);
        goto cleanup;
    }
    struct curl_certinfo *ci = NULL;
    curl_easy_getinfo(h->curl, CURLINFO_CERTINFO, &ci);
    /* the server's own certificate comes first */
    for (struct curl_slist *s = ci && ci->num_of_certs > 0 ? ci->certinfo[0] : NULL;
         s && pem == NULL; s = s->next)
        if (strncmp(s->data, "Cert:", 5) == 0)
            pem = strdup(s->data + 5);
    if (pem == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "%s: the TLS handshake showed no certificate",
                     w->where);
        goto cleanup;
    }
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int dn = x ? i2d_X509(x, &der) : -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    bool ok = dn > 0 && EVP_Digest(der, (size_t)dn, md, &mdlen, EVP_sha256(), NULL) &&
              mdlen == 32;
    if (ok)
        mb_image_hex(md, mdlen, fingerprint);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    if (!ok) {
        mb_error_set(err, MB_ERR_FAILED, "%s: cannot read its certificate", w->where);
        free(pem);
        pem = NULL;
    }
cleanup:
    mb_strbuf_free(&in.buf);
    curl_close(h);
    mb_lxd_free(c);
    return pem;
}

/* What the binary's LXD client calls (lxd_wire.h). */
const struct mb_lxd_tls_ops mb_lxd_tls_table = {
    .open = curl_open,
    .free = curl_close,
    .exchange = curl_exchange,
    .pin = pin_of,
    .upload = curl_upload,
    .token_decode = mb_lxd_token_decode,
    .token_free = mb_lxd_token_free,
    .client_cert = mb_lxd_client_cert,
    .trust = mb_lxd_trust,
};
