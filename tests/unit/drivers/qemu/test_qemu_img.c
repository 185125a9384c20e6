/* mb_qemu_qcow2_backing (drivers/qemu/qemu_img.c): the backing file and its
 * format read from a qcow2 header say what `qemu-img info` says
 * (full-backing-filename, backing-filename-format) for overlays qemu-img
 * makes: an absolute and a relative backing path, a raw and a qcow2 base,
 * no format recorded; a file that is no overlay is refused, not read past.
 * mb_qemu_img_copy_overlay: a clone's disk holds the source's data on the same
 * base, whichever way it is made (a byte copy of a plain overlay, qemu-img for
 * one with internal snapshots, which the clone must not get), and a copy keeps
 * the source's holes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static long long allocated(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long long)st.st_blocks * 512;
}

static long long size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long long)st.st_size;
}

static void test_copy_overlay(void **state)
{
    char base[128], src[128], dst[128], dst2[128], rel[128];
    snprintf(base, sizeof base, "%s/base.qcow2", dir);
    snprintf(src, sizeof src, "%s/src.qcow2", dir);
    snprintf(dst, sizeof dst, "%s/dst.qcow2", dir);
    snprintf(dst2, sizeof dst2, "%s/dst2.qcow2", dir);
    snprintf(rel, sizeof rel, "%s/rel.qcow2", dir);
    sh("qemu-img create -q -f qcow2 %s 1G && qemu-io -f qcow2 -c 'write -P 7 0 4M' %s >/dev/null",
       base, base);
    sh("qemu-img create -q -f qcow2 -F qcow2 -b %s %s", base, src);
    sh("qemu-io -f qcow2 -c 'write -P 9 1M 2M' -c 'write -P 3 700M 8M' %s >/dev/null", src);
    mb_error *err = NULL;
    /* a plain overlay: copied as it is (byte for byte), holes kept */
    assert_true(mb_qemu_img_copy_overlay(src, dst, &err));
    assert_null(err);
    assert_int_equal(size_of(dst), size_of(src));
    sh("cmp -s %s %s", src, dst);
    sh("qemu-img compare -q %s %s", src, dst);
    sh("qemu-img check -q %s", dst);
    char *b = info(dst, "full-backing-filename");
    assert_string_equal(b, base);
    free(b);
    assert_true(allocated(dst) <= allocated(src) + 65536);
    assert_true(allocated(dst) < 64LL << 20); /* not the 1 GiB it could be */
    /* an existing disk is never replaced */
    assert_false(mb_qemu_img_copy_overlay(src, dst, &err));
    assert_int_equal(err->code, MB_ERR_EXISTS);
    mb_error_free(err);
    err = NULL;
    /* with an internal snapshot: the data, not the snapshot */
    sh("qemu-img snapshot -c s1 %s && qemu-io -f qcow2 -c 'write -P 5 2M 1M' %s >/dev/null",
       src, src);
    assert_true(mb_qemu_img_copy_overlay(src, dst2, &err));
    sh("qemu-img compare -q %s %s", src, dst2);
    sh("test -z \"$(qemu-img snapshot -l %s)\"", dst2);
    sh("qemu-img snapshot -l %s | grep -q s1", src);
    /* a relative backing path still names the base from the clone's folder */
    sh("cd %s && qemu-img create -q -f qcow2 -F qcow2 -b base.qcow2 rel-src.qcow2", dir);
    char relsrc[128];
    snprintf(relsrc, sizeof relsrc, "%s/rel-src.qcow2", dir);
    assert_true(mb_qemu_img_copy_overlay(relsrc, rel, &err));
    sh("qemu-img compare -q %s %s", relsrc, rel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_overlays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_overlay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
