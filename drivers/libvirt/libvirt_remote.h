/* Instances on another libvirt host (a remote URI such as
 * qemu+ssh://user@host/system). Nothing of such an instance is on this
 * machine but its record: its disks are volumes of the storage pool
 * "moonbase" on that host (a dir pool, defined there on first use), made
 * with libvirt's storage volume API only:
 *   mb-image-<sha256 prefix>.<fmt>   the base image, uploaded once per host
 *                                    (virStorageVolUpload over a virStream)
 *   <prefix>.qcow2                   the instance's overlay on it
 *   <prefix>-cidata.iso              its cloud-init seed, uploaded
 *   <prefix>-serial.log              its console, written there by QEMU
 * where <prefix> is mb-<name>-<8 hex of a hash of its MAC address> (stable
 * from launch on, unlike the staging directory it is created in). The host
 * it lives on is the instance's inst->host (its record keeps it). */
#ifndef MB_LIBVIRT_REMOTE_H
#define MB_LIBVIRT_REMOTE_H

#include <libvirt/libvirt.h>
#include <stdbool.h>

#include "driver/driver.h"
#include "drivers/libvirt/libvirt_pool.h"

/* True (with err set: "<op>: ... lives on <uri> ...") when inst is remote:
 * for the operations that need its disk on this machine. */
bool mb_libvirt_remote_refuse(const struct mb_instance *inst, const char *op, mb_error **err);

/* Creates the instance's volumes on conn's host (pool, image once, overlay,
 * seed); removes what it made on failure. */
bool mb_libvirt_remote_create(virConnectPtr conn, const struct mb_instance *inst,
                              mb_error **err);

/* Where the instance's files are on its host. */
struct mb_libvirt_remote_files {
    char disk[4096], seed[4096], serial[4096];
    char kernel[4096], initrd[4096]; /* "" without direct kernel boot */
};
/* false with err when a volume is gone. */
bool mb_libvirt_remote_paths(virConnectPtr conn, const struct mb_instance *inst,
                             struct mb_libvirt_remote_files *f, mb_error **err);
/* Whether the instance's overlay volume exists (false on errors too). */
bool mb_libvirt_remote_exists(virConnectPtr conn, const struct mb_instance *inst);
/* Deletes the instance's volumes (not the shared image). */
bool mb_libvirt_remote_delete(virConnectPtr conn, const struct mb_instance *inst, mb_error **err);
/* The last max bytes of the console log, downloaded from the pool ("" when
 * there is none yet). Caller frees. */
char *mb_libvirt_remote_console(virConnectPtr conn, const struct mb_instance *inst, size_t max,
                                mb_error **err);

/* The OpenSSH ProxyCommand that reaches the host of uri as libvirt's ssh
 * transport does (its command, port, user, keyfile, known_hosts and
 * no_verify), ending in "-W %h:%p HOST"; % in the URI's words doubled. */
bool mb_libvirt_proxy_command(const char *uri, char *buf, size_t n, mb_error **err);

#endif
