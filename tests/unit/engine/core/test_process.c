/* Unit tests for engine/core/process.c, the one runner: input fed and
 * output captured (large amounts too, both ways at once), exit codes and
 * signals, programs that are missing or exit without reading their input,
 * the environment and working directory, and the clean start every child
 * gets (no inherited descriptors, default signals); /proc/<pid>/stat read
 * past a command name that holds ") ". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/process.h"

static void test_capture(void **state)
{
    struct mb_strbuf out = {0}, err = {0};
    struct mb_process_io io = {.input = "hello\n", .input_len = 6, .out = &out, .err = &err};
    char *argv[] = {"sh", "-c", "cat; echo oops >&2; exit 3", NULL};
    int status = mb_process_run(argv, &io, NULL);
    assert_true(status >= 0);
    assert_int_equal(mb_process_exit_code(status), 3);
    assert_string_equal(out.s, "hello\n");
    assert_string_equal(err.s, "oops\n");
    mb_strbuf_free(&out);
    mb_strbuf_free(&err);
}

/* 4 MB in and out at the same time: neither side may block the other. */
static void test_large_both_ways(void **state)
{
    size_t len = 4 << 20;
    char *in = malloc(len);
    for (size_t i = 0; i < len; i++)
        in[i] = (char)('a' + i % 26);
    struct mb_strbuf out = {0}, err = {0};
    struct mb_process_io io = {.input = in, .input_len = len, .out = &out, .err = &err};
    char *argv[] = {"sh", "-c", "cat; head -c 100000 /dev/zero >&2", NULL};
    int status = mb_process_run(argv, &io, NULL);
    assert_int_equal(mb_process_exit_code(status), 0);
    assert_int_equal(out.n, len);
    assert_memory_equal(out.s, in, len);
    assert_int_equal(err.n, 100000);
    mb_strbuf_free(&out);
    mb_strbuf_free(&err);
    free(in);
}

/* A program that leaves without reading its input is no error, and this
 * process is not killed by SIGPIPE for writing to it. */
static void test_unread_input(void **state)
{
    size_t len = 1 << 20;
    char *in = calloc(1, len);
    struct mb_strbuf out = {0};
    struct mb_process_io io = {.input = in, .input_len = len, .out = &out};
    char *argv[] = {"sh", "-c", "echo bye", NULL};
    int status = mb_process_run(argv, &io, NULL);
    assert_int_equal(mb_process_exit_code(status), 0);
    assert_string_equal(out.s, "bye\n");
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE)); /* nothing left behind */
    mb_strbuf_free(&out);
    free(in);
}

static void test_status_and_missing(void **state)
{
    char *killed[] = {"sh", "-c", "kill -TERM $$", NULL};
    int status = mb_process_run(killed, NULL, NULL);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(mb_process_exit_code(status), 128 + SIGTERM);

    mb_error *err = NULL;
    char *missing[] = {"mb-no-such-program", NULL};
    assert_int_equal(mb_process_run(missing, NULL, &err), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err->message, "cannot run mb-no-such-program"));
    mb_error_free(err);

    err = NULL;
    char *pwd[] = {"pwd", NULL};
    struct mb_process_io io = {.cwd = "/nonexistent-dir-for-moonbase"};
    assert_int_equal(mb_process_run(pwd, &io, &err), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err->message, "cannot run pwd in /nonexistent-dir-for-moonbase"));
    mb_error_free(err);
}

static void test_env_and_cwd(void **state)
{
    struct mb_strbuf out = {0};
    char *envp[] = {"GREETING=hi there", "PATH=/usr/bin:/bin", NULL};
    struct mb_process_io io = {.out = &out, .cwd = "/tmp", .envp = envp};
    char *argv[] = {"sh", "-c", "echo \"$GREETING\" $(pwd) ${HOME:-nohome}", NULL};
    assert_int_equal(mb_process_exit_code(mb_process_run(argv, &io, NULL)), 0);
    assert_string_equal(out.s, "hi there /tmp nohome\n");
    mb_strbuf_free(&out);
}

/* The child inherits no descriptor but 0-2 (even one without O_CLOEXEC, as
 * flock(1) leaves its lock), and SIGPIPE/SIGINT are back to their defaults. */
static void test_clean_child(void **state)
{
    /* no O_CLOEXEC; far above what sh opens itself (its pipes are 3, 4...,
     * still open in the shell while ls lists them) */
    int null = open("/dev/null", O_RDONLY);
    int leaked = fcntl(null, F_DUPFD, 200);
    close(null);
    assert_true(leaked >= 200);
    signal(SIGINT, SIG_IGN);
    struct mb_strbuf out = {0};
    struct mb_process_io io = {.out = &out};
    char *argv[] = {"sh", "-c",
                    "ls /proc/$$/fd | sort -n | tr '\\n' ' '; grep SigIgn /proc/$$/status", NULL};
    assert_int_equal(mb_process_exit_code(mb_process_run(argv, &io, NULL)), 0);
    /* sh's own 0 1 2 (and whatever sh opens itself, below 10) */
    char want[32];
    snprintf(want, sizeof want, " %d ", leaked);
    assert_null(strstr(out.s, want));
    assert_non_null(strstr(out.s, "SigIgn:\t0000000000000000"));
    signal(SIGINT, SIG_DFL);
    close(leaked);
    mb_strbuf_free(&out);
}

static void test_capture_ok_or_error(void **state)
{
    char *out = NULL;
    mb_error *err = NULL;
    char *ok[] = {"sh", "-c", "echo out; echo noise >&2", NULL};
    assert_true(mb_process_capture(ok, &out, &err));
    assert_string_equal(out, "out\n");
    free(out);

    char *bad[] = {"sh", "-c", "echo partial; echo 'qemu-img: it broke' >&2; exit 3", NULL};
    assert_false(mb_process_capture(bad, &out, &err));
    assert_int_equal(err->code, MB_ERR_FAILED);
    assert_string_equal(err->message, "`sh -c` failed (exit status 3): qemu-img: it broke");
    mb_error_free(err);
    err = NULL;

    char *missing[] = {"no-such-program-for-moonbase", NULL};
    assert_false(mb_process_capture(missing, NULL, &err));
    assert_non_null(strstr(err->message, "cannot run no-such-program-for-moonbase"));
    mb_error_free(err);
}

/* The state letter and the parent, for a running process, a zombie whose
 * name holds ") (" and a process that is gone. */
static void test_stat(void **state)
{
    (void)state;
    char buf[512];
    const char *f = mb_process_stat(getpid(), buf, sizeof buf);
    assert_non_null(f);
    assert_int_equal(f[0], 'R');
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        prctl(PR_SET_NAME, "a) Z (b", 0, 0, 0);
        (void)!write(pipefd[1], "x", 1);
        _exit(0);
    }
    char c;
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    for (int i = 0; i < 200; i++) { /* until it is a zombie */
        f = mb_process_stat(child, buf, sizeof buf);
        if (f && f[0] == 'Z')
            break;
        usleep(10000);
    }
    assert_non_null(f);
    assert_int_equal(f[0], 'Z');
    assert_non_null(strstr(buf, "(a) Z (b)"));
    int ppid = 0;
    assert_int_equal(sscanf(f + 1, " %d", &ppid), 1);
    assert_int_equal(ppid, getpid());
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_null(mb_process_stat(child, buf, sizeof buf)); /* gone */
    assert_null(mb_process_stat(0, buf, sizeof buf));
    assert_null(mb_process_stat(-1, buf, sizeof buf));
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_large_both_ways),
        cmocka_unit_test(test_unread_input),
        cmocka_unit_test(test_status_and_missing),
        cmocka_unit_test(test_env_and_cwd),
        cmocka_unit_test(test_clean_child),
        cmocka_unit_test(test_capture_ok_or_error),
        cmocka_unit_test(test_stat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
