/* The Lua heap's ceiling: an allocator that forwards to Lua's own and counts
 * the bytes it holds. Lua never asks it to fail a shrink, and it never does;
 * a refused growth makes Lua collect garbage, retry, then raise "not enough
 * memory", which the recipe sandbox turns into its memory budget error. */
#include "lua/heap.h"

#include <stdlib.h>

struct heap {
    lua_Alloc base;
    void *base_ud;
    size_t used;
    size_t limit;
    bool refused;
    bool exiting;
};

static void *heap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct heap *h = ud;
    if (nsize == 0 && h->exiting)
        return NULL;
    size_t old = ptr != NULL ? osize : 0;
    if (nsize > old && h->limit != 0 && h->used + (nsize - old) > h->limit) {
        h->refused = true;
        return NULL;
    }
    void *p = h->base(h->base_ud, ptr, osize, nsize);
    if (p != NULL || nsize == 0)
        h->used = h->used - old + nsize;
    return p;
}

static struct heap *heap_of(lua_State *L)
{
    void *ud;
    return lua_getallocf(L, &ud) == heap_alloc ? ud : NULL;
}

void mb_heap_install(lua_State *L)
{
    if (heap_of(L) != NULL)
        return;
    struct heap *h = calloc(1, sizeof *h);
    if (h == NULL)
        return;
    h->base = lua_getallocf(L, &h->base_ud);
    h->used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    /* the struct lives as long as the process: lua_close frees through it */
    lua_setallocf(L, heap_alloc, h);
}

size_t mb_heap_used(lua_State *L)
{
    struct heap *h = heap_of(L);
    return h != NULL ? h->used : 0;
}

bool mb_heap_set_limit(lua_State *L, size_t limit)
{
    struct heap *h = heap_of(L);
    if (h == NULL)
        return false;
    h->limit = limit;
    h->refused = false;
    return true;
}

bool mb_heap_refused(lua_State *L)
{
    struct heap *h = heap_of(L);
    return h != NULL && h->refused;
}

void mb_heap_exiting(lua_State *L)
{
    struct heap *h = heap_of(L);
    if (h != NULL)
        h->exiting = true;
}
