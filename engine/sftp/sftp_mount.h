/* Classic mounts, the agent's side: for each one, sshfs runs in the guest in
 * passive mode (-o slave: SFTP on its stdin/stdout) on an exec channel of an
 * SSH session of its own, and this process answers its requests with the
 * confined SFTP server (sftp_server.h). Two threads per mount: one pumps the
 * channel to a socketpair, one serves the other end. A mount lives until
 * sshfs exits (unmounted in the guest, or the guest goes away). */
#ifndef MB_SFTP_MOUNT_H
#define MB_SFTP_MOUNT_H

#include <stdbool.h>

#include "core/error.h"
#include "ssh/ssh.h"

struct mb_sftp_mount_req {
    const char *root;     /* the host folder */
    const char *target;   /* the guest path: names the mount */
    const char *command;  /* guest shell command that execs sshfs -o slave ... */
    const char *check;    /* guest shell command: status 0 once the mount is up */
    bool readonly;        /* refused on the host side too */
    const char *uid_map;  /* "HOST:GUEST,...", or NULL */
    const char *gid_map;
    double timeout;       /* seconds to wait for the mount; <= 0: 30 */
};

/* Where mounts get their SSH sessions: get one (a new connection or an idle
 * one), and give it back when the mount ends (healthy = reusable). */
typedef mb_ssh *(*mb_sftp_session_get)(void *ud, mb_error **err);
typedef void (*mb_sftp_session_put)(void *ud, mb_ssh *s, bool healthy);

typedef struct mb_sftp_mounts mb_sftp_mounts;

/* The registry of one agent; lives as long as the process. */
mb_sftp_mounts *mb_sftp_mounts_new(mb_sftp_session_get get, mb_sftp_session_put put, void *ud,
                                   mb_error **err);

/* Starts serving req and waits until the guest shows the mount (req->check,
 * run on probe, a session the caller holds) or sshfs ends; in that case the
 * error carries its exit status and stderr. MB_ERR_EXISTS when target is
 * served already. */
bool mb_sftp_mount_start(mb_sftp_mounts *m, const struct mb_sftp_mount_req *req, mb_ssh *probe,
                         mb_error **err);

/* Runs command (the guest's umount) on probe, then waits for the mount of
 * target to end. A target that is not served is not an error (the guest may
 * have unmounted it by itself). */
bool mb_sftp_mount_stop(mb_sftp_mounts *m, const char *target, const char *command,
                        mb_ssh *probe, mb_error **err);

/* Number of mounts being served. */
int mb_sftp_mount_count(mb_sftp_mounts *m);

#endif
