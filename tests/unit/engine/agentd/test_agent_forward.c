/* Unit tests for engine/agentd/agent_forward.c, on 127.0.0.1 only, in direct
 * mode (the guest's own address, as on a moonbase network): a forward carries a
 * connection to the "guest"; once removed, the port refuses the very next
 * connection (no window in which the old forward still answers) and can be
 * bound again; UDP forwards free their port the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agentd/agent_forward.h"

/* A free port on 127.0.0.1 of the given type. */
static int free_port(int type)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, type, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

struct guest {
    int fd, port;
    atomic_bool stop;
};

/* The "guest": answers every connection with "hi" and closes it. */
static void *guest_loop(void *arg)
{
    struct guest *g = arg;
    while (!atomic_load(&g->stop)) {
        struct pollfd p = {g->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(g->fd, NULL, NULL);
        if (c < 0)
            continue;
        (void)!write(c, "hi", 2);
        close(c);
    }
    return NULL;
}

static void guest_start(struct guest *g, pthread_t *t)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    g->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(g->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(g->fd, 16), 0);
    assert_int_equal(getsockname(g->fd, (struct sockaddr *)&a, &len), 0);
    g->port = ntohs(a.sin_port);
    atomic_store(&g->stop, false);
    assert_int_equal(pthread_create(t, NULL, guest_loop, g), 0);
}

/* Connects to 127.0.0.1:port; returns what it read ("" on EOF), or NULL when
 * the connection was refused. */
static const char *ask(int port, char *buf, size_t size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        assert_int_equal(errno, ECONNREFUSED);
        close(fd);
        return NULL;
    }
    size_t n = 0;
    ssize_t r;
    while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
    return buf;
}

static void removed_is_gone_at_once(void **state)
{
    (void)state;
    struct guest g;
    pthread_t t;
    guest_start(&g, &t);
    mb_error *err = NULL;
    mb_forwards *f = mb_forwards_new(NULL, NULL, NULL, "127.0.0.1", &err);
    assert_non_null(f);
    int port = free_port(SOCK_STREAM);
    char buf[16];
    for (int round = 0; round < 25; round++) {
        assert_true(mb_forward_add(f, "127.0.0.1", port, g.port, false, &err));
        assert_string_equal(ask(port, buf, sizeof buf), "hi");
        assert_true(mb_forward_remove(f, "127.0.0.1", port, false, &err));
        assert_null(ask(port, buf, sizeof buf)); /* the very next connection is refused */
    }
    assert_false(mb_forward_remove(f, "127.0.0.1", port, false, &err));
    assert_non_null(err);
    assert_int_equal(err->code, MB_ERR_NOT_FOUND);
    mb_error_free(err);
    atomic_store(&g.stop, true);
    pthread_join(t, NULL);
    close(g.fd);
}

static void removed_udp_frees_its_port(void **state)
{
    (void)state;
    mb_error *err = NULL;
    mb_forwards *f = mb_forwards_new(NULL, NULL, NULL, "127.0.0.1", &err);
    assert_non_null(f);
    int port = free_port(SOCK_DGRAM), guest = free_port(SOCK_DGRAM);
    for (int round = 0; round < 10; round++) {
        assert_true(mb_forward_add(f, "127.0.0.1", port, guest, true, &err));
        assert_true(mb_forward_remove(f, "127.0.0.1", port, true, &err));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0); /* free again */
        close(fd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(removed_is_gone_at_once),
        cmocka_unit_test(removed_udp_frees_its_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
