/* The instance agent's server half (see agent.h): accepts requests on a unix
 * socket; each runs in its own thread on an SSH session taken from a small
 * pool, so sequential calls reuse one authenticated session and concurrent
 * ones do not wait for each other. Lives in the plugin with the SSH layer, so
 * CLI calls that only talk to an agent never load libssh2. */
#include "agent/agent.h"
#include "core/unixsock.h"
#include "agentd/agent_forward.h"
#include "sftp/sftp_mount.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REQUEST (64 * 1024)
#define POOL_MAX 8
#define MAX_ENV 64

/* Unescapes in place. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* ------------------------------------------------------------ server */

struct server {
    const struct mb_agent_config *cfg;
    pthread_mutex_t lock;
    mb_ssh *idle[POOL_MAX];
    int n_idle;
    atomic_bool stop;
    mb_sftp_mounts *mounts; /* classic mounts being served */
    mb_forwards *forwards;  /* host ports forwarded to the guest */
};

struct conn {
    struct server *srv;
    int fd;
};

static mb_ssh *pool_get(struct server *srv, mb_error **err)
{
    pthread_mutex_lock(&srv->lock);
    mb_ssh *s = srv->n_idle > 0 ? srv->idle[--srv->n_idle] : NULL;
    pthread_mutex_unlock(&srv->lock);
    return s ? s : mb_ssh_connect(&srv->cfg->ssh, 0, err);
}

static void pool_put(struct server *srv, mb_ssh *s, bool healthy)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&srv->lock);
    if (healthy && srv->n_idle < POOL_MAX) {
        srv->idle[srv->n_idle++] = s;
        s = NULL;
    }
    pthread_mutex_unlock(&srv->lock);
    mb_ssh_close(s);
}

static void reply(int fd, int status, const mb_error *e)
{
    char line[1200];
    int n;
    if (e) {
        n = snprintf(line, sizeof line, "err %s %s\n", mb_error_code_name(e->code), e->message);
        for (char *p = line + 4; p < line + n - 1; p++)
            if (*p == '\n')
                *p = ' ';
    } else {
        n = snprintf(line, sizeof line, "ok %d\n", status);
    }
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1, line[n - 1] = '\n';
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
}

/* Reads the request (and any lent fds) into buf; returns the fd count or -1. */
static int read_request(int fd, char *buf, int fds[3])
{
    size_t len = 0;
    int nfds = 0;
    for (;;) {
        char cbuf[CMSG_SPACE(sizeof(int) * 3)];
        struct iovec iov = {buf + len, MAX_REQUEST - 1 - len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf};
        ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < n; i++) {
                    int f;
                    memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
                    if (nfds < 3)
                        fds[nfds++] = f;
                    else
                        close(f);
                }
            }
        }
        len += (size_t)r;
        buf[len] = '\0';
        if (len >= 2 && strstr(buf, "\n\n"))
            return nfds;
        if (len >= MAX_REQUEST - 1)
            return -1;
    }
}

static void *serve_conn(void *arg)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    char *buf = malloc(MAX_REQUEST);
    int fds[3] = {-1, -1, -1};
    mb_error *err = NULL;
    mb_ssh *s = NULL;
    bool healthy = true;
    int status = 0;
    if (buf == NULL || read_request(c->fd, buf, fds) < 0) {
        mb_error_set(&err, MB_ERR_USAGE, "agent: malformed request");
        goto done;
    }
    const char *op = NULL, *command = NULL, *term = NULL, *local = NULL, *remote = NULL;
    const char *env[MAX_ENV + 1];
    int nenv = 0, cols = 0, rows = 0, mode = -1;
    bool pty = false, preserve = false, readonly = false;
    const char *check = NULL, *uid_map = NULL, *gid_map = NULL;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (sp == NULL)
            continue;
        *sp = '\0';
        char *v = sp + 1;
        unescape(v);
        if (strcmp(line, "op") == 0) op = v;
        else if (strcmp(line, "command") == 0) command = v;
        else if (strcmp(line, "term") == 0) term = v;
        else if (strcmp(line, "local") == 0) local = v;
        else if (strcmp(line, "remote") == 0) remote = v;
        else if (strcmp(line, "env") == 0 && nenv < MAX_ENV) env[nenv++] = v;
        else if (strcmp(line, "cols") == 0) cols = atoi(v);
        else if (strcmp(line, "rows") == 0) rows = atoi(v);
        else if (strcmp(line, "mode") == 0) mode = atoi(v);
        else if (strcmp(line, "pty") == 0) pty = atoi(v) != 0;
        else if (strcmp(line, "preserve") == 0) preserve = atoi(v) != 0;
        else if (strcmp(line, "check") == 0) check = v;
        else if (strcmp(line, "readonly") == 0) readonly = atoi(v) != 0;
        else if (strcmp(line, "uid_map") == 0) uid_map = v;
        else if (strcmp(line, "gid_map") == 0) gid_map = v;
        /* a resize the client sent right after the request, read with it */
        else if (strcmp(line, "winch") == 0) {
            int wc, wr;
            if (sscanf(v, "%d %d", &wc, &wr) == 2)
                cols = wc, rows = wr;
        }
    }
    env[nenv] = NULL;
    if (op == NULL) {
        mb_error_set(&err, MB_ERR_USAGE, "agent: request without op");
    } else if (strcmp(op, "forward") == 0) {
        /* command "add" | "remove", local "ADDRESS:HOSTPORT", mode = guest port,
         * remote = "udp" for a UDP forward (else TCP) */
        char addr[64];
        int hport = 0;
        const char *colon = local ? strrchr(local, ':') : NULL;
        if (command == NULL || colon == NULL || (size_t)(colon - local) >= sizeof addr) {
            mb_error_set(&err, MB_ERR_USAGE, "agent: forward needs add|remove and ADDRESS:PORT");
            goto done;
        }
        memcpy(addr, local, (size_t)(colon - local));
        addr[colon - local] = '\0';
        hport = atoi(colon + 1);
        bool udp = remote != NULL && strcmp(remote, "udp") == 0;
        if (strcmp(command, "add") == 0)
            mb_forward_add(srv->forwards, addr, hport, mode, udp, &err);
        else
            mb_forward_remove(srv->forwards, addr, hport, udp, &err);
    } else if (strcmp(op, "ping") == 0) {
        status = 0;
    } else if (strcmp(op, "stop") == 0) {
        atomic_store(&srv->stop, true);
    } else if (strcmp(op, "exec") == 0) {
        if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
            mb_error_set(&err, MB_ERR_USAGE, "agent: exec needs three file descriptors");
            goto done;
        }
        if ((s = pool_get(srv, &err)) == NULL)
            goto done;
        /* with a PTY, the client sends "winch COLS ROWS" lines on this
         * connection as its window changes, until the answer */
        struct mb_ssh_exec x = {.command = command, .in_fd = fds[0], .out_fd = fds[1],
                                .err_fd = fds[2], .env = nenv ? env : NULL, .pty = pty,
                                .term = term, .cols = cols, .rows = rows,
                                .resize_fd = pty ? c->fd : -1};
        status = mb_ssh_exec(s, &x, 0, &err);
        healthy = status >= 0;
    } else if (strcmp(op, "put") == 0 || strcmp(op, "get") == 0) {
        if (local == NULL || remote == NULL) {
            mb_error_set(&err, MB_ERR_USAGE, "agent: %s needs local and remote paths", op);
            goto done;
        }
        if ((s = pool_get(srv, &err)) == NULL)
            goto done;
        unsigned fl = preserve ? MB_SSH_PRESERVE : 0;
        healthy = op[0] == 'p' ? mb_ssh_put(s, local, remote, mode, fl, &err)
                               : mb_ssh_get(s, remote, local, fl, &err);
        /* a missing remote file is not a broken session */
        if (!healthy && err && (err->code == MB_ERR_NOT_FOUND || err->code == MB_ERR_IO))
            healthy = true;
    } else if (strcmp(op, "mount") == 0 || strcmp(op, "umount") == 0) {
        /* classic mounts: a session of their own serves sshfs; s only probes */
        if (remote == NULL || command == NULL) {
            mb_error_set(&err, MB_ERR_USAGE, "agent: %s needs remote and command", op);
            goto done;
        }
        if ((s = pool_get(srv, &err)) == NULL)
            goto done;
        struct mb_sftp_mount_req m = {.root = local, .target = remote, .command = command,
                                      .check = check, .readonly = readonly,
                                      .uid_map = uid_map, .gid_map = gid_map};
        if (op[0] == 'm')
            mb_sftp_mount_start(srv->mounts, &m, s, &err);
        else
            mb_sftp_mount_stop(srv->mounts, remote, command, s, &err);
    } else {
        mb_error_set(&err, MB_ERR_USAGE, "agent: unknown op \"%s\"", op);
    }
done:
    pool_put(srv, s, healthy && err == NULL);
    reply(c->fd, status, err);
    mb_error_free(err);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    close(c->fd);
    free(buf);
    free(c);
    return NULL;
}

static mb_ssh *mount_session_get(void *ud, mb_error **err) { return pool_get(ud, err); }
static void mount_session_put(void *ud, mb_ssh *s, bool ok) { pool_put(ud, s, ok); }

/* The classic mounts of the instance record, before the first request; then
 * the ready callback learns which failed. */
static void start_mounts(struct server *srv, const struct mb_agent_config *c)
{
    const char **failures = calloc(c->n_mounts + 1, sizeof *failures);
    for (size_t i = 0; i < c->n_mounts && failures; i++) {
        mb_error *e = NULL;
        mb_ssh *s = pool_get(srv, &e);
        if (s && mb_sftp_mount_start(srv->mounts, &c->mounts[i], s, &e)) {
            pool_put(srv, s, true);
            continue;
        }
        pool_put(srv, s, false);
        failures[i] = strdup(e ? e->message : "failed");
        mb_error_free(e);
    }
    if (c->ready)
        c->ready(c->ready_ud, failures, failures ? c->n_mounts : 0);
    for (size_t i = 0; i < c->n_mounts && failures; i++)
        free((char *)failures[i]);
    free(failures);
}

static int listen_on(const char *path, mb_error **err)
{
    int fd = mb_unix_listen(path, 64, NULL);
    if (fd < 0)
        mb_error_set_errno(err, errno, "agent: cannot listen on %s", path);
    return fd;
}

/* The watched process has ended: returns its status, or -2 while it runs. */
static int watched_exit(const struct mb_agent_config *c)
{
    if (c->child > 0) {
        int st;
        pid_t r = waitpid(c->child, &st, WNOHANG);
        if (r == c->child)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno == ECHILD)
            return 0;
    }
    if (c->watch > 0 && kill(c->watch, 0) != 0 && errno == ESRCH)
        return 0;
    return -2;
}

int mb_agent_serve(const struct mb_agent_config *c, mb_error **err)
{
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(c->socket_path, err);
    if (lfd < 0)
        return -1;
    struct server *srv = calloc(1, sizeof *srv); /* lives as long as its threads */
    if (srv == NULL) {
        close(lfd);
        mb_error_set(err, MB_ERR_IO, "agent: out of memory");
        return -1;
    }
    srv->cfg = c;
    pthread_mutex_init(&srv->lock, NULL);
    srv->mounts = mb_sftp_mounts_new(mount_session_get, mount_session_put, srv, err);
    if (srv->mounts == NULL) {
        close(lfd);
        return -1;
    }
    /* a guest reached at its own address (a bridge, not a 127.0.0.1 forward)
     * gets its port forwards spliced as plain TCP; through a proxy or a relay
     * (a guest on another host) that address is the far host's: forwards go
     * over SSH */
    bool direct = c->ssh.proxy == NULL && !c->relay && strcmp(c->ssh.host, "127.0.0.1") != 0
                  && strcmp(c->ssh.host, "::1") != 0 && strcmp(c->ssh.host, "localhost") != 0;
    srv->forwards = mb_forwards_new(mount_session_get, mount_session_put, srv,
                                    direct ? c->ssh.host : NULL, err);
    if (srv->forwards == NULL) {
        close(lfd);
        return -1;
    }
    for (size_t i = 0; i < c->n_forwards; i++) {
        mb_error *e = NULL;
        const struct mb_agent_forward *f = &c->forwards[i];
        if (!mb_forward_add(srv->forwards, f->address, f->host_port, f->guest_port, f->udp,
                            &e))
            fprintf(stderr, "agent: %s\n", e ? e->message : "forward failed");
        mb_error_free(e);
    }
    start_mounts(srv, c);
    int result = 0;
    for (;;) {
        int ended = watched_exit(c);
        if (ended != -2) {
            result = ended;
            break;
        }
        if (atomic_load(&srv->stop))
            break;
        struct pollfd p = {lfd, POLLIN, 0};
        int n = poll(&p, 1, 200);
        if (n <= 0 || !(p.revents & POLLIN))
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct conn *conn = malloc(sizeof *conn);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (conn == NULL) {
            close(fd);
        } else {
            conn->srv = srv;
            conn->fd = fd;
            if (pthread_create(&t, &attr, serve_conn, conn) != 0) {
                close(fd);
                free(conn);
            }
        }
        pthread_attr_destroy(&attr);
    }
    close(lfd);
    unlink(c->socket_path);
    return result;
}

