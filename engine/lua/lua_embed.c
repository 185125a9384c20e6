/* moonbase.engine.embed: finds moonbase's own Lua code, in the binary or, with
 * MOONBASE_LUA_DEV=<source dir>, in the source tree; and registers every C
 * module in package.preload. */
#include "lua/embed.h"
#include "lua/modules.h"

#include <dirent.h>
#include <stdbool.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_embedded *find_embedded(const char *module)
{
    for (const struct mb_embedded *e = mb_embedded_files; e->module; e++)
        if (strcmp(e->module, module) == 0)
            return e;
    return NULL;
}

static const char *dev_dir(void)
{
    const char *d = getenv("MOONBASE_LUA_DEV");
    return d && *d ? d : NULL;
}

/* moonbase.a.b -> lua/moonbase/a/b.lua; cli.x -> cli/x.lua */
static void module_path(luaL_Buffer *b, const char *dev, const char *module, bool init)
{
    luaL_addstring(b, dev);
    luaL_addstring(b, strncmp(module, "cli.", 4) == 0 ? "/" : "/lua/");
    for (const char *p = module; *p; p++)
        luaL_addchar(b, *p == '.' ? '/' : *p);
    luaL_addstring(b, init ? "/init.lua" : ".lua");
}

static int searcher(lua_State *L)
{
    const char *module = luaL_checkstring(L, 1);
    if (strncmp(module, "moonbase.", 9) != 0 && strncmp(module, "cli.", 4) != 0)
        return 0;
    const char *dev = dev_dir();
    if (dev) {
        for (int init = 0; init < 2; init++) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            module_path(&b, dev, module, init);
            luaL_pushresult(&b);
            const char *path = lua_tostring(L, -1);
            FILE *f = fopen(path, "r");
            if (f == NULL) {
                lua_pop(L, 1);
                continue;
            }
            fclose(f);
            if (luaL_loadfilex(L, path, "t") != LUA_OK)
                return luaL_error(L, "error loading module '%s':\n\t%s", module,
                                  lua_tostring(L, -1));
            lua_insert(L, -2); /* loader, path */
            return 2;
        }
        lua_pushfstring(L, "no file for '%s' under MOONBASE_LUA_DEV=%s", module, dev);
        return 1;
    }
    const struct mb_embedded *e = find_embedded(module);
    if (e == NULL) {
        lua_pushfstring(L, "no embedded module '%s'", module);
        return 1;
    }
    if (luaL_loadbufferx(L, e->data, e->size, e->chunkname, "b") != LUA_OK)
        return luaL_error(L, "error loading module '%s':\n\t%s", module, lua_tostring(L, -1));
    lua_pushstring(L, e->chunkname + 1);
    return 2;
}

/* embed.list(prefix) -> sorted list of module names starting with prefix */
static int l_list(lua_State *L)
{
    const char *prefix = luaL_checkstring(L, 1);
    size_t plen = strlen(prefix);
    lua_newtable(L);
    int n = 0;
    const char *dev = dev_dir();
    if (dev && strcmp(prefix, "cli.") == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/cli", dev);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            size_t len = strlen(de->d_name);
            if (len > 4 && strcmp(de->d_name + len - 4, ".lua") == 0 && de->d_name[0] != '.') {
                lua_pushfstring(L, "cli.%s", de->d_name);
                lua_pushlstring(L, lua_tostring(L, -1), plen + len - 4);
                lua_remove(L, -2);
                lua_rawseti(L, -2, ++n);
            }
        }
        if (d)
            closedir(d);
        return 1;
    }
    for (const struct mb_embedded *e = mb_embedded_files; e->module; e++)
        if (strncmp(e->module, prefix, plen) == 0) {
            lua_pushstring(L, e->module);
            lua_rawseti(L, -2, ++n);
        }
    return 1;
}

static int l_dev(lua_State *L)
{
    const char *dev = dev_dir();
    if (dev)
        lua_pushstring(L, dev);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"list", l_list},
    {"dev", l_dev},
    {NULL, NULL},
};

int luaopen_moonbase_engine_embed(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}

void mb_embed_install(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const struct mb_module *m = mb_modules; m->name; m++) {
        lua_pushcfunction(L, m->open);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
    /* our searcher goes right after preload, before the filesystem ones */
    lua_getfield(L, -1, "searchers");
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = n; i >= 2; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, searcher);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);
}
