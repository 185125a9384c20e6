/* moonbase.engine.net: host networking for Lua (engine/net/net.h). Links,
 * addresses and routes of the caller's network namespace; bridges and taps;
 * the IPv4 forwarding sysctl; the NAT table "ip moonbase" (nft); one dnsmasq
 * per network. Outside-world failures return nil, message, code; bad
 * arguments raise. Policy lives in lua/moonbase/network.lua. */
#include "lua/box.h"
#include "lua/luaerr.h"
#include "lua/opts.h"
#include "net/net.h"

#include <lauxlib.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MB_IFF_LOWER_UP 0x10000 /* <linux/if.h>, which clashes with <net/if.h> */

static int push_ok(lua_State *L, bool ok, mb_error *err)
{
    if (!ok)
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (v && *v) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* privileged() -> true | false, reason */
static int l_privileged(lua_State *L)
{
    char reason[256];
    if (mb_net_privileged(reason, sizeof reason)) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    lua_pushstring(L, reason);
    return 2;
}

/* capeff_has(status_text, cap) -> bool | nil (for tests) */
static int l_capeff_has(lua_State *L)
{
    int r = mb_net_capeff_has(luaL_checkstring(L, 1), (int)luaL_checkinteger(L, 2));
    if (r < 0)
        return 0;
    lua_pushboolean(L, r);
    return 1;
}

/* links() -> { {name, index, kind, mac, alias, master, up, loopback, running, mtu}, ... } */
static int l_links(lua_State *L)
{
    mb_error *err = NULL;
    size_t n = 0;
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    struct mb_net_link *v = box->p = mb_net_links(&n, &err);
    if (v == NULL)
        return mb_lua_push_error(L, err);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 9);
        set_str(L, "name", v[i].name);
        set_int(L, "index", v[i].index);
        set_str(L, "kind", v[i].kind);
        set_str(L, "mac", v[i].mac);
        set_str(L, "alias", v[i].alias);
        for (size_t j = 0; j < n && v[i].master; j++)
            if (v[j].index == v[i].master)
                set_str(L, "master", v[j].name);
        lua_pushboolean(L, (v[i].flags & IFF_UP) != 0);
        lua_setfield(L, -2, "up");
        lua_pushboolean(L, (v[i].flags & IFF_LOOPBACK) != 0);
        lua_setfield(L, -2, "loopback");
        /* a tap has carrier while a process (QEMU) holds it open */
        lua_pushboolean(L, (v[i].flags & MB_IFF_LOWER_UP) != 0);
        lua_setfield(L, -2, "running");
        set_int(L, "mtu", v[i].mtu);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mb_lua_box_free(box);
    return 1;
}

/* addresses() -> { {dev, address, prefix}, ... } (IPv4) */
static int l_addresses(lua_State *L)
{
    mb_error *err = NULL;
    size_t n = 0;
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    struct mb_net_addr *v = box->p = mb_net_addrs(&n, &err);
    if (v == NULL)
        return mb_lua_push_error(L, err);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        set_str(L, "dev", v[i].dev);
        set_str(L, "address", v[i].addr);
        set_int(L, "prefix", v[i].prefix);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mb_lua_box_free(box);
    return 1;
}

/* routes() -> { {dst, prefix, gateway, dev, table, type}, ... } (IPv4, not the local table) */
static int l_routes(lua_State *L)
{
    mb_error *err = NULL;
    size_t n = 0;
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    struct mb_net_route *v = box->p = mb_net_routes(&n, &err);
    if (v == NULL)
        return mb_lua_push_error(L, err);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 6);
        set_str(L, "dst", v[i].dst);
        set_int(L, "prefix", v[i].prefix);
        set_str(L, "gateway", v[i].gateway);
        set_str(L, "dev", v[i].dev);
        set_int(L, "table", v[i].table);
        set_int(L, "type", v[i].type);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mb_lua_box_free(box);
    return 1;
}

/* bridge_create(name [, {alias}]) -> true */
static int l_bridge_create(lua_State *L)
{
    static const char *const keys[] = {"alias", NULL};
    const char *name = luaL_checkstring(L, 1);
    mb_lua_check_opts(L, 2, "net.bridge_create", keys);
    mb_error *err = NULL;
    bool ok = mb_net_bridge_create(name, mb_lua_opt_str(L, 2, "alias", NULL), &err);
    return push_ok(L, ok, err);
}

/* tap_create(name [, {uid, alias}]) -> true; uid defaults to the real uid */
static int l_tap_create(lua_State *L)
{
    static const char *const keys[] = {"uid", "alias", NULL};
    const char *name = luaL_checkstring(L, 1);
    mb_lua_check_opts(L, 2, "net.tap_create", keys);
    uid_t uid = (uid_t)mb_lua_opt_int(L, 2, "uid", (lua_Integer)getuid());
    mb_error *err = NULL;
    bool ok = mb_net_tap_create(name, uid, mb_lua_opt_str(L, 2, "alias", NULL), &err);
    return push_ok(L, ok, err);
}

static int l_link_delete(lua_State *L)
{
    mb_error *err = NULL;
    bool ok = mb_net_link_delete(luaL_checkstring(L, 1), &err);
    return push_ok(L, ok, err);
}

/* link_set(name, {up = bool, master = bridge|false, alias = string}) -> true */
static int l_link_set(lua_State *L)
{
    static const char *const keys[] = {"up", "master", "alias", NULL};
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    mb_lua_check_opts(L, 2, "net.link_set", keys);
    mb_error *err = NULL;
    bool ok = true;
    lua_getfield(L, 2, "master");
    if (ok && !lua_isnil(L, -1)) {
        const char *m = lua_toboolean(L, -1) ? luaL_checkstring(L, -1) : NULL;
        ok = mb_net_link_set_master(name, m, &err);
    }
    lua_pop(L, 1);
    const char *alias = mb_lua_opt_str(L, 2, "alias", NULL);
    if (ok && alias)
        ok = mb_net_link_set_alias(name, alias, &err);
    lua_getfield(L, 2, "up");
    if (ok && !lua_isnil(L, -1))
        ok = mb_net_link_set_up(name, lua_toboolean(L, -1), &err);
    lua_pop(L, 1);
    return push_ok(L, ok, err);
}

/* address_add(dev, address, prefix) / address_delete(dev, address, prefix) */
static int l_address_add(lua_State *L)
{
    mb_error *err = NULL;
    bool ok = mb_net_addr_add(luaL_checkstring(L, 1), luaL_checkstring(L, 2),
                              (int)luaL_checkinteger(L, 3), &err);
    return push_ok(L, ok, err);
}

/* neigh_hint(dev, ipv4, mac) -> true | nil, message, code */
static int l_neigh_hint(lua_State *L)
{
    mb_error *err = NULL;
    bool ok = mb_net_neigh_hint(luaL_checkstring(L, 1), luaL_checkstring(L, 2),
                                luaL_checkstring(L, 3), &err);
    return push_ok(L, ok, err);
}

static int l_address_delete(lua_State *L)
{
    mb_error *err = NULL;
    bool ok = mb_net_addr_delete(luaL_checkstring(L, 1), luaL_checkstring(L, 2),
                                 (int)luaL_checkinteger(L, 3), &err);
    return push_ok(L, ok, err);
}

/* ip_forward([on]) -> the value before (bool) */
static int l_ip_forward(lua_State *L)
{
    int set = lua_isnoneornil(L, 1) ? -1 : lua_toboolean(L, 1);
    mb_error *err = NULL;
    int before = mb_net_ip_forward(set, &err);
    if (before < 0)
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, before);
    return 1;
}

/* { {bridge=, subnet=}, ... } -> array in a userdata (freed by the GC) */
static struct mb_net_nat *check_nat(lua_State *L, int idx, size_t *n)
{
    static const char *const keys[] = {"bridge", "subnet", NULL};
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = lua_rawlen(L, idx);
    struct mb_net_nat *v = lua_newuserdatauv(L, sizeof *v * (*n + 1), 0);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        luaL_argcheck(L, lua_istable(L, -1), idx, "entries must be {bridge=, subnet=} tables");
        mb_lua_check_opts(L, -1, "net: a NAT entry", keys);
        v[i].bridge = mb_lua_opt_str(L, lua_gettop(L), "bridge", NULL);
        v[i].subnet = mb_lua_opt_str(L, lua_gettop(L), "subnet", NULL);
        luaL_argcheck(L, v[i].bridge && v[i].subnet, idx, "entries need bridge and subnet");
        lua_pop(L, 1);
    }
    return v;
}

static int l_nat_ruleset(lua_State *L)
{
    size_t n;
    struct mb_net_nat *v = check_nat(L, 1, &n);
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    char *text = box->p = mb_net_nat_ruleset(v, n);
    if (text == NULL)
        return luaL_argerror(L, 1, "invalid bridge or subnet");
    lua_pushstring(L, text);
    mb_lua_box_free(box);
    return 1;
}

/* nat_apply({ {bridge=, subnet=}, ... }) -> true; an empty list removes the table */
static int l_nat_apply(lua_State *L)
{
    size_t n;
    struct mb_net_nat *v = check_nat(L, 1, &n);
    mb_error *err = NULL;
    bool ok = mb_net_nat_apply(v, n, &err);
    return push_ok(L, ok, err);
}

static int l_nat_exists(lua_State *L)
{
    bool exists = false;
    mb_error *err = NULL;
    if (!mb_net_nat_exists(&exists, &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, exists);
    return 1;
}

static void check_dnsmasq(lua_State *L, int idx, struct mb_dnsmasq *d)
{
    static const char *const keys[] = {"name", "dir", "bridge", "address", "prefix", "domain",
                                       "user", NULL};
    luaL_checktype(L, idx, LUA_TTABLE);
    mb_lua_check_opts(L, idx, "net: a dnsmasq spec", keys);
    d->name = mb_lua_opt_str(L, idx, "name", NULL);
    d->dir = mb_lua_opt_str(L, idx, "dir", NULL);
    d->bridge = mb_lua_opt_str(L, idx, "bridge", NULL);
    d->address = mb_lua_opt_str(L, idx, "address", NULL);
    d->domain = mb_lua_opt_str(L, idx, "domain", NULL);
    d->user = mb_lua_opt_str(L, idx, "user", NULL);
    d->prefix = (int)mb_lua_opt_int(L, idx, "prefix", 24);
    luaL_argcheck(L, d->dir && d->bridge && d->address, idx, "dir, bridge and address needed");
    if (d->user == NULL && geteuid() == 0) {
        /* as root dnsmasq would drop to "nobody", who cannot read the hosts
         * files under a private data dir on reload */
        struct passwd *pw = getpwuid(0);
        d->user = pw ? pw->pw_name : NULL;
    }
}

/* dnsmasq_conf({name, dir, bridge, address, prefix, domain, user}) -> text */
static int l_dnsmasq_conf(lua_State *L)
{
    struct mb_dnsmasq d;
    check_dnsmasq(L, 1, &d);
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    char *text = box->p = mb_net_dnsmasq_conf(&d);
    if (text == NULL)
        return luaL_argerror(L, 1, "invalid address, prefix or name");
    lua_pushstring(L, text);
    mb_lua_box_free(box);
    return 1;
}

/* dnsmasq_start(opts) -> pid (started now or already running) */
static int l_dnsmasq_start(lua_State *L)
{
    struct mb_dnsmasq d;
    check_dnsmasq(L, 1, &d);
    mb_error *err = NULL;
    pid_t pid = mb_net_dnsmasq_start(&d, &err);
    if (pid < 0)
        return mb_lua_push_error(L, err);
    lua_pushinteger(L, pid);
    return 1;
}

/* dnsmasq_pid(dir) -> pid | nil */
static int l_dnsmasq_pid(lua_State *L)
{
    pid_t pid = mb_net_dnsmasq_pid(luaL_checkstring(L, 1));
    if (pid <= 0)
        return 0;
    lua_pushinteger(L, pid);
    return 1;
}

static int l_dnsmasq_stop(lua_State *L)
{
    mb_error *err = NULL;
    bool ok = mb_net_dnsmasq_stop(luaL_checkstring(L, 1), &err);
    return push_ok(L, ok, err);
}

/* dnsmasq_hosts(dir, domain, { {name, mac, ipv4}, ... }) -> true (and SIGHUP) */
static int l_dnsmasq_hosts(lua_State *L)
{
    static const char *const keys[] = {"name", "mac", "ipv4", NULL};
    const char *dir = luaL_checkstring(L, 1);
    const char *domain = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    size_t n = lua_rawlen(L, 3);
    struct mb_dnsmasq_host *v = lua_newuserdatauv(L, sizeof *v * (n + 1), 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 3, (lua_Integer)i + 1);
        luaL_argcheck(L, lua_istable(L, -1), 3, "entries must be {name=, mac=, ipv4=} tables");
        int t = lua_gettop(L);
        mb_lua_check_opts(L, t, "net.dnsmasq_hosts", keys);
        v[i].name = mb_lua_opt_str(L, t, "name", NULL);
        v[i].mac = mb_lua_opt_str(L, t, "mac", NULL);
        v[i].ipv4 = mb_lua_opt_str(L, t, "ipv4", NULL);
        lua_pop(L, 1);
    }
    mb_error *err = NULL;
    bool ok = mb_net_dnsmasq_hosts(dir, domain, v, n, &err);
    return push_ok(L, ok, err);
}

/* dnsmasq_all() -> { pid, ... } moonbase's dnsmasqs in this network namespace */
static int l_dnsmasq_all(lua_State *L)
{
    size_t n = 0;
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    pid_t *v = box->p = mb_net_dnsmasq_all(&n);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; v && i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    mb_lua_box_free(box);
    return 1;
}

/* dnsmasq_kill(pid) -> true; only one of dnsmasq_all()'s pids */
static int l_dnsmasq_kill(lua_State *L)
{
    mb_error *err = NULL;
    bool ok = mb_net_dnsmasq_kill((pid_t)luaL_checkinteger(L, 1), &err);
    return push_ok(L, ok, err);
}

/* uid() -> real uid, effective uid */
static int l_uid(lua_State *L)
{
    lua_pushinteger(L, getuid());
    lua_pushinteger(L, geteuid());
    return 2;
}

static const luaL_Reg funcs[] = {
    {"privileged", l_privileged},
    {"capeff_has", l_capeff_has},
    {"links", l_links},
    {"addresses", l_addresses},
    {"routes", l_routes},
    {"bridge_create", l_bridge_create},
    {"tap_create", l_tap_create},
    {"link_delete", l_link_delete},
    {"link_set", l_link_set},
    {"address_add", l_address_add},
    {"address_delete", l_address_delete},
    {"neigh_hint", l_neigh_hint},
    {"ip_forward", l_ip_forward},
    {"nat_ruleset", l_nat_ruleset},
    {"nat_apply", l_nat_apply},
    {"nat_exists", l_nat_exists},
    {"dnsmasq_conf", l_dnsmasq_conf},
    {"dnsmasq_start", l_dnsmasq_start},
    {"dnsmasq_pid", l_dnsmasq_pid},
    {"dnsmasq_stop", l_dnsmasq_stop},
    {"dnsmasq_hosts", l_dnsmasq_hosts},
    {"dnsmasq_all", l_dnsmasq_all},
    {"dnsmasq_kill", l_dnsmasq_kill},
    {"uid", l_uid},
    {NULL, NULL},
};

int luaopen_moonbase_engine_net(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushstring(L, MB_NET_ALIAS_PREFIX);
    lua_setfield(L, -2, "ALIAS_PREFIX");
    lua_pushstring(L, MB_NET_NFT_TABLE);
    lua_setfield(L, -2, "NFT_TABLE");
    return 1;
}
