/* Option and spec tables given to C modules: fn(x, {key = value, ...}).
 * One strict set for every binding: a key that is not one of the function's
 * keys (a typo) or a value of the wrong type is a broken contract and
 * raises, naming the function and the key. An absent or nil value is the
 * default. */
#ifndef MB_LUA_OPTS_H
#define MB_LUA_OPTS_H

#include <stdbool.h>

#include <lua.h>

/* Raises unless the value at idx is a table whose keys are all in keys
 * (NULL-terminated); none or nil is an empty table. "FN: unknown option
 * 'KEY'". */
void mb_lua_check_opts(lua_State *L, int idx, const char *fn, const char *const keys[]);

/* The value of key in the table at idx (none, nil or idx 0: def); a value of another
 * type raises ("option 'KEY' must be a string"). A string stays alive as long
 * as the table does. */
const char *mb_lua_opt_str(lua_State *L, int idx, const char *key, const char *def);
lua_Number mb_lua_opt_num(lua_State *L, int idx, const char *key, lua_Number def);
lua_Integer mb_lua_opt_int(lua_State *L, int idx, const char *key, lua_Integer def);
bool mb_lua_opt_bool(lua_State *L, int idx, const char *key, bool def);

#endif
