/* A fake LXD for the unit tests: a forked HTTP/1.1 server on a unix socket in
 * a temporary directory, one child per connection (keep-alive), answering
 * each request with the test's route function. Include after <cmocka.h>;
 * the helpers build LXD's envelopes. */
#ifndef MB_TEST_FAKE_LXD_H
#define MB_TEST_FAKE_LXD_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* method, path (with the query), body (NULs shown as spaces), its length,
 * Content-Type (or NULL); answers with fake_reply or writes to fd itself */
typedef void (*fake_route_fn)(int fd, const char *method, const char *path, const char *body,
                              size_t blen, const char *ctype);

static char fake_sock[108];
static char fake_dir[64];
static pid_t fake_pid;

#define SYNC(meta) "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200," \
                   "\"operation\":\"\",\"error_code\":0,\"error\":\"\",\"metadata\":" meta "}"
#define ASYNC(op) "{\"type\":\"async\",\"status\":\"Operation created\",\"status_code\":100," \
                  "\"operation\":\"" op "\",\"error_code\":0,\"error\":\"\",\"metadata\":{}}"
#define ERROR(code, msg) "{\"type\":\"error\",\"status\":\"\",\"status_code\":0," \
                         "\"operation\":\"\",\"error_code\":" #code ",\"error\":\"" msg "\"," \
                         "\"metadata\":null}"
#define OP(code, meta, err) SYNC("{\"id\":\"x\",\"description\":\"Creating instance\"," \
                                 "\"status_code\":" #code ",\"metadata\":" meta ",\"err\":\"" \
                                 err "\"}")

static void fake_reply(int fd, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n", status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        _exit(3);
}

/* Reads requests from one connection until it ends. */
static void fake_serve_conn(int fd, fake_route_fn route)
{
    static char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
            if (n <= 0)
                return;
            have += (size_t)n;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        buf[hlen - 2] = '\0';
        char method[16], path[512];
        if (sscanf(buf, "%15s %511s", method, path) != 2)
            return;
        size_t clen = 0;
        char ctype[256] = "";
        for (char *l = strstr(buf, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
            if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
                clen = strtoul(l + 17, NULL, 10);
            if (strncasecmp(l + 2, "Content-Type:", 13) == 0)
                sscanf(l + 15, "%255[^\r]", ctype);
            if (strncasecmp(l + 2, "Expect: 100-continue", 20) == 0 &&
                write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
                return;
        }
        char *body = clen ? malloc(clen + 1) : NULL;
        size_t got = have - hlen < clen ? have - hlen : clen;
        if (body)
            memcpy(body, buf + hlen, got);
        while (body && got < clen) {
            ssize_t n = read(fd, body + got, clen - got);
            if (n <= 0)
                return;
            got += (size_t)n;
        }
        if (body) {
            body[clen] = '\0';
            for (size_t i = 0; i < clen; i++) /* multipart: let strstr see it all */
                if (body[i] == '\0')
                    body[i] = ' ';
        }
        size_t used = hlen + (have - hlen < clen ? have - hlen : clen);
        memmove(buf, buf + used, have - used);
        have -= used;
        route(fd, method, path, body, clen, ctype[0] ? ctype : NULL);
        free(body);
    }
}

static void fake_lxd_start(fake_route_fn route)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(fake_dir, sizeof fake_dir, "/tmp/mb-lxd-test-XXXXXX");
    assert_non_null(mkdtemp(fake_dir));
    snprintf(fake_sock, sizeof fake_sock, "%s/unix.socket", fake_dir);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, fake_sock);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 16), 0);
    fake_pid = fork();
    if (fake_pid == 0) {
        /* a failed assertion never reaches fake_lxd_stop: die with the test */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            int fd = accept(s, NULL, NULL);
            if (fd < 0)
                _exit(1);
            if (fork() == 0) { /* a connection each: a cut one ends only itself */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(s);
                fake_serve_conn(fd, route);
                _exit(0);
            }
            close(fd);
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
        }
    }
    close(s);
}

static void fake_lxd_stop(void)
{
    kill(fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", fake_dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", fake_dir);
}

#endif
