/* The plugins: the parts of the engine that need heavy libraries (libcurl,
 * libssh2 + libcrypto, libwebsockets) are built as a shared object embedded in
 * the moonbase binary and loaded on first use (memfd + dlopen); the libvirt
 * driver, which links libvirt, is a second one. Linking those libraries into
 * the binary itself costs ~40 ms of CPU at every start (relocating ~60 shared
 * libraries), which commands like `list` and `exec` never need, and libvirt
 * alone is most of it. Which folders go into which plugin is decided in
 * CMakeLists.txt (MB_PLUGIN_DIRS, MB_LIBVIRT_DIRS). */
#ifndef MB_PLUGIN_H
#define MB_PLUGIN_H

#include "core/error.h"

/* A symbol of a plugin, loading that plugin on first use: mb_libvirt_* and
 * mb_driver_libvirt are the libvirt plugin's, every other name the first
 * plugin's. A symbol already present in the process (unit tests link the
 * plugins' objects directly) wins. */
void *mb_plugin_sym(const char *name, mb_error **err);

#endif
