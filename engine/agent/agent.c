/* The instance agent's client half (the server is agent_server.c). The
 * client lends its stdin, stdout and stderr with SCM_RIGHTS, so output
 * streams straight from the agent to the caller's terminal or pipe.
 * Wire format: "key value\n" lines ("\\" and "\n" escaped in values), ended by
 * an empty line; the answer is one line, "ok STATUS" or "err CODE MESSAGE". */
#include "agent/agent.h"
#include "core/unixsock.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define MAX_REQUEST (64 * 1024)

/* ------------------------------------------------------------ encoding */

static bool buf_add(char *buf, size_t *len, const char *s, size_t n)
{
    if (*len + n >= MAX_REQUEST)
        return false;
    memcpy(buf + *len, s, n);
    *len += n;
    return true;
}

static bool put_field(char *buf, size_t *len, const char *key, const char *value)
{
    if (value == NULL)
        return true;
    if (!buf_add(buf, len, key, strlen(key)) || !buf_add(buf, len, " ", 1))
        return false;
    for (const char *p = value; *p; p++) {
        const char *esc = *p == '\n' ? "\\n" : *p == '\\' ? "\\\\" : NULL;
        if (!(esc ? buf_add(buf, len, esc, 2) : buf_add(buf, len, p, 1)))
            return false;
    }
    return buf_add(buf, len, "\n", 1);
}

static bool put_int(char *buf, size_t *len, const char *key, long v)
{
    char s[32];
    snprintf(s, sizeof s, "%ld", v);
    return put_field(buf, len, key, s);
}

/* ------------------------------------------------------------ client */

static int connect_to(const char *path, mb_error **err)
{
    int fd = mb_unix_connect(path, NULL);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ECONNREFUSED)
            mb_error_set(err, MB_ERR_UNREACHABLE, "no agent is listening on %s", path);
        else
            mb_error_set_errno(err, e, "agent: cannot connect to %s", path);
    }
    return fd;
}

static bool send_request(int fd, const char *buf, size_t len, const int *fds, int nfds,
                         mb_error **err)
{
    char cbuf[CMSG_SPACE(sizeof(int) * 3)];
    memset(cbuf, 0, sizeof cbuf);
    size_t off = 0;
    while (off < len) {
        struct iovec iov = {(char *)buf + off, len - off};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (off == 0 && nfds > 0) {
            mh.msg_control = cbuf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
        }
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            mb_error_set_errno(err, errno, "agent: cannot send request");
            return false;
        }
        off += (size_t)w;
    }
    return true;
}

static int read_reply(int fd, mb_error **err)
{
    char line[1300];
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t r = read(fd, line + len, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    if (strncmp(line, "ok ", 3) == 0)
        return atoi(line + 3);
    if (strncmp(line, "err ", 4) == 0) {
        char *code = line + 4, *msg = strchr(code, ' ');
        if (msg)
            *msg++ = '\0';
        static const enum mb_error_code codes[] = {
            MB_ERR_USAGE, MB_ERR_FAILED, MB_ERR_UNSUPPORTED, MB_ERR_NOT_FOUND, MB_ERR_TIMEOUT,
            MB_ERR_STATE, MB_ERR_EXISTS, MB_ERR_IO, MB_ERR_UNREACHABLE, MB_ERR_HOSTKEY,
            MB_ERR_AUTH,
        };
        enum mb_error_code ec = MB_ERR_FAILED;
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcmp(code, mb_error_code_name(codes[i])) == 0)
                ec = codes[i];
        mb_error_set(err, ec, "%s", msg ? msg : "agent error");
        return -1;
    }
    mb_error_set(err, MB_ERR_FAILED, "the instance agent ended the request without an answer "
                 "(see agent.log in the instance directory)");
    return -1;
}

static volatile sig_atomic_t winch_seen;

static void on_winch(int sig)
{
    (void)sig;
    winch_seen = 1;
}

/* Waits for the answer to an interactive PTY request, telling the agent
 * "winch COLS ROWS" each time tty's window changes size. SIGWINCH is only
 * let through inside ppoll(), so none is missed; a change before the handler
 * was in place is caught by comparing with the size the request sent. */
static void relay_resizes(int fd, int tty, int cols, int rows)
{
    struct sigaction sa, old_sa;
    sigset_t block, oldmask, waitmask;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    sigaction(SIGWINCH, &sa, &old_sa);
    struct winsize now;
    winch_seen = ioctl(tty, TIOCGWINSZ, &now) == 0 && (now.ws_col != cols || now.ws_row != rows);
    waitmask = oldmask;
    sigdelset(&waitmask, SIGWINCH);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = winch_seen ? 0 : ppoll(&p, 1, NULL, &waitmask);
        if (winch_seen) {
            winch_seen = 0;
            struct winsize ws;
            if (ioctl(tty, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
                char line[48];
                int len = snprintf(line, sizeof line, "winch %u %u\n", ws.ws_col, ws.ws_row);
                if (send(fd, line, (size_t)len, MSG_NOSIGNAL) < 0 && errno != EINTR)
                    break; /* the agent went away: read_reply says so */
            }
        }
        if (n > 0 || (n < 0 && errno != EINTR))
            break; /* the answer (or the end) is there */
    }
    sigaction(SIGWINCH, &old_sa, NULL);
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
}

int mb_agent_call(const char *socket_path, const struct mb_agent_request *r, mb_error **err)
{
    char *buf = malloc(MAX_REQUEST);
    size_t len = 0;
    int fd = -1, result = -1;
    struct termios saved;
    bool raw = false;
    if (buf == NULL) {
        mb_error_set(err, MB_ERR_IO, "agent: out of memory");
        goto cleanup;
    }
    bool ok = put_field(buf, &len, "op", r->op) && put_field(buf, &len, "command", r->command)
              && put_field(buf, &len, "term", r->term) && put_field(buf, &len, "local", r->local)
              && put_field(buf, &len, "remote", r->remote) && put_int(buf, &len, "cols", r->cols)
              && put_int(buf, &len, "rows", r->rows) && put_int(buf, &len, "mode", r->mode)
              && put_int(buf, &len, "pty", r->pty) && put_int(buf, &len, "preserve", r->preserve)
              && put_field(buf, &len, "check", r->check)
              && put_int(buf, &len, "readonly", r->readonly)
              && put_field(buf, &len, "uid_map", r->uid_map)
              && put_field(buf, &len, "gid_map", r->gid_map);
    for (const char *const *e = r->env; ok && e && *e; e++)
        ok = put_field(buf, &len, "env", *e);
    if (!ok || !buf_add(buf, &len, "\n", 1)) {
        mb_error_set(err, MB_ERR_USAGE, "agent: request too large");
        goto cleanup;
    }
    if ((fd = connect_to(socket_path, err)) < 0)
        goto cleanup;
    bool is_exec = strcmp(r->op, "exec") == 0;
    if (is_exec && r->interactive && isatty(r->fds[0]) && tcgetattr(r->fds[0], &saved) == 0) {
        struct termios t = saved;
        cfmakeraw(&t);
        raw = tcsetattr(r->fds[0], TCSADRAIN, &t) == 0;
    }
    if (!send_request(fd, buf, len, r->fds, is_exec ? 3 : 0, err))
        goto cleanup;
    if (is_exec && r->pty && r->interactive) {
        int tty = isatty(r->fds[1]) ? r->fds[1] : isatty(r->fds[0]) ? r->fds[0] : -1;
        if (tty >= 0)
            relay_resizes(fd, tty, r->cols, r->rows);
    }
    result = read_reply(fd, err);
cleanup:
    if (raw)
        tcsetattr(r->fds[0], TCSADRAIN, &saved);
    if (fd >= 0)
        close(fd);
    free(buf);
    return result;
}
