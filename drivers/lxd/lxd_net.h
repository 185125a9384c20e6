/* moonbase's networks as networks of a (remote) LXD: an LXD-managed bridge
 * per moonbase network, named by its bridge (LXD names networks as
 * interfaces: 15 characters at most), carrying moonbase's name in its
 * config (user.moonbase.name), with moonbase's subnet, gateway, DNS domain
 * and NAT; each instance's NIC asks for its address (ipv4.address), which
 * LXD's dnsmasq hands out as a static lease. */
#ifndef MB_LXD_NET_H
#define MB_LXD_NET_H

#include "driver/driver.h"
#include "drivers/lxd/lxd_client.h"

bool mb_lxd_network_ensure(struct mb_lxd *c, const struct mb_net_spec *n, mb_error **err);
/* 1 removed, 0 there was none, -1 error */
int mb_lxd_network_remove(struct mb_lxd *c, const char *name, mb_error **err);
struct mb_net_info *mb_lxd_network_list(struct mb_lxd *c, size_t *n, mb_error **err);
/* The LXD network that carries moonbase's network name (caller frees). */
char *mb_lxd_network_of(struct mb_lxd *c, const char *name, mb_error **err);

#endif
