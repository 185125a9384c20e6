/* Loading the embedded plugin (see plugin.h): the shared object's bytes are
 * in the binary (mb_plugin_blob, from cmake/plugin_blob.S); on first use they
 * are written to a memfd and dlopen()ed from /proc/self/fd, so moonbase stays
 * one file and pays for libcurl/libvirt/libssh2 only when it uses them. */
#include "core/plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern const unsigned char mb_plugin_blob[] __attribute__((weak));
extern const unsigned char mb_plugin_blob_end[] __attribute__((weak));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *handle;

static void *load(mb_error **err)
{
    if (handle)
        return handle;
    const unsigned char *start = mb_plugin_blob, *end = mb_plugin_blob_end;
    if (start == NULL || end == NULL || end <= start) {
        mb_error_set(err, MB_ERR_FAILED, "this moonbase was built without its plugin "
                     "(libcurl, libvirt, libssh2 features are unavailable)");
        return NULL;
    }
    int fd = memfd_create("moonbase-plugin", MFD_CLOEXEC);
    if (fd < 0) {
        mb_error_set_errno(err, errno, "cannot load the moonbase plugin");
        return NULL;
    }
    const unsigned char *p = start;
    size_t left = (size_t)(end - start);
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            mb_error_set_errno(err, errno, "cannot load the moonbase plugin");
            close(fd);
            return NULL;
        }
        p += w;
        left -= (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    close(fd);
    if (handle == NULL)
        mb_error_set(err, MB_ERR_FAILED, "cannot load the moonbase plugin: %s", dlerror());
    return handle;
}

void *mb_plugin_sym(const char *name, mb_error **err)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym)
        return sym;
    pthread_mutex_lock(&lock);
    void *h = load(err);
    pthread_mutex_unlock(&lock);
    if (h == NULL)
        return NULL;
    sym = dlsym(h, name);
    if (sym == NULL)
        mb_error_set(err, MB_ERR_FAILED, "the moonbase plugin has no %s", name);
    return sym;
}
