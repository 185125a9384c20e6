/* The plumbing under image transfers: curl's one-time set-up, the options
 * every transfer shares, one error message per CURLcode; and the small
 * requests that need no pipeline (manifests into memory, a cached file's
 * SHA-256). The large, resumable download is engine/image/image.c. */
#include "image/image.h"
#include "image/image_curl.h"
#include "core/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONNECT 10L
#define DEFAULT_GET_MAX ((size_t)64 << 20)
#define USER_AGENT "moonbase/" MOONBASE_VERSION

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void mb_image_curl_init(void)
{
    pthread_once(&curl_once, curl_init_once);
}

void mb_image_hex(const unsigned char *md, unsigned len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[2 * len] = '\0';
}

/* curl's message without a trailing newline, or its generic text */
static const char *curl_text(const char *errbuf, CURLcode rc, char *out, size_t len)
{
    snprintf(out, len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
    return out;
}

void mb_image_curl_error(mb_error **err, CURL *c, CURLcode rc, const char *url,
                         const char *errbuf, long connect_timeout, long stall)
{
    char text[CURL_ERROR_SIZE + 32];
    curl_text(errbuf, rc, text, sizeof text);
    long code = 0;
    curl_off_t connected = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        mb_error_set(err, MB_ERR_UNREACHABLE, "remote unreachable: %s (%s)", url, text);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        if (connected == 0 && code == 0)
            mb_error_set(err, MB_ERR_UNREACHABLE,
                         "remote unreachable: no answer from %s within %ld s", url,
                         connect_timeout);
        else
            mb_error_set(err, MB_ERR_FAILED,
                         "transfer of %s stalled: no data for %ld s (run it again to resume)",
                         url, stall);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        mb_error_set(err, MB_ERR_FAILED,
                     "TLS verification failed for %s (%s); moonbase does not skip it: "
                     "fix the host's certificate or the system's CA store", url, text);
        break;
    case CURLE_HTTP_RETURNED_ERROR:
        if (code == 404 || code == 410)
            mb_error_set(err, MB_ERR_NOT_FOUND, "not found on the server: %s (HTTP %ld)", url,
                         code);
        else
            mb_error_set(err, MB_ERR_FAILED, "the server answered HTTP %ld for %s", code, url);
        break;
    case CURLE_FILE_COULDNT_READ_FILE:
        mb_error_set(err, MB_ERR_NOT_FOUND, "cannot read %s (no such file, or not readable)",
                     url);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        mb_error_set(err, MB_ERR_USAGE, "unsupported URL %s: use http://, https:// or file://",
                     url);
        break;
    case CURLE_URL_MALFORMAT:
        mb_error_set(err, MB_ERR_USAGE, "malformed URL %s", url);
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        mb_error_set(err, MB_ERR_FAILED, "transfer of %s was interrupted (%s); run it again "
                     "to resume", url, text);
        break;
    default:
        mb_error_set(err, MB_ERR_FAILED, "transfer of %s failed: %s", url, text);
        break;
    }
}

void mb_image_curl_setup(CURL *c, const char *url, char *errbuf, long connect_timeout,
                         long stall)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,file");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout);
    if (stall > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall);
    }
}

long mb_image_connect_timeout(long t)
{
    return t <= 0 || t > DEFAULT_CONNECT ? DEFAULT_CONNECT : t;
}

/* ------------------------------------------------------------ small GETs */

struct membuf {
    struct mb_strbuf b;
    size_t max;
    bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct membuf *m = ud;
    size_t n = size * nmemb;
    if (m->b.n + n > m->max) {
        m->too_big = true;
        return 0;
    }
    return mb_strbuf_addn(&m->b, data, n) ? n : 0;
}

char *mb_image_http_get(const char *url, long connect_timeout, size_t max, size_t *len,
                        mb_error **err)
{
    char *out = NULL;
    struct membuf b = {.max = max ? max : DEFAULT_GET_MAX};
    char errbuf[CURL_ERROR_SIZE] = "";
    long ct = mb_image_connect_timeout(connect_timeout);
    mb_image_curl_init();
    CURL *c = curl_easy_init();
    if (c == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto cleanup;
    }
    mb_image_curl_setup(c, url, errbuf, ct, MB_IMAGE_STALL);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    if (b.too_big) {
        mb_error_set(err, MB_ERR_FAILED, "%s is larger than %zu bytes: not a manifest", url,
                     b.max);
        goto cleanup;
    }
    if (rc != CURLE_OK) {
        mb_image_curl_error(err, c, rc, url, errbuf, ct, MB_IMAGE_STALL);
        goto cleanup;
    }
    size_t n = b.b.n;
    out = mb_strbuf_finish(&b.b); /* "" for an empty body */
    b.b = (struct mb_strbuf){0};
    if (out == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto cleanup;
    }
    *len = n;

cleanup:
    mb_strbuf_free(&b.b);
    if (c != NULL)
        curl_easy_cleanup(c);
    return out;
}

bool mb_image_sha256_file(const char *path, char out[MB_SHA256_HEX], mb_error **err)
{
    bool ok = false;
    unsigned char *buf = NULL;
    EVP_MD_CTX *md = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "cannot read %s", path);
        goto cleanup;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    buf = malloc(MB_IMAGE_CHUNK);
    md = EVP_MD_CTX_new();
    if (buf == NULL || md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto cleanup;
    }
    for (;;) {
        ssize_t r = read(fd, buf, MB_IMAGE_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            mb_error_set_errno(err, errno, "cannot read %s", path);
            goto cleanup;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(md, buf, (size_t)r);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, digest, &n);
    mb_image_hex(digest, n, out);
    ok = true;

cleanup:
    if (fd >= 0)
        close(fd);
    free(buf);
    EVP_MD_CTX_free(md);
    return ok;
}
