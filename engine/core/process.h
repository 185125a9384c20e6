/* Running other programs, without a shell: qemu-img, nft, the commands of
 * moonbase.engine.process. One runner feeds a program its input and captures
 * its output and errors (mb_process_run); every child moonbase starts gets
 * the same clean start (mb_process_child_reset). */
#ifndef MB_PROCESS_H
#define MB_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"
#include "core/strbuf.h"

/* In a child between fork and exec: default signal dispositions, an empty
 * signal mask, and no open descriptor above 2 but keep_fd (-1: none), so a
 * program never inherits moonbase's sockets or locks. Only
 * async-signal-safe calls. */
void mb_process_child_reset(int keep_fd);

struct mb_process_io {
    const char *input;   /* fed to stdin, then closed; NULL: stdin is /dev/null */
    size_t input_len;
    struct mb_strbuf *out; /* stdout captured here; NULL: to /dev/null */
    struct mb_strbuf *err; /* stderr captured here; NULL: to /dev/null... */
    bool inherit_err;      /* ...unless it stays this process's stderr */
    const char *cwd;       /* NULL: this process's */
    char *const *envp;     /* NULL: this process's environment */
    void (*child_setup)(void); /* run in the child before exec (async-signal-safe) */
};

/* Runs argv (argv[0] looked up on PATH) to completion with io (NULL: all
 * defaults). Returns its wait status (>= 0, see mb_process_exit_code), or -1
 * with err set ("cannot run NAME: reason", or "cannot run NAME in CWD:
 * reason") and errno left saying why (ENOENT: not installed, or no such
 * directory). Output that does not fit in memory sets the buffer's oom; a
 * program that exits without reading its input is not an error. */
int mb_process_run(char *const argv[], const struct mb_process_io *io, mb_error **err);

/* For callers that fork and exec themselves: in the child, after a failed
 * exec, write errno to a close-on-exec pipe and _exit(127); the parent
 * reads it here (0: the exec succeeded and the pipe just closed). */
int mb_process_exec_errno(int fd);

/* A wait status as a shell shows it: the exit code, 128 + the signal. */
int mb_process_exit_code(int status);

/* Runs argv with stdin /dev/null; true when it exits 0, with its stdout in
 * *out if out is not NULL (caller frees). Otherwise err names the command
 * and carries its stderr: "`qemu-img create` failed (exit status 1): ...". */
bool mb_process_capture(char *const argv[], char **out, mb_error **err);

/* Reads /proc/<pid>/stat into buf (size bytes; 512 holds what callers use).
 * Returns where its third field starts (the state letter: 'R', 'S', 'Z' for
 * a zombie, ...; fields follow separated by spaces, see proc(5)), past the
 * command name, which may hold spaces and parentheses; NULL when the process
 * is gone or pid is not positive. */
const char *mb_process_stat(pid_t pid, char *buf, size_t size);

#endif
