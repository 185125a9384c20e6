/* Lua drivers: a file NAME.lua that returns a table of the same operations
 * as an external driver's methods, each called with the method's params as
 * a table and returning its result (or nil, message, code). It runs in the
 * engine's Lua state, so it has every engine module (process, fs, net, the
 * driver tables). Its identity is in the table: name, scope, settings,
 * disk_file; its methods are its functions. The calls go through the same
 * C table as an external driver's (rpc_driver.c): only the transport
 * differs. */
#include "driver/lua_rpc_driver.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct luadrv {
    lua_State *main; /* the state the file was loaded in */
    int ref;         /* its table, in the registry */
    char name[64];
    char path[4096];
};

static _Thread_local lua_State *caller;

void mb_lua_rpc_caller(lua_State *L)
{
    caller = L;
}

static lua_State *main_of(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *m = lua_tothread(L, -1);
    lua_pop(L, 1);
    return m;
}

/* ---------------------------------------------------------------- JSON <-> Lua */

static void push_json(lua_State *L, mbj_t *j)
{
    luaL_checkstack(L, 4, "driver params too deep");
    switch (json_object_get_type(j)) { /* NULL: json_type_null */
    case json_type_object: {
        lua_createtable(L, 0, (int)mbj_object_size(j));
        const char *k;
        mbj_t *v;
        mbj_object_foreach(j, k, v) {
            push_json(L, v);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case json_type_array: {
        lua_createtable(L, (int)mbj_array_size(j), 0);
        size_t k;
        mbj_t *v;
        mbj_array_foreach(j, k, v) {
            push_json(L, v);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        break;
    }
    case json_type_string: lua_pushlstring(L, mbj_string_data(j), mbj_string_length(j)); break;
    case json_type_int: lua_pushinteger(L, (lua_Integer)mbj_integer_value(j)); break;
    case json_type_double: lua_pushnumber(L, mbj_real_value(j)); break;
    case json_type_boolean: lua_pushboolean(L, mbj_is_true(j)); break;
    case json_type_null: lua_pushnil(L); break;
    }
}

/* The value at idx as JSON in *out (NULL for nil: JSON's null); false for
 * what is not data (a function, a cycle, ...): depth bounds it. */
static bool to_json(lua_State *L, int idx, int depth, mbj_t **out)
{
    idx = lua_absindex(L, idx);
    *out = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return true;
    case LUA_TBOOLEAN: *out = mbj_boolean(lua_toboolean(L, idx)); return *out != NULL;
    case LUA_TNUMBER:
        *out = lua_isinteger(L, idx) ? mbj_integer((mbj_int_t)lua_tointeger(L, idx))
                                     : mbj_real(lua_tonumber(L, idx));
        return *out != NULL;
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        *out = mbj_stringn(s, n);
        return *out != NULL;
    }
    case LUA_TTABLE: break;
    default: return false;
    }
    if (depth > 32 || !lua_checkstack(L, 4))
        return false;
    size_t n = lua_rawlen(L, idx);
    lua_pushnil(L);
    bool any = lua_next(L, idx) != 0;
    if (any)
        lua_pop(L, 2);
    if (n > 0 || !any) {
        mbj_t *a = mbj_array();
        for (size_t k = 1; a && k <= n; k++) {
            lua_rawgeti(L, idx, (lua_Integer)k); /* a hole: nil, added as null */
            mbj_t *v;
            bool ok = to_json(L, -1, depth + 1, &v);
            lua_pop(L, 1);
            if (!ok || json_object_array_add(a, v) != 0) {
                mbj_decref(v);
                mbj_decref(a);
                return false;
            }
        }
        *out = a;
        return a != NULL;
    }
    mbj_t *o = mbj_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx) != 0) {
        mbj_t *v = NULL;
        if (lua_type(L, -2) != LUA_TSTRING || !to_json(L, -1, depth + 1, &v) ||
            mbj_object_set_new(o, lua_tostring(L, -2), v) != 0) {
            lua_pop(L, 2);
            mbj_decref(o);
            return false;
        }
        lua_pop(L, 1);
    }
    *out = o;
    return o != NULL;
}

/* ---------------------------------------------------------------- calls */

static int handler(lua_State *L)
{
    /* the message alone: a driver's error is one line, no traceback */
    const char *m = lua_tostring(L, 1);
    lua_pushstring(L, m ? m : "(an error that is not a string)");
    return 1;
}

static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = ' ';
}

static mbj_t *initialize(lua_State *L, struct luadrv *d, int t, mb_error **err)
{
    static const char *const fields[] = {"name", "scope", "disk_file", NULL};
    mbj_t *r = mbj_pack("{s:i}", "protocol", MB_RPC_PROTOCOL);
    for (const char *const *f = fields; *f; f++) {
        lua_getfield(L, t, *f);
        if (lua_type(L, -1) == LUA_TSTRING)
            mbj_object_set_new(r, *f, mbj_string(lua_tostring(L, -1)));
        lua_pop(L, 1);
    }
    lua_getfield(L, t, "settings");
    mbj_t *s = NULL; /* stays NULL for what is not data */
    if (lua_istable(L, -1))
        to_json(L, -1, 0, &s);
    else
        s = mbj_array();
    lua_pop(L, 1);
    mbj_t *methods = mbj_array();
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1))
            mbj_array_append_new(methods, mbj_string(lua_tostring(L, -2)));
        lua_pop(L, 1);
    }
    if (s == NULL || !mbj_is_array(s)) {
        mbj_decref(s);
        mbj_decref(methods);
        mbj_decref(r);
        mb_error_set(err, MB_ERR_FAILED, "Lua driver \"%s\" (%s): settings must be a list",
                     d->name, d->path);
        return NULL;
    }
    mbj_object_set_new(r, "settings", s);
    mbj_object_set_new(r, "methods", methods);
    return r;
}

/* params.progress(message): the Lua driver's progress notification. */
static int l_progress(lua_State *L)
{
    mb_rpc_progress(lua_tostring(L, lua_upvalueindex(1)), luaL_checkstring(L, 1));
    return 0;
}

static mbj_t *lua_call_method(void *self, const char *method, mbj_t *params, const int *fds,
                              double timeout, mb_error **err)
{
    struct luadrv *d = self;
    lua_State *L = caller && main_of(caller) == d->main ? caller : d->main;
    int top = lua_gettop(L);
    mbj_t *res = NULL;
    luaL_checkstack(L, 8, "driver call");
    lua_rawgeti(L, LUA_REGISTRYINDEX, d->ref);
    int t = lua_gettop(L);
    if (strcmp(method, "initialize") == 0) {
        res = initialize(L, d, t, err);
        goto cleanup;
    }
    lua_pushcfunction(L, handler);
    lua_getfield(L, t, method);
    push_json(L, params);
    if (fds) {
        lua_createtable(L, 3, 0);
        for (int k = 0; k < 3; k++) {
            lua_pushinteger(L, fds[k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_setfield(L, -2, "fds");
    }
    if (lua_istable(L, -1)) {
        lua_pushstring(L, d->name);
        lua_pushcclosure(L, l_progress, 1);
        lua_setfield(L, -2, "progress");
    }
    if (lua_pcall(L, 1, 3, t + 1) != LUA_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1));
        one_line(msg);
        mb_error_set(err, MB_ERR_FAILED, "Lua driver \"%s\": %s: %s", d->name, method, msg);
        goto cleanup;
    }
    if (lua_isnil(L, -3) && lua_type(L, -2) == LUA_TSTRING) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lua_tostring(L, -2));
        one_line(msg);
        mb_error_set(err, mb_rpc_code_of(lua_tostring(L, -1)), "%s", msg);
        goto cleanup;
    }
    if (!to_json(L, -3, 0, &res))
        mb_error_set(err, MB_ERR_FAILED, "Lua driver \"%s\": %s returned something that is not "
                     "data (a function? a cycle?)", d->name, method);
    else if (res == NULL) /* nil: an empty object, as a null result over a pipe */
        res = mbj_object();
cleanup:
    lua_settop(L, top);
    return res;
}

static void luadrv_free(void *self)
{
    struct luadrv *d = self;
    if (d == NULL)
        return;
    /* the state may be closing: its registry goes with it */
    free(d);
}

static const struct mb_rpc_backend lua_backend = {lua_call_method, luadrv_free};

/* Loaded drivers, per file and state (a daemon's states each load their own). */
static struct mb_rpc_driver *loaded[16];
static lua_State *loaded_in[16];
static size_t n_loaded;

const struct mb_driver *mb_lua_rpc_driver(lua_State *L, const struct mb_rpc_found *f,
                                          mb_error **err)
{
    if (f->refused[0]) {
        mb_error_set(err, MB_ERR_USAGE, "driver \"%s\" (%s) refused: %s", f->name, f->path,
                     f->refused);
        return NULL;
    }
    lua_State *m = main_of(L);
    for (size_t k = 0; k < n_loaded; k++)
        if (loaded_in[k] == m && strcmp(loaded[k]->origin, f->path) == 0)
            return &loaded[k]->d;
    if (n_loaded == sizeof loaded / sizeof *loaded) {
        mb_error_set(err, MB_ERR_FAILED, "too many Lua drivers in one command");
        return NULL;
    }
    int top = lua_gettop(L);
    lua_pushcfunction(L, handler);
    if (luaL_loadfilex(L, f->path, "t") != LUA_OK || lua_pcall(L, 0, 1, top + 1) != LUA_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1));
        one_line(msg);
        mb_error_set(err, MB_ERR_FAILED, "Lua driver \"%s\" (%s) does not load: %s", f->name,
                     f->path, msg);
        lua_settop(L, top);
        return NULL;
    }
    if (!lua_istable(L, -1)) {
        mb_error_set(err, MB_ERR_FAILED, "Lua driver \"%s\" (%s) must return a table of its "
                     "operations", f->name, f->path);
        lua_settop(L, top);
        return NULL;
    }
    struct luadrv *d = calloc(1, sizeof *d);
    if (d == NULL) {
        lua_settop(L, top);
        mb_error_set(err, MB_ERR_IO, "out of memory");
        return NULL;
    }
    d->main = m;
    d->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, top);
    snprintf(d->name, sizeof d->name, "%s", f->name);
    snprintf(d->path, sizeof d->path, "%s", f->path);
    lua_State *saved = caller;
    caller = L;
    struct mb_rpc_driver *r = mb_rpc_driver_new(f->name, f->path, MB_RPC_LUA, &lua_backend, d,
                                                err);
    caller = saved;
    if (r == NULL)
        return NULL;
    loaded[n_loaded] = r;
    loaded_in[n_loaded++] = m;
    return &r->d;
}
