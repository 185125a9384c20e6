/* Host networking for moonbase's private networks: links, addresses and routes
 * over rtnetlink (net.c), tap devices through /dev/net/tun, the IPv4
 * forwarding sysctl, the privilege check; and the two helper programs moonbase
 * drives by fork/exec: `nft` for the NAT table "ip moonbase" (net_service.c)
 * and one dnsmasq per network (net_dnsmasq.c). Everything acts on the
 * caller's network namespace only. Policy (which subnet, which address) lives
 * in Lua (lua/moonbase/network.lua); this layer does what it is told. */
#ifndef MB_NET_H
#define MB_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

#define MB_NET_ALIAS_PREFIX "moonbase:" /* ifalias of every link moonbase creates */
#define MB_NET_NFT_TABLE "moonbase"     /* nftables: table ip moonbase */
#define MB_NET_IPLEN 16                 /* "255.255.255.255" + NUL */

struct mb_net_link {
    char name[IFNAMSIZ];
    int index;
    char kind[32];    /* "bridge", "tun", "veth", ... or "" for a plain device */
    char mac[18];
    char alias[128];  /* ifalias; moonbase's links start with MB_NET_ALIAS_PREFIX */
    int master;       /* ifindex of the bridge this link is a port of, or 0 */
    unsigned flags;   /* IFF_UP, IFF_LOOPBACK, ... */
    int mtu;
};

struct mb_net_addr {
    int index;
    char dev[IFNAMSIZ];
    char addr[MB_NET_IPLEN];
    int prefix;
};

struct mb_net_route {
    char dst[MB_NET_IPLEN]; /* "0.0.0.0" for the default route */
    int prefix;
    char gateway[MB_NET_IPLEN]; /* "" when directly connected */
    int oif;
    char dev[IFNAMSIZ];
    unsigned table;         /* 254 = main */
    unsigned type;          /* RTN_UNICAST, ... */
};

/* ---------------------------------------------------------------- net.c */

/* True when this process may create bridges and taps (CAP_NET_ADMIN in its
 * effective set, and /dev/net/tun present). Otherwise false and a reason. */
bool mb_net_privileged(char *reason, size_t reason_len);
/* Parses the CapEff line of a /proc/<pid>/status text; -1 when absent. */
int mb_net_capeff_has(const char *status_text, int cap);

/* Dumps (IPv4 for addresses and routes); free() the array. */
struct mb_net_link *mb_net_links(size_t *n, mb_error **err);
struct mb_net_addr *mb_net_addrs(size_t *n, mb_error **err);
struct mb_net_route *mb_net_routes(size_t *n, mb_error **err);

/* A link by name: true and *out filled, or false (no such link, or err). */
bool mb_net_link_get(const char *name, struct mb_net_link *out, mb_error **err);
/* The names of this host's (this namespace's) Linux bridges, NULL-terminated
 * (free each and the array), for the drivers' networks slot. */
char **mb_net_host_bridges(mb_error **err);

/* Creates a bridge (MB_ERR_EXISTS when the name is taken). alias may be NULL. */
bool mb_net_bridge_create(const char *name, const char *alias, mb_error **err);
/* Creates a persistent tap owned by uid (vnet_hdr on, one queue). */
bool mb_net_tap_create(const char *name, uid_t uid, const char *alias, mb_error **err);
/* Deletes a link; a missing link is not an error. */
bool mb_net_link_delete(const char *name, mb_error **err);
/* Brings a link up (up = true) or down. */
bool mb_net_link_set_up(const char *name, bool up, mb_error **err);
/* Makes name a port of bridge (NULL: no bridge). */
bool mb_net_link_set_master(const char *name, const char *bridge, mb_error **err);
bool mb_net_link_set_alias(const char *name, const char *alias, mb_error **err);

/* Tells the kernel the MAC of ipv4 on dev (a bridge), as a neighbour entry in
 * state STALE: the first packets go straight to that MAC, and the kernel
 * checks the entry later as it checks any other. Without it, a connection to
 * a guest whose address is not up yet waits for ARP, which asks again only
 * once a second. mac: "52:54:00:12:34:56". */
bool mb_net_neigh_hint(const char *dev, const char *ipv4, const char *mac, mb_error **err);

/* Adds (idempotently) or deletes an IPv4 address with its prefix length. */
bool mb_net_addr_add(const char *dev, const char *addr, int prefix, mb_error **err);
bool mb_net_addr_delete(const char *dev, const char *addr, int prefix, mb_error **err);

/* net.ipv4.ip_forward: set < 0 only reads. Returns the value before, or -1. */
int mb_net_ip_forward(int set, mb_error **err);

/* ---------------------------------------------------------------- net_service.c */

/* Runs argv (PATH lookup) with input on stdin; out and errout (may be NULL)
 * receive its output. CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_NET_RAW are
 * passed on as ambient capabilities when this process holds them inheritable
 * (moonbase with file capabilities), so nft and dnsmasq can use them.
 * Returns the exit status (128+signal), or -1 with err set. */
int mb_net_run(char *const argv[], const char *input, char **out, char **errout,
               mb_error **err);

/* One network in the NAT table: its subnet leaves through masquerade, and
 * forwarding from and back to its bridge is accepted. */
struct mb_net_nat {
    const char *bridge;
    const char *subnet; /* "10.1.2.0/24" */
};
/* The whole "table ip moonbase" for these networks, as `nft -f` input that
 * replaces the table atomically. Caller frees. */
char *mb_net_nat_ruleset(const struct mb_net_nat *nets, size_t n);
/* Applies it; n == 0 removes the table. */
bool mb_net_nat_apply(const struct mb_net_nat *nets, size_t n, mb_error **err);
/* Whether "table ip moonbase" exists. */
bool mb_net_nat_exists(bool *exists, mb_error **err);

/* ---------------------------------------------------------------- net_dnsmasq.c */

struct mb_dnsmasq {
    const char *name;    /* network name, for the header comment */
    const char *dir;     /* runtime dir: dnsmasq.conf, .pid, hosts, dhcp-hosts, leases */
    const char *bridge;
    const char *address; /* the bridge's address: DNS server and router */
    int prefix;
    const char *domain;  /* "moonbase" */
    const char *user;    /* user dnsmasq runs as (when started as root), or NULL */
};
struct mb_dnsmasq_host {
    const char *name;
    const char *mac;
    const char *ipv4;
};

/* dnsmasq.conf for a network. Caller frees; NULL on a bad address. */
char *mb_net_dnsmasq_conf(const struct mb_dnsmasq *d);
/* Writes the conf and starts dnsmasq unless one is already running for dir;
 * returns its pid, or -1. */
pid_t mb_net_dnsmasq_start(const struct mb_dnsmasq *d, mb_error **err);
/* The pid of the dnsmasq serving dir (alive, in this network namespace, and
 * started with dir's conf), or 0. */
pid_t mb_net_dnsmasq_pid(const char *dir);
/* Stops it (SIGTERM, then SIGKILL after 3 s); not running is fine. */
bool mb_net_dnsmasq_stop(const char *dir, mb_error **err);
/* Rewrites hosts (DNS: "IP NAME.DOMAIN NAME") and dhcp-hosts ("MAC,IP,NAME")
 * atomically, then SIGHUPs the running dnsmasq so it reads them again. */
bool mb_net_dnsmasq_hosts(const char *dir, const char *domain,
                          const struct mb_dnsmasq_host *hosts, size_t n, mb_error **err);
/* Every dnsmasq in this network namespace whose conf file is moonbase's
 * (begins with MB_DNSMASQ_MAGIC); free() the array. */
pid_t *mb_net_dnsmasq_all(size_t *n);
/* Stops one of those (SIGTERM, then SIGKILL); refuses any other pid. */
bool mb_net_dnsmasq_kill(pid_t pid, mb_error **err);
#define MB_DNSMASQ_MAGIC "# moonbase network"

#endif
