/* moonbase.engine.util: parsers (sizes, durations, names), clocks, the terminal,
 * and facts about the host and the libraries moonbase links. */
#include "lua/heap.h"
#include "lua/luaerr.h"
#include "core/clock.h"
#include "core/kvm.h"
#include "core/log.h"
#include "core/plugin.h"
#include "core/util.h"

#include <lauxlib.h>
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

static int l_parse_size(lua_State *L)
{
    mb_error *err = NULL;
    uint64_t bytes;
    if (!mb_size_parse(luaL_checkstring(L, 1), &bytes, &err))
        return mb_lua_push_error(L, err);
    lua_pushinteger(L, (lua_Integer)bytes);
    return 1;
}

static int l_parse_duration(lua_State *L)
{
    mb_error *err = NULL;
    double secs;
    if (!mb_duration_parse(luaL_checkstring(L, 1), &secs, &err))
        return mb_lua_push_error(L, err);
    lua_pushnumber(L, secs);
    return 1;
}

static int l_valid_name(lua_State *L)
{
    mb_error *err = NULL;
    if (!mb_name_valid(luaL_checkstring(L, 1), &err))
        return mb_lua_push_error(L, err);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int l_term_size(lua_State *L)
{
    struct winsize ws;
    if (ioctl((int)luaL_optinteger(L, 1, 1), TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0)
        return 0;
    lua_pushinteger(L, ws.ws_col);
    lua_pushinteger(L, ws.ws_row);
    return 2;
}

/* monotonic seconds */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)mb_clock_now());
    return 1;
}

/* wall-clock seconds since the epoch, with fractions */
static int l_time(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_sleep(lua_State *L)
{
    mb_clock_sleep(luaL_checknumber(L, 1));
    return 0;
}

static int l_getpid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

static int l_geteuid(lua_State *L)
{
    lua_pushinteger(L, geteuid());
    return 1;
}

/* util.kvm() -> "absent"|"broken"|"slow"|"usable", a few words: this
 * host's KVM (core/kvm.h, mb_kvm_check_host) */
static int l_kvm(lua_State *L)
{
    enum mb_kvm_verdict v = mb_kvm_check_host();
    lua_pushstring(L, mb_kvm_word(v));
    lua_pushstring(L, mb_kvm_describe(v));
    return 2;
}

static int l_uname(lua_State *L)
{
    struct utsname u;
    if (uname(&u) != 0)
        return 0;
    lua_createtable(L, 0, 4);
    lua_pushstring(L, u.machine);
    lua_setfield(L, -2, "machine");
    lua_pushstring(L, u.nodename);
    lua_setfield(L, -2, "nodename");
    lua_pushstring(L, u.release);
    lua_setfield(L, -2, "release");
    lua_pushstring(L, u.sysname);
    lua_setfield(L, -2, "sysname");
    return 1;
}

static int l_getcwd(lua_State *L)
{
    char buf[PATH_MAX];
    if (getcwd(buf, sizeof buf) == NULL)
        return 0;
    lua_pushstring(L, buf);
    return 1;
}

static int l_setenv(lua_State *L)
{
    const char *k = luaL_checkstring(L, 1);
    if (lua_isnoneornil(L, 2))
        unsetenv(k);
    else
        setenv(k, luaL_checkstring(L, 2), 1);
    return 0;
}

/* free_tcp_port() -> a port on 127.0.0.1 nobody listens on right now */
static int l_free_tcp_port(lua_State *L)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        mb_error *err = NULL;
        mb_error_set(&err, MB_ERR_IO, "cannot find a free TCP port on 127.0.0.1");
        return mb_lua_push_error(L, err);
    }
    close(fd);
    lua_pushinteger(L, ntohs(sa.sin_port));
    return 1;
}

/* versions of the libraries as linked at run time */
static int l_versions(lua_State *L)
{
    lua_newtable(L);
    lua_pushliteral(L, MOONBASE_VERSION);
    lua_setfield(L, -2, "moonbase");
    lua_pushliteral(L, LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, yaml_get_version_string());
    lua_setfield(L, -2, "libyaml");
    mb_error *err = NULL;
    void *sym = mb_plugin_sym("mb_plugin_versions", &err);
    mb_error_free(err);
    if (sym) {
        void (*fn)(lua_State *);
        memcpy(&fn, &sym, sizeof fn);
        fn(L);
    }
    err = NULL;
    sym = mb_plugin_sym("mb_libvirt_library_version", &err);
    mb_error_free(err);
    char v[64];
    bool (*lv)(char *, size_t);
    if (sym) {
        memcpy(&lv, &sym, sizeof lv);
        if (lv(v, sizeof v)) {
            lua_pushstring(L, v);
            lua_setfield(L, -2, "libvirt");
        }
    }
    return 1;
}

/* Whether a socket of this type could bind address:port now. */
static int port_free(lua_State *L, int type)
{
    const char *address = luaL_checkstring(L, 1);
    int port = (int)luaL_checkinteger(L, 2);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (strchr(address, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        len = sizeof *s6;
        if (inet_pton(AF_INET6, address, &s6->sin6_addr) != 1)
            return luaL_argerror(L, 1, "not an IP address");
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        len = sizeof *s4;
        if (inet_pton(AF_INET, address, &s4->sin_addr) != 1)
            return luaL_argerror(L, 1, "not an IP address");
    }
    int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
    int one = 1;
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0;
    if (fd >= 0)
        close(fd);
    lua_pushboolean(L, ok);
    return 1;
}

/* tcp_port_free(address, port) -> whether a listener could bind it now */
static int l_tcp_port_free(lua_State *L)
{
    return port_free(L, SOCK_STREAM);
}

/* udp_port_free(address, port) -> whether a UDP socket could bind it now */
static int l_udp_port_free(lua_State *L)
{
    return port_free(L, SOCK_DGRAM);
}

/* heap_limit(bytes | nil): the Lua heap's ceiling (recipes' memory budget);
 * false when this state's heap cannot be bounded */
static int l_heap_limit(lua_State *L)
{
    lua_Integer limit = luaL_optinteger(L, 1, 0);
    luaL_argcheck(L, limit >= 0, 1, "a limit is a number of bytes, or nil for none");
    lua_pushboolean(L, mb_heap_set_limit(L, (size_t)limit));
    return 1;
}

/* heap_used() -> bytes of Lua heap in use; heap_refused() -> whether an
 * allocation was refused since the limit was set */
static int l_heap_used(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mb_heap_used(L));
    return 1;
}

static int l_heap_refused(lua_State *L)
{
    lua_pushboolean(L, mb_heap_refused(L));
    return 1;
}

/* log_set(level [, path]): moonbase.log's switch, shared with the engine */
static int l_log_set(lua_State *L)
{
    mb_log_set((int)luaL_checkinteger(L, 1), luaL_optstring(L, 2, NULL));
    return 0;
}

/* log(level, message): one line, if the level is on */
static int l_log(lua_State *L)
{
    int lvl = (int)luaL_checkinteger(L, 1);
    const char *msg = luaL_checkstring(L, 2);
    if (mb_log_on(lvl))
        mb_log(lvl, "%s", msg);
    return 0;
}

/* log_level() -> the level now (MOONBASE_LOG read on first use) */
static int l_log_level(lua_State *L)
{
    lua_pushinteger(L, mb_log_level());
    return 1;
}

static const luaL_Reg funcs[] = {
    {"log_set", l_log_set},
    {"log", l_log},
    {"log_level", l_log_level},
    {"parse_size", l_parse_size},
    {"parse_duration", l_parse_duration},
    {"valid_name", l_valid_name},
    {"isatty", l_isatty},
    {"term_size", l_term_size},
    {"now", l_now},
    {"time", l_time},
    {"sleep", l_sleep},
    {"getpid", l_getpid},
    {"geteuid", l_geteuid},
    {"uname", l_uname},
    {"kvm", l_kvm},
    {"getcwd", l_getcwd},
    {"setenv", l_setenv},
    {"versions", l_versions},
    {"free_tcp_port", l_free_tcp_port},
    {"tcp_port_free", l_tcp_port_free},
    {"udp_port_free", l_udp_port_free},
    {"heap_limit", l_heap_limit},
    {"heap_used", l_heap_used},
    {"heap_refused", l_heap_refused},
    {NULL, NULL},
};

int luaopen_moonbase_engine_util(lua_State *L)
{
    luaL_newlib(L, funcs);
    return 1;
}
