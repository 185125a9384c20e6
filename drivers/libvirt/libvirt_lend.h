/* Instances of this machine under a libvirtd whose QEMU runs as another
 * user: Debian's libvirt-daemon-system runs it as libvirt-qemu (dynamic
 * ownership on), and that user cannot reach the instance directories, which
 * stay private (0700) under moonbase's home. While libvirt holds such an
 * instance, its files are lent to the storage pool "moonbase"
 * (libvirt_pool.h), which libvirt labels itself:
 *   <domain>.qcow2        the overlay: a hard link to the instance's disk
 *                         where mb_libvirt_vol_link can (nothing copied), else
 *                         an upload, downloaded back when libvirt lets go
 *   <domain>-cidata.iso   the seed, the same way (never copied back)
 *   mb-image-...          the base image, kernel and initrd (pool volumes
 *                         shared by every instance, made once)
 * and the domain names the base image as the overlay's backing store (the
 * overlay's header names the image cache, which QEMU cannot reach).
 * libvirt.lent in the instance directory says the files are lent ("link" or
 * "copy"); the disk is taken back when the domain is undefined (stop,
 * delete, or the next look at a domain that vanished), so a stopped instance
 * has its disk at home, where the QEMU driver and qemu-img find it.
 * The serial console stays in the instance directory: virtlogd (root) writes
 * it, not QEMU. */
#ifndef MB_LIBVIRT_LEND_H
#define MB_LIBVIRT_LEND_H

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver/driver.h"
#include "drivers/libvirt/libvirt_conn.h"

/* Whether conn's QEMU runs as a user other than root and this process (the
 * uid of the DAC security model's base label in its capabilities). */
bool mb_libvirt_must_lend(virConnectPtr conn);

/* Where the lent files are (as the libvirt host sees them). */
struct mb_libvirt_lent {
    char disk[MB_LIBVIRT_PATHLEN], seed[MB_LIBVIRT_PATHLEN];
    char kernel[MB_LIBVIRT_PATHLEN], initrd[MB_LIBVIRT_PATHLEN]; /* "" without */
    char backing[MB_LIBVIRT_PATHLEN], backing_format[32];        /* "" without */
};
/* Lends inst's files to the pool (taking back first what a crash left
 * lent); on failure nothing stays lent. */
bool mb_libvirt_lend(virConnectPtr conn, const struct mb_instance *inst,
                     struct mb_libvirt_lent *l, mb_error **err);
/* Whether inst's files are lent (libvirt.lent exists). */
bool mb_libvirt_is_lent(const struct mb_instance *inst);
/* Whether inst's disk is lent as a copy (libvirt.lent says "copy"): while
 * libvirt holds it, the instance's own disk is stale. */
bool mb_libvirt_lent_copy(const struct mb_instance *inst);
/* The internal snapshots of the copy of inst's disk in the pool (as
 * qemu-img info lists them: name, memory, size, created), read from its
 * qcow2 snapshot table over libvirt streams; free with mb_snapshots_free. */
struct mb_snapshot *mb_libvirt_lent_snapshots(virConnectPtr conn,
                                              const struct mb_instance *inst, mb_error **err);

/* Reads len bytes at off of an image into buf (*got: fewer at its end). */
typedef bool (*mb_libvirt_read_fn)(void *ctx, uint64_t off, size_t len, void *buf,
                                   size_t *got, mb_error **err);
/* The internal snapshots of the qcow2 image read reads, or NULL with err. */
struct mb_snapshot *mb_libvirt_qcow2_snapshots(mb_libvirt_read_fn read, void *ctx,
                                               mb_error **err);

/* Takes inst's files back from the pool: a copied disk is downloaded over
 * the instance's disk (unless discard: it is being deleted, or never ran),
 * then the pool's names are deleted and libvirt.lent removed. The domain must
 * be gone. True when nothing was lent. */
bool mb_libvirt_take_back(virConnectPtr conn, const struct mb_instance *inst, bool discard,
                          mb_error **err);

#endif
