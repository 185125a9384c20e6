/* Processes for the QEMU driver: launching QEMU itself, and telling whether a
 * QEMU is still alive whether or not we are its parent. No shell anywhere;
 * qemu-img and other helpers run through core/process.h. */
#ifndef MB_QEMU_PROC_H
#define MB_QEMU_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/error.h"

/* The full path of prog found on PATH, or NULL. Caller frees. */
char *mb_qemu_which(const char *prog);

/* Starts argv as a child in its own session, working directory cwd, stdin
 * /dev/null, stdout and stderr to the file log (truncated), no other
 * descriptors. Returns its pid, or -1 if it could not be executed. */
pid_t mb_qemu_spawn(char *const argv[], const char *cwd, const char *log, mb_error **err);

/* True once pid is gone: reaped here if it is our child, otherwise absent or
 * a zombie of some other parent. *status (if not NULL) gets the wait status
 * when we reaped it, else -1. */
bool mb_qemu_pid_gone(pid_t pid, int *status);
/* Waits (polling) up to timeout seconds for mb_qemu_pid_gone. */
bool mb_qemu_wait_gone(pid_t pid, double timeout);

/* If pid is a zombie whose name starts with comm_prefix and our child, reaps
 * it (waitpid WNOHANG). A QEMU that died under its parent is collected by
 * the next driver call that looks at it. */
void mb_qemu_reap_zombie(pid_t pid, const char *comm_prefix);

/* Whether pid is alive (not a zombie) and its /proc/<pid>/cmdline has an
 * argument equal to `marker` (how an instance's QEMU is recognised). */
bool mb_qemu_pid_matches(pid_t pid, const char *marker);

/* The CPU time (user + system, ns) and resident memory (bytes) of process pid,
 * from /proc; false (the error names pid) when it is gone. */
bool mb_qemu_pid_usage(pid_t pid, uint64_t *cpu_ns, uint64_t *rss_bytes, mb_error **err);

/* How many processes have pid as their parent (QEMU's helpers, such as the
 * `cat` of an exec: migration). */
int mb_qemu_children(pid_t pid);

#endif
