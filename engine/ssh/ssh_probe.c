/* Probing for an SSH server while a guest boots (see ssh.h: mb_ssh_probe). */
#include "ssh/ssh.h"
#include "core/clock.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Milliseconds left until deadline (mb_clock_ms), at least 0. */
static int ms_left(int64_t deadline)
{
    int64_t left = deadline - mb_clock_ms();
    return left < 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
}

/* One connection of a probe. */
struct probe_conn {
    int fd;
    bool connected;
    int64_t since; /* when it was opened, or connected */
    size_t got;
    char line[8];
};

#define PROBE_HELD 4

static int probe_open(const struct addrinfo *ai, struct probe_conn *c)
{
    c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   ai->ai_protocol);
    c->connected = false;
    c->since = mb_clock_ms();
    c->got = 0;
    if (c->fd < 0)
        return errno;
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        return e;
    }
    return 0;
}

bool mb_ssh_probe(const char *host, int port, int timeout_ms, int connect_ms, int again_ms,
                  const char **how, mb_error **err)
{
    int64_t deadline = mb_clock_ms() + timeout_ms;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        mb_error_set(err, MB_ERR_UNREACHABLE, "ssh: cannot resolve %s: %s", host,
                     gai_strerror(rc));
        return false;
    }
    struct probe_conn conns[PROBE_HELD];
    int n = 0;
    bool ok = false, timed_out = false, unconnected = false;
    int e = probe_open(ai, &conns[0]);
    if (e == 0)
        n = 1;
    while (n > 0 && !ok && e == 0) {
        int64_t now = mb_clock_ms();
        struct probe_conn *newest = &conns[n - 1];
        /* the first handshake has its own shorter wait */
        if (!conns[0].connected && n == 1 && now - conns[0].since >= connect_ms) {
            timed_out = unconnected = true;
            break;
        }
        if (now >= deadline) {
            timed_out = true;
            break;
        }
        if (again_ms > 0 && newest->connected && now - newest->since >= again_ms) {
            if (n == PROBE_HELD) {
                close(conns[0].fd);
                memmove(conns, conns + 1, sizeof conns[0] * (PROBE_HELD - 1));
                n--;
            }
            e = probe_open(ai, &conns[n]);
            if (e != 0)
                break;
            n++;
            continue;
        }
        int64_t wake = deadline;
        if (n == 1 && !conns[0].connected && conns[0].since + connect_ms < wake)
            wake = conns[0].since + connect_ms;
        newest = &conns[n - 1];
        if (again_ms > 0 && newest->connected && newest->since + again_ms < wake)
            wake = newest->since + again_ms;
        struct pollfd p[PROBE_HELD];
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){conns[i].fd, conns[i].connected ? POLLIN : POLLOUT, 0};
        int r = poll(p, (nfds_t)n, ms_left(wake));
        if (r < 0 && errno != EINTR) {
            e = errno;
            break;
        }
        for (int i = 0; r > 0 && i < n && !ok && e == 0; i++) {
            if (p[i].revents == 0)
                continue;
            struct probe_conn *c = &conns[i];
            if (!c->connected) {
                socklen_t len = sizeof e;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
                    e = errno;
                c->connected = e == 0;
                c->since = mb_clock_ms();
                continue;
            }
            ssize_t got = read(c->fd, c->line + c->got, sizeof c->line - c->got);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                e = got < 0 ? errno : ECONNRESET;
                break;
            }
            c->got += (size_t)got;
            if (c->got >= 4) {
                ok = memcmp(c->line, "SSH-", 4) == 0;
                if (!ok)
                    e = EPROTO;
            }
        }
    }
    for (int i = 0; i < n; i++)
        close(conns[i].fd);
    freeaddrinfo(ai);
    if (ok)
        return true;
    *how = unconnected ? "unconnected" : timed_out ? "silent"
         : e == ECONNREFUSED ? "refused" : "closed";
    if (unconnected)
        mb_error_set(err, MB_ERR_TIMEOUT, "ssh: no answer from %s:%d within %d ms", host, port,
                     connect_ms < timeout_ms ? connect_ms : timeout_ms);
    else if (timed_out)
        mb_error_set(err, MB_ERR_TIMEOUT, "ssh: no SSH banner from %s:%d within %d ms", host,
                     port, timeout_ms);
    else
        mb_error_set(err, MB_ERR_UNREACHABLE, "ssh: no SSH server answers on %s:%d (%s)", host,
                     port, e == EPROTO ? "not an SSH banner" : strerror(e));
    return false;
}

