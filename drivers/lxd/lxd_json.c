/* The instance JSON for LXD: see lxd_json.h. */
#include "drivers/lxd/lxd_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

void mb_lxd_size(uint64_t bytes, char out[32])
{
    const uint64_t gib = (uint64_t)1 << 30, mib = (uint64_t)1 << 20;
    if (bytes >= gib && bytes % gib == 0)
        snprintf(out, 32, "%" PRIu64 "GiB", bytes / gib);
    else if (bytes >= mib && bytes % mib == 0)
        snprintf(out, 32, "%" PRIu64 "MiB", bytes / mib);
    else
        snprintf(out, 32, "%" PRIu64 "B", bytes);
}

char *mb_lxd_idmap(unsigned host_uid, unsigned host_gid, unsigned guest_uid, unsigned guest_gid)
{
    char *s = NULL;
    if (asprintf(&s, "uid %u %u\ngid %u %u", host_uid, guest_uid, host_gid, guest_gid) < 0)
        return NULL;
    return s;
}

mbj_t *mb_lxd_share_json(const struct mb_lxd_share *m)
{
    mbj_t *d = mbj_pack("{s:s, s:s, s:s}", "type", "disk", "source", m->source, "path",
                          m->path);
    if (d && m->readonly)
        mbj_object_set_new(d, "readonly", mbj_string("true"));
    return d;
}

static bool set_str(mbj_t *o, const char *k, const char *v)
{
    return v == NULL || mbj_object_set_new(o, k, mbj_string(v)) == 0;
}

mbj_t *mb_lxd_instance_json(const struct mb_lxd_spec *s, mb_error **err)
{
    mbj_t *config = mbj_object(), *devices = mbj_object();
    mbj_t *body = NULL;
    char buf[32];
    bool ok = config && devices;
    if (ok && s->cpus > 0) {
        snprintf(buf, sizeof buf, "%d", s->cpus);
        ok = set_str(config, "limits.cpu", buf);
    }
    if (ok && s->memory > 0) {
        mb_lxd_size(s->memory, buf);
        ok = set_str(config, "limits.memory", buf);
    }
    ok = ok && set_str(config, "cloud-init.user-data", s->user_data) &&
         set_str(config, "cloud-init.network-config", s->network_config) &&
         (s->vm || set_str(config, "raw.idmap", s->idmap)) &&
         set_str(config, MB_LXD_OWNER_KEY, s->owner);

    mbj_t *root = ok ? mbj_pack("{s:s, s:s}", "type", "disk", "path", "/") : NULL;
    ok = root && set_str(root, "pool", s->pool);
    if (ok && s->disk > 0) {
        mb_lxd_size(s->disk, buf);
        ok = set_str(root, "size", buf);
    }
    ok = ok && mbj_object_set_new(devices, "root", root) == 0;
    root = NULL;
    for (size_t i = 0; ok && i < s->n_nics; i++) {
        char name[32];
        snprintf(name, sizeof name, "eth%zu", i);
        const struct mb_lxd_nic *n = &s->nics[i];
        mbj_t *nic = n->network
                          ? mbj_pack("{s:s, s:s, s:s}", "type", "nic", "network", n->network,
                                     "name", name)
                          : mbj_pack("{s:s, s:s, s:s, s:s}", "type", "nic", "nictype",
                                     "bridged", "parent", n->parent, "name", name);
        ok = nic && set_str(nic, "hwaddr", n->hwaddr) &&
             set_str(nic, "ipv4.address", n->network ? n->ipv4 : NULL) &&
             mbj_object_set_new(devices, name, nic) == 0;
    }
    for (size_t i = 0; ok && i < s->n_shares; i++)
        ok = mbj_object_set_new(devices, s->shares[i].device,
                                mb_lxd_share_json(&s->shares[i])) == 0;
    /* FUSE in an unprivileged container (the kernel allows it in a user
     * namespace): sshfs, for classic mounts */
    if (ok && s->fuse && !s->vm)
        ok = mbj_object_set_new(devices, "fuse",
                                mbj_pack("{s:s, s:s, s:s}", "type", "unix-char", "source",
                                         "/dev/fuse", "path", "/dev/fuse")) == 0;
    /* a VM reads cloud-init from a config drive LXD makes of these keys */
    if (ok && s->vm)
        ok = mbj_object_set_new(devices, "cloud-init",
                                mbj_pack("{s:s, s:s}", "type", "disk", "source",
                                         "cloud-init:config")) == 0;
    /* a copy is of the source's type (LXD refuses another), so none is named */
    if (ok && s->copy_of)
        body = mbj_pack("{s:s, s:{s:s, s:s, s:b}, s:O, s:O}", "name", s->name, "source",
                        "type", "copy", "source", s->copy_of, "instance_only", 1, "config",
                        config, "devices", devices);
    else if (ok)
        body = mbj_pack("{s:s, s:s, s:{s:s, s:s}, s:O, s:O}", "name", s->name, "type",
                        s->vm ? "virtual-machine" : "container", "source", "type", "image",
                        "fingerprint", s->fingerprint, "config", config, "devices", devices);
    mbj_decref(root);
    mbj_decref(config);
    mbj_decref(devices);
    if (body == NULL)
        mb_error_set(err, MB_ERR_FAILED, "lxd: cannot make the instance JSON of \"%s\"",
                     s->name ? s->name : "?");
    return body;
}
