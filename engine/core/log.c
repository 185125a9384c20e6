/* mb_log: see log.h. Lines on stderr are "* SECONDS message" (seconds since
 * the level was set); in a file they are "ISO-TIME moonbase[PID] message", so
 * the lines of the CLI, its agents and workers can share one file. */
#include "core/log.h"
#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int level = -1; /* -1: not read from MOONBASE_LOG yet */
static FILE *sink;     /* NULL: stderr */
static double t0; /* mb_clock_now() when logging was set up */

/* "2", "debug", "verbose:/tmp/x.log" -> level, and the file after ':' */
static int parse(const char *spec, const char **path)
{
    *path = NULL;
    if (spec == NULL || *spec == '\0')
        return MB_LOG_OFF;
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (colon && colon[1] != '\0')
        *path = colon + 1;
    static const struct { const char *name; int level; } names[] = {
        {"0", 0}, {"1", 1}, {"2", 2}, {"3", 3}, {"off", 0}, {"verbose", 1}, {"info", 1},
        {"more", 2}, {"debug", 3},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k].name) == n && strncmp(names[k].name, spec, n) == 0)
            return names[k].level;
    return MB_LOG_OFF;
}

void mb_log_set(int lvl, const char *path)
{
    if (sink)
        fclose(sink);
    sink = NULL;
    level = lvl < 0 ? 0 : lvl > MB_LOG_DEBUG ? MB_LOG_DEBUG : lvl;
    if (level > 0 && path && *path) {
        sink = fopen(path, "ae");
        if (sink)
            setvbuf(sink, NULL, _IOLBF, 0);
    }
    t0 = mb_clock_now();
}

int mb_log_level(void)
{
    if (level < 0) {
        const char *path;
        int l = parse(getenv("MOONBASE_LOG"), &path);
        mb_log_set(l, path);
    }
    return level;
}

bool mb_log_on(int lvl)
{
    return mb_log_level() >= lvl && lvl > MB_LOG_OFF;
}

static void put(const char *msg)
{
    if (sink) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        struct tm tm;
        char when[32];
        gmtime_r(&now.tv_sec, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf(sink, "%s.%03ldZ moonbase[%d] %s\n", when, now.tv_nsec / 1000000,
                (int)getpid(), msg);
        return;
    }
    fprintf(stderr, "* %.3f %s\n", mb_clock_now() - t0, msg);
}

void mb_log(int lvl, const char *fmt, ...)
{
    if (!mb_log_on(lvl))
        return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(buf);
}

/* appends s to buf (of size n, holding len bytes), quoted for a shell when needed */
static size_t add_word(char *buf, size_t n, size_t len, const char *s)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789%+,./:=@_-",
                    *p))
            plain = false;
    if (len && len + 1 < n)
        buf[len++] = ' ';
    if (plain) {
        for (const char *p = s; *p && len + 1 < n; p++)
            buf[len++] = *p;
    } else {
        if (len + 1 < n)
            buf[len++] = '\'';
        for (const char *p = s; *p && len + 4 < n; p++) {
            if (*p == '\'') {
                memcpy(buf + len, "'\\''", 4);
                len += 4;
            } else {
                buf[len++] = *p;
            }
        }
        if (len + 1 < n)
            buf[len++] = '\'';
    }
    buf[len] = '\0';
    return len;
}

void mb_log_argv(int lvl, const char *what, char *const argv[])
{
    if (!mb_log_on(lvl) || argv == NULL)
        return;
    char buf[8192];
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s:", what);
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    for (char *const *a = argv; *a; a++)
        len = add_word(buf, sizeof buf, len, *a);
    put(buf);
}

void mb_log_text(int lvl, const char *what, const char *text)
{
    if (!mb_log_on(lvl) || text == NULL)
        return;
    mb_log(lvl, "%s:", what);
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        mb_log(lvl, "    %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}
