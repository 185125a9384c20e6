/* Unit tests for engine/lua/opts.c, the one strict set of option checks:
 * unknown keys and values of the wrong type raise with the function's and
 * the key's names; absent values are the defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "lua/opts.h"

/* f(opts) -> host, port, retries, verbose: as a binding would read them */
static int f(lua_State *L)
{
    static const char *const keys[] = {"host", "port", "retries", "verbose", NULL};
    mb_lua_check_opts(L, 1, "demo.connect", keys);
    lua_pushstring(L, mb_lua_opt_str(L, 1, "host", "localhost"));
    lua_pushnumber(L, mb_lua_opt_num(L, 1, "port", 22));
    lua_pushinteger(L, mb_lua_opt_int(L, 1, "retries", 3));
    lua_pushboolean(L, mb_lua_opt_bool(L, 1, "verbose", false));
    return 4;
}

static lua_State *new_state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushcfunction(L, f);
    lua_setglobal(L, "f");
    return L;
}

/* Runs code; returns the error message, or NULL when it ran. */
static const char *run(lua_State *L, const char *code)
{
    lua_settop(L, 0);
    if (luaL_dostring(L, code) == LUA_OK)
        return NULL;
    return lua_tostring(L, -1);
}

static void test_defaults_and_values(void **state)
{
    lua_State *L = new_state();
    assert_null(run(L, "h, p, r, v = f()"));
    assert_null(run(L, "assert(h == 'localhost' and p == 22 and r == 3 and v == false)"));
    assert_null(run(L, "h, p, r, v = f({})"));
    assert_null(run(L, "assert(h == 'localhost' and r == 3)"));
    assert_null(run(L, "h, p, r, v = f({host = 'vm', port = 2222.5, retries = 5.0, verbose = true})"));
    assert_null(run(L, "assert(h == 'vm' and p == 2222.5 and r == 5 and v == true)"));
    lua_close(L);
}

static void test_strict(void **state)
{
    static const char *const cases[][2] = {
        {"f({hots = 'vm'})", "demo.connect: unknown option 'hots'"},
        {"f({[1] = 'vm'})", "demo.connect: unknown option '1'"},
        {"f('vm')", "demo.connect: options must be a table, not a string"},
        {"f({host = 22})", "option 'host' must be a string, not a number"},
        {"f({port = '22'})", "option 'port' must be a number, not a string"},
        {"f({retries = 1.5})", "option 'retries' must be an integer"},
        {"f({verbose = 1})", "option 'verbose' must be a boolean, not a number"},
    };
    lua_State *L = new_state();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *e = run(L, cases[k][0]);
        assert_non_null(e);
        if (strstr(e, cases[k][1]) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[k][0], e, cases[k][1]);
    }
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
