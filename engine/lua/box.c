/* The box for malloc'd memory across raising Lua calls (see box.h). */
#include "lua/box.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define BOX_MT "moonbase.box"

void mb_lua_box_free(struct mb_lua_box *box)
{
    if (box == NULL || box->p == NULL)
        return;
    void *p = box->p;
    box->p = NULL; /* first, so a free function that fails cannot run twice */
    if (box->free)
        box->free(p, box->n);
    else
        free(p);
    box->n = 0;
}

static int box_gc(lua_State *L)
{
    mb_lua_box_free(luaL_checkudata(L, 1, BOX_MT));
    return 0;
}

struct mb_lua_box *mb_lua_box_new(lua_State *L, void (*free_fn)(void *p, size_t n))
{
    struct mb_lua_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = (struct mb_lua_box){.free = free_fn};
    if (luaL_newmetatable(L, BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    return box;
}

void mb_lua_box_wipe(void *p, size_t n)
{
    (void)n;
    if (p == NULL)
        return;
    char *s = p;
    explicit_bzero(s, strlen(s));
    free(s);
}
