/* What moonbase does, said as it does it: `moonbase -v` (and -vv, --debug)
 * on stderr, or MOONBASE_LOG=LEVEL[:FILE] for processes nobody passes a flag
 * to (instance agents, recipe workers). The engine's half of moonbase.log
 * (lua/moonbase/log.lua): both write through here, so the lines of one run
 * come in one order and one shape. Off (and nearly free) unless a level is
 * set. */
#ifndef MB_LOG_H
#define MB_LOG_H

#include <stdbool.h>

enum {
    MB_LOG_OFF = 0,
    MB_LOG_STEPS = 1, /* -v: each step, driver call, command line (QEMU's) */
    MB_LOG_MORE = 2,  /* -vv: libvirt XML, SSH steps, driver queries */
    MB_LOG_DEBUG = 3, /* --debug: everything */
};

/* Sets the level and where lines go (path NULL: stderr; a file is appended
 * to). The first call to anything here reads MOONBASE_LOG when nobody set it. */
void mb_log_set(int level, const char *path);
int mb_log_level(void);
bool mb_log_on(int level);
/* One line at a level, printf-style. */
void mb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A command line, quoted so a shell takes it back: "what: argv..." */
void mb_log_argv(int level, const char *what, char *const argv[]);
/* Text of several lines (an XML document), each line indented under what. */
void mb_log_text(int level, const char *what, const char *text);

#endif
