/* Unit tests for the SSH layer (engine/ssh*.c): the OpenSSH private key
 * container parsed back by hand, fingerprints against ssh-keygen's, key files;
 * then, against a private sshd on 127.0.0.1 (tests/lib/sshd.sh): libssh2's own
 * loaders accept our keys, exec with explicit fds, a direct-tcpip forward, and
 * the failures a caller polls through (timeout, unreachable, host key). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ssh/ssh.h"
#include "core/clock.h"

static char tmpdir[64];
static int sshd_port; /* 0: no sshd here */
static char host_pub[256], client_priv_mem[1024], user[64];

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A reader of SSH wire strings over a byte range. */
struct rd {
    const unsigned char *p, *end;
};

static uint32_t rd_u32(struct rd *r)
{
    assert_true(r->end - r->p >= 4);
    uint32_t v = be32(r->p);
    r->p += 4;
    return v;
}

static const unsigned char *rd_str(struct rd *r, uint32_t *len)
{
    *len = rd_u32(r);
    assert_true((size_t)(r->end - r->p) >= *len);
    const unsigned char *s = r->p;
    r->p += *len;
    return s;
}

static bool str_is(const unsigned char *s, uint32_t len, const char *want)
{
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* The private key text: armour, then the openssh-key-v1 layout field by field. */
static void test_private_key_format(void **state)
{
    char *priv, *pub;
    mb_error *err = NULL;
    assert_true(mb_ssh_keypair("me@test", &priv, &pub, &err));
    assert_null(err);
    const char *head = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
    const char *tail = "-----END OPENSSH PRIVATE KEY-----\n";
    assert_memory_equal(priv, head, strlen(head));
    assert_string_equal(priv + strlen(priv) - strlen(tail), tail);

    /* base64 body, lines of at most 70 */
    char b64[2048] = "";
    const char *line = priv + strlen(head);
    while (strncmp(line, "-----END", 8) != 0) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(nl - line <= 70);
        strncat(b64, line, (size_t)(nl - line));
        line = nl + 1;
    }
    unsigned char bin[2048];
    int n = EVP_DecodeBlock(bin, (unsigned char *)b64, (int)strlen(b64));
    assert_true(n > 0);
    size_t len = (size_t)n - (b64[strlen(b64) - 1] == '=') - (b64[strlen(b64) - 2] == '=');

    struct rd r = {bin, bin + len};
    assert_memory_equal(r.p, "openssh-key-v1\0", 15);
    r.p += 15;
    uint32_t l, l2;
    const unsigned char *s = rd_str(&r, &l);
    assert_true(str_is(s, l, "none")); /* cipher */
    s = rd_str(&r, &l);
    assert_true(str_is(s, l, "none")); /* kdf */
    rd_str(&r, &l);
    assert_int_equal(l, 0); /* kdf options */
    assert_int_equal(rd_u32(&r), 1);
    const unsigned char *pubblob = rd_str(&r, &l);

    /* the public blob is the one in the public line */
    size_t linelen;
    unsigned char *fromline = mb_ssh_pubkey_decode(pub, &linelen, &err);
    assert_non_null(fromline);
    assert_int_equal(linelen, l);
    assert_memory_equal(fromline, pubblob, l);
    assert_int_equal(l, 4 + 11 + 4 + 32);
    free(fromline);

    const unsigned char *sec = rd_str(&r, &l);
    assert_true(r.p == r.end);
    assert_int_equal(l % 8, 0);
    struct rd k = {sec, sec + l};
    assert_int_equal(rd_u32(&k), rd_u32(&(struct rd){sec + 4, sec + 8})); /* checkints */
    k.p = sec + 8;
    s = rd_str(&k, &l2);
    assert_true(str_is(s, l2, "ssh-ed25519"));
    const unsigned char *pk = rd_str(&k, &l2);
    assert_int_equal(l2, 32);
    assert_memory_equal(pk, pubblob + 19, 32);
    const unsigned char *sk = rd_str(&k, &l2);
    assert_int_equal(l2, 64);
    assert_memory_equal(sk + 32, pk, 32); /* seed || public */
    s = rd_str(&k, &l2);
    assert_true(str_is(s, l2, "me@test"));
    for (unsigned char i = 1; k.p < k.end; i++)
        assert_int_equal(*k.p++, i); /* padding 1, 2, 3, ... */

    /* the seed really is the private half of that public key */
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
    assert_non_null(key);
    unsigned char derived[32];
    size_t dlen = sizeof derived;
    assert_int_equal(EVP_PKEY_get_raw_public_key(key, derived, &dlen), 1);
    assert_memory_equal(derived, pk, 32);
    EVP_PKEY_free(key);

    assert_true(strncmp(pub, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0);
    assert_string_equal(pub + strlen(pub) - 8, " me@test");
    free(priv);
    free(pub);
}

static void test_fingerprint(void **state)
{
    /* ssh-keygen -l of this line says SHA256:KMNHj2X4+q/ZelHonBwKAalZEb0/73Lv6bcM3OBDVrY */
    const char *line = "ssh-ed25519 "
                       "AAAAC3NzaC1lZDI1NTE5AAAAIIeeNfP+ow2z0vCIu7nu9j1pwziU5b7FXOAKRyJFtCtY host";
    mb_error *err = NULL;
    char *fp = mb_ssh_fingerprint(line, &err);
    assert_non_null(fp);
    assert_string_equal(fp, "SHA256:KMNHj2X4+q/ZelHonBwKAalZEb0/73Lv6bcM3OBDVrY");
    free(fp);
    /* no comment, extra blanks */
    fp = mb_ssh_fingerprint("  ssh-ed25519   "
                            "AAAAC3NzaC1lZDI1NTE5AAAAIIeeNfP+ow2z0vCIu7nu9j1pwziU5b7FXOAKRyJFtCtY",
                            &err);
    assert_non_null(fp);
    assert_string_equal(fp, "SHA256:KMNHj2X4+q/ZelHonBwKAalZEb0/73Lv6bcM3OBDVrY");
    free(fp);

    const char *bad[] = {
        "", "ssh-ed25519", "ssh-ed25519 !!!!", "ssh-ed25519 AAAA",
        /* the blob says ssh-ed25519, the line says ssh-rsa */
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIIeeNfP+ow2z0vCIu7nu9j1pwziU5b7FXOAKRyJFtCtY",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = NULL;
        assert_null(mb_ssh_fingerprint(bad[i], &err));
        assert_non_null(err);
        assert_int_equal(err->code, MB_ERR_USAGE);
        mb_error_free(err);
    }
}

static void test_keygen_files(void **state)
{
    char path[128], pubpath[140];
    path_in(path, sizeof path, "id_test");
    snprintf(pubpath, sizeof pubpath, "%s.pub", path);
    mb_error *err = NULL;
    char *pub = mb_ssh_keygen(path, "c", &err);
    assert_non_null(pub);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(pubpath, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    char want[256];
    snprintf(want, sizeof want, "%s\n", pub);
    assert_string_equal(slurp(pubpath), want);

    assert_null(mb_ssh_keygen(path, "c", &err));
    assert_int_equal(err->code, MB_ERR_EXISTS);
    mb_error_free(err);

    if (access("/usr/bin/ssh-keygen", X_OK) == 0) {
        char cmd[256], got[256] = "";
        snprintf(cmd, sizeof cmd, "ssh-keygen -y -f %s", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(got, sizeof got, p));
        assert_int_equal(pclose(p), 0);
        /* ssh-keygen -y prints "type base64 comment" */
        assert_string_equal(got, want);
    } else {
        print_message("ssh-keygen is not installed: -y round trip not checked\n");
    }
    free(pub);
}

/* ---- against a private sshd ---- */

#define NEED_SSHD()                                                                      \
    do {                                                                                 \
        if (sshd_port == 0) {                                                            \
            print_message("needs /usr/sbin/sshd (apt-get install openssh-server)\n");   \
            skip();                                                                      \
        }                                                                                \
    } while (0)

static int tcp_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static mb_ssh *connect_ok(void)
{
    char key[128];
    path_in(key, sizeof key, "client");
    struct mb_ssh_connect_opts o = {.host = "127.0.0.1", .port = sshd_port, .user = user,
                                    .key_path = key, .host_key = host_pub, .timeout = 10};
    mb_error *err = NULL;
    mb_ssh *s = mb_ssh_connect(&o, 0, &err);
    if (s == NULL)
        fail_msg("connect: %s", err->message);
    return s;
}

/* libssh2's own loaders take our private keys: from memory (keypair, no public
 * key given, so libssh2 derives it) and from a file (keygen). */
static void test_libssh2_loads_our_keys(void **state)
{
    NEED_SSHD();
    char keyfile[128];
    path_in(keyfile, sizeof keyfile, "client");
    for (int from_file = 0; from_file < 2; from_file++) {
        int fd = tcp_to(sshd_port);
        LIBSSH2_SESSION *s = libssh2_session_init();
        assert_non_null(s);
        libssh2_session_set_timeout(s, 10000);
        assert_int_equal(libssh2_session_handshake(s, fd), 0);
        int rc = from_file
                     ? libssh2_userauth_publickey_fromfile_ex(s, user, (unsigned)strlen(user),
                                                              NULL, keyfile, NULL)
                     : libssh2_userauth_publickey_frommemory(s, user, strlen(user), NULL, 0,
                                                             client_priv_mem,
                                                             strlen(client_priv_mem), NULL);
        if (rc != 0) {
            char *msg = NULL;
            libssh2_session_last_error(s, &msg, NULL, 0);
            fail_msg("%s: %d %s", from_file ? "fromfile" : "frommemory", rc, msg);
        }
        assert_true(libssh2_userauth_authenticated(s));
        libssh2_session_disconnect(s, "bye");
        libssh2_session_free(s);
        close(fd);
    }
}

static void test_run_and_status(void **state)
{
    NEED_SSHD();
    mb_ssh *s = connect_ok();
    struct mb_strbuf out = {0}, errb = {0};
    struct mb_ssh_exec x = {.command = "cat; echo oops >&2; kill -INT $$", .in_fd = -1,
                            .in_data = "abc", .in_len = 3, .out_fd = -1, .err_fd = -1,
                            .out_buf = &out, .err_buf = &errb};
    mb_error *err = NULL;
    assert_int_equal(mb_ssh_exec(s, &x, 0, &err), 128 + SIGINT);
    assert_string_equal(out.s, "abc");
    assert_string_equal(errb.s, "oops\n");
    mb_strbuf_free(&out);
    mb_strbuf_free(&errb);
    x = (struct mb_ssh_exec){.command = "exit 42", .in_fd = -1, .out_fd = -1, .err_fd = -1};
    assert_int_equal(mb_ssh_exec(s, &x, 0, &err), 42);
    char desc[128];
    snprintf(desc, sizeof desc, "%s@127.0.0.1:%d", user, sshd_port);
    assert_string_equal(mb_ssh_describe(s), desc);
    mb_ssh_close(s);
}

/* The agent's way: a command pumped to fds it was handed. */
static void test_exec_with_fds(void **state)
{
    NEED_SSHD();
    mb_ssh *s = connect_ok();
    int in[2], out[2], errp[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    assert_int_equal(pipe(errp), 0);
    assert_int_equal(write(in[1], "hello fds\n", 10), 10);
    close(in[1]);
    struct mb_ssh_exec x = {.command = "tr a-z A-Z; echo E >&2; exit 9", .in_fd = in[0],
                            .out_fd = out[1], .err_fd = errp[1]};
    mb_error *err = NULL;
    assert_int_equal(mb_ssh_exec(s, &x, 0, &err), 9);
    close(out[1]);
    close(errp[1]);
    char buf[64] = "";
    assert_int_equal(read(out[0], buf, sizeof buf - 1), 10);
    assert_string_equal(buf, "HELLO FDS\n");
    memset(buf, 0, sizeof buf);
    assert_int_equal(read(errp[0], buf, sizeof buf - 1), 2);
    assert_string_equal(buf, "E\n");
    close(in[0]);
    close(out[0]);
    close(errp[0]);
    mb_ssh_close(s);
}

/* An echo server on 127.0.0.1 reached through the SSH server, fed from the
 * other end of a socketpair by a child that writes and reads at once. */
static void test_forward_tcp(void **state)
{
    NEED_SSHD();
    enum { TOTAL = 3 << 20 };
    int port, lfd = listener(&port);
    pid_t echo = fork();
    if (echo == 0) {
        int c = accept(lfd, NULL, NULL);
        char buf[65536];
        ssize_t n;
        while ((n = read(c, buf, sizeof buf)) > 0)
            if (write(c, buf, (size_t)n) != n)
                _exit(1);
        shutdown(c, SHUT_WR);
        _exit(0);
    }
    close(lfd);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    pid_t client = fork();
    if (client == 0) {
        close(sp[0]);
        fcntl(sp[1], F_SETFL, O_NONBLOCK);
        static unsigned char out[TOTAL], back[TOTAL];
        for (size_t i = 0; i < TOTAL; i++)
            out[i] = (unsigned char)(i * 7 + i / 251);
        size_t sent = 0, got = 0;
        bool eof = false;
        while (!eof) {
            struct pollfd p = {sp[1], POLLIN | (sent < TOTAL ? POLLOUT : 0), 0};
            if (poll(&p, 1, 20000) <= 0)
                _exit(2);
            if (sent < TOTAL && (p.revents & POLLOUT)) {
                ssize_t w = write(sp[1], out + sent, TOTAL - sent);
                if (w > 0 && (sent += (size_t)w) == TOTAL)
                    shutdown(sp[1], SHUT_WR);
            }
            if (p.revents & (POLLIN | POLLHUP)) {
                unsigned char extra[16];
                ssize_t r = got < TOTAL ? read(sp[1], back + got, TOTAL - got)
                                        : read(sp[1], extra, sizeof extra);
                if (r == 0)
                    eof = true;
                else if (r > 0)
                    got += (size_t)r;
            }
        }
        _exit(got == TOTAL && memcmp(out, back, TOTAL) == 0 ? 0 : 3);
    }
    close(sp[1]);
    mb_ssh *s = connect_ok();
    mb_error *err = NULL;
    bool ok = mb_ssh_forward_tcp(s, "127.0.0.1", port, sp[0], 0, &err);
    if (!ok)
        fail_msg("forward: %s", err->message);
    close(sp[0]);
    int st;
    assert_int_equal(waitpid(client, &st, 0), client);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(waitpid(echo, &st, 0), echo);
    assert_int_equal(WEXITSTATUS(st), 0);
    /* a closed target port is an error, and the session stays usable */
    int dead, dfd = listener(&dead);
    close(dfd);
    err = NULL;
    int sp2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp2), 0);
    assert_false(mb_ssh_forward_tcp(s, "127.0.0.1", dead, sp2[0], 0, &err));
    assert_non_null(err);
    mb_error_free(err);
    close(sp2[0]);
    close(sp2[1]);
    struct mb_ssh_exec x = {.command = "exit 0", .in_fd = -1, .out_fd = -1, .err_fd = -1};
    err = NULL;
    assert_int_equal(mb_ssh_exec(s, &x, 0, &err), 0);
    mb_ssh_close(s);
}

static mb_ssh *try_connect(int port, const char *hostkey, double timeout, mb_error **err)
{
    char key[128];
    path_in(key, sizeof key, "client");
    struct mb_ssh_connect_opts o = {.host = "127.0.0.1", .port = port, .user = user,
                                    .key_path = key, .host_key = hostkey, .timeout = timeout};
    return mb_ssh_connect(&o, 0, err);
}

/* Things that fail while a guest boots: no server yet, a port that accepts
 * and closes at once (QEMU's host forward), a server that never speaks. */
static void test_connect_failures(void **state)
{
    int port, fd = listener(&port);
    close(fd); /* nothing listens there now */
    mb_error *err = NULL;
    double t0 = mb_clock_now();
    assert_null(try_connect(port, host_pub, 5, &err));
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    assert_true(mb_clock_now() - t0 < 1);
    mb_error_free(err);

    fd = listener(&port);
    pid_t child = fork();
    if (child == 0) {
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c >= 0)
                close(c);
        }
    }
    err = NULL;
    assert_null(try_connect(port, host_pub, 5, &err));
    assert_int_equal(err->code, MB_ERR_UNREACHABLE);
    mb_error_free(err);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(fd);

    fd = listener(&port); /* the kernel accepts; nobody ever says a word */
    err = NULL;
    t0 = mb_clock_now();
    assert_null(try_connect(port, host_pub, 0.5, &err));
    double took = mb_clock_now() - t0;
    assert_int_equal(err->code, MB_ERR_TIMEOUT);
    assert_true(took >= 0.45 && took < 3);
    mb_error_free(err);
    close(fd);
}

static void test_host_key_mismatch(void **state)
{
    NEED_SSHD();
    char *priv, *other;
    mb_error *err = NULL;
    assert_true(mb_ssh_keypair("", &priv, &other, &err));
    assert_null(try_connect(sshd_port, other, 5, &err));
    assert_int_equal(err->code, MB_ERR_HOSTKEY);
    char *want = mb_ssh_fingerprint(other, NULL), *got = mb_ssh_fingerprint(host_pub, NULL);
    char expect[256];
    snprintf(expect, sizeof expect,
             "REMOTE HOST KEY CHANGED for 127.0.0.1:%d: expected %s, got %s", sshd_port, want,
             got);
    assert_true(strncmp(err->message, expect, strlen(expect)) == 0);
    mb_error_free(err);
    free(want);
    free(got);
    free(priv);
    free(other);
}

static char sshd_sh[512];

static int setup(void **state)
{
    strcpy(tmpdir, "/tmp/mb-test-ssh-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    struct passwd *pw = getpwuid(getuid());
    snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "root");
    char path[128], auth[128], cmd[1024];
    mb_error *err = NULL;
    path_in(path, sizeof path, "host_key");
    char *pub = mb_ssh_keygen(path, "test-host", &err);
    if (pub == NULL)
        return -1;
    snprintf(host_pub, sizeof host_pub, "%s", pub);
    free(pub);
    path_in(path, sizeof path, "client");
    pub = mb_ssh_keygen(path, "test-client", &err);
    char *priv2, *pub2;
    if (pub == NULL || !mb_ssh_keypair("mem", &priv2, &pub2, &err))
        return -1;
    snprintf(client_priv_mem, sizeof client_priv_mem, "%s", priv2);
    path_in(auth, sizeof auth, "authorized_keys");
    FILE *f = fopen(auth, "w");
    fprintf(f, "%s\n%s\n", pub, pub2);
    fclose(f);
    free(pub);
    free(pub2);
    free(priv2);

    /* tests/unit/engine/ssh/test_ssh.c -> tests/lib/sshd.sh */
    snprintf(sshd_sh, sizeof sshd_sh, "%s", __FILE__);
    char *slash = strrchr(sshd_sh, '/');
    if (slash)
        *slash = '\0';
    slash = strrchr(sshd_sh, '/');
    if (slash)
        strcpy(slash + 1, "lib/sshd.sh");
    if (access("/usr/sbin/sshd", X_OK) != 0 || access(sshd_sh, X_OK) != 0) {
        print_message("no sshd (or no %s): the server tests are skipped\n", sshd_sh);
        return 0;
    }
    path_in(path, sizeof path, "host_key");
    snprintf(cmd, sizeof cmd, "%s start %s %s %s", sshd_sh, tmpdir, path, auth);
    FILE *p = popen(cmd, "r");
    if (p == NULL || fscanf(p, "%d", &sshd_port) != 1)
        sshd_port = 0;
    if (p)
        pclose(p);
    return sshd_port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[1024];
    if (sshd_port) {
        snprintf(cmd, sizeof cmd, "%s stop %s", sshd_sh, tmpdir);
        if (system(cmd) != 0)
            print_message("could not stop sshd\n");
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_key_format),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_keygen_files),
        cmocka_unit_test(test_libssh2_loads_our_keys),
        cmocka_unit_test(test_run_and_status),
        cmocka_unit_test(test_exec_with_fds),
        cmocka_unit_test(test_forward_tcp),
        cmocka_unit_test(test_connect_failures),
        cmocka_unit_test(test_host_key_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
