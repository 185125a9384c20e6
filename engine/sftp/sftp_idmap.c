/* uid/gid maps of the SFTP server (see sftp_idmap.h). */
#include "sftp/sftp_idmap.h"

#include <errno.h>
#include <stdlib.h>

uint32_t sftp_map_id(const struct mb_sftp_idmap *map, size_t n, uint32_t host)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].host == host)
            return map[i].guest;
    return host;
}

uint32_t sftp_unmap_id(const struct mb_sftp_idmap *map, size_t n, uint32_t guest)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].guest == guest)
            return map[i].host;
    return guest;
}

bool mb_sftp_parse_idmap(const char *s, struct mb_sftp_idmap *map, size_t *n, mb_error **err)
{
    *n = 0;
    const char *p = s ? s : "";
    while (*p) {
        char *end;
        errno = 0;
        unsigned long h = strtoul(p, &end, 10);
        if (end == p || *end != ':' || errno || h > UINT32_MAX)
            goto bad;
        p = end + 1;
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || errno || g > UINT32_MAX)
            goto bad;
        if (*n >= MB_SFTP_MAX_MAP) {
            mb_error_set(err, MB_ERR_USAGE, "sftp server: at most %d id mappings",
                         MB_SFTP_MAX_MAP);
            return false;
        }
        map[*n].host = (uint32_t)h;
        map[*n].guest = (uint32_t)g;
        (*n)++;
        p = *end ? end + 1 : end;
    }
    return true;
bad:
    mb_error_set(err, MB_ERR_USAGE, "sftp server: bad id map \"%s\" (expected HOST:GUEST,...)",
                 s);
    return false;
}
