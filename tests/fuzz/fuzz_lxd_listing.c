/* libFuzzer target: the scan of LXD's listing (drivers/lxd/lxd_listing.c), fed
 * whatever comes on LXD's socket. Any input must give NULL or a list of
 * instances that each have a string name, never a crash or a read past the
 * end (ASan). */
#include <stdint.h>

#include "fuzz_common.h"
#include <stdlib.h>
#include <string.h>

#include "drivers/lxd/lxd_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = mb_fuzz_cstr(data, size);
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    json_t *list = mb_lxd_scan_listing(s, n);
    if (list) {
        if (!json_is_array(list))
            abort();
        size_t i;
        json_t *inst;
        json_array_foreach(list, i, inst) {
            if (!json_is_string(json_object_get(inst, "name")))
                abort();
        }
        json_decref(list);
    }
    free(s);
    return 0;
}
