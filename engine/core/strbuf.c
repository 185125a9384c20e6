/* The one growing buffer (see strbuf.h). */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mb_strbuf_reserve(struct mb_strbuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (more > (size_t)-1 / 2 - b->n - 1) {
        b->oom = true;
        return false;
    }
    if (b->n + more + 1 <= b->cap)
        return true;
    size_t cap = (b->n + more + 1) * 2;
    if (cap < 64)
        cap = 64;
    char *s = realloc(b->s, cap);
    if (s == NULL) {
        b->oom = true;
        return false;
    }
    if (b->s == NULL)
        s[0] = '\0';
    b->s = s;
    b->cap = cap;
    return true;
}

bool mb_strbuf_addn(struct mb_strbuf *b, const void *data, size_t len)
{
    if (!mb_strbuf_reserve(b, len))
        return false;
    if (len > 0)
        memcpy(b->s + b->n, data, len);
    b->n += len;
    b->s[b->n] = '\0';
    return true;
}

bool mb_strbuf_add(struct mb_strbuf *b, const char *s)
{
    return mb_strbuf_addn(b, s, strlen(s));
}

bool mb_strbuf_addf(struct mb_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) {
        b->oom = true;
        return false;
    }
    if (!mb_strbuf_reserve(b, (size_t)len))
        return false;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)len;
    return true;
}

char *mb_strbuf_finish(struct mb_strbuf *b)
{
    if (b->oom) {
        mb_strbuf_free(b);
        return NULL;
    }
    return b->s ? b->s : strdup("");
}

void mb_strbuf_free(struct mb_strbuf *b)
{
    if (b == NULL)
        return;
    free(b->s);
    *b = (struct mb_strbuf){0};
}
