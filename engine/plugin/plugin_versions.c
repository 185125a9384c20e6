/* Versions of the libraries that live in the plugin, for `moonbase version`. */
#include <curl/curl.h>
#include <lua.h>
#include <libssh2.h>

void mb_plugin_versions(lua_State *L);

/* Sets libcurl and libssh2 in the table at the top of the stack (libvirt's is
 * the libvirt plugin's: mb_libvirt_library_version). */
void mb_plugin_versions(lua_State *L)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    lua_pushstring(L, cv->version);
    lua_setfield(L, -2, "libcurl");
    lua_pushstring(L, libssh2_version(0));
    lua_setfield(L, -2, "libssh2");
}
