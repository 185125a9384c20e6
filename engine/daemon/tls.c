/* moonbase.engine.tls: the daemon's certificates and secrets with OpenSSL's
 * libcrypto: EC P-256 keys, the daemon's own CA and the certificates it
 * signs, client certificates, SHA-256 fingerprints, passphrase hashes
 * (PBKDF2-HMAC-SHA256, compared in constant time) and random tokens. */
#include "lua/luaerr.h"
#include "lua/opts.h"

#include <lauxlib.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define PBKDF2_ITER 200000

static int fail(lua_State *L, const char *what)
{
    lua_pushnil(L);
    lua_pushfstring(L, "tls: %s failed", what);
    lua_pushliteral(L, "failed");
    return 3;
}

static void push_bio(lua_State *L, BIO *bio)
{
    char *data;
    long len = BIO_get_mem_data(bio, &data);
    lua_pushlstring(L, data, (size_t)len);
}

static EVP_PKEY *read_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return k;
}

static X509 *read_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return c;
}

/* keygen() -> PEM of a new EC P-256 private key */
static int l_keygen(lua_State *L)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    int n;
    if (k && b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
        push_bio(L, b);
        n = 1;
    } else {
        n = fail(L, "key generation");
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    return n;
}

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ex == NULL)
        return false;
    bool ok = X509_add_ext(cert, ex, -1) == 1;
    X509_EXTENSION_free(ex);
    return ok;
}

/* cert{key = PEM, cn = NAME, days = N, ca = bool, san = "DNS:x,IP:y",
 *      issuer_cert = PEM, issuer_key = PEM, client = bool} -> PEM
 * Self-signed without issuer_*. */
static int l_cert(lua_State *L)
{
    static const char *const keys[] = {"key", "cn", "days", "ca", "san", "issuer_cert",
                                       "issuer_key", "client", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    mb_lua_check_opts(L, 1, "tls.cert", keys);
    const char *key_pem = mb_lua_opt_str(L, 1, "key", NULL);
    const char *cn = mb_lua_opt_str(L, 1, "cn", NULL);
    const char *san = mb_lua_opt_str(L, 1, "san", NULL);
    const char *icert_pem = mb_lua_opt_str(L, 1, "issuer_cert", NULL);
    const char *ikey_pem = mb_lua_opt_str(L, 1, "issuer_key", NULL);
    long days = (long)mb_lua_opt_int(L, 1, "days", 3650);
    bool ca = mb_lua_opt_bool(L, 1, "ca", false);
    bool client = mb_lua_opt_bool(L, 1, "client", false);
    if (key_pem == NULL || cn == NULL)
        return luaL_error(L, "tls.cert: key and cn are required");
    EVP_PKEY *key = read_key(key_pem), *ikey = ikey_pem ? read_key(ikey_pem) : NULL;
    X509 *issuer = icert_pem ? read_cert(icert_pem) : NULL;
    X509 *cert = X509_new();
    BIO *out = BIO_new(BIO_s_mem());
    int n = 0;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (!key || !cert || !out || (icert_pem && (!issuer || !ikey))) {
        n = fail(L, "reading the keys");
        goto cleanup;
    }
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    X509_set_version(cert, 2);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400L);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"moonbase", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509 *signer = issuer ? issuer : cert;
    bool ok = add_ext(cert, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE")
              && add_ext(cert, signer, NID_subject_key_identifier, "hash")
              && add_ext(cert, signer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign"
                                                         : "critical,digitalSignature");
    if (ok && !ca)
        ok = add_ext(cert, signer, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
    if (ok && san && *san)
        ok = add_ext(cert, signer, NID_subject_alt_name, san);
    if (!ok || !X509_sign(cert, issuer ? ikey : key, EVP_sha256()) ||
        !PEM_write_bio_X509(out, cert)) {
        n = fail(L, "signing the certificate");
        goto cleanup;
    }
    push_bio(L, out);
    n = 1;
cleanup:
    BN_free(bn);
    BIO_free(out);
    X509_free(cert);
    X509_free(issuer);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ikey);
    return n;
}

/* fingerprint(PEM) -> lower-case hex SHA-256 of the certificate's DER */
static int l_fingerprint(lua_State *L)
{
    X509 *c = read_cert(luaL_checkstring(L, 1));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (c == NULL || !X509_digest(c, EVP_sha256(), md, &n)) {
        X509_free(c);
        return fail(L, "reading the certificate");
    }
    X509_free(c);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    lua_pushstring(L, hex);
    return 1;
}

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static bool from_hex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (unsigned char)v;
    }
    return true;
}

/* random(N) -> N random bytes as hex */
static int l_random(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0 && n <= 64, 1, "1 to 64 bytes");
    unsigned char b[64];
    char hex[129];
    if (RAND_bytes(b, (int)n) != 1)
        return fail(L, "random");
    to_hex(b, (size_t)n, hex);
    lua_pushstring(L, hex);
    return 1;
}

/* hash(PASSPHRASE) -> "pbkdf2-sha256$ITER$SALT$HASH" */
static int l_hash(lua_State *L)
{
    size_t len;
    const char *pass = luaL_checklstring(L, 1, &len);
    unsigned char salt[16], out[32];
    char hs[33], ho[65];
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        !PKCS5_PBKDF2_HMAC(pass, (int)len, salt, sizeof salt, PBKDF2_ITER, EVP_sha256(),
                           sizeof out, out))
        return fail(L, "hashing");
    to_hex(salt, sizeof salt, hs);
    to_hex(out, sizeof out, ho);
    lua_pushfstring(L, "pbkdf2-sha256$%d$%s$%s", PBKDF2_ITER, hs, ho);
    return 1;
}

/* verify(PASSPHRASE, STORED) -> boolean */
static int l_verify(lua_State *L)
{
    size_t len;
    const char *pass = luaL_checklstring(L, 1, &len);
    const char *stored = luaL_checkstring(L, 2);
    int iter = 0;
    char hs[33], ho[65];
    unsigned char salt[16], want[32], got[32];
    if (sscanf(stored, "pbkdf2-sha256$%d$%32[0-9a-f]$%64[0-9a-f]", &iter, hs, ho) != 3 ||
        iter < 1000 || iter > 10000000 || !from_hex(hs, salt, sizeof salt) ||
        !from_hex(ho, want, sizeof want)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (!PKCS5_PBKDF2_HMAC(pass, (int)len, salt, sizeof salt, iter, EVP_sha256(), sizeof got,
                           got))
        return fail(L, "hashing");
    lua_pushboolean(L, CRYPTO_memcmp(want, got, sizeof got) == 0);
    return 1;
}

/* sha256(TEXT) -> hex */
static int l_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char md[32];
    char hex[65];
    if (!EVP_Digest(s, len, md, NULL, EVP_sha256(), NULL))
        return fail(L, "sha256");
    to_hex(md, sizeof md, hex);
    lua_pushstring(L, hex);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"keygen", l_keygen}, {"cert", l_cert},     {"fingerprint", l_fingerprint},
    {"random", l_random}, {"hash", l_hash},     {"verify", l_verify},
    {"sha256", l_sha256}, {NULL, NULL},
};

int luaopen_moonbase_engine_tls(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
