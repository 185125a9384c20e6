/* Unit tests for engine/lua/box.c: memory held in a box is freed once, on
 * the normal path, when a Lua call raises, and when one runs out of memory
 * halfway through pushing it; and mb_lua_push_error's three values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "lua/box.h"
#include "lua/luaerr.h"

static int frees;

static void counted_free(void *p, size_t n)
{
    assert_int_equal(n, 7);
    frees++;
    free(p);
}

/* Lua's allocator with a budget, to make a push fail for memory. */
static size_t budget = (size_t)-1;

static void *limited(void *ud, void *p, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(p);
        return NULL;
    }
    if (nsize > (p ? osize : 0) && nsize - (p ? osize : 0) > budget)
        return NULL;
    return realloc(p, nsize);
}

static lua_State *new_state(void)
{
    budget = (size_t)-1;
    lua_State *L = lua_newstate(limited, NULL);
    assert_non_null(L);
    luaL_openlibs(L);
    frees = 0;
    return L;
}

/* f(mode): a boxed 1 MB string, pushed; "raise" raises before the push,
 * "oom" has the push run out of memory. */
static int boxed(lua_State *L)
{
    const char *mode = luaL_checkstring(L, 1);
    struct mb_lua_box *box = mb_lua_box_new(L, counted_free);
    size_t len = 1 << 20;
    char *s = box->p = malloc(len);
    box->n = 7;
    memset(s, 'x', len);
    if (strcmp(mode, "raise") == 0)
        return luaL_error(L, "broken contract");
    if (strcmp(mode, "oom") == 0)
        budget = 1024; /* the 1 MB copy cannot be made */
    lua_pushlstring(L, s, len);
    budget = (size_t)-1;
    mb_lua_box_free(box);
    assert_null(box->p);
    mb_lua_box_free(box); /* again: nothing */
    return 1;
}

static int call(lua_State *L, const char *mode)
{
    lua_pushcfunction(L, boxed);
    lua_pushstring(L, mode);
    int rc = lua_pcall(L, 1, 1, 0);
    budget = (size_t)-1;
    lua_pop(L, 1);
    lua_gc(L, LUA_GCCOLLECT);
    return rc;
}

static void test_normal(void **state)
{
    lua_State *L = new_state();
    assert_int_equal(call(L, "ok"), LUA_OK);
    assert_int_equal(frees, 1);
    lua_close(L);
    assert_int_equal(frees, 1); /* and never again */
}

static void test_raise(void **state)
{
    lua_State *L = new_state();
    assert_int_equal(call(L, "raise"), LUA_ERRRUN);
    assert_int_equal(frees, 1);
    lua_close(L);
    assert_int_equal(frees, 1);
}

static void test_out_of_memory(void **state)
{
    lua_State *L = new_state();
    assert_int_equal(call(L, "oom"), LUA_ERRMEM);
    assert_int_equal(frees, 1);
    lua_close(L);
    assert_int_equal(frees, 1);
}

static void test_wipe(void **state)
{
    lua_State *L = new_state();
    struct mb_lua_box *box = mb_lua_box_new(L, mb_lua_box_wipe);
    box->p = strdup("-----BEGIN OPENSSH PRIVATE KEY-----");
    mb_lua_box_free(box);
    assert_null(box->p);
    lua_close(L);
}

static void test_push_error(void **state)
{
    lua_State *L = new_state();
    mb_error *err = NULL;
    mb_error_set(&err, MB_ERR_TIMEOUT, "boot: no answer from %s", "vm1");
    assert_int_equal(mb_lua_push_error(L, err), 3);
    assert_true(lua_isnil(L, -3));
    assert_string_equal(lua_tostring(L, -2), "boot: no answer from vm1");
    assert_string_equal(lua_tostring(L, -1), "timeout");
    lua_settop(L, 0);
    assert_int_equal(mb_lua_push_error(L, NULL), 3); /* no error given */
    assert_string_equal(lua_tostring(L, -1), "failed");
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_raise),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_push_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
