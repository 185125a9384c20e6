/* moonbase.engine.client: the CLI's side of the daemon's API. Kept in the main
 * binary and light (http_parser for responses, no event library), so a
 * command through the daemon costs one connection, not a library load; TLS
 * comes from the plugin (tls_client.c) only for https:// servers.
 * call{...} sends one request and relays the worker's stdout/stderr frames to
 * fds 1 and 2 as they come; with stream = {...} it opens a WebSocket and also
 * relays stdin (and, on a terminal, raw mode and window sizes).
 * The WebSocket frame codec below is the client's half only (RFC 6455 5.2:
 * masked frames out, unmasked in); the server's is libwebsockets'. */
#include "client/client.h"
#include "lua/luaerr.h"
#include "core/plugin.h"
#include "core/strbuf.h"
#include "core/unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <lauxlib.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

enum { CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_RESULT = 3, CH_CONTROL = 4, CH_EOF = 5 };

/* ------------------------------------------------------------ transport */

struct tls_ops {
    void *(*open)(int fd, const char *host, const char *ca, const char *cert, const char *key,
                  char **peer_ca, mb_error **err);
    long (*read)(void *s, void *buf, size_t n);
    long (*write)(void *s, const void *buf, size_t n);
    void (*close)(void *s);
    long (*pending)(void *s);
};

struct conn {
    int fd;
    void *tls;
    struct tls_ops ops;
};

static long conn_read(struct conn *c, void *b, size_t n)
{
    if (c->tls)
        return c->ops.read(c->tls, b, n);
    for (;;) {
        ssize_t r = read(c->fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

static bool conn_write(struct conn *c, const void *b, size_t n)
{
    const char *p = b;
    while (n > 0) {
        long w = c->tls ? c->ops.write(c->tls, p, n) : send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void conn_close(struct conn *c)
{
    if (c->tls)
        c->ops.close(c->tls);
    if (c->fd >= 0)
        close(c->fd);
}

static bool conn_open(lua_State *L, int t, struct conn *c, char **peer_ca, mb_error **err)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    const char *path = mb_lua_field_str(L, t, "unix");
    if (path) {
        c->fd = mb_unix_connect(path, NULL);
        if (c->fd < 0) {
            int e = errno;
            mb_error_set(err, MB_ERR_UNREACHABLE, "cannot reach the moonbase daemon at unix:%s: "
                         "%s (is `moonbase daemon` running?)", path, strerror(e));
            return false;
        }
        return true;
    }
    const char *host = mb_lua_field_str(L, t, "host");
    const char *port = mb_lua_field_str(L, t, "port");
    if (host == NULL || port == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "client: unix or host and port are required");
        return false;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        mb_error_set(err, MB_ERR_UNREACHABLE, "cannot resolve %s: %s", host, gai_strerror(gai));
        return false;
    }
    int e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (c->fd >= 0 && connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        mb_error_set(err, MB_ERR_UNREACHABLE, "cannot reach the moonbase daemon at %s:%s: %s",
                     host, port, strerror(e));
        return false;
    }
    const char *syms[] = {"mb_tls_client_open", "mb_tls_client_read", "mb_tls_client_write",
                          "mb_tls_client_close", "mb_tls_client_pending"};
    void *fp[5];
    for (int i = 0; i < 5; i++)
        if ((fp[i] = mb_plugin_sym(syms[i], err)) == NULL)
            return false;
    memcpy(&c->ops.open, &fp[0], sizeof fp[0]);
    memcpy(&c->ops.read, &fp[1], sizeof fp[1]);
    memcpy(&c->ops.write, &fp[2], sizeof fp[2]);
    memcpy(&c->ops.close, &fp[3], sizeof fp[3]);
    memcpy(&c->ops.pending, &fp[4], sizeof fp[4]);
    c->tls = c->ops.open(c->fd, host, mb_lua_field_str(L, t, "ca"),
                         mb_lua_field_str(L, t, "cert"), mb_lua_field_str(L, t, "key"), peer_ca,
                         err);
    return c->tls != NULL;
}

/* ------------------------------------------------------------ frames */


static void write_all(int fd, const void *d, size_t n)
{
    const char *p = d;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Where the worker's stdout goes (1 unless the call says stdout_fd). */
static int out_fd = 1;

/* One message of the worker: stdout and stderr go to fds 1 and 2. */
static void deliver(struct mb_strbuf *result, bool *done, int ch, const char *d, size_t n)
{
    if (ch == CH_STDOUT || ch == CH_STDERR)
        write_all(ch == CH_STDOUT ? out_fd : 2, d, n);
    else if (ch == CH_RESULT) {
        mb_strbuf_addn(result, d, n);
        *done = true;
    }
}

/* Length-prefixed frames in an HTTP body: [channel][u32 BE length][payload]. */
struct framer {
    struct mb_strbuf pending;
    struct mb_strbuf *result;
    bool done;
};

_Static_assert(sizeof(struct framer) <= sizeof(struct mb_client_framer), "framer fits");

void mb_client_framer_init(struct mb_client_framer *f, struct mb_strbuf *result)
{
    memset(f, 0, sizeof *f);
    ((struct framer *)f)->result = result;
}

void mb_client_framer_free(struct mb_client_framer *f)
{
    free(((struct framer *)f)->pending.s);
}

size_t mb_client_frames_feed(struct mb_client_framer *f, const char *d, size_t n)
{
    struct framer *fr = (struct framer *)f;
    mb_strbuf_addn(&fr->pending, d, n);
    size_t off = 0;
    while (fr->pending.n - off >= 5) {
        const unsigned char *h = (const unsigned char *)fr->pending.s + off;
        size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
        if (len > (64u << 20))
            return (size_t)-1; /* not a frame stream */
        if (fr->pending.n - off - 5 < len)
            break;
        deliver(fr->result, &fr->done, h[0], (const char *)h + 5, len);
        off += 5 + len;
    }
    memmove(fr->pending.s, fr->pending.s + off, fr->pending.n - off);
    fr->pending.n -= off;
    return off;
}

/* ------------------------------------------------------------ HTTP responses */

struct response {
    int status;
    bool frames, complete, upgrade;
    struct mb_strbuf body, result, ctype_field, ctype;
    bool in_ctype;
    struct framer fr;
    bool bad_frames;
};

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    struct response *r = p->data;
    r->in_ctype = n == 12 && strncasecmp(at, "content-type", 12) == 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    struct response *r = p->data;
    if (r->in_ctype)
        mb_strbuf_addn(&r->ctype, at, n);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct response *r = p->data;
    r->status = (int)p->status_code;
    r->frames = r->ctype.s && strstr(r->ctype.s, "application/vnd.moonbase.frames") != NULL;
    if (p->status_code == 101)
        return 1; /* no body: the WebSocket follows */
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    struct response *r = p->data;
    if (r->frames) {
        if (mb_client_frames_feed((struct mb_client_framer *)&r->fr, at, n) == (size_t)-1)
            r->bad_frames = true;
    } else {
        mb_strbuf_addn(&r->body, at, n);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    ((struct response *)p->data)->complete = true;
    return 0;
}

static const http_parser_settings settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Feeds bytes to the parser; returns the number used (less at an upgrade),
 * or -1 on a malformed response. */
static long parse(http_parser *hp, struct response *r, const char *d, size_t n)
{
    size_t used = http_parser_execute(hp, &settings, d, n);
    if (hp->upgrade || r->status == 101) {
        r->upgrade = true;
        return (long)used;
    }
    if (HTTP_PARSER_ERRNO(hp) != HPE_OK && !r->complete)
        return -1;
    return (long)used;
}

static void response_free(struct response *r)
{
    free(r->body.s);
    free(r->result.s);
    free(r->ctype.s);
    free(r->fr.pending.s);
}

/* ------------------------------------------------------------ WebSocket */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

static bool ws_send(struct conn *c, int ch, const void *d, size_t n)
{
    unsigned char h[14], mask[4];
    size_t hl = 0, len = n + 1;
    h[hl++] = 0x82; /* FIN, binary */
    if (len < 126) {
        h[hl++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (unsigned char)(len >> 8);
        h[hl++] = (unsigned char)len;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    if (getrandom(mask, sizeof mask, 0) != sizeof mask)
        memset(mask, 0x5a, sizeof mask);
    memcpy(h + hl, mask, 4);
    hl += 4;
    unsigned char *buf = malloc(hl + len);
    if (buf == NULL)
        return false;
    memcpy(buf, h, hl);
    buf[hl] = (unsigned char)(ch ^ mask[0]);
    const unsigned char *src = d;
    for (size_t i = 0; i < n; i++)
        buf[hl + 1 + i] = src[i] ^ mask[(i + 1) & 3];
    bool ok = conn_write(c, buf, hl + len);
    free(buf);
    return ok;
}

/* Server-to-client frames: parses what is complete in in[0..n), delivers
 * messages; returns bytes used, or -1 on a protocol error / close. */
struct ws_in {
    int channel; /* of the message being continued */
    bool closed;
    struct mb_strbuf msg;
};

_Static_assert(sizeof(struct ws_in) <= sizeof(struct mb_client_ws), "ws_in fits");

void mb_client_ws_free(struct mb_client_ws *ws)
{
    free(((struct ws_in *)ws)->msg.s);
}

long mb_client_ws_feed(struct mb_client_ws *wsp, struct mb_client_sink *sink,
                       const unsigned char *in, size_t n)
{
    struct ws_in *ws = (struct ws_in *)wsp;
    size_t off = 0;
    while (n - off >= 2) {
        const unsigned char *h = in + off;
        int op = h[0] & 0x0f;
        bool fin = h[0] & 0x80;
        if (h[1] & 0x80)
            return -1; /* servers do not mask */
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
            hl = 10;
        }
        if (len > (64u << 20))
            return -1;
        if (n - off - hl < len)
            break;
        const unsigned char *p = h + hl;
        off += hl + (size_t)len;
        if (op == 8) {
            ws->closed = true;
            return (long)off;
        }
        if (op == 9 || op == 10)
            continue; /* pings: answered by the caller (see below) */
        if (op != 0 && op != 1 && op != 2)
            return -1;
        mb_strbuf_addn(&ws->msg, (const char *)p, (size_t)len);
        if (fin) {
            if (ws->msg.n > 0)
                deliver(sink->result, sink->done, (unsigned char)ws->msg.s[0], ws->msg.s + 1,
                        ws->msg.n - 1);
            ws->msg.n = 0;
        }
    }
    return (long)off;
}

static volatile sig_atomic_t winch;
static void on_winch(int s)
{
    (void)s;
    winch = 1;
}

static void send_size(struct conn *c)
{
    struct winsize w;
    if (ioctl(1, TIOCGWINSZ, &w) == 0 || ioctl(0, TIOCGWINSZ, &w) == 0) {
        char line[48];
        int k = snprintf(line, sizeof line, "resize %u %u", w.ws_col, w.ws_row);
        ws_send(c, CH_CONTROL, line, (size_t)k);
    }
}

/* ------------------------------------------------------------ call */

static void push_result(lua_State *L, struct response *r)
{
    lua_pushinteger(L, r->status);
    if (r->result.s)
        lua_pushlstring(L, r->result.s, r->result.n);
    else if (r->body.s)
        lua_pushlstring(L, r->body.s, r->body.n);
    else
        lua_pushliteral(L, "");
}

/* call{unix = PATH | host = H, port = P, ca, cert, key; method, path, body,
 *      stream = {pty = bool, stdin = bool}} -> status, body [, server CA PEM]
 * body: the result frame ("STATUS\nJSON") for frame streams, else the JSON. */
static int l_call(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *method = mb_lua_field_str(L, 1, "method");
    const char *path = mb_lua_field_str(L, 1, "path");
    size_t blen = 0;
    lua_getfield(L, 1, "body");
    const char *body = lua_tolstring(L, -1, &blen);
    lua_pop(L, 1);
    if (method == NULL || path == NULL)
        return luaL_error(L, "client.call: method and path are required");
    lua_getfield(L, 1, "stdin_fd");
    int in_fd = (int)luaL_optinteger(L, -1, 0);
    lua_getfield(L, 1, "stdout_fd");
    out_fd = (int)luaL_optinteger(L, -1, 1);
    lua_pop(L, 2);
    lua_getfield(L, 1, "stream");
    bool stream = lua_istable(L, -1);
    bool want_pty = false, send_stdin = true;
    if (stream) {
        lua_getfield(L, -1, "pty");
        want_pty = lua_toboolean(L, -1);
        lua_getfield(L, -2, "stdin");
        send_stdin = lua_isnil(L, -1) || lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);

    mb_error *err = NULL;
    struct conn c;
    char *peer_ca = NULL;
    struct response r;
    memset(&r, 0, sizeof r);
    r.fr.result = &r.result;
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &r;
    struct termios saved;
    bool raw = false;
    struct sigaction old_sa;
    bool handler = false;
    int nret;
    if (!conn_open(L, 1, &c, &peer_ca, &err)) {
        conn_close(&c);
        return mb_lua_push_error(L, err);
    }
    char head[4096];
    int hl;
    if (stream) {
        unsigned char key[16];
        char k64[32];
        if (getrandom(key, sizeof key, 0) != sizeof key)
            memset(key, 7, sizeof key);
        base64(key, sizeof key, k64);
        hl = snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: moonbase\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: moonbase\r\n\r\n",
                      path, k64);
    } else {
        hl = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: moonbase\r\n"
                      "Accept: application/vnd.moonbase.frames\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, blen);
    }
    if (hl < 0 || (size_t)hl >= sizeof head) {
        conn_close(&c);
        return luaL_error(L, "client.call: request line too long");
    }
    if (!conn_write(&c, head, (size_t)hl) || (blen && !stream && !conn_write(&c, body, blen))) {
        mb_error_set(&err, MB_ERR_UNREACHABLE, "the moonbase daemon closed the connection");
        goto fail;
    }
    char buf[65536];
    long got = 0;
    long used = 0;
    while (!r.complete && !r.upgrade && (got = conn_read(&c, buf, sizeof buf)) > 0) {
        used = parse(&hp, &r, buf, (size_t)got);
        if (used < 0 || r.bad_frames) {
            mb_error_set(&err, MB_ERR_FAILED, "the moonbase daemon sent a malformed answer");
            goto fail;
        }
        if (r.fr.done && !stream)
            break;
    }
    if (!r.complete && !r.upgrade && !r.fr.done) {
        /* the end of a streamed body is the end of the connection */
        http_parser_execute(&hp, &settings, NULL, 0);
        if ((!r.complete && !r.fr.done && r.status == 0) || (r.frames && !r.fr.done)) {
            mb_error_set(&err, MB_ERR_FAILED, "the moonbase daemon closed the connection "
                         "without an answer");
            goto fail;
        }
    }
    if (stream && r.upgrade && r.status == 101) {
        struct ws_in ws = {0};
        bool done = false;
        struct mb_client_sink sink = {&r.result, &done};
        struct mb_strbuf in = {0};
        if (got > used)
            mb_strbuf_addn(&in, buf + used, (size_t)(got - used));
        if (want_pty && in_fd == 0 && isatty(0) && tcgetattr(0, &saved) == 0) {
            struct termios t = saved;
            cfmakeraw(&t);
            raw = tcsetattr(0, TCSADRAIN, &t) == 0;
        }
        if (want_pty) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_winch;
            sigaction(SIGWINCH, &sa, &old_sa);
            handler = true;
        }
        bool in_open = send_stdin;
        while (!done && !ws.closed) {
            if (in.n > 0) {
                long k = mb_client_ws_feed((struct mb_client_ws *)&ws, &sink,
                                           (unsigned char *)in.s, in.n);
                if (k < 0)
                    break;
                memmove(in.s, in.s + k, in.n - (size_t)k);
                in.n -= (size_t)k;
                if (done || ws.closed)
                    break;
            }
            if (winch) {
                winch = 0;
                send_size(&c);
            }
            bool pending = c.tls && c.ops.pending(c.tls) > 0;
            struct pollfd p[2] = {{c.fd, POLLIN, 0}, {in_open ? in_fd : -1, POLLIN, 0}};
            int k = poll(p, 2, pending ? 0 : -1);
            if (k < 0 && errno == EINTR)
                continue;
            if (p[1].revents & (POLLIN | POLLHUP)) {
                char ib[16384];
                ssize_t m = read(in_fd, ib, sizeof ib);
                if (m > 0) {
                    ws_send(&c, CH_STDIN, ib, (size_t)m);
                } else if (m == 0 || errno != EINTR) {
                    in_open = false;
                    ws_send(&c, CH_EOF, "", 0);
                }
            }
            if (pending || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                long m = conn_read(&c, buf, sizeof buf);
                if (m <= 0)
                    break;
                mb_strbuf_addn(&in, buf, (size_t)m);
            }
        }
        free(in.s);
        free(ws.msg.s);
        if (!done) {
            mb_error_set(&err, MB_ERR_FAILED, "the moonbase daemon closed the stream without an "
                         "answer");
            goto fail;
        }
    }
    if (raw)
        tcsetattr(0, TCSADRAIN, &saved);
    if (handler)
        sigaction(SIGWINCH, &old_sa, NULL);
    push_result(L, &r);
    nret = 2;
    if (peer_ca) {
        lua_pushstring(L, peer_ca);
        nret = 3;
    }
    free(peer_ca);
    response_free(&r);
    conn_close(&c);
    return nret;
fail:
    if (raw)
        tcsetattr(0, TCSADRAIN, &saved);
    if (handler)
        sigaction(SIGWINCH, &old_sa, NULL);
    free(peer_ca);
    response_free(&r);
    conn_close(&c);
    return mb_lua_push_error(L, err);
}

static const luaL_Reg funcs[] = {
    {"call", l_call},
    {NULL, NULL},
};

int luaopen_moonbase_engine_client(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
