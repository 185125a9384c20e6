/* The libvirt driver's storage and mount slots (libvirt_storage.c). */
#ifndef MB_LIBVIRT_STORAGE_H
#define MB_LIBVIRT_STORAGE_H

#include "driver/driver.h"

bool mb_libvirt_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *s,
                              unsigned flags, mb_error **err);
bool mb_libvirt_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *s,
                                 unsigned flags, mb_error **err);
bool mb_libvirt_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *s,
                                unsigned flags, mb_error **err);
struct mb_snapshot *mb_libvirt_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                             unsigned flags, mb_error **err);
bool mb_libvirt_clone(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                      unsigned flags, mb_error **err);
bool mb_libvirt_rename(struct mb_conn *c, const struct mb_instance *i,
                       const struct mb_instance *t, unsigned flags, mb_error **err);
/* Starts the defined, inactive domain d from the overlay's snapshot `tag`
 * with its memory (a restore left it pending: MB_QEMU_RESUME_FILE), which it
 * then clears. */
struct mb_libvirt_dom;
bool mb_libvirt_snapshot_resume(struct mb_libvirt_dom *d, const struct mb_instance *i,
                                const char *tag, mb_error **err);
bool mb_libvirt_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                            unsigned flags, mb_error **err);
bool mb_libvirt_mount_native(struct mb_conn *c, const struct mb_instance *i,
                             const struct mb_mount_spec *m,
                             unsigned flags, mb_error **err);
bool mb_libvirt_umount_native(struct mb_conn *c, const struct mb_instance *i,
                              const struct mb_mount_spec *m,
                              unsigned flags, mb_error **err);

#endif
