/* Reading LXD's listing of every instance (GET /1.0/instances?recursion=1)
 * for `list`: of each instance only its name, status code and moonbase's
 * owner mark are kept (lxd_wire.h: mb_lxd_scan_listing). The answer carries
 * every instance's whole configuration (cloud-init's documents among it);
 * building jansson's tree of all of it was a fifth of an LXD list's CPU, so
 * the text is scanned once and nothing else is kept. Anything but a sync
 * envelope with an array of objects is left to the full parser, which says
 * what is wrong. */
#include "drivers/lxd/lxd_wire.h"
#include "drivers/lxd/lxd_json.h"

#include <stdlib.h>
#include <string.h>

struct scan {
    const char *p, *end;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool eat(struct scan *s, char c)
{
    ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at s->p: decoded into a new string when out is given (caller
 * frees), else only passed over. */
static bool string(struct scan *s, char **out)
{
    if (!eat(s, '"'))
        return false;
    const char *start = s->p;
    bool escapes = false;
    while (s->p < s->end && *s->p != '"') {
        if ((unsigned char)*s->p < 0x20)
            return false;
        if (*s->p == '\\') {
            escapes = true;
            s->p++;
        }
        s->p++;
    }
    if (s->p >= s->end)
        return false;
    const char *stop = s->p++;
    if (out == NULL)
        return true;
    char *o = malloc((size_t)(stop - start) + 1);
    if (o == NULL)
        return false;
    if (!escapes) {
        memcpy(o, start, (size_t)(stop - start));
        o[stop - start] = '\0';
        *out = o;
        return true;
    }
    size_t n = 0;
    for (const char *p = start; p < stop; p++) {
        if (*p != '\\') {
            o[n++] = *p;
            continue;
        }
        char c = *++p;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c != '\0' && simple) {
            o[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        int cp = c == 'u' && stop - p > 4 ? hex4(p + 1) : -1;
        if (cp < 0)
            goto bad;
        p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
            int lo = stop - p > 6 && p[1] == '\\' && p[2] == 'u' ? hex4(p + 3) : -1;
            if (lo < 0xDC00 || lo > 0xDFFF)
                goto bad;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        } else if (cp >= 0xDC00 && cp < 0xE000) {
            goto bad;
        }
        /* \uXXXX (6 bytes) never decodes to more than 3 bytes, a pair (12) to 4 */
        n += put_utf8(o + n, (unsigned)cp);
    }
    o[n] = '\0';
    *out = o;
    return true;
bad:
    free(o);
    return false;
}

static bool value(struct scan *s, int depth);

static bool container(struct scan *s, char open, char close, int depth)
{
    if (depth > 64 || !eat(s, open))
        return false;
    if (eat(s, close))
        return true;
    for (;;) {
        if (open == '{' && (!string(s, NULL) || !eat(s, ':')))
            return false;
        if (!value(s, depth + 1))
            return false;
        if (eat(s, close))
            return true;
        if (!eat(s, ','))
            return false;
    }
}

/* Passes over any value (numbers and literals loosely: what follows is
 * checked by the caller's next token). */
static bool value(struct scan *s, int depth)
{
    ws(s);
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '"': return string(s, NULL);
    case '{': return container(s, '{', '}', depth);
    case '[': return container(s, '[', ']', depth);
    default: {
        const char *start = s->p;
        while (s->p < s->end && strchr("+-.0123456789eEtruefalsn", *s->p) && *s->p)
            s->p++;
        return s->p > start;
    }
    }
}

static bool integer(struct scan *s, json_int_t *v)
{
    ws(s);
    char *endp = NULL;
    if (s->p >= s->end || !((*s->p >= '0' && *s->p <= '9') || *s->p == '-'))
        return value(s, 0) && (*v = -1, true); /* not a number: no status */
    long long x = strtoll(s->p, &endp, 10);
    if (endp == s->p || endp > s->end)
        return false;
    s->p = endp;
    if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
        return value(s, 0) && (*v = -1, true);
    *v = (json_int_t)x;
    return true;
}

/* One instance object: {"name", "status_code", "config": {owner key}}. */
static json_t *instance(struct scan *s)
{
    char *name = NULL, *owner = NULL;
    json_int_t code = -1;
    bool ok = eat(s, '{');
    if (ok && !eat(s, '}')) {
        for (;;) {
            char *key = NULL;
            if (!string(s, &key) || !eat(s, ':')) {
                free(key);
                ok = false;
                break;
            }
            if (strcmp(key, "name") == 0 && name == NULL) {
                ws(s);
                ok = s->p < s->end && *s->p == '"' ? string(s, &name) : value(s, 0);
            } else if (strcmp(key, "status_code") == 0) {
                ok = integer(s, &code);
            } else if (strcmp(key, "config") == 0 && owner == NULL) {
                ws(s);
                if (s->p < s->end && *s->p == '{') {
                    s->p++;
                    if (!eat(s, '}'))
                        for (;;) {
                            char *k = NULL;
                            ok = string(s, &k) && eat(s, ':');
                            if (ok && strcmp(k, MB_LXD_OWNER_KEY) == 0 && owner == NULL) {
                                ws(s);
                                ok = s->p < s->end && *s->p == '"' ? string(s, &owner)
                                                                   : value(s, 0);
                            } else if (ok) {
                                ok = value(s, 0);
                            }
                            free(k);
                            if (!ok || eat(s, '}'))
                                break;
                            if (!eat(s, ',')) {
                                ok = false;
                                break;
                            }
                        }
                } else {
                    ok = value(s, 0);
                }
            } else {
                ok = value(s, 0);
            }
            free(key);
            if (!ok || eat(s, '}'))
                break;
            if (!eat(s, ',')) {
                ok = false;
                break;
            }
        }
    }
    json_t *o = NULL;
    /* (json_string refuses what is not UTF-8, as jansson's parser would) */
    json_t *jname = ok && name ? json_string(name) : NULL;
    json_t *jowner = jname && owner ? json_string(owner) : NULL;
    if (jname && (owner == NULL || jowner)) {
        o = json_object();
        json_object_set_new(o, "name", jname);
        if (code >= 0)
            json_object_set_new(o, "status_code", json_integer(code));
        json_t *config = json_object();
        if (jowner)
            json_object_set_new(config, MB_LXD_OWNER_KEY, jowner);
        json_object_set_new(o, "config", config);
    } else {
        json_decref(jname);
        json_decref(jowner);
    }
    free(name);
    free(owner);
    return o;
}

json_t *mb_lxd_scan_listing(const char *text, size_t len)
{
    struct scan s = {text, text + len};
    json_t *list = NULL;
    bool sync = false, ok = eat(&s, '{');
    while (ok) {
        char *key = NULL;
        if (!string(&s, &key) || !eat(&s, ':')) {
            free(key);
            ok = false;
            break;
        }
        if (strcmp(key, "type") == 0) {
            char *type = NULL;
            ws(&s);
            ok = s.p < s.end && *s.p == '"' && string(&s, &type);
            sync = ok && strcmp(type, "sync") == 0;
            ok = ok && sync;
            free(type);
        } else if (strcmp(key, "metadata") == 0 && list == NULL) {
            list = json_array();
            ok = eat(&s, '[');
            if (ok && !eat(&s, ']'))
                for (;;) {
                    json_t *inst = instance(&s);
                    if (inst == NULL) {
                        ok = false;
                        break;
                    }
                    json_array_append_new(list, inst);
                    if (eat(&s, ']'))
                        break;
                    if (!eat(&s, ',')) {
                        ok = false;
                        break;
                    }
                }
        } else {
            ok = value(&s, 0);
        }
        free(key);
        if (!ok || eat(&s, '}'))
            break;
        if (!eat(&s, ',')) {
            ok = false;
            break;
        }
    }
    ws(&s);
    if (!ok || !sync || list == NULL || s.p != s.end) {
        json_decref(list);
        return NULL;
    }
    return list;
}
