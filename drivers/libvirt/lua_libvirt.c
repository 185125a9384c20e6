/* moonbase.engine.libvirt: the libvirt networks moonbase defines
 * (libvirt_net.c), for lua/moonbase/_core/libvirtnet.lua. In the plugin, so
 * only code that asks for libvirt networks loads libvirt. A network spec is a
 * table {name, network, bridge, gateway, prefix, domain, hosts = {{mac, name,
 * ipv4}, ...}}; failures of libvirt return nil, message, code. */
#include "drivers/libvirt/libvirt_conn.h"
#include "drivers/libvirt/libvirt_net.h"
#include "lua/luaerr.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* Fills *n from the table at idx; the hosts array is a userdata left on the
 * stack until the call returns. */
static void check_net(lua_State *L, int idx, struct mb_libvirt_net *n)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(n, 0, sizeof *n);
    n->name = mb_lua_field_str(L, idx, "name");
    n->network = mb_lua_field_str(L, idx, "network");
    n->bridge = mb_lua_field_str(L, idx, "bridge");
    n->gateway = mb_lua_field_str(L, idx, "gateway");
    n->domain = mb_lua_field_str(L, idx, "domain");
    lua_getfield(L, idx, "prefix");
    n->prefix = (int)luaL_optinteger(L, -1, 0);
    lua_pop(L, 1);
    luaL_argcheck(L, n->name && n->bridge && n->gateway && n->domain, idx,
                  "network needs name, bridge, gateway and domain");
    lua_getfield(L, idx, "hosts");
    int t = lua_gettop(L);
    size_t count = lua_istable(L, t) ? lua_rawlen(L, t) : 0;
    struct mb_libvirt_net_host *h = lua_newuserdatauv(L, sizeof *h * (count + 1), 0);
    for (size_t k = 0; k < count; k++) {
        lua_rawgeti(L, t, (lua_Integer)k + 1);
        int e = lua_gettop(L);
        luaL_argcheck(L, lua_istable(L, e), idx, "hosts entries must be tables");
        h[k].mac = mb_lua_field_str(L, e, "mac");
        h[k].name = mb_lua_field_str(L, e, "name");
        h[k].ipv4 = mb_lua_field_str(L, e, "ipv4");
        luaL_argcheck(L, h[k].mac && h[k].name && h[k].ipv4, idx, "hosts need mac, name, ipv4");
        lua_pop(L, 1);
    }
    n->hosts = h;
    n->n_hosts = count;
}

/* libvirt.network_xml(spec) -> xml | nil, msg, code */
static int l_network_xml(lua_State *L)
{
    struct mb_libvirt_net n;
    mb_error *err = NULL;
    check_net(L, 1, &n);
    char *xml = mb_libvirt_net_xml(&n, &err);
    if (xml == NULL)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, xml);
    free(xml);
    return 1;
}

/* libvirt.network_ensure(uri, spec) -> true | nil, msg, code */
static int l_network_ensure(lua_State *L)
{
    const char *uri = luaL_checkstring(L, 1);
    struct mb_libvirt_net n;
    mb_error *err = NULL;
    check_net(L, 2, &n);
    virConnectPtr c = mb_libvirt_connect(uri, &err);
    if (c == NULL || !mb_libvirt_net_ensure(c, &n, &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* libvirt.network_remove(uri, name) -> removed (boolean) | nil, msg, code */
static int l_network_remove(lua_State *L)
{
    const char *uri = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    mb_error *err = NULL;
    virConnectPtr c = mb_libvirt_connect(uri, &err);
    int r = c ? mb_libvirt_net_remove(c, name, &err) : -1;
    if (r < 0)
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, r > 0);
    return 1;
}

/* libvirt.networks(uri) -> {{name, bridge?, network?, active, ports}, ...}
 * (network: moonbase's name, only on networks moonbase defined) */
static int l_networks(lua_State *L)
{
    const char *uri = luaL_checkstring(L, 1);
    mb_error *err = NULL;
    size_t n = 0;
    virConnectPtr c = mb_libvirt_connect(uri, &err);
    struct mb_libvirt_net_info *v = c ? mb_libvirt_net_list(c, &n, &err) : NULL;
    if (v == NULL)
        return mb_lua_push_error(L, err);
    /* copied into Lua in one go: nothing below raises but out-of-memory */
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n; k++) {
        lua_createtable(L, 0, 5);
        lua_pushstring(L, v[k].name);
        lua_setfield(L, -2, "name");
        if (v[k].bridge) {
            lua_pushstring(L, v[k].bridge);
            lua_setfield(L, -2, "bridge");
        }
        if (v[k].network) {
            lua_pushstring(L, v[k].network);
            lua_setfield(L, -2, "network");
        }
        lua_pushboolean(L, v[k].active);
        lua_setfield(L, -2, "active");
        lua_pushinteger(L, v[k].ports);
        lua_setfield(L, -2, "ports");
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    mb_libvirt_net_info_free(v, n);
    return 1;
}

/* libvirt.is_remote(uri) -> boolean */
static int l_is_remote(lua_State *L)
{
    lua_pushboolean(L, mb_libvirt_uri_is_remote(luaL_checkstring(L, 1)));
    return 1;
}

static const luaL_Reg funcs[] = {
    {"network_xml", l_network_xml},
    {"network_ensure", l_network_ensure},
    {"network_remove", l_network_remove},
    {"networks", l_networks},
    {"is_remote", l_is_remote},
    {NULL, NULL},
};

int luaopen_moonbase_engine_libvirt(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
