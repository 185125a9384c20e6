/* The box: how a C module holds malloc'd memory across Lua calls that can
 * raise (pushing a string, building a table: any of them can fail for
 * memory and longjmp out). The memory is owned by a userdata on the stack,
 * so if a call raises, the garbage collector frees it; on the normal path
 * the function frees it early with mb_lua_box_free. As mpv's autofree and
 * Neovim's treesitter bindings do.
 *
 *   struct mb_lua_box *box = mb_lua_box_new(L, NULL);  (before allocating)
 *   char *text = box->p = read_something(&len, &err);
 *   if (text == NULL)
 *       return mb_lua_push_error(L, err);
 *   lua_pushlstring(L, text, len);                     (may raise: no leak)
 *   mb_lua_box_free(box);
 *   return 1;
 */
#ifndef MB_LUA_BOX_H
#define MB_LUA_BOX_H

#include <stddef.h>

#include <lua.h>

struct mb_lua_box {
    void *p;                         /* what the box owns (NULL: nothing) */
    size_t n;                        /* a count, for free functions of arrays */
    void (*free)(void *p, size_t n); /* how to free p; NULL: free(p) */
};

/* Pushes an empty box (p NULL) that frees with free_fn (NULL: free). */
struct mb_lua_box *mb_lua_box_new(lua_State *L, void (*free_fn)(void *p, size_t n));
/* Frees what the box owns now; the box is empty afterwards (again: nothing). */
void mb_lua_box_free(struct mb_lua_box *box);
/* A free function for strings that held secrets: zeroed, then freed. */
void mb_lua_box_wipe(void *p, size_t n);

#endif
