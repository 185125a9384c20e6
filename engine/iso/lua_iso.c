/* moonbase.engine.iso: cloud-init NoCloud seed images from Lua.
 *
 *   local iso = require("moonbase.engine.iso")
 *   local ok, msg, code = iso.write(path, "cidata", {
 *       ["meta-data"] = "instance-id: vm1\n", ["user-data"] = "#cloud-config\n" })
 *
 * Returns true, or nil, message, code ("usage" for a bad name or volume id,
 * "io"/"notfound" for the disk). Arguments of the wrong type raise. */
#include <lauxlib.h>
#include <lua.h>

#include "iso/iso.h"
#include "lua/luaerr.h"

/* iso.write(path, volume_id, files): files maps file name -> content. */
static int l_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *volume_id = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);

    /* Check every pair before allocating, so nothing leaks when one raises. */
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "iso.write: file names must be strings, got a %s",
                              luaL_typename(L, -2));
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "iso.write: content of \"%s\" must be a string, got a %s",
                              lua_tostring(L, -2), luaL_typename(L, -1));
        n++;
        lua_pop(L, 1);
    }

    /* Userdata, not malloc: the GC owns it. The strings stay alive in the
     * table, which nothing changes meanwhile, so this pass sees the same n pairs. */
    struct mb_iso_file *files = lua_newuserdatauv(L, n * sizeof *files, 0);
    lua_pushnil(L);
    for (size_t i = 0; lua_next(L, 3) != 0; i++) {
        files[i].name = lua_tostring(L, -2);
        files[i].data = lua_tolstring(L, -1, &files[i].size);
        lua_pop(L, 1);
    }

    mb_error *err = NULL;
    if (!mb_iso_write(path, volume_id, files, n, &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg iso_funcs[] = {
    {"write", l_write},
    {NULL, NULL},
};

int luaopen_moonbase_engine_iso(lua_State *L)
{
    luaL_newlib(L, iso_funcs);
    return 1;
}
