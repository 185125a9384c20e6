/* libvirt networks moonbase defines (see libvirt_net.h). Choices that are
 * not obvious:
 * - The DHCP range is the top quarter of the subnet (all of it for tiny
 *   subnets): moonbase's IPAM allocates from the bottom, and its instances
 *   get static hosts; the range only serves machines moonbase does not know.
 * - <domain localOnly='yes'>: names under "moonbase" are answered from the
 *   network's hosts and never forwarded; the DNS hosts are written as
 *   <name>.<domain> because guests have static addresses and never ask DHCP,
 *   which is how dnsmasq would learn the DHCP hosts' names.
 * - Hosts on a running network are changed with virNetworkUpdate (live and
 *   persistent config), so domains on it keep their connections. The current
 *   hosts are read back from the network's XML, which libvirt formats with
 *   single-quoted attributes in a fixed order. */
#include "drivers/libvirt/libvirt_net.h"
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_xml.h"
#include "core/log.h"

#include <libvirt/virterror.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- XML */

static void dhcp_host(struct mb_strbuf *b, const char *indent,
                      const struct mb_net_host *h)
{
    mb_strbuf_addf(b, "%s<host mac='", indent);
    mb_xml_esc(b, h->mac);
    mb_strbuf_add(b, "' name='");
    mb_xml_esc(b, h->name);
    mb_strbuf_add(b, "' ip='");
    mb_xml_esc(b, h->ipv4);
    mb_strbuf_add(b, "'/>\n");
}

static void dns_host(struct mb_strbuf *b, const char *indent, const char *ipv4,
                     const char *hostname)
{
    mb_strbuf_addf(b, "%s<host ip='", indent);
    mb_xml_esc(b, ipv4);
    mb_strbuf_addf(b, "'>\n%s  <hostname>", indent);
    mb_xml_esc(b, hostname);
    mb_strbuf_addf(b, "</hostname>\n%s</host>\n", indent);
}

static char *fqdn(const char *name, const char *domain)
{
    size_t n = strlen(name) + strlen(domain) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s.%s", name, domain);
    return s;
}

/* The DHCP range of gateway/prefix into start and end (16 bytes each). */
static bool dhcp_range(const char *gateway, int prefix, char *start, char *end)
{
    struct in_addr a;
    if (prefix < 8 || prefix > 30 || inet_pton(AF_INET, gateway, &a) != 1)
        return false;
    uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
    uint32_t net = ntohl(a.s_addr) & mask, bcast = net | ~mask;
    uint32_t first = net + 2, last = bcast - 1; /* the gateway is net + 1 */
    if (last < first)
        return false;
    uint32_t span = last - first + 1;
    if (span >= 8)
        first = last - span / 4 + 1;
    struct in_addr s = {htonl(first)}, e = {htonl(last)};
    return inet_ntop(AF_INET, &s, start, 16) && inet_ntop(AF_INET, &e, end, 16);
}

char *mb_libvirt_net_xml(const struct mb_net_spec *n, mb_error **err)
{
    char start[16], end[16];
    if (n->name == NULL || n->bridge == NULL || n->gateway == NULL || n->domain == NULL
        || !dhcp_range(n->gateway, n->prefix, start, end)) {
        mb_error_set(err, MB_ERR_USAGE, "libvirt: network \"%s\" needs a name, a bridge and a "
                     "gateway/prefix with room for instances (prefix 8 to 30)",
                     n->name ? n->name : "?");
        return NULL;
    }
    struct mb_strbuf b = {0};
    mb_strbuf_add(&b, "<network>\n  <name>");
    mb_xml_esc(&b, n->name);
    mb_strbuf_add(&b, "</name>\n  <metadata>\n    <moonbase:network xmlns:moonbase='"
                   MB_LIBVIRT_NET_NS "' name='");
    mb_xml_esc(&b, n->network ? n->network : n->name);
    mb_strbuf_add(&b, "'/>\n  </metadata>\n  <forward mode='nat'/>\n  <bridge name='");
    mb_xml_esc(&b, n->bridge);
    mb_strbuf_add(&b, "' stp='off' delay='0'/>\n  <domain name='");
    mb_xml_esc(&b, n->domain);
    mb_strbuf_add(&b, "' localOnly='yes'/>\n");
    if (n->n_hosts > 0) {
        mb_strbuf_add(&b, "  <dns>\n");
        for (size_t k = 0; k < n->n_hosts; k++) {
            char *h = fqdn(n->hosts[k].name, n->domain);
            if (h == NULL)
                b.oom = true;
            else
                dns_host(&b, "    ", n->hosts[k].ipv4, h);
            free(h);
        }
        mb_strbuf_add(&b, "  </dns>\n");
    }
    mb_strbuf_add(&b, "  <ip address='");
    mb_xml_esc(&b, n->gateway);
    mb_strbuf_addf(&b, "' prefix='%d'>\n    <dhcp>\n      <range start='%s' end='%s'/>\n",
                n->prefix, start, end);
    for (size_t k = 0; k < n->n_hosts; k++)
        dhcp_host(&b, "      ", &n->hosts[k]);
    mb_strbuf_add(&b, "    </dhcp>\n  </ip>\n</network>\n");
    if (b.oom) {
        free(b.s);
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory building network \"%s\"",
                     n->name);
        return NULL;
    }
    return b.s;
}

/* ---------------------------------------------------------------- reading back */

/* The value of attribute `name` in the tag [tag, tag_end), or NULL (caller
 * frees). libvirt quotes its own attributes with ', libxml2 (metadata) with ". */
static char *attr(const char *tag, const char *tag_end, const char *name)
{
    char pat[64];
    int len = snprintf(pat, sizeof pat, " %s=", name);
    for (const char *p = strstr(tag, pat); p && p < tag_end; p = strstr(p + 1, pat)) {
        char quote = p[len];
        if (quote != '\'' && quote != '"')
            continue;
        const char *v = p + len + 1, *q = strchr(v, quote);
        if (q == NULL || q > tag_end)
            return NULL;
        return strndup(v, (size_t)(q - v));
    }
    return NULL;
}

/* A host of the network's XML: a DHCP host (mac, name, ip) or a DNS host
 * (ip, hostname in name). */
struct found {
    char *mac, *name, *ip;
};

static void found_clear(struct found *f)
{
    free(f->mac);
    free(f->name);
    free(f->ip);
}

static void found_free(struct found *f, size_t n)
{
    for (size_t k = 0; k < n; k++)
        found_clear(&f[k]);
    free(f);
}

/* The hosts in xml's section [from, to): DHCP ones (dns false) or DNS ones. */
static struct found *hosts_in(const char *from, const char *to, bool dns, size_t *n)
{
    struct found *v = NULL;
    *n = 0;
    for (const char *p = strstr(from, "<host "); p && p < to; p = strstr(p + 1, "<host ")) {
        const char *e = strchr(p, '>');
        if (e == NULL || e > to)
            break;
        struct found f = {0};
        f.ip = attr(p, e, "ip");
        if (dns) {
            const char *h = strstr(e, "<hostname>"), *he = h ? strstr(h, "</hostname>") : NULL;
            if (h && he && he < to)
                f.name = strndup(h + 10, (size_t)(he - h - 10));
        } else {
            f.mac = attr(p, e, "mac");
            f.name = attr(p, e, "name");
        }
        struct found *nv = realloc(v, sizeof *v * (*n + 1));
        if (nv == NULL) {
            found_clear(&f);
            break;
        }
        v = nv;
        v[(*n)++] = f;
    }
    return v;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---------------------------------------------------------------- changes */

static bool update(virNetworkPtr net, bool add, int section, const char *xml, mb_error **err)
{
    unsigned flags = VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG;
    int cmd = add ? VIR_NETWORK_UPDATE_COMMAND_ADD_LAST : VIR_NETWORK_UPDATE_COMMAND_DELETE;
    if (virNetworkUpdate(net, (unsigned)cmd, (unsigned)section, -1, xml, flags) == 0)
        return true;
    char what[256];
    snprintf(what, sizeof what, "libvirt: %s a %s host %s network %s", add ? "adding" : "removing",
             section == VIR_NETWORK_SECTION_DNS_HOST ? "DNS" : "DHCP", add ? "to" : "from",
             virNetworkGetName(net));
    mb_libvirt_error(err, MB_ERR_FAILED, what);
    return false;
}

static bool update_dhcp(virNetworkPtr net, bool add, const struct mb_net_host *h,
                        mb_error **err)
{
    struct mb_strbuf b = {0};
    dhcp_host(&b, "", h);
    bool ok = !b.oom && update(net, add, VIR_NETWORK_SECTION_IP_DHCP_HOST, b.s, err);
    free(b.s);
    return ok;
}

static bool update_dns(virNetworkPtr net, bool add, const char *ipv4, const char *hostname,
                       mb_error **err)
{
    struct mb_strbuf b = {0};
    dns_host(&b, "", ipv4, hostname);
    bool ok = !b.oom && update(net, add, VIR_NETWORK_SECTION_DNS_HOST, b.s, err);
    free(b.s);
    return ok;
}

/* Makes the running network's DHCP and DNS hosts n's: stale ones out first
 * (an address or MAC may have moved to another instance), then new ones in. */
static bool sync_hosts(virNetworkPtr net, const struct mb_net_spec *n, const char *xml,
                       mb_error **err)
{
    const char *dns = strstr(xml, "<dns"), *dns_end = dns ? strstr(dns, "</dns>") : NULL;
    const char *dhcp = strstr(xml, "<dhcp>"), *dhcp_end = dhcp ? strstr(dhcp, "</dhcp>") : NULL;
    size_t nd = 0, nh = 0;
    struct found *dv = dns && dns_end ? hosts_in(dns, dns_end, true, &nd) : NULL;
    struct found *hv = dhcp && dhcp_end ? hosts_in(dhcp, dhcp_end, false, &nh) : NULL;
    bool ok = true;
    char **want_dns = calloc(n->n_hosts + 1, sizeof *want_dns);
    for (size_t k = 0; want_dns && k < n->n_hosts; k++)
        if ((want_dns[k] = fqdn(n->hosts[k].name, n->domain)) == NULL)
            ok = false;
    if (want_dns == NULL || !ok) {
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory");
        ok = false;
        goto cleanup;
    }
    for (size_t j = 0; ok && j < nh; j++) {
        bool keep = false;
        for (size_t k = 0; k < n->n_hosts && !keep; k++)
            keep = same(hv[j].mac, n->hosts[k].mac) && same(hv[j].name, n->hosts[k].name)
                   && same(hv[j].ip, n->hosts[k].ipv4);
        struct mb_net_host h = {hv[j].mac, hv[j].name, hv[j].ip};
        if (!keep && h.mac && h.ipv4)
            ok = update_dhcp(net, false, &h, err);
    }
    for (size_t j = 0; ok && j < nd; j++) {
        bool keep = false;
        for (size_t k = 0; k < n->n_hosts && !keep; k++)
            keep = same(dv[j].ip, n->hosts[k].ipv4) && same(dv[j].name, want_dns[k]);
        if (!keep && dv[j].ip && dv[j].name)
            ok = update_dns(net, false, dv[j].ip, dv[j].name, err);
    }
    for (size_t k = 0; ok && k < n->n_hosts; k++) {
        bool have_dhcp = false, have_dns = false;
        for (size_t j = 0; j < nh; j++)
            have_dhcp = have_dhcp || (same(hv[j].mac, n->hosts[k].mac)
                                      && same(hv[j].name, n->hosts[k].name)
                                      && same(hv[j].ip, n->hosts[k].ipv4));
        for (size_t j = 0; j < nd; j++)
            have_dns = have_dns || (same(dv[j].ip, n->hosts[k].ipv4)
                                    && same(dv[j].name, want_dns[k]));
        if (!have_dhcp)
            ok = update_dhcp(net, true, &n->hosts[k], err);
        if (ok && !have_dns)
            ok = update_dns(net, true, n->hosts[k].ipv4, want_dns[k], err);
    }
cleanup:
    for (size_t k = 0; want_dns && k < n->n_hosts; k++)
        free(want_dns[k]);
    free(want_dns);
    found_free(dv, nd);
    found_free(hv, nh);
    return ok;
}

/* Whether the defined network has n's bridge and address. */
static bool same_shape(const char *xml, const struct mb_net_spec *n)
{
    char br[300], ip[300];
    snprintf(br, sizeof br, "<bridge name='%s'", n->bridge);
    snprintf(ip, sizeof ip, "<ip address='%s' prefix='%d'", n->gateway, n->prefix);
    return strstr(xml, br) && strstr(xml, ip) && strstr(xml, MB_LIBVIRT_NET_NS);
}

bool mb_libvirt_net_ensure(virConnectPtr c, const struct mb_net_spec *n, mb_error **err)
{
    char what[300];
    char *want = mb_libvirt_net_xml(n, err), *have = NULL;
    if (want == NULL)
        return false;
    bool ok = false;
    virNetworkPtr net = virNetworkLookupByName(c, n->name);
    if (net == NULL && mb_libvirt_last_code() != VIR_ERR_NO_NETWORK) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: looking up a network");
        goto cleanup;
    }
    if (net) {
        have = virNetworkGetXMLDesc(net, 0);
        if (have && strstr(have, MB_LIBVIRT_NET_NS) == NULL) {
            mb_error_set(err, MB_ERR_EXISTS, "libvirt: a network named %s exists and moonbase "
                         "did not define it (remove it: virsh net-destroy %s; virsh "
                         "net-undefine %s)", n->name, n->name, n->name);
            goto cleanup;
        }
        if (have && virNetworkIsActive(net) == 1 && same_shape(have, n)) {
            ok = sync_hosts(net, n, have, err);
            goto cleanup;
        }
        /* stopped, or another subnet or bridge: defined anew from n */
        virNetworkFree(net);
        net = NULL;
        if (mb_libvirt_net_remove(c, n->name, err) < 0)
            goto cleanup;
    }
    mb_log_text(MB_LOG_MORE, "libvirt: defining the network", want);
    if ((net = virNetworkDefineXML(c, want)) == NULL) {
        snprintf(what, sizeof what, "libvirt: defining network %s", n->name);
        mb_libvirt_error(err, MB_ERR_FAILED, what);
        goto cleanup;
    }
    virNetworkSetAutostart(net, 0);
    if (virNetworkCreate(net) < 0) {
        snprintf(what, sizeof what, "libvirt: starting network %s (bridge %s, %s/%d)", n->name,
                 n->bridge, n->gateway, n->prefix);
        mb_libvirt_error(err, MB_ERR_FAILED, what);
        virNetworkUndefine(net);
        goto cleanup;
    }
    ok = true;
cleanup:
    if (net)
        virNetworkFree(net);
    free(have);
    free(want);
    return ok;
}

int mb_libvirt_net_remove(virConnectPtr c, const char *name, mb_error **err)
{
    char what[300];
    virNetworkPtr net = virNetworkLookupByName(c, name);
    if (net == NULL) {
        if (mb_libvirt_last_code() == VIR_ERR_NO_NETWORK)
            return 0;
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: looking up a network");
        return -1;
    }
    int r = 1;
    if (virNetworkIsActive(net) == 1 && virNetworkDestroy(net) < 0) {
        snprintf(what, sizeof what, "libvirt: stopping network %s", name);
        mb_libvirt_error(err, MB_ERR_FAILED, what);
        r = -1;
    } else if (virNetworkIsPersistent(net) == 1 && virNetworkUndefine(net) < 0
               && mb_libvirt_last_code() != VIR_ERR_NO_NETWORK) {
        snprintf(what, sizeof what, "libvirt: undefining network %s", name);
        mb_libvirt_error(err, MB_ERR_FAILED, what);
        r = -1;
    }
    virNetworkFree(net);
    return r;
}

/* ---------------------------------------------------------------- listing */

struct mb_net_info *mb_libvirt_net_list(virConnectPtr c, size_t *n, mb_error **err)
{
    virNetworkPtr *nets = NULL;
    int count = virConnectListAllNetworks(c, &nets, 0);
    if (count < 0) {
        mb_libvirt_error(err, MB_ERR_FAILED, "libvirt: listing networks");
        return NULL;
    }
    struct mb_net_info *v = calloc((size_t)count + 1, sizeof *v);
    *n = 0;
    for (int k = 0; k < count; k++) {
        if (v != NULL) {
            struct mb_net_info *i = &v[(*n)++];
            const char *name = virNetworkGetName(nets[k]);
            i->name = strdup(name ? name : "");
            i->bridge = virNetworkGetBridgeName(nets[k]);
            i->active = virNetworkIsActive(nets[k]) == 1;
            char *xml = virNetworkGetXMLDesc(nets[k], 0);
            const char *m = xml ? strstr(xml, MB_LIBVIRT_NET_NS) : NULL;
            if (m) {
                const char *e = strchr(m, '>');
                i->network = e ? attr(m, e, "name") : NULL;
                if (i->network == NULL)
                    i->network = strdup(i->name);
            }
            free(xml);
            virNetworkPortPtr *ports = NULL;
            i->ports = i->active ? virNetworkListAllPorts(nets[k], &ports, 0) : 0;
            for (int j = 0; j < i->ports; j++)
                virNetworkPortFree(ports[j]);
            free(ports);
        }
        virNetworkFree(nets[k]);
    }
    free(nets);
    if (v == NULL)
        mb_error_set(err, MB_ERR_FAILED, "libvirt: out of memory");
    return v;
}
