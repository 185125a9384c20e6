/* Helpers shared by net_service.c (nft, running programs) and net_dnsmasq.c. */
#ifndef MB_NET_PRIV_H
#define MB_NET_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "net/net.h"
#include "core/strbuf.h"

/* In a child before exec: pass network capabilities on (see mb_net_run). */
void mb_net_ambient_caps(void);
/* The first line of s (modified in place), for a one-line message. */
const char *mb_net_first_line(char *s);
/* Safe inside a quoted nft string or a dnsmasq.conf value. */
bool mb_net_quotable(const char *s);

#endif
