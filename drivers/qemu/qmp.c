/* The QMP client: blocking calls with deadlines over a non-blocking socket.
 * Each command carries an increasing "id", and a reply is matched by it, so a
 * late reply to an earlier (timed out) command is never taken for this one. */
#include "drivers/qemu/qmp.h"
#include "drivers/qemu/qemu_json.h"
#include "core/clock.h"
#include "core/unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (1 << 20) /* a QMP reply longer than this is garbage */

struct mb_qmp {
    int fd;
    char *what;    /* for messages: the socket path */
    char *buf;     /* bytes read but not yet consumed */
    size_t len, cap;
    long long next_id;
};

void mb_qmp_free(struct mb_qmp *q)
{
    if (q == NULL)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->what);
    free(q->buf);
    free(q);
}

enum mb_qmp_kind mb_qmp_classify(const char *line, long long *id, char **payload)
{
    *id = -1;
    *payload = NULL;
    const char *v;
    if (mb_json_skip(line) == NULL)
        return MB_QMP_INVALID;
    long long n;
    if (mb_json_int(mb_json_get(line, "id"), &n))
        *id = n;
    if ((v = mb_json_get(line, "return")) != NULL) {
        *payload = mb_json_dup(v);
        return MB_QMP_RETURN;
    }
    if ((v = mb_json_get(line, "error")) != NULL) {
        char *cls = mb_json_string(mb_json_get(v, "class"));
        char *desc = mb_json_string(mb_json_get(v, "desc"));
        size_t len = (cls ? strlen(cls) : 7) + (desc ? strlen(desc) : 0) + 3;
        *payload = malloc(len);
        if (*payload)
            snprintf(*payload, len, "%s: %s", cls ? cls : "unknown", desc ? desc : "");
        free(cls);
        free(desc);
        return MB_QMP_ERROR;
    }
    if ((v = mb_json_get(line, "event")) != NULL) {
        *payload = mb_json_string(v);
        return *payload ? MB_QMP_EVENT : MB_QMP_INVALID;
    }
    if (mb_json_get(line, "QMP") != NULL)
        return MB_QMP_GREETING;
    return MB_QMP_INVALID;
}

/* The next line (without its newline), waiting until deadline. Caller frees. */
static char *read_line(struct mb_qmp *q, double deadline, mb_error **err)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
        if (nl != NULL) {
            size_t n = (size_t)(nl - q->buf);
            char *line = strndup(q->buf, n);
            memmove(q->buf, nl + 1, q->len - n - 1);
            q->len -= n + 1;
            if (line && n && line[n - 1] == '\r')
                line[n - 1] = '\0';
            return line;
        }
        if (q->len >= LINE_MAX_BYTES) {
            mb_error_set(err, MB_ERR_FAILED, "QMP on %s: a message longer than %d bytes",
                         q->what, LINE_MAX_BYTES);
            return NULL;
        }
        double left = deadline - mb_clock_now();
        if (left <= 0) {
            mb_error_set(err, MB_ERR_TIMEOUT, "QMP on %s: no answer from QEMU in time "
                         "(is it hung, or is another client holding the socket?)", q->what);
            return NULL;
        }
        struct pollfd pfd = {q->fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            mb_error_set_errno(err, errno, "QMP on %s: poll", q->what);
            return NULL;
        }
        if (r == 0)
            continue;
        if (q->cap - q->len < 4096) {
            size_t cap = q->cap ? q->cap * 2 : 8192;
            char *nb = realloc(q->buf, cap);
            if (nb == NULL) {
                mb_error_set(err, MB_ERR_FAILED, "QMP on %s: out of memory", q->what);
                return NULL;
            }
            q->buf = nb;
            q->cap = cap;
        }
        ssize_t got = read(q->fd, q->buf + q->len, q->cap - q->len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0) {
            mb_error_set_errno(err, errno, "QMP on %s: read", q->what);
            return NULL;
        }
        if (got == 0) {
            mb_error_set(err, MB_ERR_FAILED, "QMP on %s: QEMU closed the connection",
                         q->what);
            return NULL;
        }
        q->len += (size_t)got;
    }
}

static bool write_all(struct mb_qmp *q, const char *s, size_t n, double deadline,
                      mb_error **err)
{
    while (n > 0) {
        ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);
        if (w > 0) {
            s += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            mb_error_set(err, MB_ERR_FAILED, "QMP on %s: QEMU closed the connection",
                         q->what);
            return false;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            mb_error_set_errno(err, errno, "QMP on %s: write", q->what);
            return false;
        }
        double left = deadline - mb_clock_now();
        if (left <= 0) {
            mb_error_set(err, MB_ERR_TIMEOUT, "QMP on %s: QEMU does not read its socket",
                         q->what);
            return false;
        }
        struct pollfd pfd = {q->fd, POLLOUT, 0};
        poll(&pfd, 1, (int)(left * 1000) + 1);
    }
    return true;
}

char *mb_qmp_execute(struct mb_qmp *q, const char *command, const char *args_json,
                     double timeout, mb_error **err)
{
    double deadline = mb_clock_now() + timeout;
    long long id = q->next_id++;
    size_t n = strlen(command) + (args_json ? strlen(args_json) : 0) + 96;
    char *msg = malloc(n), *result = NULL;
    if (msg == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "QMP on %s: out of memory", q->what);
        return NULL;
    }
    int len = snprintf(msg, n, "{\"execute\": \"%s\"%s%s, \"id\": %lld}\n", command,
                       args_json ? ", \"arguments\": " : "", args_json ? args_json : "", id);
    if (!write_all(q, msg, (size_t)len, deadline, err))
        goto cleanup;
    for (;;) {
        char *line = read_line(q, deadline, err);
        if (line == NULL)
            goto cleanup;
        long long got_id;
        char *payload;
        enum mb_qmp_kind kind = mb_qmp_classify(line, &got_id, &payload);
        free(line);
        if ((kind == MB_QMP_RETURN || kind == MB_QMP_ERROR) && got_id == id) {
            if (kind == MB_QMP_RETURN)
                result = payload;
            else {
                mb_error_set(err, MB_ERR_FAILED, "QMP %s on %s failed: %s", command, q->what,
                             payload ? payload : "unknown error");
                free(payload);
            }
            goto cleanup;
        }
        free(payload); /* an event, or a late reply to an earlier command */
    }
cleanup:
    free(msg);
    return result;
}

struct mb_qmp *mb_qmp_open_fd(int fd, const char *what, double timeout, mb_error **err)
{
    struct mb_qmp *q = calloc(1, sizeof *q);
    if (q == NULL) {
        close(fd);
        mb_error_set(err, MB_ERR_FAILED, "QMP on %s: out of memory", what);
        return NULL;
    }
    q->fd = fd;
    q->what = strdup(what);
    q->next_id = 1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    double deadline = mb_clock_now() + timeout;
    char *line = NULL, *ret = NULL;
    long long id;
    char *payload = NULL;
    /* the greeting comes first; tolerate events, never a reply */
    for (;;) {
        free(line);
        free(payload);
        payload = NULL;
        if ((line = read_line(q, deadline, err)) == NULL)
            goto fail;
        enum mb_qmp_kind kind = mb_qmp_classify(line, &id, &payload);
        if (kind == MB_QMP_GREETING)
            break;
        if (kind != MB_QMP_EVENT) {
            mb_error_set(err, MB_ERR_FAILED, "QMP on %s: expected the QMP greeting, got: %.200s",
                         what, line);
            goto fail;
        }
    }
    free(line);
    line = NULL;
    if ((ret = mb_qmp_execute(q, "qmp_capabilities", NULL, deadline - mb_clock_now(), err)) == NULL)
        goto fail;
    free(ret);
    return q;
fail:
    free(line);
    free(payload);
    mb_qmp_free(q);
    return NULL;
}

struct mb_qmp *mb_qmp_connect(const char *path, double timeout, mb_error **err)
{
    double deadline = mb_clock_now() + timeout;
    int fd = mb_unix_connect(path, NULL);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "QMP: cannot connect to %s (is QEMU running?)", path);
        return NULL;
    }
    return mb_qmp_open_fd(fd, path, deadline - mb_clock_now(), err);
}
