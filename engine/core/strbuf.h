/* The one growing buffer, for text and bytes alike (as git's strbuf): text
 * moonbase generates (QEMU arguments, libvirt XML, dnsmasq and nftables
 * configuration), output captured from SSH channels, SFTP replies, HTTP
 * bodies. The bytes are always followed by a NUL, so text can be used as a C
 * string. An allocation failure sets oom; later additions then do nothing
 * and return false, and mb_strbuf_finish returns NULL, so a writer may check
 * once, at the end. A zeroed struct is an empty buffer. */
#ifndef MB_STRBUF_H
#define MB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct mb_strbuf {
    char *s; /* n bytes and a NUL once anything was added (or reserved) */
    size_t n, cap;
    bool oom;
};

/* Room for `more` bytes after the n there are (and the NUL after them), for
 * writers that fill s + n themselves (a read() straight into the buffer)
 * and then add what they wrote to n; the NUL is then theirs to write, if
 * they need one. */
bool mb_strbuf_reserve(struct mb_strbuf *b, size_t more);
bool mb_strbuf_addn(struct mb_strbuf *b, const void *data, size_t len);
bool mb_strbuf_add(struct mb_strbuf *b, const char *s);
__attribute__((format(printf, 2, 3)))
bool mb_strbuf_addf(struct mb_strbuf *b, const char *fmt, ...);
/* The string (the caller frees it; "" when nothing was added), or NULL after
 * an allocation failure (the buffer is freed then). */
char *mb_strbuf_finish(struct mb_strbuf *b);
/* Frees the bytes and empties b (NULL is fine). */
void mb_strbuf_free(struct mb_strbuf *b);

#endif
