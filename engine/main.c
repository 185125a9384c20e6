/* moonbase's entry point: boot Lua, hand the command line to
 * moonbase._core.main, turn its answer into an exit code.
 * `moonbase --lua SCRIPT ARGS...` runs a Lua file with every moonbase module
 * available (the test suite runs busted this way, as `nvim -l` does).
 * Started as moonbase-driver-NAME (a link to the binary), it serves its
 * built-in driver NAME over the external-driver protocol on stdin/stdout
 * (engine/driver/rpc.h), so a built-in driver is also an external one. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "driver/rpc.h"
#include "lua/embed.h"
#include "lua/heap.h"
#include "lua/pcall.h"

static void set_arg(lua_State *L, int argc, char **argv, int script)
{
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int serve_driver(const char *name)
{
    mb_error *err = NULL;
    const struct mb_driver *d = mb_driver_find(name, &err);
    if (d == NULL) {
        fprintf(stderr, "moonbase-driver-%s: %s\n", name, err->message);
        mb_error_free(err);
        return 1;
    }
    return mb_rpc_serve(d, 0, 1);
}

int main(int argc, char **argv)
{
    const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
    base = base ? base + 1 : argc > 0 ? argv[0] : "";
    if (strncmp(base, "moonbase-driver-", 16) == 0)
        return serve_driver(base + 16);
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fputs("moonbase: out of memory\n", stderr);
        return 2;
    }
    mb_heap_install(L);
    luaL_openlibs(L);
    mb_embed_install(L);

    int status;
    if (argc >= 3 && strcmp(argv[1], "--lua") == 0) {
        set_arg(L, argc, argv, 2);
        if (luaL_loadfile(L, argv[2]) != LUA_OK) {
            fprintf(stderr, "moonbase: %s\n", lua_tostring(L, -1));
            lua_close(L);
            return 1;
        }
        for (int i = 3; i < argc; i++)
            lua_pushstring(L, argv[i]);
        status = mb_pcall(L, argc - 3, 1) ? 0 : 2;
        if (status == 0 && lua_isinteger(L, -1))
            status = (int)lua_tointeger(L, -1);
    } else {
        set_arg(L, argc, argv, 0);
        lua_getglobal(L, "require");
        lua_pushliteral(L, "moonbase._core.main");
        status = 2;
        if (mb_pcall(L, 1, 1)) {
            lua_getfield(L, -1, "run");
            lua_getglobal(L, "arg");
            if (mb_pcall(L, 1, 1))
                status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
        }
    }
    fflush(stdout);
    mb_heap_exiting(L);
    lua_close(L);
    return status;
}
