/* The table of C modules handed to package.preload. Modules that live in the
 * plugin (see plugin.h) are loaded through mb_plugin_lua_loader. */
#include "lua/modules.h"
#include "core/plugin.h"
#include "client/client.h"

#include <stddef.h>

const struct mb_module mb_modules[] = {
    {"moonbase.engine.embed", luaopen_moonbase_engine_embed},
    {"moonbase.engine.util", luaopen_moonbase_engine_util},
    {"moonbase.engine.fs", luaopen_moonbase_engine_fs},
    {"moonbase.engine.process", luaopen_moonbase_engine_process},
    {"moonbase.engine.driver", luaopen_moonbase_engine_driver},
    {"moonbase.engine.yaml", luaopen_moonbase_engine_yaml},
    {"moonbase.engine.iso", luaopen_moonbase_engine_iso},
    /* in the plugin (loaded on first require): libssh2, libcurl */
    {"moonbase.engine.ssh", mb_plugin_lua_loader},
    {"moonbase.engine.image", mb_plugin_lua_loader},
    {"moonbase.engine.httpd", mb_plugin_lua_loader},   /* the daemon (libwebsockets) */
    {"moonbase.engine.tls", mb_plugin_lua_loader},     /* its certificates (libcrypto) */
    {"moonbase.engine.client", luaopen_moonbase_engine_client},
    {"moonbase.engine.net", luaopen_moonbase_engine_net},
    {"moonbase.engine.agent", luaopen_moonbase_engine_agent},
    {"moonbase.engine.json", luaopen_cjson},
    {NULL, NULL},
};
