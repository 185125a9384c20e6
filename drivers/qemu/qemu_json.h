/* A tiny JSON reader and quoter for the QEMU driver: just enough to read QMP
 * replies and `qemu-img info --output=json`. It works in place on the text:
 * a "value" is a pointer to its first character; nothing is allocated except
 * decoded strings and copies the caller asks for. (lua-cjson lives on the Lua
 * side; C code that talks to QEMU needs its own small reader.) */
#ifndef MB_QEMU_JSON_H
#define MB_QEMU_JSON_H

#include <stdbool.h>

/* The character after the JSON value that starts at p (leading whitespace
 * allowed), or NULL if p does not hold one complete, well-formed value. */
const char *mb_json_skip(const char *p);
/* The value of member `key` of the object at obj, or NULL (not an object, or
 * no such key). Only the object's own members are searched. */
const char *mb_json_get(const char *obj, const char *key);
/* The decoded string at p (\u escapes as UTF-8), or NULL if p is not a string.
 * Caller frees. */
char *mb_json_string(const char *p);
/* An integer at p (no fraction or exponent). */
bool mb_json_int(const char *p, long long *v);
/* The first element of the array at p, or NULL when empty or not an array. */
const char *mb_json_first(const char *p);
/* The element after elem in the same array, or NULL at the end. */
const char *mb_json_next(const char *elem);
/* A copy of the value's text. Caller frees. */
char *mb_json_dup(const char *p);
/* s as a JSON string literal, quotes included. Caller frees. */
char *mb_json_quote(const char *s);

#endif
