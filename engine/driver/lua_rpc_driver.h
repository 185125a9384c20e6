/* Lua drivers (lua_rpc_driver.c): NAME.lua loaded into the engine's Lua
 * state, its functions the methods of the driver protocol. */
#ifndef MB_LUA_RPC_DRIVER_H
#define MB_LUA_RPC_DRIVER_H

#include <lua.h>

#include "driver/rpc.h"

/* The table of the Lua driver f, loaded into L's state (once per file and
 * state), or NULL with err set. */
const struct mb_driver *mb_lua_rpc_driver(lua_State *L, const struct mb_rpc_found *f,
                                          mb_error **err);
/* The state the next driver call comes from (a coroutine of the one the
 * driver was loaded in runs its functions itself). */
void mb_lua_rpc_caller(lua_State *L);

#endif
