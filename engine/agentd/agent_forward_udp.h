/* UDP port forwards of the instance agent: a host UDP socket relayed to the
 * guest's own address (an instance on a bridge; SSH, the only path under
 * QEMU user networking, has no UDP channel). */
#ifndef MB_AGENT_FORWARD_UDP_H
#define MB_AGENT_FORWARD_UDP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/error.h"

/* How long a client's association lives without a datagram either way. */
#define MB_UDP_IDLE_SECONDS 60

/* A UDP socket bound to address:port, or -1 (MB_ERR_EXISTS when in use). */
int mb_udp_bind(const char *address, int port, mb_error **err);

/* Relays datagrams between fd and guest_host:guest_port until *closing is
 * set (checked every 200 ms), then closes fd. Runs in the caller's thread. */
void mb_udp_relay(int fd, const char *guest_host, int guest_port, atomic_bool *closing);

#endif
