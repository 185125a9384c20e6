/* Builds an instance's libvirt domain XML. Choices that are not obvious:
 * - The machine is the QEMU driver's: q35, the overlay as the first virtio
 *   disk (boot order 1), the seed as a read-only raw virtio disk, a virtio
 *   RNG, no balloon, no USB, no graphics, the serial port appended to
 *   <dir>/serial.log. CPU: host-passthrough under KVM, "maximum" under TCG
 *   (QEMU's -cpu max, as the QEMU driver uses).
 * - User networking (no tap): libvirt 9.0's <interface type='user'> (SLIRP)
 *   has no host port forwards and no restrict=on (<portForward> exists only
 *   for the passt backend, which Debian 12's libvirt 9.0 does not accept), so
 *   the NIC is passed to QEMU with <qemu:commandline>: the same
 *   `-netdev user,...,restrict=on,hostfwd=tcp:127.0.0.1:PORT-:22` as the QEMU
 *   driver's, and its virtio-net device in JSON syntax (see below). libvirt
 *   marks such domains "tainted: custom-argv"; harmless.
 * - A NIC with a tap (created by the engine, as for the QEMU driver) is
 *   <interface type='ethernet'> with <target managed='no'>: libvirt uses the
 *   existing tap. A NIC without a tap is on a libvirt network: the primary
 *   one when the instance's network is one moonbase defines in libvirt
 *   (libvirt_net.c), an extra one for any libvirt network.
 * - 9p shares use accessmode='squash', which libvirt turns into QEMU's
 *   security_model=none, as the QEMU driver does, or 'mapped' (mapped-xattr)
 *   for shares the guest must not plant setuid files in (see qemu_argv.c).
 * - Every PCI device gets the address on pcie.0 the QEMU driver gives it
 *   (mb_qemu_pci_slots), so libvirt adds no pcie-root-ports and a guest's
 *   memory saved under one driver loads under the other.
 * - A disk lent to the storage pool (libvirt_lend.h) carries its backing
 *   store: the image's volume in the pool, not the cache path in the
 *   overlay's header, which QEMU's user cannot reach. */
#include "drivers/libvirt/libvirt_xml.h"
#include "drivers/qemu/qemu_argv.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s escaped for XML text and attribute values (quoted with ') */
void mb_xml_esc(struct mb_strbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': mb_strbuf_add(b, "&amp;"); break;
        case '<': mb_strbuf_add(b, "&lt;"); break;
        case '>': mb_strbuf_add(b, "&gt;"); break;
        case '\'': mb_strbuf_add(b, "&apos;"); break;
        case '"': mb_strbuf_add(b, "&quot;"); break;
        default: mb_strbuf_addn(b, s, 1);
        }
    }
}

/* s inside a JSON string (MAC addresses: only \\ and " need it) */
static void mb_xml_esc_json(struct mb_strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            mb_strbuf_add(b, "\\");
        mb_strbuf_addn(b, s, 1);
    }
}

/* <tag>escaped text</tag> on its own line */
static void element(struct mb_strbuf *b, const char *indent, const char *tag, const char *text)
{
    mb_strbuf_addf(b, "%s<%s>", indent, tag);
    mb_xml_esc(b, text);
    mb_strbuf_addf(b, "</%s>\n", tag);
}

void mb_libvirt_domain_name(char *buf, size_t n, const struct mb_instance *inst)
{
    uint32_t h = 2166136261u; /* FNV-1a of the directory */
    for (const char *c = inst->dir ? inst->dir : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    snprintf(buf, n, "mb-%s-%08x", inst->name, (unsigned)h);
}

static void disk_path(char *buf, size_t n, const struct mb_instance *inst,
                      const struct mb_libvirt_host *host)
{
    if (host->disk)
        snprintf(buf, n, "%s", host->disk);
    else
        snprintf(buf, n, "%s/disk.qcow2", inst->dir);
}

static void address(struct mb_strbuf *b, int slot)
{
    mb_strbuf_addf(b, "      <address type='pci' domain='0x0000' bus='0x00' slot='0x%02x' "
                   "function='0x0'/>\n", slot);
}

static void nic(struct mb_strbuf *b, const char *network, const char *tap, const char *mac,
                int slot)
{
    if (tap != NULL) {
        mb_strbuf_add(b, "    <interface type='ethernet'>\n");
    } else {
        mb_strbuf_add(b, "    <interface type='network'>\n      <source network='");
        mb_xml_esc(b, network);
        mb_strbuf_add(b, "'/>\n");
    }
    if (mac != NULL) {
        mb_strbuf_add(b, "      <mac address='");
        mb_xml_esc(b, mac);
        mb_strbuf_add(b, "'/>\n");
    }
    if (tap != NULL) {
        mb_strbuf_add(b, "      <target dev='");
        mb_xml_esc(b, tap);
        mb_strbuf_add(b, "' managed='no'/>\n");
    }
    mb_strbuf_add(b, "      <model type='virtio'/>\n");
    address(b, slot);
    mb_strbuf_add(b, "    </interface>\n");
}

static void qemu_arg(struct mb_strbuf *b, const char *value)
{
    mb_strbuf_add(b, "    <qemu:arg value='");
    mb_xml_esc(b, value);
    mb_strbuf_add(b, "'/>\n");
}

char *mb_libvirt_domain_xml(const struct mb_instance *inst, const struct mb_libvirt_host *host,
                            mb_error **err)
{
    struct mb_strbuf b = {0};
    char name[MB_LIBVIRT_NAMELEN], path[4096];
    static const struct mb_nic none = {.attach = MB_NIC_USER};
    const struct mb_nic *primary = inst->n_nics ? &inst->nics[0] : &none;
    bool user_net = primary->attach == MB_NIC_USER;
    struct mb_qemu_slots slot;

    if (!mb_qemu_pci_slots(inst, host->seed != NULL, &slot, err))
        return NULL;

    if (inst->image.kernel == NULL && (inst->image.initrd != NULL
                                       || inst->image.cmdline != NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "libvirt: \"%s\" has an initrd or kernel command line "
                     "but no kernel", inst->name);
        return NULL;
    }
    for (size_t k = user_net ? 1 : 0; k < inst->n_nics; k++) {
        const struct mb_nic *a = &inst->nics[k];
        if (a->attach == MB_NIC_USER || a->device == NULL || *a->device == '\0') {
            mb_error_set(err, MB_ERR_USAGE, "libvirt: network %zu of \"%s\" has neither a tap "
                         "nor a network name", k, inst->name);
            return NULL;
        }
    }
    mb_libvirt_domain_name(name, sizeof name, inst);

    mb_strbuf_addf(&b, "<domain type='%s'%s>\n", host->domain_type,
            user_net ? " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" : "");
    element(&b, "  ", "name", name);
    mb_strbuf_add(&b, "  <title>moonbase ");
    mb_xml_esc(&b, inst->name);
    mb_strbuf_add(&b, "</title>\n  <description>moonbase instance ");
    mb_xml_esc(&b, inst->name);
    mb_strbuf_add(&b, " in ");
    mb_xml_esc(&b, inst->dir);
    mb_strbuf_add(&b, "</description>\n");
    mb_strbuf_addf(&b, "  <memory unit='MiB'>%llu</memory>\n",
            (unsigned long long)((inst->memory + (1 << 20) - 1) >> 20));
    mb_strbuf_addf(&b, "  <vcpu>%d</vcpu>\n", inst->cpus > 0 ? inst->cpus : 1);
    mb_strbuf_add(&b, "  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n");
    if (inst->image.kernel != NULL) {
        element(&b, "    ", "kernel", inst->image.kernel);
        if (inst->image.initrd != NULL)
            element(&b, "    ", "initrd", inst->image.initrd);
        if (inst->image.cmdline != NULL)
            element(&b, "    ", "cmdline", inst->image.cmdline);
    }
    mb_strbuf_add(&b, "  </os>\n  <features>\n    <acpi/>\n    <apic/>\n  </features>\n");
    mb_strbuf_addf(&b, "  <cpu mode='%s' check='none'/>\n",
            strcmp(host->domain_type, "kvm") == 0 ? "host-passthrough" : "maximum");
    mb_strbuf_add(&b, "  <clock offset='utc'/>\n"
               "  <on_poweroff>destroy</on_poweroff>\n"
               "  <on_reboot>restart</on_reboot>\n"
               "  <on_crash>destroy</on_crash>\n"
               "  <devices>\n");
    if (host->emulator != NULL)
        element(&b, "    ", "emulator", host->emulator);

    disk_path(path, sizeof path, inst, host);
    mb_strbuf_add(&b, "    <disk type='file' device='disk'>\n"
               "      <driver name='qemu' type='qcow2' discard='unmap'/>\n"
               "      <source file='");
    mb_xml_esc(&b, path);
    mb_strbuf_add(&b, "'/>\n");
    if (host->backing != NULL) {
        /* the chain given whole: QEMU opens this file, not the header's */
        mb_strbuf_add(&b, "      <backingStore type='file'>\n        <format type='");
        mb_xml_esc(&b, host->backing_format ? host->backing_format : "qcow2");
        mb_strbuf_add(&b, "'/>\n        <source file='");
        mb_xml_esc(&b, host->backing);
        mb_strbuf_add(&b, "'/>\n        <backingStore/>\n      </backingStore>\n");
    }
    mb_strbuf_add(&b, "      <target dev='vda' bus='virtio'/>\n      <boot order='1'/>\n");
    address(&b, slot.disk);
    mb_strbuf_add(&b, "    </disk>\n");
    if (host->seed != NULL) {
        mb_strbuf_add(&b, "    <disk type='file' device='disk'>\n"
                   "      <driver name='qemu' type='raw'/>\n"
                   "      <source file='");
        mb_xml_esc(&b, host->seed);
        mb_strbuf_add(&b, "'/>\n      <target dev='vdb' bus='virtio'/>\n      <readonly/>\n");
        address(&b, slot.seed);
        mb_strbuf_add(&b, "    </disk>\n");
    }

    for (size_t k = user_net ? 1 : 0; k < inst->n_nics; k++) {
        const struct mb_nic *a = &inst->nics[k];
        nic(&b, a->device, a->attach == MB_NIC_TAP ? a->device : NULL, a->mac, slot.nic + (int)k);
    }

    for (size_t k = 0; k < inst->n_mounts; k++) {
        const struct mb_mount_spec *m = &inst->mounts[k];
        mb_strbuf_addf(&b, "    <filesystem type='mount' accessmode='%s'>\n"
                       "      <source dir='", m->mapped ? "mapped" : "squash");
        mb_xml_esc(&b, m->source);
        mb_strbuf_add(&b, "'/>\n      <target dir='");
        mb_xml_esc(&b, m->tag);
        mb_strbuf_add(&b, "'/>\n");
        if (m->readonly)
            mb_strbuf_add(&b, "      <readonly/>\n");
        address(&b, slot.mounts_first + (int)k);
        mb_strbuf_add(&b, "    </filesystem>\n");
    }

    if (host->serial != NULL)
        snprintf(path, sizeof path, "%s", host->serial);
    else
        snprintf(path, sizeof path, "%s/serial.log", inst->dir);
    mb_strbuf_add(&b, "    <serial type='file'>\n      <source path='");
    mb_xml_esc(&b, path);
    mb_strbuf_add(&b, "' append='on'/>\n      <target port='0'/>\n    </serial>\n"
               "    <controller type='usb' model='none'/>\n"
               "    <memballoon model='none'/>\n"
               "    <rng model='virtio'>\n"
               "      <backend model='random'>/dev/urandom</backend>\n");
    address(&b, slot.rng);
    mb_strbuf_add(&b, "    </rng>\n  </devices>\n");

    if (user_net) {
        struct mb_strbuf v = {0};
        mb_strbuf_add(&v, "user,id=mbnet0");
        if (host->restrict_user_net)
            mb_strbuf_add(&v, ",restrict=on");
        if (primary->host_port > 0)
            mb_strbuf_addf(&v, ",hostfwd=tcp:127.0.0.1:%d-:22", primary->host_port);
        mb_strbuf_add(&b, "  <qemu:commandline>\n");
        qemu_arg(&b, "-netdev");
        qemu_arg(&b, v.s ? v.s : "");
        /* JSON, as libvirt writes its own -device options; at the QEMU
         * driver's address for it, like every other device */
        v.n = 0;
        mb_strbuf_addf(&v, "{\"driver\":\"virtio-net-pci\",\"netdev\":\"mbnet0\","
                       "\"bus\":\"pcie.0\",\"addr\":\"%#x\"", slot.nic);
        if (primary->mac != NULL) {
            mb_strbuf_add(&v, ",\"mac\":\"");
            mb_xml_esc_json(&v, primary->mac);
            mb_strbuf_add(&v, "\"");
        }
        mb_strbuf_add(&v, "}");
        qemu_arg(&b, "-device");
        qemu_arg(&b, v.s ? v.s : "");
        if (v.oom)
            b.oom = true;
        free(v.s);
        mb_strbuf_add(&b, "  </qemu:commandline>\n");
    }
    mb_strbuf_add(&b, "</domain>\n");

    if (b.oom) {
        free(b.s);
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory building the domain XML of "
                     "\"%s\"", inst->name);
        return NULL;
    }
    return b.s;
}

char *mb_libvirt_snapshot_xml(const char *tag, bool seed, int64_t created,
                              const char *domain_xml, mb_error **err)
{
    struct mb_strbuf b = {0};
    mb_strbuf_add(&b, "<domainsnapshot>\n");
    element(&b, "  ", "name", tag);
    if (domain_xml != NULL) {
        mb_strbuf_add(&b, "  <state>running</state>\n");
        if (created > 0)
            mb_strbuf_addf(&b, "  <creationTime>%lld</creationTime>\n", (long long)created);
    }
    mb_strbuf_add(&b, "  <memory snapshot='internal'/>\n  <disks>\n"
                  "    <disk name='vda' snapshot='internal'/>\n");
    if (seed)
        mb_strbuf_add(&b, "    <disk name='vdb' snapshot='no'/>\n");
    mb_strbuf_add(&b, "  </disks>\n");
    if (domain_xml != NULL)
        mb_strbuf_add(&b, domain_xml);
    mb_strbuf_add(&b, "</domainsnapshot>\n");
    if (b.oom) {
        free(b.s);
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory building snapshot %s", tag);
        return NULL;
    }
    return b.s;
}
