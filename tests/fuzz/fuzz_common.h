/* What the C fuzz targets share. */
#ifndef MB_FUZZ_COMMON_H
#define MB_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input as a NUL-terminated string (the parsers take C strings); NULL
 * when out of memory. Caller frees. */
static inline char *mb_fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s != NULL) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
