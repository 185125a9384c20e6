/* libFuzzer target: QMP replies and the small JSON reader of the QEMU driver
 * (qmp.c, qemu_json.c), fed whatever a misbehaving or hostile QEMU could
 * send on its socket. */
#include <stdint.h>

#include "fuzz_common.h"
#include <stdlib.h>
#include <string.h>

#include "drivers/qemu/qemu_json.h"
#include "drivers/qemu/qmp.h"

static void walk(const char *v, int depth)
{
    if (v == NULL || depth > 8)
        return;
    free(mb_json_string(v));
    free(mb_json_dup(v));
    long long n;
    (void)mb_json_int(v, &n);
    for (const char *k = mb_json_first(v); k != NULL; k = mb_json_next(k))
        walk(k, depth + 1);
    static const char *const keys[] = {"return", "error", "class", "desc", "event", "id",
                                       "QMP", "status", "format", "virtual-size"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        walk(mb_json_get(v, keys[i]), depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = mb_fuzz_cstr(data, size);
    if (s == NULL)
        return 0;
    long long id;
    char *payload = NULL;
    (void)mb_qmp_classify(s, &id, &payload);
    free(payload);
    if (mb_json_skip(s) != NULL)
        walk(s, 0);
    char *q = mb_json_quote(s);
    if (q == NULL || mb_json_skip(q) == NULL)
        abort(); /* a quoted string is always one JSON value */
    char *back = mb_json_string(q);
    if (back == NULL || strcmp(back, s) != 0)
        abort(); /* and reads back as what was quoted */
    free(back);
    free(q);
    free(s);
    return 0;
}
