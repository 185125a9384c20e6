/* moonbase's networks as LXD networks: see lxd_net.h. */
#include "drivers/lxd/lxd_net.h"
#include "core/strbuf.h"

#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB_NAME_KEY "user.moonbase.name"

/* the config moonbase wants on the LXD network for n: its subnet, and a DNS
 * record of each host's (guests configure their static address themselves,
 * so LXD's dnsmasq sees no lease to name them by) */
static mbj_t *config_of(const struct mb_net_spec *n)
{
    char addr[64];
    snprintf(addr, sizeof addr, "%s/%d", n->gateway, n->prefix);
    struct mb_strbuf dns = {0};
    for (size_t k = 0; k < n->n_hosts; k++)
        mb_strbuf_addf(&dns, "host-record=%s.%s,%s\n", n->hosts[k].name, n->domain,
                       n->hosts[k].ipv4);
    char *records = mb_strbuf_finish(&dns);
    mbj_t *cfg = records ? mbj_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                                      "ipv4.address", addr, "ipv4.nat", "true", "ipv4.dhcp",
                                      "true", "ipv6.address", "none", "dns.domain", n->domain,
                                      "dns.mode", "managed", "raw.dnsmasq", records,
                                      MB_NAME_KEY, n->name)
                          : NULL;
    free(records);
    return cfg;
}

bool mb_lxd_network_ensure(struct mb_lxd *c, const struct mb_net_spec *n, mb_error **err)
{
    char path[300];
    snprintf(path, sizeof path, "/1.0/networks/%s", n->bridge);
    mbj_t *want = config_of(n);
    if (want == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return false;
    }
    mb_error *e = NULL;
    mbj_t *have = mb_lxd_request(c, "GET", path, NULL, NULL, &e);
    bool ok;
    if (have == NULL && e->code == MB_ERR_NOT_FOUND) {
        mb_error_free(e);
        mbj_t *body = mbj_pack("{s:s, s:s, s:s, s:O}", "name", n->bridge, "type", "bridge",
                                 "description", n->network, "config", want);
        mbj_t *r = body ? mb_lxd_request(c, "POST", "/1.0/networks", body, NULL, err) : NULL;
        ok = r != NULL;
        mbj_decref(r);
        mbj_decref(body);
    } else if (have == NULL) {
        *err = e;
        ok = false;
    } else {
        /* there: only what differs changes (its instances stay connected) */
        mbj_t *cfg = mbj_object_get(have, "config"), *patch = mbj_object();
        const char *k;
        mbj_t *v;
        mbj_object_foreach(want, k, v)
            if (!mbj_equal(mbj_object_get(cfg, k), v))
                mbj_object_set(patch, k, v);
        ok = true;
        if (mbj_object_size(patch) > 0) {
            mbj_t *body = mbj_pack("{s:O}", "config", patch);
            mbj_t *r = mb_lxd_request(c, "PATCH", path, body, NULL, err);
            ok = r != NULL;
            mbj_decref(r);
            mbj_decref(body);
        }
        mbj_decref(patch);
    }
    mbj_decref(have);
    mbj_decref(want);
    return ok;
}

/* Every LXD network that carries a moonbase name. */
static mbj_t *ours(struct mb_lxd *c, mb_error **err)
{
    return mb_lxd_request(c, "GET", "/1.0/networks?recursion=1", NULL, NULL, err);
}

static const char *mb_name(mbj_t *net)
{
    return mbj_string_value(mbj_object_get(mbj_object_get(net, "config"), MB_NAME_KEY));
}

char *mb_lxd_network_of(struct mb_lxd *c, const char *name, mb_error **err)
{
    mbj_t *all = ours(c, err);
    if (all == NULL)
        return NULL;
    char *out = NULL;
    size_t i;
    mbj_t *net;
    mbj_array_foreach(all, i, net) {
        const char *m = mb_name(net);
        if (m && strcmp(m, name) == 0) {
            out = strdup(mbj_string_value(mbj_object_get(net, "name")));
            break;
        }
    }
    mbj_decref(all);
    if (out == NULL)
        mb_error_set(err, MB_ERR_NOT_FOUND, "%s has no network for moonbase's %s (it is made "
                     "with the first instance on it)", mb_lxd_where(c), name);
    return out;
}

int mb_lxd_network_remove(struct mb_lxd *c, const char *name, mb_error **err)
{
    char *lxdname = mb_lxd_network_of(c, name, err);
    if (lxdname == NULL) {
        if (*err && (*err)->code == MB_ERR_NOT_FOUND) {
            mb_error_free(*err);
            *err = NULL;
            return 0;
        }
        return -1;
    }
    char path[300];
    snprintf(path, sizeof path, "/1.0/networks/%s", lxdname);
    free(lxdname);
    mbj_t *r = mb_lxd_request(c, "DELETE", path, NULL, NULL, err);
    mbj_decref(r);
    return r ? 1 : -1;
}

struct mb_net_info *mb_lxd_network_list(struct mb_lxd *c, size_t *n, mb_error **err)
{
    mbj_t *all = ours(c, err);
    if (all == NULL)
        return NULL;
    size_t cap = mbj_array_size(all);
    struct mb_net_info *v = calloc(cap + 1, sizeof *v);
    *n = 0;
    size_t i;
    mbj_t *net;
    mbj_array_foreach(all, i, net) {
        const char *lname = mbj_string_value(mbj_object_get(net, "name"));
        const char *type = mbj_string_value(mbj_object_get(net, "type"));
        const char *m = mb_name(net);
        if (v == NULL || lname == NULL || type == NULL || strcmp(type, "bridge") != 0)
            continue;
        struct mb_net_info *e = &v[(*n)++];
        e->name = strdup(m ? m : lname);
        e->bridge = strdup(lname);
        e->network = m ? strdup(mbj_string_value(mbj_object_get(net, "description"))) : NULL;
        const char *status = mbj_string_value(mbj_object_get(net, "status"));
        e->active = status == NULL || strcmp(status, "Created") == 0;
        e->ports = (int)mbj_array_size(mbj_object_get(net, "used_by"));
    }
    mbj_decref(all);
    if (v == NULL)
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
    return v;
}
