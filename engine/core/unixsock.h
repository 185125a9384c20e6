/* Unix stream sockets by path, for the instance agent and QMP. A path longer
 * than sun_path holds (108 bytes: an instance directory under a deep
 * MOONBASE_HOME) is reached through its directory's descriptor,
 * /proc/self/fd/N/<name>, so it works wherever the file can be. */
#ifndef MB_UNIXSOCK_H
#define MB_UNIXSOCK_H

#include "core/error.h"

/* A connected socket (close-on-exec), or -1 with err set ("cannot connect to
 * PATH: reason"; MB_ERR_UNREACHABLE when nothing listens there) and errno
 * left saying why, for callers with a message of their own. */
int mb_unix_connect(const char *path, mb_error **err);

/* A listening socket (close-on-exec) at path, readable and writable by its
 * owner only; whatever is at path is replaced (the caller makes sure no live
 * server uses it). -1 with err set and errno left saying why. */
int mb_unix_listen(const char *path, int backlog, mb_error **err);

#endif
