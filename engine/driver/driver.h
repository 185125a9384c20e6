/* The driver table: one typedef per hypervisor operation, gathered in
 * struct mb_driver. A NULL slot means "not supported by this driver"; the
 * dispatcher (driver.c) validates arguments once and turns a NULL slot into
 * "unsupported: <op> is not supported by the <name> driver". Every operation
 * takes `unsigned flags` and reports errors through `mb_error **` last. */
#ifndef MB_DRIVER_H
#define MB_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum mb_state {
    MB_STATE_UNKNOWN = 0,
    MB_STATE_STOPPED,
    MB_STATE_STARTING,
    MB_STATE_RUNNING,
    MB_STATE_SUSPENDED,
    MB_STATE_ABSENT, /* the hypervisor has no such instance */
    MB_STATE_ELSEWHERE, /* live (running or suspended) under another driver of the same
                           scope; set by the dispatcher, never by a driver */
};
const char *mb_state_name(enum mb_state s);

struct mb_net_attachment {
    const char *network; /* moonbase network or host bridge */
    const char *mac;
    const char *ipv4;    /* static address, or NULL */
    const char *tap;     /* host tap device (qemu), or NULL */
};

struct mb_mount_spec {
    const char *source; /* host path */
    const char *tag;    /* 9p mount tag */
    bool readonly;
    /* the guest's owners and modes live in xattrs, never on the host files:
     * when QEMU runs privileged, a guest must not plant setuid files or give
     * host files to root (QEMU's mapped-xattr, libvirt's accessmode='mapped') */
    bool mapped;
};

/* What a driver is asked to run: built by the engine from the instance record. */
struct mb_instance {
    const char *name;
    const char *dir;       /* data/instances/<scope>/<name> */
    const char *disk;      /* overlay disk (qcow2) */
    const char *image;     /* base image the overlay sits on */
    const char *seed;      /* cloud-init NoCloud ISO */
    const char *kernel;    /* direct kernel boot, or NULL */
    const char *initrd;
    const char *cmdline;
    int cpus;
    uint64_t memory;       /* bytes */
    uint64_t disk_size;    /* bytes */
    int ssh_port;          /* host port of the user-networking SSH forward, 0 if none */
    const char *mac;       /* primary NIC */
    const char *tap;       /* primary NIC on a moonbase bridge, NULL = user networking */
    const char *network;   /* or: primary NIC on this libvirt network (libvirt driver only) */
    const char *ipv4;      /* primary NIC's static address on a bridge, or NULL */
    bool user_net_restrict; /* user networking: no traffic out of the host (restrict=on) */
    const struct mb_net_attachment *nets;
    size_t n_nets;
    const struct mb_mount_spec *mounts;
    size_t n_mounts;
};

struct mb_address {
    char host[256];
    int port;
};

/* A list of strings (addresses, snapshots, networks); free with mb_strv_free. */
char **mb_strv_new(void);
bool mb_strv_push(char ***v, const char *s);
bool mb_strv_contains(char *const *v, const char *s);
void mb_strv_free(char **v);

enum mb_probe_result { MB_PROBE_OK, MB_PROBE_DECLINED };

enum mb_driver_flags {
    MB_FORCE = 1 << 0,      /* shutdown: power off instead of asking the guest */
    MB_KEEP_DISKS = 1 << 1, /* destroy: keep the instance's files */
    MB_STATE_OWN = 1 << 2,  /* state: this driver's view only (no look at the scope's
                               other drivers, see mb_driver_state) */
};

typedef enum mb_probe_result (*mb_drv_probe)(char **reason, unsigned flags, mb_error **err);
typedef bool (*mb_drv_inst_op)(const struct mb_instance *inst, unsigned flags, mb_error **err);
typedef bool (*mb_drv_shutdown)(const struct mb_instance *inst, double timeout, unsigned flags,
                                mb_error **err);
typedef enum mb_state (*mb_drv_state)(const struct mb_instance *inst, unsigned flags,
                                      mb_error **err);
typedef bool (*mb_drv_ssh_address)(const struct mb_instance *inst, struct mb_address *addr,
                                   unsigned flags, mb_error **err);
typedef char **(*mb_drv_strv_op)(const struct mb_instance *inst, unsigned flags,
                                 mb_error **err);
typedef char *(*mb_drv_console_log)(const struct mb_instance *inst, size_t max_bytes,
                                    unsigned flags, mb_error **err);
typedef bool (*mb_drv_snapshot_op)(const struct mb_instance *inst, const char *snapshot,
                                   unsigned flags, mb_error **err);
typedef bool (*mb_drv_clone)(const struct mb_instance *inst, const struct mb_instance *target,
                             unsigned flags, mb_error **err);
typedef bool (*mb_drv_resize_disk)(const struct mb_instance *inst, uint64_t bytes,
                                   unsigned flags, mb_error **err);
typedef bool (*mb_drv_mount_op)(const struct mb_instance *inst, const struct mb_mount_spec *m,
                                unsigned flags, mb_error **err);
typedef char **(*mb_drv_host_strv)(unsigned flags, mb_error **err);

struct mb_driver {
    const char *name;
    const char *scope;                 /* qemu and libvirt share "qemu" */
    const char *const *capabilities;   /* NULL-terminated */

    mb_drv_probe probe;
    mb_drv_host_strv host_info;        /* "key=value" lines */
    mb_drv_host_strv networks;         /* host networks an instance can join */

    mb_drv_inst_op create;
    mb_drv_inst_op start;
    mb_drv_shutdown shutdown;
    mb_drv_inst_op suspend;
    mb_drv_inst_op resume;
    mb_drv_state state;
    mb_drv_inst_op destroy;
    mb_drv_ssh_address ssh_address;
    mb_drv_strv_op ipv4;
    mb_drv_console_log console_log;

    mb_drv_snapshot_op snapshot_take;
    mb_drv_snapshot_op snapshot_restore;
    mb_drv_snapshot_op snapshot_delete;
    mb_drv_strv_op snapshot_list;
    mb_drv_clone clone;
    mb_drv_resize_disk resize_disk;

    mb_drv_mount_op mount_native;
    mb_drv_mount_op umount_native;
};

/* Every driver compiled in; NULL-terminated. */
extern const struct mb_driver *const mb_drivers[];
const struct mb_driver *mb_driver_find(const char *name, mb_error **err);
bool mb_driver_has_capability(const struct mb_driver *drv, const char *cap);

/* The dispatchers: validate once, report NULL slots as unsupported. */
enum mb_probe_result mb_driver_probe(const struct mb_driver *d, char **reason, unsigned flags,
                                     mb_error **err);
char **mb_driver_host_info(const struct mb_driver *d, unsigned flags, mb_error **err);
char **mb_driver_networks(const struct mb_driver *d, unsigned flags, mb_error **err);
bool mb_driver_create(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                      mb_error **err);
bool mb_driver_start(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                     mb_error **err);
bool mb_driver_shutdown(const struct mb_driver *d, const struct mb_instance *i, double timeout,
                        unsigned flags, mb_error **err);
bool mb_driver_suspend(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                       mb_error **err);
bool mb_driver_resume(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                      mb_error **err);
/* The driver's state; MB_STATE_ELSEWHERE when the driver sees the instance
 * stopped but another driver of its scope runs it or holds it suspended. */
enum mb_state mb_driver_state(const struct mb_driver *d, const struct mb_instance *i,
                              unsigned flags, mb_error **err);
bool mb_driver_destroy(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                       mb_error **err);
bool mb_driver_ssh_address(const struct mb_driver *d, const struct mb_instance *i,
                           struct mb_address *addr, unsigned flags, mb_error **err);
char **mb_driver_ipv4(const struct mb_driver *d, const struct mb_instance *i, unsigned flags,
                      mb_error **err);
char *mb_driver_console_log(const struct mb_driver *d, const struct mb_instance *i,
                            size_t max_bytes, unsigned flags, mb_error **err);
bool mb_driver_snapshot_take(const struct mb_driver *d, const struct mb_instance *i,
                             const char *snapshot, unsigned flags, mb_error **err);
bool mb_driver_snapshot_restore(const struct mb_driver *d, const struct mb_instance *i,
                                const char *snapshot, unsigned flags, mb_error **err);
bool mb_driver_snapshot_delete(const struct mb_driver *d, const struct mb_instance *i,
                               const char *snapshot, unsigned flags, mb_error **err);
char **mb_driver_snapshot_list(const struct mb_driver *d, const struct mb_instance *i,
                               unsigned flags, mb_error **err);
bool mb_driver_clone(const struct mb_driver *d, const struct mb_instance *i,
                     const struct mb_instance *target, unsigned flags, mb_error **err);
bool mb_driver_resize_disk(const struct mb_driver *d, const struct mb_instance *i,
                           uint64_t bytes, unsigned flags, mb_error **err);
bool mb_driver_mount_native(const struct mb_driver *d, const struct mb_instance *i,
                            const struct mb_mount_spec *m, unsigned flags, mb_error **err);
bool mb_driver_umount_native(const struct mb_driver *d, const struct mb_instance *i,
                             const struct mb_mount_spec *m, unsigned flags, mb_error **err);

#endif
