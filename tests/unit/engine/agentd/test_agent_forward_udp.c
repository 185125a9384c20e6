/* Unit tests for engine/agentd/agent_forward_udp.c, on 127.0.0.1 only: a relay in
 * front of a UDP "guest" that answers each datagram with a tag and the
 * datagram; two clients get their own answers back, byte for byte; a port in
 * use is MB_ERR_EXISTS; the relay ends when told to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agentd/agent_forward_udp.h"

/* A socket on 127.0.0.1 and an ephemeral port; returns the port. */
static int bound(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

struct guest {
    int fd;
    atomic_bool stop;
};

/* The "guest": answers "<source port>:" followed by the datagram. */
static void *guest_loop(void *arg)
{
    struct guest *g = arg;
    char buf[2048], out[2100];
    while (!atomic_load(&g->stop)) {
        struct pollfd p = {g->fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(g->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 0)
            continue;
        int k = snprintf(out, sizeof out, "%d:", ntohs(from.sin_port));
        memcpy(out + k, buf, (size_t)n);
        sendto(g->fd, out, (size_t)k + (size_t)n, 0, (struct sockaddr *)&from, len);
    }
    return NULL;
}

struct relay {
    int fd, guest_port;
    atomic_bool closing;
};

static void *relay_loop(void *arg)
{
    struct relay *r = arg;
    mb_udp_relay(r->fd, "127.0.0.1", r->guest_port, &r->closing);
    return NULL;
}

/* Sends msg from a fresh client socket to port; returns the answer's length. */
static ssize_t ask(int client, int port, const char *msg, char *answer, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(client, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a),
                     (ssize_t)strlen(msg));
    struct pollfd p = {client, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    return recv(client, answer, size, 0);
}

static void test_relay(void **state)
{
    (void)state;
    struct guest g = {.stop = false};
    int guest_port = bound(&g.fd);
    pthread_t gt, rt;
    assert_int_equal(pthread_create(&gt, NULL, guest_loop, &g), 0);

    mb_error *err = NULL;
    int probe;
    int port = bound(&probe);
    close(probe); /* a port that was free a moment ago */
    struct relay r = {.guest_port = guest_port, .closing = false};
    r.fd = mb_udp_bind("127.0.0.1", port, &err);
    assert_null(err);
    assert_true(r.fd >= 0);
    assert_int_equal(pthread_create(&rt, NULL, relay_loop, &r), 0);

    /* the same port again: in use */
    assert_int_equal(mb_udp_bind("127.0.0.1", port, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_EXISTS);
    assert_non_null(strstr(err->message, "already in use"));
    mb_error_free(err);
    err = NULL;

    int c1, c2;
    bound(&c1);
    bound(&c2);
    char a1[2200], a2[2200], a3[2200];
    ssize_t n1 = ask(c1, port, "hello from one", a1, sizeof a1);
    ssize_t n2 = ask(c2, port, "and from two", a2, sizeof a2);
    ssize_t n3 = ask(c1, port, "one again", a3, sizeof a3);
    assert_true(n1 > 0 && n2 > 0 && n3 > 0);
    a1[n1] = a2[n2] = a3[n3] = '\0';
    /* each answer went to its own client, the datagram byte for byte */
    char *p1 = strchr(a1, ':'), *p2 = strchr(a2, ':'), *p3 = strchr(a3, ':');
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_string_equal(p1 + 1, "hello from one");
    assert_string_equal(p2 + 1, "and from two");
    assert_string_equal(p3 + 1, "one again");
    /* one association per client: the guest saw one source port per client */
    *p1 = *p2 = *p3 = '\0';
    assert_string_equal(a1, a3);
    assert_string_not_equal(a1, a2);

    atomic_store(&r.closing, true);
    pthread_join(rt, NULL);
    /* the relay closed its socket: the port is free again */
    int again = mb_udp_bind("127.0.0.1", port, &err);
    assert_null(err);
    assert_true(again >= 0);
    close(again);
    atomic_store(&g.stop, true);
    pthread_join(gt, NULL);
    close(g.fd);
    close(c1);
    close(c2);
}

static void test_bad_address(void **state)
{
    (void)state;
    mb_error *err = NULL;
    assert_int_equal(mb_udp_bind("localhost", 5353, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_USAGE);
    assert_non_null(strstr(err->message, "is not an IP address"));
    mb_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
