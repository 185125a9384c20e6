/* The instance agent: one long-lived process per running instance that is
 * QEMU's parent, keeps authenticated SSH sessions to the guest and serves
 * exec / transfer requests on a unix socket, so a CLI call pays a channel open
 * instead of an SSH handshake. The client half lives here too. */
#ifndef MB_AGENT_H
#define MB_AGENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/error.h"
#include "sftp/sftp_mount.h"
#include "ssh/ssh.h"

struct mb_agent_forward {
    const char *address;
    int host_port, guest_port;
    bool udp;
};

struct mb_agent_config {
    const char *socket_path;          /* created 0600; removed on exit */
    struct mb_ssh_connect_opts ssh;   /* how to reach the guest */
    pid_t child;                      /* a child of ours to reap (QEMU), or 0 */
    pid_t watch;                      /* a process to outlive us (QEMU started by
                                       * someone else), or 0 */
    bool relay;                       /* ssh.host:port relays to the guest's SSH (not
                                       * its own address): forwards go over SSH */
    const struct mb_agent_forward *forwards; /* host ports to forward from the start */
    size_t n_forwards;
    const struct mb_sftp_mount_req *mounts; /* classic mounts to serve from the start */
    size_t n_mounts;
    /* Called once, listening, after those mounts were tried: failures[i] is
     * NULL or why mounts[i] failed. */
    void (*ready)(void *ud, const char *const *failures, size_t n);
    void *ready_ud;
};

/* Serves until the watched process exits or a client asks to stop. Returns
 * the child's exit status (128+signal), 0 after a stop request, -1 on error. */
int mb_agent_serve(const struct mb_agent_config *c, mb_error **err);

/* ---- the client side ---- */

/* One request: op is "exec", "put", "get", "mount", "umount", "ping" or
 * "stop". mount: local = host folder, remote = guest path, command = the
 * guest's sshfs -o slave command, check = a guest command that succeeds once
 * mounted. umount: remote, command = the guest's umount command. */
struct mb_agent_request {
    const char *op;
    const char *command;             /* exec: NULL for a login shell */
    const char *const *env;          /* exec: "NAME=value", NULL-terminated */
    bool pty, interactive;           /* exec */
    const char *term;
    int cols, rows;
    int fds[3];                      /* exec: stdin, stdout, stderr to lend */
    const char *local, *remote;      /* put/get: absolute local path */
    int mode;                        /* put: -1 = keep / default */
    bool preserve;
    const char *check;               /* mount */
    bool readonly;
    const char *uid_map, *gid_map;   /* mount: "HOST:GUEST,..." */
};

/* Sends the request and waits for the answer: the remote exit status for
 * exec, 0 for the others; -1 with *err set on failure. No agent listening is
 * MB_ERR_UNREACHABLE (the caller may start one and retry). */
int mb_agent_call(const char *socket_path, const struct mb_agent_request *r, mb_error **err);

#endif
