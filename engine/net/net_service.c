/* Running the programs a moonbase network needs besides the kernel, and the
 * first of them: `nft`, which holds moonbase's NAT and forwarding rules in a
 * table of its own ("table ip moonbase", so removing everything is one `nft
 * delete table ip moonbase`). nft and dnsmasq (net_dnsmasq.c) run by
 * fork/exec: nftables' netlink protocol is large and versioned, libnftables
 * would be one more library to link for a handful of calls, and dnsmasq is a
 * daemon by nature. */
#include "net/net_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

/* ---------------------------------------------------------------- text */

/* ---------------------------------------------------------------- running */

void mb_net_ambient_caps(void)
{
    /* CAP_NET_BIND_SERVICE 10, CAP_NET_ADMIN 12, CAP_NET_RAW 13; fails quietly
     * unless they are permitted and inheritable (file capabilities) */
    static const int caps[] = {10, 12, 13};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, caps[i], 0, 0);
}

static void append(char **dst, size_t *len, const char *data, size_t n)
{
    char *p = realloc(*dst, *len + n + 1);
    if (p == NULL)
        return;
    memcpy(p + *len, data, n);
    *len += n;
    p[*len] = '\0';
    *dst = p;
}

int mb_net_run(char *const argv[], const char *input, char **out, char **errout,
               mb_error **err)
{
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, pexec[2] = {-1, -1};
    int status = -1;
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)
        || pipe2(pexec, O_CLOEXEC)) {
        mb_error_set_errno(err, errno, "net: cannot run %s", argv[0]);
        goto cleanup;
    }
    pid_t pid = fork();
    if (pid == 0) {
        mb_net_ambient_caps();
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        execvp(argv[0], argv);
        int e = errno;
        (void)!write(pexec[1], &e, sizeof e);
        _exit(127);
    }
    if (pid < 0) {
        mb_error_set_errno(err, errno, "net: cannot run %s", argv[0]);
        goto cleanup;
    }
    close(pexec[1]);
    pexec[1] = -1;
    close(pin[0]);
    pin[0] = -1;
    close(pout[1]);
    pout[1] = -1;
    close(perr[1]);
    perr[1] = -1;
    int e = 0;
    ssize_t er;
    while ((er = read(pexec[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    if (er == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        mb_error_set_errno(err, e, "net: cannot run %s%s", argv[0],
                           e == ENOENT ? " (is it installed?)" : "");
        goto cleanup;
    }
    size_t inlen = input ? strlen(input) : 0, inoff = 0;
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    if (inlen == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    struct pollfd fds[3] = {{pout[0], POLLIN, 0}, {perr[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        if (poll(fds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], input + inoff, inlen - inoff);
            if (w > 0)
                inoff += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || inoff >= inlen) {
                close(pin[1]);
                pin[1] = fds[2].fd = -1;
            }
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t r = read(fds[i].fd, chunk, sizeof chunk);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                if (i == 0)
                    pout[0] = -1;
                else
                    perr[0] = -1;
                continue;
            }
            if (i == 0)
                append(&obuf, &olen, chunk, (size_t)r);
            else
                append(&ebuf, &elen, chunk, (size_t)r);
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
cleanup:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0)
            close(pin[i]);
        if (pout[i] >= 0)
            close(pout[i]);
        if (perr[i] >= 0)
            close(perr[i]);
        if (pexec[i] >= 0)
            close(pexec[i]);
    }
    if (out)
        *out = obuf ? obuf : strdup("");
    else
        free(obuf);
    if (errout)
        *errout = ebuf ? ebuf : strdup("");
    else
        free(ebuf);
    return status;
}

/* The first line of a program's stderr, for a one-line message. */
const char *mb_net_first_line(char *s)
{
    if (s == NULL)
        return "";
    while (*s == '\n' || *s == ' ')
        s++;
    s[strcspn(s, "\n")] = '\0';
    return s;
}

/* ---------------------------------------------------------------- nftables */

bool mb_net_quotable(const char *s)
{
    return s && *s && strcspn(s, "\"\\\n;{}#") == strlen(s);
}

char *mb_net_nat_ruleset(const struct mb_net_nat *nets, size_t n)
{
    struct mb_strbuf b = {0};
    for (size_t i = 0; i < n; i++)
        if (!mb_net_quotable(nets[i].bridge) || !mb_net_quotable(nets[i].subnet))
            return NULL;
    /* declare-then-delete makes the replacement one atomic transaction that
     * also works when the table does not exist yet */
    mb_strbuf_addf(&b, "table ip %s {}\ndelete table ip %s\n", MB_NET_NFT_TABLE, MB_NET_NFT_TABLE);
    mb_strbuf_addf(&b, "table ip %s {\n", MB_NET_NFT_TABLE);
    mb_strbuf_addf(&b, "\tchain postrouting {\n"
             "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    for (size_t i = 0; i < n; i++) {
        const char *s = nets[i].subnet, *br = nets[i].bridge;
        mb_strbuf_addf(&b, "\t\tip saddr %s ip daddr 224.0.0.0/24 return\n", s);
        mb_strbuf_addf(&b, "\t\tip saddr %s ip daddr 255.255.255.255 return\n", s);
        mb_strbuf_addf(&b, "\t\tip saddr %s ip daddr != %s masquerade comment \"%s\"\n", s, s, br);
    }
    mb_strbuf_addf(&b, "\t}\n");
    /* guests reach out; nothing new comes in, from outside or from another
     * moonbase network (networks are isolated from each other) */
    mb_strbuf_addf(&b, "\tchain forward {\n"
             "\t\ttype filter hook forward priority filter; policy accept;\n");
    for (size_t i = 0; i < n; i++) {
        const char *br = nets[i].bridge;
        mb_strbuf_addf(&b, "\t\toifname \"%s\" ct state established,related accept\n", br);
        mb_strbuf_addf(&b, "\t\toifname \"%s\" iifname != \"%s\" drop\n", br, br);
    }
    mb_strbuf_addf(&b, "\t}\n}\n");
    return mb_strbuf_finish(&b);
}

static bool nft(const char *input, char *const argv[], const char *what, mb_error **err)
{
    char *errout = NULL;
    int rc = mb_net_run(argv, input, NULL, &errout, err);
    bool ok = rc == 0;
    if (rc > 0)
        mb_error_set(err, MB_ERR_FAILED, "net: nft could not %s: %s", what,
                     mb_net_first_line(errout));
    free(errout);
    return ok;
}

bool mb_net_nat_apply(const struct mb_net_nat *nets, size_t n, mb_error **err)
{
    if (n == 0) {
        bool exists = false;
        if (!mb_net_nat_exists(&exists, err))
            return false;
        char *argv[] = {"nft", "delete", "table", "ip", MB_NET_NFT_TABLE, NULL};
        return !exists || nft(NULL, argv, "delete table ip " MB_NET_NFT_TABLE, err);
    }
    char *rules = mb_net_nat_ruleset(nets, n);
    if (rules == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "net: invalid bridge or subnet for the NAT table");
        return false;
    }
    char *argv[] = {"nft", "-f", "/dev/stdin", NULL};
    bool ok = nft(rules, argv, "load table ip " MB_NET_NFT_TABLE, err);
    free(rules);
    return ok;
}

bool mb_net_nat_exists(bool *exists, mb_error **err)
{
    char *argv[] = {"nft", "list", "table", "ip", MB_NET_NFT_TABLE, NULL};
    char *errout = NULL;
    int rc = mb_net_run(argv, NULL, NULL, &errout, err);
    bool ok = rc >= 0;
    if (rc == 0) {
        *exists = true;
    } else if (rc > 0 && (strstr(errout, "No such file") || strstr(errout, "does not exist"))) {
        *exists = false;
    } else if (rc > 0) {
        mb_error_set(err, MB_ERR_FAILED, "net: nft could not list table ip %s: %s",
                     MB_NET_NFT_TABLE, mb_net_first_line(errout));
        ok = false;
    }
    free(errout);
    return ok;
}
