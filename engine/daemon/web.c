/* moonbase.engine.web: what the daemon needs to serve the web dashboard —
 * its own files (gui/, compiled in), gzip for what it sends, and where the
 * install prefix keeps the files moonbase does not ship itself (xterm.js,
 * installed from the npm registry by the set-up: docs/gui.md). */
#include "daemon/web.h"

#include <lauxlib.h>
#include <lua.h>
#include <string.h>
#include <zlib.h>

#ifndef MOONBASE_DATADIR
#define MOONBASE_DATADIR "/usr/local/share/moonbase"
#endif

/* asset(PATH) -> bytes | nil: a file of gui/ ("index.html", "js/app.js") */
static int l_asset(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    for (const struct mb_web_asset *a = mb_web_assets; a->path; a++)
        if (strcmp(a->path, path) == 0) {
            lua_pushlstring(L, (const char *)a->data, a->len);
            return 1;
        }
    lua_pushnil(L);
    return 1;
}

/* assets() -> {PATH, ...}: every compiled-in file */
static int l_assets(lua_State *L)
{
    lua_newtable(L);
    lua_Integer i = 0;
    for (const struct mb_web_asset *a = mb_web_assets; a->path; a++) {
        lua_pushstring(L, a->path);
        lua_rawseti(L, -2, ++i);
    }
    return 1;
}

/* gzip(BYTES) -> bytes in the gzip format (level 9), or nil, message */
static int l_gzip(lua_State *L)
{
    size_t n;
    const char *in = luaL_checklstring(L, 1, &n);
    /* the output goes into a Lua buffer (nothing malloc'd to leak if it raises); it is
     * sized first, so zlib's state never lives across a call that can raise */
    size_t cap = compressBound((uLong)n) + 32; /* + the gzip header and trailer */
    luaL_Buffer b;
    unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 15 + 16: a gzip header and trailer around the deflate stream */
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        lua_pushnil(L);
        lua_pushliteral(L, "gzip: cannot initialise zlib");
        return 2;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        lua_pushnil(L);
        lua_pushliteral(L, "gzip: compression failed");
        return 2;
    }
    luaL_pushresultsize(&b, len);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"asset", l_asset},
    {"assets", l_assets},
    {"gzip", l_gzip},
    {NULL, NULL},
};

int luaopen_moonbase_engine_web(lua_State *L)
{
    luaL_newlib(L, funcs);
    lua_pushstring(L, MOONBASE_DATADIR);
    lua_setfield(L, -2, "datadir");
    return 1;
}
