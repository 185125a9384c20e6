/* The (nil, message, code) convention for C modules, and spec-table fields
 * (see luaerr.h). */
#include "lua/luaerr.h"

#include <lauxlib.h>

static int push_error(lua_State *L)
{
    const mb_error *err = lua_touserdata(L, 1);
    lua_pushnil(L);
    if (err) {
        lua_pushstring(L, err->message);
        lua_pushstring(L, mb_error_code_name(err->code));
    } else {
        lua_pushliteral(L, "unknown error");
        lua_pushliteral(L, "failed");
    }
    return 3;
}

/* The pushes run in a protected call, so err is freed even when one of them
 * raises (out of memory): pushing a light C function and a light userdata
 * allocates nothing, and the stack room is checked without raising. */
int mb_lua_push_error(lua_State *L, mb_error *err)
{
    if (!lua_checkstack(L, 5)) {
        mb_error_free(err);
        return luaL_error(L, "stack overflow");
    }
    lua_pushcfunction(L, push_error);
    lua_pushlightuserdata(L, err);
    int rc = lua_pcall(L, 1, 3, 0);
    mb_error_free(err);
    if (rc != LUA_OK)
        return lua_error(L);
    return 3;
}

const char *mb_lua_field_str(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return s;
}
