/* SSH channels: exec, shell and direct-tcpip, each pumped to file descriptors
 * or memory by one poll() loop with libssh2 in non-blocking mode; PTYs with raw
 * mode and SIGWINCH for interactive shells, or resized by "winch" lines on a
 * file descriptor (the agent, whose client has the terminal). */
#include "ssh/ssh.h"
#include "ssh/ssh_priv.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 32768 /* libssh2 sends at most 32700 bytes per packet */

/* A channel request repeated while libssh2 says EAGAIN. */
#define RETRY(s, rc, call, what, err)                                                      \
    while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN)                                        \
        if (!mb_ssh_wait((s), -1, (what), (err)))                                          \
            goto cleanup;

static void channel_free(mb_ssh *s, LIBSSH2_CHANNEL *ch)
{
    if (ch == NULL)
        return;
    int64_t deadline = mb_clock_ms() + 2000;
    while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, deadline, "a channel close", NULL))
            break;
}

static LIBSSH2_CHANNEL *open_channel(mb_ssh *s, const char *host, int port, mb_error **err)
{
    LIBSSH2_CHANNEL *ch;
    if (!mb_ssh_check_alive(s, err))
        return NULL;
    for (;;) {
        ch = host ? libssh2_channel_direct_tcpip_ex(s->session, host, port, "127.0.0.1", 0)
                  : libssh2_channel_open_ex(s->session, "session", 7,
                                            4 * LIBSSH2_CHANNEL_WINDOW_DEFAULT,
                                            LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
        if (ch != NULL)
            return ch;
        if (libssh2_session_last_errno(s->session) != LIBSSH2_ERROR_EAGAIN)
            break;
        if (!mb_ssh_wait(s, -1, "a new channel", err))
            return NULL;
    }
    if (host) {
        char what[300];
        snprintf(what, sizeof what, "open a forward to %.200s:%d", host, port);
        mb_ssh_fail(s, MB_ERR_FAILED, what, err);
    } else {
        mb_ssh_fail(s, MB_ERR_FAILED, "open a channel", err);
    }
    return NULL;
}

static volatile sig_atomic_t winch_seen;

static void on_winch(int sig)
{
    (void)sig;
    winch_seen = 1;
}

static bool tty_size(int fd, int *cols, int *rows)
{
    struct winsize ws;
    if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 || ws.ws_row == 0)
        return false;
    *cols = ws.ws_col;
    *rows = ws.ws_row;
    return true;
}

/* The state of one channel being pumped. Only one libssh2 call at a time may
 * own a half-sent packet: libssh2 1.10 cannot send a different packet until
 * that one is out, so the owner is retried alone until it completes. */
enum owner { OWN_NONE, OWN_READ, OWN_WRITE, OWN_EOF, OWN_RESIZE };

struct pump {
    mb_ssh *s;
    LIBSSH2_CHANNEL *ch;
    int in_fd;                 /* -1: in_data, or nothing */
    const char *in_ptr;        /* data waiting to go to the channel */
    size_t in_left;
    bool in_eof, eof_sent;
    int out_fd[2];
    struct mb_strbuf *out_buf[2];
    bool forward;              /* direct-tcpip: pass remote EOF on with shutdown() */
    bool drained[2];           /* channel_read said 0 on stdout / stderr */
    bool remote_ended, closed, out_broken;
    int tty_fd;                /* SIGWINCH copies this terminal's size */
    int resize_fd;             /* "winch COLS ROWS" lines (-1: none, or it ended) */
    char rline[64];            /* a partly read resize line */
    size_t rlen;
    int resize_cols, resize_rows;
    bool resize_pending;
    bool held;                 /* input waits for a wider window (see window_worth) */
    bool force;                /* it waited long enough: send into any window */
    enum owner owner;
    char inbuf[4 * CHUNK];
    char outbuf[CHUNK];
};

static bool outbound_pending(struct pump *p)
{
    return libssh2_session_block_directions(p->s->session) & LIBSSH2_SESSION_BLOCK_OUTBOUND;
}

/* Writes all of data to fd, waiting on a non-blocking fd; false when the
 * reader went away (EPIPE and friends). */
static bool write_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, -1);
            continue;
        }
        if (w < 0)
            return false;
        data += w;
        n -= (size_t)w;
    }
    return true;
}

static bool pump_read(struct pump *p, mb_error **err)
{
    for (int i = 0; i < 2; i++) {
        while (!p->drained[i]) {
            ssize_t n = libssh2_channel_read_ex(p->ch, i == 0 ? 0 : SSH_EXTENDED_DATA_STDERR,
                                                p->outbuf, sizeof p->outbuf);
            if (n == LIBSSH2_ERROR_EAGAIN) {
                p->owner = outbound_pending(p) ? OWN_READ : OWN_NONE;
                if (p->owner == OWN_READ)
                    return true;
                break;
            }
            p->owner = OWN_NONE;
            if (n < 0) {
                mb_ssh_fail(p->s, MB_ERR_FAILED, "read from the channel", err);
                return false;
            }
            if (n == 0) {
                p->drained[i] = true;
                break;
            }
            if (p->out_broken)
                continue;
            if (p->out_fd[i] >= 0) {
                if (!write_all(p->out_fd[i], p->outbuf, (size_t)n))
                    p->out_broken = true;
            } else if (p->out_buf[i] && !mb_strbuf_addn(p->out_buf[i], p->outbuf, (size_t)n)) {
                mb_error_set(err, MB_ERR_FAILED, "ssh: out of memory for command output");
                return false;
            }
        }
    }
    return true;
}

/* Is the send window wide enough for a worthwhile packet? A peer that
 * reopens its window in small steps (dropbear: a third of its 24 KiB window
 * at a time) would otherwise get one small packet per step, and in a guest
 * under TCG each packet costs far more than its bytes. Half the initial
 * window (at most one full packet) is what a peer that has taken in all we
 * sent has given back; for any other peer the pump stops waiting after
 * HOLD_MS. */
#define HOLD_MS 10
#define IDLE_TICK_MS 500

static bool window_worth(struct pump *p)
{
    unsigned long initial = 0;
    unsigned long w = libssh2_channel_window_write_ex(p->ch, &initial);
    size_t want = p->in_left < CHUNK ? p->in_left : CHUNK;
    if (want > initial / 2)
        want = initial / 2;
    return p->force || w >= want;
}

/* Local input -> channel; returns false on a channel error. */
static bool pump_write(struct pump *p, bool in_ready, mb_error **err)
{
    /* input is topped up behind what still waits (never under a half-sent
     * packet), so a window that opens is filled with whole packets */
    if (p->in_left < sizeof p->inbuf && !p->in_eof && p->in_fd >= 0 && in_ready
        && p->owner == OWN_NONE) {
        if (p->in_left > 0 && p->in_ptr != p->inbuf)
            memmove(p->inbuf, p->in_ptr, p->in_left);
        p->in_ptr = p->inbuf;
        ssize_t r = read(p->in_fd, p->inbuf + p->in_left, sizeof p->inbuf - p->in_left);
        if (r > 0) {
            p->in_left += (size_t)r;
        } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            p->in_eof = true; /* a read error ends the input as EOF does */
        }
    }
    p->held = false;
    while (p->in_left > 0) {
        if (p->owner == OWN_NONE && !window_worth(p)) {
            p->held = true;
            return true;
        }
        p->force = false;
        ssize_t n = libssh2_channel_write(p->ch, p->in_ptr, p->in_left);
        if (n == LIBSSH2_ERROR_EAGAIN) {
            p->owner = outbound_pending(p) ? OWN_WRITE : OWN_NONE;
            return true;
        }
        p->owner = OWN_NONE;
        if (n == LIBSSH2_ERROR_CHANNEL_CLOSED || n == LIBSSH2_ERROR_CHANNEL_EOF_SENT
            || (n < 0 && p->remote_ended)) {
            p->in_left = 0; /* the remote side stopped listening */
            p->in_eof = p->eof_sent = true;
            return true;
        }
        if (n < 0) {
            mb_ssh_fail(p->s, MB_ERR_FAILED, "write to the channel", err);
            return false;
        }
        if (n == 0)
            return true; /* no window: wait for the remote side to make room */
        p->in_ptr += n;
        p->in_left -= (size_t)n;
    }
    if (p->in_fd < 0 && p->in_left == 0)
        p->in_eof = true;
    if (p->in_eof && !p->eof_sent) {
        int rc = libssh2_channel_send_eof(p->ch);
        if (rc == LIBSSH2_ERROR_EAGAIN) {
            p->owner = outbound_pending(p) ? OWN_EOF : OWN_NONE;
            return true;
        }
        p->owner = OWN_NONE;
        p->eof_sent = true; /* an error here means the channel is going away */
    }
    return true;
}

/* Reads what resize_fd has: each whole "winch COLS ROWS" line sets the size
 * to send (the last one wins); EOF or an error stops reading it. */
static void pump_resize_input(struct pump *p)
{
    char buf[256];
    ssize_t n = read(p->resize_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        p->resize_fd = -1;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (p->rlen < sizeof p->rline - 1)
                p->rline[p->rlen++] = buf[i];
            continue;
        }
        p->rline[p->rlen] = '\0';
        p->rlen = 0;
        int cols, rows;
        if (sscanf(p->rline, "winch %d %d", &cols, &rows) == 2 && cols > 0 && rows > 0
            && cols < 10000 && rows < 10000) {
            p->resize_cols = cols;
            p->resize_rows = rows;
            p->resize_pending = true;
        }
    }
}

static void pump_resize(struct pump *p)
{
    if (winch_seen) {
        winch_seen = 0;
        if (tty_size(p->tty_fd, &p->resize_cols, &p->resize_rows))
            p->resize_pending = true;
    }
    if (!p->resize_pending || (p->owner != OWN_NONE && p->owner != OWN_RESIZE))
        return;
    int rc = libssh2_channel_request_pty_size(p->ch, p->resize_cols, p->resize_rows);
    if (rc == LIBSSH2_ERROR_EAGAIN) {
        p->owner = outbound_pending(p) ? OWN_RESIZE : OWN_NONE;
        return;
    }
    p->owner = OWN_NONE;
    p->resize_pending = false; /* a refused resize is not worth failing for */
}

/* Has the remote side ended the channel? (both streams at EOF, then closed) */
static void pump_check_end(struct pump *p)
{
    if (!p->drained[0] || !p->drained[1] || p->closed)
        return;
    if (!p->remote_ended) {
        p->remote_ended = true;
        if (p->forward && p->out_fd[0] >= 0)
            shutdown(p->out_fd[0], SHUT_WR);
    }
    if (!libssh2_channel_eof(p->ch)) {
        p->closed = true; /* closed without EOF */
        return;
    }
    int rc = libssh2_channel_wait_closed(p->ch);
    if (rc != LIBSSH2_ERROR_EAGAIN)
        p->closed = true;
}

static bool pump_run(struct pump *p, const sigset_t *waitmask, mb_error **err)
{
    bool in_ready = false;
    while (!p->closed && !p->out_broken) {
        enum owner was = p->owner;
        /* writing first: channel_write pulls incoming packets into libssh2's
         * queue, where poll() cannot see them, so reading must come after */
        if (p->owner == OWN_NONE || p->owner == OWN_WRITE || p->owner == OWN_EOF)
            if (!pump_write(p, in_ready, err))
                return false;
        in_ready = false;
        if (p->owner == OWN_NONE || p->owner == OWN_READ)
            if (!pump_read(p, err))
                return false;
        pump_resize(p);
        if (p->owner == OWN_NONE)
            pump_check_end(p);
        if (p->closed || p->out_broken)
            break;
        /* a call that completed a half-sent packet may have more to do */
        if (was != OWN_NONE && p->owner == OWN_NONE)
            continue;
        /* reading may have taken in a window adjust: the input can go on */
        if (p->owner == OWN_NONE && p->in_left > 0
            && libssh2_channel_window_write_ex(p->ch, NULL) > 0 && window_worth(p))
            continue;

        struct pollfd fds[3] = {{p->s->sock, POLLIN, 0}, {-1, POLLIN, 0},
                                {p->resize_fd, POLLIN, 0}};
        if (p->owner != OWN_NONE)
            fds[0].events = POLLOUT; /* only finishing that packet matters now */
        else if (outbound_pending(p))
            fds[0].events |= POLLOUT;
        if (p->owner == OWN_NONE && p->in_fd >= 0 && p->in_left < sizeof p->inbuf
            && !p->in_eof)
            fds[1].fd = p->in_fd;
        /* Idle, the pump still looks again every IDLE_TICK_MS: data libssh2
         * has already taken off the socket (into its queue, where poll()
         * cannot see it) must not wait for ever. A classic mount's pump was
         * once seen idle for 10 minutes with sshfs waiting on a reply, the
         * socket and the SFTP server both idle. */
        struct timespec hold = {0, HOLD_MS * 1000000L};
        struct timespec tick = {IDLE_TICK_MS / 1000, (IDLE_TICK_MS % 1000) * 1000000L};
        int r = ppoll(fds, 3, p->held ? &hold : &tick, waitmask);
        if (r == 0 && p->held)
            p->force = true;
        if (r < 0 && errno != EINTR) {
            mb_error_set_errno(err, errno, "ssh: poll failed on %s", p->s->desc);
            return false;
        }
        if (r > 0 && fds[1].revents)
            in_ready = true;
        if (r > 0 && fds[2].revents)
            pump_resize_input(p);
    }
    return true;
}

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"SYS", SIGSYS},
};

static int exit_status(LIBSSH2_SESSION *session, LIBSSH2_CHANNEL *ch)
{
    char *sig = NULL;
    size_t siglen = 0;
    int status = libssh2_channel_get_exit_status(ch);
    if (libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL, NULL, NULL) == 0
        && sig != NULL) {
        status = 128 + SIGTERM;
        for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
            if (strlen(signals[i].name) == siglen && memcmp(sig, signals[i].name, siglen) == 0)
                status = 128 + signals[i].num;
        libssh2_free(session, sig);
    }
    return status;
}

static bool valid_env_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* Sends env requests; what the server refuses (sshd takes only its AcceptEnv
 * names) becomes "export NAME='value'; " in *prefix instead. */
static bool send_env(mb_ssh *s, LIBSSH2_CHANNEL *ch, const char *const *env,
                     struct mb_strbuf *prefix, mb_error **err)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        size_t nlen = eq ? (size_t)(eq - env[i]) : 0;
        if (eq == NULL || !valid_env_name(env[i], nlen)) {
            mb_error_set(err, MB_ERR_USAGE, "ssh: bad environment variable name in \"%.60s\"",
                         env[i]);
            return false;
        }
        int rc;
        RETRY(s, rc,
              libssh2_channel_setenv_ex(ch, env[i], (unsigned)nlen, eq + 1,
                                        (unsigned)strlen(eq + 1)),
              "an environment request", err);
        if (rc == 0)
            continue;
        bool ok = mb_strbuf_addn(prefix, "export ", 7) && mb_strbuf_addn(prefix, env[i], nlen)
                  && mb_strbuf_addn(prefix, "='", 2);
        for (const char *v = eq + 1; ok && *v; v++)
            ok = *v == '\'' ? mb_strbuf_addn(prefix, "'\\''", 4) : mb_strbuf_addn(prefix, v, 1);
        if (!ok || !mb_strbuf_addn(prefix, "'; ", 3)) {
            mb_error_set(err, MB_ERR_FAILED, "out of memory");
            return false;
        }
    }
    return true;
cleanup:
    return false;
}

int mb_ssh_exec(mb_ssh *s, const struct mb_ssh_exec *x, unsigned flags, mb_error **err)
{
    int status = -1, rc;
    LIBSSH2_CHANNEL *ch = NULL;
    struct pump *p = NULL;
    struct mb_strbuf cmd = {0};
    struct termios saved_tio;
    bool raw = false, masked = false, handler = false;
    sigset_t oldmask, waitmask;
    struct sigaction old_winch;
    bool interactive = x->pty && (flags & MB_SSH_EXEC_INTERACTIVE);

    ch = open_channel(s, NULL, 0, err);
    if (ch == NULL)
        goto cleanup;
    if (!send_env(s, ch, x->env, &cmd, err))
        goto cleanup;
    int tty_fd = -1;
    if (interactive)
        tty_fd = isatty(x->out_fd) ? x->out_fd : isatty(x->in_fd) ? x->in_fd : -1;
    if (x->pty) {
        int cols = x->cols, rows = x->rows;
        if ((cols <= 0 || rows <= 0) && !tty_size(tty_fd, &cols, &rows)) {
            cols = 80;
            rows = 24;
        }
        const char *term = x->term && *x->term ? x->term : "xterm-256color";
        RETRY(s, rc,
              libssh2_channel_request_pty_ex(ch, term, (unsigned)strlen(term), NULL, 0, cols,
                                             rows, 0, 0),
              "a PTY", err);
        if (rc != 0) {
            mb_ssh_fail(s, MB_ERR_FAILED, "get a PTY", err);
            goto cleanup;
        }
    }
    if (x->command) {
        if (!mb_strbuf_addn(&cmd, x->command, strlen(x->command))) {
            mb_error_set(err, MB_ERR_FAILED, "out of memory");
            goto cleanup;
        }
    } else if (cmd.n > 0 && !mb_strbuf_addn(&cmd, "exec \"${SHELL:-/bin/sh}\" -l", 27)) {
        mb_error_set(err, MB_ERR_FAILED, "out of memory");
        goto cleanup;
    }
    const char *request = cmd.n > 0 ? "exec" : "shell";
    RETRY(s, rc,
          libssh2_channel_process_startup(ch, request, (unsigned)strlen(request), cmd.s,
                                          (unsigned)cmd.n),
          "the command to start", err);
    if (rc != 0) {
        char what[120];
        snprintf(what, sizeof what, "start %s%.60s%s", x->command ? "\"" : "a shell",
                 x->command ? x->command : "", x->command ? "\"" : "");
        mb_ssh_fail(s, MB_ERR_FAILED, what, err);
        goto cleanup;
    }

    p = calloc(1, sizeof *p);
    if (p == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "out of memory");
        goto cleanup;
    }
    p->s = s;
    p->ch = ch;
    p->in_fd = x->in_fd;
    if (x->in_fd < 0) {
        p->in_ptr = x->in_data;
        p->in_left = x->in_data ? x->in_len : 0;
    }
    p->out_fd[0] = x->out_fd;
    p->out_fd[1] = x->err_fd;
    p->out_buf[0] = x->out_buf;
    p->out_buf[1] = x->err_buf;
    p->tty_fd = tty_fd;
    p->resize_fd = x->pty && x->resize_fd > 0 ? x->resize_fd : -1;

    /* SIGPIPE is held while we write to fds whose readers may leave;
     * SIGWINCH is only let through inside ppoll(), so none is missed. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    if (interactive && tty_fd >= 0)
        sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    masked = true;
    waitmask = oldmask;
    sigaddset(&waitmask, SIGPIPE);
    if (interactive && tty_fd >= 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_winch;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGWINCH, &sa, &old_winch);
        handler = true;
        winch_seen = 0;
        sigdelset(&waitmask, SIGWINCH);
    }
    if (interactive && isatty(x->in_fd) && tcgetattr(x->in_fd, &saved_tio) == 0) {
        struct termios tio = saved_tio;
        cfmakeraw(&tio);
        if (tcsetattr(x->in_fd, TCSADRAIN, &tio) == 0)
            raw = true;
    }

    if (!pump_run(p, &waitmask, err))
        goto cleanup;
    if (!p->closed) { /* our reader left: end the command */
        while (p->owner != OWN_NONE) {
            enum owner o = p->owner;
            if (o == OWN_READ)
                pump_read(p, NULL);
            else if (o == OWN_RESIZE)
                pump_resize(p);
            else
                pump_write(p, false, NULL);
            if (p->owner == o && !mb_ssh_wait(s, -1, "the channel", NULL))
                break;
        }
        RETRY(s, rc, libssh2_channel_close(ch), "the channel to close", err);
    }
    /* a reader that left gets what a local pipeline would give: SIGPIPE */
    status = p->out_broken ? 128 + SIGPIPE : exit_status(s->session, ch);

cleanup:
    if (raw)
        tcsetattr(x->in_fd, TCSADRAIN, &saved_tio);
    if (handler)
        sigaction(SIGWINCH, &old_winch, NULL);
    if (masked) {
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE) && !sigismember(&oldmask, SIGPIPE)) {
            sigset_t pipe_only;
            sigemptyset(&pipe_only);
            sigaddset(&pipe_only, SIGPIPE);
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe_only, NULL, &zero);
        }
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
    }
    channel_free(s, ch);
    mb_strbuf_free(&cmd);
    free(p);
    return status;
}

int mb_ssh_shell(mb_ssh *s, const char *term, int cols, int rows, unsigned flags,
                 mb_error **err)
{
    struct mb_ssh_exec x = {
        .command = NULL, .in_fd = 0, .out_fd = 1, .err_fd = 2,
        .pty = true, .term = term, .cols = cols, .rows = rows, .resize_fd = -1,
    };
    return mb_ssh_exec(s, &x, flags | MB_SSH_EXEC_INTERACTIVE, err);
}

bool mb_ssh_forward_tcp(mb_ssh *s, const char *host, int port, int fd, unsigned flags,
                        mb_error **err)
{
    bool ok = false;
    struct pump *p = NULL;
    sigset_t block, oldmask;
    LIBSSH2_CHANNEL *ch = open_channel(s, host, port, err);
    if (ch == NULL)
        return false;
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "out of memory");
        channel_free(s, ch);
        return false;
    }
    p->s = s;
    p->ch = ch;
    p->in_fd = fd;
    p->out_fd[0] = fd;
    p->out_fd[1] = -1;
    p->tty_fd = -1;
    p->resize_fd = -1;
    p->forward = true;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    sigset_t waitmask = oldmask;
    sigaddset(&waitmask, SIGPIPE);
    ok = pump_run(p, &waitmask, err);
    if (!p->closed)
        shutdown(fd, SHUT_RDWR); /* our side broke: end the other one too */
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&oldmask, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&block, NULL, &zero);
    }
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    channel_free(s, ch);
    free(p);
    return ok;
}
