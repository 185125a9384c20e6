/* UDP port forwards of the instance agent (see agent_forward_udp.h): one
 * thread per forward relays datagrams between the host socket and the
 * guest's address. Each client (source address and port) gets its own
 * connected socket towards the guest, so the guest's replies go back to the
 * client that asked, as with socat or QEMU's hostfwd=udp; an association
 * idle for MB_UDP_IDLE_SECONDS is dropped, the oldest one when the table is
 * full. */
#include "agentd/agent_forward_udp.h"
#include "core/clock.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_ASSOC 256
#define MAX_DATAGRAM 65536

struct assoc {
    struct sockaddr_storage client;
    socklen_t len;
    int fd;         /* connected to the guest */
    time_t last;    /* last datagram either way (monotonic seconds) */
};

static bool resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | (host ? 0 : AI_PASSIVE),
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL)
        return false;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return true;
}

int mb_udp_bind(const char *address, int port, mb_error **err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!resolve(address, port, &ss, &len)) {
        mb_error_set(err, MB_ERR_USAGE, "forward: \"%s\" is not an IP address", address);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        if (e == EADDRINUSE)
            mb_error_set(err, MB_ERR_EXISTS, "forward: %s UDP port %d is already in use (pick "
                         "another host port)", address, port);
        else
            mb_error_set_errno(err, e, "forward: cannot bind %s UDP port %d", address, port);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void drop(struct assoc *a, int *n, int i)
{
    close(a[i].fd);
    a[i] = a[--*n];
}

static int find_client(struct assoc *a, int n, const struct sockaddr_storage *from,
                       socklen_t len)
{
    for (int i = 0; i < n; i++)
        if (a[i].len == len && memcmp(&a[i].client, from, len) == 0)
            return i;
    return -1;
}

/* A new association for a client: a socket connected to the guest. */
static int add_client(struct assoc *a, int *n, const struct sockaddr_storage *from,
                      socklen_t len, const struct sockaddr_storage *guest, socklen_t glen)
{
    if (*n == MAX_ASSOC) {
        int oldest = 0;
        for (int i = 1; i < *n; i++)
            if (a[i].last < a[oldest].last)
                oldest = i;
        drop(a, n, oldest);
    }
    int fd = socket(guest->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)guest, glen) != 0) {
        close(fd);
        return -1;
    }
    a[*n] = (struct assoc){.len = len, .fd = fd, .last = (time_t)mb_clock_now()};
    memcpy(&a[*n].client, from, len);
    return (*n)++;
}

void mb_udp_relay(int fd, const char *guest_host, int guest_port, atomic_bool *closing)
{
    struct sockaddr_storage guest;
    socklen_t glen;
    struct assoc *a = calloc(MAX_ASSOC, sizeof *a);
    struct pollfd *p = calloc(MAX_ASSOC + 1, sizeof *p);
    char *buf = malloc(MAX_DATAGRAM);
    int n = 0;
    if (a == NULL || p == NULL || buf == NULL || !resolve(guest_host, guest_port, &guest, &glen)) {
        fprintf(stderr, "agent: UDP forward to %s port %d: cannot start\n",
                guest_host ? guest_host : "?", guest_port);
        goto done;
    }
    while (!atomic_load(closing)) {
        p[0] = (struct pollfd){fd, POLLIN, 0};
        for (int i = 0; i < n; i++)
            p[i + 1] = (struct pollfd){a[i].fd, POLLIN, 0};
        int np = n;
        if (poll(p, (nfds_t)np + 1, 200) < 0 && errno != EINTR)
            break;
        time_t now = (time_t)mb_clock_now();
        /* the guest's answers first: indexes in p match a[] until a change */
        for (int i = 0; i < np; i++) {
            if (!(p[i + 1].revents & (POLLIN | POLLERR)))
                continue;
            ssize_t r = recv(a[i].fd, buf, MAX_DATAGRAM, MSG_DONTWAIT);
            if (r < 0)
                continue; /* ECONNREFUSED: nothing listens in the guest (yet) */
            sendto(fd, buf, (size_t)r, MSG_DONTWAIT, (struct sockaddr *)&a[i].client,
                   a[i].len);
            a[i].last = now;
        }
        if (p[0].revents & POLLIN) {
            struct sockaddr_storage from;
            socklen_t flen = sizeof from;
            ssize_t r = recvfrom(fd, buf, MAX_DATAGRAM, MSG_DONTWAIT, (struct sockaddr *)&from,
                                 &flen);
            if (r >= 0) {
                int k = find_client(a, n, &from, flen);
                if (k < 0)
                    k = add_client(a, &n, &from, flen, &guest, glen);
                if (k >= 0) {
                    send(a[k].fd, buf, (size_t)r, MSG_DONTWAIT);
                    a[k].last = now;
                }
            }
        }
        for (int i = n - 1; i >= 0; i--)
            if (now - a[i].last > MB_UDP_IDLE_SECONDS)
                drop(a, &n, i);
    }
done:
    while (n > 0)
        drop(a, &n, n - 1);
    close(fd);
    free(a);
    free(p);
    free(buf);
}
