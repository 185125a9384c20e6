/* The lua/ and cli/ trees compiled into the binary as bytecode (cmake/embed.lua). */
#ifndef MB_EMBED_H
#define MB_EMBED_H

#include <stddef.h>
#include <lua.h>

struct mb_embedded {
    const char *module;    /* "moonbase.args", "cli.list" */
    const char *chunkname; /* "@moonbase/args.lua", "@moonbase/cli/list.lua" */
    const char *path;      /* path in the source tree: "lua/moonbase/args.lua" */
    const char *data;
    size_t size;
};

extern const struct mb_embedded mb_embedded_files[];

/* Installs the embedded (or MOONBASE_LUA_DEV) searcher in package.searchers and
 * the C modules in package.preload. */
void mb_embed_install(lua_State *L);

#endif
