/* libFuzzer target: the parsers of what users type (sizes, durations,
 * instance names). Any input must give a value or an error, never a crash,
 * and a size must fit a Lua integer. */
#include <stdint.h>

#include "fuzz_common.h"
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = mb_fuzz_cstr(data, size);
    if (s == NULL)
        return 0;
    mb_error *err = NULL;
    uint64_t bytes;
    if (mb_size_parse(s, &bytes, &err)) {
        if (bytes >= (UINT64_C(1) << 63))
            abort(); /* would turn negative in Lua */
    } else if (err == NULL) {
        abort();
    }
    mb_error_free(err);
    err = NULL;
    double secs;
    if (mb_duration_parse(s, &secs, &err)) {
        if (!(secs >= 0))
            abort();
    } else if (err == NULL) {
        abort();
    }
    mb_error_free(err);
    err = NULL;
    if (!mb_name_valid(s, &err) && err == NULL)
        abort();
    mb_error_free(err);
    free(s);
    return 0;
}
