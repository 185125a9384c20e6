/* The storage pool "moonbase" on a libvirt host: a dir pool that libvirt
 * defines, builds and labels itself (under /var/lib/libvirt/images/), where
 * QEMU finds the files of instances it could not reach where moonbase keeps
 * them: on another host (libvirt_remote.c), or on this one when libvirtd runs
 * QEMU as another user (Debian's libvirt-daemon-system: libvirt-qemu) and the
 * instance directories are private (libvirt_lend.c). Its volumes:
 *   mb-image-<16 hex>-<file>   a base file (image, kernel, initrd), once per
 *                              host and shared: the hex names the image cache
 *                              directory it comes from (see base_name)
 * plus the instances' own files, named by their owners. */
#ifndef MB_LIBVIRT_POOL_H
#define MB_LIBVIRT_POOL_H

#include <libvirt/libvirt.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver/driver.h"

#define MB_LIBVIRT_POOL "moonbase"

/* The pool, defined, built and started when missing (create), or NULL with
 * err (MB_ERR_NOT_FOUND: there is none and !create). virStoragePoolFree it. */
virStoragePoolPtr mb_libvirt_pool(virConnectPtr c, bool create, mb_error **err);
/* The pool's directory as libvirt sees it, into buf (MB_LIBVIRT_PATHLEN). */
bool mb_libvirt_pool_dir(virStoragePoolPtr p, char *buf, mb_error **err);

/* The volume name, or NULL; *missing says whether it does not exist (as
 * opposed to an error, set in err). */
virStorageVolPtr mb_libvirt_vol_get(virStoragePoolPtr p, const char *name, bool *missing,
                                    mb_error **err);
/* The path of volume `name` into buf (MB_LIBVIRT_PATHLEN); false with err
 * (saying how to recover when it is missing). */
bool mb_libvirt_vol_path(virStoragePoolPtr p, const char *name, char *buf, mb_error **err);
/* The volume's file size on the host, or -1. */
long long mb_libvirt_vol_physical(virStorageVolPtr v);
/* Deletes volume `name` if it exists (for a hard link: that name only). */
void mb_libvirt_vol_delete(virStoragePoolPtr p, const char *name);
/* A new volume `name` (format, capacity: the file's size) filled with the
 * bytes of the local file path, sent over a libvirt stream. */
virStorageVolPtr mb_libvirt_vol_upload(virStoragePoolPtr p, const char *name,
                                       const char *format, const char *path, mb_error **err);
/* Volume `name`'s bytes into the local file path (written atomically with
 * mode), received over a libvirt stream. */
bool mb_libvirt_vol_download(virStoragePoolPtr p, const char *name, const char *path,
                             mode_t mode, mb_error **err);
/* len bytes of volume `name` from offset off into buf (fewer at its end:
 * *got says how many), received over a libvirt stream. */
bool mb_libvirt_vol_read(virStoragePoolPtr p, const char *name, uint64_t off, size_t len,
                         void *buf, size_t *got, mb_error **err);
/* Makes the local file `path` volume `name` (which must not exist) by a hard
 * link into the pool's directory, when that directory is this process's to
 * write, on the same mount and the one libvirt sees (checked by looking the
 * volume up after a refresh); the file loses its group and other
 * permissions first (QEMU's user may search the pool's directory). False,
 * with nothing left behind, when it cannot: the caller uploads instead. */
bool mb_libvirt_vol_link(virStoragePoolPtr p, const char *name, const char *path);

/* The volume of a base file (image, kernel, initrd) on the host, made when
 * missing or partial (by a hard link where mb_libvirt_vol_link can, else an
 * upload): its path into path (MB_LIBVIRT_PATHLEN). format: the file's
 * ("raw" for a kernel). One at a time per moonbase home (lock file next to
 * inst's directory), so parallel launches upload once. */
bool mb_libvirt_base_volume(virStoragePoolPtr p, const struct mb_instance *inst,
                            const char *local, const char *format, char *path, mb_error **err);
/* The volume name of a base file: mb-image-<16 hex>-<file name>. */
bool mb_libvirt_base_name(const char *local, char *name, size_t n, mb_error **err);

#endif
