/* The table of C modules handed to package.preload. Modules that live in the
 * plugin (see core/plugin.h) are loaded through plugin_loader. */
#include "lua/modules.h"
#include "core/plugin.h"
#include "client/client.h"

#include <lauxlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The package.preload loader of a C module in the plugin: loads the plugin
 * and calls its luaopen_<module name with "." replaced by "_">. */
static int plugin_loader(lua_State *L)
{
    const char *module = luaL_checkstring(L, 1);
    char fn[128] = "luaopen_";
    size_t n = strlen(fn);
    for (const char *c = module; *c && n < sizeof fn - 1; c++)
        fn[n++] = *c == '.' ? '_' : *c;
    fn[n] = '\0';
    mb_error *err = NULL;
    void *sym = mb_plugin_sym(fn, &err);
    if (sym == NULL) { /* the message is copied and err freed before raising */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err ? err->message : "cannot load the moonbase plugin");
        mb_error_free(err);
        return luaL_error(L, "%s", msg);
    }
    lua_CFunction open;
    memcpy(&open, &sym, sizeof open); /* ISO C: no direct object -> function cast */
    lua_pushcfunction(L, open);
    lua_pushstring(L, module);
    lua_call(L, 1, 1);
    return 1;
}

const struct mb_module mb_modules[] = {
    {"moonbase.engine.embed", luaopen_moonbase_engine_embed},
    {"moonbase.engine.util", luaopen_moonbase_engine_util},
    {"moonbase.engine.fs", luaopen_moonbase_engine_fs},
    {"moonbase.engine.process", luaopen_moonbase_engine_process},
    {"moonbase.engine.driver", luaopen_moonbase_engine_driver},
    {"moonbase.engine.yaml", luaopen_moonbase_engine_yaml},
    {"moonbase.engine.iso", luaopen_moonbase_engine_iso},
    /* in the plugin (loaded on first require): libssh2, libcurl */
    {"moonbase.engine.ssh", plugin_loader},
    {"moonbase.engine.image", plugin_loader},
    {"moonbase.engine.httpd", plugin_loader},   /* the daemon (libwebsockets) */
    {"moonbase.engine.tls", plugin_loader},     /* its certificates (libcrypto) */
    {"moonbase.engine.web", plugin_loader},     /* its web dashboard's files */
    {"moonbase.engine.client", luaopen_moonbase_engine_client},
    {"moonbase.engine.net", luaopen_moonbase_engine_net},
    {"moonbase.engine.agent", luaopen_moonbase_engine_agent},
    {"moonbase.engine.json", luaopen_cjson},
    {NULL, NULL},
};
