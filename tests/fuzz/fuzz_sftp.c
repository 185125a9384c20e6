/* libFuzzer target: the SFTP server (engine/sftp) fed a sequence of packets
 * as a hostile guest would send them: each input is split into packets by a
 * 2-byte length prefix; the server runs on a scratch share (read-only or not
 * by the first byte) outside of which nothing may change. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sftp/sftp_server.h"

static char share[64], outside[80];

static void setup(void)
{
    if (share[0])
        return;
    snprintf(share, sizeof share, "/tmp/mb-fuzz-sftp-%d", (int)getpid());
    snprintf(outside, sizeof outside, "%s-outside", share);
    mkdir(share, 0755);
    FILE *f = fopen(outside, "w");
    if (f) {
        fputs("outside\n", f);
        fclose(f);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/file.txt", share);
    if ((f = fopen(p, "w")) != NULL) {
        fputs("hello\n", f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/esc", share);
    (void)!symlink(outside, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1)
        return 0;
    struct mb_sftp_server_opts o = {.root = share, .readonly = data[0] & 1};
    mb_error *err = NULL;
    mb_sftp_server *s = mb_sftp_server_new(&o, (data[0] & 2) ? MB_SFTP_WALK : 0, &err);
    if (s == NULL) {
        mb_error_free(err);
        return 0;
    }
    struct mb_strbuf out = {0};
    size_t i = 1;
    while (i + 2 <= size) {
        size_t n = (size_t)data[i] << 8 | data[i + 1];
        i += 2;
        if (n > size - i)
            n = size - i;
        if (!mb_sftp_server_handle(s, data + i, n, &out, &err)) {
            mb_error_free(err);
            err = NULL;
            break;
        }
        i += n;
        out.n = 0;
    }
    mb_strbuf_free(&out);
    mb_sftp_server_free(s);
    /* the file outside the share is untouched */
    struct stat st;
    if (stat(outside, &st) != 0 || st.st_size != 8 || (st.st_mode & 07000))
        abort();
    return 0;
}
