/* What the image transfers share (engine/image/image.c, the pipelined download;
 * engine/image/image_curl.c, curl's set-up and errors, small GETs, file hashes):
 * private to those two files. */
#ifndef MB_IMAGE_CURL_H
#define MB_IMAGE_CURL_H

#include <curl/curl.h>
#include <stddef.h>

#include "core/error.h"

#define MB_IMAGE_CHUNK ((size_t)1 << 20)
#define MB_IMAGE_STALL 30L /* seconds without data before a transfer gives up */

/* curl_global_init, once per process. */
void mb_image_curl_init(void);

/* A connect timeout in seconds: t, or the default when t is <= 0 or larger. */
long mb_image_connect_timeout(long t);

/* The options every transfer uses (URL, error buffer, protocols, redirects,
 * TLS verification, timeouts). stall: curl's low-speed check (seconds below
 * 1 byte/s); 0 leaves it off, for transfers that detect stalls themselves
 * (it would also loosen CURLOPT_MAX_RECV_SPEED_LARGE). */
void mb_image_curl_setup(CURL *c, const char *url, char *errbuf, long connect_timeout,
                         long stall);

/* One line saying what went wrong with a transfer, for any CURLcode. */
void mb_image_curl_error(mb_error **err, CURL *c, CURLcode rc, const char *url,
                         const char *errbuf, long connect_timeout, long stall);

/* len bytes of md as lowercase hex into out (2 * len + 1 bytes). */
void mb_image_hex(const unsigned char *md, unsigned len, char *out);

#endif
