/* Errors in the engine: a function that can fail takes `mb_error **err` last,
 * sets it at most once, and also returns bool / pointer / non-negative int. */
#ifndef MB_ERROR_H
#define MB_ERROR_H

#include <stdbool.h>

/* Stable codes; their Lua names are in mb_error_code_name(). The numbers of
 * USAGE, FAILED and TIMEOUT are also the CLI's exit codes. */
enum mb_error_code {
    MB_ERR_USAGE = 1,       /* bad input from the user */
    MB_ERR_FAILED = 2,      /* the outside world failed */
    MB_ERR_UNSUPPORTED = 3, /* the driver lacks the operation */
    MB_ERR_NOT_FOUND = 4,
    MB_ERR_TIMEOUT = 5,
    MB_ERR_STATE = 6,       /* wrong state for the operation */
    MB_ERR_EXISTS = 7,
    MB_ERR_IO = 8,
    MB_ERR_UNREACHABLE = 9, /* nothing answers at that address/port (yet) */
    MB_ERR_HOSTKEY = 10,    /* the server is not the host we expected */
    MB_ERR_AUTH = 11,       /* the server refused our credentials */
};

typedef struct mb_error {
    enum mb_error_code code;
    char *message;
} mb_error;

/* Sets *err (if err is not NULL and *err is still NULL); printf-style. */
void mb_error_set(mb_error **err, enum mb_error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with ": strerror(errnum)" appended. */
void mb_error_set_errno(mb_error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mb_error_free(mb_error *err);
const char *mb_error_code_name(enum mb_error_code code);

#endif
