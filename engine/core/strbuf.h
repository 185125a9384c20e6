/* A growing string for text moonbase generates (QEMU arguments, libvirt XML,
 * dnsmasq and nftables configuration). An allocation failure sets oom; later
 * additions then do nothing and mb_strbuf_finish returns NULL, so a writer
 * checks once, at the end. */
#ifndef MB_STRBUF_H
#define MB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct mb_strbuf {
    char *s; /* NUL-terminated once anything was added */
    size_t n, cap;
    bool oom;
};

void mb_strbuf_addn(struct mb_strbuf *b, const char *s, size_t len);
void mb_strbuf_add(struct mb_strbuf *b, const char *s);
__attribute__((format(printf, 2, 3)))
void mb_strbuf_addf(struct mb_strbuf *b, const char *fmt, ...);
/* The string (the caller frees it; "" when nothing was added), or NULL after
 * an allocation failure (the buffer is freed then). */
char *mb_strbuf_finish(struct mb_strbuf *b);

#endif
