/* JSON in C: json-c (libjson-c5 in Debian), the parser and tree of the LXD
 * driver and of the external drivers' protocol, behind the few calls they
 * make. The calls keep one set of rules whatever json-c does by default:
 *   - an accessor given the wrong type (or NULL) answers NULL, 0 or false,
 *     never the value converted (json-c's own getters turn 12 into "12");
 *   - a string holding a NUL is not a string to mbj_string_value (a C
 *     string would cut it short), mbj_string_length/_data read it whole;
 *   - a JSON null is NULL, as in json-c: an absent key and a null value read
 *     the same, and mbj_object_has tells them apart;
 *   - the parser is json-c's strict mode: no comments, no trailing commas,
 *     no bytes that are not UTF-8, nothing after the value, and the document
 *     is an object or an array. json-c 0.16 still reads a few things RFC 8259
 *     does not allow (single-quoted strings, NaN and Infinity, raw control
 *     characters in a string, overlong UTF-8, an integer past 64 bits
 *     saturated); none of them can turn into another value moonbase acts on
 *     (a path, a name, a state). A key given twice keeps its last value.
 * Why json-c and not the jansson the LXD driver started with:
 * docs/architecture-notes.md (about three times faster on LXD's listing). */
#ifndef MB_JSON_H
#define MB_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct json_object mbj_t;
typedef int64_t mbj_int_t;

/* -------------------------------------------------------------- reading */

static inline bool mbj_is_object(const mbj_t *v) { return v && json_object_is_type(v, json_type_object); }
static inline bool mbj_is_array(const mbj_t *v) { return v && json_object_is_type(v, json_type_array); }
/* Any string, one holding a NUL too (only mbj_string_data/_length read those) */
static inline bool mbj_is_bytes(const mbj_t *v) { return v && json_object_is_type(v, json_type_string); }
static inline bool mbj_is_integer(const mbj_t *v) { return v && json_object_is_type(v, json_type_int); }
static inline bool mbj_is_real(const mbj_t *v) { return v && json_object_is_type(v, json_type_double); }
static inline bool mbj_is_boolean(const mbj_t *v) { return v && json_object_is_type(v, json_type_boolean); }
static inline bool mbj_is_true(const mbj_t *v) { return mbj_is_boolean(v) && json_object_get_boolean(v); }

/* The value under key, or NULL (no such key, a null value, not an object). */
static inline mbj_t *mbj_object_get(const mbj_t *o, const char *key)
{
    mbj_t *v = NULL;
    return o && key && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* Whether o has key, even with a null value. */
static inline bool mbj_object_has(const mbj_t *o, const char *key)
{
    return o && key && json_object_object_get_ex(o, key, NULL);
}

static inline const char *mbj_string_value(const mbj_t *v)
{
    if (!mbj_is_bytes(v))
        return NULL;
    const char *s = json_object_get_string((mbj_t *)v);
    return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* A string moonbase can use as one: not one holding a NUL, which a C string
 * would cut short (so mbj_is_string(v) is mbj_string_value(v) != NULL). */
static inline bool mbj_is_string(const mbj_t *v) { return mbj_string_value(v) != NULL; }

/* A string's bytes, NULs and all (with mbj_string_length). */
static inline const char *mbj_string_data(const mbj_t *v)
{
    return mbj_is_bytes(v) ? json_object_get_string((mbj_t *)v) : NULL;
}

static inline size_t mbj_string_length(const mbj_t *v)
{
    return mbj_is_bytes(v) ? (size_t)json_object_get_string_len(v) : 0;
}

static inline mbj_int_t mbj_integer_value(const mbj_t *v)
{
    return mbj_is_integer(v) ? json_object_get_int64(v) : 0;
}

static inline double mbj_real_value(const mbj_t *v)
{
    return mbj_is_real(v) ? json_object_get_double(v) : 0.0;
}

/* An integer or a real, as a double. */
static inline double mbj_number_value(const mbj_t *v)
{
    return mbj_is_integer(v) || mbj_is_real(v) ? json_object_get_double(v) : 0.0;
}

static inline size_t mbj_object_size(const mbj_t *o)
{
    return mbj_is_object(o) ? (size_t)json_object_object_length(o) : 0;
}

static inline size_t mbj_array_size(const mbj_t *a)
{
    return mbj_is_array(a) ? json_object_array_length(a) : 0;
}

static inline mbj_t *mbj_array_get(const mbj_t *a, size_t i)
{
    return i < mbj_array_size(a) ? json_object_array_get_idx(a, i) : NULL;
}

static inline bool mbj_equal(const mbj_t *a, const mbj_t *b)
{
    return json_object_equal((mbj_t *)a, (mbj_t *)b) != 0;
}

/* Every element, null ones too (v is NULL for those). */
#define mbj_array_foreach(a, i, v) \
    for ((i) = 0; (i) < mbj_array_size(a) && (((v) = mbj_array_get((a), (i))), 1); (i)++)

/* Every key and value, in the order they came (nothing to do for a
 * non-object). The body must not delete from o. */
#define mbj_object_foreach(o, k, v)                                                        \
    for (struct lh_entry *mbj_e_ = mbj_is_object(o) ? lh_table_head(json_object_get_object(o)) \
                                                    : NULL;                                \
         mbj_e_ && (((k) = (const char *)lh_entry_k(mbj_e_)),                             \
                    ((v) = (mbj_t *)lh_entry_v(mbj_e_)), (void)(v), 1);                    \
         mbj_e_ = lh_entry_next(mbj_e_))

/* -------------------------------------------------------------- making */

static inline mbj_t *mbj_object(void) { return json_object_new_object(); }
static inline mbj_t *mbj_array(void) { return json_object_new_array(); }
static inline mbj_t *mbj_integer(mbj_int_t i) { return json_object_new_int64(i); }
static inline mbj_t *mbj_real(double d) { return json_object_new_double(d); }
static inline mbj_t *mbj_boolean(bool b) { return json_object_new_boolean(b); }
static inline mbj_t *mbj_true(void) { return json_object_new_boolean(1); }
/* A string, or NULL for NULL and for bytes that are not UTF-8 (json-c would
 * write them out as they are, and no reader takes that text back): every
 * string in a tree is UTF-8, so mbj_dumps always writes JSON. */
mbj_t *mbj_string(const char *s);
/* n bytes, NULs allowed */
mbj_t *mbj_stringn(const char *s, size_t n);

static inline mbj_t *mbj_incref(mbj_t *v) { return json_object_get(v); }
static inline void mbj_decref(mbj_t *v) { json_object_put(v); }

/* Sets o[key] to v and takes v: 0, or -1 (v NULL, o not an object, a key
 * that is not UTF-8, no memory) with v given back. */
int mbj_object_set_new(mbj_t *o, const char *key, mbj_t *v);
/* The same without taking v. */
static inline int mbj_object_set(mbj_t *o, const char *key, mbj_t *v)
{
    return mbj_object_set_new(o, key, mbj_incref(v));
}
/* Sets o[key] to null. */
int mbj_object_set_null(mbj_t *o, const char *key);
/* 0, or -1 when o has no such key */
static inline int mbj_object_del(mbj_t *o, const char *key)
{
    if (!mbj_object_has(o, key))
        return -1;
    json_object_object_del(o, key);
    return 0;
}
/* Appends v and takes it; -1 as mbj_object_set_new. */
int mbj_array_append_new(mbj_t *a, mbj_t *v);
mbj_t *mbj_deep_copy(const mbj_t *v);

/* An object from a format, as jansson's json_pack for objects: "{s:V, ...}"
 * where each key is s (a const char *) and V is s (const char *: NULL or
 * not UTF-8 fails),
 * s* (the key is left out when NULL), i (int), I (mbj_int_t), b (int as
 * bool), o (an mbj_t * taken, NULL fails), O (one kept by the caller), o? and
 * O? (NULL makes a null) or a nested "{...}". NULL on a failure, every o
 * taken all the same. */
mbj_t *mbj_pack(const char *fmt, ...);

/* -------------------------------------------------------------- text */

/* The document in text (a NUL-terminated string) or in n bytes: an object
 * or an array, or NULL if it is not strict JSON. */
mbj_t *mbj_loads(const char *text);
mbj_t *mbj_loadb(const char *buf, size_t n);

#define MBJ_COMPACT 0
#define MBJ_PRETTY 1
/* The text of v, for the caller to free (NULL without memory). */
char *mbj_dumps(const mbj_t *v, int flags);

#endif
