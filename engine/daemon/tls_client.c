/* TLS for the CLI's client of the daemon (client.c), in the plugin so only
 * https:// servers load libssl. The client presents its certificate (made by
 * moonbase.client) and checks the daemon's against the CA it pinned; with
 * no pinned CA (moonbase authenticate's first contact) it accepts the
 * daemon's chain and hands back the CA (the chain's last certificate), whose
 * fingerprint the caller shows or checks against a trust token. */
#include "core/error.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

void *mb_tls_client_open(int fd, const char *host, const char *ca, const char *cert,
                         const char *key, char **peer_ca, mb_error **err);
long mb_tls_client_read(void *s, void *buf, size_t n);
long mb_tls_client_write(void *s, const void *buf, size_t n);
void mb_tls_client_close(void *s);
long mb_tls_client_pending(void *s);

static void set_ssl_error(mb_error **err, const char *what)
{
    char msg[256] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, msg, sizeof msg);
    mb_error_set(err, MB_ERR_AUTH, "%s%s%s", what, *msg ? ": " : "", msg);
}

void *mb_tls_client_open(int fd, const char *host, const char *ca, const char *cert,
                         const char *key, char **peer_ca, mb_error **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    if (ctx == NULL) {
        set_ssl_error(err, "TLS set-up failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (cert && key && (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
                        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
        set_ssl_error(err, "cannot load this client's certificate");
        goto fail;
    }
    if (ca) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            set_ssl_error(err, "cannot load the daemon's CA");
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        set_ssl_error(err, "TLS set-up failed");
        goto fail;
    }
    SSL_set_tlsext_host_name(ssl, host);
    if (ca) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, 0);
        if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
            X509_VERIFY_PARAM_set1_host(vp, host, 0);
    }
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
            mb_error_set(err, MB_ERR_HOSTKEY, "the daemon at %s is not the one this client "
                         "trusts (%s) (try: moonbase authenticate again if its CA changed)", host,
                         X509_verify_cert_error_string(v));
        else
            set_ssl_error(err, "TLS handshake with the daemon failed");
        goto fail;
    }
    if (peer_ca && ca == NULL) {
        STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
        int n = chain ? sk_X509_num(chain) : 0;
        if (n > 0) {
            BIO *b = BIO_new(BIO_s_mem());
            if (b && PEM_write_bio_X509(b, sk_X509_value(chain, n - 1))) {
                char *d;
                long len = BIO_get_mem_data(b, &d);
                *peer_ca = strndup(d, (size_t)len);
            }
            BIO_free(b);
        }
    }
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    return ssl;
fail:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return NULL;
}

long mb_tls_client_read(void *s, void *buf, size_t n)
{
    int r = SSL_read(s, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    if (r > 0)
        return r;
    int e = SSL_get_error(s, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        errno = EAGAIN;
    else
        errno = EIO;
    return e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? 0 : -1;
}

long mb_tls_client_write(void *s, const void *buf, size_t n)
{
    int r = SSL_write(s, buf, n > 1 << 30 ? 1 << 30 : (int)n);
    if (r > 0)
        return r;
    errno = EIO;
    return -1;
}

long mb_tls_client_pending(void *s)
{
    return SSL_pending(s);
}

void mb_tls_client_close(void *s)
{
    if (s) {
        SSL_shutdown(s);
        SSL_free(s);
    }
}
