/* moonbase.engine.agent: the instance agent from Lua. serve{...} runs the agent
 * loop in this process (the hidden `moonbase agent` command); call(socket,
 * request) is the client every exec/shell/transfer goes through. */
#include "agent/agent.h"
#include "lua/luaerr.h"
#include "lua/opts.h"
#include "lua/pcall.h"
#include "core/plugin.h"
#include "sftp/sftp_server.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* The ready callback of serve{}: calls the Lua function at ctx->fn with a
 * table {[i] = message} of the classic mounts that failed. */
struct ready_ctx {
    lua_State *L;
    int fn;
};

struct ready_args {
    const char *const *failures;
    size_t n;
};

/* In the protected call: ready(failures), the table built there too, so a
 * push that raises (out of memory) never unwinds through the agent's C. */
static int call_ready(lua_State *L)
{
    const struct ready_args *a = lua_touserdata(L, 2);
    lua_pushvalue(L, 1);
    lua_createtable(L, 0, 0);
    for (size_t i = 0; i < a->n; i++)
        if (a->failures[i]) {
            lua_pushstring(L, a->failures[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    lua_call(L, 1, 0);
    return 0;
}

static void on_ready(void *ud, const char *const *failures, size_t n)
{
    struct ready_ctx *r = ud;
    struct ready_args a = {failures, n};
    if (!lua_checkstack(r->L, 3))
        return;
    lua_pushcfunction(r->L, call_ready); /* none of these three allocates */
    lua_pushvalue(r->L, r->fn);
    lua_pushlightuserdata(r->L, &a);
    mb_pcall(r->L, 2, 0);
}

/* mounts = {{root, target, command, check, readonly, uid_map, gid_map}, ...}
 * as a userdata-held array (strings stay owned by the tables) */
static struct mb_sftp_mount_req *check_mounts(lua_State *L, int t, size_t *n)
{
    static const char *const keys[] = {"root", "target", "command", "check", "readonly",
                                       "uid_map", "gid_map", "timeout", NULL};
    lua_getfield(L, t, "mounts");
    int mt = lua_gettop(L);
    *n = lua_istable(L, mt) ? lua_rawlen(L, mt) : 0;
    struct mb_sftp_mount_req *m = lua_newuserdatauv(L, sizeof *m * (*n + 1), 0);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, mt, (lua_Integer)i + 1);
        int e = lua_gettop(L);
        luaL_argcheck(L, lua_istable(L, e), t, "mounts entries must be tables");
        mb_lua_check_opts(L, e, "agent.serve: a mount", keys);
        m[i] = (struct mb_sftp_mount_req){
            .root = mb_lua_opt_str(L, e, "root", NULL),
            .target = mb_lua_opt_str(L, e, "target", NULL),
            .command = mb_lua_opt_str(L, e, "command", NULL),
            .check = mb_lua_opt_str(L, e, "check", NULL),
            .readonly = mb_lua_opt_bool(L, e, "readonly", false),
            .uid_map = mb_lua_opt_str(L, e, "uid_map", NULL),
            .gid_map = mb_lua_opt_str(L, e, "gid_map", NULL),
            .timeout = mb_lua_opt_num(L, e, "timeout", 30)};
        luaL_argcheck(L, m[i].root && m[i].target && m[i].command && m[i].check, t,
                      "a mount needs root, target, command and check");
        lua_pop(L, 1);
    }
    return m; /* the userdata and the table stay on the stack */
}

/* serve{socket, host, port, user, key, host_key, timeout, proxy, relay, child, watch,
 *       mounts, ready = function(failures)}
 * -> exit status of the watched process (0 after a stop request) */
static int l_serve(lua_State *L)
{
    static const char *const keys[] = {"socket", "host", "port", "user", "key", "host_key",
                                       "timeout", "proxy", "child", "watch", "mounts",
                                       "forwards", "ready", "relay", NULL};
    static const char *const fw_keys[] = {"address", "host_port", "guest_port", "proto", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    mb_lua_check_opts(L, 1, "agent.serve", keys);
    struct mb_agent_config c = {0};
    c.socket_path = mb_lua_opt_str(L, 1, "socket", NULL);
    c.ssh.host = mb_lua_opt_str(L, 1, "host", NULL);
    c.ssh.port = (int)mb_lua_opt_num(L, 1, "port", 22);
    c.ssh.user = mb_lua_opt_str(L, 1, "user", NULL);
    c.ssh.key_path = mb_lua_opt_str(L, 1, "key", NULL);
    c.ssh.host_key = mb_lua_opt_str(L, 1, "host_key", NULL);
    c.ssh.timeout = mb_lua_opt_num(L, 1, "timeout", 30);
    c.ssh.proxy = mb_lua_opt_str(L, 1, "proxy", NULL); /* a guest on another host: see ssh.h */
    c.child = (pid_t)mb_lua_opt_num(L, 1, "child", 0);
    c.watch = (pid_t)mb_lua_opt_num(L, 1, "watch", 0);
    lua_getfield(L, 1, "relay");
    c.relay = lua_toboolean(L, -1);
    lua_pop(L, 1);
    luaL_argcheck(L, c.socket_path && c.ssh.host && c.ssh.user && c.ssh.key_path
                     && c.ssh.host_key, 1, "socket, host, user, key and host_key are required");
    c.mounts = check_mounts(L, 1, &c.n_mounts);
    /* forwards = {{address, host_port, guest_port, proto = "tcp"|"udp"}, ...} */
    lua_getfield(L, 1, "forwards");
    int ft = lua_gettop(L);
    c.n_forwards = lua_istable(L, ft) ? lua_rawlen(L, ft) : 0;
    struct mb_agent_forward *fw = lua_newuserdatauv(L, sizeof *fw * (c.n_forwards + 1), 0);
    for (size_t i = 0; i < c.n_forwards; i++) {
        lua_rawgeti(L, ft, (lua_Integer)i + 1);
        int e = lua_gettop(L);
        luaL_argcheck(L, lua_istable(L, e), 1, "forwards entries must be tables");
        mb_lua_check_opts(L, e, "agent.serve: a forward", fw_keys);
        fw[i] = (struct mb_agent_forward){mb_lua_opt_str(L, e, "address", NULL),
                                          (int)mb_lua_opt_num(L, e, "host_port", 0),
                                          (int)mb_lua_opt_num(L, e, "guest_port", 0), false};
        const char *proto = mb_lua_opt_str(L, e, "proto", NULL);
        fw[i].udp = proto != NULL && strcmp(proto, "udp") == 0;
        luaL_argcheck(L, fw[i].address != NULL, 1, "a forward needs an address");
        lua_pop(L, 1);
    }
    c.forwards = fw;
    lua_getfield(L, 1, "ready");
    struct ready_ctx ready = {L, lua_gettop(L)};
    if (lua_isfunction(L, ready.fn)) {
        c.ready = on_ready;
        c.ready_ud = &ready;
    }
    mb_error *err = NULL;
    void *sym = mb_plugin_sym("mb_agent_serve", &err); /* the SSH side is in the plugin */
    if (sym == NULL)
        return mb_lua_push_error(L, err);
    int (*serve)(const struct mb_agent_config *, mb_error **);
    memcpy(&serve, &sym, sizeof serve);
    int rc = serve(&c, &err);
    if (rc < 0)
        return mb_lua_push_error(L, err);
    lua_pushinteger(L, rc);
    return 1;
}

/* call(socket, {op, command, env={...}, pty, interactive, term, cols, rows,
 *               fds={0,1,2}, ["local"], remote, mode, preserve})
 * -> status | nil, message, code */
static int l_call(lua_State *L)
{
    static const char *const keys[] = {"op", "command", "term", "local", "remote", "pty",
                                       "interactive", "preserve", "mode", "cols", "rows",
                                       "check", "readonly", "uid_map", "gid_map", "fds", "env",
                                       NULL};
    const char *sock = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    mb_lua_check_opts(L, 2, "agent.call", keys);
    struct mb_agent_request r = {0};
    r.op = mb_lua_opt_str(L, 2, "op", NULL);
    luaL_argcheck(L, r.op != NULL, 2, "request needs an op");
    r.command = mb_lua_opt_str(L, 2, "command", NULL);
    r.term = mb_lua_opt_str(L, 2, "term", NULL);
    r.local = mb_lua_opt_str(L, 2, "local", NULL);
    r.remote = mb_lua_opt_str(L, 2, "remote", NULL);
    r.pty = mb_lua_opt_bool(L, 2, "pty", false);
    r.interactive = mb_lua_opt_bool(L, 2, "interactive", false);
    r.preserve = mb_lua_opt_bool(L, 2, "preserve", false);
    r.mode = (int)mb_lua_opt_num(L, 2, "mode", -1);
    r.cols = (int)mb_lua_opt_num(L, 2, "cols", 0);
    r.rows = (int)mb_lua_opt_num(L, 2, "rows", 0);
    r.check = mb_lua_opt_str(L, 2, "check", NULL);
    r.readonly = mb_lua_opt_bool(L, 2, "readonly", false);
    r.uid_map = mb_lua_opt_str(L, 2, "uid_map", NULL);
    r.gid_map = mb_lua_opt_str(L, 2, "gid_map", NULL);
    if (r.pty && (r.cols == 0 || r.rows == 0)) {
        struct winsize ws;
        if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_col) {
            r.cols = ws.ws_col;
            r.rows = ws.ws_row;
        }
    }
    r.fds[0] = 0, r.fds[1] = 1, r.fds[2] = 2;
    lua_getfield(L, 2, "fds");
    if (lua_istable(L, -1))
        for (int i = 0; i < 3; i++) {
            lua_rawgeti(L, -1, i + 1);
            if (lua_isinteger(L, -1))
                r.fds[i] = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
    lua_pop(L, 1);
    /* env: a userdata-held array so nothing leaks if a value is not a string */
    lua_getfield(L, 2, "env");
    int envt = lua_gettop(L);
    size_t n = lua_istable(L, envt) ? lua_rawlen(L, envt) : 0;
    const char **env = lua_newuserdatauv(L, sizeof(char *) * (n + 1), 0);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, envt, (lua_Integer)i + 1);
        env[i] = luaL_checkstring(L, -1);
        lua_pop(L, 1);
    }
    env[n] = NULL;
    r.env = env;
    fflush(stdout);
    mb_error *err = NULL;
    int status = mb_agent_call(sock, &r, &err);
    if (status < 0)
        return mb_lua_push_error(L, err);
    lua_pushinteger(L, status);
    return 1;
}

/* sftp_serve{root, readonly, uid_map, gid_map, walk}: the classic mounts'
 * SFTP server on stdin/stdout (the hidden `moonbase sftp-server` command)
 * -> true | nil, message, code */
static int l_sftp_serve(lua_State *L)
{
    static const char *const keys[] = {"root", "readonly", "uid_map", "gid_map", "walk", NULL};
    mb_lua_check_opts(L, 1, "agent.sftp_serve", keys);
    luaL_checktype(L, 1, LUA_TTABLE);
    struct mb_sftp_server_opts o = {.root = mb_lua_opt_str(L, 1, "root", NULL),
                                    .readonly = mb_lua_opt_bool(L, 1, "readonly", false)};
    luaL_argcheck(L, o.root != NULL, 1, "root is required");
    mb_error *err = NULL;
    void *parse = mb_plugin_sym("mb_sftp_parse_idmap", &err);
    void *serve = parse ? mb_plugin_sym("mb_sftp_serve_fds", &err) : NULL;
    if (serve == NULL)
        return mb_lua_push_error(L, err);
    bool (*parse_fn)(const char *, struct mb_sftp_idmap *, size_t *, mb_error **);
    bool (*serve_fn)(const struct mb_sftp_server_opts *, int, int, unsigned, mb_error **);
    memcpy(&parse_fn, &parse, sizeof parse_fn);
    memcpy(&serve_fn, &serve, sizeof serve_fn);
    if (!parse_fn(mb_lua_opt_str(L, 1, "uid_map", NULL), o.uid_map, &o.n_uid_map, &err)
        || !parse_fn(mb_lua_opt_str(L, 1, "gid_map", NULL), o.gid_map, &o.n_gid_map, &err))
        return mb_lua_push_error(L, err);
    fflush(stdout);
    if (!serve_fn(&o, 0, 1, mb_lua_opt_bool(L, 1, "walk", false) ? MB_SFTP_WALK : 0, &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"serve", l_serve},
    {"call", l_call},
    {"sftp_serve", l_sftp_serve},
    {NULL, NULL},
};

int luaopen_moonbase_engine_agent(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
