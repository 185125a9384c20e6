/* The QEMU command line of an instance, as a pure function of the instance
 * spec and a few host facts, so golden-file tests pin it down without a
 * hypervisor (tests/golden/qemu/<case>.args). */
#ifndef MB_QEMU_ARGV_H
#define MB_QEMU_ARGV_H

#include <stddef.h>

#include "driver/driver.h"

/* What the host contributes to the command line (from the driver's probe). */
struct mb_qemu_host {
    const char *binary; /* argv[0]: "qemu-system-x86_64" or a path */
    const char *accel;  /* -machine accel=: "kvm", "tcg" or "kvm:tcg" */
    const char *cpu;    /* -cpu: "host" with KVM, "max" otherwise */
    const char *why;    /* why this accel, in a few words (NULL: not said) */
};

/* What one start adds to the instance spec. */
struct mb_qemu_opts {
    const char *seed;       /* the cloud-init seed ISO, or NULL */
    const char *incoming;   /* a saved state to resume from (a migration stream), or NULL */
    const char *loadvm;     /* or an internal snapshot of the overlay with the guest's
                               memory to resume from, or NULL */
    bool restrict_user_net; /* user networking: nothing but the forwards (restrict=on) */
};

/* The argv (NULL-terminated, free with mb_strv_free) that boots inst, or with
 * o->incoming (o->loadvm) resumes it from that file (snapshot). Paths come from the instance: its
 * disk (<dir>/disk.qcow2), kernel; QEMU's own files in <dir> (qmp.sock,
 * serial.log). A NIC is a tap (MB_NIC_TAP) or user networking with its SSH
 * forward (MB_NIC_USER); the driver's own networks are libvirt's. */
char **mb_qemu_argv(const struct mb_instance *inst, const struct mb_qemu_host *host,
                    const struct mb_qemu_opts *o, mb_error **err);

/* The PCI slot (on pcie.0) of each device, the same for both drivers of the
 * scope "qemu": a guest's saved memory only loads into a machine whose
 * devices sit at the addresses it was saved with, so a snapshot with memory
 * taken under one driver resumes under the other. The order is the one
 * QEMU gives devices without addresses (states saved before the addresses
 * were explicit still load): the RNG, the overlay, the seed (when `seed`),
 * the NICs, the 9p shares. 0 = no such device. */
struct mb_qemu_slots {
    int rng, disk, seed;
    int nic;          /* NIC k (the primary first) is at nic + k */
    int mounts_first; /* 9p share k is at mounts_first + k */
};
bool mb_qemu_pci_slots(const struct mb_instance *inst, bool seed, struct mb_qemu_slots *s,
                       mb_error **err);

/* <dir>/<file> into buf; false if it does not fit. */
bool mb_qemu_path(char *buf, size_t n, const struct mb_instance *inst, const char *file);
/* The overlay disk: <dir>/disk.qcow2 (MB_QEMU_DISK). */
#define MB_QEMU_DISK "disk.qcow2"
bool mb_qemu_disk_path(char *buf, size_t n, const struct mb_instance *inst);
/* The cloud-init seed: <dir>/cidata.iso (MB_QEMU_SEED), made by create. */
#define MB_QEMU_SEED "cidata.iso"
/* The primary NIC's static address, without a /prefix; false when none. */
bool mb_qemu_primary_ipv4(const struct mb_instance *i, char *buf, size_t n);
/* Where SSH of a QEMU guest listens: its bridge address, or the user-networking
 * forward on 127.0.0.1 (shared by the qemu and libvirt drivers). */
bool mb_qemu_ssh_address(struct mb_conn *c, const struct mb_instance *i,
                         struct mb_address *addr, unsigned flags, mb_error **err);
/* The -drive value of the overlay disk: it names the instance's QEMU in
 * /proc/<pid>/cmdline. Caller frees. */
char *mb_qemu_disk_drive(const struct mb_instance *inst);

/* s single-quoted for /bin/sh (for exec: migration URIs). Caller frees. */
char *mb_qemu_shell_quote(const char *s);

#endif
