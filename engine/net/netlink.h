/* rtnetlink requests on a raw socket, for engine/net/net.c: build a message
 * (header + attributes), send it, and read the kernel's ACK or dump. One
 * socket per request, in the caller's network namespace. */
#ifndef MB_NETLINK_H
#define MB_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define MB_NL_BUFSIZE 8192

struct mb_nlreq {
    union {
        struct nlmsghdr h;
        char raw[MB_NL_BUFSIZE];
    };
};

/* A request of type with NLM_F_REQUEST | flags and the family header hdr. */
void mb_nl_init(struct mb_nlreq *r, int type, int flags, const void *hdr, size_t hdrlen);
/* Appends an attribute. Attributes are small and fixed: overflowing the
 * buffer is a bug and aborts. */
struct rtattr *mb_nl_put(struct mb_nlreq *r, int type, const void *data, size_t len);
void mb_nl_put_str(struct mb_nlreq *r, int type, const char *s);
void mb_nl_put_u32(struct mb_nlreq *r, int type, uint32_t v);
/* A nested attribute: start it, put its members, end it. */
struct rtattr *mb_nl_nest_start(struct mb_nlreq *r, int type);
void mb_nl_nest_end(struct mb_nlreq *r, struct rtattr *nest);

/* Sends the request and waits for its ACK: 0, the kernel's errno, or -1
 * (err set) when the socket itself failed. */
int mb_nl_talk(struct mb_nlreq *r, mb_error **err);

/* Sends a dump request and hands every answer to cb (false: out of memory). */
typedef bool (*mb_nl_dump_cb)(struct nlmsghdr *h, void *ctx);
bool mb_nl_dump(struct mb_nlreq *r, mb_nl_dump_cb cb, void *ctx, mb_error **err);

#endif
