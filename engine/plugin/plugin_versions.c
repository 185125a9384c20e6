/* Versions of the libraries that live in the plugin, for `moonbase version`. */
#include <curl/curl.h>
#include <lua.h>
#include <libssh2.h>
#include <libvirt/libvirt.h>

void mb_plugin_versions(lua_State *L);

/* Sets libcurl, libssh2 and libvirt in the table at the top of the stack. */
void mb_plugin_versions(lua_State *L)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    lua_pushstring(L, cv->version);
    lua_setfield(L, -2, "libcurl");
    lua_pushstring(L, libssh2_version(0));
    lua_setfield(L, -2, "libssh2");
    unsigned long v = 0;
    if (virGetVersion(&v, NULL, NULL) == 0) {
        lua_pushfstring(L, "%d.%d.%d", (int)(v / 1000000 % 1000), (int)(v / 1000 % 1000),
                        (int)(v % 1000));
        lua_setfield(L, -2, "libvirt");
    }
}
