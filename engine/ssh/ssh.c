/* SSH sessions on libssh2, always in non-blocking mode: connect with a
 * deadline, verify the host key against the one expected key, authenticate
 * with a private key; waiting on the socket when libssh2 says EAGAIN.
 * Channels are in ssh_channel.c, SFTP in ssh_sftp.c, keys in ssh_key.c. */
#include "ssh/ssh.h"
#include "ssh/ssh_priv.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAC_PREF "hmac-sha1,hmac-sha2-256,hmac-sha2-512"

#define DEFAULT_TIMEOUT_MS 30000

static bool lib_ready;

const char *mb_ssh_describe(const mb_ssh *s)
{
    return s ? s->desc : "(closed)";
}

bool mb_ssh_wait(mb_ssh *s, int64_t deadline, const char *what, mb_error **err)
{
    int64_t start = mb_clock_ms();
    if (deadline < 0)
        deadline = start + s->timeout_ms;
    for (;;) {
        int dir = libssh2_session_block_directions(s->session);
        struct pollfd p = {s->sock, 0, 0};
        if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
            p.events |= POLLIN;
        if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
            p.events |= POLLOUT;
        if (p.events == 0)
            p.events = POLLIN;
        int64_t left = deadline - mb_clock_ms();
        if (left <= 0) {
            mb_error_set(err, MB_ERR_TIMEOUT, "ssh: timed out waiting for %s from %s", what,
                         s->hostport);
            return false;
        }
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR) {
            mb_error_set_errno(err, errno, "ssh: cannot wait for %s", s->hostport);
            return false;
        }
    }
}

void mb_ssh_fail(mb_ssh *s, enum mb_error_code code, const char *what, mb_error **err)
{
    char *msg = NULL;
    int rc = libssh2_session_last_error(s->session, &msg, NULL, 0);
    if (rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_RECV
        || rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_TIMEOUT)
        s->lost = true;
    if (s->lost) {
        mb_error_set(err, MB_ERR_UNREACHABLE,
                     "ssh: the connection to %s is lost (while trying to %s: %s); "
                     "connect again", s->desc, what, msg && *msg ? msg : "socket error");
        return;
    }
    mb_error_set(err, code, "ssh: cannot %s on %s: %s (libssh2 error %d)", what, s->desc,
                 msg && *msg ? msg : "unknown error", rc);
}

bool mb_ssh_check_alive(mb_ssh *s, mb_error **err)
{
    if (!s->lost)
        return true;
    mb_error_set(err, MB_ERR_UNREACHABLE, "ssh: the connection to %s is lost; connect again",
                 s->desc);
    return false;
}

bool mb_ssh_alive(const mb_ssh *s)
{
    return s != NULL && !s->lost;
}

/* ---- connecting ---- */

static void tune_socket(int fd)
{
    int one = 1, idle = 30, intvl = 10, cnt = 6;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* A non-blocking connect to each address of host in turn, within deadline. */
static int tcp_connect(mb_ssh *s, const char *host, int port, int64_t deadline,
                       mb_error **err)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        mb_error_set(err, MB_ERR_UNREACHABLE, "ssh: cannot resolve %s: %s", host,
                     gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai != NULL && last != ETIMEDOUT; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        last = errno;
        if (errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int r;
            do {
                int64_t left = deadline - mb_clock_ms();
                r = left > 0 ? poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) : 0;
            } while (r < 0 && errno == EINTR);
            if (r > 0) {
                int e = 0;
                socklen_t len = sizeof e;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
                if (e == 0)
                    break;
                last = e;
            } else {
                last = r == 0 ? ETIMEDOUT : errno;
            }
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (last == ETIMEDOUT)
            mb_error_set(err, MB_ERR_TIMEOUT, "ssh: connecting to %s timed out after %.1fs",
                         s->hostport, s->timeout_ms / 1000.0);
        else
            mb_error_set(err, MB_ERR_UNREACHABLE, "ssh: cannot connect to %s: %s", s->hostport,
                         strerror(last));
        return -1;
    }
    tune_socket(fd);
    return fd;
}

extern char **environ;

/* The proxy command on one end of a socket pair (its stdin and stdout), the
 * other end returned: libssh2 talks through it as through a TCP socket. */
static int proxy_connect(mb_ssh *s, const char *command, mb_error **err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        mb_error_set_errno(err, errno, "ssh: cannot make a socket pair for the proxy");
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0); /* dup2 clears close-on-exec */
    posix_spawn_file_actions_adddup2(&fa, sv[1], 1);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    int rc = posix_spawn(&s->proxy_pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (rc != 0) {
        s->proxy_pid = 0;
        close(sv[0]);
        mb_error_set_errno(err, rc, "ssh: cannot run the proxy command for %s", s->hostport);
        return -1;
    }
    int fl = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
    return sv[0];
}

/* libssh2's host key preference for the type of key we expect, so a server
 * with several host keys shows us the one we know. */
static const char *hostkey_pref(const char *line)
{
    static const struct {
        const char *type, *pref;
    } prefs[] = {
        {"ssh-ed25519 ", "ssh-ed25519"},
        {"ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp256"},
        {"ecdsa-sha2-nistp384 ", "ecdsa-sha2-nistp384"},
        {"ecdsa-sha2-nistp521 ", "ecdsa-sha2-nistp521"},
        {"ssh-rsa ", "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
    };
    for (size_t i = 0; i < sizeof prefs / sizeof prefs[0]; i++)
        if (strncmp(line, prefs[i].type, strlen(prefs[i].type)) == 0)
            return prefs[i].pref;
    return NULL;
}

/* The type name at the start of a key blob, for messages. */
static void blob_type(const unsigned char *blob, size_t len, char *out, size_t size)
{
    uint32_t n = len >= 4 ? (uint32_t)blob[0] << 24 | blob[1] << 16 | blob[2] << 8 | blob[3] : 0;
    if (n == 0 || n > len - 4 || n >= size)
        n = 0;
    memcpy(out, blob + 4, n);
    out[n] = '\0';
}

static bool check_host_key(mb_ssh *s, const unsigned char *want, size_t wantlen,
                           mb_error **err)
{
    size_t len = 0;
    int type = 0;
    const unsigned char *got =
        (const unsigned char *)libssh2_session_hostkey(s->session, &len, &type);
    if (got == NULL) {
        mb_ssh_fail(s, MB_ERR_HOSTKEY, "read the server's host key", err);
        return false;
    }
    if (len == wantlen && memcmp(got, want, len) == 0)
        return true;
    char *fw = mb_ssh_fingerprint_blob(want, wantlen);
    char *fg = mb_ssh_fingerprint_blob(got, len);
    char tw[64], tg[64], types[200] = "";
    blob_type(want, wantlen, tw, sizeof tw);
    blob_type(got, len, tg, sizeof tg);
    if (strcmp(tw, tg) != 0)
        snprintf(types, sizeof types, " (expected a %s key, the server offered %s)", tw,
                 *tg ? tg : "an unknown type");
    mb_error_set(err, MB_ERR_HOSTKEY,
                 "REMOTE HOST KEY CHANGED for %s: expected %s, got %s \u2014 refusing to "
                 "connect (if the instance was rebuilt, its recorded host key is out of "
                 "date: recreate it with moonbase; otherwise another machine answers at "
                 "this address)%s",
                 s->hostport, fw ? fw : "?", fg ? fg : "?", types);
    free(fw);
    free(fg);
    return false;
}

static bool authenticate(mb_ssh *s, const struct mb_ssh_connect_opts *o, int64_t deadline,
                         mb_error **err)
{
    int rc;
    unsigned ulen = (unsigned)strlen(o->user);
    if (o->key_data == NULL && access(o->key_path, R_OK) != 0) {
        mb_error_set_errno(err, errno, "ssh: cannot read the private key %s", o->key_path);
        return false;
    }
    for (;;) {
        if (o->key_data)
            rc = libssh2_userauth_publickey_frommemory(s->session, o->user, ulen, NULL, 0,
                                                       o->key_data, strlen(o->key_data), NULL);
        else
            rc = libssh2_userauth_publickey_fromfile_ex(s->session, o->user, ulen, NULL,
                                                        o->key_path, NULL);
        if (rc != LIBSSH2_ERROR_EAGAIN)
            break;
        if (!mb_ssh_wait(s, deadline, "authentication", err))
            return false;
    }
    if (rc == 0)
        return true;
    const char *key = o->key_data ? "(key_data)" : o->key_path;
    if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
        mb_error_set(err, MB_ERR_AUTH,
                     "ssh: %s refused the key %s for user %s (is its public key in the "
                     "user's authorized_keys yet?)",
                     s->hostport, key, o->user);
    } else if (rc == LIBSSH2_ERROR_FILE || rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED) {
        char *msg = NULL;
        libssh2_session_last_error(s->session, &msg, NULL, 0);
        mb_error_set(err, MB_ERR_USAGE, "ssh: cannot use the private key %s: %s", key,
                     msg ? msg : "unreadable");
    } else {
        mb_ssh_fail(s, MB_ERR_FAILED, "authenticate", err);
    }
    return false;
}

mb_ssh *mb_ssh_connect(const struct mb_ssh_connect_opts *o, unsigned flags, mb_error **err)
{
    mb_ssh *s = NULL;
    unsigned char *want = NULL;
    size_t wantlen = 0;
    if (o->host == NULL || o->user == NULL || o->host_key == NULL
        || (o->key_path == NULL && o->key_data == NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "ssh: connect needs host, user, key and host_key");
        return NULL;
    }
    want = mb_ssh_pubkey_decode(o->host_key, &wantlen, err);
    if (want == NULL)
        return NULL;
    if (!lib_ready) {
        if (libssh2_init(0) != 0) {
            mb_error_set(err, MB_ERR_FAILED, "ssh: cannot initialise libssh2");
            goto fail;
        }
        lib_ready = true;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "out of memory");
        goto fail;
    }
    s->sock = -1;
    int port = o->port > 0 ? o->port : 22;
    s->timeout_ms = o->timeout > 0 ? (int)(o->timeout * 1000) : DEFAULT_TIMEOUT_MS;
    bool v6 = strchr(o->host, ':') != NULL;
    snprintf(s->hostport, sizeof s->hostport, "%s%.256s%s:%d", v6 ? "[" : "", o->host,
             v6 ? "]" : "", port);
    snprintf(s->desc, sizeof s->desc, "%.16s@%s", o->user, s->hostport);
    int64_t deadline = mb_clock_ms() + s->timeout_ms;

    mb_log(MB_LOG_MORE, "ssh %s: connecting%s%s", s->desc, o->proxy ? " through " : "",
           o->proxy ? o->proxy : "");
    s->sock = o->proxy ? proxy_connect(s, o->proxy, err)
                       : tcp_connect(s, o->host, port, deadline, err);
    if (s->sock < 0)
        goto fail;
    s->session = libssh2_session_init();
    if (s->session == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "ssh: cannot create a libssh2 session");
        goto fail;
    }
    libssh2_session_set_blocking(s->session, 0);
    const char *pref = hostkey_pref(o->host_key);
    if (pref)
        libssh2_session_method_pref(s->session, LIBSSH2_METHOD_HOSTKEY, pref);
    /* Under emulation the guest's share of every byte is decryption and MAC:
     * of what libssh2 1.10 offers (no chacha20-poly1305, no AES-GCM, no
     * UMAC), AES-128-CTR with HMAC-SHA1 costs a guest the least. */
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_MAC_CS, MAC_PREF);
    libssh2_session_method_pref(s->session, LIBSSH2_METHOD_MAC_SC, MAC_PREF);
    int rc;
    while ((rc = libssh2_session_handshake(s->session, s->sock)) == LIBSSH2_ERROR_EAGAIN)
        if (!mb_ssh_wait(s, deadline, "the SSH handshake", err))
            goto fail;
    if (rc != 0) {
        /* A port that accepts and closes at once (QEMU's user-mode host
         * forward while the guest's sshd is not up) is "unreachable" too. */
        bool gone = rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_RECV
                    || rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_BANNER_RECV
                    || rc == LIBSSH2_ERROR_BANNER_SEND;
        char *msg = NULL;
        libssh2_session_last_error(s->session, &msg, NULL, 0);
        mb_error_set(err, gone ? MB_ERR_UNREACHABLE : MB_ERR_FAILED,
                     "ssh: no SSH handshake with %s: %s (libssh2 error %d)", s->hostport,
                     msg && *msg ? msg : "connection closed", rc);
        goto fail;
    }
    mb_log(MB_LOG_MORE, "ssh %s: handshake done (%s)", s->desc,
           libssh2_session_methods(s->session, LIBSSH2_METHOD_HOSTKEY));
    if (!check_host_key(s, want, wantlen, err))
        goto fail;
    mb_log(MB_LOG_MORE, "ssh %s: the host key is the one pinned at launch", s->desc);
    if (!authenticate(s, o, deadline, err))
        goto fail;
    mb_log(MB_LOG_MORE, "ssh %s: authenticated with %s", s->desc,
           o->key_data ? "moonbase's key" : o->key_path);
    free(want);
    return s;

fail:
    if (s && err && *err)
        mb_log(MB_LOG_MORE, "ssh %s: %s", s->desc, (*err)->message);
    free(want);
    mb_ssh_close(s);
    return NULL;
}

void mb_ssh_close(mb_ssh *s)
{
    if (s == NULL)
        return;
    if (s->session) {
        /* a short blocking goodbye: never hang on a dead peer */
        libssh2_session_set_timeout(s->session, 2000);
        libssh2_session_set_blocking(s->session, 1);
        if (s->sftp)
            libssh2_sftp_shutdown(s->sftp);
        libssh2_session_disconnect(s->session, "bye");
        libssh2_session_free(s->session);
    }
    if (s->sock >= 0)
        close(s->sock);
    if (s->proxy_pid > 0) { /* it ends with its socket; a stuck one is told to */
        int st;
        pid_t r;
        for (int k = 0; k < 20 && (r = waitpid(s->proxy_pid, &st, WNOHANG)) == 0; k++)
            mb_clock_sleep(0.01);
        if (r == 0) {
            kill(s->proxy_pid, SIGTERM);
            while (waitpid(s->proxy_pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
    }
    free(s);
}
