/* moonbase.engine.driver: the driver table seen from Lua. `driver.get(name)`
 * returns a handle whose methods are the dispatcher's operations; an instance
 * is passed as a plain table (name, dir, disk, image, seed, kernel, initrd,
 * cmdline, cpus, memory, disk_size, ssh_port, mac, tap, network, ipv4, user_net_restrict, nets,
 * mounts). */
#include "driver/driver.h"
#include "lua/luaerr.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_MT "moonbase.driver"

static const struct mb_driver *check_driver(lua_State *L)
{
    return *(const struct mb_driver **)luaL_checkudata(L, 1, DRIVER_MT);
}

static lua_Integer field_int(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    lua_Integer v = lua_isinteger(L, -1) ? lua_tointeger(L, -1)
                    : lua_isnumber(L, -1) ? (lua_Integer)lua_tonumber(L, -1) : 0;
    lua_pop(L, 1);
    return v;
}

/* Fills *inst from the table at idx. Arrays for nets and mounts are userdata
 * left on the stack, so they live until the operation returns. */
static void check_instance(lua_State *L, int idx, struct mb_instance *inst)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    idx = lua_absindex(L, idx);
    memset(inst, 0, sizeof *inst);
    inst->name = mb_lua_field_str(L, idx, "name");
    inst->dir = mb_lua_field_str(L, idx, "dir");
    luaL_argcheck(L, inst->name && inst->dir, idx, "instance needs name and dir");
    inst->disk = mb_lua_field_str(L, idx, "disk");
    inst->image = mb_lua_field_str(L, idx, "image");
    inst->seed = mb_lua_field_str(L, idx, "seed");
    inst->kernel = mb_lua_field_str(L, idx, "kernel");
    inst->initrd = mb_lua_field_str(L, idx, "initrd");
    inst->cmdline = mb_lua_field_str(L, idx, "cmdline");
    inst->mac = mb_lua_field_str(L, idx, "mac");
    inst->tap = mb_lua_field_str(L, idx, "tap");
    inst->network = mb_lua_field_str(L, idx, "network");
    inst->ipv4 = mb_lua_field_str(L, idx, "ipv4");
    lua_getfield(L, idx, "user_net_restrict");
    inst->user_net_restrict = lua_toboolean(L, -1);
    lua_pop(L, 1);
    inst->cpus = (int)field_int(L, idx, "cpus");
    inst->memory = (uint64_t)field_int(L, idx, "memory");
    inst->disk_size = (uint64_t)field_int(L, idx, "disk_size");
    inst->ssh_port = (int)field_int(L, idx, "ssh_port");

    lua_getfield(L, idx, "nets");
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        size_t n = lua_rawlen(L, t);
        struct mb_net_attachment *a = lua_newuserdatauv(L, sizeof *a * (n + 1), 1);
        lua_pushvalue(L, t);
        lua_setiuservalue(L, -2, 1);
        for (size_t k = 0; k < n; k++) {
            lua_rawgeti(L, t, (lua_Integer)k + 1);
            int e = lua_gettop(L);
            luaL_argcheck(L, lua_istable(L, e), idx, "nets entries must be tables");
            a[k].network = mb_lua_field_str(L, e, "network");
            a[k].mac = mb_lua_field_str(L, e, "mac");
            a[k].ipv4 = mb_lua_field_str(L, e, "ipv4");
            a[k].tap = mb_lua_field_str(L, e, "tap");
            lua_pop(L, 1);
        }
        inst->nets = a;
        inst->n_nets = n;
        lua_remove(L, t); /* the userdata keeps the table alive */
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, idx, "mounts");
    if (lua_istable(L, -1)) {
        int t = lua_gettop(L);
        size_t n = lua_rawlen(L, t);
        struct mb_mount_spec *m = lua_newuserdatauv(L, sizeof *m * (n + 1), 1);
        lua_pushvalue(L, t);
        lua_setiuservalue(L, -2, 1);
        for (size_t k = 0; k < n; k++) {
            lua_rawgeti(L, t, (lua_Integer)k + 1);
            int e = lua_gettop(L);
            luaL_argcheck(L, lua_istable(L, e), idx, "mounts entries must be tables");
            m[k].source = mb_lua_field_str(L, e, "source");
            m[k].tag = mb_lua_field_str(L, e, "tag");
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

/* errp, not err: the caller's call that sets err is in the same argument
 * list, and C leaves the evaluation order of arguments unspecified. */
static int push_bool_result(lua_State *L, bool ok, mb_error **errp)
{
    if (!ok)
        return mb_lua_push_error(L, *errp);
    lua_pushboolean(L, 1);
    return 1;
}

static int push_strv(lua_State *L, char **v, mb_error **errp)
{
    if (v == NULL)
        return mb_lua_push_error(L, *errp);
    lua_newtable(L);
    for (int k = 0; v[k]; k++) {
        lua_pushstring(L, v[k]);
        lua_rawseti(L, -2, k + 1);
    }
    mb_strv_free(v);
    return 1;
}

static unsigned opt_flags(lua_State *L, int idx)
{
    unsigned flags = 0;
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "force");
        if (lua_toboolean(L, -1))
            flags |= MB_FORCE;
        lua_getfield(L, idx, "keep_disks");
        if (lua_toboolean(L, -1))
            flags |= MB_KEEP_DISKS;
        lua_pop(L, 2);
    }
    return flags;
}

static int d_name(lua_State *L)
{
    lua_pushstring(L, check_driver(L)->name);
    return 1;
}

static int d_scope(lua_State *L)
{
    lua_pushstring(L, check_driver(L)->scope);
    return 1;
}

static int d_capabilities(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    lua_newtable(L);
    int n = 0;
    for (const char *const *c = d->capabilities; c && *c; c++) {
        lua_pushstring(L, *c);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static int d_has(lua_State *L)
{
    lua_pushboolean(L, mb_driver_has_capability(check_driver(L), luaL_checkstring(L, 2)));
    return 1;
}

static int d_probe(lua_State *L)
{
    mb_error *err = NULL;
    char *reason = NULL;
    enum mb_probe_result r = mb_driver_probe(check_driver(L), &reason, 0, &err);
    if (err)
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, r == MB_PROBE_OK);
    lua_pushstring(L, reason ? reason : "");
    free(reason);
    return 2;
}

static int d_host_info(lua_State *L)
{
    mb_error *err = NULL;
    return push_strv(L, mb_driver_host_info(check_driver(L), 0, &err), &err);
}

static int d_networks(lua_State *L)
{
    mb_error *err = NULL;
    return push_strv(L, mb_driver_networks(check_driver(L), 0, &err), &err);
}

/* create/start/suspend/resume/destroy share one shape */
static int inst_op(lua_State *L, bool (*op)(const struct mb_driver *, const struct mb_instance *,
                                            unsigned, mb_error **))
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    return push_bool_result(L, op(d, &inst, opt_flags(L, 3), &err), &err);
}

static int d_create(lua_State *L) { return inst_op(L, mb_driver_create); }
static int d_start(lua_State *L) { return inst_op(L, mb_driver_start); }
static int d_suspend(lua_State *L) { return inst_op(L, mb_driver_suspend); }
static int d_resume(lua_State *L) { return inst_op(L, mb_driver_resume); }
static int d_destroy(lua_State *L) { return inst_op(L, mb_driver_destroy); }

/* shutdown(inst [, {force=bool, timeout=seconds}]) */
static int d_shutdown(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    double timeout = 60;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "timeout");
        if (lua_isnumber(L, -1))
            timeout = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_shutdown(d, &inst, timeout, opt_flags(L, 3), &err), &err);
}

static int d_state(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    enum mb_state s = mb_driver_state(d, &inst, 0, &err);
    if (err)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, mb_state_name(s));
    return 1;
}

static int d_ssh_address(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    struct mb_address a;
    if (!mb_driver_ssh_address(d, &inst, &a, 0, &err))
        return mb_lua_push_error(L, err);
    lua_pushstring(L, a.host);
    lua_pushinteger(L, a.port);
    return 2;
}

static int d_ipv4(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    return push_strv(L, mb_driver_ipv4(d, &inst, 0, &err), &err);
}

static int d_console_log(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    size_t max = (size_t)luaL_optinteger(L, 3, 4096);
    mb_error *err = NULL;
    char *s = mb_driver_console_log(d, &inst, max, 0, &err);
    if (s == NULL)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int snap_op(lua_State *L, bool (*op)(const struct mb_driver *, const struct mb_instance *,
                                            const char *, unsigned, mb_error **))
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    const char *snap = luaL_checkstring(L, 3);
    mb_error *err = NULL;
    return push_bool_result(L, op(d, &inst, snap, 0, &err), &err);
}

static int d_snapshot_take(lua_State *L) { return snap_op(L, mb_driver_snapshot_take); }
static int d_snapshot_restore(lua_State *L) { return snap_op(L, mb_driver_snapshot_restore); }
static int d_snapshot_delete(lua_State *L) { return snap_op(L, mb_driver_snapshot_delete); }

static int d_snapshot_list(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    mb_error *err = NULL;
    return push_strv(L, mb_driver_snapshot_list(d, &inst, 0, &err), &err);
}

static int d_clone(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance a, b;
    check_instance(L, 2, &a);
    check_instance(L, 3, &b);
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_clone(d, &a, &b, 0, &err), &err);
}

static int d_resize_disk(lua_State *L)
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    lua_Integer bytes = luaL_checkinteger(L, 3);
    mb_error *err = NULL;
    return push_bool_result(L, mb_driver_resize_disk(d, &inst, (uint64_t)bytes, 0, &err), &err);
}

static int mount_op(lua_State *L, bool (*op)(const struct mb_driver *, const struct mb_instance *,
                                             const struct mb_mount_spec *, unsigned,
                                             mb_error **))
{
    const struct mb_driver *d = check_driver(L);
    struct mb_instance inst;
    check_instance(L, 2, &inst);
    luaL_checktype(L, 3, LUA_TTABLE);
    struct mb_mount_spec m = {mb_lua_field_str(L, 3, "source"), mb_lua_field_str(L, 3, "tag"),
                              false, false};
    lua_getfield(L, 3, "readonly");
    m.readonly = lua_toboolean(L, -1);
    lua_getfield(L, 3, "mapped");
    m.mapped = lua_toboolean(L, -1);
    lua_pop(L, 2);
    mb_error *err = NULL;
    return push_bool_result(L, op(d, &inst, &m, 0, &err), &err);
}

static int d_mount_native(lua_State *L) { return mount_op(L, mb_driver_mount_native); }
static int d_umount_native(lua_State *L) { return mount_op(L, mb_driver_umount_native); }

static const luaL_Reg methods[] = {
    {"name", d_name},
    {"scope", d_scope},
    {"capabilities", d_capabilities},
    {"has", d_has},
    {"probe", d_probe},
    {"host_info", d_host_info},
    {"networks", d_networks},
    {"create", d_create},
    {"start", d_start},
    {"shutdown", d_shutdown},
    {"suspend", d_suspend},
    {"resume", d_resume},
    {"state", d_state},
    {"destroy", d_destroy},
    {"ssh_address", d_ssh_address},
    {"ipv4", d_ipv4},
    {"console_log", d_console_log},
    {"snapshot_take", d_snapshot_take},
    {"snapshot_restore", d_snapshot_restore},
    {"snapshot_delete", d_snapshot_delete},
    {"snapshot_list", d_snapshot_list},
    {"clone", d_clone},
    {"resize_disk", d_resize_disk},
    {"mount_native", d_mount_native},
    {"umount_native", d_umount_native},
    {NULL, NULL},
};

/* get(name) -> handle | nil, message, code */
static int l_get(lua_State *L)
{
    mb_error *err = NULL;
    const struct mb_driver *d = mb_driver_find(luaL_checkstring(L, 1), &err);
    if (d == NULL)
        return mb_lua_push_error(L, err);
    const struct mb_driver **u = lua_newuserdatauv(L, sizeof *u, 0);
    *u = d;
    luaL_setmetatable(L, DRIVER_MT);
    return 1;
}

static int l_list(lua_State *L)
{
    lua_newtable(L);
    int n = 0;
    for (const struct mb_driver *const *d = mb_drivers; *d; d++) {
        lua_pushstring(L, (*d)->name);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static const luaL_Reg funcs[] = {
    {"get", l_get},
    {"list", l_list},
    {NULL, NULL},
};

int luaopen_moonbase_engine_driver(lua_State *L)
{
    if (luaL_newmetatable(L, DRIVER_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
