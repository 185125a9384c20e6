/* moonbase.engine.image: image transfers for Lua. fetch (download with resume,
 * SHA-256 and verification, progress printed from C), http_get (manifests),
 * sha256_file. Failures of the outside world return nil, message, code; a
 * wrong argument or an unknown option key raises. */
#include "image/image.h"
#include "lua/box.h"
#include "lua/luaerr.h"
#include "lua/opts.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const fetch_keys[] = {
    "sha256", "size", "progress", "label", "connect_timeout", "stall_timeout", "resume",
    "fsync", "rate_limit", NULL,
};

/* fetch(url, dest [, {sha256, size, progress = "none"|"auto"|"bar"|"lines", label,
 *   connect_timeout, stall_timeout, rate_limit (bytes/s), resume = true, fsync = true}])
 * -> {sha256, size, resumed_from, transferred, seconds} | nil, message, code */
static int l_fetch(lua_State *L)
{
    struct mb_fetch_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.url = luaL_checkstring(L, 1);
    spec.dest = luaL_checkstring(L, 2);
    mb_lua_check_opts(L, 3, "image.fetch", fetch_keys);
    spec.sha256 = mb_lua_opt_str(L, 3, "sha256", NULL);
    spec.size = (int64_t)mb_lua_opt_int(L, 3, "size", -1);
    spec.label = mb_lua_opt_str(L, 3, "label", NULL);
    spec.connect_timeout = (long)mb_lua_opt_int(L, 3, "connect_timeout", 0);
    spec.stall_timeout = (long)mb_lua_opt_int(L, 3, "stall_timeout", 0);
    spec.rate_limit = (int64_t)mb_lua_opt_int(L, 3, "rate_limit", 0);
    const char *progress = mb_lua_opt_str(L, 3, "progress", NULL);
    if (progress == NULL || strcmp(progress, "none") == 0)
        spec.progress = MB_PROGRESS_NONE;
    else if (strcmp(progress, "bar") == 0)
        spec.progress = MB_PROGRESS_BAR;
    else if (strcmp(progress, "lines") == 0)
        spec.progress = MB_PROGRESS_LINES;
    else if (strcmp(progress, "auto") == 0)
        spec.progress = isatty(2) ? MB_PROGRESS_BAR : MB_PROGRESS_LINES;
    else
        return luaL_error(L, "fetch: progress must be none, auto, bar or lines, not \"%s\"",
                          progress);
    unsigned flags = 0;
    if (!mb_lua_opt_bool(L, 3, "resume", true))
        flags |= MB_FETCH_NO_RESUME;
    if (!mb_lua_opt_bool(L, 3, "fsync", true))
        flags |= MB_FETCH_NO_FSYNC;
    struct mb_fetch_result res;
    mb_error *err = NULL;
    if (!mb_image_fetch(&spec, &res, flags, &err))
        return mb_lua_push_error(L, err);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, res.sha256);
    lua_setfield(L, -2, "sha256");
    lua_pushinteger(L, (lua_Integer)res.size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)res.resumed_from);
    lua_setfield(L, -2, "resumed_from");
    lua_pushinteger(L, (lua_Integer)res.transferred);
    lua_setfield(L, -2, "transferred");
    lua_pushnumber(L, res.seconds);
    lua_setfield(L, -2, "seconds");
    return 1;
}

static const char *const get_keys[] = {"connect_timeout", "max_size", NULL};

/* http_get(url [, {connect_timeout, max_size}]) -> body | nil, message, code */
static int l_http_get(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    mb_lua_check_opts(L, 2, "image.http_get", get_keys);
    long ct = (long)mb_lua_opt_int(L, 2, "connect_timeout", 0);
    lua_Integer max = mb_lua_opt_int(L, 2, "max_size", 0);
    luaL_argcheck(L, max >= 0, 2, "max_size must not be negative");
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    size_t len = 0;
    mb_error *err = NULL;
    char *body = box->p = mb_image_http_get(url, ct, (size_t)max, &len, &err);
    if (body == NULL)
        return mb_lua_push_error(L, err);
    lua_pushlstring(L, body, len);
    mb_lua_box_free(box);
    return 1;
}

/* sha256_file(path) -> hex | nil, message, code */
static int l_sha256_file(lua_State *L)
{
    char hex[MB_SHA256_HEX];
    mb_error *err = NULL;
    if (!mb_image_sha256_file(luaL_checkstring(L, 1), hex, &err))
        return mb_lua_push_error(L, err);
    lua_pushstring(L, hex);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"fetch", l_fetch},
    {"http_get", l_http_get},
    {"sha256_file", l_sha256_file},
    {NULL, NULL},
};

int luaopen_moonbase_engine_image(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
