/* Running the programs a moonbase network needs besides the kernel, and the
 * first of them: `nft`, which holds moonbase's NAT and forwarding rules in a
 * table of its own ("table ip moonbase", so removing everything is one `nft
 * delete table ip moonbase`). nft and dnsmasq (net_dnsmasq.c) run by
 * fork/exec: nftables' netlink protocol is large and versioned, libnftables
 * would be one more library to link for a handful of calls, and dnsmasq is a
 * daemon by nature. */
#include "net/net_priv.h"
#include "core/process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

/* ---------------------------------------------------------------- running */

void mb_net_ambient_caps(void)
{
    /* CAP_NET_BIND_SERVICE 10, CAP_NET_ADMIN 12, CAP_NET_RAW 13; fails quietly
     * unless they are permitted and inheritable (file capabilities) */
    static const int caps[] = {10, 12, 13};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, caps[i], 0, 0);
}

int mb_net_run(char *const argv[], const char *input, char **out, char **errout,
               mb_error **err)
{
    struct mb_strbuf o = {0}, e = {0};
    /* stdin is a pipe, closed at once when there is no input */
    struct mb_process_io io = {.input = input ? input : "",
                               .input_len = input ? strlen(input) : 0,
                               .out = &o, .err = &e, .child_setup = mb_net_ambient_caps};
    int status = mb_process_run(argv, &io, NULL);
    if (status < 0) {
        int en = errno;
        mb_error_set_errno(err, en, "net: cannot run %s%s", argv[0],
                           en == ENOENT ? " (is it installed?)" : "");
        mb_strbuf_free(&o);
        mb_strbuf_free(&e);
        return -1;
    }
    if (out)
        *out = mb_strbuf_finish(&o);
    else
        mb_strbuf_free(&o);
    if (errout)
        *errout = mb_strbuf_finish(&e);
    else
        mb_strbuf_free(&e);
    return mb_process_exit_code(status);
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
