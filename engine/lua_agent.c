/* moonbase.core.agent: the instance agent from Lua. serve{...} runs the agent
 * loop in this process (the hidden `moonbase agent` command); call(socket,
 * request) is the client every exec/shell/transfer goes through. */
#include "agent.h"
#include "luaerr.h"
#include "plugin.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *opt_str(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

static lua_Number opt_num(lua_State *L, int t, const char *k, lua_Number dflt)
{
    lua_getfield(L, t, k);
    lua_Number v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : dflt;
    lua_pop(L, 1);
    return v;
}

static bool opt_bool(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* serve{socket, host, port, user, key, host_key, timeout, child, watch}
 * -> exit status of the watched process (0 after a stop request) */
static int l_serve(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    struct mb_agent_config c = {0};
    c.socket_path = opt_str(L, 1, "socket");
    c.ssh.host = opt_str(L, 1, "host");
    c.ssh.port = (int)opt_num(L, 1, "port", 22);
    c.ssh.user = opt_str(L, 1, "user");
    c.ssh.key_path = opt_str(L, 1, "key");
    c.ssh.host_key = opt_str(L, 1, "host_key");
    c.ssh.timeout = opt_num(L, 1, "timeout", 30);
    c.child = (pid_t)opt_num(L, 1, "child", 0);
    c.watch = (pid_t)opt_num(L, 1, "watch", 0);
    luaL_argcheck(L, c.socket_path && c.ssh.host && c.ssh.user && c.ssh.key_path
                     && c.ssh.host_key, 1, "socket, host, user, key and host_key are required");
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
    const char *sock = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct mb_agent_request r = {0};
    r.op = opt_str(L, 2, "op");
    luaL_argcheck(L, r.op != NULL, 2, "request needs an op");
    r.command = opt_str(L, 2, "command");
    r.term = opt_str(L, 2, "term");
    r.local = opt_str(L, 2, "local");
    r.remote = opt_str(L, 2, "remote");
    r.pty = opt_bool(L, 2, "pty");
    r.interactive = opt_bool(L, 2, "interactive");
    r.preserve = opt_bool(L, 2, "preserve");
    r.mode = (int)opt_num(L, 2, "mode", -1);
    r.cols = (int)opt_num(L, 2, "cols", 0);
    r.rows = (int)opt_num(L, 2, "rows", 0);
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

static const luaL_Reg funcs[] = {
    {"serve", l_serve},
    {"call", l_call},
    {NULL, NULL},
};

int luaopen_moonbase_core_agent(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
