/* A ceiling on the Lua heap: recipes run under a memory budget that holds
 * for every allocation, including one huge string built in C
 * (string.rep, table.concat, file:read). */
#ifndef MB_HEAP_H
#define MB_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <lua.h>

/* Wraps L's allocator so its heap can be bounded (main.c, once per state). */
void mb_heap_install(lua_State *L);
/* Bytes of Lua heap in use; 0 when L's allocator is not wrapped. */
size_t mb_heap_used(lua_State *L);
/* Refuses allocations that would take the heap above `limit` bytes (0: no
 * ceiling) and clears the "refused" mark. False when L is not wrapped. */
bool mb_heap_set_limit(lua_State *L, size_t limit);
/* Whether an allocation was refused since the limit was last set. */
bool mb_heap_refused(lua_State *L);
/* The process is about to exit: from now on L's frees are left to the
 * kernel (lua_close still runs every finalizer, but gives no memory back
 * block by block: a third of a short command's instructions after its
 * work). */
void mb_heap_exiting(lua_State *L);

#endif
