/* libFuzzer target: the ISO writer (engine/iso) given any volume id, file
 * names and contents: it writes an image or refuses with an error, and
 * never writes outside its path or leaves its temporary file behind. */
#include <stdint.h>

#include "fuzz_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iso/iso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/mb-fuzz-iso-%d.iso", (int)getpid());
    /* fields separated by NUL: volume id, then name/content pairs */
    char *buf = mb_fuzz_cstr(data, size);
    if (buf == NULL)
        return 0;
    const char *fields[17];
    size_t lens[17], n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 17; i++) {
        if (i == size || buf[i] == '\0') {
            fields[n] = buf + start;
            lens[n++] = i - start;
            start = i + 1;
        }
    }
    struct mb_iso_file files[8];
    size_t nf = 0;
    for (size_t k = 1; k + 1 < n && nf < 8; k += 2)
        files[nf++] = (struct mb_iso_file){fields[k], fields[k + 1], lens[k + 1]};
    mb_error *err = NULL;
    if (!mb_iso_write(path, n > 0 ? fields[0] : "", files, nf, &err)) {
        if (err == NULL)
            abort();
        mb_error_free(err);
    }
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    if (access(tmp, F_OK) == 0)
        abort(); /* a temporary file left behind */
    unlink(path);
    free(buf);
    return 0;
}
