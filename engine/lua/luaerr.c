/* The (nil, message, code) convention for C modules, and spec-table fields. */
#include "lua/luaerr.h"

#include <lauxlib.h>

int mb_lua_push_error(lua_State *L, mb_error *err)
{
    lua_pushnil(L);
    if (err) {
        lua_pushstring(L, err->message);
        lua_pushstring(L, mb_error_code_name(err->code));
    } else {
        lua_pushstring(L, "unknown error");
        lua_pushstring(L, "failed");
    }
    mb_error_free(err);
    return 3;
}

const char *mb_lua_field_str(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return s;
}
