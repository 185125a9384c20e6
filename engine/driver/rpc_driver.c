/* The table of a driver outside the binary: every slot is the method of the
 * same name, its arguments as JSON params and its result read back
 * (docs/writing-drivers.md, "The protocol"). Which slots are filled is what
 * the driver's `initialize` answer lists in `methods`, so the capabilities
 * derived from the slots are the driver's own. A reply of the wrong shape is
 * an error naming the driver and the method, never a guess. */
#include "driver/rpc.h"

#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

double mb_rpc_timeout(void)
{
    const char *s = getenv("MOONBASE_DRIVER_TIMEOUT");
    double t = s ? strtod(s, NULL) : 0;
    return t > 0 ? t : 60;
}

static struct mb_rpc_driver *rpc_of(const struct mb_conn *c)
{
    return (struct mb_rpc_driver *)c->driver;
}

static mbj_t *call_fds(struct mb_conn *c, const char *method, mbj_t *params, const int *fds,
                       double timeout, mb_error **err)
{
    struct mb_rpc_driver *r = rpc_of(c);
    mbj_t *res = r->backend->call(r->self, method, params, fds, timeout, err);
    mbj_decref(params);
    return res;
}

static mbj_t *call(struct mb_conn *c, const char *method, mbj_t *params, mb_error **err)
{
    return call_fds(c, method, params, NULL, mb_rpc_timeout(), err);
}

static void bad_reply(const struct mb_conn *c, const char *method, const char *want,
                      mb_error **err)
{
    mb_error_set(err, MB_ERR_FAILED, "driver \"%s\" (%s): %s answered something else than %s",
                 c->driver->name, rpc_of(c)->origin, method, want);
}

static mbj_t *host_params(const char *host)
{
    mbj_t *p = mbj_object();
    if (host)
        mbj_object_set_new(p, "host", mbj_string(host));
    return p;
}

static mbj_t *inst_params(const struct mb_instance *i)
{
    mbj_t *p = mbj_object();
    mbj_object_set_new(p, "instance", mb_rpc_instance_json(i));
    return p;
}

static mbj_t *flag_params(const struct mb_instance *i, unsigned flags)
{
    mbj_t *p = inst_params(i);
    if (flags) {
        mbj_t *f = mbj_object();
        if (flags & MB_FORCE)
            mbj_object_set_new(f, "force", mbj_true());
        if (flags & MB_KEEP_DISKS)
            mbj_object_set_new(f, "keep_disks", mbj_true());
        if (flags & MB_STATE_OWN)
            mbj_object_set_new(f, "own", mbj_true());
        if (flags & MB_EXEC_TTY)
            mbj_object_set_new(f, "tty", mbj_true());
        mbj_object_set_new(p, "flags", f);
    }
    return p;
}

/* A result that only says "done" (true or null). */
static bool done(struct mb_conn *c, const char *method, mbj_t *p, mb_error **err)
{
    mbj_t *res = call(c, method, p, err);
    if (res == NULL)
        return false;
    mbj_decref(res);
    return true;
}

/* ---------------------------------------------------------------- the slots */

static bool r_open(struct mb_conn *c, unsigned flags, mb_error **err)
{
    if (!mb_strv_contains(rpc_of(c)->methods, "open"))
        return true;
    mbj_t *cfg = mbj_object();
    for (char **kv = c->config; kv && *kv; kv++) {
        const char *eq = strchr(*kv, '=');
        if (eq == NULL)
            continue;
        char k[128];
        snprintf(k, sizeof k, "%.*s", (int)(eq - *kv), *kv);
        mbj_object_set_new(cfg, k, mbj_string(eq + 1));
    }
    mbj_t *p = mbj_object();
    mbj_object_set_new(p, "config", cfg);
    return done(c, "open", p, err);
}

static enum mb_probe_result r_probe(struct mb_conn *c, char **reason, unsigned flags,
                                    mb_error **err)
{
    mbj_t *res = call(c, "probe", mbj_object(), err);
    if (res == NULL)
        return MB_PROBE_DECLINED;
    mbj_t *ok = mbj_object_get(res, "ok");
    const char *why = mbj_string_value(mbj_object_get(res, "reason"));
    enum mb_probe_result r = mbj_is_true(ok) ? MB_PROBE_OK : MB_PROBE_DECLINED;
    if (!mbj_is_boolean(ok)) {
        bad_reply(c, "probe", "{\"ok\": true|false, \"reason\": \"...\"}", err);
        r = MB_PROBE_DECLINED;
    } else if (reason) {
        *reason = strdup(why ? why : "");
    }
    mbj_decref(res);
    return r;
}

static char **strv_result(struct mb_conn *c, const char *method, mbj_t *res, mb_error **err)
{
    if (res == NULL)
        return NULL;
    char **v = mbj_is_array(res) ? mb_rpc_strv_from(res, NULL) : NULL;
    if (v == NULL)
        bad_reply(c, method, "a list of strings", err);
    mbj_decref(res);
    return v;
}

static char **r_host_info(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return strv_result(c, "host_info", call(c, "host_info", mbj_object(), err), err);
}

static char **r_networks(struct mb_conn *c, unsigned flags, mb_error **err)
{
    return strv_result(c, "networks", call(c, "networks", mbj_object(), err), err);
}

static enum mb_net_backend r_net_backend(struct mb_conn *c, const char *host, unsigned flags,
                                         mb_error **err)
{
    mbj_t *res = call(c, "net_backend", host_params(host), err);
    if (res == NULL)
        return MB_NET_USER;
    const char *s = mbj_string_value(res);
    enum mb_net_backend b = MB_NET_USER;
    bool known = false;
    for (int k = MB_NET_ENGINE; s && k <= MB_NET_USER && !known; k++)
        if (strcmp(s, mb_net_backend_name((enum mb_net_backend)k)) == 0) {
            b = (enum mb_net_backend)k;
            known = true;
        }
    if (!known)
        bad_reply(c, "net_backend", "engine, driver, simulated or user", err);
    mbj_decref(res);
    return b;
}

static bool r_network_ensure(struct mb_conn *c, const char *host, const struct mb_net_spec *n,
                             unsigned flags, mb_error **err)
{
    mbj_t *net = mbj_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "name", n->name, "network",
                            n->network, "bridge", n->bridge, "gateway", n->gateway, "prefix",
                            n->prefix, "domain", n->domain);
    mbj_t *hosts = mbj_array();
    for (size_t k = 0; k < n->n_hosts; k++)
        mbj_array_append_new(hosts, mbj_pack("{s:s, s:s, s:s}", "mac", n->hosts[k].mac,
                                               "name", n->hosts[k].name, "ipv4",
                                               n->hosts[k].ipv4));
    mbj_object_set_new(net, "hosts", hosts);
    mbj_t *p = host_params(host);
    mbj_object_set_new(p, "network", net);
    return done(c, "network_ensure", p, err);
}

static int r_network_remove(struct mb_conn *c, const char *host, const char *name,
                            unsigned flags, mb_error **err)
{
    mbj_t *p = host_params(host);
    mbj_object_set_new(p, "name", mbj_string(name));
    mbj_t *res = call(c, "network_remove", p, err);
    if (res == NULL)
        return -1;
    int n = mbj_is_integer(res) ? (int)mbj_integer_value(res) : -1;
    if (n < 0)
        bad_reply(c, "network_remove", "how many it removed", err);
    mbj_decref(res);
    return n;
}

static char *dup_field(mbj_t *o, const char *k)
{
    const char *s = mbj_string_value(mbj_object_get(o, k));
    return s ? strdup(s) : NULL;
}

static struct mb_net_info *r_network_list(struct mb_conn *c, const char *host, size_t *n,
                                          unsigned flags, mb_error **err)
{
    mbj_t *res = call(c, "network_list", host_params(host), err);
    if (res == NULL)
        return NULL;
    if (!mbj_is_array(res)) {
        bad_reply(c, "network_list", "a list of networks", err);
        mbj_decref(res);
        return NULL;
    }
    size_t len = mbj_array_size(res);
    struct mb_net_info *v = calloc(len + 1, sizeof *v);
    size_t k;
    mbj_t *e;
    mbj_array_foreach(res, k, e) {
        v[k].name = dup_field(e, "name");
        v[k].bridge = dup_field(e, "bridge");
        v[k].network = dup_field(e, "network");
        v[k].active = mbj_is_true(mbj_object_get(e, "active"));
        mbj_t *ports = mbj_object_get(e, "ports");
        v[k].ports = mbj_is_integer(ports) ? (int)mbj_integer_value(ports) : -1;
        if (v[k].name == NULL) {
            mb_net_info_free(v, len);
            bad_reply(c, "network_list", "networks with names", err);
            mbj_decref(res);
            return NULL;
        }
    }
    *n = len;
    mbj_decref(res);
    return v;
}

/* create, start, suspend, resume, destroy: the instance and the flags, done or not */
#define INST_OP(m)                                                                       \
    static bool r_##m(struct mb_conn *c, const struct mb_instance *i, unsigned flags,    \
                      mb_error **err)                                                    \
    {                                                                                    \
        return done(c, #m, flag_params(i, flags), err);                                  \
    }
INST_OP(create)
INST_OP(start)
INST_OP(suspend)
INST_OP(resume)
INST_OP(destroy)
#undef INST_OP

static bool r_shutdown(struct mb_conn *c, const struct mb_instance *i, double timeout,
                       unsigned flags, mb_error **err)
{
    mbj_t *p = flag_params(i, flags);
    mbj_object_set_new(p, "timeout", mbj_real(timeout));
    mbj_t *res = call_fds(c, "shutdown", p, NULL, mb_rpc_timeout() + timeout, err);
    mbj_decref(res);
    return res != NULL;
}

static enum mb_state r_state(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                             mb_error **err)
{
    mbj_t *res = call(c, "state", flag_params(i, flags), err);
    if (res == NULL)
        return MB_STATE_UNKNOWN;
    const char *s = mbj_string_value(res);
    enum mb_state st = MB_STATE_UNKNOWN;
    for (int k = MB_STATE_STOPPED; s && k <= MB_STATE_ABSENT; k++)
        if (strcmp(s, mb_state_name((enum mb_state)k)) == 0)
            st = (enum mb_state)k;
    if (st == MB_STATE_UNKNOWN)
        bad_reply(c, "state", "stopped, starting, running, suspended or absent", err);
    mbj_decref(res);
    return st;
}

static pid_t r_pid(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                   mb_error **err)
{
    mbj_t *res = call(c, "pid", inst_params(i), err);
    if (res == NULL)
        return -1;
    pid_t p = mbj_is_integer(res) && mbj_integer_value(res) >= 0
                  ? (pid_t)mbj_integer_value(res) : -1;
    if (p < 0)
        bad_reply(c, "pid", "a process id (0: none)", err);
    mbj_decref(res);
    return p;
}

static bool r_ssh_address(struct mb_conn *c, const struct mb_instance *i,
                          struct mb_address *addr, unsigned flags, mb_error **err)
{
    mbj_t *res = call(c, "ssh_address", inst_params(i), err);
    if (res == NULL)
        return false;
    const char *host = mbj_string_value(mbj_object_get(res, "host"));
    mbj_t *port = mbj_object_get(res, "port");
    const char *proxy = mbj_string_value(mbj_object_get(res, "proxy"));
    bool ok = host && mbj_is_integer(port) && strlen(host) < sizeof addr->host
              && (proxy == NULL || strlen(proxy) < sizeof addr->proxy);
    if (ok) {
        snprintf(addr->host, sizeof addr->host, "%s", host);
        addr->port = (int)mbj_integer_value(port);
        snprintf(addr->proxy, sizeof addr->proxy, "%s", proxy ? proxy : "");
    } else {
        bad_reply(c, "ssh_address", "{\"host\": ..., \"port\": ...}", err);
    }
    mbj_decref(res);
    return ok;
}

/* exec: the descriptors go with the request (SCM_RIGHTS); the driver runs
 * the command itself ({"status": N}), or names the command that enters the
 * guest ({"command": [...]}), which moonbase runs here, wired to them. */
static bool run_here(struct mb_conn *c, mbj_t *cmd, const struct mb_exec *x, int *status,
                     mb_error **err);

static bool r_exec(struct mb_conn *c, const struct mb_instance *i, const struct mb_exec *x,
                   int *status, unsigned flags, mb_error **err)
{
    mbj_t *p = flag_params(i, flags);
    if (x->argv)
        mbj_object_set_new(p, "argv", mb_rpc_strv_json((char *const *)x->argv));
    if (x->env)
        mbj_object_set_new(p, "env", mb_rpc_strv_json((char *const *)x->env));
    if (x->workdir)
        mbj_object_set_new(p, "workdir", mbj_string(x->workdir));
    /* a command runs as long as it runs: no time limit */
    mbj_t *res = call_fds(c, "exec", p, x->fds, 0, err);
    if (res == NULL)
        return false;
    mbj_t *st = mbj_object_get(res, "status");
    mbj_t *cmd = mbj_object_get(res, "command");
    bool ok = false;
    if (mbj_is_integer(st)) {
        *status = (int)mbj_integer_value(st);
        ok = true;
    } else if (mbj_is_array(cmd) && mbj_array_size(cmd) > 0) {
        ok = run_here(c, cmd, x, status, err);
    } else {
        bad_reply(c, "exec", "{\"status\": N} or {\"command\": [...]}", err);
    }
    mbj_decref(res);
    return ok;
}

static char **r_inst_strv(struct mb_conn *c, const char *method, const struct mb_instance *i,
                          mb_error **err)
{
    return strv_result(c, method, call(c, method, inst_params(i), err), err);
}

static char **r_ipv4(struct mb_conn *c, const struct mb_instance *i, unsigned flags,
                     mb_error **err)
{
    return r_inst_strv(c, "ipv4", i, err);
}

static char *r_console_log(struct mb_conn *c, const struct mb_instance *i, size_t max,
                           unsigned flags, mb_error **err)
{
    mbj_t *p = inst_params(i);
    mbj_object_set_new(p, "max_bytes", mbj_integer((mbj_int_t)max));
    mbj_t *res = call(c, "console_log", p, err);
    if (res == NULL)
        return NULL;
    const char *s = mbj_string_value(res);
    char *out = NULL;
    if (s == NULL) {
        bad_reply(c, "console_log", "text", err);
    } else {
        size_t n = strlen(s);
        out = strdup(n > max ? s + n - max : s);
    }
    mbj_decref(res);
    return out;
}

static bool snap(struct mb_conn *c, const char *method, const struct mb_instance *i,
                 const char *name, mb_error **err)
{
    mbj_t *p = inst_params(i);
    mbj_object_set_new(p, "snapshot", mbj_string(name));
    return done(c, method, p, err);
}

static bool r_snapshot_take(struct mb_conn *c, const struct mb_instance *i, const char *s,
                            unsigned flags, mb_error **err)
{
    return snap(c, "snapshot_take", i, s, err);
}

static bool r_snapshot_restore(struct mb_conn *c, const struct mb_instance *i, const char *s,
                               unsigned flags, mb_error **err)
{
    return snap(c, "snapshot_restore", i, s, err);
}

static bool r_snapshot_delete(struct mb_conn *c, const struct mb_instance *i, const char *s,
                              unsigned flags, mb_error **err)
{
    return snap(c, "snapshot_delete", i, s, err);
}

/* snapshot_list answers a list of {name, memory, size, created} (a plain
 * name stands for {name}: a snapshot of the disk, size and time unknown). */
static struct mb_snapshot *r_snapshot_list(struct mb_conn *c, const struct mb_instance *i,
                                           unsigned flags, mb_error **err)
{
    mbj_t *res = call(c, "snapshot_list", inst_params(i), err);
    if (res == NULL)
        return NULL;
    size_t n = mbj_is_array(res) ? mbj_array_size(res) : 0;
    struct mb_snapshot *v = mbj_is_array(res) ? calloc(n + 1, sizeof *v) : NULL;
    bool ok = v != NULL;
    for (size_t k = 0; ok && k < n; k++) {
        mbj_t *e = mbj_array_get(res, k);
        const char *name = mbj_is_string(e) ? mbj_string_value(e)
                                             : mbj_string_value(mbj_object_get(e, "name"));
        ok = name != NULL && (v[k].name = strdup(name)) != NULL;
        if (ok && mbj_is_object(e)) {
            v[k].memory = mbj_is_true(mbj_object_get(e, "memory"));
            v[k].size = (uint64_t)mbj_integer_value(mbj_object_get(e, "size"));
            v[k].created = (int64_t)mbj_integer_value(mbj_object_get(e, "created"));
        }
    }
    mbj_decref(res);
    if (!ok) {
        mb_snapshots_free(v);
        bad_reply(c, "snapshot_list", "a list of {\"name\": ...}", err);
        return NULL;
    }
    return v;
}

static bool pair(struct mb_conn *c, const char *method, const struct mb_instance *i,
                 const struct mb_instance *t, mb_error **err)
{
    mbj_t *p = inst_params(i);
    mbj_object_set_new(p, "target", mb_rpc_instance_json(t));
    return done(c, method, p, err);
}

static bool r_clone(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                    unsigned flags, mb_error **err)
{
    return pair(c, "clone", i, t, err);
}

static bool r_rename(struct mb_conn *c, const struct mb_instance *i, const struct mb_instance *t,
                     unsigned flags, mb_error **err)
{
    return pair(c, "rename", i, t, err);
}

static bool r_resize_disk(struct mb_conn *c, const struct mb_instance *i, uint64_t bytes,
                          unsigned flags, mb_error **err)
{
    mbj_t *p = inst_params(i);
    mbj_object_set_new(p, "bytes", mbj_integer((mbj_int_t)bytes));
    return done(c, "resize_disk", p, err);
}

static bool mount(struct mb_conn *c, const char *method, const struct mb_instance *i,
                  const struct mb_mount_spec *m, mb_error **err)
{
    mbj_t *p = inst_params(i);
    mbj_object_set_new(p, "mount", mbj_pack("{s:s, s:s, s:b, s:b, s:s*}", "source", m->source,
                                              "tag", m->tag, "readonly", m->readonly,
                                              "mapped", m->mapped, "target", m->target));
    return done(c, method, p, err);
}

static bool r_mount_native(struct mb_conn *c, const struct mb_instance *i,
                           const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return mount(c, "mount_native", i, m, err);
}

static bool r_umount_native(struct mb_conn *c, const struct mb_instance *i,
                            const struct mb_mount_spec *m, unsigned flags, mb_error **err)
{
    return mount(c, "umount_native", i, m, err);
}

/* ---------------------------------------------------------------- exec here */

extern char **environ;

static bool run_here(struct mb_conn *c, mbj_t *cmd, const struct mb_exec *x, int *status,
                     mb_error **err)
{
    size_t n = mbj_array_size(cmd);
    const char **argv = calloc(n + 1, sizeof *argv);
    bool ok = false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (argv == NULL)
        goto cleanup;
    for (size_t k = 0; k < n; k++) {
        argv[k] = mbj_string_value(mbj_array_get(cmd, k));
        if (argv[k] == NULL) {
            bad_reply(c, "exec", "a command of strings", err);
            goto cleanup;
        }
    }
    for (int k = 0; k < 3; k++)
        posix_spawn_file_actions_adddup2(&fa, x->fds[k], k);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    if (rc != 0) {
        mb_error_set_errno(err, rc, "driver \"%s\": exec: cannot run %s", c->driver->name,
                           argv[0]);
        goto cleanup;
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        ;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    ok = true;
cleanup:
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    return ok;
}

/* ---------------------------------------------------------------- the table */

typedef void (*any_fn)(void);
static const struct {
    const char *method;
    size_t offset;
    any_fn slot;
} slots[] = {
#define SLOT(m) {#m, offsetof(struct mb_driver, m), (any_fn)r_##m}
    SLOT(probe), SLOT(host_info), SLOT(networks), SLOT(net_backend), SLOT(network_ensure),
    SLOT(network_remove), SLOT(network_list), SLOT(create), SLOT(start), SLOT(shutdown),
    SLOT(suspend), SLOT(resume), SLOT(state), SLOT(destroy), SLOT(pid), SLOT(ssh_address),
    SLOT(exec), SLOT(ipv4), SLOT(console_log), SLOT(snapshot_take), SLOT(snapshot_restore),
    SLOT(snapshot_delete), SLOT(snapshot_list), SLOT(clone), SLOT(rename), SLOT(resize_disk),
    SLOT(mount_native), SLOT(umount_native),
#undef SLOT
};

static bool is_known(const char *m)
{
    if (strcmp(m, "open") == 0 || strcmp(m, "close") == 0)
        return true;
    for (size_t k = 0; k < sizeof slots / sizeof *slots; k++)
        if (strcmp(slots[k].method, m) == 0)
            return true;
    return false;
}

bool mb_rpc_is(const struct mb_driver *d)
{
    return d && d->open == r_open;
}

static const char *keep(struct mb_rpc_driver *r, const char *s)
{
    if (s == NULL || !mb_strv_push(&r->strings, s))
        return NULL;
    return r->strings[mb_strv_len(r->strings) - 1];
}

static bool read_settings(struct mb_rpc_driver *r, mbj_t *a, mb_error **err)
{
    size_t n = mbj_array_size(a);
    r->settings = calloc(n + 1, sizeof *r->settings);
    if (r->settings == NULL)
        return false;
    size_t k;
    mbj_t *e;
    mbj_array_foreach(a, k, e) {
        struct mb_setting *s = &r->settings[k];
        const char *key = mbj_string_value(mbj_object_get(e, "key"));
        const char *name = mbj_string_value(mbj_object_get(e, "name"));
        const char *type = mbj_string_value(mbj_object_get(e, "type"));
        char prefix[96];
        snprintf(prefix, sizeof prefix, "local.%s.", r->d.name);
        if (key == NULL || name == NULL || strncmp(key, prefix, strlen(prefix)) != 0) {
            mb_error_set(err, MB_ERR_FAILED, "driver \"%s\" (%s): a setting needs a key "
                         "local.%s.NAME and a name", r->d.name, r->origin, r->d.name);
            return false;
        }
        s->key = keep(r, key);
        s->name = keep(r, name);
        s->type = type && strcmp(type, "bool") == 0   ? MB_SETTING_BOOL
                  : type && strcmp(type, "enum") == 0 ? MB_SETTING_ENUM
                                                      : MB_SETTING_STRING;
        const char *def = mbj_string_value(mbj_object_get(e, "default"));
        s->def = def ? keep(r, def) : NULL;
        const char *help = mbj_string_value(mbj_object_get(e, "help"));
        s->help = keep(r, help ? help : "");
        mbj_t *vals = mbj_object_get(e, "values");
        if (s->type == MB_SETTING_ENUM) {
            size_t nv = mbj_array_size(vals);
            const char **v = calloc(nv + 1, sizeof *v);
            if (v == NULL || !mb_strv_push(&r->strings, "")) {
                free(v);
                return false;
            }
            /* the array itself is kept as the last string slot's owner */
            free(r->strings[mb_strv_len(r->strings) - 1]);
            r->strings[mb_strv_len(r->strings) - 1] = (char *)v;
            for (size_t x = 0; x < nv; x++)
                v[x] = keep(r, mbj_string_value(mbj_array_get(vals, x)));
            s->values = v;
        }
        if (mbj_is_true(mbj_object_get(e, "host")))
            s->flags |= MB_SETTING_HOST;
    }
    return true;
}

struct mb_rpc_driver *mb_rpc_driver_new(const char *expected_name, const char *origin,
                                        enum mb_rpc_kind kind,
                                        const struct mb_rpc_backend *backend, void *self,
                                        mb_error **err)
{
    struct mb_rpc_driver *r = calloc(1, sizeof *r);
    mbj_t *res = NULL;
    if (r == NULL) {
        backend->free(self);
        mb_error_set(err, MB_ERR_IO, "out of memory");
        return NULL;
    }
    r->backend = backend;
    r->self = self;
    r->origin = strdup(origin);
    r->kind = kind;
    r->strings = mb_strv_new();
    r->methods = mb_strv_new();
    r->d.name = keep(r, expected_name);
    mbj_t *p = mbj_pack("{s:i, s:s}", "protocol", MB_RPC_PROTOCOL, "moonbase",
                          MOONBASE_VERSION);
    res = backend->call(self, "initialize", p, NULL, mb_rpc_timeout(), err);
    mbj_decref(p);
    if (res == NULL)
        goto fail;
    mbj_t *proto = mbj_object_get(res, "protocol");
    const char *name = mbj_string_value(mbj_object_get(res, "name"));
    const char *scope = mbj_string_value(mbj_object_get(res, "scope"));
    mbj_t *methods = mbj_object_get(res, "methods");
    if (!mbj_is_integer(proto) || mbj_integer_value(proto) != MB_RPC_PROTOCOL) {
        mb_error_set(err, MB_ERR_FAILED, "driver \"%s\" (%s) speaks protocol %s; this "
                     "moonbase speaks %d (try: a driver built for moonbase %s)", expected_name,
                     origin, mbj_is_integer(proto) ? "another version" : "no known version",
                     MB_RPC_PROTOCOL, MOONBASE_VERSION);
        if (mbj_is_integer(proto)) {
            mb_error_free(*err);
            *err = NULL;
            mb_error_set(err, MB_ERR_FAILED, "driver \"%s\" (%s) speaks protocol %lld; this "
                         "moonbase speaks %d (try: a driver built for moonbase %s)",
                         expected_name, origin, (long long)mbj_integer_value(proto),
                         MB_RPC_PROTOCOL, MOONBASE_VERSION);
        }
        goto fail;
    }
    if (name == NULL || strcmp(name, expected_name) != 0) {
        mb_error_set(err, MB_ERR_FAILED, "driver file %s says its name is \"%s\", not \"%s\"",
                     origin, name ? name : "", expected_name);
        goto fail;
    }
    if (scope == NULL || *scope == '\0' || !mbj_is_array(methods)) {
        mb_error_set(err, MB_ERR_FAILED, "driver \"%s\" (%s): initialize must answer a scope "
                     "and its methods", expected_name, origin);
        goto fail;
    }
    r->d.scope = keep(r, scope);
    const char *disk = mbj_string_value(mbj_object_get(res, "disk_file"));
    r->d.disk_file = disk ? keep(r, disk) : NULL;
    size_t k;
    mbj_t *m;
    mbj_array_foreach(methods, k, m) {
        const char *s = mbj_string_value(m);
        if (s == NULL || !is_known(s)) {
            mb_error_set(err, MB_ERR_FAILED, "driver \"%s\" (%s) lists a method moonbase does "
                         "not know: %s", expected_name, origin, s ? s : "(not a string)");
            goto fail;
        }
        mb_strv_push(&r->methods, s);
    }
    if (!read_settings(r, mbj_object_get(res, "settings"), err))
        goto fail;
    r->d.settings = r->settings;
    r->d.open = r_open;
    for (size_t s = 0; s < sizeof slots / sizeof *slots; s++)
        if (mb_strv_contains(r->methods, slots[s].method))
            memcpy((char *)&r->d + slots[s].offset, &slots[s].slot, sizeof(any_fn));
    mbj_decref(res);
    return r;
fail:
    if (err && *err == NULL)
        mb_error_set(err, MB_ERR_IO, "out of memory");
    mbj_decref(res);
    mb_rpc_driver_free(r);
    return NULL;
}

void mb_rpc_driver_free(struct mb_rpc_driver *r)
{
    if (r == NULL)
        return;
    if (r->backend)
        r->backend->free(r->self);
    free(r->settings);
    mb_strv_free(r->methods);
    mb_strv_free(r->strings);
    free(r->origin);
    free(r);
}
