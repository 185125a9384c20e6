/* moonbase.engine.ssh: SSH keys, sessions, commands, shells, forwards and SFTP
 * for Lua. A session is a handle (`local s <close> = ssh.connect{...}`);
 * failures of the network or the remote side return nil, message, code. */
#include "lua/box.h"
#include "lua/luaerr.h"
#include "lua/opts.h"
#include "ssh/ssh.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SESSION_MT "moonbase.ssh.session"

/* Everything malloc'd that a method hands to Lua lives here, so a raising
 * push cannot leak it: freed on the next use or when the handle goes. */
struct session_ud {
    mb_ssh *s;
    struct mb_strbuf out, err;
    struct mb_ssh_dirent *ents;
    size_t nents;
};

static void scratch_free(struct session_ud *u)
{
    mb_strbuf_free(&u->out);
    mb_strbuf_free(&u->err);
    mb_ssh_dirents_free(u->ents, u->nents);
    u->ents = NULL;
    u->nents = 0;
}

/* ---- keys ---- */

/* keygen(path [, comment]) -> public line */
static int l_keygen(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *comment = luaL_optstring(L, 2, "");
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    mb_error *err = NULL;
    char *pub = box->p = mb_ssh_keygen(path, comment, &err);
    if (pub == NULL)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, pub);
    mb_lua_box_free(box);
    return 1;
}

/* keypair([comment]) -> private key text, public line; the private key is
 * wiped from C memory once Lua has its copy */
static int l_keypair(lua_State *L)
{
    const char *comment = luaL_optstring(L, 1, "");
    struct mb_lua_box *priv = mb_lua_box_new(L, mb_lua_box_wipe);
    struct mb_lua_box *pub = mb_lua_box_new(L, NULL);
    mb_error *err = NULL;
    char *p = NULL, *q = NULL;
    bool ok = mb_ssh_keypair(comment, &p, &q, &err);
    priv->p = p;
    pub->p = q;
    if (!ok)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, p);
    lua_pushstring(L, q);
    mb_lua_box_free(priv);
    mb_lua_box_free(pub);
    return 2;
}

static int l_fingerprint(lua_State *L)
{
    const char *pub = luaL_checkstring(L, 1);
    struct mb_lua_box *box = mb_lua_box_new(L, NULL);
    mb_error *err = NULL;
    char *fp = box->p = mb_ssh_fingerprint(pub, &err);
    if (fp == NULL)
        return mb_lua_push_error(L, err);
    lua_pushstring(L, fp);
    mb_lua_box_free(box);
    return 1;
}

/* ---- sessions ---- */

static struct session_ud *check_session(lua_State *L)
{
    struct session_ud *u = luaL_checkudata(L, 1, SESSION_MT);
    if (u->s == NULL)
        luaL_error(L, "attempt to use a closed ssh session");
    return u;
}

/* connect{host=, port=, user=, key=|key_data=, host_key=, timeout=, proxy=} -> session */
static int l_connect(lua_State *L)
{
    static const char *const keys[] = {"host", "port", "user", "key", "key_data",
                                       "host_key", "timeout", "proxy", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    mb_lua_check_opts(L, 1, "ssh.connect", keys);
    struct mb_ssh_connect_opts o = {
        .host = mb_lua_opt_str(L, 1, "host", NULL),
        .port = (int)mb_lua_opt_num(L, 1, "port", 22),
        .user = mb_lua_opt_str(L, 1, "user", NULL),
        .key_path = mb_lua_opt_str(L, 1, "key", NULL),
        .key_data = mb_lua_opt_str(L, 1, "key_data", NULL),
        .host_key = mb_lua_opt_str(L, 1, "host_key", NULL),
        .timeout = mb_lua_opt_num(L, 1, "timeout", 30),
        .proxy = mb_lua_opt_str(L, 1, "proxy", NULL),
    };
    if (o.host == NULL || o.user == NULL || o.host_key == NULL)
        return luaL_error(L, "ssh.connect: host, user and host_key are required");
    if ((o.key_path == NULL) == (o.key_data == NULL))
        return luaL_error(L, "ssh.connect: give exactly one of key (a path) and key_data");
    if (o.port <= 0 || o.port > 65535)
        return luaL_error(L, "ssh.connect: port must be 1-65535");
    struct session_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, SESSION_MT);
    mb_error *err = NULL;
    u->s = mb_ssh_connect(&o, 0, &err);
    if (u->s == NULL)
        return mb_lua_push_error(L, err);
    return 1;
}

static int session_close(lua_State *L)
{
    struct session_ud *u = luaL_checkudata(L, 1, SESSION_MT);
    mb_ssh_close(u->s);
    u->s = NULL;
    scratch_free(u);
    return 0;
}

/* alive() -> false once the connection was found broken, or after close */
static int session_alive(lua_State *L)
{
    struct session_ud *u = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushboolean(L, mb_ssh_alive(u->s));
    return 1;
}

static int session_tostring(lua_State *L)
{
    struct session_ud *u = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushfstring(L, "ssh session %s", u->s ? mb_ssh_describe(u->s) : "(closed)");
    return 1;
}

/* opts.env {K=V} -> NULL-terminated "K=V" array in a userdata; the strings
 * stay alive in a table left on the stack. */
static const char *const *env_list(lua_State *L, int opts)
{
    if (opts == 0 || lua_getfield(L, opts, "env") == LUA_TNIL) {
        if (opts)
            lua_pop(L, 1);
        return NULL;
    }
    int env = lua_gettop(L);
    luaL_checktype(L, env, LUA_TTABLE);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, env)) {
        lua_pop(L, 1);
        n++;
    }
    const char **list = lua_newuserdatauv(L, (n + 1) * sizeof *list, 0);
    lua_createtable(L, (int)n, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, env)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
            luaL_error(L, "env: names and values must be strings");
        const char *kv = lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_rawseti(L, -4, (lua_Integer)i + 1);
        list[i++] = kv;
        lua_pop(L, 1);
    }
    list[i] = NULL;
    return list;
}

static int fd_entry(lua_State *L, int tab, int i, int def)
{
    int t = lua_rawgeti(L, tab, i);
    int fd = def;
    if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))
        fd = -1;
    else if (t == LUA_TNUMBER)
        fd = (int)luaL_checkinteger(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "fds[%d] must be a file descriptor number or false", i);
    lua_pop(L, 1);
    return fd;
}

/* err by address: it is read after the call in the argument list ran */
static int push_status(lua_State *L, int status, mb_error **err)
{
    if (status < 0)
        return mb_lua_push_error(L, *err);
    lua_pushinteger(L, status);
    return 1;
}

/* exec(command [, {stdin=, env=, pty=, term=, cols=, rows=}]) or
 * exec{command=, fds={in, out, err}, env=, pty=, term=, cols=, rows=} -> status */
static int session_exec(lua_State *L)
{
    static const char *const keys[] = {"command", "fds", "stdin", "env", "pty",
                                       "term", "cols", "rows", NULL};
    struct session_ud *u = check_session(L);
    struct mb_ssh_exec x = {.in_fd = 0, .out_fd = 1, .err_fd = 2, .resize_fd = -1};
    int opts;
    if (lua_istable(L, 2)) {
        opts = 2;
        mb_lua_check_opts(L, opts, "session:exec", keys);
        x.command = mb_lua_opt_str(L, opts, "command", NULL);
        if (x.command == NULL)
            return luaL_error(L, "session:exec: command is required");
    } else {
        x.command = luaL_checkstring(L, 2);
        opts = lua_istable(L, 3) ? 3 : 0;
        if (opts)
            mb_lua_check_opts(L, opts, "session:exec", keys + 2);
    }
    if (opts) {
        if (!mb_lua_opt_bool(L, opts, "stdin", true))
            x.in_fd = -1;
        if (lua_getfield(L, opts, "fds") == LUA_TTABLE) {
            int t = lua_gettop(L);
            x.in_fd = fd_entry(L, t, 1, -1);
            x.out_fd = fd_entry(L, t, 2, -1);
            x.err_fd = fd_entry(L, t, 3, -1);
        } else if (!lua_isnil(L, -1)) {
            return luaL_error(L, "session:exec: fds must be a table {in, out, err}");
        }
        lua_pop(L, 1);
        x.pty = mb_lua_opt_bool(L, opts, "pty", false);
        x.term = mb_lua_opt_str(L, opts, "term", NULL);
        x.cols = (int)mb_lua_opt_num(L, opts, "cols", 0);
        x.rows = (int)mb_lua_opt_num(L, opts, "rows", 0);
    }
    x.env = env_list(L, opts);
    fflush(stdout);
    fflush(stderr);
    mb_error *err = NULL;
    int status = mb_ssh_exec(u->s, &x, x.pty ? MB_SSH_EXEC_INTERACTIVE : 0, &err);
    return push_status(L, status, &err);
}

/* run(command [, input]) -> status, stdout, stderr */
static int session_run(lua_State *L)
{
    struct session_ud *u = check_session(L);
    size_t inlen = 0;
    struct mb_ssh_exec x = {.in_fd = -1, .out_fd = -1, .err_fd = -1, .resize_fd = -1};
    x.command = luaL_checkstring(L, 2);
    x.in_data = luaL_optlstring(L, 3, NULL, &inlen);
    x.in_len = inlen;
    scratch_free(u);
    x.out_buf = &u->out;
    x.err_buf = &u->err;
    mb_error *err = NULL;
    int status = mb_ssh_exec(u->s, &x, 0, &err);
    if (status < 0) {
        scratch_free(u);
        return mb_lua_push_error(L, err);
    }
    lua_pushinteger(L, status);
    lua_pushlstring(L, u->out.s ? u->out.s : "", u->out.n);
    lua_pushlstring(L, u->err.s ? u->err.s : "", u->err.n);
    scratch_free(u);
    return 3;
}

/* shell([{term=, cols=, rows=}]) -> status */
static int session_shell(lua_State *L)
{
    static const char *const keys[] = {"term", "cols", "rows", NULL};
    struct session_ud *u = check_session(L);
    const char *term = getenv("TERM");
    int cols = 0, rows = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        mb_lua_check_opts(L, 2, "session:shell", keys);
        term = mb_lua_opt_str(L, 2, "term", term);
        cols = (int)mb_lua_opt_num(L, 2, "cols", 0);
        rows = (int)mb_lua_opt_num(L, 2, "rows", 0);
    }
    fflush(stdout);
    fflush(stderr);
    mb_error *err = NULL;
    return push_status(L, mb_ssh_shell(u->s, term, cols, rows, 0, &err), &err);
}

static int push_ok(lua_State *L, bool ok, mb_error **err)
{
    if (!ok)
        return mb_lua_push_error(L, *err);
    lua_pushboolean(L, 1);
    return 1;
}

/* forward_tcp(host, port, fd) -> true, when both sides have ended */
static int session_forward_tcp(lua_State *L)
{
    struct session_ud *u = check_session(L);
    const char *host = luaL_checkstring(L, 2);
    lua_Integer port = luaL_checkinteger(L, 3);
    lua_Integer fd = luaL_checkinteger(L, 4);
    luaL_argcheck(L, port > 0 && port <= 65535, 3, "port must be 1-65535");
    luaL_argcheck(L, fd >= 0, 4, "not a file descriptor");
    mb_error *err = NULL;
    return push_ok(L, mb_ssh_forward_tcp(u->s, host, (int)port, (int)fd, 0, &err), &err);
}

/* put(local, remote [, {mode=, preserve=}]) */
static int session_put(lua_State *L)
{
    static const char *const keys[] = {"mode", "preserve", NULL};
    struct session_ud *u = check_session(L);
    const char *local = luaL_checkstring(L, 2), *remote = luaL_checkstring(L, 3);
    int mode = -1;
    unsigned flags = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        mb_lua_check_opts(L, 4, "session:put", keys);
        mode = (int)mb_lua_opt_num(L, 4, "mode", -1);
        flags = mb_lua_opt_bool(L, 4, "preserve", false) ? MB_SSH_PRESERVE : 0;
    }
    mb_error *err = NULL;
    return push_ok(L, mb_ssh_put(u->s, local, remote, mode, flags, &err), &err);
}

/* get(remote, local [, {preserve=}]) */
static int session_get(lua_State *L)
{
    static const char *const keys[] = {"preserve", NULL};
    struct session_ud *u = check_session(L);
    const char *remote = luaL_checkstring(L, 2), *local = luaL_checkstring(L, 3);
    unsigned flags = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        mb_lua_check_opts(L, 4, "session:get", keys);
        flags = mb_lua_opt_bool(L, 4, "preserve", false) ? MB_SSH_PRESERVE : 0;
    }
    mb_error *err = NULL;
    return push_ok(L, mb_ssh_get(u->s, remote, local, flags, &err), &err);
}

/* put_data(data, remote [, mode]) */
static int session_put_data(lua_State *L)
{
    struct session_ud *u = check_session(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    const char *remote = luaL_checkstring(L, 3);
    int mode = (int)luaL_optinteger(L, 4, 0644);
    mb_error *err = NULL;
    return push_ok(L, mb_ssh_put_data(u->s, data, len, remote, mode, 0, &err), &err);
}

/* get_data(remote) -> contents */
static int session_get_data(lua_State *L)
{
    struct session_ud *u = check_session(L);
    const char *remote = luaL_checkstring(L, 2);
    scratch_free(u);
    mb_error *err = NULL;
    if (!mb_ssh_get_data(u->s, remote, &u->out, 0, &err)) {
        scratch_free(u);
        return mb_lua_push_error(L, err);
    }
    lua_pushlstring(L, u->out.s ? u->out.s : "", u->out.n);
    scratch_free(u);
    return 1;
}

static void push_stat(lua_State *L, const struct mb_ssh_stat *st)
{
    lua_createtable(L, 0, 7);
    lua_pushstring(L, st->type);
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st->size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, st->mode);
    lua_setfield(L, -2, "mode");
    lua_pushinteger(L, st->uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, st->gid);
    lua_setfield(L, -2, "gid");
    lua_pushinteger(L, st->mtime);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, st->atime);
    lua_setfield(L, -2, "atime");
}

/* stat(remote) -> {type, size, mode, uid, gid, mtime, atime} (follows links) */
static int session_stat(lua_State *L)
{
    struct session_ud *u = check_session(L);
    struct mb_ssh_stat st;
    mb_error *err = NULL;
    if (!mb_ssh_stat(u->s, luaL_checkstring(L, 2), &st, &err))
        return mb_lua_push_error(L, err);
    push_stat(L, &st);
    return 1;
}

/* mkdir(remote [, mode]) */
static int session_mkdir(lua_State *L)
{
    struct session_ud *u = check_session(L);
    const char *remote = luaL_checkstring(L, 2);
    int mode = (int)luaL_optinteger(L, 3, 0755);
    mb_error *err = NULL;
    return push_ok(L, mb_ssh_mkdir(u->s, remote, mode, &err), &err);
}

/* readdir(remote) -> { {name=, type=, size=, mode=, ...}, ... } sorted by name,
 * without "." and ".."; types are those of the entries themselves (lstat) */
static int session_readdir(lua_State *L)
{
    struct session_ud *u = check_session(L);
    const char *remote = luaL_checkstring(L, 2);
    scratch_free(u);
    mb_error *err = NULL;
    u->ents = mb_ssh_readdir(u->s, remote, &u->nents, &err);
    if (err != NULL)
        return mb_lua_push_error(L, err);
    lua_createtable(L, (int)u->nents, 0);
    for (size_t i = 0; i < u->nents; i++) {
        push_stat(L, &u->ents[i].st);
        lua_pushstring(L, u->ents[i].name);
        lua_setfield(L, -2, "name");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    scratch_free(u);
    return 1;
}

static const luaL_Reg session_methods[] = {
    {"close", session_close},       {"alive", session_alive},
    {"exec", session_exec},
    {"run", session_run},           {"shell", session_shell},
    {"forward_tcp", session_forward_tcp},
    {"put", session_put},           {"get", session_get},
    {"put_data", session_put_data}, {"get_data", session_get_data},
    {"stat", session_stat},         {"mkdir", session_mkdir},
    {"readdir", session_readdir},   {NULL, NULL},
};

/* probe(host, port [, timeout_s [, connect_timeout_s [, again_s]]]) -> true | nil,
 * message, code, "refused"|"closed"|"silent"|"unconnected" (connect_timeout: for
 * the first TCP handshake, default the whole timeout; again: a silent connection
 * is joined by a new one this often, the earlier ones held; default never) */
static int l_probe(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    lua_Number timeout = luaL_optnumber(L, 3, 1);
    lua_Number ctimeout = luaL_optnumber(L, 4, timeout);
    lua_Number again = luaL_optnumber(L, 5, 0);
    luaL_argcheck(L, port > 0 && port <= 65535, 2, "port must be 1-65535");
    luaL_argcheck(L, timeout > 0 && timeout <= 3600, 3, "timeout must be 0-3600 s");
    luaL_argcheck(L, ctimeout > 0 && ctimeout <= 3600, 4, "connect timeout must be 0-3600 s");
    luaL_argcheck(L, again >= 0 && again <= 3600, 5, "again must be 0-3600 s");
    mb_error *err = NULL;
    const char *how = NULL;
    if (!mb_ssh_probe(host, (int)port, (int)(timeout * 1000), (int)(ctimeout * 1000),
                      (int)(again * 1000), &how, &err)) {
        int n = mb_lua_push_error(L, err);
        lua_pushstring(L, how);
        return n + 1;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"keygen", l_keygen},
    {"probe", l_probe},
    {"keypair", l_keypair},
    {"fingerprint", l_fingerprint},
    {"connect", l_connect},
    {NULL, NULL},
};

int luaopen_moonbase_engine_ssh(lua_State *L)
{
    if (luaL_newmetatable(L, SESSION_MT)) {
        luaL_newlib(L, session_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, session_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, session_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, session_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
