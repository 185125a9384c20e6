/* A small QMP client (QEMU Machine Protocol) over QEMU's unix socket: read
 * the greeting, negotiate capabilities, run one command at a time and wait
 * for its reply, skipping the asynchronous events QEMU sends in between.
 * QMP messages are one JSON object per line. */
#ifndef MB_QMP_H
#define MB_QMP_H

#include <stdbool.h>

#include "core/error.h"

struct mb_qmp;

/* Connects to the QMP socket at path and negotiates capabilities, all within
 * timeout seconds. A path too long for sun_path is reached through its
 * directory (/proc/self/fd/N/<name>). */
struct mb_qmp *mb_qmp_connect(const char *path, double timeout, mb_error **err);
/* The same over an already connected socket (tests use a socketpair). Takes
 * ownership of fd, also on failure. */
struct mb_qmp *mb_qmp_open_fd(int fd, const char *what, double timeout, mb_error **err);
/* Runs `command` with `args_json` (a JSON object text, or NULL) and returns
 * the JSON text of its "return" value (caller frees). A QMP error becomes
 * MB_ERR_FAILED with QEMU's class and description; no reply within timeout
 * seconds is MB_ERR_TIMEOUT. */
char *mb_qmp_execute(struct mb_qmp *q, const char *command, const char *args_json,
                     double timeout, mb_error **err);
void mb_qmp_free(struct mb_qmp *q);

/* What one QMP line is. */
enum mb_qmp_kind {
    MB_QMP_INVALID = 0,
    MB_QMP_GREETING, /* {"QMP": {...}} */
    MB_QMP_EVENT,    /* {"event": NAME, ...}: *payload = NAME */
    MB_QMP_RETURN,   /* {"return": V, "id": N}: *payload = the text of V */
    MB_QMP_ERROR,    /* {"error": {"class", "desc"}, "id": N}: *payload = "class: desc" */
};
/* Classifies one message; *id gets its "id" (-1 when absent or not an
 * integer); *payload (caller frees) as above, NULL for GREETING/INVALID. */
enum mb_qmp_kind mb_qmp_classify(const char *line, long long *id, char **payload);

#endif
