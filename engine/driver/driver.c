/* The driver dispatcher: one public function per operation. Each validates its
 * arguments and flags once and turns a NULL slot into the "unsupported" error,
 * so drivers never re-validate and never report missing features themselves.
 * Also: opening a driver with its configuration, the capabilities its slots
 * give it, and the shared scope (a live instance belongs to the driver whose
 * marker file is in its directory). */
#include "driver/driver.h"
#include "core/log.h"
#include "core/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mb_state_name(enum mb_state s)
{
    switch (s) {
    case MB_STATE_STOPPED: return "stopped";
    case MB_STATE_STARTING: return "starting";
    case MB_STATE_RUNNING: return "running";
    case MB_STATE_SUSPENDED: return "suspended";
    case MB_STATE_ABSENT: return "absent";
    case MB_STATE_ELSEWHERE: return "elsewhere";
    case MB_STATE_UNKNOWN: break;
    }
    return "unknown";
}

const char *mb_net_backend_name(enum mb_net_backend b)
{
    switch (b) {
    case MB_NET_ENGINE: return "engine";
    case MB_NET_DRIVER: return "driver";
    case MB_NET_SIMULATED: return "simulated";
    case MB_NET_USER: return "user";
    }
    return "engine";
}

char **mb_strv_new(void)
{
    return calloc(1, sizeof(char *));
}

bool mb_strv_push(char ***v, const char *s)
{
    size_t n = mb_strv_len(*v);
    char **nv = realloc(*v, (n + 2) * sizeof(char *));
    if (nv == NULL)
        return false;
    *v = nv;
    nv[n] = strdup(s);
    nv[n + 1] = NULL;
    return nv[n] != NULL;
}

bool mb_strv_contains(char *const *v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

void mb_snapshots_free(struct mb_snapshot *v)
{
    for (struct mb_snapshot *s = v; s && s->name; s++)
        free(s->name);
    free(v);
}

size_t mb_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void mb_strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void mb_net_info_free(struct mb_net_info *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t k = 0; k < n; k++) {
        free(v[k].name);
        free(v[k].bridge);
        free(v[k].network);
    }
    free(v);
}

/* ---------------------------------------------------------------- the registry */

static const struct mb_driver_entry *entry_of(const char *name)
{
    for (const struct mb_driver_entry *e = mb_driver_registry; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

const struct mb_driver *mb_driver_find(const char *name, mb_error **err)
{
    const struct mb_driver_entry *e = name ? entry_of(name) : NULL;
    if (e == NULL) {
        char known[256] = "";
        size_t n = 0;
        for (const struct mb_driver_entry *k = mb_driver_registry; k->name; k++) {
            int w = snprintf(known + n, sizeof known - n, "%s%s",
                             k == mb_driver_registry ? "" : k[1].name ? ", " : " or ", k->name);
            if (w < 0 || (size_t)w >= sizeof known - n)
                break;
            n += (size_t)w;
        }
        mb_error_set(err, MB_ERR_USAGE, "unknown driver \"%s\" (try: %s)", name ? name : "",
                     known);
        return NULL;
    }
    if (e->table)
        return e->table;
    if (e->symbol) {
        /* code that links libraries lives in the plugin: the binary does not */
        const struct mb_driver *d = mb_plugin_sym(e->symbol, err);
        if (d && (strcmp(d->name, e->name) != 0 || strcmp(d->scope, e->scope) != 0)) {
            mb_error_set(err, MB_ERR_FAILED, "the driver table %s is not the registry's %s",
                         e->symbol, e->name);
            return NULL;
        }
        return d;
    }
    mb_error_set(err, MB_ERR_UNSUPPORTED, "driver \"%s\" is not available in this build of "
                 "moonbase yet%s%s (try: moonbase set local.driver=test)", name,
                 e->unavailable ? ": " : "", e->unavailable ? e->unavailable : "");
    return NULL;
}

/* ---------------------------------------------------------------- capabilities */

#define SLOT(d, f) ((d) != NULL && (d)->f != NULL)

size_t mb_driver_capabilities(const struct mb_driver *d, const char **out, size_t n)
{
    const struct { const char *name; bool has; } caps[] = {
        {"native_mounts", SLOT(d, mount_native) && SLOT(d, umount_native)},
        {"suspend", SLOT(d, suspend) && SLOT(d, resume)},
        {"snapshots", SLOT(d, snapshot_take) && SLOT(d, snapshot_restore)
                          && SLOT(d, snapshot_delete) && SLOT(d, snapshot_list)},
        {"clone", SLOT(d, clone)},
        {"rename", SLOT(d, rename)},
        {"resize_disk", SLOT(d, resize_disk)},
        {"ssh", SLOT(d, ssh_address)},  /* the guest is reached over SSH, through the agent */
        {"exec", SLOT(d, exec)},        /* the driver runs commands in the guest */
        {"watch", SLOT(d, pid)},        /* a hypervisor process moonbase watches */
        {"networks", SLOT(d, network_ensure) && SLOT(d, network_remove)
                         && SLOT(d, network_list)}, /* networks of the driver's own */
        {"trust", SLOT(d, trust)},      /* moonbase is trusted once by the driver's host */
        {"bridge_nics", d != NULL && d->bridge_nics},
        {"mounts_in_place", d != NULL && d->mounts_in_place && SLOT(d, mount_native)},
    };
    size_t k = 0;
    for (size_t j = 0; j < sizeof caps / sizeof caps[0]; j++)
        if (caps[j].has) {
            if (k < n)
                out[k] = caps[j].name;
            k++;
        }
    return k;
}

bool mb_driver_has_capability(const struct mb_driver *d, const char *cap)
{
    const char *names[32];
    size_t n = mb_driver_capabilities(d, names, 32);
    for (size_t k = 0; k < n && k < 32; k++)
        if (strcmp(names[k], cap) == 0)
            return true;
    return false;
}

bool mb_driver_supports(const struct mb_conn *c, const char *cap, const char *what,
                        mb_error **err)
{
    if (c == NULL || c->driver == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "%s: no driver", what);
        return false;
    }
    if (mb_driver_has_capability(c->driver, cap))
        return true;
    mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not supported by the %s driver",
                 what, c->driver->name);
    return false;
}

/* ---------------------------------------------------------------- connections */

static const struct mb_setting *setting_of(const struct mb_driver *d, const char *name,
                                           size_t len)
{
    for (const struct mb_setting *s = d->settings; s && s->key; s++)
        if (strlen(s->name) == len && strncmp(s->name, name, len) == 0)
            return s;
    return NULL;
}

struct mb_conn *mb_driver_open(const struct mb_driver *d, const char *const *config,
                               unsigned flags, mb_error **err)
{
    if (d == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "open: no driver");
        return NULL;
    }
    if (flags != 0) {
        mb_error_set(err, MB_ERR_USAGE, "open: unknown flags 0x%x", flags);
        return NULL;
    }
    for (const char *const *kv = config; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        if (eq && eq - *kv == (long)strlen(MB_CONN_STATE_DIR) &&
            strncmp(*kv, MB_CONN_STATE_DIR, (size_t)(eq - *kv)) == 0)
            continue; /* every driver's */
        if (eq == NULL || setting_of(d, *kv, (size_t)(eq - *kv)) == NULL) {
            mb_error_set(err, MB_ERR_USAGE, "open: the %s driver has no setting \"%.*s\"",
                         d->name, (int)(eq ? eq - *kv : (long)strlen(*kv)), *kv);
            return NULL;
        }
    }
    struct mb_conn *c = calloc(1, sizeof *c);
    if (c == NULL || (c->config = mb_strv_new()) == NULL) {
        free(c);
        mb_error_set(err, MB_ERR_FAILED, "open: out of memory");
        return NULL;
    }
    c->driver = d;
    for (const char *const *kv = config; kv && *kv; kv++)
        if (!mb_strv_push(&c->config, *kv)) {
            mb_driver_close(c);
            mb_error_set(err, MB_ERR_FAILED, "open: out of memory");
            return NULL;
        }
    if (d->open && !d->open(c, 0, err)) {
        c->driver = NULL; /* never opened: no close */
        mb_driver_close(c);
        return NULL;
    }
    return c;
}

void mb_driver_close(struct mb_conn *c)
{
    if (c == NULL)
        return;
    if (c->driver && c->driver->close)
        c->driver->close(c);
    mb_strv_free(c->config);
    free(c);
}

const char *mb_conn_config(const struct mb_conn *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    size_t len = strlen(name);
    for (char **kv = c->config; kv && *kv; kv++)
        if (strncmp(*kv, name, len) == 0 && (*kv)[len] == '=')
            return *kv + len + 1;
    const struct mb_setting *s = c->driver ? setting_of(c->driver, name, len) : NULL;
    return s ? s->def : NULL;
}

bool mb_conn_config_bool(const struct mb_conn *c, const char *name)
{
    const char *v = mb_conn_config(c, name);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "on") == 0);
}

/* ---------------------------------------------------------------- the checks */

/* The shared checks: a connection, an instance with a name and a directory,
 * flags the operation accepts, and a slot the driver fills. */
static bool check(const struct mb_conn *c, const struct mb_instance *i, bool need_inst,
                  bool slot, const char *op, unsigned flags, unsigned accepted, mb_error **err)
{
    if (c == NULL || c->driver == NULL) {
        mb_error_set(err, MB_ERR_USAGE, "%s: no driver", op);
        return false;
    }
    if (need_inst && (i == NULL || i->name == NULL || i->dir == NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "%s: the instance needs a name and a directory", op);
        return false;
    }
    if (flags & ~accepted) {
        mb_error_set(err, MB_ERR_USAGE, "%s: unknown flags 0x%x", op, flags & ~accepted);
        return false;
    }
    if (!slot) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not supported by the %s driver",
                     op, c->driver->name);
        return false;
    }
    /* what moonbase asks of the driver: actions at -v, questions at -vv */
    bool question = strcmp(op, "state") == 0 || strcmp(op, "ipv4") == 0
                    || strcmp(op, "ssh_address") == 0 || strcmp(op, "console_log") == 0
                    || strcmp(op, "probe") == 0 || strcmp(op, "host_info") == 0
                    || strcmp(op, "networks") == 0 || strcmp(op, "network_list") == 0
                    || strcmp(op, "snapshot list") == 0 || strcmp(op, "pid") == 0
                    || strcmp(op, "list_ahead") == 0;
    mb_log(question ? MB_LOG_MORE : MB_LOG_STEPS, "driver %s: %s%s%s", c->driver->name, op,
           i && i->name ? " " : "", i && i->name ? i->name : "");
    return true;
}

#define CSLOT(c, f) ((c) != NULL && SLOT((c)->driver, f))

/* The instance as the driver sees it for one call: with the connection. */
static struct mb_instance with_conn(const struct mb_conn *c, const struct mb_instance *i)
{
    struct mb_instance copy = *i;
    copy.conn = c;
    return copy;
}

/* ---------------------------------------------------------------- host */

enum mb_probe_result mb_driver_probe(struct mb_conn *c, char **reason, unsigned flags,
                                     mb_error **err)
{
    if (!check(c, NULL, false, CSLOT(c, probe), "probe", flags, 0, err))
        return MB_PROBE_DECLINED;
    return c->driver->probe(c, reason, flags, err);
}

char **mb_driver_host_info(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return check(c, NULL, false, CSLOT(c, host_info), "host_info", flags, 0, err)
               ? c->driver->host_info(c, flags, err) : NULL;
}

char **mb_driver_networks(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return check(c, NULL, false, CSLOT(c, networks), "networks", flags, 0, err)
               ? c->driver->networks(c, flags, err) : NULL;
}

enum mb_net_backend mb_driver_net_backend(struct mb_conn *c, const char *host, unsigned flags,
                                          mb_error **err)
{
    if (!check(c, NULL, false, true, "net_backend", flags, 0, err))
        return MB_NET_USER;
    return c->driver->net_backend ? c->driver->net_backend(c, host, flags, err) : MB_NET_ENGINE;
}

const char *mb_driver_image_format(struct mb_conn *c, unsigned flags, mb_error **err)
{
    if (!check(c, NULL, false, true, "image_format", flags, 0, err))
        return NULL;
    return c->driver->image_format ? c->driver->image_format(c, flags, err) : "disk";
}

bool mb_driver_trust(struct mb_conn *c, const char *host, const char *token, char **trusted,
                     unsigned flags, mb_error **err)
{
    if (!check(c, NULL, false, CSLOT(c, trust), "trust", flags, 0, err))
        return false;
    if (token == NULL || token[0] == '\0') {
        mb_error_set(err, MB_ERR_USAGE, "trust: no token (make one on the host)");
        return false;
    }
    return c->driver->trust(c, host, token, trusted, flags, err);
}

bool mb_driver_network_ensure(struct mb_conn *c, const char *host, const struct mb_net_spec *n,
                              unsigned flags, mb_error **err)
{
    if (!check(c, NULL, false, CSLOT(c, network_ensure), "network_ensure", flags, 0, err))
        return false;
    if (n == NULL || n->name == NULL || n->network == NULL || n->bridge == NULL
        || n->gateway == NULL || n->domain == NULL || n->prefix < 1 || n->prefix > 30
        || (n->n_hosts > 0 && n->hosts == NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "network_ensure: a network needs a name, moonbase's "
                     "name, a bridge, a gateway, a prefix and a domain");
        return false;
    }
    for (size_t k = 0; k < n->n_hosts; k++)
        if (n->hosts[k].mac == NULL || n->hosts[k].name == NULL || n->hosts[k].ipv4 == NULL) {
            mb_error_set(err, MB_ERR_USAGE, "network_ensure: a host needs a MAC, a name and "
                         "an address");
            return false;
        }
    return c->driver->network_ensure(c, host, n, flags, err);
}

int mb_driver_network_remove(struct mb_conn *c, const char *host, const char *name,
                             unsigned flags, mb_error **err)
{
    if (!check(c, NULL, false, CSLOT(c, network_remove), "network_remove", flags, 0, err))
        return -1;
    if (name == NULL || *name == '\0') {
        mb_error_set(err, MB_ERR_USAGE, "network_remove: which network?");
        return -1;
    }
    return c->driver->network_remove(c, host, name, flags, err);
}

struct mb_net_info *mb_driver_network_list(struct mb_conn *c, const char *host, size_t *n,
                                           unsigned flags, mb_error **err)
{
    *n = 0;
    return check(c, NULL, false, CSLOT(c, network_list), "network_list", flags, 0, err)
               ? c->driver->network_list(c, host, n, flags, err) : NULL;
}

/* ---------------------------------------------------------------- instances */

bool mb_driver_create(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, create), "create", flags, MB_PROGRESS, err))
        return false;
    if (i->cpus < 1 || i->memory == 0) {
        mb_error_set(err, MB_ERR_USAGE, "create: instance \"%s\" needs at least 1 cpu and some "
                     "memory", i->name);
        return false;
    }
    struct mb_instance x = with_conn(c, i);
    return c->driver->create(c, &x, flags, err);
}

/* start, suspend, resume, destroy: the same shape */
static bool inst_op(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                    unsigned accepted, mb_drv_inst_op slot, const char *op, mb_error **err)
{
    if (!check(c, i, true, slot != NULL, op, flags, accepted, err))
        return false;
    struct mb_instance x = with_conn(c, i);
    return slot(c, &x, flags, err);
}

#define SLOT_OF(c, f) ((c) && (c)->driver ? (c)->driver->f : NULL)

bool mb_driver_start(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    return inst_op(c, i, flags, 0, SLOT_OF(c, start), "start", err);
}

bool mb_driver_shutdown(struct mb_conn *c, const struct mb_instance *i, double timeout,
                        unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, shutdown), "shutdown", flags, MB_FORCE, err))
        return false;
    struct mb_instance x = with_conn(c, i);
    return c->driver->shutdown(c, &x, timeout < 0 ? 0 : timeout, flags, err);
}

bool mb_driver_suspend(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    return inst_op(c, i, flags, MB_PAUSE, SLOT_OF(c, suspend), "suspend", err);
}

bool mb_driver_resume(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    return inst_op(c, i, flags, 0, SLOT_OF(c, resume), "resume", err);
}

/* Shared scope (ARCHITECTURE.md): QEMU and libvirt see the same instances,
 * and a live instance belongs to the driver that runs it. Each lists the
 * marker files it keeps in the instance directory while it holds one; a
 * driver that sees the instance stopped asks the scope's other drivers whose
 * marker is there (so the plugin is loaded only when one of its drivers may
 * hold it). */
static const char *live_elsewhere(const struct mb_conn *c, const struct mb_instance *i,
                                  unsigned flags)
{
    const struct mb_driver *d = c->driver;
    for (const struct mb_driver_entry *e = mb_driver_registry; e->name; e++) {
        const struct mb_driver *t = e->table;
        const char *scope = t ? t->scope : e->scope;
        const char *const *markers = t ? t->markers : e->markers;
        if (scope == NULL || d->scope == NULL || strcmp(scope, d->scope) != 0
            || strcmp(e->name, d->name) == 0)
            continue;
        bool marked = false;
        for (const char *const *m = markers; m && *m && !marked; m++) {
            char p[4096];
            int n = snprintf(p, sizeof p, "%s/%s", i->dir, *m);
            marked = n > 0 && (size_t)n < sizeof p && access(p, F_OK) == 0;
        }
        if (!marked)
            continue;
        const struct mb_driver *o = mb_driver_find(e->name, NULL);
        if (o == NULL || o->state == NULL)
            continue;
        /* the other driver, with no configuration of its own: its marker names
           what it needs */
        struct mb_conn oc = {.driver = o};
        struct mb_instance x = with_conn(&oc, i);
        enum mb_state s = o->state(&oc, &x, flags | MB_STATE_OWN, NULL);
        if (s == MB_STATE_RUNNING || s == MB_STATE_STARTING || s == MB_STATE_SUSPENDED)
            return o->name;
    }
    return NULL;
}

bool mb_driver_list_ahead(struct mb_conn *c, unsigned flags, mb_error **err)
{
    if (!check(c, NULL, false, true, "list_ahead", flags, 0, err))
        return false;
    if (c->driver->list_ahead)
        c->driver->list_ahead(c, flags);
    return true;
}

enum mb_state mb_driver_state(struct mb_conn *c, const struct mb_instance *i, const char **owner,
                              unsigned flags, mb_error **err)
{
    if (owner)
        *owner = NULL;
    if (!check(c, i, true, CSLOT(c, state), "state", flags, MB_STATE_OWN | MB_STATE_LISTING,
               err))
        return MB_STATE_UNKNOWN;
    struct mb_instance x = with_conn(c, i);
    enum mb_state s = c->driver->state(c, &x, flags, err);
    if ((s == MB_STATE_STOPPED || s == MB_STATE_ABSENT) && !(flags & MB_STATE_OWN)) {
        const char *o = live_elsewhere(c, i, flags);
        if (o) {
            if (owner)
                *owner = o;
            return MB_STATE_ELSEWHERE;
        }
    }
    return s;
}

bool mb_driver_destroy(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                       mb_error **err)
{
    return inst_op(c, i, flags, MB_KEEP_DISKS, SLOT_OF(c, destroy), "destroy", err);
}

pid_t mb_driver_pid(struct mb_conn *c, const struct mb_instance *i, unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, pid), "pid", flags, 0, err))
        return -1;
    struct mb_instance x = with_conn(c, i);
    return c->driver->pid(c, &x, flags, err);
}

bool mb_driver_ssh_address(struct mb_conn *c, const struct mb_instance *i,
                           struct mb_address *addr, unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, ssh_address), "ssh_address", flags, 0, err))
        return false;
    memset(addr, 0, sizeof *addr);
    struct mb_instance x = with_conn(c, i);
    return c->driver->ssh_address(c, &x, addr, flags, err);
}

bool mb_driver_exec(struct mb_conn *c, const struct mb_instance *i, const struct mb_exec *x,
                    int *status, unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, exec), "exec", flags, MB_EXEC_TTY, err))
        return false;
    if (x == NULL || status == NULL || (x->argv && x->argv[0] == NULL)) {
        mb_error_set(err, MB_ERR_USAGE, "exec: needs a command (or none, for a shell) and a "
                     "place for its status");
        return false;
    }
    for (const char *const *e = x->env; e && *e; e++)
        if (strchr(*e, '=') == NULL || **e == '=') {
            mb_error_set(err, MB_ERR_USAGE, "exec: the environment needs NAME=VALUE, got "
                         "\"%s\"", *e);
            return false;
        }
    struct mb_instance xi = with_conn(c, i);
    return c->driver->exec(c, &xi, x, status, flags, err);
}

char **mb_driver_ipv4(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                      mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, ipv4), "ipv4", flags, 0, err))
        return NULL;
    struct mb_instance x = with_conn(c, i);
    return c->driver->ipv4(c, &x, flags, err);
}

char **mb_instance_static_ipv4(const struct mb_instance *i)
{
    char **v = mb_strv_new();
    char a[64];
    for (size_t k = 0; v && k < i->n_nics; k++)
        if (i->nics[k].attach != MB_NIC_USER && i->nics[k].ipv4 && *i->nics[k].ipv4) {
            snprintf(a, sizeof a, "%.*s", (int)strcspn(i->nics[k].ipv4, "/"), i->nics[k].ipv4);
            mb_strv_push(&v, a);
        }
    return v;
}

char *mb_driver_console_log(struct mb_conn *c, const struct mb_instance *i, size_t max_bytes,
                            unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, console_log), "console_log", flags, 0, err))
        return NULL;
    struct mb_instance x = with_conn(c, i);
    return c->driver->console_log(c, &x, max_bytes, flags, err);
}

bool mb_driver_usage(struct mb_conn *c, const struct mb_instance *i, struct mb_usage *usage,
                     unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, usage), "usage", flags, 0, err))
        return false;
    memset(usage, 0, sizeof *usage);
    struct mb_instance x = with_conn(c, i);
    return c->driver->usage(c, &x, usage, flags, err);
}

/* ---------------------------------------------------------------- storage */

/* A snapshot tag: [A-Za-z0-9_.-], not starting with '.' or '-' (it goes into
 * file names, qemu-img's argv and libvirt's XML). */
static bool check_snapshot(const struct mb_conn *c, const struct mb_instance *i, bool slot,
                           const char *op, const char *snapshot, unsigned flags, mb_error **err)
{
    if (!check(c, i, true, slot, op, flags, 0, err))
        return false;
    size_t n = snapshot ? strlen(snapshot) : 0;
    bool ok = n > 0 && n <= MB_SNAPSHOT_TAG_MAX && snapshot[0] != '.' && snapshot[0] != '-';
    for (size_t k = 0; ok && k < n; k++) {
        char ch = snapshot[k];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
             || ch == '_' || ch == '.' || ch == '-';
    }
    if (!ok) {
        mb_error_set(err, MB_ERR_USAGE, "%s: invalid snapshot tag \"%s\" (letters, digits, "
                     "'_', '.' and '-', at most %d)", op, snapshot ? snapshot : "",
                     MB_SNAPSHOT_TAG_MAX);
        return false;
    }
    return true;
}

static bool snap_op(struct mb_conn *c, const struct mb_instance *i, const char *snapshot,
                    unsigned flags, mb_drv_snapshot_op slot, const char *op, mb_error **err)
{
    if (!check_snapshot(c, i, slot != NULL, op, snapshot, flags, err))
        return false;
    struct mb_instance x = with_conn(c, i);
    return slot(c, &x, snapshot, flags, err);
}

bool mb_driver_snapshot_take(struct mb_conn *c, const struct mb_instance *i,
                             const char *snapshot, unsigned flags, mb_error **err)
{
    return snap_op(c, i, snapshot, flags, SLOT_OF(c, snapshot_take), "snapshot", err);
}

bool mb_driver_snapshot_restore(struct mb_conn *c, const struct mb_instance *i,
                                const char *snapshot, unsigned flags, mb_error **err)
{
    return snap_op(c, i, snapshot, flags, SLOT_OF(c, snapshot_restore), "restore", err);
}

bool mb_driver_snapshot_delete(struct mb_conn *c, const struct mb_instance *i,
                               const char *snapshot, unsigned flags, mb_error **err)
{
    return snap_op(c, i, snapshot, flags, SLOT_OF(c, snapshot_delete), "snapshot delete", err);
}

struct mb_snapshot *mb_driver_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                            unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, snapshot_list), "snapshot list", flags, 0, err))
        return NULL;
    struct mb_instance x = with_conn(c, i);
    return c->driver->snapshot_list(c, &x, flags, err);
}

/* clone and rename: an instance and its new self */
static bool pair_op(struct mb_conn *c, const struct mb_instance *i,
                    const struct mb_instance *target, unsigned flags, bool slot,
                    const char *op, mb_error **err)
{
    if (!check(c, i, true, slot, op, flags, 0, err)
        || !check(c, target, true, slot, op, 0, 0, err))
        return false;
    if (strcmp(i->name, target->name) == 0 || strcmp(i->dir, target->dir) == 0) {
        mb_error_set(err, MB_ERR_USAGE, "%s: the new instance needs a name and a directory of "
                     "its own", op);
        return false;
    }
    return true;
}

bool mb_driver_clone(struct mb_conn *c, const struct mb_instance *i,
                     const struct mb_instance *target, unsigned flags, mb_error **err)
{
    if (!pair_op(c, i, target, flags, CSLOT(c, clone), "clone", err))
        return false;
    struct mb_instance x = with_conn(c, i), t = with_conn(c, target);
    return c->driver->clone(c, &x, &t, flags, err);
}

bool mb_driver_rename(struct mb_conn *c, const struct mb_instance *i,
                      const struct mb_instance *target, unsigned flags, mb_error **err)
{
    if (!pair_op(c, i, target, flags, CSLOT(c, rename), "rename", err))
        return false;
    struct mb_instance x = with_conn(c, i), t = with_conn(c, target);
    return c->driver->rename(c, &x, &t, flags, err);
}

bool mb_driver_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                           unsigned flags, mb_error **err)
{
    if (!check(c, i, true, CSLOT(c, resize_disk), "resize_disk", flags, 0, err))
        return false;
    struct mb_instance x = with_conn(c, i);
    return c->driver->resize_disk(c, &x, bytes, flags, err);
}

/* ---------------------------------------------------------------- mounts */

static bool check_mount(const struct mb_conn *c, const struct mb_instance *i, bool slot,
                        const char *op, const struct mb_mount_spec *m, unsigned flags,
                        mb_error **err)
{
    if (c != NULL && c->driver != NULL && !slot) {
        mb_error_set(err, MB_ERR_UNSUPPORTED, "unsupported: %s is not supported by the %s "
                     "driver (try: --type classic)", op, c->driver->name);
        return false;
    }
    if (!check(c, i, true, slot, op, flags, 0, err))
        return false;
    if (m == NULL || m->source == NULL || m->tag == NULL || m->source[0] != '/') {
        mb_error_set(err, MB_ERR_USAGE, "%s: a mount needs an absolute source and a tag", op);
        return false;
    }
    if (c->driver->mounts_in_place && (m->target == NULL || m->target[0] != '/')) {
        mb_error_set(err, MB_ERR_USAGE, "%s: the %s driver mounts shares in place: a mount "
                     "needs an absolute target", op, c->driver->name);
        return false;
    }
    return true;
}

bool mb_driver_mount_native(struct mb_conn *c, const struct mb_instance *i,
                            const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    if (!check_mount(c, i, CSLOT(c, mount_native), "mount_native", m, flags, err))
        return false;
    struct mb_instance x = with_conn(c, i);
    return c->driver->mount_native(c, &x, m, flags, err);
}

bool mb_driver_umount_native(struct mb_conn *c, const struct mb_instance *i,
                             const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    if (!check_mount(c, i, CSLOT(c, umount_native), "umount_native", m, flags, err))
        return false;
    struct mb_instance x = with_conn(c, i);
    return c->driver->umount_native(c, &x, m, flags, err);
}
