/* The daemon's server (httpd.c): moonbase.engine.httpd, in the plugin. */
#ifndef MB_DAEMON_HTTPD_H
#define MB_DAEMON_HTTPD_H

#include <lua.h>

int luaopen_moonbase_engine_httpd(lua_State *L);
int luaopen_moonbase_engine_tls(lua_State *L);

#endif
