/* mb_error: one error value, set once, carried to Lua as (nil, message, code). */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_v(mb_error **err, enum mb_error_code code, const char *suffix,
                  const char *fmt, va_list ap)
{
    if (err == NULL || *err != NULL)
        return;
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0)
        buf[0] = '\0';
    if (suffix) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, ": %s", suffix);
    }
    mb_error *e = malloc(sizeof *e);
    if (e == NULL)
        abort();
    e->code = code;
    e->message = strdup(buf);
    if (e->message == NULL)
        abort();
    *err = e;
}

void mb_error_set(mb_error **err, enum mb_error_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(err, code, NULL, fmt, ap);
    va_end(ap);
}

void mb_error_set_errno(mb_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum mb_error_code code = errnum == ENOENT ? MB_ERR_NOT_FOUND
                              : errnum == EEXIST ? MB_ERR_EXISTS
                                                 : MB_ERR_IO;
    set_v(err, code, strerror(errnum), fmt, ap);
    va_end(ap);
}

void mb_error_free(mb_error *err)
{
    if (err == NULL)
        return;
    free(err->message);
    free(err);
}

const char *mb_error_code_name(enum mb_error_code code)
{
    switch (code) {
    case MB_ERR_USAGE: return "usage";
    case MB_ERR_FAILED: return "failed";
    case MB_ERR_UNSUPPORTED: return "unsupported";
    case MB_ERR_NOT_FOUND: return "notfound";
    case MB_ERR_TIMEOUT: return "timeout";
    case MB_ERR_STATE: return "state";
    case MB_ERR_EXISTS: return "exists";
    case MB_ERR_IO: return "io";
    case MB_ERR_UNREACHABLE: return "unreachable";
    case MB_ERR_HOSTKEY: return "hostkey";
    case MB_ERR_AUTH: return "auth";
    }
    return "failed";
}
