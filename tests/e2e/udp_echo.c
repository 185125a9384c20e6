/* A UDP echo server and client for the e2e specs (the tiny image's busybox
 * has no UDP nc), built static on the host and copied into the guest.
 *   udp_echo serve PORT          answers every datagram with itself
 *   udp_echo send HOST PORT SIZE < data > echoed
 *                                sends stdin in SIZE-byte datagrams, one at a
 *                                time, and writes each answer as it came to stdout (a
 *                                datagram is sent again after 1 s without an
 *                                answer, at most 5 times; then exit 1) */
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int serve(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("udp_echo: bind");
        return 1;
    }
    static char buf[65536];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n >= 0)
            sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

static int send_all(const char *host, int port, size_t size)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1
        || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("udp_echo: connect");
        return 1;
    }
    static char out[65536], in[65536];
    if (size == 0 || size > sizeof out)
        size = 1024;
    size_t n;
    while ((n = fread(out, 1, size, stdin)) > 0) {
        int tries = 0;
        for (;;) {
            if (tries++ == 5) {
                fprintf(stderr, "udp_echo: no answer after 5 tries\n");
                return 1;
            }
            send(fd, out, n, 0);
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 1000) <= 0)
                continue;
            ssize_t r = recv(fd, in, sizeof in, 0);
            if (r >= 0) { /* whatever came back: the caller compares */
                fwrite(in, 1, (size_t)r, stdout);
                break;
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(atoi(argv[2]));
    if (argc == 5 && strcmp(argv[1], "send") == 0)
        return send_all(argv[2], atoi(argv[3]), (size_t)atoi(argv[4]));
    fprintf(stderr, "usage: udp_echo serve PORT | udp_echo send HOST PORT SIZE\n");
    return 2;
}
