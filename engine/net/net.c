/* Links, addresses, routes and taps for moonbase's private networks.
 *
 * Why rtnetlink on a raw socket rather than running `ip`: it is the kernel's
 * own interface (what `ip` uses), it needs no libnl and no iproute2 on the
 * host, every failure comes back as an errno for a precise message instead of
 * text to scrape, a dump of links/addresses/routes is one request instead of a
 * process and a JSON parse, and it only ever acts on the caller's network
 * namespace (so `ip netns exec NS moonbase ...` confines it). The messages we
 * need are few and small: create a bridge, set a link up / its master / its
 * alias, add or delete an address, delete a link, and three dumps. Taps are
 * made the one way the kernel offers: TUNSETIFF + TUNSETOWNER + TUNSETPERSIST
 * on /dev/net/tun. */
#include "net/net.h"
#include "net/netlink.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CAP_NET_ADMIN
#define CAP_NET_ADMIN 12
#endif

/* ---------------------------------------------------------------- privilege */

int mb_net_capeff_has(const char *status_text, int cap)
{
    const char *p = status_text ? strstr(status_text, "CapEff:") : NULL;
    if (p == NULL || cap < 0 || cap > 63)
        return -1;
    unsigned long long mask = 0;
    if (sscanf(p + 7, " %llx", &mask) != 1)
        return -1;
    return (mask >> cap) & 1ULL ? 1 : 0;
}

bool mb_net_privileged(char *reason, size_t reason_len)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    int has = mb_net_capeff_has(buf, CAP_NET_ADMIN);
    if (has != 1) {
        snprintf(reason, reason_len, "%s", has < 0
                 ? "cannot read this process's capabilities from /proc/self/status"
                 : "creating bridges and taps needs root or CAP_NET_ADMIN");
        return false;
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        snprintf(reason, reason_len, "/dev/net/tun is not usable (%s): load the tun module "
                 "(modprobe tun)", strerror(errno));
        return false;
    }
    return true;
}

/* Grows a dynamic array by one element; NULL when out of memory. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, c * size);
        if (p == NULL)
            return NULL;
        *arr = p;
        *cap = c;
    }
    char *e = (char *)*arr + (*n)++ * size;
    memset(e, 0, size);
    return e;
}

static bool valid_ifname(const char *name, const char *what, mb_error **err)
{
    size_t len = name ? strlen(name) : 0;
    bool ok = len > 0 && len < IFNAMSIZ && strcspn(name, "/: \t\n") == len
              && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
    if (!ok)
        mb_error_set(err, MB_ERR_USAGE, "net: invalid %s name \"%s\" (1 to %d characters, "
                     "no '/', ':' or spaces)", what, name ? name : "", IFNAMSIZ - 1);
    return ok;
}

static bool parse_ip(const char *s, struct in_addr *a, mb_error **err)
{
    if (s == NULL || inet_pton(AF_INET, s, a) != 1) {
        mb_error_set(err, MB_ERR_USAGE, "net: invalid IPv4 address \"%s\"", s ? s : "");
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- dumps */

struct dump {
    void *arr;
    size_t n, cap;
};

static bool on_link(struct nlmsghdr *h, void *ctx)
{
    struct dump *d = ctx;
    if (h->nlmsg_type != RTM_NEWLINK)
        return true;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    struct mb_net_link *l = grow(&d->arr, &d->n, &d->cap, sizeof *l);
    if (l == NULL)
        return false;
    l->index = ifi->ifi_index;
    l->flags = ifi->ifi_flags;
    int len = (int)IFLA_PAYLOAD(h);
    for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        void *v = RTA_DATA(a);
        size_t vl = RTA_PAYLOAD(a);
        switch (a->rta_type) {
        case IFLA_IFNAME:
            snprintf(l->name, sizeof l->name, "%.*s", (int)vl, (char *)v);
            break;
        case IFLA_IFALIAS:
            snprintf(l->alias, sizeof l->alias, "%.*s", (int)vl, (char *)v);
            break;
        case IFLA_MTU:
            if (vl >= 4)
                l->mtu = (int)*(uint32_t *)v;
            break;
        case IFLA_MASTER:
            if (vl >= 4)
                l->master = (int)*(uint32_t *)v;
            break;
        case IFLA_ADDRESS:
            if (vl == 6) {
                unsigned char *m = v;
                snprintf(l->mac, sizeof l->mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
                         m[2], m[3], m[4], m[5]);
            }
            break;
        case IFLA_LINKINFO: {
            int il = (int)vl;
            for (struct rtattr *b = v; RTA_OK(b, il); b = RTA_NEXT(b, il))
                if (b->rta_type == IFLA_INFO_KIND)
                    snprintf(l->kind, sizeof l->kind, "%.*s", (int)RTA_PAYLOAD(b),
                             (char *)RTA_DATA(b));
            break;
        }
        }
    }
    return true;
}

struct mb_net_link *mb_net_links(size_t *n, mb_error **err)
{
    struct mb_nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    mb_nl_init(&r, RTM_GETLINK, 0, &ifi, sizeof ifi);
    struct dump d = {0};
    if (!mb_nl_dump(&r, on_link, &d, err)) {
        free(d.arr);
        return NULL;
    }
    *n = d.n;
    return d.arr ? d.arr : calloc(1, sizeof(struct mb_net_link));
}

bool mb_net_link_get(const char *name, struct mb_net_link *out, mb_error **err)
{
    size_t n = 0;
    struct mb_net_link *all = mb_net_links(&n, err);
    bool found = false;
    for (size_t i = 0; all && i < n && !found; i++)
        if (strcmp(all[i].name, name) == 0) {
            *out = all[i];
            found = true;
        }
    free(all);
    return found;
}

static void index_name(int index, char *buf)
{
    if (index <= 0 || if_indextoname((unsigned)index, buf) == NULL)
        buf[0] = '\0';
}

static bool on_addr(struct nlmsghdr *h, void *ctx)
{
    struct dump *d = ctx;
    if (h->nlmsg_type != RTM_NEWADDR)
        return true;
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    if (ifa->ifa_family != AF_INET)
        return true;
    struct in_addr local = {0}, address = {0};
    bool has_local = false, has_address = false;
    int len = (int)IFA_PAYLOAD(h);
    for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4) {
            memcpy(&local, RTA_DATA(a), 4);
            has_local = true;
        } else if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == 4) {
            memcpy(&address, RTA_DATA(a), 4);
            has_address = true;
        }
    }
    if (!has_local && !has_address)
        return true;
    struct mb_net_addr *e = grow(&d->arr, &d->n, &d->cap, sizeof *e);
    if (e == NULL)
        return false;
    e->index = (int)ifa->ifa_index;
    e->prefix = ifa->ifa_prefixlen;
    inet_ntop(AF_INET, has_local ? &local : &address, e->addr, sizeof e->addr);
    index_name(e->index, e->dev);
    return true;
}

struct mb_net_addr *mb_net_addrs(size_t *n, mb_error **err)
{
    struct mb_nlreq r;
    struct ifaddrmsg ifa = {.ifa_family = AF_INET};
    mb_nl_init(&r, RTM_GETADDR, 0, &ifa, sizeof ifa);
    struct dump d = {0};
    if (!mb_nl_dump(&r, on_addr, &d, err)) {
        free(d.arr);
        return NULL;
    }
    *n = d.n;
    return d.arr ? d.arr : calloc(1, sizeof(struct mb_net_addr));
}

static bool on_route(struct nlmsghdr *h, void *ctx)
{
    struct dump *d = ctx;
    if (h->nlmsg_type != RTM_NEWROUTE)
        return true;
    struct rtmsg *rt = NLMSG_DATA(h);
    if (rt->rtm_family != AF_INET)
        return true;
    unsigned table = rt->rtm_table;
    struct in_addr dst = {0}, gw = {0};
    int oif = 0;
    int len = (int)RTM_PAYLOAD(h);
    for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        size_t vl = RTA_PAYLOAD(a);
        if (a->rta_type == RTA_DST && vl == 4)
            memcpy(&dst, RTA_DATA(a), 4);
        else if (a->rta_type == RTA_GATEWAY && vl == 4)
            memcpy(&gw, RTA_DATA(a), 4);
        else if (a->rta_type == RTA_OIF && vl == 4)
            oif = (int)*(uint32_t *)RTA_DATA(a);
        else if (a->rta_type == RTA_TABLE && vl == 4)
            table = *(uint32_t *)RTA_DATA(a);
    }
    /* the local table holds the host's own addresses, reported by mb_net_addrs */
    if (table == RT_TABLE_LOCAL)
        return true;
    struct mb_net_route *e = grow(&d->arr, &d->n, &d->cap, sizeof *e);
    if (e == NULL)
        return false;
    inet_ntop(AF_INET, &dst, e->dst, sizeof e->dst);
    e->prefix = rt->rtm_dst_len;
    if (gw.s_addr)
        inet_ntop(AF_INET, &gw, e->gateway, sizeof e->gateway);
    e->oif = oif;
    index_name(oif, e->dev);
    e->table = table;
    e->type = rt->rtm_type;
    return true;
}

struct mb_net_route *mb_net_routes(size_t *n, mb_error **err)
{
    struct mb_nlreq r;
    struct rtmsg rt = {.rtm_family = AF_INET};
    mb_nl_init(&r, RTM_GETROUTE, 0, &rt, sizeof rt);
    struct dump d = {0};
    if (!mb_nl_dump(&r, on_route, &d, err)) {
        free(d.arr);
        return NULL;
    }
    *n = d.n;
    return d.arr ? d.arr : calloc(1, sizeof(struct mb_net_route));
}

/* ---------------------------------------------------------------- links */

static int link_index(const char *name, const char *what, mb_error **err)
{
    if (!valid_ifname(name, what, err))
        return -1;
    unsigned idx = if_nametoindex(name);
    if (idx == 0) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "net: there is no network interface \"%s\"", name);
        return -1;
    }
    return (int)idx;
}

/* A stable, locally administered MAC for a bridge, so it does not change as
 * taps come and go (a bridge otherwise takes its lowest port's address). */
static void bridge_mac(const char *name, unsigned char mac[6])
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    mac[0] = 0x02;
    mac[1] = 0x6d; /* 'm' */
    mac[2] = (unsigned char)(h >> 24);
    mac[3] = (unsigned char)(h >> 16);
    mac[4] = (unsigned char)(h >> 8);
    mac[5] = (unsigned char)h;
}

bool mb_net_bridge_create(const char *name, const char *alias, mb_error **err)
{
    if (!valid_ifname(name, "bridge", err))
        return false;
    struct mb_nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    mb_nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    mb_nl_put_str(&r, IFLA_IFNAME, name);
    unsigned char mac[6];
    bridge_mac(name, mac);
    mb_nl_put(&r, IFLA_ADDRESS, mac, sizeof mac);
    struct rtattr *info = mb_nl_nest_start(&r, IFLA_LINKINFO);
    mb_nl_put_str(&r, IFLA_INFO_KIND, "bridge");
    struct rtattr *data = mb_nl_nest_start(&r, IFLA_INFO_DATA);
    mb_nl_put_u32(&r, IFLA_BR_FORWARD_DELAY, 0);
    mb_nl_put_u32(&r, IFLA_BR_STP_STATE, 0);
    mb_nl_nest_end(&r, data);
    mb_nl_nest_end(&r, info);
    int e = mb_nl_talk(&r, err);
    if (e != 0) {
        if (e > 0)
            mb_error_set_errno(err, e, "net: cannot create the bridge %s", name);
        return false;
    }
    if (alias && !mb_net_link_set_alias(name, alias, err)) {
        mb_net_link_delete(name, NULL);
        return false;
    }
    return true;
}

bool mb_net_tap_create(const char *name, uid_t uid, const char *alias, mb_error **err)
{
    if (!valid_ifname(name, "tap", err))
        return false;
    if (if_nametoindex(name) != 0) {
        mb_error_set(err, MB_ERR_EXISTS, "net: cannot create the tap %s: the name is taken",
                     name);
        return false;
    }
    bool ok = false;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "net: cannot create the tap %s: /dev/net/tun", name);
        return false;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; /* no IFF_MULTI_QUEUE */
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        mb_error_set_errno(err, errno, "net: cannot create the tap %s", name);
        goto cleanup;
    }
    if (ioctl(fd, TUNSETOWNER, (unsigned long)uid) != 0
        || ioctl(fd, TUNSETPERSIST, 1L) != 0) {
        mb_error_set_errno(err, errno, "net: cannot make the tap %s persistent", name);
        goto cleanup;
    }
    ok = true;
cleanup:
    close(fd);
    if (ok && alias && !mb_net_link_set_alias(name, alias, err)) {
        mb_net_link_delete(name, NULL);
        ok = false;
    }
    return ok;
}

bool mb_net_link_delete(const char *name, mb_error **err)
{
    if (!valid_ifname(name, "interface", err))
        return false;
    unsigned idx = if_nametoindex(name);
    if (idx == 0)
        return true;
    struct mb_nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = (int)idx};
    mb_nl_init(&r, RTM_DELLINK, 0, &ifi, sizeof ifi);
    int e = mb_nl_talk(&r, err);
    if (e == ENODEV)
        return true;
    if (e != 0) {
        if (e > 0)
            mb_error_set_errno(err, e, "net: cannot delete the interface %s", name);
        return false;
    }
    return true;
}

/* RTM_NEWLINK on an existing link: flags and one optional attribute. */
static bool link_set(const char *name, unsigned change, unsigned flags, int type,
                     const void *data, size_t len, const char *what, mb_error **err)
{
    int idx = link_index(name, "interface", err);
    if (idx < 0)
        return false;
    struct mb_nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = idx, .ifi_change = change,
                            .ifi_flags = flags};
    mb_nl_init(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
    if (type)
        mb_nl_put(&r, type, data, len);
    int e = mb_nl_talk(&r, err);
    if (e != 0) {
        if (e > 0)
            mb_error_set_errno(err, e, "net: cannot %s %s", what, name);
        return false;
    }
    return true;
}

bool mb_net_link_set_up(const char *name, bool up, mb_error **err)
{
    return link_set(name, IFF_UP, up ? IFF_UP : 0, 0, NULL, 0, up ? "bring up" : "bring down",
                    err);
}

bool mb_net_link_set_master(const char *name, const char *bridge, mb_error **err)
{
    uint32_t master = 0;
    if (bridge) {
        int b = link_index(bridge, "bridge", err);
        if (b < 0)
            return false;
        master = (uint32_t)b;
    }
    return link_set(name, 0, 0, IFLA_MASTER, &master, sizeof master,
                    bridge ? "attach to its bridge" : "detach from its bridge", err);
}

bool mb_net_link_set_alias(const char *name, const char *alias, mb_error **err)
{
    return link_set(name, 0, 0, IFLA_IFALIAS, alias, strlen(alias), "set the alias of", err);
}

/* ---------------------------------------------------------------- addresses */

static bool addr_msg(int type, int flags, const char *dev, const char *addr, int prefix,
                     mb_error **err)
{
    struct in_addr a;
    if (!parse_ip(addr, &a, err))
        return false;
    if (prefix < 1 || prefix > 32) {
        mb_error_set(err, MB_ERR_USAGE, "net: invalid prefix length /%d", prefix);
        return false;
    }
    int idx = link_index(dev, "interface", err);
    if (idx < 0)
        return false;
    struct mb_nlreq r;
    struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix,
                            .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = (unsigned)idx};
    mb_nl_init(&r, type, flags, &ifa, sizeof ifa);
    mb_nl_put(&r, IFA_LOCAL, &a, 4);
    mb_nl_put(&r, IFA_ADDRESS, &a, 4);
    if (prefix < 31) {
        struct in_addr brd = {a.s_addr | htonl(0xffffffffu >> prefix)};
        mb_nl_put(&r, IFA_BROADCAST, &brd, 4);
    }
    int e = mb_nl_talk(&r, err);
    if (type == RTM_DELADDR && e == EADDRNOTAVAIL)
        return true;
    if (e != 0) {
        if (e > 0)
            mb_error_set_errno(err, e, "net: cannot %s %s/%d %s %s",
                               type == RTM_NEWADDR ? "add" : "delete", addr, prefix,
                               type == RTM_NEWADDR ? "to" : "from", dev);
        return false;
    }
    return true;
}

bool mb_net_neigh_hint(const char *dev, const char *ipv4, const char *mac, mb_error **err)
{
    struct in_addr a;
    unsigned char ll[6];
    unsigned int b[6];
    char end;
    if (!parse_ip(ipv4, &a, err))
        return false;
    if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &end) != 6) {
        mb_error_set(err, MB_ERR_USAGE, "net: invalid MAC address \"%s\"", mac);
        return false;
    }
    for (int i = 0; i < 6; i++)
        ll[i] = (unsigned char)b[i];
    int idx = link_index(dev, "interface", err);
    if (idx < 0)
        return false;
    struct mb_nlreq r;
    struct ndmsg nd = {.ndm_family = AF_INET, .ndm_ifindex = idx, .ndm_state = NUD_STALE};
    mb_nl_init(&r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &nd, sizeof nd);
    mb_nl_put(&r, NDA_DST, &a, 4);
    mb_nl_put(&r, NDA_LLADDR, ll, 6);
    int e = mb_nl_talk(&r, err);
    if (e > 0)
        mb_error_set_errno(err, e, "net: cannot tell %s that %s is at %s", dev, ipv4, mac);
    return e == 0;
}

bool mb_net_addr_add(const char *dev, const char *addr, int prefix, mb_error **err)
{
    return addr_msg(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, dev, addr, prefix, err);
}

bool mb_net_addr_delete(const char *dev, const char *addr, int prefix, mb_error **err)
{
    return addr_msg(RTM_DELADDR, 0, dev, addr, prefix, err);
}

/* ---------------------------------------------------------------- sysctl */

int mb_net_ip_forward(int set, mb_error **err)
{
    const char *path = "/proc/sys/net/ipv4/ip_forward";
    char buf[16] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0) {
        mb_error_set_errno(err, errno, "net: cannot read %s", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    int before = atoi(buf) ? 1 : 0;
    if (set < 0 || (set ? 1 : 0) == before)
        return before;
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, set ? "1\n" : "0\n", 2) != 2) {
        mb_error_set_errno(err, errno, "net: cannot write %s", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return before;
}

char **mb_net_host_bridges(mb_error **err)
{
    size_t n = 0, k = 0;
    char **v = calloc(1, sizeof *v);
    DIR *d = opendir("/sys/class/net");
    struct dirent *de;
    while (v && d && (de = readdir(d)) != NULL) {
        char p[300];
        snprintf(p, sizeof p, "/sys/class/net/%s/bridge", de->d_name);
        if (de->d_name[0] == '.' || access(p, F_OK) != 0)
            continue;
        char **nv = realloc(v, (n + 2) * sizeof *v);
        if (nv == NULL)
            break;
        v = nv;
        v[n] = strdup(de->d_name);
        v[++n] = NULL;
    }
    if (d)
        closedir(d);
    for (k = 0; v && k < n; k++)
        if (v[k] == NULL)
            break;
    if (v == NULL || k < n) {
        for (size_t j = 0; v && j < n; j++)
            free(v[j]);
        free(v);
        mb_error_set(err, MB_ERR_FAILED, "net: out of memory");
        return NULL;
    }
    return v;
}
