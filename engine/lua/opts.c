/* Strict option tables for C modules (see opts.h). */
#include "lua/opts.h"

#include <lauxlib.h>
#include <string.h>

void mb_lua_check_opts(lua_State *L, int idx, const char *fn, const char *const keys[])
{
    if (lua_isnoneornil(L, idx))
        return;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: options must be a table, not a %s", fn, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        bool known = false;
        for (size_t i = 0; k && keys[i] && !known; i++) /* (first bytes first: */
            known = keys[i][0] == k[0] && strcmp(k, keys[i]) == 0; /* a record has many) */
        if (!known) {
            lua_pushvalue(L, -1);
            luaL_error(L, "%s: unknown option '%s'", fn, luaL_tolstring(L, -1, NULL));
        }
    }
}

/* Pushes t[key] and returns its type; LUA_TNIL when there is no table (idx 0:
 * none given). */
static int get(lua_State *L, int idx, const char *key)
{
    if (idx == 0 || !lua_istable(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, key);
}

static void wrong(lua_State *L, const char *key, const char *want)
{
    luaL_error(L, "option '%s' must be %s, not a %s", key, want, luaL_typename(L, -1));
}

/* Pushes t[key] (one value either way): true when it is of type, false when
 * it is absent; another type raises. */
static bool field(lua_State *L, int idx, const char *key, int type, const char *want)
{
    int t = get(L, idx, key);
    if (t != type && t != LUA_TNIL)
        wrong(L, key, want);
    return t == type;
}

const char *mb_lua_opt_str(lua_State *L, int idx, const char *key, const char *def)
{
    const char *s = field(L, idx, key, LUA_TSTRING, "a string") ? lua_tostring(L, -1) : def;
    lua_pop(L, 1); /* the string stays referenced by the table */
    return s;
}

lua_Number mb_lua_opt_num(lua_State *L, int idx, const char *key, lua_Number def)
{
    lua_Number n = field(L, idx, key, LUA_TNUMBER, "a number") ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return n;
}

lua_Integer mb_lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def)
{
    lua_Integer v = def;
    if (field(L, idx, key, LUA_TNUMBER, "an integer")) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint); /* 30.0 is 30; 1.5 is no integer */
        if (!isint)
            wrong(L, key, "an integer");
    }
    lua_pop(L, 1);
    return v;
}

bool mb_lua_opt_bool(lua_State *L, int idx, const char *key, bool def)
{
    bool b = field(L, idx, key, LUA_TBOOLEAN, "a boolean") ? lua_toboolean(L, -1) : def;
    lua_pop(L, 1);
    return b;
}
