/* libFuzzer target: JSON as the LXD driver and the external drivers'
 * protocol read it (engine/core/json.c over json-c, engine/driver/rpc_json.c),
 * fed whatever a hostile LXD or driver could send. A document read is
 * walked with every accessor, turned into the engine's structures, written
 * out and read back as the same document. */
#include <math.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "core/json.h"
#include "driver/rpc.h"

static void walk(mbj_t *v, int depth)
{
    if (depth > 80)
        abort(); /* the parser's depth bound did not hold */
    (void)mbj_string_value(v);
    (void)mbj_integer_value(v);
    (void)mbj_number_value(v);
    const char *data = mbj_string_data(v);
    if (data && memchr(data, '\0', mbj_string_length(v)) == NULL && mbj_string_value(v) == NULL)
        abort(); /* a string without a NUL is a C string */
    const char *k;
    mbj_t *x;
    size_t i;
    mbj_object_foreach(v, k, x) {
        if (mbj_object_get(v, k) != x)
            abort();
        walk(x, depth + 1);
    }
    mbj_array_foreach(v, i, x) walk(x, depth + 1);
}

/* NaN is read (json-c's leniency) and is not equal to itself */
static bool has_nan(mbj_t *v)
{
    const char *k;
    mbj_t *x;
    size_t i;
    if (mbj_is_real(v) && isnan(mbj_real_value(v)))
        return true;
    mbj_object_foreach(v, k, x) if (has_nan(x)) return true;
    mbj_array_foreach(v, i, x) if (has_nan(x)) return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mbj_t *v = mbj_loadb((const char *)data, size);
    if (v == NULL)
        return 0;
    walk(v, 0);
    struct mb_instance inst;
    struct mb_nic *nics = NULL;
    struct mb_mount_spec *mounts = NULL;
    memset(&inst, 0, sizeof inst);
    mb_error *err = NULL;
    (void)mb_rpc_instance_from(mbj_object_get(v, "instance"), &inst, &nics, &mounts, &err);
    mb_error_free(err);
    free(nics);
    free(mounts);
    err = NULL;
    char **strv = mb_rpc_strv_from(v, &err);
    mb_error_free(err);
    for (char **p = strv; p && *p; p++)
        free(*p);
    free(strv);
    char *text = mbj_dumps(v, MBJ_COMPACT);
    mbj_t *back = text ? mbj_loads(text) : NULL;
    if (back == NULL || (!has_nan(v) && !mbj_equal(v, back)))
        abort(); /* what moonbase writes, it reads back the same */
    free(text);
    mbj_decref(back);
    mbj_decref(v);
    return 0;
}
