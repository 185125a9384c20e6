/* The JSON calls of core/json.h over json-c. */
#include "core/json.h"

#include <stdarg.h>
#include <stdlib.h>

/* Deep enough for every message moonbase reads (an external driver's
 * answer nests a Lua value of depth 32 in its envelope), shallow enough
 * that a hostile document is refused early. */
#define MAX_DEPTH 64

/* RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            c = (c << 6) | (s[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

mbj_t *mbj_stringn(const char *s, size_t n)
{
    if (s == NULL || n >= INT32_MAX || !utf8_ok((const unsigned char *)s, n))
        return NULL;
    return json_object_new_string_len(s, (int)n);
}

mbj_t *mbj_string(const char *s)
{
    return s ? mbj_stringn(s, strlen(s)) : NULL;
}

int mbj_object_set_new(mbj_t *o, const char *key, mbj_t *v)
{
    if (v == NULL)
        return -1;
    if (!mbj_is_object(o) || key == NULL ||
        !utf8_ok((const unsigned char *)key, strlen(key)) ||
        json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

int mbj_object_set_null(mbj_t *o, const char *key)
{
    return mbj_is_object(o) && key && utf8_ok((const unsigned char *)key, strlen(key)) &&
                   json_object_object_add(o, key, NULL) == 0
               ? 0
               : -1;
}

int mbj_array_append_new(mbj_t *a, mbj_t *v)
{
    if (v == NULL)
        return -1;
    if (!mbj_is_array(a) || json_object_array_add(a, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

mbj_t *mbj_deep_copy(const mbj_t *v)
{
    mbj_t *copy = NULL;
    return v && json_object_deep_copy((mbj_t *)v, &copy, NULL) == 0 ? copy : NULL;
}

/* ------------------------------------------------------------------ pack */

struct pack {
    const char *p;
    va_list *ap;
    bool failed;
};

static void skip_blank(struct pack *k)
{
    while (*k->p == ' ' || *k->p == ',' || *k->p == ':')
        k->p++;
}

static mbj_t *pack_object(struct pack *k);

/* What a NULL from pack_value means */
enum absent { FAILED, OMIT, NUL };

/* One value, or NULL: *why says what that means. */
static mbj_t *pack_value(struct pack *k, enum absent *why)
{
    *why = FAILED;
    skip_blank(k);
    char c = *k->p++;
    switch (c) {
    case '{': return pack_object(k);
    case 's': {
        const char *s = va_arg(*k->ap, const char *);
        if (*k->p == '*') {
            k->p++;
            *why = OMIT;
        }
        if (s == NULL)
            return NULL;
        mbj_t *v = mbj_string(s);
        if (v == NULL)
            *why = FAILED; /* not UTF-8: fails even where NULL is left out */
        return v;
    }
    case 'i': return json_object_new_int64(va_arg(*k->ap, int));
    case 'I': return json_object_new_int64(va_arg(*k->ap, mbj_int_t));
    case 'b': return json_object_new_boolean(va_arg(*k->ap, int) != 0);
    case 'o':
    case 'O': {
        mbj_t *v = va_arg(*k->ap, mbj_t *);
        if (*k->p == '?') {
            k->p++;
            *why = NUL;
        }
        return c == 'O' ? json_object_get(v) : v;
    }
    default: /* a format this file does not know: the caller's bug */
        if (c == '\0')
            k->p--;
        k->failed = true;
        return NULL;
    }
}

/* After the '{': keys and values up to the '}'. Reads the whole format
 * even after a failure, so every o is taken. */
static mbj_t *pack_object(struct pack *k)
{
    mbj_t *o = json_object_new_object();
    if (o == NULL)
        k->failed = true;
    for (;;) {
        skip_blank(k);
        if (*k->p == '}') {
            k->p++;
            break;
        }
        if (*k->p != 's') {
            k->failed = true;
            break;
        }
        k->p++;
        const char *key = va_arg(*k->ap, const char *);
        enum absent why;
        mbj_t *v = pack_value(k, &why);
        if (v == NULL && why == OMIT)
            continue;
        if (key == NULL || (v == NULL && why == FAILED))
            k->failed = true;
        if (k->failed) {
            json_object_put(v);
        } else if (v == NULL ? mbj_object_set_null(o, key) != 0
                             : mbj_object_set_new(o, key, v) != 0) {
            k->failed = true; /* v given back by mbj_object_set_new */
        }
    }
    if (k->failed) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

mbj_t *mbj_pack(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct pack k = {fmt, &ap, false};
    skip_blank(&k);
    mbj_t *o = NULL;
    if (*k.p == '{') {
        k.p++;
        o = pack_object(&k);
    }
    va_end(ap);
    return k.failed ? NULL : o;
}

/* ------------------------------------------------------------------ text */

mbj_t *mbj_loadb(const char *buf, size_t n)
{
    if (buf == NULL || n >= INT32_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    mbj_t *v = json_tokener_parse_ex(tok, buf, (int)n);
    bool ok = json_tokener_get_error(tok) == json_tokener_success &&
              (mbj_is_object(v) || mbj_is_array(v));
    for (size_t at = json_tokener_get_parse_end(tok); ok && at < n; at++)
        ok = buf[at] == ' ' || buf[at] == '\t' || buf[at] == '\n' || buf[at] == '\r';
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(v);
        return NULL;
    }
    return v;
}

mbj_t *mbj_loads(const char *text)
{
    return text ? mbj_loadb(text, strlen(text)) : NULL;
}

char *mbj_dumps(const mbj_t *v, int flags)
{
    int how = JSON_C_TO_STRING_NOSLASHESCAPE |
              (flags & MBJ_PRETTY ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                  : JSON_C_TO_STRING_PLAIN);
    const char *s = json_object_to_json_string_ext((mbj_t *)v, how);
    return s ? strdup(s) : NULL;
}
