/* Unit tests for engine/heap.c: the Lua heap's ceiling refuses growth past
 * the limit (one huge allocation included), never a shrink or a free, and
 * counts what Lua holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "lua/heap.h"

static void test_limit(void **state)
{
    lua_State *L = luaL_newstate();
    assert_false(mb_heap_set_limit(L, 1)); /* not wrapped yet */
    mb_heap_install(L);
    luaL_openlibs(L);
    size_t base = mb_heap_used(L);
    assert_true(base > 0);
    assert_true(mb_heap_set_limit(L, base + 8 * 1024 * 1024));
    /* one allocation past the ceiling fails at once, as Lua's memory error */
    assert_int_not_equal(luaL_dostring(L, "local s = ('x'):rep(64 * 1024 * 1024)"), LUA_OK);
    assert_string_equal(lua_tostring(L, -1), "not enough memory");
    lua_pop(L, 1);
    assert_true(mb_heap_refused(L));
    /* below it, work goes on; garbage is given back */
    assert_int_equal(luaL_dostring(L, "local t = {} for i = 1, 1000 do t[i] = ('y'):rep(1000) "
                                      "end t = nil collectgarbage()"), LUA_OK);
    assert_true(mb_heap_used(L) < base + 1024 * 1024);
    /* setting the limit again clears the mark; 0 lifts the ceiling */
    assert_true(mb_heap_set_limit(L, 0));
    assert_false(mb_heap_refused(L));
    assert_int_equal(luaL_dostring(L, "local s = ('x'):rep(64 * 1024 * 1024)"), LUA_OK);
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
