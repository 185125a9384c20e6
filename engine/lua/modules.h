/* The C modules, each `require "moonbase.engine.<name>"` (package.preload). */
#ifndef MB_MODULES_H
#define MB_MODULES_H

#include <lua.h>

struct mb_module {
    const char *name;
    lua_CFunction open;
};

extern const struct mb_module mb_modules[];

int luaopen_moonbase_engine_embed(lua_State *L);
int luaopen_moonbase_engine_util(lua_State *L);
int luaopen_moonbase_engine_fs(lua_State *L);
int luaopen_moonbase_engine_process(lua_State *L);
int luaopen_moonbase_engine_driver(lua_State *L);
int luaopen_moonbase_engine_yaml(lua_State *L);
int luaopen_moonbase_engine_iso(lua_State *L);
int luaopen_moonbase_engine_ssh(lua_State *L);
int luaopen_moonbase_engine_image(lua_State *L);
int luaopen_moonbase_engine_net(lua_State *L);
int luaopen_moonbase_engine_agent(lua_State *L);
int luaopen_cjson(lua_State *L);

#endif
