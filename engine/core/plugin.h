/* The plugin: the parts of the engine that need heavy libraries (libcurl,
 * libvirt, libssh2 + libcrypto) are built as a shared object embedded in the
 * moonbase binary and loaded on first use (memfd + dlopen). Linking those
 * libraries into the binary itself costs ~40 ms of CPU at every start
 * (relocating ~60 shared libraries), which commands like `list` and `exec`
 * never need. Which folders go into the plugin is decided in CMakeLists.txt
 * (MB_PLUGIN_DIRS). */
#ifndef MB_PLUGIN_H
#define MB_PLUGIN_H

#include "core/error.h"

/* A symbol of the plugin, loading it on first use. A symbol already present
 * in the process (unit tests link the plugin's objects directly) wins. */
void *mb_plugin_sym(const char *name, mb_error **err);

#endif
