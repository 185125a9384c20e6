/* Port forwards of the instance agent (see agent_forward.h): one thread per
 * listening socket accepting connections, one thread per connection pumping
 * it through a direct-tcpip channel (mb_ssh_forward_tcp) on a pooled session;
 * one thread per UDP forward (agent_forward_udp.c). */
#include "agentd/agent_forward.h"
#include "agentd/agent_forward_udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FORWARDS 64

struct listener {
    char address[64];
    int host_port, guest_port;
    bool udp;
    int fd;
    atomic_bool closing;
    pthread_t thread; /* joined by mb_forward_remove */
    struct mb_forwards *owner;
};

struct mb_forwards {
    pthread_mutex_t lock;
    struct listener *l[MAX_FORWARDS];
    mb_forward_session_get get;
    mb_forward_session_put put;
    void *ud;
    char direct_host[64]; /* "" = through SSH */
};

struct connection {
    struct mb_forwards *f;
    int fd, guest_port;
};

mb_forwards *mb_forwards_new(mb_forward_session_get get, mb_forward_session_put put, void *ud,
                             const char *direct_host, mb_error **err)
{
    mb_forwards *f = calloc(1, sizeof *f);
    if (f == NULL) {
        mb_error_set(err, MB_ERR_IO, "agent: out of memory");
        return NULL;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->get = get;
    f->put = put;
    f->ud = ud;
    if (direct_host && strlen(direct_host) < sizeof f->direct_host)
        snprintf(f->direct_host, sizeof f->direct_host, "%s", direct_host);
    return f;
}

/* Copies both ways between two sockets until both directions have ended;
 * each side's EOF is passed on with shutdown(SHUT_WR). */
static void splice_sockets(int a, int b)
{
    char buf[65536];
    bool open_a = true, open_b = true; /* still reading from a / b */
    while (open_a || open_b) {
        struct pollfd p[2] = {{open_a ? a : -1, POLLIN, 0}, {open_b ? b : -1, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int from = i == 0 ? a : b, to = i == 0 ? b : a;
            ssize_t r = read(from, buf, sizeof buf);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                shutdown(to, SHUT_WR);
                if (i == 0)
                    open_a = false;
                else
                    open_b = false;
                continue;
            }
            for (ssize_t off = 0; off < r;) {
                ssize_t w = send(to, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    return;
                off += w;
            }
        }
    }
}

static int connect_tcp(const char *host, int port)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void *pump(void *arg)
{
    struct connection *c = arg;
    if (c->f->direct_host[0]) {
        int g = connect_tcp(c->f->direct_host, c->guest_port);
        if (g < 0)
            fprintf(stderr, "agent: forward to %s port %d: %s\n", c->f->direct_host,
                    c->guest_port, strerror(errno));
        else
            splice_sockets(c->fd, g), close(g);
        close(c->fd);
        free(c);
        return NULL;
    }
    mb_error *err = NULL;
    mb_ssh *s = c->f->get(c->f->ud, &err);
    bool ok = false;
    if (s)
        ok = mb_ssh_forward_tcp(s, "127.0.0.1", c->guest_port, c->fd, 0, &err);
    if (s)
        c->f->put(c->f->ud, s, ok || (err && err->code != MB_ERR_UNREACHABLE));
    if (err)
        fprintf(stderr, "agent: forward to guest port %d: %s\n", c->guest_port, err->message);
    mb_error_free(err);
    close(c->fd);
    free(c);
    return NULL;
}

static void spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, fn, arg) != 0) {
        struct connection *c = arg;
        close(c->fd);
        free(arg);
    }
    pthread_attr_destroy(&attr);
}

static void *accept_loop(void *arg)
{
    struct listener *l = arg;
    while (!atomic_load(&l->closing)) {
        struct pollfd p = {l->fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        struct connection *c = malloc(sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        *c = (struct connection){l->owner, fd, l->guest_port};
        spawn_detached(pump, c);
    }
    close(l->fd);
    free(l);
    return NULL;
}

static void *udp_loop(void *arg)
{
    struct listener *l = arg;
    mb_udp_relay(l->fd, l->owner->direct_host, l->guest_port, &l->closing);
    free(l);
    return NULL;
}

static int listen_tcp(const char *address, int port, mb_error **err)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(address, service, &hints, &ai) != 0 || ai == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "forward: \"%s\" is not an IP address", address);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        if (e == EADDRINUSE)
            mb_error_set(err, MB_ERR_EXISTS, "forward: %s port %d is already in use (pick "
                         "another host port)", address, port);
        else
            mb_error_set_errno(err, e, "forward: cannot listen on %s port %d", address, port);
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int find(mb_forwards *f, const char *address, int host_port, bool udp)
{
    for (int i = 0; i < MAX_FORWARDS; i++)
        if (f->l[i] && f->l[i]->host_port == host_port && f->l[i]->udp == udp
            && strcmp(f->l[i]->address, address) == 0)
            return i;
    return -1;
}

bool mb_forward_add(mb_forwards *f, const char *address, int host_port, int guest_port,
                    bool udp, mb_error **err)
{
    if (host_port < 1 || host_port > 65535 || guest_port < 1 || guest_port > 65535
        || strlen(address) >= sizeof f->l[0]->address) {
        mb_error_set(err, MB_ERR_USAGE, "forward: ports must be 1-65535");
        return false;
    }
    if (udp && f->direct_host[0] == '\0') {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "forward: UDP forwards need the instance on a "
                     "moonbase network (under QEMU user networking the agent reaches the guest "
                     "only over SSH, which carries no UDP)");
        return false;
    }
    pthread_mutex_lock(&f->lock);
    bool ok = false;
    int i = find(f, address, host_port, udp);
    if (i >= 0) {
        ok = f->l[i]->guest_port == guest_port;
        if (!ok)
            mb_error_set(err, MB_ERR_EXISTS, "forward: %s port %d already forwards to guest "
                         "port %d", address, host_port, f->l[i]->guest_port);
        goto done;
    }
    int slot = -1;
    for (int k = 0; k < MAX_FORWARDS && slot < 0; k++)
        if (f->l[k] == NULL)
            slot = k;
    if (slot < 0) {
        mb_error_set(err, MB_ERR_USAGE, "forward: at most %d forwards per instance",
                     MAX_FORWARDS);
        goto done;
    }
    int fd = udp ? mb_udp_bind(address, host_port, err) : listen_tcp(address, host_port, err);
    if (fd < 0)
        goto done;
    struct listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        close(fd);
        mb_error_set(err, MB_ERR_IO, "agent: out of memory");
        goto done;
    }
    snprintf(l->address, sizeof l->address, "%s", address);
    l->host_port = host_port;
    l->guest_port = guest_port;
    l->udp = udp;
    l->fd = fd;
    l->owner = f;
    if (pthread_create(&l->thread, NULL, udp ? udp_loop : accept_loop, l) != 0) {
        close(fd);
        free(l);
        mb_error_set(err, MB_ERR_IO, "agent: cannot start a thread");
        goto done;
    }
    f->l[slot] = l;
    ok = true;
done:
    pthread_mutex_unlock(&f->lock);
    return ok;
}

bool mb_forward_remove(mb_forwards *f, const char *address, int host_port, bool udp,
                       mb_error **err)
{
    pthread_mutex_lock(&f->lock);
    int i = find(f, address, host_port, udp);
    pthread_t thread;
    if (i >= 0) {
        struct listener *l = f->l[i];
        thread = l->thread;
        atomic_store(&l->closing, true); /* its thread closes and frees it */
        if (!udp)
            shutdown(l->fd, SHUT_RDWR); /* refuses new connections now, wakes its poll */
        f->l[i] = NULL;
    }
    pthread_mutex_unlock(&f->lock);
    /* Removed means gone: when this returns, the port answers nothing and is free to be
     * bound again (the thread's poll waits at most 200 ms). */
    if (i >= 0)
        pthread_join(thread, NULL);
    if (i < 0)
        mb_error_set(err, MB_ERR_NOT_FOUND, "forward: nothing forwards %s %s port %d", address,
                     udp ? "UDP" : "TCP", host_port);
    return i >= 0;
}
