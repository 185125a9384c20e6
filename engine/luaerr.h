/* Helpers for C modules: how an mb_error reaches Lua. A failure of the outside
 * world returns (nil, message, code); a broken contract raises (luaL_error). */
#ifndef MB_LUAERR_H
#define MB_LUAERR_H

#include <lua.h>
#include "error.h"

/* Pushes nil, err->message, code name; frees err; returns 3. */
int mb_lua_push_error(lua_State *L, mb_error *err);

#endif
