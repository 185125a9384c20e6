/* The libvirt domain XML of an instance, as a pure function of the instance
 * spec and a few host facts, so golden-file tests pin it down without a
 * libvirtd (tests/golden/libvirt/<case>.xml). It mirrors drivers/qemu's
 * command line device for device: the same overlay, seed, console file, NICs
 * and 9p shares, so a guest sees the same machine under either driver. */
#ifndef MB_LIBVIRT_XML_H
#define MB_LIBVIRT_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdint.h>

#include "driver/driver.h"
#include "core/strbuf.h"

/* s escaped for XML text and attribute values (quoted with ') */
void mb_xml_esc(struct mb_strbuf *b, const char *s);

/* What the host contributes (from the driver's probe of the connection). */
struct mb_libvirt_host {
    const char *domain_type; /* "kvm" or "qemu" (TCG) */
    const char *emulator;    /* <emulator> path, or NULL for the connection's default */
    const char *serial;      /* console log path, or NULL for <dir>/serial.log (a remote
                              * host's pool has it, see libvirt_remote.h) */
    const char *disk;        /* the overlay, or NULL for <dir>/disk.qcow2 (remote: a volume) */
    const char *seed;        /* the cloud-init seed ISO, or NULL */
    bool restrict_user_net;  /* user networking: nothing but the forwards (restrict=on) */
    const char *backing;     /* the overlay's base image as QEMU must open it, or NULL
                              * for the one its header names (see libvirt_lend.h) */
    const char *backing_format; /* its format (qcow2, raw) */
};

/* The libvirt domain name of an instance: "mb-<name>-<8 hex>", the hex being
 * a hash of its directory, so instances of two MOONBASE_HOMEs that share one
 * libvirtd never collide. buf should hold MB_LIBVIRT_NAMELEN bytes. */
#define MB_LIBVIRT_NAMELEN 128
void mb_libvirt_domain_name(char *buf, size_t n, const struct mb_instance *inst);

/* The domain XML (caller frees), or NULL with err set. */
char *mb_libvirt_domain_xml(const struct mb_instance *inst, const struct mb_libvirt_host *host,
                            mb_error **err);

/* The <domainsnapshot> XML of an internal snapshot `tag` of the overlay
 * (vda; the read-only seed vdb is left out) with the guest's memory. With
 * domain_xml (the <domain> it belongs to) it is for redefining a snapshot
 * libvirt does not know (VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE): state
 * running, created at `created` when non-zero. Caller frees. */
char *mb_libvirt_snapshot_xml(const char *tag, bool seed, int64_t created,
                              const char *domain_xml, mb_error **err);

/* The <domainsnapshot> XML of an internal snapshot `tag` of the overlay
 * (vda; the read-only seed vdb is left out) with the guest's memory. With
 * domain_xml (the <domain> it belongs to) it is for redefining a snapshot
 * libvirt does not know (VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE): state
 * running, created at `created` when non-zero. Caller frees. */
char *mb_libvirt_snapshot_xml(const char *tag, bool seed, int64_t created,
                              const char *domain_xml, mb_error **err);

#endif
