/* uid/gid maps of the SFTP server (sftp_server.h): files owned by a host id
 * are shown to the guest as owned by its guest id, and the guest's chown
 * to a guest id becomes the host id. */
#ifndef MB_SFTP_IDMAP_H
#define MB_SFTP_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* One id mapping: files owned by `host` are reported as owned by `guest`
 * (and a chown to `guest` from the client becomes `host`). */
struct mb_sftp_idmap {
    uint32_t host, guest;
};

#define MB_SFTP_MAX_MAP 16

/* Parses "H:G[,H:G]..." into map (at most MB_SFTP_MAX_MAP entries). */
bool mb_sftp_parse_idmap(const char *s, struct mb_sftp_idmap *map, size_t *n, mb_error **err);

/* host -> guest and back; an id without a mapping stays what it is. */
uint32_t sftp_map_id(const struct mb_sftp_idmap *map, size_t n, uint32_t host);
uint32_t sftp_unmap_id(const struct mb_sftp_idmap *map, size_t n, uint32_t guest);

#endif
