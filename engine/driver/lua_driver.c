/* moonbase.engine.driver: the driver table seen from Lua.
 *   driver.list()              -> {name, ...}: the registry's order, then the drivers
 *                                 outside the binary (external, Lua) found
 *   driver.found()             -> {{name, kind = "external"|"lua", path, refused,
 *                                 replaces}, ...}: every driver outside the binary
 *   driver.info(name [, opts]) -> {name, scope, capabilities, settings, markers, disk_file,
 *                                 origin, path} | nil, message, code
 *   driver.open(name, config [, opts]) -> connection | nil, message, code
 *   driver.set_lua_dir(dir)    where Lua drivers of the data dir are (NAME.lua)
 * opts = {builtin = true}: the built-in driver of that name even when
 * MOONBASE_DRIVERS_REPLACE lets one outside the binary replace it (how a
 * Lua build of a built-in driver reaches the built-in).
 * A connection's methods are the dispatcher's operations. An instance is a
 * plain table: name, dir, host, image = {path, kernel, initrd, cmdline,
 * metadata, id}, cpus, memory, disk_size, cloud_init = {meta_data, user_data,
 * network_config}, nics = {{network, mac, ipv4, attach = "user"|"tap"|
 * "network"|"bridge", device, host_port}}, mounts = {{source, tag, target,
 * readonly, mapped}}, user. Option
 * tables name the operation's flags; an unknown key is a broken contract and
 * raises, as does an unknown instance key. Failures of the driver return
 * nil, message, code. */
#include "driver/driver.h"
#include "driver/lua_rpc_driver.h"
#include "lua/box.h"
#include "lua/luaerr.h"
#include "lua/opts.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONN_MT "moonbase.driver.conn"

/* ---------------------------------------------------------------- boxes */

/* malloc'd results live in a box (lua/box.h) until they are copied into Lua
 * values, so an error raised meanwhile (out of memory) frees them. */
static struct mb_lua_box *new_box(lua_State *L, void (*free_fn)(void *p, size_t n))
{
    return mb_lua_box_new(L, free_fn);
}

/* Frees what the box at stack index idx owns, and removes it. */
static void box_done(lua_State *L, struct mb_lua_box *b, int idx)
{
    mb_lua_box_free(b);
    lua_remove(L, idx);
}

static void free_strv(void *p, size_t n)
{
    (void)n;
    mb_strv_free(p);
}

static void free_snapshots(void *p, size_t n)
{
    (void)n;
    mb_snapshots_free(p);
}

/* ---------------------------------------------------------------- arguments */

static struct mb_conn *check_conn(lua_State *L)
{
    struct mb_conn **u = luaL_checkudata(L, 1, CONN_MT);
    luaL_argcheck(L, *u != NULL, 1, "closed driver connection");
    mb_lua_rpc_caller(L); /* a Lua driver runs in the caller's coroutine */
    return *u;
}

static lua_Integer field_int(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1)
                    : lua_isnumber(L, -1) ? (lua_Integer)lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

/* The subtable t[k] pushed (nil pushed when absent); returns its index or 0. */
static int subtable(lua_State *L, int t, const char *k, const char *what)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: %s must be a table", what, k);
    return lua_gettop(L);
}

static const char *const inst_keys[] = {"name", "dir", "host", "image", "cpus", "memory",
                                        "disk_size", "cloud_init", "nics", "mounts", "user",
                                        NULL};
static const char *const image_keys[] = {"path", "kernel", "initrd", "cmdline", "metadata",
                                         "id", NULL};
static const char *const ci_keys[] = {"meta_data", "user_data", "network_config", NULL};
static const char *const nic_keys[] = {"network", "mac", "ipv4", "attach", "device",
                                       "host_port", NULL};
static const char *const mount_keys[] = {"source", "tag", "target", "readonly", "mapped",
                                         NULL};

static enum mb_nic_attach check_attach(lua_State *L, int e)
{
    lua_getfield(L, e, "attach");
    const char *a = lua_tostring(L, -1);
    enum mb_nic_attach r = MB_NIC_USER;
    if (a == NULL || strcmp(a, "user") == 0)
        r = MB_NIC_USER;
    else if (strcmp(a, "tap") == 0)
        r = MB_NIC_TAP;
    else if (strcmp(a, "network") == 0)
        r = MB_NIC_NETWORK;
    else if (strcmp(a, "bridge") == 0)
        r = MB_NIC_BRIDGE;
    else
        luaL_error(L, "instance: a NIC's attach is user, tap, network or bridge, not %s", a);
    lua_pop(L, 1);
    return r;
}

/* Fills *inst from the table at idx. Strings stay referenced by the table;
 * the arrays for nics and mounts are userdata left on the stack, so they
 * live until the operation returns. */
static void check_instance(lua_State *L, int idx, struct mb_instance *inst)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    mb_lua_check_opts(L, idx, "instance", inst_keys);
    memset(inst, 0, sizeof *inst);
    inst->name = mb_lua_field_str(L, idx, "name");
    inst->dir = mb_lua_field_str(L, idx, "dir");
    luaL_argcheck(L, inst->name && inst->dir, idx, "instance needs name and dir");
    inst->host = mb_lua_field_str(L, idx, "host");
    inst->user = mb_lua_field_str(L, idx, "user");
    inst->cpus = (int)field_int(L, idx, "cpus");
    inst->memory = (uint64_t)field_int(L, idx, "memory");
    inst->disk_size = (uint64_t)field_int(L, idx, "disk_size");
    int t = subtable(L, idx, "image", "instance");
    if (t) {
        mb_lua_check_opts(L, t, "instance.image", image_keys);
        inst->image.path = mb_lua_field_str(L, t, "path");
        inst->image.kernel = mb_lua_field_str(L, t, "kernel");
        inst->image.initrd = mb_lua_field_str(L, t, "initrd");
        inst->image.cmdline = mb_lua_field_str(L, t, "cmdline");
        inst->image.metadata = mb_lua_field_str(L, t, "metadata");
        inst->image.id = mb_lua_field_str(L, t, "id");
    }
    lua_pop(L, 1); /* the strings stay referenced by inst.image, which idx holds */
    t = subtable(L, idx, "cloud_init", "instance");
    if (t) {
        mb_lua_check_opts(L, t, "instance.cloud_init", ci_keys);
        inst->cloud_init.meta_data = mb_lua_field_str(L, t, "meta_data");
        inst->cloud_init.user_data = mb_lua_field_str(L, t, "user_data");
        inst->cloud_init.network_config = mb_lua_field_str(L, t, "network_config");
    }
    lua_pop(L, 1);

    t = subtable(L, idx, "nics", "instance");
    if (t) {
        size_t n = lua_rawlen(L, t);
        struct mb_nic *a = lua_newuserdatauv(L, sizeof *a * (n + 1), 0);
        memset(a, 0, sizeof *a * (n + 1));
        for (size_t k = 0; k < n; k++) {
            lua_rawgeti(L, t, (lua_Integer)k + 1);
            int e = lua_gettop(L);
            if (!lua_istable(L, e))
                luaL_error(L, "instance: nics entries must be tables");
            mb_lua_check_opts(L, e, "instance.nics[]", nic_keys);
            a[k].network = mb_lua_field_str(L, e, "network");
            a[k].mac = mb_lua_field_str(L, e, "mac");
            a[k].ipv4 = mb_lua_field_str(L, e, "ipv4");
            a[k].device = mb_lua_field_str(L, e, "device");
            a[k].attach = check_attach(L, e);
            a[k].host_port = (int)field_int(L, e, "host_port");
            lua_pop(L, 1);
        }
        inst->nics = a;
        inst->n_nics = n;
        lua_remove(L, t); /* idx keeps the table (and its strings) alive */
    } else {
        lua_pop(L, 1);
    }
    t = subtable(L, idx, "mounts", "instance");
    if (t) {
        size_t n = lua_rawlen(L, t);
        struct mb_mount_spec *m = lua_newuserdatauv(L, sizeof *m * (n + 1), 0);
        memset(m, 0, sizeof *m * (n + 1));
        for (size_t k = 0; k < n; k++) {
            lua_rawgeti(L, t, (lua_Integer)k + 1);
            int e = lua_gettop(L);
            if (!lua_istable(L, e))
                luaL_error(L, "instance: mounts entries must be tables");
            mb_lua_check_opts(L, e, "instance.mounts[]", mount_keys);
            m[k].source = mb_lua_field_str(L, e, "source");
            m[k].tag = mb_lua_field_str(L, e, "tag");
            m[k].target = mb_lua_field_str(L, e, "target");
            lua_getfield(L, e, "readonly");
            m[k].readonly = lua_toboolean(L, -1);
            lua_getfield(L, e, "mapped");
            m[k].mapped = lua_toboolean(L, -1);
            lua_pop(L, 3);
        }
        inst->mounts = m;
        inst->n_mounts = n;
        lua_remove(L, t);
    } else {
        lua_pop(L, 1);
    }
}

/* The flags an option table names: each key must be one the operation takes. */
struct flag_name {
    const char *key;
    unsigned flag;
};

static unsigned opt_flags(lua_State *L, int idx, const char *op, const struct flag_name *names,
                          const char *const *extra)
{
    unsigned flags = 0;
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        bool known = false;
        for (const struct flag_name *f = names; f && f->key && k && !known; f++)
            if (strcmp(f->key, k) == 0) {
                known = true;
                if (lua_toboolean(L, -1))
                    flags |= f->flag;
            }
        for (const char *const *e = extra; e && *e && k && !known; e++)
            known = strcmp(*e, k) == 0;
        if (!known) {
            lua_pushvalue(L, -2);
            luaL_error(L, "%s: unknown option %s", op, luaL_tolstring(L, -1, NULL));
        }
        lua_pop(L, 1);
    }
    return flags;
}

/* errp, not err: the caller's call that sets err is in the same argument
 * list, and C leaves the evaluation order of arguments unspecified. */
static int push_bool_result(lua_State *L, bool ok, mb_error **errp)
{
    if (!ok)
        return mb_lua_push_error(L, *errp);
    lua_pushboolean(L, 1);
    return 1;
}

/* Pushes the list in box b (at stack index bidx) as a table and frees it. */
static int push_strv(lua_State *L, struct mb_lua_box *b, int bidx, mb_error **errp)
{
    char **v = b->p;
    if (v == NULL) {
        lua_remove(L, bidx);
        return mb_lua_push_error(L, *errp);
    }
    lua_newtable(L);
    for (int k = 0; v[k]; k++) {
        lua_pushstring(L, v[k]);
        lua_rawseti(L, -2, k + 1);
    }
    box_done(L, b, bidx);
    return 1;
}

/* ---------------------------------------------------------------- identity */

static void push_capabilities(lua_State *L, const struct mb_driver *d)
{
    const char *caps[32];
    size_t n = mb_driver_capabilities(d, caps, 32);
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n && k < 32; k++) {
        lua_pushstring(L, caps[k]);
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
}

static void push_strings(lua_State *L, const char *const *v)
{
    lua_newtable(L);
    for (int k = 0; v && v[k]; k++) {
        lua_pushstring(L, v[k]);
        lua_rawseti(L, -2, k + 1);
    }
}

static void push_settings(lua_State *L, const struct mb_driver *d)
{
    static const char *const types[] = {"string", "enum", "bool"};
    lua_newtable(L);
    int n = 0;
    for (const struct mb_setting *s = d->settings; s && s->key; s++) {
        lua_createtable(L, 0, 7);
        lua_pushstring(L, s->key);
        lua_setfield(L, -2, "key");
        lua_pushstring(L, s->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, types[s->type]);
        lua_setfield(L, -2, "type");
        lua_pushstring(L, s->def ? s->def : "");
        lua_setfield(L, -2, "default");
        if (s->values) {
            push_strings(L, s->values);
            lua_setfield(L, -2, "values");
        }
        lua_pushstring(L, s->help ? s->help : "");
        lua_setfield(L, -2, "help");
        lua_pushboolean(L, (s->flags & MB_SETTING_HOST) != 0);
        lua_setfield(L, -2, "host");
        lua_rawseti(L, -2, ++n);
    }
}

/* The identity of d as a table. */
static void push_info(lua_State *L, const struct mb_driver *d)
{
    lua_createtable(L, 0, 6);
    lua_pushstring(L, d->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, d->scope);
    lua_setfield(L, -2, "scope");
    push_capabilities(L, d);
    lua_setfield(L, -2, "capabilities");
    push_settings(L, d);
    lua_setfield(L, -2, "settings");
    push_strings(L, d->markers);
    lua_setfield(L, -2, "markers");
    if (d->disk_file) {
        lua_pushstring(L, d->disk_file);
        lua_setfield(L, -2, "disk_file");
    }
    const struct mb_rpc_driver *r = mb_rpc_is(d) ? (const struct mb_rpc_driver *)d : NULL;
    lua_pushstring(L, r == NULL ? "built-in" : r->kind == MB_RPC_LUA ? "lua" : "external");
    lua_setfield(L, -2, "origin");
    if (r) {
        lua_pushstring(L, r->origin);
        lua_setfield(L, -2, "path");
    }
}

static int c_name(lua_State *L)
{
    lua_pushstring(L, check_conn(L)->driver->name);
    return 1;
}

static int c_scope(lua_State *L)
{
    lua_pushstring(L, check_conn(L)->driver->scope);
    return 1;
}

static int c_capabilities(lua_State *L)
{
    push_capabilities(L, check_conn(L)->driver);
    return 1;
}

static int c_has(lua_State *L)
{
    lua_pushboolean(L, mb_driver_has_capability(check_conn(L)->driver, luaL_checkstring(L, 2)));
    return 1;
}

static int c_info(lua_State *L)
{
    push_info(L, check_conn(L)->driver);
    return 1;
}

/* conn:supports(capability, what) -> true | nil, "unsupported: <what> is not
 * supported by the <name> driver", "unsupported" */
static int c_supports(lua_State *L)
{
    struct mb_conn *c = check_conn(L);
    mb_error *err = NULL;
    if (!mb_driver_supports(c, luaL_checkstring(L, 2), luaL_checkstring(L, 3), &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* conn:config(name) -> the value the driver sees (its default when unset) */
static int c_config(lua_State *L)
{
    const char *v = mb_conn_config(check_conn(L), luaL_checkstring(L, 2));
    if (v)
        lua_pushstring(L, v);
    else
        lua_pushnil(L);
    return 1;
}

/* ---------------------------------------------------------------- host */

static int c_probe(lua_State *L)
{
    struct mb_conn *c = check_conn(L);
    struct mb_lua_box *b = new_box(L, NULL);
    mb_error *err = NULL;
    char *reason = NULL;
    enum mb_probe_result r = mb_driver_probe(c, &reason, 0, &err);
    b->p = reason;
    if (err) {
        box_done(L, b, -1);
        return mb_lua_push_error(L, err);
    }
    lua_pushboolean(L, r == MB_PROBE_OK);
    lua_pushstring(L, reason ? reason : "");
    box_done(L, b, -3);
    return 2;
}

static int host_strv(lua_State *L, char **(*op)(struct mb_conn *, unsigned, mb_error **))
{
    struct mb_conn *c = check_conn(L);
    struct mb_lua_box *b = new_box(L, free_strv);
    int bidx = lua_gettop(L);
    mb_error *err = NULL;
    b->p = op(c, 0, &err);
    return push_strv(L, b, bidx, &err);
}

static int c_host_info(lua_State *L) { return host_strv(L, mb_driver_host_info); }
static int c_networks(lua_State *L) { return host_strv(L, mb_driver_networks); }

/* net_backend([host]) -> "engine"|"driver"|"simulated"|"user" */
static int c_net_backend(lua_State *L)
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    mb_error *err = NULL;
    enum mb_net_backend b = mb_driver_net_backend(c, luaL_optstring(L, 2, NULL), 0, &err);
    if (err)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, mb_net_backend_name(b));
    return 1;
}

static const char *const net_keys[] = {"name", "network", "bridge", "gateway", "prefix",
                                       "domain", "hosts", NULL};
static const char *const host_keys[] = {"mac", "name", "ipv4", NULL};

/* Fills *n from the table at idx; the hosts array is a userdata left on the
 * stack until the call returns. */
static void check_net(lua_State *L, int idx, struct mb_net_spec *n)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    mb_lua_check_opts(L, idx, "network", net_keys);
    memset(n, 0, sizeof *n);
    n->name = mb_lua_field_str(L, idx, "name");
    n->network = mb_lua_field_str(L, idx, "network");
    n->bridge = mb_lua_field_str(L, idx, "bridge");
    n->gateway = mb_lua_field_str(L, idx, "gateway");
    n->domain = mb_lua_field_str(L, idx, "domain");
    n->prefix = (int)field_int(L, idx, "prefix");
    lua_getfield(L, idx, "hosts");
    int t = lua_gettop(L);
    size_t count = lua_istable(L, t) ? lua_rawlen(L, t) : 0;
    struct mb_net_host *h = lua_newuserdatauv(L, sizeof *h * (count + 1), 0);
    memset(h, 0, sizeof *h * (count + 1));
    for (size_t k = 0; k < count; k++) {
        lua_rawgeti(L, t, (lua_Integer)k + 1);
        int e = lua_gettop(L);
        if (!lua_istable(L, e))
            luaL_error(L, "network: hosts entries must be tables");
        mb_lua_check_opts(L, e, "network.hosts[]", host_keys);
        h[k].mac = mb_lua_field_str(L, e, "mac");
        h[k].name = mb_lua_field_str(L, e, "name");
        h[k].ipv4 = mb_lua_field_str(L, e, "ipv4");
        lua_pop(L, 1);
    }
    n->hosts = h;
    n->n_hosts = count;
    lua_remove(L, t);
}

/* network_ensure(host|nil, spec) -> true | nil, msg, code */
static int c_network_ensure(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    const char *host = luaL_optstring(L, 2, NULL);
    struct mb_net_spec n;
    check_net(L, 3, &n);
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_network_ensure(c, host, &n, 0, &err), &err);
}

/* network_remove(host|nil, name) -> existed (boolean) | nil, msg, code */
static int c_network_remove(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    mb_error *err = NULL;
    int r = mb_driver_network_remove(c, luaL_optstring(L, 2, NULL), luaL_checkstring(L, 3), 0,
                                     &err);
    if (r < 0)
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, r > 0);
    return 1;
}

struct net_list {
    struct mb_net_info *v;
    size_t n;
};

static void free_net_list(void *p, size_t n)
{
    (void)n;
    struct net_list *l = p;
    mb_net_info_free(l->v, l->n);
    free(l);
}

/* network_list(host|nil) -> {{name, bridge, network, active, ports}, ...} | nil, msg, code */
static int c_network_list(lua_State *L)
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    const char *host = luaL_optstring(L, 2, NULL);
    struct mb_lua_box *b = new_box(L, free_net_list);
    int bidx = lua_gettop(L);
    struct net_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return luaL_error(L, "network_list: out of memory");
    b->p = l;
    mb_error *err = NULL;
    l->v = mb_driver_network_list(c, host, &l->n, 0, &err);
    if (l->v == NULL && err) {
        box_done(L, b, bidx);
        return mb_lua_push_error(L, err);
    }
    lua_createtable(L, (int)l->n, 0);
    for (size_t k = 0; k < l->n; k++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, l->v[k].name);
        lua_setfield(L, -2, "name");
        if (l->v[k].bridge) {
            lua_pushstring(L, l->v[k].bridge);
            lua_setfield(L, -2, "bridge");
        }
        if (l->v[k].network) {
            lua_pushstring(L, l->v[k].network);
            lua_setfield(L, -2, "network");
        }
        lua_pushboolean(L, l->v[k].active);
        lua_setfield(L, -2, "active");
        lua_pushinteger(L, l->v[k].ports);
        lua_setfield(L, -2, "ports");
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    box_done(L, b, bidx);
    return 1;
}

/* ---------------------------------------------------------------- instances */

static int inst_op(lua_State *L, bool (*op)(struct mb_conn *, const struct mb_instance *,
                                            unsigned, mb_error **),
                   const char *name, const struct flag_name *flags)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    unsigned f = opt_flags(L, 3, name, flags, NULL);
    mb_error *err = NULL;
    return push_bool_result(L, op(c, &inst, f, &err), &err);
}

static const struct flag_name no_flags[] = {{NULL, 0}};
static const struct flag_name destroy_flags[] = {{"keep_disks", MB_KEEP_DISKS}, {NULL, 0}};

static const struct flag_name create_flags[] = {{"progress", MB_PROGRESS}, {NULL, 0}};

static int c_create(lua_State *L)
{
    return inst_op(L, mb_driver_create, "create", create_flags);
}
static int c_start(lua_State *L) { return inst_op(L, mb_driver_start, "start", no_flags); }
static const struct flag_name suspend_flags[] = {{"pause", MB_PAUSE}, {NULL, 0}};
static int c_suspend(lua_State *L)
{
    return inst_op(L, mb_driver_suspend, "suspend", suspend_flags);
}
static int c_resume(lua_State *L) { return inst_op(L, mb_driver_resume, "resume", no_flags); }
static int c_destroy(lua_State *L)
{
    return inst_op(L, mb_driver_destroy, "destroy", destroy_flags);
}

/* shutdown(inst [, {force=bool, timeout=seconds}]) */
static int c_shutdown(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    static const struct flag_name names[] = {{"force", MB_FORCE}, {NULL, 0}};
    static const char *const extra[] = {"timeout", NULL};
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    unsigned flags = opt_flags(L, 3, "shutdown", names, extra);
    double timeout = 60;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "timeout");
        if (lua_isnumber(L, -1))
            timeout = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_shutdown(c, &inst, timeout, flags, &err), &err);
}

/* state(inst [, {own=bool, listing=bool}]) -> state, owner | nil, msg, code */
static int c_state(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    static const struct flag_name names[] = {
        {"own", MB_STATE_OWN}, {"listing", MB_STATE_LISTING}, {NULL, 0}};
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    unsigned flags = opt_flags(L, 3, "state", names, NULL);
    mb_error *err = NULL;
    const char *owner = NULL;
    enum mb_state s = mb_driver_state(c, &inst, &owner, flags, &err);
    if (err)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, mb_state_name(s));
    if (owner) {
        lua_pushstring(L, owner);
        return 2;
    }
    return 1;
}

/* list_ahead() -> true | nil, msg, code: states of every instance follow */
static int c_list_ahead(lua_State *L)
{
    struct mb_conn *c = check_conn(L);
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_list_ahead(c, 0, &err), &err);
}

/* pid(inst) -> pid (0: none) | nil, msg, code */
static int c_pid(lua_State *L)
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    pid_t p = mb_driver_pid(c, &inst, 0, &err);
    if (p < 0)
        return mb_lua_push_error(L, err);
    lua_pushinteger(L, p);
    return 1;
}

/* ssh_address(inst) -> host, port, proxy | nil, msg, code */
static int c_ssh_address(lua_State *L)
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    struct mb_address a;
    if (!mb_driver_ssh_address(c, &inst, &a, 0, &err))
        return mb_lua_push_error(L, err);
    lua_pushstring(L, a.host);
    lua_pushinteger(L, a.port);
    if (a.proxy[0])
        lua_pushstring(L, a.proxy);
    else
        lua_pushnil(L);
    lua_pushboolean(L, a.relay);
    return 4;
}

/* A NULL-terminated array of the strings of list t (a userdata left on the
 * stack; the strings stay referenced by t). */
static const char *const *check_strings(lua_State *L, int t, const char *what)
{
    size_t n = lua_rawlen(L, t);
    const char **v = lua_newuserdatauv(L, sizeof *v * (n + 1), 0);
    for (size_t k = 0; k < n; k++) {
        lua_rawgeti(L, t, (lua_Integer)k + 1);
        v[k] = lua_tostring(L, -1);
        if (v[k] == NULL || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s must be a list of strings", what);
        lua_pop(L, 1);
    }
    v[n] = NULL;
    return v;
}

/* exec(inst, {argv=, env=, workdir=, fds={in, out, err}, tty=bool}) -> status | nil, msg, code */
static int c_exec(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    static const char *const keys[] = {"argv", "env", "workdir", "fds", "tty", NULL};
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    luaL_checktype(L, 3, LUA_TTABLE);
    mb_lua_check_opts(L, 3, "exec", keys);
    struct mb_exec x = {.fds = {0, 1, 2}};
    int t = subtable(L, 3, "argv", "exec");
    if (t)
        x.argv = check_strings(L, t, "exec: argv");
    t = subtable(L, 3, "env", "exec");
    if (t)
        x.env = check_strings(L, t, "exec: env");
    x.workdir = mb_lua_field_str(L, 3, "workdir");
    t = subtable(L, 3, "fds", "exec");
    for (int k = 0; t && k < 3; k++) {
        lua_rawgeti(L, t, k + 1);
        if (!lua_isnil(L, -1))
            x.fds[k] = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
    }
    lua_getfield(L, 3, "tty");
    unsigned flags = lua_toboolean(L, -1) ? MB_EXEC_TTY : 0;
    lua_pop(L, 1);
    mb_error *err = NULL;
    int status = 0;
    if (!mb_driver_exec(c, &inst, &x, &status, flags, &err))
        return mb_lua_push_error(L, err);
    lua_pushinteger(L, status);
    return 1;
}

static int inst_strv(lua_State *L, char **(*op)(struct mb_conn *, const struct mb_instance *,
                                                unsigned, mb_error **))
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    struct mb_lua_box *b = new_box(L, free_strv);
    int bidx = lua_gettop(L);
    mb_error *err = NULL;
    b->p = op(c, &inst, 0, &err);
    return push_strv(L, b, bidx, &err);
}

static int c_ipv4(lua_State *L) { return inst_strv(L, mb_driver_ipv4); }

/* snapshot_list(inst) -> { {name=, memory=, size=, created=}, ... } */
static int c_snapshot_list(lua_State *L)
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    struct mb_lua_box *b = new_box(L, free_snapshots);
    int bidx = lua_gettop(L);
    mb_error *err = NULL;
    struct mb_snapshot *v = b->p = mb_driver_snapshot_list(c, &inst, 0, &err);
    if (v == NULL) {
        lua_remove(L, bidx);
        return mb_lua_push_error(L, err);
    }
    lua_newtable(L);
    for (int k = 0; v[k].name; k++) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, v[k].name);
        lua_setfield(L, -2, "name");
        lua_pushboolean(L, v[k].memory);
        lua_setfield(L, -2, "memory");
        lua_pushinteger(L, (lua_Integer)v[k].size);
        lua_setfield(L, -2, "size");
        lua_pushinteger(L, (lua_Integer)v[k].created);
        lua_setfield(L, -2, "created");
        lua_rawseti(L, -2, k + 1);
    }
    box_done(L, b, bidx);
    return 1;
}

static int c_console_log(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    size_t max = (size_t)luaL_optinteger(L, 3, 4096);
    struct mb_lua_box *b = new_box(L, NULL);
    mb_error *err = NULL;
    b->p = mb_driver_console_log(c, &inst, max, 0, &err);
    if (b->p == NULL) {
        box_done(L, b, -1);
        return mb_lua_push_error(L, err);
    }
    lua_pushstring(L, b->p);
    box_done(L, b, -2);
    return 1;
}

/* conn:usage(inst) -> {cpu_ns =, memory_bytes =} | nil, message, code */
static int c_usage(lua_State *L)
{
    lua_settop(L, 2); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    struct mb_usage u;
    if (!mb_driver_usage(c, &inst, &u, 0, &err))
        return mb_lua_push_error(L, err);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)u.cpu_ns);
    lua_setfield(L, -2, "cpu_ns");
    lua_pushinteger(L, (lua_Integer)u.memory_bytes);
    lua_setfield(L, -2, "memory_bytes");
    return 1;
}

/* ---------------------------------------------------------------- storage */

static int snap_op(lua_State *L, bool (*op)(struct mb_conn *, const struct mb_instance *,
                                            const char *, unsigned, mb_error **))
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    const char *snap = luaL_checkstring(L, 3);
    mb_error *err = NULL;
    return push_bool_result(L, op(c, &inst, snap, 0, &err), &err);
}

static int c_snapshot_take(lua_State *L) { return snap_op(L, mb_driver_snapshot_take); }
static int c_snapshot_restore(lua_State *L) { return snap_op(L, mb_driver_snapshot_restore); }
static int c_snapshot_delete(lua_State *L) { return snap_op(L, mb_driver_snapshot_delete); }

static int pair_op(lua_State *L, bool (*op)(struct mb_conn *, const struct mb_instance *,
                                            const struct mb_instance *, unsigned, mb_error **))
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance a, b;
    check_instance(L, 2, &a);
    check_instance(L, 3, &b);
    mb_error *err = NULL;
    return push_bool_result(L, op(c, &a, &b, 0, &err), &err);
}

static int c_clone(lua_State *L) { return pair_op(L, mb_driver_clone); }
static int c_rename(lua_State *L) { return pair_op(L, mb_driver_rename); }

static int c_resize_disk(lua_State *L)
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    lua_Integer bytes = luaL_checkinteger(L, 3);
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_resize_disk(c, &inst, (uint64_t)bytes, 0, &err), &err);
}

static int mount_op(lua_State *L, bool (*op)(struct mb_conn *, const struct mb_instance *,
                                             const struct mb_mount_spec *, unsigned,
                                             mb_error **))
{
    lua_settop(L, 3); /* what the checks below push stays above the arguments */
    struct mb_conn *c = check_conn(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    luaL_checktype(L, 3, LUA_TTABLE);
    struct mb_mount_spec m = {mb_lua_field_str(L, 3, "source"), mb_lua_field_str(L, 3, "tag"),
                              false, false, mb_lua_field_str(L, 3, "target")};
    lua_getfield(L, 3, "readonly");
    m.readonly = lua_toboolean(L, -1);
    lua_getfield(L, 3, "mapped");
    m.mapped = lua_toboolean(L, -1);
    lua_pop(L, 2);
    mb_error *err = NULL;
    return push_bool_result(L, op(c, &inst, &m, 0, &err), &err);
}

static int c_mount_native(lua_State *L) { return mount_op(L, mb_driver_mount_native); }

/* image_format() -> "disk"|"lxd"|"lxd-vm" | nil, message, code */
static int c_image_format(lua_State *L)
{
    struct mb_conn *c = check_conn(L);
    mb_error *err = NULL;
    const char *f = mb_driver_image_format(c, 0, &err);
    if (f == NULL)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, f);
    return 1;
}

/* trust(token [, host]) -> the host that trusts moonbase | nil, message, code */
static int c_trust(lua_State *L)
{
    lua_settop(L, 3);
    struct mb_conn *c = check_conn(L);
    const char *token = luaL_checkstring(L, 2);
    const char *host = luaL_optstring(L, 3, NULL);
    struct mb_lua_box *b = new_box(L, NULL);
    mb_error *err = NULL;
    char *trusted = NULL;
    bool ok = mb_driver_trust(c, host, token, &trusted, 0, &err);
    b->p = trusted;
    if (!ok)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, trusted ? trusted : "");
    return 1;
}
static int c_umount_native(lua_State *L) { return mount_op(L, mb_driver_umount_native); }

static int c_close(lua_State *L)
{
    struct mb_conn **u = luaL_checkudata(L, 1, CONN_MT);
    mb_driver_close(*u);
    *u = NULL;
    return 0;
}

static const luaL_Reg methods[] = {
    {"name", c_name},
    {"scope", c_scope},
    {"capabilities", c_capabilities},
    {"has", c_has},
    {"supports", c_supports},
    {"info", c_info},
    {"config", c_config},
    {"probe", c_probe},
    {"host_info", c_host_info},
    {"networks", c_networks},
    {"net_backend", c_net_backend},
    {"network_ensure", c_network_ensure},
    {"network_remove", c_network_remove},
    {"network_list", c_network_list},
    {"create", c_create},
    {"start", c_start},
    {"shutdown", c_shutdown},
    {"suspend", c_suspend},
    {"resume", c_resume},
    {"state", c_state},
    {"list_ahead", c_list_ahead},
    {"destroy", c_destroy},
    {"pid", c_pid},
    {"ssh_address", c_ssh_address},
    {"exec", c_exec},
    {"ipv4", c_ipv4},
    {"console_log", c_console_log},
    {"snapshot_take", c_snapshot_take},
    {"snapshot_restore", c_snapshot_restore},
    {"snapshot_delete", c_snapshot_delete},
    {"snapshot_list", c_snapshot_list},
    {"clone", c_clone},
    {"rename", c_rename},
    {"resize_disk", c_resize_disk},
    {"usage", c_usage},
    {"mount_native", c_mount_native},
    {"umount_native", c_umount_native},
    {"image_format", c_image_format},
    {"trust", c_trust},
    {"close", c_close},
    {NULL, NULL},
};

/* ---------------------------------------------------------------- the module */

/* ---------------------------------------------------------------- finding drivers */

static char lua_dir[4096];

static bool registered(const char *name)
{
    for (const struct mb_driver_entry *e = mb_driver_registry; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return true;
    return false;
}

static bool opt_builtin(lua_State *L, int idx)
{
    static const char *const keys[] = {"builtin", NULL};
    mb_lua_check_opts(L, idx, "driver options", keys);
    return mb_lua_opt_bool(L, idx, "builtin", false);
}

/* A driver by name: a built-in (unless MOONBASE_DRIVERS_REPLACE names it and
 * one outside the binary has its name), else an external or Lua driver. */
static const struct mb_driver *resolve(lua_State *L, const char *name, bool builtin,
                                       mb_error **err)
{
    struct mb_rpc_found f;
    bool in_registry = registered(name);
    if (builtin || (in_registry && !mb_rpc_may_replace(name))
        || !mb_rpc_find(name, lua_dir[0] ? lua_dir : NULL, &f))
        return mb_driver_find(name, err);
    return f.kind == MB_RPC_LUA ? mb_lua_rpc_driver(L, &f, err) : mb_rpc_external(&f, err);
}

/* open(name [, config]) -> connection | nil, message, code; config is
 * {name = value} (values as text, booleans taken as true/false). */
static int l_open(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    bool builtin = opt_builtin(L, 3);
    const char **config = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            n++;
            lua_pop(L, 1);
        }
        config = lua_newuserdatauv(L, sizeof *config * (n + 1), 0);
        luaL_checkstack(L, (int)n + 4, "driver.open: too much configuration");
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, 2) != 0) {
            if (lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "driver.open: configuration names are strings");
            const char *v = lua_isboolean(L, -1) ? (lua_toboolean(L, -1) ? "true" : "false")
                                                 : lua_tostring(L, -1);
            if (v == NULL)
                luaL_error(L, "driver.open: %s must be text", lua_tostring(L, -2));
            config[k++] = lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), v);
            lua_insert(L, -3); /* kept on the stack below the key and value */
            lua_pop(L, 1);
        }
        config[k] = NULL;
    }
    mb_error *err = NULL;
    const struct mb_driver *d = resolve(L, name, builtin, &err);
    struct mb_conn **u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = NULL;
    luaL_setmetatable(L, CONN_MT);
    if (d)
        *u = mb_driver_open(d, config, 0, &err);
    if (*u == NULL)
        return mb_lua_push_error(L, err);
    return 1;
}

/* info(name) -> {name, scope, capabilities, settings, markers, disk_file} | nil, msg, code */
static int l_info(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    bool builtin = opt_builtin(L, 2);
    mb_error *err = NULL;
    const struct mb_driver *d = resolve(L, name, builtin, &err);
    if (d == NULL)
        return mb_lua_push_error(L, err);
    push_info(L, d);
    return 1;
}

#define MAX_FOUND 64

/* found() -> {{name, kind, path, refused, replaces}, ...} */
static int l_found(lua_State *L)
{
    struct mb_rpc_found *f = lua_newuserdatauv(L, sizeof *f * MAX_FOUND, 0);
    size_t n = mb_rpc_discover(lua_dir[0] ? lua_dir : NULL, f, MAX_FOUND);
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n; k++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, f[k].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, f[k].kind == MB_RPC_LUA ? "lua" : "external");
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, f[k].path);
        lua_setfield(L, -2, "path");
        if (f[k].refused[0]) {
            lua_pushstring(L, f[k].refused);
            lua_setfield(L, -2, "refused");
        }
        if (registered(f[k].name)) {
            lua_pushboolean(L, mb_rpc_may_replace(f[k].name));
            lua_setfield(L, -2, "replaces");
        }
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    return 1;
}

static int l_set_lua_dir(lua_State *L)
{
    snprintf(lua_dir, sizeof lua_dir, "%s", luaL_checkstring(L, 1));
    return 0;
}

static int l_list(lua_State *L)
{
    struct mb_rpc_found *f = lua_newuserdatauv(L, sizeof *f * MAX_FOUND, 0);
    size_t nf = mb_rpc_discover(lua_dir[0] ? lua_dir : NULL, f, MAX_FOUND);
    lua_newtable(L);
    int n = 0;
    for (const struct mb_driver_entry *e = mb_driver_registry; e->name; e++) {
        lua_pushstring(L, e->name);
        lua_rawseti(L, -2, ++n);
    }
    for (size_t k = 0; k < nf; k++)
        if (!registered(f[k].name)) {
            lua_pushstring(L, f[k].name);
            lua_rawseti(L, -2, ++n);
        }
    return 1;
}

static const luaL_Reg funcs[] = {
    {"open", l_open},
    {"info", l_info},
    {"list", l_list},
    {"found", l_found},
    {"set_lua_dir", l_set_lua_dir},
    {NULL, NULL},
};

int luaopen_moonbase_engine_driver(lua_State *L)
{
    if (luaL_newmetatable(L, CONN_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, c_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, c_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
