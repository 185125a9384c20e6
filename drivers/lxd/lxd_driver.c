/* The LXD driver: instances as LXD containers (or LXD virtual machines where
 * KVM exists), on this host's LXD through its unix socket or on a remote LXD
 * over HTTPS with moonbase's client certificate and the server's certificate
 * pinned (trusted once with a token: trust). Everything goes through LXD's
 * REST API (lxd_client.c, lxd_ops.c), never through `lxc`. The guest is
 * reached over SSH through the instance agent as with every driver
 * (docs/lxd.md: measured against LXD's exec API); cloud-init's documents
 * become the instance's cloud-init.* keys; NICs are LXD's veths on moonbase's
 * bridges (this host), or on LXD networks moonbase defines there (a remote
 * LXD, whose guests SSH reaches through a proxy device); shares are disk
 * devices, with the share's owner shown as the guest's user (raw.idmap);
 * snapshots, clones and renames are LXD's own (its snapshot API, its copy,
 * its rename). */
#include "driver/driver.h"
#include "drivers/lxd/lxd_client.h"
#include "drivers/lxd/lxd_json.h"
#include "drivers/lxd/lxd_net.h"
#include "drivers/lxd/lxd_ops.h"
#include "drivers/lxd/lxd_trust.h"
#include "drivers/lxd/lxd_wire.h"
#include "net/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/var/lib/lxd/unix.socket"
#define SNAP_SOCKET "/var/snap/lxd/common/lxd/unix.socket"
#define SSH_DEVICE "moonbase-ssh"
#define PATHLEN 4096

struct lxd_priv {
    char owner[PATHLEN + 256]; /* this moonbase home, as its instances' mark says */
    struct mb_lxd *local;  /* the configured LXD (socket or url), opened on first use */
    struct mb_lxd *other;  /* the last instance's other host, and its URL */
    char *other_url;
    bool vm;
    char *pool;
};

/* ---------------------------------------------------------------- connections */

/* "lxd+https://HOST:PORT" (a recipe's host =) and "https://HOST:PORT" alike */
static const char *https_of(const char *host)
{
    return host && strncmp(host, "lxd+", 4) == 0 ? host + 4 : host;
}

static const char *configured_url(struct mb_conn *c)
{
    const char *url = https_of(mb_conn_config(c, "url"));
    return url && url[0] ? url : NULL;
}

/* moonbase's credentials for remote LXDs: <state-dir>/client.crt, .key, and
 * the certificate of each server it trusted, servers/<host:port>.crt */
static bool cred_path(struct mb_conn *c, const char *file, char *out, size_t n, mb_error **err)
{
    const char *dir = mb_conn_config(c, MB_CONN_STATE_DIR);
    if (dir == NULL || dir[0] == '\0') {
        mb_error_set(err, MB_ERR_FAILED, "lxd: no state directory for moonbase's certificate");
        return false;
    }
    if (snprintf(out, n, "%s/%s", dir, file) >= (int)n) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: path too long: %s/%s", dir, file);
        return false;
    }
    return true;
}

static bool server_cert_path(struct mb_conn *c, const char *url, char *out, size_t n,
                             mb_error **err)
{
    char name[300];
    snprintf(name, sizeof name, "servers/%s.crt", url + strlen("https://"));
    for (char *p = name + strlen("servers/"); *p; p++)
        if (*p == '/' || *p == '[' || *p == ']' || *p == ':')
            *p = '_';
    return cred_path(c, name, out, n, err);
}

static bool mkdirs(const char *path, mode_t mode, mb_error **err)
{
    char buf[PATHLEN];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST) {
            mb_error_set_errno(err, errno, "lxd: cannot make %s", buf);
            return false;
        }
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST) {
        mb_error_set_errno(err, errno, "lxd: cannot make %s", buf);
        return false;
    }
    return true;
}

/* The connection settings for url (NULL: this host's socket). */
static bool conf_for(struct mb_conn *c, const char *url, struct mb_lxd_conf *conf,
                     char cert[PATHLEN], char key[PATHLEN], char server[PATHLEN],
                     mb_error **err)
{
    memset(conf, 0, sizeof *conf);
    if (url == NULL) {
        const char *sock = mb_conn_config(c, "socket");
        /* the default socket, or the snap's when only that LXD is there */
        if (sock == NULL || strcmp(sock, DEFAULT_SOCKET) == 0)
            sock = access(DEFAULT_SOCKET, F_OK) != 0 && access(SNAP_SOCKET, F_OK) == 0
                       ? SNAP_SOCKET : DEFAULT_SOCKET;
        conf->socket = sock;
        return true;
    }
    if (!cred_path(c, "client.crt", cert, PATHLEN, err) ||
        !cred_path(c, "client.key", key, PATHLEN, err) ||
        !server_cert_path(c, url, server, PATHLEN, err))
        return false;
    conf->url = url;
    conf->client_cert = cert;
    conf->client_key = key;
    conf->server_cert = access(server, R_OK) == 0 ? server : NULL;
    return true;
}

static struct mb_lxd *open_lxd(struct mb_conn *c, const char *url, mb_error **err)
{
    char cert[PATHLEN], key[PATHLEN], server[PATHLEN];
    struct mb_lxd_conf conf;
    if (!conf_for(c, url, &conf, cert, key, server, err))
        return NULL;
    if (url && conf.server_cert == NULL) {
        mb_error_set(err, MB_ERR_AUTH, "moonbase does not trust the LXD at %s yet (make a token "
                     "there with lxc config trust add, then: moonbase enroll TOKEN)", url);
        return NULL;
    }
    return mb_lxd_open(&conf, err);
}

static struct lxd_priv *priv(struct mb_conn *c)
{
    return c->priv;
}

/* The LXD that holds inst (its host, else the configured one). */
static struct mb_lxd *lxd_for(struct mb_conn *c, const char *host, mb_error **err)
{
    struct lxd_priv *p = priv(c);
    const char *url = https_of(host);
    const char *conf_url = configured_url(c);
    if (url == NULL || (conf_url && strcmp(url, conf_url) == 0)) {
        if (p->local == NULL)
            p->local = open_lxd(c, conf_url, err);
        return p->local;
    }
    if (p->other && strcmp(p->other_url, url) == 0)
        return p->other;
    mb_lxd_free(p->other);
    free(p->other_url);
    p->other_url = strdup(url);
    p->other = p->other_url ? open_lxd(c, url, err) : NULL;
    return p->other;
}

static struct mb_lxd *lxd_of(struct mb_conn *c, const struct mb_instance *inst, mb_error **err)
{
    return lxd_for(c, inst ? inst->host : NULL, err);
}

static bool lxd_open_conn(struct mb_conn *c, unsigned flags, mb_error **err)
{
    struct lxd_priv *p = calloc(1, sizeof *p);
    if (p == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return false;
    }
    const char *type = mb_conn_config(c, "instance-type");
    p->vm = type && strcmp(type, "virtual-machine") == 0;
    /* this home's instances carry its mark: this host and the state dir */
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *dir = mb_conn_config(c, MB_CONN_STATE_DIR);
    snprintf(p->owner, sizeof p->owner, "%s:%s", host, dir ? dir : "");
    c->priv = p;
    return true;
}

static void lxd_close_conn(struct mb_conn *c)
{
    struct lxd_priv *p = priv(c);
    if (p == NULL)
        return;
    mb_lxd_free(p->local);
    mb_lxd_free(p->other);
    free(p->other_url);
    free(p->pool);
    free(p);
    c->priv = NULL;
}

/* ---------------------------------------------------------------- host */

static enum mb_probe_result lxd_probe(struct mb_conn *c, char **reason, unsigned flags,
                                      mb_error **err)
{
    mb_error *e = NULL;
    struct mb_lxd *l = lxd_for(c, NULL, &e);
    if (l == NULL) {
        if (reason)
            *reason = strdup(e->message);
        mb_error_free(e);
        return MB_PROBE_DECLINED;
    }
    return mb_lxd_probe(l, priv(c)->vm, reason, err);
}

static char **lxd_host_info(struct mb_conn *c, unsigned flags, mb_error **err)
{
    char line[1200];
    char *reason = NULL;
    enum mb_probe_result r = lxd_probe(c, &reason, 0, err);
    char **v = mb_strv_new();
    const char *url = configured_url(c);
    mb_strv_push(&v, "driver=lxd");
    if (url)
        snprintf(line, sizeof line, "lxd=%s", url);
    else
        snprintf(line, sizeof line, "lxd=unix:%s", mb_conn_config(c, "socket"));
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "instance-type=%s",
             priv(c)->vm ? "virtual-machine" : "container");
    mb_strv_push(&v, line);
    snprintf(line, sizeof line, "%s=%s", r == MB_PROBE_OK ? "lxd-status" : "declined",
             reason ? reason : "");
    mb_strv_push(&v, line);
    free(reason);
    return v;
}

/* Host bridges a NIC can join (--bridged): this host's, as the QEMU driver
 * lists them; a remote LXD's are that host's business. */
static char **lxd_networks(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return mb_net_host_bridges(err);
}

static const char *lxd_image_format(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return priv(c)->vm ? "lxd-vm" : "lxd";
}

static bool lxd_trust(struct mb_conn *c, const char *host, const char *token, char **trusted,
                      unsigned flags, mb_error **err)
{
    char cert[PATHLEN], key[PATHLEN], server[PATHLEN], dir[PATHLEN];
    const char *url = https_of(host);
    if (url == NULL)
        url = configured_url(c);
    /* certificates and TLS are the plugin's (lxd_wire.h) */
    const struct mb_lxd_tls_ops *tls = mb_lxd_tls(err);
    if (tls == NULL)
        return false;
    /* a malformed token is refused before anything is made */
    struct mb_lxd_token *t = tls->token_decode(token, err);
    if (t == NULL)
        return false;
    tls->token_free(t);
    if (!cred_path(c, "client.crt", cert, sizeof cert, err) ||
        !cred_path(c, "client.key", key, sizeof key, err) ||
        !cred_path(c, "servers", dir, sizeof dir, err) || !mkdirs(dir, 0700, err))
        return false;
    char name[256];
    char hn[200] = "host";
    gethostname(hn, sizeof hn - 1);
    snprintf(name, sizeof name, "moonbase@%s", hn);
    if (!tls->client_cert(cert, key, name, err))
        return false;
    struct mb_lxd_conf conf = {.url = url, .client_cert = cert, .client_key = key};
    /* the certificate lands beside the others once the URL is known */
    char tmp[PATHLEN];
    if (!cred_path(c, "servers/.new.crt", tmp, sizeof tmp, err))
        return false;
    char *used = NULL;
    if (!tls->trust(&conf, token, tmp, &used, err)) {
        unlink(tmp);
        return false;
    }
    bool ok = server_cert_path(c, used, server, sizeof server, err);
    if (ok && rename(tmp, server) != 0) {
        mb_error_set_errno(err, errno, "lxd: cannot keep the server's certificate in %s",
                           server);
        ok = false;
    }
    if (ok)
        *trusted = used;
    else
        free(used);
    return ok;
}

/* ---------------------------------------------------------------- networks */

/* NICs on this host's LXD join the engine's bridges; a remote LXD's join
 * networks moonbase defines there (LXD's own bridges, lxd_net.c). */
static enum mb_net_backend lxd_net_backend(struct mb_conn *c, const char *host, unsigned flags,
                                           mb_error **err)
{
    const char *url = https_of(host);
    return url || configured_url(c) ? MB_NET_DRIVER : MB_NET_ENGINE;
}

static bool lxd_network_ensure(struct mb_conn *c, const char *host, const struct mb_net_spec *n,
                               unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_for(c, host, err);
    return l && mb_lxd_network_ensure(l, n, err);
}

static int lxd_network_remove(struct mb_conn *c, const char *host, const char *name,
                              unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_for(c, host, err);
    return l ? mb_lxd_network_remove(l, name, err) : -1;
}

static struct mb_net_info *lxd_network_list(struct mb_conn *c, const char *host, size_t *n,
                                            unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_for(c, host, err);
    return l ? mb_lxd_network_list(l, n, err) : NULL;
}

/* ---------------------------------------------------------------- instances */

static void on_progress(const char *text, void *ud)
{
    /* what LXD reports of a long operation (an image upload, an unpack) */
    fprintf(stderr, "%s\n", text);
}

static const char *pool_of(struct mb_conn *c, struct mb_lxd *l, mb_error **err)
{
    struct lxd_priv *p = priv(c);
    if (p->pool == NULL)
        p->pool = mb_lxd_default_pool(l, err);
    return p->pool;
}

/* The owner of the instance's shares on this host (the first that is not
 * root's): whose files the guest's user should act as. */
static bool share_owner(const struct mb_instance *inst, unsigned *uid, unsigned *gid)
{
    struct stat st;
    for (size_t k = 0; k < inst->n_mounts; k++)
        if (stat(inst->mounts[k].source, &st) == 0 && st.st_uid != 0) {
            *uid = st.st_uid;
            *gid = st.st_gid;
            return true;
        }
    return false;
}

/* The guest user's uid and gid from the guest's /etc/passwd (once cloud-init
 * made the user, i.e. after the first boot). */
static bool guest_ids(struct mb_lxd *l, const struct mb_instance *inst, unsigned *uid,
                      unsigned *gid)
{
    if (inst->user == NULL)
        return false;
    mb_error *e = NULL;
    char *passwd = mb_lxd_file_get(l, inst->name, "/etc/passwd", (size_t)1 << 20, &e);
    mb_error_free(e);
    bool found = false;
    size_t n = strlen(inst->user);
    for (char *line = passwd; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, inst->user, n) == 0 && line[n] == ':')
            found = sscanf(line + n, ":%*[^:]:%u:%u:", uid, gid) == 2;
        line = nl ? nl + 1 : NULL;
    }
    free(passwd);
    return found;
}

/* raw.idmap the instance should have: the shares' owner shown as the
 * guest's user; NULL when nothing is to map yet (no shares, only root's, or
 * no guest user before the first boot). LXD cannot map host root into a
 * container: a root-owned share stays nobody's in the guest. */
static char *wanted_idmap(struct mb_conn *c, struct mb_lxd *l, const struct mb_instance *inst)
{
    unsigned hu, hg, gu, gg;
    if (priv(c)->vm || !mb_lxd_is_local(l) || !share_owner(inst, &hu, &hg) ||
        !guest_ids(l, inst, &gu, &gg))
        return NULL;
    return mb_lxd_idmap(hu, hg, gu, gg);
}

/* LXD's words when the host may not map an id, with what to do about it */
static void idmap_hint(const char *idmap, mb_error **err)
{
    if (*err == NULL || strstr((*err)->message, "not allowed") == NULL || idmap == NULL)
        return;
    unsigned hu = 0, gu = 0;
    sscanf(idmap, "uid %u %u", &hu, &gu);
    char *m = (*err)->message;
    (*err)->message = NULL;
    mb_error_free(*err);
    *err = NULL;
    mb_error_set(err, MB_ERR_FAILED, "%s (LXD may not map host uid %u into containers: add "
                 "root:%u:1 to /etc/subuid and /etc/subgid and restart LXD, see docs/lxd.md)",
                 m, hu, hu);
    free(m);
}

static bool fill_spec(struct mb_conn *c, struct mb_lxd *l, const struct mb_instance *inst,
                      struct mb_lxd_spec *s, struct mb_lxd_nic *nics,
                      struct mb_lxd_share *shares, mb_error **err)
{
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < inst->n_nics; k++) {
        const struct mb_nic *n = &inst->nics[k];
        if (n->attach == MB_NIC_BRIDGE) {
            nics[k].parent = n->device;
        } else if (n->attach == MB_NIC_NETWORK) {
            /* moonbase's name for it: the LXD network that carries it */
            nics[k].network = mb_lxd_network_of(l, n->device, err);
            if (nics[k].network == NULL)
                return false;
            nics[k].ipv4 = n->ipv4;
        } else {
            mb_error_set(err, MB_ERR_USAGE, "launch: the lxd driver joins its instances to "
                         "moonbase's networks, which are not available here (LXD has no "
                         "user-mode networking; moonbase needs root or CAP_NET_ADMIN for its "
                         "bridges)");
            return false;
        }
        nics[k].hwaddr = n->mac;
    }
    for (size_t k = 0; k < inst->n_mounts; k++) {
        shares[k].device = inst->mounts[k].tag;
        shares[k].source = inst->mounts[k].source;
        shares[k].path = inst->mounts[k].target;
        shares[k].readonly = inst->mounts[k].readonly;
    }
    s->name = inst->name;
    s->vm = priv(c)->vm;
    s->fingerprint = inst->image.id;
    s->cpus = inst->cpus;
    s->memory = inst->memory;
    s->disk = inst->disk_size;
    s->user_data = inst->cloud_init.user_data;
    s->network_config = inst->cloud_init.network_config;
    s->nics = nics;
    s->n_nics = inst->n_nics;
    s->shares = shares;
    s->n_shares = inst->n_mounts;
    return true;
}

static void free_nics(struct mb_lxd_nic *nics, size_t n)
{
    for (size_t k = 0; nics && k < n; k++)
        free(nics[k].network);
    free(nics);
}

/* A remote LXD's guest: SSH through a proxy device on that host, listening on
 * the address moonbase reaches it at, on a port of the instance's own. */
static bool add_ssh_proxy(struct mb_lxd *l, const char *url, const char *name, mb_error **err)
{
    char host[256] = "";
    const char *h = url + strlen("https://");
    if (h[0] == '[')
        sscanf(h, "[%255[^]]", host);
    else
        sscanf(h, "%255[^:/]", host);
    unsigned seed = 2166136261u;
    for (const char *p = name; *p; p++)
        seed = (seed ^ (unsigned char)*p) * 16777619u;
    mb_error *e = NULL;
    for (int k = 0; k < 20; k++) {
        char listen[300];
        snprintf(listen, sizeof listen, "tcp:%s:%u", host, 20000 + (seed + (unsigned)k * 7919u)
                 % 20000);
        mbj_t *dev = mbj_pack("{s:s, s:s, s:s, s:s}", "type", "proxy", "listen", listen,
                                "connect", "tcp:127.0.0.1:22", "bind", "host");
        bool ok = dev && mb_lxd_device_set(l, name, SSH_DEVICE, dev, &e);
        mbj_decref(dev);
        if (ok) {
            mb_error_free(e);
            return true;
        }
        if (e == NULL || strstr(e->message, "in use") == NULL)
            break;
        mb_error_free(e);
        e = NULL;
    }
    *err = e;
    return false;
}

static bool lxd_create(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                       mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    if (inst->image.metadata == NULL || inst->image.path == NULL || inst->image.id == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "launch: the lxd driver makes instances of LXD images "
                     "(lxd.tar.xz with its root file system); \"%s\" has none",
                     inst->image.path ? inst->image.path : inst->name);
        return false;
    }
    bool ok = false;
    struct mb_lxd_spec s;
    struct mb_lxd_nic *nics = calloc(inst->n_nics + 1, sizeof *nics);
    struct mb_lxd_share *shares = calloc(inst->n_mounts + 1, sizeof *shares);
    if (nics == NULL || shares == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        goto cleanup;
    }
    if (!fill_spec(c, l, inst, &s, nics, shares, err))
        goto cleanup;
    s.owner = priv(c)->owner;
    s.fuse = mb_lxd_is_local(l) && access("/dev/fuse", R_OK | W_OK) == 0;
    if ((s.pool = pool_of(c, l, err)) == NULL)
        goto cleanup;
    /* a name LXD has already (someone else's): say so before anything is made */
    enum mb_state there = mb_lxd_instance_state(l, inst->name, NULL, NULL, err);
    if (there == MB_STATE_UNKNOWN && *err)
        goto cleanup;
    if (there != MB_STATE_ABSENT) {
        mb_error_set(err, MB_ERR_EXISTS, "%s already has an instance named \"%s\" that is not "
                     "this moonbase's (try another --name, or remove it there: lxc delete %s)",
                     mb_lxd_where(l), inst->name, inst->name);
        goto cleanup;
    }
    mb_lxd_progress_fn progress = (flags & MB_PROGRESS) ? on_progress : NULL;
    if (!mb_lxd_image_ensure(l, inst->image.id, inst->image.metadata, inst->image.path,
                             priv(c)->vm, progress, NULL, err))
        goto cleanup;
    ok = mb_lxd_instance_create(l, &s, progress, NULL, err);
    if (ok && !mb_lxd_is_local(l)) {
        const char *url = https_of(inst->host) ? https_of(inst->host) : configured_url(c);
        ok = add_ssh_proxy(l, url, inst->name, err);
        if (!ok)
            mb_lxd_instance_delete(l, inst->name, NULL);
    }
cleanup:
    free_nics(nics, inst->n_nics);
    free(shares);
    return ok;
}

/* Brings raw.idmap in line with the shares before a start; true when it
 * changed (a running container needs a restart for it). */
static bool sync_idmap(struct mb_conn *c, struct mb_lxd *l, const struct mb_instance *inst,
                       bool *changed, mb_error **err)
{
    *changed = false;
    char *want = wanted_idmap(c, l, inst);
    if (want == NULL)
        return true;
    char *have = mb_lxd_config_get(l, inst->name, "raw.idmap", err);
    bool ok = true;
    if (have == NULL && *err)
        ok = false;
    else if (have == NULL || strcmp(have, want) != 0) {
        ok = mb_lxd_config_set(l, inst->name, "raw.idmap", want, err);
        *changed = ok;
    }
    free(have);
    free(want);
    return ok;
}

/* Waits until cloud-init finished its first boot (bounded by LXD's answers:
 * the instance stops, or 15 minutes). */
static bool wait_first_boot(struct mb_lxd *l, const char *name, mb_error **err)
{
    for (int k = 0; k < 9000; k++) {
        mb_error *e = NULL;
        char *f = mb_lxd_file_get(l, name, "/var/lib/cloud/instance/boot-finished", 4096, &e);
        free(f);
        if (f != NULL)
            return true;
        mb_error_free(e);
        if (mb_lxd_instance_state(l, name, NULL, NULL, err) != MB_STATE_RUNNING) {
            if (*err == NULL)
                mb_error_set(err, MB_ERR_FAILED, "instance \"%s\" stopped during its first "
                             "boot", name);
            return false;
        }
        usleep(100 * 1000);
    }
    mb_error_set(err, MB_ERR_TIMEOUT, "cloud-init did not finish on \"%s\" in time", name);
    return false;
}

/* key = value into patch's config, when cfg has another value */
static void differs(mbj_t *patch, mbj_t *cfg, const char *key, const char *value)
{
    const char *have = mbj_string_value(mbj_object_get(cfg, key));
    if (have && strcmp(have, value) == 0)
        return;
    if (mbj_object_get(patch, "config") == NULL)
        mbj_object_set_new(patch, "config", mbj_object());
    mbj_object_set_new(mbj_object_get(patch, "config"), key, mbj_string(value));
}

/* CPUs, memory and disk as the instance has them now (set while stopped). */
static bool sync_limits(struct mb_lxd *l, const struct mb_instance *inst, mb_error **err)
{
    char path[300], buf[32];
    snprintf(path, sizeof path, "/1.0/instances/%s", inst->name);
    mbj_t *i = mb_lxd_request(l, "GET", path, NULL, NULL, err);
    if (i == NULL)
        return false;
    mbj_t *cfg = mbj_object_get(i, "config");
    mbj_t *patch = mbj_object();
    if (inst->cpus > 0) {
        snprintf(buf, sizeof buf, "%d", inst->cpus);
        differs(patch, cfg, "limits.cpu", buf);
    }
    if (inst->memory > 0) {
        mb_lxd_size(inst->memory, buf);
        differs(patch, cfg, "limits.memory", buf);
    }
    mbj_t *root = mbj_object_get(mbj_object_get(i, "devices"), "root");
    const char *size = mbj_string_value(mbj_object_get(root, "size"));
    if (root && inst->disk_size > 0) {
        mb_lxd_size(inst->disk_size, buf);
        if (size == NULL || strcmp(size, buf) != 0) {
            mbj_t *r = mbj_deep_copy(root);
            mbj_object_set_new(r, "size", mbj_string(buf));
            mbj_object_set_new(patch, "devices", mbj_pack("{s:o}", "root", r));
        }
    }
    bool ok = true;
    if (mbj_object_size(patch) > 0) {
        mbj_t *res = mb_lxd_request(l, "PATCH", path, patch, NULL, err);
        ok = res != NULL;
        mbj_decref(res);
    }
    mbj_decref(patch);
    mbj_decref(i);
    return ok;
}

/* A stopped container's disk grows now (the root device's size quota; the
 * engine has refused a smaller size). The next start applies it again. */
static bool lxd_resize_disk(struct mb_conn *c, const struct mb_instance *inst, uint64_t bytes,
                            unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    struct mb_instance only_disk = *inst;
    only_disk.cpus = 0;
    only_disk.memory = 0;
    only_disk.disk_size = bytes;
    return sync_limits(l, &only_disk, err);
}

static bool lxd_start(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                      mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    bool changed = false;
    if (!sync_limits(l, inst, err) || !sync_idmap(c, l, inst, &changed, err))
        return false;
    char *idmap = changed ? mb_lxd_config_get(l, inst->name, "raw.idmap", NULL) : NULL;
    bool ok = mb_lxd_instance_action(l, inst->name, "start", 0, false, err);
    /* The first boot makes the guest's user: only then can its shares show
     * their owner as that user, which LXD applies at a start. So a first
     * boot with shares is followed by one restart, once cloud-init is done. */
    bool again = false;
    if (ok && inst->n_mounts > 0 && !changed && !priv(c)->vm && mb_lxd_is_local(l)) {
        unsigned u, g;
        again = share_owner(inst, &u, &g) && !guest_ids(l, inst, &u, &g);
    }
    if (ok && again) {
        ok = wait_first_boot(l, inst->name, err) &&
             mb_lxd_instance_action(l, inst->name, "stop", 60, false, err) &&
             sync_idmap(c, l, inst, &changed, err);
        free(idmap);
        idmap = mb_lxd_config_get(l, inst->name, "raw.idmap", NULL);
        ok = ok && mb_lxd_instance_action(l, inst->name, "start", 0, false, err);
    }
    if (!ok)
        idmap_hint(idmap, err);
    free(idmap);
    return ok;
}

static bool lxd_shutdown(struct mb_conn *c, const struct mb_instance *inst, double timeout,
                         unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    enum mb_state st = mb_lxd_instance_state(l, inst->name, priv(c)->owner, NULL, err);
    if (st == MB_STATE_UNKNOWN && *err)
        return false;
    if (st == MB_STATE_STOPPED || st == MB_STATE_ABSENT)
        return true;
    if (st == MB_STATE_SUSPENDED) /* a frozen container cannot shut down: thaw it first */
        mb_lxd_instance_action(l, inst->name, "unfreeze", 0, false, NULL);
    if (!(flags & MB_FORCE)) {
        mb_error *e = NULL;
        int t = timeout > 0 ? (int)(timeout + 0.999) : 1;
        if (mb_lxd_instance_action(l, inst->name, "stop", t, false, &e))
            return true;
        mb_error_free(e); /* it did not stop in time: pull the plug */
    }
    return mb_lxd_instance_action(l, inst->name, "stop", 0, true, err);
}

static bool lxd_suspend(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                        mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    return l && mb_lxd_instance_action(l, inst->name, "freeze", 0, false, err);
}

static bool lxd_resume(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                       mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    return l && mb_lxd_instance_action(l, inst->name, "unfreeze", 0, false, err);
}

static enum mb_state lxd_state(struct mb_conn *c, const struct mb_instance *inst,
                               unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return MB_STATE_UNKNOWN;
    return flags & MB_STATE_LISTING ? mb_lxd_listed_state(l, inst->name, priv(c)->owner, err)
                                    : mb_lxd_instance_state(l, inst->name, priv(c)->owner, NULL,
                                                            err);
}

static void lxd_list_ahead(struct mb_conn *c, unsigned flags)
{
    struct mb_lxd *l = lxd_for(c, NULL, NULL); /* an error is said by the state that follows */
    if (l)
        mb_lxd_list_ahead(l);
}

static bool lxd_destroy(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                        mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    /* never another home's or someone else's instance of that name */
    enum mb_state st = mb_lxd_instance_state(l, inst->name, priv(c)->owner, NULL, err);
    if (st == MB_STATE_UNKNOWN && *err)
        return false;
    if (st == MB_STATE_ABSENT)
        return true;
    if (st == MB_STATE_SUSPENDED)
        mb_lxd_instance_action(l, inst->name, "unfreeze", 0, false, NULL);
    if (st != MB_STATE_STOPPED && !mb_lxd_instance_action(l, inst->name, "stop", 0, true, err))
        return false;
    return mb_lxd_instance_delete(l, inst->name, err);
}

/* The container's init on this host: the agent watches it. */
static pid_t lxd_pid(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                     mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL || !mb_lxd_is_local(l))
        return 0;
    long pid = 0;
    mb_lxd_instance_state(l, inst->name, priv(c)->owner, &pid, err);
    return (pid_t)pid;
}

static bool lxd_ssh_address(struct mb_conn *c, const struct mb_instance *inst,
                            struct mb_address *addr, unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    memset(addr, 0, sizeof *addr);
    if (!mb_lxd_is_local(l)) {
        /* the proxy device's listening address on that host */
        char path[300];
        snprintf(path, sizeof path, "/1.0/instances/%s", inst->name);
        mbj_t *i = mb_lxd_request(l, "GET", path, NULL, NULL, err);
        const char *listen = mbj_string_value(mbj_object_get(mbj_object_get(
            mbj_object_get(i, "devices"), SSH_DEVICE), "listen"));
        char host[256];
        int port = 0;
        bool ok = listen && (sscanf(listen, "tcp:[%255[^]]]:%d", host, &port) == 2 ||
                             sscanf(listen, "tcp:%255[^:]:%d", host, &port) == 2);
        if (ok) {
            snprintf(addr->host, sizeof addr->host, "%s", host);
            addr->port = port;
            addr->relay = true;
        } else if (i) {
            mb_error_set(err, MB_ERR_FAILED, "lxd: instance \"%s\" has no %s device to reach "
                         "its SSH through", inst->name, SSH_DEVICE);
        }
        mbj_decref(i);
        return ok;
    }
    if (inst->n_nics == 0 || inst->nics[0].ipv4 == NULL) {
        mb_error_set(err, MB_ERR_STATE, "lxd: instance \"%s\" has no address on a moonbase "
                     "network", inst->name);
        return false;
    }
    snprintf(addr->host, sizeof addr->host, "%s", inst->nics[0].ipv4);
    addr->port = 22;
    return true;
}

/* On this host every NIC on a moonbase network has the stable address
 * moonbase gave it (as under QEMU): no request. Else (a NIC on a LAN bridge,
 * a remote LXD's networks) what LXD sees in the container. */
static char **lxd_ipv4(struct mb_conn *c, const struct mb_instance *inst, unsigned flags,
                       mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return NULL;
    bool known = mb_lxd_is_local(l) && inst->n_nics > 0;
    for (size_t k = 0; known && k < inst->n_nics; k++)
        known = inst->nics[k].ipv4 && *inst->nics[k].ipv4;
    if (!known)
        return mb_lxd_instance_ipv4(l, inst->name, err);
    char **v = mb_instance_static_ipv4(inst);
    if (v == NULL)
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
    return v;
}

static char *lxd_console_log(struct mb_conn *c, const struct mb_instance *inst, size_t max,
                             unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    return l ? mb_lxd_instance_console(l, inst->name, max, err) : NULL;
}

/* ---------------------------------------------------------------- mounts */

static bool lxd_mount_native(struct mb_conn *c, const struct mb_instance *inst,
                             const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    if (!mb_lxd_is_local(l)) {
        mb_error_set(err, MB_ERR_USAGE, "mount: native mounts need the folder on the LXD host, "
                     "and \"%s\" is on another machine (try: --type classic)", inst->name);
        return false;
    }
    enum mb_state st = mb_lxd_instance_state(l, inst->name, priv(c)->owner, NULL, err);
    if (st == MB_STATE_UNKNOWN && *err)
        return false;
    /* the instance's shares with this one: the id map they want */
    struct mb_mount_spec *all = calloc(inst->n_mounts + 2, sizeof *all);
    if (all == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        return false;
    }
    memcpy(all, inst->mounts, inst->n_mounts * sizeof *all);
    all[inst->n_mounts] = *m;
    struct mb_instance with = *inst;
    with.mounts = all;
    with.n_mounts = inst->n_mounts + 1;
    bool ok = true;
    if (st == MB_STATE_RUNNING) {
        char *want = wanted_idmap(c, l, &with);
        char *have = want ? mb_lxd_config_get(l, inst->name, "volatile.last_state.idmap",
                                              NULL) : NULL;
        char *raw = want ? mb_lxd_config_get(l, inst->name, "raw.idmap", NULL) : NULL;
        /* a new owner to show as the guest's user takes a restart */
        if (want && (raw == NULL || strcmp(raw, want) != 0)) {
            mb_error_set(err, MB_ERR_STATE, "mount: a share owned by another user needs "
                         "\"%s\" restarted to show its files as the guest user's (try: "
                         "moonbase mount --restart ...)", inst->name);
            ok = false;
        }
        free(want);
        free(have);
        free(raw);
    }
    struct mb_lxd_share share = {m->tag, m->source, m->target, m->readonly};
    mbj_t *dev = ok ? mb_lxd_share_json(&share) : NULL;
    ok = ok && dev && mb_lxd_device_set(l, inst->name, m->tag, dev, err);
    mbj_decref(dev);
    free(all);
    return ok;
}

static bool lxd_umount_native(struct mb_conn *c, const struct mb_instance *inst,
                              const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    struct mb_lxd *l = lxd_of(c, inst, err);
    return l && mb_lxd_device_remove(l, inst->name, m->tag, err);
}

/* ---------------------------------------------------------------- snapshots */

/* LXD's snapshots of an instance, stateless: a container's files (and its
 * limits and devices), never its memory (stateful snapshots need CRIU, which
 * Debian's LXD does not ship). A running container's snapshot is of its files
 * as they are; restoring any snapshot leaves the instance stopped. */
static void snap_path(char *out, size_t n, const char *inst, const char *tag)
{
    if (tag)
        snprintf(out, n, "/1.0/instances/%s/snapshots/%s", inst, tag);
    else
        snprintf(out, n, "/1.0/instances/%s/snapshots", inst);
}

static struct mb_snapshot *lxd_snapshot_list(struct mb_conn *c, const struct mb_instance *inst,
                                             unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return NULL;
    char path[400];
    snap_path(path, sizeof path, inst->name, NULL);
    strncat(path, "?recursion=1", sizeof path - strlen(path) - 1);
    mbj_t *all = mb_lxd_request(l, "GET", path, NULL, NULL, err);
    if (all == NULL)
        return NULL;
    size_t n = mbj_is_array(all) ? mbj_array_size(all) : 0, k = 0;
    struct mb_snapshot *v = calloc(n + 1, sizeof *v);
    if (v == NULL) {
        mbj_decref(all);
        mb_error_set(err, MB_ERR_FAILED, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        mbj_t *s = mbj_array_get(all, i);
        const char *name = mbj_string_value(mbj_object_get(s, "name"));
        if (name == NULL)
            continue;
        const char *slash = strrchr(name, '/'); /* older LXD: "instance/snapshot" */
        v[k].name = strdup(slash ? slash + 1 : name);
        v[k].memory = mbj_is_true(mbj_object_get(s, "stateful"));
        const char *at = mbj_string_value(mbj_object_get(s, "created_at"));
        struct tm tm = {0};
        if (at && strptime(at, "%Y-%m-%dT%H:%M:%S", &tm))
            v[k].created = (int64_t)timegm(&tm);
        k++;
    }
    mbj_decref(all);
    return v;
}

static bool snapshot_exists(struct mb_conn *c, const struct mb_instance *inst, const char *tag,
                            bool *exists, mb_error **err)
{
    struct mb_snapshot *v = lxd_snapshot_list(c, inst, 0, err);
    if (v == NULL)
        return false;
    *exists = false;
    for (struct mb_snapshot *s = v; s->name; s++)
        if (strcmp(s->name, tag) == 0)
            *exists = true;
    mb_snapshots_free(v);
    return true;
}

static bool lxd_snapshot_take(struct mb_conn *c, const struct mb_instance *inst, const char *tag,
                              unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, inst, err);
    bool exists;
    if (l == NULL || !snapshot_exists(c, inst, tag, &exists, err))
        return false;
    if (exists) {
        mb_error_set(err, MB_ERR_EXISTS, "snapshot \"%s\" of \"%s\" already exists", tag,
                     inst->name);
        return false;
    }
    enum mb_state st = mb_lxd_instance_state(l, inst->name, priv(c)->owner, NULL, err);
    if (st == MB_STATE_SUSPENDED) {
        mb_error_set(err, MB_ERR_STATE, "lxd: \"%s\" is frozen: its snapshot would hold "
                     "processes stopped mid-way (start it first)", inst->name);
        return false;
    }
    char path[400];
    snap_path(path, sizeof path, inst->name, NULL);
    return mb_lxd_do(l, "POST", path, mbj_pack("{s:s, s:b}", "name", tag, "stateful", 0), 600,
                     NULL, NULL, err);
}

static bool lxd_snapshot_restore(struct mb_conn *c, const struct mb_instance *inst,
                                 const char *tag, unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, inst, err);
    bool exists;
    if (l == NULL || !snapshot_exists(c, inst, tag, &exists, err))
        return false;
    if (!exists) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "snapshot \"%s\" of \"%s\" does not exist", tag,
                     inst->name);
        return false;
    }
    char path[400];
    snprintf(path, sizeof path, "/1.0/instances/%s", inst->name);
    /* the snapshot's limits are the instance's again: moonbase's record says
     * what they are now, and the next start applies it (sync_limits) */
    return mb_lxd_do(l, "PUT", path, mbj_pack("{s:s}", "restore", tag), 600, NULL, NULL, err);
}

static bool lxd_snapshot_delete(struct mb_conn *c, const struct mb_instance *inst,
                                const char *tag, unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, inst, err);
    if (l == NULL)
        return false;
    char path[400];
    snap_path(path, sizeof path, inst->name, tag);
    return mb_lxd_do(l, "DELETE", path, NULL, 600, NULL, NULL, err);
}

/* ---------------------------------------------------------------- clones, renames */

/* The instance is this moonbase's and stopped on LXD (a copy or a rename of a
 * running container is of files that change under it; LXD refuses renaming
 * one anyway). */
static bool stopped_on_lxd(struct mb_conn *c, struct mb_lxd *l, const struct mb_instance *inst,
                           const char *verb, mb_error **err)
{
    enum mb_state st = mb_lxd_instance_state(l, inst->name, priv(c)->owner, NULL, err);
    if (st == MB_STATE_UNKNOWN && *err)
        return false;
    if (st == MB_STATE_ABSENT) {
        mb_error_set(err, MB_ERR_NOT_FOUND, "%s: %s has no instance \"%s\" of this moonbase's "
                     "(it was deleted there; try: moonbase delete --purge %s)", verb,
                     mb_lxd_where(l), inst->name, inst->name);
        return false;
    }
    if (st != MB_STATE_STOPPED) {
        mb_error_set(err, MB_ERR_STATE, "%s: \"%s\" is %s on LXD (try: moonbase stop %s)", verb,
                     inst->name, mb_state_name(st), inst->name);
        return false;
    }
    return true;
}

/* No instance of LXD's has the name yet (someone else's would stay). */
static bool name_free_on_lxd(struct mb_lxd *l, const char *name, const char *verb,
                             mb_error **err)
{
    enum mb_state there = mb_lxd_instance_state(l, name, NULL, NULL, err);
    if (there == MB_STATE_UNKNOWN && *err)
        return false;
    if (there != MB_STATE_ABSENT) {
        mb_error_set(err, MB_ERR_EXISTS, "%s: %s already has an instance named \"%s\" that is "
                     "not this moonbase's (try another name, or remove it there: lxc delete %s)",
                     verb, mb_lxd_where(l), name, name);
        return false;
    }
    return true;
}

/* The pool of the instance's own root disk (where its copy goes too), else
 * the default profile's. */
static char *root_pool(struct mb_conn *c, struct mb_lxd *l, const char *name, mb_error **err)
{
    char path[300];
    snprintf(path, sizeof path, "/1.0/instances/%s", name);
    mbj_t *i = mb_lxd_request(l, "GET", path, NULL, NULL, err);
    if (i == NULL)
        return NULL;
    const char *pool = mbj_string_value(mbj_object_get(
        mbj_object_get(mbj_object_get(i, "devices"), "root"), "pool"));
    char *out = pool && pool[0] ? strdup(pool) : NULL;
    mbj_decref(i);
    if (out == NULL) {
        const char *def = pool_of(c, l, err);
        out = def ? strdup(def) : NULL;
    }
    return out;
}

/* LXD's copy of the stopped source (POST /1.0/instances, source "copy",
 * instance_only: its root file system, not its snapshots), with the
 * target's identity given in the same request: its NICs with their new MACs,
 * its cloud-init keys and limits, moonbase's mark. LXD drops the source's
 * volatile keys and renders the image's templates for a copy at the clone's
 * first start, so cloud-init's NoCloud seed gets the clone's name as its
 * instance-id and hostname. */
static bool lxd_clone(struct mb_conn *c, const struct mb_instance *i,
                      const struct mb_instance *t, unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, i, err);
    if (l == NULL || !stopped_on_lxd(c, l, i, "clone", err) ||
        !name_free_on_lxd(l, t->name, "clone", err))
        return false;
    bool ok = false;
    struct mb_lxd_spec s;
    char *pool = NULL;
    struct mb_lxd_nic *nics = calloc(t->n_nics + 1, sizeof *nics);
    struct mb_lxd_share *shares = calloc(t->n_mounts + 1, sizeof *shares);
    if (nics == NULL || shares == NULL) {
        mb_error_set(err, MB_ERR_FAILED, "lxd: out of memory");
        goto cleanup;
    }
    if (!fill_spec(c, l, t, &s, nics, shares, err))
        goto cleanup;
    if ((pool = root_pool(c, l, i->name, err)) == NULL)
        goto cleanup;
    s.copy_of = i->name;
    s.fingerprint = NULL;
    s.pool = pool;
    s.owner = priv(c)->owner;
    s.fuse = mb_lxd_is_local(l) && access("/dev/fuse", R_OK | W_OK) == 0;
    ok = mb_lxd_instance_create(l, &s, NULL, NULL, err);
    /* a remote LXD's clone listens for SSH on a port of its own */
    if (ok && !mb_lxd_is_local(l)) {
        const char *url = https_of(t->host) ? https_of(t->host) : configured_url(c);
        ok = add_ssh_proxy(l, url, t->name, err);
        if (!ok)
            mb_lxd_instance_delete(l, t->name, NULL);
    }
cleanup:
    free_nics(nics, t->n_nics);
    free(shares);
    free(pool);
    return ok;
}

/* LXD renames the stopped container with its snapshots, devices and config
 * (POST /1.0/instances/NAME); moonbase moves its directory afterwards. */
static bool lxd_rename(struct mb_conn *c, const struct mb_instance *i,
                       const struct mb_instance *t, unsigned flags, mb_error **err)
{
    (void)flags;
    struct mb_lxd *l = lxd_of(c, i, err);
    return l && stopped_on_lxd(c, l, i, "rename", err) &&
           name_free_on_lxd(l, t->name, "rename", err) &&
           mb_lxd_instance_rename(l, i->name, t->name, err);
}

/* ---------------------------------------------------------------- the table */

static const char *const instance_types[] = {"container", "virtual-machine", NULL};
static const char *const url_schemes[] = {"https", "lxd+https", NULL};

static const struct mb_setting settings[] = {
    {"local.lxd.socket", "socket", MB_SETTING_STRING, DEFAULT_SOCKET, NULL,
     "the unix socket of this host's LXD (the snap's, "
     "/var/snap/lxd/common/lxd/unix.socket, is found by itself)", 0},
    {"local.lxd.url", "url", MB_SETTING_STRING, "", url_schemes,
     "a remote LXD to run instances on, https://HOST:8443 (trusted once: moonbase enroll "
     "TOKEN); unset: this host's LXD", MB_SETTING_HOST},
    {"local.lxd.instance-type", "instance-type", MB_SETTING_ENUM, "container", instance_types,
     "what the lxd driver makes: container, or virtual-machine (needs KVM on the LXD host)",
     0},
    {0},
};

const struct mb_driver mb_driver_lxd = {
    .name = "lxd",
    .scope = "lxd",
    .settings = settings,
    .bridge_nics = true,
    .mounts_in_place = true,
    .open = lxd_open_conn,
    .close = lxd_close_conn,
    .probe = lxd_probe,
    .host_info = lxd_host_info,
    .networks = lxd_networks,
    .image_format = lxd_image_format,
    .trust = lxd_trust,
    .net_backend = lxd_net_backend,
    .network_ensure = lxd_network_ensure,
    .network_remove = lxd_network_remove,
    .network_list = lxd_network_list,
    .create = lxd_create,
    .start = lxd_start,
    .shutdown = lxd_shutdown,
    .suspend = lxd_suspend,
    .resume = lxd_resume,
    .state = lxd_state,
    .list_ahead = lxd_list_ahead,
    .destroy = lxd_destroy,
    .pid = lxd_pid,
    .ssh_address = lxd_ssh_address,
    .ipv4 = lxd_ipv4,
    .console_log = lxd_console_log,
    .snapshot_take = lxd_snapshot_take,
    .snapshot_restore = lxd_snapshot_restore,
    .snapshot_delete = lxd_snapshot_delete,
    .snapshot_list = lxd_snapshot_list,
    .clone = lxd_clone,
    .rename = lxd_rename,
    .resize_disk = lxd_resize_disk,
    .mount_native = lxd_mount_native,
    .umount_native = lxd_umount_native,
};
