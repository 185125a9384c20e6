/* The QEMU driver's JSON reader: validates while it skips, so a truncated or
 * garbled QMP line is rejected instead of half-read. Nesting is bounded. */
#include "drivers/qemu/qemu_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char *skip_string(const char *p)
{
    if (*p != '"')
        return NULL;
    for (p++; *p != '"'; p++) {
        if (*p == '\0' || (unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (hexval(p[i]) < 0)
                        return NULL;
                p += 4;
            } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *skip_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *skip_value(const char *p, int depth)
{
    p = ws(p);
    if (depth > MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '"':
        return skip_string(p);
    case '{':
        p = ws(p + 1);
        if (*p == '}')
            return p + 1;
        for (;;) {
            p = skip_string(ws(p));
            if (p == NULL || *(p = ws(p)) != ':')
                return NULL;
            if ((p = skip_value(p + 1, depth + 1)) == NULL)
                return NULL;
            p = ws(p);
            if (*p == '}')
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    case '[':
        p = ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            if ((p = skip_value(p, depth + 1)) == NULL)
                return NULL;
            p = ws(p);
            if (*p == ']')
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return skip_number(p);
    }
}

const char *mb_json_skip(const char *p)
{
    return p ? skip_value(p, 0) : NULL;
}

const char *mb_json_get(const char *obj, const char *key)
{
    if (obj == NULL || *(obj = ws(obj)) != '{' || mb_json_skip(obj) == NULL)
        return NULL;
    const char *p = ws(obj + 1);
    if (*p == '}')
        return NULL;
    for (;;) {
        p = ws(p);
        char *k = mb_json_string(p);
        p = ws(skip_string(p)) + 1; /* past ':' (validated above) */
        bool hit = k && strcmp(k, key) == 0;
        free(k);
        if (hit)
            return ws(p);
        p = ws(skip_value(p, 1));
        if (*p != ',')
            return NULL;
        p++;
    }
}

static void put_utf8(char **o, unsigned long cp)
{
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xc0 | cp >> 6);
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | cp >> 12);
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | cp >> 18);
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = q;
}

static unsigned long hex4(const char *p)
{
    return (unsigned long)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4
                           | hexval(p[3]));
}

char *mb_json_string(const char *p)
{
    if (p == NULL)
        return NULL;
    p = ws(p);
    const char *end = skip_string(p);
    if (end == NULL)
        return NULL;
    /* decoded text is never longer than the escaped text */
    char *out = malloc((size_t)(end - p)), *o = out;
    if (out == NULL)
        return NULL;
    for (p++; p < end - 1; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned long cp = hex4(p + 1);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
                unsigned long lo = hex4(p + 3);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            put_utf8(&o, cp ? cp : 0xfffd); /* no NUL inside a C string */
            break;
        }
        default: *o++ = *p; break;
        }
    }
    *o = '\0';
    return out;
}

bool mb_json_int(const char *p, long long *v)
{
    if (p == NULL)
        return false;
    p = ws(p);
    const char *end = skip_number(p);
    if (end == NULL)
        return false;
    for (const char *q = p; q < end; q++)
        if (*q == '.' || *q == 'e' || *q == 'E')
            return false;
    char *e;
    *v = strtoll(p, &e, 10);
    return e == end;
}

const char *mb_json_first(const char *p)
{
    if (p == NULL || *(p = ws(p)) != '[' || mb_json_skip(p) == NULL)
        return NULL;
    p = ws(p + 1);
    return *p == ']' ? NULL : p;
}

const char *mb_json_next(const char *elem)
{
    const char *p = mb_json_skip(elem);
    if (p == NULL || *(p = ws(p)) != ',')
        return NULL;
    return ws(p + 1);
}

char *mb_json_dup(const char *p)
{
    const char *end = mb_json_skip(p);
    if (end == NULL)
        return NULL;
    p = ws(p);
    return strndup(p, (size_t)(end - p));
}

char *mb_json_quote(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += (unsigned char)*p < 0x20 ? 6 : (*p == '"' || *p == '\\') ? 2 : 1;
    char *out = malloc(n), *o = out;
    if (out == NULL)
        return NULL;
    *o++ = '"';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}
