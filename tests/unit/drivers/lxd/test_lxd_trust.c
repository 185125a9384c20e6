/* Unit tests for drivers/lxd/lxd_trust.c: trust tokens (well-formed and
 * broken ones), moonbase's client certificate, and the server certificate a
 * TLS endpoint shows, read from an `openssl s_server` on 127.0.0.1 and
 * checked against a token. Trusting a real LXD is the e2e suite's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/lxd/lxd_trust.h"

static char dir[64];

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

#define FP "57bb0ff4340b5bb28517e062023101adf788c37846dc8b619eb2c3cb4ef29436"

static void test_token_decode(void **state)
{
    char *tok = b64("{\"client_name\":\"moonbase\",\"fingerprint\":\"" FP "\","
                    "\"addresses\":[\"10.0.0.5:8443\",\"[fd00::5]:8443\"],"
                    "\"secret\":\"s3cret\",\"expires_at\":\"0001-01-01T00:00:00Z\"}");
    mb_error *err = NULL;
    struct mb_lxd_token *t = mb_lxd_token_decode(tok, &err);
    assert_null(err);
    assert_string_equal(t->client_name, "moonbase");
    assert_string_equal(t->fingerprint, FP);
    assert_string_equal(t->addresses[0], "10.0.0.5:8443");
    assert_string_equal(t->addresses[1], "[fd00::5]:8443");
    assert_null(t->addresses[2]);
    assert_string_equal(t->secret, "s3cret");
    mb_lxd_token_free(t);
    free(tok);
}

static void bad_token(const char *token, const char *words)
{
    mb_error *err = NULL;
    assert_null(mb_lxd_token_decode(token, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_USAGE);
    if (strstr(err->message, words) == NULL)
        fail_msg("\"%s\" not in \"%s\"", words, err->message);
    mb_error_free(err);
}

static void test_token_broken(void **state)
{
    bad_token("", "not base64");
    bad_token("!!!!", "not base64");
    bad_token("abc", "not base64");
    char *t = b64("not json");
    bad_token(t, "not an LXD trust token");
    free(t);
    t = b64("{\"client_name\":\"x\",\"fingerprint\":\"" FP "\",\"addresses\":[],"
            "\"secret\":\"s\"}");
    bad_token(t, "not an LXD trust token");
    free(t);
    t = b64("{\"client_name\":\"x\",\"fingerprint\":\"abc\",\"addresses\":[\"a:1\"],"
            "\"secret\":\"s\"}");
    bad_token(t, "not an LXD trust token");
    free(t);
    t = b64("{\"client_name\":\"x\",\"fingerprint\":\"" FP "\",\"addresses\":[1],"
            "\"secret\":\"s\"}");
    bad_token(t, "addresses are not strings");
    free(t);
    /* a cluster join token is not a trust token */
    t = b64("{\"server_name\":\"n2\",\"fingerprint\":\"" FP "\",\"addresses\":[\"a:1\"],"
            "\"secret\":\"s\"}");
    bad_token(t, "not an LXD trust token");
    free(t);
}

static void test_client_cert(void **state)
{
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/client.crt", dir);
    snprintf(key, sizeof key, "%s/client.key", dir);
    mb_error *err = NULL;
    assert_true(mb_lxd_client_cert(cert, key, "moonbase@test", &err));
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *f = fopen(cert, "r");
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    assert_string_equal(cn, "moonbase@test");
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
    /* a second call keeps them */
    assert_true(mb_lxd_client_cert(cert, key, "other", &err));
    f = fopen(cert, "r");
    X509 *y = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_int_equal(X509_cmp(x, y), 0);
    X509_free(x);
    X509_free(y);
}

/* An openssl s_server on 127.0.0.1:port with a certificate of its own. */
static pid_t tls_server(int port, char fp[65])
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout srv.key -out srv.crt -days 1 -subj /CN=fake-lxd 2>/dev/null && "
             "openssl x509 -in srv.crt -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' "
             "| tr A-F a-f > srv.fp", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/srv.fp", dir);
    FILE *f = fopen(cmd, "r");
    assert_non_null(fgets(fp, 65, f));
    fclose(f);
    pid_t p = fork();
    if (p == 0) {
        char addr[32], crt[128], key[128];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        snprintf(crt, sizeof crt, "%s/srv.crt", dir);
        snprintf(key, sizeof key, "%s/srv.key", dir);
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("openssl", "openssl", "s_server", "-accept", addr, "-cert", crt, "-key", key,
               "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    usleep(500 * 1000);
    return p;
}

static void test_server_cert_and_token_check(void **state)
{
    int port = 20000 + (getpid() % 20000);
    char fp[65];
    pid_t srv = tls_server(port, fp);
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    struct mb_lxd_conf conf = {.url = url, .timeout = 5};
    mb_error *err = NULL;
    char got[65];
    char *pem = NULL;
    for (int i = 0; i < 20 && pem == NULL; i++) { /* the server may still be starting */
        mb_error_free(err);
        err = NULL;
        pem = mb_lxd_server_cert(&conf, got, &err);
        if (pem == NULL)
            usleep(200 * 1000);
    }
    if (pem == NULL)
        fail_msg("%s", err->message);
    assert_string_equal(got, fp);
    assert_non_null(strstr(pem, "BEGIN CERTIFICATE"));
    free(pem);

    /* a token naming another certificate: refused before anything is sent */
    char json[512];
    snprintf(json, sizeof json, "{\"client_name\":\"m\",\"fingerprint\":\"" FP "\","
             "\"addresses\":[\"127.0.0.1:%d\"],\"secret\":\"s\"}", port);
    char *tok = b64(json);
    char out[128];
    snprintf(out, sizeof out, "%s/server.crt", dir);
    char *used = NULL;
    struct mb_lxd_conf none = {.timeout = 5};
    assert_false(mb_lxd_trust(&none, tok, out, &used, &err));
    assert_int_equal(err->code, MB_ERR_HOSTKEY);
    assert_non_null(strstr(err->message, "other than the one the trust token names"));
    assert_int_equal(access(out, F_OK), -1);
    mb_error_free(err);
    free(tok);
    kill(srv, SIGKILL);
    waitpid(srv, NULL, 0);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-lxd-trust-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_decode),
        cmocka_unit_test(test_token_broken),
        cmocka_unit_test(test_client_cert),
        cmocka_unit_test(test_server_cert_and_token_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
