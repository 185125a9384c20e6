/* The C modules, each `require "moonbase.core.<name>"` (package.preload). */
#ifndef MB_MODULES_H
#define MB_MODULES_H

#include <lua.h>

struct mb_module {
    const char *name;
    lua_CFunction open;
};

extern const struct mb_module mb_modules[];

int luaopen_moonbase_core_embed(lua_State *L);
int luaopen_moonbase_core_util(lua_State *L);
int luaopen_moonbase_core_fs(lua_State *L);
int luaopen_moonbase_core_process(lua_State *L);
int luaopen_moonbase_core_driver(lua_State *L);
int luaopen_moonbase_core_yaml(lua_State *L);
int luaopen_moonbase_core_iso(lua_State *L);
int luaopen_moonbase_core_ssh(lua_State *L);
int luaopen_moonbase_core_image(lua_State *L);
int luaopen_moonbase_core_net(lua_State *L);
int luaopen_moonbase_core_agent(lua_State *L);
int luaopen_cjson(lua_State *L);

#endif
