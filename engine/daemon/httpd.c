/* moonbase.engine.httpd: the daemon's HTTP/1.1 + WebSocket server on
 * libwebsockets (unix sockets and TLS listeners, one thread, one poll loop).
 * It parses nothing by hand: lws does HTTP, WebSocket and TLS. What it adds:
 *  - every complete request becomes a Lua table handed to one Lua handler
 *    (routing and authentication are Lua's, lua/moonbase/server.lua), with the
 *    peer's identity (unix: uid/gid/pid; TLS: the client certificate);
 *  - a handler answers at once ({status, body}) or asks for a worker: a
 *    fork()ed child that runs a Lua function with stdin/stdout/stderr on pipes
 *    (or a PTY) and a result pipe; the loop relays them to the client as
 *    frames (WebSocket messages, or length-prefixed frames in the response
 *    body) or, for plain JSON clients, only the result.
 * A worker is a process, so a slow operation never blocks the loop, a crash
 * never takes the daemon down, and the daemon's memory does not grow with
 * work done. See docs/api.md for the wire format. */
#include "daemon/httpd.h"
#include "lua/luaerr.h"
#include "lua/opts.h"
#include "lua/pcall.h"
#include "core/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MAX_LISTEN 8
#define CHUNK 16384
#define HIGH_WATER (1u << 20) /* stop reading a worker while this much waits for the client */

enum { CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_RESULT = 3, CH_CONTROL = 4, CH_EOF = 5 };
enum mode { MODE_JSON, MODE_FRAMES, MODE_WS };

/* Bytes waiting to be written (or read back): a growing buffer and how much
 * of it is done; emptied when all is. */
struct buf {
    struct mb_strbuf b;
    size_t off;
};

static void buf_add(struct buf *q, const void *d, size_t n)
{
    if (q->off > 0 && q->off == q->b.n) {
        q->off = 0;
        q->b.n = 0;
    }
    mb_strbuf_addn(&q->b, d, n);
}

static void buf_free(struct buf *q)
{
    free(q->b.s);
    memset(q, 0, sizeof *q);
}

struct worker;

/* One client connection (lws per-session data). */
struct conn {
    struct lws *wsi;
    enum mode mode;
    char method[8];
    char *path;
    char **query;                 /* the decoded "k=v" fragments, NULL-terminated */
    struct buf body;
    size_t content_length;
    bool rejected;                /* an answer was queued before the body was read */
    int status;                   /* of an immediate answer */
    char *type;                   /* its content type (NULL: application/json) */
#define MAX_EXTRA 24
    char *extra[MAX_EXTRA];       /* its headers: "name:" then value, in pairs */
    struct buf out;               /* what waits to be written (body or frames) */
    bool headers_sent, finished, closing;
    bool dispatched;              /* handed to Lua (a POST of 0 bytes gets no second go) */
    struct worker *w;
    int queued_ref;               /* a call waiting for a worker slot: its function (0 none) */
    char *queued_in;
    int queued_cols, queued_rows;
    struct conn *queue_next;
    int ws_first;                 /* WebSocket: pending fragments of one message */
};

/* One fork()ed worker and the relays of its pipes. */
struct worker {
    pid_t pid;
    struct conn *c;               /* NULL once the client is gone */
    struct lws *rd[3];            /* stdout, stderr (or the PTY), result */
    int in_fd;                    /* stdin pipe's write end, or the PTY master; -1 */
    bool pty;
    struct buf in;                /* stdin bytes not yet written */
    bool in_eof;
    struct buf result;
    int open_readers;
    struct worker *next;          /* in the list of workers (stdin retries) */
    bool counted;                 /* holds one of the max_workers slots */
};

static struct worker *workers;

/* Calls run at most max_workers at once (streams are not counted: a terminal
 * or a watch lasts as long as its user wants); the others wait their turn in
 * arrival order, up to MAX_QUEUED, beyond which the daemon answers 503. 200
 * clients at once used to mean 200 forked workers and four descriptors each,
 * which ran the daemon out of descriptors and lost its listener. */
#define MAX_QUEUED 4096
static int max_workers = 8, nworkers, nqueued;
static struct conn *queue_head, *queue_tail;
static void start_queued(void);

struct server {
    lua_State *L;
    int handler;                  /* registry ref of the Lua handler */
    struct lws_context *ctx;
    struct lws_vhost *vh[MAX_LISTEN];
    char bound[MAX_LISTEN][108]; /* where a unix listener was bound before its rename */
    int nvh;
    size_t max_body;
    volatile sig_atomic_t stop;
};

static struct server *current;


/* ------------------------------------------------------------ identity */

static void push_peer(lua_State *L, struct lws *wsi)
{
    lua_newtable(L);
    wsi = lws_get_network_wsi(wsi); /* an HTTP/2 stream's connection */
    SSL *ssl = lws_get_ssl(wsi);
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (ssl == NULL && getsockname(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &salen) == 0 &&
        sa.ss_family != AF_UNIX) {
        /* plain HTTP on a loopback listener: no identity but a browser session's */
        char addr[64];
        lws_get_peer_simple(wsi, addr, sizeof addr);
        lua_pushliteral(L, "http");
        lua_setfield(L, -2, "transport");
        lua_pushstring(L, addr);
        lua_setfield(L, -2, "address");
        return;
    }
    if (ssl == NULL) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        int fd = lws_get_socket_fd(wsi);
        lua_pushliteral(L, "unix");
        lua_setfield(L, -2, "transport");
        if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            lua_pushinteger(L, cred.uid);
            lua_setfield(L, -2, "uid");
            lua_pushinteger(L, cred.gid);
            lua_setfield(L, -2, "gid");
            lua_pushinteger(L, cred.pid);
            lua_setfield(L, -2, "pid");
        }
        return;
    }
    lua_pushliteral(L, "tls");
    lua_setfield(L, -2, "transport");
    char addr[64];
    lws_get_peer_simple(wsi, addr, sizeof addr);
    lua_pushstring(L, addr);
    lua_setfield(L, -2, "address");
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n)) {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned int i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        lua_pushstring(L, hex);
        lua_setfield(L, -2, "fingerprint");
    }
    EVP_PKEY *key = X509_get0_pubkey(cert);
    char curve[64] = "";
    size_t clen = 0;
    const char *kind = "other";
    if (key && EVP_PKEY_is_a(key, "EC")) {
        kind = "ec";
        EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof curve, &clen);
    }
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "key");
    lua_pushstring(L, curve);
    lua_setfield(L, -2, "curve");
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio && PEM_write_bio_X509(bio, cert)) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        lua_pushlstring(L, data, (size_t)len);
        lua_setfield(L, -2, "certificate");
    }
    BIO_free(bio);
    X509_free(cert);
}

/* ------------------------------------------------------------ requests */

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} methods[] = {
    {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
    {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_DELETE_URI, "DELETE"},
    {WSI_TOKEN_PATCH_URI, "PATCH"},   {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
    {WSI_TOKEN_HEAD_URI, "HEAD"},
};

static bool read_request_line(struct conn *c, struct lws *wsi)
{
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        int n = lws_hdr_total_length(wsi, methods[i].tok);
        if (n <= 0)
            continue;
        snprintf(c->method, sizeof c->method, "%s", methods[i].name);
        free(c->path);
        c->path = malloc((size_t)n + 1);
        if (c->path == NULL || lws_hdr_copy(wsi, c->path, n + 1, methods[i].tok) < 0)
            return false;
        break;
    }
    if (c->path == NULL)
        return false;
    int q = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (q > 0) {
        /* lws splits the query at '&' and decodes each fragment */
        int n = 0;
        char frag[1024];
        while (n < 64 && lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS,
                                               n) >= 0)
            n++;
        c->query = calloc((size_t)n + 1, sizeof *c->query);
        for (int i = 0; c->query && i < n; i++)
            if (lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0)
                c->query[i] = strdup(frag);
    }
    return true;
}

static void push_header(lua_State *L, struct lws *wsi, enum lws_token_indexes tok,
                        const char *name)
{
    int n = lws_hdr_total_length(wsi, tok);
    if (n <= 0 || n > 8192)
        return;
    char *v = malloc((size_t)n + 1);
    if (v && lws_hdr_copy(wsi, v, n + 1, tok) >= 0) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, name);
    }
    free(v);
}

static void push_custom_header(lua_State *L, struct lws *wsi, const char *h, const char *name)
{
    int n = lws_hdr_custom_length(wsi, h, (int)strlen(h));
    if (n <= 0 || n > 8192)
        return;
    char *v = malloc((size_t)n + 1);
    if (v && lws_hdr_custom_copy(wsi, v, n + 1, h, (int)strlen(h)) >= 0) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, name);
    }
    free(v);
}

/* ------------------------------------------------------------ output */

static void frame_add(struct conn *c, int ch, const void *d, size_t n)
{
    unsigned char hdr[5] = {(unsigned char)ch, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    if (c->mode == MODE_WS) {
        /* one WebSocket message per frame: LWS_PRE + channel byte + payload */
        uint32_t len = (uint32_t)n + 1;
        buf_add(&c->out, &len, sizeof len);
        buf_add(&c->out, hdr, 1);
    } else {
        buf_add(&c->out, hdr, sizeof hdr);
    }
    buf_add(&c->out, d, n);
    lws_callback_on_writable(c->wsi);
}

static void answer_n(struct conn *c, int status, const char *body, size_t blen)
{
    c->status = status;
    c->rejected = true;
    c->finished = true;
    if (c->mode == MODE_WS) {
        char line[16];
        int n = snprintf(line, sizeof line, "%d\n", status);
        struct buf b = {0};
        buf_add(&b, line, (size_t)n);
        buf_add(&b, body, blen);
        frame_add(c, CH_RESULT, b.b.s, b.b.n);
        buf_free(&b);
        return;
    }
    buf_add(&c->out, body, blen);
    lws_callback_on_writable(c->wsi);
}

static void answer(struct conn *c, int status, const char *body)
{
    answer_n(c, status, body, strlen(body));
}

/* ------------------------------------------------------------ workers */

static bool start_worker(struct server *s, struct conn *c, int ref, const char *in,
                         int cols, int rows);

static void worker_started(struct conn *c, bool ok)
{
    if (!ok)
        answer(c, 503, "{\"error\":{\"message\":\"the daemon cannot start a worker "
                       "(out of processes or memory)\",\"code\":\"failed\"}}");
    else if (c->mode == MODE_FRAMES)
        lws_callback_on_writable(c->wsi); /* headers go out now */
}

/* Takes c off the queue of calls waiting for a worker (it is served or gone). */
static void unqueue(struct conn *c)
{
    struct conn *prev = NULL;
    for (struct conn *q = queue_head; q; prev = q, q = q->queue_next)
        if (q == c) {
            if (prev)
                prev->queue_next = c->queue_next;
            else
                queue_head = c->queue_next;
            if (queue_tail == c)
                queue_tail = prev;
            nqueued--;
            break;
        }
    c->queue_next = NULL;
    if (c->queued_ref && current)
        luaL_unref(current->L, LUA_REGISTRYINDEX, c->queued_ref);
    c->queued_ref = 0;
    free(c->queued_in);
    c->queued_in = NULL;
}

/* Starts waiting calls while there are free slots. */
static void start_queued(void)
{
    while (current && queue_head && nworkers < max_workers) {
        struct conn *c = queue_head;
        int ref = c->queued_ref;
        c->queued_ref = 0; /* start_worker pushes it; unqueue must not unref it first */
        bool ok = start_worker(current, c, ref, c->queued_in, c->queued_cols, c->queued_rows);
        luaL_unref(current->L, LUA_REGISTRYINDEX, ref);
        unqueue(c);
        worker_started(c, ok);
    }
}

static void worker_free(struct worker *w)
{
    if (w->counted) {
        nworkers--;
        start_queued();
    }
    for (struct worker **p = &workers; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    if (w->in_fd >= 0)
        close(w->in_fd);
    buf_free(&w->in);
    buf_free(&w->result);
    free(w);
}

/* Called when a reader closed: once all are, the result goes out. */
static void worker_reader_done(struct worker *w)
{
    if (--w->open_readers > 0)
        return;
    struct conn *c = w->c;
    if (c) {
        const char *r = (const char *)w->result.b.s;
        if (w->result.b.n == 0) {
            r = "500\n{\"error\":{\"message\":\"the daemon's worker ended without an answer "
                "(see the daemon's log)\",\"code\":\"failed\"}}";
            buf_free(&w->result);
            buf_add(&w->result, r, strlen(r));
        }
        buf_add(&w->result, "", 1);
        r = (const char *)w->result.b.s;
        if (c->mode == MODE_JSON) {
            const char *nl = strchr(r, '\n');
            c->status = atoi(r);
            buf_add(&c->out, nl ? nl + 1 : r, strlen(nl ? nl + 1 : r));
            lws_callback_on_writable(c->wsi);
        } else {
            frame_add(c, CH_RESULT, r, strlen(r));
        }
        c->finished = true;
        c->w = NULL;
    }
    worker_free(w);
}

static void flush_stdin(struct worker *w)
{
    while (w->in_fd >= 0 && w->in.off < w->in.b.n) {
        ssize_t n = write(w->in_fd, w->in.b.s + w->in.off, w->in.b.n - w->in.off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return; /* the client is flow-controlled until it drains (see ws receive) */
        if (n <= 0) {
            w->in.off = w->in.b.n;
            break;
        }
        w->in.off += (size_t)n;
    }
    if (w->in.off == w->in.b.n && w->in_eof && w->in_fd >= 0) {
        if (w->pty) {
            unsigned char eot = 4; /* ^D: end of input on a terminal, once */
            if (write(w->in_fd, &eot, 1) == 1)
                w->in_eof = false;
        } else {
            close(w->in_fd);
            w->in_fd = -1;
        }
    }
}

static void child_exec(struct server *s, int ref, int fds[3], int res, bool pty, int slave)
{
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (pty)
        ioctl(slave, TIOCSCTTY, 0);
    for (int i = 0; i < 3; i++)
        if (fds[i] != i && dup2(fds[i], i) < 0)
            _exit(120);
    if (res != 3 && dup2(res, 3) < 0)
        _exit(120);
    /* the result pipe is the worker's alone: a process it starts (an instance
     * agent, dnsmasq) must not hold it open, or the call never ends */
    fcntl(3, F_SETFD, FD_CLOEXEC);
    close_range(4, ~0U, 0);
    lua_State *L = s->L;
    /* a worker lives for one call: collecting garbage would only touch (and so
     * copy) the daemon's whole heap, page by page, for memory freed at exit */
    lua_gc(L, LUA_GCSTOP);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    const char *out = NULL;
    size_t len = 0;
    if (mb_pcall(L, 0, 1))
        out = lua_tolstring(L, -1, &len);
    if (out == NULL) {
        out = "500\n{\"error\":{\"message\":\"internal error in the daemon's worker\","
              "\"code\":\"failed\"}}";
        len = strlen(out);
    }
    fflush(stdout);
    fflush(stderr);
    while (len > 0) {
        ssize_t n = write(3, out, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out += n;
        len -= (size_t)n;
    }
    _exit(0);
}

static struct lws *adopt(struct lws_vhost *vh, int fd, struct worker *w)
{
    lws_sock_file_fd_type u;
    u.filefd = (lws_filefd_type)(intptr_t)fd;
    struct lws *r = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, "moonbase-pipe",
                                               NULL);
    if (r)
        lws_set_opaque_user_data(r, w);
    return r;
}

/* Forks a worker for conn c: the Lua function at registry ref runs in the
 * child. stdin: "null" (plain calls), "pipe" or "pty" (streams). */
static bool start_worker(struct server *s, struct conn *c, int ref, const char *in,
                         int cols, int rows)
{
    int p_out[2] = {-1, -1}, p_err[2] = {-1, -1}, p_res[2] = {-1, -1}, p_in[2] = {-1, -1};
    int master = -1, slave = -1;
    bool pty = strcmp(in, "pty") == 0;
    struct worker *w = calloc(1, sizeof *w);
    if (w == NULL)
        return false;
    w->in_fd = -1;
    if (pipe2(p_res, O_CLOEXEC) < 0)
        goto fail;
    if (pty) {
        struct winsize ws = {.ws_col = (unsigned short)(cols > 0 ? cols : 80),
                             .ws_row = (unsigned short)(rows > 0 ? rows : 24)};
        if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
            goto fail;
        struct termios t;
        if (tcgetattr(slave, &t) == 0) {
            cfmakeraw(&t); /* the client's own terminal does the cooking */
            tcsetattr(slave, TCSANOW, &t);
        }
        fcntl(master, F_SETFD, FD_CLOEXEC);
    } else {
        if (pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0)
            goto fail;
        if (strcmp(in, "pipe") == 0) {
            if (pipe2(p_in, O_CLOEXEC) < 0)
                goto fail;
        } else {
            p_in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        int fds[3];
        if (pty) {
            fds[0] = fds[1] = fds[2] = slave;
        } else {
            fds[0] = p_in[0];
            fds[1] = p_out[1];
            fds[2] = p_err[1];
        }
        child_exec(s, ref, fds, p_res[1], pty, slave);
    }
    w->pid = pid;
    w->c = c;
    w->pty = pty;
    close(p_res[1]);
    struct lws_vhost *vh = lws_get_vhost(c->wsi);
    if (pty) {
        close(slave);
        fcntl(master, F_SETFL, O_NONBLOCK);
        w->in_fd = dup(master);
        fcntl(w->in_fd, F_SETFD, FD_CLOEXEC);
        w->rd[0] = adopt(vh, master, w);
    } else {
        close(p_out[1]);
        close(p_err[1]);
        if (p_in[0] >= 0)
            close(p_in[0]);
        if (p_in[1] >= 0) {
            fcntl(p_in[1], F_SETFL, O_NONBLOCK);
            w->in_fd = p_in[1];
        }
        w->rd[0] = adopt(vh, p_out[0], w);
        w->rd[1] = adopt(vh, p_err[0], w);
    }
    w->rd[2] = adopt(vh, p_res[0], w);
    for (int i = 0; i < 3; i++)
        if (w->rd[i])
            w->open_readers++;
    c->w = w;
    w->next = workers;
    workers = w;
    if (c->mode != MODE_WS) {
        w->counted = true;
        nworkers++;
    }
    return true;
fail:
    for (int i = 0; i < 2; i++) {
        if (p_out[i] >= 0) close(p_out[i]);
        if (p_err[i] >= 0) close(p_err[i]);
        if (p_res[i] >= 0) close(p_res[i]);
        if (p_in[i] >= 0) close(p_in[i]);
    }
    if (master >= 0) close(master);
    if (slave >= 0) close(slave);
    free(w);
    return false;
}

/* ------------------------------------------------------------ dispatch */

static const char *opt_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Hands the complete request to Lua and acts on its answer. */
static void dispatch(struct server *s, struct conn *c)
{
    lua_State *L = s->L;
    int top = lua_gettop(L);
    c->dispatched = true;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->handler);
    lua_newtable(L);
    lua_pushstring(L, c->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, c->path);
    lua_setfield(L, -2, "path");
    lua_newtable(L);
    for (int i = 0; c->query && c->query[i]; i++) {
        lua_pushstring(L, c->query[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "query");
    lua_pushlstring(L, c->body.b.s ? (const char *)c->body.b.s : "", c->body.b.n);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, c->mode == MODE_WS ? "ws" : c->mode == MODE_FRAMES ? "frames" : "json");
    lua_setfield(L, -2, "mode");
    lua_newtable(L);
    push_header(L, c->wsi, WSI_TOKEN_HOST, "host");
    push_header(L, c->wsi, WSI_TOKEN_ORIGIN, "origin");
    push_header(L, c->wsi, WSI_TOKEN_HTTP_COOKIE, "cookie");
    push_header(L, c->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, "content-type");
    push_header(L, c->wsi, WSI_TOKEN_HTTP_AUTHORIZATION, "authorization");
    push_custom_header(L, c->wsi, "x-moonbase-csrf:", "x-moonbase-csrf");
    push_custom_header(L, c->wsi, "x-moonbase-stream:", "x-moonbase-stream");
    push_header(L, c->wsi, WSI_TOKEN_HTTP_ACCEPT_ENCODING, "accept-encoding");
    push_header(L, c->wsi, WSI_TOKEN_HTTP_IF_NONE_MATCH, "if-none-match");
    lua_setfield(L, -2, "headers");
    push_peer(L, c->wsi);
    lua_setfield(L, -2, "peer");
    if (!mb_pcall(L, 1, 1) || !lua_istable(L, -1)) {
        answer(c, 500, "{\"error\":{\"message\":\"internal error in the daemon\","
                       "\"code\":\"failed\"}}");
        lua_settop(L, top);
        return;
    }
    int t = lua_gettop(L);
    lua_getfield(L, t, "run");
    if (lua_isfunction(L, -1)) {
        int ref = luaL_ref(L, LUA_REGISTRYINDEX);
        const char *in = opt_field(L, t, "stdin");
        lua_getfield(L, t, "cols");
        lua_getfield(L, t, "rows");
        int cols = (int)lua_tointeger(L, -2), rows = (int)lua_tointeger(L, -1);
        lua_pop(L, 2);
        if (c->mode == MODE_JSON || in == NULL)
            in = "null";
        if (c->mode != MODE_WS && nworkers >= max_workers) {
            if (nqueued >= MAX_QUEUED || (c->queued_in = strdup(in)) == NULL) {
                luaL_unref(L, LUA_REGISTRYINDEX, ref);
                answer(c, 503, "{\"error\":{\"message\":\"the daemon is busy (too many calls "
                               "waiting); try again\",\"code\":\"failed\"}}");
            } else {
                c->queued_ref = ref;
                c->queued_cols = cols;
                c->queued_rows = rows;
                c->queue_next = NULL;
                if (queue_tail)
                    queue_tail->queue_next = c;
                else
                    queue_head = c;
                queue_tail = c;
                nqueued++;
            }
            lua_settop(L, top);
            return;
        }
        bool ok = start_worker(s, c, ref, in, cols, rows);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        worker_started(c, ok);
    } else {
        lua_pop(L, 1);
        lua_getfield(L, t, "status");
        int status = (int)luaL_optinteger(L, -1, 200);
        lua_pop(L, 1);
        size_t blen = 0;
        lua_getfield(L, t, "body");
        const char *body = lua_tolstring(L, -1, &blen); /* bytes: a gzip body has NULs */
        lua_pop(L, 1); /* (the string stays alive in the answer table) */
        const char *type = opt_field(L, t, "type");
        if (type && !strpbrk(type, "\r\n"))
            c->type = strdup(type);
        /* headers = {{"set-cookie", "..."}, {"location", "/"}}: at most MAX_EXTRA / 2 */
        lua_getfield(L, t, "headers");
        for (int i = 1, k = 0; lua_istable(L, -1) && i <= MAX_EXTRA / 2; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_istable(L, -1)) {
                lua_rawgeti(L, -1, 1);
                lua_rawgeti(L, -2, 2);
                const char *n = lua_tostring(L, -2), *v = lua_tostring(L, -1);
                if (n && v && strlen(n) < 64 && !strpbrk(v, "\r\n")) {
                    char name[72];
                    snprintf(name, sizeof name, "%s:", n);
                    c->extra[k++] = strdup(name);
                    c->extra[k++] = strdup(v);
                }
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        answer_n(c, status, body ? body : "", body ? blen : 0);
    }
    lua_settop(L, top);
}

/* ------------------------------------------------------------ lws callbacks */

static int write_http(struct conn *c, struct lws *wsi)
{
    unsigned char hbuf[LWS_PRE + 4096], *start = hbuf + LWS_PRE, *p = start,
                                        *end = hbuf + sizeof hbuf - 1;
    if (!c->headers_sent) {
        if (c->mode == MODE_JSON && !c->finished)
            return 0;
        int status = c->status ? c->status : 200;
        const char *type = c->mode == MODE_FRAMES && !c->rejected
                               ? "application/vnd.moonbase.frames"
                               : c->type ? c->type : "application/json";
        lws_filepos_t len = c->mode == MODE_FRAMES && !c->rejected
                                ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)c->out.b.n;
        if (lws_add_http_common_headers(wsi, (unsigned int)status, type, len, &p, end))
            return -1;
        bool cache_set = false;
        for (int i = 0; i + 1 < MAX_EXTRA && c->extra[i]; i += 2)
            cache_set = cache_set || strcmp(c->extra[i], "cache-control:") == 0;
        if (!cache_set &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)"no-store", 8, &p, end))
            return -1;
        for (int i = 0; i + 1 < MAX_EXTRA && c->extra[i]; i += 2)
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)c->extra[i],
                                            (const unsigned char *)c->extra[i + 1],
                                            (int)strlen(c->extra[i + 1]), &p, end))
                return -1;
        if (len == LWS_ILLEGAL_HTTP_CONTENT_LEN &&
            lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                         (const unsigned char *)"close", 5, &p, end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        c->headers_sent = true;
        if (len == LWS_ILLEGAL_HTTP_CONTENT_LEN)
            c->closing = true; /* the end of the body is the end of the connection */
        lws_callback_on_writable(wsi);
        return 0;
    }
    size_t left = c->out.b.n - c->out.off;
    if (left > 0) {
        size_t n = left < CHUNK ? left : CHUNK;
        unsigned char *b = malloc(LWS_PRE + n);
        if (b == NULL)
            return -1;
        memcpy(b + LWS_PRE, c->out.b.s + c->out.off, n);
        bool last = c->finished && n == left && !c->closing;
        int w = lws_write(wsi, b + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        free(b);
        if (w < (int)n)
            return -1;
        c->out.off += n;
        if (c->w && c->out.b.n - c->out.off < HIGH_WATER / 2)
            for (int i = 0; i < 3; i++)
                if (c->w->rd[i])
                    lws_rx_flow_control(c->w->rd[i], 1);
        if (last)
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        lws_callback_on_writable(wsi);
        return 0;
    }
    if (c->finished && (c->closing || c->mode == MODE_FRAMES))
        return -1; /* close: a streamed body ends with the connection */
    if (c->finished)
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    return 0;
}

static int write_ws(struct conn *c, struct lws *wsi)
{
    if (c->out.b.n - c->out.off < sizeof(uint32_t)) {
        if (c->finished && c->w == NULL) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        return 0;
    }
    uint32_t n;
    memcpy(&n, c->out.b.s + c->out.off, sizeof n);
    unsigned char *b = malloc(LWS_PRE + n);
    if (b == NULL)
        return -1;
    memcpy(b + LWS_PRE, c->out.b.s + c->out.off + sizeof n, n);
    int w = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_BINARY);
    free(b);
    if (w < (int)n)
        return -1;
    c->out.off += sizeof n + n;
    if (c->w && c->out.b.n - c->out.off < HIGH_WATER / 2)
        for (int i = 0; i < 3; i++)
            if (c->w->rd[i])
                lws_rx_flow_control(c->w->rd[i], 1);
    lws_callback_on_writable(wsi);
    return 0;
}

static void ws_receive(struct conn *c, const unsigned char *d, size_t n, bool first, bool last)
{
    struct worker *w = c->w;
    if (first) {
        if (n == 0)
            return;
        c->ws_first = d[0];
        d++;
        n--;
    }
    if (w == NULL)
        return;
    switch (c->ws_first) {
    case CH_STDIN:
        buf_add(&w->in, d, n);
        flush_stdin(w);
        break;
    case CH_EOF:
        w->in_eof = true;
        flush_stdin(w);
        break;
    case CH_CONTROL: {
        /* "resize COLS ROWS" or "signal N" (plain text, short) */
        char line[64];
        size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, d, k);
        line[k] = '\0';
        unsigned cols, rows;
        int sig;
        if (sscanf(line, "resize %u %u", &cols, &rows) == 2 && w->pty && w->in_fd >= 0) {
            struct winsize ws = {.ws_col = (unsigned short)cols, .ws_row = (unsigned short)rows};
            ioctl(w->in_fd, TIOCSWINSZ, &ws);
        } else if (sscanf(line, "signal %d", &sig) == 1 && (sig == SIGINT || sig == SIGTERM ||
                                                            sig == SIGHUP)) {
            kill(-w->pid, sig);
        }
        break;
    }
    default:
        break;
    }
    (void)last;
}

static void conn_gone(struct conn *c)
{
    if (c->queued_in)
        unqueue(c);
    if (c->w) {
        /* the client hung up: the worker goes the way a CLI does on a hangup */
        kill(-c->w->pid, SIGHUP);
        c->w->c = NULL;
        if (c->w->in_fd >= 0) {
            close(c->w->in_fd);
            c->w->in_fd = -1;
        }
        c->w = NULL;
    }
    free(c->path);
    for (int i = 0; c->query && c->query[i]; i++)
        free(c->query[i]);
    free(c->query);
    for (int i = 0; i < MAX_EXTRA; i++) {
        free(c->extra[i]);
        c->extra[i] = NULL;
    }
    free(c->type);
    c->type = NULL;
    buf_free(&c->body);
    buf_free(&c->out);
    c->path = NULL;
    c->query = NULL;
}

static bool wants_frames(struct lws *wsi)
{
    char accept[256] = "";
    if (lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT) < 0)
        return false;
    return strstr(accept, "application/vnd.moonbase.frames") != NULL;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct server *s = current;
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
        /* any client certificate is let through TLS; whether it is trusted is
         * decided per request (a clear HTTP answer beats a failed handshake) */
        X509_STORE_CTX_set_error((X509_STORE_CTX *)user, X509_V_OK);
        return 0;
    case LWS_CALLBACK_HTTP:
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->mode = wants_frames(wsi) ? MODE_FRAMES : MODE_JSON;
        if (!read_request_line(c, wsi))
            return -1;
        {
            char cl[32] = "";
            if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
                c->content_length = strtoull(cl, NULL, 10);
        }
        if (c->content_length > s->max_body) {
            char msg[160];
            snprintf(msg, sizeof msg, "{\"error\":{\"message\":\"request body too large (at most "
                     "%zu bytes)\",\"code\":\"usage\"}}", s->max_body);
            answer(c, 413, msg);
            c->closing = true;
            return 0;
        }
        if (c->content_length == 0)
            dispatch(s, c);
        return 0;
    case LWS_CALLBACK_HTTP_BODY:
        if (c->rejected)
            return 0;
        if (c->body.b.n + len > s->max_body) {
            answer(c, 413, "{\"error\":{\"message\":\"request body too large\","
                           "\"code\":\"usage\"}}");
            c->closing = true;
            return 0;
        }
        buf_add(&c->body, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* (libwebsockets calls it for an empty POST too, already dispatched) */
        if (!c->rejected && !c->dispatched)
            dispatch(s, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return write_http(c, wsi);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_CLOSED:
        if (c)
            conn_gone(c);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->mode = MODE_WS;
        if (!read_request_line(c, wsi))
            return -1;
        dispatch(s, c);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        ws_receive(c, in, len, lws_is_first_fragment(wsi), lws_is_final_fragment(wsi));
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return write_ws(c, wsi);
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* The worker's pipes. */
static int pipe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                         void *in, size_t len)
{
    struct worker *w = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE: {
        if (w == NULL)
            return -1;
        int which = wsi == w->rd[0] ? 0 : wsi == w->rd[1] ? 1 : 2;
        unsigned char b[CHUNK];
        ssize_t n = read(lws_get_socket_fd(wsi), b, sizeof b);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1; /* EOF (or EIO on a PTY whose child is gone) */
        if (which == 2) {
            buf_add(&w->result, b, (size_t)n);
        } else if (w->c && w->c->mode != MODE_JSON) {
            frame_add(w->c, which == 0 ? CH_STDOUT : CH_STDERR, b, (size_t)n);
            if (w->c->out.b.n - w->c->out.off > HIGH_WATER)
                lws_rx_flow_control(wsi, 0);
        }
        return 0;
    }
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (w) {
            for (int i = 0; i < 3; i++)
                if (w->rd[i] == wsi)
                    w->rd[i] = NULL;
            lws_set_opaque_user_data(wsi, NULL);
            worker_reader_done(w);
        }
        return 0;
    default:
        break;
    }
    return 0;
}

/* A listening socket handed over by systemd (socket activation): each
 * connection it accepts is adopted by the vhost that does not listen itself. */
static int listen_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    if (reason != LWS_CALLBACK_RAW_RX_FILE)
        return 0;
    struct lws_vhost *vh = lws_get_opaque_user_data(wsi);
    int fd = accept4(lws_get_socket_fd(wsi), NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0 && vh && lws_adopt_socket_vhost(vh, fd) == NULL)
        close(fd);
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"moonbase", callback, sizeof(struct conn), 65536, 0, NULL, 0},
    {"moonbase-pipe", pipe_callback, 0, 0, 0, NULL, 0},
    {"moonbase-listen", listen_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Stdin a worker's full pipe did not take (EAGAIN) is written again every
 * 20 ms until it all went: the loop does not watch those pipes for writing. */
static lws_sorted_usec_list_t stdin_retry;

static void retry_stdin(lws_sorted_usec_list_t *sul)
{
    for (struct worker *w = workers; w; w = w->next)
        if (w->in_fd >= 0 && (w->in.off < w->in.b.n || w->in_eof))
            flush_stdin(w);
    if (current)
        lws_sul_schedule(current->ctx, 0, sul, retry_stdin, 20 * LWS_US_PER_MS);
}

/* ------------------------------------------------------------ Lua */

static void on_signal(int sig)
{
    (void)sig;
    if (current) {
        current->stop = 1;
        lws_cancel_service(current->ctx);
    }
}

static void reap(void)
{
    int st;
    while (waitpid(-1, &st, WNOHANG) > 0) {
    }
}

/* serve{listen = {{unix = PATH, group = GID?} | {https = ADDR, port = N,
 *   cert = PEM path, key = PEM path} | {http = LOOPBACK ADDR, port = N}, ...},
 *   max_body = N, timeout = S}, handler
 * Runs until SIGTERM/SIGINT. Returns true, or nil, message, code. */
static int l_serve(lua_State *L)
{
    static const char *const keys[] = {"listen", "max_body", "timeout", "max_workers", "ready",
                                       NULL};
    static const char *const listen_keys[] = {"unix", "gid", "mode", "https", "http", "port",
                                              "cert", "key", "ca", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    mb_lua_check_opts(L, 1, "httpd.serve", keys);
    lua_getfield(L, 1, "listen");
    for (lua_Integer i = 1; lua_istable(L, -1) && i <= (lua_Integer)lua_rawlen(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        mb_lua_check_opts(L, -1, "httpd.serve: a listen entry", listen_keys);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (current)
        return luaL_error(L, "httpd.serve: already serving");
    struct server s = {.L = L};
    s.max_body = (size_t)mb_lua_opt_int(L, 1, "max_body", 1 << 20);
    int timeout = (int)mb_lua_opt_int(L, 1, "timeout", 10);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    max_workers = (int)mb_lua_opt_int(L, 1, "max_workers", cpus > 2 ? 4 * cpus : 8);
    if (max_workers < 1)
        max_workers = 1;
    /* every connection, and each call's pipes, is a descriptor: the soft limit
     * (often 1024) goes up to the hard one before libwebsockets sizes its table */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof ci);
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ci.timeout_secs = (unsigned)timeout;
    ci.max_http_header_data = 8192;
    ci.gid = -1;
    ci.uid = -1;
    s.ctx = lws_create_context(&ci);
    if (s.ctx == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "daemon: cannot create the server (libwebsockets)");
        lua_pushliteral(L, "failed");
        return 3;
    }
    current = &s;
    lua_getfield(L, 1, "listen");
    int lt = lua_gettop(L);
    size_t nl = lua_istable(L, lt) ? lua_rawlen(L, lt) : 0;
    for (size_t i = 1; i <= nl && s.nvh < MAX_LISTEN; i++) {
        lua_rawgeti(L, lt, (lua_Integer)i);
        int e = lua_gettop(L);
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof vi);
        vi.protocols = protocols;
        vi.keepalive_timeout = timeout;
        vi.timeout_secs = (unsigned)timeout;
        const char *unix_path = mb_lua_field_str(L, e, "unix");
        const char *https = mb_lua_field_str(L, e, "https");
        const char *http = mb_lua_field_str(L, e, "http"); /* a loopback address (Lua checks) */
        char name[32];
        snprintf(name, sizeof name, "listen%d", s.nvh);
        vi.vhost_name = name;
        if (unix_path) {
            /* bound under a name of its own, then renamed into place once it listens
             * (below): whoever sees the socket's path can connect at once */
            char *tmp = s.bound[s.nvh];
            int n = snprintf(tmp, sizeof s.bound[0], "%s.%d.new", unix_path, (int)getpid());
            vi.options = LWS_SERVER_OPTION_UNIX_SOCK;
            vi.iface = n > 0 && (size_t)n < sizeof s.bound[0] ? tmp : unix_path;
            vi.port = 0;
        } else if (http) {
            /* plain HTTP for a browser on this host: the dashboard and its sessions only */
            vi.iface = http;
            lua_getfield(L, e, "port");
            vi.port = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
            vi.options = LWS_SERVER_OPTION_DISABLE_IPV6 * (strchr(http, ':') == NULL);
        } else if (https) {
            vi.iface = https;
            lua_getfield(L, e, "port");
            vi.port = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
            vi.options = LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                         LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED |
                         LWS_SERVER_OPTION_DISABLE_IPV6 * (strchr(https, ':') == NULL);
            vi.ssl_cert_filepath = mb_lua_field_str(L, e, "cert");
            vi.ssl_private_key_filepath = mb_lua_field_str(L, e, "key");
            vi.ssl_ca_filepath = mb_lua_field_str(L, e, "ca");
            /* HTTP/1.1 only: the frame streams and custom headers (X-Moonbase-Csrf) are
             * HTTP/1.1's, and every client moonbase has speaks it */
            vi.alpn = "http/1.1";
        }
        s.vh[s.nvh] = lws_create_vhost(s.ctx, &vi);
        if (s.vh[s.nvh] == NULL) {
            lws_context_destroy(s.ctx);
            current = NULL;
            lua_pushnil(L);
            lua_pushfstring(L, "daemon: cannot listen on %s (in use, or no permission?)",
                            unix_path ? unix_path : https ? https : http ? http : "?");
            lua_pushliteral(L, "failed");
            return 3;
        }
        if (unix_path) {
            const char *at = vi.iface;
            lua_getfield(L, e, "gid");
            if (lua_isinteger(L, -1) && chown(at, (uid_t)-1, (gid_t)lua_tointeger(L, -1)) != 0)
                lws_set_log_level(LLL_ERR, NULL); /* root only: the mode alone decides then */
            lua_pop(L, 1);
            lua_getfield(L, e, "mode");
            chmod(at, (mode_t)luaL_optinteger(L, -1, 0600));
            lua_pop(L, 1);
            if (at != unix_path && rename(at, unix_path) != 0) {
                unlink(at);
                lws_context_destroy(s.ctx);
                current = NULL;
                lua_pushnil(L);
                lua_pushfstring(L, "daemon: cannot put the socket in place at %s: %s", unix_path,
                                strerror(errno));
                lua_pushliteral(L, "failed");
                return 3;
            }
        }
        s.nvh++;
        lua_pop(L, 1);
    }
    /* sockets from systemd: LISTEN_PID is us, LISTEN_FDS of them from fd 3 */
    const char *lpid = getenv("LISTEN_PID"), *lfds = getenv("LISTEN_FDS");
    if (lpid && lfds && atol(lpid) == (long)getpid() && s.nvh < MAX_LISTEN) {
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof vi);
        vi.protocols = protocols;
        vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        vi.vhost_name = "inherited";
        vi.keepalive_timeout = timeout;
        vi.timeout_secs = (unsigned)timeout;
        struct lws_vhost *vh = lws_create_vhost(s.ctx, &vi);
        for (int i = 0, n = atoi(lfds); vh && i < n; i++) {
            lws_sock_file_fd_type u;
            u.filefd = (lws_filefd_type)(intptr_t)(3 + i);
            fcntl(3 + i, F_SETFD, FD_CLOEXEC);
            struct lws *r = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u,
                                                       "moonbase-listen", NULL);
            if (r)
                lws_set_opaque_user_data(r, vh);
        }
        if (vh)
            s.vh[s.nvh++] = vh;
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
    }
    lua_pushvalue(L, 2);
    s.handler = luaL_ref(L, LUA_REGISTRYINDEX);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* workers are reaped in the loop; each worker's end is seen on its pipes */
    lua_getfield(L, 1, "ready");
    if (lua_isfunction(L, -1))
        mb_pcall(L, 0, 0);
    else
        lua_pop(L, 1);
    memset(&stdin_retry, 0, sizeof stdin_retry);
    lws_sul_schedule(s.ctx, 0, &stdin_retry, retry_stdin, 20 * LWS_US_PER_MS);
    while (!s.stop) {
        if (lws_service(s.ctx, 250) < 0)
            break;
        reap();
    }
    lws_context_destroy(s.ctx);
    luaL_unref(L, LUA_REGISTRYINDEX, s.handler);
    current = NULL;
    lua_pushboolean(L, 1);
    return 1;
}

/* chdir(PATH) -> true | nil, message (a worker takes its unix client's
 * working directory, so relative paths mean what they meant to the user) */
static int l_chdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (chdir(path) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot change to %s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"serve", l_serve},
    {"chdir", l_chdir},
    {NULL, NULL},
};

int luaopen_moonbase_engine_httpd(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
