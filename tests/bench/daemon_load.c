/* Load for the daemon (tests/bench/daemon.sh): N clients, each with its own
 * unix-socket connection per request (as the CLI makes), asking for
 * GET /v1/instances or GET /v1/instances/vmK in turn, for S seconds.
 * Prints requests, errors (non-200), p50 and p99 latency.
 * Usage: daemon_load SOCKET CLIENTS SECONDS INSTANCES */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct client {
    int fd;
    double start;
    char buf[65536];
    size_t got;
};

static int dial(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *sock = argv[1];
    int n = atoi(argv[2]), instances = atoi(argv[4]);
    double secs = atof(argv[3]);
    struct client *c = calloc((size_t)n, sizeof *c);
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    size_t cap = 1 << 20, count = 0, errors = 0;
    double *lat = malloc(cap * sizeof *lat);
    double end = now() + secs;
    unsigned k = 0;
    for (int i = 0; i < n; i++)
        c[i].fd = -1;
    while (now() < end) {
        for (int i = 0; i < n; i++) {
            if (c[i].fd >= 0)
                continue;
            c[i].fd = dial(sock);
            if (c[i].fd < 0) {
                errors++;
                continue;
            }
            char req[256];
            int len = ++k % 2 ? snprintf(req, sizeof req, "GET /v1/instances HTTP/1.1\r\n"
                                         "Host: x\r\nConnection: close\r\n\r\n")
                              : snprintf(req, sizeof req, "GET /v1/instances/vm%u HTTP/1.1\r\n"
                                         "Host: x\r\nConnection: close\r\n\r\n",
                                         1 + k % (unsigned)instances);
            c[i].start = now();
            c[i].got = 0;
            if (write(c[i].fd, req, (size_t)len) != len) {
                close(c[i].fd);
                c[i].fd = -1;
                errors++;
            }
        }
        for (int i = 0; i < n; i++)
            p[i] = (struct pollfd){c[i].fd, POLLIN, 0};
        if (poll(p, (nfds_t)n, 100) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(c[i].fd, c[i].buf + c[i].got, sizeof c[i].buf - 1 - c[i].got);
            if (r > 0) {
                c[i].got += (size_t)r;
                if (c[i].got < sizeof c[i].buf - 1)
                    continue;
            }
            c[i].buf[c[i].got] = '\0';
            if (strncmp(c[i].buf, "HTTP/1.1 200", 12) != 0)
                errors++;
            else if (count < cap)
                lat[count++] = now() - c[i].start;
            close(c[i].fd);
            c[i].fd = -1;
        }
    }
    qsort(lat, count, sizeof *lat, cmp);
    printf("requests %zu errors %zu rate %.1f/s p50 %.1f ms p99 %.1f ms\n", count, errors,
           count / secs, count ? lat[count / 2] * 1e3 : 0,
           count ? lat[count * 99 / 100] * 1e3 : 0);
    return errors ? 1 : 0;
}
