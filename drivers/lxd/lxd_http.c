/* HTTP/1.1 to this host's LXD over its unix socket (lxd_wire.h): a request
 * with a Content-Length body, the answer read with http_parser (LXD sends
 * Content-Length or chunked bodies), the connection kept alive between
 * requests. Everything a local LXD command needs, without libcurl. */
#include "drivers/lxd/lxd_wire.h"
#include "core/clock.h"
#include "core/strbuf.h"

#include <errno.h>
#include <http_parser.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct answer {
    struct mb_strbuf body;
    bool done, too_big, keep_alive;
};

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct answer *a = p->data;
    if (a->body.n + n > MB_LXD_MAX_BODY) {
        a->too_big = true;
        return 1;
    }
    mb_strbuf_addn(&a->body, at, n);
    return a->body.oom ? 1 : 0;
}

static int on_complete(http_parser *p)
{
    struct answer *a = p->data;
    a->done = true;
    a->keep_alive = http_should_keep_alive(p) != 0;
    http_parser_pause(p, 1); /* nothing after this answer is ours */
    return 0;
}

static const http_parser_settings parse_settings = {
    .on_body = on_body,
    .on_message_complete = on_complete,
};

void mb_lxd_http_close(struct mb_lxd_http *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    free(h->ahead);
    h->ahead = NULL;
}

static int ms_until(double deadline)
{
    double left = deadline - mb_clock_now();
    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

static bool connect_socket(struct mb_lxd_http *h, const struct mb_lxd_wire *w, mb_error **err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(w->socket) >= sizeof a.sun_path) {
        mb_error_set(err, MB_ERR_USAGE, "lxd: the socket path %s is too long", w->socket);
        return false;
    }
    strcpy(a.sun_path, w->socket);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        mb_error_set(err, MB_ERR_UNREACHABLE, "nothing answers on LXD's socket %s (%s)",
                     w->socket, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    h->fd = fd;
    return true;
}

static bool send_all(int fd, const char *p, size_t n, double deadline)
{
    while (n > 0) {
        struct pollfd pf = {fd, POLLOUT, 0};
        int r = poll(&pf, 1, ms_until(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errno = r == 0 ? ETIMEDOUT : errno;
            return false;
        }
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Sends a request on the connection h holds, connecting first when it holds
 * none; *reused says it was kept from before (the server may have closed it
 * meanwhile). False with err only when no connection could be made: a send
 * that fails says so in *sent and *e, for receive() to judge. */
static bool send_request(struct mb_lxd_http *h, const struct mb_lxd_wire *w, const char *method,
                         const char *path, const char *payload, double deadline, bool *reused,
                         bool *sent, int *e, mb_error **err)
{
    *reused = h->fd >= 0;
    if (!*reused && !connect_socket(h, w, err))
        return false;
    struct mb_strbuf req = {0};
    size_t plen = payload ? strlen(payload) : 0;
    mb_strbuf_addf(&req, "%s %s HTTP/1.1\r\nHost: lxd\r\nUser-Agent: moonbase/" MOONBASE_VERSION
                   "\r\nAccept: application/json\r\n", method, path);
    if (payload)
        mb_strbuf_addf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                       plen);
    else
        mb_strbuf_addf(&req, "\r\n");
    if (req.oom) {
        mb_strbuf_free(&req);
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return false;
    }
    *sent = send_all(h->fd, req.s, req.n, deadline) &&
            (payload == NULL || send_all(h->fd, payload, plen, deadline));
    *e = errno;
    mb_strbuf_free(&req);
    return true;
}

/* The answer to the request just sent on h (sent, e: as send_request said).
 * A kept connection the server had closed sets *stale: try once more on a
 * new one. */
static bool receive(struct mb_lxd_http *h, const struct mb_lxd_wire *w, const char *method,
                    const char *path, double deadline, bool sent, int e, bool reused,
                    struct mb_lxd_reply *out, bool *stale, mb_error **err)
{
    *stale = false;
    struct answer a = {0};
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &a;
    bool got_any = false;
    while (sent && !a.done) {
        struct pollfd pf = {h->fd, POLLIN, 0};
        int r = poll(&pf, 1, ms_until(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            mb_lxd_http_close(h);
            mb_strbuf_free(&a.body);
            mb_error_set(err, MB_ERR_TIMEOUT, "%s did not answer %s %s in time", w->where,
                         method, path);
            return false;
        }
        char buf[16384];
        ssize_t n = r < 0 ? -1 : read(h->fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            e = errno;
            sent = false;
            break;
        }
        size_t used = http_parser_execute(&hp, &parse_settings, buf, (size_t)n);
        if (n == 0) { /* the end of the connection ends a body without a length */
            if (!a.done && got_any)
                http_parser_execute(&hp, &parse_settings, NULL, 0);
            if (!a.done) {
                e = got_any ? EPROTO : ECONNRESET;
                sent = false;
            }
            break;
        }
        got_any = true;
        if (!a.done && used != (size_t)n) {
            e = a.too_big ? EFBIG : EPROTO;
            sent = false;
            break;
        }
    }
    if (!sent || !a.done) {
        mb_lxd_http_close(h);
        mb_strbuf_free(&a.body);
        if (reused && !got_any && (e == ECONNRESET || e == EPIPE)) {
            *stale = true; /* the server had closed the kept connection */
            return false;
        }
        if (e == EFBIG)
            mb_error_set(err, MB_ERR_FAILED, "%s: the answer to %s %s is larger than %zu MiB",
                         w->where, method, path, MB_LXD_MAX_BODY >> 20);
        else if (e == ETIMEDOUT)
            mb_error_set(err, MB_ERR_TIMEOUT, "%s did not answer %s %s in time", w->where,
                         method, path);
        else
            mb_error_set(err, MB_ERR_FAILED, "%s: %s %s failed: %s", w->where, method, path,
                         e == EPROTO ? "not an HTTP answer" : strerror(e));
        return false;
    }
    if (!a.keep_alive)
        mb_lxd_http_close(h);
    out->status = (long)hp.status_code;
    out->len = a.body.n;
    out->body = mb_strbuf_finish(&a.body);
    if (out->body == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return false;
    }
    return true;
}

/* One try: the request and its answer. */
static bool try_once(struct mb_lxd_http *h, const struct mb_lxd_wire *w, const char *method,
                     const char *path, const char *payload, double deadline,
                     struct mb_lxd_reply *out, bool *stale, mb_error **err)
{
    bool reused, sent;
    int e;
    *stale = false;
    return send_request(h, w, method, path, payload, deadline, &reused, &sent, &e, err) &&
           receive(h, w, method, path, deadline, sent, e, reused, out, stale, err);
}

bool mb_lxd_http_ahead(struct mb_lxd_http *h, const struct mb_lxd_wire *w, const char *path,
                       double timeout)
{
    if (h->ahead)
        return true;
    bool reused, sent;
    int e;
    char *p = strdup(path);
    if (p == NULL ||
        !send_request(h, w, "GET", path, NULL, mb_clock_now() + timeout, &reused, &sent, &e,
                      NULL) || !sent) {
        free(p);
        mb_lxd_http_close(h); /* whatever was half sent is not to be answered */
        return false;
    }
    h->ahead = p;
    h->ahead_reused = reused;
    return true;
}

bool mb_lxd_http_exchange(struct mb_lxd_http *h, const struct mb_lxd_wire *w,
                          const char *method, const char *path, const char *payload,
                          double timeout, struct mb_lxd_reply *out, mb_error **err)
{
    double deadline = mb_clock_now() + timeout;
    bool stale = false;
    if (h->ahead) { /* a GET sent ahead: its answer comes first on this connection */
        bool same = strcmp(method, "GET") == 0 && payload == NULL && strcmp(path, h->ahead) == 0;
        bool reused = h->ahead_reused;
        free(h->ahead);
        h->ahead = NULL;
        struct mb_lxd_reply early = {0};
        bool got = receive(h, w, "GET", path, deadline, true, 0, reused, same ? out : &early,
                           &stale, same ? err : NULL);
        free(early.body);
        if (same && (got || !stale))
            return got;
        /* another request, or the kept connection was gone: as usual */
    }
    if (try_once(h, w, method, path, payload, deadline, out, &stale, err))
        return true;
    return stale && try_once(h, w, method, path, payload, deadline, out, &stale, err);
}
