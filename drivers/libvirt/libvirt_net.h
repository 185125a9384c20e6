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

/* A network moonbase defines is the driver table's struct mb_net_spec. */

/* The network XML (caller frees), or NULL with err set. */
char *mb_libvirt_net_xml(const struct mb_net_spec *n, mb_error **err);

/* Makes the libvirt network n exist, run and hold exactly n's hosts: defined
 * (autostart off) and started when absent; redefined when it is not running
 * or its bridge or address differ; else its DHCP and DNS hosts are added and
 * removed live (virNetworkUpdate, live and persistent config). */
bool mb_libvirt_net_ensure(virConnectPtr c, const struct mb_net_spec *n, mb_error **err);

/* Destroys (when running) and undefines the network `name`: 1 removed, 0 it
 * did not exist, -1 error. */
int mb_libvirt_net_remove(virConnectPtr c, const char *name, mb_error **err);

/* Every libvirt network of c (free with mb_net_info_free), or NULL. */
struct mb_net_info *mb_libvirt_net_list(virConnectPtr c, size_t *n, mb_error **err);

#endif
