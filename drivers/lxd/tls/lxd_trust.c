/* Trust with a remote LXD: see lxd_trust.h. */
#include "drivers/lxd/lxd_trust.h"

#include <errno.h>
#include <fcntl.h>
#include "core/json.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void mb_lxd_token_free(struct mb_lxd_token *t)
{
    if (t == NULL)
        return;
    free(t->client_name);
    free(t->fingerprint);
    free(t->secret);
    for (char **a = t->addresses; a && *a; a++)
        free(*a);
    free(t->addresses);
    free(t);
}

struct mb_lxd_token *mb_lxd_token_decode(const char *token, mb_error **err)
{
    struct mb_lxd_token *t = NULL;
    mbj_t *doc = NULL;
    size_t n = token ? strlen(token) : 0;
    while (n > 0 && (token[n - 1] == '\n' || token[n - 1] == ' '))
        n--;
    unsigned char *raw = malloc(n / 4 * 3 + 4);
    int len = raw && n > 0 && n % 4 == 0 ? EVP_DecodeBlock(raw, (const unsigned char *)token,
                                                           (int)n) : -1;
    if (len < 0) {
        mb_error_set(err, MB_ERR_USAGE, "lxd: the trust token is not base64 (copy it whole "
                     "from: lxc config trust add)");
        goto cleanup;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    for (size_t i = n; i > 0 && token[i - 1] == '='; i--)
        len--;
    doc = mbj_loadb((const char *)raw, (size_t)len);
    const char *name = mbj_string_value(mbj_object_get(doc, "client_name"));
    const char *fp = mbj_string_value(mbj_object_get(doc, "fingerprint"));
    const char *secret = mbj_string_value(mbj_object_get(doc, "secret"));
    mbj_t *addrs = mbj_object_get(doc, "addresses");
    if (name == NULL || fp == NULL || secret == NULL || !mbj_is_array(addrs) || mbj_array_size(addrs) == 0 || strlen(fp) != 64) {
        mb_error_set(err, MB_ERR_USAGE, "lxd: this is not an LXD trust token (it needs "
                     "client_name, fingerprint, addresses and secret; make one with: lxc "
                     "config trust add)");
        goto cleanup;
    }
    t = calloc(1, sizeof *t);
    if (t == NULL || (t->addresses = calloc(mbj_array_size(addrs) + 1, sizeof(char *))) == NULL)
        goto oom;
    t->client_name = strdup(name);
    t->fingerprint = strdup(fp);
    t->secret = strdup(secret);
    if (!t->client_name || !t->fingerprint || !t->secret)
        goto oom;
    size_t i;
    mbj_t *a;
    mbj_array_foreach(addrs, i, a) {
        const char *addr = mbj_string_value(a); /* NULL too for one holding a NUL */
        if (addr == NULL) {
            mb_error_set(err, MB_ERR_USAGE, "lxd: the trust token's addresses are not strings");
            mb_lxd_token_free(t);
            t = NULL;
            goto cleanup;
        }
        if ((t->addresses[i] = strdup(addr)) == NULL)
            goto oom;
    }
    goto cleanup;
oom:
    mb_lxd_token_free(t);
    t = NULL;
    mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
cleanup:
    free(raw);
    mbj_decref(doc);
    return t;
}

/* Writes what write_fn writes to path through a temporary file (mode). */
static bool write_pem(const char *path, mode_t mode, bool (*write_fn)(FILE *, void *),
                      void *what, mb_error **err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: path too long: %s", path);
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        mb_error_set_errno(err, errno, "lxd: cannot write %s", path);
        if (fd >= 0)
            close(fd);
        return false;
    }
    bool ok = write_fn(f, what);
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        mb_error_set_errno(err, errno, "lxd: cannot write %s", path);
        unlink(tmp);
        return false;
    }
    return true;
}

static bool write_key(FILE *f, void *k)
{
    return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
}

static bool write_cert(FILE *f, void *x)
{
    return PEM_write_X509(f, x) == 1;
}

static bool write_text(FILE *f, void *s)
{
    return fputs(s, f) >= 0;
}

static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

bool mb_lxd_client_cert(const char *cert_path, const char *key_path, const char *name,
                        mb_error **err)
{
    if (access(cert_path, R_OK) == 0 && access(key_path, R_OK) == 0)
        return true;
    bool ok = false;
    EVP_PKEY *key = EVP_EC_gen("P-384");
    X509 *x = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    if (key == NULL || x == NULL || RAND_bytes(serial, sizeof serial) != 1) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: cannot make a key for the client certificate");
        goto cleanup;
    }
    serial[0] &= 0x7f; /* a positive serial */
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    X509_NAME *subject = X509_get_subject_name(x);
    ok = sn && X509_set_version(x, 2) && X509_set_serialNumber(x, sn) &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600) &&
         X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                                    (const unsigned char *)"moonbase", -1, -1, 0) &&
         X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)name, -1, -1, 0) &&
         X509_set_issuer_name(x, subject) && X509_set_pubkey(x, key) &&
         add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(x, NID_key_usage, "critical,digitalSignature") &&
         add_ext(x, NID_ext_key_usage, "clientAuth") && X509_sign(x, key, EVP_sha384()) > 0;
    if (!ok) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: cannot make the client certificate");
        goto cleanup;
    }
    ok = write_pem(key_path, 0600, write_key, key, err) &&
         write_pem(cert_path, 0644, write_cert, x, err);
cleanup:
    EVP_PKEY_free(key);
    X509_free(x);
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    return ok;
}

/* The server at url, if it shows the certificate the token names: its PEM. */
static char *matching_cert(const struct mb_lxd_conf *conf, const char *url,
                           const struct mb_lxd_token *t, mb_error **err)
{
    struct mb_lxd_conf c = *conf;
    c.url = url;
    c.server_cert = NULL;
    char fp[65];
    char *pem = mb_lxd_server_cert(&c, fp, err);
    if (pem && strcasecmp(fp, t->fingerprint) != 0) {
        mb_error_set(err, MB_ERR_HOSTKEY, "lxd: %s presents a certificate (SHA-256 %s) other "
                     "than the one the trust token names (%s): not trusting it", url, fp,
                     t->fingerprint);
        free(pem);
        return NULL;
    }
    return pem;
}

bool mb_lxd_trust(const struct mb_lxd_conf *conf, const char *token,
                  const char *server_cert_out, char **url_out, mb_error **err)
{
    bool ok = false;
    char *pem = NULL, *url = NULL;
    struct mb_lxd *c = NULL;
    mbj_t *req = NULL, *resp = NULL, *server = NULL;
    struct mb_lxd_token *t = mb_lxd_token_decode(token, err);
    if (t == NULL)
        return false;
    if (conf->url) {
        url = strdup(conf->url);
        pem = url ? matching_cert(conf, url, t, err) : NULL;
    } else {
        /* the token's addresses, in its order, until one answers */
        for (char **a = t->addresses; *a && pem == NULL; a++) {
            mb_error *e = NULL;
            free(url);
            if (asprintf(&url, "https://%s", *a) < 0) {
                url = NULL;
                break;
            }
            pem = matching_cert(conf, url, t, &e);
            if (pem == NULL && (a[1] == NULL || e->code == MB_ERR_HOSTKEY)) {
                *err = e;
                break;
            }
            mb_error_free(e);
        }
    }
    if (pem == NULL)
        goto cleanup;
    if (!write_pem(server_cert_out, 0644, write_text, pem, err))
        goto cleanup;
    struct mb_lxd_conf pinned = *conf;
    pinned.url = url;
    pinned.server_cert = server_cert_out;
    c = mb_lxd_open(&pinned, err);
    if (c == NULL)
        goto cleanup;
    /* already trusted (a second run)? */
    server = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, err);
    if (server == NULL)
        goto cleanup;
    const char *auth = mbj_string_value(mbj_object_get(server, "auth"));
    if (auth == NULL || strcmp(auth, "trusted") != 0) {
        req = mbj_pack("{s:s, s:s}", "type", "client", "password", token);
        resp = req ? mb_lxd_request(c, "POST", "/1.0/certificates", req, NULL, err) : NULL;
        if (resp == NULL) {
            if (*err && (*err)->code == MB_ERR_AUTH) {
                char *m = (*err)->message;
                (*err)->message = NULL;
                mb_error_free(*err);
                *err = NULL;
                mb_error_set(err, MB_ERR_AUTH, "%s (the token may be used or expired: make "
                             "another with lxc config trust add)", m);
                free(m);
            }
            goto cleanup;
        }
        mbj_decref(server);
        server = mb_lxd_request(c, "GET", "/1.0", NULL, NULL, err);
        auth = server ? mbj_string_value(mbj_object_get(server, "auth")) : NULL;
        if (server == NULL || auth == NULL || strcmp(auth, "trusted") != 0) {
            if (server)
                mb_error_set(err, MB_ERR_AUTH, "lxd: %s took the token but does not trust "
                             "moonbase's certificate", url);
            goto cleanup;
        }
    }
    ok = true;
    if (url_out) {
        *url_out = url;
        url = NULL;
    }
cleanup:
    mb_lxd_free(c);
    mbj_decref(req);
    mbj_decref(resp);
    mbj_decref(server);
    free(pem);
    free(url);
    mb_lxd_token_free(t);
    return ok;
}
