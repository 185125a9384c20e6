/* Unit tests for engine/core/kvm.c: what is not a working KVM is never
 * called usable, the verdict is kept for this boot only, and a damaged or
 * stale record is probed again. The real /dev/kvm, where there is one, must
 * get a verdict within the probe's budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/kvm.h"

static char dir[256], cache[300];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/mb-test-kvm-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(cache, sizeof cache, "%s/kvm.probe", dir);
    return 0;
}

static int teardown(void **state)
{
    return mb_fs_rmtree(dir, NULL) ? 0 : -1;
}

static void test_not_kvm(void **state)
{
    long ms = 0;
    assert_int_equal(mb_kvm_probe("/nonexistent/kvm", &ms), MB_KVM_ABSENT);
    assert_int_equal(ms, -1);
    /* opens, but no KVM answers its ioctls */
    assert_int_equal(mb_kvm_probe("/dev/null", &ms), MB_KVM_BROKEN);
    char file[300];
    snprintf(file, sizeof file, "%s/plain", dir);
    assert_true(mb_fs_write_atomic(file, "x", 1, 0600, NULL));
    assert_int_equal(mb_kvm_probe(file, &ms), MB_KVM_BROKEN);
    assert_string_equal(mb_kvm_word(MB_KVM_BROKEN), "broken");
    assert_string_equal(mb_kvm_describe(MB_KVM_ABSENT), "no usable /dev/kvm");
}

static void test_kept_for_this_boot(void **state)
{
    /* absent: nothing to keep */
    assert_int_equal(mb_kvm_check("/nonexistent/kvm", cache), MB_KVM_ABSENT);
    assert_int_equal(access(cache, F_OK), -1);
    assert_int_equal(mb_kvm_check("/dev/null", cache), MB_KVM_BROKEN);
    char *s = mb_fs_read(cache, NULL, NULL);
    char *id = mb_fs_read("/proc/sys/kernel/random/boot_id", NULL, NULL);
    assert_non_null(s);
    assert_non_null(id);
    id[strcspn(id, "\n")] = '\0';
    assert_memory_equal(s, id, strlen(id));
    assert_non_null(strstr(s, " broken "));
    free(s);
    /* this boot's record is believed */
    char line[200];
    snprintf(line, sizeof line, "%s slow -1\n", id);
    assert_true(mb_fs_write_atomic(cache, line, strlen(line), 0600, NULL));
    assert_int_equal(mb_kvm_check("/dev/null", cache), MB_KVM_SLOW);
    /* another boot's, or a damaged one, is probed again and replaced */
    const char *stale[] = {"00000000-0000-0000-0000-000000000000 usable 3\n", "usable\n",
                           "", "\x01\x02 garbage"};
    for (size_t k = 0; k < sizeof stale / sizeof *stale; k++) {
        assert_true(mb_fs_write_atomic(cache, stale[k], strlen(stale[k]), 0600, NULL));
        assert_int_equal(mb_kvm_check("/dev/null", cache), MB_KVM_BROKEN);
        s = mb_fs_read(cache, NULL, NULL);
        assert_non_null(strstr(s, " broken "));
        free(s);
    }
    /* the folder gone: still an answer, nothing kept */
    char gone[400];
    snprintf(gone, sizeof gone, "%s/missing/kvm.probe", dir);
    assert_int_equal(mb_kvm_check("/dev/null", gone), MB_KVM_BROKEN);
    free(id);
}

static void test_real_device(void **state)
{
    if (access("/dev/kvm", F_OK) != 0) {
        skip();
        return;
    }
    long ms = 0;
    double t0 = mb_clock_now();
    enum mb_kvm_verdict v = mb_kvm_probe("/dev/kvm", &ms);
    double took = mb_clock_now() - t0;
    print_message("/dev/kvm: %s (%ld ms, %.0f ms in all)\n", mb_kvm_word(v), ms, took * 1000);
    /* a hang is cut at the budget: the probe never holds a command up for long */
    assert_true(took < 5);
    if (v == MB_KVM_USABLE)
        assert_true(ms >= 0 && ms <= MB_KVM_PROBE_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_not_kvm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_for_this_boot, setup, teardown),
        cmocka_unit_test(test_real_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
