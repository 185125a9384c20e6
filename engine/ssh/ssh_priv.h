/* What ssh.c, ssh_sftp.c and ssh_key.c share and nobody else needs: the
 * session struct and the "libssh2 said EAGAIN, wait for the socket" helper. */
#ifndef MB_SSH_PRIV_H
#define MB_SSH_PRIV_H

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <stdint.h>
#include <sys/types.h>

#include "ssh/ssh.h"
#include "core/clock.h"

struct mb_ssh {
    LIBSSH2_SESSION *session;
    LIBSSH2_SFTP *sftp; /* opened on first use */
    int sock;
    pid_t proxy_pid;    /* the proxy command's process, or 0 */
    int timeout_ms;     /* for each wait on a protocol reply */
    bool lost;          /* the connection broke: every call fails at once */
    char desc[320];     /* user@host:port */
    char hostport[300]; /* host:port */
};


/* After a libssh2 call returned EAGAIN: waits until the socket is ready in the
 * directions libssh2 is blocked on, at most until deadline (mb_clock_ms()
 * scale; < 0: s->timeout_ms from now). False with *err set on timeout. */
bool mb_ssh_wait(mb_ssh *s, int64_t deadline, const char *what, mb_error **err);

/* Sets *err from libssh2's last error: "ssh: cannot <what> on user@host:port: msg".
 * A socket error marks the session lost and says so (MB_ERR_UNREACHABLE). */
void mb_ssh_fail(mb_ssh *s, enum mb_error_code code, const char *what, mb_error **err);
/* False with *err set when the session is lost. */
bool mb_ssh_check_alive(mb_ssh *s, mb_error **err);

/* "SHA256:..." of a raw key blob; NULL when out of memory. Caller frees. */
char *mb_ssh_fingerprint_blob(const unsigned char *blob, size_t len);

#endif
