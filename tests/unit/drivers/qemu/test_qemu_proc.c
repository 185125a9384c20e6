/* Unit tests for drivers/qemu/qemu_proc.c with ordinary programs (sh, sleep)
 * standing in for QEMU (running qemu-img is core/process.c's): spawning
 * with a clean descriptor table, liveness with and without being the parent,
 * zombies and children. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu_proc.h"
#include "core/clock.h"

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mb-qemu-proc-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_which(void **state)
{
    char *p = mb_qemu_which("sh");
    assert_non_null(p);
    assert_true(p[0] == '/');
    free(p);
    assert_null(mb_qemu_which("no-such-program-for-moonbase"));
    p = mb_qemu_which("/bin/sh");
    assert_string_equal(p, "/bin/sh");
    free(p);
}

static void test_spawn_clean_and_exit_status(void **state)
{
    char log[128];
    snprintf(log, sizeof log, "%s/child.log", tmpdir);
    /* a descriptor without close-on-exec, as an instance lock would be */
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak > 2);
    char probe[64];
    snprintf(probe, sizeof probe, "[ -e /proc/self/fd/%d ] && echo LEAKED; pwd; exit 7", leak);
    char *argv[] = {"sh", "-c", probe, NULL};
    mb_error *err = NULL;
    pid_t pid = mb_qemu_spawn(argv, tmpdir, log, &err);
    assert_true(pid > 0);
    int status = -1;
    for (int k = 0; k < 200 && !mb_qemu_pid_gone(pid, &status); k++)
        mb_clock_sleep(0.01);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    char *text = slurp(log);
    char want[128];
    snprintf(want, sizeof want, "%s\n", tmpdir);
    assert_string_equal(text, want);
    free(text);
    close(leak);

    char *missing[] = {"no-such-program-for-moonbase", NULL};
    assert_int_equal(mb_qemu_spawn(missing, tmpdir, log, &err), -1);
    assert_non_null(strstr(err->message, "cannot run no-such-program-for-moonbase"));
    mb_error_free(err);
}

static void test_liveness_and_zombies(void **state)
{
    char log[128];
    snprintf(log, sizeof log, "%s/sleep.log", tmpdir);
    char *argv[] = {"sleep", "30", NULL};
    pid_t pid = mb_qemu_spawn(argv, tmpdir, log, NULL);
    assert_true(pid > 0);
    assert_false(mb_qemu_pid_gone(pid, NULL));
    assert_true(mb_qemu_pid_matches(pid, "30"));
    assert_false(mb_qemu_pid_matches(pid, "31"));
    assert_false(mb_qemu_wait_gone(pid, 0.1));
    kill(pid, SIGKILL);
    /* dead but not reaped: a zombie never matches */
    for (int k = 0; k < 200 && mb_qemu_pid_matches(pid, "30"); k++)
        mb_clock_sleep(0.01);
    assert_false(mb_qemu_pid_matches(pid, "30"));
    mb_qemu_reap_zombie(pid, "no-match"); /* wrong name: left alone */
    assert_int_equal(kill(pid, 0), 0);
    mb_qemu_reap_zombie(pid, "sleep");
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1); /* reaped already */
    assert_true(mb_qemu_pid_gone(pid, NULL));

    /* not our child: pid 1 is alive, an unused pid is gone */
    assert_false(mb_qemu_pid_gone(1, NULL));
    assert_true(mb_qemu_pid_gone(0, NULL));
}

static void test_children(void **state)
{
    char log[128];
    snprintf(log, sizeof log, "%s/parent.log", tmpdir);
    char *argv[] = {"sh", "-c", "sleep 30 & sleep 30 & wait", NULL};
    pid_t pid = mb_qemu_spawn(argv, tmpdir, log, NULL);
    int n = 0;
    for (int k = 0; k < 300 && (n = mb_qemu_children(pid)) < 2; k++)
        mb_clock_sleep(0.01);
    assert_int_equal(n, 2);
    kill(-pid, SIGKILL); /* its own session and process group */
    assert_true(mb_qemu_wait_gone(pid, 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_which),
        cmocka_unit_test(test_spawn_clean_and_exit_status),
        cmocka_unit_test(test_liveness_and_zombies),
        cmocka_unit_test(test_children),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
