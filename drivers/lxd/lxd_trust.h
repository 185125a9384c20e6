/* Trust between moonbase and a remote LXD: moonbase's own TLS client
 * certificate, LXD's trust tokens (`lxc config trust add` prints one: base64
 * of {"client_name", "fingerprint", "addresses", "secret", "expires_at"}),
 * and adding moonbase's certificate to the server's trust store with one. */
#ifndef MB_LXD_TRUST_H
#define MB_LXD_TRUST_H

#include <stdbool.h>

#include "core/error.h"
#include "drivers/lxd/lxd_client.h"

struct mb_lxd_token {
    char *client_name;
    char *fingerprint; /* SHA-256 of the server's certificate, hex */
    char **addresses;  /* "HOST:PORT", NULL-terminated */
    char *secret;
};

/* Decodes a trust token; a malformed one is MB_ERR_USAGE saying what is wrong. */
struct mb_lxd_token *mb_lxd_token_decode(const char *token, mb_error **err);
void mb_lxd_token_free(struct mb_lxd_token *t);

/* Makes moonbase's client certificate and key (PEM, key mode 0600) unless
 * both exist: an ECDSA P-384 key and a self-signed certificate for TLS
 * client authentication, as LXD's own client makes. */
bool mb_lxd_client_cert(const char *cert_path, const char *key_path, const char *name,
                        mb_error **err);

/* Trusts the LXD at conf->url (or, when that is NULL, the token's first
 * address that answers) with a token: the server's certificate must be the
 * one the token names; it is written to server_cert_out (PEM), and moonbase's
 * certificate (conf->client_cert/key) is added to the server's trust store
 * with the token. *url_out (caller frees) gets the URL that was used. */
bool mb_lxd_trust(const struct mb_lxd_conf *conf, const char *token,
                  const char *server_cert_out, char **url_out, mb_error **err);

#endif
