/* The driver table: one typedef per operation, gathered in struct mb_driver,
 * which holds every difference between drivers (docs/writing-drivers.md).
 * A NULL slot means "not supported by this driver": the dispatcher
 * (driver.c) validates arguments and flags once and turns a NULL slot into
 * "unsupported: <op> is not supported by the <name> driver"; the
 * capabilities callers ask about are derived from the filled slots.
 * Every operation takes the connection (the driver opened with its
 * configuration) first, `unsigned flags`, and reports errors through
 * `mb_error **` last. Drivers are registered in drivers/registry.c. */
#ifndef MB_DRIVER_H
#define MB_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* ---------------------------------------------------------------- instances */

/* How a NIC reaches its network; the network backend (see net_backend)
 * decides, moonbase records it, the driver plugs the NIC in accordingly. */
enum mb_nic_attach {
    MB_NIC_USER = 0, /* the driver's own user-mode networking: reachable from this host
                        only through host_port, forwarded to the guest's SSH */
    MB_NIC_TAP,      /* device is a host tap on a bridge the engine made */
    MB_NIC_NETWORK,  /* device is a network of the driver's own (network_ensure) */
    MB_NIC_BRIDGE,   /* device is a bridge the engine made (or the host's, "bridged"): the
                        driver plugs a port of its own into it (LXD's veth); no tap */
};

struct mb_nic {
    const char *network;     /* moonbase's network ("moonbase0", a named one, "bridged"),
                                NULL for MB_NIC_USER */
    const char *mac;
    const char *ipv4;        /* the address the guest is given, or NULL (DHCP, manual) */
    enum mb_nic_attach attach;
    const char *device;      /* MB_NIC_TAP, MB_NIC_NETWORK, MB_NIC_BRIDGE: see above */
    int host_port;           /* MB_NIC_USER: 127.0.0.1 port forwarded to the guest's port 22 */
};

struct mb_mount_spec {
    const char *source; /* host path */
    const char *tag;    /* the share's name, as the guest mounts it */
    bool readonly;
    /* the guest's owners and modes live in xattrs, never on the host files:
     * when QEMU runs privileged, a guest must not plant setuid files or give
     * host files to root (QEMU's mapped-xattr, libvirt's accessmode='mapped') */
    bool mapped;
    const char *target; /* where the guest sees it (a driver that mounts in place) */
};

/* cloud-init's documents, as data: a VM driver writes them into a NoCloud
 * seed, a container driver hands them over as configuration. */
struct mb_cloud_init {
    const char *meta_data;
    const char *user_data;
    const char *network_config;
};

/* The image an instance is made from, resolved and verified in the cache in
 * the format the driver asked for (image_format). */
struct mb_image {
    const char *path;      /* the image file (qcow2; an LXD image's root file system), or NULL */
    const char *kernel;    /* direct kernel boot: kernel, initrd, command line, or NULL */
    const char *initrd;
    const char *cmdline;
    const char *metadata;  /* an LXD image: its metadata tarball (lxd.tar.xz), else NULL */
    const char *id;        /* its id in the cache (an LXD image: LXD's fingerprint) */
};

struct mb_conn;

/* What a driver is asked to run: built from the instance record. */
struct mb_instance {
    const char *name;
    const char *dir;       /* data/instances/<scope>/<name>: the driver's files live here */
    const char *host;      /* placed on another host of the driver's (a URI), or NULL */
    struct mb_image image;
    int cpus;
    uint64_t memory;       /* bytes */
    uint64_t disk_size;    /* bytes */
    struct mb_cloud_init cloud_init; /* for create; NULL documents otherwise */
    const struct mb_nic *nics;       /* the first is the primary NIC */
    size_t n_nics;
    const struct mb_mount_spec *mounts; /* native mounts */
    size_t n_mounts;
    const char *user;      /* the guest's user moonbase acts as (made by cloud-init) */
    /* set by the dispatcher for the call: the connection (its configuration) */
    const struct mb_conn *conn;
};

/* How SSH reaches the guest: host and port, through proxy when it is set
 * (an OpenSSH ProxyCommand, with %h and %p for host and port and %% for %).
 * relay: host:port passes connections on to the guest's SSH (a port another
 * host listens on for it), so it is not the guest's own address: port
 * forwards then go through the SSH session, not straight to host. */
struct mb_address {
    char host[256];
    int port;
    char proxy[2048];
    bool relay;
};

/* A command run in the guest by the driver itself (no SSH). */
struct mb_exec {
    const char *const *argv; /* NULL: a login shell */
    const char *const *env;  /* "NAME=value", NULL-terminated, or NULL */
    const char *workdir;     /* NULL: the guest user's home */
    int fds[3];              /* the command's stdin, stdout and stderr */
};

/* What a running instance uses of its host (mb_driver_usage): counters a
 * client turns into rates by reading them twice. */
struct mb_usage {
    uint64_t cpu_ns;       /* CPU time the instance used since it started (all its vCPUs) */
    uint64_t memory_bytes; /* host memory it holds now (resident) */
};

/* A list of strings (addresses, snapshots, networks); free with mb_strv_free. */
char **mb_strv_new(void);
bool mb_strv_push(char ***v, const char *s);
bool mb_strv_contains(char *const *v, const char *s);
size_t mb_strv_len(char *const *v);
void mb_strv_free(char **v);

/* One snapshot as a driver keeps it; lists end with an entry whose name is
 * NULL (free with mb_snapshots_free). */
struct mb_snapshot {
    char *name;       /* the driver's tag (moonbase's records give it a user name) */
    bool memory;      /* holds the guest's memory: restoring it resumes the guest */
    uint64_t size;    /* bytes the driver reports as the snapshot's own (its saved
                         memory), 0 when it cannot tell */
    int64_t created;  /* seconds since the epoch, 0 when unknown */
};
void mb_snapshots_free(struct mb_snapshot *v);

/* ---------------------------------------------------------------- networks */

/* Who gives an instance's NICs their network. */
enum mb_net_backend {
    MB_NET_ENGINE = 0, /* the engine's bridges, taps and dnsmasq on this host (without the
                          privileges for them: MB_NIC_USER) */
    MB_NET_DRIVER,     /* networks of the driver's own, through network_ensure/remove/list */
    MB_NET_SIMULATED,  /* the engine's networks on a simulated host: nothing on this host
                          changes (the test driver) */
    MB_NET_USER,       /* user networking only (e.g. a host the driver's networks are not on) */
};
const char *mb_net_backend_name(enum mb_net_backend b);

struct mb_net_host {
    const char *mac;
    const char *name; /* the instance: DHCP name, DNS <name>.<domain> */
    const char *ipv4; /* dotted, no prefix */
};

/* A moonbase network served by the driver: moonbase's addresses are the
 * truth, the driver's network holds exactly these hosts. */
struct mb_net_spec {
    const char *name;    /* the driver's name for the network */
    const char *network; /* moonbase's name for it */
    const char *bridge;
    const char *gateway; /* the host's address on it: router and DNS for guests */
    int prefix;
    const char *domain;  /* "moonbase" */
    const struct mb_net_host *hosts;
    size_t n_hosts;
};

/* One network the driver lists. */
struct mb_net_info {
    char *name;
    char *bridge;  /* or NULL */
    char *network; /* moonbase's name when moonbase defined it, else NULL */
    bool active;
    int ports;     /* interfaces plugged in, -1 unknown */
};
void mb_net_info_free(struct mb_net_info *v, size_t n);

/* ---------------------------------------------------------------- the table */

/* A per-driver setting: `moonbase set KEY=VALUE`, handed to the driver as
 * configuration NAME=VALUE when it is opened. */
enum mb_setting_type { MB_SETTING_STRING, MB_SETTING_ENUM, MB_SETTING_BOOL };
enum mb_setting_flags {
    MB_SETTING_HOST = 1 << 0, /* names the host new instances go to (a URI): recipes'
                                 `host =` and inst->host override it per instance */
};
struct mb_setting {
    const char *key;     /* "local.libvirt.uri"; NULL ends the list */
    const char *name;    /* "uri": the configuration name the driver reads */
    enum mb_setting_type type;
    const char *def;     /* the default, as text */
    const char *const *values; /* MB_SETTING_ENUM: NULL-terminated; with MB_SETTING_HOST,
                                  the URI schemes of the hosts it names (NULL: any) */
    const char *help;
    unsigned flags;
};

/* A driver opened with its configuration (mb_driver_open). Besides its
 * settings' names, every driver may be given "state-dir": a directory of
 * moonbase's for the driver's own host-wide files (credentials), which the
 * driver creates when it needs it. */
struct mb_conn {
    const struct mb_driver *driver;
    char **config; /* "name=value", NULL-terminated */
    void *priv;    /* the driver's own (open/close) */
};
#define MB_CONN_STATE_DIR "state-dir"
/* A configuration value, else the setting's default, else NULL. */
const char *mb_conn_config(const struct mb_conn *c, const char *name);
/* A configuration value read as a boolean ("true", "1", "on"). */
bool mb_conn_config_bool(const struct mb_conn *c, const char *name);

enum mb_probe_result { MB_PROBE_OK, MB_PROBE_DECLINED };

/* Flags; each operation accepts only its own (the dispatcher checks). */
enum mb_driver_flags {
    MB_FORCE = 1 << 0,      /* shutdown: power off instead of asking the guest */
    MB_KEEP_DISKS = 1 << 1, /* destroy: keep the instance's files */
    MB_STATE_OWN = 1 << 2,  /* state: this driver's view only (no look at the scope's
                               other drivers, see mb_driver_state) */
    MB_EXEC_TTY = 1 << 3,   /* exec: the command's stdin is a terminal (a shell) */
    MB_PAUSE = 1 << 4,      /* suspend: stop the guest's CPUs in memory, no saved state
                               (resume continues it); what keeps a group of snapshots
                               consistent */
    MB_PROGRESS = 1 << 5,   /* create: say how long steps go (an image upload) on stderr */
    MB_STATE_LISTING = 1 << 6, /* state: one of many asked in a row (list): the driver may
                               answer from one request for every instance, made at the
                               first such call and kept for a moment */
};

typedef bool (*mb_drv_open)(struct mb_conn *c, unsigned flags, mb_error **err);
typedef void (*mb_drv_close)(struct mb_conn *c);
typedef enum mb_probe_result (*mb_drv_probe)(struct mb_conn *c, char **reason, unsigned flags,
                                             mb_error **err);
typedef char **(*mb_drv_host_strv)(struct mb_conn *c, unsigned flags, mb_error **err);
typedef enum mb_net_backend (*mb_drv_net_backend)(struct mb_conn *c, const char *host,
                                                  unsigned flags, mb_error **err);
typedef bool (*mb_drv_network_ensure)(struct mb_conn *c, const char *host,
                                      const struct mb_net_spec *n, unsigned flags,
                                      mb_error **err);
typedef int (*mb_drv_network_remove)(struct mb_conn *c, const char *host, const char *name,
                                     unsigned flags, mb_error **err);
typedef struct mb_net_info *(*mb_drv_network_list)(struct mb_conn *c, const char *host,
                                                   size_t *n, unsigned flags, mb_error **err);
typedef bool (*mb_drv_inst_op)(struct mb_conn *c, const struct mb_instance *inst,
                               unsigned flags, mb_error **err);
typedef bool (*mb_drv_shutdown)(struct mb_conn *c, const struct mb_instance *inst,
                                double timeout, unsigned flags, mb_error **err);
typedef enum mb_state (*mb_drv_state)(struct mb_conn *c, const struct mb_instance *inst,
                                      unsigned flags, mb_error **err);
typedef void (*mb_drv_list_ahead)(struct mb_conn *c, unsigned flags);
typedef pid_t (*mb_drv_pid)(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                            mb_error **err);
typedef bool (*mb_drv_ssh_address)(struct mb_conn *c, const struct mb_instance *inst,
                                   struct mb_address *addr, unsigned flags, mb_error **err);
typedef bool (*mb_drv_exec)(struct mb_conn *c, const struct mb_instance *inst,
                            const struct mb_exec *x, int *status, unsigned flags,
                            mb_error **err);
typedef char **(*mb_drv_strv_op)(struct mb_conn *c, const struct mb_instance *inst,
                                 unsigned flags, mb_error **err);
typedef char *(*mb_drv_console_log)(struct mb_conn *c, const struct mb_instance *inst,
                                    size_t max_bytes, unsigned flags, mb_error **err);
typedef bool (*mb_drv_usage)(struct mb_conn *c, const struct mb_instance *inst,
                             struct mb_usage *usage, unsigned flags, mb_error **err);
/* Snapshots (tags: [A-Za-z0-9_.-], at most MB_SNAPSHOT_TAG_MAX bytes).
 * take: of a stopped instance (its disk), or of a running one with its
 *   memory where the driver can (else the error says why); a suspended one
 *   is refused.
 * restore: the instance is stopped (the caller stops it first); its disk goes
 *   back to the snapshot. A snapshot with memory leaves a saved state that
 *   the next start resumes (state: suspended; stop --force discards it).
 * delete: also of a running instance; refused for the snapshot a pending
 *   resume needs. */
#define MB_SNAPSHOT_TAG_MAX 64
typedef bool (*mb_drv_snapshot_op)(struct mb_conn *c, const struct mb_instance *inst,
                                   const char *snapshot, unsigned flags, mb_error **err);
typedef struct mb_snapshot *(*mb_drv_snapshot_list)(struct mb_conn *c,
                                                    const struct mb_instance *inst,
                                                    unsigned flags, mb_error **err);
/* clone: a stopped instance's disk as it is now (not its snapshots), made
 * for target (its dir is created): a copy of the instance's own writes on
 * the same base image, never a copy of the base; with target's cloud-init
 * documents, as create would. */
typedef bool (*mb_drv_clone)(struct mb_conn *c, const struct mb_instance *inst,
                             const struct mb_instance *target, unsigned flags, mb_error **err);
/* rename: a stopped instance is about to become target (new name, new dir):
 * the driver renames what it keeps outside the instance directory and
 * refuses while the hypervisor holds the instance. The caller moves the
 * directory afterwards. */
typedef bool (*mb_drv_rename)(struct mb_conn *c, const struct mb_instance *inst,
                              const struct mb_instance *target, unsigned flags, mb_error **err);
typedef bool (*mb_drv_resize_disk)(struct mb_conn *c, const struct mb_instance *inst,
                                   uint64_t bytes, unsigned flags, mb_error **err);
typedef bool (*mb_drv_mount_op)(struct mb_conn *c, const struct mb_instance *inst,
                                const struct mb_mount_spec *m, unsigned flags, mb_error **err);
typedef const char *(*mb_drv_image_format)(struct mb_conn *c, unsigned flags, mb_error **err);
typedef bool (*mb_drv_trust)(struct mb_conn *c, const char *host, const char *token,
                             char **trusted, unsigned flags, mb_error **err);

struct mb_driver {
    /* identity: what the registry and the rest of moonbase know without a call */
    const char *name;
    const char *scope;                 /* drivers of one scope see the same instances */
    const char *const *markers;        /* files in the instance dir while this driver holds
                                          the instance live (the shared scope asks the
                                          driver whose marker is there); NULL-terminated */
    const char *disk_file;             /* the instance's disk in its dir (for `info`), or NULL */
    const struct mb_setting *settings; /* per-driver settings; NULL or {NULL}-terminated */
    bool bridge_nics;                  /* on the engine's networks the driver plugs a port of
                                          its own into the bridge (MB_NIC_BRIDGE), instead of
                                          the tap the engine makes (MB_NIC_TAP) */
    bool mounts_in_place;              /* native shares appear at their target by the driver's
                                          doing, at once on a running instance (LXD's disk
                                          devices); else the guest mounts them by tag (9p) */

    mb_drv_open open;                  /* optional: set up c->priv from c->config */
    mb_drv_close close;

    /* host */
    mb_drv_probe probe;                /* usable here? OK, or DECLINED with the reason */
    mb_drv_host_strv host_info;        /* "key=value" lines */
    mb_drv_host_strv networks;         /* host networks an instance can join */
    mb_drv_image_format image_format;  /* the image format create wants (NULL: "disk") */
    mb_drv_trust trust;                /* trusts moonbase with the driver's host, once */

    /* networks: who serves NICs (NULL: MB_NET_ENGINE), and the driver's own */
    mb_drv_net_backend net_backend;
    mb_drv_network_ensure network_ensure;
    mb_drv_network_remove network_remove;
    mb_drv_network_list network_list;

    /* instances */
    mb_drv_inst_op create;             /* disk (from inst->image) and cloud-init seed */
    mb_drv_inst_op start;
    mb_drv_shutdown shutdown;
    mb_drv_inst_op suspend;
    mb_drv_inst_op resume;
    mb_drv_state state;                /* the truth from the hypervisor */
    mb_drv_list_ahead list_ahead;      /* optional, a hint: state with MB_STATE_LISTING is
                                          about to be asked for every instance; the driver
                                          may start its one request for them now */
    mb_drv_inst_op destroy;
    mb_drv_pid pid;                    /* the hypervisor process moonbase watches, 0 none */
    mb_drv_ssh_address ssh_address;    /* the guest is reached over SSH (the agent) */
    mb_drv_exec exec;                  /* the driver runs commands in the guest itself */
    mb_drv_strv_op ipv4;
    mb_drv_console_log console_log;
    mb_drv_usage usage;                /* CPU time and memory of a running instance */

    /* storage */
    mb_drv_snapshot_op snapshot_take;
    mb_drv_snapshot_op snapshot_restore;
    mb_drv_snapshot_op snapshot_delete;
    mb_drv_snapshot_list snapshot_list;
    mb_drv_clone clone;
    mb_drv_rename rename;
    mb_drv_resize_disk resize_disk;

    /* mounts */
    mb_drv_mount_op mount_native;
    mb_drv_mount_op umount_native;
};

/* ---------------------------------------------------------------- the registry */

/* What the registry knows of a driver without loading it: a driver built
 * into the binary has its table; one in the plugin names its table's symbol
 * (and its scope and markers, so that the shared scope never loads the plugin
 * for nothing); a planned one says why it is not there. */
struct mb_driver_entry {
    const char *name;
    const struct mb_driver *table;     /* built in */
    const char *symbol;                /* or in the plugin: the table's symbol */
    const char *scope;                 /* plugin: as in its table */
    const char *const *markers;        /* plugin: as in its table */
    const char *unavailable;           /* neither: why not */
};
extern const struct mb_driver_entry mb_driver_registry[]; /* drivers/registry.c */

/* The table of a registered driver (the plugin is loaded for one that lives
 * there), or NULL with err set. */
const struct mb_driver *mb_driver_find(const char *name, mb_error **err);

/* The capabilities a driver's filled slots give it: up to n names into out
 * (static strings); returns how many it has. */
size_t mb_driver_capabilities(const struct mb_driver *d, const char **out, size_t n);
bool mb_driver_has_capability(const struct mb_driver *d, const char *cap);
/* True when c's driver has cap; else false with the dispatcher's error:
 * "unsupported: <what> is not supported by the <name> driver". For what
 * needs a capability rather than one slot (a port forward needs "ssh"). */
bool mb_driver_supports(const struct mb_conn *c, const char *cap, const char *what,
                        mb_error **err);

/* Opens a driver with its configuration ("name=value", names from its
 * settings; NULL for none): unknown names are an error. Free with
 * mb_driver_close. */
struct mb_conn *mb_driver_open(const struct mb_driver *d, const char *const *config,
                               unsigned flags, mb_error **err);
void mb_driver_close(struct mb_conn *c);

/* The dispatchers: validate once, check flags, report NULL slots as unsupported. */
enum mb_probe_result mb_driver_probe(struct mb_conn *c, char **reason, unsigned flags,
                                     mb_error **err);
char **mb_driver_host_info(struct mb_conn *c, unsigned flags, mb_error **err);
char **mb_driver_networks(struct mb_conn *c, unsigned flags, mb_error **err);
enum mb_net_backend mb_driver_net_backend(struct mb_conn *c, const char *host, unsigned flags,
                                          mb_error **err);
/* The image format the driver's create takes: "disk" (qcow2, kernel and
 * initrd), "lxd" (an LXD container image), "lxd-vm" (an LXD VM image). */
const char *mb_driver_image_format(struct mb_conn *c, unsigned flags, mb_error **err);
/* Trusts moonbase with the driver's host (host, else the configured one,
 * else one the token names) with a token made there; *trusted (caller
 * frees) names the host that trusts moonbase now. */
bool mb_driver_trust(struct mb_conn *c, const char *host, const char *token, char **trusted,
                     unsigned flags, mb_error **err);
bool mb_driver_network_ensure(struct mb_conn *c, const char *host, const struct mb_net_spec *n,
                              unsigned flags, mb_error **err);
int mb_driver_network_remove(struct mb_conn *c, const char *host, const char *name,
                             unsigned flags, mb_error **err);
struct mb_net_info *mb_driver_network_list(struct mb_conn *c, const char *host, size_t *n,
                                           unsigned flags, mb_error **err);
bool mb_driver_create(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err);
bool mb_driver_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err);
bool mb_driver_shutdown(struct mb_conn *c, const struct mb_instance *i, double timeout,
                        unsigned flags, mb_error **err);
bool mb_driver_suspend(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err);
bool mb_driver_resume(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err);
/* The driver's state; MB_STATE_ELSEWHERE when the driver sees the instance
 * stopped but another driver of its scope runs it or holds it suspended
 * (*owner, when given, names that driver). */
/* Tells the driver a listing follows (mb_driver_list_ahead's hint); nothing
 * to do for a driver without the slot. */
bool mb_driver_list_ahead(struct mb_conn *c, unsigned flags, mb_error **err);
enum mb_state mb_driver_state(struct mb_conn *c, const struct mb_instance *i, const char **owner,
                              unsigned flags, mb_error **err);
bool mb_driver_destroy(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err);
pid_t mb_driver_pid(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                    mb_error **err);
bool mb_driver_ssh_address(struct mb_conn *c, const struct mb_instance *i,
                           struct mb_address *addr, unsigned flags, mb_error **err);
bool mb_driver_exec(struct mb_conn *c, const struct mb_instance *i, const struct mb_exec *x,
                    int *status, unsigned flags, mb_error **err);
char **mb_driver_ipv4(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err);
/* The static addresses of the instance's NICs on moonbase's networks (not
 * user networking), the primary first, without a /prefix: the engine's IPAM
 * configures the guest with exactly these, so a driver answers ipv4 with them
 * where no request is needed (qemu, libvirt, this host's LXD). */
char **mb_instance_static_ipv4(const struct mb_instance *i);
char *mb_driver_console_log(struct mb_conn *c, const struct mb_instance *i, size_t max_bytes,
                            unsigned flags, mb_error **err);
bool mb_driver_usage(struct mb_conn *c, const struct mb_instance *i, struct mb_usage *usage,
                     unsigned flags, mb_error **err);
bool mb_driver_snapshot_take(struct mb_conn *c, const struct mb_instance *i,
                             const char *snapshot, unsigned flags, mb_error **err);
bool mb_driver_snapshot_restore(struct mb_conn *c, const struct mb_instance *i,
                                const char *snapshot, unsigned flags, mb_error **err);
bool mb_driver_snapshot_delete(struct mb_conn *c, const struct mb_instance *i,
                               const char *snapshot, unsigned flags, mb_error **err);
struct mb_snapshot *mb_driver_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                            unsigned flags, mb_error **err);
bool mb_driver_clone(struct mb_conn *c, const struct mb_instance *i,
                     const struct mb_instance *target, unsigned flags, mb_error **err);
bool mb_driver_rename(struct mb_conn *c, const struct mb_instance *i,
                      const struct mb_instance *target, unsigned flags, mb_error **err);
bool mb_driver_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                           unsigned flags, mb_error **err);
bool mb_driver_mount_native(struct mb_conn *c, const struct mb_instance *i,
                            const struct mb_mount_spec *m, unsigned flags, mb_error **err);
bool mb_driver_umount_native(struct mb_conn *c, const struct mb_instance *i,
                             const struct mb_mount_spec *m, unsigned flags, mb_error **err);

#endif
