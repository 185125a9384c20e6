/* The qcow2 snapshot table reader of drivers/libvirt/libvirt_lend.c (what
 * lists the snapshots of a disk lent to libvirt's pool by copy): on images
 * qemu-img makes, it gives what qemu-img info gives; a file that is not
 * qcow2 and a cut table are refused, not read past. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/libvirt/libvirt_lend.h"
#include "drivers/qemu/qemu_img.h"

static char dir[64], img[128];

static bool read_file(void *ctx, uint64_t off, size_t len, void *buf, size_t *got,
                      mb_error **err)
{
    int fd = *(int *)ctx;
    ssize_t r = pread(fd, buf, len, (off_t)off);
    if (r < 0) {
        mb_error_set(err, MB_ERR_FAILED, "pread failed");
        return false;
    }
    *got = (size_t)r;
    return true;
}

static void sh(const char *fmt, const char *arg)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, fmt, arg, arg);
    assert_int_equal(0, system(cmd));
}

static struct mb_snapshot *read_snapshots(const char *path, mb_error **err)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct mb_snapshot *v = mb_libvirt_qcow2_snapshots(read_file, &fd, err);
    close(fd);
    return v;
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-lend-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(img, sizeof img, "%s/disk.qcow2", dir);
    return 0;
}

static int teardown(void **state)
{
    sh("rm -rf %s", dir);
    return 0;
}

static void test_no_snapshots(void **state)
{
    mb_error *err = NULL;
    sh("qemu-img create -q -f qcow2 %s 64M", img);
    struct mb_snapshot *v = read_snapshots(img, &err);
    assert_null(err);
    assert_non_null(v);
    assert_null(v[0].name);
    mb_snapshots_free(v);
}

/* The names (odd lengths: padding), order and dates qemu-img info says. */
static void test_same_as_qemu_img(void **state)
{
    mb_error *err = NULL;
    sh("qemu-img create -q -f qcow2 %s 64M", img);
    const char *names[] = {"a", "mb-0123456789", "third-one"};
    for (size_t k = 0; k < 3; k++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "qemu-img snapshot -c %s %s", names[k], img);
        assert_int_equal(0, system(cmd));
    }
    struct mb_qemu_img_info info;
    assert_true(mb_qemu_img_info(img, true, &info, &err));
    struct mb_snapshot *v = read_snapshots(img, &err);
    assert_null(err);
    size_t n = 0;
    for (; info.snapshots[n].name; n++) {
        assert_non_null(v[n].name);
        assert_string_equal(info.snapshots[n].name, v[n].name);
        assert_string_equal(names[n], v[n].name);
        assert_int_equal(info.snapshots[n].created, v[n].created);
        assert_int_equal(info.snapshots[n].memory, v[n].memory);
        assert_int_equal(info.snapshots[n].size, v[n].size);
    }
    assert_int_equal(3, n);
    assert_null(v[3].name);
    mb_snapshots_free(v);
    mb_qemu_img_info_clear(&info);
}

static void test_refuses_bad_files(void **state)
{
    mb_error *err = NULL;
    char raw[160];
    snprintf(raw, sizeof raw, "%s/raw.img", dir);
    sh("qemu-img create -q -f raw %s 1M", raw);
    assert_null(read_snapshots(raw, &err));
    assert_non_null(err);
    assert_non_null(strstr(err->message, "not a qcow2 image"));
    mb_error_free(err);
    err = NULL;

    /* the table cut short: the header still counts the snapshot */
    sh("qemu-img create -q -f qcow2 %s 64M && qemu-img snapshot -c s1 %s", img);
    int fd = open(img, O_RDONLY);
    unsigned char h[72];
    assert_int_equal(sizeof h, pread(fd, h, sizeof h, 0));
    close(fd);
    uint64_t off = 0;
    for (int k = 64; k < 72; k++)
        off = off << 8 | h[k];
    assert_int_equal(0, truncate(img, (off_t)off + 20));
    assert_null(read_snapshots(img, &err));
    assert_non_null(err);
    assert_non_null(strstr(err->message, "damaged"));
    mb_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_as_qemu_img, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
