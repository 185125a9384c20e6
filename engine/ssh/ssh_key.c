/* SSH keys without ssh-keygen: ed25519 pairs made with OpenSSL's EVP, written
 * in the OpenSSH formats (the "openssh-key-v1" private key, unencrypted, and
 * the one-line public key), and SHA256 fingerprints as ssh-keygen -l shows. */
#include "ssh/ssh.h"
#include "ssh/ssh_priv.h"
#include "core/fs.h"
#include "core/strbuf.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ED25519_LEN 32

/* Key blobs are built in an mb_strbuf; one that held a private key is
 * cleansed before it is freed (kb_free). */
static void kb_u32(struct mb_strbuf *b, uint32_t v)
{
    unsigned char be[4] = {v >> 24, v >> 16, v >> 8, v};
    mb_strbuf_addn(b, be, 4);
}

static void kb_string(struct mb_strbuf *b, const void *data, size_t n)
{
    kb_u32(b, (uint32_t)n);
    mb_strbuf_addn(b, data, n);
}

static void kb_free(struct mb_strbuf *b)
{
    if (b->s)
        OPENSSL_cleanse(b->s, b->cap);
    mb_strbuf_free(b);
}

/* Standard base64 with padding; caller frees. */
static char *b64(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static void pubkey_blob(struct mb_strbuf *b, const unsigned char pub[ED25519_LEN])
{
    kb_string(b, "ssh-ed25519", 11);
    kb_string(b, pub, ED25519_LEN);
}

static char *public_line(const unsigned char pub[ED25519_LEN], const char *comment)
{
    struct mb_strbuf blob = {0};
    pubkey_blob(&blob, pub);
    char *enc = blob.oom ? NULL : b64((unsigned char *)blob.s, blob.n);
    kb_free(&blob);
    if (enc == NULL)
        return NULL;
    size_t n = strlen("ssh-ed25519 ") + strlen(enc) + 1 + strlen(comment) + 1;
    char *line = malloc(n);
    if (line != NULL)
        snprintf(line, n, "ssh-ed25519 %s%s%s", enc, *comment ? " " : "", comment);
    free(enc);
    return line;
}

/* The openssh-key-v1 container, PEM-armoured with 70-column lines. */
static char *private_pem(const unsigned char pub[ED25519_LEN],
                         const unsigned char seed[ED25519_LEN], const char *comment)
{
    struct mb_strbuf priv = {0}, all = {0};
    char *pem = NULL, *enc = NULL;
    uint32_t check;
    if (RAND_bytes((unsigned char *)&check, sizeof check) != 1)
        goto cleanup;
    kb_u32(&priv, check);
    kb_u32(&priv, check);
    kb_string(&priv, "ssh-ed25519", 11);
    kb_string(&priv, pub, ED25519_LEN);
    kb_u32(&priv, 2 * ED25519_LEN); /* OpenSSH keeps seed || public key */
    mb_strbuf_addn(&priv, seed, ED25519_LEN);
    mb_strbuf_addn(&priv, pub, ED25519_LEN);
    kb_string(&priv, comment, strlen(comment));
    for (unsigned char pad = 1; priv.n % 8 != 0; pad++)
        mb_strbuf_addn(&priv, &pad, 1);

    mb_strbuf_addn(&all, "openssh-key-v1", 15); /* with its NUL */
    kb_string(&all, "none", 4);         /* cipher */
    kb_string(&all, "none", 4);         /* kdf */
    kb_string(&all, "", 0);             /* kdf options */
    kb_u32(&all, 1);                    /* number of keys */
    struct mb_strbuf blob = {0};
    pubkey_blob(&blob, pub);
    kb_string(&all, blob.s, blob.n);
    bool blob_oom = blob.oom;
    kb_free(&blob);
    kb_string(&all, priv.s, priv.n);
    if (priv.oom || all.oom || blob_oom)
        goto cleanup;

    enc = b64((unsigned char *)all.s, all.n);
    if (enc == NULL)
        goto cleanup;
    static const char head[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
    static const char tail[] = "-----END OPENSSH PRIVATE KEY-----\n";
    size_t elen = strlen(enc);
    pem = malloc(sizeof head + sizeof tail + elen + elen / 70 + 2);
    if (pem == NULL)
        goto cleanup;
    char *w = pem;
    w += sprintf(w, "%s", head);
    for (size_t i = 0; i < elen; i += 70) {
        size_t n = elen - i < 70 ? elen - i : 70;
        memcpy(w, enc + i, n);
        w += n;
        *w++ = '\n';
    }
    sprintf(w, "%s", tail);

cleanup:
    if (enc)
        OPENSSL_cleanse(enc, strlen(enc));
    free(enc);
    kb_free(&priv);
    kb_free(&all);
    return pem;
}

bool mb_ssh_keypair(const char *comment, char **private_out, char **public_out,
                    mb_error **err)
{
    unsigned char pub[ED25519_LEN], seed[ED25519_LEN];
    size_t publen = sizeof pub, seedlen = sizeof seed;
    bool ok = false;
    *private_out = *public_out = NULL;
    if (comment == NULL)
        comment = "";
    if (strchr(comment, '\n') != NULL) {
        mb_error_set(err, MB_ERR_USAGE, "ssh key comment must be one line");
        return false;
    }
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1
        || EVP_PKEY_get_raw_private_key(key, seed, &seedlen) != 1 || publen != ED25519_LEN
        || seedlen != ED25519_LEN) {
        mb_error_set(err, MB_ERR_FAILED, "cannot generate an ed25519 key (OpenSSL)");
        goto cleanup;
    }
    *private_out = private_pem(pub, seed, comment);
    *public_out = public_line(pub, comment);
    if (*private_out == NULL || *public_out == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "cannot encode an ed25519 key: out of memory");
        goto cleanup;
    }
    ok = true;

cleanup:
    if (!ok) {
        free(*private_out);
        free(*public_out);
        *private_out = *public_out = NULL;
    }
    OPENSSL_cleanse(seed, sizeof seed);
    EVP_PKEY_free(key);
    return ok;
}

char *mb_ssh_keygen(const char *path, const char *comment, mb_error **err)
{
    char *priv = NULL, *pub = NULL, *pubpath = NULL, *line = NULL;
    struct stat st;
    if (lstat(path, &st) == 0) {
        mb_error_set(err, MB_ERR_EXISTS,
                     "ssh key %s already exists (remove it first to make a new one)", path);
        return NULL;
    }
    if (!mb_ssh_keypair(comment, &priv, &pub, err))
        goto cleanup;
    size_t n = strlen(path) + 5;
    pubpath = malloc(n);
    line = malloc(strlen(pub) + 2);
    if (pubpath == NULL || line == NULL) {
        mb_error_set(err, MB_ERR_IO, "out of memory");
        goto cleanup;
    }
    snprintf(pubpath, n, "%s.pub", path);
    sprintf(line, "%s\n", pub);
    /* the public half first: a private key without its .pub is worse */
    if (!mb_fs_write_atomic(pubpath, line, strlen(line), 0644, err)
        || !mb_fs_write_atomic(path, priv, strlen(priv), 0600, err)) {
        free(pub);
        pub = NULL;
        goto cleanup;
    }

cleanup:
    if (priv)
        OPENSSL_cleanse(priv, strlen(priv));
    free(priv);
    free(pubpath);
    free(line);
    return pub;
}

/* Base64 decoding of exactly len characters; *outlen gets the byte count. */
static unsigned char *unb64(const char *s, size_t len, size_t *outlen)
{
    if (len == 0 || len % 4 != 0)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0) {
        free(out);
        return NULL;
    }
    size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
    *outlen = (size_t)n - pad;
    return out;
}

unsigned char *mb_ssh_pubkey_decode(const char *line, size_t *len, mb_error **err)
{
    const char *p = line ? line : "";
    while (*p == ' ' || *p == '\t')
        p++;
    const char *type = p;
    size_t tlen = strcspn(p, " \t\r\n");
    p += tlen;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t blen = strcspn(p, " \t\r\n");
    unsigned char *blob = tlen ? unb64(p, blen, len) : NULL;
    if (blob == NULL || *len < 4) {
        free(blob);
        mb_error_set(err, MB_ERR_USAGE,
                     "not an SSH public key line (want \"TYPE BASE64 [comment]\"): %.60s",
                     line ? line : "");
        return NULL;
    }
    uint32_t n = (uint32_t)blob[0] << 24 | blob[1] << 16 | blob[2] << 8 | blob[3];
    if (n != tlen || *len < 4 + (size_t)n || memcmp(blob + 4, type, tlen) != 0) {
        free(blob);
        mb_error_set(err, MB_ERR_USAGE, "SSH public key line: type %.*s does not match its key",
                     (int)tlen, type);
        return NULL;
    }
    return blob;
}

char *mb_ssh_fingerprint_blob(const unsigned char *blob, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) != 1)
        return NULL;
    char *enc = b64(md, mdlen);
    char *fp = enc ? malloc(strlen(enc) + 8) : NULL;
    if (fp != NULL) {
        char *eq = strchr(enc, '=');
        if (eq)
            *eq = '\0';
        sprintf(fp, "SHA256:%s", enc);
    }
    free(enc);
    return fp;
}

char *mb_ssh_fingerprint(const char *line, mb_error **err)
{
    size_t len;
    unsigned char *blob = mb_ssh_pubkey_decode(line, &len, err);
    if (blob == NULL)
        return NULL;
    char *fp = mb_ssh_fingerprint_blob(blob, len);
    free(blob);
    if (fp == NULL)
        mb_error_set(err, MB_ERR_FAILED, "cannot compute an SSH key fingerprint");
    return fp;
}
