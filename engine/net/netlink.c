/* rtnetlink requests on a raw socket (see netlink.h; why not `ip`: net.c). */
#include "net/netlink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *tail(struct mb_nlreq *r)
{
    return r->raw + NLMSG_ALIGN(r->h.nlmsg_len);
}

void mb_nl_init(struct mb_nlreq *r, int type, int flags, const void *hdr, size_t hdrlen)
{
    memset(r, 0, sizeof *r);
    r->h.nlmsg_len = NLMSG_LENGTH(hdrlen);
    r->h.nlmsg_type = (unsigned short)type;
    r->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
    memcpy(NLMSG_DATA(&r->h), hdr, hdrlen);
}

struct rtattr *mb_nl_put(struct mb_nlreq *r, int type, const void *data, size_t len)
{
    struct rtattr *a = tail(r);
    size_t need = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_SPACE(len);
    if (need > sizeof *r)
        abort();
    a->rta_type = (unsigned short)type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = (unsigned)need;
    return a;
}

void mb_nl_put_str(struct mb_nlreq *r, int type, const char *s)
{
    mb_nl_put(r, type, s, strlen(s) + 1);
}

void mb_nl_put_u32(struct mb_nlreq *r, int type, uint32_t v)
{
    mb_nl_put(r, type, &v, sizeof v);
}

struct rtattr *mb_nl_nest_start(struct mb_nlreq *r, int type)
{
    return mb_nl_put(r, type, NULL, 0);
}

void mb_nl_nest_end(struct mb_nlreq *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)tail(r) - (char *)nest);
}

static int nl_open(mb_error **err)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "net: cannot open a netlink socket");
        return -1;
    }
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        mb_error_set_errno(err, errno, "net: cannot bind a netlink socket");
        close(fd);
        return -1;
    }
    return fd;
}

/* What a reader does with one answer to our request. */
enum step { MORE, DONE, FAILED };
typedef enum step (*on_msg)(struct nlmsghdr *h, void *ctx, mb_error **err);

/* Sends r on a socket of its own and hands each answer carrying r's
 * sequence number to fn until fn says DONE or FAILED. */
static bool exchange(struct mb_nlreq *r, on_msg fn, void *ctx, mb_error **err)
{
    static unsigned seq;
    int fd = nl_open(err);
    if (fd < 0)
        return false;
    bool ok = false;
    char *buf = malloc(MB_NL_BUFSIZE * 4);
    if (buf == NULL) {
        mb_error_set(err, MB_ERR_IO, "net: out of memory");
        goto cleanup;
    }
    r->h.nlmsg_seq = ++seq;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    ssize_t n;
    while ((n = sendto(fd, &r->h, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa)) < 0
           && errno == EINTR)
        ;
    if (n < 0) {
        mb_error_set_errno(err, errno, "net: netlink send failed");
        goto cleanup;
    }
    for (;;) {
        n = recv(fd, buf, MB_NL_BUFSIZE * 4, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mb_error_set_errno(err, n < 0 ? errno : EPROTO, "net: netlink receive failed");
            goto cleanup;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->h.nlmsg_seq)
                continue;
            enum step st = fn(h, ctx, err);
            if (st != MORE) {
                ok = st == DONE;
                goto cleanup;
            }
        }
    }
cleanup:
    free(buf);
    close(fd);
    return ok;
}

static enum step on_ack(struct nlmsghdr *h, void *ctx, mb_error **err)
{
    (void)err;
    if (h->nlmsg_type != NLMSG_ERROR)
        return MORE;
    *(int *)ctx = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    return DONE;
}

int mb_nl_talk(struct mb_nlreq *r, mb_error **err)
{
    int result = -1;
    r->h.nlmsg_flags |= NLM_F_ACK;
    return exchange(r, on_ack, &result, err) ? result : -1;
}

struct dump_ctx {
    mb_nl_dump_cb cb;
    void *ctx;
};

static enum step on_dump(struct nlmsghdr *h, void *ctx, mb_error **err)
{
    struct dump_ctx *d = ctx;
    if (h->nlmsg_type == NLMSG_DONE)
        return DONE;
    if (h->nlmsg_type == NLMSG_ERROR) {
        mb_error_set_errno(err, -((struct nlmsgerr *)NLMSG_DATA(h))->error,
                           "net: netlink dump failed");
        return FAILED;
    }
    if (!d->cb(h, d->ctx)) {
        mb_error_set(err, MB_ERR_IO, "net: out of memory");
        return FAILED;
    }
    return MORE;
}

bool mb_nl_dump(struct mb_nlreq *r, mb_nl_dump_cb cb, void *ctx, mb_error **err)
{
    struct dump_ctx d = {cb, ctx};
    r->h.nlmsg_flags |= NLM_F_DUMP;
    return exchange(r, on_dump, &d, err);
}
