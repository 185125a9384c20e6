/* Port forwards served by the instance agent: a listening TCP socket on the
 * host per forward; each connection becomes an SSH direct-tcpip channel to
 * the guest's port (so forwards work with user networking and bridges alike,
 * and need nothing in the guest). */
#ifndef MB_AGENT_FORWARD_H
#define MB_AGENT_FORWARD_H

#include <stdbool.h>

#include "core/error.h"
#include "ssh/ssh.h"

typedef struct mb_forwards mb_forwards;

/* Sessions come from (and go back to) the agent's pool. */
typedef mb_ssh *(*mb_forward_session_get)(void *ud, mb_error **err);
typedef void (*mb_forward_session_put)(void *ud, mb_ssh *s, bool healthy);

/* direct_host: the guest's own address when the host reaches it (a bridge):
 * connections are then spliced to it as plain TCP, without SSH's encryption
 * (several times faster under emulation); NULL: through SSH direct-tcpip. */
mb_forwards *mb_forwards_new(mb_forward_session_get get, mb_forward_session_put put, void *ud,
                             const char *direct_host, mb_error **err);
/* Listens on address:host_port (address "127.0.0.1", "0.0.0.0", "::1", ...)
 * and forwards to the guest's 127.0.0.1:guest_port. A port in use is
 * MB_ERR_EXISTS with a hint; adding the same forward twice is fine. udp:
 * relays datagrams to the guest's direct address (agent_forward_udp.h);
 * MB_ERR_UNSUPPORTED without one. */
bool mb_forward_add(mb_forwards *f, const char *address, int host_port, int guest_port,
                    bool udp, mb_error **err);
/* Stops listening before it returns: the port then refuses connections (TCP) and can
 * be bound again. Connections already open keep going until they end. */
bool mb_forward_remove(mb_forwards *f, const char *address, int host_port, bool udp,
                       mb_error **err);

#endif
