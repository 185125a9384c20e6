/* libvirt networks that moonbase defines (libvirt_net.c): one per moonbase
 * network served by libvirt (local.libvirt.networking=libvirt, and every
 * remote host), with NAT, DNS for <instance>.moonbase and a static DHCP host
 * per instance MAC. moonbase's addresses (lua/moonbase/network.lua) are the
 * only truth: the network's hosts are made to match them. Such networks carry
 * <metadata><moonbase:network name='...'/></metadata>, which is how listing
 * and prune tell them from networks moonbase did not define. */
#ifndef MB_LIBVIRT_NET_H
#define MB_LIBVIRT_NET_H

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>

#include "driver/driver.h"

#define MB_LIBVIRT_NET_NS "https://moonbase.invalid/xmlns/libvirt-network/1"

struct mb_libvirt_net_host {
    const char *mac;
    const char *name; /* the instance: DHCP name, DNS <name>.<domain> */
    const char *ipv4; /* dotted, no prefix */
};

struct mb_libvirt_net {
    const char *name;    /* the libvirt network's name */
    const char *network; /* moonbase's name for it (metadata) */
    const char *bridge;  /* never one of the engine's bridges */
    const char *gateway; /* the host's address on the bridge: router, DNS */
    int prefix;
    const char *domain;  /* "moonbase" */
    const struct mb_libvirt_net_host *hosts;
    size_t n_hosts;
};

/* The network XML (caller frees), or NULL with err set. */
char *mb_libvirt_net_xml(const struct mb_libvirt_net *n, mb_error **err);

/* Makes the libvirt network n exist, run and hold exactly n's hosts: defined
 * (autostart off) and started when absent; redefined when it is not running
 * or its bridge or address differ; else its DHCP and DNS hosts are added and
 * removed live (virNetworkUpdate, live and persistent config). */
bool mb_libvirt_net_ensure(virConnectPtr c, const struct mb_libvirt_net *n, mb_error **err);

/* Destroys (when running) and undefines the network `name`: 1 removed, 0 it
 * did not exist, -1 error. */
int mb_libvirt_net_remove(virConnectPtr c, const char *name, mb_error **err);

/* What listing needs of one libvirt network. */
struct mb_libvirt_net_info {
    char *name;
    char *bridge;  /* or NULL */
    char *network; /* moonbase's name from the metadata; NULL: not moonbase's */
    bool active;
    int ports;     /* interfaces plugged in (running domains), -1 unknown */
};
/* Every libvirt network of c (free with mb_libvirt_net_info_free), or NULL. */
struct mb_libvirt_net_info *mb_libvirt_net_list(virConnectPtr c, size_t *n, mb_error **err);
void mb_libvirt_net_info_free(struct mb_libvirt_net_info *v, size_t n);

#endif
