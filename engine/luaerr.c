/* The (nil, message, code) convention for C modules. */
#include "luaerr.h"

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
