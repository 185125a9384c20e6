/* Builds QEMU's command line. Choices that are not obvious:
 * - `-nodefaults -no-user-config`: only the devices listed here, whatever the
 *   host's QEMU config says, so the argv (and a saved state) is reproducible.
 * - Commas inside option values are doubled (QEMU's escape), so any path works.
 * - The QMP socket is given by absolute path when it fits in sun_path (108
 *   bytes); otherwise as "qmp.sock" relative to QEMU's working directory,
 *   which the driver sets to the instance directory.
 * - 9p shares use security_model=none: files the guest creates are owned on
 *   the host by the user running QEMU (normally the share's owner) with the
 *   modes the guest asked for, and existing files keep their real owner and
 *   modes; passthrough needs root to chown. But QEMU running as root under
 *   `none` lets a guest's root plant setuid-root files and chown host files
 *   (tested: tests/e2e/mounts_spec.lua), so such shares are `mapped`:
 *   mapped-xattr keeps the guest's owners and modes in xattrs and the host
 *   files at 0600/0700, owned by QEMU's user. The transfer
 *   size is the guest's choice: mount with -o trans=virtio,version=9p2000.L,
 *   msize=524288 (the 8 KiB default makes 9p crawl).
 * - A virtio-rng device, because a fresh guest's SSH server should not wait
 *   for entropy under TCG.
 * - Every PCI device has an explicit address on pcie.0 (mb_qemu_pci_slots),
 *   the one the libvirt driver's domain XML gives it too. */
#include "drivers/qemu/qemu_argv.h"
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* s with every ',' doubled: QEMU's escape inside a key=value list */
static void add_esc(struct mb_strbuf *b, const char *s)
{
    for (const char *c; (c = strchr(s, ',')) != NULL; s = c + 1) {
        mb_strbuf_addn(b, s, (size_t)(c - s) + 1);
        mb_strbuf_addn(b, ",", 1);
    }
    mb_strbuf_add(b, s);
}

/* s in single quotes for /bin/sh */
static void add_shq(struct mb_strbuf *b, const char *s)
{
    mb_strbuf_add(b, "'");
    for (const char *c; (c = strchr(s, '\'')) != NULL; s = c + 1) {
        mb_strbuf_addn(b, s, (size_t)(c - s));
        mb_strbuf_add(b, "'\\''");
    }
    mb_strbuf_add(b, s);
    mb_strbuf_add(b, "'");
}

/* Pushes the built string as one argument and resets the builder. */
static void push(char ***v, struct mb_strbuf *b, bool *ok)
{
    if (b->oom || !mb_strv_push(v, b->s ? b->s : ""))
        *ok = false;
    b->n = 0;
    if (b->s)
        b->s[0] = '\0';
}

static void arg(char ***v, struct mb_strbuf *b, bool *ok, const char *s)
{
    mb_strbuf_add(b, s);
    push(v, b, ok);
}

char *mb_qemu_shell_quote(const char *s)
{
    struct mb_strbuf b = {0};
    add_shq(&b, s);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

bool mb_qemu_path(char *buf, size_t n, const struct mb_instance *inst, const char *file)
{
    int len = snprintf(buf, n, "%s/%s", inst->dir, file);
    return len >= 0 && (size_t)len < n;
}

bool mb_qemu_disk_path(char *buf, size_t n, const struct mb_instance *inst)
{
    return mb_qemu_path(buf, n, inst, MB_QEMU_DISK);
}

char *mb_qemu_disk_drive(const struct mb_instance *inst)
{
    char disk[4096];
    if (!mb_qemu_disk_path(disk, sizeof disk, inst))
        return NULL;
    struct mb_strbuf b = {0};
    mb_strbuf_add(&b, "file=");
    add_esc(&b, disk);
    mb_strbuf_add(&b, ",if=none,id=disk0,format=qcow2,discard=unmap");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* The first slot after the ICH9 functions QEMU's q35 always has (0x1f). */
#define MB_QEMU_SLOT_LIMIT 0x1f

bool mb_qemu_pci_slots(const struct mb_instance *inst, bool seed, struct mb_qemu_slots *s,
                       mb_error **err)
{
    size_t nics = inst->n_nics ? inst->n_nics : 1;
    int next = 1;
    s->rng = next++;
    s->disk = next++;
    s->seed = seed ? next++ : 0;
    s->nic = next;
    if (nics > MB_QEMU_SLOT_LIMIT || inst->n_mounts > MB_QEMU_SLOT_LIMIT
        || next + (int)nics + (int)inst->n_mounts > MB_QEMU_SLOT_LIMIT) {
        mb_error_set(err, MB_ERR_USAGE, "qemu: \"%s\" has too many NICs and native mounts "
                     "for one PCI bus (%zu + %zu; at most %d together)", inst->name, nics,
                     inst->n_mounts, MB_QEMU_SLOT_LIMIT - s->nic);
        return false;
    }
    next += (int)nics;
    s->mounts_first = next;
    return true;
}

/* One NIC: its backend (-netdev) and its virtio device at PCI slot `slot`. */
static void add_nic(char ***v, struct mb_strbuf *b, bool *ok, int idx, int slot,
                    const struct mb_nic *nic, const struct mb_qemu_opts *o)
{
    arg(v, b, ok, "-netdev");
    if (nic->attach == MB_NIC_TAP) {
        mb_strbuf_addf(b, "tap,id=net%d,ifname=", idx);
        add_esc(b, nic->device);
        mb_strbuf_add(b, ",script=no,downscript=no");
    } else {
        mb_strbuf_addf(b, "user,id=net%d", idx);
        if (o && o->restrict_user_net)
            mb_strbuf_add(b, ",restrict=on");
        if (nic->host_port > 0)
            mb_strbuf_addf(b, ",hostfwd=tcp:127.0.0.1:%d-:22", nic->host_port);
    }
    push(v, b, ok);
    arg(v, b, ok, "-device");
    mb_strbuf_addf(b, "virtio-net-pci,netdev=net%d,bus=pcie.0,addr=%#x", idx, slot);
    if (nic->mac != NULL) {
        mb_strbuf_add(b, ",mac=");
        add_esc(b, nic->mac);
    }
    push(v, b, ok);
}

char **mb_qemu_argv(const struct mb_instance *inst, const struct mb_qemu_host *host,
                    const struct mb_qemu_opts *o, mb_error **err)
{
    char **v = mb_strv_new();
    struct mb_strbuf b = {0};
    bool ok = v != NULL;
    char path[4096];
    struct mb_qemu_slots slot;
    const char *incoming = o ? o->incoming : NULL;
    const char *loadvm = o ? o->loadvm : NULL;

    if (!mb_qemu_pci_slots(inst, o && o->seed != NULL, &slot, err))
        goto fail;
    if (incoming != NULL && loadvm != NULL) {
        mb_error_set(err, MB_ERR_USAGE, "qemu: \"%s\" cannot resume from a saved state and a "
                     "snapshot at once", inst->name);
        goto fail;
    }

    for (size_t k = 0; k < inst->n_nics; k++) {
        const struct mb_nic *n = &inst->nics[k];
        if (n->attach == MB_NIC_NETWORK) {
            mb_error_set(err, MB_ERR_USAGE, "qemu: \"%s\" is on the libvirt network %s, which "
                         "only the libvirt driver can join (try: moonbase set "
                         "local.driver=libvirt)", inst->name, n->device ? n->device : "?");
            goto fail;
        }
        if (n->attach == MB_NIC_TAP && (n->device == NULL || n->device[0] == '\0')) {
            mb_error_set(err, MB_ERR_USAGE, "qemu: network %zu (\"%s\") of \"%s\" has no tap "
                         "device (the engine creates one per network)", k,
                         n->network ? n->network : "?", inst->name);
            goto fail;
        }
    }
    if (inst->image.kernel == NULL && (inst->image.initrd != NULL || inst->image.cmdline != NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "qemu: \"%s\" has an initrd or kernel command line "
                     "but no kernel", inst->name);
        goto fail;
    }
    if (!ok)
        goto oom;

    arg(&v, &b, &ok, host->binary);
    arg(&v, &b, &ok, "-name");
    add_esc(&b, inst->name);
    push(&v, &b, &ok);
    arg(&v, &b, &ok, "-machine");
    mb_strbuf_addf(&b, "q35,accel=%s", host->accel);
    push(&v, &b, &ok);
    arg(&v, &b, &ok, "-cpu");
    arg(&v, &b, &ok, host->cpu);
    arg(&v, &b, &ok, "-smp");
    mb_strbuf_addf(&b, "%d", inst->cpus > 0 ? inst->cpus : 1);
    push(&v, &b, &ok);
    arg(&v, &b, &ok, "-m");
    mb_strbuf_addf(&b, "%lluM", (unsigned long long)((inst->memory + (1 << 20) - 1) >> 20));
    push(&v, &b, &ok);
    arg(&v, &b, &ok, "-nodefaults");
    arg(&v, &b, &ok, "-no-user-config");
    arg(&v, &b, &ok, "-display");
    arg(&v, &b, &ok, "none");

    arg(&v, &b, &ok, "-qmp");
    if (!mb_qemu_path(path, sizeof path, inst, "qmp.sock"))
        goto toolong;
    mb_strbuf_add(&b, "unix:");
    add_esc(&b, strlen(path) < sizeof((struct sockaddr_un *)0)->sun_path ? path
                                                                            : "qmp.sock");
    mb_strbuf_add(&b, ",server=on,wait=off");
    push(&v, &b, &ok);

    arg(&v, &b, &ok, "-chardev");
    if (!mb_qemu_path(path, sizeof path, inst, "serial.log"))
        goto toolong;
    mb_strbuf_add(&b, "file,id=serial0,path=");
    add_esc(&b, path);
    mb_strbuf_add(&b, ",append=on");
    push(&v, &b, &ok);
    arg(&v, &b, &ok, "-serial");
    arg(&v, &b, &ok, "chardev:serial0");
    arg(&v, &b, &ok, "-object");
    arg(&v, &b, &ok, "rng-random,id=rng0,filename=/dev/urandom");
    arg(&v, &b, &ok, "-device");
    mb_strbuf_addf(&b, "virtio-rng-pci,rng=rng0,bus=pcie.0,addr=%#x", slot.rng);
    push(&v, &b, &ok);

    if (inst->image.kernel != NULL) {
        arg(&v, &b, &ok, "-kernel");
        arg(&v, &b, &ok, inst->image.kernel);
        if (inst->image.initrd != NULL) {
            arg(&v, &b, &ok, "-initrd");
            arg(&v, &b, &ok, inst->image.initrd);
        }
        if (inst->image.cmdline != NULL) {
            arg(&v, &b, &ok, "-append");
            arg(&v, &b, &ok, inst->image.cmdline);
        }
    }

    /* the overlay is the first virtio disk (vda) and the firmware's boot disk */
    char *drive = mb_qemu_disk_drive(inst);
    if (drive == NULL)
        goto toolong;
    arg(&v, &b, &ok, "-drive");
    arg(&v, &b, &ok, drive);
    free(drive);
    arg(&v, &b, &ok, "-device");
    mb_strbuf_addf(&b, "virtio-blk-pci,drive=disk0,bootindex=1,bus=pcie.0,addr=%#x", slot.disk);
    push(&v, &b, &ok);
    if (o && o->seed != NULL) {
        arg(&v, &b, &ok, "-drive");
        mb_strbuf_add(&b, "file=");
        add_esc(&b, o->seed);
        mb_strbuf_add(&b, ",if=none,id=seed0,format=raw,readonly=on");
        push(&v, &b, &ok);
        arg(&v, &b, &ok, "-device");
        mb_strbuf_addf(&b, "virtio-blk-pci,drive=seed0,bus=pcie.0,addr=%#x", slot.seed);
        push(&v, &b, &ok);
    }

    /* no NIC at all: user networking without a forward (as QEMU would) */
    static const struct mb_nic none = {.attach = MB_NIC_USER};
    for (size_t k = 0; k < (inst->n_nics ? inst->n_nics : 1); k++)
        add_nic(&v, &b, &ok, (int)k, slot.nic + (int)k, inst->n_nics ? &inst->nics[k] : &none,
                o);

    /* -fsdev + -device rather than -virtfs, which has no PCI address */
    for (size_t k = 0; k < inst->n_mounts; k++) {
        const struct mb_mount_spec *m = &inst->mounts[k];
        arg(&v, &b, &ok, "-fsdev");
        mb_strbuf_add(&b, "local,path=");
        add_esc(&b, m->source);
        mb_strbuf_addf(&b, ",security_model=%s,id=fs%zu", m->mapped ? "mapped-xattr" : "none",
                       k);
        if (m->readonly)
            mb_strbuf_add(&b, ",readonly=on");
        push(&v, &b, &ok);
        arg(&v, &b, &ok, "-device");
        mb_strbuf_addf(&b, "virtio-9p-pci,fsdev=fs%zu,mount_tag=", k);
        add_esc(&b, m->tag);
        mb_strbuf_addf(&b, ",bus=pcie.0,addr=%#x", slot.mounts_first + (int)k);
        push(&v, &b, &ok);
    }

    if (incoming != NULL) {
        /* QEMU runs this through /bin/sh; the path is quoted for it */
        arg(&v, &b, &ok, "-incoming");
        mb_strbuf_add(&b, "exec:cat ");
        add_shq(&b, incoming);
        push(&v, &b, &ok);
    }
    if (loadvm != NULL) {
        /* reverts the overlay to the snapshot and loads its memory: the
         * guest runs on from the moment it was taken */
        arg(&v, &b, &ok, "-loadvm");
        arg(&v, &b, &ok, loadvm);
    }
    if (!ok)
        goto oom;
    free(b.s);
    return v;

toolong:
    mb_error_set(err, MB_ERR_USAGE, "qemu: a path of \"%s\" is too long (dir %s)", inst->name,
                 inst->dir);
    goto fail;
oom:
    mb_error_set(err, MB_ERR_FAILED, "qemu: out of memory building the command line of \"%s\"",
                 inst->name);
fail:
    free(b.s);
    mb_strv_free(v);
    return NULL;
}
