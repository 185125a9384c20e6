/* Helpers for C modules: how an mb_error reaches Lua (a failure of the
 * outside world returns (nil, message, code); a broken contract raises with
 * luaL_error), and reading the fields of a spec table. */
#ifndef MB_LUAERR_H
#define MB_LUAERR_H

#include <lua.h>
#include "core/error.h"

/* Pushes nil, err->message, code name; frees err; returns 3. */
int mb_lua_push_error(lua_State *L, mb_error *err);

/* t[k] when it is a string, else NULL. The string stays referenced by the
 * table, so it lives as long as the table is on the stack. */
const char *mb_lua_field_str(lua_State *L, int t, const char *k);

#endif
