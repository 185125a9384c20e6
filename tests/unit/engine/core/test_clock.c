/* Unit tests for engine/core/clock.c: the monotonic clock in seconds and in
 * milliseconds agree and move forward, and sleeps last as long as asked,
 * signals or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include "core/clock.h"

static void test_monotonic(void **state)
{
    double s0 = mb_clock_now();
    int64_t m0 = mb_clock_ms();
    assert_true(s0 > 0);
    /* the same clock: both readings within 50 ms of each other */
    assert_true(m0 - (int64_t)(s0 * 1000) >= 0 && m0 - (int64_t)(s0 * 1000) < 50);
    double prev = s0;
    for (int i = 0; i < 1000; i++) {
        double t = mb_clock_now();
        assert_true(t >= prev);
        prev = t;
    }
}

static void test_sleep(void **state)
{
    double t0 = mb_clock_now();
    mb_clock_sleep(0.05);
    double took = mb_clock_now() - t0;
    assert_true(took >= 0.05);
    assert_true(took < 2); /* generous: the machine may be busy */
    t0 = mb_clock_now();
    mb_clock_sleep(0);
    mb_clock_sleep(-1);
    assert_true(mb_clock_now() - t0 < 0.5);
}

static void on_alarm(int sig) { (void)sig; }

/* A signal in the middle of a sleep does not cut it short. */
static void test_sleep_through_signals(void **state)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: nanosleep returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}}; /* every 10 ms */
    setitimer(ITIMER_REAL, &it, NULL);
    int64_t t0 = mb_clock_ms();
    mb_clock_sleep(0.2);
    int64_t took = mb_clock_ms() - t0;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    assert_true(took >= 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_sleep),
        cmocka_unit_test(test_sleep_through_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
