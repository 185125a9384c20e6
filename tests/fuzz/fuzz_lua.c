/* libFuzzer targets for the parsers written in Lua, run inside the engine's
 * own Lua state (the embedded lua/ tree): MB_FUZZ_LUA picks the script in
 * tests/fuzz/lua/<name>.lua, which returns a function(input) that returns
 * nil when the input was handled (accepted, or refused with moonbase's error
 * or a nil, message) and a string when a bug showed (any other Lua error:
 * what a user would see as an internal error with a traceback). */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lua/embed.h"
#include "lua/heap.h"

#ifndef MB_FUZZ_LUA
#error "MB_FUZZ_LUA names the script"
#endif
#ifndef MB_FUZZ_DIR
#error "MB_FUZZ_DIR is tests/fuzz"
#endif

static lua_State *L;
static int fn_ref;

static void setup(void)
{
    char home[64];
    snprintf(home, sizeof home, "/tmp/mb-fuzz-home-%d", (int)getpid());
    setenv("MOONBASE_HOME", home, 1);
    setenv("MB_FUZZ_DIR_LUA", MB_FUZZ_DIR "/lua", 1);
    L = luaL_newstate();
    mb_heap_install(L); /* the recipe sandbox's memory budget needs it */
    luaL_openlibs(L);
    mb_embed_install(L);
    if (luaL_dofile(L, MB_FUZZ_DIR "/lua/" MB_FUZZ_LUA ".lua") != LUA_OK
        || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (L == NULL)
        setup();
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz: the harness failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (lua_isstring(L, -1)) {
        fprintf(stderr, "fuzz: internal error: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, top);
    if (lua_gc(L, LUA_GCCOUNT, 0) > 256 * 1024)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
