/* mb_qemu_qcow2_backing (drivers/qemu/qemu_img.c): the backing file and its
 * format read from a qcow2 header say what `qemu-img info` says
 * (full-backing-filename, backing-filename-format) for overlays qemu-img
 * makes: an absolute and a relative backing path, a raw and a qcow2 base,
 * no format recorded; a file that is no overlay is refused, not read past. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "drivers/qemu/qemu_img.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-test-qimg-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    return mb_fs_rmtree(dir, NULL) ? 0 : -1;
}

static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* what qemu-img info says of path's key ("" when it says nothing) */
static char *info(const char *path, const char *key)
{
    char cmd[512], *out = calloc(1, 1024);
    snprintf(cmd, sizeof cmd, "cd / && qemu-img info --output=json '%s' | "
             "sed -n 's/^ *\"%s\": \"\\(.*\\)\",*$/\\1/p'", path, key);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, 1023, p);
    pclose(p);
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static void same_as_qemu_img(const char *path)
{
    char *b = NULL, *f = NULL;
    mb_error *err = NULL;
    assert_true(mb_qemu_qcow2_backing(path, &b, &f, &err));
    char *want_b = info(path, "full-backing-filename");
    char *want_f = info(path, "backing-filename-format");
    assert_string_equal(b, want_b);
    assert_string_equal(f, want_f[0] ? want_f : "qcow2");
    free(want_b);
    free(want_f);
    free(b);
    free(f);
}

static void test_overlays(void **state)
{
    if (access("/usr/bin/qemu-img", X_OK) != 0) {
        skip();
        return;
    }
    sh("cd %s && qemu-img create -q -f qcow2 base.qcow2 16M && qemu-img create -q -f raw base.raw 8M"
       " && qemu-img create -q -f qcow2 -F qcow2 -b %s/base.qcow2 abs.qcow2"
       " && qemu-img create -q -f qcow2 -F raw -b base.raw rel.qcow2"
       " && mkdir -p sub && qemu-img create -q -f qcow2 -F qcow2 -b ../base.qcow2 sub/up.qcow2"
       " && qemu-img create -q -f qcow2 -o compat=0.10 -F qcow2 -b %s/base.qcow2 v2.qcow2",
       dir, dir, dir);
    const char *names[] = {"abs.qcow2", "rel.qcow2", "sub/up.qcow2", "v2.qcow2"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[k]);
        same_as_qemu_img(p);
    }
}

static void test_refused(void **state)
{
    char p[128], *b = (char *)1, *f = (char *)1;
    mb_error *err = NULL;
    snprintf(p, sizeof p, "%s/plain", dir);
    assert_true(mb_fs_write_atomic(p, "QFI", 3, 0600, NULL));
    assert_false(mb_qemu_qcow2_backing(p, &b, &f, &err));
    assert_null(b);
    assert_null(f);
    assert_non_null(strstr(err->message, "is not a qcow2 image"));
    mb_error_free(err);
    err = NULL;
    if (access("/usr/bin/qemu-img", X_OK) == 0) {
        sh("cd %s && qemu-img create -q -f qcow2 lone.qcow2 1M", dir);
        snprintf(p, sizeof p, "%s/lone.qcow2", dir);
        assert_false(mb_qemu_qcow2_backing(p, &b, &f, &err));
        assert_non_null(strstr(err->message, "is not an overlay (no backing file)"));
        mb_error_free(err);
        err = NULL;
    }
    /* a backing name that points past what was read: refused */
    unsigned char h[128] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 2};
    h[15] = 100;             /* backing_file_offset 100 */
    h[18] = 0x10, h[19] = 0; /* backing_file_size 4096 */
    snprintf(p, sizeof p, "%s/cut.qcow2", dir);
    assert_true(mb_fs_write_atomic(p, h, sizeof h, 0600, NULL));
    assert_false(mb_qemu_qcow2_backing(p, &b, &f, &err));
    assert_non_null(strstr(err->message, "is not one moonbase reads"));
    mb_error_free(err);
    snprintf(p, sizeof p, "%s/missing.qcow2", dir);
    err = NULL;
    assert_false(mb_qemu_qcow2_backing(p, &b, &f, &err));
    mb_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_overlays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
