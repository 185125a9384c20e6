/* The JSON moonbase sends LXD for an instance (POST /1.0/instances): its
 * type, image, limits, cloud-init keys, NICs on moonbase's bridges and
 * shares as disk devices. Pure functions of a spec, so golden files
 * (tests/golden/lxd/) pin them without a daemon. */
#ifndef MB_LXD_JSON_H
#define MB_LXD_JSON_H

#include "core/json.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct mb_lxd_nic {
    const char *parent; /* the host bridge (moonbase0, mb-NAME, a host bridge), or */
    char *network;      /* an LXD network (a remote LXD's) */
    const char *ipv4;   /* network: the address LXD's DHCP hands out */
    const char *hwaddr;
};

struct mb_lxd_share {
    const char *device; /* LXD device name, e.g. "moonbase0" */
    const char *source; /* host folder */
    const char *path;   /* in the guest */
    bool readonly;
};

struct mb_lxd_spec {
    const char *name;
    bool vm;                 /* virtual-machine, else container */
    const char *fingerprint; /* the image, or */
    const char *copy_of;     /* a copy of this instance of the same LXD: its root file
                                system as it is, not its snapshots (a clone); its config
                                and devices but those given here, which replace them */
    const char *pool;        /* storage pool of the root disk */
    int cpus;                /* 0: LXD's default */
    uint64_t memory;         /* bytes, 0: LXD's default */
    uint64_t disk;           /* bytes, 0: the pool's default */
    const char *user_data;   /* cloud-init.user-data */
    const char *network_config;
    const char *idmap;       /* raw.idmap (containers), or NULL */
    const char *owner;       /* user.moonbase.home: the moonbase home that made it */
    bool fuse;               /* a container gets /dev/fuse (sshfs: classic mounts) */
    const struct mb_lxd_nic *nics; /* eth0, eth1, ... */
    size_t n_nics;
    const struct mb_lxd_share *shares;
    size_t n_shares;
};

/* The config key that names the moonbase home an instance belongs to: only
 * that home's moonbase stops or deletes it. */
#define MB_LXD_OWNER_KEY "user.moonbase.home"

/* The body of POST /1.0/instances: from the image, or (copy_of) a copy. */
mbj_t *mb_lxd_instance_json(const struct mb_lxd_spec *s, mb_error **err);
/* One share as a disk device. */
mbj_t *mb_lxd_share_json(const struct mb_lxd_share *m);
/* A size as LXD reads it: "2GiB", "512MiB", or "N" bytes + "B". */
void mb_lxd_size(uint64_t bytes, char out[32]);
/* raw.idmap lines that show host ids as guest ids ("uid H G\ngid H G"). */
char *mb_lxd_idmap(unsigned host_uid, unsigned host_gid, unsigned guest_uid, unsigned guest_gid);

#endif
