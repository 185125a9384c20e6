/* Unix stream sockets by path (see unixsock.h). */
#include "core/unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h> /* umask */
#include <sys/un.h>
#include <unistd.h>

/* Fills sa for path; a long path goes through its directory, whose
 * descriptor is left in *dirfd (-1 otherwise) until the call is made. */
static bool address(const char *path, struct sockaddr_un *sa, int *dirfd)
{
    *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    *dirfd = -1;
    if (strlen(path) < sizeof sa->sun_path) {
        memcpy(sa->sun_path, path, strlen(path) + 1);
        return true;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (dir == NULL)
        return false;
    *dirfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (*dirfd < 0)
        return false;
    int n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", *dirfd, name);
    if (n < 0 || (size_t)n >= sizeof sa->sun_path) {
        close(*dirfd);
        *dirfd = -1;
        errno = ENAMETOOLONG;
        return false;
    }
    return true;
}

/* A socket connected to path, or (listening) bound to it and listening;
 * -1 with errno set. */
static int open_at(const char *path, bool listening, int backlog)
{
    struct sockaddr_un sa;
    int dirfd;
    if (!address(path, &sa, &dirfd))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = fd < 0 ? -1 : 0;
    if (r == 0 && listening) {
        unlink(path); /* left by a process that died (callers make sure of that) */
        mode_t old = umask(0077); /* for its owner only */
        r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        umask(old);
        if (r == 0)
            r = listen(fd, backlog);
    } else if (r == 0) {
        while ((r = connect(fd, (struct sockaddr *)&sa, sizeof sa)) < 0 && errno == EINTR)
            ;
    }
    int e = errno;
    if (dirfd >= 0)
        close(dirfd);
    if (r != 0 && fd >= 0)
        close(fd);
    errno = e;
    return r == 0 ? fd : -1;
}

int mb_unix_connect(const char *path, mb_error **err)
{
    int fd = open_at(path, false, 0);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ECONNREFUSED)
            mb_error_set(err, MB_ERR_UNREACHABLE, "cannot connect to %s: %s", path, strerror(e));
        else
            mb_error_set_errno(err, e, "cannot connect to %s", path);
        errno = e;
    }
    return fd;
}

int mb_unix_listen(const char *path, int backlog, mb_error **err)
{
    int fd = open_at(path, true, backlog);
    if (fd < 0) {
        int e = errno;
        mb_error_set_errno(err, e, "cannot listen on %s", path);
        errno = e;
    }
    return fd;
}
