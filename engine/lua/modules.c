/* The table of C modules handed to package.preload. Modules that live in the
 * plugin (see plugin.h) are loaded through mb_plugin_lua_loader. */
#include "lua/modules.h"
#include "core/plugin.h"

#include <stddef.h>

const struct mb_module mb_modules[] = {
    {"moonbase.core.embed", luaopen_moonbase_core_embed},
    {"moonbase.core.util", luaopen_moonbase_core_util},
    {"moonbase.core.fs", luaopen_moonbase_core_fs},
    {"moonbase.core.process", luaopen_moonbase_core_process},
    {"moonbase.core.driver", luaopen_moonbase_core_driver},
    {"moonbase.core.yaml", luaopen_moonbase_core_yaml},
    {"moonbase.core.iso", luaopen_moonbase_core_iso},
    /* in the plugin (loaded on first require): libssh2, libcurl */
    {"moonbase.core.ssh", mb_plugin_lua_loader},
    {"moonbase.core.image", mb_plugin_lua_loader},
    {"moonbase.core.libvirt", mb_plugin_lua_loader}, /* libvirt networks */
    {"moonbase.core.net", luaopen_moonbase_core_net},
    {"moonbase.core.agent", luaopen_moonbase_core_agent},
    {"moonbase.core.json", luaopen_cjson},
    {NULL, NULL},
};
