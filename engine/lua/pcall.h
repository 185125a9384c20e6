/* The one way C calls into Lua code it does not own: a pcall with a traceback. */
#ifndef MB_PCALL_H
#define MB_PCALL_H

#include <stdbool.h>
#include <lua.h>

/* Calls the function below nargs arguments. On error prints the message and
 * traceback to stderr, leaves nothing of the call on the stack, returns false. */
bool mb_pcall(lua_State *L, int nargs, int nresults);

#endif
