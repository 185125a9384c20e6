/* Classic mounts served by the agent (see sftp_mount.h). Each mount holds a
 * reference from its pump thread and one from whoever started it; the pump
 * thread is the last to touch it in the normal case: it waits for the
 * server thread, gives the SSH session back and unlinks the mount. */
#include "sftp/sftp_mount.h"
#include "sftp/sftp_server.h"
#include "core/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct mount {
    struct mb_sftp_mounts *reg;
    char *target, *command;
    mb_sftp_server *server;
    mb_ssh *session;
    int sp[2];              /* [0]: the server's end, [1]: the pump's */
    pthread_t serve_thread;
    atomic_bool ended;      /* sshfs is gone (the pump returned) */
    int status;             /* its exit status, -1 when the channel broke */
    struct mb_strbuf errbuf;
    mb_error *err;
    int refs;               /* under reg->lock */
    struct mount *next;
};

struct mb_sftp_mounts {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct mount *list;
    mb_sftp_session_get get;
    mb_sftp_session_put put;
    void *ud;
};

mb_sftp_mounts *mb_sftp_mounts_new(mb_sftp_session_get get, mb_sftp_session_put put, void *ud,
                                   mb_error **err)
{
    mb_sftp_mounts *m = calloc(1, sizeof *m);
    if (m == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "agent: out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->changed, NULL);
    m->get = get;
    m->put = put;
    m->ud = ud;
    return m;
}

static struct mount *find(mb_sftp_mounts *reg, const char *target)
{
    for (struct mount *m = reg->list; m; m = m->next)
        if (strcmp(m->target, target) == 0)
            return m;
    return NULL;
}

/* Drops one reference (reg->lock held); the last one frees. */
static void unref(struct mount *m)
{
    if (--m->refs > 0)
        return;
    free(m->target);
    free(m->command);
    mb_sftp_server_free(m->server);
    mb_strbuf_free(&m->errbuf);
    mb_error_free(m->err);
    if (m->sp[0] >= 0)
        close(m->sp[0]);
    if (m->sp[1] >= 0)
        close(m->sp[1]);
    free(m);
}

static void unlink_mount(mb_sftp_mounts *reg, struct mount *m)
{
    for (struct mount **p = &reg->list; *p; p = &(*p)->next)
        if (*p == m) {
            *p = m->next;
            break;
        }
    pthread_cond_broadcast(&reg->changed);
}

static void *serve_main(void *arg)
{
    struct mount *m = arg;
    mb_error *err = NULL;
    if (!mb_sftp_server_serve(m->server, m->sp[0], m->sp[0], &err))
        fprintf(stderr, "agent: mount %s: %s\n", m->target, err ? err->message : "failed");
    mb_error_free(err);
    shutdown(m->sp[0], SHUT_RDWR); /* the pump sees EOF and ends sshfs's input */
    return NULL;
}

static void *pump_main(void *arg)
{
    struct mount *m = arg;
    struct mb_ssh_exec x = {.command = m->command, .in_fd = m->sp[1], .out_fd = m->sp[1],
                            .err_fd = -1, .err_buf = &m->errbuf};
    m->status = mb_ssh_exec(m->session, &x, 0, &m->err);
    shutdown(m->sp[1], SHUT_RDWR); /* the server sees EOF */
    pthread_join(m->serve_thread, NULL);
    m->reg->put(m->reg->ud, m->session, m->status >= 0);
    m->session = NULL;
    pthread_mutex_lock(&m->reg->lock);
    atomic_store(&m->ended, true);
    unlink_mount(m->reg, m);
    mb_sftp_mounts *reg = m->reg;
    unref(m);
    pthread_mutex_unlock(&reg->lock);
    return NULL;
}

/* "sshfs exited (status 1): fuse: bad mount point ..." */
static void ended_error(struct mount *m, mb_error **err)
{
    if (m->status < 0) {
        mb_error_set(err, m->err ? m->err->code : MB_ERR_FAILED, "%s",
                     m->err ? m->err->message : "the mount's SSH channel broke");
        return;
    }
    char text[600] = "";
    size_t n = m->errbuf.n < sizeof text - 1 ? m->errbuf.n : sizeof text - 1;
    if (n > 0)
        memcpy(text, m->errbuf.s, n);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = ' ';
    mb_error_set(err, m->status == 127 ? MB_ERR_UNSUPPORTED : MB_ERR_FAILED,
                 "%s%s(status %d)", text, n ? " " : "sshfs in the guest exited ", m->status);
}

static int run_quiet(mb_ssh *probe, const char *command, struct mb_strbuf *errbuf,
                     mb_error **err)
{
    struct mb_ssh_exec x = {.command = command, .in_fd = -1, .out_fd = -1, .err_fd = -1,
                            .err_buf = errbuf};
    return mb_ssh_exec(probe, &x, 0, err);
}

bool mb_sftp_mount_start(mb_sftp_mounts *reg, const struct mb_sftp_mount_req *req,
                         mb_ssh *probe, mb_error **err)
{
    if (req->root == NULL || req->target == NULL || req->command == NULL
        || req->check == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "agent: a mount needs root, target, command and check");
        return false;
    }
    struct mb_sftp_server_opts o = {.root = req->root, .readonly = req->readonly};
    if (!mb_sftp_parse_idmap(req->uid_map, o.uid_map, &o.n_uid_map, err)
        || !mb_sftp_parse_idmap(req->gid_map, o.gid_map, &o.n_gid_map, err))
        return false;
    struct mount *m = calloc(1, sizeof *m);
    if (m == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "agent: out of memory");
        return false;
    }
    m->reg = reg;
    m->sp[0] = m->sp[1] = -1;
    m->refs = 1;
    m->target = strdup(req->target);
    m->command = strdup(req->command);
    if (m->target == NULL || m->command == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "agent: out of memory");
        goto fail;
    }
    if ((m->server = mb_sftp_server_new(&o, 0, err)) == NULL)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m->sp) != 0) {
        mb_error_set_errno(err, errno, "agent: cannot create a socket pair");
        goto fail;
    }
    int big = 4 << 20;
    for (int i = 0; i < 2; i++) {
        setsockopt(m->sp[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
        setsockopt(m->sp[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    }
    pthread_mutex_lock(&reg->lock);
    bool taken = find(reg, req->target) != NULL;
    if (!taken) {
        m->next = reg->list;
        reg->list = m;
        m->refs = 2; /* ours and the pump's */
    }
    pthread_mutex_unlock(&reg->lock);
    if (taken) {
        mb_error_set(err, MB_ERR_EXISTS, "%s is mounted already", req->target);
        goto fail;
    }
    if ((m->session = reg->get(reg->ud, err)) == NULL)
        goto fail_listed;
    pthread_t pump;
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&m->serve_thread, NULL, serve_main, m) != 0) {
        pthread_attr_destroy(&detached);
        reg->put(reg->ud, m->session, true);
        m->session = NULL;
        mb_error_set(err, MB_ERR_FAILED, "agent: cannot start a thread");
        goto fail_listed;
    }
    if (pthread_create(&pump, &detached, pump_main, m) != 0) {
        pthread_attr_destroy(&detached);
        shutdown(m->sp[0], SHUT_RDWR);
        pthread_join(m->serve_thread, NULL);
        reg->put(reg->ud, m->session, true);
        m->session = NULL;
        mb_error_set(err, MB_ERR_FAILED, "agent: cannot start a thread");
        goto fail_listed;
    }
    pthread_attr_destroy(&detached);

    /* wait for the guest to show the mount, or for sshfs to give up */
    double deadline = mb_clock_now() + (req->timeout > 0 ? req->timeout : 30);
    bool ok = false;
    for (;;) {
        if (atomic_load(&m->ended)) {
            ended_error(m, err);
            break;
        }
        int st = run_quiet(probe, req->check, NULL, err);
        if (st == 0 && !atomic_load(&m->ended)) {
            ok = true;
            break;
        }
        if (st < 0)
            break;
        if (mb_clock_now() > deadline) {
            mb_error_set(err, MB_ERR_TIMEOUT, "the guest did not show the mount of %s within "
                         "%.0f s", req->target, req->timeout > 0 ? req->timeout : 30);
            break;
        }
        mb_clock_sleep(0.1);
    }
    if (!ok)
        shutdown(m->sp[0], SHUT_RDWR); /* ends the server, then sshfs, then the pump */
    pthread_mutex_lock(&reg->lock);
    unref(m);
    pthread_mutex_unlock(&reg->lock);
    return ok;

fail_listed:
    pthread_mutex_lock(&reg->lock);
    unlink_mount(reg, m);
    m->refs = 1;
    unref(m);
    pthread_mutex_unlock(&reg->lock);
    return false;
fail:
    pthread_mutex_lock(&reg->lock);
    unref(m);
    pthread_mutex_unlock(&reg->lock);
    return false;
}

bool mb_sftp_mount_stop(mb_sftp_mounts *reg, const char *target, const char *command,
                        mb_ssh *probe, mb_error **err)
{
    struct mb_strbuf errbuf = {0};
    int st = run_quiet(probe, command, &errbuf, err);
    if (st != 0) {
        if (st > 0) {
            size_t n = errbuf.n;
            while (n > 0 && (errbuf.s[n - 1] == '\n' || errbuf.s[n - 1] == ' '))
                n--;
            mb_error_set(err, MB_ERR_FAILED, "cannot unmount %s in the guest: %.*s%s(status %d)",
                         target, (int)(n > 400 ? 400 : n), n ? errbuf.s : "", n ? " " : "",
                         st);
        }
        mb_strbuf_free(&errbuf);
        return false;
    }
    mb_strbuf_free(&errbuf);
    /* sshfs exits once unmounted; give it a moment, then cut the line */
    double deadline = mb_clock_now() + 10;
    bool forced = false;
    pthread_mutex_lock(&reg->lock);
    for (;;) {
        struct mount *m = find(reg, target);
        if (m == NULL)
            break;
        if (mb_clock_now() > deadline) {
            if (forced)
                break;
            shutdown(m->sp[0], SHUT_RDWR);
            forced = true;
            deadline = mb_clock_now() + 5;
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 200 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&reg->changed, &reg->lock, &t);
    }
    bool gone = find(reg, target) == NULL;
    pthread_mutex_unlock(&reg->lock);
    if (!gone)
        mb_error_set(err, MB_ERR_TIMEOUT, "the mount of %s did not end", target);
    return gone;
}

int mb_sftp_mount_count(mb_sftp_mounts *reg)
{
    int n = 0;
    pthread_mutex_lock(&reg->lock);
    for (struct mount *m = reg->list; m; m = m->next)
        n++;
    pthread_mutex_unlock(&reg->lock);
    return n;
}
