/* The libvirt driver's connections and run-time files: which libvirtd an
 * instance lives on, the connection to it (opened once per process and URI),
 * libvirt's errors as mb_errors, and the files the driver keeps in the
 * instance directory while libvirt holds the instance:
 *   libvirt.domain  "<uri>\n<domain name>\n": written once the domain is
 *                   defined, removed once it is undefined. It is also the
 *                   driver's trace for the shared scope (engine/driver/driver.c).
 *   libvirt.pid     the domain's QEMU pid while it runs on this host (what
 *                   the instance agent watches). */
#ifndef MB_LIBVIRT_CONN_H
#define MB_LIBVIRT_CONN_H

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <sys/types.h>

#include "driver/driver.h"

#define MB_LIBVIRT_DEFAULT_URI "qemu:///system"
#define MB_LIBVIRT_PATHLEN 4096

/* The URI new instances go to: the connection's configuration "uri"
 * (local.libvirt.uri), else qemu:///system. */
const char *mb_libvirt_default_uri(const struct mb_conn *c);
/* The URI of inst: the one in its libvirt.domain, else its host (an instance
 * placed on another host), else the default when that is a local one, else
 * qemu:///system. buf holds MB_LIBVIRT_PATHLEN bytes. */
const char *mb_libvirt_instance_uri(const struct mb_instance *inst, char *buf);
/* The host the instance lives on (inst->host: an instance on another host,
 * see libvirt_remote.h) into buf (MB_LIBVIRT_PATHLEN bytes), or NULL when it
 * lives on this machine. */
const char *mb_libvirt_remote_uri(const struct mb_instance *inst, char *buf);
/* Whether uri names another machine (a transport or a host in it). */
bool mb_libvirt_uri_is_remote(const char *uri);

/* A connection to uri (cached: do not close it), or NULL with err saying
 * that libvirtd is not reachable and how to start it. */
virConnectPtr mb_libvirt_connect(const char *uri, mb_error **err);

/* libvirt's last error as an mb_error: "<what>: <libvirt's message>". */
void mb_libvirt_error(mb_error **err, enum mb_error_code code, const char *what);
/* The code of libvirt's last error (virErrorNumber), 0 if none. */
int mb_libvirt_last_code(void);

/* The instance's domain (virDomainFree it), or NULL: *missing says whether
 * libvirt has no such domain (as opposed to an error, set in err). */
virDomainPtr mb_libvirt_lookup(virConnectPtr conn, const struct mb_instance *inst, bool *missing,
                               mb_error **err);

/* An instance's connection and domain (dom NULL when libvirt has none). */
struct mb_libvirt_dom {
    virConnectPtr conn;
    virDomainPtr dom;
    char uri[MB_LIBVIRT_PATHLEN];
};
/* Opens the connection of inst (its libvirt.domain's URI, else the default)
 * and looks its domain up; false on errors (an unknown domain is no error). */
bool mb_libvirt_dom_open(const struct mb_instance *inst, struct mb_libvirt_dom *d,
                         mb_error **err);
void mb_libvirt_dom_close(struct mb_libvirt_dom *d); /* frees the domain, keeps the connection */
int mb_libvirt_dom_state(virDomainPtr dom);          /* virDomainState, -1 on errors */
bool mb_libvirt_dom_active(virDomainPtr dom);        /* running or paused (NULL: false) */
bool mb_libvirt_dom_saved(virDomainPtr dom);         /* has a managed save (NULL: false) */

/* <dir>/<file> into buf (MB_LIBVIRT_PATHLEN bytes). */
void mb_libvirt_file(char *buf, const struct mb_instance *inst, const char *file);
bool mb_libvirt_write_trace(const struct mb_instance *inst, const char *uri, mb_error **err);
void mb_libvirt_remove_runtime(const struct mb_instance *inst); /* libvirt.domain, libvirt.pid */

/* The pid of the running QEMU of domain `name` on this host (found by its
 * `-name guest=<name>,...` argument; the newest when an old one is still
 * exiting), or 0. */
pid_t mb_libvirt_find_pid(const char *name);
/* Whether pid is the QEMU of domain `name` (a zombie's cmdline is empty). */
bool mb_libvirt_pid_is(pid_t pid, const char *name);

#endif
