/* Helpers shared by net_service.c (nft, running programs) and net_dnsmasq.c. */
#ifndef MB_NET_PRIV_H
#define MB_NET_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

/* A growing string; oom is sticky and makes mb_net_finish return NULL. */
struct mb_net_buf {
    char *s;
    size_t len, cap;
    bool oom;
};
void mb_net_addf(struct mb_net_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *mb_net_finish(struct mb_net_buf *b);

/* In a child before exec: pass network capabilities on (see mb_net_run). */
void mb_net_ambient_caps(void);
/* The first line of s (modified in place), for a one-line message. */
const char *mb_net_first_line(char *s);
/* Safe inside a quoted nft string or a dnsmasq.conf value. */
bool mb_net_quotable(const char *s);

#endif
